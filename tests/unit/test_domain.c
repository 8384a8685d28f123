/*
 * test_domain - host name and MX pattern validation (include/mxtls/domain.h).
 * Each row names the rule it exercises; removing the rule fails the row.
 */
#include <string.h>

#include "unit.h"

#include "mxtls/domain.h"

struct name_case {
    const char *rule;
    const char *in;
    size_t len; /* 0: strlen(in) */
    int err;    /* expected return */
    const char *want;
};

static const struct name_case name_cases[] = {
    {"lower-cased", "MX1.Example.COM", 0, 0, "mx1.example.com"},
    {"one trailing dot removed (RFC 1034 §3.1)", "example.com.", 0, 0, "example.com"},
    {"two trailing dots: empty label", "example.com..", 0, MXTLS_EINVAL, NULL},
    {"single label allowed", "localhost", 0, 0, "localhost"},
    {"digits and hyphens inside a label (RFC 1123 §2.1)", "3com-mx.ex-ample.net", 0, 0,
     "3com-mx.ex-ample.net"},
    {"A-label accepted (RFC 5890)", "xn--bcher-kva.example", 0, 0, "xn--bcher-kva.example"},
    {"raw UTF-8 rejected: A-labels only",
     "b\xc3\xbc"
     "cher.example",
     0, MXTLS_EINVAL, NULL},
    {"empty name", "", 0, MXTLS_EINVAL, NULL},
    {"root alone is no host name", ".", 0, MXTLS_EINVAL, NULL},
    {"leading dot: empty label", ".example.com", 0, MXTLS_EINVAL, NULL},
    {"inner empty label", "a..example.com", 0, MXTLS_EINVAL, NULL},
    {"leading hyphen (RFC 1123 §2.1)", "-mx.example.com", 0, MXTLS_EINVAL, NULL},
    {"trailing hyphen (RFC 1123 §2.1)", "mx-.example.com", 0, MXTLS_EINVAL, NULL},
    {"underscore is not LDH", "_25._tcp.example.com", 0, MXTLS_EINVAL, NULL},
    {"space rejected", "mx .example.com", 0, MXTLS_EINVAL, NULL},
    {"wildcard is not a host name", "*.example.com", 0, MXTLS_EINVAL, NULL},
    {"IPv4 literal: numeric TLD (RFC 3696 §2)", "192.0.2.1", 0, MXTLS_EINVAL, NULL},
    {"numeric inner label is fine", "123.example.com", 0, 0, "123.example.com"},
    {"IPv6 literal rejected", "2001:db8::1", 0, MXTLS_EINVAL, NULL},
    {"bracketed literal rejected", "[192.0.2.1]", 0, MXTLS_EINVAL, NULL},
    {"NUL octet inside the name rejected", "exa\0mple.com", 12, MXTLS_EINVAL, NULL},
    {"only len octets are read", "example.comXYZ", 11, 0, "example.com"},
};

static void test_name(void **state)
{
    const struct name_case *c = *state;
    char out[DOMAIN_BUF_SIZE];
    struct mxtls_diag diag = {0};
    size_t len = c->len ? c->len : strlen(c->in);
    int err = domain_normalize(c->in, len, out, sizeof(out), &diag);

    if (err != c->err)
        fail_msg("\"%s\" returned %d, want %d (%s)", c->in, err, c->err, diag.what);
    if (c->err == 0)
        assert_string_equal(out, c->want);
    else
        assert_true(diag.what[0] != '\0');
}

/* Fills buf with `labels` labels of `label_len` 'a's joined by dots. */
static void make_name(char *buf, size_t label_len, size_t labels)
{
    size_t i, pos = 0;

    for (i = 0; i < labels; i++) {
        memset(buf + pos, 'a', label_len);
        pos += label_len;
        buf[pos++] = i + 1 < labels ? '.' : '\0';
    }
}

/* RFC 1035 §2.3.4: labels are 63 octets or less. */
static void test_label_length(void **state)
{
    char name[400], out[DOMAIN_BUF_SIZE];

    (void)state;
    make_name(name, 63, 2);
    assert_int_equal(domain_normalize(name, strlen(name), out, sizeof(out), NULL), 0);
    make_name(name, 64, 2);
    assert_int_equal(domain_normalize(name, strlen(name), out, sizeof(out), NULL), MXTLS_ETOOLONG);
}

/* RFC 1035 §2.3.4: 253 octets of text is the longest name, trailing dot aside. */
static void test_name_length(void **state)
{
    char name[400], out[DOMAIN_BUF_SIZE];

    (void)state;
    make_name(name, 62, 4); /* 62 * 4 + 3 dots = 251 */
    memcpy(name + 251, ".a", 3);
    assert_int_equal(domain_normalize(name, 253, out, sizeof(out), NULL), 0);
    assert_int_equal(strlen(out), 253);
    name[253] = '.';
    assert_int_equal(domain_normalize(name, 254, out, sizeof(out), NULL), 0);
    memcpy(name + 251, ".ab", 4);
    assert_int_equal(domain_normalize(name, 254, out, sizeof(out), NULL), MXTLS_ETOOLONG);
}

static void test_output_space(void **state)
{
    char out[4];

    (void)state;
    assert_int_equal(domain_normalize("example.com", 11, out, sizeof(out), NULL), MXTLS_ENOSPACE);
}

static const struct name_case pattern_cases[] = {
    {"pattern: plain host (RFC 8461 §3.2)", "MX.Example.com.", 0, 0, "mx.example.com"},
    {"pattern: wildcard kept and lower-cased (RFC 8461 §4.1)", "*.Example.COM", 0, 0,
     "*.example.com"},
    {"pattern: wildcard over a TLD refused", "*.com", 0, MXTLS_EINVAL, NULL},
    {"pattern: wildcard alone", "*", 0, MXTLS_EINVAL, NULL},
    {"pattern: wildcard and dot alone", "*.", 0, MXTLS_EINVAL, NULL},
    {"pattern: wildcard inside a label (RFC 8461 §4.1)", "mx*.example.com", 0, MXTLS_EINVAL, NULL},
    {"pattern: wildcard not left-most (RFC 8461 §4.1)", "mx.*.example.com", 0, MXTLS_EINVAL, NULL},
    {"pattern: double wildcard", "*.*.example.com", 0, MXTLS_EINVAL, NULL},
    {"pattern: IP literal (RFC 8461 §3.2)", "192.0.2.25", 0, MXTLS_EINVAL, NULL},
    {"pattern: bad name after the wildcard", "*.-bad.example", 0, MXTLS_EINVAL, NULL},
};

static void test_pattern(void **state)
{
    const struct name_case *c = *state;
    char out[DOMAIN_BUF_SIZE];
    int err = domain_pattern_normalize(c->in, strlen(c->in), out, sizeof(out), NULL);

    if (err != c->err)
        fail_msg("\"%s\" returned %d, want %d", c->in, err, c->err);
    if (c->err == 0)
        assert_string_equal(out, c->want);
}

int main(void)
{
    static struct unit_suite s;

    UNIT_ROWS(&s, test_name, name_cases);
    UNIT_ROWS(&s, test_pattern, pattern_cases);
    unit_one(&s, "label of 64 octets (RFC 1035 §2.3.4)", test_label_length, NULL);
    unit_one(&s, "name of 254 octets (RFC 1035 §2.3.4)", test_name_length, NULL);
    unit_one(&s, "output buffer too small", test_output_space, NULL);
    return unit_run(&s, "domain");
}
