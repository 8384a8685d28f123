/*
 * metrics - the Prometheus metrics listener (see metrics.h): evhttp on the
 * daemon's loop, one handler that formats core/stats.h's counters.
 *
 * Exposition format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats):
 * "# HELP" and "# TYPE" once per family, before its samples; label values
 * escape '\\', '"' and newline; a histogram's buckets are cumulative and end
 * with le="+Inf", equal to _count. Failures: see metrics.h.
 */
#include "metrics.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dane.h"
#include "log.h"
#include "server.h"
#include "stats.h"
#include "store.h"
#include "sts_cache.h"

struct metrics {
    struct evhttp *http;
    struct server *policy;
};

/* Reply types in enum socketmap_status order (socketmap.h). */
static const char *const reply_name[STATS_REPLIES] = {"OK", "NOTFOUND", "TEMP", "PERM"};

/* head - one family's HELP and TYPE lines */
static void head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* label_value - a label value, escaped as the format wants (\\, \", \n) */
static void label_value(struct evbuffer *b, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            evbuffer_add_printf(b, "\\%c", *v);
        else if (*v == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, v, 1);
    }
}

/* map_name - the map label of STATS_MAP_* index i */
static const char *map_name(const struct mxtls_config *cfg, size_t i)
{
    if (i == STATS_MAP_NONE)
        return "(no map)";
    if (i == STATS_MAP_DEFAULT)
        return "(default zone)";
    return cfg->zones[i - STATS_MAP_ZONE0].name;
}

/*
 * format_store - the persistent cache's health: whether its backend answers
 * (for a fleet's Redis, the state issue 14 asks to watch), its write
 * backlog, and a fleet's claims by outcome.
 */
static void format_store(const struct store *store, struct evbuffer *b)
{
    static const char *const outcome[4] = {"won", "held", "have", "failed"};
    struct store_health h;
    store_health(store, &h);
    head(b, "mxtlsd_cache_store_up", "gauge",
         "1 while the cache backend's last write and last read worked, else 0.");
    evbuffer_add_printf(b, "mxtlsd_cache_store_up %d\n", !h.failing && !h.read_failing);
    head(b, "mxtlsd_cache_store_pending_writes", "gauge",
         "Cache writes queued, not yet stored (lost by a crash).");
    evbuffer_add_printf(b, "mxtlsd_cache_store_pending_writes %zu\n", h.queued);
    head(b, "mxtlsd_cache_store_writes_total", "counter", "Cache writes stored.");
    evbuffer_add_printf(b, "mxtlsd_cache_store_writes_total %" PRIu64 "\n", h.written);
    head(b, "mxtlsd_cache_store_dropped_writes_total", "counter",
         "Cache writes dropped (queue full, or lost at exit).");
    evbuffer_add_printf(b, "mxtlsd_cache_store_dropped_writes_total %" PRIu64 "\n", h.dropped);
    head(b, "mxtlsd_cache_fleet_claims_total", "counter",
         "A fleet's answers to \"who fetches this policy\", by outcome (error: the backend "
         "failed).");
    for (size_t i = 0; i < 4; i++)
        evbuffer_add_printf(b, "mxtlsd_cache_fleet_claims_total{outcome=\"%s\"} %" PRIu64 "\n",
                            outcome[i], h.claims[i]);
    evbuffer_add_printf(b, "mxtlsd_cache_fleet_claims_total{outcome=\"error\"} %" PRIu64 "\n",
                        h.claims_failed);
}

/* format - every metric into b */
static void format(const struct metrics *m, struct evbuffer *b)
{
    const struct mxtls_stats *st = &mxtls_stats;
    const struct mxtls_config *cfg = m->policy->cfg;

    head(b, "mxtlsd_requests_total", "counter",
         "Socketmap replies queued on the policy port, by map (zone) and reply type.");
    for (size_t i = 0; i < st->n_maps; i++)
        for (size_t r = 0; r < STATS_REPLIES; r++) {
            evbuffer_add_printf(b, "mxtlsd_requests_total{map=\"");
            label_value(b, map_name(cfg, i));
            evbuffer_add_printf(b, "\",reply=\"%s\"} %" PRIu64 "\n", reply_name[r],
                                st->requests[i * STATS_REPLIES + r]);
        }

    head(b, "mxtlsd_request_duration_seconds", "histogram",
         "Time from a request's first octet read to its reply queued.");
    uint64_t cum = 0;
    for (size_t i = 0; i < STATS_BUCKETS; i++) {
        cum += st->latency[i];
        evbuffer_add_printf(b, "mxtlsd_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                            stats_bucket_le(i), cum);
    }
    cum += st->latency[STATS_BUCKETS];
    evbuffer_add_printf(b, "mxtlsd_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                        cum);
    evbuffer_add_printf(b, "mxtlsd_request_duration_seconds_sum %.9f\n",
                        (double)st->latency_ns / 1e9);
    evbuffer_add_printf(b, "mxtlsd_request_duration_seconds_count %" PRIu64 "\n", cum);

    head(b, "mxtlsd_sts_cache_hits_total", "counter",
         "MTA-STS cache queries answered from memory without I/O.");
    evbuffer_add_printf(b, "mxtlsd_sts_cache_hits_total %" PRIu64 "\n", st->sts_hits);
    head(b, "mxtlsd_sts_cache_misses_total", "counter",
         "MTA-STS cache queries that needed a refresh (store, DNS, HTTPS).");
    evbuffer_add_printf(b, "mxtlsd_sts_cache_misses_total %" PRIu64 "\n", st->sts_misses);

    uint64_t failed = 0;
    for (size_t i = 0; i < STATS_FAILURES; i++)
        failed += st->sts_fetch_failed[i];
    head(b, "mxtlsd_sts_policy_fetches_total", "counter",
         "MTA-STS policy fetches that ended: a policy, or a failure (policy host lookup, HTTPS, "
         "parse).");
    evbuffer_add_printf(b, "mxtlsd_sts_policy_fetches_total %" PRIu64 "\n",
                        st->sts_fetch_ok + failed);
    head(b, "mxtlsd_sts_policy_fetch_failures_total", "counter",
         "Failed MTA-STS policy fetches, by RFC 8460 result type.");
    for (size_t i = 0; i < STATS_FAILURES; i++)
        evbuffer_add_printf(
            b, "mxtlsd_sts_policy_fetch_failures_total{reason=\"%s\"} %" PRIu64 "\n",
            decide_sts_failure_name((enum decide_sts_failure)i), st->sts_fetch_failed[i]);

    head(b, "mxtlsd_dane_lookup_failures_total", "counter",
         "DANE DNS lookups (MX, A, AAAA, TLSA) that were DNSSEC-bogus or failed.");
    evbuffer_add_printf(b, "mxtlsd_dane_lookup_failures_total{result=\"bogus\"} %" PRIu64 "\n",
                        st->dane_bogus);
    evbuffer_add_printf(b, "mxtlsd_dane_lookup_failures_total{result=\"failed\"} %" PRIu64 "\n",
                        st->dane_failed);

    const struct pipeline *p = &m->policy->pipeline;
    if (p->store != NULL)
        format_store(p->store, b);
    head(b, "mxtlsd_open_connections", "gauge", "Postfix connections open now.");
    evbuffer_add_printf(b, "mxtlsd_open_connections %zu\n", m->policy->n_sessions);
    head(b, "mxtlsd_sts_cache_entries", "gauge",
         "Domains in the MTA-STS memory cache (with a policy or a remembered outcome).");
    evbuffer_add_printf(b, "mxtlsd_sts_cache_entries %zu\n",
                        p->sts != NULL ? sts_cache_count(p->sts) : 0);
    head(b, "mxtlsd_dane_cache_entries", "gauge", "Next-hops with cached DANE facts.");
    evbuffer_add_printf(b, "mxtlsd_dane_cache_entries %zu\n",
                        p->dane != NULL ? dane_cache_count(p->dane) : 0);
}

/* on_request - GET /metrics: the exposition; anything else: 404 */
static void on_request(struct evhttp_request *req, void *arg)
{
    const struct metrics *m = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET || path == NULL ||
        strcmp(path, "/metrics") != 0) {
        evhttp_send_error(req, HTTP_NOTFOUND, NULL);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (b == NULL) {
        log_msg(LOG_LEVEL_ERROR, "metrics: out of memory for a scrape");
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    format(m, b);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, HTTP_OK, "OK", b);
    evbuffer_free(b);
}

/* metrics_listen - bind metrics.host:metrics.port and serve on base */
int metrics_listen(struct event_base *base, struct server *policy, struct metrics **out,
                   struct mxtls_diag *diag)
{
    const struct config_metrics *c = &policy->cfg->metrics;
    *out = NULL;
    if (c->port == 0 || c->host == NULL)
        return 0;
    struct metrics *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->http = evhttp_new(base)) == NULL) {
        free(m);
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "metrics: out of memory");
    }
    m->policy = policy;
    evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
    evhttp_set_max_headers_size(m->http, 8192);
    evhttp_set_max_body_size(m->http, 0);
    evhttp_set_gencb(m->http, on_request, m);
    if (evhttp_bind_socket(m->http, c->host, c->port) != 0) {
        evhttp_free(m->http);
        free(m);
        return mxtls_diag_set(diag, MXTLS_EIO, 0,
                              "metrics: cannot listen on %s port %u (in use, or not an address "
                              "of this host)",
                              c->host, (unsigned)c->port);
    }
    log_msg(LOG_LEVEL_INFO, "metrics on http://%s%s%s:%u/metrics", strchr(c->host, ':') ? "[" : "",
            c->host, strchr(c->host, ':') ? "]" : "", (unsigned)c->port);
    *out = m;
    return 0;
}

/* metrics_free - the listener and its connections */
void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    evhttp_free(m->http);
    free(m);
}
