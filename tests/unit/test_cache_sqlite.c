/*
 * test_cache_sqlite - the persistent MTA-STS policy cache (io/cache_sqlite.h).
 * Every test works on a fresh database in its own mkdtemp directory. Corrupt
 * rows are written with the sqlite3 API directly, as a damaged or foreign
 * file would hold them; they must be skipped and counted, never fatal.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "unit.h"

#include "cache_sqlite.h"

#define POLICY     "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 86400\r\n"
#define POLICY_LF  "version: STSv1\nmode: testing\nmx: *.Example.NET\nmax_age: 600"
#define POLICY_LFC "version: STSv1\r\nmode: testing\r\nmx: *.example.net\r\nmax_age: 600\r\n"
#define ID32       "abcdefghijklmnopqrstuvwxyz012345"

struct tmpdb {
    char dir[64];
    char path[128];
};

/* tmpdb_make - a fresh directory and the database path inside it */
static void tmpdb_make(struct tmpdb *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/test_cache_sqlite.XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/cache.db", t->dir);
}

/* tmpdb_remove - remove the database, its WAL files and the directory */
static void tmpdb_remove(struct tmpdb *t)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    size_t i;

    for (i = 0; i < UNIT_LEN(sfx); i++) {
        snprintf(p, sizeof(p), "%s%s", t->path, sfx[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

/* entry - fill e with borrowed text (put does not take ownership) */
static void entry(struct cache_entry *e, const char *domain, const char *id, int64_t t,
                  const char *text)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->domain, sizeof(e->domain), "%s", domain);
    if (strlen(id) >= sizeof(e->id))
        memcpy(e->id, id, sizeof(e->id)); /* fills the buffer, no NUL */
    else
        snprintf(e->id, sizeof(e->id), "%s", id);
    e->fetched_at = t;
    e->checked_at = t + 1;
    e->failed_at = 0;
    e->policy_text = (char *)(uintptr_t)text;
    e->policy_len = text ? strlen(text) : 0;
}

/* ---- put then get: accepted entries and rejected ones ---- */

struct put_case {
    const char *rule;
    const char *domain;
    const char *id;
    int64_t t;
    const char *text; /* NULL: a text of big_len octets */
    size_t big_len;
    int err;               /* expected from put */
    const char *get_as;    /* name to get it back by */
    const char *want_text; /* canonical text expected from get */
};

static const struct put_case put_cases[] = {
    {"round trip of a valid entry (RFC 8461 §3.2)", "example.com", "20160831085700Z", 1000, POLICY,
     0, 0, "example.com", POLICY},
    {"domain stored normalised: case and trailing dot", "MAIL.Example.COM.", "1", 5, POLICY, 0, 0,
     "mail.example.com", POLICY},
    {"get normalises its argument", "example.org", "1", 5, POLICY, 0, 0, "EXAMPLE.org.", POLICY},
    {"policy stored in canonical form (LF, case) (RFC 8461 §3.2)", "example.net", "1", 5, POLICY_LF,
     0, 0, "example.net", POLICY_LFC},
    {"id of 32 characters accepted (RFC 8461 §3.1)", "example.com", ID32, 5, POLICY, 0, 0,
     "example.com", POLICY},
    {"timestamps of 0 accepted", "example.com", "1", 0, POLICY, 0, 0, "example.com", POLICY},
    {"id of 33 characters (buffer without NUL) rejected (RFC 8461 §3.1)", "example.com", ID32 "6",
     5, POLICY, 0, MXTLS_EINVAL, "example.com", NULL},
    {"empty id rejected (RFC 8461 §3.1)", "example.com", "", 5, POLICY, 0, MXTLS_EINVAL,
     "example.com", NULL},
    {"id with '-' rejected (RFC 8461 §3.1)", "example.com", "a-b", 5, POLICY, 0, MXTLS_EINVAL,
     "example.com", NULL},
    {"invalid domain rejected", "exa mple.com", "1", 5, POLICY, 0, MXTLS_EINVAL, NULL, NULL},
    {"empty domain rejected", "", "1", 5, POLICY, 0, MXTLS_EINVAL, NULL, NULL},
    {"negative timestamp rejected", "example.com", "1", -1, POLICY, 0, MXTLS_EINVAL, "example.com",
     NULL},
    {"policy that does not parse rejected (RFC 8461 §3.2)", "example.com", "1", 5,
     "version: STSv2\r\nmode: enforce\r\nmax_age: 1\r\n", 0, MXTLS_EINVAL, "example.com", NULL},
    {"policy over the 64 KiB cap rejected (RFC 8461 §3.3)", "example.com", "1", 5, NULL,
     STS_POLICY_BODY_MAX + 1, MXTLS_ETOOLONG, "example.com", NULL},
};

/* big_policy - a valid-looking policy padded with mx lines to len octets */
static char *big_policy(size_t len)
{
    char *p = malloc(len + 1);
    size_t n;

    assert_non_null(p);
    n = (size_t)snprintf(p, len + 1, "version: STSv1\r\nmode: enforce\r\nmax_age: 1\r\n");
    while (n < len)
        p[n++] = '\n';
    p[len] = '\0';
    return p;
}

static void test_put(void **state)
{
    const struct put_case *r = *state;
    struct mxtls_diag diag = {0};
    struct cache_sqlite *c = NULL;
    struct cache_entry e, got;
    struct tmpdb t;
    char *big = r->text ? NULL : big_policy(r->big_len);
    int rc;

    tmpdb_make(&t);
    assert_int_equal(cache_sqlite_open(t.path, &c, &diag), 0);
    entry(&e, r->domain, r->id, r->t, r->text ? r->text : big);
    rc = cache_sqlite_put(c, &e, &diag);
    assert_int_equal(rc, r->err);
    if (r->get_as != NULL) {
        rc = cache_sqlite_get(c, r->get_as, &got, &diag);
        if (r->want_text == NULL) {
            assert_int_equal(rc, MXTLS_ENOTFOUND); /* nothing was stored */
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(got.id, r->id);
            assert_int_equal(got.fetched_at, r->t);
            assert_int_equal(got.checked_at, r->t + 1);
            assert_int_equal(got.failed_at, 0);
            assert_string_equal(got.policy_text, r->want_text);
            assert_int_equal(got.policy_len, strlen(r->want_text));
        }
        cache_entry_finish(&got);
    }
    cache_sqlite_close(c);
    free(big);
    tmpdb_remove(&t);
}

/* ---- rows written behind the cache's back ---- */

struct bad_case {
    const char *rule;
    const char *domain; /* NULL: a blob domain "example.com" */
    const char *id;
    int64_t fetched_at;
    const char *text; /* NULL: big_policy(big_len) */
    size_t text_len;  /* 0: strlen(text) */
    size_t big_len;
    const char *get_as; /* NULL: cannot be got by name */
    const char *why;    /* substring of the diag */
};

static const struct bad_case bad_cases[] = {
    {"row with an invalid domain is skipped", "bad domain..com", "1", 5, POLICY, 0, 0, NULL,
     "invalid or unnormalised domain"},
    {"row with an unnormalised domain is skipped", "Example.COM", "1", 5, POLICY, 0, 0, NULL,
     "invalid or unnormalised domain"},
    {"row with a blob domain is skipped", NULL, "1", 5, POLICY, 0, 0, NULL, "text domain"},
    {"row with an invalid id is skipped (RFC 8461 §3.1)", "example.com", "a-b", 5, POLICY, 0, 0,
     "example.com", "invalid id"},
    {"row with a 33-character id is skipped (RFC 8461 §3.1)", "example.com", ID32 "6", 5, POLICY, 0,
     0, "example.com", "invalid id"},
    {"row with a negative timestamp is skipped", "example.com", "1", -5, POLICY, 0, 0,
     "example.com", "invalid timestamp"},
    {"row whose policy does not parse is skipped (RFC 8461 §3.2)", "example.com", "1", 5,
     "mode: enforce\r\n", 0, 0, "example.com", "bad policy"},
    {"row whose policy holds a NUL byte is skipped", "example.com", "1", 5,
     "version: STSv1\r\nmode: enforce\0\r\nmax_age: 1\r\n", 44, 0, "example.com", "bad policy"},
    {"row over the 64 KiB policy cap is skipped (RFC 8461 §3.3)", "example.com", "1", 5, NULL, 0,
     STS_POLICY_BODY_MAX + 1, "example.com", "cap"},
};

/* raw_insert - write one row with the sqlite3 API, bypassing validation */
static void raw_insert(const char *path, const struct bad_case *r)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    char *big = r->text ? NULL : big_policy(r->big_len);
    const char *text = r->text ? r->text : big;
    size_t len = r->text_len ? r->text_len : strlen(text);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO sts_policy (domain, id, fetched_at, "
                                        "checked_at, failed_at, policy) VALUES (?, ?, ?, 0, 0, ?)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    if (r->domain)
        sqlite3_bind_text(st, 1, r->domain, -1, SQLITE_STATIC);
    else
        sqlite3_bind_blob(st, 1, "example.com", 11, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, r->fetched_at);
    sqlite3_bind_text(st, 4, text, (int)len, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(big);
}

struct collect {
    size_t n;
    char last[DOMAIN_BUF_SIZE];
    int sorted;
    int stop_at; /* return 7 at this call (1-based); 0: never */
    int steal;   /* take policy_text ownership */
};

/* collect_cb - count entries, check order, optionally stop or steal text */
static int collect_cb(struct cache_entry *e, void *arg)
{
    struct collect *k = arg;

    if (k->n > 0 && strcmp(k->last, e->domain) >= 0)
        k->sorted = 0;
    snprintf(k->last, sizeof(k->last), "%s", e->domain);
    k->n++;
    assert_string_equal(e->policy_text, POLICY);
    if (k->steal) {
        free(e->policy_text);
        e->policy_text = NULL;
    }
    return k->stop_at != 0 && (int)k->n == k->stop_at ? 7 : 0;
}

static void test_bad_row(void **state)
{
    const struct bad_case *r = *state;
    struct mxtls_diag diag = {0};
    struct cache_sqlite *c = NULL;
    struct cache_entry e, got;
    struct collect k = {0};
    struct tmpdb t;
    size_t n_bad = 99;

    tmpdb_make(&t);
    assert_int_equal(cache_sqlite_open(t.path, &c, &diag), 0);
    entry(&e, "good.example", "1", 5, POLICY);
    assert_int_equal(cache_sqlite_put(c, &e, &diag), 0);
    raw_insert(t.path, r);

    if (r->get_as != NULL) {
        memset(&diag, 0, sizeof(diag));
        assert_int_equal(cache_sqlite_get(c, r->get_as, &got, &diag), MXTLS_ENOTFOUND);
        assert_non_null(strstr(diag.what, r->why));
        assert_null(got.policy_text);
        cache_entry_finish(&got);
    }
    memset(&diag, 0, sizeof(diag));
    k.sorted = 1;
    assert_int_equal(cache_sqlite_each(c, collect_cb, &k, &n_bad, &diag), 0);
    assert_int_equal(k.n, 1); /* the good row still loads */
    assert_int_equal(n_bad, 1);
    assert_non_null(strstr(diag.what, r->why));
    /* the good row is still readable by name */
    assert_int_equal(cache_sqlite_get(c, "good.example", &got, NULL), 0);
    cache_entry_finish(&got);
    cache_sqlite_close(c);
    tmpdb_remove(&t);
}

/* ---- single scenarios ---- */

static void test_upsert_replaces(void **state)
{
    struct cache_sqlite *c = NULL;
    struct cache_entry e, got;
    struct collect k = {.sorted = 1};
    struct tmpdb t;

    (void)state;
    tmpdb_make(&t);
    assert_int_equal(cache_sqlite_open(t.path, &c, NULL), 0);
    entry(&e, "example.com", "old", 10, POLICY_LF);
    assert_int_equal(cache_sqlite_put(c, &e, NULL), 0);
    entry(&e, "Example.com", "new", 20, POLICY);
    e.failed_at = 30;
    assert_int_equal(cache_sqlite_put(c, &e, NULL), 0);
    assert_int_equal(cache_sqlite_get(c, "example.com", &got, NULL), 0);
    assert_string_equal(got.id, "new");
    assert_int_equal(got.fetched_at, 20);
    assert_int_equal(got.checked_at, 21);
    assert_int_equal(got.failed_at, 30);
    assert_string_equal(got.policy_text, POLICY);
    cache_entry_finish(&got);
    assert_int_equal(cache_sqlite_each(c, collect_cb, &k, NULL, NULL), 0);
    assert_int_equal(k.n, 1); /* one row, not two */
    cache_sqlite_close(c);
    tmpdb_remove(&t);
}

static void test_delete(void **state)
{
    struct mxtls_diag diag = {0};
    struct cache_sqlite *c = NULL;
    struct cache_entry e, got;
    struct tmpdb t;

    (void)state;
    tmpdb_make(&t);
    assert_int_equal(cache_sqlite_open(t.path, &c, NULL), 0);
    entry(&e, "example.com", "1", 10, POLICY);
    assert_int_equal(cache_sqlite_put(c, &e, NULL), 0);
    entry(&e, "example.org", "1", 10, POLICY);
    assert_int_equal(cache_sqlite_put(c, &e, NULL), 0);
    assert_int_equal(cache_sqlite_delete(c, "EXAMPLE.com.", &diag), 0);
    assert_int_equal(cache_sqlite_get(c, "example.com", &got, NULL), MXTLS_ENOTFOUND);
    assert_int_equal(cache_sqlite_delete(c, "example.com", &diag), MXTLS_ENOTFOUND);
    assert_int_equal(cache_sqlite_delete(c, "bad domain", &diag), MXTLS_EINVAL);
    assert_int_equal(cache_sqlite_get(c, "example.org", &got, NULL), 0); /* untouched */
    cache_entry_finish(&got);
    cache_sqlite_close(c);
    tmpdb_remove(&t);
}

#define MANY 500

/* put_many - MANY domains d0000.example ... */
static void put_many(struct cache_sqlite *c)
{
    struct cache_entry e;
    char name[32];
    int i;

    for (i = MANY - 1; i >= 0; i--) { /* reverse: each must sort */
        snprintf(name, sizeof(name), "d%04d.example", i);
        entry(&e, name, "1", i, POLICY);
        assert_int_equal(cache_sqlite_put(c, &e, NULL), 0);
    }
}

static void test_each_many(void **state)
{
    struct cache_sqlite *c = NULL;
    struct collect k = {.sorted = 1};
    struct collect stop = {.sorted = 1, .stop_at = 3, .steal = 1};
    struct tmpdb t;
    size_t n_bad = 99;

    (void)state;
    tmpdb_make(&t);
    assert_int_equal(cache_sqlite_open(t.path, &c, NULL), 0);
    put_many(c);
    assert_int_equal(cache_sqlite_each(c, collect_cb, &k, &n_bad, NULL), 0);
    assert_int_equal(k.n, MANY);
    assert_int_equal(n_bad, 0);
    assert_true(k.sorted);
    assert_string_equal(k.last, "d0499.example");
    /* a non-zero callback return stops the walk and is returned */
    assert_int_equal(cache_sqlite_each(c, collect_cb, &stop, NULL, NULL), 7);
    assert_int_equal(stop.n, 3);
    /* and the statement is reusable afterwards */
    k.n = 0;
    assert_int_equal(cache_sqlite_each(c, collect_cb, &k, NULL, NULL), 0);
    assert_int_equal(k.n, MANY);
    cache_sqlite_close(c);
    tmpdb_remove(&t);
}

static void test_persistence(void **state)
{
    struct cache_sqlite *c = NULL;
    struct cache_entry got;
    struct collect k = {.sorted = 1};
    struct tmpdb t;

    (void)state;
    tmpdb_make(&t);
    assert_int_equal(cache_sqlite_open(t.path, &c, NULL), 0);
    put_many(c);
    cache_sqlite_close(c);
    c = NULL;
    assert_int_equal(cache_sqlite_open(t.path, &c, NULL), 0);
    assert_int_equal(cache_sqlite_get(c, "d0123.example", &got, NULL), 0);
    assert_int_equal(got.fetched_at, 123);
    assert_string_equal(got.policy_text, POLICY);
    cache_entry_finish(&got);
    assert_int_equal(cache_sqlite_each(c, collect_cb, &k, NULL, NULL), 0);
    assert_int_equal(k.n, MANY);
    cache_sqlite_close(c);
    tmpdb_remove(&t);
}

static void test_not_a_database(void **state)
{
    struct mxtls_diag diag = {0};
    struct cache_sqlite *c = (struct cache_sqlite *)1;
    struct tmpdb t;
    FILE *f;
    int i;

    (void)state;
    tmpdb_make(&t);
    f = fopen(t.path, "w");
    assert_non_null(f);
    for (i = 0; i < 200; i++)
        fputs("version: STSv1\r\nthis is not a database\r\n", f);
    fclose(f);
    assert_int_equal(cache_sqlite_open(t.path, &c, &diag), MXTLS_EIO);
    assert_null(c);
    assert_non_null(strstr(diag.what, t.path));
    assert_non_null(strstr(diag.what, "not a database"));
    tmpdb_remove(&t);
}

static void test_newer_version(void **state)
{
    struct mxtls_diag diag = {0};
    struct cache_sqlite *c = NULL;
    struct tmpdb t;
    sqlite3 *db;

    (void)state;
    tmpdb_make(&t);
    assert_int_equal(cache_sqlite_open(t.path, &c, NULL), 0);
    cache_sqlite_close(c);
    c = NULL;
    assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(cache_sqlite_open(t.path, &c, &diag), MXTLS_EINVAL);
    assert_null(c);
    assert_non_null(strstr(diag.what, "schema version 2"));
    tmpdb_remove(&t);
}

static void test_file_mode(void **state)
{
    struct cache_sqlite *c = NULL;
    struct cache_entry e;
    struct tmpdb t;
    struct stat st;
    char wal[160];
    mode_t old = umask(0); /* the mode must not rely on the umask */

    (void)state;
    tmpdb_make(&t);
    assert_int_equal(cache_sqlite_open(t.path, &c, NULL), 0);
    entry(&e, "example.com", "1", 10, POLICY);
    assert_int_equal(cache_sqlite_put(c, &e, NULL), 0);
    assert_int_equal(stat(t.path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    snprintf(wal, sizeof(wal), "%s-wal", t.path); /* WAL mode is on */
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    cache_sqlite_close(c);
    umask(old);
    tmpdb_remove(&t);
}

static void test_open_errors(void **state)
{
    struct mxtls_diag diag = {0};
    struct cache_sqlite *c = NULL;

    (void)state;
    assert_int_equal(cache_sqlite_open("/nonexistent-dir/x/cache.db", &c, &diag), MXTLS_EIO);
    assert_null(c);
    assert_non_null(strstr(diag.what, "/nonexistent-dir/x/cache.db"));
    assert_int_equal(cache_sqlite_open("", &c, &diag), MXTLS_EINVAL);
    assert_int_equal(cache_sqlite_open(NULL, &c, &diag), MXTLS_EINVAL);
    cache_sqlite_close(NULL); /* no-op */
    cache_entry_finish(NULL);
}

/* Issue 17, item 8: the busy timeout is the configuration's, not a constant. */
static void test_busy_timeout(void **state)
{
    struct mxtls_diag diag = {0};
    struct cache_sqlite *c = NULL;
    struct cache_entry e;
    struct tmpdb t;
    sqlite3 *other;

    (void)state;
    tmpdb_make(&t);
    assert_int_equal(cache_sqlite_open(t.path, &c, NULL), 0);
    assert_int_equal(sqlite3_open(t.path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    cache_sqlite_set_busy_timeout(c, 50);
    entry(&e, "example.com", "1", 10, POLICY);
    assert_int_equal(cache_sqlite_put(c, &e, &diag), MXTLS_EAGAIN);
    assert_int_equal(cache_sqlite_begin(c, &diag), MXTLS_EAGAIN);
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(cache_sqlite_put(c, &e, NULL), 0);
    cache_sqlite_close(c);
    tmpdb_remove(&t);
}

/* Issue 17, item 8: a batch of writes in one transaction; rollback leaves nothing. */
static void test_batch(void **state)
{
    static const char *const doms[] = {"a.example", "b.example", "c.example"};
    struct cache_sqlite *c = NULL;
    struct cache_entry e;
    struct tmpdb t;
    size_t n = 99, i;

    (void)state;
    tmpdb_make(&t);
    assert_int_equal(cache_sqlite_open(t.path, &c, NULL), 0);
    assert_int_equal(cache_sqlite_count(c, &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cache_sqlite_begin(c, NULL), 0);
    for (i = 0; i < UNIT_LEN(doms); i++) {
        entry(&e, doms[i], "1", 10, POLICY);
        assert_int_equal(cache_sqlite_put(c, &e, NULL), 0);
    }
    cache_sqlite_rollback(c);
    assert_int_equal(cache_sqlite_count(c, &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cache_sqlite_begin(c, NULL), 0);
    for (i = 0; i < UNIT_LEN(doms); i++) {
        entry(&e, doms[i], "1", 10, POLICY);
        assert_int_equal(cache_sqlite_put(c, &e, NULL), 0);
    }
    assert_int_equal(cache_sqlite_commit(c, NULL), 0);
    assert_int_equal(cache_sqlite_count(c, &n, NULL), 0);
    assert_int_equal(n, UNIT_LEN(doms));
    cache_sqlite_rollback(c); /* no transaction: a no-op */
    cache_sqlite_close(c);
    tmpdb_remove(&t);
}

/*
 * Issue 17, item 13: a database that cannot be opened for another reason
 * (here its FILE-wal cannot be created) is not called "not an SQLite
 * database"; the message carries SQLite's reason and, when there is one,
 * the operating system's.
 */
static void test_not_called_not_a_database(void **state)
{
    struct mxtls_diag diag = {0};
    struct cache_sqlite *c = NULL;
    struct cache_entry e;
    struct tmpdb t;
    char shm[160];

    (void)state;
    tmpdb_make(&t);
    assert_int_equal(cache_sqlite_open(t.path, &c, NULL), 0);
    entry(&e, "example.com", "1", 10, POLICY);
    assert_int_equal(cache_sqlite_put(c, &e, NULL), 0);
    cache_sqlite_close(c);
    c = NULL;
    snprintf(shm, sizeof(shm), "%s-wal", t.path);
    unlink(shm);
    assert_int_equal(mkdir(shm, 0700), 0); /* SQLite cannot create its write-ahead log */
    assert_int_not_equal(cache_sqlite_open(t.path, &c, &diag), 0);
    assert_null(c);
    assert_non_null(strstr(diag.what, t.path));
    assert_null(strstr(diag.what, "not an SQLite database"));
    rmdir(shm);
    tmpdb_remove(&t);
}

int main(void)
{
    static struct unit_suite s;

    UNIT_ROWS(&s, test_put, put_cases);
    UNIT_ROWS(&s, test_bad_row, bad_cases);
    unit_one(&s, "upsert replaces the row", test_upsert_replaces, NULL);
    unit_one(&s, "delete removes one row, ENOTFOUND when absent", test_delete, NULL);
    unit_one(&s, "each visits many domains in order and can stop", test_each_many, NULL);
    unit_one(&s, "entries persist across close and open (RFC 8461 §5.1)", test_persistence, NULL);
    unit_one(&s, "a file that is not a database is a clear error", test_not_a_database, NULL);
    unit_one(&s, "a newer schema version is a clear error", test_newer_version, NULL);
    unit_one(&s, "the database and its WAL are created mode 0600", test_file_mode, NULL);
    unit_one(&s, "open reports unusable paths", test_open_errors, NULL);
    unit_one(&s, "the busy timeout is settable (cache.timeout)", test_busy_timeout, NULL);
    unit_one(&s, "a batch commits together, rollback writes nothing", test_batch, NULL);
    unit_one(&s, "an unopenable database is not called \"not an SQLite database\"",
             test_not_called_not_a_database, NULL);
    return unit_run(&s, "cache_sqlite");
}
