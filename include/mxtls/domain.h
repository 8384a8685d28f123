/*
 * domain - DNS host name validation and normalisation.
 *
 * Every name mxtls compares or looks up goes through here first, so that
 * "Example.COM." and "example.com" are the same name everywhere. A valid host
 * name (RFC 1034 §3.5, RFC 1123 §2.1) is one or more LDH labels separated by
 * dots: letters, digits and hyphens, not starting or ending with a hyphen,
 * 1-63 octets each, at most 253 octets in all without the trailing dot.
 * Internationalised names must arrive as A-labels ("xn--..."): raw UTF-8 or
 * any other octet outside LDH is rejected (RFC 8461 §3.2 and RFC 7672 use
 * A-labels on the wire). The last label must not be all digits (RFC 3696 §2),
 * which is also what keeps IPv4 literals out of name positions.
 *
 * Pure functions: no allocation, no I/O. Failures fill struct mxtls_diag.
 */
#ifndef MXTLS_DOMAIN_H
#define MXTLS_DOMAIN_H

#include <stddef.h>

#include "mxtls/diag.h"

#define DOMAIN_LABEL_MAX 63                    /* RFC 1035 §2.3.4 */
#define DOMAIN_NAME_MAX  253                   /* RFC 1035 §2.3.4 less the root label, as text */
#define DOMAIN_BUF_SIZE  (DOMAIN_NAME_MAX + 1) /* holds any normalised name */

/*
 * domain_normalize - validate host name (name, len) and write its canonical
 * form (lower-case, one trailing dot removed) into out, NUL-terminated. out
 * must hold DOMAIN_BUF_SIZE bytes; outsize is checked. The input need not be
 * NUL-terminated. Returns 0, MXTLS_EINVAL (bad syntax) or MXTLS_ETOOLONG.
 */
int domain_normalize(const char *name, size_t len, char *out, size_t outsize,
                     struct mxtls_diag *diag);

/*
 * domain_pattern_normalize - like domain_normalize, for an MTA-STS "mx"
 * pattern (RFC 8461 §3.2, §4.1): a host name, or "*." followed by a host name
 * with at least two labels ("*.com" would match every name in a TLD). The
 * wildcard is kept in the output ("*.example.com"). Returns 0, MXTLS_EINVAL or
 * MXTLS_ETOOLONG.
 */
int domain_pattern_normalize(const char *pattern, size_t len, char *out, size_t outsize,
                             struct mxtls_diag *diag);

#endif
