/*
 * inflight - work in flight shared by its waiters (see inflight.h).
 */
#include "inflight.h"

#include <stdlib.h>

/* unlink - take work off its running list (no-op when not on one) */
static void unlink_work(struct inflight *work)
{
    struct inflight_list *l = work->list;
    if (l == NULL)
        return;
    if (work->prev != NULL)
        work->prev->next = work->next;
    else
        l->head = work->next;
    if (work->next != NULL)
        work->next->prev = work->prev;
    work->prev = work->next = NULL;
    work->list = NULL;
    l->count--;
}

/* inflight_start - initialise and link in at the head */
void inflight_start(struct inflight *work, struct inflight_list *list,
                    void (*abandoned)(struct inflight *work))
{
    work->prev = work->next = NULL;
    work->waiters = NULL;
    work->abandoned = abandoned;
    work->list = list;
    if (list == NULL)
        return;
    work->next = list->head;
    if (list->head != NULL)
        list->head->prev = work;
    list->head = work;
    list->count++;
}

/* inflight_join - push a live waiter */
void inflight_join(struct inflight *work, struct inflight_wait *w)
{
    w->work = work;
    w->live = true;
    w->next = work->waiters;
    work->waiters = w;
}

/* inflight_live - any live waiter */
bool inflight_live(const struct inflight *work)
{
    for (const struct inflight_wait *w = work->waiters; w != NULL; w = w->next)
        if (w->live)
            return true;
    return false;
}

/* inflight_wait_cancel - mark dead; the last one abandons the work */
void inflight_wait_cancel(struct inflight_wait *w)
{
    w->live = false;
    struct inflight *work = w->work;
    if (work == NULL || work->abandoned == NULL || inflight_live(work))
        return;
    work->abandoned(work);
}

/* inflight_detach - off the list; the waiters, detached */
struct inflight_wait *inflight_detach(struct inflight *work)
{
    unlink_work(work);
    struct inflight_wait *waiters = work->waiters;
    work->waiters = NULL;
    for (struct inflight_wait *w = waiters; w != NULL; w = w->next)
        w->work = NULL; /* a cancel from a callback must not touch the work */
    return waiters;
}

/* inflight_deliver - call the live waiters, free all */
void inflight_deliver(struct inflight_wait *waiters, void (*fn)(struct inflight_wait *w, void *arg),
                      void *arg)
{
    while (waiters != NULL) {
        struct inflight_wait *w = waiters;
        waiters = w->next;
        if (w->live)
            fn(w, arg);
        free(w);
    }
}

/* inflight_finish - off the list, waiters freed uncalled */
void inflight_finish(struct inflight *work)
{
    unlink_work(work);
    while (work->waiters != NULL) {
        struct inflight_wait *w = work->waiters;
        work->waiters = w->next;
        free(w);
    }
}

/* inflight_first - the head of the running list */
struct inflight *inflight_first(const struct inflight_list *list)
{
    return list->head;
}
