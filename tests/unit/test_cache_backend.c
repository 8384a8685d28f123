/*
 * test_cache_backend - the cache backend seam (io/cache_backend.h) and the
 * store's read path over it (core/store.h): the registry (sqlite is known,
 * an unknown type is refused naming the known ones, duplicates and
 * incomplete tables are refused, a new backend can be registered and
 * opened), the sqlite table's get/put/delete/walk, a fleet's claims
 * (store_claim over a scripted backend), and store_get on reader
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
    assert_true((ops->flags & CACHE_BACKEND_FILE) != 0);
    assert_null(cache_backend_find("nosuch"));
    assert_null(cache_backend_find(NULL));

    struct cache_backend *b = (struct cache_backend *)1;
    struct mxtls_diag d = {0};
    struct cache_backend_options o = {.path = "/nonexistent/never"};
    assert_int_equal(cache_backend_open("nosuch", &o, &b, &d), MXTLS_EINVAL);
    assert_null(b);
    assert_int_equal(strncmp(d.what, "unknown cache type \"nosuch\" (known: sqlite", 41), 0);

    /* a second sqlite, and a table without operations, are refused */
    assert_int_equal(cache_backend_register(ops, &d), MXTLS_EINVAL);
    static const struct cache_backend_ops empty = {.name = "empty"};
    assert_int_equal(cache_backend_register(&empty, &d), MXTLS_EINVAL);
    assert_null(cache_backend_find("empty"));
}

/*
 * A fake fleet backend (claim and mark_failed, in memory): registered,
 * found, opened through the registry, and driven by the store's claims.
 * claim answers from a script: HELD while held > 0 (counting down), then
 * the scripted outcome; fail_next makes the next call fail as a server
 * that went away does.
 */
struct fake_backend {
    struct cache_backend base;
};
static struct {
    int opened;
    unsigned claims, marks;
    unsigned held; /* HELD this many more times */
    enum cache_claim_outcome then;
    bool fail_next;
    char owner[300];
    char marked[128];
} fake;
static struct fake_backend fake_conn;

/* fake_open - the one static connection */
static int fake_open(const struct cache_backend_options *o, struct cache_backend **out,
                     struct mxtls_diag *diag)
{
    (void)o;
    (void)diag;
    fake.opened++;
    *out = &fake_conn.base;
    return 0;
}

/* fake_close - nothing to free */
static void fake_close(struct cache_backend *b)
{
    (void)b;
    fake.opened--;
}

/* fake_get - no records */
static int fake_get(struct cache_backend *b, const char *domain, struct cache_entry *out,
                    struct mxtls_diag *diag)
{
    (void)b, (void)domain, (void)out;
    return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "none");
}

/* fake_put - accepted, not kept */
static int fake_put(struct cache_backend *b, const struct cache_entry *e, struct mxtls_diag *diag)
{
    (void)b, (void)e, (void)diag;
    return 0;
}

/* fake_del - nothing to delete */
static int fake_del(struct cache_backend *b, const char *domain, struct mxtls_diag *diag)
{
    (void)b, (void)domain;
    return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "none");
}

/* fake_walk - no records */
static int fake_walk(struct cache_backend *b, cache_backend_walk_fn cb, void *arg,
                     size_t *n_invalid, struct mxtls_diag *diag)
{
    (void)b, (void)cb, (void)arg, (void)diag;
    *n_invalid = 0;
    return 0;
}

/* fake_claim - the scripted answer (readers call it on their threads: the test waits) */
static int fake_claim(struct cache_backend *b, const char *domain, const char *id,
                      int64_t newer_than, const char *owner, unsigned ttl_ms,
                      struct cache_claim *out, struct mxtls_diag *diag)
{
    (void)b, (void)newer_than, (void)ttl_ms;
    fake.claims++;
    snprintf(fake.owner, sizeof(fake.owner), "%s", owner);
    if (fake.fail_next) {
        fake.fail_next = false;
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "fake: connection lost");
    }
    if (fake.held > 0) {
        fake.held--;
        out->outcome = CACHE_CLAIM_HELD;
        return 0;
    }
    out->outcome = fake.then;
    if (fake.then == CACHE_CLAIM_HAVE) {
        entry(&out->e, domain, id, 7000);
        out->e.policy_text = strdup(POLICY); /* the caller owns it */
    } else if (fake.then == CACHE_CLAIM_FAILED) {
        out->failure = 3;
        out->failed_at = 6000;
        snprintf(out->why, sizeof(out->why), "HTTP 404 from mta-sts.%s", domain);
    }
    return 0;
}

/* fake_mark_failed - remember what the fleet was told */
static int fake_mark_failed(struct cache_backend *b, const char *domain, const char *id,
                            int failure, int64_t at, const char *why, unsigned hold_s,
                            struct mxtls_diag *diag)
{
    (void)b, (void)diag;
    fake.marks++;
    snprintf(fake.marked, sizeof(fake.marked), "%s %s %d %lld %s %u", domain, id, failure,
             (long long)at, why, hold_s);
    return 0;
}

static const struct cache_backend_ops fake_ops = {
    .name = "fake-fleet",
    .open = fake_open,
    .close = fake_close,
    .get = fake_get,
    .put = fake_put,
    .del = fake_del,
    .walk = fake_walk,
    .claim = fake_claim,
    .mark_failed = fake_mark_failed,
};

/* A new backend registers under its name, opens through the registry, and is listed. */
static void test_register(void **state)
{
    (void)state;
    struct mxtls_diag d = {0};
    assert_int_equal(cache_backend_register(&fake_ops, &d), 0);
    assert_ptr_equal(cache_backend_find("fake-fleet"), &fake_ops);
    char names[128];
    cache_backend_names(names, sizeof(names));
    assert_int_equal(strncmp(names, "sqlite, ", 8), 0);
    assert_non_null(strstr(names, ", fake-fleet"));
    struct cache_backend *b = NULL;
    assert_int_equal(cache_backend_open("fake-fleet", NULL, &b, &d), 0);
    assert_ptr_equal(b, &fake_conn.base);
    assert_ptr_equal(b->ops, &fake_ops);
    cache_backend_close(b);
    assert_int_equal(fake.opened, 0);

    /* claim without mark_failed (or the reverse) is an incomplete table */
    static const struct cache_backend_ops half = {.name = "half",
                                                  .open = fake_open,
                                                  .close = fake_close,
                                                  .get = fake_get,
                                                  .put = fake_put,
                                                  .del = fake_del,
                                                  .walk = fake_walk,
                                                  .claim = fake_claim};
    assert_int_equal(cache_backend_register(&half, &d), MXTLS_EINVAL);
    assert_null(cache_backend_find("half"));

    struct store_config sc = {.type = "nosuch", .readers = 1};
    assert_null(store_open("/nonexistent/never", &sc, &d));
    assert_int_equal(strncmp(d.what, "unknown cache type \"nosuch\" (known: sqlite, ", 43), 0);
    assert_non_null(strstr(d.what, ", fake-fleet)"));
}

struct claim_got {
    unsigned calls;
    int status;
    enum cache_claim_outcome claim;
    char id[40];
    bool policy;
    int failure;
    int64_t failed_at;
    char why[MXTLS_DIAG_WHAT_MAX];
};

/* on_claim - keep what the claim answered */
static void on_claim(struct store_row *row, void *arg)
{
    struct claim_got *g = arg;
    g->calls++;
    g->status = row->status;
    g->claim = row->claim;
    snprintf(g->id, sizeof(g->id), "%s", row->e.id);
    g->policy = row->have_policy;
    g->failure = row->failure;
    g->failed_at = row->failed_at;
    snprintf(g->why, sizeof(g->why), "%s", row->why);
}

static size_t dispatch_until(struct store *s, size_t want);

/*
 * store_claim over a fleet backend: HELD is asked again off the loop until
 * the record comes (HAVE, parsed like a read), WON, FAILED with the other
 * daemon's reason, HELD delivered past wait_ms, a failing server as a
 * negative status; store_mark_failed reaches the backend with no callback.
 */
static void test_store_claim(void **state)
{
    (void)state;
    struct mxtls_diag d = {0};
    struct store_config sc = {.type = "fake-fleet", .readers = 2};
    struct store *s = store_open("fake", &sc, &d);
    assert_non_null(s);
    assert_true(store_fleet(s));

    struct claim_got g;
    memset(&g, 0, sizeof(g));
    fake.claims = 0;
    fake.held = 3;
    fake.then = CACHE_CLAIM_HAVE;
    assert_non_null(store_claim(s, "fleet.example", "id9", 0, 5000, 5000, on_claim, &g));
    assert_int_equal(g.calls, 0);
    assert_int_equal(dispatch_until(s, 1), 1);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.claim, CACHE_CLAIM_HAVE);
    assert_string_equal(g.id, "id9");
    assert_true(g.policy);
    assert_int_equal(fake.claims, 4);         /* three HELD, asked again, then HAVE */
    assert_non_null(strchr(fake.owner, ':')); /* host:pid */

    memset(&g, 0, sizeof(g));
    fake.then = CACHE_CLAIM_WON;
    assert_non_null(store_claim(s, "fleet.example", "id9", 0, 5000, 5000, on_claim, &g));
    assert_int_equal(dispatch_until(s, 1), 1);
    assert_int_equal(g.claim, CACHE_CLAIM_WON);
    assert_false(g.policy);

    memset(&g, 0, sizeof(g));
    fake.then = CACHE_CLAIM_FAILED;
    assert_non_null(store_claim(s, "fleet.example", "id9", 0, 5000, 5000, on_claim, &g));
    assert_int_equal(dispatch_until(s, 1), 1);
    assert_int_equal(g.claim, CACHE_CLAIM_FAILED);
    assert_int_equal(g.failure, 3);
    assert_int_equal(g.failed_at, 6000);
    assert_string_equal(g.why, "HTTP 404 from mta-sts.fleet.example");

    /* held past wait_ms: HELD is the answer (the caller fetches itself) */
    memset(&g, 0, sizeof(g));
    fake.held = 1000000;
    assert_non_null(store_claim(s, "fleet.example", "id9", 0, 5000, 300, on_claim, &g));
    assert_int_equal(dispatch_until(s, 1), 1);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.claim, CACHE_CLAIM_HELD);
    fake.held = 0;

    memset(&g, 0, sizeof(g));
    fake.fail_next = true;
    assert_non_null(store_claim(s, "fleet.example", "id9", 0, 5000, 5000, on_claim, &g));
    assert_int_equal(dispatch_until(s, 1), 1);
    assert_int_equal(g.status, MXTLS_EIO);
    assert_string_equal(g.why, "fake: connection lost");

    /* a cancelled claim waiting for its next turn is never called back */
    memset(&g, 0, sizeof(g));
    fake.held = 1000000;
    struct store_read *r = store_claim(s, "fleet.example", "id9", 0, 5000, 5000, on_claim, &g);
    assert_non_null(r);
    usleep(250000);
    store_read_cancel(r);
    fake.held = 0;
    assert_int_equal(dispatch_until(s, 1), 0);
    assert_int_equal(g.calls, 0);

    store_mark_failed(s, "fleet.example", "id9", 2, 6100, "TLS handshake failed");
    for (int i = 0; i < 100 && fake.marks == 0; i++)
        usleep(10000);
    assert_int_equal(fake.marks, 1);
    assert_string_equal(fake.marked, "fleet.example id9 2 6100 TLS handshake failed 300");
    store_close(s);
    assert_int_equal(fake.opened, 0);
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
    unit_one(&s, "registry: a new backend registers, opens; claim needs mark_failed", test_register,
             NULL);
    unit_one(&s, "store_claim: HELD asked again until HAVE; WON, FAILED, timeout, failure",
             test_store_claim, NULL);
    unit_one(&s, "sqlite through the table: get, put, delete, walk; invalid row EINVAL",
             test_sqlite_table, NULL);
    unit_one(&s, "store_get: found, absent, invalid (counted), off the loop", test_store_reads,
             NULL);
    unit_one(&s, "store_get: a cancelled read is not called; queued reads freed at close",
             test_store_cancel, NULL);
    return unit_run(&s, "cache_backend");
}
