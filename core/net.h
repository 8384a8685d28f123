/*
 * net - how the pipeline reaches the network: a small table of functions
 * plus a context, so dane.c and sts_cache.c run the same code over the real
 * resolver and fetcher (pipeline_net_real: io/dns.c, io/fetch.c) or over
 * scripted answers in unit tests (the idea of unbound's testcode/fake_event.c).
 *
 * The clock is part of it: policy and facts ages are unix seconds from now()
 * (time(2) for the real one; a test moves its own).
 *
 * The contracts are io/dns.h's dns_query_start and dns_cancel and io/fetch.h's
 * fetch_policy: a started query or fetch calls back exactly once, later,
 * from the event loop, never from inside the call that started it, unless
 * cancelled (dns_cancel clears *handle) or the network is freed.
 */
#ifndef CORE_NET_H
#define CORE_NET_H

#include <stdint.h>

#include "dns.h"
#include "fetch.h"

struct pipeline_net {
    /* dns_query_start (handle may be NULL) */
    int (*dns_query)(void *ctx, const char *name, int rrtype, unsigned timeout_ms, dns_callback cb,
                     void *arg, struct dns_query **handle);
    /* dns_cancel (q may be NULL) */
    void (*dns_cancel)(void *ctx, struct dns_query *q);
    /* fetch_policy */
    int (*fetch_policy)(void *ctx, const char *domain, const char *addr, unsigned timeout_ms,
                        fetch_callback cb, void *arg);
    /* the wall clock, unix seconds */
    int64_t (*now)(void);
    void *dns_ctx;   /* passed to dns_query and dns_cancel */
    void *fetch_ctx; /* passed to fetch_policy */
};

/* pipeline_net_real - *net over a real resolver and fetcher (borrowed; either may be NULL). */
void pipeline_net_real(struct pipeline_net *net, struct dns *dns, struct fetch *fetch);

#endif
