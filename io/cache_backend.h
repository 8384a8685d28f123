/*
 * cache_backend - the persistent MTA-STS cache as a table of functions and a
 * registry by type name (the shape of Postfix's DICT, util/dict.h and
 * dict_open.c, or OpenSMTPD's table_backend). core/store.c reaches every
 * backend through this header only; the backends (cache_sqlite.c today, a
 * remote one such as Redis later) implement it.
 *
 * The record is struct cache_entry: one policy domain, the RFC 8461 §3.1 id
 * it was fetched under, three timestamps of the caller's clock and the
 * canonical policy text (sts_policy_format output). A backend stores what it
 * is given and, on read, checks its own encoding (domain, id, timestamps,
 * size); the store parses the policy text of every record it reads again
 * (sts_policy_parse), so a corrupted or foreign record is never applied.
 *
 * Every call blocks (a local file's disk and locks, a remote server's round
 * trips) and must never run on the event loop: the store calls them from its
 * own threads, each thread with its own connection (open is called once per
 * thread); one connection is used by one thread at a time. A remote backend
 * (cache_redis.c) bounds each call by its socket timeouts and connects
 * lazily: open succeeds while the server is down, and the calls then fail
 * with MXTLS_EIO until it is back.
 *
 * A backend shared by several daemons (a fleet) also offers claim and
 * mark_failed, so that one daemon fetches a domain's policy for all of them
 * (issue 14): see struct cache_claim.
 *
 * Failures: 0 or a negative MXTLS_E* code with diag filled (the backend
 * never logs): MXTLS_ENOTFOUND no record; MXTLS_EINVAL from get: a record
 * exists but is invalid (corrupt, foreign, newer format) and is to be
 * treated as absent and counted; MXTLS_EAGAIN locked or busy past the
 * timeout; MXTLS_EIO the backend is unusable; MXTLS_ENOMEM.
 */
#ifndef MXTLS_IO_CACHE_BACKEND_H
#define MXTLS_IO_CACHE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxtls/diag.h"
#include "mxtls/domain.h"
#include "mxtls/sts_policy.h"
#include "mxtls/sts_record.h"

struct config_cache;

#define CACHE_BACKEND_MAX 8 /* backends a registry holds at most */

/* cache_backend_ops.flags */
#define CACHE_BACKEND_FILE 1u /* a local file named by options.path (watched by the store) */

/* One cached policy. Embedded: cache_entry_finish() releases policy_text. */
struct cache_entry {
    char domain[DOMAIN_BUF_SIZE];   /* policy domain, normalised (domain_normalize) */
    char id[STS_RECORD_ID_MAX + 1]; /* TXT record id, RFC 8461 §3.1 */
    int64_t fetched_at;             /* when the policy was fetched (caller's clock) */
    int64_t checked_at;             /* last TXT id check */
    int64_t failed_at;              /* last failed fetch, 0 = none */
    char *policy_text;              /* canonical policy, NUL-terminated, owned */
    size_t policy_len;              /* octets in policy_text, <= STS_POLICY_BODY_MAX */
    /* walk only (NULL elsewhere): policy_text already parsed, valid during
     * the callback, which may move *policy out and set this to NULL (it then
     * owns it: sts_policy_finish); otherwise it is finished */
    struct sts_policy *policy;
};

/* cache_entry_finish - free what e owns (policy_text) and leave it empty. */
void cache_entry_finish(struct cache_entry *e);

/* For backends checking what they store and read: */
/* cache_id_valid - RFC 8461 §3.1 sts-id, 1*32(ALPHA / DIGIT), len octets */
bool cache_id_valid(const char *id, size_t len);
/* cache_domain_normalize - domain (NUL-terminated, bounded) normalised into
 * out (DOMAIN_BUF_SIZE); 0, MXTLS_EINVAL or MXTLS_ETOOLONG with diag */
int cache_domain_normalize(const char *domain, char *out, struct mxtls_diag *diag);

/*
 * cache_backend_walk_fn - called by walk once per valid record. e is valid
 * only during the call; the callback may take e->policy_text (setting it to
 * NULL). It must not modify the backend. A non-zero return stops the walk
 * and is returned by walk.
 */
typedef int (*cache_backend_walk_fn)(struct cache_entry *e, void *arg);

/* What a backend is opened with (borrowed for the call; copy what you keep). */
struct cache_backend_options {
    const char *path;              /* FILE backends: the file */
    unsigned busy_ms;              /* wait this long for a lock or a slow server */
    const struct config_cache *cf; /* the configuration's cache section, NULL in tests */
};

/* A connection: backends embed this as their first member. */
struct cache_backend {
    const struct cache_backend_ops *ops;
};

/*
 * What claim found, in this order (one atomic step on the server):
 * - CACHE_CLAIM_HAVE: a valid record with this id fetched after newer_than
 *   is stored (another daemon fetched it): e is filled as get fills it;
 * - CACHE_CLAIM_FAILED: a daemon of the fleet failed to fetch this id less
 *   than STS_RETRY_AFTER_S ago (mark_failed): failure, failed_at and why say
 *   what it saw; the caller backs off as if it had failed itself;
 * - CACHE_CLAIM_WON: nobody else holds the domain's claim (the caller's own
 *   is taken again): the caller now holds it for ttl_ms and fetches; it is
 *   never released, the record (put) or the failure (mark_failed) the
 *   fetch ends with answers the others, and the claim expires;
 * - CACHE_CLAIM_HELD: another daemon holds it: ask again a little later.
 */
enum cache_claim_outcome {
    CACHE_CLAIM_WON = 0,
    CACHE_CLAIM_HELD,
    CACHE_CLAIM_HAVE,
    CACHE_CLAIM_FAILED,
};

#define CACHE_CLAIM_WHY_MAX 256 /* cache_claim.why, octets with the NUL */

struct cache_claim {
    enum cache_claim_outcome outcome;
    struct cache_entry e;          /* HAVE: the record (cache_entry_finish it) */
    int failure;                   /* FAILED: enum decide_sts_failure of the failed fetch */
    int64_t failed_at;             /* FAILED: when (caller's clock) */
    char why[CACHE_CLAIM_WHY_MAX]; /* FAILED: the reason that daemon logged */
};

/*
 * The table. name is the configuration's cache.type. open, close, get, put,
 * del and walk are required; begin, commit, rollback and count are optional
 * (NULL when the backend has no transactions or cannot count); claim and
 * mark_failed only for a backend a fleet shares (NULL otherwise).
 */
struct cache_backend_ops {
    const char *name;
    unsigned flags;
    int (*open)(const struct cache_backend_options *o, struct cache_backend **out,
                struct mxtls_diag *diag);
    void (*close)(struct cache_backend *b);
    /* cache_sqlite.h's contracts */
    int (*get)(struct cache_backend *b, const char *domain, struct cache_entry *out,
               struct mxtls_diag *diag);
    int (*put)(struct cache_backend *b, const struct cache_entry *e, struct mxtls_diag *diag);
    int (*del)(struct cache_backend *b, const char *domain, struct mxtls_diag *diag);
    int (*walk)(struct cache_backend *b, cache_backend_walk_fn cb, void *arg, size_t *n_invalid,
                struct mxtls_diag *diag);
    int (*begin)(struct cache_backend *b, struct mxtls_diag *diag);
    int (*commit)(struct cache_backend *b, struct mxtls_diag *diag);
    void (*rollback)(struct cache_backend *b);
    int (*count)(struct cache_backend *b, size_t *n, struct mxtls_diag *diag);
    /*
     * claim - who fetches policy id of domain (struct cache_claim, one atomic
     * step); owner names the caller in the claim (host:pid), ttl_ms bounds
     * it. 0 with *out filled, or a negative code (the caller then fetches
     * itself: a fleet that cannot coordinate must not stop fetching).
     */
    int (*claim)(struct cache_backend *b, const char *domain, const char *id, int64_t newer_than,
                 const char *owner, unsigned ttl_ms, struct cache_claim *out,
                 struct mxtls_diag *diag);
    /*
     * mark_failed - tell the fleet that fetching policy id of domain failed
     * at at (enum decide_sts_failure failure, why), for hold_s seconds.
     */
    int (*mark_failed)(struct cache_backend *b, const char *domain, const char *id, int failure,
                       int64_t at, const char *why, unsigned hold_s, struct mxtls_diag *diag);
};

/*
 * cache_backend_find - the registered backend called name, or NULL. "sqlite"
 * is always registered.
 */
const struct cache_backend_ops *cache_backend_find(const char *name);

/*
 * cache_backend_register - add ops (static storage; its name must be new)
 * to the registry, before any open (startup or a test; not thread-safe).
 * MXTLS_EINVAL for a duplicate or incomplete table, MXTLS_ETOOLONG when
 * CACHE_BACKEND_MAX are registered.
 */
int cache_backend_register(const struct cache_backend_ops *ops, struct mxtls_diag *diag);

/*
 * cache_backend_names - the registered names, ", "-separated, into buf
 * (cut to fit, always terminated), for messages.
 */
void cache_backend_names(char *buf, size_t size);

/*
 * cache_backend_open - open one connection to the backend called type. An
 * unknown type is MXTLS_EINVAL with a message naming the known ones
 * ("unknown cache type \"x\" (known: sqlite)"). On failure *out is NULL.
 */
int cache_backend_open(const char *type, const struct cache_backend_options *o,
                       struct cache_backend **out, struct mxtls_diag *diag);

/* cache_backend_close - close b through its table; NULL is a no-op. */
void cache_backend_close(struct cache_backend *b);

#endif
