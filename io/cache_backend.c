/*
 * cache_backend - the registry of cache backends (see cache_backend.h): a
 * bounded array of tables by name, "sqlite" and "redis" built in. Lookups compare
 * names; nothing here allocates. cache_entry_finish lives here too, since
 * the record belongs to the interface, not to one backend.
 */
#include "cache_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_redis.h"
#include "cache_sqlite.h"

static const struct cache_backend_ops *registry[CACHE_BACKEND_MAX] = {&cache_sqlite_backend,
                                                                      &cache_redis_backend};
static size_t n_registered = 2;

/* cache_entry_finish - free what e owns (policy_text) and leave it empty */
void cache_entry_finish(struct cache_entry *e)
{
    if (e == NULL)
        return;
    free(e->policy_text);
    memset(e, 0, sizeof(*e));
}

/* cache_id_valid - RFC 8461 §3.1: sts-id = 1*32(ALPHA / DIGIT), within len octets */
bool cache_id_valid(const char *id, size_t len)
{
    if (len < 1 || len > STS_RECORD_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
            return false;
    }
    return true;
}

/* cache_domain_normalize - a NUL-terminated domain argument, bounded, normalised into out */
int cache_domain_normalize(const char *domain, char *out, struct mxtls_diag *diag)
{
    if (domain == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no domain");
    size_t len = strnlen(domain, DOMAIN_BUF_SIZE + 1);
    if (len > DOMAIN_BUF_SIZE)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "cache: domain too long");
    return domain_normalize(domain, len, out, DOMAIN_BUF_SIZE, diag);
}

/* cache_backend_find - the table registered under name, or NULL */
const struct cache_backend_ops *cache_backend_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < n_registered; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

/* complete - a table a store can drive; claim and mark_failed come as a pair */
static bool complete(const struct cache_backend_ops *ops)
{
    if (ops->name == NULL || ops->name[0] == '\0' || ops->open == NULL || ops->close == NULL)
        return false;
    if ((ops->claim == NULL) != (ops->mark_failed == NULL))
        return false;
    return ops->get != NULL && ops->put != NULL && ops->del != NULL && ops->walk != NULL;
}

/* cache_backend_register - add a table under a new name */
int cache_backend_register(const struct cache_backend_ops *ops, struct mxtls_diag *diag)
{
    if (ops == NULL || !complete(ops))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "cache backend %s: incomplete table (open, close, get, put, "
                              "del and walk are required; claim and mark_failed go together)",
                              ops != NULL && ops->name != NULL ? ops->name : "(unnamed)");
    if (cache_backend_find(ops->name) != NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache backend %s is already registered",
                              ops->name);
    if (n_registered >= CACHE_BACKEND_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0,
                              "cache backend %s: the registry is full (%d backends)", ops->name,
                              CACHE_BACKEND_MAX);
    registry[n_registered++] = ops;
    return 0;
}

/* cache_backend_names - "sqlite, ..." for messages */
void cache_backend_names(char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < n_registered && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "", registry[i]->name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* cache_backend_open - one connection to the backend called type */
int cache_backend_open(const char *type, const struct cache_backend_options *o,
                       struct cache_backend **out, struct mxtls_diag *diag)
{
    *out = NULL;
    const struct cache_backend_ops *ops = cache_backend_find(type);
    if (ops == NULL) {
        char known[128];
        cache_backend_names(known, sizeof(known));
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "unknown cache type \"%s\" (known: %s)",
                              type != NULL ? type : "", known);
    }
    int rc = ops->open(o, out, diag);
    if (rc < 0) {
        *out = NULL;
        return rc;
    }
    (*out)->ops = ops;
    return 0;
}

/* cache_backend_close - through the backend's table */
void cache_backend_close(struct cache_backend *b)
{
    if (b != NULL)
        b->ops->close(b);
}
