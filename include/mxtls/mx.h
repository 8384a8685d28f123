/*
 * mx - the RDATA of one DNS MX record (RFC 1035 §3.3.9) as libunbound hands
 * it over: a 16-bit preference, then the exchange name in uncompressed wire
 * form (RFC 3597 §4: resolvers pass RDATA of known types with names
 * decompressed; libunbound does).
 *
 * mx_rdata_parse turns it into the preference and the normalised host name,
 * or recognises the null MX target "." (RFC 7505). The input is hostile:
 * every length is checked against len, label lengths over 63 and names over
 * 255 octets are rejected, and so is anything after the name's root label.
 * A name whose labels are not host-name syntax (domain_normalize) is
 * rejected too: a host Postfix cannot look up cannot be secured.
 * Pure function: no allocation, no I/O.
 */
#ifndef MXTLS_MX_H
#define MXTLS_MX_H

#include <stddef.h>
#include <stdint.h>

#include "mxtls/diag.h"
#include "mxtls/domain.h"

#define MX_RDATA_MAX 257 /* 2 octets of preference + a 255-octet wire name */

/*
 * mx_rdata_parse - parse (buf, len). Returns 1 for a null MX (exchange "."),
 * with host "" (RFC 7505 §3); 0 with the preference in *pref and the
 * exchange, normalised, in host (DOMAIN_BUF_SIZE octets); or MXTLS_EINVAL /
 * MXTLS_ETOOLONG with diag saying why and where (host is then "").
 */
int mx_rdata_parse(const unsigned char *buf, size_t len, uint16_t *pref, char *host,
                   size_t hostsize, struct mxtls_diag *diag);

#endif
