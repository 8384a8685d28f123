/*
 * sts_cache - MTA-STS discovery, fetch and cache on the event loop (see
 * sts_cache.h). RFC 8461 sections are cited where each rule is applied.
 */
#include "sts_cache.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns.h"
#include "fetch.h"
#include "log.h"
#include "mxtls/txt.h"
#include "store.h"
#include "table.h"

#define RR_A    1
#define RR_TXT  16
#define RR_AAAA 28

/* A query waiting for a refresh. */
struct sts_wait {
    struct sts_wait *next;
    struct sts_refresh *refresh; /* NULL once cancelled */
    sts_callback cb;
    void *arg;
};

/* What the cache knows about one policy domain. */
struct sts_entry {
    char domain[DOMAIN_BUF_SIZE];
    struct sts_policy_ref *policy; /* the cached, unexpired policy, or NULL */
    int64_t checked_at;            /* last TXT check that confirmed policy's id */
    int64_t no_record_until;       /* negative answer remembered until then */
    int64_t failed_at;             /* last failed fetch, 0 = none */
    char failed_id[STS_RECORD_ID_MAX + 1];
    enum decide_sts_failure failure;
    char reason[STS_REASON_MAX];     /* why of the last negative or failed outcome */
    struct sts_refresh *refresh;     /* running refresh, or NULL */
    struct sts_entry *newer, *older; /* the cache's use order (limit > 0 only) */
};

struct sts_refresh {
    struct sts_refresh *prev, *next; /* the cache's list of running refreshes */
    struct sts_cache *cache;
    struct sts_entry *entry;
    unsigned timeout_ms;
    bool force_fetch; /* proactive renewal before expiry */
    bool proactive;
    char id[STS_RECORD_ID_MAX + 1]; /* from the TXT record */
    char host[DOMAIN_BUF_SIZE + 8]; /* mta-sts.<domain> */
    struct sts_wait *waiters;
};

struct sts_cache {
    struct dns *dns;
    struct fetch *fetch;
    struct store *store;
    int64_t grace;
    struct table *entries;
    size_t limit;                      /* most entries kept, 0 = no limit */
    struct sts_entry *newest, *oldest; /* use order, kept when limit > 0 */
    struct sts_refresh *running;
    size_t n_running;
    /* proactive refresh queue */
    char **queue;
    size_t queue_len, queue_pos;
    unsigned proactive_active, proactive_limit, proactive_timeout;
};

static void refresh_done(struct sts_refresh *r, enum decide_sts_state state, bool cached,
                         enum decide_sts_failure failure);
static void proactive_next(struct sts_cache *c);

/* now - the wall clock; the policy ages are in unix seconds (libfaketime moves it in tests) */
static int64_t now(void)
{
    return (int64_t)time(NULL);
}

/* lookup - a DNS lookup for refresh r, bounded by the zone's timeout */
static int lookup(struct sts_refresh *r, const char *name, int rrtype, dns_callback cb)
{
    dns_set_timeout(r->cache->dns, r->timeout_ms);
    return dns_lookup(r->cache->dns, name, rrtype, cb, r);
}

/* sts_policy_unref - drop a reference */
void sts_policy_unref(struct sts_policy_ref *p)
{
    if (p == NULL || --p->refs > 0)
        return;
    sts_policy_finish(&p->policy);
    free(p);
}

/* sts_answer_finish - release the answer's reference */
void sts_answer_finish(struct sts_answer *a)
{
    sts_policy_unref(a->policy);
    a->policy = NULL;
}

/* expired - RFC 8461 §5.1: a policy applies for max_age seconds after its fetch */
static bool expired(const struct sts_policy_ref *p, int64_t t)
{
    return t >= p->fetched_at + (int64_t)p->policy.max_age;
}

/* persist - write the entry's policy through to the store */
static void persist(struct sts_cache *c, const struct sts_entry *e)
{
    if (c->store == NULL || e->policy == NULL)
        return;
    char *text = sts_policy_format(&e->policy->policy);
    if (text == NULL)
        return;
    struct cache_entry ce = {0};
    snprintf(ce.domain, sizeof(ce.domain), "%s", e->domain);
    snprintf(ce.id, sizeof(ce.id), "%s", e->policy->id);
    ce.fetched_at = e->policy->fetched_at;
    ce.checked_at = e->checked_at;
    ce.failed_at = e->failed_at;
    ce.policy_text = text;
    ce.policy_len = strlen(text);
    store_put(c->store, &ce);
    free(text);
}

/* drop_policy - forget an expired policy, in memory and on disk */
static void drop_policy(struct sts_cache *c, struct sts_entry *e)
{
    sts_policy_unref(e->policy);
    e->policy = NULL;
    if (c->store != NULL)
        store_delete(c->store, e->domain);
}

/* sts_cache_new - an empty cache */
struct sts_cache *sts_cache_new(struct dns *dns, struct fetch *f, struct store *store,
                                int64_t cache_grace_s)
{
    struct sts_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->entries = table_new();
    if (c->entries == NULL) {
        free(c);
        return NULL;
    }
    c->dns = dns;
    c->fetch = f;
    c->store = store;
    c->grace = cache_grace_s;
    return c;
}

/* use_unlink - take e out of the use order */
static void use_unlink(struct sts_cache *c, struct sts_entry *e)
{
    if (e->newer != NULL)
        e->newer->older = e->older;
    else if (c->newest == e)
        c->newest = e->older;
    if (e->older != NULL)
        e->older->newer = e->newer;
    else if (c->oldest == e)
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

/* use_touch - e was just used: make it the newest */
static void use_touch(struct sts_cache *c, struct sts_entry *e)
{
    if (c->limit == 0 || c->newest == e)
        return;
    use_unlink(c, e);
    e->older = c->newest;
    if (c->newest != NULL)
        c->newest->newer = e;
    c->newest = e;
    if (c->oldest == NULL)
        c->oldest = e;
}

/* entry_free - unlink and free e with its policy reference (memory only) */
static void entry_free(struct sts_cache *c, struct sts_entry *e)
{
    use_unlink(c, e);
    table_delete(c->entries, e->domain);
    sts_policy_unref(e->policy);
    free(e);
}

/*
 * evict - over the limit: forget the least recently used entries, those
 * without a policy first, but not keep (the one being asked for) nor one with
 * a refresh running (the refresh and its waiters point at it). Only the
 * internal cache has a limit: it is what cache_size means there, as in
 * postfix-mta-sts-resolver. With a store nothing is evicted: memory is the
 * only read path, and a policy dropped from it could not be applied when a
 * later fetch fails (RFC 8461 §3.3).
 */
static void evict(struct sts_cache *c, const struct sts_entry *keep)
{
    /* Domains without a policy go first: a burst of new domains must not
     * push out the enforce policies that protect others (RFC 8461 §3.3). */
    for (int pass = 0; pass < 2; pass++) {
        struct sts_entry *e = c->oldest;
        while (e != NULL && table_count(c->entries) > c->limit) {
            struct sts_entry *newer = e->newer;
            if (e->refresh == NULL && e != keep && (pass == 1 || e->policy == NULL))
                entry_free(c, e);
            e = newer;
        }
    }
}

/* entry_get - the entry for domain, created when absent; NULL when out of memory */
static struct sts_entry *entry_get(struct sts_cache *c, const char *domain)
{
    struct sts_entry *e = table_get(c->entries, domain);
    if (e != NULL) {
        use_touch(c, e);
        return e;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    snprintf(e->domain, sizeof(e->domain), "%s", domain);
    if (table_put(c->entries, e->domain, e) < 0) {
        free(e);
        return NULL;
    }
    use_touch(c, e);
    if (c->limit > 0 && table_count(c->entries) > c->limit)
        evict(c, e);
    return e;
}

/* sts_cache_set_limit - see sts_cache.h */
void sts_cache_set_limit(struct sts_cache *c, size_t limit)
{
    if (c->store != NULL || table_count(c->entries) > 0)
        return; /* memory only, and from the start: see evict() */
    c->limit = limit;
}

struct load_ctx {
    struct sts_cache *c;
    int64_t now;
    size_t loaded;
    char **expired; /* deleted after the walk: the store is busy during it */
    size_t n_expired;
};

/* load_row - one persisted policy into memory */
static int load_row(struct cache_entry *ce, void *arg)
{
    struct load_ctx *lc = arg;
    struct sts_policy_ref *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return MXTLS_ENOMEM;
    struct mxtls_diag d = {0};
    if (sts_policy_parse(ce->policy_text, ce->policy_len, &p->policy, &d) < 0) {
        free(p); /* cache_sqlite re-validated the row: cannot happen, skip it */
        return 0;
    }
    p->refs = 1;
    snprintf(p->id, sizeof(p->id), "%s", ce->id);
    p->fetched_at = ce->fetched_at;
    if (expired(p, lc->now)) {
        sts_policy_unref(p);
        char **list = realloc(lc->expired, (lc->n_expired + 1) * sizeof(*list));
        if (list == NULL)
            return 0; /* stays on disk until it is replaced; expired rows are ignored */
        lc->expired = list;
        if ((list[lc->n_expired] = strdup(ce->domain)) != NULL)
            lc->n_expired++;
        return 0;
    }
    struct sts_entry *e = entry_get(lc->c, ce->domain);
    if (e == NULL) {
        sts_policy_unref(p);
        return MXTLS_ENOMEM;
    }
    sts_policy_unref(e->policy);
    e->policy = p;
    e->checked_at = ce->checked_at;
    e->failed_at = ce->failed_at;
    lc->loaded++;
    return 0;
}

/* sts_cache_load - replay the store into memory */
int sts_cache_load(struct sts_cache *c, int64_t t, size_t *n_loaded, size_t *n_invalid)
{
    struct load_ctx lc = {c, t, 0, NULL, 0};
    struct mxtls_diag d = {0};
    *n_loaded = 0;
    if (c->store == NULL)
        return 0;
    int err = store_load(c->store, load_row, &lc, n_invalid, &d);
    for (size_t i = 0; i < lc.n_expired; i++) {
        store_delete(c->store, lc.expired[i]); /* RFC 8461 §5.1: past max_age */
        free(lc.expired[i]);
    }
    free(lc.expired);
    if (err < 0)
        log_msg(LOG_LEVEL_ERROR, "cache: cannot load: %s", d.what);
    else if (*n_invalid > 0)
        log_msg(LOG_LEVEL_WARN, "cache: %zu invalid rows ignored (first: %s)", *n_invalid, d.what);
    *n_loaded = lc.loaded;
    return err;
}

/* copy_text - src into dst[size], cut to fit, always terminated */
static void copy_text(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* answer_fill - describe entry e in *a for state */
static void answer_fill(struct sts_answer *a, const struct sts_entry *e,
                        enum decide_sts_state state, bool cached, enum decide_sts_failure failure,
                        const char *id)
{
    /* Every cache hit comes through here: plain copies, no formatting. */
    a->state = state;
    a->policy = NULL;
    a->cached = cached;
    a->failure = failure;
    a->checked_at = e->checked_at;
    copy_text(a->id, sizeof(a->id), id);
    if (state != DECIDE_STS_NO_RECORD && e->policy != NULL) {
        a->policy = e->policy;
        a->policy->refs++;
    }
    /* A policy's why is its id and mode, which explain.c spells out. */
    copy_text(a->reason, sizeof(a->reason), state == DECIDE_STS_POLICY ? "" : e->reason);
}

/* refresh_start - begin a refresh of e; NULL when out of memory or the lookup was refused */
static struct sts_refresh *refresh_start(struct sts_cache *c, struct sts_entry *e,
                                         unsigned timeout_ms, bool force_fetch);

/* sts_cache_query - answer from memory or join/start a refresh */
int sts_cache_query(struct sts_cache *c, const char *domain, unsigned timeout_ms,
                    struct sts_answer *out, sts_callback cb, void *arg, struct sts_wait **wait)
{
    int64_t t = now();
    struct sts_entry *e = entry_get(c, domain);
    if (e == NULL)
        return MXTLS_ENOMEM;
    if (e->policy != NULL && expired(e->policy, t))
        drop_policy(c, e);
    if (e->refresh == NULL) {
        /* RFC 8461 §5.1 with cache_grace: a recently checked policy is used as is. */
        if (e->policy != NULL && t - e->checked_at < c->grace) {
            answer_fill(out, e, DECIDE_STS_POLICY, true, DECIDE_STS_FETCH_ERROR, e->policy->id);
            return 1;
        }
        if (e->policy == NULL && t < e->no_record_until) {
            answer_fill(out, e, DECIDE_STS_NO_RECORD, false, DECIDE_STS_FETCH_ERROR, "");
            return 1;
        }
    }
    struct sts_wait *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return MXTLS_ENOMEM;
    if (e->refresh == NULL && refresh_start(c, e, timeout_ms, false) == NULL) {
        free(w);
        /* The resolver refused the lookup (out of memory): say so, fail closed
         * is not needed for MTA-STS, a cached policy still applies. */
        snprintf(e->reason, sizeof(e->reason), "cannot start the _mta-sts lookup");
        answer_fill(out, e, e->policy ? DECIDE_STS_FAILED : DECIDE_STS_NO_RECORD, true,
                    DECIDE_STS_FETCH_ERROR, "");
        return 1;
    }
    w->refresh = e->refresh;
    w->cb = cb;
    w->arg = arg;
    w->next = e->refresh->waiters;
    e->refresh->waiters = w;
    *wait = w;
    return 0;
}

/* sts_wait_cancel - mark the waiter; refresh_done frees it without calling back */
void sts_wait_cancel(struct sts_wait *w)
{
    w->cb = NULL;
}

/* refresh_free - unlink and free a finished refresh and its waiters */
static void refresh_free(struct sts_refresh *r)
{
    struct sts_cache *c = r->cache;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->running = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    c->n_running--;
    if (r->entry->refresh == r)
        r->entry->refresh = NULL;
    while (r->waiters != NULL) {
        struct sts_wait *w = r->waiters;
        r->waiters = w->next;
        free(w);
    }
    free(r);
}

/* refresh_done - finish r: answer every waiter, then free it */
static void refresh_done(struct sts_refresh *r, enum decide_sts_state state, bool cached,
                         enum decide_sts_failure failure)
{
    struct sts_cache *c = r->cache;
    struct sts_entry *e = r->entry;
    bool proactive = r->proactive;
    e->refresh = NULL;
    /* Detach the waiters first: a callback may start a new query for this domain. */
    struct sts_wait *waiters = r->waiters;
    r->waiters = NULL;
    /* One answer, made while e is certainly alive: a callback may answer a
     * pipelined request for another domain, whose new entry can evict e
     * (cache_size). Each waiter gets a copy with its own policy reference. */
    struct sts_answer base;
    answer_fill(&base, e, state, cached, failure, r->id);
    refresh_free(r);
    while (waiters != NULL) {
        struct sts_wait *w = waiters;
        waiters = w->next;
        if (w->cb != NULL) {
            struct sts_answer a = base;
            if (a.policy != NULL)
                a.policy->refs++;
            w->cb(&a, w->arg);
        }
        free(w);
    }
    sts_answer_finish(&base);
    if (proactive) {
        c->proactive_active--;
        proactive_next(c);
    }
}

/* no_record - RFC 8461 §3.1: no usable record; a cached policy still applies (§5.1) */
static void no_record(struct sts_refresh *r, const char *why)
{
    struct sts_entry *e = r->entry;
    int64_t t = now();
    snprintf(e->reason, sizeof(e->reason), "%s", why);
    if (e->policy != NULL) {
        e->checked_at = t;
        refresh_done(r, DECIDE_STS_POLICY, true, DECIDE_STS_FETCH_ERROR);
        return;
    }
    e->no_record_until = t + r->cache->grace;
    refresh_done(r, DECIDE_STS_NO_RECORD, false, DECIDE_STS_FETCH_ERROR);
}

/* fetch_failed - remember the failure of this id; apply the cached policy if any */
static void fetch_failed(struct sts_refresh *r, enum decide_sts_failure failure, const char *why)
{
    struct sts_entry *e = r->entry;
    e->failed_at = now();
    snprintf(e->failed_id, sizeof(e->failed_id), "%s", r->id);
    e->failure = failure;
    snprintf(e->reason, sizeof(e->reason), "%s: %s", decide_sts_failure_name(failure), why);
    if (e->policy != NULL && e->policy->policy.mode != STS_MODE_NONE)
        log_msg(LOG_LEVEL_WARN,
                "%s: refreshing the cached MTA-STS policy (id %s, mode %s) failed, still "
                "applying it: %s",
                e->domain, e->policy->id, sts_mode_name(e->policy->policy.mode), e->reason);
    else
        log_msg(LOG_LEVEL_INFO, "%s: MTA-STS policy fetch failed: %s", e->domain, e->reason);
    refresh_done(r, DECIDE_STS_FAILED, e->policy != NULL, failure);
}

/* on_fetch - the HTTPS response: parse and cache the policy (RFC 8461 §3.2, §3.3) */
static void on_fetch(const struct fetch_result *res, void *arg)
{
    struct sts_refresh *r = arg;
    struct sts_entry *e = r->entry;
    if (!res->ok) {
        fetch_failed(r, res->failure, res->reason);
        return;
    }
    struct sts_policy_ref *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        fetch_failed(r, DECIDE_STS_FETCH_ERROR, "out of memory");
        return;
    }
    struct mxtls_diag d = {0};
    if (sts_policy_parse(res->body, res->body_len, &p->policy, &d) < 0) {
        free(p);
        char why[STS_REASON_MAX];
        snprintf(why, sizeof(why), "policy at offset %zu: %s", d.offset, d.what);
        fetch_failed(r, DECIDE_STS_POLICY_INVALID, why);
        return;
    }
    int64_t t = now();
    p->refs = 1;
    snprintf(p->id, sizeof(p->id), "%s", r->id);
    p->fetched_at = t;
    sts_policy_unref(e->policy);
    e->policy = p;
    e->checked_at = t;
    e->failed_at = 0;
    e->failed_id[0] = '\0';
    e->no_record_until = 0;
    persist(r->cache, e);
    log_msg(LOG_LEVEL_INFO, "%s: MTA-STS policy id %s fetched: mode %s, %zu mx, max_age %u",
            e->domain, p->id, sts_mode_name(p->policy.mode), p->policy.n_mx, p->policy.max_age);
    refresh_done(r, DECIDE_STS_POLICY, false, DECIDE_STS_FETCH_ERROR);
}

/* on_addr - the policy host's address from our resolver, then the fetch */
static void on_addr(const struct dns_answer *a, void *arg)
{
    struct sts_refresh *r = arg;
    char why[STS_REASON_MAX];
    if (a->status == DECIDE_DNS_BOGUS || a->status == DECIDE_DNS_FAILED) {
        snprintf(why, sizeof(why), "%s %s lookup %s: %s", r->host, a->rrtype == RR_A ? "A" : "AAAA",
                 decide_dns_name(a->status), a->why ? a->why : "");
        fetch_failed(r, DECIDE_STS_FETCH_ERROR, why);
        return;
    }
    if (!a->havedata) {
        if (a->rrtype == RR_A && !a->nxdomain && lookup(r, r->host, RR_AAAA, on_addr) == 0)
            return;
        snprintf(why, sizeof(why), "%s has no address (%s)", r->host,
                 a->nxdomain ? "NXDOMAIN" : "no A or AAAA record");
        fetch_failed(r, DECIDE_STS_FETCH_ERROR, why);
        return;
    }
    char addr[INET6_ADDRSTRLEN];
    const struct dns_rdata *rd = &a->rdata[0];
    int af = a->rrtype == RR_A ? AF_INET : AF_INET6;
    if (rd->len != (af == AF_INET ? 4u : 16u) ||
        inet_ntop(af, rd->data, addr, sizeof(addr)) == NULL) {
        snprintf(why, sizeof(why), "%s: malformed address record", r->host);
        fetch_failed(r, DECIDE_STS_FETCH_ERROR, why);
        return;
    }
    int err = fetch_policy(r->cache->fetch, r->entry->domain, addr, r->timeout_ms, on_fetch, r);
    if (err < 0) {
        snprintf(why, sizeof(why), "cannot start the HTTPS fetch (%d)", err);
        fetch_failed(r, DECIDE_STS_FETCH_ERROR, why);
    }
}

/* on_txt - the _mta-sts TXT answer (RFC 8461 §3.1) */
static void on_txt(const struct dns_answer *a, void *arg)
{
    struct sts_refresh *r = arg;
    struct sts_entry *e = r->entry;
    char why[STS_REASON_MAX];
    if (a->status == DECIDE_DNS_BOGUS || a->status == DECIDE_DNS_FAILED) {
        /* MTA-STS does not depend on DNSSEC: an unavailable record is no record (§3.1),
         * and a cached policy keeps applying (§5.1). */
        snprintf(why, sizeof(why), "_mta-sts TXT lookup %s: %s", decide_dns_name(a->status),
                 a->why ? a->why : "");
        no_record(r, why);
        return;
    }
    if (!a->havedata) {
        no_record(r, a->nxdomain ? "no _mta-sts record (NXDOMAIN)" : "no _mta-sts TXT record");
        return;
    }
    struct txt_rdata rd[64];
    size_t n = a->n_rdata < 64 ? a->n_rdata : 64;
    for (size_t i = 0; i < n; i++) {
        rd[i].data = a->rdata[i].data;
        rd[i].len = a->rdata[i].len;
    }
    struct sts_record rec;
    struct mxtls_diag d = {0};
    if (sts_record_select_rdata(rd, n, &rec, &d) < 0) {
        snprintf(why, sizeof(why), "_mta-sts record not usable: %s", d.what);
        no_record(r, why);
        return;
    }
    snprintf(r->id, sizeof(r->id), "%s", rec.id);
    int64_t t = now();
    /* §3.3: fetch again only when the id changed (or the policy is near expiry). */
    if (e->policy != NULL && strcmp(e->policy->id, rec.id) == 0 && !r->force_fetch) {
        e->checked_at = t;
        persist(r->cache, e);
        refresh_done(r, DECIDE_STS_POLICY, true, DECIDE_STS_FETCH_ERROR);
        return;
    }
    /* DESIGN.md: a failed fetch (of this id) is not retried for 5 minutes. */
    if (e->failed_at != 0 && t - e->failed_at < STS_RETRY_AFTER_S &&
        strcmp(e->failed_id, rec.id) == 0) {
        refresh_done(r, DECIDE_STS_FAILED, e->policy != NULL, e->failure);
        return;
    }
    snprintf(r->host, sizeof(r->host), "mta-sts.%s", e->domain);
    if (lookup(r, r->host, RR_A, on_addr) < 0)
        fetch_failed(r, DECIDE_STS_FETCH_ERROR, "cannot start the policy host lookup");
}

/* refresh_start - the TXT lookup that begins a refresh */
static struct sts_refresh *refresh_start(struct sts_cache *c, struct sts_entry *e,
                                         unsigned timeout_ms, bool force_fetch)
{
    struct sts_refresh *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->cache = c;
    r->entry = e;
    r->timeout_ms = timeout_ms;
    r->force_fetch = force_fetch;
    char name[DOMAIN_BUF_SIZE + 16];
    snprintf(name, sizeof(name), "_mta-sts.%s", e->domain);
    if (lookup(r, name, RR_TXT, on_txt) < 0) {
        free(r);
        return NULL;
    }
    r->next = c->running;
    if (c->running != NULL)
        c->running->prev = r;
    c->running = r;
    c->n_running++;
    e->refresh = r;
    return r;
}

struct proactive_ctx {
    struct sts_cache *c;
    int64_t cutoff;
};

/* collect_stale - queue the domains whose policy was checked before the cutoff */
static void collect_stale(const char *key, void *value, void *arg)
{
    struct proactive_ctx *pc = arg;
    struct sts_entry *e = value;
    struct sts_cache *c = pc->c;
    if (e->policy == NULL || e->checked_at > pc->cutoff)
        return;
    char *copy = strdup(key);
    char **q = copy ? realloc(c->queue, (c->queue_len + 1) * sizeof(*q)) : NULL;
    if (q == NULL) {
        free(copy);
        return;
    }
    c->queue = q;
    c->queue[c->queue_len++] = copy;
}

/* proactive_next - start queued refreshes up to the concurrency limit */
static void proactive_next(struct sts_cache *c)
{
    while (c->proactive_active < c->proactive_limit && c->queue_pos < c->queue_len) {
        char *domain = c->queue[c->queue_pos++];
        struct sts_entry *e = table_get(c->entries, domain);
        free(domain);
        if (e == NULL || e->refresh != NULL || e->policy == NULL)
            continue;
        int64_t t = now();
        bool renew = t - e->policy->fetched_at > (int64_t)e->policy->policy.max_age / 2;
        struct sts_refresh *r = refresh_start(c, e, c->proactive_timeout, renew);
        if (r == NULL)
            continue;
        r->proactive = true;
        c->proactive_active++;
    }
    if (c->queue_pos >= c->queue_len) {
        free(c->queue);
        c->queue = NULL;
        c->queue_len = c->queue_pos = 0;
    }
}

/* sts_cache_proactive - queue a background refresh of stale policies */
size_t sts_cache_proactive(struct sts_cache *c, int64_t min_age_s, unsigned limit,
                           unsigned timeout_ms)
{
    if (c->queue_len > 0)
        return 0; /* the previous round is still running */
    struct proactive_ctx pc = {c, now() - min_age_s};
    table_each(c->entries, collect_stale, &pc);
    size_t n = c->queue_len;
    c->proactive_limit = limit > 0 ? limit : 1;
    c->proactive_timeout = timeout_ms;
    proactive_next(c);
    return n;
}

struct sweep {
    int64_t now;
    char **keys;
    size_t n;
};

/* collect_idle - table_each helper: entries with nothing worth keeping */
static void collect_idle(const char *key, void *value, void *arg)
{
    struct sweep *sw = arg;
    const struct sts_entry *e = value;
    if (e->policy != NULL || e->refresh != NULL || e->no_record_until > sw->now ||
        (e->failed_at != 0 && sw->now - e->failed_at < STS_RETRY_AFTER_S))
        return;
    char **keys = realloc(sw->keys, (sw->n + 1) * sizeof(*keys));
    if (keys == NULL)
        return;
    sw->keys = keys;
    if ((sw->keys[sw->n] = strdup(key)) != NULL)
        sw->n++;
}

/* sts_cache_sweep - free idle entries */
size_t sts_cache_sweep(struct sts_cache *c)
{
    struct sweep sw = {now(), NULL, 0};
    table_each(c->entries, collect_idle, &sw);
    for (size_t i = 0; i < sw.n; i++) {
        struct sts_entry *e = table_get(c->entries, sw.keys[i]);
        if (e != NULL)
            entry_free(c, e);
        free(sw.keys[i]);
    }
    free(sw.keys);
    return sw.n;
}

/* sts_cache_count - number of entries */
size_t sts_cache_count(const struct sts_cache *c)
{
    return table_count(c->entries);
}

/* sts_cache_busy - refreshes in flight */
size_t sts_cache_busy(const struct sts_cache *c)
{
    return c->n_running;
}

/* free_entry - table_each helper */
static void free_entry(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    struct sts_entry *e = value;
    sts_policy_unref(e->policy);
    free(e);
}

/* sts_cache_free - drop refreshes and entries */
void sts_cache_free(struct sts_cache *c)
{
    if (c == NULL)
        return;
    while (c->running != NULL)
        refresh_free(c->running);
    for (size_t i = c->queue_pos; i < c->queue_len; i++)
        free(c->queue[i]);
    free(c->queue);
    table_each(c->entries, free_entry, NULL);
    table_free(c->entries);
    free(c);
}
