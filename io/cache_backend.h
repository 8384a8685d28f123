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
 * Two kinds of backend:
 * - blocking (CACHE_BACKEND_BLOCKING: a local file, disk and locks): get,
 *   put, delete, walk block and must never run on the event loop. The store
 *   calls them from its own threads, each thread with its own connection
 *   (open is called once per thread); one connection is used by one thread
 *   at a time.
 * - asynchronous (remote): get_async, put_async, delete_async start the work
 *   and call back once, later, on the event loop of cache_backend_options
 *   .base, never from inside the call that started it, unless cancelled.
 *   The slots are defined here so that a remote backend fits the seam; the
 *   store does not drive one yet (store_open refuses it by name).
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

struct event_base;
struct config_cache;

#define CACHE_BACKEND_MAX 8 /* backends a registry holds at most */

/* cache_backend_ops.flags */
#define CACHE_BACKEND_BLOCKING 1u /* calls block: run them on the store's threads */
#define CACHE_BACKEND_FILE     2u /* a local file named by options.path (watched by the store) */

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
    struct event_base *base;       /* asynchronous backends: their event loop */
    const struct config_cache *cf; /* the configuration's cache section, NULL in tests */
};

/* A connection: backends embed this as their first member. */
struct cache_backend {
    const struct cache_backend_ops *ops;
};

/* asynchronous completions (on the loop) */
typedef void (*cache_backend_get_cb)(int status, struct cache_entry *e,
                                     const struct mxtls_diag *diag, void *arg);
typedef void (*cache_backend_done_cb)(int status, const struct mxtls_diag *diag, void *arg);
struct cache_backend_req; /* an asynchronous request in flight (the backend's) */

/*
 * The table. name is the configuration's cache.type. open and close are
 * required; a BLOCKING backend implements get, put, del and walk (begin,
 * commit, rollback and count are optional: NULL when it has no
 * transactions or cannot count); an asynchronous one get_async, put_async,
 * del_async and cancel, and may also offer walk (to load at startup,
 * before the loop runs). claim is reserved for a fleet-wide "one fetch per
 * domain" lock (issue 14: an atomic, expiring claim); NULL today.
 */
struct cache_backend_ops {
    const char *name;
    unsigned flags;
    int (*open)(const struct cache_backend_options *o, struct cache_backend **out,
                struct mxtls_diag *diag);
    void (*close)(struct cache_backend *b);
    /* blocking: cache_sqlite.h's contracts */
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
    /* asynchronous: start, call back once on the loop; *req for cancel */
    int (*get_async)(struct cache_backend *b, const char *domain, cache_backend_get_cb cb,
                     void *arg, struct cache_backend_req **req);
    int (*put_async)(struct cache_backend *b, const struct cache_entry *e, cache_backend_done_cb cb,
                     void *arg);
    int (*del_async)(struct cache_backend *b, const char *domain, cache_backend_done_cb cb,
                     void *arg);
    void (*cancel)(struct cache_backend *b, struct cache_backend_req *req);
    /* reserved (issue 14): claim domain for ttl_s seconds across the fleet */
    int (*claim)(struct cache_backend *b, const char *domain, unsigned ttl_s,
                 cache_backend_done_cb cb, void *arg);
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
