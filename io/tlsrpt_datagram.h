/*
 * tlsrpt_datagram - decode the datagrams libtlsrpt sends (sys4's TLSRPT
 * library, used by Postfix 3.10+ with smtp_tlsrpt_enable), so a Postfix
 * built with TLSRPT feeds `mxtls tlsrpt collect --socket` unchanged.
 *
 * The protocol (libtlsrpt's API documentation and its collectd): one
 * connection-less AF_UNIX datagram per delivery request, at most 65000 octets
 * of UTF-8 JSON:
 *
 *   {"dpv":"1", "d":"<recipient domain>", "pr":"<TLSRPT record>",
 *    "policies":[{"policy-type":1|2|9, "policy-domain":"...",
 *                 "policy-string":["..."], "mx-host":["..."],
 *                 "failure-details":[{"c":201, "s":"sending ip",
 *                     "n":"mx hostname", "h":"mx helo", "r":"receiving ip",
 *                     "a":"additional information", "f":"failure reason"}],
 *                 "t":<failure count>, "f":0|1}, ...]}
 *
 * policy-type 1 tlsa, 2 sts, 9 no-policy-found; "f" the final result (0
 * success, 1 failure); failure codes 201-205 (TLS negotiation: starttls-not-
 * supported, certificate-host-mismatch, certificate-not-trusted,
 * certificate-expired, validation-failure), 301-303 (sts-policy-fetch-error,
 * sts-policy-invalid, sts-webpki-invalid), 304-306 (tlsa-invalid,
 * dnssec-invalid, dane-required). "dpv" (datagram protocol version) is absent
 * in libtlsrpt before 0.5: read as version 1; any other version is refused
 * with MXTLS_ENOTFOUND so the caller counts it and logs it. Unknown members
 * are ignored (a later minor version may add some).
 *
 * Bounded: TLSRPT_DGRAM_MAX octets, TLSRPT_DGRAM_POLICIES_MAX policies, the
 * string caps of postfix_log.h; a string with a control character (it would
 * forge a list entry) is malformed. Decoding uses jansson (hence io/).
 * Nothing logs.
 */
#ifndef MXTLS_IO_TLSRPT_DATAGRAM_H
#define MXTLS_IO_TLSRPT_DATAGRAM_H

#include <stdbool.h>
#include <stddef.h>

#include "mxtls/diag.h"
#include "mxtls/postfix_log.h"

#define TLSRPT_DGRAM_MAX          65536 /* libtlsrpt's buffer is 65000 */
#define TLSRPT_DGRAM_POLICIES_MAX 16

struct tlsrpt_dgram_policy {
    enum tlsrpt_policy_type type;
    char domain[POSTFIX_LOG_HOST_MAX + 1];
    char strings[POSTFIX_LOG_POLICY_MAX + 1]; /* each entry ends '\n' */
    char mx[POSTFIX_LOG_MX_MAX + 1];          /* each entry ends '\n' */
    bool failed;                              /* "f": 1 */
    /* the first failure detail (a failed session has one decisive failure) */
    enum tlsrpt_result result; /* SUCCESS when none was given */
    char sending_ip[POSTFIX_LOG_IP_MAX + 1];
    char mx_host[POSTFIX_LOG_HOST_MAX + 1];
    char ip[POSTFIX_LOG_IP_MAX + 1];
    char reason[POSTFIX_LOG_REASON_MAX + 1];
};

struct tlsrpt_dgram {
    int version; /* 1; 0 when "dpv" was absent (libtlsrpt before 0.5) */
    char domain[POSTFIX_LOG_HOST_MAX + 1];
    size_t n;
    struct tlsrpt_dgram_policy p[TLSRPT_DGRAM_POLICIES_MAX];
};

/*
 * tlsrpt_dgram_decode - decode one datagram (buf, len) into *out (caller's,
 * large: allocate it). Returns 0; MXTLS_ETOOLONG (more than TLSRPT_DGRAM_MAX
 * octets, or too many policies), MXTLS_ENOTFOUND (an unknown "dpv"),
 * MXTLS_EINVAL (not JSON, a member of the wrong type, an unknown policy-type
 * or failure code, a field over its cap), MXTLS_ENOMEM; diag says which.
 */
int tlsrpt_dgram_decode(const void *buf, size_t len, struct tlsrpt_dgram *out,
                        struct mxtls_diag *diag);

/* tlsrpt_dgram_failure - the result type of a libtlsrpt failure code; -1 when unknown */
int tlsrpt_dgram_failure(long code);

#endif
