/*
 * test_txt - TXT RDATA wire form and joining (include/mxtls/txt.h).
 * Each row names the rule it exercises; removing the rule fails the row.
 */
#include <string.h>

#include "unit.h"

#include "mxtls/txt.h"

struct join_case {
    const char *rule;
    const char *rdata;
    size_t rdlen;
    int err;
    const char *want; /* joined text (may hold NULs) */
    size_t want_len;
};

static const struct join_case join_cases[] = {
    {"one character-string (RFC 1035 §3.3.14)", "\x05hello", 6, 0, "hello", 5},
    {"strings joined without separators (RFC 8461 §3.1, RFC 8460 §3)",
     "\x05v=STS"
     "\x09v1; id=42",
     16, 0, "v=STSv1; id=42", 14},
    {"empty character-string is legal", "\x00", 1, 0, "", 0},
    {"empty string between two others adds nothing",
     "\x01"
     "a\x00\x01"
     "b",
     5, 0, "ab", 2},
    {"NUL octets inside a string are kept, length tells",
     "\x03"
     "a\0b",
     4, 0, "a\0b", 3},
    {"non-ASCII octets passed through untouched", "\x02\xc3\xa9", 3, 0, "\xc3\xa9", 2},
    {"empty RDATA rejected: one or more strings (RFC 1035 §3.3.14)", "", 0, MXTLS_EINVAL, NULL, 0},
    {"length octet runs past the RDATA end",
     "\x05"
     "abc",
     4, MXTLS_EINVAL, NULL, 0},
    {"trailing partial string after a good one",
     "\x01"
     "a\x02"
     "b",
     4, MXTLS_EINVAL, NULL, 0},
    {"lone length octet with nothing after it", "\x01", 1, MXTLS_EINVAL, NULL, 0},
};

static void test_join(void **state)
{
    const struct join_case *c = *state;
    char out[64];
    size_t outlen = 999;
    struct mxtls_diag diag = {0};
    int err =
        txt_rdata_join((const unsigned char *)c->rdata, c->rdlen, out, sizeof(out), &outlen, &diag);

    if (err != c->err)
        fail_msg("returned %d, want %d (%s)", err, c->err, diag.what);
    if (err == 0) {
        assert_int_equal(outlen, c->want_len);
        assert_memory_equal(out, c->want, c->want_len);
        assert_int_equal(out[outlen], '\0');
    } else {
        assert_int_equal(diag.code, err);
        assert_true(diag.what[0] != '\0');
    }
}

/* A 255-octet string (the largest one length octet can say) and RDATA size caps. */
static void test_rdata_caps(void **state)
{
    static unsigned char rd[TXT_RDATA_MAX + 2];
    static char out[TXT_RDATA_MAX + 2];
    size_t pos = 0, outlen = 0;

    (void)state;
    /* 255 strings of 255 octets take 65280; a last one of 254 fills 65535. */
    for (pos = 0; pos < 255 * 256; pos += 256) {
        rd[pos] = 255;
        memset(rd + pos + 1, 'x', 255);
    }
    rd[pos] = 254;
    memset(rd + pos + 1, 'y', 254);
    assert_int_equal(txt_rdata_join(rd, TXT_RDATA_MAX, out, sizeof(out), &outlen, NULL), 0);
    assert_int_equal(outlen, 255 * 255 + 254);
    assert_int_equal(out[outlen - 1], 'y');
    /* RFC 1035 §3.2.1: RDLENGTH is 16 bits, so 65536 cannot be real. */
    rd[pos] = 255;
    rd[pos + 255] = 'y';
    assert_int_equal(txt_rdata_join(rd, TXT_RDATA_MAX + 1, out, sizeof(out), &outlen, NULL),
                     MXTLS_ETOOLONG);
}

/* outsize must be at least rdlen; checked before anything is written. */
static void test_output_space(void **state)
{
    char out[8] = "XXXXXXX";
    struct mxtls_diag diag = {0};

    (void)state;
    assert_int_equal(txt_rdata_join((const unsigned char *)"\x05hello", 6, out, 5, NULL, &diag),
                     MXTLS_ENOSPACE);
    assert_string_equal(out, "XXXXXXX");
    assert_int_equal(txt_rdata_join((const unsigned char *)"\x05hello", 6, out, 6, NULL, NULL), 0);
    assert_string_equal(out, "hello");
}

/* txt_rdata_join_set joins each RDATA of a set into one freeable block. */
static void test_join_set(void **state)
{
    const struct txt_rdata set[] = {
        {(const unsigned char *)"\x03"
                                "abc\x02"
                                "de",
         7},
        {(const unsigned char *)"\x00", 1},
        {(const unsigned char *)"\x01z", 2},
    };
    struct txt_record *recs = NULL;

    (void)state;
    assert_int_equal(txt_rdata_join_set(set, 3, &recs, NULL), 0);
    assert_int_equal(recs[0].len, 5);
    assert_memory_equal(recs[0].buf, "abcde", 5);
    assert_int_equal(recs[1].len, 0);
    assert_int_equal(recs[2].len, 1);
    assert_memory_equal(recs[2].buf, "z", 2);
    free(recs);
    assert_int_equal(txt_rdata_join_set(NULL, 0, &recs, NULL), 0);
    free(recs);
}

/* A malformed RDATA fails the whole set and the reason names it. */
static void test_join_set_bad(void **state)
{
    const struct txt_rdata set[] = {
        {(const unsigned char *)"\x01z", 2},
        {(const unsigned char *)"\x09short", 6},
    };
    struct txt_record *recs = (struct txt_record *)1;
    struct mxtls_diag diag = {0};

    (void)state;
    assert_int_equal(txt_rdata_join_set(set, 2, &recs, &diag), MXTLS_EINVAL);
    assert_null(recs);
    assert_non_null(strstr(diag.what, "TXT record 1"));
}

int main(void)
{
    static struct unit_suite s;

    UNIT_ROWS(&s, test_join, join_cases);
    unit_one(&s, "255-octet strings and the 65535-octet RDATA cap (RFC 1035 §3.2.1)",
             test_rdata_caps, NULL);
    unit_one(&s, "output buffer must hold rdlen octets", test_output_space, NULL);
    unit_one(&s, "join a whole RRset into one block", test_join_set, NULL);
    unit_one(&s, "malformed RDATA fails the set, naming its index", test_join_set_bad, NULL);
    return unit_run(&s, "txt");
}
