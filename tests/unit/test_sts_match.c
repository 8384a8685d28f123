/*
 * test_sts_match - MX host name against MTA-STS mx patterns (include/mxtls/sts_match.h).
 * Each row names the rule it exercises; removing the rule fails the row.
 */
#include <string.h>

#include "unit.h"

#include "mxtls/sts_match.h"

struct match_case {
    const char *rule;
    const char *pattern;
    const char *host;
    size_t len; /* 0: strlen(host) */
    int want;
};

static const struct match_case cases[] = {
    /* RFC 8461 §4.1 examples */
    {"RFC 8461 §4.1: *.example.com matches mail.example.com", "*.example.com", "mail.example.com",
     0, 1},
    {"RFC 8461 §4.1: *.example.com does not match example.com", "*.example.com", "example.com", 0,
     0},
    {"RFC 8461 §4.1: *.example.com does not match foo.bar.example.com", "*.example.com",
     "foo.bar.example.com", 0, 0},
    /* RFC 8461 §3.2 examples */
    {"RFC 8461 §3.2: mx mail.example.com matches MX mail.example.com", "mail.example.com",
     "mail.example.com", 0, 1},
    {"RFC 8461 §3.2: *.example.net matches any MX at example.net", "*.example.net",
     "mx1.example.net", 0, 1},
    {"RFC 8461 §3.2: backupmx.example.com matches itself", "backupmx.example.com",
     "backupmx.example.com", 0, 1},
    /* exact patterns */
    {"exact pattern does not match a subdomain (RFC 8461 §4.1)", "mail.example.com",
     "a.mail.example.com", 0, 0},
    {"exact pattern does not match its parent (RFC 8461 §4.1)", "mail.example.com", "example.com",
     0, 0},
    {"exact pattern is not a prefix match", "mail.example.com", "mail.example.com.evil.test", 0, 0},
    {"exact pattern is not a suffix match", "mail.example.com", "xmail.example.com", 0, 0},
    {"different host", "mail.example.com", "mail.example.org", 0, 0},
    /* case and the trailing dot */
    {"host compared case-insensitively (RFC 4343)", "mail.example.com", "MAIL.Example.COM", 0, 1},
    {"pattern compared case-insensitively (RFC 4343)", "*.Example.COM", "mx.example.com", 0, 1},
    {"wildcard label matched case-insensitively (RFC 4343)", "*.example.com", "MX.EXAMPLE.COM", 0,
     1},
    {"one trailing dot on the host ignored (RFC 1034 §3.1)", "mail.example.com",
     "mail.example.com.", 0, 1},
    {"trailing dot on a wildcard match ignored (RFC 1034 §3.1)", "*.example.com",
     "mail.example.com.", 0, 1},
    {"two trailing dots match nothing", "mail.example.com", "mail.example.com..", 0, 0},
    {"trailing dot on the pattern ignored", "mail.example.com.", "mail.example.com", 0, 1},
    /* wildcard boundaries */
    {"wildcard needs a label boundary (RFC 8461 §4.1)", "*.example.com", "mailexample.com", 0, 0},
    {"wildcard suffix must match exactly", "*.example.com", "mail.example.co", 0, 0},
    {"wildcard one level down does not cover its own parent (RFC 8461 §4.1)", "*.mail.example.com",
     "mail.example.com", 0, 0},
    {"wildcard one level down matches one label more (RFC 8461 §4.1)", "*.mail.example.com",
     "a.mail.example.com", 0, 1},
    {"wildcard label may be a single character", "*.example.com", "a.example.com", 0, 1},
    {"wildcard matches an A-label host (RFC 5890)", "*.example.com", "xn--bcher-kva.example.com", 0,
     1},
    {"wildcard against a host with a leading dot: empty label", "*.example.com", ".example.com", 0,
     0},
    /* hosts that are not host names match nothing */
    {"wildcard host is not a host name", "*.example.com", "*.example.com", 0, 0},
    {"IPv4 literal host matches nothing (RFC 8461 §4.1)", "*.2.0.192", "192.0.2.1", 0, 0},
    {"bracketed literal host matches nothing", "mail.example.com", "[192.0.2.1]", 0, 0},
    {"underscore host matches nothing", "*.example.com", "_a.example.com", 0, 0},
    {"leading hyphen host matches nothing (RFC 1123 §2.1)", "*.example.com", "-a.example.com", 0,
     0},
    {"raw UTF-8 host matches nothing", "*.example.com",
     "b\xc3\xbc"
     "cher.example.com",
     0, 0},
    {"empty host matches nothing", "*.example.com", "", 0, 0},
    {"NUL octet inside the host matches nothing", "mail.example.com", "mail\0example.com", 16, 0},
    {"only host_len octets are read", "mail.example.com", "mail.example.comXYZ", 16, 1},
    {"host longer than 253 octets matches nothing", "*.example.com",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com",
     0, 0},
    /* invalid patterns match nothing */
    {"pattern *.com matches nothing", "*.com", "example.com", 0, 0},
    {"partial-label wildcard pattern matches nothing (RFC 8461 §4.1)", "mx*.example.com",
     "mx1.example.com", 0, 0},
    {"inner wildcard pattern matches nothing (RFC 8461 §4.1)", "mail.*.example.com",
     "mail.a.example.com", 0, 0},
    {"IP literal pattern matches nothing (RFC 8461 §3.2)", "192.0.2.1", "192.0.2.1", 0, 0},
    {"empty pattern matches nothing", "", "example.com", 0, 0},
};

static void test_match(void **state)
{
    const struct match_case *c = *state;
    size_t len = c->len ? c->len : strlen(c->host);
    int got = sts_match_host(c->pattern, c->host, len);

    if (got != c->want)
        fail_msg("pattern \"%s\" host \"%s\": got %d, want %d", c->pattern, c->host, got, c->want);
}

static void test_null_args(void **state)
{
    (void)state;
    assert_int_equal(sts_match_host(NULL, "example.com", 11), 0);
    assert_int_equal(sts_match_host("example.com", NULL, 11), 0);
    assert_int_equal(sts_policy_match(NULL, "example.com", 11), 0);
}

/* The RFC 8461 §3.2 example policy, as sts_policy_parse() leaves it. */
static char mx0[] = "mail.example.com", mx1[] = "*.example.net", mx2[] = "backupmx.example.com";
static char *example_mx[] = {mx0, mx1, mx2};
static const struct sts_policy example = {STS_MODE_ENFORCE, 604800, 3, example_mx};

struct policy_match_case {
    const char *rule;
    const char *host;
    int want;
};

static const struct policy_match_case policy_cases[] = {
    {"policy: first pattern matches (RFC 8461 §4.1 one or more)", "mail.example.com", 1},
    {"policy: wildcard pattern matches (RFC 8461 §4.1)", "mx7.example.net", 1},
    {"policy: last pattern matches (RFC 8461 §4.1)", "BackupMX.example.com.", 1},
    {"policy: no pattern matches", "other.example.com", 0},
    {"policy: wildcard does not cover the parent (RFC 8461 §4.1)", "example.net", 0},
    {"policy: wildcard covers one label only (RFC 8461 §4.1)", "a.b.example.net", 0},
    {"policy: invalid host matches nothing", "mail.example.com..", 0},
};

static void test_policy_match(void **state)
{
    const struct policy_match_case *c = *state;

    assert_int_equal(sts_policy_match(&example, c->host, strlen(c->host)), c->want);
}

/* A policy without patterns (mode none) matches no host. */
static void test_policy_empty(void **state)
{
    struct sts_policy none = {STS_MODE_NONE, 0, 0, NULL};

    (void)state;
    assert_int_equal(sts_policy_match(&none, "mail.example.com", 16), 0);
}

int main(void)
{
    static struct unit_suite s;

    UNIT_ROWS(&s, test_match, cases);
    UNIT_ROWS(&s, test_policy_match, policy_cases);
    unit_one(&s, "NULL arguments match nothing", test_null_args, NULL);
    unit_one(&s, "policy without patterns matches nothing", test_policy_empty, NULL);
    return unit_run(&s, "sts_match");
}
