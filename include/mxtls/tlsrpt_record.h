/*
 * tlsrpt_record - the TLS-RPT TXT record at "_smtp._tls.<domain>" (RFC 8460 §3).
 *
 * Given every TXT record found at that name, tlsrpt_record_select() keeps
 * those that begin with the exact octets "v=TLSRPTv1;" (RFC 8460 §3: "records
 * that do not begin with "v=TLSRPTv1;" are discarded"), requires exactly one
 * to remain, and checks it against the §3 ABNF:
 *
 *   tlsrpt-record    = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
 *   field-delim      = *WSP ";" *WSP
 *   tlsrpt-field     = tlsrpt-rua / tlsrpt-extension   ; rua is required
 *   tlsrpt-version   = %s"v=TLSRPTv1"
 *   tlsrpt-rua       = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
 *   tlsrpt-uri       = URI  ; RFC 3986; ",", ";" and "!" MUST be %-encoded
 *   tlsrpt-extension = tlsrpt-ext-name "=" tlsrpt-ext-value
 *   tlsrpt-ext-name  = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *   tlsrpt-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
 *
 * Decisions:
 * - Keys are case-sensitive (%s); a field named exactly "rua" is always read
 *   as tlsrpt-rua, so a bad URI list is an error, not an ignored extension.
 * - Unknown fields are checked against the ABNF and ignored (§3: "unknown
 *   fields SHALL be ignored").
 * - Several rua fields fit the ABNF (1*tlsrpt-field), and §3 says parsers
 *   "MUST accept TXT records that are syntactically valid": their URIs are
 *   merged in order.
 * - Every URI is checked as an RFC 3986 URI. §3 supports two schemes,
 *   "mailto" and "https" (scheme names compare case-insensitively, RFC 3986
 *   §3.1, and are stored lower-case); a well-formed URI of another scheme
 *   is skipped (§3: the reporter delivers "to each of the supported rua
 *   destinations") and counted in n_unsupported. A record with no supported
 *   URI is rejected: it gives the reporter nowhere to send.
 * - https: "//" host [":" port] then path/query/fragment; the host must be a
 *   DNS name (domain_normalize): no IP literals, no userinfo.
 *   mailto (RFC 6068 §2): one or more addr-specs separated by "%2C" (a bare
 *   "," must be encoded, §3), each local "@" domain with a DNS-name domain,
 *   then optional "?" hfields; no fragment.
 * - Caps: at most TLSRPT_RUA_MAX URIs (all schemes) and TLSRPT_URI_MAX octets
 *   each; beyond either the record is rejected with MXTLS_ETOOLONG.
 *
 * Outcome for the caller: any failure means "the domain does not implement
 * TLSRPT" (§3), with the reason in diag. A parsed record owns its URIs.
 */
#ifndef MXTLS_TLSRPT_RECORD_H
#define MXTLS_TLSRPT_RECORD_H

#include <stddef.h>

#include "mxtls/diag.h"
#include "mxtls/txt.h"

#define TLSRPT_RUA_MAX 16   /* URIs per record, all rua fields together */
#define TLSRPT_URI_MAX 1024 /* octets per URI, as published */

enum tlsrpt_scheme {
    TLSRPT_SCHEME_MAILTO = 1, /* report by mail (RFC 8460 §5.3) */
    TLSRPT_SCHEME_HTTPS = 2,  /* report by HTTPS POST (RFC 8460 §5.4) */
};

struct tlsrpt_uri {
    enum tlsrpt_scheme scheme;
    char *uri; /* as published, scheme lower-cased; NUL-terminated, owned */
};

struct tlsrpt_record {
    size_t n_rua;                          /* 1..TLSRPT_RUA_MAX */
    struct tlsrpt_uri rua[TLSRPT_RUA_MAX]; /* supported URIs, record order */
    size_t n_unsupported;                  /* well-formed URIs skipped */
};

/*
 * tlsrpt_record_parse - check one record text (buf, len), not necessarily
 * NUL-terminated, against RFC 8460 §3: it must begin with "v=TLSRPTv1;" and
 * match the ABNF above. On success *out is a new record (free it with
 * tlsrpt_record_free()). Returns 0, MXTLS_EINVAL, MXTLS_ETOOLONG or
 * MXTLS_ENOMEM; on failure *out is NULL and diag says why and where.
 */
int tlsrpt_record_parse(const char *buf, size_t len, struct tlsrpt_record **out,
                        struct mxtls_diag *diag);

/*
 * tlsrpt_record_select - apply the RFC 8460 §3 selection to the n joined TXT
 * records found at "_smtp._tls.<domain>" (borrowed; recs may be NULL when n
 * is 0) and tlsrpt_record_parse() the one left. Returns 0, MXTLS_ENOTFOUND,
 * MXTLS_EMULTIPLE, or a failure of tlsrpt_record_parse(); *out as there.
 */
int tlsrpt_record_select(const struct txt_record *recs, size_t n, struct tlsrpt_record **out,
                         struct mxtls_diag *diag);

/*
 * tlsrpt_record_select_rdata - tlsrpt_record_select() on TXT RDATAs in wire
 * form (see txt_rdata_join()); a malformed RDATA fails the set with
 * MXTLS_EINVAL.
 */
int tlsrpt_record_select_rdata(const struct txt_rdata *rdatas, size_t n, struct tlsrpt_record **out,
                               struct mxtls_diag *diag);

/*
 * tlsrpt_record_format - the canonical text of a record:
 * "v=TLSRPTv1; rua=URI1,URI2..." with the supported URIs only. Returns a
 * NUL-terminated string the caller frees with free(), or NULL when out of
 * memory.
 */
char *tlsrpt_record_format(const struct tlsrpt_record *rec);

/* tlsrpt_record_free - free a record and its URIs; NULL is a no-op. */
void tlsrpt_record_free(struct tlsrpt_record *rec);

#endif
