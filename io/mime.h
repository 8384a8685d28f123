/*
 * mime - find the TLS report in an email (RFC 5322 / MIME), with GMime 3.
 *
 * RFC 8460 §5.3: the report is a MIME part of type application/tlsrpt+gzip
 * or application/tlsrpt+json, and the message itself is a multipart/report
 * (RFC 6522) with report-type "tlsrpt". Reporters also send the report as
 * an ordinary attachment, so the search order is: the first part of type
 * application/tlsrpt+gzip or application/tlsrpt+json; otherwise the first
 * part whose file name ends in ".json.gz", ".json" or ".gz". Its content
 * transfer encoding (base64 of any line length, quoted-printable) is undone;
 * a gzip body is NOT decompressed here (the caller does, with its cap).
 *
 * DKIM (RFC 6376) is not verified here: GMime has no DKIM verifier.
 *
 * Failures: MXTLS_ENOTFOUND (no report part; diag says what the message
 * held), MXTLS_EINVAL (not a MIME message), MXTLS_ETOOLONG (the part decodes
 * to more than max octets), MXTLS_ENOMEM. Nothing logs or exits.
 */
#ifndef MXTLS_IO_MIME_H
#define MXTLS_IO_MIME_H

#include <stddef.h>

#include "mxtls/diag.h"

/*
 * mime_report_part - the decoded body of the report part of the message
 * (buf, len) in a new heap buffer *out of *outlen octets, at most max. The
 * caller frees *out with free(). *gzip is set when the part is gzip (by its
 * type, file name or magic number).
 */
int mime_report_part(const char *buf, size_t len, size_t max, char **out, size_t *outlen, int *gzip,
                     struct mxtls_diag *diag);

#endif
