/*
 * table - string-keyed hash table, open addressing (see table.h).
 *
 * Linear probing over a power-of-two slot array, grown to twice its size
 * when it would be more than 80 % full, so a probe sequence stays short.
 * Each slot keeps the value and the key's 32-bit hash; a copying table also
 * keeps its key copy per slot, a keyed table asks key_of(value). Removal
 * shifts the following entries of the run back (no tombstones), so lookups
 * never slow down after many deletions.
 */
#include "table.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MIN_SLOTS 64

struct table {
    void **values; /* NULL: empty slot */
    uint32_t *hashes;
    char **keys;    /* copying table: each slot's key copy; NULL for a keyed table */
    size_t n_slots; /* a power of two */
    size_t count;
    const char *(*key_of)(const void *value); /* keyed table only */
};

/* hash_key - FNV-1a, 32 bits */
static uint32_t hash_key(const char *key)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

/* slot_key - the key stored in slot i */
static const char *slot_key(const struct table *t, size_t i)
{
    return t->keys != NULL ? t->keys[i] : t->key_of(t->values[i]);
}

/* alloc_slots - n empty slots into t; -1 when out of memory (t unchanged) */
static int alloc_slots(struct table *t, size_t n, bool copying)
{
    void **values = calloc(n, sizeof(*values));
    uint32_t *hashes = malloc(n * sizeof(*hashes));
    char **keys = copying ? calloc(n, sizeof(*keys)) : NULL;
    if (values == NULL || hashes == NULL || (copying && keys == NULL)) {
        free(values);
        free(hashes);
        free(keys);
        return -1;
    }
    t->values = values;
    t->hashes = hashes;
    t->keys = keys;
    t->n_slots = n;
    return 0;
}

/* new_table - an empty table, copying keys or keyed */
static struct table *new_table(const char *(*key_of)(const void *value))
{
    struct table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->key_of = key_of;
    if (alloc_slots(t, TABLE_MIN_SLOTS, key_of == NULL) < 0) {
        free(t);
        return NULL;
    }
    return t;
}

/* table_new - an empty table that copies keys */
struct table *table_new(void)
{
    return new_table(NULL);
}

/* table_new_keyed - an empty table whose keys live in the values */
struct table *table_new_keyed(const char *(*key_of)(const void *value))
{
    return key_of != NULL ? new_table(key_of) : NULL;
}

/* table_free - free the slots (and key copies) and the table */
void table_free(struct table *t)
{
    if (t == NULL)
        return;
    if (t->keys != NULL)
        for (size_t i = 0; i < t->n_slots; i++)
            free(t->keys[i]);
    free(t->values);
    free(t->hashes);
    free(t->keys);
    free(t);
}

/* find - the slot holding key, or the empty slot ending its probe run */
static size_t find(const struct table *t, const char *key, uint32_t h)
{
    size_t mask = t->n_slots - 1, i = h & mask;
    while (t->values[i] != NULL && (t->hashes[i] != h || strcmp(slot_key(t, i), key) != 0))
        i = (i + 1) & mask;
    return i;
}

/* table_get - look key up */
void *table_get(const struct table *t, const char *key)
{
    return t->values[find(t, key, hash_key(key))];
}

/* grow - twice the slots, every entry moved; on failure keep the old ones (only fuller) */
static void grow(struct table *t)
{
    struct table old = *t;
    if (alloc_slots(t, old.n_slots * 2, old.keys != NULL) < 0) {
        *t = old;
        return;
    }
    for (size_t i = 0; i < old.n_slots; i++) {
        if (old.values[i] == NULL)
            continue;
        size_t mask = t->n_slots - 1, j = old.hashes[i] & mask;
        while (t->values[j] != NULL)
            j = (j + 1) & mask;
        t->values[j] = old.values[i];
        t->hashes[j] = old.hashes[i];
        if (t->keys != NULL)
            t->keys[j] = old.keys[i];
    }
    free(old.values);
    free(old.hashes);
    free(old.keys);
}

/* table_put - insert or replace */
int table_put(struct table *t, const char *key, void *value)
{
    uint32_t h = hash_key(key);
    size_t i = find(t, key, h);
    if (t->values[i] != NULL) {
        t->values[i] = value;
        return 0;
    }
    /* Keep the table at most 80 % full: grow first, then find the slot again. */
    if ((t->count + 1) * 5 > t->n_slots * 4) {
        grow(t);
        if ((t->count + 1) * 5 > t->n_slots * 4 && t->count + 1 >= t->n_slots)
            return -1; /* could not grow and no room left */
        i = find(t, key, h);
    }
    if (t->keys != NULL) {
        size_t len = strlen(key);
        if ((t->keys[i] = malloc(len + 1)) == NULL)
            return -1;
        memcpy(t->keys[i], key, len + 1);
    }
    t->values[i] = value;
    t->hashes[i] = h;
    t->count++;
    return 0;
}

/* table_delete - empty key's slot, shifting the rest of its run back (Knuth 6.4 R) */
void *table_delete(struct table *t, const char *key)
{
    size_t mask = t->n_slots - 1, i = find(t, key, hash_key(key));
    void *value = t->values[i];
    if (value == NULL)
        return NULL;
    if (t->keys != NULL)
        free(t->keys[i]);
    for (size_t j = (i + 1) & mask; t->values[j] != NULL; j = (j + 1) & mask) {
        size_t home = t->hashes[j] & mask;
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        t->values[i] = t->values[j];
        t->hashes[i] = t->hashes[j];
        if (t->keys != NULL)
            t->keys[i] = t->keys[j];
        i = j;
    }
    t->values[i] = NULL;
    if (t->keys != NULL)
        t->keys[i] = NULL;
    t->count--;
    return value;
}

/* table_count - number of entries */
size_t table_count(const struct table *t)
{
    return t->count;
}

/* table_each - visit every entry */
void table_each(const struct table *t, void (*fn)(const char *key, void *value, void *arg),
                void *arg)
{
    for (size_t i = 0; i < t->n_slots; i++)
        if (t->values[i] != NULL)
            fn(slot_key(t, i), t->values[i], arg);
}

struct sweep {
    bool (*doomed)(const char *key, const void *value, void *arg);
    void *arg;
    char **keys;
    size_t n;
};

/* collect - table_each helper: remember the doomed keys (no removal while walking) */
static void collect(const char *key, void *value, void *arg)
{
    struct sweep *sw = arg;
    if (!sw->doomed(key, value, sw->arg))
        return;
    char **keys = realloc(sw->keys, (sw->n + 1) * sizeof(*keys));
    if (keys == NULL)
        return;
    sw->keys = keys;
    if ((sw->keys[sw->n] = strdup(key)) != NULL)
        sw->n++;
}

/* table_sweep - remove what doomed() picks, then hand each value to drop() */
size_t table_sweep(struct table *t, bool (*doomed)(const char *key, const void *value, void *arg),
                   void (*drop)(void *value, void *arg), void *arg)
{
    struct sweep sw = {doomed, arg, NULL, 0};
    size_t removed = 0;
    table_each(t, collect, &sw);
    for (size_t i = 0; i < sw.n; i++) {
        void *value = table_delete(t, sw.keys[i]);
        free(sw.keys[i]);
        if (value != NULL) {
            drop(value, arg);
            removed++;
        }
    }
    free(sw.keys);
    return removed;
}
