/*
 * report_store - the TLS-RPT report store: one SQLite file of its own
 * (`mxtls tlsrpt --db FILE`), shared with nothing else.
 *
 * Tables: report (one row per organisation and report-id: RFC 8460 §4.4 says
 * a report-id is unique per reporter), policy (one row per policies[] entry,
 * with its summary and a flag when the failure details disagree with it),
 * failure (one row per failure-details entry), dkim (the DKIM verdict of a
 * report that came by email, dkim_verify.h). A report is added in one
 * transaction, or in one savepoint of a batch: either all of its rows are
 * there or none. A report whose (organization-name, report-id) is already
 * stored changes nothing and is reported as a duplicate.
 *
 * Batches (ingest of many inputs): report_store_batch_begin opens one
 * transaction, each report_store_add is then a SAVEPOINT released on success
 * and rolled back on failure (so a refused or failed report leaves the
 * batch's other reports as they were), and report_store_batch_commit makes
 * them durable at once: one WAL commit for many reports. When SQLite itself
 * abandons the transaction (disk full, I/O error), report_store_batch_open
 * becomes 0 and the batch's earlier reports are NOT stored: the caller must
 * say so.
 *
 * The file is identified by PRAGMA application_id: a SQLite file of another
 * program is refused rather than written into. WAL mode, synchronous=NORMAL
 * (a crash may lose the last commits, never corrupt the file), a busy
 * timeout of REPORT_STORE_BUSY_MS.
 *
 * Failures: 0 or a negative MXTLS_E* code with diag: MXTLS_EIO (cannot open,
 * not a report store, disk full, corruption), MXTLS_EAGAIN (still locked
 * after the busy timeout), MXTLS_ENOMEM. Nothing logs or exits. The calls
 * block and a struct report_store is for one thread at a time.
 */
#ifndef MXTLS_IO_REPORT_STORE_H
#define MXTLS_IO_REPORT_STORE_H

#include <stdint.h>

#include "dkim_verify.h"
#include "mxtls/diag.h"
#include "tlsrpt_report.h"

#define REPORT_STORE_APP_ID  0x6d78746c /* "mxtl" */
#define REPORT_STORE_VERSION 2 /* 2: the dkim table; a version 1 store is upgraded on open */
#define REPORT_STORE_BUSY_MS 10000

struct report_store;

/* report_store_open - open or create the store at path into a new *out */
int report_store_open(const char *path, struct report_store **out, struct mxtls_diag *diag);

/* report_store_close - close; NULL is a no-op */
void report_store_close(struct report_store *s);

/*
 * report_store_add - store report r in one transaction (a savepoint inside a
 * batch), with source (the input's name, may be NULL), received (seconds
 * since the epoch) and dkim (the DKIM verdict of an emailed report; NULL
 * when it did not come by email). *dup is set to 1 when (organization-name,
 * report-id) was already stored, in which case nothing changes; 0 when
 * stored.
 */
int report_store_add(struct report_store *s, const struct tlsrpt_report *r, const char *source,
                     int64_t received, const struct dkim_outcome *dkim, int *dup,
                     struct mxtls_diag *diag);

/* report_store_batch_begin - one transaction for the following adds (see above) */
int report_store_batch_begin(struct report_store *s, struct mxtls_diag *diag);

/* report_store_batch_open - 1 while the batch's transaction is open, 0 when it was abandoned */
int report_store_batch_open(const struct report_store *s);

/*
 * report_store_batch_commit - commit the batch (no-op without one); on
 * failure the batch is rolled back and none of its reports is stored.
 */
int report_store_batch_commit(struct report_store *s, struct mxtls_diag *diag);

/* What report_store_query lists; each row is (domain, type, key, v[]). */
enum report_query {
    RQ_TOTALS,   /* key NULL; v: successful, failed, reports, policies flagged */
    RQ_FAILURES, /* key result-type; v[0]: sum of failed-session-count */
    RQ_ORGS,     /* key organization-name; v: successful, failed */
    RQ_MX,       /* key receiving-mx-hostname ("" when absent); v[0]: failed */
    RQ_DAYS,     /* key YYYY-MM-DD of start-datetime (UTC); v: successful, failed */
    RQ_DKIM,     /* key DKIM verdict, "not-checked" when not by email; v[0]: reports */
};

struct report_row {
    const char *domain, *type, *key; /* valid during the callback only */
    int64_t v[4];
};

/* Which reports are counted: since (end-datetime >= since; INT64_MIN: all), domain (NULL: all). */
struct report_filter {
    int64_t since;
    const char *domain;
};

/*
 * report_store_query - call fn(arg, row) for each row of kind q under
 * filter f, ordered by domain, type, then key. fn returning non-zero stops
 * the walk and is returned.
 */
int report_store_query(struct report_store *s, enum report_query q, const struct report_filter *f,
                       int (*fn)(void *arg, const struct report_row *row), void *arg,
                       struct mxtls_diag *diag);

/* One emailed report's DKIM verdict (report_store_dkim_list); strings valid during the callback. */
struct report_dkim_row {
    const char *org, *report_id, *source, *result, *domain, *selector, *from_domain, *reason;
    int aligned;
};

/*
 * report_store_dkim_list - call fn(arg, row) for each report under filter f
 * (domain: one of its policies) that has a DKIM verdict, ordered by
 * organisation and report-id. fn returning non-zero stops and is returned.
 */
int report_store_dkim_list(struct report_store *s, const struct report_filter *f,
                           int (*fn)(void *arg, const struct report_dkim_row *row), void *arg,
                           struct mxtls_diag *diag);

#endif
