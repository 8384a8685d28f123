/*
 * metrics - mxtlsd's Prometheus metrics listener (issue 16 item 1): the text
 * exposition format 0.0.4 at GET /metrics, over HTTP on its own loopback
 * TCP address (metrics.host, metrics.port; never Postfix's port, never the
 * control socket), served by libevent's evhttp on the daemon's event loop.
 *
 * A scrape reads core/stats.h's counters and three gauges (open Postfix
 * connections, cached MTA-STS domains, cached DANE facts) on the loop's
 * thread, formats them into the reply's evbuffer and returns: the request
 * path pays only the counters' increments, never a lock or an allocation.
 * Anything but GET /metrics is 404. doc/mxtlsd.8 "METRICS" lists the metrics.
 *
 * Failures: metrics_listen returns a negative code with diag when the
 * address cannot be bound (then mxtlsd does not start); a scrape that finds
 * no memory answers 500 and is logged; nothing here exits.
 */
#ifndef MXTLSD_METRICS_H
#define MXTLSD_METRICS_H

#include "mxtls/diag.h"

struct event_base;
struct metrics;
struct server;

#define METRICS_TIMEOUT_S 10 /* an HTTP connection idle this long is closed */

/*
 * metrics_listen - start the listener the configuration names
 * (policy->cfg->metrics) on base; *out is NULL when it names none. policy
 * (its sessions, its pipeline, read at each scrape) must outlive it. 0, or
 * a negative code with diag (the address cannot be bound, no memory).
 */
int metrics_listen(struct event_base *base, struct server *policy, struct metrics **out,
                   struct mxtls_diag *diag);

/* metrics_free - stop listening, close its connections; NULL is a no-op. */
void metrics_free(struct metrics *m);

#endif
