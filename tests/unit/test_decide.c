/*
 * test_decide - the mxtlsd decision rules (include/mxtls/decide.h, DESIGN.md
 * "mxtlsd decision rules" steps 1-5). One row per branch: each names the step
 * and RFC section it checks and the exact reply Postfix would receive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "mxtls/decide.h"

/* Lookup statuses, short. */
#define SEC   DECIDE_DNS_SECURE
#define INSEC DECIDE_DNS_INSECURE
#define BOGUS DECIDE_DNS_BOGUS
#define FAIL  DECIDE_DNS_FAILED

/* Hosts: usable TLSA; secure TLSA with none usable; secure NODATA TLSA. */
#define H_USABLE(n)                                                                                \
    {                                                                                              \
        (n), SEC, SEC, 2, 1                                                                        \
    }
#define H_UNUSABLE(n)                                                                              \
    {                                                                                              \
        (n), SEC, SEC, 1, 0                                                                        \
    }
#define H_NOTLSA(n)                                                                                \
    {                                                                                              \
        (n), SEC, SEC, 0, 0                                                                        \
    }
#define H(n, a, t, nt, nu)                                                                         \
    {                                                                                              \
        (n), (a), (t), (nt), (nu)                                                                  \
    }

/* Zone flags on top of decide_zone_defaults(). */
#define Z_STRICT 1u /* strict_testing: true */
#define Z_NOSNI  2u /* require_sni: false */
#define Z_TLSRPT 4u /* tlsrpt: true */
#define Z_NODANE 8u /* dane: false */

/* The RFC 8461 §3.2 example policy's mx lines, and some bad ones. */
static char mx_mail[] = "mail.example.com";
static char mx_wild[] = "*.example.net";
static char mx_backup[] = "backupmx.example.com";
static char mx_space[] = "mail.example.com match=evil";
static char *mx_example[] = {mx_mail, mx_wild, mx_backup};
static char *mx_wild_only[] = {mx_wild};
static char mx_upper[] = "MAIL.example.com";
static char *mx_bad[] = {mx_space};
static char *mx_badcase[] = {mx_upper};
static char *mx_hole[] = {mx_mail, NULL};

enum pol {
    P_NULL = 0,
    P_ENF,
    P_TEST,
    P_NONE,
    P_ENF_NOMX,
    P_WILD,
    P_BADMX,
    P_BADMODE,
    P_BADCASE,
    P_HOLE,
    P_NOLIST,
    P_TOOMANY
};

static const struct sts_policy policies[] = {
    [P_NULL] = {STS_MODE_NONE, 0, 0, NULL},
    [P_ENF] = {STS_MODE_ENFORCE, 604800, 3, mx_example},
    [P_TEST] = {STS_MODE_TESTING, 604800, 3, mx_example},
    [P_NONE] = {STS_MODE_NONE, 86400, 3, mx_example},
    [P_ENF_NOMX] = {STS_MODE_ENFORCE, 86400, 0, NULL},
    [P_WILD] = {STS_MODE_ENFORCE, 86400, 1, mx_wild_only},
    [P_BADMX] = {STS_MODE_ENFORCE, 86400, 1, mx_bad},
    [P_BADMODE] = {(enum sts_mode)7, 86400, 3, mx_example},
    [P_BADCASE] = {STS_MODE_ENFORCE, 86400, 1, mx_badcase},
    [P_HOLE] = {STS_MODE_ENFORCE, 86400, 2, mx_hole},
    [P_NOLIST] = {STS_MODE_ENFORCE, 86400, 1, NULL},
    [P_TOOMANY] = {STS_MODE_ENFORCE, 86400, STS_POLICY_MX_MAX + 1, mx_example},
};

#define NOREC   DECIDE_STS_NO_RECORD
#define POLICY  DECIDE_STS_POLICY
#define FAILED  DECIDE_STS_FAILED
#define RESFAIL DECIDE_STS_RESOLVER_FAILED

#define SECURE_EX "OK secure match=mail.example.com:.example.net:backupmx.example.com"
#define SNI       " servername=hostname"
#define RPT_EX                                                                                     \
    " policy_type=sts policy_domain=example.com { policy_string = version: STSv1 }"                \
    " { policy_string = mode: enforce } { policy_string = mx: mail.example.com }"                  \
    " { policy_string = mx: *.example.net } { policy_string = mx: backupmx.example.com }"          \
    " { policy_string = max_age: 604800 } mx_host_pattern=mail.example.com"                        \
    " mx_host_pattern=*.example.net mx_host_pattern=backupmx.example.com"
#define INVALID "TEMP mxtlsd: invalid facts: "

#define DOMAIN_LIKE_SIZE 250 /* a 249-octet pattern and its NUL */

struct row {
    const char *rule;
    /* facts */
    enum decide_mx mx;
    enum decide_dns mx_dns;
    size_t n_hosts;
    struct decide_host hosts[3];
    enum decide_sts_state st;
    enum pol pol;
    bool cached;
    enum decide_sts_failure fail;
    unsigned zone;      /* Z_* flags */
    const char *domain; /* NULL: "example.com" */
    uint16_t port;      /* 0: 25 */
    bool null_hosts;    /* pass hosts = NULL */
    /* expected */
    int err;
    enum decide_kind kind;
    const char *reply; /* exact, or a prefix when prefix is set */
    bool prefix;
    const char *why;
    const char *dane_why; /* NULL: not checked */
};

/* clang-format off */
static const struct row rows[] = {
    /* Step 1: the MX lookup. */
    {"step 1: bogus MX RRset -> TEMP (RFC 7672 §2.1.1)", DECIDE_MX_HOSTS, BOGUS, 1, {H_USABLE("mx1.example.com")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP MX lookup for example.com: DNSSEC validation failed (bogus)", 0, "mx-bogus", "not-reached"},
    {"step 1: MX SERVFAIL/timeout -> TEMP (RFC 7672 §2.1.1)", DECIDE_MX_HOSTS, FAIL, 0, {{0}},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP MX lookup for example.com: lookup failed (SERVFAIL or timeout)", 0, "mx-failed", NULL},
    {"step 1: bogus NXDOMAIN is bogus first -> TEMP", DECIDE_MX_NXDOMAIN, BOGUS, 0, {{0}},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP MX lookup for example.com: DNSSEC validation failed (bogus)", 0, "mx-bogus", NULL},
    {"step 1: bogus MX with an enforce policy is still TEMP, never weaker", DECIDE_MX_HOSTS, BOGUS, 0, {{0}},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP MX lookup for example.com: DNSSEC validation failed (bogus)", 0, "mx-bogus", NULL},
    {"step 1: failed MX with dane: false is still TEMP", DECIDE_MX_HOSTS, FAIL, 0, {{0}},
     POLICY, P_ENF, 0, 0, Z_NODANE, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP MX lookup for example.com: lookup failed (SERVFAIL or timeout)", 0, "mx-failed", NULL},
    {"step 1: secure NXDOMAIN -> NOTFOUND even with a policy", DECIDE_MX_NXDOMAIN, SEC, 0, {{0}},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "mx-nxdomain", "not-reached"},
    {"step 1: insecure NXDOMAIN -> NOTFOUND", DECIDE_MX_NXDOMAIN, INSEC, 0, {{0}},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "mx-nxdomain", NULL},
    {"step 1: null MX -> NOTFOUND (RFC 7505 §3)", DECIDE_MX_NULL, SEC, 0, {{0}},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "mx-null", NULL},
    {"step 1: failed null-MX lookup -> TEMP", DECIDE_MX_NULL, FAIL, 0, {{0}},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP MX lookup for example.com: lookup failed (SERVFAIL or timeout)", 0, "mx-failed", NULL},
    {"step 1: secure NODATA: the domain is the host, DANE-usable -> dane-only (RFC 7672 §2.2.1)", DECIDE_MX_NODATA, SEC, 1, {H_USABLE("example.com")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, "OK dane-only", 0, "dane-only", "all-usable"},
    {"step 1: insecure NODATA needs no host facts -> no DANE (RFC 7672 §2.2.1)", DECIDE_MX_NODATA, INSEC, 0, {{0}},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-no-record", "mx-insecure"},
    {"step 1: bracketed next-hop: no MX lookup, the host's own TLSA -> dane-only", DECIDE_MX_BRACKETED, BOGUS, 1, {H_USABLE("smtp.example.com")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, "OK dane-only", 0, "dane-only", "all-usable"},
    {"step 1: bracketed next-hop with a port: TLSA at _587._tcp", DECIDE_MX_BRACKETED, SEC, 1, {H("smtp.example.com", SEC, FAIL, 0, 0)},
     NOREC, P_NULL, 0, 0, 0, NULL, 587, 0,
     0, DECIDE_TEMP, "TEMP TLSA lookup for _587._tcp.smtp.example.com: lookup failed (SERVFAIL or timeout)", 0, "tlsa-failed", NULL},
    {"step 1: bracketed next-hop, insecure address -> no DANE", DECIDE_MX_BRACKETED, SEC, 1, {H("smtp.example.com", INSEC, SEC, 1, 1)},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-no-record", "no-tlsa"},
    {"step 1: bracketed next-hop keeps MTA-STS for its policy domain", DECIDE_MX_BRACKETED, SEC, 1, {H_NOTLSA("smtp.example.com")},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-enforce", "no-tlsa"},

    /* Step 2: per-host lookups. */
    {"step 2: one secure MX host with usable TLSA -> dane-only", DECIDE_MX_HOSTS, SEC, 1, {H_USABLE("mx1.example.com")},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, "OK dane-only", 0, "dane-only", "all-usable"},
    {"step 2: bogus address of the second host -> TEMP naming it", DECIDE_MX_HOSTS, SEC, 2, {H_USABLE("mx1.example.com"), H("mx2.example.com", BOGUS, SEC, 0, 0)},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP address lookup for mx2.example.com: DNSSEC validation failed (bogus)", 0, "addr-bogus", NULL},
    {"step 2: failed address lookup -> TEMP", DECIDE_MX_HOSTS, SEC, 1, {H("mx1.example.com", FAIL, SEC, 0, 0)},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP address lookup for mx1.example.com: lookup failed (SERVFAIL or timeout)", 0, "addr-failed", NULL},
    {"step 2: bogus address with an enforce policy is TEMP, never weaker", DECIDE_MX_HOSTS, SEC, 2, {H_NOTLSA("mx1.example.com"), H("mx2.example.com", BOGUS, SEC, 0, 0)},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP address lookup for mx2.example.com: DNSSEC validation failed (bogus)", 0, "addr-bogus", NULL},
    {"step 2: bogus TLSA -> TEMP (RFC 7672 §2.2)", DECIDE_MX_HOSTS, SEC, 1, {H("mx1.example.com", SEC, BOGUS, 0, 0)},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP TLSA lookup for _25._tcp.mx1.example.com: DNSSEC validation failed (bogus)", 0, "tlsa-bogus", NULL},
    {"step 2: failed TLSA lookup -> TEMP (RFC 7672 §2.2)", DECIDE_MX_HOSTS, SEC, 2, {H_USABLE("mx1.example.com"), H("mx2.example.com", SEC, FAIL, 0, 0)},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP TLSA lookup for _25._tcp.mx2.example.com: lookup failed (SERVFAIL or timeout)", 0, "tlsa-failed", NULL},
    {"step 2: unbracketed domain:port uses _<port>._tcp.<mxhost>", DECIDE_MX_HOSTS, SEC, 1, {H("mx1.example.com", SEC, BOGUS, 0, 0)},
     NOREC, P_NULL, 0, 0, 0, NULL, 2525, 0,
     0, DECIDE_TEMP, "TEMP TLSA lookup for _2525._tcp.mx1.example.com: DNSSEC validation failed (bogus)", 0, "tlsa-bogus", NULL},
    {"step 2: insecure address: TLSA not consulted, even bogus (RFC 7672 §2.2.2)", DECIDE_MX_HOSTS, SEC, 1, {H("mx1.example.com", INSEC, BOGUS, 0, 0)},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-no-record", "no-tlsa"},
    {"step 2: insecure TLSA RRset -> host has no DANE (RFC 7672 §2.2)", DECIDE_MX_HOSTS, SEC, 1, {H("mx1.example.com", SEC, INSEC, 1, 1)},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-no-record", "no-tlsa"},
    {"step 2: secure NODATA TLSA -> host has no DANE (RFC 7672 §2.2)", DECIDE_MX_HOSTS, SEC, 1, {H_NOTLSA("mx1.example.com")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-no-record", "no-tlsa"},
    {"step 2: secure TLSA, none usable -> dane: TLS still required (RFC 7672 §2.2, §3.1)", DECIDE_MX_HOSTS, SEC, 1, {H_UNUSABLE("mx1.example.com")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, "OK dane", 0, "dane", "some-tlsa"},
    {"step 2: insecure MX RRset: no DANE even with usable TLSA (RFC 7672 §2.2.1)", DECIDE_MX_HOSTS, INSEC, 1, {H_USABLE("mx1.example.com")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-no-record", "mx-insecure"},
    {"step 2: insecure MX RRset: host lookups not consulted, even bogus", DECIDE_MX_HOSTS, INSEC, 1, {H("mx1.example.com", BOGUS, BOGUS, 0, 0)},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-no-record", "mx-insecure"},
    {"step 2: insecure MX RRset + enforce -> MTA-STS answer (RFC 8461 §2)", DECIDE_MX_HOSTS, INSEC, 1, {H_USABLE("mx1.example.com")},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-enforce", "mx-insecure"},
    {"step 2: empty MX host list is never a vacuous dane-only", DECIDE_MX_HOSTS, SEC, 0, {{0}},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-no-record", "no-hosts"},
    {"step 2: empty MX host list + enforce -> MTA-STS answer", DECIDE_MX_HOSTS, SEC, 0, {{0}},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-enforce", "no-hosts"},
    {"step 2: dane: false turns DANE answers off", DECIDE_MX_HOSTS, SEC, 1, {H_USABLE("mx1.example.com")},
     NOREC, P_NULL, 0, 0, Z_NODANE, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-no-record", "dane-off"},
    {"step 2: dane: false -> the MTA-STS answer", DECIDE_MX_HOSTS, SEC, 1, {H_USABLE("mx1.example.com")},
     POLICY, P_ENF, 0, 0, Z_NODANE, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-enforce", "dane-off"},
    {"step 2: dane: false ignores host lookups, even bogus", DECIDE_MX_HOSTS, SEC, 1, {H("mx1.example.com", BOGUS, FAIL, 0, 0)},
     NOREC, P_NULL, 0, 0, Z_NODANE, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-no-record", "dane-off"},
    {"step 2: dane: false needs no facts for a bracketed host", DECIDE_MX_BRACKETED, SEC, 0, {{0}},
     NOREC, P_NULL, 0, 0, Z_NODANE, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-no-record", "dane-off"},

    /* Step 3: combining hosts. */
    {"step 3: every host DANE-usable -> dane-only", DECIDE_MX_HOSTS, SEC, 3, {H_USABLE("mx1.example.com"), H_USABLE("mx2.example.com"), H_USABLE("mx3.example.net")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, "OK dane-only", 0, "dane-only", "all-usable"},
    {"step 3: all usable + enforce -> dane-only: DANE first (RFC 8461 §2)", DECIDE_MX_HOSTS, SEC, 2, {H_USABLE("mx1.example.com"), H_USABLE("mx2.example.com")},
     POLICY, P_ENF, 0, 0, Z_TLSRPT, NULL, 0, 0,
     0, DECIDE_OK, "OK dane-only", 0, "dane-only", "all-usable"},
    {"step 3: one usable, one without TLSA -> dane, not dane-only", DECIDE_MX_HOSTS, SEC, 2, {H_USABLE("mx1.example.com"), H_NOTLSA("mx2.example.com")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, "OK dane", 0, "dane", "some-tlsa"},
    {"step 3: usable, insecure-address, usable -> dane", DECIDE_MX_HOSTS, SEC, 3, {H_USABLE("mx1.example.com"), H("mx2.example.com", INSEC, SEC, 0, 0), H_USABLE("mx3.example.net")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, "OK dane", 0, "dane", "some-tlsa"},
    {"step 3: one usable, one unusable -> dane", DECIDE_MX_HOSTS, SEC, 2, {H_USABLE("mx1.example.com"), H_UNUSABLE("mx2.example.com")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, "OK dane", 0, "dane", "some-tlsa"},
    {"step 3: some TLSA + enforce -> the MTA-STS answer", DECIDE_MX_HOSTS, SEC, 2, {H_USABLE("mx1.example.com"), H_NOTLSA("mx2.example.com")},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-enforce", "some-tlsa"},
    {"step 3: unusable TLSA + enforce -> the MTA-STS answer", DECIDE_MX_HOSTS, SEC, 1, {H_UNUSABLE("mx1.example.com")},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-enforce", "some-tlsa"},
    {"step 3: some TLSA + testing -> dane (testing never enforces)", DECIDE_MX_HOSTS, SEC, 2, {H_USABLE("mx1.example.com"), H_NOTLSA("mx2.example.com")},
     POLICY, P_TEST, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, "OK dane", 0, "dane", "some-tlsa"},
    {"step 3: some TLSA + testing + strict_testing -> secure", DECIDE_MX_HOSTS, SEC, 2, {H_USABLE("mx1.example.com"), H_NOTLSA("mx2.example.com")},
     POLICY, P_TEST, 0, 0, Z_STRICT, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-testing-strict", "some-tlsa"},
    {"step 3: some TLSA + mode none -> dane", DECIDE_MX_HOSTS, SEC, 1, {H_UNUSABLE("mx1.example.com")},
     POLICY, P_NONE, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, "OK dane", 0, "dane", "some-tlsa"},
    {"step 3: some TLSA + failed fetch, nothing cached -> dane", DECIDE_MX_HOSTS, SEC, 1, {H_UNUSABLE("mx1.example.com")},
     FAILED, P_NULL, 0, DECIDE_STS_FETCH_ERROR, Z_TLSRPT, NULL, 0, 0,
     0, DECIDE_OK, "OK dane", 0, "dane", "some-tlsa"},
    {"step 3: some TLSA + enforce without mx -> TEMP wins", DECIDE_MX_HOSTS, SEC, 1, {H_UNUSABLE("mx1.example.com")},
     POLICY, P_ENF_NOMX, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP MTA-STS policy for example.com lists no mx host", 0, "sts-no-mx", "some-tlsa"},
    {"step 3: no TLSA anywhere -> the MTA-STS answer", DECIDE_MX_HOSTS, SEC, 2, {H_NOTLSA("mx1.example.com"), H("mx2.example.com", INSEC, SEC, 0, 0)},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-enforce", "no-tlsa"},

    /* Step 4: the MTA-STS answer. */
    {"step 4: enforce -> secure match, *. becomes . (RFC 8461 §4.1)", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-enforce", NULL},
    {"step 4: a lone wildcard pattern", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_WILD, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, "OK secure match=.example.net servername=hostname", 0, "sts-enforce", NULL},
    {"step 4: require_sni: false drops servername (RFC 8461 §4.3 is the operator's call)", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_ENF, 0, 0, Z_NOSNI, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX, 0, "sts-enforce", NULL},
    {"step 4: cached enforce policy is applied (RFC 8461 §5.1)", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_ENF, 1, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-enforce", NULL},
    {"step 4: testing -> NOTFOUND (RFC 8461 §5.2)", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_TEST, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-testing", NULL},
    {"step 4: testing + strict_testing -> as enforce", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_TEST, 0, 0, Z_STRICT, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-testing-strict", NULL},
    {"step 4: strict_testing does not touch enforce", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_ENF, 0, 0, Z_STRICT, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-enforce", NULL},
    {"step 4: mode none -> NOTFOUND (RFC 8461 §5)", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_NONE, 0, 0, Z_STRICT, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-none", NULL},
    {"step 4: no MTA-STS record -> NOTFOUND", DECIDE_MX_HOSTS, SEC, 1, {H_NOTLSA("mx1.example.com")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-no-record", "no-tlsa"},
    {"step 4: fetch failed, nothing cached -> NOTFOUND (RFC 8461 §3.3)", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     FAILED, P_NULL, 0, DECIDE_STS_FETCH_ERROR, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-failed", NULL},
    {"step 4: our resolver failed on mta-sts.<d>, record published, nothing cached -> TEMP, not the RFC 8461 §3.3 no-policy fallback (issue 17 item 2)", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     RESFAIL, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP MTA-STS policy for example.com not available: local DNS failure looking up mta-sts.example.com", 0, "sts-resolver-failed", "mx-insecure"},
    {"step 4: our resolver failed on mta-sts.<d>, cached enforce applied (RFC 8461 §5.1)", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     RESFAIL, P_ENF, 1, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-enforce", NULL},
    {"step 3: our resolver failed on mta-sts.<d>, some TLSA -> TEMP, not the weaker OK dane (fail closed)", DECIDE_MX_HOSTS, SEC, 2, {H_USABLE("mx1.example.com"), H_NOTLSA("mx2.example.com")},
     RESFAIL, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP MTA-STS policy for example.com not available: local DNS failure looking up mta-sts.example.com", 0, "sts-resolver-failed", "some-tlsa"},
    {"step 3: our resolver failed on mta-sts.<d>, every host DANE-usable -> dane-only (RFC 8461 §2)", DECIDE_MX_HOSTS, SEC, 1, {H_USABLE("mx1.example.com")},
     RESFAIL, P_NULL, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_OK, "OK dane-only", 0, "dane-only", "all-usable"},
    {"step 4: invalid policy, nothing cached -> NOTFOUND (RFC 8461 §3.3)", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     FAILED, P_NULL, 0, DECIDE_STS_POLICY_INVALID, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-failed", NULL},
    {"step 4: fetch failed, cached enforce applied (RFC 8461 §3.3, §5.1)", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     FAILED, P_ENF, 0, DECIDE_STS_WEBPKI_INVALID, 0, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI, 0, "sts-enforce", NULL},
    {"step 4: fetch failed, cached testing -> NOTFOUND", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     FAILED, P_TEST, 0, DECIDE_STS_FETCH_ERROR, 0, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-testing", NULL},
    {"step 4: enforce with no mx pattern matches no host -> TEMP (RFC 8461 §4.1)", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_ENF_NOMX, 0, 0, 0, NULL, 0, 0,
     0, DECIDE_TEMP, "TEMP MTA-STS policy for example.com lists no mx host", 0, "sts-no-mx", NULL},

    /* Step 5: TLSRPT attributes (Postfix TLSRPT_README). */
    {"step 5: tlsrpt: enforce carries policy_type/domain/strings/patterns", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_ENF, 0, 0, Z_TLSRPT, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI RPT_EX, 0, "sts-enforce", NULL},
    {"step 5: tlsrpt without SNI", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_ENF, 0, 0, Z_TLSRPT | Z_NOSNI, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX RPT_EX, 0, "sts-enforce", NULL},
    {"step 5: tlsrpt: strict testing reports mode testing", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_WILD, 0, 0, Z_TLSRPT, "example.net", 0, 0,
     0, DECIDE_OK, "OK secure match=.example.net servername=hostname policy_type=sts policy_domain=example.net"
     " { policy_string = version: STSv1 } { policy_string = mode: enforce } { policy_string = mx: *.example.net }"
     " { policy_string = max_age: 86400 } mx_host_pattern=*.example.net", 0, "sts-enforce", NULL},
    {"step 5: tlsrpt: cached policy after a failed fetch, no policy_failure (RFC 8461 §3.3)", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     FAILED, P_ENF, 0, DECIDE_STS_FETCH_ERROR, Z_TLSRPT, NULL, 0, 0,
     0, DECIDE_OK, SECURE_EX SNI RPT_EX, 0, "sts-enforce", NULL},
    {"step 5: tlsrpt: failure, nothing cached -> NOTFOUND, no policy_failure (RFC 8461 §3.3)", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     FAILED, P_NULL, 0, DECIDE_STS_WEBPKI_INVALID, Z_TLSRPT, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-failed", NULL},
    {"step 5: tlsrpt: testing -> NOTFOUND carries nothing", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_TEST, 0, 0, Z_TLSRPT, NULL, 0, 0,
     0, DECIDE_NOTFOUND, "NOTFOUND ", 0, "sts-testing", NULL},
    {"step 5: tlsrpt: no STS attributes on a DANE answer (TLSRPT_README note 2)", DECIDE_MX_HOSTS, SEC, 1, {H_UNUSABLE("mx1.example.com")},
     POLICY, P_TEST, 0, 0, Z_TLSRPT, NULL, 0, 0,
     0, DECIDE_OK, "OK dane", 0, "dane", "some-tlsa"},

    /* Facts that break the contract: TEMP, never a weaker answer. */
    {"contract: NULL domain", DECIDE_MX_HOSTS, SEC, 0, {{0}},
     POLICY, P_ENF, 0, 0, 0, "", 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", "not-reached"},
    {"contract: domain not normalised (upper case)", DECIDE_MX_HOSTS, SEC, 0, {{0}},
     NOREC, P_NULL, 0, 0, 0, "Example.COM", 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: domain with a space could inject attributes", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_ENF, 0, 0, 0, "example.com match=evil", 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: domain with a trailing dot is not normalised", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     NOREC, P_NULL, 0, 0, 0, "example.com.", 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: invalid host name", DECIDE_MX_HOSTS, SEC, 1, {H_USABLE("mx_1.example.com")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: NULL host name", DECIDE_MX_HOSTS, SEC, 1, {H_USABLE(NULL)},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: more usable TLSA records than records", DECIDE_MX_HOSTS, SEC, 1, {H("mx1.example.com", SEC, SEC, 1, 2)},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: MX kind out of range", (enum decide_mx)9, SEC, 0, {{0}},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: MX status out of range", DECIDE_MX_HOSTS, (enum decide_dns)9, 0, {{0}},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: host status out of range", DECIDE_MX_HOSTS, SEC, 1, {H("mx1.example.com", SEC, (enum decide_dns)-1, 0, 0)},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: hosts NULL with n_hosts 1", DECIDE_MX_HOSTS, SEC, 1, {{0}},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 1,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: NODATA names one host, not two", DECIDE_MX_NODATA, SEC, 2, {H_USABLE("example.com"), H_USABLE("mx1.example.com")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: NODATA host must be the domain itself (RFC 5321 §5.1)", DECIDE_MX_NODATA, SEC, 1, {H_USABLE("mx1.example.com")},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: secure NODATA with DANE on needs the domain's own facts", DECIDE_MX_NODATA, SEC, 0, {{0}},
     POLICY, P_ENF, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: bracketed host with DANE on needs its facts", DECIDE_MX_BRACKETED, SEC, 0, {{0}},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: policy state without a policy", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_NULL, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: MTA-STS state out of range", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     (enum decide_sts_state)5, P_NULL, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: failure type out of range", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     FAILED, P_NULL, 0, (enum decide_sts_failure)5, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: policy mx pattern with a space could inject attributes", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_BADMX, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: policy mx pattern not lower-cased", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_BADCASE, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: policy mx list with a NULL entry", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_HOLE, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: policy n_mx without a list", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_NOLIST, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: policy with more than STS_POLICY_MX_MAX patterns", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_TOOMANY, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: host address status out of range", DECIDE_MX_HOSTS, SEC, 1, {H("mx1.example.com", (enum decide_dns)4, SEC, 0, 0)},
     NOREC, P_NULL, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: policy mode out of range", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     POLICY, P_BADMODE, 0, 0, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
    {"contract: a cached policy given with a failure is checked too", DECIDE_MX_HOSTS, INSEC, 0, {{0}},
     FAILED, P_BADMX, 0, DECIDE_STS_FETCH_ERROR, 0, NULL, 0, 0,
     MXTLS_EINVAL, DECIDE_TEMP, INVALID, 1, "invalid-facts", NULL},
};
/* clang-format on */

/* run - build facts from a row and decide */
static int run(const struct row *r, struct decide_result *res, struct mxtls_diag *diag)
{
    struct decide_facts f;

    memset(&f, 0, sizeof(f));
    f.domain = r->domain ? (r->domain[0] ? r->domain : NULL) : "example.com";
    f.port = r->port;
    f.mx = r->mx;
    f.mx_dns = r->mx_dns;
    f.n_hosts = r->n_hosts;
    f.hosts = r->null_hosts ? NULL : r->hosts;
    f.sts.state = r->st;
    f.sts.policy = r->pol == P_NULL ? NULL : &policies[r->pol];
    f.sts.cached = r->cached;
    f.sts.failure = r->fail;
    decide_zone_defaults(&f.zone);
    f.zone.strict_testing = (r->zone & Z_STRICT) != 0;
    f.zone.require_sni = (r->zone & Z_NOSNI) == 0;
    f.zone.tlsrpt = (r->zone & Z_TLSRPT) != 0;
    f.zone.dane = (r->zone & Z_NODANE) == 0;
    return decide(&f, res, diag);
}

static void test_row(void **state)
{
    const struct row *r = *state;
    struct decide_result res;
    struct mxtls_diag diag = {0};
    int err = run(r, &res, &diag);

    if (err != r->err)
        fail_msg("returned %d, want %d (%s); reply \"%s\"", err, r->err, diag.what,
                 res.reply ? res.reply : "(null)");
    assert_non_null(res.reply);
    if (r->prefix) {
        if (strncmp(res.reply, r->reply, strlen(r->reply)) != 0)
            fail_msg("reply \"%s\" does not start with \"%s\"", res.reply, r->reply);
        assert_true(strlen(res.reply) > strlen(r->reply)); /* says what was wrong */
        assert_true(diag.what[0] != '\0');
    } else {
        assert_string_equal(res.reply, r->reply);
    }
    assert_int_equal(res.kind, r->kind);
    assert_string_equal(res.why, r->why);
    if (r->dane_why != NULL)
        assert_string_equal(res.dane_why, r->dane_why);
    decide_result_finish(&res);
    assert_null(res.reply);
}

/* The reply's first word must agree with its kind, for every row. */
static void test_kind_matches_reply(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UNIT_LEN(rows); i++) {
        struct decide_result res;
        static const char *const word[] = {"OK ", "NOTFOUND ", "TEMP "};

        run(&rows[i], &res, NULL);
        if (strncmp(res.reply, word[res.kind], strlen(word[res.kind])) != 0)
            fail_msg("%s: kind %d but reply \"%s\"", rows[i].rule, res.kind, res.reply);
        decide_result_finish(&res);
    }
}

struct source_row {
    const char *rule;
    enum decide_sts_state st;
    enum pol pol;
    bool cached;
    bool dane_usable;
    const char *want;
};

static const struct source_row source_rows[] = {
    {"sts_source: fresh policy", POLICY, P_ENF, 0, 0, "fetched"},
    {"sts_source: cached policy (RFC 8461 §5.1)", POLICY, P_ENF, 1, 0, "cache"},
    {"sts_source: cached after failed refresh (RFC 8461 §3.3)", FAILED, P_TEST, 0, 0,
     "cache-after-failure"},
    {"sts_source: failure, nothing cached", FAILED, P_NULL, 0, 0, "none"},
    {"sts_source: our resolver failed, nothing cached", RESFAIL, P_NULL, 0, 0, "none"},
    {"sts_source: our resolver failed, cached policy applied", RESFAIL, P_ENF, 0, 0,
     "cache-after-failure"},
    {"sts_source: no record", NOREC, P_NULL, 0, 0, "none"},
    {"sts_source: dane-only never consults MTA-STS", POLICY, P_ENF, 0, 1, "not-used"},
};

static void test_source(void **state)
{
    const struct source_row *s = *state;
    struct decide_host h = H_USABLE("mx1.example.com");
    struct decide_facts f = {.domain = "example.com", .mx = DECIDE_MX_HOSTS};
    struct decide_result res;

    f.mx_dns = s->dane_usable ? SEC : INSEC;
    f.n_hosts = 1;
    f.hosts = &h;
    f.sts.state = s->st;
    f.sts.policy = s->pol == P_NULL ? NULL : &policies[s->pol];
    f.sts.cached = s->cached;
    decide_zone_defaults(&f.zone);
    assert_int_equal(decide(&f, &res, NULL), 0);
    assert_string_equal(res.sts_source, s->want);
    decide_result_finish(&res);
}

/*
 * Issue 17 item 10: a domain with 100 MX hosts has every host considered
 * (RFC 7672 §2.2: DANE-only needs every host usable): all usable is
 * "dane-only"; the 100th without TLSA makes it "dane", wherever it stands.
 */
static void test_hosts_100(void **state)
{
    static struct decide_host hosts[100];
    struct decide_facts f = {.domain = "example.com", .mx = DECIDE_MX_HOSTS};
    struct decide_result res;
    size_t i, odd;

    (void)state;
    decide_zone_defaults(&f.zone);
    f.hosts = hosts;
    f.n_hosts = UNIT_LEN(hosts);
    for (i = 0; i < UNIT_LEN(hosts); i++)
        hosts[i] = (struct decide_host)H_USABLE("mx1.example.com");
    assert_int_equal(decide(&f, &res, NULL), 0);
    assert_string_equal(res.reply, "OK dane-only");
    decide_result_finish(&res);
    for (odd = 0; odd < UNIT_LEN(hosts); odd += 33) {
        for (i = 0; i < UNIT_LEN(hosts); i++)
            hosts[i] = (struct decide_host)H_USABLE("mx1.example.com");
        hosts[odd] = (struct decide_host)H_NOTLSA("mx2.example.com");
        assert_int_equal(decide(&f, &res, NULL), 0);
        assert_string_equal(res.reply, "OK dane");
        decide_result_finish(&res);
    }
}

/* Exactly DECIDE_HOSTS_MAX hosts are taken; one more is refused (TEMP). */
static void test_host_cap(void **state)
{
    static struct decide_host hosts[DECIDE_HOSTS_MAX + 1];
    struct decide_facts f = {.domain = "example.com", .mx = DECIDE_MX_HOSTS};
    struct decide_result res;
    size_t i;

    (void)state;
    for (i = 0; i < UNIT_LEN(hosts); i++)
        hosts[i] = (struct decide_host)H_USABLE("mx1.example.com");
    decide_zone_defaults(&f.zone);
    f.hosts = hosts;
    f.n_hosts = DECIDE_HOSTS_MAX;
    assert_int_equal(decide(&f, &res, NULL), 0);
    assert_string_equal(res.reply, "OK dane-only");
    decide_result_finish(&res);
    f.n_hosts = DECIDE_HOSTS_MAX + 1;
    assert_int_equal(decide(&f, &res, NULL), MXTLS_EINVAL);
    assert_int_equal(res.kind, DECIDE_TEMP);
    decide_result_finish(&res);
    /* A huge count is refused before anything reads hosts[]. */
    f.n_hosts = (size_t)-1;
    assert_int_equal(decide(&f, &res, NULL), MXTLS_EINVAL);
    decide_result_finish(&res);
}

/* parsed - sts_policy_parse a generated body; the body must fit RFC 8461 §3.3's 64 KiB */
static void parsed(struct sts_policy *p, size_t n, size_t label_len)
{
    char *buf = malloc(STS_POLICY_BODY_MAX + 1), *q = buf;
    size_t i;

    if (buf == NULL)
        abort(); /* out of memory in a test: nothing to report */
    q += sprintf(q, "version: STSv1\nmode: enforce\nmax_age: 86400\n");
    for (i = 0; i < n; i++) {
        /* label_len 0: short names "m<i>.ex"; else 4 labels of about
         * label_len octets each, distinct per i */
        if (label_len == 0)
            q += sprintf(q, "mx: m%zu.ex\n", i);
        else
            q += sprintf(q, "mx: %06zu%0*d.%0*d.%0*d.%0*d.ex\n", i, (int)label_len - 6, 0,
                         (int)label_len, 0, (int)label_len, 0, (int)label_len - 3, 0);
        assert_true((size_t)(q - buf) <= STS_POLICY_BODY_MAX);
    }
    assert_int_equal(sts_policy_parse(buf, (size_t)(q - buf), p, NULL), 0);
    assert_int_equal(p->n_mx, n);
    free(buf);
}

/*
 * The reply limit is Postfix's own (socketmap_max_reply_size, 100000): every
 * RFC-valid policy (64 KiB at most, RFC 8461 §3.3) fits as a match list, even
 * with 3,000 patterns; with TLSRPT attributes (each policy line again, and
 * each pattern once more) a big one does not, and then the answer is TEMP
 * "too-long", never a truncated or weaker policy (issue 17 item 9).
 */
static void test_reply_cap(void **state)
{
    struct sts_policy p;
    struct decide_facts f = {.domain = "example.com", .mx = DECIDE_MX_HOSTS, .mx_dns = INSEC};
    struct decide_result res;
    size_t i;
    const char *at;

    (void)state;
    decide_zone_defaults(&f.zone);
    f.sts.state = POLICY;
    f.sts.policy = &p;

    /* 3,000 short patterns: all 3,000 in the match list, in order */
    parsed(&p, 3000, 0);
    assert_int_equal(decide(&f, &res, NULL), 0);
    assert_int_equal(res.kind, DECIDE_OK);
    assert_true(strncmp(res.reply, "OK secure match=m0.ex:m1.ex:", 28) == 0);
    for (i = 0, at = res.reply; (at = strchr(at, ':')) != NULL; at++)
        i++;
    assert_int_equal(i, 2999);
    assert_non_null(strstr(res.reply, ":m2999.ex servername=hostname"));
    decide_result_finish(&res);
    /* ... but not with TLSRPT attributes (about 110 KB): TEMP */
    f.zone.tlsrpt = true;
    assert_int_equal(decide(&f, &res, NULL), MXTLS_ETOOLONG);
    assert_int_equal(res.kind, DECIDE_TEMP);
    assert_string_equal(res.why, "too-long");
    assert_true(strncmp(res.reply, "TEMP ", 5) == 0);
    decide_result_finish(&res);
    f.zone.tlsrpt = false;
    sts_policy_finish(&p);

    /* The longest patterns a 64 KiB body holds: a ~64 KiB match list fits */
    parsed(&p, 250, 60);
    assert_int_equal(decide(&f, &res, NULL), 0);
    assert_int_equal(res.kind, DECIDE_OK);
    assert_true(strlen(res.reply) > 60000);
    assert_true(strlen(res.reply) < DECIDE_REPLY_MAX);
    decide_result_finish(&res);
    f.zone.tlsrpt = true;
    assert_int_equal(decide(&f, &res, NULL), MXTLS_ETOOLONG);
    assert_int_equal(res.kind, DECIDE_TEMP);
    decide_result_finish(&res);
    sts_policy_finish(&p);
}

struct name_row {
    const char *rule;
    int value;
    bool failure; /* decide_sts_failure_name, else decide_dns_name */
    const char *want;
};

static const struct name_row name_rows[] = {
    {"name: secure", DECIDE_DNS_SECURE, 0, "secure"},
    {"name: insecure", DECIDE_DNS_INSECURE, 0, "insecure"},
    {"name: bogus", DECIDE_DNS_BOGUS, 0, "bogus"},
    {"name: failed", DECIDE_DNS_FAILED, 0, "failed"},
    {"name: dns status out of range", 42, 0, "invalid"},
    {"name: sts-policy-fetch-error (RFC 8460 §4.3.2.1)", DECIDE_STS_FETCH_ERROR, 1,
     "sts-policy-fetch-error"},
    {"name: sts-policy-invalid (RFC 8460 §4.3.2.1)", DECIDE_STS_POLICY_INVALID, 1,
     "sts-policy-invalid"},
    {"name: sts-webpki-invalid (RFC 8460 §4.3.2.1)", DECIDE_STS_WEBPKI_INVALID, 1,
     "sts-webpki-invalid"},
    {"name: failure out of range", 42, 1, "invalid"},
};

static void test_name(void **state)
{
    const struct name_row *n = *state;

    assert_string_equal(n->failure ? decide_sts_failure_name((enum decide_sts_failure)n->value)
                                   : decide_dns_name((enum decide_dns)n->value),
                        n->want);
}

static void test_defaults_and_finish(void **state)
{
    struct decide_zone z;
    struct decide_result res = {0};

    (void)state;
    memset(&z, 0xff, sizeof(z));
    decide_zone_defaults(&z);
    assert_false(z.strict_testing);
    assert_true(z.require_sni);
    assert_false(z.tlsrpt);
    assert_true(z.dane);
    decide_result_finish(NULL);
    decide_result_finish(&res);
    decide_result_finish(&res);
}

int main(void)
{
    static struct unit_suite s;

    UNIT_ROWS(&s, test_row, rows);
    UNIT_ROWS(&s, test_source, source_rows);
    UNIT_ROWS(&s, test_name, name_rows);
    unit_one(&s, "every reply starts with the word of its kind", test_kind_matches_reply, NULL);
    unit_one(&s, "hosts: 100 MX hosts all considered (issue 17 item 10)", test_hosts_100, NULL);
    unit_one(&s, "hosts: DECIDE_HOSTS_MAX taken, one more refused", test_host_cap, NULL);
    unit_one(&s, "reply cap: Postfix's 100000; 3,000 patterns fit, TEMP past it (issue 17 item 9)",
             test_reply_cap, NULL);
    unit_one(&s, "zone defaults; finish is idempotent", test_defaults_and_finish, NULL);
    return unit_run(&s, "decide");
}
