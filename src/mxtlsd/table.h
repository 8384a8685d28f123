/*
 * table - a string-keyed hash table for the daemon's caches and in-flight
 * lookups.
 *
 * Chained buckets, a power-of-two bucket count that doubles when the table
 * holds as many entries as buckets, FNV-1a hashing. The table copies each key
 * and owns that copy; values are borrowed pointers the caller manages. Not
 * thread-safe: the event loop is its only user.
 */
#ifndef MXTLSD_TABLE_H
#define MXTLSD_TABLE_H

#include <stddef.h>

struct table;

/* table_new - an empty table; NULL when out of memory. */
struct table *table_new(void);

/* table_free - free the table and its keys (not the values); NULL is a no-op. */
void table_free(struct table *t);

/* table_get - the value stored for key, or NULL. */
void *table_get(const struct table *t, const char *key);

/*
 * table_put - store value (not NULL) for key, replacing any earlier value.
 * Returns 0, or -1 when out of memory (the table is unchanged).
 */
int table_put(struct table *t, const char *key, void *value);

/* table_delete - remove key; returns its value, or NULL when absent. */
void *table_delete(struct table *t, const char *key);

/* table_count - the number of entries. */
size_t table_count(const struct table *t);

/*
 * table_each - call fn(key, value, arg) for every entry, in no particular
 * order. fn must not add or remove entries.
 */
void table_each(const struct table *t, void (*fn)(const char *key, void *value, void *arg),
                void *arg);

#endif
