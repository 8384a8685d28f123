/*
 * cache_sqlite - the persistent MTA-STS policy cache (one SQLite file).
 *
 * RFC 8461 §5.1 relies on senders remembering policies across restarts: a
 * cached policy keeps applying while the DNS or HTTPS side is unavailable.
 * mxtlsd keeps an in-memory cache and writes through to this store from a
 * worker thread; at startup it reloads everything with cache_sqlite_each(),
 * and on a miss in memory it reads the row from a reader thread. This file is
 * the "sqlite" cache backend (cache_backend.h: the struct cache_entry record
 * and the table core/store.c drives).
 *
 * One row per policy domain holds the record id, three caller-supplied
 * timestamps and the canonical policy text (sts_policy_format output). The
 * text, not a struct, is stored so the file format is the RFC's own; every
 * load re-parses it with sts_policy_parse(). The file is input too: a row
 * whose domain, id, timestamps or policy text is invalid (or over
 * STS_POLICY_BODY_MAX) is treated as absent and reported in diag, never a
 * crash. Nothing here calls time(): the caller passes every timestamp.
 *
 * Threads: the calls block (disk, locks) and must not run on the event loop.
 * A struct cache_sqlite is used by one thread at a time; several connections
 * (several cache_sqlite_open calls) may share one file from different threads
 * or processes, SQLite's WAL mode and busy timeout arbitrate.
 *
 * Failures: 0 or a negative MXTLS_E* code with diag filled: MXTLS_EINVAL for a
 * bad argument or a newer schema, MXTLS_EIO for an unusable file (cannot be
 * opened, not a database, I/O error, corruption, a full disk; the message
 * names the operating system's cause: ENOSPC, EACCES, EROFS), MXTLS_EAGAIN when the database stayed
 * locked past the busy timeout, MXTLS_ENOMEM, MXTLS_ETOOLONG (policy text over the cap), and
 * MXTLS_ENOTFOUND for an absent (or invalid) entry. Nothing logs or exits.
 */
#ifndef MXTLS_IO_CACHE_SQLITE_H
#define MXTLS_IO_CACHE_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include "cache_backend.h"
#include "mxtls/diag.h"

#define CACHE_SQLITE_SCHEMA_VERSION 1    /* PRAGMA user_version of files we write */
#define CACHE_SQLITE_BUSY_MS        5000 /* wait for a lock (cache.timeout_ms default) */

struct cache_sqlite; /* opaque: one connection and its prepared statements */

/*
 * cache_sqlite_backend - this file as a cache backend (cache_backend.h):
 * "sqlite", blocking, a FILE; open takes options.path and options.busy_ms;
 * get returns MXTLS_EINVAL for a row that exists but is invalid (the other
 * calls below say MXTLS_ENOTFOUND for both). Registered by cache_backend.c.
 */
extern const struct cache_backend_ops cache_sqlite_backend;

/* cache_sqlite_each_fn - cache_backend_walk_fn (cache_backend.h) */
typedef cache_backend_walk_fn cache_sqlite_each_fn;

/*
 * cache_sqlite_open - open the cache database at path, creating the file
 * (mode 0600, left alone if it exists) and the schema when missing. Sets WAL
 * mode and a busy timeout of CACHE_SQLITE_BUSY_MS. A file that is not an
 * SQLite database, or whose PRAGMA user_version is newer than
 * CACHE_SQLITE_SCHEMA_VERSION, is refused with MXTLS_EINVAL and a reason
 * naming path. On success *out is a connection to release with
 * cache_sqlite_close(); on failure *out is NULL.
 */
int cache_sqlite_open(const char *path, struct cache_sqlite **out, struct mxtls_diag *diag);

/* cache_sqlite_close - finalise statements and close; NULL is a no-op. */
void cache_sqlite_close(struct cache_sqlite *c);

/*
 * cache_sqlite_put - insert or replace the row for e->domain in one statement
 * (one transaction). e (borrowed) is checked first: the domain must be a
 * valid host name (stored normalised), the id 1*32(ALPHA / DIGIT) (RFC 8461
 * §3.1), timestamps >= 0, and policy_text (policy_len octets) a policy that
 * sts_policy_parse accepts, at most STS_POLICY_BODY_MAX octets; what is stored
 * is its canonical sts_policy_format form. Returns 0 or a negative code.
 */
int cache_sqlite_put(struct cache_sqlite *c, const struct cache_entry *e, struct mxtls_diag *diag);

/*
 * cache_sqlite_get - load the entry for domain (NUL-terminated, normalised
 * here) into *out, which the caller provides uninitialised and on success
 * releases with cache_entry_finish(). Returns MXTLS_ENOTFOUND when there is no
 * row, or when the row is invalid (diag then says why); on any failure *out
 * is empty (finish is harmless).
 */
int cache_sqlite_get(struct cache_sqlite *c, const char *domain, struct cache_entry *out,
                     struct mxtls_diag *diag);

/*
 * cache_sqlite_delete - remove the row for domain (normalised here). Returns
 * 0, MXTLS_ENOTFOUND when there was none, or another negative code.
 */
int cache_sqlite_delete(struct cache_sqlite *c, const char *domain, struct mxtls_diag *diag);

/*
 * cache_sqlite_each - call cb(entry, arg) for every valid row, in domain
 * order, to load the cache at startup. Invalid rows are skipped and counted
 * in *n_invalid (when not NULL); diag then describes the first of them.
 * Returns 0, the callback's non-zero value if it stopped the walk, or a
 * negative code when the database itself failed.
 */
int cache_sqlite_each(struct cache_sqlite *c, cache_sqlite_each_fn cb, void *arg, size_t *n_invalid,
                      struct mxtls_diag *diag);

/*
 * cache_sqlite_set_busy_timeout - how long a statement waits for a lock held
 * by another connection before it fails with MXTLS_EAGAIN (the cache.timeout
 * setting; CACHE_SQLITE_BUSY_MS until set).
 */
void cache_sqlite_set_busy_timeout(struct cache_sqlite *c, unsigned ms);

/*
 * cache_sqlite_begin, cache_sqlite_commit, cache_sqlite_rollback - group puts
 * and deletes in one transaction (one lock, one sync: a batch of writes costs
 * about what one does). begin takes the write lock at once (BEGIN IMMEDIATE)
 * and fails with MXTLS_EAGAIN when it stays locked past the busy timeout; a
 * failed commit rolls back. rollback without a transaction is a no-op.
 */
int cache_sqlite_begin(struct cache_sqlite *c, struct mxtls_diag *diag);
int cache_sqlite_commit(struct cache_sqlite *c, struct mxtls_diag *diag);
void cache_sqlite_rollback(struct cache_sqlite *c);

/* cache_sqlite_count - the number of rows, valid or not, into *n. */
int cache_sqlite_count(struct cache_sqlite *c, size_t *n, struct mxtls_diag *diag);

#endif
