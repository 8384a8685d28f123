/*
 * dns - validating DNS lookups with libunbound on a libevent loop.
 *
 * Every lookup is a struct dns_query on the resolver's list. It leaves the
 * list in exactly one place, query_complete (answer or deadline), or in
 * dns_free (cancelled, no callback). libunbound's callback runs inside
 * ub_process, so the context must not be deleted there: dns_free defers the
 * deletion until ub_process has returned (dns->dispatching).
 *
 * Validation in effect: dns->trust_points are the owners of the configured
 * trust anchors. A probe round looks up their DNSKEY RRsets; one SECURE
 * answer (or any SECURE answer at all) sets VALIDATING. An INSECURE answer
 * that arrives before that is held (q->held keeps libunbound's result) and
 * delivered when the round ends: as INSECURE when validation was proven, else
 * as FAILED with the reason. A round that proves nothing is retried when the
 * next INSECURE answer arrives. Proof is renewed by every SECURE answer and
 * expires after REVALIDATE_S: an anchor can stop working while we run.
 */
#include "dns.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <unbound.h>

#define TA_FILE_MAX      (1024 * 1024) /* a trust anchor file larger than this is refused */
#define TRUST_POINTS_MAX 16            /* trust points probed */
#define PROBE_TIMEOUT_MS 4000          /* deadline of one probe lookup */
#define REVALIDATE_S     3600          /* validation proven longer ago than this is proven again */

struct dns_query {
    struct dns *dns;
    struct dns_query *prev, *next; /* dns->queries */
    struct event *timer;           /* the deadline */
    int async_id;                  /* for ub_cancel */
    unsigned timeout_ms;
    int rrtype;
    bool probe;              /* a validation probe: never held, never downgraded */
    struct ub_result *held;  /* an INSECURE answer waiting for the probe round */
    struct dns_query **user; /* the caller's handle, cleared when the query ends */
    dns_callback cb;
    void *arg;
    char name[DNS_NAME_MAX + 1];
};

enum validation { VAL_UNKNOWN = 0, VAL_YES, VAL_NO };

struct dns {
    struct event_base *base;
    struct ub_ctx *ub;
    struct event *ev;          /* EV_READ|EV_PERSIST on ub_fd() */
    struct dns_query *queries; /* in flight */
    bool dispatching;          /* inside ub_process: deleting ub now would be fatal */
    bool free_pending;         /* dns_free was called while dispatching */
    enum validation validation;
    time_t validated_at; /* monotonic seconds of the last SECURE answer */
    size_t n_held;       /* queries holding an INSECURE answer */
    unsigned probes;     /* probe lookups of the current round in flight */
    bool round_secure;   /* some probe of the round was SECURE */
    bool round_insecure; /* some probe of the round was INSECURE */
    char why_not[160];   /* why validation is not (yet) proven */
    size_t n_trust_points;
    char trust_points[TRUST_POINTS_MAX][DNS_NAME_MAX + 1];
};

/* mono_s - the monotonic clock in seconds */
static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* validation_proven - a SECURE answer arrived: validation is in effect now */
static void validation_proven(struct dns *dns)
{
    dns->validation = VAL_YES;
    dns->validated_at = mono_s();
}

/* query_unlink - take q off its resolver's in-flight list. */
static void query_unlink(struct dns_query *q)
{
    if (q->prev != NULL)
        q->prev->next = q->next;
    else
        q->dns->queries = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
}

/* query_complete - the one completion path: unlink, stop the timer, call back, free. */
static void query_complete(struct dns_query *q, const struct dns_answer *ans)
{
    query_unlink(q);
    event_free(q->timer);
    if (q->user != NULL)
        *q->user = NULL;
    q->cb(ans, q->arg);
    free(q);
}

/* answer_failed - an answer carrying only a failure reason. */
static void answer_failed(struct dns_answer *ans, const struct dns_query *q, const char *why)
{
    memset(ans, 0, sizeof(*ans));
    ans->qname = q->name;
    ans->rrtype = q->rrtype;
    ans->status = DECIDE_DNS_FAILED;
    ans->rcode = -1;
    ans->why = why;
}

/* rcode_name - text for a failing rcode (RFC 1035 §4.1.1, RFC 6895 §2.3). */
static const char *rcode_name(int rcode)
{
    static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                        "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                        "NXRRSET", "NOTAUTH", "NOTZONE"};
    if (rcode >= 0 && (size_t)rcode < sizeof(names) / sizeof(names[0]))
        return names[rcode];
    return "unknown rcode";
}

/* same_name - do two presentation names match, ignoring case and a trailing dot? */
static bool same_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 1 && a[la - 1] == '.')
        la--;
    if (lb > 1 && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/*
 * skip_name - advance *pos over a (possibly compressed) domain name in the
 * message pkt of len octets (RFC 1035 §4.1.4). Returns 0, or -1 when the
 * name runs past the end or a label type is unknown. A compression pointer
 * ends the name here (its target is not followed: only its length matters).
 */
static int skip_name(const unsigned char *pkt, size_t len, size_t *pos)
{
    size_t p = *pos;
    for (unsigned labels = 0; labels < 128; labels++) {
        if (p >= len)
            return -1;
        unsigned c = pkt[p];
        if ((c & 0xC0) == 0xC0) { /* pointer: two octets end the name */
            if (p + 2 > len)
                return -1;
            *pos = p + 2;
            return 0;
        }
        if ((c & 0xC0) != 0) /* RFC 6891 §5: extended label types are not used */
            return -1;
        if (c == 0) {
            *pos = p + 1;
            return 0;
        }
        p += 1 + c;
    }
    return -1;
}

/* get16, get32 - big-endian integers; the caller checked the bounds */
static unsigned get16(const unsigned char *b)
{
    return (unsigned)b[0] << 8 | b[1];
}

static uint32_t get32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* dns_rrsig_scan - see dns.h */
size_t dns_rrsig_scan(const unsigned char *pkt, size_t len, int64_t now, int64_t *expire)
{
    enum { HEADER = 12, RR_RRSIG = 46, RRSIG_FIXED = 18 };
    size_t pos = HEADER, found = 0;
    int64_t earliest = 0;

    *expire = 0;
    if (pkt == NULL || len < HEADER)
        return 0;
    unsigned qd = get16(pkt + 4), an = get16(pkt + 6);
    for (unsigned i = 0; i < qd; i++) {
        if (skip_name(pkt, len, &pos) < 0 || pos + 4 > len)
            return 0;
        pos += 4; /* QTYPE, QCLASS */
    }
    for (unsigned i = 0; i < an; i++) {
        if (skip_name(pkt, len, &pos) < 0 || pos + 10 > len)
            return 0;
        unsigned type = get16(pkt + pos);
        size_t rdlen = get16(pkt + pos + 8);
        pos += 10;
        if (pos + rdlen > len)
            return 0;
        if (type == RR_RRSIG && rdlen >= RRSIG_FIXED) {
            /* type covered 2, algorithm 1, labels 1, original TTL 4, expiration 4 */
            uint32_t exp32 = get32(pkt + pos + 8);
            int64_t t = now + (int32_t)(exp32 - (uint32_t)now);
            if (found == 0 || t < earliest)
                earliest = t;
            found++;
        }
        pos += rdlen;
    }
    *expire = earliest;
    return found;
}

static void probe_round(struct dns *dns);
static void release_held(struct dns *dns);
static void dns_destroy(struct dns *dns);
static int query_start(struct dns *dns, const char *name, int rrtype, unsigned timeout_ms,
                       dns_callback cb, void *arg, struct dns_query **handle, bool probe);

/*
 * deliver - classify libunbound's result for q and complete q; frees res.
 * An INSECURE answer is trusted only once validation is proven (see above).
 */
static void deliver(struct dns_query *q, int err, struct ub_result *res, bool may_hold)
{
    struct dns *dns = q->dns;
    struct dns_answer ans;
    struct dns_rdata *rd = NULL;
    char canon[DNS_NAME_MAX + 2];
    char why[200];

    if (err != 0 || res == NULL) {
        snprintf(why, sizeof(why), "libunbound: %s", ub_strerror(err));
        answer_failed(&ans, q, why);
        goto done;
    }
    answer_failed(&ans, q, NULL);
    ans.rcode = res->rcode;
    ans.nxdomain = res->nxdomain != 0;
    ans.ttl = res->ttl > 0 ? (uint32_t)res->ttl : 0;
    /* Bogus first: libunbound may give any rcode with it (NOERROR in practice). */
    if (res->bogus) {
        ans.status = DECIDE_DNS_BOGUS;
        ans.why = res->why_bogus != NULL ? res->why_bogus : "DNSSEC validation failed";
        goto done;
    }
    if (res->rcode != 0 && res->rcode != 3) {
        ans.status = DECIDE_DNS_FAILED;
        ans.why = rcode_name(res->rcode);
        goto done;
    }
    ans.status = res->secure ? DECIDE_DNS_SECURE : DECIDE_DNS_INSECURE;
    ans.why = NULL;
    if (res->answer_packet != NULL && res->answer_len > 0)
        ans.n_rrsig = dns_rrsig_scan(res->answer_packet, (size_t)res->answer_len,
                                     (int64_t)time(NULL), &ans.rrsig_expire);
    if (ans.status == DECIDE_DNS_SECURE && !q->probe)
        validation_proven(dns); /* only a validated chain gives a secure answer */
    /* Anchors can stop working while we run (an RFC 5011 revocation, a
     * removed auto-trust-anchor-file): proof older than REVALIDATE_S is
     * proven again before an insecure answer is believed. */
    if (ans.status == DECIDE_DNS_INSECURE && !q->probe && dns->validation == VAL_YES &&
        mono_s() - dns->validated_at >= REVALIDATE_S)
        dns->validation = VAL_UNKNOWN;
    if (ans.status == DECIDE_DNS_INSECURE && !q->probe && dns->validation != VAL_YES) {
        /* RFC 4033 §5: without a trust anchor in effect nothing validates and
         * every answer looks insecure. Never pass that off as "unsigned". */
        if (dns->validation == VAL_UNKNOWN && may_hold) {
            q->held = res; /* delivered when the probe round ends */
            dns->n_held++;
            if (dns->probes == 0)
                probe_round(dns);
            return;
        }
        snprintf(why, sizeof(why), "DNSSEC validation is not in effect: %s", dns->why_not);
        answer_failed(&ans, q, why);
        goto done;
    }
    /* libunbound sets canonname to the owner of the answer; only a CNAME makes it
     * differ from the query name (RFC 7672 §2.2.2 uses it as the TLSA base). */
    if (res->canonname != NULL && !same_name(res->canonname, q->name)) {
        size_t n = strlen(res->canonname);
        if (n > 1 && res->canonname[n - 1] == '.')
            n--;
        if (n < sizeof(canon)) {
            memcpy(canon, res->canonname, n);
            canon[n] = '\0';
            ans.canonname = canon;
        }
    }
    if (res->havedata && res->data != NULL) {
        size_t n = 0;
        while (res->data[n] != NULL)
            n++;
        rd = n > 0 ? calloc(n, sizeof(*rd)) : NULL;
        if (n > 0 && rd == NULL) {
            answer_failed(&ans, q, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            rd[i].data = (const unsigned char *)res->data[i];
            rd[i].len = res->len[i] > 0 ? (size_t)res->len[i] : 0;
        }
        ans.n_rdata = n;
        ans.rdata = rd;
        ans.havedata = n > 0;
    }
done:
    q->held = NULL;
    query_complete(q, &ans);
    free(rd);
    ub_resolve_free(res);
}

/* on_resolved - libunbound's callback (inside ub_process): classify and complete. */
static void on_resolved(void *mydata, int err, struct ub_result *res)
{
    struct dns *dns = ((struct dns_query *)mydata)->dns;
    deliver(mydata, err, res, true);
    /* A secure answer proved validation: what was held need not wait. */
    if (dns->validation == VAL_YES && dns->n_held > 0 && !dns->free_pending)
        release_held(dns);
}

/*
 * release_held - deliver every held answer (the probe round ended, or
 * validation was proven). Callbacks may start lookups or call dns_free,
 * which is deferred meanwhile (dispatching); the caller that first set
 * dispatching (on_readable, on_deadline) destroys dns afterwards.
 */
static void release_held(struct dns *dns)
{
    bool was = dns->dispatching;
    dns->dispatching = true;
    for (;;) {
        struct dns_query *q = dns->queries;
        while (q != NULL && q->held == NULL)
            q = q->next;
        if (q == NULL || dns->free_pending)
            break;
        struct ub_result *res = q->held;
        q->held = NULL;
        dns->n_held--;
        deliver(q, 0, res, false); /* INSECURE stays only if validation was proven */
    }
    dns->dispatching = was; /* whoever set it first destroys dns if dns_free came */
}

/* on_probe - one DNSKEY answer of the round; the round ends with the last one */
static void on_probe(const struct dns_answer *a, void *arg)
{
    struct dns *dns = arg;
    if (a->status == DECIDE_DNS_SECURE) {
        /* One trust point validates: answers need not wait for the others
         * (an unreachable root in a test bed, say). */
        dns->round_secure = true;
        validation_proven(dns);
        release_held(dns);
    } else if (a->status == DECIDE_DNS_INSECURE)
        dns->round_insecure = true;
    if (a->status != DECIDE_DNS_SECURE && dns->why_not[0] == '\0')
        snprintf(dns->why_not, sizeof(dns->why_not), "the DNSKEY RRset of trust point %s is %s%s%s",
                 a->qname, decide_dns_name(a->status), a->why ? ": " : "", a->why ? a->why : "");
    if (--dns->probes > 0)
        return;
    if (dns->round_secure || dns->validation == VAL_YES)
        validation_proven(dns);
    else if (dns->round_insecure)
        dns->validation = VAL_NO; /* the anchors are not in effect: final */
    release_held(dns);
}

/* probe_round - look up the DNSKEY RRset of every trust point */
static void probe_round(struct dns *dns)
{
    dns->round_secure = dns->round_insecure = false;
    dns->why_not[0] = '\0';
    dns->probes = 1; /* held while starting: a refused lookup must not end the round */
    for (size_t i = 0; i < dns->n_trust_points; i++) {
        if (query_start(dns, dns->trust_points[i], DNS_RR_DNSKEY, PROBE_TIMEOUT_MS, on_probe, dns,
                        NULL, true) == 0)
            dns->probes++;
    }
    if (dns->n_trust_points == 0)
        snprintf(dns->why_not, sizeof(dns->why_not), "no trust anchor is configured");
    else if (dns->probes == 1)
        snprintf(dns->why_not, sizeof(dns->why_not), "the resolver refused the probe lookups");
    if (--dns->probes == 0) {
        if (dns->n_trust_points == 0 && dns->validation != VAL_YES)
            dns->validation = VAL_NO;
        release_held(dns);
    }
}

/* on_deadline - the query's timer fired: cancel it in libunbound, complete as FAILED. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct dns_query *q = arg;
    struct dns_answer ans;
    char why[64];

    (void)fd;
    (void)what;
    /* After ub_cancel libunbound never calls on_resolved for this query, even
     * if its answer is already waiting in the pipe. */
    if (q->held != NULL) {
        ub_resolve_free(q->held); /* answered, but validation was never proven */
        q->held = NULL;
        q->dns->n_held--;
    } else {
        ub_cancel(q->dns->ub, q->async_id);
    }
    snprintf(why, sizeof(why), "timeout after %u ms", q->timeout_ms);
    answer_failed(&ans, q, why);
    struct dns *dns = q->dns;
    bool was = dns->dispatching;
    dns->dispatching = true; /* a callback's dns_free is deferred to here */
    query_complete(q, &ans);
    dns->dispatching = was;
    if (!was && dns->free_pending)
        dns_destroy(dns);
}

/* dns_destroy - release everything; no query may be in flight. */
static void dns_destroy(struct dns *dns)
{
    if (dns->ev != NULL)
        event_free(dns->ev);
    if (dns->ub != NULL)
        ub_ctx_delete(dns->ub);
    free(dns);
}

/* on_readable - answers are waiting on ub_fd: let libunbound deliver them. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct dns *dns = arg;

    (void)fd;
    (void)what;
    dns->dispatching = true;
    /* An error here (a broken pipe to the resolver thread) leaves the queries to
     * their deadlines, which still complete each of them exactly once. */
    (void)ub_process(dns->ub);
    dns->dispatching = false;
    if (dns->free_pending)
        dns_destroy(dns);
}

/*
 * ta_scan - read a trust anchor file and collect the owners of its DS and
 * DNSKEY records (zone-file syntax: owner [TTL] [class] type rdata, ';'
 * comments; a line starting with a blank repeats the previous owner) into
 * dns->trust_points when dns is not NULL. Returns the number of DS/DNSKEY
 * records, or a negative MXTLS_E* code with diag filled.
 */
static int ta_scan(const char *path, struct dns *dns, struct mxtls_diag *diag)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "trust anchor file %s: %s", path,
                              strerror(errno));
    char *buf = malloc(TA_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(fp);
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "trust anchor file %s: out of memory", path);
    }
    size_t len = fread(buf, 1, TA_FILE_MAX + 1, fp);
    int rerr = ferror(fp);
    fclose(fp);
    if (rerr) {
        free(buf);
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "trust anchor file %s: cannot read it", path);
    }
    if (len > TA_FILE_MAX) {
        free(buf);
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "trust anchor file %s: larger than %d bytes",
                              path, TA_FILE_MAX);
    }
    buf[len] = '\0';
    int found = 0;
    char owner[DNS_NAME_MAX + 1] = "";
    for (char *line = buf, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        char *semi = strchr(line, ';');
        if (semi != NULL)
            *semi = '\0';
        char *tok[4];
        size_t n = 0;
        bool blank_start = *line == ' ' || *line == '\t';
        for (char *p = line; n < 4;) {
            while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '(')
                p++;
            if (*p == '\0')
                break;
            tok[n++] = p;
            while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r')
                p++;
            if (*p != '\0')
                *p++ = '\0';
        }
        if (n == 0 || tok[0][0] == '$')
            continue;
        size_t first = 0;
        if (!blank_start) {
            snprintf(owner, sizeof(owner), "%s", tok[0]);
            first = 1;
        }
        /* RFC 1035 §5.1: [TTL] [class] or [class] [TTL] before the type. */
        for (size_t i = first; i < n && i < first + 3; i++) {
            if (strcasecmp(tok[i], "DS") != 0 && strcasecmp(tok[i], "DNSKEY") != 0) {
                if (isdigit((unsigned char)tok[i][0]) || strcasecmp(tok[i], "IN") == 0)
                    continue;
                break;
            }
            found++;
            if (dns == NULL || owner[0] == '\0')
                break;
            bool seen = false;
            for (size_t k = 0; k < dns->n_trust_points; k++)
                seen = seen || same_name(dns->trust_points[k], owner);
            if (!seen && dns->n_trust_points < TRUST_POINTS_MAX)
                memcpy(dns->trust_points[dns->n_trust_points++], owner, sizeof(owner));
            break;
        }
    }
    free(buf);
    if (found == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "trust anchor file %s: no DS or DNSKEY record in it (DNSSEC "
                              "validation would be off)",
                              path);
    return found;
}

/* dns_check_trust_anchor - see dns.h */
int dns_check_trust_anchor(const char *path, struct mxtls_diag *diag)
{
    if (path == NULL)
        path = DNS_DEFAULT_TRUST_ANCHOR;
    if (path[0] == '\0')
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "resolver.trust_anchor_file is empty: DNSSEC validation would be "
                              "off (leave it out for %s)",
                              DNS_DEFAULT_TRUST_ANCHOR);
    int r = ta_scan(path, NULL, diag);
    return r < 0 ? r : 0;
}

/* set_num - one libunbound option from a number; 0 keeps libunbound's default */
static int set_num(struct ub_ctx *ub, const char *opt, uint32_t value, struct mxtls_diag *diag)
{
    char text[16];
    if (value == 0)
        return 0;
    snprintf(text, sizeof(text), "%lu", (unsigned long)value);
    int r = ub_ctx_set_option(ub, opt, text);
    if (r != 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "dns: %s %s: %s", opt, text, ub_strerror(r));
    return 0;
}

/*
 * configured_anchors - add the owners of the trust anchors that unbound_config
 * named (trust-anchor-file, auto-trust-anchor-file: the probe's targets). A
 * file it names that cannot be read is left to libunbound, which then fails
 * every lookup (fail closed).
 */
static void configured_anchors(struct dns *dns)
{
    static const char *const opts[] = {"trust-anchor-file", "auto-trust-anchor-file"};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        char *list = NULL;
        if (ub_ctx_get_option(dns->ub, opts[i], &list) != 0 || list == NULL)
            continue;
        for (char *p = list, *next; p != NULL && *p != '\0'; p = next) {
            next = strchr(p, '\n');
            if (next != NULL)
                *next++ = '\0';
            struct mxtls_diag d = {0};
            if (*p != '\0')
                (void)ta_scan(p, dns, &d);
        }
        free(list);
    }
}

/* dns_new - create the libunbound context, size it, configure it, watch its fd. */
struct dns *dns_new(struct event_base *base, const char *unbound_config,
                    const char *trust_anchor_file, const struct config_resolver *sizing,
                    struct mxtls_diag *diag)
{
    struct dns *dns;
    int r;

    if (base == NULL) {
        mxtls_diag_set(diag, MXTLS_EINVAL, 0, "dns: no event base");
        return NULL;
    }
    if (dns_check_trust_anchor(trust_anchor_file, diag) < 0)
        return NULL;
    if (trust_anchor_file == NULL)
        trust_anchor_file = DNS_DEFAULT_TRUST_ANCHOR;
    dns = calloc(1, sizeof(*dns));
    if (dns == NULL) {
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "dns: out of memory");
        return NULL;
    }
    dns->base = base;
    dns->ub = ub_ctx_create();
    if (dns->ub == NULL) {
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "dns: ub_ctx_create failed");
        goto fail;
    }
    /* Before ub_ctx_config: the operator's unbound_config has the last word. */
    if (sizing != NULL &&
        (set_num(dns->ub, "outgoing-range:", sizing->outgoing_range, diag) < 0 ||
         set_num(dns->ub, "outgoing-num-tcp:", sizing->outgoing_num_tcp, diag) < 0 ||
         set_num(dns->ub, "num-queries-per-thread:", sizing->num_queries_per_thread, diag) < 0 ||
         set_num(dns->ub, "msg-cache-size:", sizing->msg_cache_size, diag) < 0 ||
         set_num(dns->ub, "rrset-cache-size:", sizing->rrset_cache_size, diag) < 0 ||
         set_num(dns->ub, "key-cache-size:", sizing->key_cache_size, diag) < 0 ||
         set_num(dns->ub, "neg-cache-size:", sizing->neg_cache_size, diag) < 0 ||
         set_num(dns->ub, "infra-cache-numhosts:", sizing->infra_cache_numhosts, diag) < 0))
        goto fail;
    if (unbound_config != NULL && (r = ub_ctx_config(dns->ub, unbound_config)) != 0) {
        mxtls_diag_set(diag, MXTLS_EINVAL, 0, "dns: %s: cannot load (%s)", unbound_config,
                       ub_strerror(r));
        goto fail;
    }
    configured_anchors(dns);
    if ((r = ub_ctx_add_ta_file(dns->ub, trust_anchor_file)) != 0) {
        mxtls_diag_set(diag, MXTLS_EINVAL, 0, "dns: trust anchor %s: %s", trust_anchor_file,
                       ub_strerror(r));
        goto fail;
    }
    if (ta_scan(trust_anchor_file, dns, diag) < 0)
        goto fail;
    /* A background thread resolves; answers come back through ub_fd. */
    if ((r = ub_ctx_async(dns->ub, 1)) != 0) {
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "dns: ub_ctx_async: %s", ub_strerror(r));
        goto fail;
    }
    dns->ev = event_new(base, ub_fd(dns->ub), EV_READ | EV_PERSIST, on_readable, dns);
    if (dns->ev == NULL || event_add(dns->ev, NULL) != 0) {
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "dns: cannot watch the libunbound fd");
        goto fail;
    }
    probe_round(dns); /* proves that a trust anchor is in effect (see the top) */
    return dns;
fail:
    while (dns->queries != NULL)
        dns_cancel(dns->queries);
    dns_destroy(dns);
    return NULL;
}

/* query_start - start one lookup with its own deadline (probe: a validation probe). */
static int query_start(struct dns *dns, const char *name, int rrtype, unsigned timeout_ms,
                       dns_callback cb, void *arg, struct dns_query **handle, bool probe)
{
    struct dns_query *q;
    struct timeval tv;
    size_t len;

    if (dns == NULL || dns->free_pending || name == NULL || cb == NULL || rrtype < 1 ||
        rrtype > 65535)
        return MXTLS_EINVAL;
    len = strnlen(name, DNS_NAME_MAX + 1);
    if (len == 0 || len > DNS_NAME_MAX)
        return MXTLS_EINVAL;
    if (timeout_ms == 0)
        timeout_ms = DNS_DEFAULT_TIMEOUT_MS;
    if (timeout_ms > DNS_MAX_TIMEOUT_MS)
        timeout_ms = DNS_MAX_TIMEOUT_MS;
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return MXTLS_ENOMEM;
    memcpy(q->name, name, len);
    q->dns = dns;
    q->rrtype = rrtype;
    q->probe = probe;
    q->cb = cb;
    q->arg = arg;
    q->timeout_ms = timeout_ms;
    q->timer = evtimer_new(dns->base, on_deadline, q);
    if (q->timer == NULL) {
        free(q);
        return MXTLS_ENOMEM;
    }
    /* In async mode libunbound answers only from ub_process, never in here. */
    if (ub_resolve_async(dns->ub, q->name, rrtype, 1 /* IN */, q, on_resolved, &q->async_id) != 0) {
        event_free(q->timer);
        free(q);
        return MXTLS_EAGAIN;
    }
    tv.tv_sec = q->timeout_ms / 1000;
    tv.tv_usec = (q->timeout_ms % 1000) * 1000;
    if (evtimer_add(q->timer, &tv) != 0) {
        ub_cancel(dns->ub, q->async_id);
        event_free(q->timer);
        free(q);
        return MXTLS_ENOMEM;
    }
    q->next = dns->queries;
    if (dns->queries != NULL)
        dns->queries->prev = q;
    dns->queries = q;
    if (handle != NULL) {
        *handle = q;
        q->user = handle;
    }
    return 0;
}

/* dns_query_start - start one lookup with its own deadline. */
int dns_query_start(struct dns *dns, const char *name, int rrtype, unsigned timeout_ms,
                    dns_callback cb, void *arg, struct dns_query **handle)
{
    return query_start(dns, name, rrtype, timeout_ms, cb, arg, handle, false);
}

/* dns_cancel - forget one lookup: no callback; libunbound drops its answer. */
void dns_cancel(struct dns_query *q)
{
    if (q == NULL)
        return;
    query_unlink(q);
    if (q->held != NULL) {
        ub_resolve_free(q->held);
        q->dns->n_held--;
    } else
        (void)ub_cancel(q->dns->ub, q->async_id);
    if (q->user != NULL)
        *q->user = NULL;
    event_free(q->timer);
    free(q);
}

/* dns_free - cancel silently what is in flight, then release (or defer that). */
void dns_free(struct dns *dns)
{
    if (dns == NULL || dns->free_pending)
        return;
    while (dns->queries != NULL) {
        struct dns_query *q = dns->queries;
        q->user = NULL; /* the caller may have freed the handle's holder already */
        dns_cancel(q);
    }
    if (dns->dispatching) {
        dns->free_pending = true; /* on_readable destroys it after ub_process */
        return;
    }
    dns_destroy(dns);
}
