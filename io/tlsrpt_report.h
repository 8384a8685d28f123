/*
 * tlsrpt_report - parse one SMTP TLS report (RFC 8460 §4), the JSON object a
 * sending domain mails or POSTs to the rua address of "_smtp._tls".
 *
 * The JSON itself (RFC 8259) is read by this module's own bounded reader
 * into a tree in one arena (jansson's one heap object per value was most of
 * ingest's time): UTF-8 checked, duplicate member names refused, nesting
 * capped at 2048 levels, at most 1,000,000 values, and the input capped at
 * TLSRPT_REPORT_MAX octets before it is read. Then every
 * member RFC 8460 §4.4 requires is checked for presence and type, every count
 * must be a non-negative integer no larger than TLSRPT_COUNT_MAX, and the
 * numbers of policies, failure details, policy strings and mx-host entries
 * are capped. Members the RFC does not define are ignored (§4.4 lets
 * reporters add extensions).
 *
 * Strict where meaning depends on it, tolerant of the shapes real reporters
 * send (each one accepted is recorded as a bit in `quirks`, so a caller can
 * show what was repaired):
 *   - date-times without a time zone ("2026-01-01T00:00:00"): read as UTC;
 *   - report-id in "<...>": the brackets are removed for the key;
 *   - contact-info null or missing: stored as NULL;
 *   - policy-string as one string instead of an array, or an array whose
 *     only element is itself a JSON-encoded array of strings (Microsoft's
 *     TLSA policies): the inner strings are used;
 *   - mx-host as a string or an array, entries prefixed "mx: ";
 *   - sending-mta-ip "" : stored as NULL;
 *   - summary total-failure-session-count different from the sum of the
 *     failure details' failed-session-count (Mail.ru): stored as sent and
 *     flagged per policy (`totals_mismatch`).
 *
 * Ownership: tlsrpt_report_parse allocates *out; tlsrpt_report_free(NULL) is
 * a no-op. The parsed object owns every string. Failures: 0, or a negative
 * MXTLS_E* code (MXTLS_EINVAL: not JSON, a member missing or of the wrong
 * type; MXTLS_ETOOLONG: over a size or count cap; MXTLS_ENOMEM) with diag
 * naming the member path and the reason. Nothing logs or exits.
 */
#ifndef MXTLS_IO_TLSRPT_REPORT_H
#define MXTLS_IO_TLSRPT_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "mxtls/diag.h"

#define TLSRPT_REPORT_MAX   (16u << 20)     /* octets of JSON (decompressed) */
#define TLSRPT_POLICIES_MAX 10000           /* policies[] entries */
#define TLSRPT_DETAILS_MAX  10000           /* failure-details[] per policy */
#define TLSRPT_STRINGS_MAX  1000            /* policy-string entries, mx-host entries */
#define TLSRPT_STRING_MAX   4096            /* octets in any one string member */
#define TLSRPT_COUNT_MAX    1000000000000LL /* 10^12 sessions: sums stay in int64 */
#define TLSRPT_TIME_MIN     0LL             /* 1970-01-01 */
#define TLSRPT_TIME_MAX     32503680000LL   /* 3000-01-01 */

/* What was repaired on the way in (struct tlsrpt_report.quirks). */
enum tlsrpt_quirk {
    TLSRPT_Q_DATE_NO_ZONE = 1u << 0,         /* a date-time without Z or offset */
    TLSRPT_Q_REPORT_ID_BRACKETS = 1u << 1,   /* report-id "<...>" */
    TLSRPT_Q_CONTACT_NULL = 1u << 2,         /* contact-info null or missing */
    TLSRPT_Q_POLICY_STRING_JSON = 1u << 3,   /* policy-string held JSON-encoded */
    TLSRPT_Q_POLICY_STRING_SCALAR = 1u << 4, /* policy-string a string, not an array */
    TLSRPT_Q_MX_HOST_STRING = 1u << 5,       /* mx-host a string, not an array */
    TLSRPT_Q_MX_HOST_PREFIX = 1u << 6,       /* an mx-host entry "mx: ..." */
    TLSRPT_Q_EMPTY_IP = 1u << 7,             /* sending-mta-ip or receiving-ip "" */
    TLSRPT_Q_TOTALS_MISMATCH = 1u << 8,      /* a summary disagrees with its details */
};

struct tlsrpt_failure {
    char *result_type;            /* RFC 8460 §4.3 result-type, as sent */
    char *sending_mta_ip;         /* NULL when absent or "" */
    char *receiving_mx_hostname;  /* lower case, no trailing dot; NULL if absent */
    char *receiving_mx_helo;      /* NULL if absent */
    char *receiving_ip;           /* NULL if absent or "" */
    int64_t failed_session_count; /* 0..TLSRPT_COUNT_MAX */
    char *additional_information; /* NULL if absent */
    char *failure_reason_code;    /* NULL if absent */
};

struct tlsrpt_policy {
    char *policy_type;     /* "sts", "tlsa", "no-policy-found" or another token */
    char *policy_domain;   /* lower case, no trailing dot */
    char **policy_strings; /* n_policy_strings strings */
    size_t n_policy_strings;
    char **mx_hosts; /* lower case, "mx: " removed */
    size_t n_mx_hosts;
    int64_t total_successful; /* summary.total-successful-session-count */
    int64_t total_failure;    /* summary.total-failure-session-count */
    int64_t details_failure;  /* sum of failure-details[].failed-session-count */
    int totals_mismatch;      /* total_failure != details_failure, details present */
    struct tlsrpt_failure *failures;
    size_t n_failures;
};

struct tlsrpt_report {
    char *organization_name;
    char *report_id;    /* without surrounding "<>" */
    char *contact_info; /* NULL when null or missing */
    int64_t start;      /* date-range.start-datetime, seconds since the epoch */
    int64_t end;        /* date-range.end-datetime */
    unsigned quirks;    /* enum tlsrpt_quirk bits */
    struct tlsrpt_policy *policies;
    size_t n_policies;
};

/*
 * tlsrpt_report_parse - parse the JSON report (buf, len), which need not be
 * NUL-terminated, into a new *out. On failure *out is NULL and diag says which
 * member and why ("policies[0].summary.total-failure-session-count: not a
 * non-negative integer").
 */
int tlsrpt_report_parse(const char *buf, size_t len, struct tlsrpt_report **out,
                        struct mxtls_diag *diag);

/* tlsrpt_report_free - free a parsed report; NULL is a no-op. */
void tlsrpt_report_free(struct tlsrpt_report *r);

/*
 * tlsrpt_datetime_parse - RFC 3339 §5.6 date-time (s, len) to seconds since
 * the epoch in *t. "T" may be "t" or a space; fractions of a second are
 * dropped; "Z"/"z" or "+hh:mm"/"-hh:mm" are applied; without a zone the time
 * is read as UTC and *no_zone is set to 1. Returns 0 or MXTLS_EINVAL.
 */
int tlsrpt_datetime_parse(const char *s, size_t len, int64_t *t, int *no_zone);

#endif
