/*
 * test_lookup - one policy request through the pipeline (core/lookup.c):
 * the DANE facts and the MTA-STS state gathered in parallel over a scripted
 * network (fake_net.h), then decide() (lib/decide.c). Each row names the
 * decision rule it reaches (DESIGN.md "mxtlsd decision rules", RFC 7672,
 * RFC 8461); plus the answer from the caches without I/O and a lookup
 * cancelled while in flight.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dane.h"
#include "fake_net.h"
#include "lookup.h"
#include "sts_cache.h"
#include "unit.h"

#define S DECIDE_DNS_SECURE
#define I DECIDE_DNS_INSECURE

static const char policy_enforce[] = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\n"
                                     "max_age: 86400\r\n";

/* mx: example.test's MX (status) with mx1; tlsa: mx1's TLSA usable or not */
static void zone(enum decide_dns mx, bool tlsa)
{
    fake_mx(fake_answer("example.test", DNS_RR_MX, mx, 600), 10, "mx1.example.test");
    fake_a(fake_answer("mx1.example.test", DNS_RR_A, S, 300), "192.0.2.1");
    fake_answer("mx1.example.test", DNS_RR_AAAA, S, 300);
    struct fake_dns *t = fake_answer("_25._tcp.mx1.example.test", DNS_RR_TLSA, S, 300);
    if (tlsa)
        fake_tlsa(t, 3, 1, 1);
}

/* sts: an MTA-STS record and policy, or none */
static void sts(bool published)
{
    if (!published) {
        fake_answer("_mta-sts.example.test", DNS_RR_TXT, I, 300)->nxdomain = true;
        return;
    }
    fake_txt(fake_answer("_mta-sts.example.test", DNS_RR_TXT, I, 300), "v=STSv1; id=1;");
    fake_a(fake_answer("mta-sts.example.test", DNS_RR_A, I, 300), "192.0.2.80");
    fake_fetch_ok("example.test", policy_enforce);
}

static void s_dane_only(void)
{
    zone(S, true);
    sts(true);
}
static void s_sts_enforce(void)
{
    zone(I, false);
    sts(true);
}
static void s_nothing(void)
{
    zone(I, false);
    sts(false);
}
static void s_mx_bogus(void)
{
    fake_answer("example.test", DNS_RR_MX, DECIDE_DNS_BOGUS, 0)->why = "bogus";
    sts(true);
}
static void s_mx_failed(void)
{
    fake_answer("example.test", DNS_RR_MX, DECIDE_DNS_FAILED, 0)->why = "SERVFAIL";
    sts(false);
}
static void s_null_mx(void)
{
    fake_mx(fake_answer("example.test", DNS_RR_MX, S, 600), 0, ".");
    sts(false);
}
static void s_secure_no_tlsa_sts(void)
{
    zone(S, false);
    sts(true);
}
static void s_sts_resolver_failed(void)
{
    zone(I, false);
    fake_txt(fake_answer("_mta-sts.example.test", DNS_RR_TXT, I, 300), "v=STSv1; id=1;");
    fake_answer("mta-sts.example.test", DNS_RR_A, DECIDE_DNS_FAILED, 0)->why = "SERVFAIL";
}
static void s_sts_fetch_failed(void)
{
    zone(I, false);
    fake_txt(fake_answer("_mta-sts.example.test", DNS_RR_TXT, I, 300), "v=STSv1; id=1;");
    fake_a(fake_answer("mta-sts.example.test", DNS_RR_A, I, 300), "192.0.2.80");
    fake_fetch_fail("example.test", DECIDE_STS_FETCH_ERROR, "HTTP 404");
}

struct row {
    const char *rule;
    void (*script)(void);
    enum decide_kind kind;
    const char *why;
};

static const struct row rows[] = {
    {"RFC 7672 §2.2 / DESIGN.md step 3: every host DANE-usable: dane-only", s_dane_only, DECIDE_OK,
     "dane-only"},
    {"RFC 8461 §5 / DESIGN.md step 4: insecure MX, MTA-STS enforce", s_sts_enforce, DECIDE_OK,
     "sts-enforce"},
    {"RFC 8461 §2 + DESIGN.md step 4: secure MX without TLSA: MTA-STS applies",
     s_secure_no_tlsa_sts, DECIDE_OK, "sts-enforce"},
    {"DESIGN.md step 5: no DANE, no MTA-STS record: NOTFOUND", s_nothing, DECIDE_NOTFOUND,
     "sts-no-record"},
    {"RFC 7672 §2.1.1: bogus MX: TEMP", s_mx_bogus, DECIDE_TEMP, "mx-bogus"},
    {"RFC 7672 §2.1.1: failed MX lookup: TEMP", s_mx_failed, DECIDE_TEMP, "mx-failed"},
    {"RFC 7505: null MX", s_null_mx, DECIDE_NOTFOUND, "mx-null"},
    {"issue 17: our resolver fails the policy host: TEMP", s_sts_resolver_failed, DECIDE_TEMP,
     "sts-resolver-failed"},
    {"RFC 8461 §3.3: fetch failed, nothing cached: no MTA-STS", s_sts_fetch_failed, DECIDE_NOTFOUND,
     "sts-failed"},
};

struct got {
    struct lookup_result r;
    unsigned calls;
};

/* on_result - keep the result (the callback owns it) */
static void on_result(struct lookup_result *r, void *arg)
{
    struct got *g = arg;
    g->r = *r;
    g->calls++;
}

struct fixture {
    struct pipeline_net net;
    struct pipeline p;
    struct socketmap_nexthop nh;
    struct config_zone zone;
};

/* setup - caches over the fake network; the next-hop example.test */
static void setup(struct fixture *fx)
{
    fake_reset(&fx->net);
    fx->p.dane = dane_cache_new(&fx->net);
    fx->p.sts = sts_cache_new(&fx->net, NULL, 60);
    fx->p.store = NULL;
    assert_non_null(fx->p.dane);
    assert_non_null(fx->p.sts);
    struct mxtls_diag d = {0};
    assert_int_equal(socketmap_nexthop_parse("example.test", 12, &fx->nh, &d), 0);
    fx->zone = (struct config_zone){.timeout_ms = 1000, .require_sni = true, .dane = true};
}

/* teardown - free the caches */
static void teardown(struct fixture *fx)
{
    sts_cache_free(fx->p.sts);
    dane_cache_free(fx->p.dane);
}

/* test_row - one lookup through the fake network, then the same from the caches */
static void test_row(void **state)
{
    const struct row *row = *state;
    struct fixture fx;
    setup(&fx);
    row->script();
    struct got g = {0};
    struct lookup *h = NULL;
    assert_int_equal(lookup_start(&fx.p, &fx.nh, &fx.zone, &g.r, on_result, &g, &h), 0);
    assert_int_equal(g.calls, 0);
    fake_run();
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.r.decision.kind, row->kind);
    assert_string_equal(g.r.decision.why, row->why);
    char *first = strdup(g.r.decision.reply);
    lookup_result_finish(&g.r);

    /* Asked again at once: a cacheable answer comes from memory, the same reply. */
    struct got g2 = {0};
    int rc = lookup_start(&fx.p, &fx.nh, &fx.zone, &g2.r, on_result, &g2, &h);
    if (rc == 0)
        fake_run();
    assert_string_equal(g2.r.decision.reply, first);
    if (row->kind != DECIDE_TEMP || strcmp(row->why, "sts-resolver-failed") == 0)
        assert_int_equal(rc == 1, strcmp(row->why, "sts-resolver-failed") != 0 &&
                                      strcmp(row->why, "sts-failed") != 0);
    lookup_result_finish(&g2.r);
    free(first);
    teardown(&fx);
}

/* test_cancel - a lookup cancelled in flight: no callback, its DNS queries cancelled */
static void test_cancel(void **state)
{
    (void)state;
    struct fixture fx;
    setup(&fx);
    s_dane_only();
    fake_answer("mx1.example.test", DNS_RR_AAAA, S, 300)->hold = true;
    struct got g = {0};
    struct lookup *h = NULL;
    assert_int_equal(lookup_start(&fx.p, &fx.nh, &fx.zone, &g.r, on_result, &g, &h), 0);
    fake_run();
    assert_int_equal(g.calls, 0);
    assert_int_equal(fake_pending(), 1);
    lookup_cancel(h);
    assert_int_equal(fake_n_cancelled, 1); /* the DANE gathering had no other waiter */
    assert_int_equal(fake_pending(), 0);
    fake_run();
    assert_int_equal(g.calls, 0);
    teardown(&fx);
}

/* test_shared - two lookups of one next-hop share both halves' I/O */
static void test_shared(void **state)
{
    (void)state;
    struct fixture fx;
    setup(&fx);
    s_sts_enforce();
    struct got g[2];
    memset(g, 0, sizeof(g));
    struct lookup *h[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(lookup_start(&fx.p, &fx.nh, &fx.zone, &g[i].r, on_result, &g[i], &h[i]),
                         0);
    fake_run();
    assert_int_equal(g[0].calls + g[1].calls, 2);
    assert_int_equal(fake_asked("example.test", DNS_RR_MX), 1);
    assert_int_equal(fake_asked("_mta-sts.example.test", DNS_RR_TXT), 1);
    assert_int_equal(fake_n_fetches, 1);
    assert_string_equal(g[0].r.decision.reply, g[1].r.decision.reply);
    lookup_result_finish(&g[0].r);
    lookup_result_finish(&g[1].r);
    teardown(&fx);
}

int main(void)
{
    static struct unit_suite s;
    UNIT_ROWS(&s, test_row, rows);
    unit_one(&s, "a lookup cancelled in flight is never called back", test_cancel, NULL);
    unit_one(&s, "two lookups of one next-hop share one gathering and one refresh", test_shared,
             NULL);
    int rc = unit_run(&s, "lookup");
    fake_reset(NULL);
    return rc;
}
