/*
 * server - bind, accept, drain (see server.h).
 *
 * Accepting is paused, never spun: libevent's listener calls on_accept_error
 * for every failed accept() while the listening socket stays readable, which
 * at the descriptor limit is a busy loop (issue 17: 96% CPU, a log line per
 * call). Pausing leaves the waiting connections in the kernel's listen queue.
 */
#include "server.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "session.h"

/* conn_name - the instance's connections, for log lines */
static const char *conn_name(const struct server *srv)
{
    return srv->kind == SERVER_CONTROL ? "control connections" : "connections";
}

/* limit_name - what sets max_sessions, for log lines */
static const char *limit_name(const struct server *srv)
{
    return srv->kind == SERVER_CONTROL ? "the control socket's limit" : "max_connections";
}

/* since - seconds from a to now (CLOCK_MONOTONIC) */
static double since(const struct timespec *a, const struct timespec *now)
{
    return (double)(now->tv_sec - a->tv_sec) + (double)(now->tv_nsec - a->tv_nsec) / 1e9;
}

/* episode_note - a pause: log the start of an episode once, count the rest */
static void episode_note(struct server *srv, bool at_limit, int err)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!srv->episode.active) {
        memset(&srv->episode, 0, sizeof(srv->episode));
        srv->episode.active = true;
        srv->episode.started = now;
        struct timeval quiet = {SERVER_EPISODE_QUIET_S, 0};
        evtimer_add(srv->episode_timer, &quiet);
        if (at_limit)
            log_msg(LOG_LEVEL_WARN,
                    "%zu %s open (%s %zu): not accepting more until one ends; new connections "
                    "wait in the listen queue",
                    srv->n_sessions, conn_name(srv), limit_name(srv), srv->max_sessions);
    }
    if (!at_limit && srv->episode.accept_errors == 0)
        log_msg(LOG_LEVEL_WARN,
                "accept: %s (%zu %s open): accepting paused, retried every %d ms and whenever a "
                "connection ends",
                strerror(err), srv->n_sessions, conn_name(srv), SERVER_ACCEPT_RETRY_MS);
    srv->episode.last_paused = now;
    if (at_limit)
        srv->episode.at_limit++;
    else
        srv->episode.accept_errors++;
    if (srv->n_sessions > srv->episode.peak)
        srv->episode.peak = srv->n_sessions;
}

/* on_episode_timer - log the end of an episode once accepting stayed unpaused a while */
static void on_episode_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *srv = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (srv->paused || since(&srv->episode.last_paused, &now) < SERVER_EPISODE_QUIET_S) {
        struct timeval quiet = {SERVER_EPISODE_QUIET_S, 0};
        evtimer_add(srv->episode_timer, &quiet);
        return;
    }
    srv->episode.active = false;
    log_msg(LOG_LEVEL_WARN,
            "accepting %s normally again (%zu open) after %.1f s: %llu pauses at %s %zu, %llu "
            "failed accept calls, at most %zu open",
            conn_name(srv), srv->n_sessions,
            since(&srv->episode.started, &srv->episode.last_paused), srv->episode.at_limit,
            limit_name(srv), srv->max_sessions, srv->episode.accept_errors, srv->episode.peak);
}

/* pause_accepting - disable the listener; after a failed accept, retry on a timer */
static void pause_accepting(struct server *srv, bool at_limit, int err)
{
    if (srv->listener == NULL)
        return;
    evconnlistener_disable(srv->listener);
    srv->paused = true;
    episode_note(srv, at_limit, err);
    if (!at_limit) {
        struct timeval tv = {0, SERVER_ACCEPT_RETRY_MS * 1000};
        evtimer_add(srv->retry_timer, &tv);
    }
}

/* resume_accepting - enable the listener again when below max_sessions */
static void resume_accepting(struct server *srv)
{
    if (!srv->paused || srv->listener == NULL || srv->draining ||
        srv->n_sessions >= srv->max_sessions)
        return;
    srv->paused = false;
    if (srv->episode.active) /* the quiet time that ends an episode starts now */
        clock_gettime(CLOCK_MONOTONIC, &srv->episode.last_paused);
    evtimer_del(srv->retry_timer);
    evconnlistener_enable(srv->listener);
}

/* on_retry_timer - a while after a failed accept: try again */
static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    resume_accepting(arg);
}

/* on_accept - a new connection: a session, linked and counted; at max_sessions stop accepting */
static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    struct server *srv = arg;
    struct session *s = session_new(srv, fd);
    if (s == NULL) {
        log_msg(LOG_LEVEL_WARN, "out of memory: connection refused");
    } else {
        struct server_link *link = session_link(s);
        link->prev = NULL;
        link->next = srv->sessions;
        if (srv->sessions != NULL)
            session_link(srv->sessions)->prev = s;
        srv->sessions = s;
        srv->n_sessions++;
    }
    if (srv->n_sessions >= srv->max_sessions)
        pause_accepting(srv, true, 0);
}

/* on_accept_error - EMFILE and friends: pause instead of spinning on a readable socket */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)l;
    int err = EVUTIL_SOCKET_ERROR();
    pause_accepting(arg, false, err);
}

/*
 * size_sessions - raise the soft descriptor limit to the hard one, then fit
 * max_connections beside what the resolver and the daemon itself may open.
 */
static void size_sessions(struct server *srv)
{
    const struct mxtls_config *cfg = srv->cfg;
    size_t want = cfg->max_connections > 0 ? cfg->max_connections : 1;
    struct rlimit rl;
    srv->max_sessions = want;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
            log_msg(LOG_LEVEL_DEBUG, "descriptor limit raised from %llu to %llu",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
            rl.rlim_cur = rl.rlim_max;
        } else {
            log_msg(LOG_LEVEL_DEBUG, "cannot raise the descriptor limit from %llu to %llu: %s",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
                    strerror(errno));
        }
    }
    unsigned long long reserved = (unsigned long long)cfg->resolver.outgoing_range +
                                  cfg->resolver.outgoing_num_tcp + SERVER_FD_MARGIN;
    unsigned long long limit = (unsigned long long)rl.rlim_cur;
    if (rl.rlim_cur == RLIM_INFINITY || limit >= reserved + want)
        return;
    /* What is left beside the resolver; a quarter of the limit when nothing is. */
    unsigned long long room = limit > reserved ? limit - reserved : limit / 4;
    if (room == 0)
        room = 1;
    if (room < want)
        srv->max_sessions = (size_t)room;
    log_msg(LOG_LEVEL_WARN,
            "descriptor limit %llu is below max_connections %zu + resolver.outgoing_range %u + "
            "resolver.outgoing_num_tcp %u + %d for the daemon: accepting at most %zu "
            "connections (raise LimitNOFILE or ulimit -n, or lower those)",
            limit, want, (unsigned)cfg->resolver.outgoing_range,
            (unsigned)cfg->resolver.outgoing_num_tcp, SERVER_FD_MARGIN, srv->max_sessions);
}

/*
 * live_socket - another process accepts on the Unix socket at sun (a
 * second mxtlsd with the same control socket): connect succeeds. A stale
 * file left by a daemon that died refuses (ECONNREFUSED).
 */
static bool live_socket(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
    close(fd);
    return live;
}

/*
 * listen_unix - bind the Unix socket, replacing a stale socket file. The
 * control socket is created with its mode already (umask), so it is never
 * connectable by others between bind and chmod, and a live one is not
 * taken over (OpenSMTPD's control_init does the same).
 */
static int listen_unix(struct server *srv, unsigned flags, struct mxtls_diag *diag)
{
    const struct server_addr *a = &srv->addr;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    if (strlen(a->path) >= sizeof(sun.sun_path))
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s: socket path too long", a->path);
    strcpy(sun.sun_path, a->path);
    if (lstat(a->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s exists and is not a socket", a->path);
        if (srv->kind == SERVER_CONTROL && live_socket(&sun))
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                  "%s: another process is listening on this control socket",
                                  a->path);
        unlink(a->path);
    }
    mode_t old = 0;
    if (srv->kind == SERVER_CONTROL && a->mode >= 0)
        old = umask((mode_t)(~a->mode & 0777));
    srv->listener = evconnlistener_new_bind(srv->base, on_accept, srv, flags, a->backlog,
                                            (struct sockaddr *)&sun, sizeof(sun));
    int saved = errno;
    if (srv->kind == SERVER_CONTROL && a->mode >= 0)
        umask(old);
    if (srv->listener == NULL)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "cannot listen on %s: %s", a->path,
                              strerror(saved));
    if (a->mode >= 0 && chmod(a->path, (mode_t)a->mode) < 0)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "chmod %s: %s", a->path, strerror(errno));
    return 0;
}

/* listen_tcp - bind host:port (first address getaddrinfo gives) */
static int listen_tcp(struct server *srv, unsigned flags, struct mxtls_diag *diag)
{
    const struct server_addr *cfg = &srv->addr;
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
    srv->listener = evconnlistener_new_bind(srv->base, on_accept, srv, flags, cfg->backlog,
                                            res->ai_addr, (int)res->ai_addrlen);
    int saved = errno;
    freeaddrinfo(res);
    if (srv->listener == NULL)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "cannot listen on %s:%u: %s", cfg->host,
                              (unsigned)cfg->port, strerror(saved));
    return 0;
}

/* server_listen_addr - TCP or Unix, as srv->addr says; max_sessions already set */
int server_listen_addr(struct server *srv, struct mxtls_diag *diag)
{
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;
    srv->retry_timer = evtimer_new(srv->base, on_retry_timer, srv);
    srv->episode_timer = evtimer_new(srv->base, on_episode_timer, srv);
    if (srv->retry_timer == NULL || srv->episode_timer == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    int err = srv->addr.path != NULL ? listen_unix(srv, flags, diag) : listen_tcp(srv, flags, diag);
    if (err < 0)
        return err;
    evconnlistener_set_error_cb(srv->listener, on_accept_error);
    return 0;
}

/* server_listen - the policy listener from the configuration, then the control socket */
int server_listen(struct server *srv, struct mxtls_diag *diag)
{
    const struct mxtls_config *cfg = srv->cfg;
    srv->kind = SERVER_POLICY;
    srv->idle_s = SESSION_IDLE_S;
    srv->addr = (struct server_addr){
        .path = cfg->path,
        .mode = cfg->mode,
        .host = cfg->host,
        .port = cfg->port,
        .reuse_port = cfg->reuse_port,
        .backlog = cfg->path != NULL ? 128 : 1024,
    };
    size_sessions(srv);
    int err = server_listen_addr(srv, diag);
    if (err < 0)
        return err;
    return control_listen(srv, diag);
}

/* server_pipeline - the policy server's pipeline, for both instances */
struct pipeline *server_pipeline(struct server *srv)
{
    return srv->policy != NULL ? &srv->policy->pipeline : &srv->pipeline;
}

/* all_gone - neither the policy server nor its control server has a session */
static bool all_gone(const struct server *policy)
{
    return policy->n_sessions == 0 && (policy->control == NULL || policy->control->n_sessions == 0);
}

/* close_listener - stop accepting for good; a Unix socket's file goes */
static void close_listener(struct server *srv)
{
    if (srv->listener != NULL) {
        evconnlistener_free(srv->listener);
        srv->listener = NULL;
        if (srv->addr.path != NULL)
            unlink(srv->addr.path);
    }
    if (srv->retry_timer != NULL)
        evtimer_del(srv->retry_timer);
}

/* drain_sessions - idle sessions close now, busy ones after their reply */
static void drain_sessions(struct server *srv)
{
    srv->draining = true;
    close_listener(srv);
    struct session *s = srv->sessions;
    while (s != NULL) {
        struct session *next = session_link(s)->next;
        session_drain(s); /* may free s */
        s = next;
    }
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

/* server_drain - stop accepting on both; sessions finish their current request */
void server_drain(struct server *srv)
{
    if (srv->draining)
        return;
    srv->draining = true; /* before the walks: a session closing now must not end the loop */
    if (srv->control != NULL)
        drain_sessions(srv->control);
    drain_sessions(srv);
    if (all_gone(srv)) {
        event_base_loopexit(srv->base, NULL);
        return;
    }
    uint64_t ms = srv->cfg->shutdown_timeout_ms;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    srv->drain_timer = evtimer_new(srv->base, on_drain_timeout, srv);
    if (srv->drain_timer != NULL)
        evtimer_add(srv->drain_timer, &tv);
}

/* server_session_close - unlink, free, count down; the last one out ends a drain */
void server_session_close(struct server *srv, struct session *s)
{
    struct server_link *link = session_link(s);
    if (link->prev != NULL)
        session_link(link->prev)->next = link->next;
    else
        srv->sessions = link->next;
    if (link->next != NULL)
        session_link(link->next)->prev = link->prev;
    session_destroy(s);
    srv->n_sessions--;
    struct server *policy = srv->policy != NULL ? srv->policy : srv;
    if (policy->draining && all_gone(policy))
        event_base_loopexit(srv->base, NULL);
    else if (srv->paused)
        resume_accepting(srv); /* a descriptor and a slot are free */
}

/* server_close - free everything that is left, the control server first */
void server_close(struct server *srv)
{
    if (srv->control != NULL) {
        server_close(srv->control);
        control_free(srv->control);
        srv->control = NULL;
    }
    srv->draining = true; /* no resume while freeing */
    close_listener(srv);
    while (srv->sessions != NULL)
        server_session_close(srv, srv->sessions);
    if (srv->drain_timer != NULL)
        event_free(srv->drain_timer);
    srv->drain_timer = NULL;
    if (srv->retry_timer != NULL)
        event_free(srv->retry_timer);
    srv->retry_timer = NULL;
    if (srv->episode_timer != NULL)
        event_free(srv->episode_timer);
    srv->episode_timer = NULL;
}
