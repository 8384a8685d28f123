/*
 * fake_net - the scripted network of the pipeline's unit tests (fake_net.h).
 */
#include "fake_net.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCRIPT_MAX 600
#define ASKED_MAX  2000

struct dns_query {
    struct dns_query *next;
    char name[256];
    int rrtype;
    dns_callback cb;
    void *arg;
    struct dns_query **handle;
};

struct fake_fetch {
    struct fake_fetch *next;
    char domain[256];
    fetch_callback cb;
    void *arg;
};

struct fetch_script {
    char domain[256];
    bool ok;
    enum decide_sts_failure failure;
    char reason[128];
    char *body;
};

int64_t fake_time;
unsigned fake_n_cancelled;
unsigned fake_n_fetches;
char fake_last_fetch_addr[64];

static struct fake_dns *script[SCRIPT_MAX];
static size_t n_script;
static struct fetch_script fetches[64];
static size_t n_fetches_scripted;
static struct dns_query *queries;   /* pending, oldest first */
static struct fake_fetch *inflight; /* pending fetches, oldest first */
static struct {
    char name[256];
    int rrtype;
} asked[ASKED_MAX];
static size_t n_asked;

/* find - the latest script line for (name, rrtype) */
static struct fake_dns *find(const char *name, int rrtype)
{
    for (size_t i = n_script; i-- > 0;)
        if (script[i]->rrtype == rrtype && strcasecmp(script[i]->name, name) == 0)
            return script[i];
    return NULL;
}

/* fake_dns_query - queue the question; refuse it when scripted so */
static int fake_dns_query(void *ctx, const char *name, int rrtype, unsigned timeout_ms,
                          dns_callback cb, void *arg, struct dns_query **handle)
{
    (void)ctx;
    (void)timeout_ms;
    if (n_asked < ASKED_MAX) {
        snprintf(asked[n_asked].name, sizeof(asked[n_asked].name), "%s", name);
        asked[n_asked++].rrtype = rrtype;
    }
    struct fake_dns *s = find(name, rrtype);
    if (s != NULL && s->refuse)
        return MXTLS_EAGAIN;
    struct dns_query *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return MXTLS_ENOMEM;
    snprintf(q->name, sizeof(q->name), "%s", name);
    q->rrtype = rrtype;
    q->cb = cb;
    q->arg = arg;
    q->handle = handle;
    struct dns_query **tail = &queries;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = q;
    if (handle != NULL)
        *handle = q;
    return 0;
}

/* fake_dns_cancel - forget a question: no callback, handle cleared */
static void fake_dns_cancel(void *ctx, struct dns_query *q)
{
    (void)ctx;
    for (struct dns_query **p = &queries; *p != NULL; p = &(*p)->next)
        if (*p == q) {
            *p = q->next;
            if (q->handle != NULL)
                *q->handle = NULL;
            free(q);
            fake_n_cancelled++;
            return;
        }
}

/* fake_fetch_policy - queue the fetch */
static int fake_fetch_policy(void *ctx, const char *domain, const char *addr, unsigned timeout_ms,
                             fetch_callback cb, void *arg)
{
    (void)ctx;
    (void)timeout_ms;
    struct fake_fetch *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return MXTLS_ENOMEM;
    fake_n_fetches++;
    snprintf(fake_last_fetch_addr, sizeof(fake_last_fetch_addr), "%s", addr);
    snprintf(f->domain, sizeof(f->domain), "%s", domain);
    f->cb = cb;
    f->arg = arg;
    struct fake_fetch **tail = &inflight;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = f;
    return 0;
}

/* fake_now - the test's clock */
static int64_t fake_now(void)
{
    return fake_time;
}

/* fake_reset - empty everything */
void fake_reset(struct pipeline_net *net)
{
    for (size_t i = 0; i < n_script; i++) {
        for (size_t k = 0; k < script[i]->n; k++)
            free(script[i]->data[k]);
        free(script[i]);
    }
    n_script = 0;
    for (size_t i = 0; i < n_fetches_scripted; i++)
        free(fetches[i].body);
    n_fetches_scripted = 0;
    while (queries != NULL) {
        struct dns_query *q = queries;
        queries = q->next;
        free(q);
    }
    while (inflight != NULL) {
        struct fake_fetch *f = inflight;
        inflight = f->next;
        free(f);
    }
    n_asked = 0;
    fake_time = 1700000000;
    fake_n_cancelled = fake_n_fetches = 0;
    fake_last_fetch_addr[0] = '\0';
    if (net != NULL) {
        *net = (struct pipeline_net){.dns_query = fake_dns_query,
                                     .dns_cancel = fake_dns_cancel,
                                     .fetch_policy = fake_fetch_policy,
                                     .now = fake_now};
    }
}

/* fake_answer - a new script line */
struct fake_dns *fake_answer(const char *name, int rrtype, enum decide_dns status, uint32_t ttl)
{
    if (n_script >= SCRIPT_MAX)
        abort();
    struct fake_dns *a = calloc(1, sizeof(*a));
    if (a == NULL)
        abort();
    snprintf(a->name, sizeof(a->name), "%s", name);
    a->rrtype = rrtype;
    a->status = status;
    a->ttl = ttl;
    script[n_script++] = a;
    return a;
}

/* add - one record's wire RDATA */
static void add(struct fake_dns *a, const unsigned char *data, size_t len)
{
    if (a->n >= FAKE_RDATA_MAX)
        abort();
    a->data[a->n] = malloc(len ? len : 1);
    if (a->data[a->n] == NULL)
        abort();
    memcpy(a->data[a->n], data, len);
    a->len[a->n++] = len;
}

/* wire_name - a presentation name in wire form; its length */
static size_t wire_name(const char *name, unsigned char *out)
{
    size_t o = 0;
    const char *p = name;
    while (*p != '\0' && strcmp(p, ".") != 0) {
        const char *dot = strchr(p, '.');
        size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);
        out[o++] = (unsigned char)l;
        memcpy(out + o, p, l);
        o += l;
        p += l + (dot != NULL ? 1 : 0);
    }
    out[o++] = 0;
    return o;
}

/* fake_mx - preference and exchange (RFC 1035 §3.3.9) */
void fake_mx(struct fake_dns *a, uint16_t pref, const char *host)
{
    unsigned char buf[300];
    buf[0] = (unsigned char)(pref >> 8);
    buf[1] = (unsigned char)pref;
    add(a, buf, 2 + wire_name(host, buf + 2));
}

/* fake_a - four octets */
void fake_a(struct fake_dns *a, const char *v4)
{
    unsigned char buf[4];
    if (inet_pton(AF_INET, v4, buf) != 1)
        abort();
    add(a, buf, 4);
}

/* fake_aaaa - sixteen octets */
void fake_aaaa(struct fake_dns *a, const char *v6)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET6, v6, buf) != 1)
        abort();
    add(a, buf, 16);
}

/* fake_txt - one character-string (text up to 255 octets) */
void fake_txt(struct fake_dns *a, const char *text)
{
    unsigned char buf[256];
    size_t l = strlen(text);
    if (l > 255)
        abort();
    buf[0] = (unsigned char)l;
    memcpy(buf + 1, text, l);
    add(a, buf, l + 1);
}

/* fake_tlsa - usage, selector, matching type and a SHA-256-sized digest */
void fake_tlsa(struct fake_dns *a, unsigned usage, unsigned selector, unsigned mtype)
{
    unsigned char buf[3 + 32];
    buf[0] = (unsigned char)usage;
    buf[1] = (unsigned char)selector;
    buf[2] = (unsigned char)mtype;
    for (size_t i = 0; i < 32; i++)
        buf[3 + i] = (unsigned char)(0xa0 + i);
    add(a, buf, sizeof(buf));
}

/* fetch_line - the script line for domain, made when absent */
static struct fetch_script *fetch_line(const char *domain)
{
    for (size_t i = 0; i < n_fetches_scripted; i++)
        if (strcasecmp(fetches[i].domain, domain) == 0)
            return &fetches[i];
    if (n_fetches_scripted >= sizeof(fetches) / sizeof(fetches[0]))
        abort();
    struct fetch_script *s = &fetches[n_fetches_scripted++];
    memset(s, 0, sizeof(*s));
    snprintf(s->domain, sizeof(s->domain), "%s", domain);
    return s;
}

/* fake_fetch_ok - serve body for domain */
void fake_fetch_ok(const char *domain, const char *body)
{
    struct fetch_script *s = fetch_line(domain);
    free(s->body);
    s->body = strdup(body);
    s->ok = true;
}

/* fake_fetch_fail - fail the fetch for domain */
void fake_fetch_fail(const char *domain, enum decide_sts_failure failure, const char *reason)
{
    struct fetch_script *s = fetch_line(domain);
    free(s->body);
    s->body = NULL;
    s->ok = false;
    s->failure = failure;
    snprintf(s->reason, sizeof(s->reason), "%s", reason);
}

/* deliver_dns - answer q from the script */
static void deliver_dns(struct dns_query *q)
{
    struct fake_dns *s = find(q->name, q->rrtype);
    struct dns_rdata rd[FAKE_RDATA_MAX];
    struct dns_answer a = {.qname = q->name, .rrtype = q->rrtype, .rcode = -1};
    if (s == NULL) {
        a.status = DECIDE_DNS_FAILED;
        a.why = "not scripted";
    } else {
        a.status = s->status;
        a.nxdomain = s->nxdomain;
        a.rcode = s->nxdomain ? 3 : 0;
        a.ttl = s->ttl;
        a.canonname = s->canon[0] != '\0' ? s->canon : NULL;
        a.why = s->why;
        for (size_t i = 0; i < s->n; i++)
            rd[i] = (struct dns_rdata){s->data[i], s->len[i]};
        a.n_rdata = s->n;
        a.rdata = rd;
        a.havedata = s->n > 0;
    }
    if (q->handle != NULL)
        *q->handle = NULL; /* as io/dns.c: the handle is spent once the callback starts */
    q->cb(&a, q->arg);
}

/* deliver_fetch - answer f from the script */
static void deliver_fetch(struct fake_fetch *f)
{
    struct fetch_script *s = NULL;
    for (size_t i = 0; i < n_fetches_scripted; i++)
        if (strcasecmp(fetches[i].domain, f->domain) == 0)
            s = &fetches[i];
    struct fetch_result r = {.reason = "not scripted", .failure = DECIDE_STS_FETCH_ERROR};
    if (s != NULL && s->ok) {
        r = (struct fetch_result){.ok = true,
                                  .http_status = 200,
                                  .reason = "",
                                  .body = s->body,
                                  .body_len = strlen(s->body)};
    } else if (s != NULL) {
        r.failure = s->failure;
        r.reason = s->reason;
    }
    f->cb(&r, f->arg);
}

/* take_ready - the oldest question not held, unlinked; NULL when none */
static struct dns_query *take_ready(void)
{
    for (struct dns_query **p = &queries; *p != NULL; p = &(*p)->next) {
        struct fake_dns *s = find((*p)->name, (*p)->rrtype);
        if (s != NULL && s->hold)
            continue;
        struct dns_query *q = *p;
        *p = q->next;
        return q;
    }
    return NULL;
}

/* fake_run - deliver until nothing deliverable is left */
unsigned fake_run(void)
{
    unsigned n = 0;
    for (;;) {
        struct dns_query *q = take_ready();
        if (q != NULL) {
            deliver_dns(q);
            free(q);
            n++;
            continue;
        }
        if (inflight != NULL) {
            struct fake_fetch *f = inflight;
            inflight = f->next;
            deliver_fetch(f);
            free(f);
            n++;
            continue;
        }
        return n;
    }
}

/* fake_release - stop holding (name, rrtype) */
void fake_release(const char *name, int rrtype)
{
    struct fake_dns *s = find(name, rrtype);
    if (s != NULL)
        s->hold = false;
}

/* fake_pending - what is still queued */
unsigned fake_pending(void)
{
    unsigned n = 0;
    for (struct dns_query *q = queries; q != NULL; q = q->next)
        n++;
    for (struct fake_fetch *f = inflight; f != NULL; f = f->next)
        n++;
    return n;
}

/* fake_asked - count the questions asked */
unsigned fake_asked(const char *name, int rrtype)
{
    unsigned n = 0;
    for (size_t i = 0; i < n_asked; i++)
        if ((rrtype == 0 || asked[i].rrtype == rrtype) && strcasecmp(asked[i].name, name) == 0)
            n++;
    return n;
}
