/*
 * cache_redis - the MTA-STS policy cache on a shared Redis server (see
 * cache_redis.h).
 *
 * Key layout, version 1 (every key starts with "mxtls:v1:"; a later layout
 * takes a new prefix, so two versions of mxtlsd never read each other's
 * records):
 *
 *   mxtls:v1:policy:<domain>   HASH, one per policy domain (normalised:
 *                              lower case, no trailing dot), fields:
 *       v           "1", the record format
 *       domain      <domain> again (a record under another name is foreign)
 *       id          the TXT record id it was fetched under, 1*32(ALPHA/DIGIT)
 *                   (RFC 8461 §3.1)
 *       fetched_at  decimal unix seconds of the fetch
 *       checked_at  decimal unix seconds of the last TXT id check
 *       failed_at   decimal unix seconds of the last failed refresh, 0 = none
 *       policy      the canonical policy text (sts_policy_format: CRLF lines)
 *     The key expires (EXPIREAT) at fetched_at + the policy's max_age: RFC
 *     8461 §5.1, a policy is not used past its max_age. A put whose expiry
 *     is already past deletes the key instead.
 *     Newer wins: a put replaces the stored record only when the stored one
 *     is absent, not a valid v1 record, fetched earlier (fetched_at <), or
 *     fetched at the same second and checked no later (checked_at <=); so a
 *     daemon writing late never replaces what another daemon fetched since.
 *     One Lua script does the comparison and the write (atomic).
 *
 *   mxtls:v1:claim:<domain>    STRING, the owner ("host:pid") of the
 *                              fleet's one fetch of the domain's policy,
 *                              SET NX PX ttl_ms: never released, it expires;
 *                              its owner claiming again takes it again (a
 *                              daemon never waits behind its own claim).
 *
 *   mxtls:v1:failed:<domain>   STRING "<id> <failure> <at> <why>": the
 *                              fleet's last failed fetch of policy <id>
 *                              (<failure> enum decide_sts_failure and <at>
 *                              unix seconds, in decimal; <why> at most 255
 *                              printable octets), SET EX hold_s (the 5-minute
 *                              back-off of DESIGN.md). Read only by claim.
 *
 * claim is one Lua script, in this order: (1) the policy hash is a v1
 * record of this domain with this id fetched after newer_than: HAVE, with
 * the record; (2) the failed key names this id: FAILED; (3) SET the claim
 * key NX PX ttl_ms, or the caller already holds it (PEXPIRE): WON; else
 * HELD. What a script returns is checked here like a record read by get; a HAVE or FAILED whose
 * value is invalid is treated as absent (the script runs again without that step).
 *
 * Every value read is bounded before it crosses the network: the scripts
 * cut string fields to 300 octets and the policy to STS_POLICY_BODY_MAX + 1
 * (over the cap: invalid), and hiredis parses the replies.
 *
 * Scripts are sent by EVALSHA, and by EVAL when the server answers NOSCRIPT
 * (a new master after a failover has an empty script cache).
 */
#include "cache_redis.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "config.h"
#include "mxtls/domain.h"
#include "mxtls/sts_policy.h"
#include "mxtls/sts_record.h"

#define KEY_POLICY "mxtls:v1:policy:"
#define KEY_CLAIM  "mxtls:v1:claim:"
#define KEY_FAILED "mxtls:v1:failed:"
#define KEY_MAX    (sizeof(KEY_POLICY) + DOMAIN_BUF_SIZE + 8)

#define FIELD_MAX        300                     /* a string field a script hands back */
#define FAILED_VALUE_MAX CACHE_REDIS_FAILED_MAX  /* a failed value the claim script hands back */
#define FAILURE_MAX      CACHE_REDIS_FAILURE_MAX /* the failure code of a failed key */
#define OWNER_MAX        256                     /* a claim's owner, octets */
#define MASTER_NAME_MAX  255                     /* sentinel_master_name */
#define WALK_BATCH       128                     /* records read in one pipelined round trip */
#define SERVER_NAME_MAX  (CACHE_REDIS_HOST_MAX + 64)

/* The record fields, in the order the scripts return them (enum cache_redis_field). */
#define FIELDS "'v', 'domain', 'id', 'fetched_at', 'checked_at', 'failed_at', 'policy'"
#define F_N    CACHE_REDIS_F_N

#define STR_(x) #x
#define STR(x)  STR_(x)

/* clang-format off */

/* Cut the fields of r (an HMGET reply) to their caps; ARGV[n] is the policy's. */
#define LUA_CUT(n)                                                                    \
    "for i = 1, 6 do if r[i] then r[i] = string.sub(r[i], 1, " STR(FIELD_MAX) ") end end " \
    "if r[7] then r[7] = string.sub(r[7], 1, tonumber(ARGV[" #n "])) end "

/* get and walk: KEYS[1] the policy key; ARGV[1] the policy cap + 1.
 * 0: no key; 1: not a hash (foreign); else the seven fields, cut. */
static const char lua_get[] =
    "local t = redis.call('TYPE', KEYS[1])['ok'] "
    "if t == 'none' then return 0 end "
    "if t ~= 'hash' then return 1 end "
    "local r = redis.call('HMGET', KEYS[1], " FIELDS ") "
    LUA_CUT(1)
    "return r";

/* put: KEYS[1] the policy key; ARGV domain, id, fetched_at, checked_at,
 * failed_at, policy, expire_at (unix seconds). 1: stored; 0: a newer record
 * is kept; 2: stored already expired, so deleted (EXPIREAT with a time
 * past deletes the key, by the server's clock). The stored timestamps are
 * compared only when they are plain decimals (a damaged "1e400" must not
 * block every later write). */
static const char lua_put[] =
    "local k = KEYS[1] "
    "local t = redis.call('TYPE', k)['ok'] "
    "if t == 'hash' then "
    " local r = redis.call('HMGET', k, 'v', 'fetched_at', 'checked_at') "
    " if r[1] == '1' and r[2] and r[3] and #r[2] <= 16 and #r[3] <= 16 "
    "    and string.match(r[2], '^%d+$') and string.match(r[3], '^%d+$') then "
    "  local f, c = tonumber(r[2]), tonumber(r[3]) "
    "  local nf, nc = tonumber(ARGV[3]), tonumber(ARGV[4]) "
    "  if f > nf or (f == nf and c > nc) then return 0 end "
    " end "
    "end "
    "if t ~= 'none' then redis.call('DEL', k) end "
    "redis.call('HSET', k, 'v', '1', 'domain', ARGV[1], 'id', ARGV[2], 'fetched_at', ARGV[3], "
    " 'checked_at', ARGV[4], 'failed_at', ARGV[5], 'policy', ARGV[6]) "
    "redis.call('EXPIREAT', k, ARGV[7]) "
    "if redis.call('EXISTS', k) == 0 then return 2 end "
    "return 1";

/* claim: KEYS policy, failed, claim keys; ARGV domain, id, newer_than,
 * owner, ttl_ms, skip (1: not HAVE, 2: not FAILED), the policy cap + 1.
 * {2, fields}: HAVE; {3, value}: FAILED; {0}: WON; {1}: HELD. */
static const char lua_claim[] =
    "local skip = tonumber(ARGV[6]) "
    "if skip % 2 == 0 and redis.call('TYPE', KEYS[1])['ok'] == 'hash' then "
    " local r = redis.call('HMGET', KEYS[1], " FIELDS ") "
    " if r[1] == '1' and r[2] == ARGV[1] and r[3] == ARGV[2] and r[4] and #r[4] <= 16 "
    "    and string.match(r[4], '^%d+$') and tonumber(r[4]) > tonumber(ARGV[3]) then "
    LUA_CUT(7)
    "  return {2, r} "
    " end "
    "end "
    "if skip < 2 and redis.call('TYPE', KEYS[2])['ok'] == 'string' then "
    " local v = redis.call('GET', KEYS[2]) "
    " if #v <= " STR(FAILED_VALUE_MAX) " and string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. ' ' then "
    "  return {3, v} "
    " end "
    "end "
    "if redis.call('SET', KEYS[3], ARGV[4], 'NX', 'PX', ARGV[5]) then return {0} end "
    "if redis.call('GET', KEYS[3]) == ARGV[4] then "
    " redis.call('PEXPIRE', KEYS[3], ARGV[5]) return {0} "
    "end "
    "return {1}";

/* clang-format on */

enum script_id { S_GET, S_PUT, S_CLAIM, S_N };
static const char *const script_text[S_N] = {lua_get, lua_put, lua_claim};

struct sentinel {
    char host[CACHE_REDIS_HOST_MAX + 1];
    uint16_t port;
};

struct cache_redis {
    struct cache_backend base;  /* first: the backend table's view of it */
    redisContext *ctx;          /* NULL until connected, and after a failure */
    struct cache_redis_url url; /* the server (without sentinels), credentials */
    int db;                     /* SELECTed after connecting; 0 = leave as is */
    unsigned io_ms, connect_ms;
    struct sentinel *sentinels; /* n_sentinels of them; the master is asked of them */
    size_t n_sentinels;
    size_t next_sentinel; /* the one that answered last is asked first */
    char master_name[MASTER_NAME_MAX + 1];
    char server[SERVER_NAME_MAX]; /* for messages: "host:port", "/path", "master NAME" */
    char sha[S_N][41];            /* the scripts' SHA1s, hex, for EVALSHA */
};

/* ---- small parsers ---- */

/* parse_dec - 1 to 16 decimal digits (no sign), at most max, into *v */
static bool parse_dec(const char *s, size_t len, long long max, long long *v)
{
    long long n = 0;

    if (len < 1 || len > 16)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        n = n * 10 + (s[i] - '0'); /* 16 digits cannot overflow */
    }
    if (n > max)
        return false;
    *v = n;
    return true;
}

/* hexval - the value of one hex digit, -1 if it is not one */
static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/*
 * pct_decode - percent-decode s (len octets) into out (size octets with the
 * NUL). 0, MXTLS_EINVAL for a bad escape or an encoded NUL, MXTLS_ETOOLONG.
 */
static int pct_decode(const char *s, size_t len, char *out, size_t size)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return MXTLS_EINVAL;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return MXTLS_EINVAL;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n + 1 >= size)
            return MXTLS_ETOOLONG;
        out[n++] = ch;
    }
    out[n] = '\0';
    return 0;
}

/* host_valid - a host name or an address literal: letters, digits, . - _ (and : in v6) */
static bool host_valid(const char *h, size_t len, bool v6)
{
    if (len < 1 || len > CACHE_REDIS_HOST_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = h[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_' ||
                  (v6 && ch == ':');
        if (!ok)
            return false;
    }
    return true;
}

/* parse_port - 1 to 5 digits, 1..65535 */
static bool parse_port(const char *s, size_t len, uint16_t *port)
{
    long long v;

    if (len > 5 || !parse_dec(s, len, 65535, &v) || v == 0)
        return false;
    *port = (uint16_t)v;
    return true;
}

/*
 * split_hostport - "host", "host:port", "[v6]" or "[v6]:port" (len octets)
 * into host and *port (left alone when absent unless need_port).
 */
static int split_hostport(const char *s, size_t len, bool need_port, char *host, uint16_t *port,
                          const char *what, struct mxtls_diag *diag)
{
    const char *h = s, *p = NULL;
    size_t hlen;
    bool v6 = false;

    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: \"[\" without \"]\"", what);
        h = s + 1;
        hlen = (size_t)(close - h);
        v6 = true;
        if (close + 1 < s + len) {
            if (close[1] != ':')
                return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: text after \"]\"", what);
            p = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        hlen = colon != NULL ? (size_t)(colon - s) : len;
        if (colon != NULL)
            p = colon + 1;
    }
    if (!host_valid(h, hlen, v6))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%s: the host must be a name, an IPv4 address or an [IPv6] "
                              "address of at most %d octets",
                              what, CACHE_REDIS_HOST_MAX);
    if (p != NULL) {
        if (!parse_port(p, (size_t)(s + len - p), port))
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: the port must be 1 to 65535", what);
    } else if (need_port) {
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: no port (host:port or [v6]:port)", what);
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    return 0;
}

/* cache_redis_parse_addr - a sentinel's "host:port" or "[v6]:port" */
int cache_redis_parse_addr(const char *s, size_t len, char *host, uint16_t *port,
                           struct mxtls_diag *diag)
{
    if (s == NULL || len == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "redis sentinel: empty address");
    if (len > CACHE_REDIS_HOST_MAX + 8)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "redis sentinel: address too long");
    return split_hostport(s, len, true, host, port, "redis sentinel address", diag);
}

/* userinfo - "[user][:password]" (len octets), percent-decoded, into u */
static int userinfo(const char *s, size_t len, struct cache_redis_url *u, struct mxtls_diag *diag)
{
    const char *colon = memchr(s, ':', len);
    size_t ulen = colon != NULL ? (size_t)(colon - s) : len;
    int rc = pct_decode(s, ulen, u->username, sizeof(u->username));

    if (rc == 0 && colon != NULL)
        rc = pct_decode(colon + 1, (size_t)(s + len - colon - 1), u->password, sizeof(u->password));
    if (rc != 0) {
        u->password[0] = '\0'; /* a half-decoded password is not kept */
        return mxtls_diag_set(diag, rc, 0,
                              rc == MXTLS_ETOOLONG
                                  ? "redis URL: the username or password is too long"
                                  : "redis URL: bad percent-encoding in the username or password");
    }
    return 0;
}

/* query - "key=value&..." (len octets): db, username, password; others ignored */
static int query(const char *s, size_t len, struct cache_redis_url *u, bool *q_user, bool *q_pass,
                 struct mxtls_diag *diag)
{
    const char *end = s + len;

    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *stop = amp != NULL ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(stop - s));
        int rc = 0;

        if (stop == s) { /* "a=1&&b=2": an empty parameter */
            s = stop + 1;
            continue;
        }
        if (eq == NULL || eq == s)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                  "redis URL: query parameters are key=value pairs");
        size_t klen = (size_t)(eq - s), vlen = (size_t)(stop - eq - 1);
        if (klen == 2 && memcmp(s, "db", 2) == 0) {
            long long v;
            if (!parse_dec(eq + 1, vlen, CACHE_REDIS_DB_MAX, &v))
                return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                      "redis URL: db must be a number from 0 to %d",
                                      CACHE_REDIS_DB_MAX);
            u->db = (int)v;
        } else if (klen == 8 && memcmp(s, "username", 8) == 0) {
            rc = pct_decode(eq + 1, vlen, u->username, sizeof(u->username));
            *q_user = true;
        } else if (klen == 8 && memcmp(s, "password", 8) == 0) {
            rc = pct_decode(eq + 1, vlen, u->password, sizeof(u->password));
            *q_pass = true;
        }
        /* other keys: redis-py's connection options (socket_timeout, ...),
         * which mxtlsd takes from its own configuration keys */
        if (rc != 0) {
            u->password[0] = '\0';
            return mxtls_diag_set(diag, rc, 0,
                                  "redis URL: the username or password parameter is %s",
                                  rc == MXTLS_ETOOLONG ? "too long" : "badly percent-encoded");
        }
        s = amp != NULL ? amp + 1 : end;
    }
    return 0;
}

/* cache_redis_parse_url - redis://... or unix://... into *out */
int cache_redis_parse_url(const char *url, size_t len, struct cache_redis_url *out,
                          struct mxtls_diag *diag)
{
    const char *p, *end, *qm, *slash, *at = NULL;
    bool q_user = false, q_pass = false;
    struct cache_redis_url qv;
    int rc;

    if (out == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "redis URL: no output");
    memset(out, 0, sizeof(*out));
    out->db = -1;
    out->port = CACHE_REDIS_DEFAULT_PORT;
    if (url == NULL || len == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "redis URL: empty");
    if (len > CACHE_REDIS_URL_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "redis URL: longer than %d octets",
                              CACHE_REDIS_URL_MAX);
    if (memchr(url, '\0', len) != NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "redis URL: contains a NUL");
    if (len >= 9 && strncasecmp(url, "rediss://", 9) == 0)
        return mxtls_diag_set(
            diag, MXTLS_EINVAL, 0,
            "redis URL: TLS to Redis not supported (rediss://); use redis:// on a "
            "trusted network, or a unix:// socket");
    if (len >= 8 && strncasecmp(url, "redis://", 8) == 0)
        p = url + 8;
    else if (len >= 7 && strncasecmp(url, "unix://", 7) == 0) {
        p = url + 7;
        out->unix_socket = true;
    } else
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "redis URL: expected redis://host[:port][/db] or "
                              "unix:///path/to.sock[?db=N]");
    end = url + len;
    if (memchr(p, '#', (size_t)(end - p)) != NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "redis URL: a fragment (#) is not allowed");
    qm = memchr(p, '?', (size_t)(end - p));
    if (qm == NULL)
        qm = end;
    slash = memchr(p, '/', (size_t)(qm - p));
    if (slash == NULL)
        slash = qm;
    /* the authority [userinfo@]host[:port]: the last '@' ends the userinfo
     * (a password may hold '@' only percent-encoded, but be lenient) */
    for (const char *s = p; s < slash; s++)
        if (*s == '@')
            at = s;
    if (at != NULL && (rc = userinfo(p, (size_t)(at - p), out, diag)) != 0)
        return rc;
    const char *host = at != NULL ? at + 1 : p;
    if (out->unix_socket) {
        size_t hl = (size_t)(slash - host);
        if (!(hl == 0 || (hl == 9 && strncasecmp(host, "localhost", 9) == 0))) {
            out->password[0] = '\0';
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                  "redis URL: unix:// takes a path (unix:///path/to.sock)");
        }
        if (slash == qm) {
            out->password[0] = '\0';
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "redis URL: unix:// without a path");
        }
        rc = pct_decode(slash, (size_t)(qm - slash), out->path, sizeof(out->path));
        if (rc != 0) {
            out->password[0] = '\0';
            return mxtls_diag_set(diag, rc, 0, "redis URL: the socket path is %s",
                                  rc == MXTLS_ETOOLONG ? "longer than 107 octets"
                                                       : "badly percent-encoded");
        }
    } else {
        if ((rc = split_hostport(host, (size_t)(slash - host), false, out->host, &out->port,
                                 "redis URL", diag)) != 0) {
            out->password[0] = '\0';
            return rc;
        }
        /* the path: "", "/" or "/db" */
        if (qm - slash > 1) {
            long long v;
            if (!parse_dec(slash + 1, (size_t)(qm - slash - 1), CACHE_REDIS_DB_MAX, &v)) {
                out->password[0] = '\0';
                return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                      "redis URL: the path must be a database number from 0 "
                                      "to %d (redis://host:port/db)",
                                      CACHE_REDIS_DB_MAX);
            }
            out->db = (int)v;
        }
    }
    if (qm < end) {
        /* the query's db wins over the path's; the userinfo's credentials
         * over the query's (redis-py's from_url) */
        memset(&qv, 0, sizeof(qv));
        qv.db = out->db;
        rc = query(qm + 1, (size_t)(end - qm - 1), &qv, &q_user, &q_pass, diag);
        if (rc == 0) {
            out->db = qv.db;
            if (q_user && out->username[0] == '\0')
                memcpy(out->username, qv.username, sizeof(out->username));
            if (q_pass && out->password[0] == '\0')
                memcpy(out->password, qv.password, sizeof(out->password));
        } else {
            out->password[0] = '\0';
        }
        explicit_bzero(qv.password, sizeof(qv.password));
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- the connection ---- */

/* tv - milliseconds as a struct timeval */
static struct timeval tv(unsigned ms)
{
    struct timeval t = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return t;
}

/* drop - forget the connection: the next call connects (and asks the sentinels) again */
static void drop(struct cache_redis *c)
{
    if (c->ctx != NULL)
        redisFree(c->ctx);
    c->ctx = NULL;
}

/* set_server - "host:port" ("[v6]:port") or the socket path, for messages */
static void set_server(struct cache_redis *c, const char *host, uint16_t port, const char *path)
{
    if (path != NULL)
        snprintf(c->server, sizeof(c->server), "%s", path);
    else
        snprintf(c->server, sizeof(c->server), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
                 (unsigned)port);
}

/* ctx_error - what hiredis says went wrong on ctx, a timeout said as one */
static const char *ctx_error(const redisContext *ctx, unsigned io_ms, char *buf, size_t size)
{
    if (ctx == NULL)
        return "out of memory";
    if (ctx->err == REDIS_ERR_IO && (strstr(ctx->errstr, "temporarily unavailable") != NULL ||
                                     strstr(ctx->errstr, "timed out") != NULL)) {
        snprintf(buf, size, "no answer within %u ms", io_ms);
        return buf;
    }
    if (ctx->err == REDIS_ERR_EOF)
        return "the server closed the connection";
    snprintf(buf, size, "%s", ctx->errstr[0] != '\0' ? ctx->errstr : "I/O error");
    return buf;
}

/* io_fail - the connection failed (I/O, timeout, protocol): drop it, MXTLS_EIO */
static int io_fail(struct cache_redis *c, const char *doing, struct mxtls_diag *diag)
{
    char buf[160];
    int rc = mxtls_diag_set(diag, MXTLS_EIO, 0, "redis %s: %s: %s", c->server, doing,
                            ctx_error(c->ctx, c->io_ms, buf, sizeof(buf)));
    drop(c);
    return rc;
}

/*
 * failover_error - an error reply that says this server cannot serve us now
 * and another may: a replica (READONLY), a server loading its data
 * (LOADING), a replica cut from its master (MASTERDOWN), and the like.
 * Scripts pass a command's error on with text before it, so look inside.
 */
static bool failover_error(const redisReply *r)
{
    static const char *const words[] = {"READONLY", "LOADING",  "MASTERDOWN",  "NOAUTH",
                                        "BUSY",     "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS",
                                        "MOVED",    "ASK ",     "MISCONF"};
    char head[128];
    size_t n;

    if (r->type != REDIS_REPLY_ERROR || r->str == NULL)
        return false;
    n = r->len < sizeof(head) - 1 ? r->len : sizeof(head) - 1;
    memcpy(head, r->str, n);
    head[n] = '\0';
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(head, words[i]) != NULL)
            return true;
    return false;
}

/* reply_text - an error reply's text, cut, for a message */
static const char *reply_text(const redisReply *r, char *buf, size_t size)
{
    size_t n = r->str != NULL ? r->len : 0;

    if (n > size - 1)
        n = size - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = r->str[i] >= 0x20 && r->str[i] < 0x7f ? r->str[i] : '?';
    buf[n] = '\0';
    return buf;
}

/* server_refused - an error reply that ends the connection: drop it, MXTLS_EIO */
static int server_refused(struct cache_redis *c, redisReply *r, const char *doing,
                          struct mxtls_diag *diag)
{
    char buf[200];
    int rc = mxtls_diag_set(diag, MXTLS_EIO, 0, "redis %s: %s: %s", c->server, doing,
                            reply_text(r, buf, sizeof(buf)));
    freeReplyObject(r);
    drop(c);
    return rc;
}

/* bad_reply - an answer of the wrong shape: the stream is not to be trusted, drop it */
static int bad_reply(struct cache_redis *c, redisReply *r, const char *doing,
                     struct mxtls_diag *diag)
{
    int rc = mxtls_diag_set(diag, MXTLS_EIO, 0, "redis %s: %s: unexpected reply (type %d)",
                            c->server, doing, r != NULL ? r->type : -1);
    freeReplyObject(r);
    drop(c);
    return rc;
}

/* is_status - r is the status reply text (e.g. "OK") */
static bool is_status(const redisReply *r, const char *text)
{
    return r != NULL && r->type == REDIS_REPLY_STATUS && r->str != NULL && r->len == strlen(text) &&
           memcmp(r->str, text, r->len) == 0;
}

/* setup - on the fresh connection c->ctx: timeouts, AUTH, SELECT */
static int setup(struct cache_redis *c, struct mxtls_diag *diag)
{
    redisReply *r;

    if (redisSetTimeout(c->ctx, tv(c->io_ms)) != REDIS_OK)
        return io_fail(c, "setting the socket timeout", diag);
    if (c->url.password[0] != '\0') {
        const char *argv[3] = {"AUTH", c->url.username, c->url.password};
        size_t lens[3] = {4, strlen(c->url.username), strlen(c->url.password)};
        int argc = 3;
        if (c->url.username[0] == '\0') { /* Redis before 6: AUTH password */
            argv[1] = c->url.password;
            lens[1] = lens[2];
            argc = 2;
        }
        r = redisCommandArgv(c->ctx, argc, argv, lens);
        if (r == NULL)
            return io_fail(c, "authenticating", diag);
        if (!is_status(r, "OK"))
            return r->type == REDIS_REPLY_ERROR
                       ? server_refused(c, r, "authentication refused", diag)
                       : bad_reply(c, r, "authenticating", diag);
        freeReplyObject(r);
    }
    if (c->db > 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", c->db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, strlen(db)};
        r = redisCommandArgv(c->ctx, 2, argv, lens);
        if (r == NULL)
            return io_fail(c, "selecting the database", diag);
        if (!is_status(r, "OK"))
            return r->type == REDIS_REPLY_ERROR
                       ? server_refused(c, r, "selecting the database refused", diag)
                       : bad_reply(c, r, "selecting the database", diag);
        freeReplyObject(r);
    }
    return 0;
}

/* connect_to - connect c->ctx to a TCP server or a socket, then setup */
static int connect_to(struct cache_redis *c, const char *host, uint16_t port, const char *path,
                      struct mxtls_diag *diag)
{
    drop(c);
    set_server(c, host, port, path);
    c->ctx = path != NULL ? redisConnectUnixWithTimeout(path, tv(c->connect_ms))
                          : redisConnectWithTimeout(host, port, tv(c->connect_ms));
    if (c->ctx == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "redis %s: out of memory", c->server);
    if (c->ctx->err != 0) {
        char buf[160];
        int rc = mxtls_diag_set(
            diag, MXTLS_EIO, 0, "redis %s: cannot connect: %s", c->server,
            c->ctx->err == REDIS_ERR_IO && strstr(c->ctx->errstr, "timed out") != NULL
                ? (snprintf(buf, sizeof(buf), "no connection within %u ms", c->connect_ms), buf)
                : ctx_error(c->ctx, c->io_ms, buf, sizeof(buf)));
        drop(c);
        return rc;
    }
    return setup(c, diag);
}

/* is_master - ROLE says the connected server is a master (a demoted one says "slave") */
static int is_master(struct cache_redis *c, struct mxtls_diag *diag)
{
    const char *argv[1] = {"ROLE"};
    size_t lens[1] = {4};
    redisReply *r = redisCommandArgv(c->ctx, 1, argv, lens);

    if (r == NULL)
        return io_fail(c, "asking its role", diag);
    if (r->type == REDIS_REPLY_ERROR)
        return server_refused(c, r, "ROLE refused", diag);
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return bad_reply(c, r, "asking its role", diag);
    bool master = r->element[0]->len == 6 && memcmp(r->element[0]->str, "master", 6) == 0;
    char role[32];
    reply_text(r->element[0], role, sizeof(role));
    freeReplyObject(r);
    if (!master) {
        int rc = mxtls_diag_set(diag, MXTLS_EIO, 0,
                                "redis %s: the sentinels name it master %s but it is a %s "
                                "(a failover in progress)",
                                c->server, c->master_name, role);
        drop(c);
        return rc;
    }
    return 0;
}

/* ask_sentinel - the master's address from sentinel s into host, *port */
static int ask_sentinel(struct cache_redis *c, const struct sentinel *s, char *host, uint16_t *port,
                        struct mxtls_diag *diag)
{
    char where[SERVER_NAME_MAX], buf[160];
    redisContext *sc;
    redisReply *r;
    int rc;

    snprintf(where, sizeof(where), strchr(s->host, ':') ? "[%s]:%u" : "%s:%u", s->host,
             (unsigned)s->port);
    sc = redisConnectWithTimeout(s->host, s->port, tv(c->connect_ms));
    if (sc == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "redis sentinel %s: out of memory", where);
    if (sc->err != 0 || redisSetTimeout(sc, tv(c->io_ms)) != REDIS_OK) {
        rc = mxtls_diag_set(diag, MXTLS_EIO, 0, "redis sentinel %s: cannot connect: %s", where,
                            ctx_error(sc, c->connect_ms, buf, sizeof(buf)));
        redisFree(sc);
        return rc;
    }
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", c->master_name};
    size_t lens[3] = {8, 23, strlen(c->master_name)};
    r = redisCommandArgv(sc, 3, argv, lens);
    if (r == NULL) {
        rc = mxtls_diag_set(diag, MXTLS_EIO, 0, "redis sentinel %s: %s", where,
                            ctx_error(sc, c->io_ms, buf, sizeof(buf)));
    } else if (r->type == REDIS_REPLY_NIL) {
        rc = mxtls_diag_set(diag, MXTLS_EIO, 0, "redis sentinel %s: does not know master %s", where,
                            c->master_name);
    } else if (r->type == REDIS_REPLY_ERROR) {
        rc = mxtls_diag_set(diag, MXTLS_EIO, 0, "redis sentinel %s: %s", where,
                            reply_text(r, buf, sizeof(buf)));
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
               r->element[0]->type != REDIS_REPLY_STRING ||
               r->element[1]->type != REDIS_REPLY_STRING ||
               !host_valid(r->element[0]->str, r->element[0]->len, true) ||
               !parse_port(r->element[1]->str, r->element[1]->len, port)) {
        rc = mxtls_diag_set(diag, MXTLS_EIO, 0,
                            "redis sentinel %s: not a host and port for master %s", where,
                            c->master_name);
    } else {
        memcpy(host, r->element[0]->str, r->element[0]->len);
        host[r->element[0]->len] = '\0';
        rc = 0;
    }
    freeReplyObject(r);
    redisFree(sc);
    return rc;
}

/*
 * discover - ask each sentinel in turn for the master, connect, check its
 * ROLE. On failure the message holds every sentinel's reason, in the order
 * asked (cut to the diag's size).
 */
static int discover(struct cache_redis *c, struct mxtls_diag *diag)
{
    char why[MXTLS_DIAG_WHAT_MAX] = "";
    size_t used = 0;
    int rc = MXTLS_EIO;

    for (size_t k = 0; k < c->n_sentinels; k++) {
        size_t i = (c->next_sentinel + k) % c->n_sentinels;
        char host[CACHE_REDIS_HOST_MAX + 1];
        struct mxtls_diag one = {0};
        uint16_t port = 0;

        if ((rc = ask_sentinel(c, &c->sentinels[i], host, &port, &one)) == 0 &&
            (rc = connect_to(c, host, port, NULL, &one)) == 0 && (rc = is_master(c, &one)) == 0) {
            c->next_sentinel = i;
            size_t n = strlen(c->server);
            snprintf(c->server + n, sizeof(c->server) - n, " (master %s)", c->master_name);
            return 0;
        }
        if (used < sizeof(why)) {
            int n =
                snprintf(why + used, sizeof(why) - used, "%s%s", used > 0 ? "; " : "", one.what);
            used += n > 0 ? (size_t)n : 0;
        }
        if (rc == MXTLS_ENOMEM)
            break;
    }
    drop(c);
    snprintf(c->server, sizeof(c->server), "master %s", c->master_name);
    return mxtls_diag_set(diag, rc == MXTLS_ENOMEM ? MXTLS_ENOMEM : MXTLS_EIO, 0,
                          "redis master %s: no sentinel of %zu named a reachable master: %s",
                          c->master_name, c->n_sentinels, why);
}

/*
 * stale - the server closed this idle connection (it restarted, or a
 * failover killed it): a peek finds the end of the stream (or an error)
 * where no reply is pending. Nothing was sent on it since, so connecting
 * again is safe for every command.
 */
static bool stale(const redisContext *ctx)
{
    char b;
    ssize_t n = recv(ctx->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* connected - connect when not connected (lazily, again after a failure, and
 * when the server closed the connection while it was idle) */
static int connected(struct cache_redis *c, struct mxtls_diag *diag)
{
    if (c->ctx != NULL && !stale(c->ctx))
        return 0;
    drop(c);
    if (c->n_sentinels > 0)
        return discover(c, diag);
    return connect_to(c, c->url.host, c->url.port, c->url.unix_socket ? c->url.path : NULL, diag);
}

/*
 * command - one round trip: argv (argc strings of lens octets) and its
 * reply in *out. Connects first when needed. A failure of the connection or
 * a failover reply is MXTLS_EIO (dropped); other error replies come back to
 * the caller in *out.
 */
static int command(struct cache_redis *c, int argc, const char **argv, const size_t *lens,
                   const char *doing, redisReply **out, struct mxtls_diag *diag)
{
    redisReply *r;
    int rc;

    *out = NULL;
    if ((rc = connected(c, diag)) != 0)
        return rc;
    r = redisCommandArgv(c->ctx, argc, argv, lens);
    if (r == NULL)
        return io_fail(c, doing, diag);
    if (failover_error(r))
        return server_refused(c, r, doing, diag);
    *out = r;
    return 0;
}

/* is_noscript - the server does not have the script (a new master, a restart) */
static bool is_noscript(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

#define SCRIPT_ARGS_MAX 12

/*
 * script - run script s with nkeys keys then the other args (n in all):
 * EVALSHA, and EVAL when the server does not have it. As command.
 */
static int script(struct cache_redis *c, enum script_id s, int n, int nkeys, const char **args,
                  const size_t *args_len, const char *doing, redisReply **out,
                  struct mxtls_diag *diag)
{
    const char *argv[SCRIPT_ARGS_MAX + 3];
    size_t lens[SCRIPT_ARGS_MAX + 3];
    char nk[8];
    int rc;

    if (n > SCRIPT_ARGS_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "redis: too many script arguments");
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[1] = c->sha[s];
    lens[1] = 40;
    argv[2] = nk;
    lens[2] = strlen(nk);
    memcpy(argv + 3, args, (size_t)n * sizeof(*args));
    memcpy(lens + 3, args_len, (size_t)n * sizeof(*args_len));
    if ((rc = command(c, n + 3, argv, lens, doing, out, diag)) != 0 || !is_noscript(*out))
        return rc;
    freeReplyObject(*out);
    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = script_text[s];
    lens[1] = strlen(script_text[s]);
    return command(c, n + 3, argv, lens, doing, out, diag);
}

/* other_error - an error reply the caller did not expect: MXTLS_EIO, the connection kept */
static int other_error(struct cache_redis *c, redisReply *r, const char *doing,
                       struct mxtls_diag *diag)
{
    char buf[200];
    int rc = mxtls_diag_set(diag, MXTLS_EIO, 0, "redis %s: %s: %s", c->server, doing,
                            reply_text(r, buf, sizeof(buf)));
    freeReplyObject(r);
    return rc;
}

/* ---- records ---- */

/* make_key - prefix + domain into key (KEY_MAX octets); its length */
static size_t make_key(char *key, const char *prefix, const char *dom)
{
    int n = snprintf(key, KEY_MAX, "%s%s", prefix, dom);
    return n > 0 ? (size_t)n : 0;
}

/* field_is - f is present and exactly s (len octets) */
static bool field_is(const struct cache_redis_str *f, const char *s, size_t len)
{
    return f->str != NULL && f->len == len && memcmp(f->str, s, len) == 0;
}

/* cache_redis_check_record - a record's fields into *out, or why not (cache_redis.h) */
int cache_redis_check_record(const char *server, const char *dom, const struct cache_redis_str *f,
                             struct cache_entry *out, struct sts_policy *keep,
                             struct mxtls_diag *diag)
{
    long long t[3];
    struct sts_policy p;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!field_is(&f[CACHE_REDIS_F_V], "1", 1))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "redis %s: record for %s: foreign or newer record format "
                              "(field v is not \"1\")",
                              server, dom);
    if (!field_is(&f[CACHE_REDIS_F_DOMAIN], dom, strlen(dom)))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "redis %s: record for %s: foreign (its domain field names "
                              "another domain)",
                              server, dom);
    const struct cache_redis_str *id = &f[CACHE_REDIS_F_ID];
    if (id->str == NULL || !cache_id_valid(id->str, id->len))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "redis %s: record for %s: invalid id (RFC 8461 §3.1)", server, dom);
    for (int i = 0; i < 3; i++) {
        const struct cache_redis_str *ts = &f[CACHE_REDIS_F_FETCHED + i];
        if (ts->str == NULL || !parse_dec(ts->str, ts->len, CACHE_REDIS_TIME_MAX, &t[i]))
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                  "redis %s: record for %s: invalid timestamp", server, dom);
    }
    const struct cache_redis_str *pr = &f[CACHE_REDIS_F_POLICY];
    if (pr->str == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "redis %s: record for %s: no policy text",
                              server, dom);
    if (pr->len > STS_POLICY_BODY_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "redis %s: record for %s: policy text over the %d-octet cap "
                              "(RFC 8461 §3.3)",
                              server, dom, STS_POLICY_BODY_MAX);
    if (memchr(pr->str, '\0', pr->len) != NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "redis %s: record for %s: policy text holds a NUL", server, dom);
    if ((rc = sts_policy_parse(pr->str, pr->len, &p, diag)) != 0) {
        if (rc == MXTLS_ENOMEM)
            return rc;
        if (diag != NULL) {
            char why[MXTLS_DIAG_WHAT_MAX];
            memcpy(why, diag->what, sizeof(why));
            mxtls_diag_set(diag, MXTLS_EINVAL, 0, "redis %s: record for %s: bad policy: %.300s",
                           server, dom, why);
        }
        return MXTLS_EINVAL;
    }
    out->policy_text = sts_policy_format(&p);
    if (out->policy_text == NULL) {
        sts_policy_finish(&p);
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "cache: out of memory");
    }
    out->policy_len = strlen(out->policy_text);
    if (keep != NULL)
        *keep = p;
    else
        sts_policy_finish(&p);
    snprintf(out->domain, sizeof(out->domain), "%s", dom);
    memcpy(out->id, id->str, id->len);
    out->id[id->len] = '\0';
    out->fetched_at = t[0];
    out->checked_at = t[1];
    out->failed_at = t[2];
    return 0;
}

/*
 * load_fields - the seven replies f (a script's cut HMGET reply) of the
 * record for dom, each a string or nil, through cache_redis_check_record.
 * MXTLS_EINVAL (why in diag) or MXTLS_ENOMEM; *out empty on failure.
 */
static int load_fields(const struct cache_redis *c, const char *dom, redisReply *const *f,
                       struct cache_entry *out, struct sts_policy *keep, struct mxtls_diag *diag)
{
    struct cache_redis_str fs[F_N];

    memset(out, 0, sizeof(*out));
    for (int i = 0; i < F_N; i++) {
        if (f[i]->type == REDIS_REPLY_STRING) {
            fs[i].str = f[i]->str;
            fs[i].len = f[i]->len;
        } else if (f[i]->type == REDIS_REPLY_NIL) {
            fs[i].str = NULL;
            fs[i].len = 0;
        } else {
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "redis %s: record for %s: bad field",
                                  c->server, dom);
        }
    }
    return cache_redis_check_record(c->server, dom, fs, out, keep, diag);
}

/* read_reply - what the get script answered for dom, as get returns it */
static int read_reply(struct cache_redis *c, const char *dom, redisReply *r,
                      struct cache_entry *out, struct sts_policy *keep, struct mxtls_diag *diag)
{
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
        return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "redis %s: no cached policy for %s",
                              c->server, dom);
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "redis %s: %s%s is not a hash (a foreign value)", c->server,
                              KEY_POLICY, dom);
    if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "WRONGTYPE") != NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "redis %s: %s%s holds the wrong type (a foreign value)", c->server,
                              KEY_POLICY, dom);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != F_N)
        return MXTLS_EIO; /* the caller says it */
    return load_fields(c, dom, r->element, out, keep, diag);
}

static const char policy_cap[] = "65537"; /* STS_POLICY_BODY_MAX + 1: over it is invalid */
_Static_assert(STS_POLICY_BODY_MAX == 65536, "policy_cap follows STS_POLICY_BODY_MAX");

/* be_get - the record for domain (see cache_backend.h) */
static int be_get(struct cache_backend *b, const char *domain, struct cache_entry *out,
                  struct mxtls_diag *diag)
{
    struct cache_redis *c = (struct cache_redis *)(void *)b;
    char dom[DOMAIN_BUF_SIZE], key[KEY_MAX];
    redisReply *r;
    int rc;

    if (out == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no output entry");
    memset(out, 0, sizeof(*out));
    if ((rc = cache_domain_normalize(domain, dom, diag)) != 0)
        return rc;
    const char *args[2] = {key, policy_cap};
    size_t lens[2] = {make_key(key, KEY_POLICY, dom), sizeof(policy_cap) - 1};
    if ((rc = script(c, S_GET, 2, 1, args, lens, "reading a policy", &r, diag)) != 0)
        return rc;
    rc = read_reply(c, dom, r, out, NULL, diag);
    if (rc == MXTLS_EIO)
        return r->type == REDIS_REPLY_ERROR ? other_error(c, r, "reading a policy", diag)
                                            : bad_reply(c, r, "reading a policy", diag);
    freeReplyObject(r);
    return rc;
}

/* be_put - store e unless a newer record is there (the rule at the top) */
static int be_put(struct cache_backend *b, const struct cache_entry *e, struct mxtls_diag *diag)
{
    struct cache_redis *c = (struct cache_redis *)(void *)b;
    char dom[DOMAIN_BUF_SIZE], key[KEY_MAX], ts[4][24];
    struct sts_policy p;
    char *canon;
    size_t idlen;
    redisReply *r;
    int rc;

    if (e == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no entry");
    if (memchr(e->domain, '\0', sizeof(e->domain)) == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: domain not NUL-terminated");
    if ((rc = cache_domain_normalize(e->domain, dom, diag)) != 0)
        return rc;
    idlen = strnlen(e->id, sizeof(e->id));
    if (idlen == sizeof(e->id) || !cache_id_valid(e->id, idlen))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%s: id is not 1 to 32 letters and digits (RFC 8461 §3.1)", dom);
    if (e->fetched_at < 0 || e->checked_at < 0 || e->failed_at < 0 ||
        e->fetched_at > CACHE_REDIS_TIME_MAX || e->checked_at > CACHE_REDIS_TIME_MAX ||
        e->failed_at > CACHE_REDIS_TIME_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: timestamp out of range", dom);
    if (e->policy_len > STS_POLICY_BODY_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0,
                              "policy text of %zu octets is over the %d-octet cap (RFC 8461 §3.3)",
                              e->policy_len, STS_POLICY_BODY_MAX);
    if (e->policy_text == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "no policy text");
    if ((rc = sts_policy_parse(e->policy_text, e->policy_len, &p, diag)) != 0)
        return rc;
    canon = sts_policy_format(&p);
    /* RFC 8461 §5.1: not used past max_age, so the key lives no longer */
    long long expire_at = (long long)e->fetched_at + (long long)p.max_age;
    sts_policy_finish(&p);
    if (canon == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "cache: out of memory");
    snprintf(ts[0], sizeof(ts[0]), "%lld", (long long)e->fetched_at);
    snprintf(ts[1], sizeof(ts[1]), "%lld", (long long)e->checked_at);
    snprintf(ts[2], sizeof(ts[2]), "%lld", (long long)e->failed_at);
    snprintf(ts[3], sizeof(ts[3]), "%lld", expire_at);
    const char *args[8] = {key, dom, e->id, ts[0], ts[1], ts[2], canon, ts[3]};
    size_t lens[8] = {make_key(key, KEY_POLICY, dom),
                      strlen(dom),
                      idlen,
                      strlen(ts[0]),
                      strlen(ts[1]),
                      strlen(ts[2]),
                      strlen(canon),
                      strlen(ts[3])};
    rc = script(c, S_PUT, 8, 1, args, lens, "storing a policy", &r, diag);
    free(canon);
    if (rc != 0)
        return rc;
    if (r->type == REDIS_REPLY_ERROR)
        return other_error(c, r, "storing a policy", diag);
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 0 || r->integer > 2)
        return bad_reply(c, r, "storing a policy", diag);
    freeReplyObject(r); /* 1 stored, 0 a newer one kept, 2 expired and deleted: all done */
    return 0;
}

/* be_del - DEL the domain's record */
static int be_del(struct cache_backend *b, const char *domain, struct mxtls_diag *diag)
{
    struct cache_redis *c = (struct cache_redis *)(void *)b;
    char dom[DOMAIN_BUF_SIZE], key[KEY_MAX];
    redisReply *r;
    int rc;

    if ((rc = cache_domain_normalize(domain, dom, diag)) != 0)
        return rc;
    const char *argv[2] = {"DEL", key};
    size_t lens[2] = {3, make_key(key, KEY_POLICY, dom)};
    if ((rc = command(c, 2, argv, lens, "deleting a policy", &r, diag)) != 0)
        return rc;
    if (r->type == REDIS_REPLY_ERROR)
        return other_error(c, r, "deleting a policy", diag);
    if (r->type != REDIS_REPLY_INTEGER)
        return bad_reply(c, r, "deleting a policy", diag);
    rc = r->integer > 0 ? 0
                        : mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0,
                                         "redis %s: no cached policy for %s", c->server, dom);
    freeReplyObject(r);
    return rc;
}

/* walk_state - a walk's callback and its tally */
struct walk_state {
    cache_backend_walk_fn cb;
    void *arg;
    size_t bad;
    struct mxtls_diag *diag; /* the first bad record's reason */
};

/* invalid - count one bad record; only the first one's reason is kept */
static void invalid(struct walk_state *w, const struct mxtls_diag *why)
{
    if (w->bad++ == 0 && w->diag != NULL && why != NULL)
        *w->diag = *why;
}

/* key_domain - the normalised domain a policy key names; false when it names none */
static bool key_domain(const redisReply *k, char *dom)
{
    size_t pl = sizeof(KEY_POLICY) - 1;

    if (k->type != REDIS_REPLY_STRING || k->len <= pl || k->len - pl >= DOMAIN_BUF_SIZE ||
        memcmp(k->str, KEY_POLICY, pl) != 0)
        return false;
    if (domain_normalize(k->str + pl, k->len - pl, dom, DOMAIN_BUF_SIZE, NULL) != 0)
        return false;
    return strlen(dom) == k->len - pl && memcmp(dom, k->str + pl, k->len - pl) == 0;
}

/*
 * walk_batch - read the records of keys[0..n) in one pipelined round trip
 * (EVALSHA of the get script each) and hand the valid ones to the callback.
 * 0, the callback's non-zero value, or a negative code.
 */
static int walk_batch(struct cache_redis *c, redisReply **keys, size_t n, struct walk_state *w)
{
    redisReply *rep[WALK_BATCH] = {0};
    char dom[WALK_BATCH][DOMAIN_BUF_SIZE];
    bool ok[WALK_BATCH] = {0};
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        struct mxtls_diag d = {0};
        ok[i] = key_domain(keys[i], dom[i]);
        if (!ok[i]) {
            mxtls_diag_set(&d, MXTLS_EINVAL, 0,
                           "redis %s: a key under %s names no valid, normalised domain", c->server,
                           KEY_POLICY);
            invalid(w, &d);
            continue;
        }
        const char *argv[5] = {"EVALSHA", c->sha[S_GET], "1", keys[i]->str, policy_cap};
        size_t lens[5] = {7, 40, 1, keys[i]->len, sizeof(policy_cap) - 1};
        if (redisAppendCommandArgv(c->ctx, 5, argv, lens) != REDIS_OK)
            return io_fail(c, "reading the policies", w->diag);
    }
    for (size_t i = 0; i < n; i++) {
        void *v = NULL;
        if (!ok[i])
            continue;
        if (redisGetReply(c->ctx, &v) != REDIS_OK) {
            rc = io_fail(c, "reading the policies", w->diag);
            goto out;
        }
        rep[i] = v;
        if (failover_error(rep[i])) {
            rc = server_refused(c, rep[i], "reading the policies", w->diag);
            rep[i] = NULL;
            goto out;
        }
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct cache_entry e;
        struct sts_policy pol;
        struct mxtls_diag d = {0};
        if (!ok[i])
            continue;
        if (is_noscript(rep[i])) { /* the server lost its scripts mid-walk: once more by EVAL */
            const char *args[2] = {keys[i]->str, policy_cap};
            size_t lens[2] = {keys[i]->len, sizeof(policy_cap) - 1};
            freeReplyObject(rep[i]);
            rep[i] = NULL;
            if ((rc = script(c, S_GET, 2, 1, args, lens, "reading the policies", &rep[i],
                             w->diag)) != 0)
                break;
        }
        int lr = read_reply(c, dom[i], rep[i], &e, &pol, &d);
        if (lr == MXTLS_ENOTFOUND)
            continue; /* expired or deleted since SCAN saw it */
        if (lr == MXTLS_EINVAL) {
            invalid(w, &d);
            continue;
        }
        if (lr == MXTLS_EIO) {
            if (rep[i]->type == REDIS_REPLY_ERROR) { /* this record only */
                char buf[200];
                mxtls_diag_set(&d, MXTLS_EINVAL, 0, "redis %s: reading %s%s: %s", c->server,
                               KEY_POLICY, dom[i], reply_text(rep[i], buf, sizeof(buf)));
                invalid(w, &d);
                continue;
            }
            rc = bad_reply(c, rep[i], "reading the policies", w->diag);
            rep[i] = NULL;
            break;
        }
        if (lr != 0) {
            rc = mxtls_diag_set(w->diag, lr, 0, "%s", d.what);
            break;
        }
        e.policy = &pol; /* the callback may move it out (setting NULL) */
        rc = w->cb(&e, w->arg);
        if (e.policy != NULL)
            sts_policy_finish(e.policy);
        cache_entry_finish(&e);
    }
out:
    for (size_t i = 0; i < n; i++)
        freeReplyObject(rep[i]);
    return rc;
}

/* be_walk - SCAN the policy keys, read them in batches, call cb for each valid one */
static int be_walk(struct cache_backend *b, cache_backend_walk_fn cb, void *arg, size_t *n_invalid,
                   struct mxtls_diag *diag)
{
    struct cache_redis *c = (struct cache_redis *)(void *)b;
    struct walk_state w = {cb, arg, 0, diag};
    char cursor[24] = "0";
    int rc = 0;

    if (n_invalid != NULL)
        *n_invalid = 0;
    if (cb == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no callback");
    do {
        const char *argv[6] = {"SCAN", cursor, "MATCH", KEY_POLICY "*", "COUNT", "1000"};
        size_t lens[6] = {4, strlen(cursor), 5, sizeof(KEY_POLICY), 5, 4};
        redisReply *r;

        if ((rc = command(c, 6, argv, lens, "listing the policies", &r, diag)) != 0)
            break;
        if (r->type == REDIS_REPLY_ERROR) {
            rc = other_error(c, r, "listing the policies", diag);
            break;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len < 1 ||
            r->element[0]->len >= sizeof(cursor) ||
            r->element[0]->len != strspn(r->element[0]->str, "0123456789") ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            rc = bad_reply(c, r, "listing the policies", diag);
            break;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = '\0';
        /* SCAN may name a key twice while the server resizes its table: the
         * callback then sees that record twice (a loader keeps the last) */
        for (size_t i = 0; i < r->element[1]->elements && rc == 0; i += WALK_BATCH) {
            size_t n = r->element[1]->elements - i;
            rc = walk_batch(c, r->element[1]->element + i, n < WALK_BATCH ? n : WALK_BATCH, &w);
        }
        freeReplyObject(r);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    if (n_invalid != NULL)
        *n_invalid = w.bad;
    return rc;
}

/* cache_redis_parse_failed - a failed key's value "<id> <failure> <at> <why>" for id */
bool cache_redis_parse_failed(const char *v, size_t len, const char *id, struct cache_claim *out)
{
    const char *s, *end, *sp;
    size_t idlen = strlen(id);
    long long failure, at;

    if (v == NULL || len > FAILED_VALUE_MAX || len < idlen + 1 || memcmp(v, id, idlen) != 0 ||
        v[idlen] != ' ')
        return false;
    s = v + idlen + 1;
    end = v + len;
    if ((sp = memchr(s, ' ', (size_t)(end - s))) == NULL ||
        !parse_dec(s, (size_t)(sp - s), FAILURE_MAX, &failure))
        return false;
    s = sp + 1;
    if ((sp = memchr(s, ' ', (size_t)(end - s))) == NULL ||
        !parse_dec(s, (size_t)(sp - s), CACHE_REDIS_TIME_MAX, &at))
        return false;
    s = sp + 1;
    size_t wl = (size_t)(end - s);
    if (wl >= sizeof(out->why))
        return false;
    for (size_t i = 0; i < wl; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false; /* it goes into our log: printable only */
    out->failure = (int)failure;
    out->failed_at = at;
    memcpy(out->why, s, wl);
    out->why[wl] = '\0';
    return true;
}

/* be_claim - who fetches policy id of domain (cache_backend.h, the script at the top) */
static int be_claim(struct cache_backend *b, const char *domain, const char *id, int64_t newer_than,
                    const char *owner, unsigned ttl_ms, struct cache_claim *out,
                    struct mxtls_diag *diag)
{
    struct cache_redis *c = (struct cache_redis *)(void *)b;
    char dom[DOMAIN_BUF_SIZE], kp[KEY_MAX], kf[KEY_MAX], kc[KEY_MAX];
    char nt[24], ttl[16], skipbuf[12];
    size_t idlen, olen;
    int rc, skip = 0; /* 1: leave out HAVE, 2: leave out FAILED (found invalid) */

    if (out == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no claim output");
    memset(out, 0, sizeof(*out));
    if ((rc = cache_domain_normalize(domain, dom, diag)) != 0)
        return rc;
    idlen = id != NULL ? strnlen(id, STS_RECORD_ID_MAX + 1) : 0;
    if (id == NULL || !cache_id_valid(id, idlen))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%s: id is not 1 to 32 letters and digits (RFC 8461 §3.1)", dom);
    olen = owner != NULL ? strnlen(owner, OWNER_MAX + 1) : 0;
    if (olen == 0 || olen > OWNER_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: claim owner empty or over %d octets", dom,
                              OWNER_MAX);
    if (ttl_ms == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: claim without a lifetime", dom);
    snprintf(nt, sizeof(nt), "%lld", (long long)newer_than);
    snprintf(ttl, sizeof(ttl), "%u", ttl_ms);
    /* at most three rounds: each invalid HAVE or FAILED is left out of the next */
    for (int round = 0; round < 3; round++) {
        redisReply *r;

        snprintf(skipbuf, sizeof(skipbuf), "%d", skip);
        const char *args[10] = {kp, kf, kc, dom, id, nt, owner, ttl, skipbuf, policy_cap};
        size_t lens[10] = {make_key(kp, KEY_POLICY, dom),
                           make_key(kf, KEY_FAILED, dom),
                           make_key(kc, KEY_CLAIM, dom),
                           strlen(dom),
                           idlen,
                           strlen(nt),
                           olen,
                           strlen(ttl),
                           strlen(skipbuf),
                           sizeof(policy_cap) - 1};
        if ((rc = script(c, S_CLAIM, 10, 3, args, lens, "claiming a fetch", &r, diag)) != 0)
            return rc;
        if (r->type == REDIS_REPLY_ERROR)
            return other_error(c, r, "claiming a fetch", diag);
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
            r->element[0]->type != REDIS_REPLY_INTEGER)
            return bad_reply(c, r, "claiming a fetch", diag);
        long long what = r->element[0]->integer;
        if ((what == CACHE_CLAIM_WON || what == CACHE_CLAIM_HELD) && r->elements == 1) {
            out->outcome = (enum cache_claim_outcome)what;
            freeReplyObject(r);
            return 0;
        }
        if (what == CACHE_CLAIM_HAVE && r->elements == 2 &&
            r->element[1]->type == REDIS_REPLY_ARRAY && r->element[1]->elements == F_N) {
            struct mxtls_diag d = {0};
            rc = load_fields(c, dom, r->element[1]->element, &out->e, NULL, &d);
            freeReplyObject(r);
            if (rc == 0) {
                out->outcome = CACHE_CLAIM_HAVE;
                return 0;
            }
            if (rc == MXTLS_ENOMEM)
                return mxtls_diag_set(diag, rc, 0, "%s", d.what);
            skip |= 1; /* invalid: as if there were none */
            continue;
        }
        if (what == CACHE_CLAIM_FAILED && r->elements == 2) {
            const redisReply *v = r->element[1];
            bool ok =
                v->type == REDIS_REPLY_STRING && cache_redis_parse_failed(v->str, v->len, id, out);
            freeReplyObject(r);
            if (ok) {
                out->outcome = CACHE_CLAIM_FAILED;
                return 0;
            }
            out->failure = 0;
            out->failed_at = 0;
            out->why[0] = '\0';
            skip |= 2; /* invalid: ignored */
            continue;
        }
        return bad_reply(c, r, "claiming a fetch", diag);
    }
    /* not reached: with both left out the script answers WON or HELD */
    return mxtls_diag_set(diag, MXTLS_EIO, 0, "redis %s: claiming a fetch of %s: no outcome",
                          c->server, dom);
}

/* be_mark_failed - SET the domain's failed key for hold_s seconds */
static int be_mark_failed(struct cache_backend *b, const char *domain, const char *id, int failure,
                          int64_t at, const char *why, unsigned hold_s, struct mxtls_diag *diag)
{
    struct cache_redis *c = (struct cache_redis *)(void *)b;
    char dom[DOMAIN_BUF_SIZE], key[KEY_MAX], val[FAILED_VALUE_MAX], ex[16];
    char w[CACHE_CLAIM_WHY_MAX];
    size_t idlen, wl = 0;
    redisReply *r;
    int rc, n;

    if ((rc = cache_domain_normalize(domain, dom, diag)) != 0)
        return rc;
    idlen = id != NULL ? strnlen(id, STS_RECORD_ID_MAX + 1) : 0;
    if (id == NULL || !cache_id_valid(id, idlen))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%s: id is not 1 to 32 letters and digits (RFC 8461 §3.1)", dom);
    if (failure < 0 || failure > FAILURE_MAX || at < 0 || at > CACHE_REDIS_TIME_MAX || hold_s == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: failure code, time or hold out of range",
                              dom);
    /* why: cut to what a claim hands back, printable only (the others log it) */
    for (const char *s = why != NULL ? why : ""; *s != '\0' && wl < sizeof(w) - 1; s++)
        w[wl++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    w[wl] = '\0';
    n = snprintf(val, sizeof(val), "%s %d %lld %s", id, failure, (long long)at, w);
    if (n < 0 || (size_t)n >= sizeof(val)) /* 32 + 4 + 16 + 255 + 3 fit */
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s: failure record too long", dom);
    snprintf(ex, sizeof(ex), "%u", hold_s);
    const char *argv[5] = {"SET", key, val, "EX", ex};
    size_t lens[5] = {3, make_key(key, KEY_FAILED, dom), (size_t)n, 2, strlen(ex)};
    if ((rc = command(c, 5, argv, lens, "recording a failed fetch", &r, diag)) != 0)
        return rc;
    if (r->type == REDIS_REPLY_ERROR)
        return other_error(c, r, "recording a failed fetch", diag);
    if (!is_status(r, "OK"))
        return bad_reply(c, r, "recording a failed fetch", diag);
    freeReplyObject(r);
    return 0;
}

/* ---- open and close ---- */

/* redis_free - drop the connection, forget the password, free c */
static void redis_free(struct cache_redis *c)
{
    if (c == NULL)
        return;
    drop(c);
    free(c->sentinels);
    explicit_bzero(c, sizeof(*c));
    free(c);
}

/* be_close - redis_free */
static void be_close(struct cache_backend *b)
{
    redis_free((struct cache_redis *)(void *)b);
}

/* ignore_sigpipe_once - hiredis writes with write(2): a closed socket must not kill us */
static void ignore_sigpipe_once(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

/* sha1_hex - the SHA1 of text in hex, as EVALSHA names a script */
static int sha1_hex(const char *text, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (EVP_Digest(text, strlen(text), md, &n, EVP_sha1(), NULL) != 1 || n != 20)
        return -1;
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* copy_cred - a configured username or password over the URL's */
static int copy_cred(char *dst, size_t size, const char *src, const char *what,
                     struct mxtls_diag *diag)
{
    size_t n = strnlen(src, size);
    if (n >= size)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "redis: the %s is over %zu octets", what,
                              size - 1);
    memcpy(dst, src, n + 1);
    return 0;
}

/* settings - fill c from the options (see cache_redis_backend in the header) */
static int settings(struct cache_redis *c, const struct cache_backend_options *o,
                    struct mxtls_diag *diag)
{
    const struct config_cache *cf = o->cf;
    const char *url = cf != NULL ? cf->url : o->path;
    int rc;

    if (url != NULL) {
        if ((rc = cache_redis_parse_url(url, strlen(url), &c->url, diag)) != 0)
            return rc;
    } else if (cf == NULL || cf->n_sentinels == 0) {
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: redis needs a URL or sentinels");
    } else {
        c->url.db = -1;
    }
    c->db = c->url.db > 0 ? c->url.db : 0;
    c->io_ms = c->connect_ms = o->busy_ms > 0 ? o->busy_ms : CACHE_REDIS_TIMEOUT_MS;
    if (cf == NULL)
        return 0;
    if (cf->username != NULL && (rc = copy_cred(c->url.username, sizeof(c->url.username),
                                                cf->username, "username", diag)) != 0)
        return rc;
    if (cf->password != NULL && (rc = copy_cred(c->url.password, sizeof(c->url.password),
                                                cf->password, "password", diag)) != 0)
        return rc;
    if (cf->db > CACHE_REDIS_DB_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "redis: db %d out of range", (int)cf->db);
    if (cf->db >= 0)
        c->db = (int)cf->db;
    c->io_ms = cf->socket_timeout_ms > 0 ? cf->socket_timeout_ms : CACHE_REDIS_TIMEOUT_MS;
    c->connect_ms =
        cf->socket_connect_timeout_ms > 0 ? cf->socket_connect_timeout_ms : CACHE_REDIS_TIMEOUT_MS;
    if (cf->n_sentinels == 0)
        return 0;
    if (cf->n_sentinels > CACHE_REDIS_SENTINELS_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "redis: more than %d sentinels",
                              CACHE_REDIS_SENTINELS_MAX);
    size_t ml = cf->sentinel_master_name != NULL
                    ? strnlen(cf->sentinel_master_name, MASTER_NAME_MAX + 1)
                    : 0;
    if (ml == 0 || ml > MASTER_NAME_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "redis: sentinels need sentinel_master_name (at most %d octets)",
                              MASTER_NAME_MAX);
    for (size_t i = 0; i < ml; i++)
        if ((unsigned char)cf->sentinel_master_name[i] <= 0x20 ||
            cf->sentinel_master_name[i] == 0x7f)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                  "redis: sentinel_master_name holds a space or a control "
                                  "character");
    memcpy(c->master_name, cf->sentinel_master_name, ml);
    c->master_name[ml] = '\0';
    c->sentinels = calloc(cf->n_sentinels, sizeof(*c->sentinels));
    if (c->sentinels == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "cache: out of memory");
    for (size_t i = 0; i < cf->n_sentinels; i++) {
        const char *s = cf->sentinels[i];
        if ((rc = cache_redis_parse_addr(s, s != NULL ? strnlen(s, 300) : 0, c->sentinels[i].host,
                                         &c->sentinels[i].port, diag)) != 0)
            return rc;
    }
    c->n_sentinels = cf->n_sentinels;
    return 0;
}

/* be_open - record the settings; the first call connects (cache_redis.h) */
static int be_open(const struct cache_backend_options *o, struct cache_backend **out,
                   struct mxtls_diag *diag)
{
    struct cache_redis *c;
    int rc;

    *out = NULL;
    if (o == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: redis needs options");
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "cache: out of memory");
    if ((rc = settings(c, o, diag)) != 0) {
        redis_free(c);
        return rc;
    }
    for (int i = 0; i < S_N; i++)
        if (sha1_hex(script_text[i], c->sha[i]) != 0) {
            redis_free(c);
            return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "redis: cannot hash the scripts");
        }
    if (c->n_sentinels > 0)
        snprintf(c->server, sizeof(c->server), "master %s", c->master_name);
    else
        set_server(c, c->url.host, c->url.port, c->url.unix_socket ? c->url.path : NULL);
    ignore_sigpipe_once();
    c->base.ops = &cache_redis_backend;
    *out = &c->base;
    return 0;
}

const struct cache_backend_ops cache_redis_backend = {
    .name = "redis",
    .flags = 0,
    .open = be_open,
    .close = be_close,
    .get = be_get,
    .put = be_put,
    .del = be_del,
    .walk = be_walk,
    .claim = be_claim,
    .mark_failed = be_mark_failed,
};
