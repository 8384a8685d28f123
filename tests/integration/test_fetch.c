/*
 * test_fetch - io/fetch against the testbed's policy hosts (fetch.scn).
 *
 * Usage: test_fetch CA_FILE ATTACKER_CA_FILE HOSTS_FILE
 * (TESTBED_CA, TESTBED_ATTACKER_CA, TESTBED_HOSTS; fetch.sh passes them).
 *
 * Every row is started before the event loop runs, so all transfers are in
 * flight at once on one real libevent loop; each row then checks its result.
 * Output is TAP; the exit status is 1 when any check failed.
 * TEST_FETCH_SLOW=N (1..3) multiplies every time limit, for valgrind.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "fetch.h"
#include "mxtls/sts_policy.h"

enum ca { CA_TEST, CA_ATTACKER, CA_SYSTEM, CA_COUNT };

struct row {
    const char *rule;                /* what is shown, with its RFC section */
    const char *domain;              /* fetched: mta-sts.<domain> */
    const char *addr_of;             /* whose testbed address to hand in (NULL: mta-sts.<domain>) */
    enum ca ca;                      /* which fetcher */
    unsigned timeout_ms;             /* the caller's limit */
    bool ok;                         /* expected outcome */
    enum decide_sts_failure failure; /* when !ok */
    long status;                     /* expected http_status (-1: any) */
    const char *reason;              /* a substring of the reason (when !ok) */
    const char *body;                /* the exact body (when ok and not NULL) */
    size_t body_len;                 /* expected body length when ok (0: strlen(body)) */
    unsigned max_ms;                 /* the callback must come within this */
};

/* What happened to one row. */
struct run {
    const struct row *row;
    struct timespec start;
    int calls;
    struct fetch_result got;
    char reason_got[FETCH_REASON_MAX];
    bool body_match;
    unsigned elapsed_ms;
};

static const char good_body[] =
    "version: STSv1\nmode: enforce\nmx: mail.good.test\nmax_age: 86400\n";

#define WEBPKI   DECIDE_STS_WEBPKI_INVALID
#define FETCHERR DECIDE_STS_FETCH_ERROR

static struct row rows[] = {
    {"good: 200 text/plain, the exact body (RFC 8461 §3.3)", "good.test", NULL, CA_TEST, 5000, true,
     0, 200, NULL, good_body, 0, 3000},
    {"charset parameter allowed (RFC 8461 §3.3)", "charset.test", NULL, CA_TEST, 5000, true, 0, 200,
     NULL, NULL, 0, 3000},
    {"media type compared case-insensitively (RFC 9110 §8.3.1)", "upper.test", NULL, CA_TEST, 5000,
     true, 0, 200, NULL, NULL, 0, 3000},
    {"text/html refused (RFC 8461 §3.3)", "html.test", NULL, CA_TEST, 5000, false, FETCHERR, 200,
     "Content-Type text/html, want text/plain", NULL, 0, 3000},
    {"text/plainx refused: not a prefix match (RFC 8461 §3.3)", "prefix.test", NULL, CA_TEST, 5000,
     false, FETCHERR, 200, "Content-Type text/plainx", NULL, 0, 3000},
    {"404 is a fetch error (RFC 8461 §3.3)", "notfound.test", NULL, CA_TEST, 5000, false, FETCHERR,
     404, "HTTP status 404", NULL, 0, 3000},
    {"500 is a fetch error (RFC 8461 §3.3)", "error.test", NULL, CA_TEST, 5000, false, FETCHERR,
     500, "HTTP status 500", NULL, 0, 3000},
    {"301 redirect refused, not followed (RFC 8461 §3.3)", "redirect.test", NULL, CA_TEST, 5000,
     false, FETCHERR, 301, "redirect to https://mta-sts.good.test/.well-known/mta-sts.txt refused",
     NULL, 0, 3000},
    {"302 redirect refused, not followed (RFC 8461 §3.3)", "moved.test", NULL, CA_TEST, 5000, false,
     FETCHERR, 302, "redirect to https://mta-sts.good.test/", NULL, 0, 3000},
    {"static body of exactly 65536 octets accepted (RFC 8461 §3.3)", "exact.test", NULL, CA_TEST,
     5000, true, 0, 200, NULL, NULL, STS_POLICY_BODY_MAX, 3000},
    {"chunked body of exactly 65536 octets accepted (RFC 8461 §3.3)", "exactchunked.test", NULL,
     CA_TEST, 5000, true, 0, 200, NULL, NULL, STS_POLICY_BODY_MAX, 3000},
    {"static body of 65537 octets refused (RFC 8461 §3.3)", "over.test", NULL, CA_TEST, 5000, false,
     FETCHERR, 200, "body larger than 65536 octets", NULL, 0, 3000},
    {"chunked body of 65537 octets refused (RFC 8461 §3.3)", "overchunked.test", NULL, CA_TEST,
     5000, false, FETCHERR, 200, "body larger than 65536 octets", NULL, 0, 3000},
    {"static 200 kB body refused (RFC 8461 §3.3)", "big.test", NULL, CA_TEST, 5000, false, FETCHERR,
     200, "body larger than 65536 octets", NULL, 0, 3000},
    {"chunked 200 kB body refused while receiving (RFC 8461 §3.3)", "bigchunked.test", NULL,
     CA_TEST, 5000, false, FETCHERR, 200, "body larger than 65536 octets", NULL, 0, 3000},
    {"trickling body cut at the caller's timeout (RFC 8461 §3.3)", "slow.test", NULL, CA_TEST, 1500,
     false, FETCHERR, 200, "imed out", NULL, 0, 2500},
    {"self-signed certificate is webpki-invalid (RFC 8460 §4.3.2.1)", "selfsigned.test", NULL,
     CA_TEST, 5000, false, WEBPKI, 0, "", NULL, 0, 3000},
    {"wrong-name certificate is webpki-invalid (RFC 8461 §3.3)", "wrongname.test", NULL, CA_TEST,
     5000, false, WEBPKI, 0, "", NULL, 0, 3000},
    {"expired certificate is webpki-invalid (RFC 8460 §4.3.2.1)", "expired.test", NULL, CA_TEST,
     5000, false, WEBPKI, 0, "expired", NULL, 0, 3000},
    {"attacker-CA certificate is webpki-invalid (RFC 8460 §4.3.2.1)", "forged.test", NULL, CA_TEST,
     5000, false, WEBPKI, 0, "", NULL, 0, 3000},
    {"the configured CA file is the trust anchor: attacker CA trusts forged", "forged.test", NULL,
     CA_ATTACKER, 5000, true, 0, 200, NULL, NULL, 0, 3000},
    {"the system store does not trust the test CA (ca_file NULL)", "good.test", NULL, CA_SYSTEM,
     5000, false, WEBPKI, 0, "", NULL, 0, 3000},
    {"the handed-in address is used, name checked against the URL (SNI)", "good.test",
     "mta-sts.forged.test", CA_TEST, 5000, false, WEBPKI, 0, "", NULL, 0, 3000},
    {"connection refused is a fetch error", "good.test", "refused", CA_TEST, 5000, false, FETCHERR,
     0, "", NULL, 0, 3000},
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))
static struct run runs[NROWS];

static int failures, tapno;
static unsigned slow = 1;    /* TEST_FETCH_SLOW */
static bool in_fetch_policy; /* the callback must never come from within it */
static bool sync_callback;

static void check(bool cond, const char *fmt, const char *what)
{
    printf("%s %d - %s\n", cond ? "ok" : "not ok", ++tapno, what);
    if (!cond) {
        failures++;
        if (fmt)
            printf("  # %s\n", fmt);
    }
}

static unsigned ms_since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned)((t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000);
}

/* on_result - record a row's result (the body is borrowed: compare now). */
static void on_result(const struct fetch_result *r, void *arg)
{
    struct run *w = arg;

    if (in_fetch_policy)
        sync_callback = true;
    w->calls++;
    w->elapsed_ms = ms_since(&w->start);
    w->got = *r;
    snprintf(w->reason_got, sizeof(w->reason_got), "%s", r->reason ? r->reason : "(null)");
    w->got.reason = w->reason_got;
    if (r->ok && w->row->body)
        w->body_match =
            r->body_len == strlen(w->row->body) && memcmp(r->body, w->row->body, r->body_len) == 0;
    else if (r->ok)
        w->body_match =
            r->body_len == (w->row->body_len ? w->row->body_len : r->body_len) && r->body_len > 0;
    w->got.body = NULL;
}

static char hosts[64][2][256];
static int nhosts;

static const char *addr_of(const char *name)
{
    for (int i = 0; i < nhosts; i++)
        if (strcmp(hosts[i][0], name) == 0)
            return hosts[i][1];
    return NULL;
}

static void read_hosts(const char *path)
{
    char line[600], name[256], addr[256];
    FILE *fp = fopen(path, "r");

    if (!fp) {
        perror(path);
        exit(2);
    }
    while (nhosts < 64 && fgets(line, sizeof(line), fp))
        if (sscanf(line, "%255s %255s", name, addr) == 2) {
            memcpy(hosts[nhosts][0], name, sizeof(name));
            memcpy(hosts[nhosts][1], addr, sizeof(addr));
            nhosts++;
        }
    fclose(fp);
}

static void cb_never(const struct fetch_result *r, void *arg)
{
    int *n = arg;

    (*n)++;
}

static void free_later(evutil_socket_t fd, short what, void *arg)
{
    fetch_free(arg);
}

/* test_rejects - bad arguments fail synchronously and never call back. */
static void test_rejects(struct event_base *base, struct fetch *f)
{
    char longname[300];
    int calls = 0;

    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    check(fetch_policy(f, "bad..test", "127.0.0.1", 1000, cb_never, &calls) == MXTLS_EINVAL, NULL,
          "reject: empty label in the domain");
    check(fetch_policy(f, "a.test/x", "127.0.0.1", 1000, cb_never, &calls) == MXTLS_EINVAL, NULL,
          "reject: '/' in the domain (no URL injection)");
    check(fetch_policy(f, longname, "127.0.0.1", 1000, cb_never, &calls) < 0, NULL,
          "reject: mta-sts.<domain> longer than 253 octets");
    check(fetch_policy(f, "good.test", "not-an-address", 1000, cb_never, &calls) == MXTLS_EINVAL,
          NULL, "reject: address not an IP literal");
    check(fetch_policy(f, "good.test", "127.0.0.1", 0, cb_never, &calls) == MXTLS_EINVAL, NULL,
          "reject: timeout 0");
    event_base_loop(base, EVLOOP_NONBLOCK);
    check(calls == 0, NULL, "reject: no callback after a synchronous failure");
}

/* test_cancel - fetch_free cancels in-flight transfers without calling back. */
static void test_cancel(struct event_base *base, const char *ca, const char *slow_addr)
{
    struct fetch *f = fetch_new(base, ca, NULL);
    struct timeval tv = {0, 300000};
    struct timespec t0;
    int calls = 0;

    check(f && fetch_policy(f, "slow.test", slow_addr, 10000, cb_never, &calls) == 0 &&
              fetch_policy(f, "slow.test", slow_addr, 10000, cb_never, &calls) == 0,
          NULL, "cancel: two slow fetches started");
    event_base_once(base, -1, EV_TIMEOUT, free_later, f, &tv);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    event_base_dispatch(base);
    check(calls == 0, NULL, "cancel: fetch_free calls no callback");
    check(ms_since(&t0) < 2000 * slow, NULL,
          "cancel: no event left behind (the loop ends at once)");
}

int main(int argc, char **argv)
{
    struct event_base *base;
    struct fetch *f[CA_COUNT];
    struct mxtls_diag diag = {0};
    char refused[64], msg[1024];
    struct timespec t0;
    unsigned total;

    if (argc != 4) {
        fprintf(stderr, "usage: %s CA_FILE ATTACKER_CA_FILE HOSTS_FILE\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (getenv("TEST_FETCH_SLOW") && strlen(getenv("TEST_FETCH_SLOW")) == 1 &&
        getenv("TEST_FETCH_SLOW")[0] >= '1' && getenv("TEST_FETCH_SLOW")[0] <= '3')
        slow = (unsigned)(getenv("TEST_FETCH_SLOW")[0] - '0');
    read_hosts(argv[3]);
    if (!addr_of("mta-sts.good.test") || !addr_of("mta-sts.slow.test")) {
        fprintf(stderr, "%s: no mta-sts.good.test or mta-sts.slow.test\n", argv[3]);
        return 2;
    }
    /* An address in the policy hosts' /16 where nothing listens. */
    snprintf(refused, sizeof(refused), "%s", addr_of("mta-sts.good.test"));
    strcpy(strrchr(refused, '.'), ".254");

    base = event_base_new();
    f[CA_TEST] = fetch_new(base, argv[1], &diag);
    f[CA_ATTACKER] = fetch_new(base, argv[2], &diag);
    f[CA_SYSTEM] = fetch_new(base, NULL, &diag);
    if (!base || !f[CA_TEST] || !f[CA_ATTACKER] || !f[CA_SYSTEM]) {
        fprintf(stderr, "setup: %s\n", diag.what);
        return 2;
    }
    test_rejects(base, f[CA_TEST]);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < NROWS; i++) {
        const struct row *w = &rows[i];
        struct run *u = &runs[i];
        char name[300];
        const char *a;
        int rc;

        snprintf(name, sizeof(name), "mta-sts.%s", w->domain);
        a = w->addr_of && strcmp(w->addr_of, "refused") == 0
                ? refused
                : addr_of(w->addr_of ? w->addr_of : name);
        if (!a) {
            fprintf(stderr, "no address for %s\n", name);
            return 2;
        }
        u->row = w;
        clock_gettime(CLOCK_MONOTONIC, &u->start);
        in_fetch_policy = true;
        rc = fetch_policy(f[w->ca], w->domain, a, w->timeout_ms * slow, on_result, u);
        in_fetch_policy = false;
        if (rc != 0) {
            fprintf(stderr, "fetch_policy %s: %d\n", w->domain, rc);
            return 2;
        }
    }
    event_base_dispatch(base); /* returns when no transfer is left */
    total = ms_since(&t0);

    for (size_t i = 0; i < NROWS; i++) {
        const struct row *w = &rows[i];
        const struct run *u = &runs[i];
        const struct fetch_result *r = &u->got;
        bool good = u->calls == 1 && r->ok == w->ok && u->elapsed_ms <= w->max_ms * slow;

        if (w->ok)
            good =
                good && r->http_status == 200 && u->body_match && r->reason && r->reason[0] == '\0';
        else
            good = good && r->failure == w->failure &&
                   (w->status < 0 || r->http_status == w->status) &&
                   strstr(r->reason, w->reason) != NULL && r->reason[0] != '\0';
        snprintf(msg, sizeof(msg),
                 "calls %d, ok %d, failure %s, status %ld, %u ms, body %s, reason: %s", u->calls,
                 r->ok, decide_sts_failure_name(r->failure), r->http_status, u->elapsed_ms,
                 u->body_match ? "matches" : "-", u->reason_got);
        check(good, msg, w->rule);
        if (good)
            printf("  # %s: %u ms%s%s\n", w->domain, u->elapsed_ms, r->ok ? "" : ": ",
                   u->reason_got);
    }
    check(!sync_callback, NULL, "no callback from within fetch_policy");
    snprintf(msg, sizeof(msg), "all %zu transfers took %u ms", NROWS, total);
    check(total < 4000 * slow, msg, "the transfers ran concurrently on one loop (< 4 s in all)");
    printf("  # %s\n", msg);

    for (int i = 0; i < CA_COUNT; i++)
        fetch_free(f[i]);
    fetch_free(NULL);
    test_cancel(base, argv[1], addr_of("mta-sts.slow.test"));
    event_base_free(base);
    libevent_global_shutdown();
    printf("1..%d\n", tapno);
    return failures ? 1 : 0;
}
