/*
 * gz - gunzip a buffer with zlib, with a hard cap on the decompressed size.
 *
 * A TLS report mailed or POSTed as application/tlsrpt+gzip (RFC 8460 §3,
 * §5.3) is gzip (RFC 1952), with or without a file name in its header.
 * Concatenated members are joined, as gzip(1) does. The output buffer grows
 * by doubling and never beyond max octets, so a "gzip bomb" is refused after
 * at most max octets of output memory, whatever it would expand to.
 *
 * Failures: 0, or MXTLS_EINVAL (not gzip, corrupt or truncated data, a bad
 * CRC, trailing bytes that are not another member), MXTLS_ETOOLONG (more
 * than max octets), MXTLS_ENOMEM, with diag saying which. Nothing logs.
 */
#ifndef MXTLS_IO_GZ_H
#define MXTLS_IO_GZ_H

#include <stddef.h>

#include "mxtls/diag.h"

/* gz_is_gzip - the buffer starts with the gzip magic (RFC 1952 §2.3.1) */
int gz_is_gzip(const void *buf, size_t len);

/*
 * gz_inflate - decompress the gzip data (buf, len) into a new heap buffer
 * *out of *outlen octets (NUL-terminated for convenience, not counted), at
 * most max octets. The caller frees *out; on failure *out is NULL.
 */
int gz_inflate(const void *buf, size_t len, size_t max, char **out, size_t *outlen,
               struct mxtls_diag *diag);

#endif
