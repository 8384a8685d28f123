/*
 * control - the control socket's requests and its listener (see control.h).
 *
 * The verb is read with a bounded scan, never a copy: at most
 * CONTROL_VERB_MAX octets of [a-z-], then the end of the payload or one
 * space and the arguments. Anything else is a client that does not speak
 * this protocol: PERM and the connection closes, as for a bad frame.
 */
#include "control.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "log.h"
#include "lookup.h"
#include "mxtls/decide.h"
#include "mxtls/domain.h"
#include "mxtls/socketmap.h"
#include "server.h"
#include "session.h"
#include "sts_cache.h"

/* The policy server whose cache the admin requests read (one per process). */
static struct server *admin_policy;

/* control_explain - "explain ZONE NEXTHOP": the mxtls-explain map's answer */
static int control_explain(struct session *s, const char *args, size_t len)
{
    return session_explain(s, args, len);
}

/* ------------------------------------------------ cache admin (issue 16 §2) */

/* admin_cache - the policy server's MTA-STS cache, NULL when none */
static struct sts_cache *admin_cache(void)
{
    return admin_policy != NULL ? admin_policy->pipeline.sts : NULL;
}

/* word - the next space-separated word of (*p, *len) into out[size]; false when none or too long */
static bool word(const char **p, size_t *len, char *out, size_t size)
{
    size_t n = 0;
    while (n < *len && (*p)[n] != ' ')
        n++;
    if (n == 0 || n >= size || memchr(*p, '\0', n) != NULL) /* a NUL would cut it short */
        return false;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p += n < *len ? n + 1 : n;
    *len -= n < *len ? n + 1 : n;
    return true;
}

/* domain_arg - the request's DOMAIN, normalised (RFC 1035 syntax); false with a PERM reply */
static bool domain_arg(struct session *s, const char **args, size_t *len, char *out,
                       const char *verb)
{
    char raw[DOMAIN_BUF_SIZE + 1];
    struct mxtls_diag d = {0};
    char msg[160];
    if (!word(args, len, raw, sizeof(raw)) ||
        domain_normalize(raw, strlen(raw), out, DOMAIN_BUF_SIZE, &d) < 0) {
        snprintf(msg, sizeof(msg), "%s: expected a domain name", verb);
        session_reply(s, SOCKETMAP_PERM, msg);
        return false;
    }
    return true;
}

/* item_json - one cached policy as the JSON object of `mxtls cache list` (doc/mxtls.1) */
static json_t *item_json(const struct sts_cache_item *it, bool detail)
{
    const struct sts_policy_ref *p = it->policy;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "domain", json_string(it->domain));
    json_object_set_new(o, "mode", json_string(sts_mode_name(p->policy.mode)));
    json_object_set_new(o, "id", json_string(p->id));
    json_object_set_new(o, "max_age", json_integer((json_int_t)p->policy.max_age));
    json_object_set_new(o, "fetched_at", json_integer((json_int_t)p->fetched_at));
    json_object_set_new(o, "checked_at", json_integer((json_int_t)it->checked_at));
    /* RFC 8461 §5.1: the policy applies for max_age seconds after its fetch */
    json_object_set_new(o, "expires_at",
                        json_integer((json_int_t)(p->fetched_at + (int64_t)p->policy.max_age)));
    if (!detail)
        return o;
    json_t *mx = json_array();
    for (size_t i = 0; mx != NULL && i < p->policy.n_mx; i++)
        json_array_append_new(mx, json_string(p->policy.mx[i]));
    json_object_set_new(o, "mx", mx != NULL ? mx : json_null());
    char url[DOMAIN_BUF_SIZE + 48];
    snprintf(url, sizeof(url), "https://mta-sts.%s/.well-known/mta-sts.txt", it->domain);
    json_object_set_new(o, "fetched_from", json_string(url)); /* RFC 8461 §3.3 */
    json_object_set_new(o, "failed_at", json_integer((json_int_t)it->failed_at));
    json_object_set_new(o, "last_error", json_string(it->reason));
    json_object_set_new(o, "refreshing", json_boolean(it->refreshing));
    char *text = sts_policy_format(&p->policy);
    json_object_set_new(o, "policy", text != NULL ? json_string(text) : json_null());
    free(text);
    return o;
}

struct collect {
    struct sts_cache_item *items;
    size_t n, cap;
    const char *after; /* only domains sorting after it ("" = all) */
    bool oom;
};

/* collect_item - sts_cache_walk callback: keep the items of this page's range */
static void collect_item(const struct sts_cache_item *it, void *arg)
{
    struct collect *cl = arg;
    if (cl->oom || strcmp(it->domain, cl->after) <= 0)
        return;
    if (cl->n == cl->cap) {
        size_t cap = cl->cap ? cl->cap * 2 : 64;
        struct sts_cache_item *n = realloc(cl->items, cap * sizeof(*n));
        if (n == NULL) {
            cl->oom = true;
            return;
        }
        cl->items = n;
        cl->cap = cap;
    }
    cl->items[cl->n++] = *it;
}

/* by_domain - qsort order of items: by domain, so pages follow each other */
static int by_domain(const void *a, const void *b)
{
    return strcmp(((const struct sts_cache_item *)a)->domain,
                  ((const struct sts_cache_item *)b)->domain);
}

/*
 * line_export - the texthash line for it under zone: "DOMAIN POLICY", the
 * reply decide() gives an enforced policy with no DANE (lib/decide.c, the
 * same formatter as the socketmap answer), without its "OK "; NULL when it
 * is not one Postfix would enforce (mode testing or none, no mx).
 */
static char *line_export(const struct sts_cache_item *it, const struct config_zone *zone)
{
    struct decide_facts f = {0};
    f.domain = it->domain;
    f.mx = DECIDE_MX_HOSTS; /* no hosts, insecure: DANE does not apply (DESIGN.md step 2) */
    f.mx_dns = DECIDE_DNS_INSECURE;
    f.sts.state = DECIDE_STS_POLICY;
    f.sts.policy = &it->policy->policy;
    f.sts.cached = true;
    f.zone.strict_testing = false; /* the enforce policies only */
    f.zone.require_sni = zone->require_sni;
    f.zone.tlsrpt = zone->tlsrpt;
    f.zone.dane = false;
    struct decide_result r;
    struct mxtls_diag d = {0};
    char *line = NULL;
    if (it->policy->policy.mode != STS_MODE_ENFORCE)
        return NULL;
    int err = decide(&f, &r, &d);
    if (err == 0 && r.kind == DECIDE_OK && strncmp(r.reply, "OK ", 3) == 0) {
        size_t dl = strlen(it->domain), rl = strlen(r.reply + 3);
        if ((line = malloc(dl + rl + 2)) != NULL) {
            memcpy(line, it->domain, dl);
            line[dl] = ' ';
            memcpy(line + dl + 1, r.reply + 3, rl + 1);
        }
    }
    decide_result_finish(&r);
    return line;
}

/*
 * admin_page - "cache-list [AFTER]" and "cache-export ZONE [AFTER]": the
 * policies of the domains sorting after AFTER, by domain, as many as fit
 * CONTROL_PAGE_MAX octets, as one JSON array (socketmap data has no
 * newline): of objects (list) or of texthash lines (export); NOTFOUND when
 * there are none (the client's last page).
 */
static int admin_page(struct session *s, const char *args, size_t len, bool export)
{
    char zone_name[SOCKETMAP_NAME_MAX + 1] = "", after[DOMAIN_BUF_SIZE + 1] = "";
    const char *verb = export ? "cache-export" : "cache-list";
    char msg[160];
    struct sts_cache *c = admin_cache();
    if ((export && !word(&args, &len, zone_name, sizeof(zone_name))) ||
        (len > 0 && !word(&args, &len, after, sizeof(after))) || len > 0) {
        snprintf(msg, sizeof(msg), "%s: expected \"%s\"", verb,
                 export ? "cache-export ZONE [AFTER]" : "cache-list [AFTER]");
        session_reply(s, SOCKETMAP_PERM, msg);
        return 1;
    }
    if (c == NULL) {
        session_reply(s, SOCKETMAP_NOTFOUND, "");
        return 1;
    }
    const struct config_zone *zone =
        config_zone_for(admin_policy->cfg, zone_name, strlen(zone_name));
    struct collect cl = {.after = after};
    sts_cache_walk(c, collect_item, &cl);
    if (cl.oom) {
        free(cl.items);
        session_reply(s, SOCKETMAP_TEMP, "out of memory");
        return 1;
    }
    if (cl.n > 0)
        qsort(cl.items, cl.n, sizeof(*cl.items), by_domain);
    /* A JSON array, built by hand to stop at CONTROL_PAGE_MAX: socketmap
     * data is printable ASCII (no newline), hence JSON_ENSURE_ASCII. */
    char *out = malloc(CONTROL_PAGE_MAX + 2);
    size_t used = 1, lines = 0;
    bool oom = out == NULL;
    if (out != NULL)
        out[0] = '[';
    for (size_t i = 0; !oom && i < cl.n; i++) {
        json_t *o = NULL;
        if (export) {
            char *line = line_export(&cl.items[i], zone);
            if (line == NULL)
                continue; /* not an enforce policy */
            o = json_string(line);
            free(line);
        } else {
            o = item_json(&cl.items[i], false);
        }
        char *text =
            o != NULL ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY) : NULL;
        json_decref(o);
        if (text == NULL) {
            oom = true;
            break;
        }
        size_t tl = strlen(text);
        if (used + tl + 1 > CONTROL_PAGE_MAX) { /* the next page begins with it */
            free(text);
            oom = lines == 0; /* cannot happen: an element is far below the page */
            break;
        }
        if (lines > 0)
            out[used++] = ',';
        memcpy(out + used, text, tl);
        used += tl;
        lines++;
        free(text);
    }
    free(cl.items);
    if (oom) {
        free(out);
        session_reply(s, SOCKETMAP_TEMP, "out of memory");
        return 1;
    }
    out[used++] = ']';
    out[used] = '\0';
    session_reply(s, lines > 0 ? SOCKETMAP_OK : SOCKETMAP_NOTFOUND, out);
    free(out);
    return 1;
}

/* control_cache_list - "cache-list [AFTER]" */
static int control_cache_list(struct session *s, const char *args, size_t len)
{
    return admin_page(s, args, len, false);
}

/* control_cache_export - "cache-export ZONE [AFTER]" */
static int control_cache_export(struct session *s, const char *args, size_t len)
{
    return admin_page(s, args, len, true);
}

/* control_cache_show - "cache-show DOMAIN": OK {json}, NOTFOUND when nothing is cached */
static int control_cache_show(struct session *s, const char *args, size_t len)
{
    char domain[DOMAIN_BUF_SIZE];
    struct sts_cache_item it;
    struct sts_cache *c = admin_cache();
    if (!domain_arg(s, &args, &len, domain, "cache-show"))
        return 1;
    if (c == NULL || sts_cache_find(c, domain, &it) != 1) {
        session_reply(s, SOCKETMAP_NOTFOUND, "");
        return 1;
    }
    json_t *o = item_json(&it, true);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    session_reply(s, text != NULL ? SOCKETMAP_OK : SOCKETMAP_TEMP,
                  text != NULL ? text : "out of memory");
    free(text);
    return 1;
}

/*
 * control_cache_purge - "cache-purge DOMAIN [force]": drop the policy from
 * memory and the store (sts_cache_purge). RFC 8461 §5.1: until it is
 * fetched again the domain has no policy, so an enforce policy is purged
 * only with "force" (PERM otherwise).
 */
static int control_cache_purge(struct session *s, const char *args, size_t len)
{
    char domain[DOMAIN_BUF_SIZE], flag[8] = "";
    struct sts_cache_item it;
    struct sts_cache *c = admin_cache();
    if (!domain_arg(s, &args, &len, domain, "cache-purge"))
        return 1;
    if ((len > 0 && !word(&args, &len, flag, sizeof(flag))) || len > 0 ||
        (flag[0] != '\0' && strcmp(flag, "force") != 0)) {
        session_reply(s, SOCKETMAP_PERM, "cache-purge: expected \"cache-purge DOMAIN [force]\"");
        return 1;
    }
    if (c == NULL || sts_cache_find(c, domain, &it) != 1) {
        session_reply(s, SOCKETMAP_NOTFOUND, "");
        return 1;
    }
    if (it.policy->policy.mode == STS_MODE_ENFORCE && flag[0] == '\0') {
        session_reply(s, SOCKETMAP_PERM,
                      "enforce policy: purging it leaves the domain unprotected until it is "
                      "fetched again (RFC 8461 §5.1); add force");
        return 1;
    }
    json_t *o = item_json(&it, false); /* what was dropped, before it goes */
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    sts_cache_purge(c, domain);
    session_reply(s, SOCKETMAP_OK, text != NULL ? text : "{}");
    free(text);
    return 1;
}

/* The requests: one row each. */
static const struct {
    const char *verb;
    int (*handle)(struct session *s, const char *args, size_t len);
} requests[] = {
    {"explain", control_explain},           {"cache-list", control_cache_list},
    {"cache-show", control_cache_show},     {"cache-purge", control_cache_purge},
    {"cache-export", control_cache_export},
};

/* control_request - split "VERB ARGS", dispatch */
int control_request(struct session *s, const char *data, size_t len)
{
    size_t n = 0;
    while (n < len && n <= CONTROL_VERB_MAX &&
           ((data[n] >= 'a' && data[n] <= 'z') || data[n] == '-'))
        n++;
    if (n == 0 || n > CONTROL_VERB_MAX || (n < len && data[n] != ' ')) {
        log_msg(LOG_LEVEL_WARN, "control: malformed request (%zu octets); closing", len);
        session_reply(s, SOCKETMAP_PERM, "malformed request: expected \"VERB [ARGS]\"");
        session_close_after_reply(s);
        return 1;
    }
    const char *args = n < len ? data + n + 1 : data + len;
    size_t args_len = n < len ? len - n - 1 : 0;
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
        if (strlen(requests[i].verb) == n && memcmp(requests[i].verb, data, n) == 0)
            return requests[i].handle(s, args, args_len);
    log_msg(LOG_LEVEL_INFO, "control: unknown request \"%.*s\"", (int)n, data);
    session_reply(s, SOCKETMAP_PERM, "unknown request");
    return 1;
}

/*
 * owner - the uid and gid the control socket is given: mxtlsd's -u and -g,
 * as drop_privileges resolves them; *set false (no chown) when neither is
 * set. 0, or a negative code with diag.
 */
static int owner(const struct server *policy, uid_t *uid, gid_t *gid, bool *set,
                 struct mxtls_diag *diag)
{
    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    *set = policy->control_user != NULL || policy->control_group != NULL;
    if (policy->control_user != NULL) {
        struct passwd *pw = getpwnam(policy->control_user);
        if (pw == NULL)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "unknown user %s", policy->control_user);
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
    }
    if (policy->control_group != NULL) {
        struct group *gr = getgrnam(policy->control_group);
        if (gr == NULL)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "unknown group %s", policy->control_group);
        *gid = gr->gr_gid;
    }
    return 0;
}

/* control_listen - the control server, bound and owned by mxtlsd's user */
int control_listen(struct server *policy, struct mxtls_diag *diag)
{
    const struct config_control *cc = &policy->cfg->control;
    if (cc->path == NULL && cc->host == NULL)
        return 0;
    uid_t uid;
    gid_t gid;
    bool chown_it;
    int err = owner(policy, &uid, &gid, &chown_it, diag);
    if (err < 0)
        return err;
    struct server *ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    ctl->base = policy->base;
    ctl->cfg = policy->cfg;
    ctl->kind = SERVER_CONTROL;
    ctl->policy = policy;
    ctl->idle_s = CONTROL_IDLE_S;
    ctl->max_sessions = CONTROL_MAX_CONNECTIONS;
    ctl->addr = (struct server_addr){
        .path = cc->path,
        .mode = cc->path != NULL ? cc->mode : -1,
        .host = cc->host,
        .port = cc->port,
        .reuse_port = false,
        .backlog = 16,
    };
    policy->control = ctl; /* server_close frees it, whatever happens next */
    admin_policy = policy; /* the admin requests read its cache */
    if (cc->path != NULL && strncmp(cc->path, MXTLS_STATEDIR "/", sizeof(MXTLS_STATEDIR)) == 0 &&
        mkdir(MXTLS_STATEDIR, 0750) == 0 && chown_it && chown(MXTLS_STATEDIR, uid, gid) < 0)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "chown %s: %s", MXTLS_STATEDIR,
                              strerror(errno)); /* the default's directory, for the store too */
    struct mxtls_diag d = {0};
    if ((err = server_listen_addr(ctl, &d)) < 0)
        return mxtls_diag_set(diag, err, 0, "control socket: %s", d.what);
    if (cc->path != NULL && chown_it && lchown(cc->path, uid, gid) < 0)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "control socket: chown %s: %s", cc->path,
                              strerror(errno));
    if (cc->path != NULL)
        log_msg(LOG_LEVEL_INFO, "control socket %s (mode %04o)", cc->path, (unsigned)cc->mode);
    else
        log_msg(LOG_LEVEL_INFO, "control socket %s:%u (loopback TCP)", cc->host,
                (unsigned)cc->port);
    return 0;
}

/* control_free - the control server's memory */
void control_free(struct server *ctl)
{
    if (ctl != NULL)
        admin_policy = NULL; /* one control server per process */
    free(ctl);
}
