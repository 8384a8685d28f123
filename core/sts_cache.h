/*
 * sts_cache - MTA-STS policies for mxtlsd: the in-memory cache, discovery
 * and refresh (RFC 8461 §3, §5.1, §10.2; DESIGN.md "Caching and refresh").
 *
 * sts_cache_query answers, for one policy domain, where MTA-STS stands: no
 * record, a policy (fresh or cached), or a failure (with the cached policy
 * that still applies, if any). A cached policy younger than cache_grace is
 * answered at once without I/O. Otherwise one refresh per domain runs, shared
 * by every query that arrives meanwhile. When memory holds no policy for the
 * domain and a store is open, the refresh first reads the store (store_get,
 * off the loop: a backend shared by several daemons), and a record found
 * there is installed as if loaded at startup (sts_cache_load) before the
 * refresh goes on as a query of that entry would. Then: `_mta-sts.<d>` TXT lookup; same id
 * as the cached policy -> the cached policy, re-checked; new id -> resolve
 * mta-sts.<d> with our own resolver and fetch the policy over HTTPS
 * (io/fetch.c), parse it, cache it, persist it (store.c). A failed fetch of an
 * id is not retried for STS_RETRY_AFTER_S seconds. When our own resolver
 * fails the lookup of mta-sts.<d> (not an answer about the policy host), the
 * answer is DECIDE_STS_RESOLVER_FAILED for a bounded time instead, with no
 * back-off (sts_cache_set_resolver_temp). Every `_mta-sts` TXT record of the
 * answer is considered (RFC 8461 §3.1), however many there are. A cached, unexpired policy
 * keeps applying when the TXT record disappears or the DNS or HTTPS side
 * fails (RFC 8461 §3.3, §5.1); a warning is logged when refreshing a cached
 * non-"none" policy fails. Negative answers (no record) are remembered for
 * cache_grace.
 *
 * Policies are reference-counted (struct sts_policy_ref): an answer holds a
 * reference, so a refresh that replaces a policy never frees one a pending
 * lookup still reads. Everything runs on the event loop; nothing blocks.
 */
#ifndef CORE_STS_CACHE_H
#define CORE_STS_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "mxtls/decide.h"
#include "mxtls/sts_policy.h"
#include "mxtls/sts_record.h"

#define STS_RETRY_AFTER_S 300 /* DESIGN.md: a failed fetch is not retried for 5 minutes */
#define STS_REASON_MAX    320
/* sts_resolver_failure_temp's default (config.h), until set otherwise */
#define STS_RESOLVER_TEMP_DEFAULT_S 600
/* how long an idle domain keeps the start of a resolver-failure episode */
#define STS_RESOLVER_EPISODE_KEEP_S 86400

struct pipeline_net;
struct store;
struct sts_cache;
struct sts_wait;

/*
 * A cached policy and the record id it was fetched under: one exact-size
 * block holding the id and the policy's mx patterns too (policy.mx points
 * into it; never sts_policy_finish it). Made and freed by sts_cache only.
 */
struct sts_policy_ref {
    unsigned refs;
    int64_t fetched_at; /* unix time of the successful fetch */
    struct sts_policy policy;
    char id[]; /* RFC 8461 §3.1 id, at most STS_RECORD_ID_MAX octets */
};

/* What sts_cache_query answers. Release with sts_answer_finish. */
struct sts_answer {
    enum decide_sts_state state;
    struct sts_policy_ref *policy;   /* POLICY: the policy; FAILED: the cached one or NULL */
    bool cached;                     /* the policy came from the cache */
    enum decide_sts_failure failure; /* FAILED only */
    int64_t checked_at;              /* last TXT id check of the cached policy, 0 = never */
    char id[STS_RECORD_ID_MAX + 1];  /* id of the TXT record, "" when none was seen */
    char reason[STS_REASON_MAX];     /* why, for logs and `mxtls query` */
};

typedef void (*sts_callback)(struct sts_answer *answer, void *arg);

/*
 * sts_cache_new - a cache resolving and fetching through net (net.h; the
 * table is copied, its contexts borrowed and must outlive it), persisting through store (may be
 * NULL: memory only). cache_grace_s: age under which a cached policy is used without a TXT
 * re-check. Returns NULL when out of memory.
 */
struct sts_cache *sts_cache_new(const struct pipeline_net *net, struct store *store,
                                int64_t cache_grace_s);

/*
 * sts_cache_set_resolver_temp - the configuration's sts_resolver_failure_temp
 * (default STS_RESOLVER_TEMP_DEFAULT_S): while a domain's `_mta-sts` record
 * says a policy exists but our own resolver fails to look up mta-sts.<d>
 * (timeout, SERVFAIL, lookup refused), answer DECIDE_STS_RESOLVER_FAILED
 * (TEMP unless a policy is cached) for up to that many seconds from the
 * first failure, without the 5-minute back-off, looking again on each
 * request; one warning per episode. Afterwards, and always with 0, such a
 * failure is a failed fetch (RFC 8461 §3.3). NXDOMAIN, no address, a bogus
 * answer and HTTPS failures are the policy host's own failures: never this.
 */
void sts_cache_set_resolver_temp(struct sts_cache *c, uint32_t seconds);

/*
 * sts_cache_set_limit - keep at most limit domains (0: no limit), forgetting
 * the least recently asked first; a domain with a refresh running is kept.
 * For a memory-only cache (store NULL) set before first use, like
 * postfix-mta-sts-resolver's internal cache_size; ignored otherwise.
 */
void sts_cache_set_limit(struct sts_cache *c, size_t limit);

/*
 * sts_cache_load - load the persisted policies through store_load. Expired
 * ones are dropped (and deleted from the file). Returns 0 or a negative code.
 */
int sts_cache_load(struct sts_cache *c, int64_t now, size_t *n_loaded, size_t *n_invalid);

/*
 * sts_cache_query - where MTA-STS stands for domain (normalised). When the
 * answer is known now, fills *out and returns 1. Otherwise returns 0, sets
 * *wait, and later calls cb(answer, arg) once (the callback owns the answer
 * and releases it), unless sts_wait_cancel(*wait) comes first. timeout_ms
 * bounds each DNS and HTTPS step. Returns MXTLS_ENOMEM when out of memory.
 */
int sts_cache_query(struct sts_cache *c, const char *domain, unsigned timeout_ms,
                    struct sts_answer *out, sts_callback cb, void *arg, struct sts_wait **wait);

/* sts_wait_cancel - the pending query's callback will not be called. */
void sts_wait_cancel(struct sts_wait *w);

/* sts_answer_finish - drop the answer's policy reference. */
void sts_answer_finish(struct sts_answer *a);

/* sts_policy_unref - drop one reference; frees at zero. NULL is a no-op. */
void sts_policy_unref(struct sts_policy_ref *p);

/*
 * sts_cache_proactive - refresh, in the background, every cached policy last
 * checked more than min_age_s ago, at most limit at a time; a policy past
 * half its max_age is fetched again even when its id is unchanged, so it is
 * renewed before it expires (RFC 8461 §10.2). Returns how many were queued.
 */
size_t sts_cache_proactive(struct sts_cache *c, int64_t min_age_s, unsigned limit,
                           unsigned timeout_ms);

/*
 * sts_cache_sweep - forget domains that hold nothing worth keeping: no
 * policy, no refresh running, the negative answer and the retry back-off
 * both over. Returns how many.
 */
size_t sts_cache_sweep(struct sts_cache *c);

/* sts_cache_count - cached domains (with or without a policy). */
size_t sts_cache_count(const struct sts_cache *c);

/* sts_cache_busy - refreshes in flight. */
size_t sts_cache_busy(const struct sts_cache *c);

/*
 * sts_cache_free - cancel refreshes (no callbacks; every waiter must have
 * been cancelled or completed) and free everything. NULL is a no-op.
 */
void sts_cache_free(struct sts_cache *c);

/*
 * One cached policy as the admin requests see it (issue 16 §2, mxtlsd's
 * control socket): borrowed from the cache, valid during the callback (walk)
 * or until the cache next runs (find).
 */
struct sts_cache_item {
    const char *domain;
    const struct sts_policy_ref *policy; /* id, fetched_at, the policy */
    int64_t checked_at;                  /* last TXT check that confirmed its id */
    int64_t failed_at;                   /* last failed refresh, 0 = none */
    const char *reason;                  /* why of the last failure, "" when none */
    bool refreshing;                     /* a refresh is running */
};

typedef void (*sts_cache_walk_fn)(const struct sts_cache_item *item, void *arg);

/*
 * sts_cache_walk - cb(item, arg) for every domain holding a policy that has
 * not expired (RFC 8461 §5.1: an expired one is absent), in table order; cb
 * must not query, purge or free the cache. Returns how many.
 */
size_t sts_cache_walk(struct sts_cache *c, sts_cache_walk_fn cb, void *arg);

/* sts_cache_find - domain's unexpired cached policy in *item: 1, or 0 when none. */
int sts_cache_find(struct sts_cache *c, const char *domain, struct sts_cache_item *item);

/*
 * sts_cache_purge - forget domain's policy (and its failure note, so no
 * back-off holds) in memory, and queue its deletion from the store
 * (store_delete), so the next query fetches it again. A refresh running for
 * the domain keeps its waiters: it goes on and answers them, and fetches,
 * the id it compares with being gone. Answers already handed out
 * keep their own reference. 0, or MXTLS_ENOTFOUND when memory holds no
 * live policy for domain (nothing is deleted then). RFC 8461 §5.1: until
 * the re-fetch succeeds the domain has no policy.
 */
int sts_cache_purge(struct sts_cache *c, const char *domain);

/*
 * sts_cache_persist_all - queue every cached policy for the store again,
 * after the store lost its file (store_watch). Returns how many.
 */
size_t sts_cache_persist_all(struct sts_cache *c);

#endif
