/*
 * fuzz_redis - the parsers of the Redis cache backend (io/cache_redis.h) on
 * hostile bytes. The first octet picks one (its value mod 4), the rest is
 * its input:
 *
 *   0  cache_redis_parse_url: the bytes as a URL, and again behind
 *      "redis://u:<secret>@" and "unix://u:<secret>@"
 *   1  cache_redis_parse_addr: the bytes as a sentinel address
 *   2  cache_redis_check_record: a flags octet F, a second flags octet G,
 *      then dom, v, domain, id, fetched_at, checked_at, failed_at and
 *      policy separated by 0x1e (the policy is the rest, 0x1e and all).
 *      F & 0x80: field i (bit i of F) is absent (nil); G & 1: keep the
 *      parsed policy; G & 2: pad the policy with LF to STS_POLICY_BODY_MAX
 *      octets, G & 4 one more (the cap from both sides)
 *   3  cache_redis_parse_failed: id, 0x1e, the failed key's value
 *
 * Invariants (abort() on violation):
 * - URL: accepted only with a redis:// or unix:// scheme and no NUL; every
 *   string NUL-terminated within its cap; redis://: a host of 1-255 name or
 *   address octets, port 1-65535; unix://: a path beginning "/"; db -1 to
 *   65535; the canonical URL built from the result parses to the same
 *   result. Refused: the password is "" and the reason never holds it.
 * - address: accepted as host:port or [v6]:port with a valid host and a
 *   port 1-65535; re-formatted it parses the same, and "redis://" + it
 *   gives the URL parser the same host and port.
 * - record: accepted exactly when a reference check written here from the
 *   key layout accepts (v "1", domain = dom, id 1*32 alnum, three
 *   timestamps of 1-16 digits up to 2^53 - 1, a policy of at most
 *   STS_POLICY_BODY_MAX octets without NUL that sts_policy_parse accepts);
 *   the entry then holds those values and a canonical policy (formatting
 *   it again is a fixed point); refused: the entry is empty and diag says
 *   why.
 * - failed value: accepted exactly when a reference parser accepts, with
 *   the same failure, time and why (NUL-free, printable, under 256
 *   octets); the rest of the claim is never written, nothing at all on
 *   refusal; the accepted values formatted as mark_failed does parse back.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache_redis.h"
#include "mxtls/domain.h"
#include "mxtls/sts_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#define SEP    0x1e
#define SECRET "S3cr3tPw"

/* ---- helpers ---- */

/* terminated - buf (size octets) holds a NUL */
static bool terminated(const char *buf, size_t size)
{
    return memchr(buf, '\0', size) != NULL;
}

/* alnum - an ASCII letter or digit */
static bool alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ref_id - RFC 8461 §3.1 sts-id, written again */
static bool ref_id(const char *s, size_t len)
{
    if (len < 1 || len > 32)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!alnum((unsigned char)s[i]))
            return false;
    return true;
}

/* ref_dec - 1 to 16 decimal digits, at most max */
static bool ref_dec(const char *s, size_t len, long long max, long long *v)
{
    long long n = 0;

    if (len < 1 || len > 16)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        n = n * 10 + (s[i] - '0');
    }
    *v = n;
    return n <= max;
}

/* host_ok - what a parsed host may hold: a name or address, ':' only for v6 */
static bool host_ok(const char *h)
{
    size_t n = strlen(h);

    if (n < 1 || n > CACHE_REDIS_HOST_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!(alnum(c) || c == '.' || c == '-' || c == '_' || c == ':'))
            return false;
    }
    return true;
}

/* pct - append s percent-encoded (unreserved octets and, when slash, '/' as they are) */
static size_t pct(char *out, size_t n, const char *s, bool slash)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (slash && c == '/')) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    return n;
}

/* ---- 0: URLs ---- */

/* url_equal - two parse results are the same */
static bool url_equal(const struct cache_redis_url *a, const struct cache_redis_url *b)
{
    return a->unix_socket == b->unix_socket && strcmp(a->host, b->host) == 0 &&
           a->port == b->port && strcmp(a->path, b->path) == 0 &&
           strcmp(a->username, b->username) == 0 && strcmp(a->password, b->password) == 0 &&
           a->db == b->db;
}

/* check_url_result - what an outcome of cache_redis_parse_url must look like */
static void check_url_result(const char *buf, size_t size, int rc, const struct cache_redis_url *u,
                             const struct mxtls_diag *d)
{
    CHECK(terminated(u->host, sizeof(u->host)) && terminated(u->path, sizeof(u->path)));
    CHECK(terminated(u->username, sizeof(u->username)));
    CHECK(terminated(u->password, sizeof(u->password)));
    if (rc != 0) {
        CHECK(rc == MXTLS_EINVAL || rc == MXTLS_ETOOLONG);
        CHECK(d->code == rc && d->what[0] != '\0' && terminated(d->what, sizeof(d->what)));
        CHECK(u->password[0] == '\0'); /* a refused URL's password is not kept */
        return;
    }
    CHECK(size >= 7 && memchr(buf, '\0', size) == NULL && size <= CACHE_REDIS_URL_MAX);
    CHECK(u->db >= -1 && u->db <= CACHE_REDIS_DB_MAX);
    if (u->unix_socket) {
        CHECK(strncasecmp(buf, "unix://", 7) == 0);
        CHECK(u->path[0] == '/' && strlen(u->path) <= CACHE_REDIS_PATH_MAX);
        CHECK(u->host[0] == '\0');
    } else {
        CHECK(size >= 8 && strncasecmp(buf, "redis://", 8) == 0);
        CHECK(host_ok(u->host) && u->port >= 1);
        CHECK(u->path[0] == '\0');
        /* a ':' in the host only from an [IPv6] literal */
        CHECK(strchr(u->host, ':') == NULL || memchr(buf, '[', size) != NULL);
    }
}

/* check_url_canonical - the URL written back from u parses to u */
static void check_url_canonical(const struct cache_redis_url *u)
{
    static char text[4 * CACHE_REDIS_URL_MAX];
    struct cache_redis_url again;
    size_t n;
    int rc;

    n = (size_t)sprintf(text, "%s://", u->unix_socket ? "unix" : "redis");
    if (u->username[0] != '\0' || u->password[0] != '\0') {
        n = pct(text, n, u->username, false);
        if (u->password[0] != '\0') {
            text[n++] = ':';
            n = pct(text, n, u->password, false);
        }
        text[n++] = '@';
    }
    if (u->unix_socket) {
        n = pct(text, n, u->path, true);
        if (u->db >= 0)
            n += (size_t)sprintf(text + n, "?db=%d", u->db);
    } else {
        n += (size_t)sprintf(text + n, strchr(u->host, ':') ? "[%s]:%u" : "%s:%u", u->host,
                             (unsigned)u->port);
        if (u->db >= 0)
            n += (size_t)sprintf(text + n, "/%d", u->db);
    }
    if (n > CACHE_REDIS_URL_MAX)
        return; /* long credentials grow three-fold when encoded */
    rc = cache_redis_parse_url(text, n, &again, NULL);
    CHECK(rc == 0 && url_equal(u, &again));
}

/* fuzz_url - the bytes as a URL, and behind credentials holding SECRET */
static void fuzz_url(const char *buf, size_t size)
{
    static const char *const heads[] = {"redis://u:" SECRET "@", "unix://u:" SECRET "@"};
    struct cache_redis_url u;
    struct mxtls_diag d = {0};
    char *text;
    int rc;

    rc = cache_redis_parse_url(buf, size, &u, &d);
    check_url_result(buf, size, rc, &u, &d);
    if (rc == 0)
        check_url_canonical(&u);

    text = malloc(size + 32);
    CHECK(text != NULL);
    for (size_t i = 0; i < 2; i++) {
        size_t hl = strlen(heads[i]);
        memcpy(text, heads[i], hl);
        memcpy(text + hl, buf, size);
        memset(&d, 0, sizeof(d));
        rc = cache_redis_parse_url(text, hl + size, &u, &d);
        check_url_result(text, hl + size, rc, &u, &d);
        /* the reason never quotes the password */
        CHECK(strstr(d.what, SECRET) == NULL);
        if (rc == 0) {
            /* the userinfo's password wins over a query's; a later '@'
             * before the path only lengthens it */
            CHECK(strncmp(u.password, SECRET, strlen(SECRET)) == 0);
            check_url_canonical(&u);
        }
    }
    free(text);
}

/* ---- 1: sentinel addresses ---- */

/* fuzz_addr - the bytes as a sentinel address */
static void fuzz_addr(const char *buf, size_t size)
{
    char *host = malloc(CACHE_REDIS_HOST_MAX + 1); /* exact size: ASan sees an overrun */
    char text[CACHE_REDIS_HOST_MAX + 16];
    struct mxtls_diag d = {0};
    struct cache_redis_url u;
    uint16_t port = 0, port2 = 0;
    int rc, n;

    CHECK(host != NULL);
    rc = cache_redis_parse_addr(buf, size, host, &port, &d);
    if (rc != 0) {
        CHECK(rc == MXTLS_EINVAL || rc == MXTLS_ETOOLONG);
        CHECK(d.code == rc && d.what[0] != '\0' && terminated(d.what, sizeof(d.what)));
        free(host);
        return;
    }
    CHECK(terminated(host, CACHE_REDIS_HOST_MAX + 1) && host_ok(host) && port >= 1);
    CHECK(memchr(buf, ':', size) != NULL);
    /* written back, it parses the same */
    n = snprintf(text, sizeof(text), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
    CHECK(n > 0 && (size_t)n < sizeof(text));
    char *host2 = malloc(CACHE_REDIS_HOST_MAX + 1);
    CHECK(host2 != NULL);
    CHECK(cache_redis_parse_addr(text, (size_t)n, host2, &port2, NULL) == 0);
    CHECK(strcmp(host, host2) == 0 && port == port2);
    /* the URL parser reads the same authority the same way */
    char *url = malloc(size + 8);
    CHECK(url != NULL);
    memcpy(url, "redis://", 8);
    memcpy(url + 8, buf, size);
    CHECK(cache_redis_parse_url(url, size + 8, &u, NULL) == 0);
    CHECK(!u.unix_socket && strcmp(u.host, host) == 0 && u.port == port && u.db == -1);
    free(url);
    free(host2);
    free(host);
}

/* ---- 2: policy records ---- */

/* ref_record - the key layout's rule for a record of dom, written again */
static bool ref_record(const char *dom, const struct cache_redis_str *f, long long t[3])
{
    struct sts_policy p;
    const struct cache_redis_str *pr = &f[CACHE_REDIS_F_POLICY];

    if (f[CACHE_REDIS_F_V].str == NULL || f[CACHE_REDIS_F_V].len != 1 ||
        f[CACHE_REDIS_F_V].str[0] != '1')
        return false;
    if (f[CACHE_REDIS_F_DOMAIN].str == NULL || f[CACHE_REDIS_F_DOMAIN].len != strlen(dom) ||
        memcmp(f[CACHE_REDIS_F_DOMAIN].str, dom, strlen(dom)) != 0)
        return false;
    if (f[CACHE_REDIS_F_ID].str == NULL ||
        !ref_id(f[CACHE_REDIS_F_ID].str, f[CACHE_REDIS_F_ID].len))
        return false;
    for (int i = 0; i < 3; i++) {
        const struct cache_redis_str *ts = &f[CACHE_REDIS_F_FETCHED + i];
        if (ts->str == NULL || !ref_dec(ts->str, ts->len, 9007199254740991LL, &t[i]))
            return false;
    }
    if (pr->str == NULL || pr->len > STS_POLICY_BODY_MAX || memchr(pr->str, '\0', pr->len))
        return false;
    if (sts_policy_parse(pr->str, pr->len, &p, NULL) != 0)
        return false;
    sts_policy_finish(&p);
    return true;
}

/* check_canonical - text (len octets) parses, and formats back to itself */
static void check_canonical(const char *text, size_t len, const struct sts_policy *kept)
{
    struct sts_policy p;
    char *again;

    CHECK(sts_policy_parse(text, len, &p, NULL) == 0);
    again = sts_policy_format(&p);
    CHECK(again != NULL && strlen(again) == len && memcmp(again, text, len) == 0);
    free(again);
    sts_policy_finish(&p);
    if (kept != NULL) {
        again = sts_policy_format(kept);
        CHECK(again != NULL && strlen(again) == len && memcmp(again, text, len) == 0);
        free(again);
    }
}

/* fuzz_record - a record's fields as cache_redis_check_record gets them */
static void fuzz_record(const char *buf, size_t size)
{
    struct cache_redis_str f[CACHE_REDIS_F_N];
    const char *seg[CACHE_REDIS_F_N + 1];
    size_t seglen[CACHE_REDIS_F_N + 1], pos = 2, k;
    char dom[DOMAIN_BUF_SIZE], *padded = NULL;
    struct cache_entry e;
    struct sts_policy kept;
    struct mxtls_diag d = {0};
    long long t[3] = {0, 0, 0};
    unsigned char fl, gl;
    int rc;

    if (size < 2)
        return;
    fl = (unsigned char)buf[0];
    gl = (unsigned char)buf[1];
    /* dom and the first six fields end at 0x1e; the policy is the rest */
    for (k = 0; k < CACHE_REDIS_F_N; k++) {
        const char *sep = memchr(buf + pos, SEP, size - pos);
        if (sep == NULL)
            return;
        seg[k] = buf + pos;
        seglen[k] = (size_t)(sep - (buf + pos));
        pos += seglen[k] + 1;
    }
    seg[k] = buf + pos;
    seglen[k] = size - pos;
    if (domain_normalize(seg[0], seglen[0], dom, sizeof(dom), NULL) != 0)
        strcpy(dom, "example.com"); /* get and walk pass normalised names only */
    for (k = 0; k < CACHE_REDIS_F_N; k++) {
        f[k].str = (fl & 0x80) && (fl & (1u << k)) ? NULL : seg[k + 1];
        f[k].len = f[k].str != NULL ? seglen[k + 1] : 0;
    }
    if ((gl & 6) && f[CACHE_REDIS_F_POLICY].str != NULL &&
        f[CACHE_REDIS_F_POLICY].len <= STS_POLICY_BODY_MAX) {
        size_t want = STS_POLICY_BODY_MAX + ((gl & 4) ? 1 : 0);
        padded = malloc(want);
        CHECK(padded != NULL);
        memcpy(padded, f[CACHE_REDIS_F_POLICY].str, f[CACHE_REDIS_F_POLICY].len);
        memset(padded + f[CACHE_REDIS_F_POLICY].len, '\n', want - f[CACHE_REDIS_F_POLICY].len);
        f[CACHE_REDIS_F_POLICY].str = padded;
        f[CACHE_REDIS_F_POLICY].len = want;
    }

    bool ok = ref_record(dom, f, t);
    memset(&e, 0xa5, sizeof(e));
    rc = cache_redis_check_record("fuzz", dom, f, &e, (gl & 1) ? &kept : NULL, &d);
    CHECK((rc == 0) == ok);
    if (rc != 0) {
        CHECK(rc == MXTLS_EINVAL);
        CHECK(d.code == rc && d.what[0] != '\0' && terminated(d.what, sizeof(d.what)));
        CHECK(e.policy_text == NULL && e.policy_len == 0 && e.id[0] == '\0' &&
              e.domain[0] == '\0' && e.policy == NULL);
        free(padded);
        return;
    }
    CHECK(terminated(e.domain, sizeof(e.domain)) && strcmp(e.domain, dom) == 0);
    CHECK(terminated(e.id, sizeof(e.id)) && ref_id(e.id, strlen(e.id)));
    CHECK(strlen(e.id) == f[CACHE_REDIS_F_ID].len &&
          memcmp(e.id, f[CACHE_REDIS_F_ID].str, f[CACHE_REDIS_F_ID].len) == 0);
    CHECK(e.fetched_at == t[0] && e.checked_at == t[1] && e.failed_at == t[2]);
    CHECK(e.fetched_at >= 0 && e.fetched_at <= CACHE_REDIS_TIME_MAX);
    CHECK(e.policy == NULL && e.policy_text != NULL);
    CHECK(strlen(e.policy_text) == e.policy_len);
    check_canonical(e.policy_text, e.policy_len, (gl & 1) ? &kept : NULL);
    if (gl & 1)
        sts_policy_finish(&kept);
    cache_entry_finish(&e);
    CHECK(e.policy_text == NULL);
    free(padded);
}

/* ---- 3: failed values ---- */

/* ref_failed - the failed key's value, written again */
static bool ref_failed(const char *v, size_t len, const char *id, int *failure, long long *at,
                       char *why)
{
    size_t il = strlen(id), i, j;
    long long n;

    if (len > CACHE_REDIS_FAILED_MAX || len <= il || memcmp(v, id, il) != 0 || v[il] != ' ')
        return false;
    i = il + 1;
    for (j = i; j < len && v[j] != ' '; j++)
        ;
    if (j == len || !ref_dec(v + i, j - i, CACHE_REDIS_FAILURE_MAX, &n))
        return false;
    *failure = (int)n;
    i = j + 1;
    for (j = i; j < len && v[j] != ' '; j++)
        ;
    if (j == len || !ref_dec(v + i, j - i, CACHE_REDIS_TIME_MAX, at))
        return false;
    i = j + 1;
    if (len - i > CACHE_CLAIM_WHY_MAX - 1)
        return false;
    for (j = i; j < len; j++)
        if ((unsigned char)v[j] < 0x20 || v[j] == 0x7f)
            return false;
    memcpy(why, v + i, len - i);
    why[len - i] = '\0';
    return true;
}

/* fuzz_failed - id, then the value claim's script hands back */
static void fuzz_failed(const char *buf, size_t size)
{
    const char *sep = memchr(buf, SEP, size);
    char id[STS_RECORD_ID_MAX + 1] = "abc123", why[CACHE_CLAIM_WHY_MAX];
    struct cache_claim c, blank, again;
    const char *v = buf;
    size_t vlen = size;
    int failure = 0;
    long long at = 0;

    if (sep != NULL) {
        size_t il = (size_t)(sep - buf);
        if (ref_id(buf, il)) { /* claim passes valid ids only */
            memcpy(id, buf, il);
            id[il] = '\0';
        }
        v = sep + 1;
        vlen = size - il - 1;
    }
    char *copy = malloc(vlen + 1); /* exact size: ASan sees an overread */
    CHECK(copy != NULL);
    memcpy(copy, v, vlen);
    memset(&c, 0x5a, sizeof(c));
    blank = c;
    bool ok = ref_failed(copy, vlen, id, &failure, &at, why);
    CHECK(cache_redis_parse_failed(copy, vlen, id, &c) == ok);
    free(copy);
    if (!ok) {
        CHECK(memcmp(&c, &blank, sizeof(c)) == 0);
        return;
    }
    CHECK(c.failure == failure && c.failed_at == at);
    CHECK(terminated(c.why, sizeof(c.why)) && strcmp(c.why, why) == 0);
    for (const char *s = c.why; *s != '\0'; s++)
        CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
    CHECK(c.outcome == blank.outcome && memcmp(&c.e, &blank.e, sizeof(c.e)) == 0);
    /* as mark_failed writes it, it reads back */
    char text[CACHE_REDIS_FAILED_MAX + 1];
    int n =
        snprintf(text, sizeof(text), "%s %d %lld %s", id, c.failure, (long long)c.failed_at, c.why);
    CHECK(n > 0 && (size_t)n < sizeof(text));
    memset(&again, 0, sizeof(again));
    CHECK(cache_redis_parse_failed(text, (size_t)n, id, &again));
    CHECK(again.failure == c.failure && again.failed_at == c.failed_at &&
          strcmp(again.why, c.why) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data + 1;

    if (size < 1)
        return 0;
    switch (data[0] % 4) {
    case 0:
        fuzz_url(buf, size - 1);
        break;
    case 1:
        fuzz_addr(buf, size - 1);
        break;
    case 2:
        fuzz_record(buf, size - 1);
        break;
    default:
        fuzz_failed(buf, size - 1);
        break;
    }
    return 0;
}
