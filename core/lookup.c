/*
 * lookup - DANE facts and MTA-STS state in parallel, then decide() (see lookup.h).
 */
#include "lookup.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decision_log.h"
#include "log.h"

struct lookup {
    struct socketmap_nexthop nh;
    struct config_zone zone;
    struct dane_facts *facts;
    struct dane_wait *dane_wait;
    struct sts_answer sts;
    struct sts_wait *sts_wait;
    const struct store *store;
    unsigned pending; /* halves still outstanding */
    lookup_callback cb;
    void *arg;
};

/* conclude - run decide() on the gathered facts */
static void conclude(const struct socketmap_nexthop *nh, const struct config_zone *zone,
                     struct dane_facts *f, struct sts_answer *sts, struct lookup_result *r)
{
    struct decide_host hosts[DECIDE_HOSTS_MAX];
    struct decide_facts df = {0};
    memset(r, 0, sizeof(*r));
    r->nexthop = *nh;
    r->zone = *zone;
    r->facts = f;
    r->sts = *sts;
    memset(sts, 0, sizeof(*sts)); /* the result owns the policy reference now */

    df.domain = nh->domain;
    df.port = nh->port;
    df.mx = f->mx;
    df.mx_dns = f->mx_dns;
    /* decide reads per-host facts only for a secure MX answer or a bracketed next-hop. */
    bool dane_read =
        f->mx == DECIDE_MX_BRACKETED ||
        (f->mx_dns == DECIDE_DNS_SECURE && (f->mx == DECIDE_MX_HOSTS || f->mx == DECIDE_MX_NODATA));
    if (dane_read || f->mx == DECIDE_MX_NODATA) {
        for (size_t i = 0; i < f->n_hosts; i++) {
            hosts[i] = (struct decide_host){
                .name = f->hosts[i].name,
                .addr = f->hosts[i].addr,
                .tlsa = f->hosts[i].tlsa_looked ? f->hosts[i].tlsa : DECIDE_DNS_SECURE,
                .n_tlsa = f->hosts[i].n_tlsa,
                .n_usable = f->hosts[i].n_usable,
            };
        }
        df.n_hosts = f->n_hosts;
        df.hosts = hosts;
    }
    df.sts.state = r->sts.state;
    df.sts.policy = r->sts.policy != NULL ? &r->sts.policy->policy : NULL;
    df.sts.cached = r->sts.cached;
    df.sts.failure = r->sts.failure;
    df.zone.strict_testing = zone->strict_testing;
    df.zone.require_sni = zone->require_sni;
    df.zone.tlsrpt = zone->tlsrpt;
    df.zone.dane = zone->dane;

    struct mxtls_diag d = {0};
    if (decide(&df, &r->decision, &d) < 0)
        log_msg(LOG_LEVEL_ERROR, "%s: decision failed: %s (answered: %s)", nh->domain, d.what,
                r->decision.reply);
    /* the policy applied, for the TLS-RPT collector (issue 12; decision_log.h) */
    decision_log_record(r, (int64_t)time(NULL));
}

/* finish - both halves are in: decide and call back */
static void finish(struct lookup *l)
{
    struct lookup_result r;
    conclude(&l->nh, &l->zone, l->facts, &l->sts, &r);
    r.store = l->store;
    lookup_callback cb = l->cb;
    void *arg = l->arg;
    free(l);
    cb(&r, arg);
}

/* on_dane - the DANE half arrived */
static void on_dane(struct dane_facts *f, void *arg)
{
    struct lookup *l = arg;
    l->facts = f;
    l->dane_wait = NULL;
    if (--l->pending == 0)
        finish(l);
}

/* on_sts - the MTA-STS half arrived */
static void on_sts(struct sts_answer *a, void *arg)
{
    struct lookup *l = arg;
    l->sts = *a;
    l->sts_wait = NULL;
    if (--l->pending == 0)
        finish(l);
}

/* lookup_start - query both halves */
int lookup_start(const struct pipeline *p, const struct socketmap_nexthop *nh,
                 const struct config_zone *zone, struct lookup_result *result, lookup_callback cb,
                 void *arg, struct lookup **handle)
{
    struct lookup *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return MXTLS_ENOMEM;
    l->nh = *nh;
    l->zone = *zone;
    l->cb = cb;
    l->arg = arg;
    l->store = p->store;
    l->pending = 2;
    int dr = dane_query(p->dane, nh->domain, nh->bracketed, nh->port, zone->timeout_ms, &l->facts,
                        on_dane, l, &l->dane_wait);
    if (dr < 0) {
        free(l);
        return dr;
    }
    if (dr == 1)
        l->pending--;
    int sr =
        sts_cache_query(p->sts, nh->domain, zone->timeout_ms, &l->sts, on_sts, l, &l->sts_wait);
    if (sr < 0) {
        if (dr == 1)
            dane_facts_unref(l->facts);
        else
            dane_wait_cancel(l->dane_wait);
        free(l);
        return sr;
    }
    if (sr == 1)
        l->pending--;
    if (l->pending > 0) {
        *handle = l;
        return 0;
    }
    conclude(&l->nh, &l->zone, l->facts, &l->sts, result);
    result->store = l->store;
    free(l);
    return 1;
}

/* lookup_cancel - cancel the outstanding halves, drop what arrived */
void lookup_cancel(struct lookup *l)
{
    if (l->dane_wait != NULL)
        dane_wait_cancel(l->dane_wait);
    else
        dane_facts_unref(l->facts);
    if (l->sts_wait != NULL)
        sts_wait_cancel(l->sts_wait);
    else
        sts_answer_finish(&l->sts);
    free(l);
}

/* lookup_result_finish - release facts, policy and reply */
void lookup_result_finish(struct lookup_result *r)
{
    decide_result_finish(&r->decision);
    dane_facts_unref(r->facts);
    r->facts = NULL;
    sts_answer_finish(&r->sts);
}
