/*
 * sts_match - does an MX host name match an MTA-STS "mx" pattern (RFC 8461 §4.1).
 *
 * §4.1: a candidate MX host is valid for a policy if its name matches one or
 * more of the policy's "mx" patterns, using the RFC 6125 rules with the
 * wildcard "*" standing for exactly the whole left-most label: "*.example.com"
 * matches "mail.example.com" but neither "example.com" nor
 * "foo.bar.example.com". Comparison is case-insensitive and one trailing dot
 * on the host is ignored. A host that is not a valid host name (see
 * mxtls/domain.h: IP literals, "_" labels, non-ASCII, a "*" of its own)
 * matches nothing, and so does an invalid pattern.
 *
 * This is the MX *name* check only. §4.1's companion rule, §4.2 (the MX's
 * certificate must carry a DNS-ID matching the host name), happens in the TLS
 * handshake: for Postfix that is the `match=` list in the policy reply.
 * Postfix reads "*.example.com" there as ".example.com", which it matches
 * against certificate names at any depth below example.com, looser than
 * §4.1's one label.
 *
 * Pure functions: no allocation, no I/O, never read past host_len.
 */
#ifndef MXTLS_STS_MATCH_H
#define MXTLS_STS_MATCH_H

#include <stddef.h>

#include "mxtls/sts_policy.h"

/*
 * sts_match_host - 1 when host (host_len octets, need not be NUL-terminated)
 * matches the NUL-terminated pattern, else 0. pattern is normally one of
 * struct sts_policy's normalised mx strings, but any spelling accepted by
 * domain_pattern_normalize() works ("*.Example.COM."). Never fails otherwise:
 * invalid input simply does not match.
 */
int sts_match_host(const char *pattern, const char *host, size_t host_len);

/*
 * sts_policy_match - 1 when host matches at least one of policy's mx
 * patterns, else 0 (also for a NULL policy or one without patterns). The
 * policy's mode is not consulted: what a mismatch means is decided elsewhere.
 */
int sts_policy_match(const struct sts_policy *policy, const char *host, size_t host_len);

#endif
