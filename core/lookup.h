/*
 * lookup - one policy request through mxtlsd's pipeline: the DANE facts of
 * the next-hop (dane.c) and the MTA-STS state of its domain (sts_cache.c),
 * gathered in parallel, then decide() (lib/decide.c) for the reply.
 *
 * Both halves answer from their caches without I/O when they can; then
 * lookup_start completes at once. Otherwise the lookup completes later,
 * exactly once, through its callback, unless lookup_cancel comes first. The
 * result keeps references to the facts behind the answer so it can be
 * explained (explain.c). Event loop only.
 */
#ifndef CORE_LOOKUP_H
#define CORE_LOOKUP_H

#include "config.h"
#include "dane.h"
#include "mxtls/decide.h"
#include "mxtls/socketmap.h"
#include "sts_cache.h"

struct lookup;
struct store;

/* The services a lookup uses (borrowed). */
struct pipeline {
    struct dane_cache *dane;
    struct sts_cache *sts;
    struct store *store; /* the persistent cache, for explain's backlog; NULL: none */
};

struct lookup_result {
    struct socketmap_nexthop nexthop;
    struct config_zone zone;
    struct decide_result decision; /* reply, why, dane_why, sts_source */
    struct dane_facts *facts;      /* reference */
    struct sts_answer sts;
    const struct store *store; /* the pipeline's, borrowed: its health is explained */
};

typedef void (*lookup_callback)(struct lookup_result *result, void *arg);

/*
 * lookup_start - decide the policy for nh under zone (copied). Returns 1 with
 * *result filled now (release with lookup_result_finish); or 0 and later
 * calls cb(result, arg) once, the callback owning the result, with *handle
 * set for lookup_cancel; or MXTLS_ENOMEM.
 */
int lookup_start(const struct pipeline *p, const struct socketmap_nexthop *nh,
                 const struct config_zone *zone, struct lookup_result *result, lookup_callback cb,
                 void *arg, struct lookup **handle);

/* lookup_cancel - abandon a pending lookup; its callback is not called. */
void lookup_cancel(struct lookup *l);

/* lookup_result_finish - release what the result holds. */
void lookup_result_finish(struct lookup_result *r);

#endif
