/*
 * store - SQLite write-through worker thread (see store.h).
 */
#include "store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct store_op {
    struct store_op *next;
    bool delete;
    struct cache_entry e; /* delete: only e.domain */
};

struct store {
    struct cache_sqlite *db;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct store_op *head, *tail;
    size_t queued;
    bool stopping;
    bool warned_full;
};

/* worker - write queued operations until stopped and drained */
static void *worker(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->head == NULL && !s->stopping)
            pthread_cond_wait(&s->wake, &s->lock);
        struct store_op *op = s->head;
        if (op == NULL)
            break; /* stopping and drained */
        s->head = op->next;
        if (s->head == NULL)
            s->tail = NULL;
        s->queued--;
        pthread_mutex_unlock(&s->lock);

        struct mxtls_diag d = {0};
        int err = op->delete ? cache_sqlite_delete(s->db, op->e.domain, &d)
                             : cache_sqlite_put(s->db, &op->e, &d);
        if (err < 0 && err != MXTLS_ENOTFOUND)
            log_msg(LOG_LEVEL_WARN, "cache: cannot %s %s: %s", op->delete ? "delete" : "store",
                    op->e.domain, d.what);
        cache_entry_finish(&op->e);
        free(op);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* store_open - open the database and start the worker */
struct store *store_open(const char *path, struct mxtls_diag *diag)
{
    struct store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
        return NULL;
    }
    if (cache_sqlite_open(path, &s->db, diag) < 0) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (pthread_create(&s->thread, NULL, worker, s) != 0) {
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "cannot start the cache writer thread");
        store_close(s);
        return NULL;
    }
    s->started = true;
    return s;
}

/* store_load - replay the file; the worker is idle since nothing is queued yet */
int store_load(struct store *s, cache_sqlite_each_fn cb, void *arg, size_t *n_invalid,
               struct mxtls_diag *diag)
{
    pthread_mutex_lock(&s->lock);
    int err = cache_sqlite_each(s->db, cb, arg, n_invalid, diag);
    pthread_mutex_unlock(&s->lock);
    return err;
}

/* enqueue - append op, or drop it when the queue is full */
static void enqueue(struct store *s, struct store_op *op)
{
    pthread_mutex_lock(&s->lock);
    if (s->queued >= STORE_QUEUE_MAX) {
        bool warn = !s->warned_full;
        s->warned_full = true;
        pthread_mutex_unlock(&s->lock);
        if (warn)
            log_msg(LOG_LEVEL_WARN, "cache: %d writes pending, dropping writes until it drains",
                    STORE_QUEUE_MAX);
        cache_entry_finish(&op->e);
        free(op);
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
    struct store_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return;
    op->delete = true;
    snprintf(op->e.domain, sizeof(op->e.domain), "%s", domain);
    enqueue(s, op);
}

/* store_close - drain, join, close */
void store_close(struct store *s)
{
    if (s == NULL)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    cache_sqlite_close(s->db);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    free(s);
}
