/*
 * netstring - D. J. Bernstein's netstrings, "<length>:<data>,", as Postfix's
 * socketmap protocol frames every request and reply (socketmap_table(5),
 * https://cr.yp.to/proto/netstrings.txt).
 *
 * The length is ASCII decimal without leading zeros ("0:," is the only
 * netstring that starts with a zero), then ':', exactly that many octets of
 * arbitrary data, then ','. There is exactly one encoding of each string.
 *
 * The decoder is incremental for an event loop: it is given all the bytes
 * received so far and answers "complete" (with how many bytes one netstring
 * used, so pipelined requests work), "need more bytes", or "invalid". It fails
 * as soon as the bytes seen so far cannot begin any valid netstring within the
 * caller's payload cap, so a peer can never make it wait for more input that
 * could not help. The decoder keeps no state: call it again, from the start
 * of the buffer, when more bytes arrive.
 *
 * Pure functions: no allocation, no I/O. Failures fill struct mxtls_diag.
 */
#ifndef MXTLS_NETSTRING_H
#define MXTLS_NETSTRING_H

#include <stddef.h>

#include "mxtls/diag.h"

/* Postfix's socketmap_max_reply_size default (socketmap_table(5)), payload only. */
#define NETSTRING_SOCKETMAP_MAX 100000

/* One decoded netstring. data points into the caller's buffer (borrowed). */
struct netstring_frame {
    const char *data; /* first payload octet; not NUL-terminated */
    size_t len;       /* payload length, at most the cap */
    size_t consumed;  /* octets of the buffer used: header, payload and ',' */
};

/*
 * netstring_decode - decode the netstring at the start of (buf, len), whose
 * payload may be at most cap octets. Returns 0 and fills frame when a whole
 * netstring is there; bytes after frame->consumed are left for the next call.
 * Returns MXTLS_EAGAIN when buf is a proper prefix of some valid netstring
 * within cap (including len == 0). Returns MXTLS_EINVAL for a non-digit
 * where a length digit or ':' belongs, an empty length, a leading zero, or
 * anything but ',' after the payload; MXTLS_ETOOLONG as soon as the length
 * digits exceed cap. An error for a prefix is the same error for every
 * longer input with that prefix. frame is untouched unless 0 is returned.
 */
int netstring_decode(const char *buf, size_t len, size_t cap, struct netstring_frame *frame,
                     struct mxtls_diag *diag);

/*
 * netstring_encoded_size - the number of octets netstring_encode writes for a
 * payload of len octets, not counting the terminating NUL; 0 if that does not
 * fit in a size_t.
 */
size_t netstring_encoded_size(size_t len);

/*
 * netstring_encode - write (data, len) as a netstring into out, followed by a
 * NUL that is not part of the wire form, and store the wire length (without
 * the NUL) in *outlen when outlen is not NULL. out must hold
 * netstring_encoded_size(len) + 1 octets; data may be NULL when len is 0.
 * Returns 0, MXTLS_ETOOLONG (size overflows) or MXTLS_ENOSPACE; out is
 * unspecified on failure.
 */
int netstring_encode(const char *data, size_t len, char *out, size_t outsize, size_t *outlen,
                     struct mxtls_diag *diag);

#endif
