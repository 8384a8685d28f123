/*
 * fuzz_postfix_log - postfix_log_parse and the session assembler on hostile
 * log lines (the collector reads files anyone who can log may write into).
 *
 * Invariants (abort() on violation): every string field is NUL-terminated
 * inside its buffer; the kind and the result types are in range; a policy
 * record is accepted only with a non-empty next-hop and policy domain, and
 * its lists end with '\n'; a completed session names a recipient domain and
 * a result type in range. The input is also split at '\n' and fed line by
 * line through one assembler, as the collector does.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxtls/postfix_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#define TERMINATED(buf) CHECK(memchr((buf), '\0', sizeof(buf)) != NULL)

/* check_line - what every parsed line must look like */
static void check_line(const struct postfix_line *l)
{
    CHECK(l->kind >= POSTFIX_LINE_OTHER && l->kind <= POSTFIX_LINE_REPORT_QID);
    CHECK((unsigned)l->result < TLSRPT_RESULT_COUNT);
    TERMINATED(l->host);
    TERMINATED(l->ip);
    TERMINATED(l->reason);
    TERMINATED(l->rcpt_domain);
    TERMINATED(l->qid);
    if (l->kind == POSTFIX_LINE_POLICY) {
        const struct postfix_policy *p = &l->policy;
        TERMINATED(p->nexthop);
        TERMINATED(p->domain);
        TERMINATED(p->strings);
        TERMINATED(p->mx);
        CHECK(p->nexthop[0] != '\0' && p->domain[0] != '\0');
        CHECK((unsigned)p->failure < TLSRPT_RESULT_COUNT);
        size_t n = strlen(p->strings), m = strlen(p->mx);
        CHECK(n == 0 || p->strings[n - 1] == '\n');
        CHECK(m == 0 || p->mx[m - 1] == '\n');
        CHECK(strlen(tlsrpt_policy_type_name(p->type)) > 0);
    }
    if (l->kind == POSTFIX_LINE_DELIVERY)
        CHECK(l->rcpt_domain[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct postfix_sessions *s;
    struct postfix_line l;
    struct postfix_session out;
    struct mxtls_diag d = {0};

    if (s == NULL && (s = postfix_sessions_new()) == NULL)
        abort();
    int rc = postfix_log_parse((const char *)data, size, 2026, &l, &d);
    CHECK(rc == 0 || rc == MXTLS_EINVAL);
    check_line(&l);
    if (rc != 0)
        CHECK(l.kind == POSTFIX_LINE_OTHER && d.what[0] != '\0');

    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        size_t n = e != NULL ? (size_t)(e - p) : (size_t)(end - p);
        if (postfix_log_parse(p, n, 2026, &l, NULL) == 0) {
            check_line(&l);
            if (postfix_sessions_feed(s, &l, &out) == 1) {
                CHECK(out.rcpt_domain[0] != '\0');
                CHECK((unsigned)out.result < TLSRPT_RESULT_COUNT);
                TERMINATED(out.mx_host);
                TERMINATED(out.ip);
                TERMINATED(out.reason);
            }
        }
        p += n + 1;
    }
    /* the encoder reads back through a policy record */
    char enc[512];
    if (size < 120 && postfix_log_encode((const char *)data, size, enc, sizeof(enc)) >= 0)
        CHECK(memchr(enc, ' ', strlen(enc)) == NULL && memchr(enc, '\n', strlen(enc)) == NULL);
    return 0;
}
