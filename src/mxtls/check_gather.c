/*
 * check_gather - the facts of one domain from the network (see
 * check_gather.h). Every asynchronous step is a struct step counted in
 * g->pending; the gathering completes when the count reaches zero. One
 * extra count is held from check_gather_start until a zero-delay event
 * fires, so the callback never runs inside check_gather_start even when
 * every lookup is refused at once.
 */
#include "check_gather.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/x509.h>

#include "dns.h"
#include "fetch.h"
#include "mxtls/domain.h"
#include "mxtls/mx.h"
#include "mxtls/sts_record.h"
#include "mxtls/txt.h"
#include "smtp_probe.h"

#define SMTP_PORT 25

enum step_kind { ST_MX, ST_A, ST_AAAA, ST_TLSA, ST_STS_TXT, ST_STS_ADDR, ST_TLSRPT, ST_PROBE };

struct gather {
    struct check_env env;
    struct check_facts f;
    unsigned pending;
    check_gather_cb cb;
    void *arg;
    unsigned addr_left[CHECK_HOSTS_MAX]; /* address lookups of each host still out */
    bool tlsa_at_canon[CHECK_HOSTS_MAX];
    char sts_host[DOMAIN_BUF_SIZE + 8]; /* mta-sts.<domain> */
};

/* The argument of one asynchronous step. */
struct step {
    struct gather *g;
    enum step_kind kind;
    size_t host, addr;
};

/* xstrdup - strdup or abort; NULL stays NULL */
static char *xstrdup(const char *s)
{
    if (s == NULL)
        return NULL;
    char *p = strdup(s);
    if (p == NULL)
        abort();
    return p;
}

/* xprintf - a heap string from printf-style text, or abort */
__attribute__((format(printf, 1, 2))) static char *xprintf(const char *fmt, ...)
{
    char buf[CHECK_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return xstrdup(buf);
}

/* new_step - a step of g, counted as pending */
static struct step *new_step(struct gather *g, enum step_kind kind, size_t host, size_t addr)
{
    struct step *s = calloc(1, sizeof(*s));
    if (s == NULL)
        abort();
    *s = (struct step){g, kind, host, addr};
    g->pending++;
    return s;
}

/* step_done - one step finished: free it; the last one completes the gathering */
static void step_done(struct step *s)
{
    struct gather *g = s->g;
    free(s);
    if (--g->pending > 0)
        return;
    g->cb(&g->f, g->arg);
    check_facts_finish(&g->f);
    free(g);
}

static void on_answer(const struct dns_answer *a, void *arg);

/* lookup - start one DNS step; a refused lookup is answered as FAILED at once */
static void lookup(struct gather *g, enum step_kind kind, size_t host, const char *name, int rrtype)
{
    struct step *s = new_step(g, kind, host, 0);
    if (dns_query_start(g->env.dns, name, rrtype, g->env.dns_timeout_ms, on_answer, s, NULL) == 0)
        return;
    struct dns_answer a = {.qname = name,
                           .rrtype = rrtype,
                           .status = DECIDE_DNS_FAILED,
                           .rcode = -1,
                           .why = "the resolver refused the lookup"};
    on_answer(&a, s);
}

/* ------------------------------------------------------------ MX */

/* target_cmp - (preference, name), the order hosts are kept in (as core/dane.c) */
static int target_cmp(const void *x, const void *y)
{
    const struct check_host *a = x, *b = y;
    if (a->pref != b->pref)
        return a->pref < b->pref ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* start_host - the A and AAAA lookups of host i (RFC 7672 §2.2.1) */
static void start_host(struct gather *g, size_t i)
{
    g->addr_left[i] = 2;
    lookup(g, ST_A, i, g->f.hosts[i].name, DNS_RR_A);
    lookup(g, ST_AAAA, i, g->f.hosts[i].name, DNS_RR_AAAA);
}

/* on_mx - the MX RRset: its hosts (RFC 5321 §5.1, RFC 7505) */
static void on_mx(struct gather *g, const struct dns_answer *a)
{
    struct check_facts *f = &g->f;
    f->mx_dns = a->status;
    f->mx_rrsig = a->rrsig_expire;
    if (a->status == DECIDE_DNS_BOGUS || a->status == DECIDE_DNS_FAILED) {
        f->mx_why = xstrdup(a->why ? a->why : "");
        return;
    }
    if (a->nxdomain) {
        f->mx = DECIDE_MX_NXDOMAIN;
        return;
    }
    f->hosts = calloc(CHECK_HOSTS_MAX, sizeof(*f->hosts));
    if (f->hosts == NULL)
        abort();
    if (!a->havedata) {
        f->mx = DECIDE_MX_NODATA; /* RFC 5321 §5.1: the domain is its own host */
        f->hosts[0].name = xstrdup(f->domain);
        f->n_hosts = f->n_mx_targets = 1;
    } else {
        f->mx = DECIDE_MX_HOSTS;
        /* All targets, then the first CHECK_HOSTS_MAX by (preference, name). */
        struct check_host *t = calloc(a->n_rdata, sizeof(*t));
        if (t == NULL)
            abort();
        size_t n = 0;
        for (size_t i = 0; i < a->n_rdata; i++) {
            char name[DOMAIN_BUF_SIZE];
            uint16_t pref;
            struct mxtls_diag d = {0};
            int rc =
                mx_rdata_parse(a->rdata[i].data, a->rdata[i].len, &pref, name, sizeof(name), &d);
            if (rc == 1 && a->n_rdata == 1 && pref == 0) { /* RFC 7505 §3: null MX */
                f->mx = DECIDE_MX_NULL;
                break;
            }
            if (rc != 0)
                continue; /* "." among others, or not a host name: no host */
            size_t k = 0;
            while (k < n && strcmp(t[k].name, name) != 0)
                k++;
            if (k < n) {
                if (pref < t[k].pref)
                    t[k].pref = pref;
                continue;
            }
            t[n].name = xstrdup(name);
            t[n++].pref = pref;
        }
        qsort(t, n, sizeof(*t), target_cmp);
        f->n_mx_targets = n;
        f->n_hosts = n < CHECK_HOSTS_MAX ? n : CHECK_HOSTS_MAX;
        for (size_t i = 0; i < n; i++) {
            if (i < f->n_hosts)
                f->hosts[i] = t[i];
            else
                free(t[i].name);
        }
        free(t);
    }
    if (g->env.scope != CHECK_SCOPE_ALL)
        return;
    for (size_t i = 0; i < f->n_hosts; i++)
        start_host(g, i);
}

/* ------------------------------------------------------------ hosts */

/* start_tlsa - _25._tcp.<base> TLSA (RFC 7672 §2.2.3) */
static void start_tlsa(struct gather *g, size_t i, const char *base)
{
    struct check_host *h = &g->f.hosts[i];
    free(h->tlsa_name);
    h->tlsa_name = xprintf("_%u._tcp.%s", (unsigned)SMTP_PORT, base);
    h->tlsa_looked = true;
    char name[DOMAIN_BUF_SIZE + 16];
    snprintf(name, sizeof(name), "%s", h->tlsa_name);
    lookup(g, ST_TLSA, i, name, DNS_RR_TLSA);
}

/* on_addr - one of the address lookups of a host; the TLSA lookup after both */
static void on_addr(struct gather *g, size_t i, const struct dns_answer *a, bool is_a)
{
    struct check_host *h = &g->f.hosts[i];
    if (is_a) {
        h->a_dns = a->status;
        h->a_rrsig = a->rrsig_expire;
        if (a->why != NULL)
            h->a_why = xstrdup(a->why);
    } else {
        h->aaaa_dns = a->status;
        h->aaaa_rrsig = a->rrsig_expire;
        if (a->why != NULL)
            h->aaaa_why = xstrdup(a->why);
    }
    bool answer = a->status == DECIDE_DNS_SECURE || a->status == DECIDE_DNS_INSECURE;
    for (size_t k = 0; answer && k < a->n_rdata; k++) {
        char text[INET6_ADDRSTRLEN];
        int af = is_a ? AF_INET : AF_INET6;
        if (a->rdata[k].len != (is_a ? 4u : 16u) ||
            inet_ntop(af, a->rdata[k].data, text, sizeof(text)) == NULL)
            continue;
        h->n_addr_found++;
        if (h->n_addr < CHECK_ADDRS_MAX)
            h->addr[h->n_addr++].address = xstrdup(text);
    }
    if (answer && a->canonname != NULL && h->canon == NULL)
        h->canon = xstrdup(a->canonname);
    if (--g->addr_left[i] > 0)
        return;
    bool a_ok = h->a_dns == DECIDE_DNS_SECURE || h->a_dns == DECIDE_DNS_INSECURE;
    bool aaaa_ok = h->aaaa_dns == DECIDE_DNS_SECURE || h->aaaa_dns == DECIDE_DNS_INSECURE;
    if (!a_ok && !aaaa_ok)
        return; /* nothing to connect to and no answer to build on */
    /* RFC 7672 §2.2.2: through a CNAME, TLSA at the expanded name first. */
    g->tlsa_at_canon[i] = h->canon != NULL && strcmp(h->canon, h->name) != 0;
    start_tlsa(g, i, g->tlsa_at_canon[i] ? h->canon : h->name);
}

static void start_probes(struct gather *g, size_t i);

/* on_tlsa - a host's TLSA RRset (RFC 7672 §2.2, §3.1), then its probes */
static void on_tlsa(struct gather *g, size_t i, const struct dns_answer *a)
{
    struct check_host *h = &g->f.hosts[i];
    if (a->status == DECIDE_DNS_SECURE && !a->havedata && g->tlsa_at_canon[i]) {
        g->tlsa_at_canon[i] = false; /* RFC 7672 §2.2.2: then the original name */
        start_tlsa(g, i, h->name);
        return;
    }
    h->tlsa_dns = a->status;
    h->tlsa_rrsig = a->rrsig_expire;
    h->tlsa_nxdomain = a->nxdomain;
    if (a->why != NULL)
        h->tlsa_why = xstrdup(a->why);
    bool answer = a->status == DECIDE_DNS_SECURE || a->status == DECIDE_DNS_INSECURE;
    if (answer && a->n_rdata > 0) {
        h->tlsa = calloc(a->n_rdata, sizeof(*h->tlsa));
        h->tlsa_parsed = calloc(a->n_rdata, sizeof(*h->tlsa_parsed));
        if (h->tlsa == NULL || h->tlsa_parsed == NULL)
            abort();
        for (size_t k = 0; k < a->n_rdata; k++) {
            struct mxtls_diag d = {0};
            struct check_tlsa_rr *rr = &h->tlsa[k];
            /* RFC 7672 §2.2: a malformed record still counts, as an unusable one. */
            if (tlsa_parse_wire((const char *)a->rdata[k].data, a->rdata[k].len, &h->tlsa_parsed[k],
                                &d) == 0) {
                rr->usable = tlsa_usable(&h->tlsa_parsed[k], &d) == 0;
                rr->text = tlsa_format_text(&h->tlsa_parsed[k]);
            }
            rr->why = xstrdup(rr->usable ? "usable" : d.what);
            h->n_usable += rr->usable;
            h->n_tlsa++;
        }
    }
    /* RFC 7672 §2.2: DANE applies with a secure MX RRset (or implicit MX),
     * secure address records and a secure, non-empty TLSA RRset. */
    h->dane = g->f.mx_dns == DECIDE_DNS_SECURE && h->a_dns == DECIDE_DNS_SECURE &&
              h->aaaa_dns == DECIDE_DNS_SECURE && h->tlsa_dns == DECIDE_DNS_SECURE && h->n_tlsa > 0;
    start_probes(g, i);
}

/* ------------------------------------------------------------ probes */

/* name_text - an X509_NAME in one line (OpenSSL's oneline form), heap */
static char *name_text(const X509_NAME *n)
{
    char buf[512];
    if (n == NULL || X509_NAME_oneline(n, buf, sizeof(buf)) == NULL)
        return NULL;
    return xstrdup(buf);
}

/* on_probe - what one address presented */
static void on_probe(const struct smtp_probe_result *r, void *arg)
{
    struct step *s = arg;
    struct check_host *h = &s->g->f.hosts[s->host];
    struct check_addr *a = &h->addr[s->addr];
    a->probed = true;
    a->stage = (int)r->stage;
    a->stage_name = xstrdup(smtp_probe_stage_name(r->stage));
    a->reason = r->stage != SMTP_PROBE_DONE ? xstrdup(r->reason) : NULL;
    /* smtp_probe.c's deadline message also says so ("timed out waiting for ...") */
    a->timed_out =
        r->stage != SMTP_PROBE_DONE && (r->timed_out || strncmp(r->reason, "timed out", 9) == 0);
    a->banner = r->banner[0] ? xstrdup(r->banner) : NULL;
    a->starttls = r->starttls_offered;
    if (r->stage == SMTP_PROBE_DONE) {
        a->tls_version = xstrdup(r->tls_version);
        a->cipher = xstrdup(r->cipher);
        int n = r->chain != NULL ? sk_X509_num(r->chain) : 0;
        for (int k = 0; k < n && a->n_chain < CHECK_CHAIN_MAX; k++) {
            X509 *x = sk_X509_value(r->chain, k);
            a->chain_subject[a->n_chain] = name_text(X509_get_subject_name(x));
            a->chain_issuer[a->n_chain] = name_text(X509_get_issuer_name(x));
            a->n_chain++;
        }
        a->leaf_not_after = (int64_t)r->leaf_not_after;
        a->dane_checked = h->dane && h->n_usable > 0;
        a->dane_matched = r->dane_matched;
        a->dane_record = r->dane_record;
        a->dane_depth = r->dane_depth;
        a->dane_reason = r->dane_reason[0] ? xstrdup(r->dane_reason) : NULL;
        a->webpki_chain_ok = r->webpki_chain_ok;
        a->webpki_name_ok = r->webpki_name_ok;
        a->webpki_reason = r->webpki_reason[0] ? xstrdup(r->webpki_reason) : NULL;
    }
    step_done(s);
}

/* start_probes - one SMTP probe per address of host i (RFC 3207; RFC 7672 §3) */
static void start_probes(struct gather *g, size_t i)
{
    struct check_host *h = &g->f.hosts[i];
    for (size_t k = 0; k < h->n_addr; k++) {
        struct smtp_probe_request req = {
            .host = h->name,
            .address = h->addr[k].address,
            .port = SMTP_PORT,
            .tlsa = h->dane ? h->tlsa_parsed : NULL,
            .n_tlsa = h->dane ? h->n_tlsa : 0,
            .tlsa_base_alt = h->canon != NULL && strcmp(h->canon, h->name) != 0 ? h->canon : NULL,
            .ca_file = g->env.ca_file,
            .timeout_ms = g->env.probe_timeout_ms,
        };
        struct step *s = new_step(g, ST_PROBE, i, k);
        const char *err = "cannot start";
        if (smtp_probe_start(g->env.base, &req, on_probe, s, &err) != NULL)
            continue;
        struct smtp_probe_result r = {
            .stage = SMTP_PROBE_CONNECT, .dane_record = -1, .dane_depth = -1};
        snprintf(r.reason, sizeof(r.reason), "%s", err);
        on_probe(&r, s);
    }
}

/* ------------------------------------------------------------ MTA-STS and TLS-RPT */

/* rdata_set - the TXT RDATAs of an answer as lib/txt wants them (heap) */
static struct txt_rdata *rdata_set(const struct dns_answer *a)
{
    struct txt_rdata *rd = calloc(a->n_rdata ? a->n_rdata : 1, sizeof(*rd));
    if (rd == NULL)
        abort();
    for (size_t i = 0; i < a->n_rdata; i++) {
        rd[i].data = a->rdata[i].data;
        rd[i].len = a->rdata[i].len;
    }
    return rd;
}

/* count_stsv1 - TXT records that begin "v=STSv1;" (RFC 8461 §3.1's selection) */
static size_t count_stsv1(const struct txt_rdata *rd, size_t n)
{
    struct txt_record *recs = NULL;
    struct mxtls_diag d = {0};
    if (txt_rdata_join_set(rd, n, &recs, &d) < 0)
        return 0;
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += recs[i].len >= 8 && memcmp(recs[i].buf, "v=STSv1;", 8) == 0;
    free(recs);
    return count;
}

/* on_fetch - the policy (RFC 8461 §3.3, §3.2) */
static void on_fetch(const struct fetch_result *res, void *arg)
{
    struct step *s = arg;
    struct check_sts *st = &s->g->f.sts;
    st->http_status = res->http_status;
    if (!res->ok) {
        st->fetch_why = xstrdup(res->reason);
    } else {
        st->fetch_ok = true;
        struct mxtls_diag d = {0};
        if (sts_policy_parse(res->body, res->body_len, &st->policy, &d) == 0)
            st->policy_ok = true;
        else
            st->policy_why = xprintf("at offset %zu: %s", d.offset, d.what);
    }
    step_done(s);
}

/* on_sts_addr - the policy host's address from our resolver, then the fetch (as
 * core/sts_cache.c: A, then AAAA when there is no A record) */
static void on_sts_addr(struct gather *g, const struct dns_answer *a)
{
    struct check_sts *st = &g->f.sts;
    const char *type = a->rrtype == DNS_RR_A ? "A" : "AAAA";
    if (a->status == DECIDE_DNS_FAILED) {
        st->fetch_unknown = true;
        st->fetch_why = xprintf("%s %s lookup failed: %s", g->sts_host, type, a->why ? a->why : "");
        return;
    }
    st->fetch_tried = true;
    if (a->status == DECIDE_DNS_BOGUS) {
        st->fetch_why = xprintf("%s %s lookup bogus: %s", g->sts_host, type, a->why ? a->why : "");
        return;
    }
    if (!a->havedata) {
        if (a->rrtype == DNS_RR_A && !a->nxdomain) {
            st->fetch_tried = false;
            lookup(g, ST_STS_ADDR, 0, g->sts_host, DNS_RR_AAAA);
            return;
        }
        st->fetch_why = xprintf("%s has no address (%s)", g->sts_host,
                                a->nxdomain ? "NXDOMAIN" : "no A or AAAA record");
        return;
    }
    char addr[INET6_ADDRSTRLEN];
    int af = a->rrtype == DNS_RR_A ? AF_INET : AF_INET6;
    if (a->rdata[0].len != (af == AF_INET ? 4u : 16u) ||
        inet_ntop(af, a->rdata[0].data, addr, sizeof(addr)) == NULL) {
        st->fetch_why = xprintf("%s: malformed address record", g->sts_host);
        return;
    }
    st->policy_addr = xstrdup(addr);
    struct step *s = new_step(g, ST_STS_ADDR, 0, 0);
    int err = fetch_policy(g->env.fetch, g->f.domain, addr, g->env.dns_timeout_ms, on_fetch, s);
    if (err < 0) {
        st->fetch_why = xprintf("cannot start the HTTPS fetch (%s)", mxtls_strerror(err));
        step_done(s);
    }
}

/* on_sts_txt - the _mta-sts TXT RRset (RFC 8461 §3.1) */
static void on_sts_txt(struct gather *g, const struct dns_answer *a)
{
    struct check_sts *st = &g->f.sts;
    st->txt_dns = a->status;
    st->txt_rrsig = a->rrsig_expire;
    if (a->status == DECIDE_DNS_FAILED || a->status == DECIDE_DNS_BOGUS) {
        st->txt_why = xstrdup(a->why ? a->why : "");
        return;
    }
    struct txt_rdata *rd = rdata_set(a);
    struct sts_record rec;
    struct mxtls_diag d = {0};
    st->record_err = sts_record_select_rdata(rd, a->n_rdata, &rec, &d);
    st->n_stsv1 = count_stsv1(rd, a->n_rdata);
    free(rd);
    if (st->record_err == 0)
        st->id = xstrdup(rec.id);
    else
        st->record_why = xstrdup(d.what);
    if (st->n_stsv1 == 0)
        return;
    /* A published record: the policy must be there (even when the record is
     * broken, its fetch is shown: it is what the operator meant to publish). */
    snprintf(g->sts_host, sizeof(g->sts_host), "mta-sts.%s", g->f.domain);
    lookup(g, ST_STS_ADDR, 0, g->sts_host, DNS_RR_A);
}

/* on_tlsrpt - the _smtp._tls TXT RRset (RFC 8460 §3) */
static void on_tlsrpt(struct gather *g, const struct dns_answer *a)
{
    struct check_tlsrpt *t = &g->f.tlsrpt;
    t->dns = a->status;
    if (a->status == DECIDE_DNS_FAILED || a->status == DECIDE_DNS_BOGUS) {
        t->why = xstrdup(a->why ? a->why : "");
        return;
    }
    struct txt_rdata *rd = rdata_set(a);
    struct mxtls_diag d = {0};
    t->err = tlsrpt_record_select_rdata(rd, a->n_rdata, &t->record, &d);
    free(rd);
    if (t->err != 0)
        t->err_why = xstrdup(d.what);
}

/* on_answer - dispatch an answer to its step */
static void on_answer(const struct dns_answer *a, void *arg)
{
    struct step *s = arg;
    struct gather *g = s->g;
    switch (s->kind) {
    case ST_MX:
        on_mx(g, a);
        break;
    case ST_A:
    case ST_AAAA:
        on_addr(g, s->host, a, s->kind == ST_A);
        break;
    case ST_TLSA:
        on_tlsa(g, s->host, a);
        break;
    case ST_STS_TXT:
        on_sts_txt(g, a);
        break;
    case ST_STS_ADDR:
        on_sts_addr(g, a);
        break;
    case ST_TLSRPT:
        on_tlsrpt(g, a);
        break;
    case ST_PROBE:
        break;
    }
    step_done(s);
}

/* on_kick - release the count held by check_gather_start */
static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    step_done(arg);
}

/* check_gather_start - see check_gather.h */
void check_gather_start(const struct check_env *env, const char *domain, check_gather_cb cb,
                        void *arg)
{
    struct gather *g = calloc(1, sizeof(*g));
    if (g == NULL)
        abort();
    g->env = *env;
    g->cb = cb;
    g->arg = arg;
    g->f.domain = xstrdup(domain);
    g->f.scope = env->scope;
    g->f.mx_dns = DECIDE_DNS_FAILED;
    struct step *hold = new_step(g, ST_PROBE, 0, 0);
    char name[DOMAIN_BUF_SIZE + 16];
    lookup(g, ST_MX, 0, domain, DNS_RR_MX);
    g->f.sts.looked = true;
    snprintf(name, sizeof(name), "_mta-sts.%s", domain);
    lookup(g, ST_STS_TXT, 0, name, DNS_RR_TXT);
    g->f.tlsrpt.looked = true;
    snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
    lookup(g, ST_TLSRPT, 0, name, DNS_RR_TXT);
    struct timeval zero = {0, 0};
    if (event_base_once(env->base, -1, EV_TIMEOUT, on_kick, hold, &zero) != 0)
        abort();
}
