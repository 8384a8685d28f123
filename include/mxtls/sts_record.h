/*
 * sts_record - the MTA-STS TXT record at "_mta-sts.<domain>" (RFC 8461 §3.1).
 *
 * Given every TXT record found at that name, sts_record_select() keeps those
 * that begin with the exact octets "v=STSv1;" (RFC 8461 §3.1: "records that
 * do not begin with "v=STSv1;" are discarded"; so "v=STSv1 ; id=1" and
 * "v=STSv10; id=1" are discarded, though the first fits the ABNF), requires
 * exactly one to remain, and checks it against the §3.1 ABNF exactly:
 *
 *   sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
 *   sts-field-delim = *WSP ";" *WSP        sts-version = %s"v=STSv1"
 *   sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
 *   sts-extension   = sts-ext-name "=" sts-ext-value
 *   sts-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *   sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)
 *
 * Keys are case-sensitive (%s): "ID=1" is an extension, not the id. Any field
 * named "id" is read as sts-id, so "id=a-b" is an invalid id rather than an
 * extension that happens to be called id. "id" is required and may appear
 * once: a second id (even an equal one) is rejected, because §3.1 makes the
 * id the one value that "uniquely identif[ies] a given instance of a policy"
 * and a sender cannot tell which of two to compare with its cache. Extension
 * fields are checked against the ABNF and otherwise ignored (the RFC gives
 * them no meaning).
 *
 * Outcome for the caller (RFC 8461 §3.1): MXTLS_ENOTFOUND (no record),
 * MXTLS_EMULTIPLE (more than one) and MXTLS_EINVAL (the sole record is
 * syntactically invalid) all mean "no available MTA-STS policy; skip policy
 * discovery" -- a cached policy still applies (§5.1) -- and diag keeps the
 * reason for a TLS-RPT report. Pure; no allocation except in
 * sts_record_select_rdata().
 */
#ifndef MXTLS_STS_RECORD_H
#define MXTLS_STS_RECORD_H

#include <stddef.h>

#include "mxtls/diag.h"
#include "mxtls/txt.h"

#define STS_RECORD_ID_MAX 32 /* RFC 8461 §3.1: 1*32(ALPHA / DIGIT) */

struct sts_record {
    char id[STS_RECORD_ID_MAX + 1]; /* NUL-terminated; "" after a failure */
};

/*
 * sts_record_parse - check one record text (buf, len), which need not be
 * NUL-terminated, against RFC 8461 §3.1: it must begin with "v=STSv1;" and
 * match the ABNF above with exactly one id. Fills rec->id. Returns 0,
 * MXTLS_EINVAL or MXTLS_ETOOLONG (text over TXT_RDATA_MAX); on failure
 * rec->id is "" and diag says why and where.
 */
int sts_record_parse(const char *buf, size_t len, struct sts_record *rec, struct mxtls_diag *diag);

/*
 * sts_record_select - apply the RFC 8461 §3.1 selection to the n joined TXT
 * records found at "_mta-sts.<domain>" (borrowed; recs may be NULL when n is
 * 0), then sts_record_parse() the one left. Returns 0, MXTLS_ENOTFOUND ("no
 * MTA-STS record"; diag mentions near misses such as "v=STSv1 ;"),
 * MXTLS_EMULTIPLE, or a failure of sts_record_parse().
 */
int sts_record_select(const struct txt_record *recs, size_t n, struct sts_record *rec,
                      struct mxtls_diag *diag);

/*
 * sts_record_select_rdata - sts_record_select() on TXT RDATAs in wire form,
 * each joined with txt_rdata_join(). Any malformed RDATA fails the whole set
 * with MXTLS_EINVAL: the resolver should never hand one over. Also returns
 * MXTLS_ENOMEM.
 */
int sts_record_select_rdata(const struct txt_rdata *rdatas, size_t n, struct sts_record *rec,
                            struct mxtls_diag *diag);

#endif
