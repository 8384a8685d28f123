/*
 * server - mxtlsd's listening socket and the set of client sessions.
 *
 * server_listen binds TCP (host, port, optionally SO_REUSEPORT) or a Unix
 * socket (path, mode) from the configuration and accepts connections on the
 * event loop, one session each (session.c). server_drain stops accepting,
 * closes idle sessions, lets each busy one finish its request, and breaks the
 * loop when none is left or after shutdown_timeout (SIGTERM, DESIGN of the
 * daemon it replaces). Failures to bind are returned with a reason.
 */
#ifndef MXTLSD_SERVER_H
#define MXTLSD_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "lookup.h"
#include "mxtls/diag.h"

struct event_base;
struct evconnlistener;
struct event;
struct session;

#define SESSION_IDLE_S  300 /* an idle or half-sent connection is closed after this */
#define SESSION_WRITE_S 30  /* a peer that does not read its replies is dropped */

struct server {
    struct event_base *base;
    const struct mxtls_config *cfg;
    struct pipeline pipeline;
    struct evconnlistener *listener;
    struct session *sessions; /* doubly linked */
    size_t n_sessions;
    bool draining;
    struct event *drain_timer;
    unsigned long long requests;
};

/* server_listen - bind and start accepting; 0, or a negative code with diag. */
int server_listen(struct server *srv, struct mxtls_diag *diag);

/* server_drain - stop accepting and finish; the loop exits when done. */
void server_drain(struct server *srv);

/* server_session_gone - called by a session as it is freed. */
void server_session_gone(struct server *srv);

/* server_close - free the listener and every session (at exit). */
void server_close(struct server *srv);

#endif
