/*
 * tlsrpt_record - select and parse the "_smtp._tls" TXT record (RFC 8460 §3).
 * See include/mxtls/tlsrpt_record.h for the rules and the decisions taken.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mxtls/domain.h"
#include "mxtls/tlsrpt_record.h"

#define TLSRPT_VERSION     "v=TLSRPTv1" /* RFC 8460 §3 tlsrpt-version */
#define TLSRPT_VERSION_LEN 10
#define TLSRPT_PREFIX      "v=TLSRPTv1;" /* RFC 8460 §3 selection prefix */
#define TLSRPT_PREFIX_LEN  11
#define EXT_NAME_MAX       32 /* RFC 8460 §3: (ALPHA / DIGIT) *31(...) */

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(unsigned char c)
{
    return is_alpha(c) || is_digit(c);
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static char to_lower(unsigned char c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* RFC 8460 §3 tlsrpt-ext-name after its first octet */
static bool is_name_char(unsigned char c)
{
    return is_alnum(c) || c == '_' || c == '-' || c == '.';
}

/* RFC 8460 §3 tlsrpt-ext-value: VCHAR except ";" and "=" */
static bool is_value_char(unsigned char c)
{
    return (c >= 0x21 && c <= 0x3a) || c == 0x3c || (c >= 0x3e && c <= 0x7e);
}

/*
 * An octet that may appear literally in a tlsrpt-uri: RFC 3986 §2 unreserved,
 * "%", gen-delims and sub-delims, less "," ";" "!" (RFC 8460 §3: MUST be
 * encoded) and "[" "]" (only legal around an IP literal, which we refuse).
 */
static bool is_uri_char(unsigned char c)
{
    return is_alnum(c) || (c != 0 && strchr("-._~%:/?#@$&'()*+=", c) != NULL);
}

/* RFC 6068 §2 qchar less "@", "!", ",", ";" (and "%" checked by caller) */
static bool is_mailto_qchar(unsigned char c)
{
    return is_alnum(c) || (c != 0 && strchr("-._~%$'()*+:", c) != NULL);
}

static bool begins_with(const char *buf, size_t len, const char *prefix, size_t plen)
{
    return len >= plen && memcmp(buf, prefix, plen) == 0;
}

static bool equal_nocase(const char *a, size_t alen, const char *b)
{
    size_t i;

    if (alen != strlen(b))
        return false;
    for (i = 0; i < alen; i++)
        if (to_lower((unsigned char)a[i]) != b[i])
            return false;
    return true;
}

/* check_host - a DNS host name (domain_normalize) at (p, n) */
static int check_host(const char *p, size_t n, size_t off, struct mxtls_diag *diag)
{
    char norm[DOMAIN_BUF_SIZE];
    struct mxtls_diag d = {0};
    int err = domain_normalize(p, n, norm, sizeof(norm), &d);

    if (err < 0)
        return mxtls_diag_set(diag, err == MXTLS_ETOOLONG ? err : MXTLS_EINVAL, off + d.offset,
                              "rua URI host: %s", d.what);
    return 0;
}

/* check_https - "//" host [":" port] [path-abempty] ["?" query] ["#" fragment] */
static int check_https(const char *p, size_t n, size_t off, struct mxtls_diag *diag)
{
    size_t i = 2, host, end;
    unsigned long port = 0;
    int err;

    if (n < 2 || p[0] != '/' || p[1] != '/')
        return mxtls_diag_set(diag, MXTLS_EINVAL, off,
                              "https rua URI needs \"//\" and a host (RFC 3986 §3.2)");
    for (end = i; end < n && p[end] != '/' && p[end] != '?' && p[end] != '#'; end++)
        if (p[end] == '@')
            return mxtls_diag_set(diag, MXTLS_EINVAL, off + end,
                                  "https rua URI with userinfo refused (RFC 9110 §4.2.4)");
    host = i;
    while (i < end && p[i] != ':')
        i++;
    err = check_host(p + host, i - host, off + host, diag);
    if (err < 0)
        return err;
    if (i < end) {
        size_t digits = end - i - 1;

        if (digits == 0 || digits > 5)
            return mxtls_diag_set(diag, MXTLS_EINVAL, off + i,
                                  "https rua URI port must be 1-5 digits (RFC 3986 §3.2.3)");
        for (i++; i < end; i++) {
            if (!is_digit((unsigned char)p[i]))
                return mxtls_diag_set(diag, MXTLS_EINVAL, off + i,
                                      "https rua URI port must be digits (RFC 3986 §3.2.3)");
            port = port * 10 + (unsigned long)(p[i] - '0');
        }
        if (port == 0 || port > 65535)
            return mxtls_diag_set(diag, MXTLS_EINVAL, off + end - digits,
                                  "https rua URI port %lu out of range", port);
    }
    return 0;
}

/* check_mailto - RFC 6068 §2: addr-spec *("%2C" addr-spec) ["?" hfields] */
static int check_mailto(const char *p, size_t n, size_t off, struct mxtls_diag *diag)
{
    size_t to_end = 0, a = 0, i;
    int err;

    if (memchr(p, '#', n) != NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, off,
                              "mailto rua URI cannot have a fragment (RFC 6068 §2)");
    while (to_end < n && p[to_end] != '?')
        to_end++;
    if (to_end == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, off,
                              "mailto rua URI has no address (RFC 8460 §3)");
    /* One or more addresses; the "," between them is encoded as %2C. */
    while (a <= to_end) {
        size_t e = a, at = 0, ats = 0;

        while (e < to_end && !(e + 3 <= to_end && p[e] == '%' && p[e + 1] == '2' &&
                               (p[e + 2] == 'C' || p[e + 2] == 'c')))
            e++;
        for (i = a; i < e; i++) {
            if (p[i] == '@') {
                at = i;
                ats++;
            } else if (ats == 0 && !is_mailto_qchar((unsigned char)p[i])) {
                return mxtls_diag_set(diag, MXTLS_EINVAL, off + i,
                                      "'%c' must be percent-encoded in a mailto address "
                                      "(RFC 6068 §2)",
                                      p[i]);
            }
        }
        if (ats != 1 || at == a)
            return mxtls_diag_set(diag, MXTLS_EINVAL, off + a,
                                  "mailto rua URI needs one local-part@domain per address "
                                  "(RFC 6068 §2)");
        err = check_host(p + at + 1, e - at - 1, off + at + 1, diag);
        if (err < 0)
            return err;
        a = e + 3; /* past "%2C"; beyond to_end when this was the last */
    }
    /* hfields = "?" hfield *("&" hfield), hfield = *qchar "=" *qchar */
    for (i = to_end; i < n;) {
        size_t eq = 0;

        for (i++; i < n && p[i] != '&'; i++) {
            if (p[i] == '=')
                eq++;
            else if (p[i] != '@' && !is_mailto_qchar((unsigned char)p[i]))
                return mxtls_diag_set(diag, MXTLS_EINVAL, off + i,
                                      "'%c' must be percent-encoded in a mailto header field "
                                      "(RFC 6068 §2)",
                                      p[i]);
        }
        if (eq != 1)
            return mxtls_diag_set(diag, MXTLS_EINVAL, off + i,
                                  "mailto header field needs one \"=\" (RFC 6068 §2)");
    }
    return 0;
}

/*
 * check_uri - an RFC 3986 URI at (u, n), all octets already is_uri_char().
 * Sets *scheme to the supported scheme, or 0 for a well-formed other one.
 */
static int check_uri(const char *u, size_t n, size_t off, int *scheme, struct mxtls_diag *diag)
{
    size_t s = 0, i, hashes = 0;

    *scheme = 0;
    /* RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    if (!is_alpha((unsigned char)u[0]))
        return mxtls_diag_set(diag, MXTLS_EINVAL, off,
                              "rua URI must begin with a scheme (RFC 3986 §3.1)");
    while (s < n && (is_alnum((unsigned char)u[s]) || u[s] == '+' || u[s] == '-' || u[s] == '.'))
        s++;
    if (s == n || u[s] != ':')
        return mxtls_diag_set(diag, MXTLS_EINVAL, off + s,
                              "rua URI needs \"scheme:\" (RFC 3986 §3.1)");
    for (i = s + 1; i < n; i++) {
        if (u[i] == '%' &&
            (i + 2 >= n || !is_hex((unsigned char)u[i + 1]) || !is_hex((unsigned char)u[i + 2])))
            return mxtls_diag_set(diag, MXTLS_EINVAL, off + i,
                                  "\"%%\" not followed by two hex digits (RFC 3986 §2.1)");
        if (u[i] == '#' && hashes++ > 0)
            return mxtls_diag_set(diag, MXTLS_EINVAL, off + i,
                                  "second \"#\" in a rua URI (RFC 3986 §3.5)");
    }
    if (equal_nocase(u, s, "https")) {
        *scheme = TLSRPT_SCHEME_HTTPS;
        return check_https(u + s + 1, n - s - 1, off + s + 1, diag);
    }
    if (equal_nocase(u, s, "mailto")) {
        *scheme = TLSRPT_SCHEME_MAILTO;
        return check_mailto(u + s + 1, n - s - 1, off + s + 1, diag);
    }
    /* RFC 8460 §3: only "mailto" and "https" are supported; skip others. */
    return 0;
}

/* add_uri - keep a copy of a supported URI, scheme lower-cased */
static int add_uri(struct tlsrpt_record *rec, const char *u, size_t n, int scheme,
                   struct mxtls_diag *diag)
{
    char *copy = malloc(n + 1);
    size_t i;

    if (copy == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    memcpy(copy, u, n);
    copy[n] = '\0';
    for (i = 0; copy[i] != ':'; i++)
        copy[i] = to_lower((unsigned char)copy[i]);
    rec->rua[rec->n_rua].scheme = (enum tlsrpt_scheme)scheme;
    rec->rua[rec->n_rua].uri = copy;
    rec->n_rua++;
    return 0;
}

/* parse_rua - tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri) at *pos */
static int parse_rua(const char *buf, size_t len, size_t *pos, struct tlsrpt_record *rec,
                     struct mxtls_diag *diag)
{
    size_t i = *pos, start, after;
    int scheme = 0, err;

    for (;;) {
        start = i;
        while (i < len && is_uri_char((unsigned char)buf[i]))
            i++;
        if (i < len && !is_wsp((unsigned char)buf[i]) && buf[i] != ',' && buf[i] != ';') {
            if (buf[i] == '!')
                return mxtls_diag_set(diag, MXTLS_EINVAL, i,
                                      "'!' must be percent-encoded as %%21 in a rua URI "
                                      "(RFC 8460 §3)");
            return mxtls_diag_set(diag, MXTLS_EINVAL, i,
                                  "octet 0x%02x not allowed in a rua URI (RFC 3986 §2)",
                                  (unsigned char)buf[i]);
        }
        if (i == start)
            return mxtls_diag_set(diag, MXTLS_EINVAL, start, "empty rua URI (RFC 8460 §3)");
        if (i - start > TLSRPT_URI_MAX)
            return mxtls_diag_set(diag, MXTLS_ETOOLONG, start, "rua URI longer than %d octets",
                                  TLSRPT_URI_MAX);
        if (rec->n_rua + rec->n_unsupported >= TLSRPT_RUA_MAX)
            return mxtls_diag_set(diag, MXTLS_ETOOLONG, start, "more than %d rua URIs",
                                  TLSRPT_RUA_MAX);
        err = check_uri(buf + start, i - start, start, &scheme, diag);
        if (err < 0)
            return err;
        if (scheme == 0)
            rec->n_unsupported++;
        else if ((err = add_uri(rec, buf + start, i - start, scheme, diag)) < 0)
            return err;
        /* *WSP "," *WSP before the next URI; otherwise the field ends. */
        after = i;
        while (i < len && is_wsp((unsigned char)buf[i]))
            i++;
        if (i == len || buf[i] != ',') {
            *pos = after;
            return 0;
        }
        i++;
        while (i < len && is_wsp((unsigned char)buf[i]))
            i++;
    }
}

/* parse_field - one tlsrpt-field at *pos */
static int parse_field(const char *buf, size_t len, size_t *pos, struct tlsrpt_record *rec,
                       bool *have_rua, struct mxtls_diag *diag)
{
    size_t name = *pos, value, i = *pos;

    if (!is_alnum((unsigned char)buf[i]))
        return mxtls_diag_set(diag, MXTLS_EINVAL, i,
                              "field name must start with a letter or digit (RFC 8460 §3)");
    while (i < len && is_name_char((unsigned char)buf[i]))
        i++;
    if (i - name > EXT_NAME_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, name,
                              "field name longer than %d octets (RFC 8460 §3)", EXT_NAME_MAX);
    if (i == len || buf[i] != '=')
        return mxtls_diag_set(diag, MXTLS_EINVAL, i,
                              "expected \"=\" after the field name (RFC 8460 §3)");
    value = ++i;
    /* %s"rua=": case-sensitive; several rua fields are merged (see header). */
    if (value - name == 4 && memcmp(buf + name, "rua", 3) == 0) {
        *have_rua = true;
        *pos = value;
        return parse_rua(buf, len, pos, rec, diag);
    }
    /* RFC 8460 §3: "unknown fields SHALL be ignored" once they parse. */
    while (i < len && is_value_char((unsigned char)buf[i]))
        i++;
    if (i < len && !is_wsp((unsigned char)buf[i]) && buf[i] != ';')
        return mxtls_diag_set(diag, MXTLS_EINVAL, i,
                              "octet 0x%02x not allowed in a field value (RFC 8460 §3)",
                              (unsigned char)buf[i]);
    if (i == value)
        return mxtls_diag_set(diag, MXTLS_EINVAL, value, "empty field value (RFC 8460 §3)");
    *pos = i;
    return 0;
}

/* parse_fields - everything after "v=TLSRPTv1" */
static int parse_fields(const char *buf, size_t len, struct tlsrpt_record *rec,
                        struct mxtls_diag *diag)
{
    size_t pos = TLSRPT_VERSION_LEN, nfields = 0;
    bool have_rua = false;
    int err;

    for (;;) {
        err = txt_field_next(buf, len, &pos, "RFC 8460 §3", diag);
        if (err < 0)
            return err;
        if (err == 0)
            break;
        err = parse_field(buf, len, &pos, rec, &have_rua, diag);
        if (err < 0)
            return err;
        nfields++;
    }
    if (nfields == 0 || !have_rua)
        return mxtls_diag_set(diag, MXTLS_EINVAL, len,
                              "no \"rua\" field, which is required (RFC 8460 §3; keys are "
                              "case-sensitive)");
    if (rec->n_rua == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, len,
                              "no rua URI with a supported scheme (mailto: or https:, "
                              "RFC 8460 §3)");
    return 0;
}

/* tlsrpt_record_parse - check one record against RFC 8460 §3 */
int tlsrpt_record_parse(const char *buf, size_t len, struct tlsrpt_record **out,
                        struct mxtls_diag *diag)
{
    struct tlsrpt_record *rec;
    int err;

    *out = NULL;
    if (len > TXT_RDATA_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, TXT_RDATA_MAX, "record longer than %d octets",
                              TXT_RDATA_MAX);
    if (!begins_with(buf, len, TLSRPT_PREFIX, TLSRPT_PREFIX_LEN))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              begins_with(buf, len, TLSRPT_VERSION, TLSRPT_VERSION_LEN)
                                  ? "record begins with \"v=TLSRPTv1\" but not "
                                    "\"v=TLSRPTv1;\": senders discard it (RFC 8460 §3)"
                                  : "record does not begin with \"v=TLSRPTv1;\" (RFC 8460 §3)");
    rec = calloc(1, sizeof(*rec));
    if (rec == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    err = parse_fields(buf, len, rec, diag);
    if (err < 0) {
        tlsrpt_record_free(rec);
        return err;
    }
    *out = rec;
    return 0;
}

/* tlsrpt_record_select - keep the records beginning "v=TLSRPTv1;", parse the one */
int tlsrpt_record_select(const struct txt_record *recs, size_t n, struct tlsrpt_record **out,
                         struct mxtls_diag *diag)
{
    size_t i, found = 0, near = 0, which = 0;

    *out = NULL;
    for (i = 0; i < n; i++) {
        /* RFC 8460 §3: "records that do not begin with "v=TLSRPTv1;" are
         * discarded" -- the exact octets, ";" included. */
        if (begins_with(recs[i].buf, recs[i].len, TLSRPT_PREFIX, TLSRPT_PREFIX_LEN)) {
            if (found++ == 0)
                which = i;
        } else if (begins_with(recs[i].buf, recs[i].len, TLSRPT_VERSION, TLSRPT_VERSION_LEN)) {
            near++;
        }
    }
    if (found == 0) {
        if (near > 0)
            return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0,
                                  "no TLSRPT record: %zu record(s) begin with \"v=TLSRPTv1\" "
                                  "but not \"v=TLSRPTv1;\" and are discarded (RFC 8460 §3)",
                                  near);
        return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "no TLSRPT record");
    }
    if (found > 1)
        return mxtls_diag_set(diag, MXTLS_EMULTIPLE, 0,
                              "%zu TLSRPT records where exactly one is allowed (RFC 8460 §3)",
                              found);
    return tlsrpt_record_parse(recs[which].buf, recs[which].len, out, diag);
}

/* tlsrpt_record_select_rdata - tlsrpt_record_select() on wire-form RDATAs */
int tlsrpt_record_select_rdata(const struct txt_rdata *rdatas, size_t n, struct tlsrpt_record **out,
                               struct mxtls_diag *diag)
{
    struct txt_record *recs;
    int err;

    *out = NULL;
    err = txt_rdata_join_set(rdatas, n, &recs, diag);
    if (err < 0)
        return err;
    err = tlsrpt_record_select(recs, n, out, diag);
    free(recs);
    return err;
}

/* tlsrpt_record_format - canonical text of a parsed record */
char *tlsrpt_record_format(const struct tlsrpt_record *rec)
{
    static const char head[] = TLSRPT_PREFIX " rua=";
    size_t i, len = sizeof(head), pos;
    char *text;

    for (i = 0; i < rec->n_rua; i++)
        len += strlen(rec->rua[i].uri) + 1;
    text = malloc(len);
    if (text == NULL)
        return NULL;
    memcpy(text, head, sizeof(head) - 1);
    pos = sizeof(head) - 1;
    for (i = 0; i < rec->n_rua; i++) {
        size_t n = strlen(rec->rua[i].uri);

        if (i > 0)
            text[pos++] = ',';
        memcpy(text + pos, rec->rua[i].uri, n);
        pos += n;
    }
    text[pos] = '\0';
    return text;
}

/* tlsrpt_record_free - free a record and the URIs it owns */
void tlsrpt_record_free(struct tlsrpt_record *rec)
{
    size_t i;

    if (rec == NULL)
        return;
    for (i = 0; i < rec->n_rua; i++)
        free(rec->rua[i].uri);
    free(rec);
}
