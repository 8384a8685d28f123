/*
 * postfix_log - Postfix smtp(8) TLS log lines and mxtlsd policy records into
 * RFC 8460 sessions (see postfix_log.h).
 *
 * Every read is bounded by the line's length; fields are copied into fixed
 * buffers and a field that does not fit makes the line POSTFIX_LINE_OTHER.
 * Unknown lines are not errors: a log holds far more than TLS outcomes.
 */
#include "mxtls/postfix_log.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* RFC 8460 §4.3 spellings, in enum order */
static const char *const result_names[TLSRPT_RESULT_COUNT] = {
    "success",
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "certificate-not-trusted",
    "validation-failure",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
};

/* tlsrpt_result_name - the RFC 8460 name */
const char *tlsrpt_result_name(enum tlsrpt_result r)
{
    if ((unsigned)r >= TLSRPT_RESULT_COUNT)
        return "validation-failure";
    return result_names[r];
}

/* tlsrpt_result_parse - the enum of a name */
int tlsrpt_result_parse(const char *s, size_t len, enum tlsrpt_result *out)
{
    for (unsigned i = 0; i < TLSRPT_RESULT_COUNT; i++) {
        if (strlen(result_names[i]) == len && memcmp(result_names[i], s, len) == 0) {
            *out = (enum tlsrpt_result)i;
            return 0;
        }
    }
    return MXTLS_EINVAL;
}

/* tlsrpt_policy_type_name - RFC 8460 §4.4 policy-type */
const char *tlsrpt_policy_type_name(enum tlsrpt_policy_type t)
{
    switch (t) {
    case TLSRPT_POLICY_STS:
        return "sts";
    case TLSRPT_POLICY_TLSA:
        return "tlsa";
    default:
        return "no-policy-found";
    }
}

/*
 * find - the first occurrence of needle in (buf, len), or NULL; bounded by
 * len. Each line is searched several times, so memchr (vectorised) skips to
 * the needle's rarest octet, then memcmp checks the rest: a byte loop was a
 * sixth of the collector's instructions (issue 12).
 */
static inline __attribute__((always_inline)) const char *find(const char *buf, size_t len,
                                                              const char *needle)
{
    /* inlined: for a literal needle the compiler folds strlen, strpbrk, strspn */
    size_t n = strlen(needle);
    if (n == 0 || n > len)
        return NULL;
    /* the pivot: rare punctuation if the needle has some, else its first non-space */
    const char *r = strpbrk(needle, "=]:,<(-");
    size_t k = r != NULL ? (size_t)(r - needle) : strspn(needle, " ");
    if (k >= n)
        k = 0;
    /* a match starts at s with buf[s + k] == needle[k], s + n <= len */
    size_t s = 0;
    while (s + n <= len) {
        const char *p = memchr(buf + s + k, needle[k], len - n + 1 - s);
        if (p == NULL)
            return NULL;
        s = (size_t)(p - buf) - k;
        if (memcmp(buf + s, needle, n) == 0)
            return buf + s;
        s++;
    }
    return NULL;
}

/* starts - (buf, len) begins with prefix */
static bool starts(const char *buf, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(buf, prefix, n) == 0;
}

/* digits - read exactly n decimal digits at p; -1 when they are not there */
static long digits(const char *p, size_t avail, size_t n)
{
    long v = 0;
    if (avail < n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* days_from_civil - days since 1970-01-01 of a proleptic Gregorian date */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* valid_time - range checks shared by both timestamp forms */
static bool valid_time(long mo, long d, long h, long mi, long s)
{
    return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h >= 0 && h <= 23 && mi >= 0 && mi <= 59 &&
           s >= 0 && s <= 60;
}

/*
 * parse_time - the timestamp at the start of a line: RFC 3339
 * ("2026-12-02T07:14:27[.frac](Z|+hh:mm)") or the short syslog form
 * ("Dec  2 07:14:27", "Dec 02 07:14:27") of the given year, read as UTC.
 * Returns the octets used, 0 when neither form is there.
 */
static size_t parse_time(const char *p, size_t len, int year, int64_t *t)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    long y, mo, d, h, mi, s;
    size_t i;

    if ((y = digits(p, len, 4)) >= 0 && len >= 19 && p[4] == '-' && p[7] == '-' &&
        (p[10] == 'T' || p[10] == ' ') && p[13] == ':' && p[16] == ':') {
        mo = digits(p + 5, 2, 2);
        d = digits(p + 8, 2, 2);
        h = digits(p + 11, 2, 2);
        mi = digits(p + 14, 2, 2);
        s = digits(p + 17, 2, 2);
        if (!valid_time(mo, d, h, mi, s))
            return 0;
        i = 19;
        if (i < len && p[i] == '.') {
            i++;
            while (i < len && i < 40 && p[i] >= '0' && p[i] <= '9')
                i++;
        }
        int64_t off = 0;
        if (i < len && p[i] == 'Z') {
            i++;
        } else if (i < len && (p[i] == '+' || p[i] == '-')) {
            long oh = digits(p + i + 1, len - i - 1, 2), om;
            if (oh < 0 || oh > 23)
                return 0;
            size_t j = i + 3;
            if (j < len && p[j] == ':')
                j++;
            if ((om = digits(p + j, len - j, 2)) < 0 || om > 59)
                return 0;
            off = (oh * 3600 + om * 60) * (p[i] == '-' ? -1 : 1);
            i = j + 2;
        }
        *t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s - off;
        return i;
    }
    if (len < 15 || p[3] != ' ')
        return 0;
    const char *m = NULL;
    for (size_t k = 0; k < 12; k++)
        if (memcmp(months + 3 * k, p, 3) == 0)
            m = months + 3 * k;
    if (m == NULL)
        return 0;
    mo = (long)((m - months) / 3) + 1;
    if (p[4] == ' ')
        d = digits(p + 5, 1, 1);
    else
        d = digits(p + 4, 2, 2);
    if (p[6] != ' ' || p[9] != ':' || p[12] != ':')
        return 0;
    h = digits(p + 7, 2, 2);
    mi = digits(p + 10, 2, 2);
    s = digits(p + 13, 2, 2);
    if (!valid_time(mo, d, h, mi, s))
        return 0;
    *t = days_from_civil(year, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s;
    return 15;
}

/* copy_lower - copy (s, n) as lower case into out (size octets); false when too long */
static bool copy_lower(const char *s, size_t n, char *out, size_t size)
{
    if (n >= size)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
    out[n] = '\0';
    return true;
}

/* copy_cut - copy at most size-1 octets of (s, n), cut before a UTF-8 continuation */
static void copy_cut(const char *s, size_t n, char *out, size_t size)
{
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

/* host_ok - the octets a host name or address in a log line may have */
static bool host_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == ':';
}

/*
 * hostport - "host[ip]" (":port" may follow) at p: fills host and ip and
 * returns the octets used up to and including ']', 0 when malformed.
 */
static size_t hostport(const char *p, size_t len, char *host, char *ip)
{
    size_t i = 0, h, a;
    while (i < len && host_ok(p[i]) && p[i] != ':')
        i++;
    h = i;
    if (h == 0 || i >= len || p[i] != '[')
        return 0;
    a = ++i;
    while (i < len && host_ok(p[i]))
        i++;
    if (i >= len || p[i] != ']' || i == a)
        return 0;
    if (!copy_lower(p, h, host, POSTFIX_LOG_HOST_MAX + 1) ||
        !copy_lower(p + a, i - a, ip, POSTFIX_LOG_IP_MAX + 1))
        return 0;
    return i + 1;
}

/* postfix_log_result_of_verify - Postfix 3.7 tls_verify.c wording to RFC 8460 */
enum tlsrpt_result postfix_log_result_of_verify(const char *why, size_t len)
{
    /* num=62 X509_V_ERR_HOSTNAME_MISMATCH; the name check of RFC 8461 §4.2 */
    if (find(why, len, "hostname mismatch") != NULL || find(why, len, "num=62:") != NULL)
        return TLSRPT_CERTIFICATE_HOST_MISMATCH;
    /* num=65 X509_V_ERR_DANE_NO_MATCH: RFC 7672 §3, the TLSA records do not match */
    if (find(why, len, "no matching DANE TLSA records") != NULL || find(why, len, "num=65:"))
        return TLSRPT_TLSA_INVALID;
    if (find(why, len, "certificate has expired") != NULL || find(why, len, "num=10:") != NULL)
        return TLSRPT_CERTIFICATE_EXPIRED;
    if (starts(why, len, "untrusted issuer") || find(why, len, "self-signed certificate") ||
        find(why, len, "self signed certificate") ||
        find(why, len, "unable to get local issuer certificate") || find(why, len, "num=20:") ||
        find(why, len, "num=18:") || find(why, len, "num=19:"))
        return TLSRPT_CERTIFICATE_NOT_TRUSTED;
    return TLSRPT_VALIDATION_FAILURE;
}

/* parse_established - "<Trust> TLS connection established to host[ip]:port: ..." */
static void parse_established(const char *m, size_t n, struct postfix_line *out)
{
    static const struct {
        const char *word;
        enum postfix_trust trust;
    } t[] = {{"Verified ", POSTFIX_TRUST_VERIFIED},
             {"Trusted ", POSTFIX_TRUST_TRUSTED},
             {"Untrusted ", POSTFIX_TRUST_UNTRUSTED},
             {"Anonymous ", POSTFIX_TRUST_ANONYMOUS}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t w = strlen(t[i].word);
        if (!starts(m, n, t[i].word) || !starts(m + w, n - w, "TLS connection established to "))
            continue;
        size_t k = w + strlen("TLS connection established to ");
        if (hostport(m + k, n - k, out->host, out->ip) == 0)
            return;
        out->trust = t[i].trust;
        out->kind = POSTFIX_LINE_ESTABLISHED;
        return;
    }
}

/* parse_verify_fail - "[server ]certificate verification failed for host[ip]:port: why" */
static void parse_verify_fail(const char *m, size_t n, struct postfix_line *out)
{
    static const char key[] = "certificate verification failed for ";
    size_t k;
    if (starts(m, n, "server "))
        k = 7;
    else
        k = 0;
    if (!starts(m + k, n - k, key))
        return;
    k += sizeof(key) - 1;
    size_t u = hostport(m + k, n - k, out->host, out->ip);
    if (u == 0)
        return;
    const char *why = find(m + k + u, n - k - u, ": ");
    if (why == NULL)
        return;
    why += 2;
    size_t wl = (size_t)(m + n - why);
    copy_cut(why, wl, out->reason, sizeof(out->reason));
    out->result = postfix_log_result_of_verify(why, wl);
    out->kind = POSTFIX_LINE_VERIFY_FAIL;
}

/* field - the value of ", name=" (or at start) up to the next ", "; NULL when absent */
static const char *field(const char *m, size_t n, const char *name, size_t *vlen)
{
    char key[32];
    size_t kl = strlen(name);
    if (kl + 3 > sizeof(key))
        return NULL;
    key[0] = ' ';
    memcpy(key + 1, name, kl);
    key[kl + 1] = '=';
    key[kl + 2] = '\0';
    const char *v = find(m, n, key);
    if (v == NULL)
        return NULL;
    v += kl + 2;
    const char *e = find(v, (size_t)(m + n - v), ", ");
    *vlen = e != NULL ? (size_t)(e - v) : (size_t)(m + n - v);
    return v;
}

/* parse_delivery - "QID: to=<rcpt>, relay=..., [conn_use=N, ]..., status=S (why)" */
static void parse_delivery(const char *m, size_t n, struct postfix_line *out)
{
    size_t i = 0, vl;
    while (i < n && i < 64 &&
           ((m[i] >= '0' && m[i] <= '9') || (m[i] >= 'A' && m[i] <= 'Z') ||
            (m[i] >= 'a' && m[i] <= 'z')))
        i++;
    if (i == 0 || i > POSTFIX_LOG_QID_MAX || !starts(m + i, n - i, ": to=<"))
        return;
    memcpy(out->qid, m, i);
    out->qid[i] = '\0';
    const char *r = m + i + 6;
    const char *re = memchr(r, '>', (size_t)(m + n - r));
    if (re == NULL)
        return;
    const char *at = NULL;
    for (const char *p = r; p < re; p++)
        if (*p == '@')
            at = p;
    if (at == NULL || at + 1 == re)
        return;
    for (const char *p = at + 1; p < re; p++)
        if (!host_ok(*p) || *p == ':')
            return; /* not a domain name: not a delivery to report on */
    if (!copy_lower(at + 1, (size_t)(re - at - 1), out->rcpt_domain, sizeof(out->rcpt_domain)))
        return;
    /* from here on, search after the recipient: it may hold anything */
    const char *rest = re;
    size_t rn = (size_t)(m + n - rest);
    const char *relay = field(rest, rn, "relay", &vl);
    if (relay == NULL)
        return;
    if (vl == 4 && memcmp(relay, "none", 4) == 0) {
        out->host[0] = out->ip[0] = '\0';
    } else if (hostport(relay, vl, out->host, out->ip) == 0) {
        return;
    }
    out->conn_use = 1;
    const char *cu = field(rest, rn, "conn_use", &vl);
    if (cu != NULL) {
        unsigned v = 0;
        for (size_t k = 0; k < vl && k < 9 && cu[k] >= '0' && cu[k] <= '9'; k++)
            v = v * 10 + (unsigned)(cu[k] - '0');
        out->conn_use = v;
    }
    const char *st = find(rest, rn, " status=");
    if (st == NULL)
        return;
    st += 8;
    size_t sl = (size_t)(m + n - st);
    if (starts(st, sl, "sent"))
        out->status = POSTFIX_STATUS_SENT;
    else if (starts(st, sl, "deferred"))
        out->status = POSTFIX_STATUS_DEFERRED;
    else if (starts(st, sl, "bounced"))
        out->status = POSTFIX_STATUS_BOUNCED;
    else
        return;
    const char *why = memchr(st, '(', sl);
    size_t wl = 0;
    if (why != NULL) {
        why++;
        wl = (size_t)(m + n - why);
        if (wl > 0 && why[wl - 1] == ')')
            wl--;
        copy_cut(why, wl, out->reason, sizeof(out->reason));
    }
    out->result = TLSRPT_SUCCESS;
    if (why != NULL) {
        /* smtp_proto.c: a TLS-requiring policy and no STARTTLS in EHLO (RFC 8460 §4.3.1) */
        if (find(why, wl, "TLS is required, but was not offered") != NULL)
            out->result = TLSRPT_STARTTLS_NOT_SUPPORTED;
        else if (find(why, wl, "Server certificate not trusted") != NULL)
            out->result = TLSRPT_CERTIFICATE_NOT_TRUSTED;
        else if (find(why, wl, "Server certificate not verified") != NULL)
            out->result = TLSRPT_VALIDATION_FAILURE;
        /* the policy lookup failed (mxtlsd TEMP or down): no connection was made */
        if (find(why, wl, "client TLS configuration problem") != NULL)
            out->tls_policy_problem = true;
    }
    out->kind = POSTFIX_LINE_DELIVERY;
}

/* unhex - one hex digit, or -1 */
static int unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* enc_ok - octets a record field carries unencoded */
static bool enc_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == ':' || c == '*' || c == '/' || c == '+' || c >= 0x80;
}

/* postfix_log_encode - percent-encoding of one record value */
int postfix_log_encode(const char *s, size_t len, char *out, size_t size)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (enc_ok(c)) {
            if (o + 1 >= size)
                return MXTLS_ENOSPACE;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= size)
                return MXTLS_ENOSPACE;
            out[o++] = '%';
            out[o++] = hx[c >> 4];
            out[o++] = hx[c & 15];
        }
    }
    if (o >= size)
        return MXTLS_ENOSPACE;
    out[o] = '\0';
    return (int)o;
}

/*
 * decode_list - a record value: "-" (empty), or entries separated by ','
 * each percent-encoded; written decoded, each ending '\n'. 0 or MXTLS_EINVAL.
 */
static int decode_list(const char *v, size_t n, char *out, size_t size, bool one,
                       struct mxtls_diag *diag, const char *name)
{
    size_t o = 0;
    if (n == 1 && v[0] == '-') {
        out[0] = '\0';
        return 0;
    }
    if (n == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "tlsrpt-policy: %s is empty", name);
    for (size_t i = 0; i <= n; i++) {
        if (i == n || v[i] == ',') {
            if (one && i != n)
                return mxtls_diag_set(diag, MXTLS_EINVAL, i, "tlsrpt-policy: %s is a list", name);
            if (o + 2 > size)
                return mxtls_diag_set(diag, MXTLS_EINVAL, i, "tlsrpt-policy: %s too long", name);
            out[o++] = one ? '\0' : '\n';
            continue;
        }
        char c = v[i];
        if (c == '%') {
            int a = i + 2 < n ? unhex(v[i + 1]) : -1, b = a >= 0 ? unhex(v[i + 2]) : -1;
            if (a < 0 || b < 0 || (a << 4 | b) == 0 || (a << 4 | b) == '\n')
                return mxtls_diag_set(diag, MXTLS_EINVAL, i, "tlsrpt-policy: %s: bad %%XX", name);
            c = (char)(a << 4 | b);
            i += 2;
        } else if (!enc_ok((unsigned char)c)) {
            return mxtls_diag_set(diag, MXTLS_EINVAL, i, "tlsrpt-policy: %s: octet 0x%02x", name,
                                  (unsigned char)c);
        }
        if (o + 2 > size)
            return mxtls_diag_set(diag, MXTLS_EINVAL, i, "tlsrpt-policy: %s too long", name);
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/*
 * parse_policy - mxtlsd's record after the marker: "nexthop=D type=T domain=D
 * failure=F|- mx=L|- string=L|-", fields in this order (core/decision_log.c).
 */
static int parse_policy(const char *m, size_t n, struct postfix_line *out, struct mxtls_diag *diag)
{
    static const char *const keys[] = {"nexthop", "type", "domain", "failure", "mx", "string"};
    struct postfix_policy *p = &out->policy;
    size_t i = 0;
    char tmp[POSTFIX_LOG_HOST_MAX + 1];
    for (size_t k = 0; k < 6; k++) {
        size_t kl = strlen(keys[k]);
        if (i + kl + 1 > n || memcmp(m + i, keys[k], kl) != 0 || m[i + kl] != '=')
            return mxtls_diag_set(diag, MXTLS_EINVAL, i, "tlsrpt-policy: %s= expected", keys[k]);
        i += kl + 1;
        size_t s = i;
        while (i < n && m[i] != ' ')
            i++;
        const char *v = m + s;
        size_t vl = i - s;
        int rc = 0;
        switch (k) {
        case 0:
            rc = decode_list(v, vl, p->nexthop, sizeof(p->nexthop), true, diag, keys[k]);
            break;
        case 1:
            if (vl == 3 && memcmp(v, "sts", 3) == 0)
                p->type = TLSRPT_POLICY_STS;
            else if (vl == 4 && memcmp(v, "tlsa", 4) == 0)
                p->type = TLSRPT_POLICY_TLSA;
            else if (vl == 15 && memcmp(v, "no-policy-found", 15) == 0)
                p->type = TLSRPT_POLICY_NONE;
            else
                rc = mxtls_diag_set(diag, MXTLS_EINVAL, s, "tlsrpt-policy: unknown type");
            break;
        case 2:
            rc = decode_list(v, vl, p->domain, sizeof(p->domain), true, diag, keys[k]);
            break;
        case 3:
            p->failure = TLSRPT_SUCCESS;
            if (!(vl == 1 && v[0] == '-')) {
                rc = decode_list(v, vl, tmp, sizeof(tmp), true, diag, keys[k]);
                if (rc == 0 && (tlsrpt_result_parse(tmp, strlen(tmp), &p->failure) != 0 ||
                                p->failure == TLSRPT_SUCCESS))
                    rc = mxtls_diag_set(diag, MXTLS_EINVAL, s, "tlsrpt-policy: unknown failure");
            }
            break;
        case 4:
            rc = decode_list(v, vl, p->mx, sizeof(p->mx), false, diag, keys[k]);
            break;
        default:
            rc = decode_list(v, vl, p->strings, sizeof(p->strings), false, diag, keys[k]);
            break;
        }
        if (rc != 0)
            return rc;
        if (i < n)
            i++; /* the space */
    }
    if (p->nexthop[0] == '\0' || p->domain[0] == '\0')
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "tlsrpt-policy: empty name");
    for (char *c = p->nexthop; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c + 32);
    for (char *c = p->domain; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c + 32);
    out->kind = POSTFIX_LINE_POLICY;
    return 0;
}

/* postfix_log_parse - one line */
int postfix_log_parse(const char *buf, size_t len, int year, struct postfix_line *out,
                      struct mxtls_diag *diag)
{
    /* the policy part (10 KiB) is cleared only for a policy record */
    memset(out, 0, offsetof(struct postfix_line, policy));
    out->kind = POSTFIX_LINE_OTHER;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len == 0 || len > POSTFIX_LOG_LINE_MAX || memchr(buf, '\0', len) != NULL)
        return 0; /* a log line is text: NUL means a corrupt file */
    size_t t = parse_time(buf, len, year, &out->time);
    if (t == 0 || t >= len || buf[t] != ' ')
        return 0;
    const char *rest = buf + t + 1;
    size_t rn = len - t - 1;
    /* the program tag: "[host ]prog[pid]: " within the first 300 octets */
    const char *tag = find(rest, rn < 300 ? rn : 300, "]: ");
    if (tag == NULL)
        return 0;
    const char *lb = tag;
    while (lb > rest && lb[-1] != '[')
        lb--;
    if (lb == rest)
        return 0;
    const char *prog = lb - 1;
    while (prog > rest && prog[-1] != ' ')
        prog--;
    unsigned long pid = 0;
    for (const char *d = lb; d < tag; d++) {
        if (*d < '0' || *d > '9' || d - lb > 9)
            return 0;
        pid = pid * 10 + (unsigned long)(*d - '0');
    }
    const char *m = tag + 3;
    size_t n = (size_t)(buf + len - m);
    const char *mark = find(m, n < 64 ? n : 64, POSTFIX_LOG_POLICY_MARK);
    if (mark != NULL) {
        size_t k = (size_t)(mark - m) + strlen(POSTFIX_LOG_POLICY_MARK);
        /* parse_policy writes every member on success; a failure clears the
           whole policy below (not cleared first: 10 KiB a record) */
        int rc = parse_policy(m + k, n - k, out, diag);
        if (rc != 0) {
            memset(&out->policy, 0, sizeof(out->policy));
            out->kind = POSTFIX_LINE_OTHER;
        }
        return rc;
    }
    size_t pl = (size_t)(lb - 1 - prog);
    /* cleanup(8) logs each message's Message-ID: ours mark report mails (no loops) */
    if (pl >= 8 && memcmp(lb - 1 - 8, "/cleanup", 8) == 0) {
        const char *q = find(m, n < 80 ? n : 80, ": message-id=<" POSTFIX_LOG_REPORT_MSGID);
        size_t ql = q != NULL ? (size_t)(q - m) : 0;
        if (ql > 0 && ql <= POSTFIX_LOG_QID_MAX) {
            memcpy(out->qid, m, ql);
            out->qid[ql] = '\0';
            out->kind = POSTFIX_LINE_REPORT_QID;
        }
        return 0;
    }
    /* only the smtp client: postfix/smtp, postfix/smtp-strict/smtp, postfix-out/smtp */
    if (pl < 5 || memcmp(lb - 1 - 5, "/smtp", 5) != 0)
        return 0;
    out->pid = pid;
    if (find(m, n < 16 ? n : 16, " TLS ") != NULL)
        parse_established(m, n, out);
    else if (starts(m, n, "certificate verification failed for ") ||
             starts(m, n, "server certificate verification failed for "))
        parse_verify_fail(m, n, out);
    else
        parse_delivery(m, n, out);
    if (out->kind == POSTFIX_LINE_OTHER) {
        int64_t tm = out->time;
        memset(out, 0, offsetof(struct postfix_line, policy));
        out->time = tm;
    }
    return 0;
}

/* The per-process state of the assembler. */
struct pending {
    unsigned long pid; /* 0: free */
    uint64_t used;     /* feed counter at the last line, for eviction */
    bool closed;       /* a status line ended the connection's first session */
    bool have_fail, have_tls;
    enum tlsrpt_result fail;
    enum postfix_trust trust;
    char host[POSTFIX_LOG_HOST_MAX + 1];
    char ip[POSTFIX_LOG_IP_MAX + 1];
    char qid[POSTFIX_LOG_QID_MAX + 1];
    char reason[POSTFIX_LOG_REASON_MAX + 1];
};

struct postfix_sessions {
    uint64_t clock;
    struct pending p[POSTFIX_SESSIONS_PIDS];
};

/* postfix_sessions_new - zeroed table */
struct postfix_sessions *postfix_sessions_new(void)
{
    return calloc(1, sizeof(struct postfix_sessions));
}

/* postfix_sessions_free - release */
void postfix_sessions_free(struct postfix_sessions *s)
{
    free(s);
}

/* slot - the entry of pid; create (evicting the least recently used) when asked */
static struct pending *slot(struct postfix_sessions *s, unsigned long pid, bool create)
{
    struct pending *old = &s->p[0];
    for (size_t i = 0; i < POSTFIX_SESSIONS_PIDS; i++) {
        if (s->p[i].pid == pid && pid != 0)
            return &s->p[i];
        if (s->p[i].used < old->used)
            old = &s->p[i];
    }
    if (!create)
        return NULL;
    memset(old, 0, sizeof(*old));
    old->pid = pid;
    return old;
}

/* fresh - a line of a new connection: forget the previous one's state */
static void fresh(struct pending *e, const struct postfix_line *l)
{
    if (e->closed || strcmp(e->host, l->host) != 0 || strcmp(e->ip, l->ip) != 0) {
        unsigned long pid = e->pid;
        uint64_t used = e->used;
        memset(e, 0, sizeof(*e));
        e->pid = pid;
        e->used = used; /* still the most recent: not the next to be evicted */
        memcpy(e->host, l->host, sizeof(e->host));
        memcpy(e->ip, l->ip, sizeof(e->ip));
    }
}

/* postfix_sessions_feed - advance one process's state */
int postfix_sessions_feed(struct postfix_sessions *s, const struct postfix_line *l,
                          struct postfix_session *out)
{
    struct pending *e;
    s->clock++;
    switch (l->kind) {
    case POSTFIX_LINE_VERIFY_FAIL:
        e = slot(s, l->pid, true);
        e->used = s->clock;
        fresh(e, l);
        if (!e->have_fail) {
            e->have_fail = true;
            e->fail = l->result;
            memcpy(e->reason, l->reason, sizeof(e->reason));
        }
        return 0;
    case POSTFIX_LINE_ESTABLISHED:
        e = slot(s, l->pid, true);
        e->used = s->clock;
        fresh(e, l);
        e->have_tls = true;
        e->trust = l->trust;
        return 0;
    case POSTFIX_LINE_DELIVERY:
        break;
    default:
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->time = l->time;
    memcpy(out->rcpt_domain, l->rcpt_domain, sizeof(out->rcpt_domain));
    memcpy(out->mx_host, l->host, sizeof(out->mx_host));
    memcpy(out->ip, l->ip, sizeof(out->ip));
    memcpy(out->qid, l->qid, sizeof(out->qid));
    if (l->tls_policy_problem) {
        out->policy_problem = true;
        return 1;
    }
    if (l->conn_use > 1)
        return 0; /* a cached connection: its session was counted when it was new */
    e = slot(s, l->pid, false);
    bool same = e != NULL && strcmp(e->host, l->host) == 0 && strcmp(e->ip, l->ip) == 0;
    if (same && e->closed && strcmp(e->qid, l->qid) == 0)
        return 0; /* another recipient of the same message, the same session */
    if (l->result == TLSRPT_STARTTLS_NOT_SUPPORTED) {
        out->result = TLSRPT_STARTTLS_NOT_SUPPORTED;
        memcpy(out->reason, l->reason, sizeof(out->reason));
    } else if (same && !e->closed && (e->have_tls || e->have_fail)) {
        out->tls = e->have_tls;
        if (l->status == POSTFIX_STATUS_SENT) {
            out->result = TLSRPT_SUCCESS; /* delivered over it: TLS was what the policy asked */
        } else if (e->have_fail) {
            out->result = e->fail;
            memcpy(out->reason, e->reason, sizeof(out->reason));
        } else {
            out->result = l->result; /* SUCCESS for a refusal after TLS (4xx, 5xx) */
            memcpy(out->reason, l->reason, sizeof(out->reason));
        }
    } else if (l->result != TLSRPT_SUCCESS) {
        out->result = l->result;
        memcpy(out->reason, l->reason, sizeof(out->reason));
    } else if (l->status == POSTFIX_STATUS_SENT && l->ip[0] != '\0') {
        /* delivered in plaintext: the server did not offer STARTTLS (or it was stripped) */
        out->result = TLSRPT_STARTTLS_NOT_SUPPORTED;
        copy_cut("delivered without TLS", 21, out->reason, sizeof(out->reason));
    } else {
        return 0; /* not a TLS matter: connection refused, DNS, ... */
    }
    if (e == NULL)
        e = slot(s, l->pid, true);
    e->used = s->clock;
    e->closed = true;
    memcpy(e->qid, l->qid, sizeof(e->qid));
    memcpy(e->host, l->host, sizeof(e->host));
    memcpy(e->ip, l->ip, sizeof(e->ip));
    return 1;
}

#define BLOB_MAGIC "PFS1"

/* postfix_sessions_save - magic, entry size, count, the pending entries */
size_t postfix_sessions_save(const struct postfix_sessions *s, unsigned char *buf, size_t size)
{
    uint32_t esz = (uint32_t)sizeof(struct pending), n = 0;
    size_t o = 12;
    if (size < o)
        return 0;
    for (size_t i = 0; i < POSTFIX_SESSIONS_PIDS; i++) {
        if (s->p[i].pid == 0)
            continue;
        if (o + esz > size)
            return 0;
        memcpy(buf + o, &s->p[i], esz);
        o += esz;
        n++;
    }
    memcpy(buf, BLOB_MAGIC, 4);
    memcpy(buf + 4, &esz, 4);
    memcpy(buf + 8, &n, 4);
    return o;
}

/* terminate - force a NUL at the end of a fixed field */
#define TERMINATE(f) ((f)[sizeof(f) - 1] = '\0')

/* postfix_sessions_load - replace the state with a saved one, checked field by field */
int postfix_sessions_load(struct postfix_sessions *s, const unsigned char *buf, size_t len)
{
    uint32_t esz, n;
    if (len < 12 || memcmp(buf, BLOB_MAGIC, 4) != 0)
        return MXTLS_EINVAL;
    memcpy(&esz, buf + 4, 4);
    memcpy(&n, buf + 8, 4);
    if (esz != sizeof(struct pending) || n > POSTFIX_SESSIONS_PIDS || len != 12 + (size_t)n * esz)
        return MXTLS_EINVAL; /* another build's layout: start empty */
    memset(s, 0, sizeof(*s));
    for (uint32_t i = 0; i < n; i++) {
        struct pending *e = &s->p[i];
        memcpy(e, buf + 12 + (size_t)i * esz, esz);
        TERMINATE(e->host);
        TERMINATE(e->ip);
        TERMINATE(e->qid);
        TERMINATE(e->reason);
        bool *flags[] = {&e->closed, &e->have_fail, &e->have_tls};
        for (size_t k = 0; k < 3; k++) {
            unsigned char b; /* read as a byte: a bool must not hold another value */
            memcpy(&b, flags[k], 1);
            *flags[k] = b != 0;
        }
        if ((unsigned)e->fail >= TLSRPT_RESULT_COUNT)
            e->fail = TLSRPT_VALIDATION_FAILURE;
        if ((unsigned)e->trust > POSTFIX_TRUST_VERIFIED)
            e->trust = POSTFIX_TRUST_ANONYMOUS;
        if (e->used > s->clock)
            s->clock = e->used;
    }
    return 0;
}
