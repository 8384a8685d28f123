/*
 * test_check - the verdict rules of `mxtls check` (src/mxtls/check_eval.c,
 * check.c; issue 11). Each row starts from one healthy domain (one MX host
 * with DANE 3 1 1 and 2 1 1, an MTA-STS enforce policy matching it, a TLS-RPT
 * record, everything far from expiry), changes one fact, and states the
 * status and the finding ids that must (or, with '!', must not) appear.
 * Plus the model: status order, JSON shape, text grouping, cleaning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "check.h"
#include "check_facts.h"
#include "dns.h"
#include "smtp_probe.h"

#define NOW  1800000000LL
#define DAY  86400LL
#define FAR  (NOW + 300 * DAY)
#define SOON (NOW + 3 * DAY)
#define PAST (NOW - 3 * DAY)

/* xs - strdup or abort */
static char *xs(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        abort();
    return p;
}

/* add_tlsa - a parsed record on host h */
static void add_tlsa(struct check_host *h, const char *text, bool usable)
{
    size_t n = h->n_tlsa + 1;
    h->tlsa = realloc(h->tlsa, n * sizeof(*h->tlsa));
    h->tlsa_parsed = realloc(h->tlsa_parsed, n * sizeof(*h->tlsa_parsed));
    if (h->tlsa == NULL || h->tlsa_parsed == NULL)
        abort();
    h->tlsa[h->n_tlsa] = (struct check_tlsa_rr){xs(text), usable, xs(usable ? "usable" : "no")};
    memset(&h->tlsa_parsed[h->n_tlsa], 0, sizeof(h->tlsa_parsed[0]));
    h->n_tlsa = n;
    h->n_usable += usable;
}

/* probe_ok - a completed probe with DANE matched and WebPKI valid */
static void probe_ok(struct check_addr *a, const char *address)
{
    a->address = xs(address);
    a->probed = true;
    a->stage = SMTP_PROBE_DONE;
    a->stage_name = xs("done");
    a->starttls = true;
    a->tls_version = xs("TLSv1.3");
    a->cipher = xs("TLS_AES_256_GCM_SHA384");
    a->leaf_not_after = FAR;
    a->dane_checked = true;
    a->dane_matched = true;
    a->dane_record = 0;
    a->dane_depth = 0;
    a->webpki_chain_ok = a->webpki_name_ok = true;
}

/* add_host - a healthy host: secure addresses, DANE, probed */
static struct check_host *add_host(struct check_facts *f, const char *name)
{
    f->hosts = realloc(f->hosts, (f->n_hosts + 1) * sizeof(*f->hosts));
    if (f->hosts == NULL)
        abort();
    struct check_host *h = &f->hosts[f->n_hosts++];
    memset(h, 0, sizeof(*h));
    f->n_mx_targets = f->n_hosts;
    h->name = xs(name);
    h->pref = 10;
    h->a_dns = h->aaaa_dns = DECIDE_DNS_SECURE;
    h->a_rrsig = FAR;
    h->n_addr = h->n_addr_found = 1;
    probe_ok(&h->addr[0], "192.0.2.1");
    h->tlsa_looked = true;
    h->tlsa_name = xs("_25._tcp.mx.example.com");
    h->tlsa_dns = DECIDE_DNS_SECURE;
    h->tlsa_rrsig = FAR;
    add_tlsa(h, "3 1 1 aa", true);
    add_tlsa(h, "2 1 1 bb", true);
    h->dane = true;
    return h;
}

/* healthy - the baseline domain */
static void healthy(struct check_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->domain = xs("example.com");
    f->scope = CHECK_SCOPE_ALL;
    f->mx_dns = DECIDE_DNS_SECURE;
    f->mx = DECIDE_MX_HOSTS;
    f->mx_rrsig = FAR;
    add_host(f, "mx.example.com");
    struct check_sts *s = &f->sts;
    s->looked = true;
    s->txt_dns = DECIDE_DNS_INSECURE;
    s->n_stsv1 = 1;
    s->id = xs("1");
    s->fetch_tried = s->fetch_ok = true;
    s->http_status = 200;
    const char *body = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 604800\n";
    struct mxtls_diag d = {0};
    if (sts_policy_parse(body, strlen(body), &s->policy, &d) != 0)
        abort();
    s->policy_ok = true;
    f->tlsrpt.looked = true;
    f->tlsrpt.dns = DECIDE_DNS_INSECURE;
    const char *rec = "v=TLSRPTv1; rua=mailto:r@example.com";
    if (tlsrpt_record_parse(rec, strlen(rec), &f->tlsrpt.record, &d) != 0)
        abort();
}

/* set_policy - replace the policy with body */
static void set_policy(struct check_facts *f, const char *body)
{
    struct mxtls_diag d = {0};
    sts_policy_finish(&f->sts.policy);
    if (sts_policy_parse(body, strlen(body), &f->sts.policy, &d) != 0)
        abort();
}

/* ------------------------------------------------------------ mutations */

/* drop_tlsa - the host has no TLSA records (a secure NODATA) */
static void drop_tlsa(struct check_host *h)
{
    for (size_t k = 0; k < h->n_tlsa; k++) {
        free(h->tlsa[k].text);
        free(h->tlsa[k].why);
    }
    h->n_tlsa = h->n_usable = 0;
    h->dane = false;
    h->addr[0].dane_checked = false;
}

static void m_none(struct check_facts *f)
{
    (void)f;
}
static void m_tlsa_no_match(struct check_facts *f)
{
    f->hosts[0].addr[0].dane_matched = false;
    f->hosts[0].addr[0].dane_record = -1;
}
static void m_mx_bogus(struct check_facts *f)
{
    f->mx_dns = DECIDE_DNS_BOGUS;
    f->mx_why = xs("signature expired");
}
static void m_mx_failed(struct check_facts *f)
{
    f->mx_dns = DECIDE_DNS_FAILED;
    f->mx_why = xs("timeout after 4000 ms");
}
static void m_addr_bogus(struct check_facts *f)
{
    f->hosts[0].a_dns = DECIDE_DNS_BOGUS;
    f->hosts[0].dane = false;
}
static void m_tlsa_bogus(struct check_facts *f)
{
    f->hosts[0].tlsa_dns = DECIDE_DNS_BOGUS;
    f->hosts[0].dane = false;
}
static void m_starttls_dane(struct check_facts *f)
{
    set_policy(f, "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 604800\n");
    f->hosts[0].addr[0].stage = SMTP_PROBE_NO_STARTTLS;
}
static void m_starttls_enforce(struct check_facts *f)
{
    f->hosts[0].dane = false;
    f->hosts[0].tlsa_dns = DECIDE_DNS_INSECURE;
    f->hosts[0].addr[0].stage = SMTP_PROBE_NO_STARTTLS;
}
static void m_starttls_nothing(struct check_facts *f)
{
    drop_tlsa(&f->hosts[0]);
    f->sts.n_stsv1 = 0;
    f->sts.record_err = MXTLS_ENOTFOUND;
    f->sts.fetch_tried = f->sts.fetch_ok = f->sts.policy_ok = false;
    sts_policy_finish(&f->sts.policy);
    f->hosts[0].addr[0].stage = SMTP_PROBE_NO_STARTTLS;
}
static void m_unmatched_enforce(struct check_facts *f)
{
    add_host(f, "new.example.com");
}
static void m_unmatched_testing(struct check_facts *f)
{
    set_policy(f, "version: STSv1\nmode: testing\nmx: mx.example.com\nmx: old.example.com\n"
                  "max_age: 604800\n");
    add_host(f, "new.example.com");
}
static void m_webpki_enforce(struct check_facts *f)
{
    f->hosts[0].addr[0].webpki_name_ok = false;
}
static void m_webpki_no_sts(struct check_facts *f)
{
    m_webpki_enforce(f);
    f->sts.policy_ok = false;
    f->sts.fetch_tried = f->sts.fetch_ok = false;
    f->sts.n_stsv1 = 0;
    f->sts.record_err = MXTLS_ENOTFOUND;
    sts_policy_finish(&f->sts.policy);
}
static void m_fetch_failed(struct check_facts *f)
{
    sts_policy_finish(&f->sts.policy);
    f->sts.policy_ok = f->sts.fetch_ok = false;
    f->sts.fetch_why = xs("HTTP status 404");
}
static void m_policy_invalid(struct check_facts *f)
{
    sts_policy_finish(&f->sts.policy);
    f->sts.policy_ok = false;
    f->sts.policy_why = xs("mode");
}
static void m_record_multiple(struct check_facts *f)
{
    f->sts.record_err = MXTLS_EMULTIPLE;
    f->sts.n_stsv1 = 2;
}
static void m_record_invalid(struct check_facts *f)
{
    f->sts.record_err = MXTLS_EINVAL;
    f->sts.record_why = xs("bad id");
}
static void m_policy_host_unknown(struct check_facts *f)
{
    m_fetch_failed(f);
    f->sts.fetch_tried = false;
    f->sts.fetch_unknown = true;
}
static void m_cert_expiring(struct check_facts *f)
{
    f->hosts[0].addr[0].leaf_not_after = SOON;
}
static void m_cert_expired(struct check_facts *f)
{
    f->hosts[0].addr[0].leaf_not_after = PAST;
}
static void m_rrsig_mx(struct check_facts *f)
{
    f->mx_rrsig = SOON;
}
static void m_rrsig_tlsa(struct check_facts *f)
{
    f->hosts[0].tlsa_rrsig = SOON;
}
static void m_unusable_only(struct check_facts *f)
{
    struct check_host *h = &f->hosts[0];
    h->tlsa[0].usable = h->tlsa[1].usable = false;
    h->n_usable = 0;
    h->addr[0].dane_checked = false;
}
static void m_single_record(struct check_facts *f)
{
    struct check_host *h = &f->hosts[0];
    h->tlsa[1].usable = false;
    h->n_usable = 1;
}
static void m_dane_partial(struct check_facts *f)
{
    set_policy(f, "version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 604800\n");
    struct check_host *h = add_host(f, "mx2.example.com");
    drop_tlsa(h);
}
static void m_tlsrpt_missing(struct check_facts *f)
{
    tlsrpt_record_free(f->tlsrpt.record);
    f->tlsrpt.record = NULL;
    f->tlsrpt.err = MXTLS_ENOTFOUND;
}
static void m_tlsrpt_invalid(struct check_facts *f)
{
    m_tlsrpt_missing(f);
    f->tlsrpt.err = MXTLS_EINVAL;
    f->tlsrpt.err_why = xs("no rua");
}
static void m_tlsrpt_missing_nothing(struct check_facts *f)
{
    m_starttls_nothing(f);
    f->hosts[0].addr[0].stage = SMTP_PROBE_DONE;
    m_tlsrpt_missing(f);
}
static void m_max_age(struct check_facts *f)
{
    set_policy(f, "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 3600\n");
}
static void m_testing(struct check_facts *f)
{
    set_policy(f, "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 604800\n");
}
static void m_connect(struct check_facts *f)
{
    f->hosts[0].addr[0].stage = SMTP_PROBE_CONNECT;
    f->hosts[0].addr[0].reason = xs("connection timed out");
}
static void m_timeout(struct check_facts *f)
{
    f->hosts[0].addr[0].stage = SMTP_PROBE_BANNER;
    f->hosts[0].addr[0].timed_out = true;
    f->hosts[0].addr[0].reason = xs("timed out waiting for the 220 greeting");
}
static void m_null_mx(struct check_facts *f)
{
    f->mx = DECIDE_MX_NULL; /* the hosts' facts are then not read */
}
static void m_critical_and_unknown(struct check_facts *f)
{
    m_tlsa_no_match(f);
    f->tlsrpt.dns = DECIDE_DNS_FAILED;
}
static void m_tlsa_ignored(struct check_facts *f)
{
    f->mx_dns = DECIDE_DNS_INSECURE;
    f->hosts[0].dane = false;
    f->hosts[0].addr[0].dane_checked = false;
}

struct row {
    const char *rule;
    void (*mutate)(struct check_facts *);
    enum check_status status;
    const char *ids; /* space-separated; "!id" must be absent */
};

static const struct row rows[] = {
    {"healthy: DANE, enforce, TLS-RPT", m_none, CHECK_OK,
     "dane-verified tls-ok sts-policy tlsrpt-ok !tlsa-single-record"},
    {"no TLSA record matches (RFC 7672 §3)", m_tlsa_no_match, CHECK_CRITICAL, "tlsa-no-match"},
    {"MX answer bogus", m_mx_bogus, CHECK_CRITICAL, "mx-bogus"},
    {"MX lookup failed: unknown", m_mx_failed, CHECK_UNKNOWN, "mx-lookup-failed"},
    {"address answer bogus", m_addr_bogus, CHECK_CRITICAL, "addr-bogus"},
    {"TLSA answer bogus", m_tlsa_bogus, CHECK_CRITICAL, "tlsa-bogus"},
    {"no STARTTLS with TLSA (RFC 7672 §2.2)", m_starttls_dane, CHECK_CRITICAL, "starttls-missing"},
    {"no STARTTLS under enforce (RFC 8461 §4)", m_starttls_enforce, CHECK_CRITICAL,
     "starttls-missing"},
    {"no STARTTLS, nothing published: warning", m_starttls_nothing, CHECK_WARNING,
     "starttls-missing"},
    {"enforce, an MX no pattern matches (RFC 8461 §4.1)", m_unmatched_enforce, CHECK_CRITICAL,
     "sts-mx-unmatched"},
    {"testing, unmatched MX: warning; unused pattern: info", m_unmatched_testing, CHECK_WARNING,
     "sts-mx-unmatched sts-pattern-unused sts-testing"},
    {"enforce, certificate not WebPKI-valid (RFC 8461 §4.2)", m_webpki_enforce, CHECK_CRITICAL,
     "cert-webpki-invalid"},
    {"no MTA-STS, WebPKI-invalid: info", m_webpki_no_sts, CHECK_OK, "cert-webpki-invalid"},
    {"policy cannot be fetched (RFC 8461 §3.3)", m_fetch_failed, CHECK_CRITICAL,
     "sts-policy-fetch-failed"},
    {"policy cannot be parsed (RFC 8461 §3.2)", m_policy_invalid, CHECK_CRITICAL,
     "sts-policy-invalid"},
    {"two STSv1 records (RFC 8461 §3.1)", m_record_multiple, CHECK_CRITICAL, "sts-record-multiple"},
    {"an invalid STSv1 record (RFC 8461 §3.1)", m_record_invalid, CHECK_CRITICAL,
     "sts-record-invalid"},
    {"policy host lookup failed: unknown", m_policy_host_unknown, CHECK_UNKNOWN,
     "sts-policy-host-lookup-failed !sts-policy-fetch-failed"},
    {"leaf expiring within warn-days", m_cert_expiring, CHECK_WARNING, "cert-expiring"},
    {"leaf expired (DANE-EE still matches)", m_cert_expired, CHECK_WARNING, "cert-expired"},
    {"MX RRSIG expiring", m_rrsig_mx, CHECK_WARNING, "rrsig-expiring"},
    {"TLSA RRSIG expiring", m_rrsig_tlsa, CHECK_WARNING, "rrsig-expiring"},
    {"unusable TLSA records only (RFC 7672 §3.1)", m_unusable_only, CHECK_WARNING,
     "tlsa-unusable-only"},
    {"a single usable TLSA record (RFC 7671 §8.1): info", m_single_record, CHECK_OK,
     "tlsa-single-record tlsa-unusable-record"},
    {"DANE on some MX hosts only", m_dane_partial, CHECK_WARNING, "dane-partial tlsa-none"},
    {"DANE/STS without TLS-RPT (RFC 8460)", m_tlsrpt_missing, CHECK_WARNING, "tlsrpt-missing"},
    {"invalid TLS-RPT record (RFC 8460 §3)", m_tlsrpt_invalid, CHECK_WARNING, "tlsrpt-invalid"},
    {"no TLS-RPT, nothing published: info", m_tlsrpt_missing_nothing, CHECK_OK,
     "tlsrpt-missing sts-none"},
    {"max_age under one day", m_max_age, CHECK_WARNING, "sts-max-age-short"},
    {"testing mode: info", m_testing, CHECK_OK, "sts-testing"},
    {"connect failed: unknown", m_connect, CHECK_UNKNOWN, "smtp-connect-failed"},
    {"probe deadline (RFC 5321 §4.5.3.2 allows minutes): unknown", m_timeout, CHECK_UNKNOWN,
     "smtp-timeout !smtp-banner-failed"},
    {"null MX (RFC 7505): info", m_null_mx, CHECK_OK, "mx-null !sts-mx-unmatched"},
    {"critical outranks unknown", m_critical_and_unknown, CHECK_CRITICAL,
     "tlsa-no-match tlsrpt-lookup-failed"},
    {"TLSA behind an unsigned MX RRset is ignored (RFC 7672 §2.2.1)", m_tlsa_ignored, CHECK_WARNING,
     "tlsa-ignored mx-insecure !dane-verified"},
};

/* test_rule - one row */
static void test_rule(void **state)
{
    const struct row *row = *state;
    struct check_facts f;
    healthy(&f);
    row->mutate(&f);
    struct check_report *r = check_report_new(f.domain);
    check_eval(&f, NOW, 14, r);
    char ids[1024];
    snprintf(ids, sizeof(ids), "%s", row->ids);
    for (char *p = ids, *next; p != NULL && *p != '\0'; p = next) {
        next = strchr(p, ' ');
        if (next != NULL)
            *next++ = '\0';
        bool want = p[0] != '!';
        if (check_has(r, want ? p : p + 1) != want) {
            for (size_t i = 0; i < r->n_findings; i++)
                print_message("finding %s (%s): %s\n", r->findings[i].id,
                              check_severity_name(r->findings[i].severity), r->findings[i].message);
            fail_msg("%s: finding %s %s", row->rule, want ? p : p + 1,
                     want ? "missing" : "present");
        }
    }
    assert_string_equal(check_status_name(check_report_status(r)), check_status_name(row->status));
    /* Every report serialises, with the facts beside the findings. */
    json_t *o = check_report_json(r);
    assert_non_null(o);
    assert_non_null(json_object_get(o, "mx"));
    assert_non_null(json_object_get(o, "mta_sts"));
    json_decref(o);
    check_report_free(r);
    check_facts_finish(&f);
}

/* test_status_order - critical > warning > unknown > ok, info leaves it alone */
static void test_status_order(void **state)
{
    (void)state;
    assert_int_equal(check_status_worse(CHECK_OK, CHECK_UNKNOWN), CHECK_UNKNOWN);
    assert_int_equal(check_status_worse(CHECK_UNKNOWN, CHECK_WARNING), CHECK_WARNING);
    assert_int_equal(check_status_worse(CHECK_CRITICAL, CHECK_UNKNOWN), CHECK_CRITICAL);
    assert_int_equal(check_status_worse(CHECK_WARNING, CHECK_CRITICAL), CHECK_CRITICAL);
    struct check_report *r = check_report_new("example.com");
    check_add(r, "x-info", CHECK_SEV_INFO, NULL, NULL, "info");
    assert_int_equal(check_report_status(r), CHECK_OK);
    check_add(r, "x-unknown", CHECK_SEV_UNKNOWN, "h", NULL, "unknown");
    assert_int_equal(check_report_status(r), CHECK_UNKNOWN);
    check_add(r, "x-warn", CHECK_SEV_WARNING, "h", "192.0.2.1", "warn");
    assert_int_equal(check_report_status(r), CHECK_WARNING);
    check_report_free(r);
}

/* test_output - JSON members, text grouping by host, cleaning of network text */
static void test_output(void **state)
{
    (void)state;
    struct check_report *r = check_report_new("example.com");
    check_add(r, "a-one", CHECK_SEV_CRITICAL, "mx1.example.com", "192.0.2.1", "first");
    check_add(r, "b-two", CHECK_SEV_INFO, NULL, NULL, "domain-wide");
    check_add(r, "c-three", CHECK_SEV_WARNING, "mx1.example.com", NULL, "bad \x01\xff text");
    json_t *o = check_report_json(r);
    assert_string_equal(json_string_value(json_object_get(o, "domain")), "example.com");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "critical");
    json_t *f = json_array_get(json_object_get(o, "findings"), 2);
    assert_string_equal(json_string_value(json_object_get(f, "message")), "bad ?? text");
    assert_string_equal(json_string_value(json_object_get(f, "address")), "");
    json_decref(o);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (fp == NULL)
        abort();
    assert_int_equal(check_report_print_text(r, fp, false), 0);
    fclose(fp);
    assert_string_equal(buf, "example.com: critical\n"
                             "  example.com\n"
                             "    info     b-two: domain-wide\n"
                             "  mx1.example.com\n"
                             "    critical [192.0.2.1] a-one: first\n"
                             "    warning  c-three: bad ?? text\n");
    free(buf);
    check_report_free(r);
}

/* put32 - big-endian */
static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* test_rrsig_scan - io/dns.c's reading of the RRSIGs of an answer (RFC 4034 §3.1) */
static void test_rrsig_scan(void **state)
{
    (void)state;
    /* header: id, flags, QD 1, AN 3, NS 0, AR 0; question "a." MX IN */
    unsigned char pkt[200] = {0, 1, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0, 1, 'a', 0, 0, 15, 0, 1};
    size_t n = 19;
    /* answer 1: a. MX 10 a. (name compressed) */
    static const unsigned char mx[] = {0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0, 4, 0, 10, 0xc0, 12};
    memcpy(pkt + n, mx, sizeof(mx));
    n += sizeof(mx);
    /* answers 2 and 3: RRSIG covering MX, expirations NOW+10 days and NOW+3 days */
    for (int k = 0; k < 2; k++) {
        static const unsigned char head[] = {0xc0, 12, 0, 46, 0, 1, 0, 0, 0, 60, 0, 21};
        memcpy(pkt + n, head, sizeof(head));
        n += sizeof(head);
        unsigned char *rd = pkt + n;
        memset(rd, 0, 21);
        rd[1] = 15; /* type covered MX */
        rd[2] = 13; /* ECDSAP256SHA256 */
        put32(rd + 8, (uint32_t)(NOW + (k == 0 ? 10 : 3) * DAY));
        n += 21;
    }
    int64_t exp = -1;
    assert_int_equal(dns_rrsig_scan(pkt, n, NOW, &exp), 2);
    assert_true(exp == NOW + 3 * DAY);
    /* Truncated anywhere: nothing is claimed. */
    for (size_t cut = 0; cut < n; cut++) {
        assert_int_equal(dns_rrsig_scan(pkt, cut, NOW, &exp), 0);
        assert_true(exp == 0);
    }
    /* Serial number arithmetic (RFC 4034 §3.1.5): past 2106 from a 2100 clock. */
    int64_t later = 4200000000LL; /* past 2^32 */
    put32(pkt + n - 21 + 8, (uint32_t)(later + DAY));
    put32(pkt + n - 21 - 12 - 21 + 8, (uint32_t)(later + 2 * DAY));
    assert_int_equal(dns_rrsig_scan(pkt, n, later, &exp), 2);
    assert_true(exp == later + DAY);
}

int main(void)
{
    static struct unit_suite s;
    UNIT_ROWS(&s, test_rule, rows);
    unit_one(&s, "status order", test_status_order, NULL);
    unit_one(&s, "output", test_output, NULL);
    unit_one(&s, "RRSIG expiration from an answer (RFC 4034 §3.1.5)", test_rrsig_scan, NULL);
    return unit_run(&s, "check");
}
