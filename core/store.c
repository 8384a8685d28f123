/*
 * store - the cache backend's write-behind worker and its readers (see
 * store.h). Only io/cache_backend.h is used: no backend is named here.
 *
 * The queue is a FIFO of operations, one per domain (a table from domain to
 * its queued operation replaces a queued write in place, keeping its age).
 * The worker takes the whole queue as one batch, writes it in one
 * transaction and, when that fails, puts back what no newer change replaced.
 *
 * Reads (store_get) wait in a second FIFO for one of the reader threads;
 * each reader has its own backend connection while it has reads to answer,
 * and none while the worker recreates a lost file (s->reopening). An
 * answered read goes to the done list, and one byte down a pipe wakes the
 * loop, which calls the callbacks (store_dispatch). Threading rule: the
 * backend is called only by the worker (and by store_load before the first
 * write) and by the readers, each on its own connection, never under the
 * lock; everything shared with the loop is under s->lock.
 */
#include "store.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mxtls/domain.h"
#include "table.h"

struct store_op {
    struct store_op *next;
    bool delete;
    int64_t expired_at;   /* delete only a row fetched no later (an expired copy); 0: any */
    int64_t since_ms;     /* when the domain's first unwritten change was queued */
    struct cache_entry e; /* delete: only e.domain */
};

/* What a reader does for a request: read a record, or (a fleet) claim or mark a fetch. */
enum read_kind { READ_GET, READ_CLAIM, READ_MARK_FAILED };

struct store_read {
    struct store_read *next;
    struct store *s;
    store_read_cb cb; /* NULL: nothing to deliver (READ_MARK_FAILED) */
    void *arg;
    bool cancelled; /* under lock */
    enum read_kind kind;
    int64_t not_before_ms; /* a claim held elsewhere is asked again from then */
    int64_t deadline_ms;   /* ... until then; past it HELD is delivered */
    int64_t newer_than;    /* READ_CLAIM: a record fetched after this is HAVE */
    unsigned ttl_ms;       /* READ_CLAIM: how long a won claim holds */
    int failure;           /* READ_MARK_FAILED */
    int64_t failed_at;     /* READ_MARK_FAILED */
    char *why;             /* READ_MARK_FAILED, owned */
    struct store_row row;
    char domain[DOMAIN_BUF_SIZE];
    char id[STS_RECORD_ID_MAX + 1]; /* READ_CLAIM, READ_MARK_FAILED */
};

struct store {
    struct cache_backend *db; /* the worker's (and store_load's) only */
    const struct cache_backend_ops *ops;
    struct cache_backend_options bo; /* how every connection is opened (bo.path = path) */
    char *path;
    char *state_path; /* the side record */
    char owner[300];  /* host:pid, naming this daemon in a fleet's claims */
    struct store_config cfg;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    /* under lock */
    struct store_op *head, *tail;
    struct table *queued_by_domain; /* domain -> its op in the queue */
    size_t queued;
    size_t in_flight;
    int64_t in_flight_since_ms; /* oldest since_ms of the batch being written */
    bool stopping;
    bool warned_full;
    bool lag_warned;
    bool failing;
    int64_t failing_since_ms;
    bool repersist;
    bool watching;                    /* the load is over: the worker may check the file */
    struct store_health h;            /* counters and history (queued/oldest computed) */
    bool reopening;                   /* check_file recreates the file: readers close and wait */
    unsigned conns_open;              /* readers holding a connection */
    pthread_cond_t gate;              /* conns_open went down */
    struct store_read *rhead, *rtail; /* reads waiting for a reader */
    struct store_read *dhead, *dtail; /* reads answered, for the loop */
    bool notified;                    /* a byte is in the pipe for the done list */
    pthread_cond_t read_wake;
    /* readers and the loop */
    pthread_t readers[STORE_READERS_MAX];
    unsigned n_readers;
    int pipe_rd, pipe_wr; /* answered reads wake the loop */
    struct event *ev;     /* on pipe_rd, with a base */
    /* worker only */
    dev_t dev;
    ino_t ino;
    bool have_ino;
    int64_t next_check_ms;
    int64_t next_retry_ms; /* failing: when the failed batch is tried again */
    int64_t state_written_ms;
    bool state_dirty;
};

/* now_ms - the monotonic clock, for ages */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* op_free - an operation and what it owns */
static void op_free(struct store_op *op)
{
    cache_entry_finish(&op->e);
    free(op);
}

/* remember_inode - the device and inode the path names now */
static void remember_inode(struct store *s)
{
    struct stat st;
    s->have_ino = stat(s->path, &st) == 0;
    if (s->have_ino) {
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
}

/* read_state - the row count the side record holds; -1 when there is none */
static long long read_state(const struct store *s)
{
    char buf[64];
    if ((s->ops->flags & CACHE_BACKEND_FILE) == 0)
        return -1; /* a server keeps its own history */
    int fd = open(s->state_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "rows N\n": bounded, digits only */
    if (strncmp(buf, "rows ", 5) != 0)
        return -1;
    long long v = 0;
    const char *p = buf + 5;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (LLONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return *p == '\n' || *p == '\0' ? v : -1;
}

/* write_state - replace the side record with the current row count (tmp + rename) */
static void write_state(struct store *s)
{
    size_t rows = 0;
    struct mxtls_diag d = {0};
    if ((s->ops->flags & CACHE_BACKEND_FILE) == 0) {
        s->state_dirty = false;
        return;
    }
    if (s->ops->count == NULL || s->ops->count(s->db, &rows, &d) < 0)
        return; /* retried after the next batch */
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", s->state_path) >= (int)sizeof(tmp))
        return;
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    char line[64];
    int n = snprintf(line, sizeof(line), "rows %zu\n", rows);
    bool ok = write(fd, line, (size_t)n) == n;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, s->state_path) < 0)
        unlink(tmp);
    s->state_written_ms = now_ms();
    s->state_dirty = false;
}

/* set_error - remember a failure for store_health (under lock) */
static void set_error(struct store *s, const char *what)
{
    snprintf(s->h.last_error, sizeof(s->h.last_error), "%s", what);
}

/*
 * check_file - item 7: the path must still name the database we write. When
 * it was deleted or replaced, close (SQLite then removes our FILE-wal and
 * FILE-shm), open it again (which creates it) and ask the loop to write what
 * memory holds. Worker only.
 */
static void check_file(struct store *s)
{
    s->next_check_ms = now_ms() + STORE_CHECK_MS;
    if ((s->ops->flags & CACHE_BACKEND_FILE) == 0)
        return; /* not a local file: nothing to watch */
    struct stat st;
    bool present = stat(s->path, &st) == 0;
    if (s->db != NULL && s->have_ino && present && st.st_dev == s->dev && st.st_ino == s->ino)
        return;
    bool first = s->db != NULL;
    if (first) {
        log_msg(LOG_LEVEL_WARN,
                "cache: %s was %s while running: recreating it and writing every policy held "
                "in memory again",
                s->path, present ? "replaced by another file" : "deleted");
        /* No reader may hold the old file open: SQLite removes FILE-wal and
         * FILE-shm only with the last connection, and the new file must not
         * find the old ones. The readers close theirs and wait. */
        pthread_mutex_lock(&s->lock);
        s->reopening = true;
        pthread_cond_broadcast(&s->read_wake);
        while (s->conns_open > 0)
            pthread_cond_wait(&s->gate, &s->lock);
        pthread_mutex_unlock(&s->lock);
        cache_backend_close(s->db);
        s->db = NULL;
        pthread_mutex_lock(&s->lock);
        s->h.file_lost++;
        s->h.file_lost_at = (int64_t)time(NULL);
        pthread_mutex_unlock(&s->lock);
    }
    struct mxtls_diag d = {0};
    struct cache_backend *db = NULL;
    int err = cache_backend_open(s->ops->name, &s->bo, &db, &d);
    pthread_mutex_lock(&s->lock);
    s->reopening = false; /* failed or not: the readers never wait past this */
    pthread_cond_broadcast(&s->read_wake);
    if (err < 0) {
        set_error(s, d.what);
        pthread_mutex_unlock(&s->lock);
        if (first)
            log_msg(LOG_LEVEL_ERROR, "cache: cannot recreate %s: %s (retrying)", s->path, d.what);
        return;
    }
    s->repersist = true;
    pthread_mutex_unlock(&s->lock);
    s->db = db;
    remember_inode(s);
    s->state_dirty = true;
}

/* take_batch - move the whole queue into a list the worker owns (under lock) */
static struct store_op *take_batch(struct store *s, size_t *n)
{
    struct store_op *batch = s->head;
    int64_t oldest = 0;
    for (struct store_op *op = batch; op != NULL; op = op->next) {
        table_delete(s->queued_by_domain, op->e.domain);
        if (oldest == 0 || op->since_ms < oldest)
            oldest = op->since_ms;
    }
    *n = s->queued;
    s->head = s->tail = NULL;
    s->queued = 0;
    s->in_flight = *n;
    s->in_flight_since_ms = oldest;
    return batch;
}

/* put_back - a failed batch returns to the queue's front, unless a newer change replaced it */
static void put_back(struct store *s, struct store_op *batch)
{
    struct store_op *keep = NULL, *last = NULL;
    while (batch != NULL) {
        struct store_op *op = batch;
        batch = op->next;
        op->next = NULL;
        struct store_op *newer = table_get(s->queued_by_domain, op->e.domain);
        if (newer != NULL) {
            if (op->since_ms < newer->since_ms)
                newer->since_ms = op->since_ms; /* still unwritten since then */
            op_free(op);
            continue;
        }
        if (table_put(s->queued_by_domain, op->e.domain, op) < 0) {
            s->h.dropped++;
            op_free(op);
            continue;
        }
        if (last != NULL)
            last->next = op;
        else
            keep = op;
        last = op;
        s->queued++;
    }
    if (last != NULL) {
        last->next = s->head;
        s->head = keep;
        if (s->tail == NULL)
            s->tail = last;
    }
}

/*
 * newer_row - the row of op's domain was fetched after the copy that expired
 * (op->expired_at): a daemon sharing the file stored a newer policy. Read
 * inside the batch's transaction (SQLite: BEGIN IMMEDIATE holds the write
 * lock), so no write comes between this read and the delete.
 */
static bool newer_row(struct store *s, const struct store_op *op, struct mxtls_diag *d)
{
    struct cache_entry row = {0};
    bool newer = s->ops->get(s->db, op->e.domain, &row, d) == 0 && row.fetched_at > op->expired_at;
    cache_entry_finish(&row);
    return newer;
}

/* write_batch - one transaction; 0, or a negative code with diag (nothing committed) */
static int write_batch(struct store *s, struct store_op *batch, struct mxtls_diag *d)
{
    if (s->db == NULL)
        return mxtls_diag_set(d, MXTLS_EIO, 0, "%s: not open", s->path);
    const struct cache_backend_ops *ops = s->ops;
    int err = ops->begin != NULL ? ops->begin(s->db, d) : 0;
    if (err < 0)
        return err;
    for (struct store_op *op = batch; op != NULL; op = op->next) {
        struct mxtls_diag od = {0};
        if (op->expired_at > 0 && newer_row(s, op, &od)) /* a conditional delete */
            continue; /* another daemon sharing the file fetched it since: keep it */
        err = op->delete ? ops->del(s->db, op->e.domain, &od) : ops->put(s->db, &op->e, &od);
        if (err == MXTLS_EAGAIN || err == MXTLS_EIO || err == MXTLS_ENOMEM) {
            *d = od;
            if (ops->rollback != NULL)
                ops->rollback(s->db);
            return err;
        }
        if (err < 0 && err != MXTLS_ENOTFOUND) /* this row only: a bug, not the disk */
            log_msg(LOG_LEVEL_WARN, "cache: cannot %s %s: %s", op->delete ? "delete" : "store",
                    op->e.domain, od.what);
    }
    return ops->commit != NULL ? ops->commit(s->db, d) : 0;
}

/* worker - write queued operations until stopped and drained */
static void *worker(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        /*
         * Absolute deadlines, not "wait N ms": every enqueue wakes us, and a
         * relative wait restarted on each wakeup would never reach its end
         * under steady load (the failed batch never retried).
         */
        while ((s->head == NULL || s->failing) && !s->stopping) {
            int64_t t = now_ms();
            bool retry_due = s->failing && s->head != NULL && t >= s->next_retry_ms;
            if (retry_due)
                break; /* retry the failed batch */
            if (s->watching && t >= s->next_check_ms) {
                pthread_mutex_unlock(&s->lock);
                check_file(s);
                if (s->state_dirty && now_ms() - s->state_written_ms >= STORE_STATE_WRITE_S * 1000)
                    write_state(s);
                pthread_mutex_lock(&s->lock);
                continue;
            }
            int64_t until_ms = s->watching ? s->next_check_ms : t + STORE_CHECK_MS;
            if (s->failing && s->head != NULL && s->next_retry_ms < until_ms)
                until_ms = s->next_retry_ms;
            struct timespec until = {(time_t)(until_ms / 1000), (long)(until_ms % 1000) * 1000000};
            pthread_cond_timedwait(&s->wake, &s->lock, &until); /* CLOCK_MONOTONIC */
        }
        if (s->head == NULL && s->stopping)
            break; /* stopping and drained */
        size_t n = 0;
        struct store_op *batch = take_batch(s, &n);
        bool last_try = s->stopping;
        pthread_mutex_unlock(&s->lock);

        if (now_ms() >= s->next_check_ms)
            check_file(s); /* before writes too: never write into a deleted file */
        struct mxtls_diag d = {0};
        int err = write_batch(s, batch, &d);

        pthread_mutex_lock(&s->lock);
        s->in_flight = 0;
        if (err == 0) {
            s->h.written += n;
            s->state_dirty = true;
            if (s->failing) {
                int64_t secs = (now_ms() - s->failing_since_ms) / 1000;
                s->failing = false;
                s->h.failing = false;
                log_msg(LOG_LEVEL_INFO,
                        "cache: writes to %s work again after %" PRId64 " s; %zu policies written",
                        s->path, secs, n);
            }
            while (batch != NULL) {
                struct store_op *op = batch;
                batch = op->next;
                op_free(op);
            }
            continue;
        }
        s->h.failed++;
        set_error(s, d.what);
        if (last_try) {
            s->h.dropped += n;
            pthread_mutex_unlock(&s->lock);
            log_msg(LOG_LEVEL_ERROR, "cache: %zu writes lost at exit: %s", n, d.what);
            while (batch != NULL) {
                struct store_op *op = batch;
                batch = op->next;
                op_free(op);
            }
            pthread_mutex_lock(&s->lock);
            continue;
        }
        put_back(s, batch);
        s->next_retry_ms = now_ms() + STORE_RETRY_MS;
        if (!s->failing) {
            s->failing = true;
            s->h.failing = true;
            s->failing_since_ms = now_ms();
            size_t q = s->queued;
            pthread_mutex_unlock(&s->lock);
            log_msg(LOG_LEVEL_WARN,
                    "cache: cannot write to %s: %s; %zu writes kept queued and retried every "
                    "%d ms (a crash now loses them)",
                    s->path, d.what, q, STORE_RETRY_MS);
            pthread_mutex_lock(&s->lock);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* row_finish - free what a read's row owns */
static void row_finish(struct store_row *row)
{
    cache_entry_finish(&row->e);
    if (row->have_policy)
        sts_policy_finish(&row->policy);
    row->have_policy = false;
}

/* read_free - a request and what it owns */
static void read_free(struct store_read *r)
{
    row_finish(&r->row);
    free(r->why);
    free(r);
}

static void check_record(struct store *s, struct store_read *r, int err, struct mxtls_diag *dg);

/*
 * read_one - answer r on this reader's connection *conn (open). The record
 * is validated like a row loaded at startup: the backend checks its
 * encoding, and its policy text is parsed here (RFC 8461 §3.2 grammar); a
 * record for another domain is foreign. Reader thread only.
 */
static void read_one(struct store *s, struct cache_backend *conn, struct store_read *r)
{
    struct store_row *row = &r->row;
    struct mxtls_diag d = {0};
    int err = s->ops->get(conn, r->domain, &row->e, &d);
    check_record(s, r, err, &d);
}

/*
 * claim_one - ask the fleet who fetches r's policy id (cache_backend.h,
 * struct cache_claim). A record it hands back (HAVE) is validated like a
 * read: an invalid one is no record, so the caller claims again later and
 * the holder, or itself, fetches. Reader thread only.
 */
static void claim_one(struct store *s, struct cache_backend *conn, struct store_read *r)
{
    struct store_row *row = &r->row;
    struct cache_claim c = {0};
    struct mxtls_diag d = {0};
    int err = s->ops->claim(conn, r->domain, r->id, r->newer_than, s->owner, r->ttl_ms, &c, &d);
    row->claim = c.outcome;
    if (err < 0) {
        cache_entry_finish(&c.e);
        row->status = err;
        snprintf(row->why, sizeof(row->why), "%s", d.what);
        return;
    }
    if (c.outcome == CACHE_CLAIM_HAVE) {
        row->e = c.e;
        check_record(s, r, 0, &d);
        if (row->status == 0 && strcmp(row->e.id, r->id) == 0)
            return;
        row_finish(row);
        row->claim = CACHE_CLAIM_HELD; /* not usable: wait for a good one, or the claim */
        row->status = 0;
        row->why[0] = '\0';
        return;
    }
    row->status = 0;
    if (c.outcome == CACHE_CLAIM_FAILED) {
        row->failure = c.failure;
        row->failed_at = c.failed_at;
        snprintf(row->why, sizeof(row->why), "%s", c.why);
    }
}

/* mark_one - tell the fleet r's fetch failed; nothing is delivered. Reader thread only. */
static void mark_one(struct store *s, struct cache_backend *conn, struct store_read *r)
{
    struct mxtls_diag d = {0};
    r->row.status = s->ops->mark_failed(conn, r->domain, r->id, r->failure, r->failed_at,
                                        r->why != NULL ? r->why : "", STORE_FAILED_HOLD_S, &d);
    snprintf(r->row.why, sizeof(r->row.why), "%s", r->row.status < 0 ? d.what : "");
}

/*
 * check_record - the validation shared by a read and a claim's record:
 * the backend checked its encoding (err), the policy text is parsed here
 * (RFC 8461 §3.2 grammar), and a record for another domain is foreign.
 */
static void check_record(struct store *s, struct store_read *r, int err, struct mxtls_diag *dg)
{
    struct store_row *row = &r->row;
    struct mxtls_diag d = *dg;
    if (err == 0 && strcmp(row->e.domain, r->domain) != 0) {
        cache_entry_finish(&row->e);
        err = mxtls_diag_set(&d, MXTLS_EINVAL, 0, "%s: the record for %s names another domain",
                             s->path, r->domain);
    } else if (err == 0) {
        struct mxtls_diag pd = {0};
        if (sts_policy_parse(row->e.policy_text, row->e.policy_len, &row->policy, &pd) < 0) {
            cache_entry_finish(&row->e);
            err = mxtls_diag_set(&d, MXTLS_EINVAL, 0, "%s: cache record for %s: bad policy: %s",
                                 s->path, r->domain, pd.what);
        } else {
            row->have_policy = true;
        }
    }
    row->status = err;
    snprintf(row->why, sizeof(row->why), "%s", err < 0 ? d.what : "");
}

/*
 * reader_release - close this reader's connection and let a waiting
 * check_file go on (under lock)
 */
static void reader_release(struct store *s, struct cache_backend **conn)
{
    if (*conn == NULL)
        return;
    pthread_mutex_unlock(&s->lock);
    cache_backend_close(*conn);
    pthread_mutex_lock(&s->lock);
    *conn = NULL;
    s->conns_open--;
    pthread_cond_broadcast(&s->gate);
}

/* append_read - queue r for a reader (under lock) */
static void append_read(struct store *s, struct store_read *r)
{
    r->next = NULL;
    if (s->rtail != NULL)
        s->rtail->next = r;
    else
        s->rhead = r;
    s->rtail = r;
    pthread_cond_signal(&s->read_wake);
}

/*
 * take_ready - unlink the first queued request that may run at t (a claim
 * asked again waits for its not_before_ms); NULL when none, with *wake_ms
 * the earliest time one will be (0: none waits). Under lock.
 */
static struct store_read *take_ready(struct store *s, int64_t t, int64_t *wake_ms)
{
    struct store_read *prev = NULL;
    for (struct store_read *r = s->rhead; r != NULL; prev = r, r = r->next) {
        if (r->not_before_ms > t && !r->cancelled) {
            if (*wake_ms == 0 || r->not_before_ms < *wake_ms)
                *wake_ms = r->not_before_ms;
            continue;
        }
        if (prev != NULL)
            prev->next = r->next;
        else
            s->rhead = r->next;
        if (s->rtail == r)
            s->rtail = prev;
        r->next = NULL;
        return r;
    }
    return NULL;
}

/*
 * reader - answer queued reads until stopped (the reads still queued are
 * dropped). A reader opens its connection on its first read and keeps it,
 * but closes it at once when the worker must recreate a lost file
 * (s->reopening; woken for it), so that no connection of ours keeps the old
 * file's FILE-wal and FILE-shm alive beside the new file, and waits until the
 * new file is there.
 */
static void *reader(void *arg)
{
    struct store *s = arg;
    struct cache_backend *conn = NULL;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (conn != NULL && (s->reopening || s->stopping))
            reader_release(s, &conn);
        if (s->stopping)
            break;
        int64_t wake_ms = 0;
        struct store_read *r = s->reopening ? NULL : take_ready(s, now_ms(), &wake_ms);
        if (r == NULL) {
            if (wake_ms == 0) {
                pthread_cond_wait(&s->read_wake, &s->lock);
            } else {
                struct timespec until = {(time_t)(wake_ms / 1000),
                                         (long)(wake_ms % 1000) * 1000000};
                pthread_cond_timedwait(&s->read_wake, &s->lock, &until); /* CLOCK_MONOTONIC */
            }
            continue;
        }
        bool skip = r->cancelled;
        bool need_open = !skip && conn == NULL;
        if (need_open)
            s->conns_open++;
        pthread_mutex_unlock(&s->lock);
        if (need_open) {
            struct mxtls_diag d = {0};
            int err = cache_backend_open(s->ops->name, &s->bo, &conn, &d);
            if (err < 0) {
                conn = NULL;
                r->row.status = err;
                snprintf(r->row.why, sizeof(r->row.why), "%s", d.what);
            }
        }
        if (!skip && conn != NULL) {
            if (r->kind == READ_CLAIM)
                claim_one(s, conn, r);
            else if (r->kind == READ_MARK_FAILED)
                mark_one(s, conn, r);
            else
                read_one(s, conn, r);
        }
        pthread_mutex_lock(&s->lock);
        if (need_open && conn == NULL) {
            s->conns_open--;
            pthread_cond_broadcast(&s->gate);
        }
        if (!skip && r->kind == READ_CLAIM && r->row.status == 0 &&
            r->row.claim == CACHE_CLAIM_HELD && now_ms() < r->deadline_ms) {
            /* another daemon fetches: ask again shortly, without holding a thread */
            r->not_before_ms = now_ms() + STORE_CLAIM_POLL_MS;
            append_read(s, r);
            continue;
        }
        if (!skip && r->kind != READ_MARK_FAILED) {
            int st = r->row.status;
            s->h.read_failing = st < 0 && st != MXTLS_ENOTFOUND && st != MXTLS_EINVAL;
        }
        if (!skip && r->kind == READ_CLAIM) {
            if (r->row.status < 0)
                s->h.claims_failed++;
            else if ((unsigned)r->row.claim < 4)
                s->h.claims[r->row.claim]++;
        }
        if (!skip && r->kind == READ_GET) {
            s->h.reads++;
            if (r->row.status == 0)
                s->h.read_hits++;
            else if (r->row.status == MXTLS_EINVAL)
                s->h.read_invalid++;
            else if (r->row.status != MXTLS_ENOTFOUND)
                s->h.read_failed++;
        }
        if (!skip && r->row.status < 0 && r->row.status != MXTLS_ENOTFOUND &&
            r->row.status != MXTLS_EINVAL && r->row.status != MXTLS_EAGAIN)
            reader_release(s, &conn); /* unusable: the next read opens it again */
        if (r->cb == NULL) {
            read_free(r);
            continue;
        }
        if (s->dtail != NULL)
            s->dtail->next = r;
        else
            s->dhead = r;
        s->dtail = r;
        if (!s->notified) {
            s->notified = true;
            ssize_t w = write(s->pipe_wr, "r", 1); /* one byte per wakeup: never full */
            (void)w;
        }
    }
    reader_release(s, &conn);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* store_get - queue a read for a reader thread */
struct store_read *store_get(struct store *s, const char *domain, store_read_cb cb, void *arg)
{
    struct store_read *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    snprintf(r->domain, sizeof(r->domain), "%s", domain);
    r->s = s;
    r->cb = cb;
    r->arg = arg;
    pthread_mutex_lock(&s->lock);
    append_read(s, r);
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* store_fleet - the backend coordinates fetches across daemons */
bool store_fleet(const struct store *s)
{
    return s != NULL && s->ops->claim != NULL;
}

/* store_claim - queue a claim; a HELD answer is asked again by the readers until wait_ms */
struct store_read *store_claim(struct store *s, const char *domain, const char *id,
                               int64_t newer_than, unsigned ttl_ms, unsigned wait_ms,
                               store_read_cb cb, void *arg)
{
    struct store_read *r = store_fleet(s) ? calloc(1, sizeof(*r)) : NULL;
    if (r == NULL)
        return NULL;
    r->kind = READ_CLAIM;
    snprintf(r->domain, sizeof(r->domain), "%s", domain);
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->newer_than = newer_than;
    r->ttl_ms = ttl_ms;
    r->deadline_ms = now_ms() + wait_ms;
    r->s = s;
    r->cb = cb;
    r->arg = arg;
    pthread_mutex_lock(&s->lock);
    append_read(s, r);
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* store_mark_failed - queue the fleet's note of a failed fetch (no callback) */
void store_mark_failed(struct store *s, const char *domain, const char *id, int failure, int64_t at,
                       const char *why)
{
    struct store_read *r = store_fleet(s) ? calloc(1, sizeof(*r)) : NULL;
    if (r == NULL)
        return;
    r->kind = READ_MARK_FAILED;
    snprintf(r->domain, sizeof(r->domain), "%s", domain);
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->failure = failure;
    r->failed_at = at;
    r->why = strdup(why != NULL ? why : "");
    r->s = s;
    pthread_mutex_lock(&s->lock);
    append_read(s, r);
    pthread_mutex_unlock(&s->lock);
}

/* store_read_cancel - mark r; the reader or store_dispatch frees it without a call */
void store_read_cancel(struct store_read *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->s->lock);
    r->cancelled = true;
    pthread_mutex_unlock(&r->s->lock);
}

/* store_event_fd - the pipe's read end */
int store_event_fd(const struct store *s)
{
    return s->pipe_rd;
}

/* store_dispatch - call the answered reads' callbacks (loop thread) */
size_t store_dispatch(struct store *s)
{
    char buf[64];
    while (read(s->pipe_rd, buf, sizeof(buf)) > 0)
        continue;
    pthread_mutex_lock(&s->lock);
    struct store_read *list = s->dhead;
    s->dhead = s->dtail = NULL;
    s->notified = false;
    pthread_mutex_unlock(&s->lock);
    size_t n = 0;
    while (list != NULL) {
        struct store_read *r = list;
        list = r->next;
        /* checked just before the call: an earlier callback may cancel r */
        pthread_mutex_lock(&s->lock);
        bool live = !r->cancelled;
        pthread_mutex_unlock(&s->lock);
        if (live) {
            r->cb(&r->row, r->arg);
            n++;
        }
        read_free(r);
    }
    return n;
}

/* on_pipe - the loop's event on the pipe */
static void on_pipe(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    store_dispatch(arg);
}

/* free_reads - reads never delivered (store_close): no callbacks */
static void free_reads(struct store_read *list)
{
    while (list != NULL) {
        struct store_read *r = list;
        list = r->next;
        read_free(r);
    }
}

/* store_open - open the backend and start the worker and the readers */
struct store *store_open(const char *path, const struct store_config *sc, struct mxtls_diag *diag)
{
    struct store *s = calloc(1, sizeof(*s));
    size_t plen = strlen(path);
    if (s != NULL) {
        s->path = strdup(path);
        s->state_path = malloc(plen + sizeof(STORE_STATE_SUFFIX));
        s->queued_by_domain = table_new();
    }
    if (s == NULL || s->path == NULL || s->state_path == NULL || s->queued_by_domain == NULL) {
        if (s != NULL) {
            free(s->path);
            free(s->state_path);
            table_free(s->queued_by_domain);
        }
        free(s);
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
        return NULL;
    }
    memcpy(s->state_path, path, plen);
    memcpy(s->state_path + plen, STORE_STATE_SUFFIX, sizeof(STORE_STATE_SUFFIX));
    if (sc != NULL)
        s->cfg = *sc;
    if (s->cfg.busy_ms == 0)
        s->cfg.busy_ms = STORE_BUSY_MS;
    if (s->cfg.queue_max == 0)
        s->cfg.queue_max = STORE_QUEUE_MAX;
    if (s->cfg.lag_warning_ms == 0)
        s->cfg.lag_warning_ms = STORE_LAG_WARNING_MS;
    snprintf(s->h.path, sizeof(s->h.path), "%s", path);
    s->pipe_rd = s->pipe_wr = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->gate, NULL);
    /* The worker's and readers' deadlines are monotonic: a wall-clock step must not stall them. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &ca);
    pthread_cond_init(&s->read_wake, &ca);
    pthread_condattr_destroy(&ca);
    s->bo.path = s->path;
    s->bo.busy_ms = s->cfg.busy_ms;
    s->bo.cf = s->cfg.cf;
    const char *type = s->cfg.type != NULL ? s->cfg.type : "sqlite";
    if (cache_backend_open(type, &s->bo, &s->db, diag) < 0) {
        store_close(s);
        return NULL;
    }
    s->ops = s->db->ops;
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    snprintf(s->owner, sizeof(s->owner), "%s:%ld", host, (long)getpid());
    remember_inode(s);
    s->next_check_ms = now_ms() + STORE_CHECK_MS;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        mxtls_diag_set(diag, MXTLS_EIO, 0, "cache: cannot make the readers' pipe: %s",
                       strerror(errno));
        store_close(s);
        return NULL;
    }
    s->pipe_rd = fds[0];
    s->pipe_wr = fds[1];
    if (s->cfg.base != NULL) {
        s->ev = event_new(s->cfg.base, s->pipe_rd, EV_READ | EV_PERSIST, on_pipe, s);
        if (s->ev == NULL || event_add(s->ev, NULL) < 0) {
            mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "cache: cannot watch the readers' pipe");
            store_close(s);
            return NULL;
        }
    }
    if (pthread_create(&s->thread, NULL, worker, s) != 0) {
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "cannot start the cache writer thread");
        store_close(s);
        return NULL;
    }
    s->started = true;
    /* cache.threads: the readers that serve misses, each with its own connection */
    long want = s->cfg.readers > 0 ? (long)s->cfg.readers : sysconf(_SC_NPROCESSORS_ONLN);
    if (want < 1)
        want = 1;
    if (want > STORE_READERS_MAX)
        want = STORE_READERS_MAX;
    while (s->n_readers < (unsigned)want &&
           pthread_create(&s->readers[s->n_readers], NULL, reader, s) == 0)
        s->n_readers++;
    if (s->n_readers == 0) {
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "cannot start a cache reader thread");
        store_close(s);
        return NULL;
    }
    s->h.readers = s->n_readers;
    return s;
}

/*
 * store_load - replay the file; the worker is idle since nothing is queued
 * yet. Then item 7: a file that held rows at the last run (the side record)
 * and now holds none was truncated, replaced or deleted: say so loudly, since
 * every MTA-STS domain it protected is unprotected until fetched again.
 */
int store_load(struct store *s, cache_backend_walk_fn cb, void *arg, size_t *n_invalid,
               struct mxtls_diag *diag)
{
    long long had = read_state(s);
    pthread_mutex_lock(&s->lock);
    int err = s->ops->walk(s->db, cb, arg, n_invalid, diag);
    size_t rows = 0;
    struct mxtls_diag cd = {0};
    int cerr = err < 0                 ? err
               : s->ops->count != NULL ? s->ops->count(s->db, &rows, &cd)
                                       : MXTLS_ENOTFOUND;
    if (cerr == 0 && had > 0 && rows == 0) {
        s->h.shrank = true;
        s->h.shrank_from = (size_t)had;
        snprintf(s->h.start_warning, sizeof(s->h.start_warning),
                 "%s held %lld policies at the last run and now holds none (truncated, replaced "
                 "or deleted): the MTA-STS domains it protected are unprotected until their "
                 "policies are fetched again",
                 s->path, had);
    }
    if (cerr == 0)
        write_state(s); /* still under the lock: the worker does not touch the file yet */
    s->watching = true;
    pthread_mutex_unlock(&s->lock);
    if (s->h.shrank)
        log_msg(LOG_LEVEL_WARN, "cache: %s", s->h.start_warning);
    if (err < 0 && (s->ops->flags & CACHE_BACKEND_FILE) == 0) {
        /* A fleet's server down at startup: this daemon starts empty and reads through. */
        log_msg(LOG_LEVEL_WARN,
                "cache: cannot load the policies of %s: %s; starting with none in memory "
                "(misses are read from it once it answers)",
                s->path, diag->what);
        err = 0;
    }
    return err;
}

/* enqueue - add op, replacing the domain's queued one, or drop it when the queue is full */
static void enqueue(struct store *s, struct store_op *op)
{
    op->since_ms = now_ms();
    pthread_mutex_lock(&s->lock);
    s->watching = true;
    struct store_op *old = table_get(s->queued_by_domain, op->e.domain);
    if (old != NULL) {
        /* coalesce: the newest change wins, the age of the oldest stays */
        cache_entry_finish(&old->e);
        old->e = op->e;
        old->delete = op->delete;
        old->expired_at = op->expired_at;
        pthread_mutex_unlock(&s->lock);
        free(op);
        return;
    }
    if (s->queued >= s->cfg.queue_max || table_put(s->queued_by_domain, op->e.domain, op) < 0) {
        bool warn = !s->warned_full;
        s->warned_full = true;
        s->h.dropped++;
        pthread_mutex_unlock(&s->lock);
        if (warn)
            log_msg(LOG_LEVEL_WARN,
                    "cache: %zu domains' writes pending (store_queue_max), dropping writes "
                    "until it drains",
                    s->cfg.queue_max);
        op_free(op);
        return;
    }
    if (s->queued == 0)
        s->warned_full = false;
    if (s->tail != NULL)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
    s->queued++;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

/* store_put - queue a copy of e */
void store_put(struct store *s, const struct cache_entry *e)
{
    struct store_op *op = calloc(1, sizeof(*op));
    char *text = malloc(e->policy_len + 1);
    if (op == NULL || text == NULL) {
        free(op);
        free(text);
        log_msg(LOG_LEVEL_WARN, "cache: out of memory, %s not persisted", e->domain);
        return;
    }
    op->e = *e;
    memcpy(text, e->policy_text, e->policy_len);
    text[e->policy_len] = '\0';
    op->e.policy_text = text;
    enqueue(s, op);
}

/* store_delete - queue a removal */
void store_delete(struct store *s, const char *domain)
{
    store_delete_expired(s, domain, 0);
}

/* store_delete_expired - queue a removal of a row fetched no later than fetched_at */
void store_delete_expired(struct store *s, const char *domain, int64_t fetched_at)
{
    struct store_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return;
    op->delete = true;
    op->expired_at = fetched_at;
    snprintf(op->e.domain, sizeof(op->e.domain), "%s", domain);
    enqueue(s, op);
}

/* oldest_locked - age in ms of the oldest write not on disk, 0 when none (under lock) */
static int64_t oldest_locked(const struct store *s, int64_t t)
{
    int64_t since = 0;
    if (s->in_flight > 0)
        since = s->in_flight_since_ms;
    for (const struct store_op *op = s->head; op != NULL; op = op->next)
        if (since == 0 || op->since_ms < since)
            since = op->since_ms;
    return since == 0 ? 0 : t - since;
}

/* store_watch - the lag warning, its recovery line, and the re-persist request */
int store_watch(struct store *s)
{
    if (s == NULL)
        return 0;
    int64_t t = now_ms();
    pthread_mutex_lock(&s->lock);
    int64_t age = oldest_locked(s, t);
    size_t pending = s->queued + s->in_flight;
    bool warn = false, recovered = false;
    if (age > (int64_t)s->cfg.lag_warning_ms && !s->lag_warned) {
        s->lag_warned = warn = true;
        s->h.lagging = true;
    } else if (s->lag_warned && age <= (int64_t)s->cfg.lag_warning_ms) {
        s->lag_warned = false;
        s->h.lagging = false;
        recovered = true;
    }
    char why[sizeof(s->h.last_error)];
    snprintf(why, sizeof(why), "%s",
             s->failing ? s->h.last_error : "waiting for the database (locked or slow disk?)");
    int want = s->repersist ? STORE_WANT_REPERSIST : 0;
    s->repersist = false;
    pthread_mutex_unlock(&s->lock);
    if (warn)
        log_msg(LOG_LEVEL_WARN,
                "cache: writes to %s lag %" PRId64 " ms behind (over store_lag_warning), %zu "
                "not on disk (a crash now loses them): %s",
                s->path, age, pending, why);
    if (recovered)
        log_msg(LOG_LEVEL_INFO, "cache: writes to %s caught up (%zu not on disk)", s->path,
                pending);
    return want;
}

/* store_health - a snapshot for explain.c */
void store_health(const struct store *cs, struct store_health *h)
{
    memset(h, 0, sizeof(*h));
    if (cs == NULL)
        return;
    struct store *s = (struct store *)cs; /* the lock only */
    pthread_mutex_lock(&s->lock);
    *h = s->h;
    h->queued = s->queued + s->in_flight;
    h->oldest_ms = oldest_locked(s, now_ms());
    pthread_mutex_unlock(&s->lock);
}

/* store_close - drain (one last attempt), join, close */
void store_close(struct store *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    s->failing = false; /* one last attempt, at once */
    pthread_cond_signal(&s->wake);
    pthread_cond_broadcast(&s->read_wake);
    pthread_mutex_unlock(&s->lock);
    for (unsigned i = 0; i < s->n_readers; i++)
        pthread_join(s->readers[i], NULL);
    if (s->started) {
        pthread_join(s->thread, NULL);
        if (s->db != NULL && s->state_dirty)
            write_state(s);
    }
    free_reads(s->rhead);
    free_reads(s->dhead);
    if (s->ev != NULL)
        event_free(s->ev);
    if (s->pipe_rd >= 0)
        close(s->pipe_rd);
    if (s->pipe_wr >= 0)
        close(s->pipe_wr);
    while (s->head != NULL) {
        struct store_op *op = s->head;
        s->head = op->next;
        op_free(op);
    }
    cache_backend_close(s->db);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->read_wake);
    pthread_cond_destroy(&s->gate);
    table_free(s->queued_by_domain);
    free(s->path);
    free(s->state_path);
    free(s);
}
