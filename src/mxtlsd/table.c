/*
 * table - string-keyed chained hash table (see table.h).
 */
#include "table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct table_node {
    struct table_node *next;
    uint64_t hash;
    void *value;
    char key[]; /* NUL-terminated copy */
};

struct table {
    struct table_node **buckets;
    size_t n_buckets; /* a power of two */
    size_t count;
};

/* hash_key - FNV-1a, 64 bits */
static uint64_t hash_key(const char *key)
{
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

/* table_new - allocate an empty table */
struct table *table_new(void)
{
    struct table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->n_buckets = 64;
    t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
    if (t->buckets == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

/* table_free - free nodes, buckets and the table */
void table_free(struct table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct table_node *n = t->buckets[i];
        while (n != NULL) {
            struct table_node *next = n->next;
            free(n);
            n = next;
        }
    }
    free(t->buckets);
    free(t);
}

/* find - the link pointing at key's node (or at the NULL ending its chain) */
static struct table_node **find(const struct table *t, const char *key, uint64_t h)
{
    struct table_node **link = &t->buckets[h & (t->n_buckets - 1)];
    while (*link != NULL && ((*link)->hash != h || strcmp((*link)->key, key) != 0))
        link = &(*link)->next;
    return link;
}

/* table_get - look key up */
void *table_get(const struct table *t, const char *key)
{
    struct table_node *n = *find(t, key, hash_key(key));
    return n != NULL ? n->value : NULL;
}

/* grow - double the buckets; on failure keep the old ones (only slower) */
static void grow(struct table *t)
{
    size_t n_buckets = t->n_buckets * 2;
    struct table_node **buckets = calloc(n_buckets, sizeof(*buckets));
    if (buckets == NULL)
        return;
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct table_node *n = t->buckets[i];
        while (n != NULL) {
            struct table_node *next = n->next;
            struct table_node **head = &buckets[n->hash & (n_buckets - 1)];
            n->next = *head;
            *head = n;
            n = next;
        }
    }
    free(t->buckets);
    t->buckets = buckets;
    t->n_buckets = n_buckets;
}

/* table_put - insert or replace */
int table_put(struct table *t, const char *key, void *value)
{
    uint64_t h = hash_key(key);
    struct table_node **link = find(t, key, h);
    if (*link != NULL) {
        (*link)->value = value;
        return 0;
    }
    size_t len = strlen(key);
    struct table_node *n = malloc(sizeof(*n) + len + 1);
    if (n == NULL)
        return -1;
    n->next = NULL;
    n->hash = h;
    n->value = value;
    memcpy(n->key, key, len + 1);
    *link = n;
    if (++t->count > t->n_buckets)
        grow(t);
    return 0;
}

/* table_delete - unlink and free key's node */
void *table_delete(struct table *t, const char *key)
{
    struct table_node **link = find(t, key, hash_key(key));
    struct table_node *n = *link;
    if (n == NULL)
        return NULL;
    void *value = n->value;
    *link = n->next;
    free(n);
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
    for (size_t i = 0; i < t->n_buckets; i++)
        for (struct table_node *n = t->buckets[i]; n != NULL; n = n->next)
            fn(n->key, n->value, arg);
}
