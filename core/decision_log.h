/*
 * decision_log - mxtlsd's record of the policy it applied per next-hop, for
 * the TLS-RPT collector (RFC 8460 §4.4: policy-type, policy-string,
 * policy-domain, mx-host; and mxtlsd's own failures of §4.3.2).
 *
 * After each lookup, decision_log_record writes one INFO line through the
 * program's log (io/log.c):
 *
 *   tlsrpt-policy v1 nexthop=D type=sts|tlsa|no-policy-found domain=D
 *     failure=RESULT|- mx=P1,P2|- string=S1,S2|-
 *
 * (one line; values percent-encoded, lib/postfix_log.c reads them back). A
 * next-hop's record is written when it differs from the last one written for
 * it, or DECISION_LOG_REPEAT_S after that, so a busy MTA logs a few lines per
 * domain an hour, not one per delivery. Lookups that end in a temporary DNS
 * failure or an invalid next-hop write nothing: they are not policies.
 *
 * State: a fixed table of DECISION_LOG_SLOTS next-hops (a collision forgets
 * the older one: it is logged again, never lost). Event loop only; never
 * fails (out of room for a record: it is not written).
 */
#ifndef CORE_DECISION_LOG_H
#define CORE_DECISION_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "lookup.h"

#define DECISION_LOG_SLOTS    4096
#define DECISION_LOG_REPEAT_S 3600

/*
 * decision_log_format - the record text for r (after "tlsrpt-policy v1 ")
 * into buf; returns its length, 0 when r gives no record, or MXTLS_ENOSPACE.
 */
int decision_log_format(const struct lookup_result *r, char *buf, size_t size);

/* decision_log_record - log r's record when it is new or due again at now. */
void decision_log_record(const struct lookup_result *r, int64_t now);

#endif
