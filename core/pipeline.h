/*
 * pipeline - the lookup pipeline's services opened from a configuration:
 * the resolver (io/dns), the HTTPS fetcher (io/fetch), the persistent store
 * (store.c) and the two caches (dane.c, sts_cache.c), for every program that
 * answers a policy request (mxtlsd, `mxtls query --direct`).
 *
 * Opening is phased the way a daemon needs it: pipeline_open_net while still
 * privileged (the resolver reads its trust anchors and unbound_config, the
 * fetcher its CA file), before the listener is bound and privileges are
 * dropped; pipeline_open_caches after the drop (the store's files then belong
 * to the unprivileged user); pipeline_load once the signal handlers are in
 * place. pipeline_close frees in dependency order whatever was opened, also
 * after a failed open. Nothing here logs: failures are returned with a diag
 * for the caller to show. Event loop thread only.
 */
#ifndef CORE_PIPELINE_H
#define CORE_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "lookup.h"
#include "mxtls/diag.h"
#include "net.h"

struct event_base;
struct dns;
struct fetch;

/* pipeline_open_net's failures */
#define PIPELINE_E_RESOLVER                                                                        \
    (-1)                      /* dns_new failed; diag->code MXTLS_ENOMEM or a configuration error */
#define PIPELINE_E_HTTPS (-2) /* fetch_new failed */
/* pipeline_open_caches's failures */
#define PIPELINE_E_STORE (-3) /* the persistent cache could not be opened */
#define PIPELINE_E_NOMEM (-4) /* a cache could not be allocated */

/* pipeline_open_caches's flags */
#define PIPELINE_PERSIST 1u /* open the configured persistent store (cache.type not internal) */

/* The services, owned; `services` is what lookup_start borrows. */
struct pipeline_ctx {
    struct event_base *base; /* pipeline_open_net's: the store's reads come back on it */
    struct dns *dns;
    struct fetch *fetch;
    struct store *store;     /* NULL: memory only */
    struct pipeline_net net; /* dns and fetch as the caches reach them (net.h) */
    struct pipeline services;
};

/*
 * pipeline_open_net - the resolver and the fetcher on base, from cfg
 * (borrowed; must outlive the context). 0, or PIPELINE_E_RESOLVER /
 * PIPELINE_E_HTTPS with diag filled; call pipeline_close either way.
 */
int pipeline_open_net(struct pipeline_ctx *pc, struct event_base *base,
                      const struct mxtls_config *cfg, struct mxtls_diag *diag);

/*
 * pipeline_open_caches - with PIPELINE_PERSIST and a persistent cache.type,
 * the store over the backend of that name (io/cache_backend.h; creating
 * MXTLS_STATEDIR for the embedded default's file), its reads delivered on
 * pipeline_open_net's base, cache.threads reader threads; then the
 * MTA-STS cache (cache_grace, sts_resolver_failure_temp, cache_size for the
 * internal cache) and the DANE cache. 0, or PIPELINE_E_STORE with diag
 * filled, or PIPELINE_E_NOMEM.
 */
int pipeline_open_caches(struct pipeline_ctx *pc, const struct mxtls_config *cfg, unsigned flags,
                         struct mxtls_diag *diag);

/*
 * pipeline_load - replay the persistent store into the MTA-STS cache
 * (sts_cache_load); counts in *n_loaded and *n_invalid. 0 or negative.
 */
int pipeline_load(struct pipeline_ctx *pc, int64_t now, size_t *n_loaded, size_t *n_invalid);

/* pipeline_close - free the caches, then the fetcher, resolver and store; zeroes pc. */
void pipeline_close(struct pipeline_ctx *pc);

#endif
