/*
 * test_dns - io/dns against the testbed (tests/integration/scenarios/dns.scn),
 * on a real libevent loop: every lookup of the table runs concurrently, each
 * with its own deadline, and each answer is checked against its row (status,
 * rcode, nxdomain, havedata, the exact RDATA, canonname, reason). Then the
 * cancellation paths: dns_cancel of one lookup, dns_free with lookups in
 * flight, and dns_free called from inside a callback, must never call back.
 *
 * Environment: TESTBED_UNBOUND_CONF (libunbound configuration) and
 * TESTBED_DIR (its dns/test.ta is the trust anchor for test.). Binds
 * 127.99.0.53:53/udp and never reads it: the name server of slow.test.
 * Prints "ok - ..." / "not ok - ..." lines; exit 0 when all pass.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "dns.h"

#define T_A    1
#define T_MX   15
#define T_TXT  16
#define T_TLSA 52

struct row {
    const char *rule;
    const char *name;
    int rrtype;
    unsigned timeout_ms;
    enum decide_dns status;
    int rcode; /* -1: no response */
    int nxdomain;
    const char *rdata; /* hex of the one expected record; NULL: no data */
    const char *canon; /* expected canonname, NULL: none */
    const char *why;   /* expected prefix of why, NULL: why must be NULL */
    /* filled by the callback */
    int done;
    int failed;
};

static struct row rows[] = {
    {"signed zone MX: SECURE with the MX RDATA (RFC 7672 §2.2.1)", "good.test", T_MX, 10000,
     DECIDE_DNS_SECURE, 0, 0, "000a036d783104676f6f64047465737400", NULL, NULL, 0, 0},
    {"insecure zone A: INSECURE with the address (RFC 4035 §4.3)", "www.insecure.test", T_A, 10000,
     DECIDE_DNS_INSECURE, 0, 0, "7f630201", NULL, NULL, 0, 0},
    {"expired RRSIGs: BOGUS with libunbound's reason (RFC 4035 §5.5)", "bogus-sig.test", T_MX,
     10000, DECIDE_DNS_BOGUS, 0, 0, NULL, NULL, "validation failure", 0, 0},
    {"DS matching no DNSKEY: BOGUS (RFC 4035 §5.2)", "bogus-ds.test", T_MX, 10000, DECIDE_DNS_BOGUS,
     0, 0, NULL, NULL, "validation failure", 0, 0},
    {"NXDOMAIN in a signed zone: SECURE + nxdomain (RFC 7672 §2.1.1)", "nope.good.test", T_MX,
     10000, DECIDE_DNS_SECURE, 3, 1, NULL, NULL, NULL, 0, 0},
    {"NODATA in a signed zone: SECURE, NOERROR, no data (RFC 7672 §2.1.1)", "good.test", T_TXT,
     10000, DECIDE_DNS_SECURE, 0, 0, NULL, NULL, NULL, 0, 0},
    {"TLSA in a signed zone: SECURE with the TLSA RDATA (RFC 7672 §2.2)", "_25._tcp.mx1.good.test",
     T_TLSA, 10000, DECIDE_DNS_SECURE, 0, 0,
     "0301010123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL, NULL, 0, 0},
    {"CNAME followed: canonname is the target (RFC 7672 §2.2.2)", "alias.good.test", T_A, 10000,
     DECIDE_DNS_SECURE, 0, 0, "7f630101", "mx1.good.test", NULL, 0, 0},
    {"no CNAME: canonname NULL even with a trailing dot and other case", "MX1.Good.Test.", T_A,
     10000, DECIDE_DNS_SECURE, 0, 0, "7f630101", NULL, NULL, 0, 0},
    {"lame delegation: FAILED SERVFAIL (decide.h: SERVFAIL is FAILED)", "lame.test", T_MX, 20000,
     DECIDE_DNS_FAILED, 2, 0, NULL, NULL, "SERVFAIL", 0, 0},
    {"silent server: FAILED at the 1 s deadline, query cancelled", "www.slow.test", T_A, 1000,
     DECIDE_DNS_FAILED, -1, 0, NULL, NULL, "timeout after 1000 ms", 0, 0},
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static int fails;
static size_t pending;
static struct event_base *base;

/* ok - print one TAP-like line and count failures. */
static void ok(int cond, const char *what, const char *detail)
{
    printf("%s - %s%s%s\n", cond ? "ok" : "not ok", what, detail ? ": " : "", detail ? detail : "");
    if (!cond)
        fails++;
}

/* hex - lower-case hex of data into out (room for 2 * len + 1). */
static void hex(const unsigned char *data, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", data[i]);
    out[2 * len] = '\0';
}

/* on_row_answer - check one answer against its row. */
static void on_row_answer(const struct dns_answer *a, void *arg)
{
    struct row *r = arg;
    char got[1024], rd[600];
    int good = 1;

    r->done++;
    rd[0] = '\0';
    if (a->n_rdata == 1 && a->rdata[0].len < 290)
        hex(a->rdata[0].data, a->rdata[0].len, rd);
    snprintf(got, sizeof(got), "%s rcode=%d nx=%d data=%d n=%zu rdata=%s canon=%s ttl=%u why=%s",
             decide_dns_name(a->status), a->rcode, a->nxdomain, a->havedata, a->n_rdata, rd,
             a->canonname ? a->canonname : "-", a->ttl, a->why ? a->why : "-");
    good &= a->status == r->status && a->rcode == r->rcode && a->nxdomain == (r->nxdomain != 0);
    good &= a->rrtype == r->rrtype && strcmp(a->qname, r->name) == 0;
    if (r->rdata != NULL)
        good &= a->havedata && a->n_rdata == 1 && strcmp(rd, r->rdata) == 0 && a->ttl > 0;
    else
        good &= !a->havedata && a->n_rdata == 0;
    if (r->canon != NULL)
        good &= a->canonname != NULL && strcmp(a->canonname, r->canon) == 0;
    else
        good &= a->canonname == NULL;
    if (r->why != NULL)
        good &= a->why != NULL && strncmp(a->why, r->why, strlen(r->why)) == 0;
    else
        good &= a->why == NULL;
    ok(good, r->rule, got);
    if (--pending == 0)
        event_base_loopexit(base, NULL);
}

/* on_never - a callback that must not run. */
static void on_never(const struct dns_answer *a, void *arg)
{
    (void)a;
    *(int *)arg += 1;
}

static struct dns *freed_in_cb;
static int in_cb_calls;

/* on_free_inside - the first answer frees the resolver from inside the callback. */
static void on_free_inside(const struct dns_answer *a, void *arg)
{
    (void)a;
    (void)arg;
    in_cb_calls++;
    if (freed_in_cb != NULL) {
        dns_free(freed_in_cb);
        freed_in_cb = NULL;
    }
}

/* blackhole - bind a UDP socket that is never read: a name server that never answers. */
static int blackhole(void)
{
    struct sockaddr_in sin;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(53);
    inet_pton(AF_INET, "127.99.0.53", &sin.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        perror("test_dns: bind 127.99.0.53:53");
        exit(1);
    }
    return fd;
}

/* new_dns - a resolver on the testbed, or exit. */
static struct dns *new_dns(const char *conf, const char *ta)
{
    struct mxtls_diag diag = {0};
    struct dns *d = dns_new(base, conf, ta, NULL, &diag);
    if (d == NULL) {
        fprintf(stderr, "test_dns: dns_new: %s\n", diag.what);
        exit(1);
    }
    return d;
}

int main(void)
{
    const char *conf = getenv("TESTBED_UNBOUND_CONF");
    const char *dir = getenv("TESTBED_DIR");
    char ta[4096], longname[DNS_NAME_MAX + 2];
    struct mxtls_diag diag = {0};
    struct dns *d;
    int never = 0, bh;

    if (conf == NULL || dir == NULL) {
        fprintf(stderr, "test_dns: TESTBED_UNBOUND_CONF and TESTBED_DIR must be set\n");
        return 1;
    }
    snprintf(ta, sizeof(ta), "%s/dns/test.ta", dir);
    bh = blackhole();
    base = event_base_new();
    if (base == NULL)
        return 1;

    ok(dns_new(base, "/nonexistent/unbound.conf", ta, NULL, &diag) == NULL && diag.code != 0,
       "dns_new: an unreadable configuration fails with a reason", diag.what);

    /* 1. The table: all lookups in flight at once on one loop. */
    d = new_dns(conf, ta);
    for (size_t i = 0; i < N_ROWS; i++) {
        if (dns_query_start(d, rows[i].name, rows[i].rrtype, rows[i].timeout_ms, on_row_answer,
                            &rows[i], NULL) != 0) {
            ok(0, rows[i].rule, "dns_query_start failed");
            continue;
        }
        pending++;
    }
    if (pending > 0)
        event_base_dispatch(base);
    for (size_t i = 0; i < N_ROWS; i++)
        if (rows[i].done != 1)
            ok(0, rows[i].rule, "callback not called exactly once");

    /* 2. Bad arguments: refused at once, no callback. */
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    ok(dns_query_start(d, "", T_A, 0, on_never, &never, NULL) == MXTLS_EINVAL, "empty name: EINVAL",
       NULL);
    ok(dns_query_start(d, longname, T_A, 0, on_never, &never, NULL) == MXTLS_EINVAL,
       "name longer than DNS_NAME_MAX: EINVAL", NULL);
    ok(dns_query_start(d, "good.test", 0, 0, on_never, &never, NULL) == MXTLS_EINVAL,
       "rrtype 0: EINVAL", NULL);
    ok(dns_query_start(d, "good.test", 65536, 0, on_never, &never, NULL) == MXTLS_EINVAL,
       "rrtype 65536: EINVAL", NULL);

    /* 2b. dns_cancel (issue 17: a lookup whose client went away): the
     * cancelled lookup never calls back, its handle is cleared, the deadline
     * is disarmed, and the resolver goes on answering others. */
    {
        struct dns_query *h = NULL;
        struct row again = {"after a cancel, other lookups still answer",
                            "good.test",
                            T_MX,
                            3000,
                            DECIDE_DNS_SECURE,
                            0,
                            0,
                            "000a036d783104676f6f64047465737400",
                            NULL,
                            NULL,
                            0,
                            0};
        ok(dns_query_start(d, "www.slow.test", T_A, 500, on_never, &never, &h) == 0 && h != NULL,
           "dns_query_start: a slow lookup with a handle", NULL);
        dns_cancel(h);
        ok(h == NULL, "dns_cancel clears the caller's handle", NULL);
        ok(dns_query_start(d, again.name, again.rrtype, again.timeout_ms, on_row_answer, &again,
                           NULL) == 0,
           "a lookup after the cancel started", NULL);
        pending = 2;                /* never 0 here: the loop runs the whole second */
        struct timeval tv = {1, 0}; /* past the cancelled lookup's 500 ms deadline */
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
        pending = 0;
        ok(never == 0 && again.done == 1, "dns_cancel: no callback, deadline disarmed", NULL);
    }

    /* 3. dns_free with a lookup in flight: cancelled, never called back. */
    ok(dns_query_start(d, "ns2.slow.test", T_A, 500, on_never, &never, NULL) == 0,
       "slow lookup started", NULL);
    {
        struct timeval tv = {0, 200000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    dns_free(d);
    {
        struct timeval tv = {1, 0}; /* past the 500 ms deadline */
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    ok(never == 0, "dns_free with a lookup in flight: no callback, deadline disarmed", NULL);

    /* 4. dns_free from inside a callback: the other lookup never calls back. */
    freed_in_cb = new_dns(conf, ta);
    ok(dns_query_start(freed_in_cb, "good.test", T_MX, 1500, on_free_inside, NULL, NULL) == 0 &&
           dns_query_start(freed_in_cb, "mx1.good.test", T_A, 1500, on_free_inside, NULL, NULL) ==
               0,
       "two lookups started", NULL);
    {
        struct timeval tv = {2, 0}; /* the lookups answer in milliseconds */
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    ok(in_cb_calls == 1 && freed_in_cb == NULL,
       "dns_free inside a callback: exactly one callback, no crash", NULL);

    event_base_free(base);
    close(bh);
    printf(fails ? "# %d check(s) failed\n" : "# all checks passed\n", fails);
    return fails ? 1 : 0;
}
