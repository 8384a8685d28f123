/*
 * test_tlsa - TLSA records (include/mxtls/tlsa.h): presentation and wire
 * parsing, formatting, RFC 7672 §3.1 usability, association data computed
 * from certificates. Each row names the rule it exercises; removing the rule
 * fails the row.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "unit.h"

#include "mxtls/tlsa.h"

/* 32 and 64 octets of hex, and their neighbours by one octet. */
#define H16 "00112233445566778899aabbccddeeff"
#define H31 H16 "00112233445566778899aabbccddee"
#define H32 H16 H16
#define H33 H32 "ff"
#define H64 H32 H32

/*
 * A fixed certificate and its records, made with the openssl command line:
 *   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
 *       -keyout key.pem -out cert.pem -days 36500 -subj "/CN=mx.example.test"
 *   3 1 1: openssl x509 -in cert.pem -noout -pubkey |
 *          openssl pkey -pubin -outform DER | openssl dgst -sha256
 *   3 0 1: openssl x509 -in cert.pem -outform DER | openssl dgst -sha256
 *   3 1 2, 3 0 2: the same with -sha512
 *   3 1 0: openssl x509 -in cert.pem -noout -pubkey |
 *          openssl pkey -pubin -outform DER | xxd -p
 */
static const char fixed_pem[] = "-----BEGIN CERTIFICATE-----\n"
                                "MIIBijCCATGgAwIBAgIUJVkJTxiMouv455tBVPkzGmec4XwwCgYIKoZIzj0EAwIw\n"
                                "GjEYMBYGA1UEAwwPbXguZXhhbXBsZS50ZXN0MCAXDTI2MTEyMjA1NDQzMFoYDzIx\n"
                                "MjYxMDI5MDU0NDMwWjAaMRgwFgYDVQQDDA9teC5leGFtcGxlLnRlc3QwWTATBgcq\n"
                                "hkjOPQIBBggqhkjOPQMBBwNCAATtSWZ0iUWD4CW1/ZQGFbBEdw7KIIRS2ThjQ4BR\n"
                                "wKPQYML1qV8Wu2MMdJcevoHBp1xjTplvPIIWR6ym38b3AJvco1MwUTAdBgNVHQ4E\n"
                                "FgQU6yc5CQhljyB4LDcmWNKyXIgqQpcwHwYDVR0jBBgwFoAU6yc5CQhljyB4LDcm\n"
                                "WNKyXIgqQpcwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiBj2NpG\n"
                                "iJatNxRtkkIcC2anrnA53epkiDPn6Yasnky7VAIgRx911hhNBirNU7csDBsEUj/P\n"
                                "7oMukyR6Q4hZN72HPEY=\n"
                                "-----END CERTIFICATE-----\n";
#define FIXED_311 "39e3d3e07f6a45d7982a85dfe11914a8a55bd54915607d10c39cf006c88bdafe"
#define FIXED_301 "c9322249718a10644edd4066bdce569adcea622f67fdf5e560d97ee60c436baf"
#define FIXED_312                                                                                  \
    "43d44d5c2ea818233a2f97c17e76d957d3f7b0c9c876df6d9183b2ee48a1bea4"                             \
    "ee8a5bc8a9ff6aa40f918ae260ff6fd0c54d876635760df774c054819cef57c4"
#define FIXED_302                                                                                  \
    "1ea113573a5b06f992677968eec23c05cbd2d00a822b93713fa1e9d7a325c464"                             \
    "5916d458210c959664f195cf420bcd10d71a28fdb85a23980f89cc99712c288c"
#define FIXED_310                                                                                  \
    "3059301306072a8648ce3d020106082a8648ce3d03010703420004ed496674894583e025b5fd940615b044770e"   \
    "ca208452d93863438051c0a3d060c2f5a95f16bb630c74971ebe81c1a75c634e996f3c821647aca6dfc6f7009b"   \
    "dc"

/* A second certificate, made the same way with CN mx2.example.test. */
static const char fixed2_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBjTCCATOgAwIBAgIUaWVGLGwOXbwejcPeHKx2pfXft94wCgYIKoZIzj0EAwIw\n"
    "GzEZMBcGA1UEAwwQbXgyLmV4YW1wbGUudGVzdDAgFw0yNjExMjIwNTQ1MDBaGA8y\n"
    "MTI2MTAyOTA1NDUwMFowGzEZMBcGA1UEAwwQbXgyLmV4YW1wbGUudGVzdDBZMBMG\n"
    "ByqGSM49AgEGCCqGSM49AwEHA0IABLDUiVCNAUqxhMdtcc17gvZeKzuU/uOxFfYo\n"
    "rObWIfHMuzbMN5zsRzQdhcB0HwNPNuxnKoaSEes4StIGFdU4ld+jUzBRMB0GA1Ud\n"
    "DgQWBBRl7WOY3VYUBD/UNr1gzXgdeeJPsTAfBgNVHSMEGDAWgBRl7WOY3VYUBD/U\n"
    "Nr1gzXgdeeJPsTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIC8/\n"
    "y9K4ChWvHNH2tZfbl1Iw9PsVympXNbTwshP9S9hDAiEAvMTAv1/3S5V68kCBAob3\n"
    "guqXLLUFngGnlsgXnRsTjGc=\n"
    "-----END CERTIFICATE-----\n";
#define FIXED2_311 "cc66df40ae046b24bf67ef172c33b3c0d7a4806c5380042f0e037e8ffb73d93c"

/* to_hex - lower-case hex of (d, n) into a heap string */
static char *to_hex(const uint8_t *d, size_t n)
{
    char *out = malloc(2 * n + 1);
    size_t i;

    assert_non_null(out);
    for (i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    out[2 * n] = '\0';
    return out;
}

/* assert_round_trips - format and re-parse in both forms, expect equality */
static void assert_round_trips(const struct tlsa *rr)
{
    uint8_t wire[TLSA_WIRE_MAX];
    struct tlsa again;
    size_t wlen = 0;
    char *text = tlsa_format_text(rr);

    assert_non_null(text);
    assert_null(strchr(text, '\n'));
    assert_int_equal(tlsa_parse_text(text, strlen(text), &again, NULL), 0);
    assert_true(tlsa_equal(rr, &again));
    tlsa_finish(&again);
    free(text);
    assert_int_equal(tlsa_format_wire(rr, wire, sizeof(wire), &wlen, NULL), 0);
    assert_int_equal(wlen, 3 + rr->len);
    assert_int_equal(tlsa_parse_wire((const char *)wire, wlen, &again, NULL), 0);
    assert_true(tlsa_equal(rr, &again));
    tlsa_finish(&again);
}

/* ---- presentation form ---- */

struct text_case {
    const char *rule;
    const char *in;
    size_t len; /* 0: strlen(in) */
    int err;
    const char *want; /* canonical text on success; else NULL or part of the reason */
};

static const struct text_case text_cases[] = {
    {"text: three fields and hex (RFC 6698 §2.2)", "3 1 1 " H32, 0, 0, "3 1 1 " H32},
    {"text: upper-case hex accepted, printed lower (RFC 6698 §2.2)",
     "3 1 1 00112233445566778899AABBCCDDEEFF", 0, 0, "3 1 1 " H16},
    {"text: whitespace inside the hex (RFC 6698 §2.2)", "3 1 1 0011 2233\t4455", 0, 0,
     "3 1 1 001122334455"},
    {"text: hex digits pair across blanks (RFC 6698 §2.2)", "3 1 1 a bc d", 0, 0, "3 1 1 abcd"},
    {"text: tabs and runs of blanks separate fields", "\t3\t\t1   1  ab  ", 0, 0, "3 1 1 ab"},
    {"text: one trailing LF", "3 1 1 ab\n", 0, 0, "3 1 1 ab"},
    {"text: trailing CRLF", "3 1 1 ab\r\n", 0, 0, "3 1 1 ab"},
    {"text: dig +multiline parentheses (RFC 1035 §5.1)", "3 1 1 (\n\t\t\tAB CD\n\t\t\tEF01 )\n", 0,
     0, "3 1 1 abcdef01"},
    {"text: comment inside parentheses (RFC 1035 §5.1)", "3 1 1 ( ; spki sha256\n abcd )", 0, 0,
     "3 1 1 abcd"},
    {"text: comment after the record (RFC 1035 §5.1)", "3 1 1 abcd ; rolled 2024", 0, 0,
     "3 1 1 abcd"},
    {"text: parentheses around all fields (RFC 1035 §5.1)", "( 2 0 1\n ab )", 0, 0, "2 0 1 ab"},
    {"text: leading zeros within 3 digits", "003 01 1 ab", 0, 0, "3 1 1 ab"},
    {"text: 255 is the largest field (RFC 6698 §2.2, 8 bits)", "255 255 255 00", 0, 0,
     "255 255 255 00"},
    {"text: parser accepts unusable usage 0 (usability is separate)", "0 0 0 ff", 0, 0, "0 0 0 ff"},
    {"text: only len octets are read", "3 1 1 abcdXYZ", 10, 0, "3 1 1 abcd"},
    {"text: empty input", "", 0, MXTLS_EINVAL, NULL},
    {"text: blanks only", "  \t ", 0, MXTLS_EINVAL, NULL},
    {"text: missing selector (RFC 6698 §2.2)", "3", 0, MXTLS_EINVAL, "missing selector"},
    {"text: missing matching type (RFC 6698 §2.2)", "3 1", 0, MXTLS_EINVAL,
     "missing matching type"},
    {"text: missing data (RFC 6698 §2.2)", "3 1 1", 0, MXTLS_EINVAL, "missing certificate"},
    {"text: missing data, trailing blank (RFC 6698 §2.2)", "3 1 1   ", 0, MXTLS_EINVAL, NULL},
    {"text: missing data, empty parentheses", "3 1 1 ( )", 0, MXTLS_EINVAL, NULL},
    {"text: odd hex digit count (RFC 6698 §2.2)", "3 1 1 abc", 0, MXTLS_EINVAL, "odd number"},
    {"text: odd hex digit count across blanks", "3 1 1 ab c", 0, MXTLS_EINVAL, "odd number"},
    {"text: non-hex letter in data (RFC 6698 §2.2)", "3 1 1 abzz", 0, MXTLS_EINVAL, "0x7a"},
    {"text: 0x prefix is not hex (RFC 6698 §2.2)", "3 1 1 0xab", 0, MXTLS_EINVAL, NULL},
    {"text: base64 data rejected (RFC 6698 §2.2)", "3 1 1 q83v7w==", 0, MXTLS_EINVAL, NULL},
    {"text: field 256 out of range (RFC 6698 §2.2)", "256 1 1 ab", 0, MXTLS_EINVAL,
     "usage field 256 is out of range"},
    {"text: selector 999 out of range (RFC 6698 §2.2)", "3 999 1 ab", 0, MXTLS_EINVAL,
     "selector field 999"},
    {"text: four digits refused even if small", "0003 1 1 ab", 0, MXTLS_EINVAL,
     "more than 3 digits"},
    {"text: huge number refused, no overflow", "3 1 18446744073709551617 ab", 0, MXTLS_EINVAL,
     NULL},
    {"text: leading '+' refused (RFC 6698 §2.2 unsigned)", "+3 1 1 ab", 0, MXTLS_EINVAL, "sign"},
    {"text: leading '-' refused (RFC 6698 §2.2 unsigned)", "3 -1 1 ab", 0, MXTLS_EINVAL,
     "selector field has a sign"},
    {"text: decimal point refused", "3.0 1 1 ab", 0, MXTLS_EINVAL, NULL},
    {"text: RFC 7218 mnemonic refused (RFC 6698 §2.2)", "DANE-EE SPKI SHA2-256 ab", 0, MXTLS_EINVAL,
     "mnemonics"},
    {"text: RFC 3597 generic form refused", "\\# 4 030101ab", 0, MXTLS_EINVAL, "RFC 3597"},
    {"text: whole RR with owner and type refused", "_25._tcp.mx.example. 3600 IN TLSA 3 1 1 ab", 0,
     MXTLS_EINVAL, NULL},
    {"text: commas are not separators", "3,1,1,ab", 0, MXTLS_EINVAL, NULL},
    {"text: quoted hex refused", "3 1 1 \"abcd\"", 0, MXTLS_EINVAL, NULL},
    {"text: NUL octet inside the hex", "3 1 1 ab\0cd", 11, MXTLS_EINVAL, "0x00"},
    {"text: NUL octet inside a number", "3\0 1 1 ab", 9, MXTLS_EINVAL, NULL},
    {"text: non-ASCII octet in the data", "3 1 1 ab\xc3\xa9", 0, MXTLS_EINVAL, NULL},
    {"text: vertical tab is not a blank", "3 1 1 ab\vcd", 0, MXTLS_EINVAL, NULL},
    {"text: line break outside parentheses (RFC 1035 §5.1)", "3 1 1 ab\ncd", 0, MXTLS_EINVAL,
     "line break"},
    {"text: '(' never closed (RFC 1035 §5.1)", "3 1 1 ( ab", 0, MXTLS_EINVAL, "never closed"},
    {"text: ')' without '(' (RFC 1035 §5.1)", "3 1 1 ab )", 0, MXTLS_EINVAL, "without"},
    {"text: nested parentheses (RFC 1035 §5.1)", "3 1 1 ( ( ab ) )", 0, MXTLS_EINVAL, "nested"},
};

static void test_text(void **state)
{
    const struct text_case *c = *state;
    struct mxtls_diag diag = {0};
    struct tlsa rr;
    size_t len = c->len ? c->len : strlen(c->in);
    int err = tlsa_parse_text(c->in, len, &rr, &diag);

    if (err != c->err)
        fail_msg("\"%s\" returned %d, want %d (%s)", c->in, err, c->err, diag.what);
    if (c->err == 0) {
        char *text = tlsa_format_text(&rr);

        assert_non_null(text);
        assert_string_equal(text, c->want);
        free(text);
        assert_round_trips(&rr);
    } else {
        assert_true(diag.what[0] != '\0');
        assert_true(diag.offset <= len);
        if (c->want != NULL && strstr(diag.what, c->want) == NULL)
            fail_msg("reason \"%s\" lacks \"%s\"", diag.what, c->want);
        assert_null(rr.data);
        assert_int_equal(rr.len, 0);
    }
    tlsa_finish(&rr);
}

/* make_text - "3 1 1 " and n octets of hex ("ab" each); caller frees */
static char *make_text(size_t n, size_t *len)
{
    char *s = malloc(6 + 2 * n + 1);
    size_t i;

    assert_non_null(s);
    memcpy(s, "3 1 1 ", 6);
    for (i = 0; i < n; i++)
        memcpy(s + 6 + 2 * i, "ab", 2);
    *len = 6 + 2 * n;
    s[*len] = '\0';
    return s;
}

/* TLSA_DATA_MAX octets accepted, one more refused (mxtls cap, see tlsa.h). */
static void test_text_data_cap(void **state)
{
    struct mxtls_diag diag = {0};
    struct tlsa rr;
    size_t len;
    char *s;

    (void)state;
    s = make_text(TLSA_DATA_MAX, &len);
    assert_int_equal(tlsa_parse_text(s, len, &rr, NULL), 0);
    assert_int_equal(rr.len, TLSA_DATA_MAX);
    assert_round_trips(&rr);
    tlsa_finish(&rr);
    free(s);
    s = make_text(TLSA_DATA_MAX + 1, &len);
    assert_int_equal(tlsa_parse_text(s, len, &rr, &diag), MXTLS_ETOOLONG);
    assert_null(rr.data);
    free(s);
}

/* Input of exactly TLSA_TEXT_MAX octets is read; one more is refused unread. */
static void test_text_input_cap(void **state)
{
    struct tlsa rr;
    char *s = malloc(TLSA_TEXT_MAX + 1);

    (void)state;
    assert_non_null(s);
    memset(s, ' ', TLSA_TEXT_MAX + 1);
    memcpy(s, "3 1 1 ab", 8);
    assert_int_equal(tlsa_parse_text(s, TLSA_TEXT_MAX, &rr, NULL), 0);
    tlsa_finish(&rr);
    assert_int_equal(tlsa_parse_text(s, TLSA_TEXT_MAX + 1, &rr, NULL), MXTLS_ETOOLONG);
    free(s);
}

/* Hex spread thin with blanks: the digit cap, not the text length, decides. */
static void test_text_spaced_hex(void **state)
{
    struct tlsa rr;
    size_t len = 0, i;
    char *s = malloc(TLSA_TEXT_MAX);

    (void)state;
    assert_non_null(s);
    memcpy(s, "3 1 1", 5);
    len = 5;
    for (i = 0; i < 1000; i++) {
        memcpy(s + len, " a b", 4);
        len += 4;
    }
    assert_int_equal(tlsa_parse_text(s, len, &rr, NULL), 0);
    assert_int_equal(rr.len, 1000);
    assert_int_equal(rr.data[999], 0xab);
    tlsa_finish(&rr);
    free(s);
}

/* ---- wire form ---- */

struct wire_case {
    const char *rule;
    const char *in;
    size_t len;
    int err;
    const char *want; /* canonical text on success; else NULL or part of the reason */
};

static const struct wire_case wire_cases[] = {
    {"wire: usage, selector, type, data (RFC 6698 §2.1)", "\x03\x01\x01\xab\xcd", 5, 0,
     "3 1 1 abcd"},
    {"wire: any octet in the fixed fields (RFC 6698 §2.1)", "\xff\xfe\xfd\x00", 4, 0,
     "255 254 253 00"},
    {"wire: NUL octets in the data are data", "\x02\x00\x01\x00\x00\x00", 6, 0, "2 0 1 000000"},
    {"wire: empty RDATA (RFC 6698 §2.1)", "", 0, MXTLS_EINVAL, NULL},
    {"wire: 1 octet (RFC 6698 §2.1)", "\x03", 1, MXTLS_EINVAL, NULL},
    {"wire: 2 octets (RFC 6698 §2.1)", "\x03\x01", 2, MXTLS_EINVAL, NULL},
    {"wire: fixed fields only, empty data (RFC 6698 §2.1.4)", "\x03\x01\x01", 3, MXTLS_EINVAL,
     "RFC 6698 §2.1.4"},
};

static void test_wire(void **state)
{
    const struct wire_case *c = *state;
    struct mxtls_diag diag = {0};
    struct tlsa rr;
    int err = tlsa_parse_wire(c->in, c->len, &rr, &diag);

    if (err != c->err)
        fail_msg("returned %d, want %d (%s)", err, c->err, diag.what);
    if (c->err == 0) {
        char *text = tlsa_format_text(&rr);

        assert_string_equal(text, c->want);
        free(text);
        assert_round_trips(&rr);
    } else {
        assert_true(diag.what[0] != '\0');
        if (c->want != NULL && strstr(diag.what, c->want) == NULL)
            fail_msg("reason \"%s\" lacks \"%s\"", diag.what, c->want);
        assert_null(rr.data);
    }
    tlsa_finish(&rr);
}

/* Wire data of TLSA_DATA_MAX octets accepted, one more refused. */
static void test_wire_data_cap(void **state)
{
    char *buf = calloc(1, TLSA_WIRE_MAX + 1);
    struct tlsa rr;

    (void)state;
    assert_non_null(buf);
    buf[0] = 3;
    buf[1] = 1;
    buf[2] = 0;
    assert_int_equal(tlsa_parse_wire(buf, TLSA_WIRE_MAX, &rr, NULL), 0);
    assert_int_equal(rr.len, TLSA_DATA_MAX);
    assert_round_trips(&rr);
    tlsa_finish(&rr);
    assert_int_equal(tlsa_parse_wire(buf, TLSA_WIRE_MAX + 1, &rr, NULL), MXTLS_ETOOLONG);
    assert_null(rr.data);
    free(buf);
}

/* The wire formatter checks the caller's buffer size. */
static void test_wire_output_space(void **state)
{
    struct tlsa rr;
    uint8_t out[6];
    size_t outlen = 0;

    (void)state;
    assert_int_equal(tlsa_parse_text("3 1 1 aabbcc", 12, &rr, NULL), 0);
    assert_int_equal(tlsa_format_wire(&rr, out, 5, &outlen, NULL), MXTLS_ENOSPACE);
    assert_int_equal(tlsa_format_wire(&rr, out, 6, &outlen, NULL), 0);
    assert_int_equal(outlen, 6);
    assert_memory_equal(out, "\x03\x01\x01\xaa\xbb\xcc", 6);
    tlsa_finish(&rr);
}

/* An empty record has no form: formatters refuse it instead of printing "3 1 1 ". */
static void test_format_empty(void **state)
{
    struct tlsa rr = {3, 1, 1, 0, NULL};
    uint8_t out[8];
    size_t outlen;

    (void)state;
    assert_null(tlsa_format_text(&rr));
    assert_int_equal(tlsa_format_wire(&rr, out, sizeof(out), &outlen, NULL), MXTLS_EINVAL);
    tlsa_finish(&rr);
    tlsa_finish(NULL);
}

/* tlsa_init copies the data and refuses empty and oversized data. */
static void test_init(void **state)
{
    uint8_t d[2] = {0xde, 0xad}, *big = calloc(1, TLSA_DATA_MAX + 1);
    struct tlsa rr;

    (void)state;
    assert_non_null(big);
    assert_int_equal(tlsa_init(&rr, 3, 1, 1, d, 2, NULL), 0);
    d[0] = 0;
    assert_int_equal(rr.data[0], 0xde);
    tlsa_finish(&rr);
    assert_int_equal(tlsa_init(&rr, 3, 1, 1, d, 0, NULL), MXTLS_EINVAL);
    assert_int_equal(tlsa_init(&rr, 3, 1, 0, big, TLSA_DATA_MAX + 1, NULL), MXTLS_ETOOLONG);
    assert_null(rr.data);
    free(big);
}

/* ---- usability (RFC 7672 §3.1) ---- */

struct usable_case {
    const char *rule;
    const char *text;
    const char *reason; /* NULL: usable; else a substring of the reason */
};

static const struct usable_case usable_cases[] = {
    {"usable: 3 1 1, DANE-EE SPKI SHA2-256 (RFC 7672 §3.1.1)", "3 1 1 " H32, NULL},
    {"usable: 3 0 1, DANE-EE Cert SHA2-256 (RFC 7672 §3.1.1)", "3 0 1 " H32, NULL},
    {"usable: 2 0 1, DANE-TA Cert SHA2-256 (RFC 7672 §3.1.2)", "2 0 1 " H32, NULL},
    {"usable: 2 1 2, DANE-TA SPKI SHA2-512 (RFC 7672 §3.1.2)", "2 1 2 " H64, NULL},
    {"unusable: usage 0 PKIX-TA (RFC 7672 §3.1.3)", "0 0 1 " H32,
     "usage 0 (PKIX-TA) is not usable for SMTP, RFC 7672 §3.1.3"},
    {"unusable: usage 1 PKIX-EE (RFC 7672 §3.1.3)", "1 1 1 " H32,
     "usage 1 (PKIX-EE) is not usable for SMTP, RFC 7672 §3.1.3"},
    {"unusable: unassigned usage 4 (RFC 7672 §3.1)", "4 1 1 " H32, "usage 4 (unassigned)"},
    {"unusable: usage 255 PrivCert (RFC 7672 §3.1)", "255 1 1 " H32, "usage 255 (PrivCert)"},
    {"unusable: selector 2 (RFC 7672 §3.1)", "3 2 1 " H32, "selector 2 (unassigned)"},
    {"unusable: selector 255 PrivSel (RFC 7672 §3.1)", "3 255 1 " H32, "selector 255 (PrivSel)"},
    {"unusable: matching type 3 (RFC 7672 §3.1)", "3 1 3 " H32, "matching type 3 (unassigned)"},
    {"unusable: matching type 255 PrivMatch (RFC 7672 §3.1)", "3 1 255 " H32,
     "matching type 255 (PrivMatch)"},
    {"unusable: SHA2-256 data of 31 octets (RFC 6698 §2.1.3)", "3 1 1 " H31,
     "SHA2-256 data is 31 octets, not 32"},
    {"unusable: SHA2-256 data of 33 octets (RFC 6698 §2.1.3)", "3 1 1 " H33,
     "SHA2-256 data is 33 octets, not 32"},
    {"unusable: SHA2-512 type with 32 octets (RFC 6698 §2.1.3)", "3 1 2 " H32,
     "SHA2-512 data is 32 octets, not 64"},
    {"unusable: SHA2-256 type with 64 octets (RFC 6698 §2.1.3)", "3 1 1 " H64,
     "SHA2-256 data is 64 octets, not 32"},
    {"unusable: Full(0) Cert data that is no certificate (RFC 7671 §5)", "3 0 0 " H32,
     "not one DER certificate"},
    {"unusable: Full(0) SPKI data that is no key (RFC 7671 §5)", "2 1 0 " H32,
     "not one DER SubjectPublicKeyInfo"},
    {"unusable: Full(0) SPKI truncated (RFC 7671 §5)", "3 1 0 3059301306072a8648ce3d0201",
     "SubjectPublicKeyInfo"},
    {"usable: Full(0) SPKI of the fixed key (RFC 7671 §5)", "3 1 0 " FIXED_310, NULL},
    {"unusable: Full(0) SPKI with a trailing octet (RFC 7671 §5)", "3 1 0 " FIXED_310 "00",
     "SubjectPublicKeyInfo"},
    {"unusable: Full(0) Cert selector with SPKI data (RFC 7671 §5)", "3 0 0 " FIXED_310,
     "not one DER certificate"},
    {"unusable: usage is judged before the data (RFC 7672 §3.1.3)", "1 9 9 ab", "usage 1"},
};

static void test_usable(void **state)
{
    const struct usable_case *c = *state;
    struct mxtls_diag diag = {0};
    struct tlsa rr;
    int err;

    assert_int_equal(tlsa_parse_text(c->text, strlen(c->text), &rr, NULL), 0);
    ERR_clear_error();
    err = tlsa_usable(&rr, &diag);
    tlsa_finish(&rr);
    assert_int_equal(ERR_peek_error(), 0); /* OpenSSL's error queue left clean */
    if (c->reason == NULL) {
        if (err != 0)
            fail_msg("\"%s\" unusable: %s", c->text, diag.what);
        return;
    }
    assert_int_equal(err, MXTLS_EINVAL);
    if (strstr(diag.what, c->reason) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", diag.what, c->reason);
}

/* The diag offset says which field made the record unusable. */
static void test_usable_offset(void **state)
{
    static const struct {
        const char *text;
        size_t offset;
    } rows[] = {{"0 1 1 " H32, 0}, {"3 7 1 " H32, 1}, {"3 1 9 " H32, 2}, {"3 1 1 ab", 3}};
    struct mxtls_diag diag;
    struct tlsa rr;
    size_t i;

    (void)state;
    for (i = 0; i < UNIT_LEN(rows); i++) {
        assert_int_equal(tlsa_parse_text(rows[i].text, strlen(rows[i].text), &rr, NULL), 0);
        assert_int_equal(tlsa_usable(&rr, &diag), MXTLS_EINVAL);
        assert_int_equal(diag.offset, rows[i].offset);
        tlsa_finish(&rr);
    }
}

/* A record built by hand with no data is unusable, not a crash. */
static void test_usable_empty(void **state)
{
    struct tlsa rr = {3, 1, 1, 0, NULL};
    struct mxtls_diag diag = {0};

    (void)state;
    assert_int_equal(tlsa_usable(&rr, &diag), MXTLS_EINVAL);
    assert_non_null(strstr(diag.what, "empty"));
}

struct name_case {
    const char *rule;
    const char *(*fn)(uint8_t);
    uint8_t value;
    const char *want;
};

static const struct name_case name_cases[] = {
    {"name: usage 2 is DANE-TA (RFC 7218 §2.1)", tlsa_usage_name, 2, "DANE-TA"},
    {"name: usage 3 is DANE-EE (RFC 7218 §2.1)", tlsa_usage_name, 3, "DANE-EE"},
    {"name: usage 9 is unassigned", tlsa_usage_name, 9, "unassigned"},
    {"name: selector 1 is SPKI (RFC 7218 §2.2)", tlsa_selector_name, 1, "SPKI"},
    {"name: matching type 2 is SHA2-512 (RFC 7218 §2.3)", tlsa_mtype_name, 2, "SHA2-512"},
    {"name: matching type 254 is unassigned", tlsa_mtype_name, 254, "unassigned"},
};

static void test_name(void **state)
{
    const struct name_case *c = *state;

    assert_string_equal(c->fn(c->value), c->want);
}

/* ---- association data from certificates ---- */

/* Known values of the fixed certificate, from the openssl command line. */
struct known_case {
    const char *rule;
    uint8_t usage, selector, mtype;
    const char *want_hex;
};

static const struct known_case known_cases[] = {
    {"fixed cert: 3 1 1 = SHA-256 of SPKI (RFC 6698 §2.1.2, §2.1.3)", 3, 1, 1, FIXED_311},
    {"fixed cert: 3 0 1 = SHA-256 of the certificate (RFC 6698 §2.1.2)", 3, 0, 1, FIXED_301},
    {"fixed cert: 3 1 2 = SHA-512 of SPKI (RFC 6698 §2.1.3)", 3, 1, 2, FIXED_312},
    {"fixed cert: 3 0 2 = SHA-512 of the certificate (RFC 6698 §2.1.3)", 3, 0, 2, FIXED_302},
    {"fixed cert: 3 1 0 = the SPKI itself (RFC 6698 §2.1.3)", 3, 1, 0, FIXED_310},
    {"fixed cert: usage does not change the data", 2, 1, 1, FIXED_311},
};

static void test_known(void **state)
{
    const struct known_case *c = *state;
    struct mxtls_diag diag = {0};
    struct tlsa rr;
    char *hex;

    if (tlsa_from_pem(fixed_pem, strlen(fixed_pem), c->usage, c->selector, c->mtype, &rr, &diag) !=
        0)
        fail_msg("tlsa_from_pem: %s", diag.what);
    assert_int_equal(rr.usage, c->usage);
    assert_int_equal(rr.selector, c->selector);
    assert_int_equal(rr.mtype, c->mtype);
    hex = to_hex(rr.data, rr.len);
    assert_string_equal(hex, c->want_hex);
    free(hex);
    if (c->usage >= 2)
        assert_int_equal(tlsa_usable(&rr, NULL), 0);
    tlsa_finish(&rr);
}

/* 3 0 0 carries the certificate itself: its SHA-256 is the known 3 0 1 value. */
static void test_known_full_cert(void **state)
{
    uint8_t md[32];
    unsigned int mdlen = 0;
    struct tlsa rr;
    char *hex;

    (void)state;
    assert_int_equal(tlsa_from_pem(fixed_pem, strlen(fixed_pem), 3, 0, 0, &rr, NULL), 0);
    assert_int_equal(rr.len, 398);
    assert_int_equal(tlsa_usable(&rr, NULL), 0);
    assert_int_equal(EVP_Digest(rr.data, rr.len, md, &mdlen, EVP_sha256(), NULL), 1);
    hex = to_hex(md, mdlen);
    assert_string_equal(hex, FIXED_301);
    free(hex);
    assert_round_trips(&rr);
    tlsa_finish(&rr);
}

/* Generated certificates: an EC P-256 key and an Ed25519 key. */
static X509 *gen_cert[2];
static EVP_PKEY *gen_key[2];

/* make_cert - a self-signed certificate for key with subject CN=cn */
static X509 *make_cert(EVP_PKEY *key, const char *cn)
{
    X509 *x = X509_new();
    X509_NAME *name;

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
    name = X509_get_subject_name(x);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    /* Ed25519 signs without a separate digest. */
    assert_true(X509_sign(x, key, EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) >
                0);
    return x;
}

/* expected - association data computed independently: i2d + EVP_Digest */
static char *expected(int which, uint8_t selector, uint8_t mtype)
{
    unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char *hex;
    int n;

    if (selector == 0)
        n = i2d_X509(gen_cert[which], &der);
    else
        n = i2d_PUBKEY(gen_key[which], &der); /* from the key, not the certificate */
    assert_true(n > 0);
    if (mtype == 0) {
        hex = to_hex(der, (size_t)n);
    } else {
        assert_int_equal(
            EVP_Digest(der, (size_t)n, md, &mdlen, mtype == 1 ? EVP_sha256() : EVP_sha512(), NULL),
            1);
        hex = to_hex(md, mdlen);
    }
    OPENSSL_free(der);
    return hex;
}

struct gen_case {
    const char *rule;
    int which; /* 0: EC P-256, 1: Ed25519 */
    uint8_t selector, mtype;
};

static const struct gen_case gen_cases[] = {
    {"P-256 cert: selector 1 matching 1 (RFC 6698 §2.1.2)", 0, 1, 1},
    {"P-256 cert: selector 0 matching 1 (RFC 6698 §2.1.2)", 0, 0, 1},
    {"P-256 cert: selector 1 matching 2 (RFC 6698 §2.1.3)", 0, 1, 2},
    {"P-256 cert: selector 0 matching 2 (RFC 6698 §2.1.3)", 0, 0, 2},
    {"P-256 cert: selector 1 matching 0 (RFC 6698 §2.1.3)", 0, 1, 0},
    {"P-256 cert: selector 0 matching 0 (RFC 6698 §2.1.3)", 0, 0, 0},
    {"Ed25519 cert: selector 1 matching 1 (RFC 6698 §2.1.2)", 1, 1, 1},
    {"Ed25519 cert: selector 0 matching 1 (RFC 6698 §2.1.2)", 1, 0, 1},
    {"Ed25519 cert: selector 1 matching 2 (RFC 6698 §2.1.3)", 1, 1, 2},
    {"Ed25519 cert: selector 0 matching 2 (RFC 6698 §2.1.3)", 1, 0, 2},
    {"Ed25519 cert: selector 1 matching 0 (RFC 6698 §2.1.3)", 1, 1, 0},
    {"Ed25519 cert: selector 0 matching 0 (RFC 6698 §2.1.3)", 1, 0, 0},
};

/* der_and_pem - the generated certificate as DER and as PEM text (heap) */
static void der_and_pem(int which, unsigned char **der, int *derlen, char **pem, size_t *pemlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;

    *der = NULL;
    *derlen = i2d_X509(gen_cert[which], der);
    assert_true(*derlen > 0);
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, gen_cert[which]), 1);
    n = BIO_get_mem_data(bio, &p);
    assert_true(n > 0);
    *pem = malloc((size_t)n);
    assert_non_null(*pem);
    memcpy(*pem, p, (size_t)n);
    *pemlen = (size_t)n;
    BIO_free(bio);
}

static void test_gen(void **state)
{
    const struct gen_case *c = *state;
    char *want = expected(c->which, c->selector, c->mtype), *hex;
    struct tlsa rr, rr_der, rr_pem;
    unsigned char *der;
    char *pem;
    size_t pemlen;
    int derlen;

    assert_int_equal(tlsa_from_x509(gen_cert[c->which], 3, c->selector, c->mtype, &rr, NULL), 0);
    hex = to_hex(rr.data, rr.len);
    assert_string_equal(hex, want);
    free(hex);
    assert_int_equal(tlsa_usable(&rr, NULL), 0);
    assert_int_equal(tlsa_match_x509(&rr, gen_cert[c->which], NULL), 0);
    assert_int_equal(tlsa_match_x509(&rr, gen_cert[1 - c->which], NULL), MXTLS_ENOTFOUND);
    assert_round_trips(&rr);

    /* The DER and PEM entry points give the same record. */
    der_and_pem(c->which, &der, &derlen, &pem, &pemlen);
    assert_int_equal(
        tlsa_from_der((const char *)der, (size_t)derlen, 3, c->selector, c->mtype, &rr_der, NULL),
        0);
    assert_true(tlsa_equal(&rr, &rr_der));
    assert_int_equal(tlsa_from_pem(pem, pemlen, 3, c->selector, c->mtype, &rr_pem, NULL), 0);
    assert_true(tlsa_equal(&rr, &rr_pem));
    tlsa_finish(&rr);
    tlsa_finish(&rr_der);
    tlsa_finish(&rr_pem);
    OPENSSL_free(der);
    free(pem);
    free(want);
}

/* tlsa_record_for_cert prints "3 1 1 " and the SPKI SHA-256 (RFC 7672 §3.1.1). */
static void test_record_for_cert(void **state)
{
    char *want = expected(0, 1, 1), *line = tlsa_record_for_cert(gen_cert[0], NULL);
    char buf[80];

    (void)state;
    assert_non_null(line);
    snprintf(buf, sizeof(buf), "3 1 1 %s", want);
    assert_string_equal(line, buf);
    free(line);
    free(want);
}

/* The fixed certificate's `mxtls tlsa` line is the one openssl gives. */
static void test_record_for_fixed(void **state)
{
    BIO *bio = BIO_new_mem_buf(fixed_pem, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    char *line = tlsa_record_for_cert(x, NULL);

    (void)state;
    assert_string_equal(line, "3 1 1 " FIXED_311);
    free(line);
    X509_free(x);
    BIO_free(bio);
}

/* A record published for the old certificate does not match the new one. */
static void test_match_rotation(void **state)
{
    const char *old_rec = "3 1 1 " FIXED2_311;
    struct mxtls_diag diag = {0};
    struct tlsa rr;
    BIO *bio = BIO_new_mem_buf(fixed_pem, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

    (void)state;
    assert_int_equal(tlsa_parse_text(old_rec, strlen(old_rec), &rr, NULL), 0);
    assert_int_equal(tlsa_match_x509(&rr, x, &diag), MXTLS_ENOTFOUND);
    assert_non_null(strstr(diag.what, "does not match"));
    tlsa_finish(&rr);
    /* Unsupported selector: nothing to compute, so no match claimed. */
    assert_int_equal(tlsa_parse_text("3 2 1 " FIXED_311, 6 + 64, &rr, NULL), 0);
    assert_int_equal(tlsa_match_x509(&rr, x, NULL), MXTLS_EINVAL);
    tlsa_finish(&rr);
    X509_free(x);
    BIO_free(bio);
}

/* Only selectors 0-1 and matching types 0-2 can be computed. */
static void test_from_x509_bad_params(void **state)
{
    struct tlsa rr;

    (void)state;
    assert_int_equal(tlsa_from_x509(gen_cert[0], 3, 2, 1, &rr, NULL), MXTLS_EINVAL);
    assert_int_equal(tlsa_from_x509(gen_cert[0], 3, 1, 3, &rr, NULL), MXTLS_EINVAL);
    assert_int_equal(tlsa_from_x509(NULL, 3, 1, 1, &rr, NULL), MXTLS_EINVAL);
    assert_null(rr.data);
}

/* A certificate whose DER exceeds TLSA_DATA_MAX: 3 0 0 refused, 3 0 1 fine. */
static void test_full_cert_over_cap(void **state)
{
    X509 *x = X509_dup(gen_cert[0]);
    ASN1_OCTET_STRING *blob = ASN1_OCTET_STRING_new();
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1);
    X509_EXTENSION *ext;
    unsigned char *filler = calloc(1, TLSA_DATA_MAX);
    struct tlsa rr;

    (void)state;
    assert_non_null(x);
    assert_non_null(filler);
    assert_int_equal(ASN1_OCTET_STRING_set(blob, filler, TLSA_DATA_MAX), 1);
    ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, blob);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    assert_true(X509_sign(x, gen_key[0], EVP_sha256()) > 0);
    assert_int_equal(tlsa_from_x509(x, 3, 0, 0, &rr, NULL), MXTLS_ETOOLONG);
    assert_null(rr.data);
    assert_int_equal(tlsa_from_x509(x, 3, 0, 1, &rr, NULL), 0);
    assert_int_equal(rr.len, 32);
    tlsa_finish(&rr);
    X509_EXTENSION_free(ext);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(blob);
    X509_free(x);
    free(filler);
}

/* 3 0 0 with a real certificate plus one trailing octet is unusable (RFC 7671 §5). */
static void test_full_cert_trailing(void **state)
{
    unsigned char *der = NULL, *buf;
    int n = i2d_X509(gen_cert[0], &der);
    struct mxtls_diag diag = {0};
    struct tlsa rr;

    (void)state;
    assert_true(n > 0);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    memcpy(buf, der, (size_t)n);
    buf[n] = 0;
    assert_int_equal(tlsa_init(&rr, 3, 0, 0, buf, (size_t)n, NULL), 0);
    assert_int_equal(tlsa_usable(&rr, NULL), 0);
    tlsa_finish(&rr);
    assert_int_equal(tlsa_init(&rr, 3, 0, 0, buf, (size_t)n + 1, NULL), 0);
    assert_int_equal(tlsa_usable(&rr, &diag), MXTLS_EINVAL);
    assert_non_null(strstr(diag.what, "certificate"));
    tlsa_finish(&rr);
    /* Truncated by one octet: no certificate at all. */
    assert_int_equal(tlsa_init(&rr, 3, 0, 0, buf, (size_t)n - 1, NULL), 0);
    assert_int_equal(tlsa_usable(&rr, NULL), MXTLS_EINVAL);
    tlsa_finish(&rr);
    OPENSSL_free(der);
    free(buf);
}

/* ---- hostile certificate input ---- */

struct cert_case {
    const char *rule;
    bool is_pem;
    const char *in;
    size_t len; /* 0: strlen(in) */
    int err;
    const char *want_hex; /* 3 1 1 data on success */
};

static const struct cert_case cert_cases[] = {
    {"pem: text before the block is ignored", true,
     "subject=CN = mx.example.test\nissuer=CN = mx.example.test\n", 0, 0, FIXED_311},
    {"pem: chain file gives the first (leaf) certificate", true, NULL, 0, 0, FIXED_311},
    {"pem: no certificate block", true, "hello\n", 0, MXTLS_EINVAL, NULL},
    {"pem: empty input", true, "", 0, MXTLS_EINVAL, NULL},
    {"pem: private key block is no certificate", true,
     "-----BEGIN PRIVATE "
     "KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n"
     "-----END PRIVATE KEY-----\n",
     0, MXTLS_EINVAL, NULL},
    {"pem: encrypted block fails without a password prompt", true,
     "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n"
     "DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n"
     "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJ\n-----END CERTIFICATE-----\n",
     0, MXTLS_EINVAL, NULL},
    {"pem: bad base64 inside the block", true,
     "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", 0, MXTLS_EINVAL, NULL},
    {"der: empty input", false, "", 0, MXTLS_EINVAL, NULL},
    {"der: not ASN.1", false, "\x01\x02\x03\x04", 4, MXTLS_EINVAL, NULL},
    {"der: SEQUENCE header claiming more than there is", false, "\x30\x82\xff\xff\x00", 5,
     MXTLS_EINVAL, NULL},
};

static void test_cert_input(void **state)
{
    const struct cert_case *c = *state;
    struct mxtls_diag diag = {0};
    struct tlsa rr;
    char *in, *hex;
    size_t len;
    int err;

    /* NULL input means: the fixed certificate followed by the second one. */
    if (c->in == NULL) {
        len = strlen(fixed_pem) + strlen(fixed2_pem);
        in = malloc(len + 1);
        assert_non_null(in);
        snprintf(in, len + 1, "%s%s", fixed_pem, fixed2_pem);
    } else {
        len = c->len ? c->len : strlen(c->in);
        /* Rows that expect success get the fixed certificate appended. */
        in = malloc(len + sizeof(fixed_pem));
        assert_non_null(in);
        memcpy(in, c->in, len);
        if (c->err == 0) {
            memcpy(in + len, fixed_pem, sizeof(fixed_pem));
            len += strlen(fixed_pem);
        }
    }
    ERR_clear_error();
    if (c->is_pem)
        err = tlsa_from_pem(in, len, 3, 1, 1, &rr, &diag);
    else
        err = tlsa_from_der(in, len, 3, 1, 1, &rr, &diag);
    free(in);
    assert_int_equal(ERR_peek_error(), 0); /* OpenSSL's error queue left clean */
    if (err != c->err)
        fail_msg("returned %d, want %d (%s)", err, c->err, diag.what);
    if (c->err != 0) {
        assert_true(diag.what[0] != '\0');
        assert_null(rr.data);
        return;
    }
    hex = to_hex(rr.data, rr.len);
    assert_string_equal(hex, c->want_hex);
    free(hex);
    tlsa_finish(&rr);
}

/* DER input must be exactly one certificate; oversized input is refused unread. */
static void test_der_exact(void **state)
{
    unsigned char *der = NULL;
    int n = i2d_X509(gen_cert[1], &der);
    char *buf = calloc(1, TLSA_CERT_MAX + 1);
    struct tlsa rr;

    (void)state;
    assert_true(n > 0);
    assert_non_null(buf);
    memcpy(buf, der, (size_t)n);
    assert_int_equal(tlsa_from_der(buf, (size_t)n, 3, 1, 1, &rr, NULL), 0);
    tlsa_finish(&rr);
    assert_int_equal(tlsa_from_der(buf, (size_t)n + 1, 3, 1, 1, &rr, NULL), MXTLS_EINVAL);
    assert_int_equal(tlsa_from_der(buf, (size_t)n - 1, 3, 1, 1, &rr, NULL), MXTLS_EINVAL);
    assert_int_equal(tlsa_from_der(buf, TLSA_CERT_MAX + 1, 3, 1, 1, &rr, NULL), MXTLS_ETOOLONG);
    assert_int_equal(tlsa_from_pem(buf, TLSA_CERT_MAX + 1, 3, 1, 1, &rr, NULL), MXTLS_ETOOLONG);
    OPENSSL_free(der);
    free(buf);
}

int main(void)
{
    static struct unit_suite s;
    int rc;

    gen_key[0] = EVP_EC_gen("P-256");
    gen_key[1] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (gen_key[0] == NULL || gen_key[1] == NULL)
        return 1;
    gen_cert[0] = make_cert(gen_key[0], "mx1.example.test");
    gen_cert[1] = make_cert(gen_key[1], "mx2.example.test");

    UNIT_ROWS(&s, test_text, text_cases);
    unit_one(&s, "text: data of TLSA_DATA_MAX octets, and one more", test_text_data_cap, NULL);
    unit_one(&s, "text: input of TLSA_TEXT_MAX octets, and one more", test_text_input_cap, NULL);
    unit_one(&s, "text: 1000 octets of hex spread with blanks (RFC 6698 §2.2)",
             test_text_spaced_hex, NULL);
    UNIT_ROWS(&s, test_wire, wire_cases);
    unit_one(&s, "wire: data of TLSA_DATA_MAX octets, and one more", test_wire_data_cap, NULL);
    unit_one(&s, "wire: output buffer size checked", test_wire_output_space, NULL);
    unit_one(&s, "format: empty record has no form", test_format_empty, NULL);
    unit_one(&s, "init: copies data, refuses empty and oversized", test_init, NULL);
    UNIT_ROWS(&s, test_usable, usable_cases);
    unit_one(&s, "unusable: diag offset names the field", test_usable_offset, NULL);
    unit_one(&s, "unusable: empty data built by hand", test_usable_empty, NULL);
    UNIT_ROWS(&s, test_name, name_cases);
    UNIT_ROWS(&s, test_known, known_cases);
    unit_one(&s, "fixed cert: 3 0 0 is the DER certificate (RFC 6698 §2.1.2)", test_known_full_cert,
             NULL);
    UNIT_ROWS(&s, test_gen, gen_cases);
    unit_one(&s, "record for cert: \"3 1 1 <hex>\" (RFC 7672 §3.1.1)", test_record_for_cert, NULL);
    unit_one(&s, "record for fixed cert matches openssl", test_record_for_fixed, NULL);
    unit_one(&s, "match: old certificate's record does not match", test_match_rotation, NULL);
    unit_one(&s, "compute: unsupported selector or matching type", test_from_x509_bad_params, NULL);
    unit_one(&s, "compute: 3 0 0 over TLSA_DATA_MAX refused", test_full_cert_over_cap, NULL);
    unit_one(&s, "usable: 3 0 0 exact DER only (RFC 7671 §5)", test_full_cert_trailing, NULL);
    UNIT_ROWS(&s, test_cert_input, cert_cases);
    unit_one(&s, "der: exactly one certificate, input cap", test_der_exact, NULL);

    rc = unit_run(&s, "tlsa");
    X509_free(gen_cert[0]);
    X509_free(gen_cert[1]);
    EVP_PKEY_free(gen_key[0]);
    EVP_PKEY_free(gen_key[1]);
    return rc;
}
