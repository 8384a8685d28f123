/*
 * report_store - TLS-RPT reports in their own SQLite file (see
 * report_store.h).
 *
 * Failure: every SQLite error becomes MXTLS_EIO (MXTLS_EAGAIN for a lock held
 * past the busy timeout) with diag naming the step and SQLite's message; an
 * add that fails part-way is rolled back, so the store holds all of a report
 * or nothing of it.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_store.h"

enum {
    ST_REPORT,
    ST_POLICY,
    ST_FAILURE,
    ST_BEGIN,
    ST_COMMIT,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_DKIM,
    ST_N
};

struct report_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_N];
    int batch; /* inside report_store_batch_begin .. _commit */
};

/* version 2: the DKIM verdict of an emailed report (added to a version 1 store on open) */
#define DKIM_SCHEMA                                                                                \
    "CREATE TABLE IF NOT EXISTS dkim("                                                             \
    " report INTEGER PRIMARY KEY REFERENCES report(id), result TEXT NOT NULL, domain TEXT,"        \
    " selector TEXT, from_domain TEXT, aligned INTEGER NOT NULL, reason TEXT);"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS report("
    " id INTEGER PRIMARY KEY, org TEXT NOT NULL, report_id TEXT NOT NULL, contact TEXT,"
    " start_time INTEGER NOT NULL, end_time INTEGER NOT NULL, quirks INTEGER NOT NULL,"
    " source TEXT, received INTEGER NOT NULL, UNIQUE(org, report_id));"
    "CREATE TABLE IF NOT EXISTS policy("
    " id INTEGER PRIMARY KEY, report INTEGER NOT NULL REFERENCES report(id),"
    " policy_type TEXT NOT NULL, policy_domain TEXT NOT NULL, policy_string TEXT,"
    " mx_host TEXT, successful INTEGER NOT NULL, failed INTEGER NOT NULL,"
    " details_failed INTEGER NOT NULL, totals_mismatch INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS failure("
    " policy INTEGER NOT NULL REFERENCES policy(id), result_type TEXT NOT NULL,"
    " sending_mta_ip TEXT, receiving_mx_hostname TEXT, receiving_mx_helo TEXT,"
    " receiving_ip TEXT, failed_session_count INTEGER NOT NULL,"
    " additional_information TEXT, failure_reason_code TEXT);" DKIM_SCHEMA;

static const char *const stmt_sql[ST_N] = {
    "INSERT OR IGNORE INTO report(org, report_id, contact, start_time, end_time, quirks,"
    " source, received) VALUES(?,?,?,?,?,?,?,?)",
    "INSERT INTO policy(report, policy_type, policy_domain, policy_string, mx_host,"
    " successful, failed, details_failed, totals_mismatch) VALUES(?,?,?,?,?,?,?,?,?)",
    "INSERT INTO failure(policy, result_type, sending_mta_ip, receiving_mx_hostname,"
    " receiving_mx_helo, receiving_ip, failed_session_count, additional_information,"
    " failure_reason_code) VALUES(?,?,?,?,?,?,?,?,?)",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "SAVEPOINT report",
    "RELEASE report",
    "ROLLBACK TO report",
    "INSERT INTO dkim(report, result, domain, selector, from_domain, aligned, reason)"
    " VALUES(?,?,?,?,?,?,?)",
};

/* db_fail - diag from the connection's last error, as MXTLS_EIO or MXTLS_EAGAIN */
static int db_fail(sqlite3 *db, int rc, const char *step, struct mxtls_diag *diag)
{
    int code =
        (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? MXTLS_EAGAIN : MXTLS_EIO;
    int sys = db != NULL ? sqlite3_system_errno(db) : 0;

    return mxtls_diag_set(diag, code, 0, "report store: %s: %s%s%s", step,
                          db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                          sys != 0 ? ": " : "", sys != 0 ? strerror(sys) : "");
}

/* pragma_int - the integer value of "PRAGMA name" */
static int pragma_int(sqlite3 *db, const char *sql, int64_t *v)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* report_store_open - open or create the store, checking it is ours */
int report_store_open(const char *path, struct report_store **out, struct mxtls_diag *diag)
{
    struct report_store *s;
    int64_t app = 0, ver = 0, tables = 0;
    int rc, err;

    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        err = mxtls_diag_set(diag, MXTLS_EIO, 0, "%s: cannot open: %s", path,
                             s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(s->db, REPORT_STORE_BUSY_MS);
    if ((rc = pragma_int(s->db, "PRAGMA application_id", &app)) != SQLITE_OK ||
        (rc = pragma_int(s->db, "PRAGMA user_version", &ver)) != SQLITE_OK ||
        (rc = pragma_int(s->db, "SELECT count(*) FROM sqlite_master", &tables)) != SQLITE_OK) {
        err = db_fail(s->db, rc, path, diag);
        goto fail;
    }
    if (tables > 0 && app != REPORT_STORE_APP_ID) {
        err = mxtls_diag_set(diag, MXTLS_EIO, 0, "%s: not an mxtls TLS-RPT store", path);
        goto fail;
    }
    if (ver > REPORT_STORE_VERSION) {
        err = mxtls_diag_set(diag, MXTLS_EIO, 0, "%s: store version %lld is newer than %d", path,
                             (long long)ver, REPORT_STORE_VERSION);
        goto fail;
    }
    /* a commit writes each page it touches to the WAL: small pages, fewer octets per report */
    if (tables == 0 &&
        (rc = sqlite3_exec(s->db, "PRAGMA page_size = 1024", NULL, NULL, NULL)) != SQLITE_OK) {
        err = db_fail(s->db, rc, "setting the page size", diag);
        goto fail;
    }
    if ((rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL)) != SQLITE_OK ||
        (rc = sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL)) != SQLITE_OK) {
        err = db_fail(s->db, rc, "setting the journal mode", diag);
        goto fail;
    }
    if (tables == 0) {
        char sql[sizeof(schema) + 128];

        snprintf(sql, sizeof(sql),
                 "BEGIN IMMEDIATE;%sPRAGMA application_id = %d;PRAGMA user_version = %d;COMMIT",
                 schema, REPORT_STORE_APP_ID, REPORT_STORE_VERSION);
        if ((rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL)) != SQLITE_OK) {
            err = db_fail(s->db, rc, "creating the schema", diag);
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
    }
    if (tables > 0 && ver < REPORT_STORE_VERSION) { /* version 1: no dkim table yet */
        char sql[sizeof(DKIM_SCHEMA) + 128];

        snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE;%sPRAGMA user_version = %d;COMMIT", DKIM_SCHEMA,
                 REPORT_STORE_VERSION);
        if ((rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL)) != SQLITE_OK) {
            err = db_fail(s->db, rc, "upgrading the schema", diag);
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
    }
    for (int i = 0; i < ST_N; i++) {
        if ((rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                     NULL)) != SQLITE_OK) {
            err = db_fail(s->db, rc, "preparing statements", diag);
            goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    report_store_close(s);
    return err;
}

/* report_store_close - finalize the statements and close; NULL is a no-op */
void report_store_close(struct report_store *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s);
}

/* bind_text - a string or NULL */
static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* joined - strings joined with '\n' in a heap buffer, NULL for none */
static char *joined(char *const *a, size_t n, int *oom)
{
    size_t len = 0, at = 0;
    char *out;

    *oom = 0;
    if (n == 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        len += strlen(a[i]) + 1;
    out = malloc(len);
    if (out == NULL) {
        *oom = 1;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(a[i]);

        memcpy(out + at, a[i], l);
        at += l;
        out[at++] = i + 1 < n ? '\n' : '\0';
    }
    return out;
}

/* run - step an insert to completion and reset it */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* add_policy - one policy row and its failure rows */
static int add_policy(struct report_store *s, int64_t report, const struct tlsrpt_policy *p)
{
    sqlite3_stmt *st = s->st[ST_POLICY];
    char *ps, *mx;
    int oom1, oom2, rc;
    int64_t pid;

    ps = joined(p->policy_strings, p->n_policy_strings, &oom1);
    mx = joined(p->mx_hosts, p->n_mx_hosts, &oom2);
    if (oom1 || oom2) {
        free(ps);
        free(mx);
        return SQLITE_NOMEM;
    }
    sqlite3_bind_int64(st, 1, report);
    bind_text(st, 2, p->policy_type);
    bind_text(st, 3, p->policy_domain);
    bind_text(st, 4, ps);
    bind_text(st, 5, mx);
    sqlite3_bind_int64(st, 6, p->total_successful);
    sqlite3_bind_int64(st, 7, p->total_failure);
    sqlite3_bind_int64(st, 8, p->details_failure);
    sqlite3_bind_int(st, 9, p->totals_mismatch);
    rc = run(st);
    free(ps);
    free(mx);
    if (rc != SQLITE_OK)
        return rc;
    pid = sqlite3_last_insert_rowid(s->db);
    st = s->st[ST_FAILURE];
    for (size_t i = 0; i < p->n_failures; i++) {
        const struct tlsrpt_failure *f = &p->failures[i];

        sqlite3_bind_int64(st, 1, pid);
        bind_text(st, 2, f->result_type);
        bind_text(st, 3, f->sending_mta_ip);
        bind_text(st, 4, f->receiving_mx_hostname);
        bind_text(st, 5, f->receiving_mx_helo);
        bind_text(st, 6, f->receiving_ip);
        sqlite3_bind_int64(st, 7, f->failed_session_count);
        bind_text(st, 8, f->additional_information);
        bind_text(st, 9, f->failure_reason_code);
        if ((rc = run(st)) != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

/* add_dkim - the DKIM verdict row of report */
static int add_dkim(struct report_store *s, int64_t report, const struct dkim_outcome *d)
{
    sqlite3_stmt *st = s->st[ST_DKIM];

    sqlite3_bind_int64(st, 1, report);
    bind_text(st, 2, dkim_verdict_name(d->result));
    bind_text(st, 3, d->domain[0] != '\0' ? d->domain : NULL);
    bind_text(st, 4, d->selector[0] != '\0' ? d->selector : NULL);
    bind_text(st, 5, d->from_domain[0] != '\0' ? d->from_domain : NULL);
    sqlite3_bind_int(st, 6, d->aligned);
    bind_text(st, 7, d->reason[0] != '\0' ? d->reason : NULL);
    return run(st);
}

/*
 * undo - after a failed or duplicate add: roll the report back, to its
 * savepoint inside a batch (the batch's earlier reports stay), or the whole
 * transaction outside one. SQLite itself rolls a whole transaction back on
 * some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM): then there is
 * nothing left to undo and the batch is over (report_store_batch_open says 0).
 */
static void undo(struct report_store *s)
{
    if (sqlite3_get_autocommit(s->db)) {
        s->batch = 0;
        return;
    }
    if (s->batch) {
        run(s->st[ST_ROLLBACK_TO]);
        if (run(s->st[ST_RELEASE]) != SQLITE_OK || sqlite3_get_autocommit(s->db))
            s->batch = 0;
        return;
    }
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* report_store_add - one report in one transaction (or savepoint), or a duplicate */
int report_store_add(struct report_store *s, const struct tlsrpt_report *r, const char *source,
                     int64_t received, const struct dkim_outcome *dkim, int *dup,
                     struct mxtls_diag *diag)
{
    sqlite3_stmt *st = s->st[ST_REPORT];
    int64_t rid;
    int rc;

    *dup = 0;
    if ((rc = run(s->st[s->batch ? ST_SAVEPOINT : ST_BEGIN])) != SQLITE_OK) {
        int err = db_fail(s->db, rc, "starting a transaction", diag);

        if (s->batch && sqlite3_get_autocommit(s->db))
            s->batch = 0;
        return err;
    }
    bind_text(st, 1, r->organization_name);
    bind_text(st, 2, r->report_id);
    bind_text(st, 3, r->contact_info);
    sqlite3_bind_int64(st, 4, r->start);
    sqlite3_bind_int64(st, 5, r->end);
    sqlite3_bind_int64(st, 6, r->quirks);
    bind_text(st, 7, source);
    sqlite3_bind_int64(st, 8, received);
    if ((rc = run(st)) != SQLITE_OK)
        goto fail;
    if (sqlite3_changes(s->db) == 0) { /* same organisation and report-id: stored once */
        *dup = 1;
        undo(s);
        return 0;
    }
    rid = sqlite3_last_insert_rowid(s->db);
    for (size_t i = 0; i < r->n_policies; i++)
        if ((rc = add_policy(s, rid, &r->policies[i])) != SQLITE_OK)
            goto fail;
    if (dkim != NULL && (rc = add_dkim(s, rid, dkim)) != SQLITE_OK)
        goto fail;
    if ((rc = run(s->st[s->batch ? ST_RELEASE : ST_COMMIT])) != SQLITE_OK)
        goto fail;
    return 0;
fail : {
    int err = db_fail(s->db, rc, "storing the report", diag);

    undo(s);
    return err;
}
}

/* report_store_batch_begin - open one transaction for the following adds */
int report_store_batch_begin(struct report_store *s, struct mxtls_diag *diag)
{
    int rc;

    if (s->batch)
        return 0;
    if ((rc = run(s->st[ST_BEGIN])) != SQLITE_OK)
        return db_fail(s->db, rc, "starting a transaction", diag);
    s->batch = 1;
    return 0;
}

/* report_store_batch_open - 1 while the batch's transaction is open */
int report_store_batch_open(const struct report_store *s)
{
    return s->batch;
}

/* report_store_batch_commit - commit the batch; on failure it is rolled back */
int report_store_batch_commit(struct report_store *s, struct mxtls_diag *diag)
{
    int rc;

    if (!s->batch)
        return 0;
    s->batch = 0;
    if ((rc = run(s->st[ST_COMMIT])) != SQLITE_OK) {
        int err = db_fail(s->db, rc, "committing", diag);

        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return err;
    }
    return 0;
}

#define WHERE                                                                                      \
    " FROM policy p JOIN report r ON r.id = p.report"                                              \
    " WHERE r.end_time >= ?1 AND (?2 IS NULL OR p.policy_domain = ?2)"

static const char *const query_sql[] = {
    [RQ_TOTALS] =
        "SELECT p.policy_domain, p.policy_type, NULL, sum(p.successful), sum(p.failed),"
        " count(DISTINCT r.id), sum(p.totals_mismatch)" WHERE " GROUP BY 1, 2 ORDER BY 1, 2",
    [RQ_FAILURES] =
        "SELECT p.policy_domain, p.policy_type, f.result_type,"
        " sum(f.failed_session_count), 0, 0, 0" WHERE " AND 1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    [RQ_ORGS] = "SELECT p.policy_domain, p.policy_type, r.org, sum(p.successful), sum(p.failed),"
                " 0, 0" WHERE " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    [RQ_MX] = "SELECT p.policy_domain, p.policy_type, coalesce(f.receiving_mx_hostname, ''),"
              " sum(f.failed_session_count), 0, 0, 0" WHERE " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    [RQ_DAYS] =
        "SELECT p.policy_domain, p.policy_type, date(r.start_time, 'unixepoch'),"
        " sum(p.successful), sum(p.failed), 0, 0" WHERE " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    [RQ_DKIM] = "SELECT p.policy_domain, p.policy_type, coalesce(d.result, 'not-checked'),"
                " count(DISTINCT r.id), 0, 0, 0" WHERE " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
};

/*
 * walk - prepare sql, bind filter f as ?1 (since) and ?2 (domain), and call
 * each(st, ctx) for every row until it returns non-zero (returned as is).
 */
static int walk(struct report_store *s, const char *sql, const struct report_filter *f,
                int (*each)(sqlite3_stmt *st, void *ctx), void *ctx, struct mxtls_diag *diag)
{
    sqlite3_stmt *st;
    int rc, stop = 0;

    if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL)) != SQLITE_OK)
        return db_fail(s->db, rc, "preparing a query", diag);
    sqlite3_bind_int64(st, 1, f->since);
    bind_text(st, 2, f->domain);
    while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        stop = each(st, ctx);
    if (stop == 0 && rc != SQLITE_DONE)
        stop = db_fail(s->db, rc, "reading the store", diag);
    sqlite3_finalize(st);
    return stop;
}

/* The caller's callback and argument, for the row converters below. */
struct walk_ctx {
    int (*row_fn)(void *arg, const struct report_row *row);
    int (*dkim_fn)(void *arg, const struct report_dkim_row *row);
    void *arg;
};

/* each_row - one summary row to the caller */
static int each_row(sqlite3_stmt *st, void *ctx)
{
    const struct walk_ctx *w = ctx;
    struct report_row row = {
        .domain = (const char *)sqlite3_column_text(st, 0),
        .type = (const char *)sqlite3_column_text(st, 1),
        .key = (const char *)sqlite3_column_text(st, 2),
    };

    for (int i = 0; i < 4; i++)
        row.v[i] = sqlite3_column_int64(st, 3 + i);
    return w->row_fn(w->arg, &row);
}

/* report_store_query - the rows of one kind of summary */
int report_store_query(struct report_store *s, enum report_query q, const struct report_filter *f,
                       int (*fn)(void *arg, const struct report_row *row), void *arg,
                       struct mxtls_diag *diag)
{
    struct walk_ctx w = {.row_fn = fn, .arg = arg};
    char sql[1024];

    if ((unsigned)q > RQ_DKIM)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "bad query");
    snprintf(sql, sizeof(sql), "%s", query_sql[q]);
    if (q == RQ_FAILURES || q == RQ_MX || q == RQ_DKIM) { /* the failure or dkim rows join in */
        char *wh = strstr(sql, " WHERE");
        char tail[1024];

        snprintf(tail, sizeof(tail), "%s", wh);
        snprintf(wh, sizeof(sql) - (size_t)(wh - sql), "%s%s",
                 q == RQ_DKIM ? " LEFT JOIN dkim d ON d.report = r.id"
                              : " JOIN failure f ON f.policy = p.id",
                 tail);
    }
    return walk(s, sql, f, each_row, &w, diag);
}

/* each_dkim_row - one DKIM verdict to the caller */
static int each_dkim_row(sqlite3_stmt *st, void *ctx)
{
    const struct walk_ctx *w = ctx;
    struct report_dkim_row row = {
        .org = (const char *)sqlite3_column_text(st, 0),
        .report_id = (const char *)sqlite3_column_text(st, 1),
        .source = (const char *)sqlite3_column_text(st, 2),
        .result = (const char *)sqlite3_column_text(st, 3),
        .domain = (const char *)sqlite3_column_text(st, 4),
        .selector = (const char *)sqlite3_column_text(st, 5),
        .from_domain = (const char *)sqlite3_column_text(st, 6),
        .aligned = sqlite3_column_int(st, 7),
        .reason = (const char *)sqlite3_column_text(st, 8),
    };

    return w->dkim_fn(w->arg, &row);
}

/* report_store_dkim_list - the DKIM verdicts of the emailed reports under f */
int report_store_dkim_list(struct report_store *s, const struct report_filter *f,
                           int (*fn)(void *arg, const struct report_dkim_row *row), void *arg,
                           struct mxtls_diag *diag)
{
    static const char sql[] =
        "SELECT r.org, r.report_id, r.source, d.result, d.domain, d.selector, d.from_domain,"
        " d.aligned, d.reason FROM dkim d JOIN report r ON r.id = d.report"
        " WHERE r.end_time >= ?1 AND (?2 IS NULL OR EXISTS(SELECT 1 FROM policy p"
        " WHERE p.report = r.id AND p.policy_domain = ?2)) ORDER BY r.org, r.report_id";
    struct walk_ctx w = {.dkim_fn = fn, .arg = arg};

    return walk(s, sql, f, each_dkim_row, &w, diag);
}
