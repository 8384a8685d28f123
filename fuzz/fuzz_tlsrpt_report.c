/*
 * fuzz_tlsrpt_report - tlsrpt_report_parse (io/tlsrpt_report.h) on hostile
 * bytes, and the same bytes as gzip through gz_inflate.
 *
 * Invariants (abort() on violation): an accepted report has a non-empty
 * organization-name and report-id, start <= end within the time bounds,
 * 1..TLSRPT_POLICIES_MAX policies, each with a policy-domain that is lower
 * case without a trailing dot, mx-host entries in lower case, counts in 0..TLSRPT_COUNT_MAX, a
 * details sum equal to the sum of its entries, a mismatch flag set exactly when details exist and
 * disagree with the total, entry counts within their caps. A refused report yields NULL and a
 * reason. gz_inflate never returns more than its cap.
 *
 * Differential: the report's own JSON reader (io/tlsrpt_report.c) against
 * jansson (JSON_REJECT_DUPLICATES), the reader it replaced. Text jansson
 * refuses is never accepted, except a real number out of double's range
 * (jansson refuses it; the reader ignores reals' values); text the reader
 * calls "not JSON" is refused by jansson too, except past the reader's
 * 1,000,000-value cap and for text holding a NUL octet (jansson 2.14 lets one
 * through after a number; RFC 8259 §2 allows none).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gz.h"
#include "tlsrpt_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#define GZ_FUZZ_CAP 65536

/* check_policy - every invariant of one parsed policy */
static void check_policy(const struct tlsrpt_policy *p)
{
    int64_t sum = 0;
    size_t n = strlen(p->policy_domain);

    CHECK(p->policy_type != NULL && p->policy_type[0] != '\0');
    CHECK(n > 0 && p->policy_domain[n - 1] != '.');
    for (size_t i = 0; i < n; i++)
        CHECK(!(p->policy_domain[i] >= 'A' && p->policy_domain[i] <= 'Z'));
    CHECK(p->total_successful >= 0 && p->total_successful <= TLSRPT_COUNT_MAX);
    CHECK(p->total_failure >= 0 && p->total_failure <= TLSRPT_COUNT_MAX);
    CHECK(p->n_policy_strings <= TLSRPT_STRINGS_MAX && p->n_mx_hosts <= TLSRPT_STRINGS_MAX);
    CHECK(p->n_failures <= TLSRPT_DETAILS_MAX);
    for (size_t i = 0; i < p->n_policy_strings; i++)
        CHECK(strlen(p->policy_strings[i]) <= TLSRPT_STRING_MAX);
    for (size_t i = 0; i < p->n_mx_hosts; i++)
        for (const char *c = p->mx_hosts[i]; *c != '\0'; c++)
            CHECK(!(*c >= 'A' && *c <= 'Z'));
    for (size_t i = 0; i < p->n_failures; i++) {
        const struct tlsrpt_failure *f = &p->failures[i];

        CHECK(f->result_type != NULL && f->result_type[0] != '\0');
        CHECK(f->failed_session_count >= 0 && f->failed_session_count <= TLSRPT_COUNT_MAX);
        CHECK(f->sending_mta_ip == NULL || f->sending_mta_ip[0] != '\0');
        sum += f->failed_session_count;
    }
    CHECK(sum == p->details_failure);
    CHECK(p->totals_mismatch == (p->n_failures > 0 && sum != p->total_failure));
}

/* check - the parse outcome */
static void check(const char *buf, size_t len)
{
    struct tlsrpt_report *r = NULL;
    struct mxtls_diag diag = {0};
    int err = tlsrpt_report_parse(buf, len, &r, &diag);
    json_error_t jerr;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);

    if (j == NULL && strstr(jerr.text, "real number overflow") == NULL &&
        strstr(jerr.text, "out of memory") == NULL)
        CHECK(err != 0); /* jansson's "not JSON" is ours too */
    if (err != 0 && strncmp(diag.what, "not JSON", 8) == 0 &&
        strstr(diag.what, "JSON values") == NULL && memchr(buf, '\0', len) == NULL)
        CHECK(j == NULL);
    json_decref(j);
    if (err != 0) {
        CHECK(r == NULL);
        CHECK(err == MXTLS_EINVAL || err == MXTLS_ETOOLONG || err == MXTLS_ENOMEM);
        CHECK(diag.code == err && diag.what[0] != '\0');
        return;
    }
    CHECK(r != NULL);
    CHECK(r->organization_name[0] != '\0' && r->report_id[0] != '\0');
    CHECK(r->start <= r->end && r->start >= TLSRPT_TIME_MIN && r->end <= TLSRPT_TIME_MAX);
    CHECK(r->n_policies >= 1 && r->n_policies <= TLSRPT_POLICIES_MAX);
    for (size_t i = 0; i < r->n_policies; i++)
        check_policy(&r->policies[i]);
    tlsrpt_report_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL;
    size_t outlen = 0;

    check((const char *)data, size);
    if (gz_inflate(data, size, GZ_FUZZ_CAP, &out, &outlen, NULL) == 0) {
        CHECK(out != NULL && outlen <= GZ_FUZZ_CAP && out[outlen] == '\0');
        check(out, outlen);
        free(out);
    } else {
        CHECK(out == NULL);
    }
    return 0;
}
