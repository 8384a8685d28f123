/*
 * cache_redis - the MTA-STS policy cache on a Redis server shared by a fleet
 * of mxtlsd daemons (issue 14), the "redis" cache backend of cache_backend.h.
 *
 * One connection per struct cache_redis, through hiredis's synchronous API:
 * every call blocks for at most the socket timeouts (connect, then each
 * round trip) and runs on the store's threads, never on the event loop.
 * open only records the settings: the connection is made by the first call
 * and again by the first call after a failure, so a daemon starts while
 * Redis is down or failing over. With Sentinel (cache.options.sentinels and
 * sentinel_master_name) each connection asks the sentinels in turn which
 * server is the master and checks with ROLE that it still is one.
 *
 * What is stored (the key layout is at the top of cache_redis.c): one hash
 * per policy domain, expiring at fetched_at + max_age (RFC 8461 §5.1); a put
 * never replaces a record fetched later by another daemon; a claim key and a
 * failure key per domain coordinate the fleet's fetches (struct
 * cache_claim). Records are checked on every read (format version, domain,
 * id, timestamps, size, policy grammar): a foreign or damaged record is
 * MXTLS_EINVAL from get and counted by walk, never applied.
 *
 * Failures: 0 or a negative MXTLS_E* code with diag filled; nothing logs.
 * MXTLS_EIO when the server cannot be reached, does not answer within the
 * timeout, refuses the credentials, or answers that it is failing over
 * (READONLY, LOADING, MASTERDOWN): the connection is dropped and the next
 * call connects (and asks the sentinels) again. The message names the
 * server ("redis 127.0.0.1:6379: ...") and never holds the password.
 * Timestamps are the caller's wall clock in unix seconds, as the server's
 * key expiry reads them.
 */
#ifndef MXTLS_IO_CACHE_REDIS_H
#define MXTLS_IO_CACHE_REDIS_H

#include <stdbool.h>
#include <stdint.h>

#include "cache_backend.h"
#include "mxtls/diag.h"

#define CACHE_REDIS_PREFIX        "mxtls:v1:" /* every key this version writes */
#define CACHE_REDIS_TIMEOUT_MS    5000        /* socket and connect timeouts by default */
#define CACHE_REDIS_DEFAULT_PORT  6379
#define CACHE_REDIS_HOST_MAX      255  /* a host name or address literal, octets */
#define CACHE_REDIS_PATH_MAX      107  /* a Unix socket path (sun_path - 1) */
#define CACHE_REDIS_USER_MAX      256  /* username, decoded */
#define CACHE_REDIS_PASSWORD_MAX  1024 /* password, decoded */
#define CACHE_REDIS_URL_MAX       4095 /* the whole URL */
#define CACHE_REDIS_DB_MAX        65535
#define CACHE_REDIS_SENTINELS_MAX 16                 /* sentinel addresses */
#define CACHE_REDIS_TIME_MAX      9007199254740991LL /* 2^53 - 1: exact in Lua's numbers */
#define CACHE_REDIS_FAILED_MAX    600                /* a failed key's value, octets */
#define CACHE_REDIS_FAILURE_MAX   9999               /* the failure code in a failed key */

/*
 * cache_redis_backend - this file as a cache backend: "redis", registered
 * by cache_backend.c. No transactions, no count (begin, commit, rollback,
 * count NULL). Every call that reaches the server returns MXTLS_EIO when it
 * cannot (see above); otherwise:
 * - open: options.cf (url, username and password over the URL's, db over
 *   the URL's unless -1, socket_timeout_ms and socket_connect_timeout_ms
 *   with 0 = CACHE_REDIS_TIMEOUT_MS, sentinels and sentinel_master_name)
 *   or, when cf is NULL (tests), options.path as the URL and
 *   options.busy_ms (0 = the default) as both timeouts. Never connects:
 *   MXTLS_EINVAL/ETOOLONG only for a bad setting (rediss://, a malformed
 *   URL or sentinel address, sentinels without a master name), ENOMEM.
 * - get: 0 and the record (policy canonical); MXTLS_ENOTFOUND no key;
 *   MXTLS_EINVAL a key that is foreign or damaged (not a hash, v not "1",
 *   another domain, bad id, timestamp, or policy: over the cap, with a NUL,
 *   not parsing).
 * - put: 0 when stored, when a newer record is kept instead, and when the
 *   record had expired (the key is then deleted); MXTLS_EINVAL/ETOOLONG for
 *   an entry cache_sqlite_put would refuse.
 * - del: 0, or MXTLS_ENOTFOUND when there was no key.
 * - walk: 0 after every valid record went to cb (a record may come twice
 *   when the server resizes its table during the walk), the callback's
 *   non-zero value, or a negative code; *n_invalid counts the foreign and
 *   damaged ones, diag says why for the first.
 * - claim: 0 with out->outcome (HAVE with out->e, FAILED with failure,
 *   failed_at, why); MXTLS_EINVAL for a bad id, an empty owner, ttl_ms 0.
 *   A daemon's own live claim answers HELD to it too.
 * - mark_failed: 0; MXTLS_EINVAL for a bad id, failure outside 0..9999,
 *   a time out of range or hold_s 0. why is cut to CACHE_CLAIM_WHY_MAX - 1
 *   octets, control characters as '?'.
 */
extern const struct cache_backend_ops cache_redis_backend;

/* A parsed redis:// or unix:// URL. */
struct cache_redis_url {
    bool unix_socket;                            /* unix://: path; redis://: host and port */
    char host[CACHE_REDIS_HOST_MAX + 1];         /* without the brackets of an IPv6 literal */
    uint16_t port;                               /* CACHE_REDIS_DEFAULT_PORT when absent */
    char path[CACHE_REDIS_PATH_MAX + 1];         /* the socket */
    char username[CACHE_REDIS_USER_MAX + 1];     /* "" = none */
    char password[CACHE_REDIS_PASSWORD_MAX + 1]; /* "" = none */
    int db;                                      /* -1 when the URL names none */
};

/*
 * cache_redis_parse_url - parse url (len octets, need not be
 * NUL-terminated) into *out:
 *   redis://[[username][:password]@]host[:port][/db][?query]
 *   unix://[[username][:password]@]/path/to.sock[?query]
 * where host is a name, an IPv4 address or an [IPv6] literal, username,
 * password and path are percent-decoded, and the query's db, username and
 * password keys are read (redis-py's other connection keys are ignored:
 * mxtlsd has its own). rediss:// is MXTLS_EINVAL ("TLS to Redis not
 * supported"); anything malformed or over a cap is MXTLS_EINVAL or
 * MXTLS_ETOOLONG with a reason that never quotes the password.
 */
int cache_redis_parse_url(const char *url, size_t len, struct cache_redis_url *out,
                          struct mxtls_diag *diag);

/*
 * cache_redis_parse_addr - a sentinel address "host:port" or "[v6]:port"
 * (len octets) into host (CACHE_REDIS_HOST_MAX + 1 octets) and *port.
 * MXTLS_EINVAL when malformed.
 */
int cache_redis_parse_addr(const char *s, size_t len, char *host, uint16_t *port,
                           struct mxtls_diag *diag);

/* The fields of a policy record (the hash mxtls:v1:policy:<domain>, see
 * the key layout in cache_redis.c), in the order the scripts return them. */
enum cache_redis_field {
    CACHE_REDIS_F_V,       /* "1", the record format */
    CACHE_REDIS_F_DOMAIN,  /* the domain the key names */
    CACHE_REDIS_F_ID,      /* 1*32(ALPHA / DIGIT), RFC 8461 §3.1 */
    CACHE_REDIS_F_FETCHED, /* decimal unix seconds, each at most CACHE_REDIS_TIME_MAX */
    CACHE_REDIS_F_CHECKED,
    CACHE_REDIS_F_FAILED,
    CACHE_REDIS_F_POLICY, /* the policy text */
    CACHE_REDIS_F_N
};

/* One field as read from the server: str NULL when the hash lacks it. */
struct cache_redis_str {
    const char *str; /* len octets, not NUL-terminated, may hold NULs */
    size_t len;
};

/*
 * cache_redis_check_record - check the fields f (CACHE_REDIS_F_N of them,
 * enum cache_redis_field) of a record read for dom (normalised,
 * NUL-terminated) and fill *out: the format "1", dom itself, a valid id,
 * three timestamps of 1 to 16 digits up to CACHE_REDIS_TIME_MAX, a policy
 * of at most STS_POLICY_BODY_MAX octets without NUL that sts_policy_parse
 * accepts, given back canonical in out->policy_text (the caller
 * cache_entry_finish()es it). keep, when not NULL, receives the parsed
 * policy (the caller sts_policy_finish()es it). server names the server in
 * messages. MXTLS_EINVAL (why in diag) or MXTLS_ENOMEM; *out empty (and
 * *keep untouched) on failure. What get, walk and claim apply to every
 * record they read.
 */
int cache_redis_check_record(const char *server, const char *dom, const struct cache_redis_str *f,
                             struct cache_entry *out, struct sts_policy *keep,
                             struct mxtls_diag *diag);

/*
 * cache_redis_parse_failed - a failed key's value "<id> <failure> <at>
 * <why>" (v, len octets) for the policy id (NUL-terminated, valid) into
 * out->failure, out->failed_at and out->why: at most
 * CACHE_REDIS_FAILED_MAX octets, the failure up to CACHE_REDIS_FAILURE_MAX
 * and at up to CACHE_REDIS_TIME_MAX, each 1 to 16 decimal digits, why at
 * most CACHE_CLAIM_WHY_MAX - 1 octets without control characters (it is
 * logged). false, *out untouched, when it is malformed or names another
 * id. What claim applies to the value its script hands back.
 */
bool cache_redis_parse_failed(const char *v, size_t len, const char *id, struct cache_claim *out);

#endif
