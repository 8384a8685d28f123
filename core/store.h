/*
 * store - write-behind persistence of the MTA-STS cache, and its read path on
 * a miss, off the event loop.
 *
 * The daemon answers from memory; every change of a cached policy is also
 * queued here and written to the cache backend (io/cache_backend.h: the
 * backend named by cache.type, today "sqlite", io/cache_sqlite.c) by one
 * worker thread, so a slow disk or a locked database never stalls Postfix. At
 * startup, before the loop runs, store_load replays the backend into memory.
 *
 * On a miss in memory the cache asks store_get: one of the store's reader
 * threads (cache.threads of them, each with its own connection) reads the
 * record, the store re-parses its policy text (a corrupted or foreign record
 * is absent and counted, never applied), and the answer comes back to the
 * loop through a pipe (store_event_fd; with a base the store dispatches it
 * itself), so a backend shared by several daemons is read, not just written.
 *
 * The window between an answer and its commit is kept small and visible
 * (issue 17, item 8): the queue holds at most one write per domain (a newer
 * change replaces the queued one) and at most queue_max domains (past that,
 * writes are dropped and counted); the worker writes everything queued in one
 * transaction and keeps a failed batch queued to retry it. store_watch, run
 * by the loop every second, logs a warning once when the oldest queued write
 * waits longer than lag_warning_ms and a line when the store caught up; a
 * failing write is logged once per episode, with a line when writes work
 * again. store_health gives the backlog to `mxtls query` (explain.c).
 *
 * The file itself is watched (item 7): a side record FILE.state keeps the
 * row count of the last run, so a file that held policies and now has none,
 * or is missing, is reported at warning when it is loaded; and when the file
 * is deleted or replaced while running (its device and inode changed), the
 * worker recreates the database and store_watch asks the caller to write
 * what memory holds again (STORE_WANT_REPERSIST).
 *
 * Failures cost only persistence (the answer in memory is unaffected) and
 * are logged here; store_close writes what is queued (one more attempt),
 * stops the worker and closes.
 */
#ifndef CORE_STORE_H
#define CORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "cache_backend.h"
#include "mxtls/diag.h"
#include "mxtls/sts_policy.h"

#define STORE_QUEUE_MAX      100000 /* store_queue_max default */
#define STORE_BUSY_MS        5000   /* cache.timeout default: wait for a lock */
#define STORE_LAG_WARNING_MS 5000   /* store_lag_warning default */
#define STORE_RETRY_MS       1000   /* a failed batch is retried this often */
#define STORE_CHECK_MS       1000   /* the file's inode is checked this often */
#define STORE_STATE_SUFFIX   ".state"
#define STORE_STATE_WRITE_S  10  /* the side record is rewritten at most this often */
#define STORE_WANT_REPERSIST 1   /* store_watch: write every cached policy again */
#define STORE_READERS_MAX    16  /* reader threads at most (cache.threads) */
#define STORE_CLAIM_POLL_MS  100 /* a claim held by another daemon is asked again this often */
#define STORE_FAILED_HOLD_S                                                                        \
    300 /* a fleet remembers a failed fetch this long (STS_RETRY_AFTER_S)                          \
         */

struct event_base;
struct store;
struct store_read; /* a read in flight (store_get) */

/*
 * The limits of a store (the configuration's cache.type, cache.threads,
 * cache.timeout, store_queue_max, store_lag_warning).
 */
struct store_config {
    const char *type;              /* the backend (cache_backend_open); NULL: "sqlite" */
    unsigned busy_ms;              /* wait this long for another process's lock */
    size_t queue_max;              /* domains queued at most; 0: STORE_QUEUE_MAX */
    unsigned lag_warning_ms;       /* warn when the oldest write waits longer; 0: default */
    unsigned readers;              /* reader threads; 0: the number of CPUs; <= READERS_MAX */
    struct event_base *base;       /* reads are delivered on it; NULL: store_dispatch */
    const struct config_cache *cf; /* passed to the backend (cache_backend_options) */
};

/*
 * One record read on a miss (store_get), valid during the callback only.
 * status: 0 found (e and policy filled; policy parsed from e.policy_text by
 * the store, the callback may move it out and set have_policy false),
 * MXTLS_ENOTFOUND no record, MXTLS_EINVAL a record that is invalid (corrupt,
 * foreign: counted, why says what), or another negative code when the
 * backend failed (why says it). Absent in every case but 0.
 */
struct store_row {
    int status;
    struct cache_entry e;
    struct sts_policy policy;
    bool have_policy;
    char why[MXTLS_DIAG_WHAT_MAX];
    /* store_claim only, when status is 0: the outcome (HAVE: e and policy as
     * a read fills them; FAILED: failure, failed_at, and why the reason) */
    enum cache_claim_outcome claim;
    int failure;
    int64_t failed_at;
};

/* store_read_cb - a read's answer, on the loop thread. */
typedef void (*store_read_cb)(struct store_row *row, void *arg);

/* What store_health reports (a snapshot). */
struct store_health {
    char path[512];
    size_t queued;           /* writes not on disk yet (queued and being written) */
    int64_t oldest_ms;       /* how long the oldest of them has waited, 0 when none */
    uint64_t written;        /* writes committed since start */
    uint64_t failed;         /* batch attempts that failed */
    uint64_t dropped;        /* writes dropped: queue full, or given up at exit */
    bool lagging;            /* the lag warning is in force */
    bool failing;            /* the last attempt failed */
    char last_error[320];    /* the last failure, "" when none */
    unsigned file_lost;      /* times the file was deleted or replaced while running */
    int64_t file_lost_at;    /* unix time of the last time, 0 = never */
    size_t shrank_from;      /* at load: rows the last run had, when the file now has none */
    bool shrank;             /* at load: the file lost everything since the last run */
    char start_warning[320]; /* what was logged about it, "" when nothing */
    uint64_t reads;          /* misses read from the backend (store_get answered) */
    uint64_t read_hits;      /* of which found a valid record */
    uint64_t read_invalid;   /* of which found an invalid record (absent, counted) */
    uint64_t read_failed;    /* of which the backend failed */
    unsigned readers;        /* reader threads */
    bool read_failing;       /* the last read or claim failed (a fleet's server down) */
    uint64_t claims[4];      /* store_claim answers by enum cache_claim_outcome */
    uint64_t claims_failed;  /* store_claim answers where the backend failed */
};

/*
 * store_open - open (create) the backend sc->type at path with the limits of
 * sc (NULL: defaults) and start the writer and the reader threads; NULL with
 * diag filled on failure (an unknown type names the known ones). For a
 * server (not CACHE_BACKEND_FILE), path only names it in messages, and a
 * server that is down is no failure: the backend connects when it answers.
 */
struct store *store_open(const char *path, const struct store_config *sc, struct mxtls_diag *diag);

/*
 * store_load - call cb for every valid row (the backend's walk); only before
 * the first store_put. cb must not call store_put or store_delete (the
 * connection is busy with the walk: it would deadlock). Invalid rows are
 * skipped and counted in *n_invalid. Compares the file with the side record
 * of the last run and logs a warning when it lost every row (or vanished).
 * Returns 0 or a negative MXTLS_E* code with diag filled.
 */
int store_load(struct store *s, cache_backend_walk_fn cb, void *arg, size_t *n_invalid,
               struct mxtls_diag *diag);

/*
 * store_get - read domain's record on a reader thread; cb(row, arg) is
 * called once, later, on the loop (from the base's event, or from
 * store_dispatch), never from inside this call, unless store_read_cancel
 * comes first. Returns the read (a handle for cancel, valid until the
 * callback or the cancel), or NULL when out of memory.
 */
struct store_read *store_get(struct store *s, const char *domain, store_read_cb cb, void *arg);

/*
 * A fleet (issue 14): several daemons share the backend, and one of them
 * fetches a domain's policy for all. store_fleet says whether the backend can
 * (cache_backend_ops.claim). store_claim asks it for domain's policy id
 * (cache_backend.h, struct cache_claim): the answer comes like a read's,
 * with row->claim set; while another daemon holds the claim the readers ask
 * again every STORE_CLAIM_POLL_MS (no thread waits) for up to wait_ms, then
 * answer HELD. A won claim holds for ttl_ms. status < 0: the backend failed
 * (the caller fetches itself). NULL when the backend is not a fleet's or out
 * of memory. store_mark_failed tells the fleet that fetching id failed, for
 * STORE_FAILED_HOLD_S (fire and forget).
 */
bool store_fleet(const struct store *s);
struct store_read *store_claim(struct store *s, const char *domain, const char *id,
                               int64_t newer_than, unsigned ttl_ms, unsigned wait_ms,
                               store_read_cb cb, void *arg);
void store_mark_failed(struct store *s, const char *domain, const char *id, int failure, int64_t at,
                       const char *why);

/* store_read_cancel - r's callback will not be called; the store frees r. */
void store_read_cancel(struct store_read *r);

/*
 * store_event_fd - readable when reads are answered; store_dispatch then
 * calls their callbacks and returns how many (for a caller without a base:
 * tests). With a base the store does both itself.
 */
int store_event_fd(const struct store *s);
size_t store_dispatch(struct store *s);

/* store_put - queue a copy of e to be written; never blocks on the disk. */
void store_put(struct store *s, const struct cache_entry *e);

/* store_delete - queue the removal of domain's row. */
void store_delete(struct store *s, const char *domain);

/*
 * store_delete_expired - queue the removal of domain's row only if it was
 * fetched no later than fetched_at (the copy that expired here): a newer
 * row, written meanwhile by another daemon sharing the file, is kept.
 */
void store_delete_expired(struct store *s, const char *domain, int64_t fetched_at);

/*
 * store_watch - run by the event loop every second: the lag warning and its
 * recovery line. Returns STORE_WANT_REPERSIST when the file was recreated and
 * every cached policy must be queued again (sts_cache_persist_all), else 0.
 */
int store_watch(struct store *s);

/* store_health - a snapshot of the backlog and the file's history; s may be NULL. */
void store_health(const struct store *s, struct store_health *h);

/*
 * store_close - write what is queued, stop the threads, close; reads not
 * delivered are dropped without their callbacks. NULL is a no-op.
 */
void store_close(struct store *s);

#endif
