/*
 * test_socketmap - socketmap requests, next-hop keys and replies
 * (include/mxtls/socketmap.h). Each row names the rule it exercises; removing
 * the rule fails the row. DESIGN.md "mxtlsd decision rules" lists the next-hop
 * forms Postfix sends; socketmap_table(5) gives the request and reply syntax.
 */
#include <string.h>

#include "unit.h"

#include "mxtls/socketmap.h"

struct request_case {
    const char *rule;
    const char *in;
    size_t len; /* 0: strlen(in) */
    int err;
    const char *name;
    const char *key;
};

static const struct request_case request_cases[] = {
    {"request: \"name <space> key\" (socketmap_table(5))", "postfix example.com", 0, 0, "postfix",
     "example.com"},
    {"request: key split at the first space only", "postfix a b", 0, 0, "postfix", "a b"},
    {"request: bracketed next-hop key kept verbatim", "postfix [Mail.Example.com]:587", 0, 0,
     "postfix", "[Mail.Example.com]:587"},
    {"request: UTF-8 key passes (judged by the next-hop parser)", "m b\xc3\xbc.example", 0, 0, "m",
     "b\xc3\xbc.example"},
    {"request: empty", "", 0, MXTLS_EINVAL, NULL, NULL},
    {"request: missing space (socketmap_table(5))", "postfixexample.com", 0, MXTLS_EINVAL, NULL,
     NULL},
    {"request: empty map name", " example.com", 0, MXTLS_EINVAL, NULL, NULL},
    {"request: empty key", "postfix ", 0, MXTLS_EINVAL, NULL, NULL},
    {"request: NUL in the key", "postfix exa\0mple.com", 20, MXTLS_EINVAL, NULL, NULL},
    {"request: LF in the key", "postfix example.com\n", 0, MXTLS_EINVAL, NULL, NULL},
    {"request: CR in the key", "postfix exa\rmple.com", 0, MXTLS_EINVAL, NULL, NULL},
    {"request: TAB in the key", "postfix \texample.com", 0, MXTLS_EINVAL, NULL, NULL},
    {"request: DEL in the key", "postfix example.com\x7f", 0, MXTLS_EINVAL, NULL, NULL},
    {"request: control octet in the map name",
     "post\x01"
     "fix example.com",
     0, MXTLS_EINVAL, NULL, NULL},
    {"request: NUL in the map name", "post\0fix example.com", 20, MXTLS_EINVAL, NULL, NULL},
};

static void test_request(void **state)
{
    const struct request_case *c = *state;
    size_t len = c->len ? c->len : strlen(c->in);
    static struct socketmap_request req;
    struct mxtls_diag diag = {0};
    int err = socketmap_request_parse(c->in, len, &req, &diag);

    if (err != c->err)
        fail_msg("returned %d, want %d (%s)", err, c->err, diag.what);
    if (c->err == 0) {
        assert_string_equal(req.name, c->name);
        assert_string_equal(req.key, c->key);
        assert_int_equal(req.key_len, strlen(c->key));
    } else {
        assert_true(diag.what[0] != '\0');
    }
}

/* Caps: map name SOCKETMAP_NAME_MAX, whole request SOCKETMAP_REQUEST_MAX. */
static void test_request_caps(void **state)
{
    static char buf[SOCKETMAP_REQUEST_MAX + 2];
    static struct socketmap_request req;

    (void)state;
    memset(buf, 'n', SOCKETMAP_NAME_MAX);
    memcpy(buf + SOCKETMAP_NAME_MAX, " k", 2);
    assert_int_equal(socketmap_request_parse(buf, SOCKETMAP_NAME_MAX + 2, &req, NULL), 0);
    assert_int_equal(strlen(req.name), SOCKETMAP_NAME_MAX);
    memset(buf, 'n', SOCKETMAP_NAME_MAX + 1);
    memcpy(buf + SOCKETMAP_NAME_MAX + 1, " k", 2);
    assert_int_equal(socketmap_request_parse(buf, SOCKETMAP_NAME_MAX + 3, &req, NULL),
                     MXTLS_ETOOLONG);

    memset(buf, 'k', sizeof(buf));
    memcpy(buf, "m ", 2);
    assert_int_equal(socketmap_request_parse(buf, SOCKETMAP_REQUEST_MAX, &req, NULL), 0);
    assert_int_equal(req.key_len, SOCKETMAP_KEY_MAX);
    assert_int_equal(strlen(req.key), SOCKETMAP_KEY_MAX);
    assert_int_equal(socketmap_request_parse(buf, SOCKETMAP_REQUEST_MAX + 1, &req, NULL),
                     MXTLS_ETOOLONG);
}

struct nexthop_case {
    const char *rule;
    const char *in;
    size_t len; /* 0: strlen(in) */
    int err;
    const char *domain;
    int bracketed;
    unsigned port;
};

static const struct nexthop_case nexthop_cases[] = {
    /* The forms DESIGN.md lists. */
    {"nexthop: domain, port 25, MX lookup", "example.com", 0, 0, "example.com", 0, 25},
    {"nexthop: one trailing dot stripped (RFC 1034 §3.1)", "example.com.", 0, 0, "example.com", 0,
     25},
    {"nexthop: [host] means no MX lookup", "[example.com]", 0, 0, "example.com", 1, 25},
    {"nexthop: [host]:port, DANE at _587._tcp.host", "[example.com]:587", 0, 0, "example.com", 1,
     587},
    {"nexthop: domain:port keeps the MX lookup", "example.com:587", 0, 0, "example.com", 0, 587},
    {"nexthop: lower-cased", "MAIL.Example.COM", 0, 0, "mail.example.com", 0, 25},
    {"nexthop: lower-cased inside brackets", "[MX.Example.Com.]:2525", 0, 0, "mx.example.com", 1,
     2525},
    {"nexthop: trailing dot before the port", "example.com.:587", 0, 0, "example.com", 0, 587},
    {"nexthop: explicit :25", "example.com:25", 0, 0, "example.com", 0, 25},
    {"nexthop: port 1 is the lowest", "example.com:1", 0, 0, "example.com", 0, 1},
    {"nexthop: port 65535 is the highest", "[example.com]:65535", 0, 0, "example.com", 1, 65535},
    {"nexthop: port with a leading zero (Postfix reads it as decimal)", "example.com:0587", 0, 0,
     "example.com", 0, 587},
    {"nexthop: single-label name", "localhost", 0, 0, "localhost", 0, 25},
    {"nexthop: A-label (RFC 5890)", "xn--bcher-kva.example", 0, 0, "xn--bcher-kva.example", 0, 25},
    {"nexthop: only len octets are read", "example.comXYZ", 11, 0, "example.com", 0, 25},
    /* Not lookups: answered "NOTFOUND ". */
    {"nexthop: parent-domain probe (Postfix tls_policy_lookup)", ".example.com", 0, MXTLS_ENOTFOUND,
     NULL, 0, 0},
    {"nexthop: IPv4 literal [192.0.2.1]", "[192.0.2.1]", 0, MXTLS_ENOTFOUND, NULL, 0, 0},
    {"nexthop: IPv4 literal with port", "[192.0.2.1]:587", 0, MXTLS_ENOTFOUND, NULL, 0, 0},
    {"nexthop: Postfix IPv6 literal [ipv6:...]", "[ipv6:2001:db8::1]", 0, MXTLS_ENOTFOUND, NULL, 0,
     0},
    {"nexthop: [IPv6:...] tag is case-insensitive (RFC 5321 §4.1.3)", "[IPv6:2001:db8::1]:25", 0,
     MXTLS_ENOTFOUND, NULL, 0, 0},
    {"nexthop: bare IPv6 in brackets", "[2001:db8::1]", 0, MXTLS_ENOTFOUND, NULL, 0, 0},
    {"nexthop: bare IPv4", "192.0.2.1", 0, MXTLS_ENOTFOUND, NULL, 0, 0},
    {"nexthop: bare IPv4 with port", "192.0.2.1:25", 0, MXTLS_ENOTFOUND, NULL, 0, 0},
    {"nexthop: bare IPv6", "2001:db8::1", 0, MXTLS_ENOTFOUND, NULL, 0, 0},
    /* Malformed. */
    {"nexthop: empty", "", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: empty brackets", "[]", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: empty brackets with port", "[]:25", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: '[' without ']'", "[example.com", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: ']' without '['", "example.com]", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: text after ']'", "[example.com]x", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: nested brackets", "[[example.com]]", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: empty port", "example.com:", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: empty port after ']'", "[example.com]:", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: port 0", "example.com:0", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: port 65536", "example.com:65536", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: port with six digits", "example.com:000025", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: port with a sign", "example.com:+25", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: negative port", "[example.com]:-25", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: service name as port not resolved", "[example.com]:submission", 0, MXTLS_EINVAL,
     NULL, 0, 0},
    {"nexthop: port only", ":25", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: two ports", "[example.com]:25:25", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: two ports without brackets", "example.com:25:25", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: NUL inside the name", "exa\0mple.com", 12, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: NUL inside an IP literal", "[192.0.2.1\0]", 12, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: leading space", " example.com", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: trailing space", "example.com ", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: space inside brackets", "[ example.com]", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: two trailing dots", "example.com..", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: leading dot of an invalid name is no probe", "..example.com", 0, MXTLS_EINVAL, NULL,
     0, 0},
    {"nexthop: lone dot", ".", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: leading dot inside brackets", "[.example.com]", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: raw UTF-8 (A-labels only)",
     "b\xc3\xbc"
     "cher.example",
     0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: UNIX-domain pathname key", "/var/run/lmtp", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: malformed [ipv6:] literal", "[ipv6:example.com]", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: numeric TLD that is no IPv4 (RFC 3696 §2)", "192.0.2.1.5", 0, MXTLS_EINVAL, NULL, 0,
     0},
    {"nexthop: address with a trailing dot is no name", "192.0.2.1.", 0, MXTLS_EINVAL, NULL, 0, 0},
    {"nexthop: underscore is not LDH", "_25._tcp.example.com", 0, MXTLS_EINVAL, NULL, 0, 0},
};

static void test_nexthop(void **state)
{
    const struct nexthop_case *c = *state;
    size_t len = c->len ? c->len : strlen(c->in);
    struct socketmap_nexthop nh;
    struct mxtls_diag diag = {0};
    int err = socketmap_nexthop_parse(c->in, len, &nh, &diag);

    if (err != c->err)
        fail_msg("\"%s\" returned %d, want %d (%s)", c->in, err, c->err, diag.what);
    if (c->err == 0) {
        assert_string_equal(nh.domain, c->domain);
        assert_int_equal(nh.bracketed, c->bracketed);
        assert_int_equal(nh.port, c->port);
    } else {
        assert_true(diag.what[0] != '\0');
        assert_int_equal(diag.code, c->err);
    }
}

/* A name of 253 octets (RFC 1035 §2.3.4) in the longest next-hop form passes;
 * 254 does not, and a 300-octet name never does. */
static void test_nexthop_long_names(void **state)
{
    char key[400];
    struct socketmap_nexthop nh;
    size_t i;

    (void)state;
    /* 4 labels of 62 'a' + 3 dots = 251, then ".a" = 253 */
    for (i = 0; i < 251; i++)
        key[1 + i] = (i % 63 == 62) ? '.' : 'a';
    key[0] = '[';
    memcpy(key + 252, ".a]:65535", 9);
    assert_int_equal(socketmap_nexthop_parse(key, 261, &nh, NULL), 0);
    assert_int_equal(strlen(nh.domain), 253);
    assert_true(nh.bracketed);
    assert_int_equal(nh.port, 65535);
    memcpy(key + 252, ".ab]:65535", 10);
    assert_int_equal(socketmap_nexthop_parse(key, 262, &nh, NULL), MXTLS_ETOOLONG);

    for (i = 0; i < 300; i++)
        key[i] = (i % 50 == 49) ? '.' : 'a';
    assert_int_equal(socketmap_nexthop_parse(key, 300, &nh, NULL), MXTLS_ETOOLONG);
    key[0] = '[';
    key[299] = ']';
    assert_int_equal(socketmap_nexthop_parse(key, 300, &nh, NULL), MXTLS_ETOOLONG);
}

struct reply_case {
    const char *rule;
    enum socketmap_status status;
    const char *text;
    size_t len; /* 0: strlen(text) */
    size_t cap;
    int err;
    const char *want; /* the whole netstring */
};

#define RCAP SOCKETMAP_REPLY_MAX

static const struct reply_case reply_cases[] = {
    {"reply: OK <data> (socketmap_table(5))", SOCKETMAP_OK, "dane-only", 0, RCAP, 0,
     "12:OK dane-only,"},
    {"reply: MTA-STS policy with spaces", SOCKETMAP_OK,
     "secure match=mx1.example.com:.example.net servername=hostname", 0, RCAP, 0,
     "64:OK secure match=mx1.example.com:.example.net servername=hostname,"},
    {"reply: NOTFOUND with its trailing space (socketmap_table(5))", SOCKETMAP_NOTFOUND, "", 0,
     RCAP, 0, "9:NOTFOUND ,"},
    {"reply: TEMP <reason>", SOCKETMAP_TEMP, "MX lookup SERVFAIL", 0, RCAP, 0,
     "23:TEMP MX lookup SERVFAIL,"},
    {"reply: TEMP with an empty reason", SOCKETMAP_TEMP, "", 0, RCAP, 0, "5:TEMP ,"},
    {"reply: PERM <reason>", SOCKETMAP_PERM, "bad configuration", 0, RCAP, 0,
     "22:PERM bad configuration,"},
    {"reply: reason CR LF made printable", SOCKETMAP_TEMP, "a\r\nb", 0, RCAP, 0, "9:TEMP a??b,"},
    {"reply: reason NUL made printable", SOCKETMAP_PERM, "a\0b", 3, RCAP, 0, "8:PERM a?b,"},
    {"reply: reason non-ASCII made printable", SOCKETMAP_TEMP, "\xc3\xa9t\xc3\xa9", 0, RCAP, 0,
     "10:TEMP ??t??,"},
    {"reply: reason cut to the reply cap", SOCKETMAP_TEMP, "0123456789", 0, 8, 0, "8:TEMP 012,"},
    {"reply: OK data exactly at the cap", SOCKETMAP_OK, "dane", 0, 7, 0, "7:OK dane,"},
    {"reply: OK data over the cap refused, never cut", SOCKETMAP_OK, "dane-only", 0, 7,
     MXTLS_ETOOLONG, NULL},
    {"reply: OK without data", SOCKETMAP_OK, "", 0, RCAP, MXTLS_EINVAL, NULL},
    {"reply: OK data with LF refused", SOCKETMAP_OK, "dane\nPERM x", 0, RCAP, MXTLS_EINVAL, NULL},
    {"reply: OK data with NUL refused", SOCKETMAP_OK, "dane\0x", 6, RCAP, MXTLS_EINVAL, NULL},
    {"reply: NOTFOUND with text refused", SOCKETMAP_NOTFOUND, "why", 0, RCAP, MXTLS_EINVAL, NULL},
    {"reply: cap below \"NOTFOUND \"", SOCKETMAP_NOTFOUND, "", 0, 8, MXTLS_ETOOLONG, NULL},
    {"reply: unknown status", (enum socketmap_status)42, "", 0, RCAP, MXTLS_EINVAL, NULL},
};

static void test_reply(void **state)
{
    const struct reply_case *c = *state;
    size_t len = c->len ? c->len : strlen(c->text);
    char out[256];
    size_t n = 0;
    struct mxtls_diag diag = {0};
    struct netstring_frame f;
    int err = socketmap_reply_format(c->status, c->text, len, c->cap, out, sizeof(out), &n, &diag);

    if (err != c->err)
        fail_msg("returned %d, want %d (%s)", err, c->err, diag.what);
    if (c->err != 0) {
        assert_true(diag.what[0] != '\0');
        return;
    }
    assert_string_equal(out, c->want);
    assert_int_equal(n, strlen(c->want));
    /* What Postfix reads back is one netstring within its cap. */
    assert_int_equal(netstring_decode(out, n, c->cap, &f, NULL), 0);
    assert_int_equal(f.consumed, n);
}

/* The largest reply with the default cap fits SOCKETMAP_REPLY_BUF_SIZE exactly. */
static void test_reply_buffer(void **state)
{
    static char text[SOCKETMAP_REPLY_MAX + 10];
    static char out[SOCKETMAP_REPLY_BUF_SIZE];
    size_t n = 0;
    struct netstring_frame f;

    (void)state;
    memset(text, 'x', sizeof(text));
    assert_int_equal(socketmap_reply_format(SOCKETMAP_TEMP, text, sizeof(text), SOCKETMAP_REPLY_MAX,
                                            out, sizeof(out), &n, NULL),
                     0);
    assert_int_equal(n, SOCKETMAP_REPLY_BUF_SIZE - 1);
    assert_int_equal(netstring_decode(out, n, SOCKETMAP_REPLY_MAX, &f, NULL), 0);
    assert_int_equal(f.len, SOCKETMAP_REPLY_MAX);
    assert_int_equal(socketmap_reply_format(SOCKETMAP_OK, text, SOCKETMAP_REPLY_MAX - 3,
                                            SOCKETMAP_REPLY_MAX, out, sizeof(out), &n, NULL),
                     0);
    assert_int_equal(socketmap_reply_format(SOCKETMAP_TEMP, text, sizeof(text), SOCKETMAP_REPLY_MAX,
                                            out, sizeof(out) - 1, &n, NULL),
                     MXTLS_ENOSPACE);
}

int main(void)
{
    static struct unit_suite s;

    UNIT_ROWS(&s, test_request, request_cases);
    UNIT_ROWS(&s, test_nexthop, nexthop_cases);
    UNIT_ROWS(&s, test_reply, reply_cases);
    unit_one(&s, "request: name and request caps, exact and +1", test_request_caps, NULL);
    unit_one(&s, "nexthop: 253-octet name passes, 254 and 300 do not (RFC 1035 §2.3.4)",
             test_nexthop_long_names, NULL);
    unit_one(&s, "reply: largest reply fits SOCKETMAP_REPLY_BUF_SIZE", test_reply_buffer, NULL);
    return unit_run(&s, "socketmap");
}
