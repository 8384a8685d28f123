/*
 * test_sts_policy - MTA-STS policy file parse and format (include/mxtls/sts_policy.h).
 * Each row names the rule it exercises; removing the rule fails the row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "mxtls/sts_policy.h"

#define MX_ROWS 4

/* The complete example policy of RFC 8461 §3.2. */
#define RFC_EXAMPLE                                                                                \
    "version: STSv1\n"                                                                             \
    "mode: enforce\n"                                                                              \
    "mx: mail.example.com\n"                                                                       \
    "mx: *.example.net\n"                                                                          \
    "mx: backupmx.example.com\n"                                                                   \
    "max_age: 604800\n"
#define RFC_EXAMPLE_MX                                                                             \
    {                                                                                              \
        "mail.example.com", "*.example.net", "backupmx.example.com"                                \
    }

/* A valid head for rows that vary only the tail. */
#define HEAD "version: STSv1\nmode: enforce\nmx: mx.example.com\n"

/* Rows with a NUL octet inside need an explicit length. */
#define NUL_VALUE                                                                                  \
    HEAD "max_age: 6\0"                                                                            \
         "0\n"
#define NUL_LINE HEAD "\0\nmax_age: 60\n"
#define NUL_DELIM                                                                                  \
    HEAD "max_age:\0"                                                                              \
         "60\n"

/* The expected-policy fields of a row that must be rejected. */
#define REJECT                                                                                     \
    STS_MODE_NONE, 0,                                                                              \
    {                                                                                              \
        NULL                                                                                       \
    }

struct policy_case {
    const char *rule;
    const char *in;
    size_t len; /* 0: strlen(in) */
    int err;
    enum sts_mode mode;
    uint32_t max_age;
    const char *mx[MX_ROWS]; /* expected patterns, NULL-terminated */
};

static const struct policy_case cases[] = {
    /* RFC 8461 §3.2 examples */
    {"RFC 8461 §3.2 example policy (LF)", RFC_EXAMPLE, 0, 0, STS_MODE_ENFORCE, 604800,
     RFC_EXAMPLE_MX},
    {"RFC 8461 §3.2 example policy with CRLF (sts-policy-term)",
     "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
     "mx: backupmx.example.com\r\nmax_age: 604800\r\n",
     0, 0, STS_MODE_ENFORCE, 604800, RFC_EXAMPLE_MX},
    {"RFC 8461 §3.2 example, last terminator omitted ([sts-policy-term])",
     "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\n"
     "mx: backupmx.example.com\nmax_age: 604800",
     0, 0, STS_MODE_ENFORCE, 604800, RFC_EXAMPLE_MX},
    {"RFC 8461 §3.2 mx example: \"mx: mail.example.com <CRLF> mx: *.example.net\"",
     "version: STSv1\nmode: testing\nmx: mail.example.com\r\nmx: *.example.net\nmax_age: 86400",
     0,
     0,
     STS_MODE_TESTING,
     86400,
     {"mail.example.com", "*.example.net"}},
    {"mixed LF and CRLF terminators (RFC 8461 §3.2 sts-policy-term)",
     "version: STSv1\r\nmode: enforce\nmx: mx.example.com\r\nmax_age: 1\n",
     0,
     0,
     STS_MODE_ENFORCE,
     1,
     {"mx.example.com"}},
    {"fields in any order (RFC 8461 §3.2)",
     "max_age: 3600\nmx: mx.example.com\nmode: testing\nversion: STSv1\n",
     0,
     0,
     STS_MODE_TESTING,
     3600,
     {"mx.example.com"}},
    {"mode none needs no mx (RFC 8461 §3.2)",
     "version: STSv1\nmode: none\nmax_age: 86400\n",
     0,
     0,
     STS_MODE_NONE,
     86400,
     {NULL}},
    {"mode none keeps its mx lines (RFC 8461 §3.2)",
     "version: STSv1\nmode: none\nmx: mx.example.com\nmax_age: 86400\n",
     0,
     0,
     STS_MODE_NONE,
     86400,
     {"mx.example.com"}},

    /* field delimiter and white space */
    {"no WSP after the colon (RFC 8461 §3.2 field-delim = \":\" *WSP)",
     "version:STSv1\nmode:enforce\nmx:mx.example.com\nmax_age:60\n",
     0,
     0,
     STS_MODE_ENFORCE,
     60,
     {"mx.example.com"}},
    {"HTAB and spaces after the colon (RFC 8461 §3.2 *WSP)",
     "version:\t STSv1\nmode: \tenforce\nmx:   mx.example.com\nmax_age:\t60\n",
     0,
     0,
     STS_MODE_ENFORCE,
     60,
     {"mx.example.com"}},
    {"trailing WSP ends each field (RFC 8461 §3.2 sts-policy-field *WSP)",
     "version: STSv1 \nmode: enforce\t\nmx: mx.example.com \t \r\nmax_age: 60  ",
     0,
     0,
     STS_MODE_ENFORCE,
     60,
     {"mx.example.com"}},
    {"space inside a value of a known field rejected (RFC 8461 §3.2)", HEAD "max_age: 60 0\n", 0,
     MXTLS_EINVAL, REJECT},
    {"leading WSP on a line rejected (RFC 8461 §3.2 ABNF)", " version: STSv1\n" HEAD "max_age: 1\n",
     0, MXTLS_EINVAL, REJECT},
    {"WSP before the colon rejected (RFC 8461 §3.2 ABNF)", HEAD "max_age : 60\n", 0, MXTLS_EINVAL,
     REJECT},

    /* lines */
    {"empty line between fields rejected (RFC 8461 §3.2 ABNF)",
     "version: STSv1\n\nmode: enforce\nmx: mx.example.com\nmax_age: 60\n", 0, MXTLS_EINVAL, REJECT},
    {"blank line at the end rejected (RFC 8461 §3.2: one optional term)", HEAD "max_age: 60\n\n", 0,
     MXTLS_EINVAL, REJECT},
    {"CRLF CRLF at the end rejected (RFC 8461 §3.2)", HEAD "max_age: 60\r\n\r\n", 0, MXTLS_EINVAL,
     REJECT},
    {"white-space-only line rejected (RFC 8461 §3.2)", HEAD " \nmax_age: 60\n", 0, MXTLS_EINVAL,
     REJECT},
    {"bare word without a colon rejected (RFC 8461 §3.2)", HEAD "max_age\n", 0, MXTLS_EINVAL,
     REJECT},
    {"line without a colon rejected (RFC 8461 §3.2)", HEAD "max_age 60\n", 0, MXTLS_EINVAL, REJECT},
    {"empty field name rejected (RFC 8461 §3.2)", HEAD ": x\nmax_age: 60\n", 0, MXTLS_EINVAL,
     REJECT},
    {"bare CR is no terminator (RFC 8461 §3.2 sts-policy-term)",
     "version: STSv1\rmode: enforce\rmx: mx.example.com\rmax_age: 60\r", 0, MXTLS_EINVAL, REJECT},
    {"bare CR inside a line rejected", HEAD "max_age: 60\r0\n", 0, MXTLS_EINVAL, REJECT},
    {"UTF-8 BOM before the first field rejected (RFC 8461 §3.2 ABNF)", "\xef\xbb\xbf" RFC_EXAMPLE,
     0, MXTLS_EINVAL, REJECT},
    {"NUL inside a value rejected (RFC 8461 §3.2: no CTLs)", NUL_VALUE, sizeof(NUL_VALUE) - 1,
     MXTLS_EINVAL, REJECT},
    {"NUL as a whole line rejected", NUL_LINE, sizeof(NUL_LINE) - 1, MXTLS_EINVAL, REJECT},
    {"NUL after the colon rejected", NUL_DELIM, sizeof(NUL_DELIM) - 1, MXTLS_EINVAL, REJECT},
    {"only len octets are read",
     HEAD "max_age: 60\nmode: bogus",
     sizeof(HEAD "max_age: 60\n") - 1,
     0,
     STS_MODE_ENFORCE,
     60,
     {"mx.example.com"}},
    {"empty body rejected (RFC 8461 §3.2)", "", 0, MXTLS_EINVAL, REJECT},

    /* version */
    {"version must be STSv1 (RFC 8461 §3.2)",
     "version: STSv2\nmode: enforce\nmx: mx.example.com\nmax_age: 60\n", 0, MXTLS_EINVAL, REJECT},
    {"version value is case-sensitive (RFC 8461 §3.2 %s\"STSv1\")",
     "version: stsv1\nmode: enforce\nmx: mx.example.com\nmax_age: 60\n", 0, MXTLS_EINVAL, REJECT},
    {"version is required (RFC 8461 §3.2)", "mode: enforce\nmx: mx.example.com\nmax_age: 60\n", 0,
     MXTLS_EINVAL, REJECT},
    {"version with trailing junk rejected (RFC 8461 §3.2)",
     "version: STSv1x\nmode: enforce\nmx: mx.example.com\nmax_age: 60\n", 0, MXTLS_EINVAL, REJECT},

    /* mode */
    {"mode testing (RFC 8461 §3.2)",
     "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 9",
     0,
     0,
     STS_MODE_TESTING,
     9,
     {"mx.example.com"}},
    {"mode value is case-sensitive (RFC 8461 §3.2 %s\"enforce\")",
     "version: STSv1\nmode: Enforce\nmx: mx.example.com\nmax_age: 60\n", 0, MXTLS_EINVAL, REJECT},
    {"unknown mode rejected (RFC 8461 §3.2)",
     "version: STSv1\nmode: enforcing\nmx: mx.example.com\nmax_age: 60\n", 0, MXTLS_EINVAL, REJECT},
    {"mode is required (RFC 8461 §3.2)", "version: STSv1\nmx: mx.example.com\nmax_age: 60\n", 0,
     MXTLS_EINVAL, REJECT},
    {"field names are case-sensitive: \"Mode\" is an extension (RFC 8461 §3.2)",
     "version: STSv1\nMode: enforce\nmx: mx.example.com\nmax_age: 60\n", 0, MXTLS_EINVAL, REJECT},

    /* max_age */
    {"max_age 0 is allowed (RFC 8461 §3.2 non-negative)",
     HEAD "max_age: 0\n",
     0,
     0,
     STS_MODE_ENFORCE,
     0,
     {"mx.example.com"}},
    {"max_age 31557600 is the maximum (RFC 8461 §3.2)",
     HEAD "max_age: 31557600\n",
     0,
     0,
     STS_MODE_ENFORCE,
     31557600,
     {"mx.example.com"}},
    {"max_age 31557601 rejected (RFC 8461 §3.2)", HEAD "max_age: 31557601\n", 0, MXTLS_EINVAL,
     REJECT},
    {"max_age of 10 digits with leading zeros (RFC 8461 §3.2 1*10DIGIT)",
     HEAD "max_age: 0000086400\n",
     0,
     0,
     STS_MODE_ENFORCE,
     86400,
     {"mx.example.com"}},
    {"max_age of 11 digits rejected (RFC 8461 §3.2 1*10DIGIT)", HEAD "max_age: 00000086400\n", 0,
     MXTLS_EINVAL, REJECT},
    {"max_age above 32 bits rejected (RFC 8461 §3.2)", HEAD "max_age: 9999999999\n", 0,
     MXTLS_EINVAL, REJECT},
    {"max_age sign rejected (RFC 8461 §3.2 DIGIT)", HEAD "max_age: +60\n", 0, MXTLS_EINVAL, REJECT},
    {"max_age negative rejected (RFC 8461 §3.2)", HEAD "max_age: -1\n", 0, MXTLS_EINVAL, REJECT},
    {"max_age with a unit rejected (RFC 8461 §3.2)", HEAD "max_age: 60s\n", 0, MXTLS_EINVAL,
     REJECT},
    {"max_age empty rejected (RFC 8461 §3.2)", HEAD "max_age:\n", 0, MXTLS_EINVAL, REJECT},
    {"max_age is required (RFC 8461 §3.2)", HEAD, 0, MXTLS_EINVAL, REJECT},

    /* mx */
    {"mx is required in enforce mode (RFC 8461 §3.2)",
     "version: STSv1\nmode: enforce\nmax_age: 60\n", 0, MXTLS_EINVAL, REJECT},
    {"mx is required in testing mode (RFC 8461 §3.2)",
     "version: STSv1\nmode: testing\nmax_age: 60\n", 0, MXTLS_EINVAL, REJECT},
    {"mx lower-cased, trailing dot dropped (RFC 4343)",
     "version: STSv1\nmode: enforce\nmx: MX.Example.COM.\nmx: *.Example.NET\nmax_age: 60",
     0,
     0,
     STS_MODE_ENFORCE,
     60,
     {"mx.example.com", "*.example.net"}},
    {"duplicate mx patterns kept once (RFC 8461 §4.1: a set)",
     "version: STSv1\nmode: enforce\nmx: mx.example.com\nmx: b.example.com\nmx: MX.example.com.\n"
     "max_age: 60",
     0,
     0,
     STS_MODE_ENFORCE,
     60,
     {"mx.example.com", "b.example.com"}},
    {"mx A-label accepted (RFC 8461 §3.2 IDN)",
     "version: STSv1\nmode: enforce\nmx: xn--bcher-kva.example\nmax_age: 60",
     0,
     0,
     STS_MODE_ENFORCE,
     60,
     {"xn--bcher-kva.example"}},
    {"mx U-label rejected (RFC 8461 §3.2: A-label)",
     "version: STSv1\nmode: enforce\nmx: b\xc3\xbc"
     "cher.example\nmax_age: 60",
     0, MXTLS_EINVAL, REJECT},
    {"mx IPv4 literal rejected (RFC 8461 §3.2 Domain)",
     "version: STSv1\nmode: enforce\nmx: 192.0.2.25\nmax_age: 60", 0, MXTLS_EINVAL, REJECT},
    {"mx bracketed literal rejected (RFC 8461 §3.2 Domain)",
     "version: STSv1\nmode: enforce\nmx: [192.0.2.25]\nmax_age: 60", 0, MXTLS_EINVAL, REJECT},
    {"mx IPv6 literal rejected (RFC 8461 §3.2 Domain)",
     "version: STSv1\nmode: enforce\nmx: 2001:db8::25\nmax_age: 60", 0, MXTLS_EINVAL, REJECT},
    {"mx wildcard inside a label rejected (RFC 8461 §4.1)",
     "version: STSv1\nmode: enforce\nmx: mx*.example.com\nmax_age: 60", 0, MXTLS_EINVAL, REJECT},
    {"mx wildcard over a TLD rejected", "version: STSv1\nmode: enforce\nmx: *.com\nmax_age: 60", 0,
     MXTLS_EINVAL, REJECT},
    {"mx with a space inside rejected (RFC 8461 §3.2)",
     "version: STSv1\nmode: enforce\nmx: mx example.com\nmax_age: 60", 0, MXTLS_EINVAL, REJECT},
    {"mx empty rejected (RFC 8461 §3.2)", "version: STSv1\nmode: enforce\nmx:\nmax_age: 60", 0,
     MXTLS_EINVAL, REJECT},
    {"bad mx rejected even in mode none (RFC 8461 §3.2)",
     "version: STSv1\nmode: none\nmx: _bad.example\nmax_age: 60", 0, MXTLS_EINVAL, REJECT},

    /* repeated fields: RFC 8461 §3.2 "all entries except for the first SHALL be ignored" */
    {"repeated mode: first wins (RFC 8461 §3.2)",
     HEAD "mode: testing\nmax_age: 60\n",
     0,
     0,
     STS_MODE_ENFORCE,
     60,
     {"mx.example.com"}},
    {"repeated mode with a bad value ignored (RFC 8461 §3.2)",
     HEAD "mode: bogus\nmax_age: 60\n",
     0,
     0,
     STS_MODE_ENFORCE,
     60,
     {"mx.example.com"}},
    {"repeated max_age: first wins, out-of-range repeat ignored (RFC 8461 §3.2)",
     HEAD "max_age: 60\nmax_age: 99999999999\n",
     0,
     0,
     STS_MODE_ENFORCE,
     60,
     {"mx.example.com"}},
    {"repeated version STSv2 ignored (RFC 8461 §3.2)",
     HEAD "version: STSv2\nmax_age: 60\n",
     0,
     0,
     STS_MODE_ENFORCE,
     60,
     {"mx.example.com"}},
    {"first mode invalid: a valid repeat does not rescue it (RFC 8461 §3.2)",
     "version: STSv1\nmode: bogus\nmode: enforce\nmx: mx.example.com\nmax_age: 60\n", 0,
     MXTLS_EINVAL, REJECT},
    {"ignored repeat must still be a field line (RFC 8461 §3.2)", HEAD "mode:\nmax_age: 60\n", 0,
     MXTLS_EINVAL, REJECT},

    /* extension fields: RFC 8461 §3.2 "unknown fields SHALL be ignored" */
    {"extension field ignored (RFC 8461 §3.2)",
     HEAD "foo: bar baz=1; x\nmax_age: 60\n",
     0,
     0,
     STS_MODE_ENFORCE,
     60,
     {"mx.example.com"}},
    {"extension value in UTF-8 (RFC 8461 §3.2 UTF8-2/3/4)",
     HEAD "note: gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x93\xa7\nmax_age: 60\n",
     0,
     0,
     STS_MODE_ENFORCE,
     60,
     {"mx.example.com"}},
    {"extension name of 32 characters with _ - . (RFC 8461 §3.2)",
     HEAD "a_b-c.d0123456789012345678901234: v\nmax_age: 60\n",
     0,
     0,
     STS_MODE_ENFORCE,
     60,
     {"mx.example.com"}},
    {"extension name of 33 characters rejected (RFC 8461 §3.2 *31)",
     HEAD "a_b-c.d01234567890123456789012345: v\nmax_age: 60\n", 0, MXTLS_EINVAL, REJECT},
    {"extension name starting with _ rejected (RFC 8461 §3.2)", HEAD "_x: v\nmax_age: 60\n", 0,
     MXTLS_EINVAL, REJECT},
    {"extension with an empty value rejected (RFC 8461 §3.2 ext-value)", HEAD "foo:\nmax_age: 60\n",
     0, MXTLS_EINVAL, REJECT},
    {"HTAB inside an extension value rejected (RFC 8461 §3.2: only %x20)",
     HEAD "foo: a\tb\nmax_age: 60\n", 0, MXTLS_EINVAL, REJECT},
    {"DEL in an extension value rejected (RFC 8461 §3.2 vchar)", HEAD "foo: a\x7f\nmax_age: 60\n",
     0, MXTLS_EINVAL, REJECT},
    {"overlong UTF-8 rejected (RFC 3629 §3)", HEAD "foo: \xc0\x80\nmax_age: 60\n", 0, MXTLS_EINVAL,
     REJECT},
    {"lone UTF-8 continuation octet rejected (RFC 3629 §4)", HEAD "foo: a\x80\nmax_age: 60\n", 0,
     MXTLS_EINVAL, REJECT},
    {"UTF-16 surrogate in UTF-8 rejected (RFC 3629 §4)", HEAD "foo: \xed\xa0\x80\nmax_age: 60\n", 0,
     MXTLS_EINVAL, REJECT},
    {"UTF-8 above U+10FFFF rejected (RFC 3629 §4)", HEAD "foo: \xf4\x90\x80\x80\nmax_age: 60\n", 0,
     MXTLS_EINVAL, REJECT},
    {"truncated UTF-8 at the end of a value rejected (RFC 3629 §4)",
     HEAD "max_age: 60\nfoo: \xe2\x82", 0, MXTLS_EINVAL, REJECT},
};

/* policy_equal - same mode, max_age and patterns in the same order */
static void assert_policy_equal(const struct sts_policy *a, const struct sts_policy *b)
{
    size_t i;

    assert_int_equal(a->mode, b->mode);
    assert_int_equal(a->max_age, b->max_age);
    assert_int_equal(a->n_mx, b->n_mx);
    for (i = 0; i < a->n_mx; i++)
        assert_string_equal(a->mx[i], b->mx[i]);
}

static void test_policy(void **state)
{
    const struct policy_case *c = *state;
    struct sts_policy p, q;
    struct mxtls_diag diag = {0};
    size_t i, len = c->len ? c->len : strlen(c->in), want_n = 0;
    int err = sts_policy_parse(c->in, len, &p, &diag);
    char *text;

    if (err != c->err)
        fail_msg("returned %d, want %d (%s at %zu)", err, c->err, diag.what, diag.offset);
    if (c->err != 0) {
        assert_true(diag.what[0] != '\0');
        assert_true(diag.offset <= len);
        /* A failed parse leaves the policy empty. */
        assert_int_equal(p.n_mx, 0);
        assert_null(p.mx);
        sts_policy_finish(&p);
        return;
    }
    assert_int_equal(p.mode, c->mode);
    assert_int_equal(p.max_age, c->max_age);
    while (want_n < MX_ROWS && c->mx[want_n] != NULL)
        want_n++;
    assert_int_equal(p.n_mx, want_n);
    for (i = 0; i < want_n; i++)
        assert_string_equal(p.mx[i], c->mx[i]);
    /* parse(format(p)) == p for everything parse accepts. */
    text = sts_policy_format(&p);
    assert_non_null(text);
    err = sts_policy_parse(text, strlen(text), &q, &diag);
    if (err != 0)
        fail_msg("re-parse of the canonical form failed: %s", diag.what);
    assert_policy_equal(&p, &q);
    free(text);
    sts_policy_finish(&q);
    sts_policy_finish(&p);
}

/* RFC 8461 §3.2 lists the fields as version, mode, mx..., max_age, CRLF ended. */
static void test_format_canonical(void **state)
{
    struct sts_policy p;
    char *text;

    (void)state;
    assert_int_equal(sts_policy_parse(RFC_EXAMPLE, strlen(RFC_EXAMPLE), &p, NULL), 0);
    text = sts_policy_format(&p);
    assert_string_equal(text, "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
                              "mx: *.example.net\r\nmx: backupmx.example.com\r\n"
                              "max_age: 604800\r\n");
    free(text);
    sts_policy_finish(&p);
}

static void test_format_none(void **state)
{
    struct sts_policy p = {STS_MODE_NONE, 0, 0, NULL};
    char *text = sts_policy_format(&p);

    (void)state;
    assert_string_equal(text, "version: STSv1\r\nmode: none\r\nmax_age: 0\r\n");
    free(text);
    p.max_age = STS_POLICY_MAX_AGE;
    p.mode = STS_MODE_TESTING;
    text = sts_policy_format(&p);
    assert_string_equal(text, "version: STSv1\r\nmode: testing\r\nmax_age: 31557600\r\n");
    free(text);
    assert_null(sts_policy_format(NULL));
}

static void test_mode_name(void **state)
{
    (void)state;
    assert_string_equal(sts_mode_name(STS_MODE_NONE), "none");
    assert_string_equal(sts_mode_name(STS_MODE_TESTING), "testing");
    assert_string_equal(sts_mode_name(STS_MODE_ENFORCE), "enforce");
    assert_string_equal(sts_mode_name((enum sts_mode)42), "unknown");
}

/* Builds a policy padded with extension lines to exactly `total` octets. */
static char *padded_policy(size_t total)
{
    static const char head[] = HEAD "max_age: 60\n";
    char *buf = malloc(total + 1);
    size_t pos = strlen(head);

    memcpy(buf, head, pos);
    while (pos < total) {
        /* Lines "x: vvv\n" of 60 octets; the last one takes what is left (5-69). */
        size_t n = total - pos >= 70 ? 60 : total - pos;

        memcpy(buf + pos, "x: ", 3);
        memset(buf + pos + 3, 'v', n - 4);
        buf[pos + n - 1] = '\n';
        pos += n;
    }
    buf[total] = '\0';
    return buf;
}

/* RFC 8461 §3.3: the body cap (STS_POLICY_BODY_MAX) is inclusive. */
static void test_body_max(void **state)
{
    struct sts_policy p;
    struct mxtls_diag diag = {0};
    char *buf;
    int err;

    (void)state;
    buf = padded_policy(STS_POLICY_BODY_MAX);
    err = sts_policy_parse(buf, STS_POLICY_BODY_MAX, &p, &diag);
    if (err != 0)
        fail_msg("64 KiB policy: %s at %zu", diag.what, diag.offset);
    sts_policy_finish(&p);
    free(buf);
    buf = padded_policy(STS_POLICY_BODY_MAX + 1);
    assert_int_equal(sts_policy_parse(buf, STS_POLICY_BODY_MAX + 1, &p, &diag), MXTLS_ETOOLONG);
    assert_null(p.mx);
    free(buf);
}

/* Builds a policy with n mx lines, distinct or all the same. */
static char *mx_policy(size_t n, int same)
{
    char *buf = malloc(64 + n * 40), *p = buf;
    size_t i;

    if (buf == NULL)
        abort(); /* out of memory in a test: nothing to report */
    p += sprintf(p, "version: STSv1\nmode: enforce\nmax_age: 60\n");
    for (i = 0; i < n; i++)
        p += sprintf(p, "mx: mx%zu.example.com\n", same ? (size_t)0 : i);
    return buf;
}

/* mx_count_row - a policy with n distinct (or n equal) mx lines and what it must give */
struct mx_count_row {
    const char *rule;
    size_t n;
    int same;
};

static const struct mx_count_row mx_counts[] = {
    {"129 mx lines accepted: no cap below the RFC's 64 KiB (RFC 8461 §3.3; issue 17 item 9)", 129,
     0},
    {"2,400 mx lines of 23 octets (54 KiB) accepted (RFC 8461 §3.3)", 2400, 0},
    {"3,000 mx lines accepted, within 64 KiB (RFC 8461 §3.3)", 3000, 2},
    {"3,000 repeats of one mx line: a set of one (RFC 8461 §4.1)", 3000, 1},
};

/* mx_short_policy - n distinct short patterns "a<i>.ex" (fits 3,000 in 64 KiB) */
static char *mx_short_policy(size_t n)
{
    char *buf = malloc(64 + n * 20), *p = buf;
    size_t i;

    if (buf == NULL)
        abort(); /* out of memory in a test: nothing to report */
    p += sprintf(p, "version: STSv1\nmode: enforce\nmax_age: 60\n");
    for (i = 0; i < n; i++)
        p += sprintf(p, "mx: a%zu.ex\n", i);
    return buf;
}

/* test_mx_count - RFC-valid policies with many mx lines parse in full, in order */
static void test_mx_count(void **state)
{
    const struct mx_count_row *r = *state;
    struct sts_policy p;
    struct mxtls_diag diag = {0};
    char *buf = r->same == 2 ? mx_short_policy(r->n) : mx_policy(r->n, r->same);
    size_t len = strlen(buf), want = r->same == 1 ? 1 : r->n, i;
    char name[64];

    assert_true(len <= STS_POLICY_BODY_MAX);
    assert_int_equal(sts_policy_parse(buf, len, &p, &diag), 0);
    assert_int_equal(p.n_mx, want);
    for (i = 0; i < want; i++) {
        if (r->same == 2)
            snprintf(name, sizeof(name), "a%zu.ex", i);
        else
            snprintf(name, sizeof(name), "mx%zu.example.com", r->same ? (size_t)0 : i);
        assert_string_equal(p.mx[i], name);
    }
    /* one block: the patterns follow the pointer array */
    assert_ptr_equal(p.mx[0], (char *)(p.mx + p.n_mx));
    sts_policy_finish(&p);
    assert_null(p.mx);
    free(buf);
}

/* The most mx lines a 64 KiB body holds are accepted; the body cap is the limit. */
static void test_mx_body_cap(void **state)
{
    struct sts_policy p;
    struct mxtls_diag diag = {0};
    char *buf = malloc(STS_POLICY_BODY_MAX + 64), *q = buf;
    size_t i = 0;

    (void)state;
    q += sprintf(q, "version: STSv1\nmode: enforce\nmax_age: 60\n");
    while ((size_t)(q - buf) + 16 <= STS_POLICY_BODY_MAX)
        q += sprintf(q, "mx: m%zu.ex\n", i++);
    assert_int_equal(sts_policy_parse(buf, (size_t)(q - buf), &p, &diag), 0);
    assert_int_equal(p.n_mx, i);
    assert_true(p.n_mx <= STS_POLICY_MX_MAX);
    sts_policy_finish(&p);
    q += sprintf(q, "mx: overflow.example.com\n");
    assert_int_equal(sts_policy_parse(buf, (size_t)(q - buf), &p, &diag), MXTLS_ETOOLONG);
    free(buf);
}

/* The diagnostic points at the offending octet. */
static void test_diag_offset(void **state)
{
    static const char in[] = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 6x\n";
    struct sts_policy p;
    struct mxtls_diag diag = {0};

    (void)state;
    assert_int_equal(sts_policy_parse(in, strlen(in), &p, &diag), MXTLS_EINVAL);
    assert_int_equal(diag.offset, (size_t)(strstr(in, "6x") + 1 - in));
    assert_int_equal(diag.code, MXTLS_EINVAL);
}

static void test_finish(void **state)
{
    struct sts_policy p;

    (void)state;
    sts_policy_finish(NULL);
    assert_int_equal(sts_policy_parse(RFC_EXAMPLE, strlen(RFC_EXAMPLE), &p, NULL), 0);
    sts_policy_finish(&p);
    assert_int_equal(p.n_mx, 0);
    assert_null(p.mx);
    sts_policy_finish(&p); /* twice is harmless */
}

int main(void)
{
    static struct unit_suite s;

    UNIT_ROWS(&s, test_policy, cases);
    unit_one(&s, "format: canonical RFC 8461 §3.2 example", test_format_canonical, NULL);
    unit_one(&s, "format: mode none, max_age bounds", test_format_none, NULL);
    unit_one(&s, "sts_mode_name", test_mode_name, NULL);
    unit_one(&s, "body of 64 KiB accepted, one more octet rejected (RFC 8461 §3.3)", test_body_max,
             NULL);
    UNIT_ROWS(&s, test_mx_count, mx_counts);
    unit_one(&s, "as many mx lines as 64 KiB holds, and no more octets (RFC 8461 §3.3)",
             test_mx_body_cap, NULL);
    unit_one(&s, "diagnostic offset points at the bad octet", test_diag_offset, NULL);
    unit_one(&s, "finish: NULL, twice, after parse", test_finish, NULL);
    return unit_run(&s, "sts_policy");
}
