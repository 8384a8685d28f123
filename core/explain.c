/*
 * explain - lookup results as JSON with jansson (see explain.h).
 */
#include "explain.h"

#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "store.h"

/* host_json - one MX host's DANE facts */
static json_t *host_json(const struct dane_host *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(h->name));
    if (!h->addr_looked) {
        json_object_set_new(o, "address_dnssec", json_string("not looked up"));
        return o;
    }
    json_object_set_new(o, "address_dnssec", json_string(decide_dns_name(h->addr)));
    json_object_set_new(o, "addresses", json_string(h->addrs ? h->addrs : ""));
    if (h->canon != NULL)
        json_object_set_new(o, "cname_target", json_string(h->canon));
    if (h->tlsa_looked) {
        json_object_set_new(o, "tlsa_name", json_string(h->tlsa_name));
        json_object_set_new(o, "tlsa_dnssec", json_string(decide_dns_name(h->tlsa)));
        json_object_set_new(o, "tlsa_records", json_integer(h->n_tlsa));
        json_object_set_new(o, "tlsa_usable", json_integer(h->n_usable));
        json_t *rrs = json_array();
        for (size_t i = 0; i < h->n_shown; i++) {
            json_t *rr = json_object();
            json_object_set_new(rr, "record",
                                json_string(h->shown[i].text ? h->shown[i].text : "(malformed)"));
            json_object_set_new(rr, "usable", json_boolean(h->shown[i].usable));
            json_object_set_new(rr, "why", json_string(h->shown[i].why));
            json_array_append_new(rrs, rr);
        }
        json_object_set_new(o, "tlsa", rrs);
    } else {
        json_object_set_new(o, "tlsa_dnssec", json_string("not looked up"));
    }
    if (h->why != NULL)
        json_object_set_new(o, "error", json_string(h->why));
    return o;
}

static const char *mx_kind_name(enum decide_mx mx)
{
    switch (mx) {
    case DECIDE_MX_HOSTS:
        return "hosts";
    case DECIDE_MX_NODATA:
        return "none (implicit MX: the domain itself)";
    case DECIDE_MX_NXDOMAIN:
        return "nxdomain";
    case DECIDE_MX_NULL:
        return "null MX";
    case DECIDE_MX_BRACKETED:
        return "not looked up ([host] next-hop)";
    }
    return "unknown";
}

/* sts_json - where MTA-STS stands */
static json_t *sts_json(const struct sts_answer *a)
{
    static const char *const states[] = {"no-record", "policy", "failed", "resolver-failed"};
    json_t *o = json_object();
    json_object_set_new(o, "state", json_string(states[a->state]));
    if (a->id[0] != '\0')
        json_object_set_new(o, "record_id", json_string(a->id));
    if (a->state == DECIDE_STS_FAILED)
        json_object_set_new(o, "failure", json_string(decide_sts_failure_name(a->failure)));
    if (a->state == DECIDE_STS_POLICY && a->policy != NULL) {
        char why[STS_REASON_MAX];
        snprintf(why, sizeof(why), "%s policy id %s, mode %s", a->cached ? "cached" : "fetched",
                 a->policy->id, sts_mode_name(a->policy->policy.mode));
        json_object_set_new(o, "why", json_string(why));
    } else {
        json_object_set_new(o, "why", json_string(a->reason));
    }
    if (a->policy != NULL) {
        const struct sts_policy *p = &a->policy->policy;
        json_t *mx = json_array();
        for (size_t i = 0; i < p->n_mx; i++)
            json_array_append_new(mx, json_string(p->mx[i]));
        json_t *po = json_object();
        json_object_set_new(po, "id", json_string(a->policy->id));
        json_object_set_new(po, "mode", json_string(sts_mode_name(p->mode)));
        json_object_set_new(po, "mx", mx);
        json_object_set_new(po, "max_age", json_integer(p->max_age));
        json_object_set_new(po, "fetched_at", json_integer(a->policy->fetched_at));
        json_object_set_new(po, "age",
                            json_integer((json_int_t)time(NULL) - a->policy->fetched_at));
        json_object_set_new(po, "cached", json_boolean(a->cached));
        json_object_set_new(o, "policy", po);
    }
    return o;
}

/* store_json - the persistent cache's backlog and history (issue 17, items 7 and 8) */
static json_t *store_json(const struct store *s)
{
    struct store_health h;
    store_health(s, &h);
    json_t *o = json_object();
    json_object_set_new(o, "file", json_string(h.path));
    json_object_set_new(o, "state",
                        json_string(h.failing   ? "failing"
                                    : h.lagging ? "lagging"
                                                : "ok"));
    json_object_set_new(o, "queued", json_integer((json_int_t)h.queued));
    json_object_set_new(o, "oldest_ms", json_integer(h.oldest_ms));
    json_object_set_new(o, "written", json_integer((json_int_t)h.written));
    json_object_set_new(o, "failed_writes", json_integer((json_int_t)h.failed));
    json_object_set_new(o, "dropped_writes", json_integer((json_int_t)h.dropped));
    if (h.last_error[0] != '\0')
        json_object_set_new(o, "last_error", json_string(h.last_error));
    json_object_set_new(o, "file_lost", json_integer(h.file_lost));
    if (h.file_lost > 0)
        json_object_set_new(o, "file_lost_at", json_integer(h.file_lost_at));
    if (h.shrank) {
        json_object_set_new(o, "shrank_from", json_integer((json_int_t)h.shrank_from));
        json_object_set_new(o, "start_warning", json_string(h.start_warning));
    }
    return o;
}

/* explain_json - the whole explanation */
char *explain_json(const struct lookup_result *r)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    const struct dane_facts *f = r->facts;
    json_object_set_new(o, "domain", json_string(r->nexthop.domain));
    json_object_set_new(o, "bracketed", json_boolean(r->nexthop.bracketed));
    json_object_set_new(o, "port", json_integer(r->nexthop.port));
    json_object_set_new(o, "reply", json_string(r->decision.reply));
    json_object_set_new(o, "rule", json_string(r->decision.why));
    json_object_set_new(o, "dane", json_string(r->decision.dane_why));
    json_object_set_new(o, "mta_sts_source", json_string(r->decision.sts_source));
    json_t *zone = json_object();
    json_object_set_new(zone, "dane", json_boolean(r->zone.dane));
    json_object_set_new(zone, "strict_testing", json_boolean(r->zone.strict_testing));
    json_object_set_new(zone, "require_sni", json_boolean(r->zone.require_sni));
    json_object_set_new(zone, "tlsrpt", json_boolean(r->zone.tlsrpt));
    json_object_set_new(o, "zone", zone);
    if (f != NULL) {
        json_t *mx = json_object();
        json_object_set_new(mx, "answer", json_string(mx_kind_name(f->mx)));
        if (f->mx != DECIDE_MX_BRACKETED)
            json_object_set_new(mx, "dnssec", json_string(decide_dns_name(f->mx_dns)));
        if (f->mx_why != NULL)
            json_object_set_new(mx, "error", json_string(f->mx_why));
        json_t *hosts = json_array();
        for (size_t i = 0; i < f->n_hosts; i++)
            json_array_append_new(hosts, host_json(&f->hosts[i]));
        json_object_set_new(mx, "hosts", hosts);
        json_object_set_new(mx, "facts_age", json_integer((json_int_t)time(NULL) - f->gathered_at));
        json_object_set_new(o, "mx", mx);
    }
    json_object_set_new(o, "mta_sts", sts_json(&r->sts));
    if (r->store != NULL)
        json_object_set_new(o, "cache_store", store_json(r->store));
    char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

/* explain_not_looked_up_json - see explain.h */
char *explain_not_looked_up_json(const char *key, size_t key_len, const char *why)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_t *k = json_stringn(key, key_len); /* NULL when not UTF-8 */
    json_object_set_new(o, "key", k != NULL ? k : json_string("(not UTF-8)"));
    json_object_set_new(o, "why", json_string(why));
    json_object_set_new(o, "reply", json_string("NOTFOUND "));
    char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}
