/*
 * test_cache_backend - the cache backend seam (io/cache_backend.h) and the
 * store's read path over it (core/store.h): the registry (sqlite is known,
 * an unknown type is refused naming the known ones, duplicates and
 * incomplete tables are refused, a new backend can be registered and
 * opened), the sqlite table's get/put/delete/walk, and store_get on reader
 * threads: a record found, none, an invalid one (absent and counted), a
 * read cancelled before it is answered, reads still queued at close. Every
 * test works on a fresh database in its own mkdtemp directory; corrupt rows
 * are written with the sqlite3 API directly, as a damaged file holds them.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "unit.h"

#include "cache_backend.h"
#include "store.h"

#define POLICY "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 86400\r\n"

struct tmpdb {
    char dir[64];
    char path[128];
};

/* tmpdb_make - a fresh directory and the database path inside it */
static void tmpdb_make(struct tmpdb *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/test_cache_backend.XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        abort();
    snprintf(t->path, sizeof(t->path), "%s/cache.db", t->dir);
}

/* tmpdb_remove - the database, its side files and the directory */
static void tmpdb_remove(struct tmpdb *t)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal", ".state", ".state.tmp"};
    char p[160];
    for (size_t i = 0; i < UNIT_LEN(sfx); i++) {
        snprintf(p, sizeof(p), "%s%s", t->path, sfx[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

/* entry - e for domain with borrowed policy text */
static void entry(struct cache_entry *e, const char *domain, const char *id, int64_t t)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->domain, sizeof(e->domain), "%s", domain);
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->fetched_at = t;
    e->checked_at = t + 1;
    e->policy_text = (char *)(uintptr_t)POLICY;
    e->policy_len = strlen(POLICY);
}

/* raw_row - write a row as a damaged or foreign file would hold it */
static void raw_row(const char *path, const char *domain, const char *id, const char *text)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        abort();
    sqlite3_busy_timeout(db, 5000);
    int rc = sqlite3_prepare_v2(
        db, "INSERT OR REPLACE INTO sts_policy VALUES (?, ?, 100, 101, 0, ?)", -1, &st, NULL);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- the registry ---- */

/* sqlite is registered; an unknown type is refused with the known names. */
static void test_registry(void **state)
{
    (void)state;
    const struct cache_backend_ops *ops = cache_backend_find("sqlite");
    assert_non_null(ops);
    assert_string_equal(ops->name, "sqlite");
    assert_true((ops->flags & CACHE_BACKEND_BLOCKING) != 0);
    assert_null(cache_backend_find("redis"));
    assert_null(cache_backend_find(NULL));

    struct cache_backend *b = (struct cache_backend *)1;
    struct mxtls_diag d = {0};
    struct cache_backend_options o = {.path = "/nonexistent/never"};
    assert_int_equal(cache_backend_open("redis", &o, &b, &d), MXTLS_EINVAL);
    assert_null(b);
    assert_string_equal(d.what, "unknown cache type \"redis\" (known: sqlite)");

    /* a second sqlite, and a table without operations, are refused */
    assert_int_equal(cache_backend_register(ops, &d), MXTLS_EINVAL);
    static const struct cache_backend_ops empty = {.name = "empty"};
    assert_int_equal(cache_backend_register(&empty, &d), MXTLS_EINVAL);
    assert_null(cache_backend_find("empty"));
}

/* A fake asynchronous backend: registered, found, opened; the store refuses to drive it. */
struct fake_backend {
    struct cache_backend base;
    int opened;
};
static struct fake_backend fake_conn;

/* fake_open - the one static connection */
static int fake_open(const struct cache_backend_options *o, struct cache_backend **out,
                     struct mxtls_diag *diag)
{
    (void)o;
    (void)diag;
    fake_conn.opened++;
    *out = &fake_conn.base;
    return 0;
}

/* fake_close - nothing to free */
static void fake_close(struct cache_backend *b)
{
    ((struct fake_backend *)(void *)b)->opened--;
}

/* fake_get_async - never called here */
static int fake_get_async(struct cache_backend *b, const char *domain, cache_backend_get_cb cb,
                          void *arg, struct cache_backend_req **req)
{
    (void)b, (void)domain, (void)cb, (void)arg, (void)req;
    return MXTLS_EIO;
}

/* fake_put_async - never called here */
static int fake_put_async(struct cache_backend *b, const struct cache_entry *e,
                          cache_backend_done_cb cb, void *arg)
{
    (void)b, (void)e, (void)cb, (void)arg;
    return MXTLS_EIO;
}

/* fake_del_async - never called here */
static int fake_del_async(struct cache_backend *b, const char *domain, cache_backend_done_cb cb,
                          void *arg)
{
    (void)b, (void)domain, (void)cb, (void)arg;
    return MXTLS_EIO;
}

/* fake_cancel - never called here */
static void fake_cancel(struct cache_backend *b, struct cache_backend_req *req)
{
    (void)b, (void)req;
}

static const struct cache_backend_ops fake_ops = {
    .name = "fake-remote",
    .open = fake_open,
    .close = fake_close,
    .get_async = fake_get_async,
    .put_async = fake_put_async,
    .del_async = fake_del_async,
    .cancel = fake_cancel,
};

/* A new backend registers under its name, opens through the registry, and is listed. */
static void test_register(void **state)
{
    (void)state;
    struct mxtls_diag d = {0};
    assert_int_equal(cache_backend_register(&fake_ops, &d), 0);
    assert_ptr_equal(cache_backend_find("fake-remote"), &fake_ops);
    char names[64];
    cache_backend_names(names, sizeof(names));
    assert_string_equal(names, "sqlite, fake-remote");
    struct cache_backend *b = NULL;
    assert_int_equal(cache_backend_open("fake-remote", NULL, &b, &d), 0);
    assert_ptr_equal(b, &fake_conn.base);
    assert_ptr_equal(b->ops, &fake_ops);
    cache_backend_close(b);
    assert_int_equal(fake_conn.opened, 0);

    /* the store drives blocking backends only, and says so */
    struct store_config sc = {.type = "fake-remote", .readers = 1};
    struct store *s = store_open("/nonexistent/never", &sc, &d);
    assert_null(s);
    assert_non_null(strstr(d.what, "fake-remote: an asynchronous backend"));
    assert_int_equal(fake_conn.opened, 0);
    sc.type = "nosuch";
    assert_null(store_open("/nonexistent/never", &sc, &d));
    assert_string_equal(d.what, "unknown cache type \"nosuch\" (known: sqlite, fake-remote)");
}

/* ---- the sqlite table ---- */

struct walked {
    unsigned n;
    char last[DOMAIN_BUF_SIZE];
};

/* walk_one - count and remember the walk's rows */
static int walk_one(struct cache_entry *e, void *arg)
{
    struct walked *w = arg;
    assert_non_null(e->policy); /* parsed once, handed over */
    w->n++;
    snprintf(w->last, sizeof(w->last), "%s", e->domain);
    return 0;
}

/* get, put, delete and walk through the table; an invalid row is EINVAL from get. */
static void test_sqlite_table(void **state)
{
    (void)state;
    struct tmpdb t;
    tmpdb_make(&t);
    struct cache_backend *b = NULL;
    struct mxtls_diag d = {0};
    struct cache_backend_options o = {.path = t.path, .busy_ms = 1000};
    assert_int_equal(cache_backend_open("sqlite", &o, &b, &d), 0);
    const struct cache_backend_ops *ops = b->ops;

    struct cache_entry e, got;
    entry(&e, "Example.COM", "id1", 1000);
    assert_int_equal(ops->put(b, &e, &d), 0);
    assert_int_equal(ops->get(b, "example.com", &got, &d), 0);
    assert_string_equal(got.domain, "example.com");
    assert_string_equal(got.id, "id1");
    assert_int_equal(got.fetched_at, 1000);
    assert_int_equal(got.checked_at, 1001);
    assert_string_equal(got.policy_text, POLICY);
    cache_entry_finish(&got);
    assert_null(got.policy_text);

    assert_int_equal(ops->get(b, "absent.example", &got, &d), MXTLS_ENOTFOUND);
    raw_row(t.path, "bad.example", "id2", "version: STSv1\nmode: sometimes\n");
    assert_int_equal(ops->get(b, "bad.example", &got, &d), MXTLS_EINVAL);
    assert_int_equal(d.code, MXTLS_EINVAL);
    assert_non_null(strstr(d.what, "bad policy"));

    struct walked w = {0};
    size_t invalid = 0;
    assert_int_equal(ops->walk(b, walk_one, &w, &invalid, &d), 0);
    assert_int_equal(w.n, 1);
    assert_int_equal(invalid, 1);
    assert_string_equal(w.last, "example.com");

    assert_int_equal(ops->begin(b, &d), 0);
    assert_int_equal(ops->del(b, "example.com", &d), 0);
    assert_int_equal(ops->commit(b, &d), 0);
    assert_int_equal(ops->del(b, "example.com", &d), MXTLS_ENOTFOUND);
    size_t n = 9;
    assert_int_equal(ops->count(b, &n, &d), 0);
    assert_int_equal(n, 1); /* the invalid row */
    cache_backend_close(b);
    tmpdb_remove(&t);
}

/* ---- the store's reads ---- */

struct read_got {
    unsigned calls;
    int status;
    char id[40];
    bool policy;
    char why[MXTLS_DIAG_WHAT_MAX];
};

/* on_read - keep what the read answered */
static void on_read(struct store_row *row, void *arg)
{
    struct read_got *g = arg;
    g->calls++;
    g->status = row->status;
    snprintf(g->id, sizeof(g->id), "%s", row->e.id);
    g->policy = row->have_policy;
    snprintf(g->why, sizeof(g->why), "%s", row->why);
}

/* dispatch_until - wait for the store's pipe, dispatch, until want callbacks ran (5 s) */
static size_t dispatch_until(struct store *s, size_t want)
{
    size_t n = 0;
    for (int i = 0; i < 50 && n < want; i++) {
        struct pollfd p = {.fd = store_event_fd(s), .events = POLLIN};
        if (poll(&p, 1, 100) > 0)
            n += store_dispatch(s);
    }
    return n;
}

/* store_get: found (parsed), absent, invalid (counted); answers never come from inside the call. */
static void test_store_reads(void **state)
{
    (void)state;
    struct tmpdb t;
    tmpdb_make(&t);
    struct mxtls_diag d = {0};
    struct store_config sc = {.readers = 2};
    struct store *s = store_open(t.path, &sc, &d);
    assert_non_null(s);
    struct cache_entry e;
    entry(&e, "example.com", "id7", 5000);
    store_put(s, &e);
    /* the write is behind: wait for it to land before reading */
    struct store_health h;
    for (int i = 0; i < 100; i++) {
        store_health(s, &h);
        if (h.written == 1)
            break;
        usleep(20000);
    }
    assert_int_equal(h.written, 1);
    assert_int_equal(h.readers, 2);
    raw_row(t.path, "bad.example", "id8", "version: STSv1\nmode: enforce\nmx: \nmax_age: x\n");

    struct read_got g[3];
    memset(g, 0, sizeof(g));
    assert_non_null(store_get(s, "example.com", on_read, &g[0]));
    assert_non_null(store_get(s, "absent.example", on_read, &g[1]));
    assert_non_null(store_get(s, "bad.example", on_read, &g[2]));
    assert_int_equal(g[0].calls + g[1].calls + g[2].calls, 0);
    assert_int_equal(dispatch_until(s, 3), 3);
    assert_int_equal(g[0].status, 0);
    assert_string_equal(g[0].id, "id7");
    assert_true(g[0].policy);
    assert_int_equal(g[1].status, MXTLS_ENOTFOUND);
    assert_int_equal(g[2].status, MXTLS_EINVAL);
    assert_non_null(strstr(g[2].why, "bad.example"));
    store_health(s, &h);
    assert_int_equal(h.reads, 3);
    assert_int_equal(h.read_hits, 1);
    assert_int_equal(h.read_invalid, 1);
    assert_int_equal(h.read_failed, 0);
    store_close(s);
    tmpdb_remove(&t);
}

/* A cancelled read is never called back; reads still queued at close are freed silently. */
static void test_store_cancel(void **state)
{
    (void)state;
    struct tmpdb t;
    tmpdb_make(&t);
    struct mxtls_diag d = {0};
    struct store_config sc = {.readers = 1};
    struct store *s = store_open(t.path, &sc, &d);
    assert_non_null(s);
    struct read_got g[2];
    memset(g, 0, sizeof(g));
    struct store_read *r0 = store_get(s, "a.example", on_read, &g[0]);
    assert_non_null(store_get(s, "b.example", on_read, &g[1]));
    store_read_cancel(r0);
    assert_int_equal(dispatch_until(s, 1), 1);
    assert_int_equal(g[0].calls, 0);
    assert_int_equal(g[1].calls, 1);
    /* queued and never dispatched: freed by store_close without a call */
    for (int i = 0; i < 20; i++)
        assert_non_null(store_get(s, "c.example", on_read, &g[0]));
    store_close(s);
    assert_int_equal(g[0].calls, 0);
    tmpdb_remove(&t);
}

int main(void)
{
    static struct unit_suite s;
    unit_one(&s, "registry: sqlite known, an unknown type refused naming the known ones",
             test_registry, NULL);
    unit_one(&s, "registry: a new backend registers, opens; the store drives blocking ones",
             test_register, NULL);
    unit_one(&s, "sqlite through the table: get, put, delete, walk; invalid row EINVAL",
             test_sqlite_table, NULL);
    unit_one(&s, "store_get: found, absent, invalid (counted), off the loop", test_store_reads,
             NULL);
    unit_one(&s, "store_get: a cancelled read is not called; queued reads freed at close",
             test_store_cancel, NULL);
    return unit_run(&s, "cache_backend");
}
