/*
 * server - mxtlsd's listening socket and the set of client sessions.
 *
 * server_listen binds TCP (host, port, optionally SO_REUSEPORT) or a Unix
 * socket (path, mode) from the configuration and accepts connections on the
 * event loop, one session each (session.c). server_drain stops accepting,
 * closes idle sessions, lets each busy one finish its request, and breaks the
 * loop when none is left or after shutdown_timeout (SIGTERM, DESIGN of the
 * daemon it replaces). Failures to bind are returned with a reason.
 *
 * Descriptors are a budget. At start server_listen raises the soft
 * RLIMIT_NOFILE to the hard limit; when max_connections, the resolver's
 * outgoing_range and outgoing_num_tcp and SERVER_FD_MARGIN do not fit under
 * it, a warning says so and fewer connections are accepted. With
 * max_sessions connections open the listener is disabled until one ends: the
 * kernel's listen queue holds the next ones (Postfix waits, it is not
 * refused). When accept fails anyway (EMFILE, ENFILE, ENOBUFS...), the
 * listener is disabled and retried every SERVER_ACCEPT_RETRY_MS, or at once
 * when a session ends, instead of spinning on a listening socket that stays
 * readable. Either is one "episode", logged once when it starts and once,
 * with its counts, when accepting has gone SERVER_EPISODE_QUIET_S without a
 * pause.
 */
#ifndef MXTLSD_SERVER_H
#define MXTLSD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "lookup.h"
#include "mxtls/diag.h"

struct event_base;
struct evconnlistener;
struct event;
struct session;

#define SESSION_IDLE_S  300 /* a connection with no partial request is closed after this */
#define SESSION_WRITE_S 30  /* a peer that does not read its replies is dropped */

#define SERVER_FD_MARGIN       64  /* descriptors for the log, SQLite, the loop, fetches */
#define SERVER_ACCEPT_RETRY_MS 250 /* after a failed accept, try again this much later */
#define SERVER_EPISODE_QUIET_S 2   /* an episode ends after this long without a pause */

struct server {
    struct event_base *base;
    const struct mxtls_config *cfg;
    struct pipeline pipeline;
    struct evconnlistener *listener;
    struct session *sessions; /* doubly linked */
    size_t n_sessions;
    size_t max_sessions; /* max_connections, lowered to fit the descriptor limit */
    bool draining;
    struct event *drain_timer;
    unsigned long long requests;
    /* accepting paused: at max_sessions, or accept failed (retry_timer) */
    bool paused;
    struct event *retry_timer;
    struct event *episode_timer;
    struct {
        bool active;
        struct timespec started, last_paused; /* CLOCK_MONOTONIC */
        unsigned long long at_limit;          /* pauses at max_sessions */
        unsigned long long accept_errors;     /* failed accept() calls */
        size_t peak;                          /* most sessions open */
    } episode;
};

/*
 * server_listen - raise the descriptor limit, size max_sessions, bind and
 * start accepting; 0, or a negative code with diag.
 */
int server_listen(struct server *srv, struct mxtls_diag *diag);

/* server_drain - stop accepting and finish; the loop exits when done. */
void server_drain(struct server *srv);

/* server_session_gone - called by a session as it is freed; may resume accepting. */
void server_session_gone(struct server *srv);

/* server_close - free the listener and every session (at exit). */
void server_close(struct server *srv);

#endif
