/*
 * txt - DNS TXT RDATA in wire form, and the joined record text.
 *
 * libunbound hands TXT records over as RDATA in wire form (RFC 1035 §3.3.14):
 * one or more character-strings, each a length octet followed by that many
 * octets. MTA-STS (RFC 8461 §3.1) and TLS-RPT (RFC 8460 §3) both say a record
 * split into several strings is read as those strings concatenated without
 * separators; txt_rdata_join() does exactly that after checking the wire form.
 *
 * txt_rdata_join() owns nothing and does not allocate; txt_rdata_join_set()
 * returns one heap block the caller frees.
 * Malformed wire form fails with MXTLS_EINVAL, an RDATA over 65535 octets with
 * MXTLS_ETOOLONG, a short output buffer with MXTLS_ENOSPACE.
 */
#ifndef MXTLS_TXT_H
#define MXTLS_TXT_H

#include <stddef.h>

#include "mxtls/diag.h"

#define TXT_RDATA_MAX 65535 /* RFC 1035 §3.2.1: RDLENGTH is 16 bits */

/* One TXT record's text (joined strings), borrowed: not NUL-terminated. */
struct txt_record {
    const char *buf;
    size_t len;
};

/* One TXT RDATA in wire form, borrowed. */
struct txt_rdata {
    const unsigned char *data;
    size_t len;
};

/*
 * txt_rdata_join - check that (rdata, rdlen) is one or more well-formed
 * character-strings filling the RDATA exactly (no length past the end, no
 * trailing octets, rdlen between 1 and TXT_RDATA_MAX) and write their octets,
 * concatenated without separators, to out followed by a NUL. *outlen gets the
 * joined length (NUL not counted); the text may itself contain NUL octets, so
 * use the length. outsize must be at least rdlen, which always suffices (each
 * string costs a length octet) and is checked before anything is read. Returns 0,
 * MXTLS_EINVAL, MXTLS_ETOOLONG or MXTLS_ENOSPACE; on failure out is unchanged
 * except that it may hold a partial copy.
 */
int txt_rdata_join(const unsigned char *rdata, size_t rdlen, char *out, size_t outsize,
                   size_t *outlen, struct mxtls_diag *diag);

/*
 * txt_rdata_join_set - txt_rdata_join() every RDATA of an RRset. On success
 * *recs points to one heap block holding n struct txt_record whose texts live
 * in the same block (each NUL-terminated); the caller frees it with free().
 * n may be 0 (then *recs is still a valid block to free). Returns 0, the first
 * failure of txt_rdata_join() (diag names the record's index) or MXTLS_ENOMEM.
 */
int txt_rdata_join_set(const struct txt_rdata *rdatas, size_t n, struct txt_record **recs,
                       struct mxtls_diag *diag);

/*
 * txt_field_next - step over the delimiter before the next field of a
 * "v=...; key=value; ..." record, as RFC 8461 §3.1 and RFC 8460 §3 both
 * define it: field-delim = *WSP ";" *WSP, one optional trailing delimiter,
 * no whitespace after the last field without a ";". *pos is the offset just
 * after the version or the previous field. Returns 1 with *pos at the start
 * of the next field, 0 at the end of the record, or MXTLS_EINVAL with diag
 * naming rfc (e.g. "RFC 8461 §3.1") in the reason.
 */
int txt_field_next(const char *buf, size_t len, size_t *pos, const char *rfc,
                   struct mxtls_diag *diag);

#endif
