/*
 * net - the real network behind struct pipeline_net: io/dns.c and io/fetch.c.
 */
#include "net.h"

#include <time.h>

/* real_dns_query - dns_query_start */
static int real_dns_query(void *ctx, const char *name, int rrtype, unsigned timeout_ms,
                          dns_callback cb, void *arg, struct dns_query **handle)
{
    return dns_query_start(ctx, name, rrtype, timeout_ms, cb, arg, handle);
}

/* real_dns_cancel - dns_cancel */
static void real_dns_cancel(void *ctx, struct dns_query *q)
{
    (void)ctx;
    dns_cancel(q);
}

/* real_fetch_policy - fetch_policy */
static int real_fetch_policy(void *ctx, const char *domain, const char *addr, unsigned timeout_ms,
                             fetch_callback cb, void *arg)
{
    return fetch_policy(ctx, domain, addr, timeout_ms, cb, arg);
}

/* real_now - time(2) */
static int64_t real_now(void)
{
    return (int64_t)time(NULL);
}

/* pipeline_net_real - the table over dns and fetch */
void pipeline_net_real(struct pipeline_net *net, struct dns *dns, struct fetch *fetch)
{
    net->dns_query = real_dns_query;
    net->dns_cancel = real_dns_cancel;
    net->fetch_policy = real_fetch_policy;
    net->now = real_now;
    net->dns_ctx = dns;
    net->fetch_ctx = fetch;
}
