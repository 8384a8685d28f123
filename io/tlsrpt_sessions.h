/*
 * tlsrpt_sessions - the TLS-RPT collector's store (SQLite, WAL, its own file,
 * mode 0600): the policies mxtlsd applied per next-hop, the session counts
 * per UTC day x policy domain x policy (RFC 8460 §4.4 summary), the failure
 * details aggregated by (result-type, sending-mta-ip, receiving-mx-hostname,
 * receiving-ip, failure-reason-code), the followed logs' positions, the queue
 * IDs of our own report mails (never counted: no report loops), and the
 * reporter's delivery state (crash-safe retries).
 *
 * Bounded growth: at most TLSRPT_SESSIONS_DETAILS_MAX detail rows per day and
 * policy domain (further failures are counted in one row without host,
 * address and reason); days older than the retention are deleted by
 * tlsrpt_sessions_prune. Failures return MXTLS_EIO/ENOMEM with diag; nothing
 * logs.
 */
#ifndef MXTLS_IO_TLSRPT_SESSIONS_H
#define MXTLS_IO_TLSRPT_SESSIONS_H

#include <stdint.h>

#include "mxtls/diag.h"
#include "mxtls/postfix_log.h"

#define TLSRPT_SESSIONS_DETAILS_MAX 1000

struct tlsrpt_sessions;
struct sqlite3;
struct sqlite3_stmt;

/* tlsrpt_sessions_open - open or create the store at path. */
int tlsrpt_sessions_open(const char *path, struct tlsrpt_sessions **out, struct mxtls_diag *diag);

/* tlsrpt_sessions_close - NULL is a no-op. */
void tlsrpt_sessions_close(struct tlsrpt_sessions *s);

/* tlsrpt_sessions_db - the connection, for the reporter (io/tlsrpt_send.c). */
struct sqlite3 *tlsrpt_sessions_db(struct tlsrpt_sessions *s);

/*
 * tlsrpt_sessions_stmt - sql (a string literal: it is cached by address)
 * prepared once per store, reset and unbound; NULL when SQLite refuses it.
 * Give it back with tlsrpt_sessions_stmt_done (never sqlite3_finalize).
 */
struct sqlite3_stmt *tlsrpt_sessions_stmt(struct tlsrpt_sessions *s, const char *sql);
void tlsrpt_sessions_stmt_done(struct tlsrpt_sessions *s, struct sqlite3_stmt *st);

/* tlsrpt_sessions_begin / commit - one transaction around a batch of writes. */
int tlsrpt_sessions_begin(struct tlsrpt_sessions *s, struct mxtls_diag *diag);
int tlsrpt_sessions_commit(struct tlsrpt_sessions *s, struct mxtls_diag *diag);

/* tlsrpt_sessions_policy_put - remember the policy mxtlsd applied for p->nexthop. */
int tlsrpt_sessions_policy_put(struct tlsrpt_sessions *s, const struct postfix_policy *p,
                               int64_t seen, struct mxtls_diag *diag);

/* tlsrpt_sessions_policy_get - the last policy of nexthop: 0, or MXTLS_ENOTFOUND. */
int tlsrpt_sessions_policy_get(struct tlsrpt_sessions *s, const char *nexthop,
                               struct postfix_policy *out, struct mxtls_diag *diag);

/*
 * tlsrpt_sessions_count - count one session of day (YYYY-MM-DD) under policy
 * p: a success, or a failure of result with its details (sending_ip may be
 * NULL or "").
 */
int tlsrpt_sessions_count(struct tlsrpt_sessions *s, const char *day,
                          const struct postfix_policy *p, enum tlsrpt_result result,
                          const char *sending_ip, const char *mx_host, const char *ip,
                          const char *reason, struct mxtls_diag *diag);

/*
 * tlsrpt_sessions_add - count n sessions at once (the collector aggregates a
 * batch in memory): the policy by its parts, result SUCCESS or a failure with
 * its details.
 */
int tlsrpt_sessions_add(struct tlsrpt_sessions *s, const char *day, const char *domain,
                        enum tlsrpt_policy_type ptype, const char *strings, const char *mx,
                        enum tlsrpt_result result, const char *sending_ip, const char *mx_host,
                        const char *ip, const char *reason, int64_t n, struct mxtls_diag *diag);

/*
 * tlsrpt_sessions_add_counts / add_detail - the two halves of
 * tlsrpt_sessions_add, for a caller that sums a policy's successes and
 * failures first (one summary row write for all of them): add_counts adds
 * success and failure sessions to the policy's summary row; add_detail adds n
 * to the failure-details row (result is not SUCCESS), bounded as
 * tlsrpt_sessions_add is.
 */
int tlsrpt_sessions_add_counts(struct tlsrpt_sessions *s, const char *day, const char *domain,
                               enum tlsrpt_policy_type ptype, const char *strings, const char *mx,
                               int64_t success, int64_t failure, struct mxtls_diag *diag);
int tlsrpt_sessions_add_detail(struct tlsrpt_sessions *s, const char *day, const char *domain,
                               enum tlsrpt_policy_type ptype, const char *strings, const char *mx,
                               enum tlsrpt_result result, const char *sending_ip,
                               const char *mx_host, const char *ip, const char *reason, int64_t n,
                               struct mxtls_diag *diag);

/* tlsrpt_sessions_cursor_get / put - a followed file's inode, offset and first-line hash. */
int tlsrpt_sessions_cursor_get(struct tlsrpt_sessions *s, const char *source, uint64_t *ino,
                               uint64_t *off, uint64_t *head);
int tlsrpt_sessions_cursor_put(struct tlsrpt_sessions *s, const char *source, uint64_t ino,
                               uint64_t off, uint64_t head, struct mxtls_diag *diag);

/* tlsrpt_sessions_report_qid - mark / test a queue ID as one of our report mails. */
int tlsrpt_sessions_report_qid_put(struct tlsrpt_sessions *s, const char *qid, int64_t seen,
                                   struct mxtls_diag *diag);
int tlsrpt_sessions_report_qid_has(struct tlsrpt_sessions *s, const char *qid);
int tlsrpt_sessions_report_qid_any(struct tlsrpt_sessions *s);

/* tlsrpt_sessions_state_put / get - a named blob kept with the counts (the
   collector's pending sessions); get returns its length, 0 when none. */
int tlsrpt_sessions_state_put(struct tlsrpt_sessions *s, const char *name, const void *blob,
                              size_t len, struct mxtls_diag *diag);
size_t tlsrpt_sessions_state_get(struct tlsrpt_sessions *s, const char *name, void *buf,
                                 size_t size);

/* tlsrpt_sessions_prune - delete every day before first_day (YYYY-MM-DD); returns rows or <0. */
int tlsrpt_sessions_prune(struct tlsrpt_sessions *s, const char *first_day,
                          struct mxtls_diag *diag);

/* tlsrpt_day - the UTC day of t as YYYY-MM-DD into out[11]. */
void tlsrpt_day(int64_t t, char out[11]);

#endif
