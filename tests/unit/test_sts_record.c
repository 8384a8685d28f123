/*
 * test_sts_record - the "_mta-sts" TXT record (include/mxtls/sts_record.h).
 * Each row names the rule it exercises; removing the rule fails the row.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"

#include "mxtls/sts_record.h"

struct parse_case {
    const char *rule;
    const char *in;
    size_t len; /* 0: strlen(in) */
    int err;
    const char *want_id; /* on success */
};

static const struct parse_case parse_cases[] = {
    {"RFC 8461 §3.1 example record", "v=STSv1; id=20160831085700Z;", 0, 0, "20160831085700Z"},
    {"trailing delimiter optional (RFC 8461 §3.1)", "v=STSv1; id=20160831085700Z", 0, 0,
     "20160831085700Z"},
    {"no whitespace needed after \";\" (RFC 8461 §3.1)", "v=STSv1;id=abc", 0, 0, "abc"},
    {"HTAB is WSP around \";\" (RFC 8461 §3.1)", "v=STSv1;\tid=abc\t;\t", 0, 0, "abc"},
    {"WSP before a later \";\" (RFC 8461 §3.1 sts-field-delim)", "v=STSv1; id=abc ; x=y", 0, 0,
     "abc"},
    {"id of 32 letters and digits (RFC 8461 §3.1)", "v=STSv1; id=0123456789abcdefABCDEF0123456789",
     0, 0, "0123456789abcdefABCDEF0123456789"},
    {"id of one character (RFC 8461 §3.1)", "v=STSv1; id=Z", 0, 0, "Z"},
    {"extension before id is ignored (RFC 8461 §3.1 sts-extension)", "v=STSv1; ext.1_a-b=val; id=1",
     0, 0, "1"},
    {"extension value: every allowed VCHAR (RFC 8461 §3.1 sts-ext-value)",
     "v=STSv1; id=1; e=!\"#$%&'()*+,-./:<>?@[\\]^_`{|}~", 0, 0, "1"},
    {"extension name of 32 octets (RFC 8461 §3.1)",
     "v=STSv1; id=1; a2345678901234567890123456789012=x", 0, 0, "1"},
    {"extension name may start with a digit (RFC 8461 §3.1)", "v=STSv1; 9=x; id=1", 0, 0, "1"},
    {"keys case-sensitive: \"Id\" is an extension, \"id\" the id (RFC 8461 §3.1 %s)",
     "v=STSv1; Id=abc; id=xyz", 0, 0, "xyz"},
    {"only len octets are read", "v=STSv1; id=abcXYZ", 15, 0, "abc"},
    {"id of 33 characters (RFC 8461 §3.1 1*32)", "v=STSv1; id=0123456789abcdefABCDEF0123456789x", 0,
     MXTLS_EINVAL, NULL},
    {"empty id (RFC 8461 §3.1 1*32)", "v=STSv1; id=", 0, MXTLS_EINVAL, NULL},
    {"empty id before \";\" (RFC 8461 §3.1)", "v=STSv1; id=;", 0, MXTLS_EINVAL, NULL},
    {"id with a hyphen is not an extension named id (RFC 8461 §3.1)", "v=STSv1; id=2016-08-31", 0,
     MXTLS_EINVAL, NULL},
    {"id with non-ASCII octet", "v=STSv1; id=caf\xc3\xa9", 0, MXTLS_EINVAL, NULL},
    {"NUL octet inside the id", "v=STSv1; id=ab\0cd", 17, MXTLS_EINVAL, NULL},
    {"id required (RFC 8461 §3.1)", "v=STSv1; foo=bar", 0, MXTLS_EINVAL, NULL},
    {"\"ID\" is not \"id\": keys case-sensitive (RFC 8461 §3.1 %s)", "v=STSv1; ID=abc", 0,
     MXTLS_EINVAL, NULL},
    {"second id rejected (RFC 8461 §3.1: id identifies one policy)", "v=STSv1; id=abc; id=def", 0,
     MXTLS_EINVAL, NULL},
    {"second equal id rejected too", "v=STSv1; id=abc; id=abc", 0, MXTLS_EINVAL, NULL},
    {"extension name of 33 octets (RFC 8461 §3.1 *31)",
     "v=STSv1; id=1; a23456789012345678901234567890123=x", 0, MXTLS_EINVAL, NULL},
    {"extension name starting with \"_\" (RFC 8461 §3.1)", "v=STSv1; id=1; _x=y", 0, MXTLS_EINVAL,
     NULL},
    {"\"=\" inside an extension value (RFC 8461 §3.1 sts-ext-value)", "v=STSv1; id=1; a=b=c", 0,
     MXTLS_EINVAL, NULL},
    {"empty extension value (RFC 8461 §3.1 1*)", "v=STSv1; id=1; a=", 0, MXTLS_EINVAL, NULL},
    {"field without \"=\"", "v=STSv1; id", 0, MXTLS_EINVAL, NULL},
    {"WSP around \"=\" is not in the ABNF (RFC 8461 §3.1)", "v=STSv1; id = 1", 0, MXTLS_EINVAL,
     NULL},
    {"version alone: a field is required (RFC 8461 §3.1 1*)", "v=STSv1;", 0, MXTLS_EINVAL, NULL},
    {"empty field between delimiters (RFC 8461 §3.1)", "v=STSv1;;id=1", 0, MXTLS_EINVAL, NULL},
    {"two trailing delimiters (RFC 8461 §3.1 [sts-field-delim])", "v=STSv1; id=1;;", 0,
     MXTLS_EINVAL, NULL},
    {"trailing WSP without \";\" (RFC 8461 §3.1)", "v=STSv1; id=1 ", 0, MXTLS_EINVAL, NULL},
    {"CRLF at the end (RFC 8461 §3.1)", "v=STSv1; id=1\r\n", 0, MXTLS_EINVAL, NULL},
    {"NUL after the record inside len", "v=STSv1; id=1\0", 14, MXTLS_EINVAL, NULL},
    {"leading WSP: does not begin with \"v=STSv1;\" (RFC 8461 §3.1)", " v=STSv1; id=1", 0,
     MXTLS_EINVAL, NULL},
    {"\"v=STSv1 ;\" does not begin with \"v=STSv1;\" (RFC 8461 §3.1)", "v=STSv1 ; id=1", 0,
     MXTLS_EINVAL, NULL},
    {"version is case-sensitive (RFC 8461 §3.1 %s)", "V=STSv1; id=1", 0, MXTLS_EINVAL, NULL},
    {"other version (RFC 8461 §3.1)", "v=STSv2; id=1", 0, MXTLS_EINVAL, NULL},
    {"empty record", "", 0, MXTLS_EINVAL, NULL},
};

static void test_parse(void **state)
{
    const struct parse_case *c = *state;
    struct sts_record rec;
    struct mxtls_diag diag = {0};
    size_t len = c->len ? c->len : strlen(c->in);
    int err = sts_record_parse(c->in, len, &rec, &diag);

    if (err != c->err)
        fail_msg("\"%s\" returned %d, want %d (%s)", c->in, err, c->err, diag.what);
    if (err == 0) {
        assert_string_equal(rec.id, c->want_id);
    } else {
        assert_string_equal(rec.id, "");
        assert_int_equal(diag.code, err);
        assert_true(diag.what[0] != '\0');
        assert_true(diag.offset <= len);
    }
}

struct select_case {
    const char *rule;
    const char *recs[3];
    size_t n;
    int err;
    const char *want; /* id on success, else a substring of diag.what */
};

static const struct select_case select_cases[] = {
    {"the one STS record among others is chosen (RFC 8461 §3.1)",
     {"v=spf1 -all", "v=STSv1; id=abc", "hello"},
     3,
     0,
     "abc"},
    {"no TXT record at all: no MTA-STS record", {NULL}, 0, MXTLS_ENOTFOUND, "no MTA-STS record"},
    {"no record begins with \"v=STSv1;\" (RFC 8461 §3.1)",
     {"v=spf1 -all", "id=abc"},
     2,
     MXTLS_ENOTFOUND,
     "no MTA-STS record"},
    {"two STS records: not one (RFC 8461 §3.1)",
     {"v=STSv1; id=abc", "v=STSv1; id=def"},
     2,
     MXTLS_EMULTIPLE,
     "2 MTA-STS records"},
    {"selection counts before syntax: valid plus invalid is still two (RFC 8461 §3.1)",
     {"v=STSv1; id=abc", "v=STSv1; id=no-good"},
     2,
     MXTLS_EMULTIPLE,
     NULL},
    {"\"v=STSv1 ;\" alone is discarded, and the reason says so (RFC 8461 §3.1)",
     {"v=STSv1 ; id=abc"},
     1,
     MXTLS_ENOTFOUND,
     "but not \"v=STSv1;\""},
    {"\"v=STSv1\" with no field is discarded (RFC 8461 §3.1)",
     {"v=STSv1", "v=STSv1; id=ok"},
     2,
     0,
     "ok"},
    {"\"v=STSv10;\" is another version, discarded (RFC 8461 §3.1)",
     {"v=STSv10; id=x", "v=STSv1; id=y"},
     2,
     0,
     "y"},
    {"sole record invalid: no policy, reason kept (RFC 8461 §3.1)",
     {"v=STSv1; id=a b"},
     1,
     MXTLS_EINVAL,
     "\";\""},
    {"binary non-STS records are ignored", {"\xff\x00\x01", "v=STSv1; id=ok"}, 2, 0, "ok"},
};

static void test_select(void **state)
{
    const struct select_case *c = *state;
    struct txt_record recs[3];
    struct sts_record rec;
    struct mxtls_diag diag = {0};
    size_t i;
    int err;

    for (i = 0; i < c->n; i++) {
        recs[i].buf = c->recs[i];
        /* "\xff\x00\x01" is three octets */
        recs[i].len = c->recs[i][0] == '\xff' ? 3 : strlen(c->recs[i]);
    }
    err = sts_record_select(c->n ? recs : NULL, c->n, &rec, &diag);
    if (err != c->err)
        fail_msg("returned %d, want %d (%s)", err, c->err, diag.what);
    if (err == 0) {
        assert_string_equal(rec.id, c->want);
    } else {
        assert_string_equal(rec.id, "");
        assert_int_equal(diag.code, err);
        if (c->want != NULL && strstr(diag.what, c->want) == NULL)
            fail_msg("reason \"%s\" lacks \"%s\"", diag.what, c->want);
    }
}

/* Wire form: a record split into strings is joined without spaces (RFC 8461 §3.1). */
static void test_select_rdata(void **state)
{
    const struct txt_rdata good[] = {
        {(const unsigned char *)"\x0bv=spf1 -all", 12},
        {(const unsigned char *)"\x05v=STS"
                                "\x07v1; id="
                                "\x03"
                                "abc",
         18},
    };
    const struct txt_rdata bad[] = {
        {(const unsigned char *)"\x10v=STSv1; id=abc", 16}, /* says 16, holds 15 */
    };
    struct sts_record rec;
    struct mxtls_diag diag = {0};

    (void)state;
    assert_int_equal(sts_record_select_rdata(good, 2, &rec, &diag), 0);
    assert_string_equal(rec.id, "abc");
    assert_int_equal(sts_record_select_rdata(bad, 1, &rec, &diag), MXTLS_EINVAL);
    assert_string_equal(rec.id, "");
    assert_int_equal(sts_record_select_rdata(NULL, 0, &rec, &diag), MXTLS_ENOTFOUND);
}
/* A hundred TXT records as a resolver may hand them over, in any order. */
struct many_row {
    const char *rule;
    size_t valid_at[2]; /* where the v=STSv1 records go; SIZE_MAX: none */
    int want;
};

static const struct many_row many_rows[] = {
    {"99 junk TXT + 1 valid (first) -> the valid one (RFC 8461 §3.1; issue 17 item 10)",
     {0, SIZE_MAX},
     0},
    {"99 junk TXT + 1 valid (65th) -> the valid one, not only the first 64 looked at",
     {64, SIZE_MAX},
     0},
    {"99 junk TXT + 1 valid (last) -> the valid one", {99, SIZE_MAX}, 0},
    {"98 junk + 2 valid (1st, 100th) -> no policy (RFC 8461 §3.1)", {0, 99}, MXTLS_EMULTIPLE},
    {"98 junk + 2 valid (70th, 80th) -> no policy (RFC 8461 §3.1)", {69, 79}, MXTLS_EMULTIPLE},
};

/* test_many - every record counts, wherever the valid ones sit */
static void test_many(void **state)
{
    const struct many_row *r = *state;
    static unsigned char wire[100][64];
    struct txt_rdata rd[100];
    struct sts_record rec;
    struct mxtls_diag diag = {0};
    size_t i;

    for (i = 0; i < 100; i++) {
        const char *text = i == r->valid_at[0]   ? "v=STSv1; id=valid1"
                           : i == r->valid_at[1] ? "v=STSv1; id=valid2"
                                                 : "google-site-verification=junk";
        char junk[64];

        if (text[0] == 'g') {
            snprintf(junk, sizeof(junk), "%s%zu", text, i);
            text = junk;
        }
        wire[i][0] = (unsigned char)strlen(text);
        memcpy(wire[i] + 1, text, wire[i][0]);
        rd[i].data = wire[i];
        rd[i].len = (size_t)wire[i][0] + 1;
    }
    assert_int_equal(sts_record_select_rdata(rd, 100, &rec, &diag), r->want);
    if (r->want == 0)
        assert_string_equal(rec.id, "valid1");
    else
        assert_string_equal(rec.id, "");
}

/* A record text longer than any RDATA could carry is refused outright. */
static void test_too_long(void **state)
{
    static char big[TXT_RDATA_MAX + 1];
    struct sts_record rec;

    (void)state;
    memcpy(big, "v=STSv1; id=1; x=", 17);
    memset(big + 17, 'a', sizeof(big) - 17);
    assert_int_equal(sts_record_parse(big, sizeof(big) - 1, &rec, NULL), 0);
    assert_int_equal(sts_record_parse(big, sizeof(big), &rec, NULL), MXTLS_ETOOLONG);
}

int main(void)
{
    static struct unit_suite s;

    UNIT_ROWS(&s, test_parse, parse_cases);
    UNIT_ROWS(&s, test_select, select_cases);
    unit_one(&s, "wire-form RDATAs joined, malformed rejected (RFC 8461 §3.1)", test_select_rdata,
             NULL);
    unit_one(&s, "record of 65535 octets accepted, 65536 refused", test_too_long, NULL);
    UNIT_ROWS(&s, test_many, many_rows);
    return unit_run(&s, "sts_record");
}
