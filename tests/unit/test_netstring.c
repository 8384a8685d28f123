/*
 * test_netstring - netstring decoding and encoding (include/mxtls/netstring.h).
 * Each row names the rule it exercises; removing the rule fails the row.
 * "spec" below is D. J. Bernstein's https://cr.yp.to/proto/netstrings.txt.
 */
#include <stdint.h>
#include <string.h>

#include "unit.h"

#include "mxtls/netstring.h"

struct decode_case {
    const char *rule;
    const char *in;
    size_t len; /* 0: strlen(in) */
    size_t cap;
    int err;
    const char *want; /* payload when err == 0 */
    size_t want_len;  /* payload length (may hold NULs) */
    size_t consumed;
};

#define CAP NETSTRING_SOCKETMAP_MAX

static const struct decode_case decode_cases[] = {
    {"spec: \"12:hello world!,\"", "12:hello world!,", 0, CAP, 0, "hello world!", 12, 16},
    {"spec: empty string is \"0:,\"", "0:,", 0, CAP, 0, "", 0, 3},
    {"socketmap_table(5): request payload", "19:postfix example.com,", 0, CAP, 0,
     "postfix example.com", 19, 23},
    {"spec: payload is arbitrary octets, NUL and ',' included", "5:a\0,:b,", 8, CAP, 0, "a\0,:b", 5,
     8},
    {"pipelined: consumed stops at the first netstring", "1:a,1:b,", 0, CAP, 0, "a", 1, 4},
    {"trailing garbage is left for the next call", "1:a,xyz", 0, CAP, 0, "a", 1, 4},
    {"empty buffer: need more", "", 0, CAP, MXTLS_EAGAIN, NULL, 0, 0},
    {"digits only: need more", "12", 0, CAP, MXTLS_EAGAIN, NULL, 0, 0},
    {"lone zero may still become \"0:,\"", "0", 0, CAP, MXTLS_EAGAIN, NULL, 0, 0},
    {"header only: need more", "5:", 0, CAP, MXTLS_EAGAIN, NULL, 0, 0},
    {"partial payload: need more", "5:abc", 0, CAP, MXTLS_EAGAIN, NULL, 0, 0},
    {"payload without ',': need more", "5:abcde", 0, CAP, MXTLS_EAGAIN, NULL, 0, 0},
    {"spec: leading zero rejected", "01:a,", 0, CAP, MXTLS_EINVAL, NULL, 0, 0},
    {"spec: leading zero rejected before the ':' arrives", "00", 0, CAP, MXTLS_EINVAL, NULL, 0, 0},
    {"spec: length must be present", ":,", 0, CAP, MXTLS_EINVAL, NULL, 0, 0},
    {"non-digit first octet rejected at once", "x", 0, CAP, MXTLS_EINVAL, NULL, 0, 0},
    {"sign rejected", "+1:a,", 0, CAP, MXTLS_EINVAL, NULL, 0, 0},
    {"space inside the length rejected", "1 :a,", 0, CAP, MXTLS_EINVAL, NULL, 0, 0},
    {"NUL inside the length rejected", "1\0:a,", 5, CAP, MXTLS_EINVAL, NULL, 0, 0},
    {"spec: ',' required after the payload", "1:ab", 0, CAP, MXTLS_EINVAL, NULL, 0, 0},
    {"spec: ';' is not ','", "3:abc;", 0, CAP, MXTLS_EINVAL, NULL, 0, 0},
    {"payload at the cap accepted", "3:abc,", 0, 3, 0, "abc", 3, 6},
    {"payload over the cap refused before it arrives", "4:", 0, 3, MXTLS_ETOOLONG, NULL, 0, 0},
    {"cap checked on every digit: no wait for ':'", "100001", 0, CAP, MXTLS_ETOOLONG, NULL, 0, 0},
    {"Postfix default cap 100000 itself fits", "100000", 0, CAP, MXTLS_EAGAIN, NULL, 0, 0},
    {"cap 0 allows only the empty string", "1", 0, 0, MXTLS_ETOOLONG, NULL, 0, 0},
    {"huge length does not overflow", "99999999999999999999999999:", 0, SIZE_MAX, MXTLS_ETOOLONG,
     NULL, 0, 0},
    {"high octet in the length rejected", "\xb9:a,", 0, CAP, MXTLS_EINVAL, NULL, 0, 0},
};

static void test_decode(void **state)
{
    const struct decode_case *c = *state;
    size_t len = c->len ? c->len : strlen(c->in);
    struct netstring_frame f = {NULL, 99, 99};
    struct mxtls_diag diag = {0};
    int err = netstring_decode(c->in, len, c->cap, &f, &diag);

    if (err != c->err)
        fail_msg("returned %d, want %d (%s)", err, c->err, diag.what);
    if (c->err == 0) {
        assert_int_equal(f.len, c->want_len);
        assert_memory_equal(f.data, c->want, c->want_len);
        assert_int_equal(f.consumed, c->consumed);
        assert_ptr_equal(f.data, c->in + (c->consumed - c->want_len - 1));
    } else {
        assert_true(diag.what[0] != '\0');
        assert_int_equal(diag.code, c->err);
        assert_ptr_equal(f.data, NULL); /* frame untouched on failure */
    }
}

/* Streaming: every proper prefix of a valid netstring asks for more bytes. */
static void test_every_prefix_needs_more(void **state)
{
    const char *wire = "11:postfix a.b,";
    size_t i, n = strlen(wire);
    struct netstring_frame f;

    (void)state;
    for (i = 0; i < n; i++)
        assert_int_equal(netstring_decode(wire, i, CAP, &f, NULL), MXTLS_EAGAIN);
    assert_int_equal(netstring_decode(wire, n, CAP, &f, NULL), 0);
    assert_int_equal(f.consumed, n);
}

/* Pipelining: three requests in one read come out one after the other. */
static void test_pipelined(void **state)
{
    const char *wire = "3:foo,0:,5:hello,2:x";
    const char *want[] = {"foo", "", "hello"};
    size_t i, off = 0, n = strlen(wire);
    struct netstring_frame f;

    (void)state;
    for (i = 0; i < 3; i++) {
        assert_int_equal(netstring_decode(wire + off, n - off, CAP, &f, NULL), 0);
        assert_int_equal(f.len, strlen(want[i]));
        assert_memory_equal(f.data, want[i], f.len);
        off += f.consumed;
    }
    assert_int_equal(netstring_decode(wire + off, n - off, CAP, &f, NULL), MXTLS_EAGAIN);
}

/* The decoder reads only len octets, never the byte after. */
static void test_reads_only_len(void **state)
{
    const char wire[] = "3:abc,";
    struct netstring_frame f;

    (void)state;
    assert_int_equal(netstring_decode(wire, 5, CAP, &f, NULL), MXTLS_EAGAIN);
}

struct encode_case {
    const char *rule;
    const char *data;
    size_t len;
    const char *want;
    size_t want_len;
};

static const struct encode_case encode_cases[] = {
    {"encode: spec example", "hello world!", 12, "12:hello world!,", 16},
    {"encode: empty string is \"0:,\" (spec)", "", 0, "0:,", 3},
    {"encode: NUL octets kept", "a\0b", 3, "3:a\0b,", 6},
    {"encode: 10-octet payload has a 2-digit length", "0123456789", 10, "10:0123456789,", 14},
};

static void test_encode(void **state)
{
    const struct encode_case *c = *state;
    char out[64];
    size_t n = 0;
    struct netstring_frame f;

    assert_int_equal(netstring_encoded_size(c->len), c->want_len);
    assert_int_equal(netstring_encode(c->data, c->len, out, sizeof(out), &n, NULL), 0);
    assert_int_equal(n, c->want_len);
    assert_memory_equal(out, c->want, n);
    assert_int_equal(out[n], '\0');
    /* Round trip: what we write, we read back whole. */
    assert_int_equal(netstring_decode(out, n, CAP, &f, NULL), 0);
    assert_int_equal(f.consumed, n);
    assert_int_equal(f.len, c->len);
    assert_memory_equal(f.data, c->data, c->len);
}

/* encode needs encoded_size + 1 octets (the NUL); one fewer is ENOSPACE. */
static void test_encode_space(void **state)
{
    char out[7];
    struct mxtls_diag diag = {0};

    (void)state;
    assert_int_equal(netstring_encode("abc", 3, out, 7, NULL, NULL), 0);
    assert_string_equal(out, "3:abc,");
    assert_int_equal(netstring_encode("abc", 3, out, 6, NULL, &diag), MXTLS_ENOSPACE);
    assert_int_equal(diag.code, MXTLS_ENOSPACE);
}

/* A payload whose frame would not fit in size_t has no size. */
static void test_encoded_size_overflow(void **state)
{
    char out[8];

    (void)state;
    assert_int_equal(netstring_encoded_size(SIZE_MAX), 0);
    assert_int_equal(netstring_encoded_size(SIZE_MAX - 100), SIZE_MAX - 100 + 22);
    assert_int_equal(netstring_encode("x", SIZE_MAX, out, sizeof(out), NULL, NULL), MXTLS_ETOOLONG);
}

int main(void)
{
    static struct unit_suite s;

    UNIT_ROWS(&s, test_decode, decode_cases);
    UNIT_ROWS(&s, test_encode, encode_cases);
    unit_one(&s, "streaming: every proper prefix needs more", test_every_prefix_needs_more, NULL);
    unit_one(&s, "pipelined requests decode in order", test_pipelined, NULL);
    unit_one(&s, "reads no octet past len", test_reads_only_len, NULL);
    unit_one(&s, "encode: output space includes the NUL", test_encode_space, NULL);
    unit_one(&s, "encode: size overflow refused", test_encoded_size_overflow, NULL);
    return unit_run(&s, "netstring");
}
