/*
 * check_eval - the rules of `mxtls check` (issue 11): gathered facts in,
 * findings and the facts' JSON out. Pure (no I/O, no clock); the severities
 * of every id are listed in mxtls(1), FINDINGS. Out of memory aborts
 * (check.h).
 */
#include "check_facts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mxtls/sts_match.h"
#include "smtp_probe.h"

#define ONE_DAY 86400

/* free_addr - release one probed address */
static void free_addr(struct check_addr *a)
{
    free(a->address);
    free(a->stage_name);
    free(a->reason);
    free(a->banner);
    free(a->tls_version);
    free(a->cipher);
    for (size_t i = 0; i < a->n_chain; i++) {
        free(a->chain_subject[i]);
        free(a->chain_issuer[i]);
    }
    free(a->dane_reason);
    free(a->webpki_reason);
}

/* check_facts_finish - see check_facts.h */
void check_facts_finish(struct check_facts *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n_hosts; i++) {
        struct check_host *h = &f->hosts[i];
        free(h->name);
        free(h->a_why);
        free(h->aaaa_why);
        free(h->canon);
        for (size_t k = 0; k < h->n_addr; k++)
            free_addr(&h->addr[k]);
        free(h->tlsa_name);
        free(h->tlsa_why);
        for (size_t k = 0; k < h->n_tlsa; k++) {
            free(h->tlsa[k].text);
            free(h->tlsa[k].why);
            if (h->tlsa_parsed != NULL)
                tlsa_finish(&h->tlsa_parsed[k]);
        }
        free(h->tlsa);
        free(h->tlsa_parsed);
    }
    free(f->hosts);
    free(f->domain);
    free(f->mx_why);
    struct check_sts *s = &f->sts;
    free(s->txt_why);
    free(s->record_why);
    free(s->id);
    free(s->fetch_why);
    free(s->policy_addr);
    free(s->policy_why);
    if (s->policy_ok)
        sts_policy_finish(&s->policy);
    free(f->tlsrpt.why);
    free(f->tlsrpt.err_why);
    tlsrpt_record_free(f->tlsrpt.record);
    memset(f, 0, sizeof(*f));
}

/* ------------------------------------------------------------ helpers */

/* dns_name - the DNSSEC status as shown: "secure", "insecure", "bogus", "failed" */
static const char *dns_name(enum decide_dns d)
{
    switch (d) {
    case DECIDE_DNS_SECURE:
        return "secure";
    case DECIDE_DNS_INSECURE:
        return "insecure";
    case DECIDE_DNS_BOGUS:
        return "bogus";
    case DECIDE_DNS_FAILED:
        break;
    }
    return "failed";
}

/* iso - a unix time as "2026-12-02T07:13:35Z" into buf */
static const char *iso(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "%lld", (long long)t);
    return buf;
}

/* jstr - a JSON string (cleaned: text from the network) or null */
static json_t *jstr(const char *s)
{
    if (s == NULL)
        return json_null();
    char *copy = strdup(s);
    if (copy == NULL)
        abort();
    check_clean_text(copy);
    json_t *j = json_string(copy);
    free(copy);
    return j != NULL ? j : json_null();
}

/* jtime - a JSON time string, or null for 0 */
static json_t *jtime(int64_t t)
{
    char buf[32];
    return t != 0 ? json_string(iso(t, buf, sizeof(buf))) : json_null();
}

/* days_left - whole days from now until t (negative when past) */
static long days_left(int64_t t, int64_t now)
{
    int64_t d = t - now;
    return (long)(d >= 0 ? d / ONE_DAY : -((-d + ONE_DAY - 1) / ONE_DAY));
}

/* Context shared by the rules of one evaluation. */
struct eval {
    const struct check_facts *f;
    struct check_report *r;
    int64_t now;
    unsigned warn_days;
    bool sts_published; /* some v=STSv1 record */
    bool enforce, testing;
    bool dane_any;
};

/* rrsig_rule - rrsig-expiring when an RRset's signatures expire within warn_days */
static void rrsig_rule(struct eval *e, int64_t expire, const char *what, const char *host)
{
    if (expire == 0)
        return;
    long days = days_left(expire, e->now);
    if (expire - e->now > (int64_t)e->warn_days * ONE_DAY)
        return;
    char when[32];
    check_add(e->r, "rrsig-expiring", CHECK_SEV_WARNING, host, NULL,
              "the RRSIG of the %s RRset expires %s (in %ld day%s): re-sign the zone before "
              "validating resolvers call it bogus",
              what, iso(expire, when, sizeof(when)), days, days == 1 ? "" : "s");
}

/* host_matched - whether the policy's mx patterns match host (RFC 8461 §4.1) */
static bool host_matched(const struct check_sts *s, const char *host)
{
    return s->policy_ok && sts_policy_match(&s->policy, host, strlen(host)) == 1;
}

/* tls_sev - how bad a host without working STARTTLS is: critical when DANE or
 * an enforce policy requires TLS there, a warning otherwise */
static enum check_severity tls_sev(const struct eval *e, const struct check_host *h)
{
    if (h->dane || e->enforce)
        return CHECK_SEV_CRITICAL;
    return CHECK_SEV_WARNING;
}

/* ------------------------------------------------------------ MX and hosts */

/* eval_mx - the MX RRset (RFC 5321 §5.1, RFC 7505, RFC 7672 §2.2.1) */
static void eval_mx(struct eval *e)
{
    const struct check_facts *f = e->f;
    switch (f->mx_dns) {
    case DECIDE_DNS_FAILED:
        check_add(e->r, "mx-lookup-failed", CHECK_SEV_UNKNOWN, NULL, NULL,
                  "the MX lookup failed: %s", f->mx_why ? f->mx_why : "no answer");
        return;
    case DECIDE_DNS_BOGUS:
        check_add(e->r, "mx-bogus", CHECK_SEV_CRITICAL, NULL, NULL,
                  "the MX answer is DNSSEC-bogus (%s): validating senders defer all mail",
                  f->mx_why ? f->mx_why : "validation failed");
        return;
    case DECIDE_DNS_SECURE:
    case DECIDE_DNS_INSECURE:
        break;
    }
    switch (f->mx) {
    case DECIDE_MX_NXDOMAIN:
        check_add(e->r, "mx-nxdomain", CHECK_SEV_CRITICAL, NULL, NULL,
                  "the domain does not exist (NXDOMAIN): mail to it bounces");
        return;
    case DECIDE_MX_NULL:
        check_add(e->r, "mx-null", CHECK_SEV_INFO, NULL, NULL,
                  "null MX \"0 .\": the domain accepts no mail (RFC 7505)");
        return;
    case DECIDE_MX_NODATA:
        check_add(e->r, "mx-implicit", CHECK_SEV_INFO, NULL, NULL,
                  "no MX RRset: senders deliver to the domain's own address (RFC 5321 §5.1)");
        break;
    case DECIDE_MX_HOSTS:
    case DECIDE_MX_BRACKETED:
        break;
    }
    if (f->mx_dns == DECIDE_DNS_INSECURE && f->scope == CHECK_SCOPE_ALL)
        check_add(e->r, "mx-insecure", CHECK_SEV_INFO, NULL, NULL,
                  "the MX RRset is not DNSSEC-signed: senders cannot use DANE for this domain "
                  "(RFC 7672 §2.2.1)");
    if (f->n_mx_targets > f->n_hosts)
        check_add(e->r, "mx-hosts-capped", CHECK_SEV_INFO, NULL, NULL,
                  "%zu MX hosts: only the first %zu (by preference) were checked", f->n_mx_targets,
                  f->n_hosts);
    rrsig_rule(e, f->mx_rrsig, "MX", NULL);
}

/* eval_tlsa - one host's TLSA RRset (RFC 7672 §2.2, §3.1; RFC 7671 §8.1) */
static void eval_tlsa(struct eval *e, const struct check_host *h)
{
    const char *n = h->name;
    if (!h->tlsa_looked)
        return;
    switch (h->tlsa_dns) {
    case DECIDE_DNS_FAILED:
        check_add(e->r, "tlsa-lookup-failed", CHECK_SEV_UNKNOWN, n, NULL,
                  "the TLSA lookup of %s failed: %s", h->tlsa_name ? h->tlsa_name : n,
                  h->tlsa_why ? h->tlsa_why : "no answer");
        return;
    case DECIDE_DNS_BOGUS:
        check_add(e->r, "tlsa-bogus", CHECK_SEV_CRITICAL, n, NULL,
                  "the TLSA answer for %s is DNSSEC-bogus (%s): DANE senders defer mail to "
                  "this host",
                  h->tlsa_name ? h->tlsa_name : n, h->tlsa_why ? h->tlsa_why : "");
        return;
    case DECIDE_DNS_INSECURE:
    case DECIDE_DNS_SECURE:
        break;
    }
    if (h->n_tlsa == 0) {
        if (e->dane_any)
            check_add(e->r, "tlsa-none", CHECK_SEV_INFO, n, NULL, "no TLSA records at %s",
                      h->tlsa_name ? h->tlsa_name : n);
        return;
    }
    if (!h->dane) {
        const char *why = h->tlsa_dns != DECIDE_DNS_SECURE ? "the TLSA RRset is not signed"
                          : e->f->mx_dns != DECIDE_DNS_SECURE
                              ? "the MX RRset is not signed"
                              : "the host's address records are not signed";
        check_add(e->r, "tlsa-ignored", CHECK_SEV_WARNING, n, NULL,
                  "%zu TLSA record%s at %s that senders ignore: %s (RFC 7672 §2.2)", h->n_tlsa,
                  h->n_tlsa == 1 ? "" : "s", h->tlsa_name ? h->tlsa_name : n, why);
        return;
    }
    rrsig_rule(e, h->tlsa_rrsig, "TLSA", n);
    if (h->n_usable == 0) {
        check_add(e->r, "tlsa-unusable-only", CHECK_SEV_WARNING, n, NULL,
                  "none of the %zu TLSA records is usable for SMTP (%s): senders require TLS "
                  "but authenticate nothing (RFC 7672 §3.1)",
                  h->n_tlsa, h->tlsa[0].why ? h->tlsa[0].why : "unusable");
        return;
    }
    for (size_t k = 0; k < h->n_tlsa; k++)
        if (!h->tlsa[k].usable)
            check_add(e->r, "tlsa-unusable-record", CHECK_SEV_INFO, n, NULL,
                      "TLSA record %s is unusable and ignored: %s",
                      h->tlsa[k].text ? h->tlsa[k].text : "(malformed)",
                      h->tlsa[k].why ? h->tlsa[k].why : "");
    if (h->n_usable == 1)
        check_add(e->r, "tlsa-single-record", CHECK_SEV_INFO, n, NULL,
                  "a single usable TLSA record: no next key is pre-published, so the next "
                  "rotation needs a publish-wait-deploy cycle (RFC 7671 §8.1)");
}

/* eval_probe - what one address presented (RFC 3207, RFC 7672 §3, RFC 8461 §4.2) */
static void eval_probe(struct eval *e, const struct check_host *h, const struct check_addr *a)
{
    const char *n = h->name, *ad = a->address;
    const char *why = a->reason ? a->reason : "";
    if (a->timed_out && a->stage != SMTP_PROBE_CONNECT && a->stage != SMTP_PROBE_DONE) {
        /* RFC 5321 §4.5.3.2 gives senders minutes per step: our deadline
         * proves nothing about them, so this is "could not find out". */
        check_add(e->r, "smtp-timeout", CHECK_SEV_UNKNOWN, n, ad,
                  "no answer within the probe's deadline (%s stage): %s",
                  a->stage_name ? a->stage_name : "?", why);
        return;
    }
    switch ((enum smtp_probe_stage)a->stage) {
    case SMTP_PROBE_CONNECT:
        check_add(e->r, "smtp-connect-failed", CHECK_SEV_UNKNOWN, n, ad,
                  "cannot connect to port 25: %s", why);
        return;
    case SMTP_PROBE_BANNER:
        check_add(e->r, "smtp-banner-failed", CHECK_SEV_CRITICAL, n, ad, "no SMTP greeting: %s",
                  why);
        return;
    case SMTP_PROBE_EHLO:
        check_add(e->r, "smtp-ehlo-failed", CHECK_SEV_CRITICAL, n, ad, "EHLO failed: %s", why);
        return;
    case SMTP_PROBE_NO_STARTTLS:
        check_add(e->r, "starttls-missing", tls_sev(e, h), n, ad, "STARTTLS is not offered%s",
                  h->dane      ? ": DANE senders defer mail"
                  : e->enforce ? ": enforce senders defer mail"
                               : ": mail arrives in plaintext");
        return;
    case SMTP_PROBE_STARTTLS:
        check_add(e->r, "starttls-refused", tls_sev(e, h), n, ad,
                  "STARTTLS is offered but refused: %s", why);
        return;
    case SMTP_PROBE_HANDSHAKE:
        check_add(
            e->r, "tls-handshake-failed", tls_sev(e, h), n, ad, "%s%s",
            strncmp(why, "TLS handshake failed", 20) == 0 ? "" : "TLS handshake failed: ", why);
        return;
    case SMTP_PROBE_DONE:
        break;
    }
    if (a->dane_checked) {
        if (a->dane_matched) {
            const char *rec = a->dane_record >= 0 && (size_t)a->dane_record < h->n_tlsa &&
                                      h->tlsa[a->dane_record].text != NULL
                                  ? h->tlsa[a->dane_record].text
                                  : "?";
            check_add(e->r, "dane-verified", CHECK_SEV_INFO, n, ad,
                      "TLSA %.80s matched the certificate at depth %d", rec, a->dane_depth);
        } else {
            check_add(e->r, "tlsa-no-match", CHECK_SEV_CRITICAL, n, ad,
                      "no TLSA record matches the presented certificate%s%s: DANE senders "
                      "defer mail",
                      a->dane_reason && *a->dane_reason ? ": " : "",
                      a->dane_reason ? a->dane_reason : "");
        }
    }
    if (!a->webpki_chain_ok || !a->webpki_name_ok) {
        bool matched = host_matched(&e->f->sts, n);
        enum check_severity sev = e->enforce && matched   ? CHECK_SEV_CRITICAL
                                  : e->testing && matched ? CHECK_SEV_WARNING
                                                          : CHECK_SEV_INFO;
        check_add(e->r, "cert-webpki-invalid", sev, n, ad,
                  "the certificate is not WebPKI-valid for %s: %s%s", n,
                  a->webpki_reason ? a->webpki_reason : "verification failed",
                  sev == CHECK_SEV_CRITICAL  ? " (MTA-STS enforce senders defer mail)"
                  : sev == CHECK_SEV_WARNING ? " (MTA-STS testing senders report it)"
                                             : "");
    }
    if (a->leaf_not_after != 0) {
        long days = days_left(a->leaf_not_after, e->now);
        char when[32];
        iso(a->leaf_not_after, when, sizeof(when));
        if (a->leaf_not_after <= e->now)
            check_add(e->r, "cert-expired", CHECK_SEV_WARNING, n, ad, "the certificate expired %s",
                      when);
        else if (a->leaf_not_after - e->now <= (int64_t)e->warn_days * ONE_DAY)
            check_add(e->r, "cert-expiring", CHECK_SEV_WARNING, n, ad,
                      "the certificate expires %s (in %ld day%s)", when, days,
                      days == 1 ? "" : "s");
    }
    check_add(e->r, "tls-ok", CHECK_SEV_INFO, n, ad, "STARTTLS: %s %s",
              a->tls_version ? a->tls_version : "?", a->cipher ? a->cipher : "?");
}

/* eval_host - one MX host's addresses, TLSA and probes */
static void eval_host(struct eval *e, const struct check_host *h, bool domain_has_addr)
{
    const char *n = h->name;
    const struct {
        enum decide_dns dns;
        const char *why, *type;
        int64_t rrsig;
    } look[2] = {{h->a_dns, h->a_why, "A", h->a_rrsig},
                 {h->aaaa_dns, h->aaaa_why, "AAAA", h->aaaa_rrsig}};
    bool failed = false;
    for (int i = 0; i < 2; i++) {
        if (look[i].dns == DECIDE_DNS_FAILED) {
            check_add(e->r, "addr-lookup-failed", CHECK_SEV_UNKNOWN, n, NULL,
                      "the %s lookup failed: %s", look[i].type, look[i].why ? look[i].why : "");
            failed = true;
        } else if (look[i].dns == DECIDE_DNS_BOGUS) {
            check_add(e->r, "addr-bogus", CHECK_SEV_CRITICAL, n, NULL,
                      "the %s answer is DNSSEC-bogus (%s): validating senders defer mail to "
                      "this host",
                      look[i].type, look[i].why ? look[i].why : "");
            failed = true;
        } else {
            char what[16];
            snprintf(what, sizeof(what), "%s", look[i].type);
            rrsig_rule(e, look[i].rrsig, what, n);
        }
    }
    if (!failed && h->n_addr_found == 0)
        check_add(e->r, "addr-none", domain_has_addr ? CHECK_SEV_WARNING : CHECK_SEV_CRITICAL, n,
                  NULL, "the MX host has no A or AAAA record");
    if (!failed && e->f->mx_dns == DECIDE_DNS_SECURE &&
        (h->a_dns == DECIDE_DNS_INSECURE || h->aaaa_dns == DECIDE_DNS_INSECURE) &&
        h->n_addr_found > 0)
        check_add(e->r, "addr-insecure", CHECK_SEV_INFO, n, NULL,
                  "the host's address records are not DNSSEC-signed: no DANE for it "
                  "(RFC 7672 §2.2.2)");
    eval_tlsa(e, h);
    for (size_t k = 0; k < h->n_addr; k++)
        if (h->addr[k].probed)
            eval_probe(e, h, &h->addr[k]);
    if (h->n_addr_found > h->n_addr)
        check_add(e->r, "addr-capped", CHECK_SEV_INFO, n, NULL,
                  "%zu addresses: only the first %zu were probed", h->n_addr_found, h->n_addr);
}

/* ------------------------------------------------------------ MTA-STS */

/* eval_sts - the _mta-sts record, the policy, and the MX RRset against it (RFC 8461) */
static void eval_sts(struct eval *e)
{
    const struct check_facts *f = e->f;
    const struct check_sts *s = &f->sts;
    if (!s->looked)
        return;
    if (s->txt_dns == DECIDE_DNS_FAILED) {
        check_add(e->r, "sts-lookup-failed", CHECK_SEV_UNKNOWN, NULL, NULL,
                  "the _mta-sts TXT lookup failed: %s", s->txt_why ? s->txt_why : "");
        return;
    }
    if (s->txt_dns == DECIDE_DNS_BOGUS) {
        check_add(e->r, "sts-record-bogus", CHECK_SEV_CRITICAL, NULL, NULL,
                  "the _mta-sts TXT answer is DNSSEC-bogus (%s): validating senders see no "
                  "MTA-STS record",
                  s->txt_why ? s->txt_why : "");
        return;
    }
    rrsig_rule(e, s->txt_rrsig, "_mta-sts TXT", NULL);
    if (s->record_err == MXTLS_ENOTFOUND) {
        check_add(e->r, "sts-none", CHECK_SEV_INFO, NULL, NULL, "%s",
                  s->record_why && *s->record_why ? s->record_why : "no MTA-STS record");
    } else if (s->record_err == MXTLS_EMULTIPLE) {
        check_add(e->r, "sts-record-multiple", CHECK_SEV_CRITICAL, NULL, NULL,
                  "%zu v=STSv1 TXT records at _mta-sts.%s: senders ignore them all "
                  "(RFC 8461 §3.1)",
                  s->n_stsv1, f->domain);
    } else if (s->record_err != 0) {
        check_add(e->r, "sts-record-invalid", CHECK_SEV_CRITICAL, NULL, NULL,
                  "the _mta-sts TXT record is invalid (RFC 8461 §3.1): %s; senders ignore it",
                  s->record_why ? s->record_why : "");
    }
    if (s->fetch_unknown) {
        check_add(e->r, "sts-policy-host-lookup-failed", CHECK_SEV_UNKNOWN, NULL, NULL,
                  "cannot look up mta-sts.%s: %s", f->domain, s->fetch_why ? s->fetch_why : "");
        return;
    }
    if (s->fetch_tried && !s->fetch_ok) {
        check_add(e->r, "sts-policy-fetch-failed", CHECK_SEV_CRITICAL, NULL, NULL,
                  "the policy https://mta-sts.%s/.well-known/mta-sts.txt cannot be fetched: %s",
                  f->domain, s->fetch_why ? s->fetch_why : "");
        return;
    }
    if (s->fetch_ok && !s->policy_ok) {
        check_add(e->r, "sts-policy-invalid", CHECK_SEV_CRITICAL, NULL, NULL,
                  "the policy is invalid (RFC 8461 §3.2): %s", s->policy_why ? s->policy_why : "");
        return;
    }
    if (!s->policy_ok)
        return;
    const struct sts_policy *p = &s->policy;
    check_add(e->r, "sts-policy", CHECK_SEV_INFO, NULL, NULL,
              "policy id %s: mode %s, max_age %u, %zu mx pattern%s", s->id ? s->id : "(none)",
              sts_mode_name(p->mode), (unsigned)p->max_age, p->n_mx, p->n_mx == 1 ? "" : "s");
    if (p->mode == STS_MODE_TESTING)
        check_add(e->r, "sts-testing", CHECK_SEV_INFO, NULL, NULL,
                  "mode testing: senders report failures but deliver anyway");
    else if (p->mode == STS_MODE_NONE)
        check_add(e->r, "sts-mode-none", CHECK_SEV_INFO, NULL, NULL,
                  "mode none: the policy is withdrawn, senders apply nothing");
    if (p->max_age < ONE_DAY)
        check_add(e->r, "sts-max-age-short", CHECK_SEV_WARNING, NULL, NULL,
                  "max_age %u is under one day: senders forget the policy between visits "
                  "(RFC 8461 §3.2 suggests weeks)",
                  (unsigned)p->max_age);
    if (f->mx_dns == DECIDE_DNS_FAILED || f->mx_dns == DECIDE_DNS_BOGUS ||
        f->mx == DECIDE_MX_NXDOMAIN || f->mx == DECIDE_MX_NULL)
        return;
    enum check_severity sev = p->mode == STS_MODE_ENFORCE   ? CHECK_SEV_CRITICAL
                              : p->mode == STS_MODE_TESTING ? CHECK_SEV_WARNING
                                                            : CHECK_SEV_INFO;
    for (size_t i = 0; i < f->n_hosts; i++) {
        const char *n = f->hosts[i].name;
        if (!host_matched(s, n))
            check_add(e->r, "sts-mx-unmatched", sev, n, NULL,
                      "MX host %s matches no mx pattern of the policy%s (RFC 8461 §4.1)", n,
                      p->mode == STS_MODE_ENFORCE   ? ": enforce senders will not deliver to it"
                      : p->mode == STS_MODE_TESTING ? ": testing senders report it"
                                                    : "");
    }
    for (size_t k = 0; k < p->n_mx; k++) {
        bool used = false;
        for (size_t i = 0; i < f->n_hosts && !used; i++)
            used = sts_match_host(p->mx[k], f->hosts[i].name, strlen(f->hosts[i].name)) == 1;
        if (!used)
            check_add(e->r, "sts-pattern-unused", CHECK_SEV_INFO, NULL, NULL,
                      "policy pattern mx: %s matches no MX host", p->mx[k]);
    }
}

/* eval_tlsrpt - the _smtp._tls record (RFC 8460 §3) */
static void eval_tlsrpt(struct eval *e)
{
    const struct check_tlsrpt *t = &e->f->tlsrpt;
    if (!t->looked)
        return;
    bool publishes = e->dane_any || e->sts_published;
    enum check_severity sev = publishes ? CHECK_SEV_WARNING : CHECK_SEV_INFO;
    const char *tail = publishes ? ": nobody hears about failed deliveries" : "";
    if (t->dns == DECIDE_DNS_FAILED) {
        check_add(e->r, "tlsrpt-lookup-failed", publishes ? CHECK_SEV_UNKNOWN : CHECK_SEV_INFO,
                  NULL, NULL, "the _smtp._tls TXT lookup failed: %s", t->why ? t->why : "");
        return;
    }
    if (t->dns == DECIDE_DNS_BOGUS) {
        check_add(e->r, "tlsrpt-invalid", sev, NULL, NULL,
                  "the _smtp._tls TXT answer is DNSSEC-bogus (%s)%s", t->why ? t->why : "", tail);
        return;
    }
    if (t->err == MXTLS_ENOTFOUND) {
        check_add(e->r, "tlsrpt-missing", sev, NULL, NULL, "no TLS-RPT record at _smtp._tls.%s%s",
                  e->f->domain, tail);
        return;
    }
    if (t->err != 0 || t->record == NULL) {
        check_add(e->r, "tlsrpt-invalid", sev, NULL, NULL,
                  "the TLS-RPT record is invalid (RFC 8460 §3): %s%s", t->err_why ? t->err_why : "",
                  tail);
        return;
    }
    check_add(e->r, "tlsrpt-ok", CHECK_SEV_INFO, NULL, NULL, "TLS-RPT reports go to %s%s",
              t->record->rua[0].uri, t->record->n_rua > 1 ? " and more" : "");
}

/* ------------------------------------------------------------ facts as JSON */

/* addr_json - one probed address */
static json_t *addr_json(const struct check_host *h, const struct check_addr *a, int64_t now)
{
    json_t *o = json_object();
    json_object_set_new(o, "address", json_string(a->address));
    json_object_set_new(o, "probed", json_boolean(a->probed));
    if (!a->probed)
        return o;
    json_object_set_new(o, "stage", jstr(a->stage_name));
    json_object_set_new(o, "error", jstr(a->reason));
    json_object_set_new(o, "timed_out", json_boolean(a->timed_out));
    json_object_set_new(o, "banner", jstr(a->banner));
    json_object_set_new(o, "starttls", json_boolean(a->starttls));
    json_object_set_new(o, "tls_version", jstr(a->tls_version));
    json_object_set_new(o, "cipher", jstr(a->cipher));
    json_t *chain = json_array();
    for (size_t i = 0; i < a->n_chain; i++)
        json_array_append_new(chain, json_pack("{s:o, s:o}", "subject", jstr(a->chain_subject[i]),
                                               "issuer", jstr(a->chain_issuer[i])));
    json_object_set_new(o, "chain", chain);
    json_object_set_new(o, "leaf_not_after", jtime(a->leaf_not_after));
    json_object_set_new(o, "leaf_days_left",
                        a->leaf_not_after != 0 ? json_integer(days_left(a->leaf_not_after, now))
                                               : json_null());
    if (a->dane_checked) {
        const char *rec = a->dane_record >= 0 && (size_t)a->dane_record < h->n_tlsa
                              ? h->tlsa[a->dane_record].text
                              : NULL;
        json_object_set_new(o, "dane",
                            json_pack("{s:b, s:o, s:o, s:o}", "matched", a->dane_matched, "record",
                                      jstr(a->dane_matched ? rec : NULL), "depth",
                                      a->dane_matched ? json_integer(a->dane_depth) : json_null(),
                                      "error", jstr(a->dane_matched ? NULL : a->dane_reason)));
    } else {
        json_object_set_new(o, "dane", json_null());
    }
    if (a->stage == SMTP_PROBE_DONE)
        json_object_set_new(o, "webpki",
                            json_pack("{s:b, s:b, s:o}", "chain_ok", a->webpki_chain_ok, "name_ok",
                                      a->webpki_name_ok, "error", jstr(a->webpki_reason)));
    return o;
}

/* host_json - one MX host */
static json_t *host_json(const struct check_facts *f, const struct check_host *h, int64_t now)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(h->name));
    json_object_set_new(o, "preference", json_integer(h->pref));
    if (f->scope == CHECK_SCOPE_STS) {
        json_object_set_new(o, "sts_matched", json_boolean(host_matched(&f->sts, h->name)));
        return o;
    }
    json_object_set_new(o, "canonical", jstr(h->canon));
    json_object_set_new(o, "a_dnssec", json_string(dns_name(h->a_dns)));
    json_object_set_new(o, "aaaa_dnssec", json_string(dns_name(h->aaaa_dns)));
    int64_t rr = h->a_rrsig;
    if (h->aaaa_rrsig != 0 && (rr == 0 || h->aaaa_rrsig < rr))
        rr = h->aaaa_rrsig;
    json_object_set_new(o, "addr_rrsig_expires", jtime(rr));
    if (h->tlsa_looked) {
        json_t *recs = json_array();
        for (size_t k = 0; k < h->n_tlsa; k++)
            json_array_append_new(recs, json_pack("{s:o, s:b, s:o}", "record",
                                                  jstr(h->tlsa[k].text), "usable",
                                                  h->tlsa[k].usable, "why", jstr(h->tlsa[k].why)));
        json_object_set_new(o, "tlsa",
                            json_pack("{s:o, s:s, s:o, s:o}", "name", jstr(h->tlsa_name), "dnssec",
                                      dns_name(h->tlsa_dns), "rrsig_expires", jtime(h->tlsa_rrsig),
                                      "records", recs));
    } else {
        json_object_set_new(o, "tlsa", json_null());
    }
    json_object_set_new(o, "dane", json_boolean(h->dane));
    if (f->sts.policy_ok)
        json_object_set_new(o, "sts_matched", json_boolean(host_matched(&f->sts, h->name)));
    json_t *addrs = json_array();
    for (size_t k = 0; k < h->n_addr; k++)
        json_array_append_new(addrs, addr_json(h, &h->addr[k], now));
    json_object_set_new(o, "addresses", addrs);
    return o;
}

/* mx_kind - the MX answer kind as shown */
static const char *mx_kind(enum decide_mx m)
{
    switch (m) {
    case DECIDE_MX_HOSTS:
        return "hosts";
    case DECIDE_MX_NODATA:
        return "implicit";
    case DECIDE_MX_NXDOMAIN:
        return "nxdomain";
    case DECIDE_MX_NULL:
        return "null";
    case DECIDE_MX_BRACKETED:
        break;
    }
    return "hosts";
}

/* facts_json - the facts as r->facts' members */
static void facts_json(const struct eval *e)
{
    const struct check_facts *f = e->f;
    json_t *root = e->r->facts;
    json_t *hosts = json_array();
    for (size_t i = 0; i < f->n_hosts; i++)
        json_array_append_new(hosts, host_json(f, &f->hosts[i], e->now));
    bool ok = f->mx_dns == DECIDE_DNS_SECURE || f->mx_dns == DECIDE_DNS_INSECURE;
    json_object_set_new(root, "mx",
                        json_pack("{s:s, s:o, s:o, s:o, s:o}", "dnssec", dns_name(f->mx_dns),
                                  "kind", ok ? json_string(mx_kind(f->mx)) : json_null(), "error",
                                  jstr(f->mx_why), "rrsig_expires", jtime(f->mx_rrsig), "hosts",
                                  hosts));
    const struct check_sts *s = &f->sts;
    if (s->looked) {
        json_t *policy = json_null();
        if (s->fetch_tried || s->fetch_unknown) {
            json_t *mx = json_array();
            for (size_t k = 0; s->policy_ok && k < s->policy.n_mx; k++)
                json_array_append_new(mx, json_string(s->policy.mx[k]));
            policy = json_pack(
                "{s:b, s:o, s:o, s:o, s:o, s:o, s:o}", "fetched", s->fetch_ok, "address",
                jstr(s->policy_addr), "http_status",
                s->http_status ? json_integer(s->http_status) : json_null(), "error",
                jstr(!s->fetch_ok    ? s->fetch_why
                     : !s->policy_ok ? s->policy_why
                                     : NULL),
                "mode", s->policy_ok ? json_string(sts_mode_name(s->policy.mode)) : json_null(),
                "max_age", s->policy_ok ? json_integer(s->policy.max_age) : json_null(), "mx", mx);
        }
        json_t *unmatched = json_array(), *unused = json_array();
        if (s->policy_ok && f->mx != DECIDE_MX_NULL && f->mx != DECIDE_MX_NXDOMAIN) {
            for (size_t i = 0; i < f->n_hosts; i++)
                if (!host_matched(s, f->hosts[i].name))
                    json_array_append_new(unmatched, json_string(f->hosts[i].name));
            for (size_t k = 0; k < s->policy.n_mx; k++) {
                bool used = false;
                for (size_t i = 0; i < f->n_hosts && !used; i++)
                    used = sts_match_host(s->policy.mx[k], f->hosts[i].name,
                                          strlen(f->hosts[i].name)) == 1;
                if (!used)
                    json_array_append_new(unused, json_string(s->policy.mx[k]));
            }
        }
        json_object_set_new(root, "mta_sts",
                            json_pack("{s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o}", "txt_dnssec",
                                      dns_name(s->txt_dns), "stsv1_records", (json_int_t)s->n_stsv1,
                                      "id", jstr(s->id), "record_error",
                                      jstr(s->record_err ? s->record_why : NULL), "rrsig_expires",
                                      jtime(s->txt_rrsig), "policy", policy, "mx_unmatched",
                                      unmatched, "patterns_unused", unused));
    }
    const struct check_tlsrpt *t = &f->tlsrpt;
    if (t->looked) {
        json_t *rua = json_array();
        char *text = t->record != NULL ? tlsrpt_record_format(t->record) : NULL;
        for (size_t k = 0; t->record != NULL && k < t->record->n_rua; k++)
            json_array_append_new(rua, json_string(t->record->rua[k].uri));
        json_object_set_new(
            root, "tlsrpt",
            json_pack("{s:s, s:o, s:o, s:o}", "dnssec", dns_name(t->dns), "record", jstr(text),
                      "rua", rua, "error",
                      jstr(t->dns == DECIDE_DNS_FAILED || t->dns == DECIDE_DNS_BOGUS ? t->why
                           : t->err                                                  ? t->err_why
                                                                                     : NULL)));
        free(text);
    }
}

/* check_eval - see check_facts.h */
void check_eval(const struct check_facts *f, int64_t now, unsigned warn_days,
                struct check_report *r)
{
    struct eval e = {.f = f, .r = r, .now = now, .warn_days = warn_days};
    e.sts_published = f->sts.looked && f->sts.n_stsv1 > 0;
    e.enforce = f->sts.policy_ok && f->sts.policy.mode == STS_MODE_ENFORCE;
    e.testing = f->sts.policy_ok && f->sts.policy.mode == STS_MODE_TESTING;
    size_t n_dane = 0, n_addr_hosts = 0;
    for (size_t i = 0; i < f->n_hosts; i++) {
        n_dane += f->hosts[i].dane;
        n_addr_hosts += f->hosts[i].n_addr_found > 0;
    }
    e.dane_any = n_dane > 0;

    eval_mx(&e);
    bool mx_usable = (f->mx_dns == DECIDE_DNS_SECURE || f->mx_dns == DECIDE_DNS_INSECURE) &&
                     (f->mx == DECIDE_MX_HOSTS || f->mx == DECIDE_MX_NODATA);
    if (f->scope == CHECK_SCOPE_ALL && mx_usable) {
        for (size_t i = 0; i < f->n_hosts; i++)
            eval_host(&e, &f->hosts[i], n_addr_hosts > 0);
        if (n_dane > 0 && n_dane < f->n_hosts) {
            char list[400] = "";
            size_t used = 0;
            for (size_t i = 0; i < f->n_hosts && used < sizeof(list); i++)
                if (!f->hosts[i].dane)
                    used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
                                             used ? ", " : "", f->hosts[i].name);
            check_add(r, "dane-partial", CHECK_SEV_WARNING, NULL, NULL,
                      "DANE on %zu of %zu MX hosts; not on %s: an attacker can steer mail to "
                      "those",
                      n_dane, f->n_hosts, list);
        }
    }
    eval_sts(&e);
    eval_tlsrpt(&e);
    facts_json(&e);
}
