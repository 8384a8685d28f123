/*
 * config - the mxtlsd configuration loader (libyaml).
 * See io/config.h for the contract.
 *
 * Two passes over the text: the first walks libyaml's event stream to enforce
 * the structural caps (depth, node count, a single document) and to refuse
 * aliases and explicit tags with an exact line; the second loads the document
 * tree and walks it against per-mapping key tables, so every key is looked up
 * by name, typed and range-checked in one place.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "config.h"

#define KEY_PATH_MAX 128 /* "zones.<64 octets>.require_sni" fits */
#define REASON_MAX   256

/* Upstream defaults (postfix_mta_sts_resolver/defaults.py), in mxtls units. */
#define DEF_HOST            "127.0.0.1"
#define DEF_PORT            8461
#define DEF_SHUTDOWN_MS     20000
#define DEF_CACHE_GRACE_MS  60000
#define DEF_ZONE_TIMEOUT_MS 4000
#define DEF_CACHE_SIZE      10000
#define DEF_SQLITE_TIMEOUT  5000
#define DEF_REDIS_TIMEOUT   5000
#define DEF_PF_INTERVAL     86400
#define DEF_PF_CONCURRENCY  100
#define DEF_PF_GRACE_RATIO  2.0
#define DEF_SQLITE_FILENAME MXTLS_STATEDIR "/cache.db"
#define MAX_AGE_LIMIT_S     31557600 /* RFC 8461 §3.2: max_age is at most a year */
#define DEF_MAX_CONNECTIONS 1000
#define DEF_REQUEST_MS      10000
#define DEF_OUTPUT_HIGH     65536
#define DEF_STS_DNS_TEMP_S  600
#define DEF_STORE_QUEUE_MAX 100000
#define DEF_STORE_LAG_MS    5000
#define DEF_UB_RANGE        1024
#define DEF_UB_TCP          10
#define DEF_UB_QUERIES      1024
#define DEF_UB_MSG_CACHE    (4u << 20)
#define DEF_UB_RRSET_CACHE  (8u << 20)
#define DEF_UB_KEY_CACHE    (2u << 20)
#define DEF_UB_NEG_CACHE    (1u << 20)
#define DEF_UB_INFRA_HOSTS  10000

struct ctx {
    yaml_document_t *doc;
    const char *name;
    struct mxtls_diag *diag;
    struct mxtls_config *cfg;
};

enum kind {
    K_BOOL,    /* bool */
    K_U32,     /* uint32_t, plain decimal in [min, max] */
    K_I32,     /* int32_t, plain decimal in [min, max] */
    K_PORT,    /* uint16_t in [1, 65535] */
    K_MS32,    /* uint32_t milliseconds from decimal seconds in [min, max] ms */
    K_MS64,    /* uint64_t milliseconds, likewise */
    K_RATIO,   /* double, decimal > min/1000 and <= max/1000 */
    K_MODE,    /* int file mode, octal with a leading zero */
    K_STR,     /* char *, printable, 1..max octets */
    K_SUB,     /* a nested mapping handled by sub() */
    K_SKIP,    /* an upstream key mxtls recognises but does not use */
    K_ZONEKEY, /* a zone key misplaced at the top level */
};

struct key_spec {
    const char *name;
    enum kind kind;
    size_t off;         /* into the base the table applies to */
    uint64_t min, max;  /* bounds; K_STR: max is the length cap */
    unsigned cache_set; /* cache options: bit (1 << type) of the types using it */
    int (*sub)(struct ctx *c, yaml_node_t *node, const char *path);
};

/* fail - fill diag with "name:line: path: reason" for node and return code */
static int fail(struct ctx *c, const yaml_node_t *node, int code, const char *path, const char *fmt,
                ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static int fail(struct ctx *c, const yaml_node_t *node, int code, const char *path, const char *fmt,
                ...)
{
    char reason[REASON_MAX];
    va_list ap;
    size_t line = node ? node->start_mark.line + 1 : 1;
    size_t off = node ? node->start_mark.index : 0;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (path && path[0])
        return mxtls_diag_set(c->diag, code, off, "%s:%zu: %s: %s", c->name, line, path, reason);
    return mxtls_diag_set(c->diag, code, off, "%s:%zu: %s", c->name, line, reason);
}

/* join - write "prefix.key" (or "key" with an empty prefix) into out, truncated */
static void join(char *out, size_t outsize, const char *prefix, const char *key, size_t keylen)
{
    size_t plen = strlen(prefix), pos = 0;

    if (plen > 0 && plen + 1 < outsize) {
        memcpy(out, prefix, plen);
        out[plen] = '.';
        pos = plen + 1;
    }
    if (keylen > outsize - 1 - pos)
        keylen = outsize - 1 - pos;
    memcpy(out + pos, key, keylen);
    out[pos + keylen] = '\0';
}

/* sval, slen - the text and length of a scalar node */
static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static size_t slen(const yaml_node_t *n)
{
    return n->data.scalar.length;
}

/* is_plain - a plain (unquoted) scalar: only these are YAML 1.1 bool/int/null */
static int is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* eq - (s, len) equals the C string lit */
static int eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* is_null - YAML 1.1 null: an empty value, ~, null, Null or NULL (plain) */
static int is_null(const yaml_node_t *n)
{
    const char *s;
    size_t len;

    if (!is_plain(n))
        return 0;
    s = sval(n);
    len = slen(n);
    return len == 0 || eq(s, len, "~") || eq(s, len, "null") || eq(s, len, "Null") ||
           eq(s, len, "NULL");
}

/* describe - a short name of what a node is, for "expected X, got Y" */
static const char *describe(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return is_plain(n) ? "a plain scalar" : "a quoted string";
    default:
        return "nothing";
    }
}

/*
 * parse_bool - what PyYAML's YAML 1.1 resolver reads as a boolean: exactly
 * these spellings. A quoted "false" is a string in YAML (and a true value in
 * Python), so it is refused rather than guessed.
 */
static int parse_bool(const yaml_node_t *n, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                     "NO",    "off",   "Off",   "OFF"};
    size_t i;

    if (!is_plain(n))
        return -1;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (eq(sval(n), slen(n), yes[i])) {
            *out = true;
            return 0;
        }
        if (eq(sval(n), slen(n), no[i])) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/*
 * parse_decimal - plain "0" or "[1-9][0-9]*", optionally followed by "." and
 * 1..maxfrac digits; the value times 10^maxfrac goes to out. No sign, no
 * exponent, no underscores, no leading zeros: one spelling per number.
 * Returns 0, -1 (syntax) or -2 (too large).
 */
static int parse_decimal(const char *s, size_t len, unsigned maxfrac, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0, ndig = 0;
    unsigned frac = 0;

    if (len == 0 || (len > 1 && s[0] == '0' && s[1] != '.'))
        return -1;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, ndig++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -2;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (ndig == 0)
        return -1;
    if (i < len) {
        if (s[i] != '.' || maxfrac == 0 || i + 1 == len)
            return -1;
        for (i++; i < len; i++, frac++) {
            if (s[i] < '0' || s[i] > '9' || frac == maxfrac)
                return -1;
            if (v > (UINT64_MAX - 9) / 10)
                return -2;
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
    }
    for (; frac < maxfrac; frac++) {
        if (v > UINT64_MAX / 10)
            return -2;
        v *= 10;
    }
    *out = v;
    return 0;
}

/*
 * parse_mode - a unix socket file mode. mta-sts-daemon.yml(5): "If file mode
 * specified in octal form (most common case), it has to be prepended with
 * leading zero. Example: 0666" - PyYAML reads 0666 as the YAML 1.1 octal 438.
 * Also taken: 0o666 (YAML 1.2 octal) and plain decimal (438), which is what
 * PyYAML hands upstream. Anything above 0777 is refused: "mode: 666" is the
 * decimal 666 = 01232, a sticky, mostly unwritable socket, never what was meant.
 */
static int parse_mode(struct ctx *c, const yaml_node_t *n, const char *path, int *out)
{
    const char *s;
    size_t len, i = 0;
    uint64_t v = 0;

    if (!is_plain(n))
        return fail(c, n, MXTLS_EINVAL, path, "expected an octal file mode such as 0660, got %s",
                    describe(n));
    s = sval(n);
    len = slen(n);
    if (len >= 2 && s[0] == '0' && (s[1] == 'o' || (s[1] >= '0' && s[1] <= '9')))
        i = s[1] == 'o' ? 2 : 1;
    if (i > 0) {
        if (i == len || len - i > 6)
            return fail(c, n, MXTLS_EINVAL, path, "\"%.*s\" is not an octal file mode", (int)len,
                        s);
        for (; i < len; i++) {
            if (s[i] < '0' || s[i] > '7')
                return fail(c, n, MXTLS_EINVAL, path, "\"%.*s\" is not an octal file mode",
                            (int)len, s);
            v = v * 8 + (uint64_t)(s[i] - '0');
        }
    } else if (parse_decimal(s, len, 0, &v) != 0) {
        return fail(c, n, MXTLS_EINVAL, path, "\"%.*s\" is not an octal file mode such as 0660",
                    (int)(len > 32 ? 32 : len), s);
    }
    if (v > 0777) {
        if (i == 0)
            return fail(c, n, MXTLS_EINVAL, path,
                        "%.*s is read as decimal (0%llo): write the mode in octal with a "
                        "leading zero, e.g. 0%.*s",
                        (int)len, s, (unsigned long long)v, (int)len, s);
        return fail(c, n, MXTLS_EINVAL, path, "mode 0%llo is above 0777", (unsigned long long)v);
    }
    *out = (int)v;
    return 0;
}

/*
 * check_str - a string value: a scalar (plain or quoted) of 1..max octets,
 * printable ASCII or UTF-8 only. A NUL (possible with "\0" in a quoted
 * string) or a control character would cut or corrupt a path.
 */
static int check_str(struct ctx *c, const yaml_node_t *n, const char *path, size_t max)
{
    size_t i;

    if (n->type != YAML_SCALAR_NODE)
        return fail(c, n, MXTLS_EINVAL, path, "expected a string, got %s", describe(n));
    if (slen(n) == 0)
        return fail(c, n, MXTLS_EINVAL, path, "empty string");
    if (slen(n) > max)
        return fail(c, n, MXTLS_ETOOLONG, path, "longer than %zu octets", max);
    for (i = 0; i < slen(n); i++) {
        unsigned char ch = (unsigned char)sval(n)[i];

        if (ch < 0x20 || ch == 0x7f)
            return fail(c, n, MXTLS_EINVAL, path, "control character 0x%02x at octet %zu", ch, i);
    }
    return 0;
}

/* set_str - replace *dst with a copy of the scalar n */
static int set_str(struct ctx *c, const yaml_node_t *n, const char *path, char **dst)
{
    char *s = strndup(sval(n), slen(n));

    if (s == NULL)
        return fail(c, n, MXTLS_ENOMEM, path, "out of memory");
    free(*dst);
    *dst = s;
    return 0;
}

/* apply_scalar - type-check, range-check and store one value of kind k->kind */
static int apply_scalar(struct ctx *c, const struct key_spec *k, yaml_node_t *n, const char *path,
                        void *base)
{
    char *field = (char *)base + k->off;
    uint64_t v;
    unsigned frac;
    int rc;

    switch (k->kind) {
    case K_BOOL:
        if (parse_bool(n, (bool *)(void *)field) != 0)
            return fail(c, n, MXTLS_EINVAL, path,
                        "expected true or false (also yes/no, on/off), got %s%s%.*s%s", describe(n),
                        n->type == YAML_SCALAR_NODE ? " \"" : "",
                        n->type == YAML_SCALAR_NODE ? (int)(slen(n) > 32 ? 32 : slen(n)) : 0,
                        n->type == YAML_SCALAR_NODE ? sval(n) : "",
                        n->type == YAML_SCALAR_NODE ? "\"" : "");
        return 0;
    case K_MODE:
        return parse_mode(c, n, path, (int *)(void *)field);
    case K_STR:
        if ((rc = check_str(c, n, path, (size_t)k->max)) != 0)
            return rc;
        return set_str(c, n, path, (char **)(void *)field);
    default:
        break;
    }
    /* Numbers: plain scalars only; a quoted "8461" is a string in YAML. */
    frac = k->kind == K_MS32 || k->kind == K_MS64 ? 3 : k->kind == K_RATIO ? 3 : 0;
    if (!is_plain(n))
        return fail(c, n, MXTLS_EINVAL, path, "expected a number, got %s", describe(n));
    rc = parse_decimal(sval(n), slen(n), frac, &v);
    if (rc == -1)
        return fail(c, n, MXTLS_EINVAL, path, "\"%.*s\" is not a %s",
                    (int)(slen(n) > 32 ? 32 : slen(n)), sval(n),
                    frac ? "decimal number of seconds (e.g. 4 or 1.5)" : "decimal integer");
    if (rc == -2 || v < k->min || v > k->max) {
        if (frac)
            return fail(c, n, MXTLS_EINVAL, path, "%.*s is out of range [%llu.%03llu, %llu.%03llu]",
                        (int)(slen(n) > 32 ? 32 : slen(n)), sval(n),
                        (unsigned long long)(k->min / 1000), (unsigned long long)(k->min % 1000),
                        (unsigned long long)(k->max / 1000), (unsigned long long)(k->max % 1000));
        return fail(c, n, MXTLS_EINVAL, path, "%.*s is out of range [%llu, %llu]",
                    (int)(slen(n) > 32 ? 32 : slen(n)), sval(n), (unsigned long long)k->min,
                    (unsigned long long)k->max);
    }
    switch (k->kind) {
    case K_U32:
    case K_MS32:
        *(uint32_t *)(void *)field = (uint32_t)v;
        break;
    case K_I32:
        *(int32_t *)(void *)field = (int32_t)v;
        break;
    case K_PORT:
        *(uint16_t *)(void *)field = (uint16_t)v;
        break;
    case K_MS64:
        *(uint64_t *)(void *)field = v;
        break;
    case K_RATIO:
        *(double *)(void *)field = (double)v / 1000.0;
        break;
    default:
        break;
    }
    return 0;
}

/* key_of - the scalar key of a pair; keys must be scalars (no complex keys) */
static int key_of(struct ctx *c, yaml_node_pair_t *p, const char *path, yaml_node_t **key)
{
    yaml_node_t *k = yaml_document_get_node(c->doc, p->key);

    if (k == NULL || k->type != YAML_SCALAR_NODE)
        return fail(c, k, MXTLS_EINVAL, path, "a key must be a plain name, got %s",
                    k ? describe(k) : "nothing");
    if (memchr(sval(k), '\0', slen(k)) != NULL)
        return fail(c, k, MXTLS_EINVAL, path, "a key contains a NUL octet");
    *key = k;
    return 0;
}

/*
 * check_dups - refuse a key that appears twice in one mapping. PyYAML keeps
 * the last silently; a configuration that says two things is refused here.
 */
static int check_dups(struct ctx *c, yaml_node_t *map, const char *path)
{
    yaml_node_pair_t *a, *b;
    yaml_node_t *ka, *kb;
    char kp[KEY_PATH_MAX];
    size_t count;
    int rc;

    /* zones is the largest mapping; the cap also bounds this quadratic scan */
    count = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (count > CONFIG_MAX_ZONES)
        return fail(c, map, MXTLS_ETOOLONG, path, "%zu keys in one mapping, at most %d", count,
                    CONFIG_MAX_ZONES);
    for (a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        if ((rc = key_of(c, a, path, &ka)) != 0)
            return rc;
        for (b = map->data.mapping.pairs.start; b < a; b++) {
            kb = yaml_document_get_node(c->doc, b->key);
            if (slen(ka) == slen(kb) && memcmp(sval(ka), sval(kb), slen(ka)) == 0) {
                join(kp, sizeof(kp), path, sval(ka), slen(ka) > 64 ? 64 : slen(ka));
                return fail(c, ka, MXTLS_EINVAL, kp, "duplicate key (first at line %zu)",
                            kb->start_mark.line + 1);
            }
        }
    }
    return 0;
}

/* as_mapping - n must be a mapping; a YAML null stands for an empty one */
static int as_mapping(struct ctx *c, yaml_node_t *n, const char *path, int *empty)
{
    *empty = 0;
    if (n->type == YAML_MAPPING_NODE)
        return check_dups(c, n, path);
    if (is_null(n)) {
        *empty = 1;
        return 0;
    }
    return fail(c, n, MXTLS_EINVAL, path, "expected a mapping of keys, got %s", describe(n));
}

/* find_key - the spec for (s, len) in a NULL-terminated table, or NULL */
static const struct key_spec *find_key(const struct key_spec *t, const char *s, size_t len)
{
    for (; t->name; t++)
        if (eq(s, len, t->name))
            return t;
    return NULL;
}

/*
 * apply_map - walk mapping n against table t, storing into base. A null value
 * keeps the default, as a key left out does. A key not in t is an error: a
 * typo must not silently fall back to a default.
 */
static int apply_map(struct ctx *c, yaml_node_t *n, const char *path, const struct key_spec *t,
                     void *base)
{
    yaml_node_pair_t *p;
    yaml_node_t *k, *v;
    const struct key_spec *spec;
    char kp[KEY_PATH_MAX];
    int rc, empty;

    if ((rc = as_mapping(c, n, path, &empty)) != 0 || empty)
        return rc;
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        if ((rc = key_of(c, p, path, &k)) != 0)
            return rc;
        v = yaml_document_get_node(c->doc, p->value);
        join(kp, sizeof(kp), path, sval(k), slen(k) > 64 ? 64 : slen(k));
        spec = find_key(t, sval(k), slen(k));
        if (spec == NULL)
            return fail(c, k, MXTLS_EINVAL, kp, "unknown key");
        if (spec->kind == K_ZONEKEY)
            return fail(c, k, MXTLS_EINVAL, kp,
                        "a zone setting: put it under default_zone or zones.NAME");
        if (spec->kind == K_SUB) {
            rc = spec->sub(c, v, kp);
        } else if (is_null(v) || spec->kind == K_SKIP) {
            rc = 0;
        } else {
            rc = apply_scalar(c, spec, v, kp, base);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

#define ZONE(f) offsetof(struct config_zone, f)

/* mta-sts-daemon.yml(5) default_zone keys, plus mxtls' tlsrpt and dane. */
static const struct key_spec zone_keys[] = {
    {"strict_testing", K_BOOL, ZONE(strict_testing), 0, 0, 0, NULL},
    /* upstream reads an int of seconds; fractions are allowed here */
    {"timeout", K_MS32, ZONE(timeout_ms), 1, 3600000, 0, NULL},
    {"require_sni", K_BOOL, ZONE(require_sni), 0, 0, 0, NULL},
    {"tlsrpt", K_BOOL, ZONE(tlsrpt), 0, 0, 0, NULL},
    {"dane", K_BOOL, ZONE(dane), 0, 0, 0, NULL},
    {NULL, K_SKIP, 0, 0, 0, 0, NULL},
};

/* zone_defaults - upstream populate_zone(): defaults.py, not default_zone */
static void zone_defaults(struct config_zone *z)
{
    z->strict_testing = false;
    z->timeout_ms = DEF_ZONE_TIMEOUT_MS;
    z->require_sni = true;
    z->tlsrpt = false; /* older Postfix rejects the TLSRPT attributes */
    z->dane = true;
}

/* sub_default_zone - default_zone: the settings for unknown map names */
static int sub_default_zone(struct ctx *c, yaml_node_t *n, const char *path)
{
    return apply_map(c, n, path, zone_keys, &c->cfg->default_zone);
}

/*
 * check_zone_name - a socketmap map name: Postfix sends "NAME KEY", and
 * upstream decodes it as ASCII and splits at the first space, so a name with
 * a space, a control character or a non-ASCII octet could never match.
 */
static int check_zone_name(struct ctx *c, const yaml_node_t *k, const char *path)
{
    size_t i;

    if (slen(k) == 0)
        return fail(c, k, MXTLS_EINVAL, path, "empty zone name");
    if (slen(k) > CONFIG_ZONE_NAME_MAX)
        return fail(c, k, MXTLS_ETOOLONG, path, "zone name longer than %d octets",
                    CONFIG_ZONE_NAME_MAX);
    for (i = 0; i < slen(k); i++) {
        unsigned char ch = (unsigned char)sval(k)[i];

        if (ch <= 0x20 || ch >= 0x7f)
            return fail(c, k, MXTLS_EINVAL, path,
                        "zone name has octet 0x%02x: a socketmap name is printable ASCII "
                        "without spaces",
                        ch);
    }
    return 0;
}

/* sub_zones - zones: a mapping of socketmap map name to zone settings */
static int sub_zones(struct ctx *c, yaml_node_t *n, const char *path)
{
    struct mxtls_config *cfg = c->cfg;
    yaml_node_pair_t *p;
    yaml_node_t *k;
    char kp[KEY_PATH_MAX];
    size_t count;
    int rc, empty;

    if ((rc = as_mapping(c, n, path, &empty)) != 0 || empty)
        return rc;
    count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (count == 0) /* as_mapping enforced the count cap */
        return 0;
    cfg->zones = calloc(count, sizeof(*cfg->zones));
    if (cfg->zones == NULL)
        return fail(c, n, MXTLS_ENOMEM, path, "out of memory");
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        struct config_named_zone *z = &cfg->zones[cfg->nzones];

        if ((rc = key_of(c, p, path, &k)) != 0)
            return rc;
        join(kp, sizeof(kp), path, sval(k), slen(k) > 64 ? 64 : slen(k));
        if ((rc = check_zone_name(c, k, kp)) != 0)
            return rc;
        zone_defaults(&z->opts);
        if ((z->name = strndup(sval(k), slen(k))) == NULL)
            return fail(c, k, MXTLS_ENOMEM, kp, "out of memory");
        cfg->nzones++;
        if ((rc = apply_map(c, yaml_document_get_node(c->doc, p->value), kp, zone_keys,
                            &z->opts)) != 0)
            return rc;
    }
    return 0;
}

#define PF(f) offsetof(struct config_proactive, f)

static const struct key_spec proactive_keys[] = {
    {"enabled", K_BOOL, PF(enabled), 0, 0, 0, NULL},
    {"interval", K_U32, PF(interval_s), 1, MAX_AGE_LIMIT_S, 0, NULL},
    {"concurrency_limit", K_U32, PF(concurrency_limit), 1, 10000, 0, NULL},
    /*
     * An entry is skipped when younger than interval/grace_ratio. Upstream
     * does not check it (0 divides by zero); at or below 1 every entry is
     * younger than that at each run and nothing is ever refreshed, so the
     * ratio must exceed 1 (in thousandths: 1.001 .. 1000).
     */
    {"grace_ratio", K_RATIO, PF(grace_ratio), 1001, 1000000, 0, NULL},
    {NULL, K_SKIP, 0, 0, 0, 0, NULL},
};

/* sub_proactive - proactive_policy_fetching */
static int sub_proactive(struct ctx *c, yaml_node_t *n, const char *path)
{
    return apply_map(c, n, path, proactive_keys, &c->cfg->proactive);
}

#define CACHE(f)   offsetof(struct config_cache, f)
#define T_INTERNAL (1u << CONFIG_CACHE_INTERNAL)
#define T_SQLITE   (1u << CONFIG_CACHE_SQLITE)
#define T_REDIS    (1u << CONFIG_CACHE_REDIS)
#define T_SENTINEL (1u << 8) /* redis_sentinel: CONFIG_CACHE_REDIS with sentinels */
#define T_POSTGRES (1u << 9) /* recognised, refused */

#define SENTINELS_MAX       16  /* a Sentinel deployment has 3 or 5; 16 is generous */
#define SENTINEL_HOST_MAX   253 /* the longest DNS name */
#define SENTINEL_MASTER_MAX 256
/* "[" v6 "]:" port, or a name, ":" and a port */
#define SENTINEL_ADDR_MAX (SENTINEL_HOST_MAX + 8)

static int sub_sentinels(struct ctx *c, yaml_node_t *n, const char *path);

/*
 * cache.options by type, from mta-sts-daemon.yml(5) and upstream's cache
 * classes. redis options are passed through to redis-py upstream; mxtls
 * takes the ones its hiredis cache implements and refuses the rest by name.
 * redis_sentinel (upstream 1.4) takes the same ones plus the sentinels and
 * the master's name; its url is optional and gives only the master's db and
 * credentials.
 */
static const struct key_spec cache_option_keys[] = {
    {"cache_size", K_U32, CACHE(cache_size), 1, 100000000, T_INTERNAL, NULL},
    {"filename", K_STR, CACHE(filename), 0, CONFIG_STR_MAX, T_SQLITE, NULL},
    {"threads", K_U32, CACHE(threads), 1, 1024, T_SQLITE, NULL},
    {"timeout", K_MS32, CACHE(timeout_ms), 1, 3600000, T_SQLITE | T_POSTGRES, NULL},
    {"url", K_STR, CACHE(url), 0, CONFIG_STR_MAX, T_REDIS | T_SENTINEL, NULL},
    {"username", K_STR, CACHE(username), 0, 256, T_REDIS | T_SENTINEL, NULL},
    {"password", K_STR, CACHE(password), 0, 1024, T_REDIS | T_SENTINEL, NULL},
    {"db", K_I32, CACHE(db), 0, 65535, T_REDIS | T_SENTINEL, NULL},
    {"max_connections", K_U32, CACHE(max_connections), 1, 100000, T_REDIS | T_SENTINEL, NULL},
    {"socket_timeout", K_MS32, CACHE(socket_timeout_ms), 1, 3600000, T_REDIS | T_SENTINEL, NULL},
    {"socket_connect_timeout", K_MS32, CACHE(socket_connect_timeout_ms), 1, 3600000,
     T_REDIS | T_SENTINEL, NULL},
    {"sentinels", K_SUB, 0, 0, 0, T_SENTINEL, sub_sentinels},
    {"sentinel_master_name", K_STR, CACHE(sentinel_master_name), 0, SENTINEL_MASTER_MAX, T_SENTINEL,
     NULL},
    {"dsn", K_SKIP, 0, 0, 0, T_POSTGRES, NULL},
    {NULL, K_SKIP, 0, 0, 0, 0, NULL},
};

/* type_names - the types an option belongs to, for the error message */
static const char *type_names(unsigned set)
{
    if (set & T_INTERNAL)
        return "internal";
    if (set & T_SQLITE)
        return "sqlite";
    if ((set & T_REDIS) && (set & T_SENTINEL))
        return "redis and redis_sentinel";
    if (set & T_REDIS)
        return "redis";
    if (set & T_SENTINEL)
        return "redis_sentinel";
    return "postgres";
}

/* find_pair - the value of key lit in mapping n (duplicates already refused) */
static yaml_node_t *find_pair(struct ctx *c, yaml_node_t *n, const char *lit, yaml_node_t **key)
{
    yaml_node_pair_t *p;

    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);

        if (eq(sval(k), slen(k), lit)) {
            *key = k;
            return yaml_document_get_node(c->doc, p->value);
        }
    }
    return NULL;
}

/*
 * sentinel_host - check the host part of a sentinel address and write it
 * normalised into out: an IPv6 address as "[canonical]", a name or an IPv4
 * address in lower case. An address with a colon must be IPv6, without a
 * zone index such as %eth0 (inet_pton has none). A name is DNS
 * letters, digits, '-', '_' in dot-separated labels of 1..63 octets; all
 * digits and dots must be an IPv4 address, so 10.0.0.256 is not taken for a
 * name. Returns 0, or -1 with a reason in why.
 */
static int sentinel_host(const char *s, size_t len, char *out, size_t outsize, const char **why)
{
    char buf[SENTINEL_HOST_MAX + 1];
    unsigned char a[16];
    size_t i, label = 0;
    int numeric = 1;

    if (len == 0) {
        *why = "empty host";
        return -1;
    }
    if (len > SENTINEL_HOST_MAX) {
        *why = "host longer than 253 octets";
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (memchr(buf, ':', len) != NULL) {
        if (inet_pton(AF_INET6, buf, a) != 1) {
            *why = "host has a colon but is not an IPv6 address";
            return -1;
        }
        out[0] = '[';
        if (inet_ntop(AF_INET6, a, out + 1, (socklen_t)(outsize - 3)) == NULL) {
            *why = "IPv6 address does not fit";
            return -1;
        }
        strcat(out, "]");
        return 0;
    }
    for (i = 0; i < len; i++) {
        char ch = buf[i];

        if (ch == '.') {
            if (label == 0 || i + 1 == len) {
                *why = "host has an empty label";
                return -1;
            }
            label = 0;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_')) {
            *why = "host is not a DNS name, an IPv4 address or an IPv6 address";
            return -1;
        }
        if (++label > 63) {
            *why = "host has a label longer than 63 octets";
            return -1;
        }
        if (ch < '0' || ch > '9')
            numeric = 0;
        buf[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    if (numeric && inet_pton(AF_INET, buf, a) != 1) {
        *why = "host is all digits and dots but not an IPv4 address";
        return -1;
    }
    memcpy(out, buf, len + 1);
    return 0;
}

/* sentinel_port - a port "1".."65535": plain decimal without leading zeros */
static int sentinel_port(const char *s, size_t len, unsigned *port)
{
    uint64_t v;

    if (len > 5 || parse_decimal(s, len, 0, &v) != 0 || v < 1 || v > 65535)
        return -1;
    *port = (unsigned)v;
    return 0;
}

/*
 * sentinel_entry - one item of cache.options.sentinels into out as
 * "host:port" or "[v6]:port". Upstream hands the list to redis-py's
 * Sentinel(), which takes (host, port) pairs: YAML [host, port]. The string
 * "host:port" ("[v6]:port" for IPv6) is taken too, as redis-cli and
 * sentinel.conf write addresses. A port is a plain number in the pair form:
 * a quoted "26379" is a string, refused as everywhere else in the file.
 */
static int sentinel_entry(struct ctx *c, yaml_node_t *e, const char *path, char *out,
                          size_t outsize)
{
    const char *s, *host, *port_s, *why = NULL;
    size_t len, host_len, port_len;
    yaml_node_t *hn, *pn;
    unsigned port;
    size_t hlen;
    int rc;

    if (e->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *items = e->data.sequence.items.start;
        size_t count = (size_t)(e->data.sequence.items.top - items);

        if (count != 2)
            return fail(c, e, MXTLS_EINVAL, path, "expected [host, port], got a list of %zu items",
                        count);
        hn = yaml_document_get_node(c->doc, items[0]);
        pn = yaml_document_get_node(c->doc, items[1]);
        if (is_null(hn))
            return fail(c, hn, MXTLS_EINVAL, path, "expected a host, got an empty item");
        if ((rc = check_str(c, hn, path, SENTINEL_HOST_MAX + 2)) != 0)
            return rc;
        host = sval(hn);
        host_len = slen(hn);
        /* [host, port] with host "[::1]": the brackets are the string form's */
        if (host_len > 2 && host[0] == '[' && host[host_len - 1] == ']') {
            host++;
            host_len -= 2;
        }
        if (pn->type != YAML_SCALAR_NODE || !is_plain(pn))
            return fail(c, pn, MXTLS_EINVAL, path, "expected a port number, got %s", describe(pn));
        port_s = sval(pn);
        port_len = slen(pn);
    } else if (e->type == YAML_SCALAR_NODE && !is_null(e)) {
        const char *colon;

        if ((rc = check_str(c, e, path, SENTINEL_ADDR_MAX)) != 0)
            return rc;
        s = sval(e);
        len = slen(e);
        if (s[0] == '[') {
            const char *close = memchr(s, ']', len);

            if (close == NULL || (size_t)(close - s) + 1 == len || close[1] != ':')
                return fail(c, e, MXTLS_EINVAL, path,
                            "expected \"[IPv6 address]:port\", got \"%.*s\"",
                            (int)(len > 64 ? 64 : len), s);
            host = s + 1;
            host_len = (size_t)(close - s) - 1;
            if (memchr(host, ':', host_len) == NULL)
                return fail(c, e, MXTLS_EINVAL, path,
                            "brackets are for an IPv6 address, got \"%.*s\"",
                            (int)(len > 64 ? 64 : len), s);
            colon = close + 1;
        } else {
            colon = memchr(s, ':', len);
            if (colon == NULL)
                return fail(c, e, MXTLS_EINVAL, path,
                            "expected \"host:port\" or [host, port], got \"%.*s\" (no port)",
                            (int)(len > 64 ? 64 : len), s);
            if (memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) != NULL)
                return fail(c, e, MXTLS_EINVAL, path,
                            "an IPv6 address is written \"[addr]:port\", got \"%.*s\"",
                            (int)(len > 64 ? 64 : len), s);
            host = s;
            host_len = (size_t)(colon - s);
        }
        port_s = colon + 1;
        port_len = len - (size_t)(port_s - s);
    } else {
        return fail(c, e, MXTLS_EINVAL, path, "expected [host, port] or \"host:port\", got %s",
                    is_null(e) ? "an empty item" : describe(e));
    }
    if (sentinel_host(host, host_len, out, outsize - 7, &why) != 0)
        return fail(c, e, MXTLS_EINVAL, path, "%s: \"%.*s\"", why,
                    (int)(host_len > 64 ? 64 : host_len), host);
    if (sentinel_port(port_s, port_len, &port) != 0)
        return fail(c, e, MXTLS_EINVAL, path, "port \"%.*s\" is not a number in [1, 65535]",
                    (int)(port_len > 16 ? 16 : port_len), port_s);
    hlen = strlen(out);
    snprintf(out + hlen, outsize - hlen, ":%u", port);
    return 0;
}

/*
 * sub_sentinels - cache.options.sentinels: 1..SENTINELS_MAX addresses, each
 * stored normalised; the same sentinel twice is refused (it would be asked
 * twice and counted twice). A null value is the key left out, caught by
 * sub_cache as a missing option.
 */
static int sub_sentinels(struct ctx *c, yaml_node_t *n, const char *path)
{
    struct config_cache *cc = &c->cfg->cache;
    char addr[SENTINEL_ADDR_MAX + 1], ip[KEY_PATH_MAX];
    size_t lines[SENTINELS_MAX];
    size_t count, i, j;
    int rc;

    if (is_null(n))
        return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(c, n, MXTLS_EINVAL, path,
                    "expected a list of sentinels ([host, port] or \"host:port\"), got %s",
                    describe(n));
    count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0)
        return fail(c, n, MXTLS_EINVAL, path, "empty list: name 1 to %d sentinels", SENTINELS_MAX);
    if (count > SENTINELS_MAX)
        return fail(c, n, MXTLS_ETOOLONG, path, "%zu sentinels, at most %d", count, SENTINELS_MAX);
    cc->sentinels = calloc(count, sizeof(*cc->sentinels));
    if (cc->sentinels == NULL)
        return fail(c, n, MXTLS_ENOMEM, path, "out of memory");
    for (i = 0; i < count; i++) {
        yaml_node_t *e = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);

        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        if ((rc = sentinel_entry(c, e, ip, addr, sizeof(addr))) != 0)
            return rc;
        for (j = 0; j < i; j++)
            if (strcmp(cc->sentinels[j], addr) == 0)
                return fail(c, e, MXTLS_EINVAL, ip, "sentinel %s listed twice (first at line %zu)",
                            addr, lines[j]);
        lines[i] = e->start_mark.line + 1;
        if ((cc->sentinels[i] = strdup(addr)) == NULL)
            return fail(c, e, MXTLS_ENOMEM, ip, "out of memory");
        cc->n_sentinels++;
    }
    return 0;
}

/*
 * sub_cache - cache: {type, options}. The type is read first, wherever it
 * stands, so options are checked against it. Upstream's postgres type is
 * recognised and refused with one clear message instead of an "unknown key
 * dsn": the operator's real decision is the backend, and quietly using
 * another one would split a fleet's shared cache. redis_sentinel is the redis
 * backend with its master found through Sentinel (cc->n_sentinels > 0).
 */
static int sub_cache(struct ctx *c, yaml_node_t *n, const char *path)
{
    struct config_cache *cc = &c->cfg->cache;
    yaml_node_t *t, *tk = NULL, *opts, *ok = NULL, *v;
    yaml_node_pair_t *p;
    char kp[KEY_PATH_MAX], okp[KEY_PATH_MAX];
    const char *tname;
    int rc, empty;
    unsigned bit;

    if ((rc = as_mapping(c, n, path, &empty)) != 0 || empty)
        return rc;
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);

        if (!eq(sval(k), slen(k), "type") && !eq(sval(k), slen(k), "options")) {
            join(kp, sizeof(kp), path, sval(k), slen(k) > 64 ? 64 : slen(k));
            return fail(c, k, MXTLS_EINVAL, kp, "unknown key (cache has type and options)");
        }
    }
    join(kp, sizeof(kp), path, "type", 4);
    t = find_pair(c, n, "type", &tk);
    /*
     * A cache section without a type is upstream's default backend,
     * "internal" (populate_cfg_defaults); only a file with no cache section
     * at all gets mxtlsd's SQLite default.
     */
    cc->type = CONFIG_CACHE_INTERNAL;
    bit = T_INTERNAL;
    if (t != NULL && !is_null(t)) {
        if (t->type != YAML_SCALAR_NODE)
            return fail(c, t, MXTLS_EINVAL, kp, "expected a cache type, got %s", describe(t));
        if (eq(sval(t), slen(t), "sqlite")) {
            cc->type = CONFIG_CACHE_SQLITE;
            bit = T_SQLITE;
        } else if (eq(sval(t), slen(t), "internal")) {
            cc->type = CONFIG_CACHE_INTERNAL;
            bit = T_INTERNAL;
        } else if (eq(sval(t), slen(t), "redis")) {
            cc->type = CONFIG_CACHE_REDIS;
            bit = T_REDIS;
        } else if (eq(sval(t), slen(t), "redis_sentinel")) {
            cc->type = CONFIG_CACHE_REDIS;
            bit = T_SENTINEL;
        } else if (eq(sval(t), slen(t), "postgres")) {
            return fail(c, t, MXTLS_EINVAL, kp,
                        "cache type postgres is not supported by mxtlsd; use sqlite, internal, "
                        "redis or redis_sentinel");
        } else {
            return fail(c, t, MXTLS_EINVAL, kp,
                        "unknown cache type \"%.*s\"; use sqlite, internal, redis or "
                        "redis_sentinel",
                        (int)(slen(t) > 32 ? 32 : slen(t)), sval(t));
        }
    }
    tname = bit == T_SENTINEL ? "redis_sentinel" : config_cache_type_name(cc->type);
    join(okp, sizeof(okp), path, "options", 7);
    opts = find_pair(c, n, "options", &ok);
    if (opts != NULL) {
        if ((rc = as_mapping(c, opts, okp, &empty)) != 0)
            return rc;
        for (p = empty ? NULL : opts->data.mapping.pairs.start;
             p && p < opts->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
            const struct key_spec *spec = find_key(cache_option_keys, sval(k), slen(k));

            join(kp, sizeof(kp), okp, sval(k), slen(k) > 64 ? 64 : slen(k));
            /* one server or a Sentinel-managed master: the type says which */
            if (spec != NULL && bit == T_REDIS && spec->cache_set == T_SENTINEL)
                return fail(c, k, MXTLS_EINVAL, kp,
                            "not an option of cache type redis: for a master found through "
                            "Sentinel use type redis_sentinel");
            if (spec != NULL && !(spec->cache_set & bit))
                return fail(c, k, MXTLS_EINVAL, kp, "not an option of cache type %s (it is for %s)",
                            tname, type_names(spec->cache_set));
            if (spec == NULL && bit == T_REDIS)
                return fail(c, k, MXTLS_EINVAL, kp,
                            "redis option not supported by mxtlsd (it takes url, username, "
                            "password, db, max_connections, socket_timeout, "
                            "socket_connect_timeout)");
            if (spec == NULL && bit == T_SENTINEL)
                return fail(c, k, MXTLS_EINVAL, kp,
                            "redis_sentinel option not supported by mxtlsd (it takes sentinels, "
                            "sentinel_master_name, url, username, password, db, "
                            "max_connections, socket_timeout, socket_connect_timeout)");
        }
        if ((rc = apply_map(c, opts, okp, cache_option_keys, cc)) != 0)
            return rc;
    }
    /* upstream's RedisCache reads opts['url'] unconditionally */
    if (bit == T_REDIS && cc->url == NULL)
        return fail(c, tk ? tk : n, MXTLS_EINVAL, okp, "cache type redis needs options.url");
    /* upstream's RedisSentinelCache reads both unconditionally */
    if (bit == T_SENTINEL && cc->n_sentinels == 0)
        return fail(c, tk ? tk : n, MXTLS_EINVAL, okp,
                    "cache type redis_sentinel needs options.sentinels, a list of [host, port]");
    if (bit == T_SENTINEL && cc->sentinel_master_name == NULL)
        return fail(c, tk ? tk : n, MXTLS_EINVAL, okp,
                    "cache type redis_sentinel needs options.sentinel_master_name");
    /* Sentinel names a master with one word: "sentinel monitor <name> ..." */
    if (cc->sentinel_master_name != NULL && strchr(cc->sentinel_master_name, ' ') != NULL) {
        join(kp, sizeof(kp), okp, "sentinel_master_name", 20);
        return fail(c, find_pair(c, opts, "sentinel_master_name", &ok), MXTLS_EINVAL, kp,
                    "a Sentinel master name has no spaces");
    }
    /*
     * rediss:// is redis-py's TLS; Debian 12's hiredis (0.14) has none, and a
     * URL asking for TLS must not connect in the clear.
     */
    if (cc->url != NULL && strncmp(cc->url, "rediss://", 9) == 0) {
        join(kp, sizeof(kp), okp, "url", 3);
        return fail(c, find_pair(c, opts, "url", &ok), MXTLS_EINVAL, kp,
                    "rediss:// (TLS to Redis) is not supported by mxtlsd; use redis:// on a "
                    "trusted network or unix://");
    }
    if (cc->url != NULL && strncmp(cc->url, "redis://", 8) != 0 &&
        strncmp(cc->url, "unix://", 7) != 0) {
        join(kp, sizeof(kp), okp, "url", 3);
        return fail(c, find_pair(c, opts, "url", &ok), MXTLS_EINVAL, kp,
                    "expected a redis:// or unix:// URL");
    }
    /*
     * With Sentinel the master's address is what the sentinels answer; the
     * URL gives only its db and credentials. A socket path would be ignored,
     * and a setting ignored in silence is refused in this file.
     */
    if (bit == T_SENTINEL && cc->url != NULL && strncmp(cc->url, "unix://", 7) == 0) {
        join(kp, sizeof(kp), okp, "url", 3);
        v = find_pair(c, opts, "url", &ok);
        return fail(c, v, MXTLS_EINVAL, kp,
                    "a unix:// URL with redis_sentinel: the master's address comes from the "
                    "sentinels; give its db and credentials in a redis:// URL");
    }
    return 0;
}

#define TOP(f) offsetof(struct mxtls_config, f)

#define UB(f) TOP(resolver.f)

static const struct key_spec resolver_keys[] = {
    {"unbound_config", K_STR, TOP(unbound_config), 0, CONFIG_STR_MAX, 0, NULL},
    {"trust_anchor_file", K_STR, TOP(trust_anchor_file), 0, CONFIG_STR_MAX, 0, NULL},
    /* libunbound sizing; the bounds are what unbound itself accepts sensibly */
    {"outgoing_range", K_U32, UB(outgoing_range), 16, 65536, 0, NULL},
    {"outgoing_num_tcp", K_U32, UB(outgoing_num_tcp), 1, 4096, 0, NULL},
    {"num_queries_per_thread", K_U32, UB(num_queries_per_thread), 16, 65536, 0, NULL},
    {"msg_cache_size", K_U32, UB(msg_cache_size), 65536, 1u << 31, 0, NULL},
    {"rrset_cache_size", K_U32, UB(rrset_cache_size), 65536, 1u << 31, 0, NULL},
    {"key_cache_size", K_U32, UB(key_cache_size), 65536, 1u << 31, 0, NULL},
    {"neg_cache_size", K_U32, UB(neg_cache_size), 65536, 1u << 31, 0, NULL},
    {"infra_cache_numhosts", K_U32, UB(infra_cache_numhosts), 100, 10000000, 0, NULL},
    {NULL, K_SKIP, 0, 0, 0, 0, NULL},
};

static const struct key_spec https_keys[] = {
    {"ca_file", K_STR, TOP(ca_file), 0, CONFIG_STR_MAX, 0, NULL},
    {NULL, K_SKIP, 0, 0, 0, 0, NULL},
};

/* sub_resolver, sub_https - the mxtls sections; base is the config itself */
static int sub_resolver(struct ctx *c, yaml_node_t *n, const char *path)
{
    return apply_map(c, n, path, resolver_keys, c->cfg);
}

static int sub_https(struct ctx *c, yaml_node_t *n, const char *path)
{
    return apply_map(c, n, path, https_keys, c->cfg);
}

#define CTL(f) offsetof(struct config_control, f)

static const struct key_spec control_keys[] = {
    {"path", K_STR, CTL(path), 0, CONFIG_SUN_PATH_MAX, 0, NULL},
    {"mode", K_MODE, CTL(mode), 0, 0, 0, NULL},
    {"host", K_STR, CTL(host), 0, 64, 0, NULL},
    {"port", K_PORT, CTL(port), 1, 65535, 0, NULL},
    {NULL, K_SKIP, 0, 0, 0, 0, NULL},
};

/* is_loopback - a numeric IPv4 address in 127.0.0.0/8 or the IPv6 ::1 */
static bool is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/*
 * sub_control - control: {path, mode} or {host, port}. The section replaces
 * whatever control socket the defaults had. TCP is for loopback only: the
 * control socket answers anyone who can connect, so the file mode (or the
 * machine's own users) is its only access control.
 */
static int sub_control(struct ctx *c, yaml_node_t *n, const char *path)
{
    struct config_control *cc = &c->cfg->control;
    char kp[KEY_PATH_MAX];
    int rc;

    free(cc->path);
    free(cc->host);
    cc->path = cc->host = NULL;
    cc->port = 0;
    cc->mode = CONFIG_CONTROL_DEFAULT_MODE;
    if ((rc = apply_map(c, n, path, control_keys, cc)) != 0)
        return rc;
    if (cc->path != NULL && (cc->host != NULL || cc->port != 0))
        return fail(c, n, MXTLS_EINVAL, path,
                    "either a path (Unix socket) or a host and port (loopback TCP), not both");
    if (cc->path == NULL && cc->port == 0)
        return fail(c, n, MXTLS_EINVAL, path, "name a path, or a port (and a loopback host)");
    if (cc->port != 0 && cc->host == NULL && (cc->host = strdup("127.0.0.1")) == NULL)
        return fail(c, n, MXTLS_ENOMEM, path, "out of memory");
    if (cc->host != NULL && !is_loopback(cc->host)) {
        join(kp, sizeof(kp), path, "host", 4);
        return fail(c, n, MXTLS_EINVAL, kp,
                    "%.64s is not a loopback address (127.0.0.0/8 or ::1): the control socket "
                    "must not be reachable from the network",
                    cc->host);
    }
    return 0;
}

#define MET(f) offsetof(struct config_metrics, f)

static const struct key_spec metrics_keys[] = {
    {"host", K_STR, MET(host), 0, 64, 0, NULL},
    {"port", K_PORT, MET(port), 1, 65535, 0, NULL},
    {NULL, K_SKIP, 0, 0, 0, 0, NULL},
};

/*
 * sub_metrics - metrics: {host, port} (issue 16). Loopback only, as the
 * control socket: the metrics say which domains fail and how busy the
 * daemon is, and the listener has no access control of its own.
 */
static int sub_metrics(struct ctx *c, yaml_node_t *n, const char *path)
{
    struct config_metrics *m = &c->cfg->metrics;
    char kp[KEY_PATH_MAX];
    int rc;

    free(m->host);
    m->host = NULL;
    m->port = 0;
    if ((rc = apply_map(c, n, path, metrics_keys, m)) != 0)
        return rc;
    if (m->port == 0)
        return fail(c, n, MXTLS_EINVAL, path, "name a port (and a loopback host)");
    if (m->host == NULL && (m->host = strdup("127.0.0.1")) == NULL)
        return fail(c, n, MXTLS_ENOMEM, path, "out of memory");
    if (!is_loopback(m->host)) {
        join(kp, sizeof(kp), path, "host", 4);
        return fail(c, n, MXTLS_EINVAL, kp,
                    "%.64s is not a loopback address (127.0.0.0/8 or ::1): the metrics "
                    "listener must not be reachable from the network",
                    m->host);
    }
    return 0;
}

/*
 * sub_tlsrpt_section - a top-level `tlsrpt:` mapping is the TLS-RPT reporter's
 * section, read by io/tlsrpt_config.c (issue 12); a scalar there is still the
 * per-zone key put at the wrong level.
 */
static int sub_tlsrpt_section(struct ctx *c, yaml_node_t *n, const char *path)
{
    if (n->type == YAML_MAPPING_NODE)
        return 0;
    return fail(c, n, MXTLS_EINVAL, path,
                "a zone setting: put it under default_zone or zones.NAME");
}

static const struct key_spec top_keys[] = {
    {"tlsrpt", K_SUB, 0, 0, 0, 0, sub_tlsrpt_section}, /* before the K_ZONEKEY entry below */
    /* host: an address or name for getaddrinfo; 253 is the longest name */
    {"host", K_STR, TOP(host), 0, 253, 0, NULL},
    {"port", K_PORT, TOP(port), 1, 65535, 0, NULL},
    {"path", K_STR, TOP(path), 0, CONFIG_SUN_PATH_MAX, 0, NULL},
    {"mode", K_MODE, TOP(mode), 0, 0, 0, NULL},
    {"reuse_port", K_BOOL, TOP(reuse_port), 0, 0, 0, NULL},
    {"shutdown_timeout", K_MS64, TOP(shutdown_timeout_ms), 0, 86400000, 0, NULL},
    {"cache_grace", K_MS64, TOP(cache_grace_ms), 0, (uint64_t)MAX_AGE_LIMIT_S * 1000, 0, NULL},
    {"proactive_policy_fetching", K_SUB, 0, 0, 0, 0, sub_proactive},
    {"cache", K_SUB, 0, 0, 0, 0, sub_cache},
    {"default_zone", K_SUB, 0, 0, 0, 0, sub_default_zone},
    {"zones", K_SUB, 0, 0, 0, 0, sub_zones},
    {"resolver", K_SUB, 0, 0, 0, 0, sub_resolver},
    {"https", K_SUB, 0, 0, 0, 0, sub_https},
    /* mxtls limits: mxtlsd(8) "LIMITS" */
    {"max_connections", K_U32, TOP(max_connections), 1, 1000000, 0, NULL},
    {"request_timeout", K_MS32, TOP(request_timeout_ms), 100, 3600000, 0, NULL},
    {"output_high_water", K_U32, TOP(output_high_water), 1024, 1u << 26, 0, NULL},
    {"sts_resolver_failure_temp", K_U32, TOP(sts_resolver_failure_temp_s), 0, 86400, 0, NULL},
    {"store_queue_max", K_U32, TOP(store_queue_max), 1, 10000000, 0, NULL},
    {"store_lag_warning", K_MS32, TOP(store_lag_warning_ms), 100, 3600000, 0, NULL},
    /* issue 18: the control socket; explain on Postfix's port only when asked */
    {"control", K_SUB, 0, 0, 0, 0, sub_control},
    {"explain_on_policy_port", K_BOOL, TOP(explain_on_policy_port), 0, 0, 0, NULL},
    /* issue 16: the Prometheus metrics listener */
    {"metrics", K_SUB, 0, 0, 0, 0, sub_metrics},
    /* Zone keys at the top level are a common slip; say where they go. */
    {"strict_testing", K_ZONEKEY, 0, 0, 0, 0, NULL},
    {"timeout", K_ZONEKEY, 0, 0, 0, 0, NULL},
    {"require_sni", K_ZONEKEY, 0, 0, 0, 0, NULL},
    {"tlsrpt", K_ZONEKEY, 0, 0, 0, 0, NULL},
    {"dane", K_ZONEKEY, 0, 0, 0, 0, NULL},
    {NULL, K_SKIP, 0, 0, 0, 0, NULL},
};

/* parser_fail - report a libyaml parser or scanner error with its line */
static int parser_fail(struct ctx *c, const yaml_parser_t *p)
{
    const yaml_mark_t *m = &p->problem_mark;

    if (p->error == YAML_MEMORY_ERROR)
        return mxtls_diag_set(c->diag, MXTLS_ENOMEM, 0, "%s: out of memory", c->name);
    return mxtls_diag_set(c->diag, MXTLS_EINVAL, m->index, "%s:%zu: YAML syntax: %s%s%s", c->name,
                          m->line + 1, p->problem ? p->problem : "error", p->context ? " " : "",
                          p->context ? p->context : "");
}

/* event_fail - report a structural refusal at an event's line */
static int event_fail(struct ctx *c, const yaml_event_t *e, int code, const char *what)
{
    return mxtls_diag_set(c->diag, code, e->start_mark.index, "%s:%zu: %s", c->name,
                          e->start_mark.line + 1, what);
}

/*
 * prescan - pass one over the event stream: one document at most, nesting
 * at most CONFIG_MAX_DEPTH, at most CONFIG_MAX_NODES nodes, no aliases (a
 * configuration needs none, and they are the "billion laughs" amplifier),
 * no explicit tags (!!int, !!python/...: PyYAML's safe_load refuses most).
 */
static int prescan(struct ctx *c, const char *buf, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t e;
    size_t depth = 0, nodes = 0, docs = 0;
    int rc = 0, done = 0;

    if (!yaml_parser_initialize(&parser))
        return mxtls_diag_set(c->diag, MXTLS_ENOMEM, 0, "%s: out of memory", c->name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    while (!done && rc == 0) {
        const yaml_char_t *tag = NULL;

        if (!yaml_parser_parse(&parser, &e)) {
            rc = parser_fail(c, &parser);
            break;
        }
        switch (e.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                rc = event_fail(c, &e, MXTLS_EINVAL, "more than one YAML document");
            break;
        case YAML_ALIAS_EVENT:
            rc = event_fail(c, &e, MXTLS_EINVAL, "YAML aliases (*name) are not supported");
            break;
        case YAML_SCALAR_EVENT:
            tag = e.data.scalar.tag;
            nodes++;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            tag = e.type == YAML_SEQUENCE_START_EVENT ? e.data.sequence_start.tag
                                                      : e.data.mapping_start.tag;
            nodes++;
            if (++depth > CONFIG_MAX_DEPTH)
                rc = event_fail(c, &e, MXTLS_ETOOLONG, "nested deeper than 16 levels");
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        /* "!" alone is the non-specific tag of a quoted scalar: harmless */
        if (rc == 0 && tag != NULL && strcmp((const char *)tag, "!") != 0)
            rc = event_fail(c, &e, MXTLS_EINVAL, "YAML tags (!!type) are not supported");
        if (rc == 0 && nodes > CONFIG_MAX_NODES)
            rc = event_fail(c, &e, MXTLS_ETOOLONG, "more than 65536 YAML nodes");
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* defaults - the embedded configuration; strings allocated */
static int defaults(struct mxtls_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = DEF_PORT;
    cfg->mode = -1;
    cfg->reuse_port = true;
    cfg->shutdown_timeout_ms = DEF_SHUTDOWN_MS;
    cfg->cache_grace_ms = DEF_CACHE_GRACE_MS;
    cfg->proactive.enabled = false;
    cfg->proactive.interval_s = DEF_PF_INTERVAL;
    cfg->proactive.concurrency_limit = DEF_PF_CONCURRENCY;
    cfg->proactive.grace_ratio = DEF_PF_GRACE_RATIO;
    /*
     * SQLite, not upstream's "internal": a cache that survives a restart
     * keeps the RFC 8461 §5.1 protection of policies already seen.
     */
    cfg->cache.type = CONFIG_CACHE_SQLITE;
    cfg->cache.cache_size = DEF_CACHE_SIZE;
    cfg->cache.threads = 0;
    cfg->cache.timeout_ms = DEF_SQLITE_TIMEOUT;
    cfg->cache.db = -1;
    cfg->cache.socket_timeout_ms = DEF_REDIS_TIMEOUT;
    cfg->cache.socket_connect_timeout_ms = DEF_REDIS_TIMEOUT;
    zone_defaults(&cfg->default_zone);
    cfg->resolver.outgoing_range = DEF_UB_RANGE;
    cfg->resolver.outgoing_num_tcp = DEF_UB_TCP;
    cfg->resolver.num_queries_per_thread = DEF_UB_QUERIES;
    cfg->resolver.msg_cache_size = DEF_UB_MSG_CACHE;
    cfg->resolver.rrset_cache_size = DEF_UB_RRSET_CACHE;
    cfg->resolver.key_cache_size = DEF_UB_KEY_CACHE;
    cfg->resolver.neg_cache_size = DEF_UB_NEG_CACHE;
    cfg->resolver.infra_cache_numhosts = DEF_UB_INFRA_HOSTS;
    cfg->max_connections = DEF_MAX_CONNECTIONS;
    cfg->request_timeout_ms = DEF_REQUEST_MS;
    cfg->output_high_water = DEF_OUTPUT_HIGH;
    cfg->sts_resolver_failure_temp_s = DEF_STS_DNS_TEMP_S;
    cfg->store_queue_max = DEF_STORE_QUEUE_MAX;
    cfg->store_lag_warning_ms = DEF_STORE_LAG_MS;
    cfg->control.mode = CONFIG_CONTROL_DEFAULT_MODE;
    cfg->explain_on_policy_port = false;
    cfg->host = strdup(DEF_HOST);
    cfg->cache.filename = strdup(DEF_SQLITE_FILENAME);
    if (cfg->host == NULL || cfg->cache.filename == NULL) {
        config_finish(cfg);
        return MXTLS_ENOMEM;
    }
    return 0;
}

/* config_init_defaults - the configuration used without a file */
int config_init_defaults(struct mxtls_config *cfg)
{
    int rc = defaults(cfg);

    if (rc != 0)
        return rc;
    /* Only here: a configuration file names its control socket or has none. */
    cfg->control.path = strdup(CONFIG_CONTROL_DEFAULT_PATH);
    if (cfg->control.path == NULL) {
        config_finish(cfg);
        return MXTLS_ENOMEM;
    }
    return 0;
}

/* load_tree - pass two: load the document and walk it from the root */
static int load_tree(struct ctx *c, const char *buf, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root;
    int rc;

    if (!yaml_parser_initialize(&parser))
        return mxtls_diag_set(c->diag, MXTLS_ENOMEM, 0, "%s: out of memory", c->name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = parser_fail(c, &parser);
        yaml_parser_delete(&parser);
        return rc;
    }
    c->doc = &doc;
    root = yaml_document_get_root_node(&doc);
    /* upstream: `if not cfg: cfg = {}`, so an empty file means defaults */
    if (root == NULL || is_null(root))
        rc = 0;
    else if (root->type != YAML_MAPPING_NODE)
        rc = fail(c, root, MXTLS_EINVAL, "", "the configuration must be a mapping of keys, got %s",
                  describe(root));
    else
        rc = apply_map(c, root, "", top_keys, c->cfg);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    c->doc = NULL;
    return rc;
}

/* config_load_buffer - load YAML text over the defaults */
int config_load_buffer(const char *buf, size_t len, const char *name, struct mxtls_config *cfg,
                       struct mxtls_diag *diag)
{
    struct ctx c = {NULL, name ? name : "<config>", diag, cfg};
    int rc;

    if ((rc = defaults(cfg)) != 0)
        return mxtls_diag_set(diag, rc, 0, "%s: out of memory", c.name);
    if (len > CONFIG_MAX_BYTES)
        rc = mxtls_diag_set(diag, MXTLS_ETOOLONG, CONFIG_MAX_BYTES, "%s: larger than %d bytes",
                            c.name, CONFIG_MAX_BYTES);
    else if ((rc = prescan(&c, buf, len)) == 0)
        rc = load_tree(&c, buf, len);
    if (rc != 0) {
        config_finish(cfg);
        if (defaults(cfg) != 0)
            return MXTLS_ENOMEM;
    }
    return rc;
}

/* config_load_file - read a whole configuration file, then load it */
int config_load_file(const char *path, struct mxtls_config *cfg, struct mxtls_diag *diag)
{
    char errbuf[128];
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    ssize_t n;
    int fd, rc, err;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    err = fd < 0 ? errno : fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
    if (err != 0) {
        if (fd >= 0)
            close(fd);
        memset(cfg, 0, sizeof(*cfg));
        if (defaults(cfg) != 0)
            return MXTLS_ENOMEM;
        if (err == EINVAL)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: not a regular file", path);
        return mxtls_diag_set(diag, err == ENOENT ? MXTLS_ENOTFOUND : MXTLS_EINVAL, 0,
                              "%s: cannot open: %s", path, strerror_r(err, errbuf, sizeof(errbuf)));
    }
    /* Read at most one byte past the cap: the file may be growing. */
    buf = malloc(CONFIG_MAX_BYTES + 1);
    if (buf == NULL) {
        close(fd);
        memset(cfg, 0, sizeof(*cfg));
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "%s: out of memory", path);
    }
    while (len <= CONFIG_MAX_BYTES) {
        n = read(fd, buf + len, CONFIG_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = errno;
            close(fd);
            free(buf);
            memset(cfg, 0, sizeof(*cfg));
            if (defaults(cfg) != 0)
                return MXTLS_ENOMEM;
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: cannot read: %s", path,
                                  strerror_r(err, errbuf, sizeof(errbuf)));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    rc = config_load_buffer(buf, len, path, cfg, diag);
    free(buf);
    return rc;
}

/* config_zone_for - exact map-name match, else default_zone (upstream) */
const struct config_zone *config_zone_for(const struct mxtls_config *cfg, const char *name,
                                          size_t len)
{
    size_t i;

    for (i = 0; name != NULL && i < cfg->nzones; i++)
        if (strlen(cfg->zones[i].name) == len && memcmp(cfg->zones[i].name, name, len) == 0)
            return &cfg->zones[i].opts;
    return &cfg->default_zone;
}

/* config_finish - free everything cfg owns */
void config_finish(struct mxtls_config *cfg)
{
    size_t i;

    if (cfg == NULL)
        return;
    for (i = 0; i < cfg->nzones; i++)
        free(cfg->zones[i].name);
    free(cfg->zones);
    free(cfg->host);
    free(cfg->path);
    free(cfg->cache.filename);
    free(cfg->cache.url);
    free(cfg->cache.username);
    free(cfg->cache.password);
    for (i = 0; i < cfg->cache.n_sentinels; i++)
        free(cfg->cache.sentinels[i]);
    free(cfg->cache.sentinels);
    free(cfg->cache.sentinel_master_name);
    free(cfg->unbound_config);
    free(cfg->trust_anchor_file);
    free(cfg->ca_file);
    free(cfg->control.path);
    free(cfg->control.host);
    free(cfg->metrics.host);
    memset(cfg, 0, sizeof(*cfg));
}

/* config_cache_type_name - the YAML spelling of a cache type */
const char *config_cache_type_name(enum config_cache_type type)
{
    switch (type) {
    case CONFIG_CACHE_SQLITE:
        return "sqlite";
    case CONFIG_CACHE_INTERNAL:
        return "internal";
    case CONFIG_CACHE_REDIS:
        return "redis";
    }
    return "unknown";
}
