/*
 * fuzz_config - libFuzzer target for config_load_buffer (io/config.h).
 *
 * Invariants checked (abort() on violation): the return is 0 or a known
 * error; a failure fills a NUL-terminated diag naming the file and leaves the
 * defaults; an accepted configuration is within every documented range and
 * cap, its zone names are unique and config_zone_for finds each; and it
 * re-emits as canonical YAML that loads to the same configuration.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define EMIT_MAX (64 * 1024)

struct out {
    char buf[EMIT_MAX];
    size_t len;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* put - append printf output; abort if the canonical form outgrows EMIT_MAX */
static void put(struct out *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(o->buf) - o->len)
        abort();
    o->len += (size_t)n;
}

/* put_q - a double-quoted YAML string; non-ASCII as \U escapes */
static void put_q(struct out *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    put(o, "\"");
    while (*p) {
        uint32_t cp = *p;
        int extra = 0;

        if (cp >= 0xf0)
            cp &= 0x07, extra = 3;
        else if (cp >= 0xe0)
            cp &= 0x0f, extra = 2;
        else if (cp >= 0xc0)
            cp &= 0x1f, extra = 1;
        for (p++; extra > 0 && (*p & 0xc0) == 0x80; extra--, p++)
            cp = (cp << 6) | (*p & 0x3f);
        if (extra != 0)
            abort(); /* libyaml hands over valid UTF-8 only */
        if (cp == '"' || cp == '\\')
            put(o, "\\%c", (char)cp);
        else if (cp >= 0x20 && cp < 0x7f)
            put(o, "%c", (char)cp);
        else
            put(o, "\\U%08x", (unsigned)cp);
    }
    put(o, "\"");
}

/* put_str - "key: <quoted s>" when s is set */
static void put_str(struct out *o, const char *key, const char *s)
{
    if (s == NULL)
        return;
    put(o, "%s: ", key);
    put_q(o, s);
    put(o, "\n");
}

static void put_ms(struct out *o, const char *key, uint64_t ms)
{
    put(o, "%s: %llu.%03llu\n", key, (unsigned long long)(ms / 1000),
        (unsigned long long)(ms % 1000));
}

static void put_zone(struct out *o, const struct config_zone *z)
{
    put(o, "  {strict_testing: %s, timeout: %u.%03u, require_sni: %s, tlsrpt: %s, dane: %s}\n",
        z->strict_testing ? "true" : "false", (unsigned)(z->timeout_ms / 1000),
        (unsigned)(z->timeout_ms % 1000), z->require_sni ? "true" : "false",
        z->tlsrpt ? "true" : "false", z->dane ? "true" : "false");
}

/* emit - the canonical YAML for cfg */
static void emit(struct out *o, const struct mxtls_config *c)
{
    size_t i;

    put_str(o, "host", c->host);
    put(o, "port: %u\n", (unsigned)c->port);
    put_str(o, "path", c->path);
    if (c->mode >= 0)
        put(o, "mode: 0%o\n", (unsigned)c->mode);
    put(o, "reuse_port: %s\n", c->reuse_port ? "true" : "false");
    put_ms(o, "shutdown_timeout", c->shutdown_timeout_ms);
    put_ms(o, "cache_grace", c->cache_grace_ms);
    put(o,
        "proactive_policy_fetching: {enabled: %s, interval: %u, concurrency_limit: %u, "
        "grace_ratio: %.3f}\n",
        c->proactive.enabled ? "true" : "false", (unsigned)c->proactive.interval_s,
        (unsigned)c->proactive.concurrency_limit, c->proactive.grace_ratio);
    put(o, "cache:\n  type: %s\n  options:\n",
        c->cache.type == CONFIG_CACHE_REDIS && c->cache.n_sentinels > 0
            ? "redis_sentinel"
            : config_cache_type_name(c->cache.type));
    switch (c->cache.type) {
    case CONFIG_CACHE_INTERNAL:
        put(o, "    cache_size: %u\n", (unsigned)c->cache.cache_size);
        break;
    case CONFIG_CACHE_SQLITE:
        put_str(o, "    filename", c->cache.filename);
        if (c->cache.threads)
            put(o, "    threads: %u\n", (unsigned)c->cache.threads);
        put_ms(o, "    timeout", c->cache.timeout_ms);
        break;
    case CONFIG_CACHE_REDIS:
        put_str(o, "    url", c->cache.url);
        put_str(o, "    username", c->cache.username);
        put_str(o, "    password", c->cache.password);
        if (c->cache.db >= 0)
            put(o, "    db: %d\n", (int)c->cache.db);
        if (c->cache.max_connections)
            put(o, "    max_connections: %u\n", (unsigned)c->cache.max_connections);
        put_ms(o, "    socket_timeout", c->cache.socket_timeout_ms);
        put_ms(o, "    socket_connect_timeout", c->cache.socket_connect_timeout_ms);
        put_str(o, "    sentinel_master_name", c->cache.sentinel_master_name);
        if (c->cache.n_sentinels > 0) {
            put(o, "    sentinels:\n");
            for (size_t k = 0; k < c->cache.n_sentinels; k++) {
                put(o, "      - ");
                put_q(o, c->cache.sentinels[k]);
                put(o, "\n");
            }
        }
        break;
    }
    put(o, "default_zone:\n");
    put_zone(o, &c->default_zone);
    put(o, "zones:\n");
    for (i = 0; i < c->nzones; i++) {
        put(o, " ");
        put_q(o, c->zones[i].name);
        put(o, ":\n");
        put_zone(o, &c->zones[i].opts);
    }
    put(o, "resolver:\n");
    put_str(o, "  unbound_config", c->unbound_config);
    put_str(o, "  trust_anchor_file", c->trust_anchor_file);
    put(o, "https:\n");
    put_str(o, "  ca_file", c->ca_file);
}

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static int zone_eq(const struct config_zone *a, const struct config_zone *b)
{
    return a->strict_testing == b->strict_testing && a->timeout_ms == b->timeout_ms &&
           a->require_sni == b->require_sni && a->tlsrpt == b->tlsrpt && a->dane == b->dane;
}

/* same - a and b are the same configuration (options of other cache types aside) */
static int same(const struct mxtls_config *a, const struct mxtls_config *b)
{
    size_t i;

    if (!str_eq(a->host, b->host) || a->port != b->port || !str_eq(a->path, b->path) ||
        a->mode != b->mode || a->reuse_port != b->reuse_port ||
        a->shutdown_timeout_ms != b->shutdown_timeout_ms ||
        a->cache_grace_ms != b->cache_grace_ms || a->proactive.enabled != b->proactive.enabled ||
        a->proactive.interval_s != b->proactive.interval_s ||
        a->proactive.concurrency_limit != b->proactive.concurrency_limit ||
        a->proactive.grace_ratio != b->proactive.grace_ratio || a->cache.type != b->cache.type ||
        !zone_eq(&a->default_zone, &b->default_zone) || a->nzones != b->nzones ||
        !str_eq(a->unbound_config, b->unbound_config) ||
        !str_eq(a->trust_anchor_file, b->trust_anchor_file) || !str_eq(a->ca_file, b->ca_file))
        return 0;
    switch (a->cache.type) {
    case CONFIG_CACHE_INTERNAL:
        if (a->cache.cache_size != b->cache.cache_size)
            return 0;
        break;
    case CONFIG_CACHE_SQLITE:
        if (!str_eq(a->cache.filename, b->cache.filename) || a->cache.threads != b->cache.threads ||
            a->cache.timeout_ms != b->cache.timeout_ms)
            return 0;
        break;
    case CONFIG_CACHE_REDIS:
        if (!str_eq(a->cache.url, b->cache.url) || !str_eq(a->cache.username, b->cache.username) ||
            !str_eq(a->cache.password, b->cache.password) || a->cache.db != b->cache.db ||
            a->cache.max_connections != b->cache.max_connections ||
            a->cache.socket_timeout_ms != b->cache.socket_timeout_ms ||
            a->cache.socket_connect_timeout_ms != b->cache.socket_connect_timeout_ms ||
            !str_eq(a->cache.sentinel_master_name, b->cache.sentinel_master_name) ||
            a->cache.n_sentinels != b->cache.n_sentinels)
            return 0;
        for (size_t k = 0; k < a->cache.n_sentinels; k++)
            if (!str_eq(a->cache.sentinels[k], b->cache.sentinels[k]))
                return 0;
        break;
    }
    for (i = 0; i < a->nzones; i++)
        if (!str_eq(a->zones[i].name, b->zones[i].name) ||
            !zone_eq(&a->zones[i].opts, &b->zones[i].opts))
            return 0;
    return 1;
}

/* check_ranges - every documented cap and range of an accepted config */
static void check_ranges(const struct mxtls_config *c)
{
    size_t i, j;

    if (c->host == NULL || strlen(c->host) > 253 || c->port == 0)
        abort();
    if (c->path && (strlen(c->path) == 0 || strlen(c->path) > CONFIG_SUN_PATH_MAX))
        abort();
    if (c->mode < -1 || c->mode > 0777 || c->shutdown_timeout_ms > 86400000 ||
        c->cache_grace_ms > 31557600000ULL)
        abort();
    if (c->proactive.interval_s == 0 || c->proactive.concurrency_limit == 0 ||
        !(c->proactive.grace_ratio > 1.0))
        abort();
    if (c->default_zone.timeout_ms == 0 || c->nzones > CONFIG_MAX_ZONES)
        abort();
    if (c->cache.type == CONFIG_CACHE_SQLITE && c->cache.filename == NULL)
        abort();
    if (c->cache.type == CONFIG_CACHE_REDIS && c->cache.url == NULL && c->cache.n_sentinels == 0)
        abort();
    if (c->cache.n_sentinels > 16 ||
        (c->cache.n_sentinels > 0 && c->cache.sentinel_master_name == NULL))
        abort();
    for (i = 0; i < c->nzones; i++) {
        size_t n = strlen(c->zones[i].name);

        if (n == 0 || n > CONFIG_ZONE_NAME_MAX || c->zones[i].opts.timeout_ms == 0)
            abort();
        if (config_zone_for(c, c->zones[i].name, n) != &c->zones[i].opts)
            abort();
        for (j = 0; j < i; j++)
            if (strcmp(c->zones[i].name, c->zones[j].name) == 0)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct out o;
    struct mxtls_config cfg, again;
    struct mxtls_diag diag;
    int rc;

    memset(&diag, 0, sizeof(diag));
    rc = config_load_buffer((const char *)data, size, "fuzz", &cfg, &diag);
    if (rc == MXTLS_ENOMEM)
        return 0;
    if (rc != 0) {
        if ((rc != MXTLS_EINVAL && rc != MXTLS_ETOOLONG) ||
            memchr(diag.what, '\0', sizeof(diag.what)) == NULL ||
            strncmp(diag.what, "fuzz:", 5) != 0 || cfg.port != 8461 || cfg.nzones != 0)
            abort();
        config_finish(&cfg);
        return 0;
    }
    check_ranges(&cfg);
    o.len = 0;
    emit(&o, &cfg);
    memset(&diag, 0, sizeof(diag));
    if (config_load_buffer(o.buf, o.len, "canonical", &again, &diag) != 0) {
        fprintf(stderr, "canonical form refused: %s\n%.*s", diag.what, (int)o.len, o.buf);
        abort();
    }
    if (!same(&cfg, &again)) {
        fprintf(stderr, "canonical form differs:\n%.*s", (int)o.len, o.buf);
        abort();
    }
    config_finish(&again);
    config_finish(&cfg);
    return 0;
}
