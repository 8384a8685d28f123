/*
 * pipeline - open and close the lookup pipeline's services (pipeline.h).
 * Failures are returned with a diag; nothing here logs or exits.
 */
#include "pipeline.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dane.h"
#include "dns.h"
#include "fetch.h"
#include "net.h"
#include "store.h"
#include "sts_cache.h"

/* pipeline_open_net - the resolver, then the HTTPS fetcher */
int pipeline_open_net(struct pipeline_ctx *pc, struct event_base *base,
                      const struct mxtls_config *cfg, struct mxtls_diag *diag)
{
    pc->base = base;
    pc->dns = dns_new(base, cfg->unbound_config, cfg->trust_anchor_file, &cfg->resolver, diag);
    if (pc->dns == NULL)
        return PIPELINE_E_RESOLVER;
    pc->fetch = fetch_new(base, cfg->ca_file, diag);
    if (pc->fetch == NULL)
        return PIPELINE_E_HTTPS;
    return 0;
}

/*
 * redis_name - how messages name a Redis cache: the URL without its
 * credentials (never logged), or the sentinels' master name.
 */
static const char *redis_name(const struct config_cache *cc, char *buf, size_t size)
{
    if (cc->n_sentinels > 0) {
        snprintf(buf, size, "redis master %s (via %zu sentinels)",
                 cc->sentinel_master_name ? cc->sentinel_master_name : "?", cc->n_sentinels);
        return buf;
    }
    const char *url = cc->url != NULL ? cc->url : "";
    const char *rest = strstr(url, "://");
    rest = rest != NULL ? rest + 3 : url;
    const char *at = strrchr(rest, '@');
    const char *slash = strchr(rest, '/');
    if (at != NULL && (slash == NULL || at < slash))
        snprintf(buf, size, "%.*s%s", (int)(rest - url), url, at + 1);
    else
        snprintf(buf, size, "%s", url);
    return buf;
}

/* open_store - the persistent cache's backend by name; creates the default state directory */
static int open_store(struct pipeline_ctx *pc, const struct mxtls_config *cfg,
                      struct mxtls_diag *diag)
{
    if (cfg->cache.type == CONFIG_CACHE_INTERNAL)
        return 0;
    char name[CONFIG_STR_MAX + 64];
    const char *path = cfg->cache.filename;
    if (cfg->cache.type == CONFIG_CACHE_REDIS)
        path = redis_name(&cfg->cache, name, sizeof(name));
    else if (strncmp(path, MXTLS_STATEDIR "/", sizeof(MXTLS_STATEDIR)) == 0)
        mkdir(MXTLS_STATEDIR, 0750); /* the embedded default's directory */
    /* redis max_connections: the writer's connection plus one per reader */
    unsigned readers = cfg->cache.threads;
    if (cfg->cache.type == CONFIG_CACHE_REDIS && cfg->cache.max_connections > 0)
        readers = cfg->cache.max_connections > 1 ? cfg->cache.max_connections - 1 : 1;
    struct store_config sc = {
        .type = config_cache_type_name(cfg->cache.type),
        .readers = readers,
        .base = pc->base,
        .cf = &cfg->cache,
        .busy_ms = cfg->cache.timeout_ms,
        .queue_max = cfg->store_queue_max,
        .lag_warning_ms = cfg->store_lag_warning_ms,
    };
    pc->store = store_open(path, &sc, diag);
    return pc->store != NULL ? 0 : PIPELINE_E_STORE;
}

/* pipeline_open_caches - the store (if asked), the MTA-STS and DANE caches */
int pipeline_open_caches(struct pipeline_ctx *pc, const struct mxtls_config *cfg, unsigned flags,
                         struct mxtls_diag *diag)
{
    if ((flags & PIPELINE_PERSIST) != 0 && open_store(pc, cfg, diag) < 0)
        return PIPELINE_E_STORE;
    int64_t grace = (int64_t)(cfg->cache_grace_ms / 1000);
    struct pipeline *p = &pc->services;
    pipeline_net_real(&pc->net, pc->dns, pc->fetch);
    p->sts = sts_cache_new(&pc->net, pc->store, grace);
    if (p->sts != NULL) /* TEMP while our own resolver fails a policy host */
        sts_cache_set_resolver_temp(p->sts, cfg->sts_resolver_failure_temp_s);
    p->dane = dane_cache_new(&pc->net);
    p->store = pc->store;
    if (p->sts == NULL || p->dane == NULL)
        return PIPELINE_E_NOMEM;
    if (cfg->cache.type == CONFIG_CACHE_INTERNAL)
        sts_cache_set_limit(p->sts, cfg->cache.cache_size);
    return 0;
}

/* pipeline_load - the persistent cache into memory */
int pipeline_load(struct pipeline_ctx *pc, int64_t now, size_t *n_loaded, size_t *n_invalid)
{
    return sts_cache_load(pc->services.sts, now, n_loaded, n_invalid);
}

/* pipeline_close - caches first (they use the rest), then the I/O, then the store */
void pipeline_close(struct pipeline_ctx *pc)
{
    sts_cache_free(pc->services.sts);
    dane_cache_free(pc->services.dane);
    fetch_free(pc->fetch);
    dns_free(pc->dns);
    store_close(pc->store);
    memset(pc, 0, sizeof(*pc));
}
