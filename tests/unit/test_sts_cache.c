/*
 * test_sts_cache - MTA-STS discovery, fetch and cache (core/sts_cache.c)
 * over a scripted network (fake_net.h) and the test's clock: the RFC 8461
 * rules for no record, a new id, the same id, fetch failures with and
 * without a cached policy, the 5-minute back-off, our own resolver failing
 * (the bounded TEMP window of sts_resolver_failure_temp), refreshes shared
 * by their waiters and a waiter cancelled while the refresh is in flight.
 * And the miss path over a real store (core/store.c on an SQLite file in a
 * mkdtemp directory): a domain missing in memory is read from the store
 * first, and a record found there behaves as if it had been loaded at start.
 * And the admin API of issue 16 §2: walk, find and purge (also during a
 * refresh, and through to the store).
 */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fake_net.h"
#include "store.h"
#include "sts_cache.h"
#include "unit.h"

#define D      "example.test"
#define TXT    "_mta-sts.example.test"
#define HOST   "mta-sts.example.test"
#define GRACE  60 /* cache_grace, seconds */
#define TEMP_S 120

static const char policy_enforce[] = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\n"
                                     "max_age: 86400\r\n";
static const char policy_testing[] = "version: STSv1\r\nmode: testing\r\nmx: *.example.test\r\n"
                                     "max_age: 86400\r\n";

static struct pipeline_net net;

struct got {
    struct sts_answer a;
    unsigned calls;
};

/* on_answer - keep the answer (the callback owns it) */
static void on_answer(struct sts_answer *a, void *arg)
{
    struct got *g = arg;
    g->a = *a;
    g->calls++;
}

/*
 * ask - query domain; when it is not answered at once, run the fake network.
 * Returns 1 when answered without I/O, 0 after I/O; *out owns the answer.
 */
static int ask(struct sts_cache *c, struct sts_answer *out)
{
    struct got g = {0};
    struct sts_wait *w = NULL;
    int rc = sts_cache_query(c, D, 1000, &g.a, on_answer, &g, &w);
    assert_true(rc == 0 || rc == 1);
    if (rc == 0) {
        assert_int_equal(g.calls, 0); /* never from inside the query */
        fake_run();
        assert_int_equal(g.calls, 1);
    }
    assert_int_equal(fake_pending(), 0);
    *out = g.a;
    return rc;
}

/* record - the TXT record (RFC 8461 §3.1) with id */
static void record(const char *id)
{
    char text[128];
    snprintf(text, sizeof(text), "v=STSv1; id=%s;", id);
    fake_txt(fake_answer(TXT, DNS_RR_TXT, DECIDE_DNS_INSECURE, 300), text);
}

/* host - mta-sts.<d> has an IPv4 address */
static void host(void)
{
    fake_a(fake_answer(HOST, DNS_RR_A, DECIDE_DNS_INSECURE, 300), "192.0.2.80");
}

/* cache - a new cache over the fake network */
static struct sts_cache *cache(void)
{
    fake_reset(&net);
    struct sts_cache *c = sts_cache_new(&net, NULL, GRACE);
    assert_non_null(c);
    sts_cache_set_resolver_temp(c, TEMP_S);
    return c;
}

/* cache_with_policy - a new cache holding example.test's enforce policy, id 1, just fetched */
static struct sts_cache *cache_with_policy(void)
{
    struct sts_cache *c = cache();
    struct sts_answer a;
    record("1");
    host();
    fake_fetch_ok(D, policy_enforce);
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_POLICY);
    sts_answer_finish(&a);
    return c;
}

/* RFC 8461 §3.1: no TXT record: no MTA-STS; remembered for cache_grace. */
static void test_no_record(void **state)
{
    (void)state;
    struct sts_cache *c = cache();
    fake_answer(TXT, DNS_RR_TXT, DECIDE_DNS_INSECURE, 300)->nxdomain = true;
    struct sts_answer a;
    assert_int_equal(ask(c, &a), 0);
    assert_int_equal(a.state, DECIDE_STS_NO_RECORD);
    assert_null(a.policy);
    assert_int_equal(fake_n_fetches, 0);
    sts_answer_finish(&a);
    fake_time += GRACE - 1;
    assert_int_equal(ask(c, &a), 1); /* remembered: no I/O */
    assert_int_equal(a.state, DECIDE_STS_NO_RECORD);
    fake_time += 1;
    assert_int_equal(ask(c, &a), 0); /* asked again */
    assert_int_equal(fake_asked(TXT, DNS_RR_TXT), 2);
    sts_cache_free(c);
}

/* RFC 8461 §3.1: a record that is not v=STSv1 is discarded: no record. */
static void test_bad_record(void **state)
{
    (void)state;
    struct sts_cache *c = cache();
    fake_txt(fake_answer(TXT, DNS_RR_TXT, DECIDE_DNS_INSECURE, 300), "v=STSv2; id=1;");
    struct sts_answer a;
    assert_int_equal(ask(c, &a), 0);
    assert_int_equal(a.state, DECIDE_STS_NO_RECORD);
    assert_int_equal(fake_asked(HOST, 0), 0);
    sts_cache_free(c);
}

/* RFC 8461 §3.3: a new id: our resolver finds mta-sts.<d>, HTTPS fetches the policy. */
static void test_new_id(void **state)
{
    (void)state;
    struct sts_cache *c = cache();
    record("20260101");
    host();
    fake_fetch_ok(D, policy_enforce);
    struct sts_answer a;
    assert_int_equal(ask(c, &a), 0);
    assert_int_equal(a.state, DECIDE_STS_POLICY);
    assert_false(a.cached);
    assert_non_null(a.policy);
    assert_int_equal(a.policy->policy.mode, STS_MODE_ENFORCE);
    assert_string_equal(a.id, "20260101");
    assert_string_equal(fake_last_fetch_addr, "192.0.2.80");
    assert_int_equal(fake_n_fetches, 1);
    sts_answer_finish(&a);
    /* Within cache_grace: from memory, no I/O (RFC 8461 §5.1 with cache_grace). */
    fake_time += GRACE - 1;
    assert_int_equal(ask(c, &a), 1);
    assert_int_equal(a.state, DECIDE_STS_POLICY);
    assert_true(a.cached);
    sts_answer_finish(&a);
    assert_int_equal(fake_asked(TXT, DNS_RR_TXT), 1);
    sts_cache_free(c);
}

/* RFC 8461 §3.3: only A missing: AAAA is asked; the fetch goes to the IPv6 address. */
static void test_aaaa_only(void **state)
{
    (void)state;
    struct sts_cache *c = cache();
    record("1");
    fake_answer(HOST, DNS_RR_A, DECIDE_DNS_INSECURE, 300);
    fake_aaaa(fake_answer(HOST, DNS_RR_AAAA, DECIDE_DNS_INSECURE, 300), "2001:db8::80");
    fake_fetch_ok(D, policy_enforce);
    struct sts_answer a;
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_POLICY);
    assert_string_equal(fake_last_fetch_addr, "2001:db8::80");
    sts_answer_finish(&a);
    sts_cache_free(c);
}

/* RFC 8461 §3.3: the same id after cache_grace: re-checked by TXT only, not fetched. */
static void test_same_id(void **state)
{
    (void)state;
    struct sts_cache *c = cache_with_policy();
    struct sts_answer a;
    fake_time += GRACE;
    assert_int_equal(ask(c, &a), 0);
    assert_int_equal(a.state, DECIDE_STS_POLICY);
    assert_true(a.cached);
    assert_int_equal(a.checked_at, fake_time);
    assert_int_equal(fake_n_fetches, 1);
    assert_int_equal(fake_asked(TXT, DNS_RR_TXT), 2);
    sts_answer_finish(&a);
    /* A changed id: fetched again, the new policy replaces the old. */
    fake_time += GRACE;
    record("2");
    fake_fetch_ok(D, policy_testing);
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_POLICY);
    assert_false(a.cached);
    assert_int_equal(a.policy->policy.mode, STS_MODE_TESTING);
    assert_int_equal(fake_n_fetches, 2);
    sts_answer_finish(&a);
    sts_cache_free(c);
}

/* RFC 8461 §3.3: a failed fetch and nothing cached: failed, no policy. */
static void test_fetch_failed(void **state)
{
    (void)state;
    struct sts_cache *c = cache();
    record("1");
    host();
    fake_fetch_fail(D, DECIDE_STS_WEBPKI_INVALID, "certificate has expired");
    struct sts_answer a;
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_FAILED);
    assert_int_equal(a.failure, DECIDE_STS_WEBPKI_INVALID);
    assert_null(a.policy);
    assert_non_null(strstr(a.reason, "certificate has expired"));
    sts_cache_free(c);
}

/* RFC 8461 §3.2: a body that does not parse is sts-policy-invalid. */
static void test_policy_invalid(void **state)
{
    (void)state;
    struct sts_cache *c = cache();
    record("1");
    host();
    fake_fetch_ok(D, "version: STSv1\r\nmode: sometimes\r\nmax_age: 1\r\n");
    struct sts_answer a;
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_FAILED);
    assert_int_equal(a.failure, DECIDE_STS_POLICY_INVALID);
    sts_cache_free(c);
}

/* RFC 8461 §5.1: a new id whose fetch fails: the cached, unexpired policy still applies. */
static void test_fetch_failed_cached(void **state)
{
    (void)state;
    struct sts_cache *c = cache_with_policy();
    struct sts_answer a;
    fake_time += GRACE;
    record("2");
    fake_fetch_fail(D, DECIDE_STS_FETCH_ERROR, "HTTP 500");
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_FAILED);
    assert_true(a.cached);
    assert_non_null(a.policy);
    assert_string_equal(a.policy->id, "1");
    sts_answer_finish(&a);
    /* §5.1: the record gone, or its lookup failing: the cached policy still applies. */
    fake_time += GRACE;
    fake_answer(TXT, DNS_RR_TXT, DECIDE_DNS_FAILED, 0)->why = "SERVFAIL";
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_POLICY);
    assert_true(a.cached);
    sts_answer_finish(&a);
    /* §5.1: past max_age the cached policy is gone. */
    fake_time += 86400;
    fake_answer(TXT, DNS_RR_TXT, DECIDE_DNS_INSECURE, 300)->nxdomain = true;
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_NO_RECORD);
    assert_null(a.policy);
    sts_cache_free(c);
}

/* DESIGN.md: a failed fetch of an id is not retried for 5 minutes; then it is. */
static void test_backoff(void **state)
{
    (void)state;
    struct sts_cache *c = cache();
    record("1");
    host();
    fake_fetch_fail(D, DECIDE_STS_FETCH_ERROR, "connection refused");
    struct sts_answer a;
    ask(c, &a);
    assert_int_equal(fake_n_fetches, 1);
    fake_time += STS_RETRY_AFTER_S - 1;
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_FAILED);
    assert_int_equal(fake_n_fetches, 1); /* TXT checked, no fetch */
    assert_int_equal(fake_asked(TXT, DNS_RR_TXT), 2);
    /* A new id is fetched at once, back-off or not. */
    record("2");
    ask(c, &a);
    assert_int_equal(fake_n_fetches, 2);
    fake_time += STS_RETRY_AFTER_S;
    fake_fetch_ok(D, policy_enforce);
    ask(c, &a);
    assert_int_equal(fake_n_fetches, 3);
    assert_int_equal(a.state, DECIDE_STS_POLICY);
    sts_answer_finish(&a);
    sts_cache_free(c);
}

/*
 * Issue 17 item 2: our resolver fails mta-sts.<d> (SERVFAIL, timeout): not
 * the policy host's failure, so no back-off and RESOLVER_FAILED (TEMP) for
 * sts_resolver_failure_temp seconds from the first failure; then it is a
 * failed fetch like any other (RFC 8461 §3.3).
 */
static void test_resolver_failed(void **state)
{
    (void)state;
    struct sts_cache *c = cache();
    record("1");
    fake_answer(HOST, DNS_RR_A, DECIDE_DNS_FAILED, 0)->why = "timeout after 1000 ms";
    struct sts_answer a;
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_RESOLVER_FAILED);
    assert_null(a.policy);
    fake_time += 10;
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_RESOLVER_FAILED); /* asked again: no back-off */
    assert_int_equal(fake_asked(HOST, DNS_RR_A), 2);
    fake_time += TEMP_S;
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_FAILED);
    assert_int_equal(fake_n_fetches, 0);
    sts_cache_free(c);

    /* A bogus answer is a statement about the policy host: a failed fetch at once. */
    c = cache();
    record("1");
    fake_answer(HOST, DNS_RR_A, DECIDE_DNS_BOGUS, 0)->why = "signature expired";
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_FAILED);
    sts_cache_free(c);

    /* 0 turns the window off: a failed fetch at once. */
    c = cache();
    sts_cache_set_resolver_temp(c, 0);
    record("1");
    fake_answer(HOST, DNS_RR_A, DECIDE_DNS_FAILED, 0)->why = "SERVFAIL";
    ask(c, &a);
    assert_int_equal(a.state, DECIDE_STS_FAILED);
    sts_cache_free(c);
}

/* One refresh per domain, shared by its waiters; a cancelled waiter is not called. */
static void test_shared_and_cancel(void **state)
{
    (void)state;
    struct sts_cache *c = cache();
    record("1");
    host();
    fake_fetch_ok(D, policy_enforce);
    struct got g[3];
    memset(g, 0, sizeof(g));
    struct sts_wait *w[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(sts_cache_query(c, D, 1000, &g[i].a, on_answer, &g[i], &w[i]), 0);
    assert_int_equal(sts_cache_busy(c), 1);
    assert_int_equal(fake_asked(TXT, DNS_RR_TXT), 1);
    sts_wait_cancel(w[1]);
    fake_run();
    assert_int_equal(g[0].calls, 1);
    assert_int_equal(g[1].calls, 0);
    assert_int_equal(g[2].calls, 1);
    assert_ptr_equal(g[0].a.policy, g[2].a.policy); /* each with its own reference */
    sts_answer_finish(&g[0].a);
    sts_answer_finish(&g[2].a);
    assert_int_equal(sts_cache_busy(c), 0);
    sts_cache_free(c);

    /* Every waiter gone: the refresh runs on and the cache keeps its answer. */
    c = cache();
    record("1");
    host();
    fake_fetch_ok(D, policy_enforce);
    assert_int_equal(sts_cache_query(c, D, 1000, &g[0].a, on_answer, &g[0], &w[0]), 0);
    g[0].calls = 0;
    sts_wait_cancel(w[0]);
    fake_run();
    assert_int_equal(g[0].calls, 0);
    struct sts_answer a;
    assert_int_equal(ask(c, &a), 1);
    assert_int_equal(a.state, DECIDE_STS_POLICY);
    sts_answer_finish(&a);
    /* Freed with a refresh in flight: nobody is called. */
    fake_time += GRACE;
    fake_answer(TXT, DNS_RR_TXT, DECIDE_DNS_INSECURE, 300)->hold = true;
    assert_int_equal(sts_cache_query(c, D, 1000, &g[1].a, on_answer, &g[1], &w[1]), 0);
    sts_cache_free(c);
    assert_int_equal(g[1].calls, 0);
    fake_reset(NULL); /* the held question is dropped with the cache, never answered */
}

/* The proactive refresh renews a policy past half its max_age even with the same id. */
static void test_proactive(void **state)
{
    (void)state;
    struct sts_cache *c = cache_with_policy();
    fake_time += 86400 / 2 + 1;
    assert_int_equal(sts_cache_proactive(c, 0, 1, 1000), 1);
    fake_run();
    assert_int_equal(fake_n_fetches, 2);
    assert_int_equal(sts_cache_busy(c), 0);
    sts_cache_free(c);
}

/* The sweep frees entries with nothing worth keeping; a cached policy stays. */
static void test_sweep(void **state)
{
    (void)state;
    struct sts_cache *c = cache();
    fake_answer(TXT, DNS_RR_TXT, DECIDE_DNS_INSECURE, 300)->nxdomain = true;
    struct sts_answer a;
    ask(c, &a);
    assert_int_equal(sts_cache_count(c), 1);
    assert_int_equal(sts_cache_sweep(c), 0); /* the negative answer is remembered */
    fake_time += GRACE;
    assert_int_equal(sts_cache_sweep(c), 1);
    assert_int_equal(sts_cache_count(c), 0);
    record("1");
    host();
    fake_fetch_ok(D, policy_enforce);
    ask(c, &a);
    sts_answer_finish(&a);
    fake_time += 86400 - 1;
    assert_int_equal(sts_cache_sweep(c), 0);
    assert_int_equal(sts_cache_count(c), 1);
    sts_cache_free(c);
}

/* ---- the miss path: memory misses read the store (issue 18) ---- */

struct shared_db {
    char dir[64];
    char path[128];
    struct store *store;
};

/* db_open - a fresh SQLite store in its own directory, reads dispatched by the test */
static void db_open(struct shared_db *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/test_sts_cache.XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        abort();
    snprintf(t->path, sizeof(t->path), "%s/cache.db", t->dir);
    struct store_config sc = {.readers = 1};
    struct mxtls_diag d = {0};
    t->store = store_open(t->path, &sc, &d);
    if (t->store == NULL)
        abort();
}

/* db_close - close the store, remove its files */
static void db_close(struct shared_db *t)
{
    static const char *const sfx[] = {"", "-wal", "-shm", ".state", ".state.tmp"};
    char p[160];
    store_close(t->store);
    for (size_t i = 0; i < UNIT_LEN(sfx); i++) {
        snprintf(p, sizeof(p), "%s%s", t->path, sfx[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

/* db_row - a row as another daemon sharing the file wrote it (or a damaged one) */
static void db_row(const struct shared_db *t, const char *id, int64_t fetched, int64_t checked,
                   const char *text)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open(t->path, &db) != SQLITE_OK)
        abort();
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT OR REPLACE INTO sts_policy VALUES "
                                        "(?, ?, ?, ?, 0, ?)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, D, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, fetched);
    sqlite3_bind_int64(st, 4, checked);
    sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* db_dispatch - wait for the store's answered reads and deliver them (5 s at most) */
static size_t db_dispatch(struct shared_db *t)
{
    for (int i = 0; i < 50; i++) {
        struct pollfd p = {.fd = store_event_fd(t->store), .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            size_t n = store_dispatch(t->store);
            if (n > 0)
                return n;
        }
    }
    return 0;
}

/* miss_cache - a cache over the fake network persisting to t */
static struct sts_cache *miss_cache(struct shared_db *t)
{
    fake_reset(&net);
    db_open(t);
    struct sts_cache *c = sts_cache_new(&net, t->store, GRACE);
    if (c == NULL)
        abort();
    sts_cache_set_resolver_temp(c, TEMP_S);
    return c;
}

/*
 * A miss finds another daemon's row checked within cache_grace: answered as
 * the cached policy, no DNS, no fetch (as if loaded at startup, RFC 8461
 * §5.1); the next query is answered from memory at once.
 */
static void test_miss_reads_store(void **state)
{
    (void)state;
    struct shared_db t;
    struct sts_cache *c = miss_cache(&t);
    db_row(&t, "7", fake_time - 100, fake_time - 10, policy_enforce);
    struct got g = {0};
    struct sts_wait *w = NULL;
    assert_int_equal(sts_cache_query(c, D, 1000, &g.a, on_answer, &g, &w), 0);
    assert_int_equal(g.calls, 0);
    assert_int_equal(fake_pending(), 0); /* the store first, not the DNS */
    assert_int_equal(db_dispatch(&t), 1);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_true(g.a.cached);
    assert_string_equal(g.a.id, "7");
    assert_int_equal(g.a.policy->policy.mode, STS_MODE_ENFORCE);
    assert_int_equal(g.a.policy->fetched_at, fake_time - 100);
    assert_int_equal(g.a.checked_at, fake_time - 10);
    sts_answer_finish(&g.a);
    assert_int_equal(fake_n_fetches, 0);
    assert_int_equal(fake_asked(TXT, 0), 0);
    struct sts_answer a;
    assert_int_equal(ask(c, &a), 1);
    assert_string_equal(a.id, "7");
    sts_answer_finish(&a);
    sts_cache_free(c);
    db_close(&t);
}

/*
 * Past cache_grace the row's id is checked against the TXT record first
 * (RFC 8461 §3.3): the same id: the cached policy, re-checked, no fetch; an
 * expired row (§5.1: past max_age) is absent and the policy is fetched.
 */
static void test_miss_past_grace(void **state)
{
    (void)state;
    struct shared_db t;
    struct sts_cache *c = miss_cache(&t);
    db_row(&t, "7", fake_time - 1000, fake_time - 1000, policy_enforce);
    record("7");
    struct got g = {0};
    struct sts_wait *w = NULL;
    assert_int_equal(sts_cache_query(c, D, 1000, &g.a, on_answer, &g, &w), 0);
    assert_int_equal(db_dispatch(&t), 1);
    assert_int_equal(g.calls, 0); /* not yet: the TXT check runs */
    fake_run();
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_true(g.a.cached);
    assert_int_equal(fake_asked(TXT, DNS_RR_TXT), 1);
    assert_int_equal(fake_n_fetches, 0);
    sts_answer_finish(&g.a);
    sts_cache_free(c);
    db_close(&t);

    c = miss_cache(&t);
    db_row(&t, "7", fake_time - 86400, fake_time - 10, policy_enforce); /* max_age 86400 */
    record("8");
    host();
    fake_fetch_ok(D, policy_testing);
    memset(&g, 0, sizeof(g));
    assert_int_equal(sts_cache_query(c, D, 1000, &g.a, on_answer, &g, &w), 0);
    db_dispatch(&t);
    fake_run();
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_false(g.a.cached);
    assert_string_equal(g.a.id, "8");
    assert_int_equal(fake_n_fetches, 1);
    sts_answer_finish(&g.a);
    sts_cache_free(c);
    db_close(&t);

    /* the TXT check fails: the enforce policy read keeps applying (§5.1), never weaker */
    c = miss_cache(&t);
    db_row(&t, "7", fake_time - 1000, fake_time - 1000, policy_enforce);
    fake_answer(TXT, DNS_RR_TXT, DECIDE_DNS_FAILED, 0)->why = "SERVFAIL";
    memset(&g, 0, sizeof(g));
    assert_int_equal(sts_cache_query(c, D, 1000, &g.a, on_answer, &g, &w), 0);
    db_dispatch(&t);
    fake_run();
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_true(g.a.cached);
    assert_int_equal(g.a.policy->policy.mode, STS_MODE_ENFORCE);
    assert_int_equal(fake_n_fetches, 0);
    sts_answer_finish(&g.a);
    sts_cache_free(c);
    db_close(&t);
}

/* A corrupt row on a miss is absent and counted; the refresh fetches the policy. */
static void test_miss_corrupt_row(void **state)
{
    (void)state;
    struct shared_db t;
    struct sts_cache *c = miss_cache(&t);
    db_row(&t, "7", fake_time - 100, fake_time - 10, "version: STSv1\r\nmode: enforce\r\n");
    record("8");
    host();
    fake_fetch_ok(D, policy_testing);
    struct got g = {0};
    struct sts_wait *w = NULL;
    assert_int_equal(sts_cache_query(c, D, 1000, &g.a, on_answer, &g, &w), 0);
    db_dispatch(&t);
    fake_run();
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_false(g.a.cached);
    assert_int_equal(g.a.policy->policy.mode, STS_MODE_TESTING); /* never the corrupt text */
    assert_int_equal(fake_n_fetches, 1);
    sts_answer_finish(&g.a);
    struct store_health h;
    store_health(t.store, &h);
    assert_int_equal(h.reads, 1);
    assert_int_equal(h.read_invalid, 1);
    assert_int_equal(h.read_hits, 0);
    sts_cache_free(c);
    db_close(&t);
}

/*
 * Waiters arriving during the store's read share it (one read, one answer
 * each); a waiter cancelled meanwhile is not called, and when every waiter
 * is gone the read still completes for the cache. Freeing the cache with a
 * read in flight calls nobody.
 */
static void test_miss_shared_and_cancel(void **state)
{
    (void)state;
    struct shared_db t;
    struct sts_cache *c = miss_cache(&t);
    db_row(&t, "7", fake_time - 100, fake_time - 10, policy_enforce);
    struct got g[3];
    memset(g, 0, sizeof(g));
    struct sts_wait *w[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(sts_cache_query(c, D, 1000, &g[i].a, on_answer, &g[i], &w[i]), 0);
    assert_int_equal(sts_cache_busy(c), 1);
    sts_wait_cancel(w[1]);
    assert_int_equal(db_dispatch(&t), 1);
    assert_int_equal(g[0].calls, 1);
    assert_int_equal(g[1].calls, 0);
    assert_int_equal(g[2].calls, 1);
    assert_ptr_equal(g[0].a.policy, g[2].a.policy);
    sts_answer_finish(&g[0].a);
    sts_answer_finish(&g[2].a);
    struct store_health h;
    store_health(t.store, &h);
    assert_int_equal(h.reads, 1);
    assert_int_equal(sts_cache_busy(c), 0);
    sts_cache_free(c);
    db_close(&t);

    /* every waiter cancelled while the read is in flight: the cache keeps the row */
    c = miss_cache(&t);
    db_row(&t, "7", fake_time - 100, fake_time - 10, policy_enforce);
    memset(g, 0, sizeof(g));
    assert_int_equal(sts_cache_query(c, D, 1000, &g[0].a, on_answer, &g[0], &w[0]), 0);
    sts_wait_cancel(w[0]);
    assert_int_equal(db_dispatch(&t), 1);
    assert_int_equal(g[0].calls, 0);
    assert_int_equal(sts_cache_busy(c), 0);
    struct sts_answer a;
    assert_int_equal(ask(c, &a), 1);
    assert_int_equal(a.state, DECIDE_STS_POLICY);
    assert_string_equal(a.id, "7");
    sts_answer_finish(&a);
    assert_int_equal(fake_n_fetches, 0);
    sts_cache_free(c);
    db_close(&t);

    /* freed with the read in flight: nobody is called, the store drops the read */
    c = miss_cache(&t);
    assert_int_equal(sts_cache_query(c, D, 1000, &g[1].a, on_answer, &g[1], &w[1]), 0);
    sts_wait_cancel(w[1]);
    sts_cache_free(c);
    usleep(20000); /* let the reader answer into the done list */
    store_dispatch(t.store);
    assert_int_equal(g[1].calls, 0);
    db_close(&t);
}

/* ------------------------------------------------ issue 16 §2: walk, find, purge */

struct walked {
    unsigned n;
    struct sts_cache_item last;
};

/* on_item - sts_cache_walk callback: count and keep the last item */
static void on_item(const struct sts_cache_item *it, void *arg)
{
    struct walked *wk = arg;
    wk->n++;
    wk->last = *it;
}

/*
 * The walk and find show a live policy with its id, fetch and check times;
 * purge drops it so the next query fetches again (no cache_grace hit, no
 * §3.3 same-id shortcut); an expired policy (RFC 8461 §5.1) is neither
 * walked nor found nor purged.
 */
static void test_walk_find_purge(void **state)
{
    (void)state;
    struct sts_cache *c = cache_with_policy();
    int64_t t0 = fake_time;
    struct walked wk = {0};
    assert_int_equal(sts_cache_walk(c, on_item, &wk), 1);
    assert_int_equal(wk.n, 1);
    assert_string_equal(wk.last.domain, D);
    assert_string_equal(wk.last.policy->id, "1");
    assert_int_equal(wk.last.policy->policy.mode, STS_MODE_ENFORCE);
    assert_int_equal(wk.last.policy->fetched_at, t0);
    assert_int_equal(wk.last.checked_at, t0);
    assert_int_equal(wk.last.failed_at, 0);
    assert_false(wk.last.refreshing);
    struct sts_cache_item it;
    assert_int_equal(sts_cache_find(c, D, &it), 1);
    assert_string_equal(it.reason, "");
    assert_int_equal(sts_cache_find(c, "other.test", &it), 0);
    assert_int_equal(sts_cache_purge(c, "other.test"), MXTLS_ENOTFOUND);

    struct sts_answer held;
    assert_int_equal(ask(c, &held), 1); /* an answer handed out before the purge */
    assert_int_equal(sts_cache_purge(c, D), 0);
    assert_int_equal(held.policy->policy.mode, STS_MODE_ENFORCE); /* its own reference */
    sts_answer_finish(&held);
    assert_int_equal(sts_cache_find(c, D, &it), 0);
    wk.n = 0;
    assert_int_equal(sts_cache_walk(c, on_item, &wk), 0);
    assert_int_equal(sts_cache_purge(c, D), MXTLS_ENOTFOUND);

    /* within cache_grace and with the same id: fetched all the same */
    struct sts_answer a;
    unsigned fetches = fake_n_fetches;
    fake_time += 1;
    record("1");
    host();
    fake_fetch_ok(D, policy_testing);
    assert_int_equal(ask(c, &a), 0);
    assert_int_equal(a.state, DECIDE_STS_POLICY);
    assert_false(a.cached);
    assert_int_equal(a.policy->policy.mode, STS_MODE_TESTING);
    assert_int_equal(fake_n_fetches, fetches + 1);
    sts_answer_finish(&a);
    assert_int_equal(sts_cache_find(c, D, &it), 1);
    assert_int_equal(it.policy->fetched_at, t0 + 1);

    /* RFC 8461 §5.1: past max_age it is absent for the admin too */
    fake_time += 86400;
    assert_int_equal(sts_cache_walk(c, on_item, &wk), 0);
    assert_int_equal(sts_cache_find(c, D, &it), 0);
    assert_int_equal(sts_cache_purge(c, D), MXTLS_ENOTFOUND);
    sts_cache_free(c);
}

/*
 * Purge while a refresh of the domain is in flight: its waiters are kept
 * and answered once, by that refresh, which fetches the policy again (the
 * id it would have compared with is gone); a cancelled waiter stays quiet.
 */
static void test_purge_in_flight(void **state)
{
    (void)state;
    struct sts_cache *c = cache_with_policy();
    unsigned fetches = fake_n_fetches;
    fake_time += GRACE; /* past cache_grace: the next query checks the TXT record */
    struct fake_dns *txt = fake_answer(TXT, DNS_RR_TXT, DECIDE_DNS_INSECURE, 300);
    fake_txt(txt, "v=STSv1; id=1;"); /* the same id: without the purge, no fetch (§3.3) */
    txt->hold = true;
    struct got g[2];
    memset(g, 0, sizeof(g));
    struct sts_wait *w[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(sts_cache_query(c, D, 1000, &g[i].a, on_answer, &g[i], &w[i]), 0);
    struct sts_cache_item it;
    assert_int_equal(sts_cache_find(c, D, &it), 1);
    assert_true(it.refreshing);
    assert_int_equal(sts_cache_purge(c, D), 0);
    assert_int_equal(sts_cache_busy(c), 1); /* the refresh runs on */
    assert_int_equal(g[0].calls + g[1].calls, 0);
    assert_int_equal(sts_cache_find(c, D, &it), 0);
    sts_wait_cancel(w[1]);
    host();
    fake_fetch_ok(D, policy_enforce);
    fake_release(TXT, DNS_RR_TXT);
    fake_run();
    assert_int_equal(g[0].calls, 1);
    assert_int_equal(g[1].calls, 0);
    assert_int_equal(g[0].a.state, DECIDE_STS_POLICY);
    assert_false(g[0].a.cached);
    assert_int_equal(fake_n_fetches, fetches + 1);
    sts_answer_finish(&g[0].a);
    assert_int_equal(sts_cache_busy(c), 0);
    assert_int_equal(sts_cache_find(c, D, &it), 1);
    sts_cache_free(c);
}

/* db_rows - rows for D in the store file (after store_close wrote the queue) */
static int db_rows(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        abort();
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sts_policy WHERE domain = ?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, D, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Purge queues the store's delete (store_delete): the row is gone from the file. */
static void test_purge_store(void **state)
{
    (void)state;
    struct shared_db t;
    struct sts_cache *c = miss_cache(&t);
    db_row(&t, "7", fake_time - 100, fake_time - 10, policy_enforce);
    struct got g = {0};
    struct sts_wait *w = NULL;
    assert_int_equal(sts_cache_query(c, D, 1000, &g.a, on_answer, &g, &w), 0);
    assert_int_equal(db_dispatch(&t), 1);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    sts_answer_finish(&g.a);
    assert_int_equal(sts_cache_purge(c, D), 0);
    sts_cache_free(c);
    store_close(t.store);
    t.store = NULL;
    assert_int_equal(db_rows(t.path), 0);
    /* db_close with the store closed already */
    static const char *const sfx[] = {"", "-wal", "-shm", ".state", ".state.tmp"};
    char p[160];
    for (size_t i = 0; i < UNIT_LEN(sfx); i++) {
        snprintf(p, sizeof(p), "%s%s", t.path, sfx[i]);
        unlink(p);
    }
    rmdir(t.dir);
}

/*
 * A shared file: our copy expires (RFC 8461 §5.1) while another daemon has
 * written a newer row; dropping ours deletes only a row fetched no later
 * than our copy, so the newer row stays, and the miss that follows reads it.
 */
static void test_expired_keeps_newer_row(void **state)
{
    (void)state;
    struct shared_db t;
    struct sts_cache *c = miss_cache(&t);
    db_row(&t, "7", fake_time - 86300, fake_time - 10, policy_enforce); /* max_age 86400 */
    struct got g = {0};
    struct sts_wait *w = NULL;
    assert_int_equal(sts_cache_query(c, D, 1000, &g.a, on_answer, &g, &w), 0);
    assert_int_equal(db_dispatch(&t), 1);
    assert_string_equal(g.a.id, "7");
    sts_answer_finish(&g.a);
    /* another daemon's row, checked within cache_grace: read, no TXT check, no write here */
    db_row(&t, "8", fake_time + 195, fake_time + 195, policy_testing);
    fake_time += 200; /* our copy of id 7 is past its max_age */
    memset(&g, 0, sizeof(g));
    assert_int_equal(sts_cache_query(c, D, 1000, &g.a, on_answer, &g, &w), 0);
    assert_int_equal(db_dispatch(&t), 1);
    assert_int_equal(g.calls, 1);
    assert_int_equal(fake_asked(TXT, DNS_RR_TXT), 0);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_string_equal(g.a.id, "8");
    assert_int_equal(fake_n_fetches, 0);
    sts_answer_finish(&g.a);
    sts_cache_free(c);
    store_close(t.store); /* writes the queued delete */
    t.store = NULL;
    assert_int_equal(db_rows(t.path), 1);
    static const char *const sfx[] = {"", "-wal", "-shm", ".state", ".state.tmp"};
    char p[160];
    for (size_t i = 0; i < UNIT_LEN(sfx); i++) {
        snprintf(p, sizeof(p), "%s%s", t.path, sfx[i]);
        unlink(p);
    }
    rmdir(t.dir);
}

int main(void)
{
    static struct unit_suite s;
    unit_one(&s, "RFC 8461 §3.1: no record: no MTA-STS, remembered for cache_grace", test_no_record,
             NULL);
    unit_one(&s, "RFC 8461 §3.1: a record without v=STSv1; is discarded", test_bad_record, NULL);
    unit_one(&s, "RFC 8461 §3.3: a new id is fetched; within cache_grace from memory", test_new_id,
             NULL);
    unit_one(&s, "RFC 8461 §3.3: no A record: AAAA; fetched from the IPv6 address", test_aaaa_only,
             NULL);
    unit_one(&s, "RFC 8461 §3.3: the same id is not fetched again; a new one is", test_same_id,
             NULL);
    unit_one(&s, "RFC 8461 §3.3: fetch failure, nothing cached: failed", test_fetch_failed, NULL);
    unit_one(&s, "RFC 8461 §3.2: an unparsable policy is sts-policy-invalid", test_policy_invalid,
             NULL);
    unit_one(&s, "RFC 8461 §5.1: fetch or DNS failure: the cached policy still applies",
             test_fetch_failed_cached, NULL);
    unit_one(&s, "DESIGN.md: a failed id is not fetched again for 5 minutes", test_backoff, NULL);
    unit_one(&s, "issue 17: our resolver failing: TEMP for a bounded time, no back-off",
             test_resolver_failed, NULL);
    unit_one(&s, "one refresh shared by its waiters; cancel while in flight",
             test_shared_and_cancel, NULL);
    unit_one(&s, "proactive refresh renews a policy past half its max_age", test_proactive, NULL);
    unit_one(&s, "the sweep frees idle entries and keeps cached policies", test_sweep, NULL);
    unit_one(&s, "miss: a row in the store within cache_grace is served, no DNS, no fetch",
             test_miss_reads_store, NULL);
    unit_one(&s,
             "miss: past cache_grace the id is checked (§3.3), a failed check keeps the policy "
             "(§5.1); an expired row is absent",
             test_miss_past_grace, NULL);
    unit_one(&s, "miss: a corrupt row is absent and counted; the policy is fetched",
             test_miss_corrupt_row, NULL);
    unit_one(&s, "miss: waiters share the store's read; cancel while it is in flight",
             test_miss_shared_and_cancel, NULL);
    unit_one(&s, "issue 16: walk and find show live policies; purge forces a re-fetch",
             test_walk_find_purge, NULL);
    unit_one(&s, "issue 16: purge during a refresh: its waiters are answered by a fresh fetch",
             test_purge_in_flight, NULL);
    unit_one(&s, "issue 16: purge deletes the store's row", test_purge_store, NULL);
    unit_one(&s, "RFC 8461 §5.1: an expired copy is deleted, not a newer row of a shared file",
             test_expired_keeps_newer_row, NULL);
    int rc = unit_run(&s, "sts_cache");
    fake_reset(NULL);
    return rc;
}
