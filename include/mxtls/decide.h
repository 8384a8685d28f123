/*
 * decide - the mxtlsd decision: from DNS and MTA-STS facts to the Postfix reply.
 *
 * The I/O code of the daemon gathers facts (MX answer, per-host address and
 * TLSA lookups, the MTA-STS state, the zone's options) into a struct
 * decide_facts; decide() turns them into the text mxtlsd sends back to
 * Postfix's smtp_tls_policy_maps socketmap lookup, following the rules of
 * DESIGN.md "mxtlsd decision rules", steps 1-5:
 *
 *   1. MX answer: bogus or failed -> TEMP; NXDOMAIN or null MX (RFC 7505) ->
 *      "NOTFOUND "; NODATA -> the domain itself is the only host (the caller
 *      puts it in hosts[0]); a bracketed next-hop has no MX lookup at all.
 *   2. DANE (only with zone option dane and a secure MX answer, or a bracketed
 *      next-hop): per host, address lookup bogus/failed -> TEMP, insecure ->
 *      no DANE for that host; TLSA lookup bogus/failed -> TEMP.
 *   3. Every host DANE-usable -> "OK dane-only"; some host with a secure,
 *      non-empty TLSA RRset -> the MTA-STS answer if it is "secure", else
 *      "OK dane"; otherwise the MTA-STS answer.
 *   4. MTA-STS answer: enforce (or testing with strict_testing) ->
 *      "OK secure match=... [servername=hostname]"; a record whose policy
 *      host our own resolver failed to look up, with nothing cached -> TEMP;
 *      anything else "NOTFOUND ".
 *   5. With zone option tlsrpt, a "secure" MTA-STS answer carries Postfix's
 *      TLSRPT attributes (TLSRPT_README, Postfix 3.10+).
 *
 * Fail closed: a bogus or failed lookup that DANE depends on gives TEMP, never
 * a weaker answer; so do facts that break the contract below (the return value
 * says so too). decide() is pure: no I/O, no logging, no globals. It borrows
 * the facts and allocates only the reply text, which the result owns.
 */
#ifndef MXTLS_DECIDE_H
#define MXTLS_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxtls/diag.h"
#include "mxtls/sts_policy.h"

/*
 * mxtls cap on the MX hosts of one next-hop. Far above real MX sets (the
 * issue's 100-host domain is considered whole); it bounds what one next-hop
 * can make the resolver do (up to 4 lookups per host). The DANE gatherer
 * (src/mxtlsd/dane.c) reads every record of the MX answer and, for a secure
 * RRset with more distinct hosts than this, fails closed (TEMP) whatever the
 * answer order.
 */
#define DECIDE_HOSTS_MAX 256
/* Cap on the reply text, NUL included: Postfix's own limit, the default
 * socketmap_max_reply_size of 100000 octets (socketmap_table(5)); a reply
 * Postfix would refuse is answered TEMP instead, never cut. */
#define DECIDE_REPLY_MAX 100001

/* Outcome of one validating DNS lookup (libunbound: secure/bogus flags, rcode). */
enum decide_dns {
    DECIDE_DNS_SECURE = 0, /* validated answer, including a validated NODATA/NXDOMAIN */
    DECIDE_DNS_INSECURE,   /* answer from an unsigned zone (provably insecure) */
    DECIDE_DNS_BOGUS,      /* DNSSEC validation failed */
    DECIDE_DNS_FAILED,     /* SERVFAIL, timeout or any other lookup failure */
};

/* What the MX lookup for the next-hop domain returned. */
enum decide_mx {
    DECIDE_MX_HOSTS = 0, /* an MX RRset: hosts[] lists its targets */
    DECIDE_MX_NODATA,    /* no MX RRset: the domain itself is the only host, hosts[0] */
    DECIDE_MX_NXDOMAIN,  /* the domain does not exist */
    DECIDE_MX_NULL,      /* null MX "0 ." (RFC 7505): the domain takes no mail */
    DECIDE_MX_BRACKETED, /* [host] or [host]:port next-hop: no MX lookup, hosts[0] */
};

/* Facts about one host Postfix may connect to. */
struct decide_host {
    const char *name;     /* host name (TLSA base domain), normalised */
    enum decide_dns addr; /* its A/AAAA lookup */
    enum decide_dns tlsa; /* its _<port>._tcp TLSA lookup; read only when addr is secure */
    unsigned n_tlsa;      /* records in the secure TLSA RRset; 0 for a secure NODATA */
    unsigned n_usable;    /* of those, usable (RFC 7672 §3.1, decided by the tlsa module) */
};

/* Where MTA-STS (RFC 8461) stands for the policy domain. */
enum decide_sts_state {
    DECIDE_STS_NO_RECORD = 0, /* no _mta-sts TXT record with v=STSv1 */
    DECIDE_STS_POLICY,        /* a valid policy, fresh or from the cache: sts.policy */
    DECIDE_STS_FAILED,        /* a record, but no valid policy could be had: sts.failure */
    /* A record, but OUR resolver failed (timeout, SERVFAIL, lookup refused)
     * looking up the policy host mta-sts.<d>, so the policy could not even be
     * asked for. Not the policy host's failure that RFC 8461 §3.3 lets a
     * sender treat as "no policy": deferring costs minutes, a downgrade the
     * mail. The daemon gives this state for a bounded time only
     * (sts_resolver_failure_temp), then DECIDE_STS_FAILED. sts.policy: the
     * cached policy, applied as after any failure, or NULL (then TEMP). */
    DECIDE_STS_RESOLVER_FAILED,
};

/* Why a published policy could not be had: the RFC 8460 §4.3.2.1 result types. */
enum decide_sts_failure {
    DECIDE_STS_FETCH_ERROR = 0, /* "sts-policy-fetch-error": unreachable, HTTP status, ... */
    DECIDE_STS_POLICY_INVALID,  /* "sts-policy-invalid": the body did not parse */
    DECIDE_STS_WEBPKI_INVALID,  /* "sts-webpki-invalid": the HTTPS certificate failed */
};

struct decide_sts {
    enum decide_sts_state state;
    /* POLICY: the policy (required). FAILED: the cached, unexpired policy being
     * applied instead (RFC 8461 §3.3, §5.1), or NULL when there is none. */
    const struct sts_policy *policy;
    bool cached;                     /* POLICY: the policy came from the cache (reported in why) */
    enum decide_sts_failure failure; /* FAILED only */
};

/* Per-zone options of the configuration (postfix-mta-sts-resolver's keys). */
struct decide_zone {
    bool strict_testing; /* treat mode "testing" like "enforce" (default false) */
    bool require_sni;    /* add servername=hostname to secure answers (default true) */
    bool tlsrpt;         /* add Postfix 3.10 TLSRPT attributes (default false) */
    bool dane;           /* give DANE answers (default true) */
};

/*
 * All names normalised (domain_normalize: lower case, no trailing dot), since
 * they end up in the reply. hosts[]: the MX targets for DECIDE_MX_HOSTS (may be
 * empty: then no DANE); exactly the domain itself for DECIDE_MX_NODATA and
 * exactly the host for DECIDE_MX_BRACKETED, required when DANE would read it
 * (zone.dane, and a secure NODATA or a bracketed next-hop). Facts DANE does not
 * read (an insecure MX answer, dane off) may be left out.
 */
struct decide_facts {
    const char *domain;     /* next-hop without brackets/port: MX name and policy domain */
    uint16_t port;          /* TLSA port, for messages; 0 means 25 */
    enum decide_mx mx;      /* the MX answer kind */
    enum decide_dns mx_dns; /* its DNSSEC status; ignored for DECIDE_MX_BRACKETED */
    size_t n_hosts;         /* at most DECIDE_HOSTS_MAX */
    const struct decide_host *hosts;
    struct decide_sts sts;
    struct decide_zone zone;
};

enum decide_kind {
    DECIDE_OK = 0,   /* "OK <policy>" */
    DECIDE_NOTFOUND, /* "NOTFOUND ": Postfix applies its own default */
    DECIDE_TEMP,     /* "TEMP <reason>": Postfix defers the delivery */
};

/*
 * The answer and why. The three why strings are static, short and fixed, for
 * `mxtls query` and logs:
 *   why:        the rule that gave the reply: "invalid-facts", "no-memory",
 *               "too-long", "mx-bogus", "mx-failed", "mx-nxdomain", "mx-null",
 *               "addr-bogus", "addr-failed", "tlsa-bogus", "tlsa-failed",
 *               "dane-only", "dane", or an MTA-STS rule: "sts-enforce",
 *               "sts-testing-strict", "sts-testing", "sts-none",
 *               "sts-no-record", "sts-failed", "sts-no-mx",
 *               "sts-resolver-failed".
 *   dane_why:   what DANE concluded: "not-reached", "dane-off", "mx-insecure",
 *               "no-hosts", "no-tlsa", "some-tlsa", "all-usable".
 *   sts_source: where the MTA-STS policy came from: "not-used" (the answer
 *               did not consult MTA-STS), "none", "fetched", "cache",
 *               "cache-after-failure".
 */
struct decide_result {
    enum decide_kind kind;
    const char *reply; /* the socketmap reply text, NUL-terminated */
    const char *why;
    const char *dane_why;
    const char *sts_source;
    char *owned; /* private: the heap copy reply points to, if any */
};

/* decide_zone_defaults - the documented defaults: require_sni and dane on. */
void decide_zone_defaults(struct decide_zone *zone);

/*
 * decide - apply the decision rules to facts and fill *res, which the caller
 * provides uninitialised and later releases with decide_result_finish(). It
 * always yields a reply: 0 with the answer, or a negative MXTLS_E* code with a
 * TEMP reply and diag filled: MXTLS_EINVAL for facts that break the contract
 * above (a NULL or non-normalised name, an enum out of range, n_usable >
 * n_tlsa, more than DECIDE_HOSTS_MAX hosts, a missing or extra hosts[0], a
 * POLICY state without a policy, a policy whose mode, mx count or patterns are
 * not what sts_policy_parse() makes), MXTLS_ETOOLONG when the reply would exceed
 * DECIDE_REPLY_MAX, MXTLS_ENOMEM when out of memory (then the reply is a
 * static "TEMP mxtlsd: out of memory"). facts and res must not be NULL.
 */
int decide(const struct decide_facts *facts, struct decide_result *res, struct mxtls_diag *diag);

/* decide_result_finish - release the reply; leaves res empty. */
void decide_result_finish(struct decide_result *res);

/* decide_dns_name, decide_sts_failure_name - short names for messages and TLS-RPT. */
const char *decide_dns_name(enum decide_dns status);
const char *decide_sts_failure_name(enum decide_sts_failure failure);

/*
 * decide_rule_text - what the rule named in decide_result.why means, one
 * static English sentence for `mxtls query`; NULL for a name decide() does
 * not give (or NULL).
 */
const char *decide_rule_text(const char *why);

#endif
