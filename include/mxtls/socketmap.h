/*
 * socketmap - the Postfix socketmap protocol (socketmap_table(5)) as mxtlsd
 * speaks it: parse a request, normalise the next-hop key of a TLS policy
 * lookup, and format a reply.
 *
 * Each request and each reply is one netstring (mxtls/netstring.h). A request
 * is "<name> <key>": the name is the last field of Postfix's
 * "socketmap:inet:host:port:name" or "socketmap:unix:path:name", then one
 * space, then the key. A reply is "OK <data>", "NOTFOUND ", "TEMP <reason>"
 * or "PERM <reason>"; Postfix rejects replies longer than its
 * socketmap_max_reply_size (100000 octets by default, not counting the
 * netstring framing) and reads the reply as a C string.
 *
 * For smtp_tls_policy_maps the key is a next-hop: "example.com",
 * "example.com.", "[example.com]", "[example.com]:587", "example.com:587"
 * (Postfix postconf(5), smtp_tls_policy_maps: the next-hop with its brackets
 * and non-default port), ".example.com" when Postfix probes parent domains,
 * or an IP literal. socketmap_nexthop_parse turns it into a policy domain,
 * whether it was bracketed, and the port; everything that is not a lookup is
 * an error, for which mxtlsd answers "NOTFOUND ".
 *
 * A parsed request owns copies of its strings. Pure functions: no
 * allocation, no I/O. Failures fill struct mxtls_diag.
 */
#ifndef MXTLS_SOCKETMAP_H
#define MXTLS_SOCKETMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxtls/diag.h"
#include "mxtls/domain.h"
#include "mxtls/netstring.h"

/* Request payload cap; also postfix-mta-sts-resolver's REQUEST_LIMIT. Use it
 * as the netstring_decode cap for requests. */
#define SOCKETMAP_REQUEST_MAX 1024
#define SOCKETMAP_NAME_MAX    64                          /* map name, octets */
#define SOCKETMAP_KEY_MAX     (SOCKETMAP_REQUEST_MAX - 2) /* key, octets */

/* Postfix's default socketmap_max_reply_size (socketmap_table(5)). */
#define SOCKETMAP_REPLY_MAX NETSTRING_SOCKETMAP_MAX
/* Holds any framed reply up to SOCKETMAP_REPLY_MAX: 6 digits, ':', ',', NUL. */
#define SOCKETMAP_REPLY_BUF_SIZE (SOCKETMAP_REPLY_MAX + 9)

struct socketmap_request {
    char name[SOCKETMAP_NAME_MAX + 1]; /* map name, NUL-terminated */
    char key[SOCKETMAP_KEY_MAX + 1];   /* lookup key, NUL-terminated */
    size_t key_len;
};

/*
 * socketmap_request_parse - parse a request payload (buf, len), the data of
 * one netstring, into req. The name runs to the first space and must be 1 to
 * SOCKETMAP_NAME_MAX printable ASCII octets; the key is everything after that
 * space, taken verbatim (it may contain further spaces and non-ASCII octets),
 * and must be 1 to SOCKETMAP_KEY_MAX octets with no control character (no
 * NUL, CR, LF, TAB, DEL), since Postfix keys are C strings and the key is
 * logged. Returns 0, MXTLS_EINVAL or MXTLS_ETOOLONG; req is unspecified on
 * failure.
 */
int socketmap_request_parse(const char *buf, size_t len, struct socketmap_request *req,
                            struct mxtls_diag *diag);

struct socketmap_nexthop {
    char domain[DOMAIN_BUF_SIZE]; /* policy domain: normalised, no brackets, no port */
    bool bracketed;               /* "[host]" form: no MX lookup, DANE for host itself */
    uint16_t port;                /* 1-65535; 25 when the key has none */
};

/*
 * socketmap_nexthop_parse - normalise a Postfix next-hop key (key, len) into
 * nh. Accepts "name", "name:port", "[name]" and "[name]:port", where name is
 * a host name for domain_normalize (lower-cased, one trailing dot dropped)
 * and port is 1-5 decimal digits with a value of 1-65535. Returns 0 for a
 * lookup; MXTLS_ENOTFOUND for keys that are well-formed but never looked up:
 * a parent-domain probe (".example.com") or an IPv4/IPv6 address literal
 * ("192.0.2.1", "[192.0.2.1]", "[ipv6:2001:db8::1]", "[2001:db8::1]"); and
 * MXTLS_EINVAL or MXTLS_ETOOLONG for anything malformed. Every non-zero
 * return means: answer "NOTFOUND ". nh is unspecified on failure.
 */
int socketmap_nexthop_parse(const char *key, size_t len, struct socketmap_nexthop *nh,
                            struct mxtls_diag *diag);

enum socketmap_status {
    SOCKETMAP_OK,       /* "OK <data>": the policy */
    SOCKETMAP_NOTFOUND, /* "NOTFOUND ": no policy */
    SOCKETMAP_TEMP,     /* "TEMP <reason>": Postfix defers the delivery */
    SOCKETMAP_PERM,     /* "PERM <reason>": Postfix treats it as a config error */
};

/*
 * socketmap_reply_format - write the reply for status as one netstring into
 * out, NUL-terminated, and its wire length (without the NUL) into *outlen
 * when outlen is not NULL. The reply payload is at most cap octets (use
 * SOCKETMAP_REPLY_MAX unless Postfix's socketmap_max_reply_size was
 * changed). For SOCKETMAP_OK, (text, text_len) is the policy: 1 or more
 * printable ASCII octets, else MXTLS_EINVAL; over the cap it is
 * MXTLS_ETOOLONG, never cut. For SOCKETMAP_NOTFOUND text_len must be 0. For
 * TEMP and PERM the reason is made safe for Postfix's log: every octet
 * outside printable ASCII (NUL, CR, LF, control, non-ASCII) becomes '?', and
 * it is cut to fit the cap. out must hold netstring_encoded_size(payload) + 1
 * octets; SOCKETMAP_REPLY_BUF_SIZE is always enough with the default cap.
 * Returns 0, MXTLS_EINVAL, MXTLS_ETOOLONG or MXTLS_ENOSPACE.
 */
int socketmap_reply_format(enum socketmap_status status, const char *text, size_t text_len,
                           size_t cap, char *out, size_t outsize, size_t *outlen,
                           struct mxtls_diag *diag);

#endif
