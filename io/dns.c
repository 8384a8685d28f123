/*
 * dns - validating DNS lookups with libunbound on a libevent loop.
 *
 * Every lookup is a struct dns_query on the resolver's list. It leaves the
 * list in exactly one place, query_complete (answer or deadline), or in
 * dns_free (cancelled, no callback). libunbound's callback runs inside
 * ub_process, so the context must not be deleted there: dns_free defers the
 * deletion until ub_process has returned (dns->dispatching).
 */
#include "dns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <unbound.h>

struct dns_query {
    struct dns *dns;
    struct dns_query *prev, *next; /* dns->queries */
    struct event *timer;           /* the deadline */
    int async_id;                  /* for ub_cancel */
    unsigned timeout_ms;
    int rrtype;
    dns_callback cb;
    void *arg;
    char name[DNS_NAME_MAX + 1];
};

struct dns {
    struct event_base *base;
    struct ub_ctx *ub;
    struct event *ev;          /* EV_READ|EV_PERSIST on ub_fd() */
    struct dns_query *queries; /* in flight */
    unsigned timeout_ms;       /* for new lookups */
    bool dispatching;          /* inside ub_process: deleting ub now would be fatal */
    bool free_pending;         /* dns_free was called while dispatching */
};

/* query_unlink - take q off its resolver's in-flight list. */
static void query_unlink(struct dns_query *q)
{
    if (q->prev != NULL)
        q->prev->next = q->next;
    else
        q->dns->queries = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
}

/* query_complete - the one completion path: unlink, stop the timer, call back, free. */
static void query_complete(struct dns_query *q, const struct dns_answer *ans)
{
    query_unlink(q);
    event_free(q->timer);
    q->cb(ans, q->arg);
    free(q);
}

/* answer_failed - an answer carrying only a failure reason. */
static void answer_failed(struct dns_answer *ans, const struct dns_query *q, const char *why)
{
    memset(ans, 0, sizeof(*ans));
    ans->qname = q->name;
    ans->rrtype = q->rrtype;
    ans->status = DECIDE_DNS_FAILED;
    ans->rcode = -1;
    ans->why = why;
}

/* rcode_name - text for a failing rcode (RFC 1035 §4.1.1, RFC 6895 §2.3). */
static const char *rcode_name(int rcode)
{
    static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                        "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                        "NXRRSET", "NOTAUTH", "NOTZONE"};
    if (rcode >= 0 && (size_t)rcode < sizeof(names) / sizeof(names[0]))
        return names[rcode];
    return "unknown rcode";
}

/* same_name - do two presentation names match, ignoring case and a trailing dot? */
static bool same_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 1 && a[la - 1] == '.')
        la--;
    if (lb > 1 && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* on_resolved - libunbound's callback (inside ub_process): classify and complete. */
static void on_resolved(void *mydata, int err, struct ub_result *res)
{
    struct dns_query *q = mydata;
    struct dns_answer ans;
    struct dns_rdata *rd = NULL;
    char canon[DNS_NAME_MAX + 2];
    char why[128];

    if (err != 0 || res == NULL) {
        snprintf(why, sizeof(why), "libunbound: %s", ub_strerror(err));
        answer_failed(&ans, q, why);
        goto done;
    }
    answer_failed(&ans, q, NULL);
    ans.rcode = res->rcode;
    ans.nxdomain = res->nxdomain != 0;
    ans.ttl = res->ttl > 0 ? (uint32_t)res->ttl : 0;
    /* Bogus first: libunbound may give any rcode with it (NOERROR in practice). */
    if (res->bogus) {
        ans.status = DECIDE_DNS_BOGUS;
        ans.why = res->why_bogus != NULL ? res->why_bogus : "DNSSEC validation failed";
        goto done;
    }
    if (res->rcode != 0 && res->rcode != 3) {
        ans.status = DECIDE_DNS_FAILED;
        ans.why = rcode_name(res->rcode);
        goto done;
    }
    ans.status = res->secure ? DECIDE_DNS_SECURE : DECIDE_DNS_INSECURE;
    ans.why = NULL;
    /* libunbound sets canonname to the owner of the answer; only a CNAME makes it
     * differ from the query name (RFC 7672 §2.2.2 uses it as the TLSA base). */
    if (res->canonname != NULL && !same_name(res->canonname, q->name)) {
        size_t n = strlen(res->canonname);
        if (n > 1 && res->canonname[n - 1] == '.')
            n--;
        if (n < sizeof(canon)) {
            memcpy(canon, res->canonname, n);
            canon[n] = '\0';
            ans.canonname = canon;
        }
    }
    if (res->havedata && res->data != NULL) {
        size_t n = 0;
        while (res->data[n] != NULL)
            n++;
        rd = n > 0 ? calloc(n, sizeof(*rd)) : NULL;
        if (n > 0 && rd == NULL) {
            answer_failed(&ans, q, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            rd[i].data = (const unsigned char *)res->data[i];
            rd[i].len = res->len[i] > 0 ? (size_t)res->len[i] : 0;
        }
        ans.n_rdata = n;
        ans.rdata = rd;
        ans.havedata = n > 0;
    }
done:
    query_complete(q, &ans);
    free(rd);
    ub_resolve_free(res);
}

/* on_deadline - the query's timer fired: cancel it in libunbound, complete as FAILED. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct dns_query *q = arg;
    struct dns_answer ans;
    char why[64];

    (void)fd;
    (void)what;
    /* After ub_cancel libunbound never calls on_resolved for this query, even
     * if its answer is already waiting in the pipe. */
    ub_cancel(q->dns->ub, q->async_id);
    snprintf(why, sizeof(why), "timeout after %u ms", q->timeout_ms);
    answer_failed(&ans, q, why);
    query_complete(q, &ans);
}

/* dns_destroy - release everything; no query may be in flight. */
static void dns_destroy(struct dns *dns)
{
    if (dns->ev != NULL)
        event_free(dns->ev);
    if (dns->ub != NULL)
        ub_ctx_delete(dns->ub);
    free(dns);
}

/* on_readable - answers are waiting on ub_fd: let libunbound deliver them. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct dns *dns = arg;

    (void)fd;
    (void)what;
    dns->dispatching = true;
    /* An error here (a broken pipe to the resolver thread) leaves the queries to
     * their deadlines, which still complete each of them exactly once. */
    (void)ub_process(dns->ub);
    dns->dispatching = false;
    if (dns->free_pending)
        dns_destroy(dns);
}

/* dns_new - create the libunbound context, configure it, watch its fd. */
struct dns *dns_new(struct event_base *base, const char *unbound_config,
                    const char *trust_anchor_file, struct mxtls_diag *diag)
{
    struct dns *dns;
    int r;

    if (base == NULL) {
        mxtls_diag_set(diag, MXTLS_EINVAL, 0, "dns: no event base");
        return NULL;
    }
    dns = calloc(1, sizeof(*dns));
    if (dns == NULL) {
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "dns: out of memory");
        return NULL;
    }
    dns->base = base;
    dns->timeout_ms = DNS_DEFAULT_TIMEOUT_MS;
    dns->ub = ub_ctx_create();
    if (dns->ub == NULL) {
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "dns: ub_ctx_create failed");
        goto fail;
    }
    if (unbound_config != NULL && (r = ub_ctx_config(dns->ub, unbound_config)) != 0) {
        mxtls_diag_set(diag, MXTLS_EINVAL, 0, "dns: %s: cannot load (%s)", unbound_config,
                       ub_strerror(r));
        goto fail;
    }
    if (trust_anchor_file == NULL)
        trust_anchor_file = DNS_DEFAULT_TRUST_ANCHOR;
    if ((r = ub_ctx_add_ta_file(dns->ub, trust_anchor_file)) != 0) {
        mxtls_diag_set(diag, MXTLS_EINVAL, 0, "dns: trust anchor %s: %s", trust_anchor_file,
                       ub_strerror(r));
        goto fail;
    }
    /* A background thread resolves; answers come back through ub_fd. */
    if ((r = ub_ctx_async(dns->ub, 1)) != 0) {
        mxtls_diag_set(diag, MXTLS_EINVAL, 0, "dns: ub_ctx_async: %s", ub_strerror(r));
        goto fail;
    }
    dns->ev = event_new(base, ub_fd(dns->ub), EV_READ | EV_PERSIST, on_readable, dns);
    if (dns->ev == NULL || event_add(dns->ev, NULL) != 0) {
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "dns: cannot watch the libunbound fd");
        goto fail;
    }
    return dns;
fail:
    dns_destroy(dns);
    return NULL;
}

/* dns_set_timeout - deadline for lookups started from now on. */
void dns_set_timeout(struct dns *dns, unsigned timeout_ms)
{
    if (timeout_ms == 0)
        timeout_ms = DNS_DEFAULT_TIMEOUT_MS;
    if (timeout_ms > DNS_MAX_TIMEOUT_MS)
        timeout_ms = DNS_MAX_TIMEOUT_MS;
    dns->timeout_ms = timeout_ms;
}

/* dns_lookup - start one lookup with its deadline. */
int dns_lookup(struct dns *dns, const char *name, int rrtype, dns_callback cb, void *arg)
{
    struct dns_query *q;
    struct timeval tv;
    size_t len;

    if (dns == NULL || dns->free_pending || name == NULL || cb == NULL || rrtype < 1 ||
        rrtype > 65535)
        return MXTLS_EINVAL;
    len = strnlen(name, DNS_NAME_MAX + 1);
    if (len == 0 || len > DNS_NAME_MAX)
        return MXTLS_EINVAL;
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return MXTLS_ENOMEM;
    memcpy(q->name, name, len);
    q->dns = dns;
    q->rrtype = rrtype;
    q->cb = cb;
    q->arg = arg;
    q->timeout_ms = dns->timeout_ms;
    q->timer = evtimer_new(dns->base, on_deadline, q);
    if (q->timer == NULL) {
        free(q);
        return MXTLS_ENOMEM;
    }
    /* In async mode libunbound answers only from ub_process, never in here. */
    if (ub_resolve_async(dns->ub, q->name, rrtype, 1 /* IN */, q, on_resolved, &q->async_id) != 0) {
        event_free(q->timer);
        free(q);
        return MXTLS_EAGAIN;
    }
    tv.tv_sec = q->timeout_ms / 1000;
    tv.tv_usec = (q->timeout_ms % 1000) * 1000;
    if (evtimer_add(q->timer, &tv) != 0) {
        ub_cancel(dns->ub, q->async_id);
        event_free(q->timer);
        free(q);
        return MXTLS_ENOMEM;
    }
    q->next = dns->queries;
    if (dns->queries != NULL)
        dns->queries->prev = q;
    dns->queries = q;
    return 0;
}

/* dns_free - cancel silently what is in flight, then release (or defer that). */
void dns_free(struct dns *dns)
{
    if (dns == NULL || dns->free_pending)
        return;
    while (dns->queries != NULL) {
        struct dns_query *q = dns->queries;
        query_unlink(q);
        ub_cancel(dns->ub, q->async_id);
        event_free(q->timer);
        free(q);
    }
    if (dns->dispatching) {
        dns->free_pending = true; /* on_readable destroys it after ub_process */
        return;
    }
    dns_destroy(dns);
}
