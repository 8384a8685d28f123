/*
 * test_tlsrpt_record - the "_smtp._tls" TXT record (include/mxtls/tlsrpt_record.h).
 * Each row names the rule it exercises; removing the rule fails the row.
 */
#include <stdio.h>
#include <string.h>

#include "unit.h"

#include "mxtls/tlsrpt_record.h"

#define M TLSRPT_SCHEME_MAILTO
#define H TLSRPT_SCHEME_HTTPS
#define V "v=TLSRPTv1; rua="

struct parse_case {
    const char *rule;
    const char *in;
    size_t len; /* 0: strlen(in) */
    int err;
    size_t n_rua, n_unsupported;
    const char *uri[2]; /* the first two kept URIs */
    int scheme[2];
};

/* ACCEPT: n_rua URIs kept, n_unsupported skipped, first two checked */
#define ACCEPT(rule, in, len, n, unsup, u0, s0, u1, s1)                                            \
    {                                                                                              \
        rule, in, len, 0, n, unsup, {u0, u1},                                                      \
        {                                                                                          \
            s0, s1                                                                                 \
        }                                                                                          \
    }
#define REJECT(rule, in, len)                                                                      \
    {                                                                                              \
        rule, in, len, MXTLS_EINVAL, 0, 0, {NULL, NULL},                                           \
        {                                                                                          \
            0, 0                                                                                   \
        }                                                                                          \
    }

static const struct parse_case parse_cases[] = {
    ACCEPT("RFC 8460 §3 mailto example", "v=TLSRPTv1;rua=mailto:reports@example.com", 0, 1, 0,
           "mailto:reports@example.com", M, NULL, 0),
    ACCEPT("RFC 8460 §3 https example", V "https://reporting.example.com/v1/tlsrpt", 0, 1, 0,
           "https://reporting.example.com/v1/tlsrpt", H, NULL, 0),
    ACCEPT("comma-separated URIs kept in order (RFC 8460 §3)",
           V "mailto:a@example.com,https://r.example.com/x", 0, 2, 0, "mailto:a@example.com", M,
           "https://r.example.com/x", H),
    ACCEPT("WSP around the comma (RFC 8460 §3 *WSP \",\" *WSP)",
           V "mailto:a@example.com \t, https://r.example.com", 0, 2, 0, "mailto:a@example.com", M,
           "https://r.example.com", H),
    ACCEPT("optional trailing delimiter (RFC 8460 §3)", V "mailto:a@example.com ; ", 0, 1, 0,
           "mailto:a@example.com", M, NULL, 0),
    ACCEPT("scheme is case-insensitive, stored lower-case (RFC 3986 §3.1)",
           V "MAILTO:a@example.com,HtTpS://r.example.com", 0, 2, 0, "mailto:a@example.com", M,
           "https://r.example.com", H),
    ACCEPT("two rua fields are valid ABNF and merged (RFC 8460 §3)",
           V "mailto:a@example.com; rua=https://r.example.com", 0, 2, 0, "mailto:a@example.com", M,
           "https://r.example.com", H),
    ACCEPT("unknown fields are ignored (RFC 8460 §3)",
           "v=TLSRPTv1; ext_1.a-b=v!al; rua=mailto:a@example.com; x=y", 0, 1, 0,
           "mailto:a@example.com", M, NULL, 0),
    ACCEPT("unsupported scheme skipped, counted (RFC 8460 §3)",
           V "http://r.example.com/,mailto:a@example.com", 0, 1, 1, "mailto:a@example.com", M, NULL,
           0),
    ACCEPT("%2C separates mailto addresses (RFC 8460 §3, RFC 6068 §2)",
           V "mailto:a@example.com%2Cb@example.net", 0, 1, 0,
           "mailto:a@example.com%2Cb@example.net", M, NULL, 0),
    ACCEPT("encoded \"!\" is fine (RFC 8460 §3)", V "mailto:a%21b@example.com", 0, 1, 0,
           "mailto:a%21b@example.com", M, NULL, 0),
    ACCEPT("mailto header fields (RFC 6068 §2)", V "mailto:a@example.com?subject=tlsrpt&x=", 0, 1,
           0, "mailto:a@example.com?subject=tlsrpt&x=", M, NULL, 0),
    ACCEPT("https port, path, query and fragment (RFC 3986 §3)",
           V "https://r.example.com:8443/a/b?c=d&e#f", 0, 1, 0,
           "https://r.example.com:8443/a/b?c=d&e#f", H, NULL, 0),
    ACCEPT("https port 65535 (RFC 3986 §3.2.3)", V "https://r.example.com:65535", 0, 1, 0,
           "https://r.example.com:65535", H, NULL, 0),
    ACCEPT("only len octets are read", V "mailto:a@example.comXYZ", 36, 1, 0,
           "mailto:a@example.com", M, NULL, 0),

    REJECT("rua is required (RFC 8460 §3)", "v=TLSRPTv1; x=y", 0),
    REJECT("\"RUA=\" is an extension: keys case-sensitive (RFC 8460 §3 %s)",
           "v=TLSRPTv1; RUA=mailto:a@example.com", 0),
    REJECT("version alone (RFC 8460 §3 1*)", "v=TLSRPTv1;", 0),
    REJECT("only unsupported schemes: nowhere to report (RFC 8460 §3)", V "http://r.example.com/",
           0),
    REJECT("DMARC size suffix: \"!\" must be encoded (RFC 8460 §3)", V "mailto:a@example.com!10m",
           0),
    REJECT("raw \";\" inside a URI ends the field (RFC 8460 §3)", V "https://r.example.com/a;b", 0),
    REJECT("raw \",\" inside a URI starts a URI without a scheme (RFC 8460 §3)",
           V "mailto:a@example.com,b@example.com", 0),
    REJECT("empty URI after a comma (RFC 8460 §3)", V "mailto:a@example.com,", 0),
    REJECT("empty rua (RFC 8460 §3)", V, 0),
    REJECT("a bad rua is an error, not an ignored extension (RFC 8460 §3)", V "foo", 0),
    REJECT("scheme must start with a letter (RFC 3986 §3.1)", V "1http://r.example.com", 0),
    REJECT("bad percent-encoding (RFC 3986 §2.1)", V "mailto:a%2Gb@example.com", 0),
    REJECT("truncated percent-encoding (RFC 3986 §2.1)", V "https://r.example.com/%2", 0),
    REJECT("space inside a URI (RFC 3986 §2)", V "https://r.example.com/a b", 0),
    REJECT("non-ASCII inside a URI (RFC 3986 §2)", V "mailto:caf\xc3\xa9@example.com", 0),
    REJECT("NUL inside a URI", V "mailto:a@exa\0mple.com", 37),
    REJECT("two \"#\" (RFC 3986 §3.5)", V "https://r.example.com/#a#b", 0),
    REJECT("IP literal brackets refused", V "https://[2001:db8::1]/", 0),
    REJECT("mailto without \"@\" (RFC 6068 §2)", V "mailto:reports", 0),
    REJECT("mailto with two \"@\" (RFC 6068 §2)", V "mailto:a@b@example.com", 0),
    REJECT("mailto with empty local part (RFC 6068 §2)", V "mailto:@example.com", 0),
    REJECT("mailto with no address, only headers (RFC 8460 §3)", V "mailto:?to=a@example.com", 0),
    REJECT("mailto domain must be a host name", V "mailto:a@exa_mple.com", 0),
    REJECT("mailto \"/\" in the local part must be encoded (RFC 6068 §2)",
           V "mailto:a/b@example.com", 0),
    REJECT("mailto header field without \"=\" (RFC 6068 §2)", V "mailto:a@example.com?subject", 0),
    REJECT("mailto trailing %2C leaves an empty address (RFC 6068 §2)", V "mailto:a@example.com%2C",
           0),
    REJECT("mailto fragment (RFC 6068 §2)", V "mailto:a@example.com#x", 0),
    REJECT("https without \"//\" (RFC 3986 §3.2)", V "https:r.example.com", 0),
    REJECT("https with empty host (RFC 3986 §3.2.2)", V "https:///tlsrpt", 0),
    REJECT("https with userinfo refused", V "https://user@r.example.com/", 0),
    REJECT("https with IPv4 host refused", V "https://192.0.2.1/", 0),
    REJECT("https port 0", V "https://r.example.com:0/", 0),
    REJECT("https port 65536", V "https://r.example.com:65536/", 0),
    REJECT("https empty port", V "https://r.example.com:/", 0),
    REJECT("https port with six digits", V "https://r.example.com:000443/", 0),
    REJECT("\"=\" inside an extension value (RFC 8460 §3)", V "mailto:a@example.com; a=b=c", 0),
    REJECT("extension name of 33 octets (RFC 8460 §3 *31)",
           V "mailto:a@example.com; a23456789012345678901234567890123=x", 0),
    REJECT("empty extension value (RFC 8460 §3)", V "mailto:a@example.com; a=", 0),
    REJECT("trailing WSP without \";\" (RFC 8460 §3)", V "mailto:a@example.com ", 0),
    REJECT("empty field (RFC 8460 §3)", "v=TLSRPTv1;; rua=mailto:a@example.com", 0),
    REJECT("\"v=TLSRPTv1 ;\" does not begin with \"v=TLSRPTv1;\" (RFC 8460 §3)",
           "v=TLSRPTv1 ; rua=mailto:a@example.com", 0),
    REJECT("version is case-sensitive (RFC 8460 §3 %s)", "v=tlsrptv1; rua=mailto:a@example.com", 0),
    REJECT("empty record", "", 0),
};

static void test_parse(void **state)
{
    const struct parse_case *c = *state;
    struct tlsrpt_record *rec = (struct tlsrpt_record *)1;
    struct mxtls_diag diag = {0};
    size_t i, len = c->len ? c->len : strlen(c->in);
    int err = tlsrpt_record_parse(c->in, len, &rec, &diag);

    if (err != c->err)
        fail_msg("\"%s\" returned %d, want %d (%s)", c->in, err, c->err, diag.what);
    if (err != 0) {
        assert_null(rec);
        assert_int_equal(diag.code, err);
        assert_true(diag.what[0] != '\0');
        assert_true(diag.offset <= len);
        return;
    }
    assert_int_equal(rec->n_rua, c->n_rua);
    assert_int_equal(rec->n_unsupported, c->n_unsupported);
    for (i = 0; i < 2 && i < c->n_rua; i++) {
        assert_string_equal(rec->rua[i].uri, c->uri[i]);
        assert_int_equal(rec->rua[i].scheme, c->scheme[i]);
    }
    tlsrpt_record_free(rec);
}

/* Rejections whose reason must name the rule, where another check would
 * also reject the input and hide the rule's removal. */
struct reason_case {
    const char *rule;
    const char *in;
    const char *why; /* substring of diag.what */
};

static const struct reason_case reason_cases[] = {
    {"reason: userinfo refused before the host check", V "https://user@r.example.com/", "userinfo"},
    {"reason: \"[\" is refused as a URI octet", V "https://[2001:db8::1]/", "0x5b"},
    {"reason: \"!\" must be %21 (RFC 8460 §3)", V "mailto:a@example.com!10m", "%21"},
    {"reason: mailto local part octets (RFC 6068 §2)", V "mailto:a/b@example.com",
     "percent-encoded"},
    {"reason: no supported scheme (RFC 8460 §3)", V "ftp://r.example.com/", "supported scheme"},
    {"reason: rua required, keys case-sensitive (RFC 8460 §3)",
     "v=TLSRPTv1; RUA=mailto:a@example.com", "case-sensitive"},
    {"reason: near miss \"v=TLSRPTv1 ;\" (RFC 8460 §3)", "v=TLSRPTv1 ; rua=mailto:a@example.com",
     "but not"},
    {"reason: host checked by domain_normalize", V "https://r..example.com/", "empty label"},
};

static void test_reason(void **state)
{
    const struct reason_case *c = *state;
    struct tlsrpt_record *rec = NULL;
    struct mxtls_diag diag = {0};

    assert_int_equal(tlsrpt_record_parse(c->in, strlen(c->in), &rec, &diag), MXTLS_EINVAL);
    if (strstr(diag.what, c->why) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", diag.what, c->why);
}

struct select_case {
    const char *rule;
    const char *recs[3];
    size_t n;
    int err;
    const char *want; /* first URI on success, else a substring of diag.what */
};

static const struct select_case select_cases[] = {
    {"the one TLSRPT record among others is chosen (RFC 8460 §3)",
     {"v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@example.com", "v=STSv1; id=1"},
     3,
     0,
     "mailto:a@example.com"},
    {"no TXT record at all", {NULL}, 0, MXTLS_ENOTFOUND, "no TLSRPT record"},
    {"two TLSRPT records: not one (RFC 8460 §3)",
     {"v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1; rua=mailto:b@example.com"},
     2,
     MXTLS_EMULTIPLE,
     "2 TLSRPT records"},
    {"\"v=TLSRPTv1 ;\" alone is discarded, reason says so (RFC 8460 §3)",
     {"v=TLSRPTv1 ; rua=mailto:a@example.com"},
     1,
     MXTLS_ENOTFOUND,
     "but not \"v=TLSRPTv1;\""},
    {"\"v=TLSRPTv10;\" is discarded (RFC 8460 §3)",
     {"v=TLSRPTv10; rua=mailto:x@example.com", "v=TLSRPTv1; rua=mailto:a@example.com"},
     2,
     0,
     "mailto:a@example.com"},
    {"sole record invalid: no TLSRPT, reason kept (RFC 8460 §3)",
     {"v=TLSRPTv1; rua=reports"},
     1,
     MXTLS_EINVAL,
     "scheme"},
};

static void test_select(void **state)
{
    const struct select_case *c = *state;
    struct txt_record recs[3];
    struct tlsrpt_record *rec = NULL;
    struct mxtls_diag diag = {0};
    size_t i;
    int err;

    for (i = 0; i < c->n; i++) {
        recs[i].buf = c->recs[i];
        recs[i].len = strlen(c->recs[i]);
    }
    err = tlsrpt_record_select(c->n ? recs : NULL, c->n, &rec, &diag);
    if (err != c->err)
        fail_msg("returned %d, want %d (%s)", err, c->err, diag.what);
    if (err == 0) {
        assert_string_equal(rec->rua[0].uri, c->want);
        tlsrpt_record_free(rec);
    } else {
        assert_null(rec);
        if (strstr(diag.what, c->want) == NULL)
            fail_msg("reason \"%s\" lacks \"%s\"", diag.what, c->want);
    }
}

/* Wire form: strings joined without spaces (RFC 8460 §3). */
static void test_select_rdata(void **state)
{
    const struct txt_rdata good[] = {
        {(const unsigned char *)"\x0bv=TLSRPTv1;"
                                "\x1d rua=mailto:a@example.com,htt"
                                "\x14ps://r.example.com/x",
         63},
    };
    const struct txt_rdata bad[] = {{(const unsigned char *)"\x40v=TLSRPTv1;", 12}};
    struct tlsrpt_record *rec = NULL;

    (void)state;
    assert_int_equal(tlsrpt_record_select_rdata(good, 1, &rec, NULL), 0);
    assert_int_equal(rec->n_rua, 2);
    assert_string_equal(rec->rua[1].uri, "https://r.example.com/x");
    tlsrpt_record_free(rec);
    assert_int_equal(tlsrpt_record_select_rdata(bad, 1, &rec, NULL), MXTLS_EINVAL);
    assert_null(rec);
}

/* builds "v=TLSRPTv1; rua=" followed by n URIs of total length each */
static size_t make_record(char *buf, size_t n, size_t urilen, const char *scheme)
{
    size_t i, pos = strlen(V), slen = strlen(scheme);

    memcpy(buf, V, pos);
    for (i = 0; i < n; i++) {
        if (i > 0)
            buf[pos++] = ',';
        memcpy(buf + pos, scheme, slen); /* "https://h.example/" */
        memset(buf + pos + slen, 'p', urilen - slen);
        pos += urilen;
    }
    return pos;
}

/* Caps: TLSRPT_URI_MAX octets per URI, TLSRPT_RUA_MAX URIs of any scheme. */
static void test_caps(void **state)
{
    static char buf[TLSRPT_RUA_MAX * 2 * (TLSRPT_URI_MAX + 1) + 64];
    struct tlsrpt_record *rec = NULL;
    size_t len;

    (void)state;
    len = make_record(buf, 1, TLSRPT_URI_MAX, "https://h.example/");
    assert_int_equal(tlsrpt_record_parse(buf, len, &rec, NULL), 0);
    assert_int_equal(strlen(rec->rua[0].uri), TLSRPT_URI_MAX);
    tlsrpt_record_free(rec);
    len = make_record(buf, 1, TLSRPT_URI_MAX + 1, "https://h.example/");
    assert_int_equal(tlsrpt_record_parse(buf, len, &rec, NULL), MXTLS_ETOOLONG);
    len = make_record(buf, TLSRPT_RUA_MAX, 30, "https://h.example/");
    assert_int_equal(tlsrpt_record_parse(buf, len, &rec, NULL), 0);
    assert_int_equal(rec->n_rua, TLSRPT_RUA_MAX);
    tlsrpt_record_free(rec);
    len = make_record(buf, TLSRPT_RUA_MAX + 1, 30, "https://h.example/");
    assert_int_equal(tlsrpt_record_parse(buf, len, &rec, NULL), MXTLS_ETOOLONG);
    /* unsupported URIs count too: a flood of them is refused */
    len = make_record(buf, TLSRPT_RUA_MAX + 1, 30, "http://h.example/");
    assert_int_equal(tlsrpt_record_parse(buf, len, &rec, NULL), MXTLS_ETOOLONG);
    assert_null(rec);
}

/* format gives the canonical text, which parses back to the same record. */
static void test_format(void **state)
{
    const char *in = "v=TLSRPTv1;rua=MAILTO:a@example.com , ftp://x ,https://r.example.com;e=1";
    struct tlsrpt_record *rec = NULL, *again = NULL;
    char *text;

    (void)state;
    assert_int_equal(tlsrpt_record_parse(in, strlen(in), &rec, NULL), 0);
    text = tlsrpt_record_format(rec);
    assert_non_null(text);
    assert_string_equal(text, "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com");
    assert_int_equal(tlsrpt_record_parse(text, strlen(text), &again, NULL), 0);
    assert_int_equal(again->n_rua, 2);
    assert_string_equal(again->rua[0].uri, rec->rua[0].uri);
    assert_string_equal(again->rua[1].uri, rec->rua[1].uri);
    free(text);
    tlsrpt_record_free(again);
    tlsrpt_record_free(rec);
    tlsrpt_record_free(NULL);
}

int main(void)
{
    static struct unit_suite s;

    UNIT_ROWS(&s, test_parse, parse_cases);
    UNIT_ROWS(&s, test_reason, reason_cases);
    UNIT_ROWS(&s, test_select, select_cases);
    unit_one(&s, "wire-form RDATAs joined, malformed rejected (RFC 8460 §3)", test_select_rdata,
             NULL);
    unit_one(&s, "caps on URI length and count, boundary and boundary+1", test_caps, NULL);
    unit_one(&s, "canonical format round-trips; free(NULL) is a no-op", test_format, NULL);
    return unit_run(&s, "tlsrpt_record");
}
