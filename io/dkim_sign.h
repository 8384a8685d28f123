/*
 * dkim_sign - a DKIM-Signature (RFC 6376) for a message, with libopendkim.
 *
 * TLS reports by mail must be DKIM-signed (RFC 8460 §5.3); the key may be
 * published with "s=tlsrpt" (RFC 8460 §3) so that it signs nothing else.
 * rsa-sha256, relaxed/relaxed, every header libopendkim signs by default
 * (From, To, Subject, Date, Message-ID, MIME headers ...). Nothing logs.
 */
#ifndef MXTLS_IO_DKIM_SIGN_H
#define MXTLS_IO_DKIM_SIGN_H

#include <stddef.h>

#include "mxtls/diag.h"

/*
 * dkim_sign_message - sign msg (len octets: header lines ending CRLF, an
 * empty line, the body) with the PEM private key in key_file for selector and
 * domain. On success *header is a heap string "DKIM-Signature: ..." (folded,
 * CRLF-separated, no final CRLF) to put before the other headers. Returns 0,
 * or MXTLS_EIO (key unreadable), MXTLS_ECRYPTO (libopendkim refused), or
 * MXTLS_ENOMEM, with diag.
 */
int dkim_sign_message(const char *key_file, const char *selector, const char *domain,
                      const char *msg, size_t len, char **header, struct mxtls_diag *diag);

#endif
