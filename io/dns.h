/*
 * dns - validating DNS lookups for mxtlsd: libunbound, asynchronous, driven
 * by the daemon's libevent loop.
 *
 * A struct dns owns one libunbound context in async mode (a background
 * resolver thread) and one persistent libevent read event on ub_fd(); when the
 * fd is readable, ub_process() delivers finished answers. Nothing here blocks
 * the loop (dns_free excepted: it joins the resolver thread at shutdown).
 * Each lookup is a heap context with a deadline (a libevent timer) and exactly
 * one completion path: the answer, the deadline ("timeout", the libunbound
 * query cancelled) or dns_free (cancelled silently). libunbound's own retries
 * can take over a minute, hence the deadline.
 *
 * The answer's DNSSEC status is enum decide_dns (include/mxtls/decide.h):
 * SECURE when validated (including a validated NXDOMAIN or NODATA), BOGUS
 * when validation failed, FAILED for SERVFAIL, any rcode other than NOERROR
 * and NXDOMAIN, a libunbound error or the deadline, otherwise INSECURE.
 *
 * Failures of dns_new/dns_lookup return NULL or a negative MXTLS_E* code
 * (diag.h); failures of a lookup arrive in its callback as DECIDE_DNS_FAILED
 * with a reason. Nothing here logs or exits.
 */
#ifndef MXTLS_IO_DNS_H
#define MXTLS_IO_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxtls/decide.h"
#include "mxtls/diag.h"

struct event_base;
struct dns;

#define DNS_DEFAULT_TIMEOUT_MS   4000   /* per-lookup deadline; config.h's default */
#define DNS_MAX_TIMEOUT_MS       600000 /* larger values are clamped to this */
#define DNS_NAME_MAX             254    /* presentation name, trailing dot allowed */
#define DNS_DEFAULT_TRUST_ANCHOR "/usr/share/dns/root.key" /* Debian's dns-root-data */

/* One record's RDATA in wire format (names uncompressed), as libunbound gives it. */
struct dns_rdata {
    const unsigned char *data;
    size_t len;
};

/*
 * The outcome of one lookup. Everything it points to is borrowed: valid only
 * during the callback; copy what must outlive it.
 */
struct dns_answer {
    const char *qname;      /* the name as passed to dns_lookup */
    int rrtype;             /* the type as passed to dns_lookup */
    enum decide_dns status; /* see the header comment */
    int rcode;              /* DNS rcode of the response; -1 when none (error, timeout) */
    bool nxdomain;          /* rcode was NXDOMAIN */
    bool havedata;          /* the RRset of rrtype exists: n_rdata > 0 */
    uint32_t ttl;           /* TTL of the answer RRset (or of the negative answer) */
    const char *canonname;  /* target of the CNAME chain followed, without the trailing
                               dot (RFC 7672 §2.2.2); NULL when no CNAME was followed */
    size_t n_rdata;         /* number of records in rdata */
    const struct dns_rdata *rdata;
    const char *why; /* for BOGUS and FAILED: libunbound's why_bogus, "timeout
                        after N ms", "SERVFAIL", ...; NULL otherwise */
};

/* Called exactly once per successful dns_lookup, unless dns_free comes first. */
typedef void (*dns_callback)(const struct dns_answer *answer, void *arg);

/*
 * dns_new - create a resolver bound to base. unbound_config, when not NULL, is
 * an unbound.conf(5) file loaded with ub_ctx_config (e.g. a stub zone and
 * trust-anchor-file). trust_anchor_file, when not NULL, is added with
 * ub_ctx_add_ta_file; when NULL, DNS_DEFAULT_TRUST_ANCHOR (the root key) is
 * added, so with neither argument lookups validate from the root. Returns the
 * resolver, or NULL with diag filled (unreadable configuration, libunbound or
 * libevent failure). The caller frees it with dns_free before freeing base.
 */
struct dns *dns_new(struct event_base *base, const char *unbound_config,
                    const char *trust_anchor_file, struct mxtls_diag *diag);

/*
 * dns_set_timeout - set the deadline of lookups started from now on, in
 * milliseconds (0 means DNS_DEFAULT_TIMEOUT_MS; values above
 * DNS_MAX_TIMEOUT_MS are clamped). Lookups already running keep theirs.
 */
void dns_set_timeout(struct dns *dns, unsigned timeout_ms);

/*
 * dns_lookup - start a validating lookup of name (NUL-terminated presentation
 * form, at most DNS_NAME_MAX octets; class IN) and type rrtype (1..65535).
 * Returns 0 and later calls cb(answer, arg) exactly once from the event loop,
 * never from inside dns_lookup; or returns MXTLS_EINVAL (bad name or type),
 * MXTLS_ENOMEM or MXTLS_EAGAIN (libunbound refused the query) and never calls
 * cb. The callback may start new lookups and may call dns_free.
 */
int dns_lookup(struct dns *dns, const char *name, int rrtype, dns_callback cb, void *arg);

/*
 * dns_free - cancel every lookup still in flight WITHOUT calling its callback
 * (the caller owns and releases their args), remove the event, delete the
 * libunbound context (joining its thread) and free dns. NULL is a no-op. May
 * be called from inside a dns callback: the context is then deleted once
 * libunbound's processing returns, and no further callback is made.
 */
void dns_free(struct dns *dns);

#endif
