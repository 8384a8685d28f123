/*
 * stats - mxtlsd's counters (see stats.h). Plain increments on the event
 * loop's thread; the only allocation is stats_init's, at start; nothing
 * here fails after it.
 */
#include "stats.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mxtls/diag.h"

struct mxtls_stats mxtls_stats;

/* Upper bounds (seconds) of the latency buckets: a cache hit is well under
 * a millisecond, a lookup with DNS and HTTPS takes tens of milliseconds to
 * seconds, a zone's timeout (4 s by default) caps the rest. */
static const double bucket_le[STATS_BUCKETS] = {0.0005, 0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10};
static const uint64_t bucket_ns[STATS_BUCKETS] = {
    500000, 1000000, 5000000, 25000000, 100000000, 500000000, 2500000000u, 10000000000u,
};

/* stats_init - the per-map counters, zeroed */
int stats_init(const struct mxtls_config *cfg)
{
    size_t n = STATS_MAP_ZONE0 + cfg->nzones;
    uint64_t *p = calloc(n * STATS_REPLIES, sizeof(*p));
    if (p == NULL)
        return MXTLS_ENOMEM;
    free(mxtls_stats.requests);
    mxtls_stats.requests = p;
    mxtls_stats.n_maps = n;
    return 0;
}

/* stats_finish - free the per-map counters */
void stats_finish(void)
{
    free(mxtls_stats.requests);
    mxtls_stats.requests = NULL;
    mxtls_stats.n_maps = 0;
}

/* stats_now_ns - the monotonic clock in nanoseconds */
uint64_t stats_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* stats_map - as config_zone_for: an exact name match, else the default zone */
unsigned stats_map(const struct mxtls_config *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->nzones; i++)
        if (strlen(cfg->zones[i].name) == len && memcmp(cfg->zones[i].name, name, len) == 0)
            return STATS_MAP_ZONE0 + (unsigned)i;
    return STATS_MAP_DEFAULT;
}

/* stats_reply - one reply and its latency */
void stats_reply(unsigned map, enum socketmap_status status, uint64_t t0_ns)
{
    if (map >= mxtls_stats.n_maps || (unsigned)status >= STATS_REPLIES)
        return; /* before stats_init */
    mxtls_stats.requests[map * STATS_REPLIES + (unsigned)status]++;
    uint64_t ns = stats_now_ns() - t0_ns;
    size_t i = 0;
    while (i < STATS_BUCKETS && ns > bucket_ns[i])
        i++;
    mxtls_stats.latency[i]++;
    mxtls_stats.latency_ns += ns;
}

/* stats_bucket_le - a bucket's upper bound in seconds */
double stats_bucket_le(size_t i)
{
    return i < STATS_BUCKETS ? bucket_le[i] : 0;
}
