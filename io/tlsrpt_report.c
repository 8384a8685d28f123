/*
 * tlsrpt_report - RFC 8460 §4 report JSON into struct tlsrpt_report, with a
 * JSON reader of its own (see tlsrpt_report.h for the rules, the repairs and
 * the caps).
 *
 * Failure: every check returns a negative MXTLS_E* code with diag naming the
 * member path ("policies[2].summary") and the reason; the partly built report
 * is freed. Input that is not JSON gets "not JSON: WHAT at line L column C".
 * Nothing logs or exits.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mxtls/domain.h"
#include "tlsrpt_report.h"

#define PATH_MAX_LEN 96

/*
 * The JSON reader (RFC 8259). The report's JSON used to be read with
 * jansson; building and freeing jansson's objects (a hash table per object, a
 * heap block per value) was three quarters of ingest's time, so the text is
 * read here into a compact tree in one arena, freed at once. Strings without
 * escapes point into the input (no copy). Strict as jansson was: one JSON
 * text with nothing but white space after it, UTF-8 checked (RFC 8259 §8.1),
 * "\u0000" and lone surrogates refused, duplicate member names refused
 * (§4: their meaning is ambiguous), integers outside int64 refused. Bounded:
 * nesting at JSON_DEPTH_MAX levels, at most JSON_VALUES_MAX values (so the
 * tree of a TLSRPT_REPORT_MAX input stays a few tens of MiB).
 */
#define JSON_DEPTH_MAX  2048    /* as jansson's JSON_PARSER_MAX_DEPTH */
#define JSON_VALUES_MAX 1000000 /* values in one report */
#define ARENA_CHUNK     65536

enum jtype { J_NULL, J_BOOL, J_INT, J_REAL, J_STRING, J_ARRAY, J_OBJECT };

struct jmember;

/* One value: a string is (s, n) not NUL-terminated; an array n items; an object n members. */
struct jval {
    enum jtype t;
    uint32_t n;
    union {
        int64_t i;
        const char *s;
        struct jval *items;
        struct jmember *members;
    } u;
};

struct jmember {
    const char *key;
    uint32_t klen;
    struct jval v;
};

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[]; /* cap octets */
};

struct jparser {
    const char *buf;
    size_t len, pos;
    struct arena_chunk *chunks;
    struct jval *vstack; /* array items not yet closed */
    size_t vn, vcap;
    struct jmember *mstack; /* object members not yet closed */
    size_t mn, mcap;
    size_t values;
    const char *err; /* what went wrong, at pos */
};

/* arena_alloc - n octets (aligned) from the parser's arena, NULL when out of memory */
static void *arena_alloc(struct jparser *p, size_t n)
{
    struct arena_chunk *c = p->chunks;
    void *out;

    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;

        c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = p->chunks;
        p->chunks = c;
    }
    out = (char *)c->data + c->used;
    c->used += n;
    return out;
}

/* jparser_finish - free the arena and the stacks */
static void jparser_finish(struct jparser *p)
{
    while (p->chunks != NULL) {
        struct arena_chunk *next = p->chunks->next;

        free(p->chunks);
        p->chunks = next;
    }
    free(p->vstack);
    free(p->mstack);
}

/* jfail - note the error (the first one wins) and return -1 */
static int jfail(struct jparser *p, const char *what)
{
    if (p->err == NULL)
        p->err = what;
    return -1;
}

/* skip_ws - RFC 8259 §2: ws = space, tab, LF, CR */
static void skip_ws(struct jparser *p)
{
    while (p->pos < p->len) {
        char c = p->buf[p->pos];

        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

/* hex4 - four hex digits at s into *v; 0 or -1 */
static int hex4(const char *s, unsigned *v)
{
    unsigned x = 0;

    for (int i = 0; i < 4; i++) {
        char c = s[i];

        x <<= 4;
        if (c >= '0' && c <= '9')
            x |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            x |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *v = x;
    return 0;
}

/*
 * utf8_len - the length of the well-formed UTF-8 sequence at s (at most n
 * octets available), 0 when ill-formed: overlong, a surrogate, over U+10FFFF
 * or truncated (RFC 3629 §4).
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
            return 0; /* overlong; surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
            return 0; /* overlong; over U+10FFFF */
        return 4;
    }
    return 0;
}

/* put_utf8 - code point cp as UTF-8 at out; the octets written */
static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * parse_string - RFC 8259 §7: the string at pos (after its '"') into
 * (*s, *n). Without escapes it points into the input; with them it is
 * decoded into the arena.
 */
static int parse_string(struct jparser *p, const char **s, uint32_t *n)
{
    static const char esc_from[] = "\"\\/bfnrt", esc_to[] = "\"\\/\b\f\n\r\t";
    size_t start = p->pos, i = start, esc = 0;
    char *out;
    size_t o = 0;

    while (i < p->len) {
        unsigned char c = (unsigned char)p->buf[i];

        if (c == '"')
            break;
        if (c < 0x20) {
            p->pos = i;
            return jfail(p, "control character in a string");
        }
        if (c == '\\') {
            esc = 1;
            i += 2;
            continue;
        }
        if (c >= 0x80) {
            size_t l = utf8_len((const unsigned char *)p->buf + i, p->len - i);

            if (l == 0) {
                p->pos = i;
                return jfail(p, "invalid UTF-8 in a string (RFC 8259 §8.1)");
            }
            i += l;
            continue;
        }
        i++;
    }
    if (i >= p->len) {
        p->pos = p->len;
        return jfail(p, "unterminated string");
    }
    p->pos = i + 1;
    if (!esc) {
        *s = p->buf + start;
        *n = (uint32_t)(i - start);
        return 0;
    }
    out = arena_alloc(p, i - start + 1);
    if (out == NULL)
        return jfail(p, "out of memory");
    for (size_t k = start; k < i;) {
        char c = p->buf[k];
        unsigned cp, lo;

        if (c != '\\') {
            out[o++] = c;
            k++;
            continue;
        }
        c = p->buf[k + 1];
        k += 2;
        if (c != 'u') { /* RFC 8259 §7: the two-character escapes */
            const char *e = c != '\0' ? strchr(esc_from, c) : NULL;

            if (e == NULL) {
                p->pos = k - 1;
                return jfail(p, "invalid escape");
            }
            out[o++] = esc_to[e - esc_from];
            continue;
        }
        if (k + 4 > i || hex4(p->buf + k, &cp) != 0) {
            p->pos = k;
            return jfail(p, "invalid \\u escape");
        }
        k += 4;
        if (cp >= 0xdc00 && cp <= 0xdfff) {
            p->pos = k;
            return jfail(p, "lone low surrogate in \\u escape");
        }
        if (cp >= 0xd800 && cp <= 0xdbff) { /* RFC 8259 §7: a surrogate pair */
            if (k + 6 > i || p->buf[k] != '\\' || p->buf[k + 1] != 'u' ||
                hex4(p->buf + k + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
                p->pos = k;
                return jfail(p, "lone high surrogate in \\u escape");
            }
            k += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp == 0) {
            p->pos = k;
            return jfail(p, "\\u0000 is not allowed");
        }
        o += put_utf8(out + o, cp); /* never longer than its escape */
    }
    *s = out;
    *n = (uint32_t)o;
    return 0;
}

/* parse_number - RFC 8259 §6: an integer (int64) or a real (its value unused) */
static int parse_number(struct jparser *p, struct jval *v)
{
    size_t i = p->pos;
    int neg = 0, real = 0;
    uint64_t x = 0;
    int over = 0;

    if (i < p->len && p->buf[i] == '-')
        neg = 1, i++;
    if (i >= p->len || p->buf[i] < '0' || p->buf[i] > '9')
        return jfail(p, "invalid number");
    if (p->buf[i] == '0') {
        i++;
    } else {
        while (i < p->len && p->buf[i] >= '0' && p->buf[i] <= '9') {
            unsigned d = (unsigned)(p->buf[i] - '0');

            if (x > (UINT64_MAX - d) / 10)
                over = 1;
            else
                x = x * 10 + d;
            i++;
        }
    }
    if (i < p->len && p->buf[i] == '.') {
        real = 1;
        i++;
        if (i >= p->len || p->buf[i] < '0' || p->buf[i] > '9') {
            p->pos = i;
            return jfail(p, "invalid number");
        }
        while (i < p->len && p->buf[i] >= '0' && p->buf[i] <= '9')
            i++;
    }
    if (i < p->len && (p->buf[i] == 'e' || p->buf[i] == 'E')) {
        real = 1;
        i++;
        if (i < p->len && (p->buf[i] == '+' || p->buf[i] == '-'))
            i++;
        if (i >= p->len || p->buf[i] < '0' || p->buf[i] > '9') {
            p->pos = i;
            return jfail(p, "invalid number");
        }
        while (i < p->len && p->buf[i] >= '0' && p->buf[i] <= '9')
            i++;
    }
    if (real) {
        v->t = J_REAL;
    } else {
        if (over || x > (uint64_t)INT64_MAX + (uint64_t)neg)
            return jfail(p, neg ? "too big negative integer" : "too big integer");
        v->t = J_INT;
        v->u.i = neg ? (int64_t)(0 - x) : (int64_t)x;
    }
    p->pos = i;
    return 0;
}

/* key_hash - FNV-1a of a member name */
static uint32_t key_hash(const char *s, uint32_t n)
{
    uint32_t h = 2166136261u;

    for (uint32_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* has_duplicate - RFC 8259 §4: two members of m[0..n) with one name; -1 out of memory */
static int has_duplicate(const struct jmember *m, uint32_t n)
{
    uint32_t size = 16, *slot;
    int dup = 0;

    if (n <= 16) {
        for (uint32_t a = 0; a < n; a++)
            for (uint32_t b = a + 1; b < n; b++)
                if (m[a].klen == m[b].klen && memcmp(m[a].key, m[b].key, m[a].klen) == 0)
                    return 1;
        return 0;
    }
    while (size < 2 * n)
        size *= 2;
    slot = malloc(size * sizeof(*slot));
    if (slot == NULL)
        return -1;
    memset(slot, 0xff, size * sizeof(*slot));
    for (uint32_t a = 0; a < n && !dup; a++) {
        uint32_t h = key_hash(m[a].key, m[a].klen) & (size - 1);

        for (; slot[h] != UINT32_MAX; h = (h + 1) & (size - 1)) {
            const struct jmember *b = &m[slot[h]];

            if (b->klen == m[a].klen && memcmp(b->key, m[a].key, b->klen) == 0) {
                dup = 1;
                break;
            }
        }
        slot[h] = a;
    }
    free(slot);
    return dup;
}

/* grow_stack - room for one more entry of size sz in *stack of *cap */
static int grow_stack(void **stack, size_t *cap, size_t used, size_t sz)
{
    size_t want;
    void *q;

    if (used < *cap)
        return 0;
    want = *cap == 0 ? 64 : *cap * 2;
    q = realloc(*stack, want * sz);
    if (q == NULL)
        return -1;
    *stack = q;
    *cap = want;
    return 0;
}

static int parse_value(struct jparser *p, struct jval *v, unsigned depth);

/* parse_item - one array element onto the value stack */
static int parse_item(struct jparser *p, unsigned depth)
{
    struct jval item;

    if (parse_value(p, &item, depth) < 0)
        return -1;
    if (grow_stack((void **)&p->vstack, &p->vcap, p->vn, sizeof(*p->vstack)) < 0)
        return jfail(p, "out of memory");
    p->vstack[p->vn++] = item;
    return 0;
}

/* parse_member - RFC 8259 §4: one name : value onto the member stack */
static int parse_member(struct jparser *p, unsigned depth)
{
    struct jmember m;

    skip_ws(p);
    if (p->pos >= p->len || p->buf[p->pos] != '"')
        return jfail(p, "string expected");
    p->pos++;
    if (parse_string(p, &m.key, &m.klen) < 0)
        return -1;
    skip_ws(p);
    if (p->pos >= p->len || p->buf[p->pos] != ':')
        return jfail(p, "':' expected");
    p->pos++;
    if (parse_value(p, &m.v, depth) < 0)
        return -1;
    if (grow_stack((void **)&p->mstack, &p->mcap, p->mn, sizeof(*p->mstack)) < 0)
        return jfail(p, "out of memory");
    p->mstack[p->mn++] = m;
    return 0;
}

/* arena_copy - n entries of size sz from src into the arena (NULL for none); -1 out of memory */
static int arena_copy(struct jparser *p, void **dst, const void *src, size_t n, size_t sz)
{
    *dst = NULL;
    if (n == 0)
        return 0;
    *dst = arena_alloc(p, n * sz);
    if (*dst == NULL)
        return jfail(p, "out of memory");
    memcpy(*dst, src, n * sz);
    return 0;
}

/*
 * parse_container - RFC 8259 §4 object or §5 array, after its '{' or '[':
 * the members or elements gather on the parser's stack and move to the
 * arena when it closes.
 */
static int parse_container(struct jparser *p, struct jval *v, unsigned depth, bool obj)
{
    char close = obj ? '}' : ']';
    size_t base = obj ? p->mn : p->vn, n;
    int dup, r;

    skip_ws(p);
    if (p->pos < p->len && p->buf[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            if ((obj ? parse_member(p, depth) : parse_item(p, depth)) < 0)
                return -1;
            skip_ws(p);
            if (p->pos < p->len && p->buf[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->len && p->buf[p->pos] == close) {
                p->pos++;
                break;
            }
            return jfail(p, obj ? "',' or '}' expected" : "',' or ']' expected");
        }
    }
    n = (obj ? p->mn : p->vn) - base;
    v->n = (uint32_t)n;
    if (!obj) {
        v->t = J_ARRAY;
        r = arena_copy(p, (void **)&v->u.items, p->vstack + base, n, sizeof(*p->vstack));
        p->vn = base;
        return r;
    }
    dup = has_duplicate(p->mstack + base, (uint32_t)n);
    if (dup != 0)
        return jfail(p, dup < 0 ? "out of memory" : "duplicate object key");
    v->t = J_OBJECT;
    r = arena_copy(p, (void **)&v->u.members, p->mstack + base, n, sizeof(*p->mstack));
    p->mn = base;
    return r;
}

/* parse_value - RFC 8259 §3: one value at pos (after white space) */
static int parse_value(struct jparser *p, struct jval *v, unsigned depth)
{
    char c;

    skip_ws(p);
    if (p->pos >= p->len)
        return jfail(p, "unexpected end of input");
    if (++p->values > JSON_VALUES_MAX)
        return jfail(p, "more than 1000000 JSON values");
    c = p->buf[p->pos];
    memset(v, 0, sizeof(*v));
    switch (c) {
    case '{':
    case '[':
        if (depth >= JSON_DEPTH_MAX)
            return jfail(p, "maximum parsing depth reached");
        p->pos++;
        return parse_container(p, v, depth + 1, c == '{');
    case '"':
        p->pos++;
        v->t = J_STRING;
        return parse_string(p, &v->u.s, &v->n);
    case 't':
    case 'f':
    case 'n': {
        const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t wl = strlen(word);

        if (p->len - p->pos < wl || memcmp(p->buf + p->pos, word, wl) != 0)
            return jfail(p, "invalid token");
        p->pos += wl;
        v->t = c == 'n' ? J_NULL : J_BOOL;
        v->u.i = c == 't';
        return 0;
    }
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return parse_number(p, v);
        return jfail(p, "invalid token");
    }
}

/*
 * json_read - the JSON text (buf, len) into *root; 0, or -1 with p->err at
 * p->pos. The caller calls jparser_finish in both cases.
 */
static int json_read(struct jparser *p, const char *buf, size_t len, struct jval *root)
{
    memset(p, 0, sizeof(*p));
    p->buf = buf;
    p->len = len;
    if (parse_value(p, root, 0) < 0)
        return -1;
    skip_ws(p);
    if (p->pos != p->len)
        return jfail(p, "end of input expected");
    return 0;
}

/* jv_get - member key of object o, NULL when o is no object or has none */
static const struct jval *jv_get(const struct jval *o, const char *key)
{
    size_t kl = strlen(key);

    if (o == NULL || o->t != J_OBJECT)
        return NULL;
    for (uint32_t i = 0; i < o->n; i++)
        if (o->u.members[i].klen == kl && memcmp(o->u.members[i].key, key, kl) == 0)
            return &o->u.members[i].v;
    return NULL;
}

#define jv_is(v, type) ((v) != NULL && (v)->t == (type))
#define jv_is_null(v)  jv_is(v, J_NULL)

/* dup_str - a NUL-terminated heap copy of (s, n), NULL when out of memory */
static char *dup_str(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* lower_in_place - ASCII lower case */
static void lower_in_place(char *s)
{
    for (; *s != '\0'; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/*
 * get_string - member key of obj as a new string in *out. Absent or null
 * gives *out = NULL and 0 unless required. A string over TLSRPT_STRING_MAX
 * is MXTLS_ETOOLONG; another type is MXTLS_EINVAL.
 */
static int get_string(const struct jval *obj, const char *key, bool required, char **out,
                      const char *path, struct mxtls_diag *diag)
{
    const struct jval *v = jv_get(obj, key);
    size_t n;

    *out = NULL;
    if (v == NULL || jv_is_null(v)) {
        if (required)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: missing (RFC 8460 §4.4)", path,
                                  key);
        return 0;
    }
    if (!jv_is(v, J_STRING))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: not a string (RFC 8460 §4.4)", path,
                              key);
    n = (size_t)v->n;
    if (n > TLSRPT_STRING_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s%s: longer than %u octets", path, key,
                              (unsigned)TLSRPT_STRING_MAX);
    if (required && n == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: empty (RFC 8460 §4.4)", path, key);
    *out = dup_str(v->u.s, n);
    return *out == NULL ? mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory") : 0;
}

/*
 * get_count - member key of obj, a session count (RFC 8460 §4.4: an integer
 * count of sessions): a JSON integer 0..TLSRPT_COUNT_MAX. A real such as 1.0
 * or 1e3, a negative number, a string or a missing member is refused.
 */
static int get_count(const struct jval *obj, const char *key, int64_t *out, const char *path,
                     struct mxtls_diag *diag)
{
    const struct jval *v = jv_get(obj, key);
    int64_t n;

    if (v == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: missing (RFC 8460 §4.4)", path, key);
    if (!jv_is(v, J_INT))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%s%s: not a non-negative integer (RFC 8460 §4.4)", path, key);
    n = v->u.i;
    if (n < 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: negative count %lld (RFC 8460 §4.4)",
                              path, key, (long long)n);
    if (n > TLSRPT_COUNT_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s%s: count %lld over %lld", path, key,
                              (long long)n, (long long)TLSRPT_COUNT_MAX);
    *out = (int64_t)n;
    return 0;
}

/* digits - n decimal digits at s into *v; 0 or -1 */
static int digits(const char *s, size_t n, int *v)
{
    int x = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

/* days_from_civil - days since 1970-01-01 of a proleptic Gregorian date */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t yy = y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

/* tlsrpt_datetime_parse - RFC 3339 §5.6 date-time to epoch seconds (see the header) */
int tlsrpt_datetime_parse(const char *s, size_t len, int64_t *t, int *no_zone)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, zh = 0, zm = 0, sign = 0;
    size_t i = 19;

    /* RFC 3339 §5.6: full-date "T" partial-time time-offset */
    if (len < 19 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return MXTLS_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return MXTLS_EINVAL;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return MXTLS_EINVAL;
    if (i < len && s[i] == '.') { /* time-secfrac: dropped */
        size_t j = ++i;

        while (i < len && s[i] >= '0' && s[i] <= '9' && i - j < 12)
            i++;
        if (i == j)
            return MXTLS_EINVAL;
    }
    *no_zone = 0;
    if (i == len) {
        *no_zone = 1; /* seen in the wild; RFC 3339 requires an offset */
    } else if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        /* UTC */
    } else if ((s[i] == '+' || s[i] == '-') && len - i == 6 && !digits(s + i + 1, 2, &zh) &&
               s[i + 3] == ':' && !digits(s + i + 4, 2, &zm) && zh <= 23 && zm <= 59) {
        sign = s[i] == '+' ? 1 : -1;
    } else {
        return MXTLS_EINVAL;
    }
    if (sec == 60)
        sec = 59; /* a leap second counts as the second before it */
    *t =
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * (zh * 3600 + zm * 60);
    return 0;
}

/* get_time - a date-time member (RFC 8460 §4.4, RFC 3339) into *t */
static int get_time(const struct jval *obj, const char *key, int64_t *t, unsigned *quirks,
                    const char *path, struct mxtls_diag *diag)
{
    const struct jval *v = jv_get(obj, key);
    int no_zone = 0;

    if (v == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: missing (RFC 8460 §4.4)", path, key);
    if (!jv_is(v, J_STRING) || tlsrpt_datetime_parse(v->u.s, (size_t)v->n, t, &no_zone) != 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%s%s: not an RFC 3339 date-time (RFC 8460 §4.4)", path, key);
    if (*t < TLSRPT_TIME_MIN || *t > TLSRPT_TIME_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: before 1970 or after 2999", path, key);
    if (no_zone)
        *quirks |= TLSRPT_Q_DATE_NO_ZONE;
    return 0;
}

/* push_string - append a copy of (s, n) to the array *arr of *n strings */
static int push_string(char ***arr, size_t *count, const char *s, size_t n, const char *what,
                       struct mxtls_diag *diag)
{
    char **grown;

    if (*count >= TLSRPT_STRINGS_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s: more than %d entries", what,
                              TLSRPT_STRINGS_MAX);
    if (n > TLSRPT_STRING_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s: an entry longer than %u octets", what,
                              (unsigned)TLSRPT_STRING_MAX);
    grown = realloc(*arr, (*count + 1) * sizeof(**arr));
    if (grown == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    *arr = grown;
    grown[*count] = dup_str(s, n);
    if (grown[*count] == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    (*count)++;
    return 0;
}

/*
 * inner_strings - when (s, n) is a JSON-encoded array of strings (how
 * Microsoft sends a TLSA policy-string), append its elements and return 1;
 * 0 when it is not one (the caller keeps it as one string); < 0 on error.
 */
static int inner_strings(struct tlsrpt_policy *p, const char *s, size_t n, const char *what,
                         struct mxtls_diag *diag)
{
    struct jparser jp;
    struct jval inner;
    uint32_t i;
    int err = 1;

    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    if (n == 0 || *s != '[')
        return 0;
    if (json_read(&jp, s, n, &inner) < 0 || inner.t != J_ARRAY) {
        jparser_finish(&jp);
        return 0;
    }
    for (i = 0; i < inner.n; i++)
        if (inner.u.items[i].t != J_STRING) {
            jparser_finish(&jp);
            return 0;
        }
    for (i = 0; i < inner.n && err > 0; i++) {
        const struct jval *e = &inner.u.items[i];
        int r = push_string(&p->policy_strings, &p->n_policy_strings, e->u.s, e->n, what, diag);

        if (r < 0)
            err = r;
    }
    jparser_finish(&jp);
    return err;
}

/*
 * add_policy_string - one policy-string entry; when it is the only one
 * (single), it may be a JSON-encoded array of strings (Microsoft's TLSA
 * policies), whose elements are used instead.
 */
static int add_policy_string(struct tlsrpt_policy *p, const char *s, size_t n, int single,
                             unsigned *quirks, const char *what, struct mxtls_diag *diag)
{
    if (single) {
        int r = inner_strings(p, s, n, what, diag);

        if (r > 0)
            *quirks |= TLSRPT_Q_POLICY_STRING_JSON;
        if (r != 0)
            return r < 0 ? r : 0;
    }
    return push_string(&p->policy_strings, &p->n_policy_strings, s, n, what, diag);
}

/* add_mx_host - one mx-host entry, "mx: " removed, lower case */
static int add_mx_host(struct tlsrpt_policy *p, const char *s, size_t n, int single,
                       unsigned *quirks, const char *what, struct mxtls_diag *diag)
{
    int r;

    (void)single;
    if (n >= 3 && strncasecmp(s, "mx:", 3) == 0) {
        *quirks |= TLSRPT_Q_MX_HOST_PREFIX;
        s += 3, n -= 3;
        while (n > 0 && (*s == ' ' || *s == '\t'))
            s++, n--;
    }
    if (n > 0 && s[n - 1] == '.')
        n--;
    r = push_string(&p->mx_hosts, &p->n_mx_hosts, s, n, what, diag);
    if (r < 0)
        return r;
    lower_in_place(p->mx_hosts[p->n_mx_hosts - 1]);
    return 0;
}

/* One entry of a string-or-array member: add_policy_string or add_mx_host. */
typedef int (*add_entry_fn)(struct tlsrpt_policy *p, const char *s, size_t n, int single,
                            unsigned *quirks, const char *what, struct mxtls_diag *diag);

/*
 * get_strings - the optional member key of pol (RFC 8460 §4.4: policy-string
 * and mx-host are arrays of strings), each entry through add. A lone string
 * instead of the array is taken as an array of one (seen in the wild) and
 * flagged with scalar_quirk; null or absent is no entry.
 */
static int get_strings(const struct jval *pol, const char *key, unsigned scalar_quirk,
                       add_entry_fn add, struct tlsrpt_policy *p, unsigned *quirks,
                       const char *path, struct mxtls_diag *diag)
{
    const struct jval *v = jv_get(pol, key);
    char what[PATH_MAX_LEN + 80];

    snprintf(what, sizeof(what), "%s%s", path, key);
    if (v == NULL || jv_is_null(v))
        return 0;
    if (jv_is(v, J_STRING)) {
        *quirks |= scalar_quirk;
        return add(p, v->u.s, v->n, 1, quirks, what, diag);
    }
    if (!jv_is(v, J_ARRAY))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: not an array of strings (RFC 8460 §4.4)",
                              what);
    if ((size_t)v->n > TLSRPT_STRINGS_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s: more than %d entries", what,
                              TLSRPT_STRINGS_MAX);
    for (size_t i = 0; i < (size_t)v->n; i++) {
        const struct jval *e = &v->u.items[i];
        int r;

        if (!jv_is(e, J_STRING))
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s[%zu]: not a string (RFC 8460 §4.4)",
                                  what, i);
        r = add(p, e->u.s, e->n, v->n == 1, quirks, what, diag);
        if (r < 0)
            return r;
    }
    return 0;
}

/* empty_to_null - "" becomes NULL (an empty sending-mta-ip, seen in the wild) */
static void empty_to_null(char **s, unsigned *quirks)
{
    if (*s != NULL && (*s)[0] == '\0') {
        free(*s);
        *s = NULL;
        *quirks |= TLSRPT_Q_EMPTY_IP;
    }
}

/* parse_failure - one failure-details entry (RFC 8460 §4.4) */
static int parse_failure(const struct jval *fd, struct tlsrpt_failure *f, unsigned *quirks,
                         const char *path, struct mxtls_diag *diag)
{
    int r;

    if (!jv_is(fd, J_OBJECT))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: not an object (RFC 8460 §4.4)", path);
    if ((r = get_string(fd, "result-type", true, &f->result_type, path, diag)) < 0 ||
        (r = get_count(fd, "failed-session-count", &f->failed_session_count, path, diag)) < 0 ||
        (r = get_string(fd, "sending-mta-ip", false, &f->sending_mta_ip, path, diag)) < 0 ||
        (r = get_string(fd, "receiving-mx-hostname", false, &f->receiving_mx_hostname, path,
                        diag)) < 0 ||
        (r = get_string(fd, "receiving-mx-helo", false, &f->receiving_mx_helo, path, diag)) < 0 ||
        (r = get_string(fd, "receiving-ip", false, &f->receiving_ip, path, diag)) < 0 ||
        (r = get_string(fd, "additional-information", false, &f->additional_information, path,
                        diag)) < 0 ||
        (r = get_string(fd, "failure-reason-code", false, &f->failure_reason_code, path, diag)) < 0)
        return r;
    lower_in_place(f->result_type);
    empty_to_null(&f->sending_mta_ip, quirks);
    empty_to_null(&f->receiving_ip, quirks);
    if (f->receiving_mx_hostname != NULL) {
        size_t n = strlen(f->receiving_mx_hostname);

        if (n > 0 && f->receiving_mx_hostname[n - 1] == '.')
            f->receiving_mx_hostname[n - 1] = '\0';
        lower_in_place(f->receiving_mx_hostname);
    }
    return 0;
}

/* parse_policy - one policies[] entry: policy, summary, failure-details */
static int parse_policy(const struct jval *entry, struct tlsrpt_policy *p, unsigned *quirks,
                        const char *path, struct mxtls_diag *diag)
{
    char sub[PATH_MAX_LEN + 48], dom[DOMAIN_BUF_SIZE];
    const struct jval *pol, *sum, *fds;
    int r;

    if (!jv_is(entry, J_OBJECT))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: not an object (RFC 8460 §4.4)", path);
    pol = jv_get(entry, "policy");
    snprintf(sub, sizeof(sub), "%spolicy.", path);
    if (!jv_is(pol, J_OBJECT))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%spolicy: %s (RFC 8460 §4.4)", path,
                              pol == NULL ? "missing" : "not an object");
    if ((r = get_string(pol, "policy-type", true, &p->policy_type, sub, diag)) < 0 ||
        (r = get_string(pol, "policy-domain", true, &p->policy_domain, sub, diag)) < 0 ||
        (r = get_strings(pol, "policy-string", TLSRPT_Q_POLICY_STRING_SCALAR, add_policy_string, p,
                         quirks, sub, diag)) < 0 ||
        (r = get_strings(pol, "mx-host", TLSRPT_Q_MX_HOST_STRING, add_mx_host, p, quirks, sub,
                         diag)) < 0)
        return r;
    lower_in_place(p->policy_type);
    if (domain_normalize(p->policy_domain, strlen(p->policy_domain), dom, sizeof(dom), NULL) != 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%spolicy-domain: not a domain name (RFC 8460 §4.4)", sub);
    strcpy(p->policy_domain, dom); /* normalised is never longer */

    sum = jv_get(entry, "summary");
    snprintf(sub, sizeof(sub), "%ssummary.", path);
    if (!jv_is(sum, J_OBJECT))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%ssummary: %s (RFC 8460 §4.4)", path,
                              sum == NULL ? "missing" : "not an object");
    if ((r = get_count(sum, "total-successful-session-count", &p->total_successful, sub, diag)) <
            0 ||
        (r = get_count(sum, "total-failure-session-count", &p->total_failure, sub, diag)) < 0)
        return r;

    fds = jv_get(entry, "failure-details");
    if (fds == NULL || jv_is_null(fds))
        return 0; /* RFC 8460 §4.4: failure-details is optional */
    if (!jv_is(fds, J_ARRAY))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%sfailure-details: not an array (RFC 8460 §4.4)", path);
    if ((size_t)fds->n > TLSRPT_DETAILS_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%sfailure-details: more than %d entries",
                              path, TLSRPT_DETAILS_MAX);
    if ((size_t)fds->n > 0) {
        p->failures = calloc((size_t)fds->n, sizeof(*p->failures));
        if (p->failures == NULL)
            return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < (size_t)fds->n; i++) {
        snprintf(sub, sizeof(sub), "%sfailure-details[%zu].", path, i);
        p->n_failures = i + 1;
        r = parse_failure(&fds->u.items[i], &p->failures[i], quirks, sub, diag);
        if (r < 0)
            return r;
        p->details_failure += p->failures[i].failed_session_count; /* capped: no overflow */
    }
    if (p->n_failures > 0 && p->details_failure != p->total_failure) {
        p->totals_mismatch = 1; /* stored as sent, flagged (Mail.ru) */
        *quirks |= TLSRPT_Q_TOTALS_MISMATCH;
    }
    return 0;
}

/* parse_root - the report object (RFC 8460 §4.4) */
static int parse_root(const struct jval *root, struct tlsrpt_report *r, struct mxtls_diag *diag)
{
    const struct jval *dr, *pols, *ci;
    int err;
    size_t n;

    if (!jv_is(root, J_OBJECT))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "not a JSON object (RFC 8460 §4.4)");
    if ((err = get_string(root, "organization-name", true, &r->organization_name, "", diag)) < 0 ||
        (err = get_string(root, "report-id", true, &r->report_id, "", diag)) < 0)
        return err;
    n = strlen(r->report_id);
    if (n >= 2 && r->report_id[0] == '<' && r->report_id[n - 1] == '>') {
        memmove(r->report_id, r->report_id + 1, n - 2);
        r->report_id[n - 2] = '\0';
        r->quirks |= TLSRPT_Q_REPORT_ID_BRACKETS;
        if (n == 2)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "report-id: empty (RFC 8460 §4.4)");
    }
    ci = jv_get(root, "contact-info");
    if (ci != NULL && !jv_is_null(ci) && !jv_is(ci, J_STRING))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "contact-info: not a string (RFC 8460 §4.4)");
    if ((err = get_string(root, "contact-info", false, &r->contact_info, "", diag)) < 0)
        return err;
    if (r->contact_info == NULL)
        r->quirks |= TLSRPT_Q_CONTACT_NULL;

    dr = jv_get(root, "date-range");
    if (!jv_is(dr, J_OBJECT))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "date-range: %s (RFC 8460 §4.4)",
                              dr == NULL ? "missing" : "not an object");
    if ((err = get_time(dr, "start-datetime", &r->start, &r->quirks, "date-range.", diag)) < 0 ||
        (err = get_time(dr, "end-datetime", &r->end, &r->quirks, "date-range.", diag)) < 0)
        return err;
    if (r->end < r->start)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "date-range: end-datetime before start-datetime");

    pols = jv_get(root, "policies");
    if (!jv_is(pols, J_ARRAY))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "policies: %s (RFC 8460 §4.4)",
                              pols == NULL ? "missing" : "not an array");
    if ((size_t)pols->n == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "policies: empty (RFC 8460 §4.4)");
    if ((size_t)pols->n > TLSRPT_POLICIES_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "policies: more than %d entries",
                              TLSRPT_POLICIES_MAX);
    r->policies = calloc((size_t)pols->n, sizeof(*r->policies));
    if (r->policies == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    for (size_t i = 0; i < (size_t)pols->n; i++) {
        char path[PATH_MAX_LEN];

        snprintf(path, sizeof(path), "policies[%zu].", i);
        r->n_policies = i + 1;
        err = parse_policy(&pols->u.items[i], &r->policies[i], &r->quirks, path, diag);
        if (err < 0)
            return err;
    }
    return 0;
}

/* line_col - 1-based line and column of offset pos in buf, for the message */
static void line_col(const char *buf, size_t pos, int *line, int *col)
{
    size_t last = 0;

    *line = 1;
    for (size_t i = 0; i < pos; i++)
        if (buf[i] == '\n') {
            (*line)++;
            last = i + 1;
        }
    *col = (int)(pos - last + 1);
}

/* tlsrpt_report_parse - the report JSON into a new struct tlsrpt_report */
int tlsrpt_report_parse(const char *buf, size_t len, struct tlsrpt_report **out,
                        struct mxtls_diag *diag)
{
    struct tlsrpt_report *r;
    struct jparser jp;
    struct jval root;
    int err, line, col;

    *out = NULL;
    if (len > TLSRPT_REPORT_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "report larger than %u octets",
                              (unsigned)TLSRPT_REPORT_MAX);
    /* RFC 8460 §4.4 / RFC 8259: one JSON text; duplicate names are ambiguous */
    if (json_read(&jp, buf, len, &root) < 0) {
        if (strcmp(jp.err, "out of memory") == 0) {
            jparser_finish(&jp);
            return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
        }
        line_col(buf, jp.pos, &line, &col);
        err = mxtls_diag_set(diag, MXTLS_EINVAL, jp.pos, "not JSON: %s at line %d column %d",
                             jp.err, line, col);
        jparser_finish(&jp);
        return err;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        jparser_finish(&jp);
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    }
    err = parse_root(&root, r, diag);
    jparser_finish(&jp);
    if (err < 0) {
        tlsrpt_report_free(r);
        return err;
    }
    *out = r;
    return 0;
}

/* free_strings - an array of n heap strings */
static void free_strings(char **a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i]);
    free(a);
}

/* tlsrpt_report_free - free a parsed report; NULL is a no-op */
void tlsrpt_report_free(struct tlsrpt_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_policies; i++) {
        struct tlsrpt_policy *p = &r->policies[i];

        free(p->policy_type);
        free(p->policy_domain);
        free_strings(p->policy_strings, p->n_policy_strings);
        free_strings(p->mx_hosts, p->n_mx_hosts);
        for (size_t j = 0; j < p->n_failures; j++) {
            struct tlsrpt_failure *f = &p->failures[j];

            free(f->result_type);
            free(f->sending_mta_ip);
            free(f->receiving_mx_hostname);
            free(f->receiving_mx_helo);
            free(f->receiving_ip);
            free(f->additional_information);
            free(f->failure_reason_code);
        }
        free(p->failures);
    }
    free(r->policies);
    free(r->organization_name);
    free(r->report_id);
    free(r->contact_info);
    free(r);
}
