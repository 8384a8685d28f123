/*
 * test_dane - the DANE facts gathering (core/dane.c) over a scripted network
 * (fake_net.h): what is looked up, in which order, what the facts say for
 * each DNSSEC outcome of the MX, address and TLSA lookups (RFC 7672 §2.2),
 * what is cached and for how long, waiters sharing one gathering and a
 * gathering cancelled when every waiter went away.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dane.h"
#include "fake_net.h"
#include "unit.h"

#define S DECIDE_DNS_SECURE
#define I DECIDE_DNS_INSECURE
#define B DECIDE_DNS_BOGUS
#define F DECIDE_DNS_FAILED

/* The common zone: example.test with mx1 (pref 10) and mx2 (pref 20). */
static void secure_host(const char *host, enum decide_dns a, enum decide_dns aaaa,
                        enum decide_dns tlsa, bool usable)
{
    char name[300];
    fake_a(fake_answer(host, DNS_RR_A, a, 300), "192.0.2.1");
    fake_answer(host, DNS_RR_AAAA, aaaa, 300);
    snprintf(name, sizeof(name), "_25._tcp.%s", host);
    struct fake_dns *t = fake_answer(name, DNS_RR_TLSA, tlsa, 300);
    fake_tlsa(t, usable ? 3 : 1, 1, 1);
}

static struct fake_dns *two_mx(enum decide_dns mx)
{
    struct fake_dns *a = fake_answer("example.test", DNS_RR_MX, mx, 600);
    fake_mx(a, 20, "mx2.example.test");
    fake_mx(a, 10, "mx1.example.test");
    return a;
}

static void s_all_usable(void)
{
    two_mx(S);
    secure_host("mx1.example.test", S, S, S, true);
    secure_host("mx2.example.test", S, S, S, true);
}
static void s_mx_insecure(void)
{
    two_mx(I);
    secure_host("mx1.example.test", S, S, S, true);
}
static void s_mx_bogus(void)
{
    two_mx(B)->why = "signature expired";
}
static void s_mx_failed(void)
{
    fake_answer("example.test", DNS_RR_MX, F, 0)->why = "SERVFAIL";
}
static void s_nxdomain(void)
{
    fake_answer("example.test", DNS_RR_MX, S, 900)->nxdomain = true;
}
static void s_null_mx(void)
{
    fake_mx(fake_answer("example.test", DNS_RR_MX, S, 600), 0, ".");
}
static void s_nodata(void)
{
    fake_answer("example.test", DNS_RR_MX, S, 600);
    secure_host("example.test", S, S, S, true);
}
static void s_addr_insecure(void)
{
    fake_mx(fake_answer("example.test", DNS_RR_MX, S, 600), 10, "mx1.example.test");
    secure_host("mx1.example.test", I, S, S, true);
}
static void s_aaaa_bogus(void)
{
    fake_mx(fake_answer("example.test", DNS_RR_MX, S, 600), 10, "mx1.example.test");
    secure_host("mx1.example.test", S, B, S, true);
}
static void s_addr_failed(void)
{
    fake_mx(fake_answer("example.test", DNS_RR_MX, S, 600), 10, "mx1.example.test");
    secure_host("mx1.example.test", F, S, S, true);
}
static void s_tlsa_bogus(void)
{
    fake_mx(fake_answer("example.test", DNS_RR_MX, S, 600), 10, "mx1.example.test");
    secure_host("mx1.example.test", S, S, B, true);
}
static void s_tlsa_failed(void)
{
    fake_mx(fake_answer("example.test", DNS_RR_MX, S, 600), 10, "mx1.example.test");
    secure_host("mx1.example.test", S, S, F, true);
}
static void s_tlsa_insecure(void)
{
    fake_mx(fake_answer("example.test", DNS_RR_MX, S, 600), 10, "mx1.example.test");
    secure_host("mx1.example.test", S, S, I, true);
}
static void s_tlsa_pkix(void)
{
    fake_mx(fake_answer("example.test", DNS_RR_MX, S, 600), 10, "mx1.example.test");
    secure_host("mx1.example.test", S, S, S, false);
}
static void s_no_tlsa(void)
{
    fake_mx(fake_answer("example.test", DNS_RR_MX, S, 600), 10, "mx1.example.test");
    fake_a(fake_answer("mx1.example.test", DNS_RR_A, S, 300), "192.0.2.1");
    fake_answer("mx1.example.test", DNS_RR_AAAA, S, 300);
    fake_answer("_25._tcp.mx1.example.test", DNS_RR_TLSA, S, 300);
}
/* mx1 is a CNAME to real.hosting.test: TLSA at the expanded name first. */
static void s_cname_tlsa_at_target(void)
{
    fake_mx(fake_answer("example.test", DNS_RR_MX, S, 600), 10, "mx1.example.test");
    struct fake_dns *a = fake_answer("mx1.example.test", DNS_RR_A, S, 300);
    fake_a(a, "192.0.2.7");
    snprintf(a->canon, sizeof(a->canon), "real.hosting.test");
    fake_answer("mx1.example.test", DNS_RR_AAAA, S, 300);
    fake_tlsa(fake_answer("_25._tcp.real.hosting.test", DNS_RR_TLSA, S, 300), 3, 1, 1);
}
/* ... and at the original name when the expanded one has none. */
static void s_cname_tlsa_at_original(void)
{
    s_cname_tlsa_at_target();
    fake_answer("_25._tcp.real.hosting.test", DNS_RR_TLSA, S, 300);
    fake_tlsa(fake_answer("_25._tcp.mx1.example.test", DNS_RR_TLSA, S, 300), 2, 0, 1);
}
static void s_257_hosts(void)
{
    struct fake_dns *a = fake_answer("example.test", DNS_RR_MX, S, 600);
    for (int i = 0; i < DECIDE_HOSTS_MAX + 1; i++) {
        char host[64];
        snprintf(host, sizeof(host), "mx%d.example.test", i);
        fake_mx(a, 10, host);
    }
}
static void s_257_hosts_insecure(void)
{
    struct fake_dns *a = fake_answer("example.test", DNS_RR_MX, I, 600);
    for (int i = 0; i < DECIDE_HOSTS_MAX + 1; i++) {
        char host[64];
        snprintf(host, sizeof(host), "mx%d.example.test", i);
        fake_mx(a, 10, host);
    }
}
static void s_bracketed(void)
{
    secure_host("example.test", S, S, S, true);
}
static void s_refused(void)
{
    fake_answer("example.test", DNS_RR_MX, S, 600)->refuse = true;
}

struct row {
    const char *rule;
    void (*script)(void);
    bool bracketed;
    enum decide_mx mx;
    enum decide_dns mx_dns;
    size_t n_hosts;
    enum decide_dns addr0; /* hosts[0] */
    enum decide_dns tlsa0;
    unsigned usable0;
    bool tlsa_looked0;
    bool cached;        /* the facts answer the next query without I/O */
    const char *extra0; /* hosts[0].tlsa_name, or NULL */
    int sync;           /* dane_query answers at once (1) */
};

static const struct row rows[] = {
    {"RFC 7672 §2.2: secure MX, secure addresses, usable TLSA: every host DANE", s_all_usable, 0,
     DECIDE_MX_HOSTS, S, 2, S, S, 1, 1, 1, "_25._tcp.mx1.example.test", 0},
    {"RFC 7672 §2.2.1: insecure MX: no address or TLSA lookups", s_mx_insecure, 0, DECIDE_MX_HOSTS,
     I, 2, S, S, 0, 0, 1, NULL, 0},
    {"RFC 7672 §2.1.1: bogus MX: facts say bogus, not cached", s_mx_bogus, 0, DECIDE_MX_HOSTS, B, 0,
     S, S, 0, 0, 0, NULL, 0},
    {"RFC 7672 §2.1.1: failed MX lookup: failed, not cached", s_mx_failed, 0, DECIDE_MX_HOSTS, F, 0,
     S, S, 0, 0, 0, NULL, 0},
    {"RFC 5321 §5.1: NXDOMAIN: the domain does not exist, cached", s_nxdomain, 0,
     DECIDE_MX_NXDOMAIN, S, 0, S, S, 0, 0, 1, NULL, 0},
    {"RFC 7505 §3: \"0 .\" alone is a null MX", s_null_mx, 0, DECIDE_MX_NULL, S, 0, S, S, 0, 0, 1,
     NULL, 0},
    {"RFC 5321 §5.1: secure NODATA MX: the domain is its own host", s_nodata, 0, DECIDE_MX_NODATA,
     S, 1, S, S, 1, 1, 1, "_25._tcp.example.test", 0},
    {"RFC 7672 §2.2.2: insecure A: host not DANE, no TLSA lookup", s_addr_insecure, 0,
     DECIDE_MX_HOSTS, S, 1, I, S, 0, 0, 1, NULL, 0},
    {"RFC 7672 §2.2.2: bogus AAAA: the host's addresses are bogus, not cached", s_aaaa_bogus, 0,
     DECIDE_MX_HOSTS, S, 1, B, S, 0, 0, 0, NULL, 0},
    {"RFC 7672 §2.2.2: failed A lookup: failed, not cached", s_addr_failed, 0, DECIDE_MX_HOSTS, S,
     1, F, S, 0, 0, 0, NULL, 0},
    {"RFC 7672 §2.2: bogus TLSA: bogus, not cached", s_tlsa_bogus, 0, DECIDE_MX_HOSTS, S, 1, S, B,
     0, 1, 0, NULL, 0},
    {"RFC 7672 §2.2: failed TLSA lookup: failed, not cached", s_tlsa_failed, 0, DECIDE_MX_HOSTS, S,
     1, S, F, 0, 1, 0, NULL, 0},
    {"RFC 7672 §2.2: insecure TLSA records are ignored", s_tlsa_insecure, 0, DECIDE_MX_HOSTS, S, 1,
     S, I, 0, 1, 1, NULL, 0},
    {"RFC 7672 §3.1.3: PKIX-EE(1) is not usable for SMTP", s_tlsa_pkix, 0, DECIDE_MX_HOSTS, S, 1, S,
     S, 0, 1, 1, NULL, 0},
    {"RFC 7672 §2.2: secure NODATA TLSA: no TLSA", s_no_tlsa, 0, DECIDE_MX_HOSTS, S, 1, S, S, 0, 1,
     1, NULL, 0},
    {"RFC 7672 §2.2.2: CNAME'd host: TLSA at the expanded name first", s_cname_tlsa_at_target, 0,
     DECIDE_MX_HOSTS, S, 1, S, S, 1, 1, 1, "_25._tcp.real.hosting.test", 0},
    {"RFC 7672 §2.2.2: none at the expanded name: TLSA at the original name",
     s_cname_tlsa_at_original, 0, DECIDE_MX_HOSTS, S, 1, S, S, 1, 1, 1, "_25._tcp.mx1.example.test",
     0},
    {"RFC 7672 §2.1.1 (fail closed): a secure MX RRset of 257 hosts is failed", s_257_hosts, 0,
     DECIDE_MX_HOSTS, F, 0, S, S, 0, 0, 0, NULL, 0},
    {"RFC 7672 §2.2.1: 257 hosts in an insecure MX RRset: no DANE, no host kept",
     s_257_hosts_insecure, 0, DECIDE_MX_HOSTS, I, 0, S, S, 0, 0, 1, NULL, 0},
    {"DESIGN.md: [host] means no MX lookup; the host's own addresses and TLSA", s_bracketed, 1,
     DECIDE_MX_BRACKETED, S, 1, S, S, 1, 1, 1, "_25._tcp.example.test", 0},
    {"a lookup the resolver refuses: failed MX at once (fail closed)", s_refused, 0,
     DECIDE_MX_HOSTS, F, 0, S, S, 0, 0, 0, NULL, 1},
};

struct got {
    struct dane_facts *f;
    unsigned calls;
};

/* on_facts - keep the facts */
static void on_facts(struct dane_facts *f, void *arg)
{
    struct got *g = arg;
    g->calls++;
    g->f = f;
}

/* test_row - gather once, check the facts, then whether they are cached */
static void test_row(void **state)
{
    const struct row *r = *state;
    struct pipeline_net net;
    fake_reset(&net);
    r->script();
    struct dane_cache *c = dane_cache_new(&net);
    assert_non_null(c);
    struct got g = {0};
    struct dane_wait *w = NULL;
    int rc = dane_query(c, "example.test", r->bracketed, 25, 1000, &g.f, on_facts, &g, &w);
    assert_int_equal(rc, r->sync);
    if (rc == 0) {
        assert_int_equal(g.calls, 0); /* never from inside dane_query */
        fake_run();
        assert_int_equal(g.calls, 1);
    }
    assert_int_equal(fake_pending(), 0);
    struct dane_facts *f = g.f;
    assert_non_null(f);
    assert_int_equal(f->mx, r->mx);
    assert_int_equal(f->mx_dns, r->mx_dns);
    assert_int_equal(f->n_hosts, r->n_hosts);
    if (r->bracketed)
        assert_int_equal(fake_asked("example.test", DNS_RR_MX), 0);
    if (r->mx_dns == I) /* RFC 7672 §2.2.1: nothing more is asked */
        assert_int_equal(fake_asked("mx1.example.test", 0), 0);
    if (f->n_hosts > 0 && (r->mx_dns == S || r->bracketed)) {
        const struct dane_host *h = &f->hosts[0];
        assert_int_equal(h->addr, r->addr0);
        assert_int_equal(h->tlsa_looked, r->tlsa_looked0);
        if (r->tlsa_looked0)
            assert_int_equal(h->tlsa, r->tlsa0);
        assert_int_equal(h->n_usable, r->usable0);
        if (r->extra0 != NULL)
            assert_string_equal(h->tlsa_name, r->extra0);
        if (f->n_hosts == 2) /* (preference, name) order, whatever the answer's */
            assert_string_equal(h->name, "mx1.example.test");
    }
    if (r->mx_dns == B || r->mx_dns == F || r->addr0 == B || r->addr0 == F || r->tlsa0 == B ||
        r->tlsa0 == F)
        assert_true(f->mx_why != NULL || (f->n_hosts > 0 && f->hosts[0].why != NULL));
    dane_facts_unref(f);

    /* The next query: from the cache (no I/O) or gathered again. */
    unsigned before = fake_asked("example.test", 0) + fake_asked("mx1.example.test", 0);
    struct got g2 = {0};
    rc = dane_query(c, "example.test", r->bracketed, 25, 1000, &g2.f, on_facts, &g2, &w);
    assert_int_equal(rc == 1 && !r->sync, r->cached);
    if (rc == 0)
        fake_run();
    else if (r->cached) /* a cache hit does no I/O */
        assert_int_equal(fake_asked("example.test", 0) + fake_asked("mx1.example.test", 0), before);
    dane_facts_unref(g2.f);
    dane_cache_free(c);
}

/* test_ttl - facts are cached until the smallest TTL seen, then gathered again */
static void test_ttl(void **state)
{
    (void)state;
    struct pipeline_net net;
    fake_reset(&net);
    s_all_usable();
    fake_tlsa(fake_answer("_25._tcp.mx2.example.test", DNS_RR_TLSA, S, 60), 3, 1, 1); /* smallest */
    struct dane_cache *c = dane_cache_new(&net);
    struct got g = {0};
    struct dane_wait *w;
    assert_int_equal(dane_query(c, "example.test", false, 25, 1000, &g.f, on_facts, &g, &w), 0);
    fake_run();
    assert_int_equal(g.f->expires, fake_time + 60);
    dane_facts_unref(g.f);
    fake_time += 59;
    assert_int_equal(dane_query(c, "example.test", false, 25, 1000, &g.f, on_facts, &g, &w), 1);
    dane_facts_unref(g.f);
    fake_time += 1;
    assert_int_equal(dane_query(c, "example.test", false, 25, 1000, &g.f, on_facts, &g, &w), 0);
    assert_int_equal(fake_asked("example.test", DNS_RR_MX), 2);
    fake_run();
    dane_facts_unref(g.f);
    /* Another port is another next-hop: its own facts (RFC 7672 §2.2.3: _<port>._tcp). */
    fake_tlsa(fake_answer("_26._tcp.mx1.example.test", DNS_RR_TLSA, S, 300), 3, 1, 1);
    fake_tlsa(fake_answer("_26._tcp.mx2.example.test", DNS_RR_TLSA, S, 300), 3, 1, 1);
    assert_int_equal(dane_query(c, "example.test", false, 26, 1000, &g.f, on_facts, &g, &w), 0);
    fake_run();
    assert_string_equal(g.f->hosts[0].tlsa_name, "_26._tcp.mx1.example.test");
    assert_int_equal(g.f->expires, fake_time + 300);
    dane_facts_unref(g.f);
    assert_int_equal(dane_cache_sweep(c), 0);
    fake_time += 3600;
    assert_int_equal(dane_cache_sweep(c), 2);
    assert_int_equal(dane_cache_count(c), 0);
    dane_cache_free(c);
}

/* test_shared - waiters of one next-hop share one gathering; each gets the facts */
static void test_shared(void **state)
{
    (void)state;
    struct pipeline_net net;
    fake_reset(&net);
    s_all_usable();
    struct dane_cache *c = dane_cache_new(&net);
    struct got g[3];
    memset(g, 0, sizeof(g));
    struct dane_wait *w[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            dane_query(c, "example.test", false, 25, 1000, &g[i].f, on_facts, &g[i], &w[i]), 0);
    assert_int_equal(fake_asked("example.test", DNS_RR_MX), 1);
    dane_wait_cancel(w[1]); /* one client went away: the others still wait */
    fake_run();
    assert_int_equal(fake_n_cancelled, 0);
    assert_int_equal(g[0].calls, 1);
    assert_int_equal(g[1].calls, 0);
    assert_int_equal(g[2].calls, 1);
    assert_ptr_equal(g[0].f, g[2].f);
    assert_int_equal(fake_asked("mx1.example.test", DNS_RR_A), 1);
    dane_facts_unref(g[0].f);
    dane_facts_unref(g[2].f);
    dane_cache_free(c);
}

/* test_cancel - the last waiter gone: the gathering's queries are cancelled (issue 17) */
static void test_cancel(void **state)
{
    (void)state;
    struct pipeline_net net;
    fake_reset(&net);
    s_all_usable();
    fake_answer("mx1.example.test", DNS_RR_AAAA, S, 300)->hold = true; /* a slow server */
    struct dane_cache *c = dane_cache_new(&net);
    struct got g[2];
    memset(g, 0, sizeof(g));
    struct dane_wait *w[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(
            dane_query(c, "example.test", false, 25, 1000, &g[i].f, on_facts, &g[i], &w[i]), 0);
    fake_run(); /* MX, both A, mx2's AAAA and TLSA answered; mx1's AAAA held */
    assert_int_equal(fake_pending(), 1);
    dane_wait_cancel(w[0]);
    assert_int_equal(fake_n_cancelled, 0);
    dane_wait_cancel(w[1]);
    assert_int_equal(fake_n_cancelled, 1);
    assert_int_equal(fake_pending(), 0);
    fake_release("mx1.example.test", DNS_RR_AAAA);
    fake_run();
    assert_int_equal(g[0].calls + g[1].calls, 0);
    /* Nothing was cached: the next query gathers again. */
    assert_int_equal(
        dane_query(c, "example.test", false, 25, 1000, &g[0].f, on_facts, &g[0], &w[0]), 0);
    fake_run();
    assert_int_equal(g[0].calls, 1);
    dane_facts_unref(g[0].f);
    /* Freeing the cache with a gathering in flight cancels its queries, calls nobody. */
    fake_answer("other.test", DNS_RR_MX, S, 60)->hold = true;
    assert_int_equal(dane_query(c, "other.test", false, 25, 1000, &g[1].f, on_facts, &g[1], &w[1]),
                     0);
    unsigned cancelled = fake_n_cancelled;
    dane_cache_free(c);
    assert_int_equal(fake_n_cancelled, cancelled + 1);
    assert_int_equal(g[1].calls, 0);
}

/* on_facts_cancel_other - the first callback cancels the other waiter */
static struct dane_wait *to_cancel;
static void on_facts_cancel_other(struct dane_facts *f, void *arg)
{
    on_facts(f, arg);
    if (to_cancel != NULL)
        dane_wait_cancel(to_cancel);
    to_cancel = NULL;
}

/* test_cancel_in_callback - a waiter cancelled by an earlier one's callback is not called */
static void test_cancel_in_callback(void **state)
{
    (void)state;
    struct pipeline_net net;
    fake_reset(&net);
    s_mx_insecure();
    struct dane_cache *c = dane_cache_new(&net);
    struct got g[2];
    memset(g, 0, sizeof(g));
    struct dane_wait *w[2];
    /* Waiters are called newest first: w[1]'s callback cancels w[0]. */
    assert_int_equal(
        dane_query(c, "example.test", false, 25, 1000, &g[0].f, on_facts, &g[0], &w[0]), 0);
    assert_int_equal(dane_query(c, "example.test", false, 25, 1000, &g[1].f, on_facts_cancel_other,
                                &g[1], &w[1]),
                     0);
    to_cancel = w[0];
    fake_run();
    assert_int_equal(g[1].calls, 1);
    assert_int_equal(g[0].calls, 0);
    dane_facts_unref(g[1].f);
    dane_cache_free(c);
}

int main(void)
{
    static struct unit_suite s;
    UNIT_ROWS(&s, test_row, rows);
    unit_one(&s, "RFC 7672 §2.2: facts cached until the smallest TTL; per port", test_ttl, NULL);
    unit_one(&s, "waiters share one gathering; a cancelled one is not called", test_shared, NULL);
    unit_one(&s, "every waiter gone: the gathering's DNS queries are cancelled", test_cancel, NULL);
    unit_one(&s, "a waiter cancelled from another's callback is not called",
             test_cancel_in_callback, NULL);
    int rc = unit_run(&s, "dane");
    fake_reset(NULL);
    return rc;
}
