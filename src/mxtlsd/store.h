/*
 * store - write-through persistence of the MTA-STS cache, off the event loop.
 *
 * The daemon answers from memory; every change of a cached policy is also
 * queued here and written to the SQLite file (io/cache_sqlite) by one worker
 * thread, so a slow disk or a locked database never stalls Postfix. At
 * startup, before the loop runs, store_load replays the file into memory.
 *
 * Failures of the worker are logged and cost only persistence (the answer in
 * memory is unaffected). The queue is bounded: past STORE_QUEUE_MAX pending
 * writes, new ones are dropped with a warning rather than growing without
 * limit. store_close writes out what is queued, then joins the thread.
 */
#ifndef MXTLSD_STORE_H
#define MXTLSD_STORE_H

#include "cache_sqlite.h"
#include "mxtls/diag.h"

#define STORE_QUEUE_MAX 100000

struct store;

/* store_open - open (create) the database at path; NULL with diag filled on failure. */
struct store *store_open(const char *path, struct mxtls_diag *diag);

/*
 * store_load - call cb for every valid row (cache_sqlite_each); only before
 * the first store_put. cb must not call store_put or store_delete (the
 * connection is busy with the walk: it would deadlock). Invalid rows are skipped and counted in
 * *n_invalid. Returns 0 or a negative MXTLS_E* code with diag filled.
 */
int store_load(struct store *s, cache_sqlite_each_fn cb, void *arg, size_t *n_invalid,
               struct mxtls_diag *diag);

/* store_put - queue a copy of e to be written; never blocks on the disk. */
void store_put(struct store *s, const struct cache_entry *e);

/* store_delete - queue the removal of domain's row. */
void store_delete(struct store *s, const char *domain);

/* store_close - write what is queued, stop the worker, close; NULL is a no-op. */
void store_close(struct store *s);

#endif
