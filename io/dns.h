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
 * No silent downgrade (issue 17): dns_new refuses a trust anchor file that is
 * empty, unreadable or holds no DS/DNSKEY record, and a missing default root
 * key. At run time the resolver must prove that validation is in effect: the
 * DNSKEY RRset of some configured trust point (or any answer) must come back
 * SECURE. Until it has, an INSECURE answer is held back until that probe ends;
 * when no trust point validates, INSECURE answers become FAILED ("DNSSEC
 * validation is not in effect"), so mxtlsd answers TEMP instead of treating
 * every domain as unsigned.
 *
 * Sizing (issue 17): libunbound's library defaults (16 outgoing UDP ports, 2
 * TCP, 1 MB caches) let a few dozen lookups towards a silent server starve
 * every other lookup. dns_new applies struct config_resolver with
 * ub_ctx_set_option BEFORE loading unbound_config, so the operator's file has
 * the last word. Cancelling a lookup (dns_cancel, a deadline) only forgets it
 * here: libunbound's background thread keeps resolving it (ub_cancel just
 * marks the query; its outgoing port and mesh state are freed when the
 * resolution ends by itself), so capacity comes from the sizing.
 *
 * Failures of dns_new/dns_query_start return NULL or a negative MXTLS_E* code
 * (diag.h); failures of a lookup arrive in its callback as DECIDE_DNS_FAILED
 * with a reason. Nothing here logs or exits.
 */
#ifndef MXTLS_IO_DNS_H
#define MXTLS_IO_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "mxtls/decide.h"
#include "mxtls/diag.h"

struct event_base;
struct dns;
struct dns_query;

#define DNS_DEFAULT_TIMEOUT_MS   4000   /* per-lookup deadline; config.h's default */
#define DNS_MAX_TIMEOUT_MS       600000 /* larger values are clamped to this */
#define DNS_NAME_MAX             254    /* presentation name, trailing dot allowed */
#define DNS_DEFAULT_TRUST_ANCHOR "/usr/share/dns/root.key" /* Debian's dns-root-data */

/* Resource record types the programs ask for (IANA "Resource Record (RR) TYPEs"). */
#define DNS_RR_A      1  /* RFC 1035 §3.4.1 */
#define DNS_RR_MX     15 /* RFC 1035 §3.3.9 */
#define DNS_RR_TXT    16 /* RFC 1035 §3.3.14 */
#define DNS_RR_AAAA   28 /* RFC 3596 §2.1 */
#define DNS_RR_DNSKEY 48 /* RFC 4034 §2 */
#define DNS_RR_TLSA   52 /* RFC 6698 §2 */

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
    const char *qname;      /* the name as passed to dns_query_start */
    int rrtype;             /* the type as passed to dns_query_start */
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
    /* DNSSEC health ahead of failure (issue 11): the RRSIG records of the
       answer section of the response (the RRset's and those of a CNAME chain
       followed), read from libunbound's answer_packet. n_rrsig is how many
       were found; rrsig_expire the earliest signature expiration among them
       as unix time (RFC 4034 §3.1.5, serial number arithmetic around now),
       0 when there is none or the packet is unavailable or malformed. */
    size_t n_rrsig;
    int64_t rrsig_expire;
};

/*
 * dns_rrsig_scan - the RRSIG records (RFC 4034 §3.1) in the answer section
 * of the DNS message (pkt, len) in wire form: returns how many, and sets
 * *expire to the earliest signature expiration among them as unix time,
 * reading the 32-bit field with serial number arithmetic around now (RFC
 * 4034 §3.1.5). A message that is short, truncated or malformed anywhere
 * before or in its answer section gives 0 and *expire 0. Pure; never reads
 * past len. This fills struct dns_answer's n_rrsig and rrsig_expire.
 */
size_t dns_rrsig_scan(const unsigned char *pkt, size_t len, int64_t now, int64_t *expire);

/* Called exactly once per successful dns_query_start, unless dns_cancel or dns_free comes first. */
typedef void (*dns_callback)(const struct dns_answer *answer, void *arg);

/*
 * dns_check_trust_anchor - is path (NULL: DNS_DEFAULT_TRUST_ANCHOR) a usable
 * trust anchor file: not empty as a name, readable, at most 1 MiB, with at
 * least one DS or DNSKEY record in zone-file syntax (RFC 4033 §2: a trust
 * anchor is a DS or DNSKEY RR)? Returns 0, or MXTLS_EINVAL (empty name, no
 * record) / MXTLS_EIO (cannot read) / MXTLS_ETOOLONG with diag naming the
 * file and the reason. Blocks (reads a file): for startup only.
 */
int dns_check_trust_anchor(const char *path, struct mxtls_diag *diag);

/*
 * dns_new - create a resolver bound to base. sizing, when not NULL, sets
 * libunbound's outgoing-range, outgoing-num-tcp, num-queries-per-thread,
 * msg/rrset/key/neg-cache-size and infra-cache-numhosts (0 leaves one at
 * libunbound's default); then unbound_config, when not NULL, an
 * unbound.conf(5) file, is loaded with ub_ctx_config (its options win). The
 * trust anchor file (dns_check_trust_anchor; NULL means
 * DNS_DEFAULT_TRUST_ANCHOR) is added with ub_ctx_add_ta_file. Starts the
 * validation probe (see above). Returns the resolver, or NULL with diag
 * filled: MXTLS_EINVAL, MXTLS_EIO or MXTLS_ETOOLONG for a configuration error
 * (trust anchor, unbound_config, an option libunbound refuses), MXTLS_ENOMEM
 * for libunbound or libevent failures. The caller frees it with dns_free
 * before freeing base.
 */
struct dns *dns_new(struct event_base *base, const char *unbound_config,
                    const char *trust_anchor_file, const struct config_resolver *sizing,
                    struct mxtls_diag *diag);

/*
 * dns_query_start - start a validating lookup of name (NUL-terminated
 * presentation form, at most DNS_NAME_MAX octets; class IN) and type rrtype
 * (1..65535) with its own deadline of timeout_ms milliseconds (0 means
 * DNS_DEFAULT_TIMEOUT_MS; values above DNS_MAX_TIMEOUT_MS are clamped).
 * Returns 0 and later calls cb(answer, arg) exactly once from the event loop,
 * never from inside dns_query_start; or returns MXTLS_EINVAL (bad name or
 * type), MXTLS_ENOMEM or MXTLS_EAGAIN (libunbound refused the query) and
 * never calls cb. The callback may start new lookups and may call dns_free.
 * When handle is not NULL, *handle is set for dns_cancel, valid until the
 * callback starts or dns_cancel/dns_free (which clear it).
 */
int dns_query_start(struct dns *dns, const char *name, int rrtype, unsigned timeout_ms,
                    dns_callback cb, void *arg, struct dns_query **handle);

/*
 * dns_cancel - forget a lookup in flight: its callback will not be called,
 * its deadline is disarmed, its memory freed, and libunbound is told
 * (ub_cancel: the resolver thread drops the answer when its resolution ends;
 * it does not stop the resolution). NULL is a no-op. Not for a handle whose
 * callback has started.
 */
void dns_cancel(struct dns_query *q);

/*
 * dns_free - cancel every lookup still in flight WITHOUT calling its callback
 * (the caller owns and releases their args), remove the event, delete the
 * libunbound context (joining its thread) and free dns. NULL is a no-op. May
 * be called from inside a dns callback: the context is then deleted once
 * libunbound's processing returns, and no further callback is made.
 */
void dns_free(struct dns *dns);

#endif
