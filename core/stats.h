/*
 * stats - mxtlsd's counters for the Prometheus metrics (issue 16 item 1;
 * src/mxtlsd/metrics.c formats them, doc/mxtlsd.8 "METRICS" names them).
 *
 * One process-wide struct of plain uint64_t counters (mxtls_stats). They are
 * incremented and read on the event loop's thread only (the sessions, the
 * MTA-STS cache and the DANE gatherer all run there, and so does the metrics
 * listener that reads them), so there are no locks and no atomics: a hook is
 * an increment. Nothing here allocates except stats_init, once, at start.
 * Programs that never call stats_init (the CLI) still increment the scalar
 * counters; stats_reply then counts nothing.
 *
 * Failures: stats_init returns MXTLS_ENOMEM; nothing else fails.
 */
#ifndef CORE_STATS_H
#define CORE_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "mxtls/decide.h"
#include "mxtls/socketmap.h"

/* Request maps: STATS_MAP_NONE (no map: the request did not parse), the
 * default zone, then cfg->zones[i] as STATS_MAP_ZONE0 + i. */
#define STATS_MAP_NONE    0u
#define STATS_MAP_DEFAULT 1u
#define STATS_MAP_ZONE0   2u

#define STATS_REPLIES  4 /* enum socketmap_status: OK, NOTFOUND, TEMP, PERM */
#define STATS_FAILURES 3 /* enum decide_sts_failure */
#define STATS_BUCKETS  8 /* latency histogram buckets, +Inf aside (stats_bucket_le) */

struct mxtls_stats {
    uint64_t *requests; /* [n_maps][STATS_REPLIES]: replies queued, policy port only */
    size_t n_maps;      /* STATS_MAP_ZONE0 + nzones; 0 before stats_init */
    uint64_t latency[STATS_BUCKETS + 1];       /* per bucket (not cumulative); last = +Inf */
    uint64_t latency_ns;                       /* sum of the observed latencies */
    uint64_t sts_hits;                         /* sts_cache_query answered from memory */
    uint64_t sts_misses;                       /* sts_cache_query needed a refresh */
    uint64_t sts_fetch_ok;                     /* policies fetched and parsed */
    uint64_t sts_fetch_failed[STATS_FAILURES]; /* by enum decide_sts_failure */
    uint64_t dane_bogus;                       /* DANE DNS lookups: DNSSEC bogus */
    uint64_t dane_failed;                      /* DANE DNS lookups: SERVFAIL, timeout... */
};

/* The counters; written on the event loop's thread only (see above). */
extern struct mxtls_stats mxtls_stats;

/*
 * stats_init - size the per-map request counters for cfg's zones (zeroed);
 * cfg's zones are read again by stats_map and by the metrics output, so cfg
 * must outlive the counters. 0 or MXTLS_ENOMEM.
 */
int stats_init(const struct mxtls_config *cfg);

/* stats_finish - free the per-map counters (at exit). */
void stats_finish(void);

/* stats_now_ns - CLOCK_MONOTONIC in nanoseconds (a vDSO call, no system call). */
uint64_t stats_now_ns(void);

/* stats_map - the STATS_MAP_* index of map name (name, len): as config_zone_for. */
unsigned stats_map(const struct mxtls_config *cfg, const char *name, size_t len);

/*
 * stats_reply - count one reply of status queued for map (STATS_MAP_*) and
 * its latency from t0_ns (stats_now_ns when its first octet was read).
 */
void stats_reply(unsigned map, enum socketmap_status status, uint64_t t0_ns);

/* stats_dns - count a DANE lookup's answer when it is bogus or failed. */
static inline void stats_dns(enum decide_dns status)
{
    mxtls_stats.dane_bogus += status == DECIDE_DNS_BOGUS;
    mxtls_stats.dane_failed += status == DECIDE_DNS_FAILED;
}

/* stats_bucket_le - the upper bound, in seconds, of latency bucket i < STATS_BUCKETS. */
double stats_bucket_le(size_t i);

#endif
