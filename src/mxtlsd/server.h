/*
 * server - mxtlsd's listening sockets and the set of client sessions: the
 * skeleton (Postfix's multi_server.c) that owns every connection.
 *
 * Two instances: the policy server (Postfix's socketmap port) and, when the
 * configuration names one, the control server (control.c: explain today,
 * admin and metrics later), which the policy server owns (srv->control) and
 * starts, drains and frees with itself. Both run the same sessions
 * (session.c); a session's kind is its server's. Only this file links,
 * unlinks and counts sessions: a session that is done calls
 * server_session_close, the one function that unlinks, frees and counts.
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

enum server_kind {
    SERVER_POLICY,  /* Postfix's socketmap listener */
    SERVER_CONTROL, /* the control socket (control.h) */
};

/* Where an instance listens: a Unix socket (path, mode) or TCP (host, port). */
struct server_addr {
    const char *path; /* borrowed from the configuration */
    int mode;         /* -1: as the umask leaves it */
    const char *host;
    uint16_t port;
    bool reuse_port;
    int backlog;
};

/* A session's place in its server's list: only server.c reads or writes it. */
struct server_link {
    struct session *prev, *next;
};

#define SESSION_IDLE_S  300 /* a connection with no partial request is closed after this */
#define SESSION_WRITE_S 30  /* a peer that does not read its replies is dropped */

#define SERVER_FD_MARGIN       64  /* descriptors for the log, SQLite, the loop, fetches */
#define SERVER_ACCEPT_RETRY_MS 250 /* after a failed accept, try again this much later */
#define SERVER_EPISODE_QUIET_S 2   /* an episode ends after this long without a pause */

struct server {
    struct event_base *base;
    const struct mxtls_config *cfg;
    struct pipeline pipeline;
    /* the control socket's owner (-u, -g; NULL = the user mxtlsd runs as) */
    const char *control_user, *control_group;
    enum server_kind kind;
    struct server *control; /* policy: the control server, or NULL (owned) */
    struct server *policy;  /* control: the policy server (its pipeline, its drain) */
    struct server_addr addr;
    unsigned idle_s; /* SESSION_IDLE_S, or CONTROL_IDLE_S */
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
 * start accepting on the policy address, then open the control socket when
 * the configuration names one (control_listen); 0, or a negative code with
 * diag. Called while still privileged: the control socket is chowned to
 * control_user/control_group.
 */
int server_listen(struct server *srv, struct mxtls_diag *diag);

/*
 * server_listen_addr - bind srv->addr and accept with at most max_sessions
 * sessions (an instance other than the policy server: control.c); 0, or a
 * negative code with diag.
 */
int server_listen_addr(struct server *srv, struct mxtls_diag *diag);

/*
 * server_drain - stop accepting (the control server too) and finish; the
 * loop exits when neither has a session left.
 */
void server_drain(struct server *srv);

/*
 * server_session_close - the one way a session ends: unlink it from its
 * server, free it (session_destroy: its lookup cancelled, its socket
 * closed), count it down; a drain may end, accepting may resume. s is gone
 * when this returns.
 */
void server_session_close(struct server *srv, struct session *s);

/* server_pipeline - the lookup pipeline sessions of srv use (the policy server's) */
struct pipeline *server_pipeline(struct server *srv);

/* server_close - free the listeners and every session (at exit), the control server's too. */
void server_close(struct server *srv);

#endif
