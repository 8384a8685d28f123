/*
 * unit - helpers for table-driven cmocka tests.
 *
 * Every table row starts with a `const char *rule` member naming the rule it
 * checks (with its RFC section). unit_rows() turns each row into its own named
 * cmocka test whose state is the row, so a failing rule is reported by name
 * and every row counts as one test case.
 */
#ifndef MXTLS_TEST_UNIT_H
#define MXTLS_TEST_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#define UNIT_LEN(a)    (sizeof(a) / sizeof((a)[0]))
#define UNIT_MAX_TESTS 1024

struct unit_suite {
    struct CMUnitTest tests[UNIT_MAX_TESTS];
    size_t n;
};

/* unit_one - add one named test with an optional initial state */
static inline void unit_one(struct unit_suite *s, const char *name, CMUnitTestFunction fn,
                            const void *state)
{
    struct CMUnitTest *t;

    if (s->n >= UNIT_MAX_TESTS)
        abort(); /* a test file outgrew the table: raise UNIT_MAX_TESTS */
    t = &s->tests[s->n++];
    t->name = name;
    t->test_func = fn;
    t->setup_func = NULL;
    t->teardown_func = NULL;
    t->initial_state = (void *)(uintptr_t)state;
}

/* unit_rows - add one test per row of a table whose rows begin with `rule` */
static inline void unit_rows(struct unit_suite *s, CMUnitTestFunction fn, const void *rows,
                             size_t row_size, size_t nrows)
{
    size_t i;

    for (i = 0; i < nrows; i++) {
        const char *row = (const char *)rows + i * row_size;

        unit_one(s, *(const char *const *)(const void *)row, fn, row);
    }
}

#define UNIT_ROWS(s, fn, table) unit_rows((s), (fn), (table), sizeof((table)[0]), UNIT_LEN(table))

/* unit_run - run every test added to s as one cmocka group */
static inline int unit_run(struct unit_suite *s, const char *group)
{
    return _cmocka_run_group_tests(group, s->tests, s->n, NULL, NULL);
}

#endif
