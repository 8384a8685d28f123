/*
 * sts_cache - MTA-STS discovery, fetch and cache on the event loop (see
 * sts_cache.h). RFC 8461 sections are cited where each rule is applied.
 */
#include "sts_cache.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inflight.h"
#include "net.h"
#include "log.h"
#include "mxtls/txt.h"
#include "stats.h"
#include "store.h"
#include "table.h"

/* A query waiting for a refresh (inflight.h: the link comes first). */
struct sts_wait {
    struct inflight_wait link;
    sts_callback cb;
    void *arg;
};

/*
 * What went wrong last for a domain: only domains with a negative answer, a
 * failure or a resolver-failure episode have one, so a cached policy costs
 * no room for it. Allocated to the exact length of its reason.
 */
struct sts_note {
    int64_t no_record_until; /* negative answer remembered until then */
    int64_t failed_at;       /* last failed fetch, 0 = none */
    int64_t resolver_since;  /* our resolver began failing the policy host, 0 = not now */
    enum decide_sts_failure failure;
    bool resolver_warned;                  /* the episode's one warning is logged */
    char failed_id[STS_RECORD_ID_MAX + 1]; /* id whose fetch failed at failed_at */
    char reason[];                         /* why of the last negative or failed outcome */
};

/*
 * What the cache knows about one policy domain: 100,000 of them must fit in
 * a few MiB (issue 17 item 14), so no fixed buffers: the domain is allocated
 * to its length with the entry, the rest on demand.
 */
struct sts_entry {
    struct sts_policy_ref *policy;   /* the cached, unexpired policy, or NULL */
    struct sts_refresh *refresh;     /* running refresh, or NULL */
    struct sts_entry *newer, *older; /* the cache's use order (limit > 0 only) */
    struct sts_note *note;           /* NULL while all is well */
    int64_t checked_at;              /* last TXT check that confirmed policy's id */
    char domain[];                   /* the table's key */
};

struct sts_refresh {
    struct inflight in; /* the waiters, the cache's running list */
    struct sts_cache *cache;
    struct sts_entry *entry;
    struct store_read *read; /* a miss's read, or a fleet's claim, in flight in the store */
    unsigned timeout_ms;
    bool force_fetch; /* proactive renewal before expiry */
    bool proactive;
    bool local_failure; /* our resolver failed: not the policy host's failure (fetch_failed) */
    char id[STS_RECORD_ID_MAX + 1]; /* from the TXT record */
    char host[DOMAIN_BUF_SIZE + 8]; /* mta-sts.<domain> */
};

struct sts_cache {
    struct pipeline_net net; /* DNS and HTTPS (net.h) */
    struct store *store;
    int64_t grace;
    struct table *entries;
    size_t limit;                      /* most entries kept, 0 = no limit */
    struct sts_entry *newest, *oldest; /* use order, kept when limit > 0 */
    struct inflight_list running;      /* refreshes in flight */
    uint32_t resolver_temp_s;          /* sts_resolver_failure_temp, 0 = off */
    bool read_failing;                 /* the store's reads fail (logged once) */
    /* proactive refresh queue */
    char **queue;
    size_t queue_len, queue_pos;
    unsigned proactive_active, proactive_limit, proactive_timeout;
};

static void refresh_done(struct sts_refresh *r, enum decide_sts_state state, bool cached,
                         enum decide_sts_failure failure);
static void proactive_next(struct sts_cache *c);

/* now - the net's wall clock; policy ages are in unix seconds (net.h: tests move it) */
static int64_t now(const struct sts_cache *c)
{
    return c->net.now();
}

/* lookup - a DNS lookup for refresh r, bounded by the zone's timeout */
static int lookup(struct sts_refresh *r, const char *name, int rrtype, dns_callback cb)
{
    const struct pipeline_net *net = &r->cache->net;
    return net->dns_query(net->dns_ctx, name, rrtype, r->timeout_ms, cb, r, NULL);
}

/* entry_reason - the entry's last reason, "" when none */
static const char *entry_reason(const struct sts_entry *e)
{
    return e->note != NULL ? e->note->reason : "";
}

/* failed_at - the last failed fetch of e, 0 = none */
static int64_t failed_at(const struct sts_entry *e)
{
    return e->note != NULL ? e->note->failed_at : 0;
}

/* no_record_until - e's negative answer holds until then */
static int64_t no_record_until(const struct sts_entry *e)
{
    return e->note != NULL ? e->note->no_record_until : 0;
}

/* note_get - e's note, made when absent; NULL when out of memory */
static struct sts_note *note_get(struct sts_entry *e)
{
    if (e->note == NULL && (e->note = calloc(1, sizeof(*e->note) + 1)) == NULL)
        return NULL;
    return e->note;
}

/* set_reason - printf into e's note, sized to fit (cut at STS_REASON_MAX) */
static void set_reason(struct sts_entry *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_reason(struct sts_entry *e, const char *fmt, ...)
{
    char buf[STS_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof(buf) ? sizeof(buf) - 1 : (size_t)n;
    if (note_get(e) == NULL)
        return;
    struct sts_note *nn = realloc(e->note, sizeof(*nn) + len + 1);
    if (nn == NULL)
        return; /* keeps the old reason */
    memcpy(nn->reason, buf, len);
    nn->reason[len] = '\0';
    e->note = nn;
}

/* note_clear - all is well again: drop the note */
static void note_clear(struct sts_entry *e)
{
    free(e->note);
    e->note = NULL;
}

/*
 * policy_ref_make - one reference to pol (taken: left empty) under record id,
 * in one exact-size allocation: the holder, the id, then the policy's mx
 * pointer array and patterns, so a cached policy is a single block. NULL
 * when out of memory (pol is released all the same).
 */
static struct sts_policy_ref *policy_ref_make(const char *id, struct sts_policy *pol)
{
    size_t idlen = strnlen(id, STS_RECORD_ID_MAX), text = 0;
    for (size_t i = 0; i < pol->n_mx; i++)
        text += strlen(pol->mx[i]) + 1;
    /* the pointer array starts at the next pointer-aligned offset after the id */
    size_t off = sizeof(struct sts_policy_ref) + idlen + 1;
    off = (off + sizeof(char *) - 1) / sizeof(char *) * sizeof(char *);
    struct sts_policy_ref *p = malloc(off + pol->n_mx * sizeof(char *) + text);
    if (p == NULL) {
        sts_policy_finish(pol);
        return NULL;
    }
    p->refs = 1;
    p->fetched_at = 0;
    memcpy(p->id, id, idlen);
    p->id[idlen] = '\0';
    p->policy = *pol;
    p->policy.mx = NULL;
    if (pol->n_mx > 0) {
        char **mx = (char **)(void *)((char *)p + off);
        char *t = (char *)(mx + pol->n_mx);
        for (size_t i = 0; i < pol->n_mx; i++) {
            size_t n = strlen(pol->mx[i]) + 1;
            memcpy(t, pol->mx[i], n);
            mx[i] = t;
            t += n;
        }
        p->policy.mx = mx;
    }
    sts_policy_finish(pol);
    return p;
}

/* sts_policy_unref - drop a reference; the policy lives in the same block */
void sts_policy_unref(struct sts_policy_ref *p)
{
    if (p == NULL || --p->refs > 0)
        return;
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
    ce.failed_at = failed_at(e);
    ce.policy_text = text;
    ce.policy_len = strlen(text);
    /* The canonical form can outgrow a body under the cap (each short mx line
     * gains its CRLF); every backend refuses such a record on read, so it is
     * kept in memory only rather than written and counted invalid later. */
    if (ce.policy_len > STS_POLICY_BODY_MAX)
        log_msg(LOG_LEVEL_INFO,
                "%s: MTA-STS policy kept in memory only: its canonical form (%zu octets) is "
                "over the cache's %d-octet cap",
                e->domain, ce.policy_len, STS_POLICY_BODY_MAX);
    else
        store_put(c->store, &ce);
    free(text);
}

/* drop_policy - forget an expired policy, in memory and on disk */
static void drop_policy(struct sts_cache *c, struct sts_entry *e)
{
    int64_t fetched_at = e->policy->fetched_at;
    sts_policy_unref(e->policy);
    e->policy = NULL;
    /* A fleet's server expires the record itself (its TTL is the policy's
     * max_age). A shared file: only our expired copy goes, not a newer row
     * another daemon wrote meanwhile. */
    if (c->store != NULL && !store_fleet(c->store))
        store_delete_expired(c->store, e->domain, fetched_at);
}

/* entry_key - an entry's table key: its domain, kept in the entry (no second copy) */
static const char *entry_key(const void *value)
{
    return ((const struct sts_entry *)value)->domain;
}

/* sts_cache_new - an empty cache */
struct sts_cache *sts_cache_new(const struct pipeline_net *net, struct store *store,
                                int64_t cache_grace_s)
{
    struct sts_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->entries = table_new_keyed(entry_key);
    if (c->entries == NULL) {
        free(c);
        return NULL;
    }
    c->net = *net;
    c->store = store;
    c->grace = cache_grace_s;
    c->resolver_temp_s = STS_RESOLVER_TEMP_DEFAULT_S;
    return c;
}

/* sts_cache_set_resolver_temp - see sts_cache.h */
void sts_cache_set_resolver_temp(struct sts_cache *c, uint32_t seconds)
{
    c->resolver_temp_s = seconds;
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

/* entry_release - free e, already out of the table, with its policy reference */
static void entry_release(struct sts_cache *c, struct sts_entry *e)
{
    use_unlink(c, e);
    sts_policy_unref(e->policy);
    free(e->note);
    free(e);
}

/* entry_free - remove and free e (memory only) */
static void entry_free(struct sts_cache *c, struct sts_entry *e)
{
    table_delete(c->entries, e->domain);
    entry_release(c, e);
}

/*
 * evict - over the limit: forget the least recently used entries, those
 * without a policy first, but not keep (the one being asked for) nor one with
 * a refresh running (the refresh and its waiters point at it). Only the
 * internal cache has a limit: it is what cache_size means there, as in
 * postfix-mta-sts-resolver. With a store nothing is evicted: a policy
 * dropped from memory could not be applied when a later fetch fails (RFC
 * 8461 §3.3) should the store's read fail too.
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
    size_t len = strnlen(domain, DOMAIN_BUF_SIZE - 1);
    e = calloc(1, sizeof(*e) + len + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->domain, domain, len);
    e->domain[len] = '\0';
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

/* a row found expired at load: deleted after the walk unless rewritten since */
struct expired_row {
    char *domain;
    int64_t fetched_at;
};

struct load_ctx {
    struct sts_cache *c;
    int64_t now;
    size_t loaded;
    struct expired_row *expired; /* deleted after the walk: the store is busy during it */
    size_t n_expired;
};

/* load_row - one persisted policy into memory */
static int load_row(struct cache_entry *ce, void *arg)
{
    struct load_ctx *lc = arg;
    struct sts_policy parsed, *pol = ce->policy;
    if (pol == NULL) {
        /* cache_sqlite_each parses every row to validate it and hands the
         * result over (no second parse); this is only for another store */
        if (sts_policy_parse(ce->policy_text, ce->policy_len, &parsed, NULL) < 0)
            return 0; /* validated by cache_sqlite: cannot happen, skip it */
        pol = &parsed;
    }
    ce->policy = NULL; /* taken */
    struct sts_policy_ref *p = policy_ref_make(ce->id, pol);
    if (p == NULL)
        return MXTLS_ENOMEM;
    p->fetched_at = ce->fetched_at;
    if (expired(p, lc->now)) {
        sts_policy_unref(p);
        struct expired_row *list = realloc(lc->expired, (lc->n_expired + 1) * sizeof(*list));
        if (list == NULL)
            return 0; /* stays on disk until it is replaced; expired rows are ignored */
        lc->expired = list;
        list[lc->n_expired].fetched_at = ce->fetched_at;
        if ((list[lc->n_expired].domain = strdup(ce->domain)) != NULL)
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
    if (ce->failed_at != 0 && note_get(e) != NULL)
        e->note->failed_at = ce->failed_at;
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
        if (!store_fleet(c->store)) /* a fleet's server expires its records itself */
            store_delete_expired(c->store, lc.expired[i].domain, /* RFC 8461 §5.1 */
                                 lc.expired[i].fetched_at);
        free(lc.expired[i].domain);
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
    copy_text(a->reason, sizeof(a->reason), state == DECIDE_STS_POLICY ? "" : entry_reason(e));
}

/* refresh_start - begin a refresh of e; NULL when out of memory or the lookup was refused */
static struct sts_refresh *refresh_start(struct sts_cache *c, struct sts_entry *e,
                                         unsigned timeout_ms, bool force_fetch);

static void on_txt(const struct dns_answer *a, void *arg);
static void fetch_start(struct sts_refresh *r);
static bool claim(struct sts_refresh *r);

/*
 * store_status - log once when reading the store (a read or a claim) starts
 * failing and once when it works again, never per request: a fleet's Redis
 * down must not flood the log (issue 14).
 */
static void store_status(struct sts_cache *c, const struct store_row *row)
{
    bool failing = row->status < 0 && row->status != MXTLS_ENOTFOUND && row->status != MXTLS_EINVAL;
    if (failing && !c->read_failing)
        log_msg(LOG_LEVEL_WARN,
                "cache: cannot read the cache store: %s (misses and fetches go to the network, "
                "answers come from memory)",
                row->why);
    else if (!failing && c->read_failing)
        log_msg(LOG_LEVEL_INFO, "cache: reads from the cache store work again");
    c->read_failing = failing;
}

/*
 * row_policy - take the policy of a record the store read (a miss's row, a
 * claim's HAVE) as a reference, or NULL when it is past max_age at t (RFC
 * 8461 §5.1: absent) or out of memory.
 */
static struct sts_policy_ref *row_policy(struct store_row *row, int64_t t)
{
    row->have_policy = false; /* taken */
    struct sts_policy_ref *p = policy_ref_make(row->e.id, &row->policy);
    if (p != NULL) {
        p->fetched_at = row->e.fetched_at;
        if (expired(p, t)) {
            sts_policy_unref(p);
            p = NULL;
        }
    }
    return p;
}

/*
 * on_row - a miss's read from the store (store_get), back on the loop. A
 * valid, unexpired record is installed exactly as sts_cache_load installs a
 * row at startup (load_row), and the refresh then goes on as sts_cache_query
 * would have gone on had the entry been loaded then: a policy checked less
 * than cache_grace ago is answered as cached (RFC 8461 §5.1), otherwise the
 * _mta-sts TXT record is checked (§3.3: fetch again only for a new id), and a
 * cached policy keeps applying when that fails (§5.1). No record, an invalid
 * one (counted by the store) or a failing store: the ordinary refresh.
 */
static void on_row(struct store_row *row, void *arg)
{
    struct sts_refresh *r = arg;
    struct sts_cache *c = r->cache;
    struct sts_entry *e = r->entry;
    int64_t t = now(c);
    r->read = NULL;
    if (row->status == 0 && e->policy == NULL) {
        struct sts_policy_ref *p = row_policy(row, t);
        if (p != NULL) {
            e->policy = p;
            e->checked_at = row->e.checked_at;
            /* as load_row; a later failure this daemon saw itself is kept */
            if (row->e.failed_at != 0 && note_get(e) != NULL &&
                row->e.failed_at > e->note->failed_at)
                e->note->failed_at = row->e.failed_at;
            log_msg(LOG_LEVEL_INFO,
                    "%s: MTA-STS policy id %s read from the cache store: mode %s, fetched %" PRId64
                    " s ago",
                    e->domain, p->id, sts_mode_name(p->policy.mode), t - p->fetched_at);
        }
    } else if (row->status == MXTLS_EINVAL) {
        log_msg(LOG_LEVEL_WARN, "cache: invalid record for %s ignored (counted): %s", e->domain,
                row->why);
    }
    store_status(c, row);
    if (e->policy != NULL && t - e->checked_at < c->grace) {
        snprintf(r->id, sizeof(r->id), "%s", e->policy->id);
        refresh_done(r, DECIDE_STS_POLICY, true, DECIDE_STS_FETCH_ERROR);
        return;
    }
    char name[DOMAIN_BUF_SIZE + 16];
    snprintf(name, sizeof(name), "_mta-sts.%s", e->domain);
    if (lookup(r, name, DNS_RR_TXT, on_txt) < 0) {
        set_reason(e, "cannot start the _mta-sts lookup");
        refresh_done(r, e->policy ? DECIDE_STS_FAILED : DECIDE_STS_NO_RECORD, true,
                     DECIDE_STS_FETCH_ERROR);
    }
}

/*
 * begin - start what a query that cannot be answered from memory needs: with
 * a store and no policy in memory (a miss), read the store first, so a
 * policy another daemon sharing the backend fetched is used (on_row);
 * otherwise the refresh. NULL when out of memory or the lookup was refused.
 */
static struct sts_refresh *begin(struct sts_cache *c, struct sts_entry *e, unsigned timeout_ms)
{
    if (c->store == NULL || e->policy != NULL)
        return refresh_start(c, e, timeout_ms, false);
    struct sts_refresh *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->cache = c;
    r->entry = e;
    r->timeout_ms = timeout_ms;
    r->read = store_get(c->store, e->domain, on_row, r);
    if (r->read == NULL) {
        free(r);
        return refresh_start(c, e, timeout_ms, false);
    }
    inflight_start(&r->in, &c->running, NULL);
    e->refresh = r;
    return r;
}

/* sts_cache_query - answer from memory or join/start a refresh */
int sts_cache_query(struct sts_cache *c, const char *domain, unsigned timeout_ms,
                    struct sts_answer *out, sts_callback cb, void *arg, struct sts_wait **wait)
{
    int64_t t = now(c);
    struct sts_entry *e = entry_get(c, domain);
    if (e == NULL)
        return MXTLS_ENOMEM;
    if (e->policy != NULL && expired(e->policy, t))
        drop_policy(c, e);
    if (e->refresh == NULL) {
        /* RFC 8461 §5.1 with cache_grace: a recently checked policy is used as is. */
        if (e->policy != NULL && t - e->checked_at < c->grace) {
            mxtls_stats.sts_hits++; /* issue 16 */
            answer_fill(out, e, DECIDE_STS_POLICY, true, DECIDE_STS_FETCH_ERROR, e->policy->id);
            return 1;
        }
        if (e->policy == NULL && t < no_record_until(e)) {
            mxtls_stats.sts_hits++; /* issue 16 */
            answer_fill(out, e, DECIDE_STS_NO_RECORD, false, DECIDE_STS_FETCH_ERROR, "");
            return 1;
        }
    }
    mxtls_stats.sts_misses++; /* issue 16: a refresh is joined or started */
    struct sts_wait *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return MXTLS_ENOMEM;
    if (e->refresh == NULL && begin(c, e, timeout_ms) == NULL) {
        free(w);
        /* The resolver refused the lookup (out of memory): say so, fail closed
         * is not needed for MTA-STS, a cached policy still applies. */
        set_reason(e, "cannot start the _mta-sts lookup");
        answer_fill(out, e, e->policy ? DECIDE_STS_FAILED : DECIDE_STS_NO_RECORD, true,
                    DECIDE_STS_FETCH_ERROR, "");
        return 1;
    }
    w->cb = cb;
    w->arg = arg;
    inflight_join(&e->refresh->in, &w->link);
    *wait = w;
    return 0;
}

/*
 * sts_wait_cancel - mark the waiter; refresh_done frees it without calling
 * back. The refresh runs on without waiters: its answer is for the cache.
 */
void sts_wait_cancel(struct sts_wait *w)
{
    inflight_wait_cancel(&w->link);
}

/* refresh_free - unlink and free a refresh and its waiters */
static void refresh_free(struct sts_refresh *r)
{
    store_read_cancel(r->read); /* the store frees it */
    inflight_finish(&r->in);
    if (r->entry->refresh == r)
        r->entry->refresh = NULL;
    free(r);
}

/* deliver - one waiter's copy of the answer, with its own policy reference */
static void deliver(struct inflight_wait *link, void *arg)
{
    struct sts_wait *w = (struct sts_wait *)(void *)link;
    struct sts_answer a = *(const struct sts_answer *)arg;
    if (a.policy != NULL)
        a.policy->refs++;
    w->cb(&a, w->arg);
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
    struct inflight_wait *waiters = inflight_detach(&r->in);
    /* One answer, made while e is certainly alive: a callback may answer a
     * pipelined request for another domain, whose new entry can evict e
     * (cache_size). Each waiter gets a copy with its own policy reference. */
    struct sts_answer base;
    answer_fill(&base, e, state, cached, failure, r->id);
    refresh_free(r);
    inflight_deliver(waiters, deliver, &base);
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
    int64_t t = now(r->cache);
    set_reason(e, "%s", why);
    if (e->policy != NULL) {
        e->checked_at = t;
        refresh_done(r, DECIDE_STS_POLICY, true, DECIDE_STS_FETCH_ERROR);
        return;
    }
    if (e->note != NULL)
        e->note->no_record_until = t + r->cache->grace;
    refresh_done(r, DECIDE_STS_NO_RECORD, false, DECIDE_STS_FETCH_ERROR);
}

/* fetch_failed - remember the failure of this id; apply the cached policy if any */
static void fetch_failed(struct sts_refresh *r, enum decide_sts_failure failure, const char *why)
{
    struct sts_entry *e = r->entry;
    set_reason(e, "%s: %s", decide_sts_failure_name(failure), why);
    mxtls_stats.sts_fetch_failed[(unsigned)failure % STATS_FAILURES]++; /* issue 16 */
    if (e->note != NULL) {
        e->note->failed_at = now(r->cache);
        snprintf(e->note->failed_id, sizeof(e->note->failed_id), "%s", r->id);
        e->note->failure = failure;
    }
    /* issue 14: the fleet backs off this id too (one attempt per fleet, not per daemon);
     * the failure travels as its code and the bare why: each daemon names it (on_claim).
     * Not when our own resolver failed (issue 17 item 2): the others' may work. */
    if (r->cache->store != NULL && r->id[0] != '\0' && !r->local_failure)
        store_mark_failed(r->cache->store, e->domain, r->id, (int)failure, now(r->cache), why);
    if (e->policy != NULL && e->policy->policy.mode != STS_MODE_NONE)
        log_msg(LOG_LEVEL_WARN,
                "%s: refreshing the cached MTA-STS policy (id %s, mode %s) failed, still "
                "applying it: %s",
                e->domain, e->policy->id, sts_mode_name(e->policy->policy.mode), entry_reason(e));
    else
        log_msg(LOG_LEVEL_INFO, "%s: MTA-STS policy fetch failed: %s", e->domain, entry_reason(e));
    refresh_done(r, DECIDE_STS_FAILED, e->policy != NULL, failure);
}

/*
 * resolver_failed - our own resolver could not look the policy host up
 * (timeout, SERVFAIL, lookup refused) although the TXT record says a policy
 * exists. The RFC 8461 §3.3 back-off and "no policy" fallback are for a
 * policy host that fails; our DNS failing says nothing about it. So for up
 * to resolver_temp_s seconds from the first such failure the answer is
 * DECIDE_STS_RESOLVER_FAILED (TEMP, or the cached policy), no back-off is
 * armed and the next request looks again; one warning per episode. After
 * that, it is a fetch failure like any other (issue 17 item 2).
 */
static void resolver_failed(struct sts_refresh *r, const char *why)
{
    struct sts_entry *e = r->entry;
    struct sts_cache *c = r->cache;
    int64_t t = now(c);
    struct sts_note *n = c->resolver_temp_s > 0 ? note_get(e) : NULL;
    r->local_failure = true; /* a failed fetch here, not for the fleet */
    if (n == NULL) {
        fetch_failed(r, DECIDE_STS_FETCH_ERROR, why); /* off (0), or out of memory */
        return;
    }
    if (n->resolver_since == 0) {
        n->resolver_since = t;
        n->resolver_warned = false;
    }
    if (t - n->resolver_since >= (int64_t)c->resolver_temp_s) {
        log_msg(LOG_LEVEL_INFO,
                "%s: our resolver still fails the MTA-STS policy host after %u s "
                "(sts_resolver_failure_temp): treated as a failed fetch (RFC 8461 §3.3)",
                e->domain, (unsigned)c->resolver_temp_s);
        fetch_failed(r, DECIDE_STS_FETCH_ERROR, why);
        return;
    }
    if (!n->resolver_warned) {
        n->resolver_warned = true;
        log_msg(LOG_LEVEL_WARN,
                "%s: publishes an MTA-STS record (id %s) but our resolver failed: %s; "
                "answering TEMP%s for up to %u s (sts_resolver_failure_temp), retrying on "
                "each request",
                e->domain, r->id, why, e->policy != NULL ? " (cached policy applied)" : "",
                (unsigned)c->resolver_temp_s);
    }
    set_reason(e, "local DNS failure: %s", why);
    refresh_done(r, DECIDE_STS_RESOLVER_FAILED, e->policy != NULL, DECIDE_STS_FETCH_ERROR);
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
    struct sts_policy parsed;
    struct mxtls_diag d = {0};
    if (sts_policy_parse(res->body, res->body_len, &parsed, &d) < 0) {
        char why[STS_REASON_MAX];
        snprintf(why, sizeof(why), "policy at offset %zu: %s", d.offset, d.what);
        fetch_failed(r, DECIDE_STS_POLICY_INVALID, why);
        return;
    }
    struct sts_policy_ref *p = policy_ref_make(r->id, &parsed);
    if (p == NULL) {
        fetch_failed(r, DECIDE_STS_FETCH_ERROR, "out of memory");
        return;
    }
    mxtls_stats.sts_fetch_ok++; /* issue 16 */
    int64_t t = now(r->cache);
    p->fetched_at = t;
    sts_policy_unref(e->policy);
    e->policy = p;
    e->checked_at = t;
    note_clear(e); /* the failure, and any resolver-failure episode, are over */
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
    if (a->status == DECIDE_DNS_FAILED) {
        /* Timeout, SERVFAIL or REFUSED from our own resolver: not an answer
         * about the policy host (issue 17 item 2). */
        snprintf(why, sizeof(why), "%s %s lookup failed: %s", r->host,
                 a->rrtype == DNS_RR_A ? "A" : "AAAA", a->why ? a->why : "");
        resolver_failed(r, why);
        return;
    }
    if (a->status == DECIDE_DNS_BOGUS) {
        /* A validated statement that the data is wrong: the policy host's
         * zone fails, like any other failure of the policy host (§3.3). */
        snprintf(why, sizeof(why), "%s %s lookup bogus: %s", r->host,
                 a->rrtype == DNS_RR_A ? "A" : "AAAA", a->why ? a->why : "");
        fetch_failed(r, DECIDE_STS_FETCH_ERROR, why);
        return;
    }
    if (r->entry->note != NULL)
        r->entry->note->resolver_since = 0; /* an answer: the episode is over */
    if (!a->havedata) {
        if (a->rrtype == DNS_RR_A && !a->nxdomain) {
            if (lookup(r, r->host, DNS_RR_AAAA, on_addr) == 0)
                return;
            snprintf(why, sizeof(why), "%s AAAA lookup refused by our resolver", r->host);
            resolver_failed(r, why);
            return;
        }
        /* NXDOMAIN, or neither A nor AAAA: authoritative answers (§3.3). */
        snprintf(why, sizeof(why), "%s has no address (%s)", r->host,
                 a->nxdomain ? "NXDOMAIN" : "no A or AAAA record");
        fetch_failed(r, DECIDE_STS_FETCH_ERROR, why);
        return;
    }
    char addr[INET6_ADDRSTRLEN];
    const struct dns_rdata *rd = &a->rdata[0];
    int af = a->rrtype == DNS_RR_A ? AF_INET : AF_INET6;
    if (rd->len != (af == AF_INET ? 4u : 16u) ||
        inet_ntop(af, rd->data, addr, sizeof(addr)) == NULL) {
        snprintf(why, sizeof(why), "%s: malformed address record", r->host);
        fetch_failed(r, DECIDE_STS_FETCH_ERROR, why);
        return;
    }
    const struct pipeline_net *net = &r->cache->net;
    int err = net->fetch_policy(net->fetch_ctx, r->entry->domain, addr, r->timeout_ms, on_fetch, r);
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
    /* RFC 8461 §3.1 selects among every TXT record at the name, so all of
     * them are read (the DNS message bounds how many), not the first few in
     * the order the resolver happened to give (issue 17 item 10). */
    size_t n = a->n_rdata;
    struct txt_rdata *rd = malloc((n ? n : 1) * sizeof(*rd));
    if (rd == NULL) {
        no_record(r, "out of memory reading the _mta-sts TXT records");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        rd[i].data = a->rdata[i].data;
        rd[i].len = a->rdata[i].len;
    }
    struct sts_record rec;
    struct mxtls_diag d = {0};
    int err = sts_record_select_rdata(rd, n, &rec, &d);
    free(rd);
    if (err < 0) {
        snprintf(why, sizeof(why), "_mta-sts record not usable: %s", d.what);
        no_record(r, why);
        return;
    }
    snprintf(r->id, sizeof(r->id), "%s", rec.id);
    int64_t t = now(r->cache);
    /* §3.3: fetch again only when the id changed (or the policy is near expiry). */
    if (e->policy != NULL && strcmp(e->policy->id, rec.id) == 0 && !r->force_fetch) {
        e->checked_at = t;
        persist(r->cache, e);
        refresh_done(r, DECIDE_STS_POLICY, true, DECIDE_STS_FETCH_ERROR);
        return;
    }
    /* DESIGN.md: a failed fetch (of this id) is not retried for 5 minutes. */
    if (failed_at(e) != 0 && t - failed_at(e) < STS_RETRY_AFTER_S &&
        strcmp(e->note->failed_id, rec.id) == 0) {
        refresh_done(r, DECIDE_STS_FAILED, e->policy != NULL, e->note->failure);
        return;
    }
    if (claim(r))
        return;
    fetch_start(r);
}

/* fetch_start - the policy host's address, then the HTTPS fetch (on_addr) */
static void fetch_start(struct sts_refresh *r)
{
    snprintf(r->host, sizeof(r->host), "mta-sts.%s", r->entry->domain);
    if (lookup(r, r->host, DNS_RR_A, on_addr) < 0)
        resolver_failed(r, "our resolver refused the policy host lookup");
}

/*
 * on_claim - the fleet's answer to "who fetches this id" (issue 14; store.h
 * store_claim). HAVE: another daemon fetched it, and the record it wrote is
 * installed like a read (on_row): not fetched here. FAILED: another daemon's
 * fetch of this id failed less than 5 minutes ago: back off as if it had
 * failed here (DESIGN.md's 5-minute rule, fleet-wide). WON: this daemon
 * fetches. HELD past the wait, or a store that fails: fetch here anyway, since
 * a fleet that cannot coordinate must still protect its mail.
 */
static void on_claim(struct store_row *row, void *arg)
{
    struct sts_refresh *r = arg;
    struct sts_cache *c = r->cache;
    struct sts_entry *e = r->entry;
    int64_t t = now(c);
    r->read = NULL;
    store_status(c, row);
    if (row->status == 0 && row->claim == CACHE_CLAIM_HAVE && row->have_policy) {
        struct sts_policy_ref *p = row_policy(row, t);
        if (p != NULL) {
            sts_policy_unref(e->policy);
            e->policy = p;
            e->checked_at = t;
            note_clear(e);
            log_msg(LOG_LEVEL_INFO,
                    "%s: MTA-STS policy id %s read from the cache store (fetched by another "
                    "daemon %" PRId64 " s ago): mode %s",
                    e->domain, p->id, t - p->fetched_at, sts_mode_name(p->policy.mode));
            refresh_done(r, DECIDE_STS_POLICY, true, DECIDE_STS_FETCH_ERROR);
            return;
        }
    }
    if (row->status == 0 && row->claim == CACHE_CLAIM_FAILED && note_get(e) != NULL) {
        enum decide_sts_failure failure =
            row->failure == DECIDE_STS_POLICY_INVALID || row->failure == DECIDE_STS_WEBPKI_INVALID
                ? (enum decide_sts_failure)row->failure
                : DECIDE_STS_FETCH_ERROR;
        e->note->failed_at = row->failed_at > 0 && row->failed_at <= t ? row->failed_at : t;
        e->note->failure = failure;
        snprintf(e->note->failed_id, sizeof(e->note->failed_id), "%s", r->id);
        set_reason(e, "%s: %s (a fetch by another daemon of the fleet)",
                   decide_sts_failure_name(failure), row->why);
        log_msg(LOG_LEVEL_INFO, "%s: MTA-STS policy fetch failed in the fleet, backing off: %s",
                e->domain, entry_reason(e));
        refresh_done(r, DECIDE_STS_FAILED, e->policy != NULL, failure);
        return;
    }
    if (row->status == 0 && row->claim == CACHE_CLAIM_HELD)
        log_msg(LOG_LEVEL_INFO,
                "%s: another daemon of the fleet still holds the fetch of policy id %s: "
                "fetching here",
                e->domain, r->id);
    fetch_start(r);
}

/*
 * claim - with a fleet's store, ask it before fetching (on_claim); true when
 * the claim is in flight. The claim holds through the A, AAAA and HTTPS
 * steps, each bounded by the timeout; a waiting daemon asks again until a
 * little after it expired, so a holder that died is replaced by one of them.
 */
static bool claim(struct sts_refresh *r)
{
    struct sts_cache *c = r->cache;
    if (!store_fleet(c->store))
        return false;
    unsigned ttl_ms = 3 * r->timeout_ms + 1000;
    /* our copy of this same id counts; a copy of an older id is older whatever its age */
    const struct sts_policy_ref *mine = r->entry->policy;
    int64_t newer_than = mine != NULL && strcmp(mine->id, r->id) == 0 ? mine->fetched_at : 0;
    r->read = store_claim(c->store, r->entry->domain, r->id, newer_than, ttl_ms, ttl_ms + 500,
                          on_claim, r);
    return r->read != NULL;
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
    if (lookup(r, name, DNS_RR_TXT, on_txt) < 0) {
        free(r);
        return NULL;
    }
    inflight_start(&r->in, &c->running, NULL);
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
        int64_t t = now(c);
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
    struct proactive_ctx pc = {c, now(c) - min_age_s};
    table_each(c->entries, collect_stale, &pc);
    size_t n = c->queue_len;
    c->proactive_limit = limit > 0 ? limit : 1;
    c->proactive_timeout = timeout_ms;
    proactive_next(c);
    return n;
}

struct sweep {
    struct sts_cache *c;
    int64_t now;
};

/* idle - table_sweep helper: an entry with nothing worth keeping */
static bool idle(const char *key, const void *value, void *arg)
{
    (void)key;
    const struct sweep *sw = arg;
    const struct sts_entry *e = value;
    if (e->policy != NULL || e->refresh != NULL || no_record_until(e) > sw->now ||
        (failed_at(e) != 0 && sw->now - failed_at(e) < STS_RETRY_AFTER_S))
        return false;
    /* Keep a resolver-failure episode's start, or forgetting it would
     * restart the bounded TEMP time (sts_resolver_failure_temp) over and over. */
    return e->note == NULL || e->note->resolver_since == 0 ||
           sw->now - e->note->resolver_since >= STS_RESOLVER_EPISODE_KEEP_S;
}

/* drop_entry - table_sweep helper: free an entry taken out of the table */
static void drop_entry(void *value, void *arg)
{
    entry_release(((struct sweep *)arg)->c, value);
}

/* sts_cache_sweep - free idle entries */
size_t sts_cache_sweep(struct sts_cache *c)
{
    struct sweep sw = {c, now(c)};
    return table_sweep(c->entries, idle, drop_entry, &sw);
}

/* sts_cache_count - number of entries */
size_t sts_cache_count(const struct sts_cache *c)
{
    return table_count(c->entries);
}

/* sts_cache_busy - refreshes in flight */
size_t sts_cache_busy(const struct sts_cache *c)
{
    return c->running.count;
}

/* free_entry - table_each helper */
static void free_entry(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    struct sts_entry *e = value;
    sts_policy_unref(e->policy);
    free(e->note);
    free(e);
}

/* sts_cache_free - drop refreshes and entries */
void sts_cache_free(struct sts_cache *c)
{
    if (c == NULL)
        return;
    struct inflight *in;
    while ((in = inflight_first(&c->running)) != NULL)
        refresh_free((struct sts_refresh *)(void *)((char *)in - offsetof(struct sts_refresh, in)));
    for (size_t i = c->queue_pos; i < c->queue_len; i++)
        free(c->queue[i]);
    free(c->queue);
    table_each(c->entries, free_entry, NULL);
    table_free(c->entries);
    free(c);
}

struct persist_all_ctx {
    struct sts_cache *c;
    size_t n;
};

/* persist_one - queue one entry's policy (table_each callback) */
static void persist_one(const char *key, void *value, void *arg)
{
    (void)key;
    struct persist_all_ctx *pc = arg;
    const struct sts_entry *e = value;
    if (e->policy == NULL)
        return;
    persist(pc->c, e);
    pc->n++;
}

/* sts_cache_persist_all - queue every cached policy for the store again (store.c: file lost) */
size_t sts_cache_persist_all(struct sts_cache *c)
{
    struct persist_all_ctx pc = {c, 0};
    if (c == NULL || c->store == NULL)
        return 0;
    table_each(c->entries, persist_one, &pc);
    return pc.n;
}

struct walk_ctx {
    int64_t now;
    sts_cache_walk_fn cb;
    void *arg;
    size_t n;
};

/* item_fill - e as an admin request sees it; false when it holds no live policy */
static bool item_fill(const struct sts_entry *e, int64_t t, struct sts_cache_item *item)
{
    if (e->policy == NULL || expired(e->policy, t)) /* RFC 8461 §5.1 */
        return false;
    item->domain = e->domain;
    item->policy = e->policy;
    item->checked_at = e->checked_at;
    item->failed_at = failed_at(e);
    item->reason = entry_reason(e);
    item->refreshing = e->refresh != NULL;
    return true;
}

/* walk_one - table_each helper of sts_cache_walk */
static void walk_one(const char *key, void *value, void *arg)
{
    (void)key;
    struct walk_ctx *wc = arg;
    struct sts_cache_item item;
    if (!item_fill(value, wc->now, &item))
        return;
    wc->cb(&item, wc->arg);
    wc->n++;
}

/* sts_cache_walk - every live cached policy (see sts_cache.h) */
size_t sts_cache_walk(struct sts_cache *c, sts_cache_walk_fn cb, void *arg)
{
    struct walk_ctx wc = {now(c), cb, arg, 0};
    table_each(c->entries, walk_one, &wc);
    return wc.n;
}

/* sts_cache_find - one domain's live cached policy */
int sts_cache_find(struct sts_cache *c, const char *domain, struct sts_cache_item *item)
{
    const struct sts_entry *e = table_get(c->entries, domain);
    return e != NULL && item_fill(e, now(c), item) ? 1 : 0;
}

/*
 * sts_cache_purge - the operator's purge: memory and store. An entry with
 * no refresh is freed; one with a refresh stays (the refresh and its
 * waiters point at it) without its policy and note.
 */
int sts_cache_purge(struct sts_cache *c, const char *domain)
{
    struct sts_entry *e = table_get(c->entries, domain);
    if (e == NULL || e->policy == NULL || expired(e->policy, now(c))) /* §5.1: absent */
        return MXTLS_ENOTFOUND;
    log_msg(LOG_LEVEL_INFO, "%s: MTA-STS policy id %s (mode %s) purged by the operator", e->domain,
            e->policy->id, sts_mode_name(e->policy->policy.mode));
    if (c->store != NULL)
        store_delete(c->store, e->domain);
    if (e->refresh == NULL) {
        entry_free(c, e);
        return 0;
    }
    /* A refresh with a policy in memory is past the store's read (begin):
     * its TXT check finds no id to compare with and fetches (RFC 8461 §3.3). */
    sts_policy_unref(e->policy); /* answers handed out hold their own reference */
    e->policy = NULL;
    e->checked_at = 0;
    note_clear(e);
    return 0;
}
