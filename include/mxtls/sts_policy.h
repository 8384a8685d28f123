/*
 * sts_policy - the MTA-STS policy file (RFC 8461 §3.2): parse and format.
 *
 * The policy body fetched from https://mta-sts.<domain>/.well-known/mta-sts.txt
 * is hostile input. sts_policy_parse() accepts exactly what §3.2 allows and
 * rejects everything else with a reason in struct mxtls_diag; it never reads
 * past len and caps every field; the only cap on "mx" lines is the RFC's
 * 64 KiB body (§3.3). A parsed policy owns its mx patterns, kept in one
 * exact-size block (the pointer array followed by the strings); release it
 * with sts_policy_finish(), and never free() a pattern on its own. sts_policy_format() writes the
 * canonical policy file for a policy (used by `mxtls sts`, TLS-RPT policy strings and the cache).
 */
#ifndef MXTLS_STS_POLICY_H
#define MXTLS_STS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "mxtls/diag.h"

#define STS_POLICY_BODY_MAX 65536    /* RFC 8461 §3.3: 64 KiB is the fetch cap */
#define STS_POLICY_MAX_AGE  31557600 /* RFC 8461 §3.2: max_age at most one year */
/* Not a limit of its own: the most "mx" lines a body within
 * STS_POLICY_BODY_MAX can hold ("mx:" + one octet + LF is 5 octets). */
#define STS_POLICY_MX_MAX (STS_POLICY_BODY_MAX / 5)

enum sts_mode {
    STS_MODE_NONE = 0,
    STS_MODE_TESTING,
    STS_MODE_ENFORCE,
};

struct sts_policy {
    enum sts_mode mode;
    uint32_t max_age; /* seconds, 0..STS_POLICY_MAX_AGE */
    size_t n_mx;
    char **mx; /* n_mx normalised patterns: "mx.example.com" or "*.example.com",
                  distinct, in the order of the body; one block (see above) */
};

/*
 * sts_policy_parse - parse a policy body of len octets (not NUL-terminated)
 * into *policy, which the caller provides uninitialised. On success returns 0
 * and the caller must sts_policy_finish(policy). On failure returns a negative
 * MXTLS_E* code, fills diag, and leaves *policy empty (finish is harmless).
 */
int sts_policy_parse(const char *buf, size_t len, struct sts_policy *policy,
                     struct mxtls_diag *diag);

/* sts_policy_finish - release what a parsed policy owns; leaves it empty. */
void sts_policy_finish(struct sts_policy *policy);

/*
 * sts_policy_format - the canonical policy file for policy: "version: STSv1",
 * "mode: ...", one "mx: ..." per pattern, "max_age: N", each line ending CRLF.
 * Returns a NUL-terminated heap string the caller frees, or NULL when out of
 * memory (or policy is NULL). Parsing the result yields an equal policy.
 */
char *sts_policy_format(const struct sts_policy *policy);

/* sts_mode_name - "none", "testing" or "enforce"; "unknown" outside enum sts_mode. */
const char *sts_mode_name(enum sts_mode mode);

#endif
