/*
 * check_gather - gather the facts of one domain for `mxtls check` and
 * `mxtls sts verify` on a libevent loop: the MX RRset; per MX host its A,
 * AAAA and _25._tcp TLSA RRsets (CNAME handling as core/dane.c: RFC 7672
 * §2.2.2) and an SMTP STARTTLS probe of each address (io/smtp_probe.h);
 * the _mta-sts TXT record, the policy host's address and the policy fetch
 * (io/fetch.h, the fetch mxtlsd uses, RFC 8461 §3.3); the _smtp._tls TXT
 * record (RFC 8460 §3). Lookups that do not depend on each other run at the
 * same time; each has the caller's deadline, so a dead domain takes a few
 * deadlines at most and never holds up another domain's gathering.
 *
 * Failures of the network are facts (a lookup FAILED, a probe that stopped
 * at a stage), never errors of the gathering. Exactly one callback per
 * gathering, always from the event loop (never from inside
 * check_gather_start). Nothing here prints or exits; out of memory aborts.
 */
#ifndef MXTLS_CHECK_GATHER_H
#define MXTLS_CHECK_GATHER_H

#include "check_facts.h"

struct event_base;
struct dns;
struct fetch;

/* What every gathering of a run shares; borrowed, must outlive the gatherings. */
struct check_env {
    struct event_base *base;
    struct dns *dns;           /* the validating resolver (io/dns.h) */
    struct fetch *fetch;       /* the policy fetcher (io/fetch.h) */
    const char *ca_file;       /* WebPKI trust store of the SMTP probe; NULL: OpenSSL's default */
    unsigned dns_timeout_ms;   /* each lookup and the policy fetch */
    unsigned probe_timeout_ms; /* each SMTP probe */
    enum check_scope scope;
};

/*
 * check_gather_cb - the facts of one domain, borrowed for the call (the
 * gathering frees them afterwards).
 */
typedef void (*check_gather_cb)(const struct check_facts *facts, void *arg);

/*
 * check_gather_start - start gathering the facts of domain (a normalised
 * host name). cb(facts, arg) is called once, later, from env->base's loop.
 */
void check_gather_start(const struct check_env *env, const char *domain, check_gather_cb cb,
                        void *arg);

#endif
