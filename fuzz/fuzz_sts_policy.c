/*
 * fuzz_sts_policy - sts_policy_parse() and sts_match on hostile bytes.
 *
 * Invariants (abort() on violation): a rejected body leaves the policy empty
 * with a reason; an accepted one is within every cap, holds only normalised,
 * distinct patterns, formats to a canonical text that parses back to the same
 * policy, and each of its patterns matches a host built from it. The input
 * is also fed to the matcher as a host name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxtls/domain.h"
#include "mxtls/sts_match.h"
#include "mxtls/sts_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* check_equal - two policies hold the same mode, max_age and patterns */
static void check_equal(const struct sts_policy *a, const struct sts_policy *b)
{
    size_t i;

    CHECK(a->mode == b->mode);
    CHECK(a->max_age == b->max_age);
    CHECK(a->n_mx == b->n_mx);
    for (i = 0; i < a->n_mx; i++)
        CHECK(strcmp(a->mx[i], b->mx[i]) == 0);
}

/* check_accepted - every invariant of a successfully parsed policy */
static void check_accepted(const struct sts_policy *p)
{
    struct sts_policy q;
    char norm[DOMAIN_BUF_SIZE], host[DOMAIN_BUF_SIZE + 2];
    char *text, *text2;
    size_t i, j;

    CHECK(p->mode == STS_MODE_NONE || p->mode == STS_MODE_TESTING || p->mode == STS_MODE_ENFORCE);
    CHECK(p->max_age <= STS_POLICY_MAX_AGE);
    CHECK(p->n_mx <= STS_POLICY_MX_MAX);
    CHECK(p->n_mx > 0 || p->mode == STS_MODE_NONE);
    for (i = 0; i < p->n_mx; i++) {
        size_t len = strnlen(p->mx[i], DOMAIN_BUF_SIZE);

        CHECK(len > 0 && len < DOMAIN_BUF_SIZE);
        /* Stored patterns are already in canonical form. */
        CHECK(domain_pattern_normalize(p->mx[i], len, norm, sizeof(norm), NULL) == 0);
        CHECK(strcmp(norm, p->mx[i]) == 0);
        for (j = 0; j < i; j++)
            CHECK(strcmp(p->mx[i], p->mx[j]) != 0);
        /* Each pattern matches a host made from it (RFC 8461 §4.1). */
        if (p->mx[i][0] == '*') {
            if (len <= DOMAIN_NAME_MAX) { /* "a" + pattern minus "*" fits */
                host[0] = 'a';
                memcpy(host + 1, p->mx[i] + 1, len); /* ".suffix" and NUL */
                CHECK(sts_match_host(p->mx[i], host, len) == 1);
                CHECK(sts_policy_match(p, host, len) == 1);
            }
            /* never the bare parent */
            CHECK(sts_match_host(p->mx[i], p->mx[i] + 2, len - 2) == 0);
        } else {
            CHECK(sts_match_host(p->mx[i], p->mx[i], len) == 1);
            CHECK(sts_policy_match(p, p->mx[i], len) == 1);
        }
    }
    text = sts_policy_format(p);
    CHECK(text != NULL);
    CHECK(strlen(text) <= STS_POLICY_BODY_MAX);
    CHECK(sts_policy_parse(text, strlen(text), &q, NULL) == 0);
    check_equal(p, &q);
    text2 = sts_policy_format(&q);
    CHECK(text2 != NULL && strcmp(text, text2) == 0);
    free(text2);
    free(text);
    sts_policy_finish(&q);
}

/* check_host - the matcher on raw bytes agrees with a plain suffix test */
static void check_host(const uint8_t *data, size_t size)
{
    char norm[DOMAIN_BUF_SIZE];
    int m = sts_match_host("*.example.com", (const char *)data, size);
    size_t n;

    if (domain_normalize((const char *)data, size, norm, sizeof(norm), NULL) < 0) {
        CHECK(m == 0);
        return;
    }
    n = strlen(norm);
    /* one non-empty label, then ".example.com" */
    CHECK(m == (n > 12 && strcmp(norm + n - 12, ".example.com") == 0 &&
                memchr(norm, '.', n - 12) == NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sts_policy p;
    struct mxtls_diag diag;
    int err;

    memset(&diag, 0, sizeof(diag));
    err = sts_policy_parse((const char *)data, size, &p, &diag);
    if (err == 0) {
        check_accepted(&p);
    } else {
        CHECK(err == MXTLS_EINVAL || err == MXTLS_ETOOLONG || err == MXTLS_ENOMEM);
        CHECK(diag.code == err);
        CHECK(diag.what[0] != '\0' && memchr(diag.what, '\0', sizeof(diag.what)) != NULL);
        CHECK(diag.offset <= size);
        CHECK(p.n_mx == 0 && p.mx == NULL);
    }
    sts_policy_finish(&p);
    check_host(data, size);
    return 0;
}
