/*
 * table - a string-keyed hash table for the daemon's caches and in-flight
 * lookups.
 *
 * Open addressing with linear probing over a power-of-two slot array that
 * doubles past 80 % full, FNV-1a hashing; a slot is a value pointer and a
 * 32-bit hash (12 octets), so 100,000 entries cost about 1.5 MiB. A table
 * from table_new copies each key and owns that copy; one from
 * table_new_keyed stores no key at all and asks key_of(value), for values
 * that carry their own key (sts_cache's entries: no second copy of 100,000
 * domain names). Values are borrowed pointers the caller manages, never NULL.
 * Not thread-safe: the event loop is its only user.
 */
#ifndef CORE_TABLE_H
#define CORE_TABLE_H

#include <stdbool.h>
#include <stddef.h>

struct table;

/* table_new - an empty table that copies keys; NULL when out of memory. */
struct table *table_new(void);

/*
 * table_new_keyed - an empty table that keeps no keys: the key of a stored
 * value is key_of(value), which must return the key it was put under for as
 * long as the value is stored (e.g. a name inside the value). NULL when out
 * of memory or key_of is NULL.
 */
struct table *table_new_keyed(const char *(*key_of)(const void *value));

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

/*
 * table_sweep - remove every entry for which doomed(key, value, arg) is true,
 * then call drop(value, arg) for each removed value (after the walk: the
 * table is consistent when drop runs). Returns how many were removed; when
 * memory runs out some doomed entries stay for the next sweep.
 */
size_t table_sweep(struct table *t, bool (*doomed)(const char *key, const void *value, void *arg),
                   void (*drop)(void *value, void *arg), void *arg);

#endif
