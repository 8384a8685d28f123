/*
 * test_table - the daemon's string hash table (src/mxtlsd/table.c): put,
 * replace, get, delete, growth past the initial bucket count, iteration.
 */
#include <stdio.h>
#include <string.h>

#include "table.h"
#include "unit.h"

struct row {
    const char *rule;
    size_t n; /* keys inserted */
};

static const struct row rows[] = {
    {"empty table: nothing found", 0},         {"one key", 1},
    {"below the initial 64 buckets", 63},      {"exactly the bucket count", 64},
    {"growth: one past the bucket count", 65}, {"growth: several doublings", 5000},
};

struct count {
    size_t n;
    size_t sum;
};

/* sum_values - table_each callback: values are 1-based indexes */
static void sum_values(const char *key, void *value, void *arg)
{
    struct count *c = arg;
    char expect[32];
    snprintf(expect, sizeof(expect), "k%zu.test", (size_t)(uintptr_t)value - 1);
    assert_string_equal(key, expect);
    c->n++;
    c->sum += (size_t)(uintptr_t)value;
}

/* test_row - insert n keys, check every lookup, replace, iterate, delete half */
static void test_row(void **state)
{
    const struct row *r = *state;
    struct table *t = table_new();
    assert_non_null(t);
    char key[32];
    for (size_t i = 0; i < r->n; i++) {
        snprintf(key, sizeof(key), "k%zu.test", i);
        assert_int_equal(table_put(t, key, (void *)(uintptr_t)(i + 1)), 0);
    }
    assert_int_equal(table_count(t), r->n);
    for (size_t i = 0; i < r->n; i++) {
        snprintf(key, sizeof(key), "k%zu.test", i);
        assert_ptr_equal(table_get(t, key), (void *)(uintptr_t)(i + 1));
    }
    assert_null(table_get(t, "absent.test"));
    assert_null(table_get(t, ""));
    /* replacing keeps the count */
    if (r->n > 0) {
        assert_int_equal(table_put(t, "k0.test", (void *)(uintptr_t)1), 0);
        assert_int_equal(table_count(t), r->n);
    }
    struct count c = {0};
    table_each(t, sum_values, &c);
    assert_int_equal(c.n, r->n);
    assert_int_equal(c.sum, r->n * (r->n + 1) / 2);
    for (size_t i = 0; i < r->n; i += 2) {
        snprintf(key, sizeof(key), "k%zu.test", i);
        assert_ptr_equal(table_delete(t, key), (void *)(uintptr_t)(i + 1));
        assert_null(table_get(t, key));
        assert_null(table_delete(t, key));
    }
    assert_int_equal(table_count(t), r->n / 2);
    for (size_t i = 1; i < r->n; i += 2) {
        snprintf(key, sizeof(key), "k%zu.test", i);
        assert_ptr_equal(table_get(t, key), (void *)(uintptr_t)(i + 1));
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
    return unit_run(&s, "table");
}
