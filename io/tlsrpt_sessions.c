/*
 * tlsrpt_sessions - the collector's SQLite store (see tlsrpt_sessions.h).
 */
#include "tlsrpt_sessions.h"

#include <fcntl.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STMT_CACHE 24

struct tlsrpt_sessions {
    sqlite3 *db;
    struct {
        const char *sql; /* a string literal: compared by address */
        sqlite3_stmt *st;
    } cache[STMT_CACHE]; /* prepared once: the collector runs them per session */
    /* the detail rows per (day, domain), counted once a transaction (the
       bound of TLSRPT_SESSIONS_DETAILS_MAX), then kept up to date: valid only
       inside the transaction of tlsrpt_sessions_begin, emptied by it and by
       commit (another process may write between transactions) */
    struct dcount {
        uint64_t hash; /* 0: empty */
        char *key;     /* day '\n' domain */
        int64_t n;
    } * dc;
    size_t dc_used;
};

#define DC_SLOTS 16384 /* (day, domain) pairs counted per transaction; more: forgotten */

/* dc_clear - forget the counted details */
static void dc_clear(struct tlsrpt_sessions *s)
{
    if (s->dc == NULL)
        return;
    for (size_t i = 0; i < DC_SLOTS; i++)
        free(s->dc[i].key);
    memset(s->dc, 0, DC_SLOTS * sizeof(*s->dc));
    s->dc_used = 0;
}

/* stmt - the prepared statement of sql (a literal), reset and unbound; NULL on failure */
static sqlite3_stmt *stmt(struct tlsrpt_sessions *s, const char *sql)
{
    size_t i;
    for (i = 0; i < STMT_CACHE && s->cache[i].sql != NULL; i++) {
        if (s->cache[i].sql == sql) {
            sqlite3_reset(s->cache[i].st);
            sqlite3_clear_bindings(s->cache[i].st);
            return s->cache[i].st;
        }
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v3(s->db, sql, -1, i < STMT_CACHE ? SQLITE_PREPARE_PERSISTENT : 0, &st,
                           NULL) != SQLITE_OK)
        return NULL;
    if (i < STMT_CACHE) {
        s->cache[i].sql = sql;
        s->cache[i].st = st;
    }
    return st;
}

/* done - release a statement from stmt(): a cached one is only reset */
static void done(struct tlsrpt_sessions *s, sqlite3_stmt *st)
{
    for (size_t i = 0; i < STMT_CACHE; i++) {
        if (s->cache[i].st == st) {
            sqlite3_reset(st);
            return;
        }
    }
    sqlite3_finalize(st); /* not cached (the cache was full) */
}

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA cache_size=-16384;" /* 16 MiB (default 2): the collector inserts all over its indexes */
    "CREATE TABLE IF NOT EXISTS policy(nexthop TEXT PRIMARY KEY, domain TEXT NOT NULL,"
    " type TEXT NOT NULL, failure TEXT NOT NULL, mx TEXT NOT NULL, strings TEXT NOT NULL,"
    " seen INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS counts(day TEXT, domain TEXT, type TEXT, strings TEXT, mx TEXT,"
    " success INTEGER NOT NULL DEFAULT 0, failure INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(day, domain, type, strings, mx));"
    "CREATE TABLE IF NOT EXISTS failures(day TEXT, domain TEXT, type TEXT, strings TEXT, mx TEXT,"
    " result TEXT, sending_ip TEXT, mx_host TEXT, ip TEXT, reason TEXT, n INTEGER NOT NULL,"
    " PRIMARY KEY(day, domain, type, strings, mx, result, sending_ip, mx_host, ip, reason));"
    "CREATE TABLE IF NOT EXISTS cursor(source TEXT PRIMARY KEY, ino INTEGER, off INTEGER,"
    " head INTEGER);"
    "CREATE TABLE IF NOT EXISTS report_qid(qid TEXT PRIMARY KEY, seen INTEGER);"
    "CREATE TABLE IF NOT EXISTS state(name TEXT PRIMARY KEY, value BLOB);"
    "CREATE TABLE IF NOT EXISTS report(report_id TEXT PRIMARY KEY, day TEXT, domain TEXT,"
    " filename TEXT, gz BLOB, UNIQUE(day, domain));"
    "CREATE TABLE IF NOT EXISTS delivery(report_id TEXT, rua TEXT, state TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, first_try INTEGER, next_try INTEGER,"
    " last_error TEXT, PRIMARY KEY(report_id, rua));";

/* dberr - a SQLite failure into diag */
static int dberr(struct tlsrpt_sessions *s, struct mxtls_diag *diag, const char *what)
{
    return mxtls_diag_set(diag, MXTLS_EIO, 0, "tlsrpt store: %s: %s", what, sqlite3_errmsg(s->db));
}

/* tlsrpt_sessions_open - create the file 0600, then the schema */
int tlsrpt_sessions_open(const char *path, struct tlsrpt_sessions **out, struct mxtls_diag *diag)
{
    *out = NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "tlsrpt store %s: cannot open", path);
    close(fd);
    struct tlsrpt_sessions *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return MXTLS_ENOMEM;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        int rc = dberr(s, diag, path);
        tlsrpt_sessions_close(s);
        return rc;
    }
    sqlite3_busy_timeout(s->db, 10000);
    if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        int rc = dberr(s, diag, "schema");
        tlsrpt_sessions_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* tlsrpt_sessions_close - close */
void tlsrpt_sessions_close(struct tlsrpt_sessions *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < STMT_CACHE; i++)
        sqlite3_finalize(s->cache[i].st);
    dc_clear(s);
    free(s->dc);
    sqlite3_close(s->db);
    free(s);
}

/* tlsrpt_sessions_db - the handle */
struct sqlite3 *tlsrpt_sessions_db(struct tlsrpt_sessions *s)
{
    return s->db;
}

/* tlsrpt_sessions_begin - BEGIN IMMEDIATE */
int tlsrpt_sessions_begin(struct tlsrpt_sessions *s, struct mxtls_diag *diag)
{
    dc_clear(s);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return dberr(s, diag, "begin");
    return 0;
}

/* tlsrpt_sessions_commit - COMMIT */
int tlsrpt_sessions_commit(struct tlsrpt_sessions *s, struct mxtls_diag *diag)
{
    dc_clear(s);
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return dberr(s, diag, "commit");
    return 0;
}

/* run - prepare, bind texts (NULL-terminated list), step once */
static int run(struct tlsrpt_sessions *s, struct mxtls_diag *diag, const char *sql,
               const char *const *texts, size_t n, const int64_t *ints, size_t ni)
{
    sqlite3_stmt *st;
    if ((st = stmt(s, sql)) == NULL)
        return dberr(s, diag, "prepare");
    for (size_t i = 0; i < n; i++)
        sqlite3_bind_text(st, (int)i + 1, texts[i] != NULL ? texts[i] : "", -1, SQLITE_STATIC);
    for (size_t i = 0; i < ni; i++)
        sqlite3_bind_int64(st, (int)(n + i) + 1, ints[i]);
    int rc = sqlite3_step(st);
    done(s, st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return dberr(s, diag, "write");
    return 0;
}

/* tlsrpt_sessions_policy_put - upsert */
int tlsrpt_sessions_policy_put(struct tlsrpt_sessions *s, const struct postfix_policy *p,
                               int64_t seen, struct mxtls_diag *diag)
{
    const char *t[] = {p->nexthop,
                       p->domain,
                       tlsrpt_policy_type_name(p->type),
                       p->failure == TLSRPT_SUCCESS ? "" : tlsrpt_result_name(p->failure),
                       p->mx,
                       p->strings};
    return run(s, diag,
               "INSERT OR REPLACE INTO policy(nexthop, domain, type, failure, mx, strings, seen)"
               " VALUES (?, ?, ?, ?, ?, ?, ?)",
               t, 6, &seen, 1);
}

/* copy_col - a text column into a fixed buffer (cut) */
static void copy_col(sqlite3_stmt *st, int col, char *out, size_t size)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    size_t n = v != NULL ? strlen((const char *)v) : 0;
    if (n >= size)
        n = size - 1;
    if (n > 0)
        memcpy(out, v, n);
    out[n] = '\0';
}

/* tlsrpt_sessions_policy_get - select */
int tlsrpt_sessions_policy_get(struct tlsrpt_sessions *s, const char *nexthop,
                               struct postfix_policy *out, struct mxtls_diag *diag)
{
    sqlite3_stmt *st;
    memset(out, 0, sizeof(*out));
    if ((st = stmt(s, "SELECT domain, type, failure, mx, strings FROM policy WHERE nexthop=?")) ==
        NULL)
        return dberr(s, diag, "prepare");
    sqlite3_bind_text(st, 1, nexthop, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        done(s, st);
        return rc == SQLITE_DONE ? MXTLS_ENOTFOUND : dberr(s, diag, "read");
    }
    copy_col(st, 0, out->domain, sizeof(out->domain));
    const char *type = (const char *)sqlite3_column_text(st, 1);
    out->type = type == NULL                ? TLSRPT_POLICY_NONE
                : strcmp(type, "sts") == 0  ? TLSRPT_POLICY_STS
                : strcmp(type, "tlsa") == 0 ? TLSRPT_POLICY_TLSA
                                            : TLSRPT_POLICY_NONE;
    const char *f = (const char *)sqlite3_column_text(st, 2);
    out->failure = TLSRPT_SUCCESS;
    if (f != NULL && *f != '\0' && tlsrpt_result_parse(f, strlen(f), &out->failure) != 0)
        out->failure = TLSRPT_SUCCESS;
    copy_col(st, 3, out->mx, sizeof(out->mx));
    copy_col(st, 4, out->strings, sizeof(out->strings));
    size_t n = strlen(nexthop);
    if (n >= sizeof(out->nexthop))
        n = sizeof(out->nexthop) - 1;
    memcpy(out->nexthop, nexthop, n);
    out->nexthop[n] = '\0';
    done(s, st);
    return 0;
}

/* details - how many detail rows the day and domain hold */
static int64_t details(struct tlsrpt_sessions *s, const char *day, const char *domain)
{
    sqlite3_stmt *st;
    int64_t n = 0;
    if ((st = stmt(s, "SELECT count(*) FROM failures WHERE day=? AND domain=?")) == NULL)
        return 0;
    sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    done(s, st);
    return n;
}

/* dc_slot - the counted details of (day, domain) in this transaction, counted
   now when not yet; NULL outside a transaction or when out of memory */
static struct dcount *dc_slot(struct tlsrpt_sessions *s, const char *day, const char *domain)
{
    if (sqlite3_get_autocommit(s->db))
        return NULL; /* no transaction: another process may write between calls */
    if (s->dc == NULL && (s->dc = calloc(DC_SLOTS, sizeof(*s->dc))) == NULL)
        return NULL;
    size_t dl = strlen(day), nl = strlen(domain);
    uint64_t h = 14695981039346656037ULL; /* FNV-1a 64 of day '\n' domain */
    for (size_t i = 0; i < dl + 1 + nl; i++) {
        h ^= (unsigned char)(i < dl ? day[i] : i == dl ? '\n' : domain[i - dl - 1]);
        h *= 1099511628211ULL;
    }
    if (h == 0)
        h = 1;
    size_t j = h & (DC_SLOTS - 1);
    for (; s->dc[j].hash != 0; j = (j + 1) & (DC_SLOTS - 1)) {
        const char *k = s->dc[j].key;
        if (s->dc[j].hash == h && strncmp(k, day, dl) == 0 && k[dl] == '\n' &&
            strcmp(k + dl + 1, domain) == 0)
            return &s->dc[j];
    }
    if (s->dc_used >= DC_SLOTS / 2) { /* bounded: start again */
        dc_clear(s);
        return dc_slot(s, day, domain);
    }
    char *key = malloc(dl + nl + 2);
    if (key == NULL)
        return NULL;
    memcpy(key, day, dl);
    key[dl] = '\n';
    memcpy(key + dl + 1, domain, nl + 1);
    s->dc[j].hash = h;
    s->dc[j].key = key;
    s->dc[j].n = details(s, day, domain);
    s->dc_used++;
    return &s->dc[j];
}

/* tlsrpt_sessions_add_counts - the summary row: success and failure sessions at once */
int tlsrpt_sessions_add_counts(struct tlsrpt_sessions *s, const char *day, const char *domain,
                               enum tlsrpt_policy_type ptype, const char *strings, const char *mx,
                               int64_t success, int64_t failure, struct mxtls_diag *diag)
{
    static const char sql[] =
        "INSERT INTO counts(day, domain, type, strings, mx, success, failure) VALUES "
        "(?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET success = success + excluded.success,"
        " failure = failure + excluded.failure";
    const char *t[] = {day, domain, tlsrpt_policy_type_name(ptype), strings, mx};
    int64_t v[] = {success, failure};
    return run(s, diag, sql, t, 5, v, 2);
}

/* tlsrpt_sessions_add_detail - the failure-details row of n failed sessions */
int tlsrpt_sessions_add_detail(struct tlsrpt_sessions *s, const char *day, const char *domain,
                               enum tlsrpt_policy_type ptype, const char *strings, const char *mx,
                               enum tlsrpt_result result, const char *sending_ip,
                               const char *mx_host, const char *ip, const char *reason, int64_t n,
                               struct mxtls_diag *diag)
{
    static const char detail_sql[] =
        "INSERT INTO failures(day, domain, type, strings, mx, result, sending_ip, mx_host,"
        " ip, reason, n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET n = n + excluded.n";
    const char *sip = sending_ip, *mh = mx_host, *rip = ip, *why = reason;
    /* inside a transaction the rows are counted once, then followed (the
       collector writes thousands per domain: a count(*) each was most of its
       store time, issue 12) */
    struct dcount *dc = n > 0 ? dc_slot(s, day, domain) : NULL;
    if ((dc != NULL ? dc->n : details(s, day, domain)) >= TLSRPT_SESSIONS_DETAILS_MAX)
        sip = mh = rip = why = ""; /* bounded: the rest in one row per result type */
    const char *d[] = {day,     domain, tlsrpt_policy_type_name(ptype),
                       strings, mx,     tlsrpt_result_name(result),
                       sip,     mh,     rip,
                       why};
    if (dc == NULL)
        return run(s, diag, detail_sql, d, 10, &n, 1);
    /* a new row sets the last rowid (failures has rowids, assigned from 1
       on); the DO UPDATE of an existing one does not */
    sqlite3_set_last_insert_rowid(s->db, 0);
    int rc = run(s, diag, detail_sql, d, 10, &n, 1);
    if (rc == 0 && sqlite3_last_insert_rowid(s->db) != 0)
        dc->n++;
    return rc;
}

/* tlsrpt_sessions_add - the summary row, then the detail row, n sessions at once */
int tlsrpt_sessions_add(struct tlsrpt_sessions *s, const char *day, const char *domain,
                        enum tlsrpt_policy_type ptype, const char *strings, const char *mx,
                        enum tlsrpt_result result, const char *sending_ip, const char *mx_host,
                        const char *ip, const char *reason, int64_t n, struct mxtls_diag *diag)
{
    bool ok = result == TLSRPT_SUCCESS;
    int rc = tlsrpt_sessions_add_counts(s, day, domain, ptype, strings, mx, ok ? n : 0, ok ? 0 : n,
                                        diag);
    if (rc != 0 || ok)
        return rc;
    return tlsrpt_sessions_add_detail(s, day, domain, ptype, strings, mx, result, sending_ip,
                                      mx_host, ip, reason, n, diag);
}

/* tlsrpt_sessions_count - one session */
int tlsrpt_sessions_count(struct tlsrpt_sessions *s, const char *day,
                          const struct postfix_policy *p, enum tlsrpt_result result,
                          const char *sending_ip, const char *mx_host, const char *ip,
                          const char *reason, struct mxtls_diag *diag)
{
    return tlsrpt_sessions_add(s, day, p->domain, p->type, p->strings, p->mx, result, sending_ip,
                               mx_host, ip, reason, 1, diag);
}

/* tlsrpt_sessions_cursor_get - 0 and the position, or MXTLS_ENOTFOUND */
int tlsrpt_sessions_cursor_get(struct tlsrpt_sessions *s, const char *source, uint64_t *ino,
                               uint64_t *off, uint64_t *head)
{
    sqlite3_stmt *st;
    if ((st = stmt(s, "SELECT ino, off, head FROM cursor WHERE source=?")) == NULL)
        return MXTLS_EIO;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    int rc = MXTLS_ENOTFOUND;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *ino = (uint64_t)sqlite3_column_int64(st, 0);
        *off = (uint64_t)sqlite3_column_int64(st, 1);
        *head = (uint64_t)sqlite3_column_int64(st, 2);
        rc = 0;
    }
    done(s, st);
    return rc;
}

/* tlsrpt_sessions_cursor_put - upsert */
int tlsrpt_sessions_cursor_put(struct tlsrpt_sessions *s, const char *source, uint64_t ino,
                               uint64_t off, uint64_t head, struct mxtls_diag *diag)
{
    const char *t[] = {source};
    int64_t v[] = {(int64_t)ino, (int64_t)off, (int64_t)head};
    return run(s, diag, "INSERT OR REPLACE INTO cursor(source, ino, off, head) VALUES (?, ?, ?, ?)",
               t, 1, v, 3);
}

/* tlsrpt_sessions_report_qid_put - remember a report mail's queue ID */
int tlsrpt_sessions_report_qid_put(struct tlsrpt_sessions *s, const char *qid, int64_t seen,
                                   struct mxtls_diag *diag)
{
    const char *t[] = {qid};
    return run(s, diag, "INSERT OR REPLACE INTO report_qid(qid, seen) VALUES (?, ?)", t, 1, &seen,
               1);
}

/* tlsrpt_sessions_report_qid_has - 1 when qid is a report mail's */
int tlsrpt_sessions_report_qid_has(struct tlsrpt_sessions *s, const char *qid)
{
    sqlite3_stmt *st;
    if ((st = stmt(s, "SELECT 1 FROM report_qid WHERE qid=?")) == NULL)
        return 0;
    sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
    int has = sqlite3_step(st) == SQLITE_ROW;
    done(s, st);
    return has;
}

/* tlsrpt_sessions_stmt, _stmt_done - the statement cache, for the reporter */
struct sqlite3_stmt *tlsrpt_sessions_stmt(struct tlsrpt_sessions *s, const char *sql)
{
    return stmt(s, sql);
}

void tlsrpt_sessions_stmt_done(struct tlsrpt_sessions *s, struct sqlite3_stmt *st)
{
    done(s, st);
}

/* tlsrpt_sessions_state_put - a named blob (the collector's pending sessions) */
int tlsrpt_sessions_state_put(struct tlsrpt_sessions *s, const char *name, const void *blob,
                              size_t len, struct mxtls_diag *diag)
{
    static const char sql[] = "INSERT OR REPLACE INTO state(name, value) VALUES (?, ?)";
    sqlite3_stmt *st = stmt(s, sql);
    if (st == NULL)
        return dberr(s, diag, "prepare");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, blob, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    done(s, st);
    return rc == SQLITE_DONE ? 0 : dberr(s, diag, "write");
}

/* tlsrpt_sessions_state_get - the blob into buf; its length, 0 when none or too long */
size_t tlsrpt_sessions_state_get(struct tlsrpt_sessions *s, const char *name, void *buf,
                                 size_t size)
{
    static const char sql[] = "SELECT value FROM state WHERE name=?";
    size_t n = 0;
    sqlite3_stmt *st = stmt(s, sql);
    if (st == NULL)
        return 0;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const void *v = sqlite3_column_blob(st, 0);
        n = (size_t)sqlite3_column_bytes(st, 0);
        if (v == NULL || n > size)
            n = 0;
        else
            memcpy(buf, v, n);
    }
    done(s, st);
    return n;
}

/* tlsrpt_sessions_report_qid_any - 1 when any report queue ID is stored */
int tlsrpt_sessions_report_qid_any(struct tlsrpt_sessions *s)
{
    static const char sql[] = "SELECT 1 FROM report_qid LIMIT 1";
    sqlite3_stmt *st = stmt(s, sql);
    if (st == NULL)
        return 1; /* cannot tell: look each one up */
    int any = sqlite3_step(st) == SQLITE_ROW;
    done(s, st);
    return any;
}

/* tlsrpt_sessions_prune - delete the days before first_day */
int tlsrpt_sessions_prune(struct tlsrpt_sessions *s, const char *first_day, struct mxtls_diag *diag)
{
    static const char *const sql[] = {
        "DELETE FROM counts WHERE day < ?",
        "DELETE FROM failures WHERE day < ?",
        "DELETE FROM delivery WHERE report_id IN (SELECT report_id FROM report WHERE day < ?)",
        "DELETE FROM report WHERE day < ?",
    };
    int total = 0;
    dc_clear(s); /* the details it counted may be deleted now */
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        const char *t[] = {first_day};
        int rc = run(s, diag, sql[i], t, 1, NULL, 0);
        if (rc != 0)
            return rc;
        total += sqlite3_changes(s->db);
    }
    /* queue IDs and policies are kept as long as the retention too */
    int64_t horizon = (int64_t)time(NULL) - 86400 * 400;
    const char *none[] = {NULL};
    run(s, diag, "DELETE FROM report_qid WHERE seen < ?", none, 0, &horizon, 1);
    return total;
}

/* tlsrpt_day - YYYY-MM-DD (UTC); once per session in the collector, so
   computed (proleptic Gregorian, H. Hinnant's civil_from_days) rather than
   gmtime_r + strftime, which cost 900 instructions a call (issue 12) */
void tlsrpt_day(int64_t t, char out[11])
{
    /* 1000-01-01 to 9999-12-31: four-digit years as strftime writes them, no overflow */
    int64_t z = t >= -30610224000LL && t < 253402300800LL ? (t >= 0 ? t : t - 86399) / 86400 : 0;
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    if (t >= -30610224000LL && t < 253402300800LL && y >= 1000 && y <= 9999) {
        static const char dg[] = "0123456789";
        out[0] = dg[y / 1000];
        out[1] = dg[y / 100 % 10];
        out[2] = dg[y / 10 % 10];
        out[3] = dg[y % 10];
        out[4] = '-';
        out[5] = dg[m / 10];
        out[6] = dg[m % 10];
        out[7] = '-';
        out[8] = dg[d / 10];
        out[9] = dg[d % 10];
        out[10] = '\0';
        return;
    }
    time_t tt = (time_t)t; /* outside 1000-9999: as before */
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}
