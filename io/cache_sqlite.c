/*
 * cache_sqlite - the persistent MTA-STS policy cache (see cache_sqlite.h).
 *
 * Every statement is prepared once at open with bound parameters; the only
 * unprepared SQL is constant text (pragmas, schema, transactions). Rows are
 * validated on every load because the file may have been written by an older
 * or buggy mxtlsd, another program, or damaged on disk.
 */
#include "cache_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

struct cache_sqlite {
    struct cache_backend base; /* first: the backend table's view of it */
    sqlite3 *db;
    char *path; /* for messages */
    sqlite3_stmt *put;
    sqlite3_stmt *get;
    sqlite3_stmt *del;
    sqlite3_stmt *all;
};

#define COLUMNS "domain, id, fetched_at, checked_at, failed_at, policy"

static const char schema_v1[] = "CREATE TABLE IF NOT EXISTS sts_policy ("
                                " domain TEXT PRIMARY KEY NOT NULL,"
                                " id TEXT NOT NULL,"
                                " fetched_at INTEGER NOT NULL,"
                                " checked_at INTEGER NOT NULL,"
                                " failed_at INTEGER NOT NULL,"
                                " policy TEXT NOT NULL);"
                                "PRAGMA user_version = 1;";

/* map_err - an MXTLS_E* code for an SQLite result code */
static int map_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOMEM:
        return MXTLS_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return MXTLS_EAGAIN; /* another connection holds the lock: retry later */
    default:
        return MXTLS_EIO; /* unusable file: I/O error, corrupt, not a database */
    }
}

/*
 * os_cause - what the operating system said behind an SQLite failure, for the
 * operator: a full disk, a directory the daemon's user cannot write (SQLite
 * creates FILE-wal and FILE-shm beside the file), a read-only file system.
 * "" when SQLite's own text says it all.
 */
static const char *os_cause(int rc, int sys_errno)
{
    switch (sys_errno) {
    case ENOSPC:
        return " (ENOSPC: the file system is full)";
    case EDQUOT:
        return " (EDQUOT: the disk quota is exhausted)";
    case EACCES:
    case EPERM:
        return " (EACCES: permission denied: the daemon's user must be able to write the file and "
               "its directory, where SQLite creates FILE-wal and FILE-shm)";
    case EROFS:
        return " (EROFS: read-only file system)";
    default:
        break;
    }
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return " (the file system is full)";
    case SQLITE_READONLY:
        return " (not writable: the file, or its directory where SQLite creates FILE-wal and "
               "FILE-shm, does not let the daemon's user write)";
    case SQLITE_NOTADB:
        return " (not an SQLite database)";
    default:
        return "";
    }
}

/* db_fail - fill diag from the connection's last error and its OS cause */
static int db_fail(const struct cache_sqlite *c, int rc, const char *doing, struct mxtls_diag *diag)
{
    /* The OS error is kept by SQLite until the next one: it explains only
     * failures that come from the OS (I/O, open, full), not a later BUSY. */
    int primary = rc & 0xff;
    int sys = c->db != NULL && (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN ||
                                primary == SQLITE_FULL)
                  ? sqlite3_system_errno(c->db)
                  : 0;
    int code = map_err(rc);

    if (sys == ENOSPC || sys == EDQUOT || (rc & 0xff) == SQLITE_FULL)
        code = MXTLS_EIO;
    return mxtls_diag_set(diag, code, 0, "%s: %s: %s%s", c->path, doing,
                          c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc), os_cause(rc, sys));
}

/* cache_sqlite_close - finalise statements and close; NULL is a no-op */
void cache_sqlite_close(struct cache_sqlite *c)
{
    if (c == NULL)
        return;
    sqlite3_finalize(c->put);
    sqlite3_finalize(c->get);
    sqlite3_finalize(c->del);
    sqlite3_finalize(c->all);
    sqlite3_close(c->db); /* all statements are finalised, so this closes */
    free(c->path);
    free(c);
}

/* read_version - PRAGMA user_version into *v */
static int read_version(struct cache_sqlite *c, int *v, struct mxtls_diag *diag)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *v = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        rc = db_fail(c, rc, "reading the schema version", diag);
    sqlite3_finalize(st);
    return rc;
}

/* setup_schema - create the schema in an empty file, refuse a newer one */
static int setup_schema(struct cache_sqlite *c, struct mxtls_diag *diag)
{
    int v = 0, rc;

    if ((rc = read_version(c, &v, diag)) != 0)
        return rc;
    if (v == 0) {
        /* IMMEDIATE: two daemons starting at once must not both create it. */
        rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return db_fail(c, rc, "starting schema creation", diag);
        if ((rc = read_version(c, &v, diag)) != 0) {
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        if (v == 0)
            rc = sqlite3_exec(c->db, schema_v1, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            rc = db_fail(c, rc, "creating the schema", diag);
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        if (v == 0)
            v = CACHE_SQLITE_SCHEMA_VERSION;
    }
    if (v < 0 || v > CACHE_SQLITE_SCHEMA_VERSION)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%s: cache schema version %d is not one this mxtls understands "
                              "(%d); written by a newer mxtls? move the file away to start afresh",
                              c->path, v, CACHE_SQLITE_SCHEMA_VERSION);
    return 0;
}

/* set_wal - switch to WAL journaling and check it took */
static int set_wal(struct cache_sqlite *c, struct mxtls_diag *diag)
{
    sqlite3_stmt *st = NULL;
    int rc, ok = 0;

    rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);

        ok = mode != NULL && strcmp((const char *)mode, "wal") == 0;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        rc = db_fail(c, rc, "setting WAL mode", diag);
    else if (!ok)
        rc = mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: the file system does not allow WAL mode",
                            c->path);
    sqlite3_finalize(st);
    return rc;
}

/* prepare - one statement of the connection */
static int prepare(struct cache_sqlite *c, const char *sql, sqlite3_stmt **st,
                   struct mxtls_diag *diag)
{
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);

    return rc == SQLITE_OK ? 0 : db_fail(c, rc, "preparing a statement (damaged schema?)", diag);
}

/* create_file - create a missing database file with mode 0600 */
static int create_file(const char *path, struct mxtls_diag *diag)
{
    /* SQLite would create it 0644: policies are not secret, but the cache
     * is the daemon's own state and nobody else should write or read it.
     * An existing file is not opened here: closing a descriptor of it would
     * drop every POSIX lock this process holds on it, those of the other
     * connections SQLite has open to it (the store's writer and readers)
     * included. */
    struct stat st;
    if (stat(path, &st) == 0)
        return 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "%s: cannot open: %s", path, strerror(errno));
    close(fd);
    return 0;
}

/* cache_sqlite_open - open or create the cache database at path */
int cache_sqlite_open(const char *path, struct cache_sqlite **out, struct mxtls_diag *diag)
{
    struct cache_sqlite *c;
    int rc;

    if (out == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no output pointer");
    *out = NULL;
    if (path == NULL || *path == '\0')
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no file name");
    if ((rc = create_file(path, diag)) != 0)
        return rc;
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->path = strdup(path)) == NULL) {
        free(c);
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "cache: out of memory");
    }
    /* NOMUTEX: one thread at a time per connection (see the header). */
    rc = sqlite3_open_v2(path, &c->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
    if (rc != SQLITE_OK) {
        rc = db_fail(c, rc, "cannot open", diag);
        goto fail;
    }
    sqlite3_busy_timeout(c->db, CACHE_SQLITE_BUSY_MS);
    if ((rc = setup_schema(c, diag)) != 0 || (rc = set_wal(c, diag)) != 0)
        goto fail;
    /* NORMAL is durable enough in WAL mode: a crash loses at most the last
     * commits, which the daemon refetches; it never corrupts the file. */
    if ((rc = sqlite3_exec(c->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL)) != SQLITE_OK) {
        rc = db_fail(c, rc, "setting synchronous mode", diag);
        goto fail;
    }
    if ((rc = prepare(
             c, "INSERT OR REPLACE INTO sts_policy (" COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
             &c->put, diag)) != 0 ||
        (rc = prepare(c, "SELECT " COLUMNS " FROM sts_policy WHERE domain = ?1", &c->get, diag)) !=
            0 ||
        (rc = prepare(c, "DELETE FROM sts_policy WHERE domain = ?1", &c->del, diag)) != 0 ||
        (rc = prepare(c, "SELECT " COLUMNS " FROM sts_policy ORDER BY domain", &c->all, diag)) != 0)
        goto fail;
    *out = c;
    return 0;
fail:
    cache_sqlite_close(c);
    return rc;
}

/* check_policy - parse text and return its canonical form in *canon, the parsed policy in *keep */
static int check_policy(const char *text, size_t len, char **canon, struct sts_policy *keep,
                        struct mxtls_diag *diag)
{
    struct sts_policy p;
    int rc;

    *canon = NULL;
    if (len > STS_POLICY_BODY_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0,
                              "policy text of %zu octets is over the %d-octet cap (RFC 8461 §3.3)",
                              len, STS_POLICY_BODY_MAX);
    if (text == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "no policy text");
    if ((rc = sts_policy_parse(text, len, &p, diag)) != 0)
        return rc;
    *canon = sts_policy_format(&p);
    if (keep != NULL && *canon != NULL)
        *keep = p; /* cache_sqlite_each: parsed once, handed to its callback */
    else
        sts_policy_finish(&p);
    if (*canon == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "cache: out of memory");
    return 0;
}

/* cache_sqlite_put - validate e and insert or replace its row */
int cache_sqlite_put(struct cache_sqlite *c, const struct cache_entry *e, struct mxtls_diag *diag)
{
    char dom[DOMAIN_BUF_SIZE];
    char *canon = NULL;
    size_t idlen;
    int rc;

    if (c == NULL || e == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no cache or entry");
    if (memchr(e->domain, '\0', sizeof(e->domain)) == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: domain not NUL-terminated");
    if ((rc = cache_domain_normalize(e->domain, dom, diag)) != 0)
        return rc;
    idlen = strnlen(e->id, sizeof(e->id));
    if (idlen == sizeof(e->id) || !cache_id_valid(e->id, idlen))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%s: id is not 1 to 32 letters and digits (RFC 8461 §3.1)", dom);
    if (e->fetched_at < 0 || e->checked_at < 0 || e->failed_at < 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: negative timestamp", dom);
    if ((rc = check_policy(e->policy_text, e->policy_len, &canon, NULL, diag)) != 0)
        return rc;

    sqlite3_reset(c->put);
    if ((rc = sqlite3_bind_text(c->put, 1, dom, -1, SQLITE_TRANSIENT)) == SQLITE_OK &&
        (rc = sqlite3_bind_text(c->put, 2, e->id, (int)idlen, SQLITE_TRANSIENT)) == SQLITE_OK &&
        (rc = sqlite3_bind_int64(c->put, 3, e->fetched_at)) == SQLITE_OK &&
        (rc = sqlite3_bind_int64(c->put, 4, e->checked_at)) == SQLITE_OK &&
        (rc = sqlite3_bind_int64(c->put, 5, e->failed_at)) == SQLITE_OK &&
        (rc = sqlite3_bind_text(c->put, 6, canon, -1, SQLITE_STATIC)) == SQLITE_OK)
        rc = sqlite3_step(c->put);
    rc = rc == SQLITE_DONE ? 0 : db_fail(c, rc, "storing a policy", diag);
    sqlite3_reset(c->put);
    sqlite3_clear_bindings(c->put);
    free(canon);
    return rc;
}

/* load_row - validate the current row of st into *out; ENOTFOUND if bad */
static int load_row(const struct cache_sqlite *c, sqlite3_stmt *st, struct cache_entry *out,
                    struct sts_policy *keep, struct mxtls_diag *diag)
{
    const char *dom, *id, *text;
    size_t dlen, idlen, tlen;
    char *canon;
    int i, rc;

    memset(out, 0, sizeof(*out));
    /* SQLite columns are dynamically typed: check before reading. */
    if (sqlite3_column_type(st, 0) != SQLITE_TEXT)
        return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "%s: cache row without a text domain",
                              c->path);
    dom = (const char *)sqlite3_column_text(st, 0);
    dlen = (size_t)sqlite3_column_bytes(st, 0);
    if (dom == NULL || domain_normalize(dom, dlen, out->domain, sizeof(out->domain), NULL) != 0 ||
        strlen(out->domain) != dlen || memcmp(out->domain, dom, dlen) != 0) {
        memset(out, 0, sizeof(*out));
        return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0,
                              "%s: cache row with an invalid or unnormalised domain", c->path);
    }
    id =
        sqlite3_column_type(st, 1) == SQLITE_TEXT ? (const char *)sqlite3_column_text(st, 1) : NULL;
    idlen = id ? (size_t)sqlite3_column_bytes(st, 1) : 0;
    if (id == NULL || !cache_id_valid(id, idlen)) {
        rc = mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0,
                            "%s: cache row for %s: invalid id (RFC 8461 §3.1)", c->path,
                            out->domain);
        goto bad;
    }
    memcpy(out->id, id, idlen);
    out->id[idlen] = '\0';
    for (i = 2; i <= 4; i++) {
        if (sqlite3_column_type(st, i) != SQLITE_INTEGER || sqlite3_column_int64(st, i) < 0) {
            rc = mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "%s: cache row for %s: invalid timestamp",
                                c->path, out->domain);
            goto bad;
        }
    }
    out->fetched_at = sqlite3_column_int64(st, 2);
    out->checked_at = sqlite3_column_int64(st, 3);
    out->failed_at = sqlite3_column_int64(st, 4);
    i = sqlite3_column_type(st, 5);
    text = i == SQLITE_TEXT || i == SQLITE_BLOB ? sqlite3_column_blob(st, 5) : NULL;
    tlen = text ? (size_t)sqlite3_column_bytes(st, 5) : 0;
    if (text == NULL) {
        rc = mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "%s: cache row for %s: no policy text",
                            c->path, out->domain);
        goto bad;
    }
    if ((rc = check_policy(text, tlen, &canon, keep, diag)) != 0) {
        if (rc == MXTLS_ENOMEM)
            goto bad;
        /* keep the parser's reason, say where it came from */
        if (diag != NULL) {
            char why[MXTLS_DIAG_WHAT_MAX];

            memcpy(why, diag->what, sizeof(why));
            mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "%s: cache row for %s: bad policy: %s",
                           c->path, out->domain, why);
        }
        rc = MXTLS_ENOTFOUND;
        goto bad;
    }
    out->policy_text = canon;
    out->policy_len = strlen(canon);
    return 0;
bad:
    cache_entry_finish(out);
    return rc;
}

/* get_row - the row for domain into *out; *invalid set when a row exists but is bad */
static int get_row(struct cache_sqlite *c, const char *domain, struct cache_entry *out,
                   bool *invalid, struct mxtls_diag *diag)
{
    char dom[DOMAIN_BUF_SIZE];
    int rc;

    *invalid = false;
    if (out == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no output entry");
    memset(out, 0, sizeof(*out));
    if (c == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no cache");
    if ((rc = cache_domain_normalize(domain, dom, diag)) != 0)
        return rc;
    sqlite3_reset(c->get);
    rc = sqlite3_bind_text(c->get, 1, dom, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(c->get);
    if (rc == SQLITE_ROW) {
        rc = load_row(c, c->get, out, NULL, diag);
        *invalid = rc == MXTLS_ENOTFOUND;
    } else if (rc == SQLITE_DONE)
        rc = mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "%s: no cached policy", dom);
    else
        rc = db_fail(c, rc, "reading a policy", diag);
    sqlite3_reset(c->get);
    sqlite3_clear_bindings(c->get);
    return rc;
}

/* cache_sqlite_get - load the entry for domain (absent and invalid: ENOTFOUND) */
int cache_sqlite_get(struct cache_sqlite *c, const char *domain, struct cache_entry *out,
                     struct mxtls_diag *diag)
{
    bool invalid;
    return get_row(c, domain, out, &invalid, diag);
}

/* cache_sqlite_delete - remove the row for domain */
int cache_sqlite_delete(struct cache_sqlite *c, const char *domain, struct mxtls_diag *diag)
{
    char dom[DOMAIN_BUF_SIZE];
    int rc;

    if (c == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no cache");
    if ((rc = cache_domain_normalize(domain, dom, diag)) != 0)
        return rc;
    sqlite3_reset(c->del);
    rc = sqlite3_bind_text(c->del, 1, dom, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(c->del);
    if (rc == SQLITE_DONE)
        rc = sqlite3_changes(c->db) > 0
                 ? 0
                 : mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "%s: no cached policy", dom);
    else
        rc = db_fail(c, rc, "deleting a policy", diag);
    sqlite3_reset(c->del);
    sqlite3_clear_bindings(c->del);
    return rc;
}

/*
 * cache_sqlite_each - call cb for every valid row, counting invalid ones. Each
 * row's policy is parsed once, to validate it, and the parsed policy goes to
 * the callback with the row (e->policy), so a loader need not parse again.
 */
int cache_sqlite_each(struct cache_sqlite *c, cache_sqlite_each_fn cb, void *arg, size_t *n_invalid,
                      struct mxtls_diag *diag)
{
    struct cache_entry e;
    struct sts_policy pol;
    size_t bad = 0;
    int rc;

    if (n_invalid != NULL)
        *n_invalid = 0;
    if (c == NULL || cb == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no cache or callback");
    sqlite3_reset(c->all);
    for (;;) {
        int st = sqlite3_step(c->all);

        if (st == SQLITE_DONE) {
            rc = 0;
            break;
        }
        if (st != SQLITE_ROW) {
            rc = db_fail(c, st, "reading the cache", diag);
            break;
        }
        /* only the first bad row's reason reaches the caller's diag */
        rc = load_row(c, c->all, &e, &pol, bad == 0 ? diag : NULL);
        if (rc == MXTLS_ENOTFOUND) {
            bad++;
            continue;
        }
        if (rc != 0)
            break;
        e.policy = &pol; /* the callback may move it out (setting NULL) */
        rc = cb(&e, arg);
        if (e.policy != NULL)
            sts_policy_finish(e.policy);
        cache_entry_finish(&e);
        if (rc != 0)
            break; /* the callback's value */
    }
    sqlite3_reset(c->all);
    if (n_invalid != NULL)
        *n_invalid = bad;
    return rc;
}

/* cache_sqlite_set_busy_timeout - how long a statement waits for a lock */
void cache_sqlite_set_busy_timeout(struct cache_sqlite *c, unsigned ms)
{
    if (c != NULL)
        sqlite3_busy_timeout(c->db, ms > INT32_MAX ? INT32_MAX : (int)ms);
}

/* cache_sqlite_begin - BEGIN IMMEDIATE: take the write lock now */
int cache_sqlite_begin(struct cache_sqlite *c, struct mxtls_diag *diag)
{
    int rc;

    if (c == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no cache");
    rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(c, rc, "starting a transaction", diag);
}

/* cache_sqlite_commit - COMMIT; on failure the transaction is rolled back */
int cache_sqlite_commit(struct cache_sqlite *c, struct mxtls_diag *diag)
{
    int rc;

    if (c == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no cache");
    rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return 0;
    rc = db_fail(c, rc, "committing", diag);
    cache_sqlite_rollback(c);
    return rc;
}

/* cache_sqlite_rollback - abandon the open transaction, if any */
void cache_sqlite_rollback(struct cache_sqlite *c)
{
    if (c != NULL && !sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* cache_sqlite_count - rows in the table, valid or not */
int cache_sqlite_count(struct cache_sqlite *c, size_t *n, struct mxtls_diag *diag)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (c == NULL || n == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: no cache or output");
    *n = 0;
    rc = sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sts_policy", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 v = sqlite3_column_int64(st, 0);

        *n = v > 0 ? (size_t)v : 0;
        rc = SQLITE_OK;
    }
    rc = rc == SQLITE_OK ? 0 : db_fail(c, rc, "counting the rows", diag);
    sqlite3_finalize(st);
    return rc;
}

/* The "sqlite" backend's table: thin wrappers over the calls above. */

/* be_open - one connection to options.path with its busy timeout */
static int be_open(const struct cache_backend_options *o, struct cache_backend **out,
                   struct mxtls_diag *diag)
{
    struct cache_sqlite *c = NULL;
    *out = NULL;
    if (o == NULL || o->path == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "cache: sqlite needs a file name");
    int rc = cache_sqlite_open(o->path, &c, diag);
    if (rc < 0)
        return rc;
    if (o->busy_ms > 0)
        cache_sqlite_set_busy_timeout(c, o->busy_ms);
    c->base.ops = &cache_sqlite_backend;
    *out = &c->base;
    return 0;
}

/* be_conn - the connection behind b */
static struct cache_sqlite *be_conn(struct cache_backend *b)
{
    return (struct cache_sqlite *)(void *)b;
}

/* be_close - cache_sqlite_close */
static void be_close(struct cache_backend *b)
{
    cache_sqlite_close(be_conn(b));
}

/* be_get - a row that exists but is invalid is MXTLS_EINVAL: absent, and counted */
static int be_get(struct cache_backend *b, const char *domain, struct cache_entry *out,
                  struct mxtls_diag *diag)
{
    bool invalid;
    int rc = get_row(be_conn(b), domain, out, &invalid, diag);
    if (rc == MXTLS_ENOTFOUND && invalid) {
        if (diag != NULL)
            diag->code = MXTLS_EINVAL;
        return MXTLS_EINVAL;
    }
    return rc;
}

/* be_put - cache_sqlite_put */
static int be_put(struct cache_backend *b, const struct cache_entry *e, struct mxtls_diag *diag)
{
    return cache_sqlite_put(be_conn(b), e, diag);
}

/* be_del - cache_sqlite_delete */
static int be_del(struct cache_backend *b, const char *domain, struct mxtls_diag *diag)
{
    return cache_sqlite_delete(be_conn(b), domain, diag);
}

/* be_walk - cache_sqlite_each */
static int be_walk(struct cache_backend *b, cache_backend_walk_fn cb, void *arg, size_t *n_invalid,
                   struct mxtls_diag *diag)
{
    return cache_sqlite_each(be_conn(b), cb, arg, n_invalid, diag);
}

/* be_begin - cache_sqlite_begin */
static int be_begin(struct cache_backend *b, struct mxtls_diag *diag)
{
    return cache_sqlite_begin(be_conn(b), diag);
}

/* be_commit - cache_sqlite_commit */
static int be_commit(struct cache_backend *b, struct mxtls_diag *diag)
{
    return cache_sqlite_commit(be_conn(b), diag);
}

/* be_rollback - cache_sqlite_rollback */
static void be_rollback(struct cache_backend *b)
{
    cache_sqlite_rollback(be_conn(b));
}

/* be_count - cache_sqlite_count */
static int be_count(struct cache_backend *b, size_t *n, struct mxtls_diag *diag)
{
    return cache_sqlite_count(be_conn(b), n, diag);
}

const struct cache_backend_ops cache_sqlite_backend = {
    .name = "sqlite",
    .flags = CACHE_BACKEND_FILE,
    .open = be_open,
    .close = be_close,
    .get = be_get,
    .put = be_put,
    .del = be_del,
    .walk = be_walk,
    .begin = be_begin,
    .commit = be_commit,
    .rollback = be_rollback,
    .count = be_count,
};
