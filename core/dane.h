/*
 * dane - the DNSSEC facts behind a DANE decision (RFC 7672 §2.2), gathered
 * with mxtlsd's own validating resolver and cached for their DNS TTL.
 *
 * For a next-hop (domain, bracketed, port), dane_query produces struct
 * dane_facts: the MX answer and its DNSSEC status (none for a bracketed
 * next-hop), and, only when that answer is secure, for each MX host the A and
 * AAAA lookups in parallel and, only when both are
 * secure, the TLSA RRset at _<port>._tcp.<host>. A host reached through a
 * secure CNAME chain is looked up at the expanded name first, then at the
 * original name (RFC 7672 §2.2.2). Secure NODATA for MX makes the domain its
 * own host (RFC 5321 §5.1 implicit MX); "0 ." is a null MX (RFC 7505).
 *
 * Facts without a failed or bogus lookup are kept until the smallest TTL of
 * the answers used (capped at DANE_TTL_MAX), so a cache hit does no I/O;
 * failures are not cached (the validator has its own negative cache). One
 * gathering per next-hop runs at a time, shared by every query that arrives
 * meanwhile. Facts are reference-counted. Event loop only; nothing blocks.
 *
 * Every distinct host of the MX answer is considered; a secure MX RRset with
 * more than DECIDE_HOSTS_MAX distinct hosts makes the MX lookup FAILED (TEMP,
 * RFC 7672 §2.1.1 fail closed), the same way whatever the answer order. Hosts
 * are kept in (preference, name) order. When every query waiting for a
 * gathering has been cancelled (its client went away), the gathering's DNS
 * lookups are cancelled and it is freed.
 *
 * Memory: facts are compact (issue 17): exact-size strings, NULL for "none";
 * for an insecure MX answer a host is only its name (what explain shows).
 */
#ifndef CORE_DANE_H
#define CORE_DANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxtls/decide.h"
#include "mxtls/domain.h"

#define DANE_TTL_MAX      3600 /* seconds: re-validate at least hourly */
#define DANE_WHY_MAX      200
#define DANE_RR_SHOWN_MAX 8 /* TLSA records kept as text per host, for explanations */

struct pipeline_net;
struct dane_cache;
struct dane_wait;

struct dane_rr {
    char *text;  /* "3 1 1 abcd...", owned; NULL when malformed */
    char *why;   /* "usable" or the tlsa module's reason, owned */
    bool usable; /* RFC 7672 §3.1 */
};

/* One MX host; every string owned, NULL when there is none. */
struct dane_host {
    char *name;
    char *addrs;           /* the addresses found, space-separated, for explanations */
    char *canon;           /* CNAME target of the address lookup */
    char *tlsa_name;       /* where the TLSA RRset was (last) looked up */
    char *why;             /* the failing lookup's reason */
    struct dane_rr *shown; /* n_shown TLSA records as text, for explanations */
    enum decide_dns addr;  /* A and AAAA combined: the worst of the two */
    enum decide_dns tlsa;
    unsigned n_tlsa, n_usable;
    unsigned char n_shown;
    bool addr_looked; /* the address lookups ran (secure MX answer or [host]) */
    bool tlsa_looked; /* the TLSA lookup ran (addr secure) */
};

struct dane_facts {
    unsigned refs;
    bool bracketed;
    uint16_t port;
    enum decide_mx mx;
    enum decide_dns mx_dns;
    char *mx_why; /* owned; NULL when the MX lookup did not fail */
    size_t n_hosts;
    struct dane_host *hosts; /* exactly n_hosts, heap */
    int64_t gathered_at;
    int64_t expires; /* unix time; 0 = not cacheable */
    char domain[];   /* exact size */
};

typedef void (*dane_callback)(struct dane_facts *facts, void *arg);

/*
 * dane_cache_new - facts gathered through net's DNS (net.h; the table is
 * copied, its contexts borrowed); NULL when out of memory.
 */
struct dane_cache *dane_cache_new(const struct pipeline_net *net);

/*
 * dane_query - the facts for the next-hop. When cached, stores a reference in
 * *out and returns 1. Otherwise returns 0, sets *wait and later calls
 * cb(facts, arg) once with a reference the callback owns, unless
 * dane_wait_cancel(*wait) comes first. timeout_ms bounds each lookup.
 * Returns MXTLS_ENOMEM when out of memory.
 */
int dane_query(struct dane_cache *c, const char *domain, bool bracketed, uint16_t port,
               unsigned timeout_ms, struct dane_facts **out, dane_callback cb, void *arg,
               struct dane_wait **wait);

/* dane_wait_cancel - the pending query's callback will not be called. */
void dane_wait_cancel(struct dane_wait *w);

/* dane_facts_unref - drop a reference; NULL is a no-op. */
void dane_facts_unref(struct dane_facts *f);

/* dane_cache_sweep - drop expired facts; returns how many. */
size_t dane_cache_sweep(struct dane_cache *c);

/* dane_cache_count - cached next-hops. */
size_t dane_cache_count(const struct dane_cache *c);

/* dane_cache_free - drop gatherings (no callbacks) and facts; NULL is a no-op. */
void dane_cache_free(struct dane_cache *c);

#endif
