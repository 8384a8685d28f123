/*
 * dane - gather and cache the DNSSEC facts of a next-hop (see dane.h).
 */
#include "dane.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inflight.h"
#include "net.h"
#include "mxtls/mx.h"
#include "mxtls/tlsa.h"
#include "stats.h"
#include "table.h"

#define ADDRS_SHOWN_MAX 160 /* octets of address text kept per host, for explanations */

enum slot_kind { SLOT_MX, SLOT_A, SLOT_AAAA, SLOT_TLSA };

struct dane_gather;

/* The argument of one lookup: which gathering, which host, which question. */
struct dane_slot {
    struct dane_gather *g;
    size_t host;
    enum slot_kind kind;
    struct dns_query *q; /* in flight (dns_query_start's handle), NULL otherwise */
};

/* A query waiting for a gathering (inflight.h: the link comes first). */
struct dane_wait {
    struct inflight_wait link;
    dane_callback cb;
    void *arg;
};

/* Per-host state of a gathering (transient: freed with the gathering). */
struct gather_host {
    struct dane_slot slots[3]; /* A, AAAA, TLSA */
    enum decide_dns a, aaaa;
    unsigned addr_left;
    bool tlsa_at_canon;
};

struct dane_gather {
    struct inflight in; /* the waiters, the cache's running list */
    struct dane_cache *cache;
    char key[DOMAIN_BUF_SIZE + 16];
    struct dane_facts *facts;
    unsigned timeout_ms;
    unsigned pending;
    uint32_t min_ttl;
    bool failed; /* some lookup was bogus or failed: do not cache */
    struct dane_slot mx_slot;
    struct gather_host *gh; /* facts->n_hosts of them, once the hosts are known */
};

struct dane_cache {
    struct pipeline_net net; /* DNS (net.h) */
    struct table *facts;     /* key -> struct dane_facts (one reference) */
    struct table *gathering; /* key -> struct dane_gather */
    struct inflight_list running;
};

/* gather_of - the gathering an inflight is embedded in */
static struct dane_gather *gather_of(struct inflight *in)
{
    return (struct dane_gather *)(void *)((char *)in - offsetof(struct dane_gather, in));
}

/* host_finish - free a host's strings */
static void host_finish(struct dane_host *h)
{
    free(h->name);
    free(h->addrs);
    free(h->canon);
    free(h->tlsa_name);
    free(h->why);
    for (size_t j = 0; j < h->n_shown; j++) {
        free(h->shown[j].text);
        free(h->shown[j].why);
    }
    free(h->shown);
}

/* dane_facts_unref - drop a reference */
void dane_facts_unref(struct dane_facts *f)
{
    if (f == NULL || --f->refs > 0)
        return;
    for (size_t i = 0; i < f->n_hosts; i++)
        host_finish(&f->hosts[i]);
    free(f->hosts);
    free(f->mx_why);
    free(f);
}

/* set_text - replace *dst with a heap copy of printf-style text; out of memory leaves NULL */
__attribute__((format(printf, 2, 3))) static void set_text(char **dst, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    free(*dst);
    *dst = strdup(buf);
}

/* dane_cache_new - empty cache */
struct dane_cache *dane_cache_new(const struct pipeline_net *net)
{
    struct dane_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->net = *net;
    c->facts = table_new();
    c->gathering = table_new();
    if (c->facts == NULL || c->gathering == NULL) {
        table_free(c->facts);
        table_free(c->gathering);
        free(c);
        return NULL;
    }
    return c;
}

/* worse - combine two statuses: failures first, then insecure, else secure */
static enum decide_dns worse(enum decide_dns x, enum decide_dns y)
{
    if (x == DECIDE_DNS_BOGUS || y == DECIDE_DNS_BOGUS)
        return DECIDE_DNS_BOGUS;
    if (x == DECIDE_DNS_FAILED || y == DECIDE_DNS_FAILED)
        return DECIDE_DNS_FAILED;
    if (x == DECIDE_DNS_INSECURE || y == DECIDE_DNS_INSECURE)
        return DECIDE_DNS_INSECURE;
    return DECIDE_DNS_SECURE;
}

/* note_answer - TTL and failure bookkeeping common to every answer */
static void note_answer(struct dane_gather *g, const struct dns_answer *a)
{
    stats_dns(a->status); /* issue 16: bogus and failed lookups */
    if (a->status == DECIDE_DNS_BOGUS || a->status == DECIDE_DNS_FAILED)
        g->failed = true;
    else if (a->ttl < g->min_ttl)
        g->min_ttl = a->ttl;
}

/* gather_free - unlink and free a gathering and its waiters (facts unreferenced) */
static void gather_free(struct dane_gather *g)
{
    table_delete(g->cache->gathering, g->key);
    inflight_finish(&g->in);
    /* Lookups still in flight (all waiters gone, or the cache freed): forget them. */
    const struct pipeline_net *net = &g->cache->net;
    if (g->mx_slot.q != NULL)
        net->dns_cancel(net->dns_ctx, g->mx_slot.q);
    if (g->gh != NULL)
        for (size_t i = 0; i < g->facts->n_hosts; i++)
            for (size_t k = 0; k < 3; k++)
                if (g->gh[i].slots[k].q != NULL)
                    net->dns_cancel(net->dns_ctx, g->gh[i].slots[k].q);
    free(g->gh);
    dane_facts_unref(g->facts);
    free(g);
}

/* deliver - one waiter's callback, with its own reference to the facts */
static void deliver(struct inflight_wait *link, void *arg)
{
    struct dane_wait *w = (struct dane_wait *)(void *)link;
    struct dane_facts *f = arg;
    f->refs++;
    w->cb(f, w->arg);
}

/* abandoned - every waiter went away: cancel the lookups, free the gathering (issue 17) */
static void abandoned(struct inflight *in)
{
    gather_free(gather_of(in));
}

/* gather_done - cache the facts when they can be, answer the waiters, free g */
static void gather_done(struct dane_gather *g)
{
    struct dane_cache *c = g->cache;
    struct dane_facts *f = g->facts;
    int64_t t = c->net.now();
    f->gathered_at = t;
    /* Failed facts are not cached; mx_fail marks an out-of-memory MX failed. */
    bool failed = g->failed || f->mx_dns == DECIDE_DNS_FAILED || f->mx_dns == DECIDE_DNS_BOGUS;
    if (!failed && g->min_ttl > 0) {
        f->expires = t + (g->min_ttl < DANE_TTL_MAX ? g->min_ttl : DANE_TTL_MAX);
        struct dane_facts *old = table_get(c->facts, g->key);
        if (table_put(c->facts, g->key, f) == 0) {
            f->refs++;
            dane_facts_unref(old);
        }
    }
    /* Detached first: a cancel from a callback below must not touch g. */
    struct inflight_wait *waiters = inflight_detach(&g->in);
    f->refs++; /* keep f alive across gather_free */
    gather_free(g);
    inflight_deliver(waiters, deliver, f);
    dane_facts_unref(f);
}

static void on_answer(const struct dns_answer *a, void *arg);

/* start - one lookup for slot, with the zone's timeout; a refused lookup counts as failed */
static void start(struct dane_gather *g, struct dane_slot *slot, const char *name, int rrtype)
{
    g->pending++;
    const struct pipeline_net *net = &g->cache->net;
    if (net->dns_query(net->dns_ctx, name, rrtype, g->timeout_ms, on_answer, slot, &slot->q) == 0)
        return;
    struct dns_answer a = {.qname = name,
                           .rrtype = rrtype,
                           .status = DECIDE_DNS_FAILED,
                           .rcode = -1,
                           .why = "the resolver refused the lookup"};
    on_answer(&a, slot);
}

/* start_host - the A and AAAA lookups of host i (RFC 7672 §2.2.1) */
static void start_host(struct dane_gather *g, size_t i)
{
    struct gather_host *gh = &g->gh[i];
    g->facts->hosts[i].addr_looked = true;
    gh->addr_left = 2;
    gh->a = gh->aaaa = DECIDE_DNS_SECURE;
    gh->slots[0] = (struct dane_slot){g, i, SLOT_A, NULL};
    gh->slots[1] = (struct dane_slot){g, i, SLOT_AAAA, NULL};
    gh->slots[2] = (struct dane_slot){g, i, SLOT_TLSA, NULL};
    start(g, &gh->slots[0], g->facts->hosts[i].name, DNS_RR_A);
    start(g, &gh->slots[1], g->facts->hosts[i].name, DNS_RR_AAAA);
}

/* start_tlsa - _<port>._tcp.<base> TLSA (RFC 7672 §2.2.3) */
static void start_tlsa(struct dane_gather *g, size_t i, const char *base)
{
    struct dane_host *h = &g->facts->hosts[i];
    char name[DOMAIN_BUF_SIZE + 16];
    h->tlsa_looked = true;
    snprintf(name, sizeof(name), "_%u._tcp.%s", (unsigned)g->facts->port, base);
    set_text(&h->tlsa_name, "%s", name);
    start(g, &g->gh[i].slots[2], name, DNS_RR_TLSA);
}

/* One distinct MX target while the answer is read. */
struct mx_target {
    uint16_t pref;
    char *name;
};

/* target_cmp - (preference, name): the order hosts are kept and shown in */
static int target_cmp(const void *x, const void *y)
{
    const struct mx_target *a = x, *b = y;
    if (a->pref != b->pref)
        return a->pref < b->pref ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* mx_fail - the MX lookup counts as failed (TEMP, RFC 7672 §2.1.1 fail closed) */
static void mx_fail(struct dane_facts *f, const char *why)
{
    f->mx_dns = DECIDE_DNS_FAILED;
    set_text(&f->mx_why, "%s", why);
}

/*
 * set_hosts - the facts' hosts from the distinct targets t[0..n), sorted so
 * that neither the answer order nor its rotation changes anything. Returns
 * -1 (the MX answer then counts as failed) when out of memory.
 */
static int set_hosts(struct dane_gather *g, struct mx_target *t, size_t n)
{
    struct dane_facts *f = g->facts;
    qsort(t, n, sizeof(*t), target_cmp);
    f->hosts = n ? calloc(n, sizeof(*f->hosts)) : NULL;
    if (n > 0 && f->hosts == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        f->hosts[i].name = t[i].name;
        t[i].name = NULL;
    }
    f->n_hosts = n;
    return 0;
}

/* on_mx - the MX answer (RFC 7672 §2.2.1, RFC 7505) */
static void on_mx(struct dane_gather *g, const struct dns_answer *a)
{
    struct dane_facts *f = g->facts;
    f->mx_dns = a->status;
    if (a->status == DECIDE_DNS_BOGUS || a->status == DECIDE_DNS_FAILED) {
        set_text(&f->mx_why, "%s", a->why ? a->why : "");
        return;
    }
    if (a->nxdomain) {
        f->mx = DECIDE_MX_NXDOMAIN;
        return;
    }
    struct mx_target *t = NULL;
    size_t n = 0;
    bool too_many = false, oom = false;
    if (!a->havedata) {
        f->mx = DECIDE_MX_NODATA; /* RFC 5321 §5.1: the domain is its own host */
        t = calloc(1, sizeof(*t));
        if (t == NULL || (t[0].name = strdup(f->domain)) == NULL)
            oom = true;
        else
            n = 1;
    } else {
        f->mx = DECIDE_MX_HOSTS;
        /* Every record is read: the answer is bounded by the DNS message. */
        t = calloc(a->n_rdata, sizeof(*t));
        oom = t == NULL;
        for (size_t i = 0; !oom && i < a->n_rdata; i++) {
            char name[DOMAIN_BUF_SIZE];
            uint16_t pref;
            struct mxtls_diag d = {0};
            int rc =
                mx_rdata_parse(a->rdata[i].data, a->rdata[i].len, &pref, name, sizeof(name), &d);
            /* RFC 7505 §3: a lone "0 ." is a null MX; "." among others is no host. */
            if (rc == 1 && a->n_rdata == 1 && pref == 0) {
                f->mx = DECIDE_MX_NULL;
                break;
            }
            /* An MX target that is not a host name cannot be connected to. */
            if (rc != 0)
                continue;
            size_t k = 0;
            while (k < n && strcmp(t[k].name, name) != 0)
                k++;
            if (k < n) {
                if (pref < t[k].pref)
                    t[k].pref = pref;
                continue;
            }
            if ((t[n].name = strdup(name)) == NULL) {
                oom = true;
                break;
            }
            t[n++].pref = pref;
        }
        /* The decision reads every host of a secure MX RRset; past the cap it
         * cannot, so it fails closed, the same way in any answer order. */
        too_many = n > DECIDE_HOSTS_MAX;
    }
    if (!oom && !too_many && set_hosts(g, t, n) < 0)
        oom = true;
    for (size_t i = 0; t != NULL && i < n; i++)
        free(t[i].name);
    free(t);
    if (oom) {
        f->n_hosts = 0;
        mx_fail(f, "out of memory listing the MX hosts");
        return;
    }
    if (f->mx_dns != DECIDE_DNS_SECURE) {
        /* RFC 7672 §2.2.1: no DANE without a secure MX RRset; the names stay
         * for explanations, unless there are more than the cap. */
        if (too_many)
            f->n_hosts = 0;
        return;
    }
    if (too_many) {
        char why[96];
        snprintf(why, sizeof(why), "%zu MX hosts: more than %d (mxtls limit)", n, DECIDE_HOSTS_MAX);
        mx_fail(f, why);
        return;
    }
    g->gh = f->n_hosts ? calloc(f->n_hosts, sizeof(*g->gh)) : NULL;
    if (f->n_hosts > 0 && g->gh == NULL) {
        mx_fail(f, "out of memory listing the MX hosts");
        return;
    }
    for (size_t i = 0; i < f->n_hosts; i++)
        start_host(g, i);
}

/* add_addr - the address text of an A/AAAA record, for explanations */
static void add_addr(struct dane_host *h, const struct dns_rdata *rd)
{
    char text[INET6_ADDRSTRLEN];
    int af = rd->len == 4 ? AF_INET : rd->len == 16 ? AF_INET6 : 0;
    if (af == 0 || inet_ntop(af, rd->data, text, sizeof(text)) == NULL)
        return;
    size_t used = h->addrs != NULL ? strlen(h->addrs) : 0;
    size_t add = strlen(text) + (used ? 1 : 0);
    if (used + add >= ADDRS_SHOWN_MAX)
        return;
    char *s = realloc(h->addrs, used + add + 1);
    if (s == NULL)
        return;
    snprintf(s + used, add + 1, "%s%s", used ? " " : "", text);
    h->addrs = s;
}

/* on_addr - one of the two address lookups of a host */
static void on_addr(struct dane_gather *g, size_t i, const struct dns_answer *a, bool is_a)
{
    struct dane_host *h = &g->facts->hosts[i];
    struct gather_host *gh = &g->gh[i];
    if (is_a)
        gh->a = a->status;
    else
        gh->aaaa = a->status;
    if ((a->status == DECIDE_DNS_BOGUS || a->status == DECIDE_DNS_FAILED) && h->why == NULL)
        set_text(&h->why, "%s %s: %s", is_a ? "A" : "AAAA", decide_dns_name(a->status),
                 a->why ? a->why : "");
    for (size_t k = 0; k < a->n_rdata; k++)
        add_addr(h, &a->rdata[k]);
    if (a->canonname != NULL && h->canon == NULL)
        set_text(&h->canon, "%s", a->canonname);
    if (--gh->addr_left > 0)
        return;
    h->addr = worse(gh->a, gh->aaaa);
    if (h->addr != DECIDE_DNS_SECURE)
        return; /* RFC 7672 §2.2.2: TLSA only for hosts with secure addresses */
    /* RFC 7672 §2.2.2: a secure CNAME chain: TLSA at the expanded name first. */
    gh->tlsa_at_canon = h->canon != NULL && strcmp(h->canon, h->name) != 0;
    start_tlsa(g, i, gh->tlsa_at_canon ? h->canon : h->name);
}

/* on_tlsa - the TLSA RRset of a host; usable records per RFC 7672 §3.1 */
static void on_tlsa(struct dane_gather *g, size_t i, const struct dns_answer *a)
{
    struct dane_host *h = &g->facts->hosts[i];
    if (a->status == DECIDE_DNS_SECURE && !a->havedata && g->gh[i].tlsa_at_canon) {
        g->gh[i].tlsa_at_canon = false; /* RFC 7672 §2.2.2: then the original name */
        start_tlsa(g, i, h->name);
        return;
    }
    h->tlsa = a->status;
    if (a->status == DECIDE_DNS_BOGUS || a->status == DECIDE_DNS_FAILED) {
        set_text(&h->why, "TLSA %s: %s", decide_dns_name(a->status), a->why ? a->why : "");
        return;
    }
    if (a->status != DECIDE_DNS_SECURE)
        return; /* insecure TLSA records are ignored (RFC 7672 §2.2) */
    size_t shown = a->n_rdata < DANE_RR_SHOWN_MAX ? a->n_rdata : DANE_RR_SHOWN_MAX;
    if (shown > 0 && (h->shown = calloc(shown, sizeof(*h->shown))) == NULL)
        shown = 0;
    for (size_t k = 0; k < a->n_rdata; k++) {
        struct tlsa rr;
        struct mxtls_diag d = {0};
        bool usable = false;
        char *text = NULL;
        /* RFC 7672 §2.2: a malformed record still counts, as an unusable one. */
        if (tlsa_parse_wire((const char *)a->rdata[k].data, a->rdata[k].len, &rr, &d) == 0) {
            usable = tlsa_usable(&rr, &d) == 0;
            text = tlsa_format_text(&rr);
            tlsa_finish(&rr);
        }
        h->n_tlsa++;
        h->n_usable += usable;
        if (h->n_shown < shown) {
            struct dane_rr *s = &h->shown[h->n_shown++];
            s->text = text;
            s->usable = usable;
            s->why = strdup(usable ? "usable" : d.what);
        } else {
            free(text);
        }
    }
}

/* on_answer - dispatch an answer to its slot's handler; finish when none are left */
static void on_answer(const struct dns_answer *a, void *arg)
{
    struct dane_slot *slot = arg;
    struct dane_gather *g = slot->g;
    slot->q = NULL; /* dns clears it too; a refused lookup never set it */
    note_answer(g, a);
    switch (slot->kind) {
    case SLOT_MX:
        on_mx(g, a);
        break;
    case SLOT_A:
    case SLOT_AAAA:
        on_addr(g, slot->host, a, slot->kind == SLOT_A);
        break;
    case SLOT_TLSA:
        on_tlsa(g, slot->host, a);
        break;
    }
    if (--g->pending == 0)
        gather_done(g);
}

/*
 * facts_key - "[]" for a bracketed next-hop, the domain, ':' and the port:
 * what the facts depend on. Built by hand: this runs for every request.
 */
#define DANE_KEY_SIZE (DOMAIN_BUF_SIZE + 16)
static void facts_key(char *key, const char *domain, bool bracketed, uint16_t port)
{
    char *p = key;
    if (bracketed) {
        *p++ = '[';
        *p++ = ']';
    }
    size_t n = strnlen(domain, DOMAIN_BUF_SIZE - 1);
    memcpy(p, domain, n);
    p += n;
    *p++ = ':';
    char digits[8];
    size_t d = 0;
    do
        digits[d++] = (char)('0' + port % 10);
    while ((port /= 10) != 0);
    while (d > 0)
        *p++ = digits[--d];
    *p = '\0';
}

/* dane_query - cached facts, or join/start a gathering */
int dane_query(struct dane_cache *c, const char *domain, bool bracketed, uint16_t port,
               unsigned timeout_ms, struct dane_facts **out, dane_callback cb, void *arg,
               struct dane_wait **wait)
{
    char key[DANE_KEY_SIZE];
    facts_key(key, domain, bracketed, port);
    struct dane_facts *f = table_get(c->facts, key);
    if (f != NULL) {
        if (c->net.now() < f->expires) {
            f->refs++;
            *out = f;
            return 1;
        }
        table_delete(c->facts, key);
        dane_facts_unref(f);
    }
    struct dane_wait *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return MXTLS_ENOMEM;
    w->cb = cb;
    w->arg = arg;
    struct dane_gather *g = table_get(c->gathering, key);
    if (g == NULL) {
        size_t dlen = strnlen(domain, DOMAIN_BUF_SIZE - 1);
        g = calloc(1, sizeof(*g));
        f = calloc(1, sizeof(*f) + dlen + 1);
        if (g == NULL || f == NULL || table_put(c->gathering, key, g) < 0) {
            free(g);
            free(f);
            free(w);
            return MXTLS_ENOMEM;
        }
        f->refs = 1;
        memcpy(f->domain, domain, dlen);
        f->domain[dlen] = '\0';
        f->bracketed = bracketed;
        f->port = port;
        g->facts = f;
        g->cache = c;
        snprintf(g->key, sizeof(g->key), "%s", key);
        g->timeout_ms = timeout_ms;
        g->min_ttl = DANE_TTL_MAX;
        inflight_start(&g->in, &c->running, abandoned);
        inflight_join(&g->in, &w->link);
        /* Hold one pending count while starting, so a synchronous failure cannot finish g. */
        g->pending = 1;
        if (bracketed) {
            f->mx = DECIDE_MX_BRACKETED; /* DESIGN.md: [host] means no MX lookup */
            f->mx_dns = DECIDE_DNS_SECURE;
            /* The next-hop is the one host; a name that is not a host name
             * cannot be connected to (no host, no DANE). */
            char norm[DOMAIN_BUF_SIZE];
            struct mxtls_diag d = {0};
            struct mx_target t = {0, NULL};
            if (domain_normalize(domain, strlen(domain), norm, sizeof(norm), &d) == 0 &&
                ((t.name = strdup(norm)) == NULL || set_hosts(g, &t, 1) < 0 ||
                 (g->gh = calloc(1, sizeof(*g->gh))) == NULL))
                mx_fail(f, "out of memory");
            free(t.name);
            if (f->n_hosts == 1 && g->gh != NULL)
                start_host(g, 0);
        } else {
            g->mx_slot = (struct dane_slot){g, 0, SLOT_MX, NULL};
            start(g, &g->mx_slot, domain, DNS_RR_MX);
        }
        if (--g->pending > 0) {
            *wait = w;
            return 0;
        }
        /* Every lookup was refused at once: the (failed) facts are the answer now. */
        w->link.live = false; /* our caller gets them here, not through cb */
        f->refs++;
        gather_done(g);
        *out = f;
        return 1;
    }
    inflight_join(&g->in, &w->link);
    *wait = w;
    return 0;
}

/*
 * dane_wait_cancel - forget the callback. When no waiter of the gathering is
 * left (every client went away), cancel its DNS lookups and free it: a
 * gathering nobody waits for must not keep running (issue 17).
 */
void dane_wait_cancel(struct dane_wait *w)
{
    inflight_wait_cancel(&w->link); /* the last one: abandoned() */
}

/* expired - table_sweep helper: facts past their TTL (arg: the time) */
static bool expired(const char *key, const void *value, void *arg)
{
    (void)key;
    const struct dane_facts *f = value;
    return f->expires <= *(const int64_t *)arg;
}

/* drop_facts - table_sweep helper: the cache's reference */
static void drop_facts(void *value, void *arg)
{
    (void)arg;
    dane_facts_unref(value);
}

/* dane_cache_sweep - free facts past their TTL */
size_t dane_cache_sweep(struct dane_cache *c)
{
    int64_t t = c->net.now();
    return table_sweep(c->facts, expired, drop_facts, &t);
}

/* dane_cache_count - cached next-hops */
size_t dane_cache_count(const struct dane_cache *c)
{
    return table_count(c->facts);
}

/* unref_value - table_each helper */
static void unref_value(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    dane_facts_unref(value);
}

/* dane_cache_free - free gatherings and facts */
void dane_cache_free(struct dane_cache *c)
{
    if (c == NULL)
        return;
    struct inflight *in;
    while ((in = inflight_first(&c->running)) != NULL)
        gather_free(gather_of(in));
    table_each(c->facts, unref_value, NULL);
    table_free(c->facts);
    table_free(c->gathering);
    free(c);
}
