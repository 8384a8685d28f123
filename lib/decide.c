/*
 * decide - the mxtlsd decision rules (DESIGN.md steps 1-5) as one pure function.
 * See include/mxtls/decide.h for the contract; each rule cites its source.
 */
#include <stdlib.h>
#include <string.h>

#include "mxtls/decide.h"
#include "mxtls/domain.h"

/* A growable reply buffer with a hard cap; err latches the first failure. */
struct sbuf {
    char *buf;
    size_t len, cap;
    int err;
};

static const char nomem_reply[] = "TEMP mxtlsd: out of memory";

/* sb_add - append n octets, growing up to DECIDE_REPLY_MAX with the NUL */
static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->err != 0)
        return;
    if (n >= DECIDE_REPLY_MAX - b->len) {
        b->err = MXTLS_ETOOLONG;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > DECIDE_REPLY_MAX)
            cap = DECIDE_REPLY_MAX;
        if ((p = realloc(b->buf, cap)) == NULL) {
            b->err = MXTLS_ENOMEM;
            return;
        }
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

/* sb_str - append a NUL-terminated string */
static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* sb_uint - append an unsigned number in decimal */
static void sb_uint(struct sbuf *b, unsigned long v)
{
    char digits[24];
    size_t i = sizeof(digits);

    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    sb_add(b, digits + i, sizeof(digits) - i);
}

/* decide_zone_defaults - the documented zone defaults */
void decide_zone_defaults(struct decide_zone *zone)
{
    zone->strict_testing = false;
    zone->require_sni = true; /* postfix-mta-sts-resolver's default */
    zone->tlsrpt = false;
    zone->dane = true;
}

/* decide_dns_name - short name of a lookup status */
const char *decide_dns_name(enum decide_dns status)
{
    switch (status) {
    case DECIDE_DNS_SECURE:
        return "secure";
    case DECIDE_DNS_INSECURE:
        return "insecure";
    case DECIDE_DNS_BOGUS:
        return "bogus";
    case DECIDE_DNS_FAILED:
        return "failed";
    }
    return "invalid";
}

/* decide_sts_failure_name - the RFC 8460 §4.3.2.1 result type of a failure */
const char *decide_sts_failure_name(enum decide_sts_failure failure)
{
    switch (failure) {
    case DECIDE_STS_FETCH_ERROR:
        return "sts-policy-fetch-error";
    case DECIDE_STS_POLICY_INVALID:
        return "sts-policy-invalid";
    case DECIDE_STS_WEBPKI_INVALID:
        return "sts-webpki-invalid";
    }
    return "invalid";
}

/* finish - hand the built reply over to res, or a TEMP when building failed */
static int finish(struct decide_result *res, struct sbuf *b, enum decide_kind kind, const char *why,
                  struct mxtls_diag *diag)
{
    if (b->err == MXTLS_ETOOLONG) {
        free(b->buf);
        b->buf = NULL;
        b->len = b->cap = 0;
        b->err = 0;
        /* Too long for Postfix to take: defer rather than answer less. */
        sb_str(b, "TEMP mxtlsd: policy reply longer than ");
        sb_uint(b, DECIDE_REPLY_MAX - 1);
        sb_str(b, " octets");
        kind = DECIDE_TEMP;
        why = "too-long";
        mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "reply longer than %d octets",
                       DECIDE_REPLY_MAX - 1);
        if (b->err == 0) {
            res->kind = kind;
            res->why = why;
            res->reply = res->owned = b->buf;
            return MXTLS_ETOOLONG;
        }
    }
    if (b->err != 0) {
        free(b->buf);
        res->kind = DECIDE_TEMP;
        res->why = "no-memory";
        res->reply = nomem_reply;
        res->owned = NULL;
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    }
    res->kind = kind;
    res->why = why;
    res->reply = res->owned = b->buf;
    return 0;
}

/* reply_fixed - a reply made of one string */
static int reply_fixed(struct decide_result *res, enum decide_kind kind, const char *text,
                       const char *why, struct mxtls_diag *diag)
{
    struct sbuf b = {0};

    sb_str(&b, text);
    return finish(res, &b, kind, why, diag);
}

/* reply_dns_temp - "TEMP <what> lookup for [_<port>._tcp.]<name>: <failure>" */
static int reply_dns_temp(struct decide_result *res, const char *what, unsigned port,
                          const char *name, enum decide_dns status, const char *why_bogus,
                          const char *why_failed, struct mxtls_diag *diag)
{
    struct sbuf b = {0};

    sb_str(&b, "TEMP ");
    sb_str(&b, what);
    sb_str(&b, " lookup for ");
    if (port != 0) {
        sb_str(&b, "_");
        sb_uint(&b, port);
        sb_str(&b, "._tcp.");
    }
    sb_str(&b, name);
    if (status == DECIDE_DNS_BOGUS)
        sb_str(&b, ": DNSSEC validation failed (bogus)");
    else
        sb_str(&b, ": lookup failed (SERVFAIL or timeout)");
    return finish(res, &b, DECIDE_TEMP, status == DECIDE_DNS_BOGUS ? why_bogus : why_failed, diag);
}

/* dns_in_range - whether an enum decide_dns value is one of its members */
static bool dns_in_range(enum decide_dns s)
{
    return s == DECIDE_DNS_SECURE || s == DECIDE_DNS_INSECURE || s == DECIDE_DNS_BOGUS ||
           s == DECIDE_DNS_FAILED;
}

/* check_name - a host name the reply may carry must be in normal form */
static int check_name(const char *name, const char *what, struct mxtls_diag *diag)
{
    char norm[DOMAIN_BUF_SIZE];
    struct mxtls_diag d = {0};

    if (name == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s is NULL", what);
    /* Names end up inside the reply: anything but a normalised LDH name
     * (spaces, braces, upper case) could change what Postfix reads. */
    if (domain_normalize(name, strlen(name), norm, sizeof(norm), &d) < 0 || strcmp(norm, name) != 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s is not a normalised host name%s%s", what,
                              d.what[0] ? ": " : "", d.what);
    return 0;
}

/* check_policy - a policy the reply is built from must be well-formed */
static int check_policy(const struct sts_policy *p, struct mxtls_diag *diag)
{
    size_t i;

    if (p->mode != STS_MODE_NONE && p->mode != STS_MODE_TESTING && p->mode != STS_MODE_ENFORCE)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "MTA-STS policy mode out of range");
    if (p->n_mx > STS_POLICY_MX_MAX || (p->n_mx > 0 && p->mx == NULL))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "MTA-STS policy mx list malformed");
    for (i = 0; i < p->n_mx; i++) {
        char norm[DOMAIN_BUF_SIZE];

        if (p->mx[i] == NULL ||
            domain_pattern_normalize(p->mx[i], strlen(p->mx[i]), norm, sizeof(norm), NULL) < 0 ||
            strcmp(norm, p->mx[i]) != 0)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                  "MTA-STS policy mx pattern %zu is not normalised", i);
    }
    return 0;
}

/* check_facts - the contract of decide_facts; anything else is a caller bug */
static int check_facts(const struct decide_facts *f, struct mxtls_diag *diag)
{
    size_t i;
    int err;

    if ((err = check_name(f->domain, "domain", diag)) < 0)
        return err;
    if (f->mx != DECIDE_MX_HOSTS && f->mx != DECIDE_MX_NODATA && f->mx != DECIDE_MX_NXDOMAIN &&
        f->mx != DECIDE_MX_NULL && f->mx != DECIDE_MX_BRACKETED)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "MX answer kind out of range");
    if (f->mx != DECIDE_MX_BRACKETED && !dns_in_range(f->mx_dns))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "MX lookup status out of range");
    if (f->n_hosts > DECIDE_HOSTS_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "more than %d hosts", DECIDE_HOSTS_MAX);
    if (f->n_hosts > 0 && f->hosts == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "hosts is NULL");
    /* NODATA and [host] name exactly one host; DANE needs its facts. */
    if ((f->mx == DECIDE_MX_NODATA || f->mx == DECIDE_MX_BRACKETED) && f->n_hosts > 1)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "more than one host without an MX RRset");
    if ((f->mx == DECIDE_MX_BRACKETED ||
         (f->mx == DECIDE_MX_NODATA && f->mx_dns == DECIDE_DNS_SECURE)) &&
        f->n_hosts == 0 && f->zone.dane)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "no facts for the host itself");
    for (i = 0; i < f->n_hosts; i++) {
        const struct decide_host *h = &f->hosts[i];

        if ((err = check_name(h->name, "host name", diag)) < 0)
            return err;
        /* RFC 5321 §5.1: without MX records the domain itself is the host. */
        if (f->mx == DECIDE_MX_NODATA && strcmp(h->name, f->domain) != 0)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "NODATA host %s is not the domain",
                                  h->name);
        if (!dns_in_range(h->addr) || !dns_in_range(h->tlsa))
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "host %s: lookup status out of range",
                                  h->name);
        if (h->n_usable > h->n_tlsa)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                  "host %s: more usable TLSA records than records", h->name);
    }
    switch (f->sts.state) {
    case DECIDE_STS_NO_RECORD:
        break;
    case DECIDE_STS_POLICY:
        if (f->sts.policy == NULL)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "MTA-STS policy state without a policy");
        break;
    case DECIDE_STS_RESOLVER_FAILED:
        break;
    case DECIDE_STS_FAILED:
        if (f->sts.failure != DECIDE_STS_FETCH_ERROR &&
            f->sts.failure != DECIDE_STS_POLICY_INVALID &&
            f->sts.failure != DECIDE_STS_WEBPKI_INVALID)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "MTA-STS failure type out of range");
        break;
    default:
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "MTA-STS state out of range");
    }
    if (f->sts.state != DECIDE_STS_NO_RECORD && f->sts.policy != NULL)
        return check_policy(f->sts.policy, diag);
    return 0;
}

/* DANE's verdict over all hosts (step 2), unless a lookup failure ends it. */
struct dane_view {
    bool some_tlsa;  /* some host has a secure, non-empty TLSA RRset */
    bool all_usable; /* every host is DANE-usable (and there is one) */
};

/*
 * dane_eval - step 2. Returns 1 and fills *v, or returns what finish() returned
 * (0 or negative) after writing a TEMP reply into res.
 */
static int dane_eval(const struct decide_facts *f, struct dane_view *v, struct decide_result *res,
                     struct mxtls_diag *diag)
{
    size_t i, usable = 0;

    v->some_tlsa = v->all_usable = false;
    if (!f->zone.dane) {
        res->dane_why = "dane-off";
        return 1;
    }
    /* RFC 7672 §2.2.1: MX hosts from an insecure MX RRset (or an insecure
     * NODATA) may be forged, so their TLSA records prove nothing; DESIGN.md
     * step 2 uses the RFC's "MAY" the strict way: no DANE at all. */
    if (f->mx != DECIDE_MX_BRACKETED && f->mx_dns != DECIDE_DNS_SECURE) {
        res->dane_why = "mx-insecure";
        return 1;
    }
    /* An empty host list makes "every host DANE-usable" vacuously true: that
     * must not become dane-only. */
    if (f->n_hosts == 0) {
        res->dane_why = "no-hosts";
        return 1;
    }
    for (i = 0; i < f->n_hosts; i++) {
        const struct decide_host *h = &f->hosts[i];

        /* Fail closed (RFC 7672 §2.1.1): a bogus or failed lookup may hide
         * DANE; deferring is the only answer that cannot be downgraded. */
        if (h->addr == DECIDE_DNS_BOGUS || h->addr == DECIDE_DNS_FAILED)
            return reply_dns_temp(res, "address", 0, h->name, h->addr, "addr-bogus", "addr-failed",
                                  diag);
        /* RFC 7672 §2.2.2: an insecure address lookup means no TLSA lookup:
         * the host is not DANE-capable. */
        if (h->addr == DECIDE_DNS_INSECURE)
            continue;
        if (h->tlsa == DECIDE_DNS_BOGUS || h->tlsa == DECIDE_DNS_FAILED)
            return reply_dns_temp(res, "TLSA", f->port ? f->port : 25, h->name, h->tlsa,
                                  "tlsa-bogus", "tlsa-failed", diag);
        /* RFC 7672 §2.2: insecure TLSA records, or a secure NODATA/NXDOMAIN
         * (n_tlsa == 0), leave the host without DANE. */
        if (h->tlsa != DECIDE_DNS_SECURE || h->n_tlsa == 0)
            continue;
        /* RFC 7672 §2.2: a secure non-empty TLSA RRset means TLS is required
         * even when no record is usable (§3.1); only usable ones authenticate. */
        v->some_tlsa = true;
        if (h->n_usable > 0)
            usable++;
    }
    v->all_usable = usable == f->n_hosts;
    res->dane_why = v->all_usable ? "all-usable" : v->some_tlsa ? "some-tlsa" : "no-tlsa";
    return 1;
}

/* add_tlsrpt - step 5: Postfix 3.10 TLSRPT attributes for an STS policy */
static void add_tlsrpt(struct sbuf *b, const char *domain, const struct sts_policy *p)
{
    char *text;
    const char *line, *end;
    size_t i;

    /* TLSRPT_README "MTA-STS Support via smtp_tls_policy_maps". */
    sb_str(b, " policy_type=sts policy_domain=");
    sb_str(b, domain);
    if ((text = sts_policy_format(p)) == NULL) {
        if (b->err == 0)
            b->err = MXTLS_ENOMEM;
        return;
    }
    /* One { policy_string = <line> } per policy line (RFC 8460 §4.4
     * "policy-string"); braces protect the space after the colon. */
    for (line = text + strspn(text, "\r\n"); *line != '\0'; line = end + strspn(end, "\r\n")) {
        end = line + strcspn(line, "\r\n");
        sb_str(b, " { policy_string = ");
        sb_add(b, line, (size_t)(end - line));
        sb_str(b, " }");
    }
    free(text);
    for (i = 0; i < p->n_mx; i++) {
        sb_str(b, " mx_host_pattern=");
        sb_str(b, p->mx[i]);
    }
}

/*
 * sts_answer - step 4 (and 5): the MTA-STS answer. Sets res->sts_source and
 * returns what finish() returns.
 */
static int sts_answer(const struct decide_facts *f, struct decide_result *res,
                      struct mxtls_diag *diag)
{
    const struct sts_policy *p = f->sts.policy;
    struct sbuf b = {0};
    const char *why;
    size_t i;

    switch (f->sts.state) {
    case DECIDE_STS_NO_RECORD:
        res->sts_source = "none";
        return reply_fixed(res, DECIDE_NOTFOUND, "NOTFOUND ", "sts-no-record", diag);
    case DECIDE_STS_FAILED:
        /* RFC 8461 §3.3: without a valid cached policy, deliver as though the
         * domain had no MTA-STS. No policy_failure attribute: Postfix would
         * fail the delivery with it (TLSRPT_README), and NOTFOUND carries no
         * attributes anyway. */
        if (p == NULL) {
            res->sts_source = "none";
            return reply_fixed(res, DECIDE_NOTFOUND, "NOTFOUND ", "sts-failed", diag);
        }
        /* RFC 8461 §3.3, §5.1: a failed refresh applies the cached policy. */
        res->sts_source = "cache-after-failure";
        break;
    case DECIDE_STS_RESOLVER_FAILED:
        /* A published record (§3.1) whose policy host our own resolver could
         * not look up: the §3.3 "no policy" fallback is for a policy host
         * that fails, not for our DNS. Defer rather than deliver without the
         * policy the domain announced (issue 17 item 2); a cached policy
         * still applies (§5.1). */
        if (p != NULL) {
            res->sts_source = "cache-after-failure";
            break;
        }
        res->sts_source = "none";
        sb_str(&b, "TEMP MTA-STS policy for ");
        sb_str(&b, f->domain);
        sb_str(&b, " not available: local DNS failure looking up mta-sts.");
        sb_str(&b, f->domain);
        return finish(res, &b, DECIDE_TEMP, "sts-resolver-failed", diag);
    default:
        res->sts_source = f->sts.cached ? "cache" : "fetched";
        break;
    }
    if (p->mode == STS_MODE_NONE)
        return reply_fixed(res, DECIDE_NOTFOUND, "NOTFOUND ", "sts-none", diag);
    /* RFC 8461 §5.2: "testing" never blocks delivery, so Postfix gets no
     * policy, unless the operator asked for strict_testing. */
    if (p->mode == STS_MODE_TESTING && !f->zone.strict_testing)
        return reply_fixed(res, DECIDE_NOTFOUND, "NOTFOUND ", "sts-testing", diag);
    why = p->mode == STS_MODE_ENFORCE ? "sts-enforce" : "sts-testing-strict";
    /* RFC 8461 §4.1: with no mx pattern no MX host is a valid candidate, so an
     * enforced policy cannot deliver anywhere: defer. */
    if (p->n_mx == 0) {
        sb_str(&b, "TEMP MTA-STS policy for ");
        sb_str(&b, f->domain);
        sb_str(&b, " lists no mx host");
        return finish(res, &b, DECIDE_TEMP, "sts-no-mx", diag);
    }
    sb_str(&b, "OK secure match=");
    for (i = 0; i < p->n_mx; i++) {
        const char *m = p->mx[i];

        if (i > 0)
            sb_str(&b, ":"); /* postconf(5): match= patterns separate with ":" */
        /* "*.example.com" (RFC 8461 §4.1) is ".example.com" in Postfix's
         * match syntax: any subdomain. */
        sb_str(&b, m[0] == '*' ? m + 1 : m);
    }
    /* RFC 8461 §4.3 wants SNI; "hostname" sends the MX host name. */
    if (f->zone.require_sni)
        sb_str(&b, " servername=hostname");
    if (f->zone.tlsrpt)
        add_tlsrpt(&b, f->domain, p);
    return finish(res, &b, DECIDE_OK, why, diag);
}

/* decide - the decision rules of DESIGN.md, steps 1-5 */
int decide(const struct decide_facts *f, struct decide_result *res, struct mxtls_diag *diag)
{
    struct mxtls_diag d = {0};
    struct dane_view v;
    int err;

    res->kind = DECIDE_TEMP;
    res->reply = NULL;
    res->owned = NULL;
    res->why = "invalid-facts";
    res->dane_why = "not-reached";
    res->sts_source = "not-used";

    if ((err = check_facts(f, &d)) < 0) {
        struct sbuf b = {0};

        /* Fail closed: a caller bug must not turn into a weaker policy. */
        sb_str(&b, "TEMP mxtlsd: invalid facts: ");
        sb_str(&b, d.what);
        if (finish(res, &b, DECIDE_TEMP, "invalid-facts", diag) == MXTLS_ENOMEM)
            return MXTLS_ENOMEM;
        return mxtls_diag_set(diag, err, d.offset, "%s", d.what);
    }

    /* Step 1: the MX lookup. A bracketed next-hop has none (DESIGN.md). */
    if (f->mx != DECIDE_MX_BRACKETED) {
        if (f->mx_dns == DECIDE_DNS_BOGUS || f->mx_dns == DECIDE_DNS_FAILED)
            return reply_dns_temp(res, "MX", 0, f->domain, f->mx_dns, "mx-bogus", "mx-failed",
                                  diag);
        if (f->mx == DECIDE_MX_NXDOMAIN)
            return reply_fixed(res, DECIDE_NOTFOUND, "NOTFOUND ", "mx-nxdomain", diag);
        /* RFC 7505 §3: a null MX domain accepts no mail; nothing to secure. */
        if (f->mx == DECIDE_MX_NULL)
            return reply_fixed(res, DECIDE_NOTFOUND, "NOTFOUND ", "mx-null", diag);
    }

    /* Step 2: DANE per host. */
    if ((err = dane_eval(f, &v, res, diag)) != 1)
        return err;

    /* Step 3. RFC 7672 §2.2 + Postfix: dane-only defers any host without a
     * usable TLSA record, so it is right only when all of them have one. */
    if (v.all_usable)
        return reply_fixed(res, DECIDE_OK, "OK dane-only", "dane-only", diag);
    err = sts_answer(f, res, diag);
    /* RFC 8461 §2 puts DANE first; DESIGN.md step 3 lets an enforced MTA-STS
     * policy cover a mixed domain, since "dane" would leave its non-TLSA
     * hosts unauthenticated. Otherwise "dane": Postfix authenticates where
     * TLSA is usable and still requires TLS where it is not. */
    if (!v.some_tlsa || res->kind != DECIDE_NOTFOUND)
        return err;
    decide_result_finish(res);
    return reply_fixed(res, DECIDE_OK, "OK dane", "dane", diag);
}

/*
 * The rules decide() names in res->why, each with what it means for a
 * reader of `mxtls query` (decide.h "why"). Every why decide() sets is here.
 */
static const struct {
    const char *name, *text;
} rules[] = {
    {"invalid-facts", "the facts broke the decision's contract (an mxtlsd bug)"},
    {"no-memory", "mxtlsd ran out of memory"},
    {"too-long", "the policy does not fit a socketmap reply"},
    {"mx-bogus", "the MX answer failed DNSSEC validation: deliveries wait"},
    {"mx-failed", "the MX lookup failed (SERVFAIL, timeout): deliveries wait"},
    {"mx-nxdomain", "the domain does not exist"},
    {"mx-null", "the domain accepts no mail (null MX, RFC 7505)"},
    {"addr-bogus", "an MX host's address failed DNSSEC validation: deliveries wait"},
    {"addr-failed", "an MX host's address lookup failed: deliveries wait"},
    {"tlsa-bogus", "a TLSA RRset failed DNSSEC validation: deliveries wait (RFC 7672 §2.2)"},
    {"tlsa-failed", "a TLSA lookup failed: deliveries wait (RFC 7672 §2.2)"},
    {"dane-only", "every MX host has a usable TLSA record: DANE (RFC 7672)"},
    {"dane", "some MX host has secure TLSA records: TLS required, DANE where usable"},
    {"sts-enforce", "MTA-STS policy in enforce mode (RFC 8461 §5)"},
    {"sts-testing-strict", "MTA-STS testing policy, enforced (zone strict_testing)"},
    {"sts-testing", "MTA-STS testing policy: reported, not enforced (RFC 8461 §5)"},
    {"sts-none", "MTA-STS policy mode none"},
    {"sts-no-record", "no DANE, no MTA-STS record and nothing cached"},
    {"sts-failed", "no DANE; the MTA-STS policy could not be had and nothing is cached"},
    {"sts-no-mx", "the MTA-STS policy lists no mx host"},
    {"sts-resolver-failed", "MTA-STS record published, but our resolver failed to look up "
                            "its policy host: deferred for a bounded time"},
};

/* decide_rule_text - what a rule named in decide_result.why means */
const char *decide_rule_text(const char *why)
{
    if (why == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (strcmp(rules[i].name, why) == 0)
            return rules[i].text;
    return NULL;
}

/* decide_result_finish - release the reply */
void decide_result_finish(struct decide_result *res)
{
    if (res == NULL)
        return;
    free(res->owned);
    res->owned = NULL;
    res->reply = NULL;
}
