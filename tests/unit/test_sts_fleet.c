/*
 * test_sts_fleet - issue 14's one fetch per fleet, at the unit level: two
 * "daemons" (each a store and an sts_cache over the scripted network of
 * fake_net.h) share one in-memory fleet backend registered as "test-fleet"
 * (io/cache_backend.h: get, put, del, walk, claim, mark_failed). The fake is
 * a small real shared store, not a script: records by domain (a put never
 * replaces a record fetched later), the domain's claim taken with SET NX
 * semantics and expiring (as io/cache_redis.c's claim script: the claim is
 * never released; a daemon's own live claim is taken again), and failed
 * marks by id expiring after hold_s. The store's writer and
 * reader threads call it, so a mutex guards it. Its clock is the monotonic
 * clock plus a skew the test moves with fake_time (advance), as a Redis
 * server's key expiry runs with the daemons' wall clock.
 *
 * The rules: RFC 8461 §3.3 (fetch only on a new id), DESIGN.md's 5-minute
 * back-off held by the whole fleet, issue 14's one fetch per fleet, a fleet
 * that cannot coordinate still fetching (fail open on coordination, never on
 * security), an expired policy dropped from memory without deleting the
 * fleet's record (RFC 8461 §5.1: the server expires it), and issue 17 item
 * 2's rule that our own resolver failing says nothing about the policy host
 * (neither a wait behind our own claim nor a back-off for the fleet).
 *
 * Each test pumps both stores' answered reads (store_dispatch on
 * store_event_fd) and the fake network (fake_run) in turn, bounded by a few
 * seconds; a claim HELD is asked again by the store every
 * STORE_CLAIM_POLL_MS, so the zone timeout is small (TIMEOUT_MS).
 */
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache_backend.h"
#include "fake_net.h"
#include "store.h"
#include "sts_cache.h"
#include "unit.h"

#define D          "example.test"
#define TXT        "_mta-sts.example.test"
#define HOST       "mta-sts.example.test"
#define GRACE      60  /* cache_grace, seconds */
#define TIMEOUT_MS 200 /* the zone timeout: a won claim holds 3 x 200 + 1000 ms */
#define PUMP_MS    4000
#define FLEET_MAX  8 /* domains the fake holds */
#define DAEMONS    2

static const char policy_enforce[] = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\n"
                                     "max_age: 86400\r\n";
static const char policy_testing[] = "version: STSv1\r\nmode: testing\r\nmx: *.example.test\r\n"
                                     "max_age: 86400\r\n";

static struct pipeline_net net;

/* ---------------------------------------------------------------- the fake fleet backend */

/* One domain's keys on the fleet's server. */
struct fleet_slot {
    char domain[DOMAIN_BUF_SIZE];
    bool have_record;
    struct cache_entry rec; /* policy_text owned */
    bool claimed;
    char owner[400]; /* "<daemon>/<host:pid>": both daemons of this test share a pid */
    int64_t claim_until_ms;
    bool marked;
    char mark_id[STS_RECORD_ID_MAX + 1];
    int mark_failure;
    int64_t mark_at;
    char mark_why[CACHE_CLAIM_WHY_MAX];
    int64_t mark_until_ms;
};

/* What each daemon asked of the fleet, by daemon (0: A, 1: B). */
struct fleet_counts {
    unsigned gets, puts, dels, marks;
    unsigned claims[4]; /* by enum cache_claim_outcome */
    unsigned claim_errors;
};

static struct {
    pthread_mutex_t lock;
    struct fleet_slot slot[FLEET_MAX];
    int64_t skew_ms;  /* the fleet's clock is the monotonic one plus this */
    bool get_fails;   /* get answers MXTLS_EIO (the server gone) */
    bool claim_fails; /* claim and mark_failed answer MXTLS_EIO */
    bool claim_stuck; /* a claim never expires (a server that lost its clock) */
    struct fleet_counts n[DAEMONS];
} fleet = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct fleet_conn {
    struct cache_backend base;
    int daemon; /* 0 or 1, from the store's path "daemon-a" / "daemon-b" */
};

/* mono_ms - the monotonic clock */
static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* fleet_now - the server's clock (under lock) */
static int64_t fleet_now(void)
{
    return mono_ms() + fleet.skew_ms;
}

/* slot_find - domain's keys; made when make and absent; NULL when none (under lock) */
static struct fleet_slot *slot_find(const char *domain, bool make)
{
    for (size_t i = 0; i < FLEET_MAX; i++)
        if (fleet.slot[i].domain[0] != '\0' && strcmp(fleet.slot[i].domain, domain) == 0)
            return &fleet.slot[i];
    if (!make)
        return NULL;
    for (size_t i = 0; i < FLEET_MAX; i++)
        if (fleet.slot[i].domain[0] == '\0') {
            snprintf(fleet.slot[i].domain, sizeof(fleet.slot[i].domain), "%s", domain);
            return &fleet.slot[i];
        }
    abort(); /* a test outgrew FLEET_MAX */
}

/* entry_copy - dst = src with its own policy text; MXTLS_ENOMEM */
static int entry_copy(struct cache_entry *dst, const struct cache_entry *src)
{
    *dst = *src;
    dst->policy = NULL;
    dst->policy_text = malloc(src->policy_len + 1);
    if (dst->policy_text == NULL)
        return MXTLS_ENOMEM;
    memcpy(dst->policy_text, src->policy_text, src->policy_len);
    dst->policy_text[src->policy_len] = '\0';
    return 0;
}

/* fleet_open - one connection, naming its daemon by the store's path */
static int fleet_open(const struct cache_backend_options *o, struct cache_backend **out,
                      struct mxtls_diag *diag)
{
    struct fleet_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "fleet: out of memory");
    c->daemon = o != NULL && o->path != NULL && strcmp(o->path, "daemon-b") == 0 ? 1 : 0;
    *out = &c->base;
    return 0;
}

/* fleet_close - free the connection */
static void fleet_close(struct cache_backend *b)
{
    free(b);
}

/* daemon_of - the daemon a connection belongs to */
static int daemon_of(const struct cache_backend *b)
{
    return ((const struct fleet_conn *)(const void *)b)->daemon;
}

/* fleet_get - domain's record */
static int fleet_get(struct cache_backend *b, const char *domain, struct cache_entry *out,
                     struct mxtls_diag *diag)
{
    pthread_mutex_lock(&fleet.lock);
    fleet.n[daemon_of(b)].gets++;
    int err = 0;
    struct fleet_slot *s = slot_find(domain, false);
    if (fleet.get_fails)
        err = mxtls_diag_set(diag, MXTLS_EIO, 0, "fleet: connection refused");
    else if (s == NULL || !s->have_record)
        err = mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "fleet: no record for %s", domain);
    else if (entry_copy(out, &s->rec) < 0)
        err = mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "fleet: out of memory");
    pthread_mutex_unlock(&fleet.lock);
    return err;
}

/* fleet_put - store e, unless a record fetched later (or checked later) is there */
static int fleet_put(struct cache_backend *b, const struct cache_entry *e, struct mxtls_diag *diag)
{
    pthread_mutex_lock(&fleet.lock);
    fleet.n[daemon_of(b)].puts++;
    struct fleet_slot *s = slot_find(e->domain, true);
    int err = 0;
    if (s->have_record &&
        (s->rec.fetched_at > e->fetched_at ||
         (s->rec.fetched_at == e->fetched_at && s->rec.checked_at > e->checked_at))) {
        err = 0; /* newer wins, as cache_redis.c's put script */
    } else {
        struct cache_entry copy;
        if (entry_copy(&copy, e) < 0) {
            err = mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "fleet: out of memory");
        } else {
            cache_entry_finish(&s->rec);
            s->rec = copy;
            s->have_record = true;
        }
    }
    pthread_mutex_unlock(&fleet.lock);
    return err;
}

/* fleet_del - remove domain's record */
static int fleet_del(struct cache_backend *b, const char *domain, struct mxtls_diag *diag)
{
    pthread_mutex_lock(&fleet.lock);
    fleet.n[daemon_of(b)].dels++;
    struct fleet_slot *s = slot_find(domain, false);
    int err = 0;
    if (s == NULL || !s->have_record) {
        err = mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "fleet: no record for %s", domain);
    } else {
        cache_entry_finish(&s->rec);
        s->have_record = false;
    }
    pthread_mutex_unlock(&fleet.lock);
    return err;
}

/* fleet_walk - every record (a copy each) */
static int fleet_walk(struct cache_backend *b, cache_backend_walk_fn cb, void *arg,
                      size_t *n_invalid, struct mxtls_diag *diag)
{
    (void)b;
    *n_invalid = 0;
    int rc = 0;
    pthread_mutex_lock(&fleet.lock);
    for (size_t i = 0; i < FLEET_MAX && rc == 0; i++) {
        struct cache_entry e;
        if (!fleet.slot[i].have_record)
            continue;
        if (entry_copy(&e, &fleet.slot[i].rec) < 0) {
            rc = mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "fleet: out of memory");
            break;
        }
        rc = cb(&e, arg);
        cache_entry_finish(&e);
    }
    pthread_mutex_unlock(&fleet.lock);
    return rc;
}

/*
 * fleet_claim - cache_backend.h's order in one step under the lock: HAVE (a
 * record with this id fetched after newer_than), FAILED (this id's mark not
 * expired), WON (SET NX: no claim, or an expired one), else HELD.
 */
static int fleet_claim(struct cache_backend *b, const char *domain, const char *id,
                       int64_t newer_than, const char *owner, unsigned ttl_ms,
                       struct cache_claim *out, struct mxtls_diag *diag)
{
    int d = daemon_of(b);
    int err = 0;
    char me[sizeof(fleet.slot[0].owner)];
    snprintf(me, sizeof(me), "daemon-%c/%s", 'a' + d, owner);
    pthread_mutex_lock(&fleet.lock);
    int64_t t = fleet_now();
    struct fleet_slot *s = slot_find(domain, true);
    memset(out, 0, sizeof(*out));
    if (fleet.claim_fails) {
        fleet.n[d].claim_errors++;
        err = mxtls_diag_set(diag, MXTLS_EIO, 0, "fleet: connection refused");
    } else if (s->have_record && strcmp(s->rec.id, id) == 0 && s->rec.fetched_at > newer_than) {
        out->outcome = CACHE_CLAIM_HAVE;
        if (entry_copy(&out->e, &s->rec) < 0)
            err = mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "fleet: out of memory");
    } else if (s->marked && t < s->mark_until_ms && strcmp(s->mark_id, id) == 0) {
        out->outcome = CACHE_CLAIM_FAILED;
        out->failure = s->mark_failure;
        out->failed_at = s->mark_at;
        snprintf(out->why, sizeof(out->why), "%s", s->mark_why);
    } else if (!s->claimed || (t >= s->claim_until_ms && !fleet.claim_stuck) ||
               strcmp(s->owner, me) == 0) {
        out->outcome = CACHE_CLAIM_WON; /* a claim of its own is taken again */
        s->claimed = true;
        snprintf(s->owner, sizeof(s->owner), "%s", me);
        s->claim_until_ms = t + ttl_ms;
    } else {
        out->outcome = CACHE_CLAIM_HELD;
    }
    if (err == 0)
        fleet.n[d].claims[out->outcome]++;
    pthread_mutex_unlock(&fleet.lock);
    return err;
}

/* fleet_mark_failed - the fleet's back-off of id for hold_s seconds */
static int fleet_mark_failed(struct cache_backend *b, const char *domain, const char *id,
                             int failure, int64_t at, const char *why, unsigned hold_s,
                             struct mxtls_diag *diag)
{
    int err = 0;
    pthread_mutex_lock(&fleet.lock);
    if (fleet.claim_fails) {
        err = mxtls_diag_set(diag, MXTLS_EIO, 0, "fleet: connection refused");
    } else {
        struct fleet_slot *s = slot_find(domain, true);
        fleet.n[daemon_of(b)].marks++;
        s->marked = true;
        snprintf(s->mark_id, sizeof(s->mark_id), "%s", id);
        s->mark_failure = failure;
        s->mark_at = at;
        snprintf(s->mark_why, sizeof(s->mark_why), "%s", why);
        s->mark_until_ms = fleet_now() + (int64_t)hold_s * 1000;
    }
    pthread_mutex_unlock(&fleet.lock);
    return err;
}

static const struct cache_backend_ops fleet_ops = {
    .name = "test-fleet",
    .open = fleet_open,
    .close = fleet_close,
    .get = fleet_get,
    .put = fleet_put,
    .del = fleet_del,
    .walk = fleet_walk,
    .claim = fleet_claim,
    .mark_failed = fleet_mark_failed,
};

/* fleet_clear - an empty server, counters at zero */
static void fleet_clear(void)
{
    pthread_mutex_lock(&fleet.lock);
    for (size_t i = 0; i < FLEET_MAX; i++)
        cache_entry_finish(&fleet.slot[i].rec);
    memset(fleet.slot, 0, sizeof(fleet.slot));
    memset(fleet.n, 0, sizeof(fleet.n));
    fleet.skew_ms = 0;
    fleet.get_fails = fleet.claim_fails = fleet.claim_stuck = false;
    pthread_mutex_unlock(&fleet.lock);
}

/* fleet_counts - a snapshot of daemon d's counters */
static struct fleet_counts fleet_counts(int d)
{
    pthread_mutex_lock(&fleet.lock);
    struct fleet_counts n = fleet.n[d];
    pthread_mutex_unlock(&fleet.lock);
    return n;
}

/* fleet_record_id - the id of D's record on the server, "" when none */
static void fleet_record_id(char *id, size_t size)
{
    pthread_mutex_lock(&fleet.lock);
    struct fleet_slot *s = slot_find(D, false);
    snprintf(id, size, "%s", s != NULL && s->have_record ? s->rec.id : "");
    pthread_mutex_unlock(&fleet.lock);
}

/* wait_record - until D's record on the server has id (the writer is write-behind) */
static void wait_record(const char *id)
{
    char have[STS_RECORD_ID_MAX + 1];
    for (int i = 0; i < 300; i++) {
        fleet_record_id(have, sizeof(have));
        if (strcmp(have, id) == 0)
            return;
        usleep(10000);
    }
    fail_msg("the fleet's record of %s never became id %s (has \"%s\")", D, id, have);
}

/* wait_marks - until daemon d's failed marks reached n (queued on its readers) */
static void wait_marks(int d, unsigned n)
{
    for (int i = 0; i < 300; i++) {
        if (fleet_counts(d).marks >= n)
            return;
        usleep(10000);
    }
    fail_msg("daemon %d never told the fleet its fetch failed", d);
}

/* advance - time passes: the daemons' wall clock and the server's alike */
static void advance(int64_t seconds)
{
    fake_time += seconds;
    pthread_mutex_lock(&fleet.lock);
    fleet.skew_ms += seconds * 1000;
    pthread_mutex_unlock(&fleet.lock);
}

/* ---------------------------------------------------------------- the two daemons */

struct daemon {
    struct store *store;
    struct sts_cache *cache;
};

static struct daemon dm[DAEMONS];
#define A (&dm[0])
#define B (&dm[1])

/* daemons_open - a fresh fleet server, the network reset, daemons A and B on them */
static void daemons_open(void)
{
    static const char *const names[DAEMONS] = {"daemon-a", "daemon-b"};
    fake_reset(&net);
    fleet_clear();
    for (int i = 0; i < DAEMONS; i++) {
        struct store_config sc = {.type = "test-fleet", .readers = 2};
        struct mxtls_diag d = {0};
        dm[i].store = store_open(names[i], &sc, &d);
        if (dm[i].store == NULL)
            fail_msg("store_open %s: %s", names[i], d.what);
        assert_true(store_fleet(dm[i].store));
        dm[i].cache = sts_cache_new(&net, dm[i].store, GRACE);
        assert_non_null(dm[i].cache);
    }
}

/* daemons_close - caches, then stores (which write what is queued) */
static void daemons_close(void)
{
    for (int i = 0; i < DAEMONS; i++) {
        sts_cache_free(dm[i].cache);
        store_close(dm[i].store);
        dm[i].cache = NULL;
        dm[i].store = NULL;
    }
    fake_reset(NULL);
}

/* teardown - close what a test left open (after a failed assertion) */
static int teardown(void **state)
{
    (void)state;
    daemons_close();
    return 0;
}

struct got {
    struct sts_answer a;
    unsigned calls;
    struct sts_wait *w;
    int64_t asked_ms; /* when the query was made (monotonic) */
    int64_t took_ms;  /* how long the answer took */
};

/* on_answer - keep the answer (the callback owns it) */
static void on_answer(struct sts_answer *a, void *arg)
{
    struct got *g = arg;
    g->a = *a;
    g->calls++;
    g->took_ms = mono_ms() - g->asked_ms;
}

/* turn - one round of both daemons' loops: the network, then the stores' answers */
static void turn(int wait_ms)
{
    struct pollfd p[DAEMONS];
    fake_run();
    for (int i = 0; i < DAEMONS; i++)
        p[i] = (struct pollfd){.fd = store_event_fd(dm[i].store), .events = POLLIN};
    if (poll(p, DAEMONS, wait_ms) > 0)
        for (int i = 0; i < DAEMONS; i++)
            store_dispatch(dm[i].store);
    fake_run();
}

/* pump - run both loops until g is answered (PUMP_MS at most); whether it was */
static bool pump(const struct got *g)
{
    int64_t end = mono_ms() + PUMP_MS;
    while (g->calls == 0 && mono_ms() < end)
        turn(10);
    return g->calls > 0;
}

/* pump_for - run both loops for ms, whatever comes */
static void pump_for(int ms)
{
    int64_t end = mono_ms() + ms;
    while (mono_ms() < end)
        turn(10);
}

/* start - query D on daemon d; 1 answered from memory at once, 0 in flight */
static int start(struct daemon *d, struct got *g)
{
    memset(g, 0, sizeof(*g));
    g->asked_ms = mono_ms();
    int rc = sts_cache_query(d->cache, D, TIMEOUT_MS, &g->a, on_answer, g, &g->w);
    assert_true(rc == 0 || rc == 1);
    if (rc == 1)
        g->calls = 1;
    else
        assert_int_equal(g->calls, 0); /* never from inside the query */
    return rc;
}

/* ask - query D on daemon d and run the loops until answered; rc of the query */
static int ask(struct daemon *d, struct got *g)
{
    int rc = start(d, g);
    if (rc == 0 && !pump(g))
        fail_msg("no answer within %d ms", PUMP_MS);
    assert_int_equal(g->calls, 1);
    return rc;
}

/* record - the TXT record (RFC 8461 §3.1) with id */
static void record(const char *id)
{
    char text[128];
    snprintf(text, sizeof(text), "v=STSv1; id=%s;", id);
    fake_txt(fake_answer(TXT, DNS_RR_TXT, DECIDE_DNS_INSECURE, 300), text);
}

/* host - mta-sts.<d> has an IPv4 address; returned to hold it */
static struct fake_dns *host(void)
{
    struct fake_dns *a = fake_answer(HOST, DNS_RR_A, DECIDE_DNS_INSECURE, 300);
    fake_a(a, "192.0.2.80");
    return a;
}

/* ---------------------------------------------------------------- the scenarios */

/*
 * Issue 14: a policy fetched by one daemon is served by the others without a
 * fetch. A misses, wins the claim, fetches (RFC 8461 §3.3: a new id) and its
 * write lands on the server; B misses: its read of the store (on_row)
 * answers the same policy, checked within cache_grace: no DNS, no claim, no
 * fetch.
 */
static void test_one_fetch_served_to_all(void **state)
{
    (void)state;
    daemons_open();
    record("1");
    host();
    fake_fetch_ok(D, policy_enforce);
    struct got g;
    assert_int_equal(ask(A, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_false(g.a.cached);
    assert_int_equal(fake_n_fetches, 1);
    assert_int_equal(fleet_counts(0).claims[CACHE_CLAIM_WON], 1);
    sts_answer_finish(&g.a);
    wait_record("1");

    assert_int_equal(ask(B, &g), 0); /* a miss: the store is read */
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_true(g.a.cached);
    assert_string_equal(g.a.id, "1");
    assert_int_equal(g.a.policy->policy.mode, STS_MODE_ENFORCE);
    assert_int_equal(g.a.policy->fetched_at, fake_time);
    sts_answer_finish(&g.a);
    assert_int_equal(fake_n_fetches, 1);
    assert_int_equal(fake_asked(TXT, DNS_RR_TXT), 1); /* within cache_grace: A's check holds */
    struct fleet_counts nb = fleet_counts(1);
    assert_int_equal(nb.gets, 1);
    assert_int_equal(nb.claims[0] + nb.claims[1] + nb.claims[2] + nb.claims[3], 0);

    assert_int_equal(ask(B, &g), 1); /* then from B's memory */
    assert_string_equal(g.a.id, "1");
    sts_answer_finish(&g.a);
    daemons_close();
}

/*
 * Issue 14: both daemons asked about a new domain at once: both miss, both
 * check the TXT record, one wins the claim and fetches, the other waits and
 * is handed its record. One fetch for the fleet, two answers.
 */
static void test_asked_at_once(void **state)
{
    (void)state;
    daemons_open();
    record("1");
    host();
    fake_fetch_ok(D, policy_enforce);
    struct got ga, gb;
    assert_int_equal(start(A, &ga), 0);
    assert_int_equal(start(B, &gb), 0);
    assert_true(pump(&ga));
    assert_true(pump(&gb));
    assert_int_equal(ga.a.state, DECIDE_STS_POLICY);
    assert_int_equal(gb.a.state, DECIDE_STS_POLICY);
    assert_string_equal(ga.a.id, "1");
    assert_string_equal(gb.a.id, "1");
    sts_answer_finish(&ga.a);
    sts_answer_finish(&gb.a);
    assert_int_equal(fake_n_fetches, 1);
    assert_int_equal(fake_asked(HOST, DNS_RR_A), 1);
    struct fleet_counts na = fleet_counts(0), nb = fleet_counts(1);
    assert_int_equal(na.claims[CACHE_CLAIM_WON] + nb.claims[CACHE_CLAIM_WON], 1);
    assert_int_equal(na.claims[CACHE_CLAIM_HAVE] + nb.claims[CACHE_CLAIM_HAVE], 1);
    daemons_close();
}

/*
 * RFC 8461 §3.3 and issue 14: both daemons hold id 1; the TXT record names
 * id 2. A refreshes first and fetches it; B, past cache_grace, sees id 2,
 * claims, and is handed A's record (HAVE: id 2, fetched after B's copy):
 * installed without a fetch.
 */
static void test_claim_have(void **state)
{
    (void)state;
    daemons_open();
    record("1");
    host();
    fake_fetch_ok(D, policy_enforce);
    struct got g;
    ask(A, &g);
    sts_answer_finish(&g.a);
    wait_record("1");
    ask(B, &g);
    assert_true(g.a.cached);
    sts_answer_finish(&g.a);
    assert_int_equal(fake_n_fetches, 1);
    int64_t t0 = fake_time;

    advance(GRACE);
    record("2");
    fake_fetch_ok(D, policy_testing);
    assert_int_equal(ask(A, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_false(g.a.cached);
    assert_string_equal(g.a.id, "2");
    sts_answer_finish(&g.a);
    assert_int_equal(fake_n_fetches, 2);
    assert_int_equal(fleet_counts(0).claims[CACHE_CLAIM_WON], 2);
    wait_record("2");

    assert_int_equal(ask(B, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_true(g.a.cached);
    assert_string_equal(g.a.id, "2");
    assert_int_equal(g.a.policy->policy.mode, STS_MODE_TESTING);
    assert_int_equal(g.a.policy->fetched_at, t0 + GRACE);
    assert_int_equal(g.a.checked_at, fake_time);
    sts_answer_finish(&g.a);
    assert_int_equal(fake_n_fetches, 2); /* B fetched nothing */
    assert_int_equal(fake_asked(HOST, 0), 2);
    assert_int_equal(fleet_counts(1).claims[CACHE_CLAIM_HAVE], 1);
    assert_int_equal(ask(B, &g), 1); /* and keeps it: checked now */
    assert_string_equal(g.a.id, "2");
    sts_answer_finish(&g.a);
    daemons_close();
}

/*
 * Issue 14: while A holds the claim (its policy host lookup is slow), B
 * waits: it asks the fleet again every STORE_CLAIM_POLL_MS and starts no
 * lookup and no fetch of its own; once A's record lands, B is answered with
 * it (HAVE). One fetch for the fleet.
 */
static void test_claim_held_then_have(void **state)
{
    (void)state;
    daemons_open();
    record("1");
    host()->hold = true;
    fake_fetch_ok(D, policy_enforce);
    struct got ga, gb;
    assert_int_equal(start(A, &ga), 0);
    for (int i = 0; i < 200 && fake_asked(HOST, DNS_RR_A) == 0; i++)
        turn(10);
    assert_int_equal(fake_asked(HOST, DNS_RR_A), 1); /* A won and looks the host up */
    assert_int_equal(fleet_counts(0).claims[CACHE_CLAIM_WON], 1);

    assert_int_equal(start(B, &gb), 0);
    pump_for(4 * STORE_CLAIM_POLL_MS);
    assert_int_equal(gb.calls, 0);
    assert_int_equal(ga.calls, 0);
    assert_int_equal(fake_asked(HOST, DNS_RR_A), 1); /* B looked nothing up */
    assert_int_equal(fake_n_fetches, 0);
    assert_true(fleet_counts(1).claims[CACHE_CLAIM_HELD] >= 2); /* asked again, not given up */

    fake_release(HOST, DNS_RR_A);
    assert_true(pump(&ga));
    assert_int_equal(ga.a.state, DECIDE_STS_POLICY);
    assert_false(ga.a.cached);
    sts_answer_finish(&ga.a);
    assert_true(pump(&gb));
    assert_int_equal(gb.a.state, DECIDE_STS_POLICY);
    assert_true(gb.a.cached);
    assert_string_equal(gb.a.id, "1");
    assert_int_equal(gb.a.policy->policy.mode, STS_MODE_ENFORCE);
    sts_answer_finish(&gb.a);
    assert_int_equal(fake_n_fetches, 1);
    assert_int_equal(fake_asked(HOST, DNS_RR_A), 1);
    assert_int_equal(fleet_counts(1).claims[CACHE_CLAIM_HAVE], 1);
    assert_int_equal(fleet_counts(1).claims[CACHE_CLAIM_WON], 0);
    daemons_close();
}

/*
 * DESIGN.md's back-off, fleet-wide: B waits on A's claim and A's fetch
 * fails: B's next ask is answered FAILED (A's mark), with no fetch of its own.
 */
static void test_claim_held_then_failed(void **state)
{
    (void)state;
    daemons_open();
    record("1");
    host()->hold = true;
    fake_fetch_fail(D, DECIDE_STS_POLICY_INVALID, "policy at offset 0: no version");
    struct got ga, gb;
    assert_int_equal(start(A, &ga), 0);
    for (int i = 0; i < 200 && fake_asked(HOST, DNS_RR_A) == 0; i++)
        turn(10);
    assert_int_equal(start(B, &gb), 0);
    pump_for(3 * STORE_CLAIM_POLL_MS);
    assert_int_equal(gb.calls, 0);
    fake_release(HOST, DNS_RR_A);
    assert_true(pump(&ga));
    assert_int_equal(ga.a.state, DECIDE_STS_FAILED);
    assert_true(pump(&gb));
    assert_int_equal(gb.a.state, DECIDE_STS_FAILED);
    assert_int_equal(gb.a.failure, DECIDE_STS_POLICY_INVALID);
    assert_null(gb.a.policy);
    assert_int_equal(fake_n_fetches, 1);
    assert_int_equal(fake_asked(HOST, DNS_RR_A), 1);
    assert_int_equal(fleet_counts(1).claims[CACHE_CLAIM_FAILED], 1);
    daemons_close();
}

struct failed_row {
    const char *rule;
    enum decide_sts_failure failure;
    const char *reason;
};

static const struct failed_row failed_rows[] = {
    {"DESIGN.md 5-minute back-off, fleet-wide: A's sts-webpki-invalid holds B back",
     DECIDE_STS_WEBPKI_INVALID, "certificate has expired"},
    {"DESIGN.md 5-minute back-off, fleet-wide: A's sts-policy-fetch-error holds B back",
     DECIDE_STS_FETCH_ERROR, "HTTP 500"},
};

/*
 * DESIGN.md's 5-minute back-off, fleet-wide (issue 14): A's fetch of id 1
 * fails and A tells the fleet; B, asked within 5 minutes, claims and gets
 * FAILED: no fetch of its own, the failure type A saw. A new id is fetched
 * at once (RFC 8461 §3.3), back-off or not.
 */
static void test_failed_shared(void **state)
{
    const struct failed_row *row = *state;
    daemons_open();
    record("1");
    host();
    fake_fetch_fail(D, row->failure, row->reason);
    struct got g;
    assert_int_equal(ask(A, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_FAILED);
    assert_int_equal(g.a.failure, row->failure);
    assert_int_equal(fake_n_fetches, 1);
    wait_marks(0, 1);

    advance(STS_RETRY_AFTER_S - 10);
    assert_int_equal(ask(B, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_FAILED);
    assert_int_equal(g.a.failure, row->failure);
    assert_null(g.a.policy);
    assert_non_null(strstr(g.a.reason, row->reason));
    assert_int_equal(fake_n_fetches, 1); /* B did not fetch */
    assert_int_equal(fake_asked(HOST, 0), 1);
    assert_int_equal(fleet_counts(1).claims[CACHE_CLAIM_FAILED], 1);
    assert_int_equal(fleet_counts(1).marks, 0); /* not a failure of B's own */
    assert_int_equal(ask(B, &g), 0);            /* B's own back-off now: TXT only */
    assert_int_equal(g.a.state, DECIDE_STS_FAILED);
    assert_int_equal(fake_n_fetches, 1);

    record("2");
    fake_fetch_ok(D, policy_enforce);
    assert_int_equal(ask(B, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_false(g.a.cached);
    assert_string_equal(g.a.id, "2");
    sts_answer_finish(&g.a);
    assert_int_equal(fake_n_fetches, 2);
    assert_int_equal(fleet_counts(1).claims[CACHE_CLAIM_WON], 1);
    daemons_close();
}

/*
 * Past the 5 minutes the fleet's mark is gone (it expires on the server):
 * the id is fetched again (DESIGN.md: retried after 5 minutes).
 */
static void test_failed_expires(void **state)
{
    (void)state;
    daemons_open();
    record("1");
    host();
    fake_fetch_fail(D, DECIDE_STS_FETCH_ERROR, "connection refused");
    struct got g;
    ask(A, &g);
    wait_marks(0, 1);
    advance(STS_RETRY_AFTER_S);
    fake_fetch_ok(D, policy_enforce);
    assert_int_equal(ask(B, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_int_equal(fake_n_fetches, 2);
    sts_answer_finish(&g.a);
    daemons_close();
}

/*
 * A fleet that cannot coordinate must still protect its mail: the server
 * failing the claim (MXTLS_EIO), or every call, B fetches for itself and
 * answers the fetched policy; its failing mark is no error either.
 */
static void test_store_failing(void **state)
{
    (void)state;
    for (int all = 0; all < 2; all++) {
        daemons_open();
        pthread_mutex_lock(&fleet.lock);
        fleet.claim_fails = true;
        fleet.get_fails = all != 0;
        pthread_mutex_unlock(&fleet.lock);
        record("1");
        host();
        fake_fetch_ok(D, policy_enforce);
        struct got g;
        assert_int_equal(ask(B, &g), 0);
        assert_int_equal(g.a.state, DECIDE_STS_POLICY);
        assert_false(g.a.cached);
        assert_int_equal(g.a.policy->policy.mode, STS_MODE_ENFORCE);
        sts_answer_finish(&g.a);
        assert_int_equal(fake_n_fetches, 1);
        assert_int_equal(fleet_counts(1).claim_errors, 1);
        struct store_health h;
        store_health(B->store, &h);
        assert_int_equal(h.claims_failed, 1);

        /* with the policy in memory, a failing fetch of a new id keeps it (RFC 8461 §5.1) */
        advance(GRACE);
        record("2");
        fake_fetch_fail(D, DECIDE_STS_FETCH_ERROR, "HTTP 503");
        assert_int_equal(ask(B, &g), 0);
        assert_int_equal(g.a.state, DECIDE_STS_FAILED);
        assert_true(g.a.cached);
        assert_non_null(g.a.policy);
        assert_int_equal(g.a.policy->policy.mode, STS_MODE_ENFORCE);
        sts_answer_finish(&g.a);
        assert_int_equal(fake_n_fetches, 2);
        daemons_close();
    }
}

/*
 * RFC 8461 §5.1 with a fleet: A's copy of id 1 expires; meanwhile B fetched
 * id 2 and wrote it. A drops its expired copy from memory without deleting
 * the fleet's record (the server expires records itself, and this one is
 * newer), reads B's record on the miss and, its id confirmed by the TXT
 * record (§3.3), applies it without a fetch.
 */
static void test_expired_not_deleted(void **state)
{
    (void)state;
    daemons_open();
    record("1");
    host();
    fake_fetch_ok(D, policy_enforce);
    struct got g;
    ask(A, &g);
    sts_answer_finish(&g.a);
    wait_record("1");

    advance(86400 - 100);
    record("2");
    fake_fetch_ok(D, policy_testing);
    assert_int_equal(ask(B, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_false(g.a.cached);
    assert_string_equal(g.a.id, "2");
    sts_answer_finish(&g.a);
    assert_int_equal(fake_n_fetches, 2);
    wait_record("2");

    advance(200); /* A's id 1, fetched 86500 s ago, is past its max_age of 86400 */
    assert_int_equal(ask(A, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_true(g.a.cached);
    assert_string_equal(g.a.id, "2");
    assert_int_equal(g.a.policy->policy.mode, STS_MODE_TESTING);
    sts_answer_finish(&g.a);
    assert_int_equal(fake_n_fetches, 2);
    sts_cache_free(A->cache);
    A->cache = NULL;
    store_close(A->store); /* every write A queued is on the server now */
    A->store = NULL;
    assert_int_equal(fleet_counts(0).dels, 0);
    char id[STS_RECORD_ID_MAX + 1];
    fleet_record_id(id, sizeof(id));
    assert_string_equal(id, "2");
    daemons_close();
}

/* both_hold - A fetched D's id 1 (enforce), B read it from the store: both hold it */
static void both_hold(void)
{
    record("1");
    host();
    fake_fetch_ok(D, policy_enforce);
    struct got g;
    ask(A, &g);
    sts_answer_finish(&g.a);
    wait_record("1");
    ask(B, &g);
    assert_true(g.a.cached);
    sts_answer_finish(&g.a);
    assert_int_equal(fake_n_fetches, 1);
}

/*
 * RFC 8461 §5.1 and §3.3 across the fleet: both daemons hold the enforce
 * policy id 1; A's fetch of the new id 2 fails. B, told FAILED by the fleet,
 * backs off without a fetch and keeps applying its enforce policy: the
 * fleet's coordination never makes an answer weaker.
 */
static void test_failed_keeps_cached(void **state)
{
    (void)state;
    daemons_open();
    both_hold();
    advance(GRACE);
    record("2");
    fake_fetch_fail(D, DECIDE_STS_FETCH_ERROR, "HTTP 404");
    struct got g;
    assert_int_equal(ask(A, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_FAILED);
    assert_true(g.a.cached);
    sts_answer_finish(&g.a);
    assert_int_equal(fake_n_fetches, 2);
    wait_marks(0, 1);

    assert_int_equal(ask(B, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_FAILED);
    assert_int_equal(g.a.failure, DECIDE_STS_FETCH_ERROR);
    assert_true(g.a.cached);
    assert_non_null(g.a.policy);
    assert_string_equal(g.a.policy->id, "1");
    assert_int_equal(g.a.policy->policy.mode, STS_MODE_ENFORCE);
    sts_answer_finish(&g.a);
    assert_int_equal(fake_n_fetches, 2);
    assert_int_equal(fleet_counts(1).claims[CACHE_CLAIM_FAILED], 1);
    daemons_close();
}

/*
 * The reason B gives for a failure it learnt from the fleet names the
 * failure once, like the reason A gives for its own (what `mxtls query`
 * and the log show).
 */
static void test_failed_reason(void **state)
{
    (void)state;
    daemons_open();
    record("1");
    host();
    fake_fetch_fail(D, DECIDE_STS_WEBPKI_INVALID, "certificate has expired");
    struct got g;
    ask(A, &g);
    assert_string_equal(g.a.reason, "sts-webpki-invalid: certificate has expired");
    wait_marks(0, 1);
    advance(10);
    ask(B, &g);
    assert_int_equal(g.a.state, DECIDE_STS_FAILED);
    assert_string_equal(g.a.reason, "sts-webpki-invalid: certificate has expired (a fetch by "
                                    "another daemon of the fleet)");
    daemons_close();
}

/*
 * The proactive renewal (past half max_age, same id) goes through the claim
 * too: A renews its policy; B's renewal is handed A's newer record (HAVE:
 * fetched after B's copy) and fetches nothing.
 */
static void test_proactive_have(void **state)
{
    (void)state;
    daemons_open();
    both_hold();
    advance(86400 / 2 + 1);
    assert_int_equal(sts_cache_proactive(A->cache, 0, 1, TIMEOUT_MS), 1);
    for (int i = 0; i < 300 && sts_cache_busy(A->cache) > 0; i++)
        turn(10);
    assert_int_equal(sts_cache_busy(A->cache), 0);
    assert_int_equal(fake_n_fetches, 2);
    int64_t renewed = fake_time;
    pthread_mutex_lock(&fleet.lock);
    int64_t stored = slot_find(D, true)->rec.fetched_at;
    pthread_mutex_unlock(&fleet.lock);
    for (int i = 0; i < 300 && stored != renewed; i++) {
        usleep(10000);
        pthread_mutex_lock(&fleet.lock);
        stored = slot_find(D, true)->rec.fetched_at;
        pthread_mutex_unlock(&fleet.lock);
    }
    assert_int_equal(stored, renewed);

    assert_int_equal(sts_cache_proactive(B->cache, 0, 1, TIMEOUT_MS), 1);
    for (int i = 0; i < 300 && sts_cache_busy(B->cache) > 0; i++)
        turn(10);
    assert_int_equal(sts_cache_busy(B->cache), 0);
    assert_int_equal(fake_n_fetches, 2);
    assert_int_equal(fleet_counts(1).claims[CACHE_CLAIM_HAVE], 1);
    struct sts_cache_item it;
    assert_int_equal(sts_cache_find(B->cache, D, &it), 1);
    assert_int_equal(it.policy->fetched_at, renewed);
    daemons_close();
}

/*
 * A holder that died: its claim expires (3 x timeout + 1 s) and a waiting
 * daemon takes it over and fetches; a claim that never expires: the waiter
 * gives up after its wait and fetches by itself. Either way one answer, the
 * fetched policy.
 */
static void test_holder_died(void **state)
{
    (void)state;
    for (int stuck = 0; stuck < 2; stuck++) {
        daemons_open();
        pthread_mutex_lock(&fleet.lock);
        fleet.claim_stuck = stuck != 0;
        pthread_mutex_unlock(&fleet.lock);
        record("1");
        host()->hold = true;
        fake_fetch_ok(D, policy_enforce);
        struct got ga, gb;
        assert_int_equal(start(A, &ga), 0);
        for (int i = 0; i < 200 && fake_asked(HOST, DNS_RR_A) == 0; i++)
            turn(10);
        assert_int_equal(fleet_counts(0).claims[CACHE_CLAIM_WON], 1);
        sts_cache_free(A->cache); /* A dies holding the claim */
        A->cache = NULL;
        fake_reset(&net); /* its held lookup goes with it */
        record("1");
        host();
        fake_fetch_ok(D, policy_enforce);
        assert_int_equal(start(B, &gb), 0);
        assert_true(pump(&gb));
        assert_int_equal(gb.a.state, DECIDE_STS_POLICY);
        assert_false(gb.a.cached);
        sts_answer_finish(&gb.a);
        assert_int_equal(fake_n_fetches, 1);
        struct fleet_counts nb = fleet_counts(1);
        assert_true(nb.claims[CACHE_CLAIM_HELD] >= 5);
        assert_int_equal(nb.claims[CACHE_CLAIM_WON], stuck ? 0 : 1);
        /* the claim held 3 x 200 + 1000 ms; B's wait is 500 ms longer */
        assert_true(gb.took_ms >= 1000);
        assert_true(gb.took_ms <= 3 * TIMEOUT_MS + 1000 + 500 + 500);
        daemons_close();
    }
}

/* B's cache freed while its claim is asked again: nobody is called, nothing leaks. */
static void test_free_while_held(void **state)
{
    (void)state;
    daemons_open();
    record("1");
    host()->hold = true;
    fake_fetch_ok(D, policy_enforce);
    struct got ga, gb;
    assert_int_equal(start(A, &ga), 0);
    for (int i = 0; i < 200 && fake_asked(HOST, DNS_RR_A) == 0; i++)
        turn(10);
    assert_int_equal(start(B, &gb), 0);
    pump_for(3 * STORE_CLAIM_POLL_MS);
    assert_true(fleet_counts(1).claims[CACHE_CLAIM_HELD] >= 1);
    sts_cache_free(B->cache);
    B->cache = NULL;
    fake_release(HOST, DNS_RR_A);
    assert_true(pump(&ga));
    sts_answer_finish(&ga.a);
    pump_for(3 * STORE_CLAIM_POLL_MS);
    assert_int_equal(gb.calls, 0);
    daemons_close();
}

/*
 * Issue 17 item 2 with a fleet: our resolver failing the policy host is
 * answered TEMP at once and "retried on each request". A's claim is not
 * released, so A's next request must not wait behind A's own claim
 * (cache_backend.h: HELD is "another daemon holds it").
 */
static void test_own_claim(void **state)
{
    (void)state;
    daemons_open();
    record("1");
    fake_answer(HOST, DNS_RR_A, DECIDE_DNS_FAILED, 0)->why = "SERVFAIL";
    struct got g;
    assert_int_equal(ask(A, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_RESOLVER_FAILED);
    assert_int_equal(ask(A, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_RESOLVER_FAILED);
    assert_int_equal(fake_asked(HOST, DNS_RR_A), 2);
    if (g.took_ms >= TIMEOUT_MS)
        fail_msg(
            "A's second request waited %lld ms behind A's own claim (%d ms: 3 x timeout + 1 s)",
            (long long)g.took_ms, 3 * TIMEOUT_MS + 1000);
    daemons_close();
}

/*
 * Issue 17 item 2 with a fleet: our own resolver failing the policy host says
 * nothing about the policy host. Past sts_resolver_failure_temp (here 0: at
 * once) A treats it as a failed fetch for itself, but must not hold the
 * fleet back: B, whose lookups work, fetches the policy and applies it
 * instead of answering FAILED without a policy (a weaker answer).
 */
static void test_resolver_failure_not_shared(void **state)
{
    (void)state;
    daemons_open();
    sts_cache_set_resolver_temp(A->cache, 0);
    record("1");
    fake_answer(HOST, DNS_RR_A, DECIDE_DNS_FAILED, 0)->why = "SERVFAIL";
    fake_fetch_ok(D, policy_enforce);
    struct got g;
    assert_int_equal(ask(A, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_FAILED);
    assert_int_equal(fake_n_fetches, 0);
    pump_for(3 * STORE_CLAIM_POLL_MS); /* whatever A tells the fleet lands */

    advance(10);
    host(); /* B's resolver answers */
    assert_int_equal(ask(B, &g), 0);
    assert_int_equal(g.a.state, DECIDE_STS_POLICY);
    assert_non_null(g.a.policy);
    assert_int_equal(g.a.policy->policy.mode, STS_MODE_ENFORCE);
    sts_answer_finish(&g.a);
    assert_int_equal(fake_n_fetches, 1);
    daemons_close();
}

int main(void)
{
    static struct unit_suite s;
    struct mxtls_diag d = {0};
    if (cache_backend_register(&fleet_ops, &d) < 0) {
        fprintf(stderr, "cannot register the fake fleet backend: %s\n", d.what);
        return 1;
    }
    unit_one(&s, "issue 14: one daemon's fetch serves the other (its miss reads the store)",
             test_one_fetch_served_to_all, NULL);
    unit_one(&s, "issue 14: two daemons asked at once: one fetch, two answers", test_asked_at_once,
             NULL);
    unit_one(&s, "RFC 8461 §3.3, issue 14: a new id another daemon fetched is claimed HAVE",
             test_claim_have, NULL);
    unit_one(&s, "issue 14: a claim held elsewhere: wait, no fetch, answered by its record",
             test_claim_held_then_have, NULL);
    unit_one(&s, "DESIGN.md: a claim held elsewhere whose fetch fails: FAILED, no fetch",
             test_claim_held_then_failed, NULL);
    UNIT_ROWS(&s, test_failed_shared, failed_rows);
    unit_one(&s, "DESIGN.md: the fleet's back-off ends after 5 minutes", test_failed_expires, NULL);
    unit_one(&s, "issue 14: the store failing: fetch here (fail open on coordination only)",
             test_store_failing, NULL);
    unit_one(&s, "RFC 8461 §5.1: an expired copy is dropped without deleting the fleet's record",
             test_expired_not_deleted, NULL);
    unit_one(&s, "RFC 8461 §5.1: a fleet's FAILED keeps B's cached enforce policy applied",
             test_failed_keeps_cached, NULL);
    unit_one(&s, "issue 14: a failure learnt from the fleet names the failure once",
             test_failed_reason, NULL);
    unit_one(&s, "issue 14: the proactive renewal is claimed too: HAVE, no second fetch",
             test_proactive_have, NULL);
    unit_one(&s, "issue 14: a holder that died is replaced; a stuck claim is waited out",
             test_holder_died, NULL);
    unit_one(&s, "issue 14: a cache freed while its claim is held elsewhere", test_free_while_held,
             NULL);
    unit_one(&s, "issue 17 item 2: a daemon never waits behind its own claim", test_own_claim,
             NULL);
    unit_one(&s, "issue 17 item 2: our resolver's failure does not hold the fleet back",
             test_resolver_failure_not_shared, NULL);
    for (size_t i = 0; i < s.n; i++)
        s.tests[i].teardown_func = teardown; /* a failed test leaves no daemon running */
    int rc = unit_run(&s, "sts_fleet");
    fake_reset(NULL);
    fleet_clear();
    return rc;
}
