/*
 * test_table - the daemon's string hash table (core/table.c): put,
 * replace, get, delete, growth past the initial slot count, iteration, for
 * the copying table and the keyed one (keys inside the values); deletions
 * in the middle of probe runs checked against a plain array.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "table.h"
#include "unit.h"

struct row {
    const char *rule;
    size_t n;   /* keys inserted */
    bool keyed; /* table_new_keyed: the values carry the keys */
};

static const struct row rows[] = {
    {"empty table: nothing found", 0, 0},
    {"one key", 1, 0},
    {"below the 80 % of the initial 64 slots", 51, 0},
    {"exactly the bucket count", 64, 0},
    {"growth: one past the slot count", 65, 0},
    {"growth: several doublings", 5000, 0},
    {"keyed: empty", 0, 1},
    {"keyed: one key", 1, 1},
    {"keyed: growth: several doublings", 5000, 1},
    {"keyed: 100,000 keys (the MTA-STS cache's scale)", 100000, 1},
};

/* Keyed values: the key lives in the value; vals[i] is value i + 1. */
static char (*vals)[32];

/* key_of - table_new_keyed's accessor */
static const char *key_of(const void *value)
{
    return (const char *)value;
}

/* value_for - the value stored for index i (1-based numbers for the copying table) */
static void *value_for(const struct row *r, size_t i)
{
    return r->keyed ? (void *)vals[i] : (void *)(uintptr_t)(i + 1);
}

struct count {
    size_t n;
    size_t sum;
};

/* sum_values - table_each callback: values are 1-based indexes, or keyed strings */
static void sum_values(const char *key, void *value, void *arg)
{
    struct count *c = arg;
    char expect[32];
    size_t idx;
    if (vals != NULL && (char *)value >= vals[0] && (char *)value < vals[100000]) {
        idx = (size_t)((char(*)[32])value - vals);
        assert_ptr_equal(key, value);
    } else {
        idx = (size_t)(uintptr_t)value - 1;
    }
    snprintf(expect, sizeof(expect), "k%zu.test", idx);
    assert_string_equal(key, expect);
    c->n++;
    c->sum += idx + 1;
}

/* test_row - insert n keys, check every lookup, replace, iterate, delete half */
static void test_row(void **state)
{
    const struct row *r = *state;
    struct table *t = r->keyed ? table_new_keyed(key_of) : table_new();
    assert_non_null(t);
    char key[32];
    vals = calloc(100001, sizeof(*vals));
    assert_non_null(vals);
    for (size_t i = 0; i < r->n; i++)
        snprintf(vals[i], sizeof(vals[i]), "k%zu.test", i);
    for (size_t i = 0; i < r->n; i++) {
        snprintf(key, sizeof(key), "k%zu.test", i);
        assert_int_equal(table_put(t, key, value_for(r, i)), 0);
    }
    assert_int_equal(table_count(t), r->n);
    for (size_t i = 0; i < r->n; i++) {
        snprintf(key, sizeof(key), "k%zu.test", i);
        assert_ptr_equal(table_get(t, key), value_for(r, i));
    }
    assert_null(table_get(t, "absent.test"));
    assert_null(table_get(t, ""));
    /* replacing keeps the count */
    if (r->n > 0) {
        assert_int_equal(table_put(t, "k0.test", value_for(r, 0)), 0);
        assert_int_equal(table_count(t), r->n);
    }
    struct count c = {0};
    table_each(t, sum_values, &c);
    assert_int_equal(c.n, r->n);
    assert_int_equal(c.sum, r->n * (r->n + 1) / 2);
    for (size_t i = 0; i < r->n; i += 2) {
        snprintf(key, sizeof(key), "k%zu.test", i);
        assert_ptr_equal(table_delete(t, key), value_for(r, i));
        assert_null(table_get(t, key));
        assert_null(table_delete(t, key));
    }
    assert_int_equal(table_count(t), r->n / 2);
    for (size_t i = 1; i < r->n; i += 2) {
        snprintf(key, sizeof(key), "k%zu.test", i);
        assert_ptr_equal(table_get(t, key), value_for(r, i));
    }
    table_free(t);
    free(vals);
    vals = NULL;
}

/*
 * test_churn - random puts and deletes on a small table (long probe runs,
 * wrap-around at the end of the slot array), checked after every step
 * against an array: removal must never lose an entry further along a run.
 */
static void test_churn(void **state)
{
    (void)state;
    enum { KEYS = 200 };
    bool in[KEYS] = {0};
    size_t count = 0;
    char key[32];
    uint32_t rnd = 12345;
    struct table *t = table_new();
    assert_non_null(t);
    for (int step = 0; step < 20000; step++) {
        rnd = rnd * 1103515245u + 12345u;
        size_t k = (rnd >> 8) % KEYS;
        snprintf(key, sizeof(key), "c%zu", k);
        if (in[k]) {
            assert_ptr_equal(table_delete(t, key), (void *)(uintptr_t)(k + 1));
            in[k] = false;
            count--;
        } else {
            assert_int_equal(table_put(t, key, (void *)(uintptr_t)(k + 1)), 0);
            in[k] = true;
            count++;
        }
        assert_int_equal(table_count(t), count);
        if (step % 97 == 0)
            for (size_t j = 0; j < KEYS; j++) {
                snprintf(key, sizeof(key), "c%zu", j);
                assert_ptr_equal(table_get(t, key), in[j] ? (void *)(uintptr_t)(j + 1) : NULL);
            }
    }
    table_free(t);
}

/* test_prefix_keys - keys that are prefixes of one another stay distinct */
static void test_prefix_keys(void **state)
{
    (void)state;
    struct table *t = table_new();
    assert_int_equal(table_put(t, "a.test", (void *)1), 0);
    assert_int_equal(table_put(t, "a.test.", (void *)2), 0);
    assert_int_equal(table_put(t, "[]a.test:25", (void *)3), 0);
    assert_ptr_equal(table_get(t, "a.test"), (void *)1);
    assert_ptr_equal(table_get(t, "a.test."), (void *)2);
    assert_ptr_equal(table_get(t, "[]a.test:25"), (void *)3);
    assert_null(table_get(t, "a.tes"));
    table_free(t);
    table_free(NULL);
}

int main(void)
{
    static struct unit_suite s;
    UNIT_ROWS(&s, test_row, rows);
    unit_one(&s, "prefix keys are distinct keys", test_prefix_keys, NULL);
    unit_one(&s, "random puts and deletes agree with an array", test_churn, NULL);
    return unit_run(&s, "table");
}
