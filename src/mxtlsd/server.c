/*
 * server - bind, accept, drain (see server.h).
 */
#include "server.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "session.h"

/* on_accept - a new Postfix connection */
static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    struct server *srv = arg;
    if (session_new(srv, fd) == NULL)
        log_msg(LOG_LEVEL_WARN, "out of memory: connection refused");
}

/* on_accept_error - EMFILE and friends: log, keep listening */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    log_msg(LOG_LEVEL_WARN, "accept: %s", strerror(errno));
}

/* listen_unix - bind the Unix socket, replacing a stale socket file */
static int listen_unix(struct server *srv, unsigned flags, struct mxtls_diag *diag)
{
    const struct mxtls_config *cfg = srv->cfg;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    if (strlen(cfg->path) >= sizeof(sun.sun_path))
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s: socket path too long", cfg->path);
    strcpy(sun.sun_path, cfg->path);
    if (lstat(cfg->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s exists and is not a socket",
                                  cfg->path);
        unlink(cfg->path);
    }
    srv->listener = evconnlistener_new_bind(srv->base, on_accept, srv, flags, 128,
                                            (struct sockaddr *)&sun, sizeof(sun));
    if (srv->listener == NULL)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "cannot listen on %s: %s", cfg->path,
                              strerror(errno));
    if (cfg->mode >= 0 && chmod(cfg->path, (mode_t)cfg->mode) < 0)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "chmod %s: %s", cfg->path, strerror(errno));
    return 0;
}

/* listen_tcp - bind host:port (first address getaddrinfo gives) */
static int listen_tcp(struct server *srv, unsigned flags, struct mxtls_diag *diag)
{
    const struct mxtls_config *cfg = srv->cfg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &res);
    if (gai != 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "host %s: %s", cfg->host, gai_strerror(gai));
    if (cfg->reuse_port)
        flags |= LEV_OPT_REUSEABLE_PORT;
    srv->listener = evconnlistener_new_bind(srv->base, on_accept, srv, flags, 1024, res->ai_addr,
                                            (int)res->ai_addrlen);
    int saved = errno;
    freeaddrinfo(res);
    if (srv->listener == NULL)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "cannot listen on %s:%u: %s", cfg->host,
                              (unsigned)cfg->port, strerror(saved));
    return 0;
}

/* server_listen - TCP or Unix, as configured */
int server_listen(struct server *srv, struct mxtls_diag *diag)
{
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;
    int err = srv->cfg->path != NULL ? listen_unix(srv, flags, diag) : listen_tcp(srv, flags, diag);
    if (err < 0)
        return err;
    evconnlistener_set_error_cb(srv->listener, on_accept_error);
    return 0;
}

/* on_drain_timeout - shutdown_timeout passed: stop waiting for busy sessions */
static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *srv = arg;
    log_msg(LOG_LEVEL_WARN, "shutdown timeout: closing %zu busy connections", srv->n_sessions);
    event_base_loopexit(srv->base, NULL);
}

/* server_drain - stop accepting; sessions finish their current request */
void server_drain(struct server *srv)
{
    if (srv->draining)
        return;
    srv->draining = true;
    if (srv->listener != NULL) {
        evconnlistener_free(srv->listener);
        srv->listener = NULL;
        if (srv->cfg->path != NULL)
            unlink(srv->cfg->path);
    }
    if (srv->n_sessions == 0) {
        event_base_loopexit(srv->base, NULL);
        return;
    }
    uint64_t ms = srv->cfg->shutdown_timeout_ms;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    srv->drain_timer = evtimer_new(srv->base, on_drain_timeout, srv);
    if (srv->drain_timer != NULL)
        evtimer_add(srv->drain_timer, &tv);
    struct session *s = srv->sessions;
    while (s != NULL) {
        struct session *next = session_next(s);
        session_drain(s); /* may free s */
        s = next;
    }
}

/* server_session_gone - count down; the last one out ends a drain */
void server_session_gone(struct server *srv)
{
    srv->n_sessions--;
    if (srv->draining && srv->n_sessions == 0)
        event_base_loopexit(srv->base, NULL);
}

/* server_close - free everything that is left */
void server_close(struct server *srv)
{
    while (srv->sessions != NULL)
        session_free(srv->sessions);
    if (srv->listener != NULL) {
        evconnlistener_free(srv->listener);
        srv->listener = NULL;
        if (srv->cfg->path != NULL)
            unlink(srv->cfg->path);
    }
    if (srv->drain_timer != NULL)
        event_free(srv->drain_timer);
    srv->drain_timer = NULL;
}
