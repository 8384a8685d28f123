/*
 * postfix_log - TLS outcomes from Postfix's smtp(8) log lines, and mxtlsd's
 * policy records, for the TLS-RPT collector (RFC 8460).
 *
 * Postfix before 3.10 has no TLSRPT hook, but its smtp client logs every TLS
 * outcome. postfix_log_parse reads one log line (Postfix 3.7 wording, as
 * maillog_file or syslog write it) into a struct postfix_line: a TLS
 * connection established (Verified, Trusted, Untrusted, Anonymous), a
 * certificate verification failure, or a delivery status line. It also reads
 * the "tlsrpt-policy" records mxtlsd logs (core/decision_log.c): the policy
 * mxtlsd applied for a next-hop. postfix_sessions then turns the lines of each
 * smtp process into sessions with an RFC 8460 §4.3 result type.
 *
 * Pure: no I/O, no logging, no globals. Every field has a fixed cap; a line
 * longer than POSTFIX_LOG_LINE_MAX, or one that is not of a known form, is
 * POSTFIX_LINE_OTHER, never an error that stops the caller. Times in the
 * short syslog form ("Dec  2 07:14:27") have no year and no zone: the caller
 * gives the year and they are read as UTC; RFC 3339 times ("2026-12-02T07:14:27.1+01:00")
 * are converted to UTC.
 */
#ifndef MXTLS_POSTFIX_LOG_H
#define MXTLS_POSTFIX_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxtls/diag.h"

#define POSTFIX_LOG_LINE_MAX   16384 /* longer lines are not read */
#define POSTFIX_LOG_HOST_MAX   253   /* a DNS name (RFC 1035) */
#define POSTFIX_LOG_IP_MAX     45    /* an IPv6 address in text */
#define POSTFIX_LOG_QID_MAX    63    /* a Postfix queue ID (long form: 17) */
#define POSTFIX_LOG_REASON_MAX 255   /* failure-reason-code, cut on a character boundary */
#define POSTFIX_LOG_POLICY_MAX 8191  /* the policy strings of one record, decoded */
#define POSTFIX_LOG_MX_MAX     2047  /* the mx-host patterns of one record, decoded */
/* The marker that starts mxtlsd's policy records (core/decision_log.c). */
#define POSTFIX_LOG_POLICY_MARK "tlsrpt-policy v1 "
/* The Message-ID prefix of the reports mxtls mails (io/tlsrpt_send.c). */
#define POSTFIX_LOG_REPORT_MSGID "mxtls-tlsrpt."

/* RFC 8460 §4.3 result types; SUCCESS is a successful session. */
enum tlsrpt_result {
    TLSRPT_SUCCESS = 0,
    TLSRPT_STARTTLS_NOT_SUPPORTED, /* §4.3.1 */
    TLSRPT_CERTIFICATE_HOST_MISMATCH,
    TLSRPT_CERTIFICATE_EXPIRED,
    TLSRPT_CERTIFICATE_NOT_TRUSTED,
    TLSRPT_VALIDATION_FAILURE,
    TLSRPT_TLSA_INVALID, /* §4.3.2.2 */
    TLSRPT_DNSSEC_INVALID,
    TLSRPT_DANE_REQUIRED,
    TLSRPT_STS_POLICY_FETCH_ERROR, /* §4.3.2.1 */
    TLSRPT_STS_POLICY_INVALID,
    TLSRPT_STS_WEBPKI_INVALID,
    TLSRPT_RESULT_COUNT
};

/* tlsrpt_result_name - the RFC 8460 spelling ("starttls-not-supported"); "success" for 0. */
const char *tlsrpt_result_name(enum tlsrpt_result r);

/* tlsrpt_result_parse - the result type named (s, len); 0, or MXTLS_EINVAL. */
int tlsrpt_result_parse(const char *s, size_t len, enum tlsrpt_result *out);

/* RFC 8460 §4.4 policy-type */
enum tlsrpt_policy_type {
    TLSRPT_POLICY_NONE = 0, /* "no-policy-found" */
    TLSRPT_POLICY_STS,      /* "sts" */
    TLSRPT_POLICY_TLSA,     /* "tlsa" */
};

/* tlsrpt_policy_type_name - "no-policy-found", "sts" or "tlsa". */
const char *tlsrpt_policy_type_name(enum tlsrpt_policy_type t);

enum postfix_line_kind {
    POSTFIX_LINE_OTHER = 0,   /* nothing the collector needs */
    POSTFIX_LINE_ESTABLISHED, /* "<Trust> TLS connection established to host[ip]:port: ..." */
    POSTFIX_LINE_VERIFY_FAIL, /* "[server ]certificate verification failed for host[ip]:port: why"
                               */
    POSTFIX_LINE_DELIVERY,    /* "QID: to=<r>, relay=host[ip]:port, ..., status=S (why)" */
    POSTFIX_LINE_POLICY,      /* mxtlsd's "tlsrpt-policy v1 ..." record */
    POSTFIX_LINE_REPORT_QID,  /* cleanup(8) "QID: message-id=<" POSTFIX_LOG_REPORT_MSGID ...:
                                 one of our own report mails (qid), never counted */
};

enum postfix_trust {
    POSTFIX_TRUST_ANONYMOUS = 0,
    POSTFIX_TRUST_UNTRUSTED,
    POSTFIX_TRUST_TRUSTED,  /* the chain verified, the name not checked */
    POSTFIX_TRUST_VERIFIED, /* chain and name verified, or DANE matched */
};

enum postfix_status {
    POSTFIX_STATUS_SENT = 0,
    POSTFIX_STATUS_DEFERRED,
    POSTFIX_STATUS_BOUNCED,
};

/* The policy mxtlsd applied for one next-hop (its tlsrpt-policy record). */
struct postfix_policy {
    char nexthop[POSTFIX_LOG_HOST_MAX + 1]; /* the domain Postfix asked about */
    char domain[POSTFIX_LOG_HOST_MAX + 1];  /* RFC 8460 policy-domain */
    enum tlsrpt_policy_type type;
    enum tlsrpt_result failure;               /* SUCCESS: mxtlsd had no policy failure */
    char strings[POSTFIX_LOG_POLICY_MAX + 1]; /* policy-string entries, each ending '\n' */
    char mx[POSTFIX_LOG_MX_MAX + 1];          /* mx-host entries, each ending '\n' */
};

struct postfix_line {
    enum postfix_line_kind kind;
    int64_t time;                               /* unix seconds, UTC */
    unsigned long pid;                          /* the logging process (0 for POLICY) */
    char host[POSTFIX_LOG_HOST_MAX + 1];        /* peer name (lower case); relay for DELIVERY */
    char ip[POSTFIX_LOG_IP_MAX + 1];            /* peer address; "" when none (relay=none) */
    enum postfix_trust trust;                   /* ESTABLISHED */
    enum tlsrpt_result result;                  /* VERIFY_FAIL: the failure; DELIVERY: a TLS
                                                   failure the status text names, else SUCCESS */
    char reason[POSTFIX_LOG_REASON_MAX + 1];    /* VERIFY_FAIL, DELIVERY: the text */
    char rcpt_domain[POSTFIX_LOG_HOST_MAX + 1]; /* DELIVERY: the recipient's domain */
    char qid[POSTFIX_LOG_QID_MAX + 1];          /* DELIVERY: the queue ID */
    enum postfix_status status;                 /* DELIVERY */
    unsigned conn_use;                          /* DELIVERY: conn_use=N, 1 when absent */
    bool tls_policy_problem;      /* DELIVERY: "client TLS configuration problem" (policy lookup) */
    struct postfix_policy policy; /* POLICY only: untouched (not cleared) for other kinds */
};

/*
 * postfix_log_parse - read one log line (buf, len; no newline needed, not
 * NUL-terminated) into *out. year: the year of short syslog timestamps.
 * Returns 0 with out->kind set (POSTFIX_LINE_OTHER for any line that is not
 * one of the forms above, malformed or too long); MXTLS_EINVAL only for a
 * policy record that is malformed (diag says why), so the collector can count
 * it.
 */
int postfix_log_parse(const char *buf, size_t len, int year, struct postfix_line *out,
                      struct mxtls_diag *diag);

/*
 * postfix_log_result_of_verify - the result type of a certificate
 * verification failure text (what follows "failed for host[ip]:port: ").
 */
enum tlsrpt_result postfix_log_result_of_verify(const char *why, size_t len);

/* postfix_log_encode - percent-encode (s, len) for a policy record field
 * (everything but ALPHA DIGIT - . _ : * / + and the octets 0x80-0xff is %XX);
 * writes at most size octets with the NUL; returns the length, or
 * MXTLS_ENOSPACE when it does not fit. */
int postfix_log_encode(const char *s, size_t len, char *out, size_t size);

/* One TLS session of the smtp client, as RFC 8460 counts them. */
struct postfix_session {
    int64_t time;
    char rcpt_domain[POSTFIX_LOG_HOST_MAX + 1]; /* the next-hop domain, for the join */
    char mx_host[POSTFIX_LOG_HOST_MAX + 1];     /* receiving-mx-hostname; "" for relay=none */
    char ip[POSTFIX_LOG_IP_MAX + 1];            /* receiving-ip */
    enum tlsrpt_result result;                  /* SUCCESS or the failure */
    char reason[POSTFIX_LOG_REASON_MAX + 1];    /* failure-reason-code */
    bool tls;                                   /* a TLS connection was established (any trust) */
    bool policy_problem;               /* no session: the TLS policy lookup failed (mxtlsd TEMP) */
    char qid[POSTFIX_LOG_QID_MAX + 1]; /* the message's queue ID */
};

/* The pending state of the smtp processes, at most POSTFIX_SESSIONS_PIDS. */
#define POSTFIX_SESSIONS_PIDS 256
struct postfix_sessions;

/* postfix_sessions_new - an empty assembler; NULL when out of memory. */
struct postfix_sessions *postfix_sessions_new(void);

/* postfix_sessions_free - NULL is a no-op. */
void postfix_sessions_free(struct postfix_sessions *s);

/*
 * postfix_sessions_feed - take one parsed line. Returns 1 when it completes a
 * session (*out filled), else 0. A smtp process logs, per connection, its
 * verification failure, then "... TLS connection established", then one
 * status line per recipient: the first status line closes the session; the
 * others of the same connection (conn_use > 1 or the same relay with nothing
 * new in between) are not new sessions. "TLS is required, but was not
 * offered" is starttls-not-supported; a status line with no TLS before it is a
 * plaintext session (tls false). The oldest pending process is forgotten when
 * more than POSTFIX_SESSIONS_PIDS are pending.
 */
int postfix_sessions_feed(struct postfix_sessions *s, const struct postfix_line *line,
                          struct postfix_session *out);

/*
 * postfix_sessions_save - the pending state (the lines of sessions not yet
 * closed) as an opaque blob of at most POSTFIX_SESSIONS_BLOB_MAX octets, so a
 * collector that stops between a session's lines completes it after a
 * restart. Returns its size, 0 when size is too small.
 */
#define POSTFIX_SESSIONS_BLOB_MAX (12 + POSTFIX_SESSIONS_PIDS * 1024)
size_t postfix_sessions_save(const struct postfix_sessions *s, unsigned char *buf, size_t size);

/*
 * postfix_sessions_load - replace s's state with a saved blob. Returns 0, or
 * MXTLS_EINVAL for a blob of another layout or version (s is left as it
 * was); every field is checked (strings terminated, enums in range).
 */
int postfix_sessions_load(struct postfix_sessions *s, const unsigned char *buf, size_t len);

#endif
