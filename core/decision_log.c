/*
 * decision_log - the per-next-hop policy record for TLS-RPT (see decision_log.h).
 */
#include "decision_log.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mxtls/postfix_log.h"

#define RECORD_MAX 12288

struct out {
    char *buf;
    size_t size, len;
    bool full;
};

/* put - append raw text */
static void put(struct out *o, const char *s)
{
    size_t n = strlen(s);
    if (o->full || o->len + n + 1 > o->size) {
        o->full = true;
        return;
    }
    memcpy(o->buf + o->len, s, n + 1);
    o->len += n;
}

/* put_enc - append one percent-encoded value */
static void put_enc(struct out *o, const char *s, size_t n)
{
    if (o->full)
        return;
    int w = postfix_log_encode(s, n, o->buf + o->len, o->size - o->len);
    if (w < 0)
        o->full = true;
    else
        o->len += (size_t)w;
}

/* put_sts_lines - the policy file's lines (RFC 8460 §4.4: policy-string for sts) */
static void put_sts_lines(struct out *o, const struct sts_policy *p)
{
    char *text = sts_policy_format(p);
    if (text == NULL) {
        o->full = true;
        return;
    }
    bool first = true;
    for (char *line = text; *line != '\0';) {
        char *e = strstr(line, "\r\n");
        size_t n = e != NULL ? (size_t)(e - line) : strlen(line);
        if (n > 0) {
            if (!first)
                put(o, ",");
            put_enc(o, line, n);
            first = false;
        }
        line += n + (e != NULL ? 2 : 0);
    }
    free(text);
}

/* decision_log_format - map the lookup to an RFC 8460 policy */
int decision_log_format(const struct lookup_result *r, char *buf, size_t size)
{
    const char *why = r->decision.why != NULL ? r->decision.why : "";
    const struct dane_facts *f = r->facts;
    const struct sts_policy *pol = r->sts.policy != NULL ? &r->sts.policy->policy : NULL;
    enum tlsrpt_policy_type type = TLSRPT_POLICY_NONE;
    enum tlsrpt_result failure = TLSRPT_SUCCESS;
    struct out o = {buf, size, 0, false};

    if (size == 0)
        return MXTLS_ENOSPACE;
    buf[0] = '\0';
    if (!strcmp(why, "dane-only") || !strcmp(why, "dane")) {
        type = TLSRPT_POLICY_TLSA; /* RFC 7672: DANE applies */
    } else if (!strcmp(why, "mx-bogus") || !strcmp(why, "addr-bogus")) {
        type = TLSRPT_POLICY_TLSA; /* RFC 8460 §4.3.2.2: no valid records from the resolver */
        failure = TLSRPT_DNSSEC_INVALID;
    } else if (!strcmp(why, "tlsa-bogus")) {
        type = TLSRPT_POLICY_TLSA; /* §4.3.2.2: the TLSA RRset failed validation */
        failure = TLSRPT_TLSA_INVALID;
    } else if (!strncmp(why, "sts-", 4) && strcmp(why, "sts-no-record") != 0 &&
               strcmp(why, "sts-resolver-failed") != 0 &&
               !(pol != NULL && pol->mode == STS_MODE_NONE && r->sts.state == DECIDE_STS_POLICY)) {
        type = TLSRPT_POLICY_STS;
        if (r->sts.state == DECIDE_STS_FAILED) {
            switch (r->sts.failure) { /* RFC 8460 §4.3.2.1 */
            case DECIDE_STS_POLICY_INVALID:
                failure = TLSRPT_STS_POLICY_INVALID;
                break;
            case DECIDE_STS_WEBPKI_INVALID:
                failure = TLSRPT_STS_WEBPKI_INVALID;
                break;
            default:
                failure = TLSRPT_STS_POLICY_FETCH_ERROR;
                break;
            }
        }
    } else if (r->decision.kind == DECIDE_TEMP || !strcmp(why, "mx-nxdomain") ||
               !strcmp(why, "mx-null") || !strcmp(why, "sts-resolver-failed")) {
        return 0; /* a temporary failure of our own, or no mail domain: no policy to report */
    }

    put(&o, "nexthop=");
    put_enc(&o, r->nexthop.domain, strlen(r->nexthop.domain));
    put(&o, " type=");
    put(&o, tlsrpt_policy_type_name(type));
    put(&o, " domain=");
    put_enc(&o, r->nexthop.domain, strlen(r->nexthop.domain));
    put(&o, " failure=");
    put(&o, failure == TLSRPT_SUCCESS ? "-" : tlsrpt_result_name(failure));
    put(&o, " mx=");
    size_t before = o.len;
    if (type == TLSRPT_POLICY_STS && pol != NULL) {
        for (size_t i = 0; i < pol->n_mx; i++) {
            if (i > 0)
                put(&o, ",");
            put_enc(&o, pol->mx[i], strlen(pol->mx[i]));
        }
    } else if (type == TLSRPT_POLICY_TLSA && f != NULL) {
        bool first = true;
        for (size_t i = 0; i < f->n_hosts; i++) {
            if (f->hosts[i].n_tlsa == 0 || f->hosts[i].name == NULL)
                continue;
            if (!first)
                put(&o, ",");
            put_enc(&o, f->hosts[i].name, strlen(f->hosts[i].name));
            first = false;
        }
    }
    if (o.len == before)
        put(&o, "-");
    put(&o, " string=");
    before = o.len;
    if (type == TLSRPT_POLICY_STS && pol != NULL) {
        put_sts_lines(&o, pol);
    } else if (type == TLSRPT_POLICY_TLSA && f != NULL) {
        /* RFC 8460 §4.4: the TLSA records as presented, "3 1 1 ab..." */
        bool first = true;
        for (size_t i = 0; i < f->n_hosts; i++) {
            for (size_t k = 0; k < f->hosts[i].n_shown; k++) {
                const char *t = f->hosts[i].shown[k].text;
                if (t == NULL)
                    continue;
                if (!first)
                    put(&o, ",");
                put_enc(&o, t, strlen(t));
                first = false;
            }
        }
    }
    if (o.len == before)
        put(&o, "-");
    if (o.full) {
        buf[0] = '\0';
        return MXTLS_ENOSPACE;
    }
    return (int)o.len;
}

struct slot {
    uint64_t key;  /* hash of the next-hop, 0 = empty */
    uint64_t hash; /* hash of the last record written */
    int64_t at;    /* when */
};

static struct slot slots[DECISION_LOG_SLOTS];

/* fnv - FNV-1a 64 of a string, never 0 */
static uint64_t fnv(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h != 0 ? h : 1;
}

/* decision_log_record - log when new, changed or due */
void decision_log_record(const struct lookup_result *r, int64_t now)
{
    static char buf[RECORD_MAX];
    if (!log_enabled(LOG_LEVEL_INFO))
        return;
    int n = decision_log_format(r, buf, sizeof(buf));
    if (n <= 0)
        return;
    uint64_t key = fnv(r->nexthop.domain), hash = fnv(buf);
    struct slot *s = &slots[key % DECISION_LOG_SLOTS];
    if (s->key == key && s->hash == hash && now - s->at < DECISION_LOG_REPEAT_S && now >= s->at)
        return;
    s->key = key;
    s->hash = hash;
    s->at = now;
    log_msg(LOG_LEVEL_INFO, "%s%s", POSTFIX_LOG_POLICY_MARK, buf);
}
