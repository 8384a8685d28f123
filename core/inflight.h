/*
 * inflight - one piece of work in flight (a DANE facts gathering, an MTA-STS
 * refresh), shared by the requests waiting for it, and the list of such
 * work a cache has running (unbound's outside_network shares one query
 * among its waiters the same way).
 *
 * The owner embeds a struct inflight in its work and a struct inflight_wait
 * as the FIRST member of its waiter (so freeing the link frees the waiter:
 * waiters are heap objects that this module frees). A waiter is live until
 * cancelled; when its last live waiter is cancelled the work's `abandoned`
 * function, if any, runs (dane cancels its DNS queries and frees the
 * gathering; an MTA-STS refresh has none and runs on for the cache).
 * Completion first detaches every waiter (inflight_detach), so the owner can
 * free the work (and a callback can start new work under the same key)
 * before inflight_deliver calls the live ones; a waiter cancelled by an
 * earlier callback is skipped. Nothing here allocates, logs or fails.
 * Event loop thread only.
 */
#ifndef CORE_INFLIGHT_H
#define CORE_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>

struct inflight;

/* One waiter: the first member of the owner's waiter struct (heap). */
struct inflight_wait {
    struct inflight_wait *next;
    struct inflight *work; /* NULL once detached (the work completed) */
    bool live;             /* false once cancelled */
};

/* The work in flight, embedded in the owner's struct. */
struct inflight {
    struct inflight *prev, *next; /* the running list */
    struct inflight_list *list;   /* NULL when not on a list */
    struct inflight_wait *waiters;
    void (*abandoned)(struct inflight *work); /* last live waiter cancelled; NULL: keep running */
};

/* A cache's running work (zero-initialised = empty). */
struct inflight_list {
    struct inflight *head;
    size_t count;
};

/*
 * inflight_start - initialise work and put it on list (may be NULL);
 * abandoned (may be NULL) is called from inflight_wait_cancel when the last
 * live waiter goes; it must take the work off its list (inflight_finish).
 */
void inflight_start(struct inflight *work, struct inflight_list *list,
                    void (*abandoned)(struct inflight *work));

/* inflight_join - w (allocated by the caller, then owned here) waits for work. */
void inflight_join(struct inflight *work, struct inflight_wait *w);

/* inflight_live - does any live waiter wait for work? */
bool inflight_live(const struct inflight *work);

/*
 * inflight_wait_cancel - w's callback will not be called. When w's work is
 * still running and no live waiter is left, its abandoned function runs.
 * w itself is freed with the work's waiters, never here.
 */
void inflight_wait_cancel(struct inflight_wait *w);

/*
 * inflight_detach - the work completes: take it off its list and return its
 * waiters (each now detached: a cancel no longer reaches the work). The
 * caller then frees the work as it likes and calls inflight_deliver.
 */
struct inflight_wait *inflight_detach(struct inflight *work);

/*
 * inflight_deliver - call fn(w, arg) for each live waiter of a detached list,
 * in order, checking liveness just before each call (a callback may cancel
 * a later waiter), and free every waiter.
 */
void inflight_deliver(struct inflight_wait *waiters, void (*fn)(struct inflight_wait *w, void *arg),
                      void *arg);

/*
 * inflight_finish - the work is freed without an answer (all waiters gone,
 * or the cache freed): take it off its list and free its waiters without
 * calling them. Idempotent after inflight_detach.
 */
void inflight_finish(struct inflight *work);

/* inflight_first - the list's first running work, or NULL (to free them all). */
struct inflight *inflight_first(const struct inflight_list *list);

#endif
