/*
 * sts_policy - the MTA-STS policy file (RFC 8461 §3.2): parse and format.
 * See include/mxtls/sts_policy.h for the contract.
 *
 * The parser follows the §3.2 ABNF line by line:
 *
 *   sts-policy-record      = sts-policy-field *WSP
 *                            *(sts-policy-term sts-policy-field *WSP)
 *                            [sts-policy-term]
 *   sts-policy-field-delim = ":" *WSP
 *   sts-policy-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *   sts-policy-ext-value   = sts-policy-vchar [*(%x20 / sts-policy-vchar) sts-policy-vchar]
 *   sts-policy-vchar       = %x21-7E / UTF8-2 / UTF8-3 / UTF8-4
 *   sts-policy-term        = LF / CRLF
 *
 * So every line is exactly `name ":" *WSP value *WSP`: no leading space, no
 * empty line, no space before the colon, no control character (NUL, bare CR,
 * a BOM is not a name character either). Field names and the version and
 * mode values are %s"..." strings: case-sensitive. A name that is not one of
 * the four known ones is an extension field and is ignored (§3.2), but only
 * after its line passed the extension grammar.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mxtls/domain.h"
#include "mxtls/sts_policy.h"

#define EXT_NAME_MAX   32 /* §3.2: 1 + *31 characters */
#define MAX_AGE_DIGITS 10 /* §3.2: 1*10(DIGIT) */

/* What the parser has seen so far; required fields are checked at the end. */
struct seen {
    bool version, mode, max_age;
    size_t mx_lines;
};

/* One line of the body, without its terminator; off is its offset in the body. */
struct line {
    const char *p;
    size_t len;
    size_t off;
};

/* is_wsp - RFC 5234 WSP: space or horizontal tab */
static bool is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* is_alnum - ASCII letter or digit */
static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* utf8_seq_len - length of the valid RFC 3629 §4 UTF-8 sequence at p, or 0 */
static size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second octet */
    size_t n, i;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* no overlong forms */
        else if (c == 0xed)
            hi = 0x9f; /* no UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* no overlong forms */
        else if (c == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
    } else
        return 0;
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

/* check_ext_value - §3.2 sts-policy-ext-value: visible ASCII, UTF-8, inner spaces */
static int check_ext_value(const char *v, size_t len, size_t off, struct mxtls_diag *diag)
{
    const unsigned char *u = (const unsigned char *)v;
    size_t i = 0;

    while (i < len) {
        size_t n = 1;

        if (u[i] >= 0x80) {
            n = utf8_seq_len(u + i, len - i);
            if (n == 0)
                return mxtls_diag_set(diag, MXTLS_EINVAL, off + i,
                                      "invalid UTF-8 in a field value (RFC 8461 §3.2)");
        } else if (u[i] < 0x20 || u[i] == 0x7f || (u[i] == ' ' && (i == 0 || i + 1 == len))) {
            /* Leading and trailing WSP were split off already; what is left
             * here is a control character (HTAB included: only %x20 may
             * appear inside a value). */
            return mxtls_diag_set(diag, MXTLS_EINVAL, off + i,
                                  "control character 0x%02x in a field value (RFC 8461 §3.2)",
                                  u[i]);
        }
        i += n;
    }
    return 0;
}

/* parse_max_age - §3.2 sts-policy-max-age-value = 1*10(DIGIT), at most 31557600 */
static int parse_max_age(const char *v, size_t len, size_t off, uint32_t *out,
                         struct mxtls_diag *diag)
{
    uint64_t n = 0;
    size_t i;

    if (len == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, off, "empty max_age (RFC 8461 §3.2)");
    for (i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return mxtls_diag_set(diag, MXTLS_EINVAL, off + i,
                                  "max_age is not a decimal number (RFC 8461 §3.2)");
        if (i >= MAX_AGE_DIGITS)
            return mxtls_diag_set(diag, MXTLS_EINVAL, off + i,
                                  "max_age has more than %d digits (RFC 8461 §3.2)",
                                  MAX_AGE_DIGITS);
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    /* §3.2: "maximum value of 31557600". Reject rather than clamp: a value
     * above it is outside the grammar's stated range, and a publisher who
     * wrote it should learn so from `mxtls sts`. */
    if (n > STS_POLICY_MAX_AGE)
        return mxtls_diag_set(diag, MXTLS_EINVAL, off, "max_age %llu exceeds %d (RFC 8461 §3.2)",
                              (unsigned long long)n, STS_POLICY_MAX_AGE);
    *out = (uint32_t)n;
    return 0;
}

/* parse_mode - §3.2 sts-policy-mode-value, case-sensitive */
static int parse_mode(const char *v, size_t len, size_t off, enum sts_mode *out,
                      struct mxtls_diag *diag)
{
    static const enum sts_mode modes[] = {STS_MODE_NONE, STS_MODE_TESTING, STS_MODE_ENFORCE};
    size_t i;

    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        const char *name = sts_mode_name(modes[i]);

        if (len == strlen(name) && memcmp(v, name, len) == 0) {
            *out = modes[i];
            return 0;
        }
    }
    return mxtls_diag_set(diag, MXTLS_EINVAL, off,
                          "mode must be \"enforce\", \"testing\" or \"none\" (RFC 8461 §3.2)");
}

/*
 * The mx patterns while parsing: each its own allocation, and an open
 * addressing index over them (slot holds index + 1, 0 is empty) so that
 * repeats are found in constant time however many lines the 64 KiB body has.
 * At the end they move into one exact-size block (mx_compact).
 */
struct mxbuild {
    char **v;
    size_t n, cap;
    size_t bytes; /* sum of the patterns' lengths, NULs included */
    uint32_t *slot;
    size_t nslot; /* a power of two, at least twice n */
};

/* mx_hash - FNV-1a over a NUL-terminated pattern */
static uint32_t mx_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* mx_find - the slot holding norm, or the empty slot where it would go */
static size_t mx_find(const struct mxbuild *mb, const char *norm, uint32_t h)
{
    size_t i = h & (mb->nslot - 1);

    while (mb->slot[i] != 0 && strcmp(mb->v[mb->slot[i] - 1], norm) != 0)
        i = (i + 1) & (mb->nslot - 1);
    return i;
}

/* mx_reindex - a larger index over the patterns kept so far */
static int mx_reindex(struct mxbuild *mb)
{
    size_t nslot = mb->nslot ? mb->nslot * 2 : 64, i;
    uint32_t *slot = calloc(nslot, sizeof(*slot));

    if (slot == NULL)
        return MXTLS_ENOMEM;
    free(mb->slot);
    mb->slot = slot;
    mb->nslot = nslot;
    for (i = 0; i < mb->n; i++)
        mb->slot[mx_find(mb, mb->v[i], mx_hash(mb->v[i]))] = (uint32_t)(i + 1);
    return 0;
}

/* mx_release - free the parse-time patterns and index */
static void mx_release(struct mxbuild *mb)
{
    size_t i;

    for (i = 0; i < mb->n; i++)
        free(mb->v[i]);
    free(mb->v);
    free(mb->slot);
    memset(mb, 0, sizeof(*mb));
}

/*
 * mx_compact - move the patterns into policy->mx: one allocation holding the
 * pointer array followed by the strings, so a cached policy costs what its
 * patterns take and sts_policy_finish frees one block.
 */
static int mx_compact(struct mxbuild *mb, struct sts_policy *policy)
{
    char **block, *text;
    size_t i;

    if (mb->n == 0) {
        mx_release(mb);
        return 0;
    }
    block = malloc(mb->n * sizeof(*block) + mb->bytes);
    if (block == NULL)
        return MXTLS_ENOMEM;
    text = (char *)(block + mb->n);
    for (i = 0; i < mb->n; i++) {
        size_t len = strlen(mb->v[i]) + 1;

        memcpy(text, mb->v[i], len);
        block[i] = text;
        text += len;
    }
    policy->mx = block;
    policy->n_mx = mb->n;
    mx_release(mb);
    return 0;
}

/* add_mx - validate one "mx" value and append it unless already present */
static int add_mx(struct mxbuild *mb, const char *v, size_t len, size_t off,
                  struct mxtls_diag *diag)
{
    char norm[DOMAIN_BUF_SIZE];
    uint32_t h;
    size_t at;
    int err;

    /* §3.2 sts-policy-mx-value = ["*."] Domain: a host name or a wildcard
     * over one left-most label; never an address literal. */
    err = domain_pattern_normalize(v, len, norm, sizeof(norm), diag);
    if (err < 0) {
        if (diag != NULL) {
            char why[MXTLS_DIAG_WHAT_MAX];

            memcpy(why, diag->what, sizeof(why));
            mxtls_diag_set(diag, err, off + diag->offset, "bad mx pattern (RFC 8461 §3.2): %s",
                           why);
        }
        return err;
    }
    if ((mb->n + 1) * 2 > mb->nslot && mx_reindex(mb) < 0)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, off, "out of memory");
    /* The mx patterns form a set (§4.1: a host is valid if it matches "one
     * or more" of them): a repeat adds nothing, so keep the first only. */
    h = mx_hash(norm);
    at = mx_find(mb, norm, h);
    if (mb->slot[at] != 0)
        return 0;
    if (mb->n == mb->cap) {
        size_t ncap = mb->cap ? mb->cap * 2 : 4;
        char **n = realloc(mb->v, ncap * sizeof(*n));

        if (n == NULL)
            return mxtls_diag_set(diag, MXTLS_ENOMEM, off, "out of memory");
        mb->v = n;
        mb->cap = ncap;
    }
    if ((mb->v[mb->n] = strdup(norm)) == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, off, "out of memory");
    mb->bytes += strlen(norm) + 1;
    mb->slot[at] = (uint32_t)(++mb->n);
    return 0;
}

/* key_is - does the field name (k, klen) equal the case-sensitive name? */
static bool key_is(const char *k, size_t klen, const char *name)
{
    return klen == strlen(name) && memcmp(k, name, klen) == 0;
}

/* parse_line - one `name ":" *WSP value *WSP` line */
static int parse_line(const struct line *ln, struct sts_policy *policy, struct seen *seen,
                      struct mxbuild *mb, struct mxtls_diag *diag)
{
    const char *s = ln->p;
    size_t len = ln->len, k = 0, v, vend;
    int err;

    if (len == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, ln->off,
                              "empty line: every line must be a field (RFC 8461 §3.2)");
    /* A UTF-8 byte order mark is no field-name character; say so plainly. */
    if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, ln->off,
                              "byte order mark: a line must start with a field name "
                              "(RFC 8461 §3.2)");
    /* §3.2 sts-policy-ext-name covers the four known names too. */
    while (k < len && s[k] != ':') {
        unsigned char c = (unsigned char)s[k];

        if (!is_alnum(c) && (k == 0 || (c != '_' && c != '-' && c != '.'))) {
            if (is_wsp(c))
                return mxtls_diag_set(diag, MXTLS_EINVAL, ln->off + k,
                                      "white space in or before a field name (RFC 8461 §3.2)");
            return mxtls_diag_set(diag, MXTLS_EINVAL, ln->off + k,
                                  "character 0x%02x not allowed in a field name (RFC 8461 §3.2)",
                                  c);
        }
        if (k >= EXT_NAME_MAX)
            return mxtls_diag_set(diag, MXTLS_EINVAL, ln->off + k,
                                  "field name longer than %d characters (RFC 8461 §3.2)",
                                  EXT_NAME_MAX);
        k++;
    }
    if (k == len)
        return mxtls_diag_set(diag, MXTLS_EINVAL, ln->off,
                              "line is not a \"name: value\" field (RFC 8461 §3.2)");
    if (k == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, ln->off, "empty field name (RFC 8461 §3.2)");
    /* sts-policy-field-delim = ":" *WSP; the *WSP after each field ends it. */
    v = k + 1;
    while (v < len && is_wsp((unsigned char)s[v]))
        v++;
    vend = len;
    while (vend > v && is_wsp((unsigned char)s[vend - 1]))
        vend--;
    if (vend == v)
        return mxtls_diag_set(diag, MXTLS_EINVAL, ln->off + v,
                              "field \"%.*s\" has an empty value (RFC 8461 §3.2)", (int)k, s);
    err = check_ext_value(s + v, vend - v, ln->off + v, diag);
    if (err < 0)
        return err;

    if (key_is(s, k, "mx")) {
        /* mx is the one repeatable field. No cap of its own: the RFC's
         * 64 KiB body cap (§3.3) already bounds the lines, and the index in
         * add_mx keeps the work linear. */
        seen->mx_lines++;
        return add_mx(mb, s + v, vend - v, ln->off + v, diag);
    }
    /* §3.2: "If any non-repeated field -- i.e., all fields excluding "mx" --
     * is duplicated, all entries except for the first SHALL be ignored."
     * A repeat is ignored like an extension: only its line syntax counts. */
    if (key_is(s, k, "version")) {
        if (seen->version)
            return 0;
        seen->version = true;
        if (!key_is(s + v, vend - v, "STSv1"))
            return mxtls_diag_set(diag, MXTLS_EINVAL, ln->off + v,
                                  "version must be \"STSv1\" (RFC 8461 §3.2)");
        return 0;
    }
    if (key_is(s, k, "mode")) {
        if (seen->mode)
            return 0;
        seen->mode = true;
        return parse_mode(s + v, vend - v, ln->off + v, &policy->mode, diag);
    }
    if (key_is(s, k, "max_age")) {
        if (seen->max_age)
            return 0;
        seen->max_age = true;
        return parse_max_age(s + v, vend - v, ln->off + v, &policy->max_age, diag);
    }
    /* §3.2: "unknown fields SHALL be ignored" (field names are %s strings,
     * so "Mode" is such an unknown field, not "mode"). */
    return 0;
}

/* policy_clear - empty a policy, releasing what it owns (one block, see mx_compact) */
static void policy_clear(struct sts_policy *policy)
{
    free(policy->mx);
    policy->mode = STS_MODE_NONE;
    policy->max_age = 0;
    policy->n_mx = 0;
    policy->mx = NULL;
}

/* parse_body - split the body into lines and parse each */
static int parse_body(const char *buf, size_t len, struct sts_policy *policy,
                      struct mxtls_diag *diag)
{
    struct seen seen = {0};
    struct mxbuild mb = {0};
    size_t pos = 0;
    int err;

    if (len == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "empty policy (RFC 8461 §3.2)");
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        struct line ln = {buf + pos, nl ? (size_t)(nl - (buf + pos)) : len - pos, pos};

        /* sts-policy-term = LF / CRLF; the last one is optional. */
        pos = nl ? (size_t)(nl - buf) + 1 : len;
        if (nl && ln.len > 0 && ln.p[ln.len - 1] == '\r')
            ln.len--;
        err = parse_line(&ln, policy, &seen, &mb, diag);
        if (err < 0) {
            mx_release(&mb);
            return err;
        }
    }
    if (mx_compact(&mb, policy) < 0) {
        mx_release(&mb);
        return mxtls_diag_set(diag, MXTLS_ENOMEM, len, "out of memory");
    }
    /* §3.2: "If any field is not specified, the policy SHALL be treated as
     * invalid", mx being required only when mode is not "none". */
    if (!seen.version)
        return mxtls_diag_set(diag, MXTLS_EINVAL, len, "no version field (RFC 8461 §3.2)");
    if (!seen.mode)
        return mxtls_diag_set(diag, MXTLS_EINVAL, len, "no mode field (RFC 8461 §3.2)");
    if (!seen.max_age)
        return mxtls_diag_set(diag, MXTLS_EINVAL, len, "no max_age field (RFC 8461 §3.2)");
    if (seen.mx_lines == 0 && policy->mode != STS_MODE_NONE)
        return mxtls_diag_set(diag, MXTLS_EINVAL, len,
                              "no mx field, required unless mode is none (RFC 8461 §3.2)");
    return 0;
}

/* sts_policy_parse - parse an MTA-STS policy body */
int sts_policy_parse(const char *buf, size_t len, struct sts_policy *policy,
                     struct mxtls_diag *diag)
{
    int err;

    policy->mode = STS_MODE_NONE;
    policy->max_age = 0;
    policy->n_mx = 0;
    policy->mx = NULL;
    /* §3.3: senders may cap the body; 64 KiB is the suggested maximum. */
    if (len > STS_POLICY_BODY_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, STS_POLICY_BODY_MAX,
                              "policy longer than %d octets (RFC 8461 §3.3)", STS_POLICY_BODY_MAX);
    err = parse_body(buf, len, policy, diag);
    if (err < 0)
        policy_clear(policy);
    return err;
}

/* sts_policy_finish - release what a parsed policy owns */
void sts_policy_finish(struct sts_policy *policy)
{
    if (policy != NULL)
        policy_clear(policy);
}

/* sts_policy_format - the canonical policy file, CRLF line ends */
char *sts_policy_format(const struct sts_policy *policy)
{
    static const char version[] = "version: STSv1\r\n";
    const char *mode;
    char age[16], *out, *p;
    size_t i, n, agelen;

    if (policy == NULL)
        return NULL;
    mode = sts_mode_name(policy->mode);

    /* max_age has at most 10 digits; write it by hand to keep this pure. */
    {
        uint32_t a = policy->max_age;
        char rev[16];
        size_t r = 0;

        do {
            rev[r++] = (char)('0' + a % 10);
            a /= 10;
        } while (a != 0);
        for (agelen = 0; agelen < r; agelen++)
            age[agelen] = rev[r - 1 - agelen];
        age[agelen] = '\0';
    }
    n = strlen(version) + strlen("mode: \r\n") + strlen(mode) + strlen("max_age: \r\n") + agelen +
        1;
    for (i = 0; i < policy->n_mx; i++)
        n += strlen("mx: \r\n") + strlen(policy->mx[i]);
    out = malloc(n);
    if (out == NULL)
        return NULL;
    p = out;
#define PUT(s, l) (memcpy(p, (s), (l)), p += (l))
    PUT(version, strlen(version));
    PUT("mode: ", 6);
    PUT(mode, strlen(mode));
    PUT("\r\n", 2);
    for (i = 0; i < policy->n_mx; i++) {
        PUT("mx: ", 4);
        PUT(policy->mx[i], strlen(policy->mx[i]));
        PUT("\r\n", 2);
    }
    PUT("max_age: ", 9);
    PUT(age, agelen);
    PUT("\r\n", 2);
#undef PUT
    *p = '\0';
    return out;
}

/* sts_mode_name - the policy file spelling of a mode */
const char *sts_mode_name(enum sts_mode mode)
{
    switch (mode) {
    case STS_MODE_NONE:
        return "none";
    case STS_MODE_TESTING:
        return "testing";
    case STS_MODE_ENFORCE:
        return "enforce";
    }
    return "unknown";
}
