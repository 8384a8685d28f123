/*
 * test_mx - MX RDATA parsing (lib/mx.c): RFC 1035 §3.3.9 layout, RFC 3597 §4
 * uncompressed names, RFC 7505 null MX, host-name syntax of the exchange.
 */
#include <string.h>

#include "mxtls/mx.h"
#include "unit.h"

struct row {
    const char *rule;
    const char *rdata; /* octets */
    size_t len;
    int want;         /* return code */
    uint16_t pref;    /* when want >= 0 */
    const char *host; /* when want == 0 */
};

#define R(s) s, sizeof(s) - 1

static const struct row rows[] = {
    {"RFC 1035 §3.3.9: preference and exchange",
     R("\x00\x0a\x04mail\x07"
       "example\x03"
       "com\x00"),
     0, 10, "mail.example.com"},
    {"preference is big-endian 16 bits", R("\xff\xfe\x02mx\x04test\x00"), 0, 65534, "mx.test"},
    {"exchange is normalised to lower case", R("\x00\x01\x02MX\x04TeST\x00"), 0, 1, "mx.test"},
    {"single-label exchange", R("\x00\x01\x09localhost\x00"), 0, 1, "localhost"},
    {"RFC 7505 §3: exchange \".\" is a null MX", R("\x00\x00\x00"), 1, 0, ""},
    {"RFC 7505 §3: null MX with a non-zero preference is still \".\"", R("\x00\x05\x00"), 1, 5, ""},
    {"too short: no exchange", R("\x00\x0a"), MXTLS_EINVAL, 0, ""},
    {"too short: empty", "", 0, MXTLS_EINVAL, 0, ""},
    {"name runs past the RDATA", R("\x00\x0a\x04mai"), MXTLS_EINVAL, 0, ""},
    {"missing root label", R("\x00\x0a\x04mail"), MXTLS_EINVAL, 0, ""},
    {"RFC 3597 §4: a compression pointer is not allowed", R("\x00\x0a\xc0\x0c"), MXTLS_EINVAL, 0,
     ""},
    {"RFC 1035 §2.3.4: label length 64 rejected",
     R("\x00\x0a\x40"
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x00"),
     MXTLS_EINVAL, 0, ""},
    {"octets after the root label rejected", R("\x00\x0a\x02mx\x04test\x00\x00"), MXTLS_EINVAL, 0,
     ""},
    {"host-name syntax: underscore rejected", R("\x00\x0a\x03m_x\x04test\x00"), MXTLS_EINVAL, 0,
     ""},
    {"host-name syntax: NUL in a label rejected", R("\x00\x0a\x03m\x00x\x04test\x00"), MXTLS_EINVAL,
     0, ""},
    {"host-name syntax: dot inside a label rejected", R("\x00\x0a\x03m.x\x04test\x00"),
     MXTLS_EINVAL, 0, ""},
    {"host-name syntax: non-ASCII rejected", R("\x00\x0a\x03m\xc3\xa9\x04test\x00"), MXTLS_EINVAL,
     0, ""},
};

/* test_row - parse and compare */
static void test_row(void **state)
{
    const struct row *r = *state;
    char host[DOMAIN_BUF_SIZE] = "junk";
    uint16_t pref = 0;
    struct mxtls_diag d = {0};
    int rc = mx_rdata_parse((const unsigned char *)r->rdata, r->len, &pref, host, sizeof(host), &d);
    assert_int_equal(rc, r->want);
    if (rc >= 0) {
        assert_int_equal(pref, r->pref);
        assert_string_equal(host, r->host);
    } else {
        assert_string_equal(host, "");
        assert_int_equal(d.code, rc);
        assert_true(d.what[0] != '\0');
        assert_true(d.offset <= r->len || d.offset == MX_RDATA_MAX);
    }
}

/* test_longest_name - a 255-octet wire name (253 text octets) is accepted, 257 is not */
static void test_longest_name(void **state)
{
    (void)state;
    unsigned char buf[MX_RDATA_MAX + 2];
    size_t n = 0;
    buf[n++] = 0;
    buf[n++] = 1;
    /* 3 labels of 63 + 1 label of 61: 4 + 63*3 + 61 + 1 (root) = 255 octets */
    for (int l = 0; l < 4; l++) {
        size_t ll = l < 3 ? 63 : 61;
        buf[n++] = (unsigned char)ll;
        memset(buf + n, 'a', ll);
        n += ll;
    }
    buf[n++] = 0;
    char host[DOMAIN_BUF_SIZE];
    uint16_t pref;
    struct mxtls_diag d = {0};
    assert_int_equal(n, MX_RDATA_MAX);
    assert_int_equal(mx_rdata_parse(buf, n, &pref, host, sizeof(host), &d), 0);
    assert_int_equal(strlen(host), 253);
    /* one more label octet: 256-octet name, over RFC 1035's 255 */
    buf[n - 1 - 61 - 1] = 62;
    memmove(buf + n - 61, buf + n - 62, 62);
    buf[n - 1] = 'a';
    buf[n] = 0;
    assert_true(mx_rdata_parse(buf, n + 1, &pref, host, sizeof(host), &d) < 0);
    assert_string_equal(host, "");
}

int main(void)
{
    static struct unit_suite s;
    UNIT_ROWS(&s, test_row, rows);
    unit_one(&s, "RFC 1035 §3.1: 255-octet name accepted, 256 rejected", test_longest_name, NULL);
    return unit_run(&s, "mx");
}
