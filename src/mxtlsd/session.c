/*
 * session - socketmap requests and replies on one connection (see session.h).
 *
 * The I/O path is the session's own, not a bufferevent's (issue 18): one
 * read into a bounded input buffer (SESSION_IN_SIZE octets), every complete
 * request in it answered, the replies written with one send straight away.
 * The loop is asked for write readiness (s->wev) only when the kernel says
 * EAGAIN, and read interest (s->rev) is changed only when the session's state
 * changes (a lookup pending, a throttle, a close), never per request: a
 * cache hit costs one read and one send, where a bufferevent costs readv,
 * ioctl(FIONREAD), writev and two epoll_ctl (write interest on, then off).
 * A read that fills the buffer is followed by another once its requests are
 * answered (more may be waiting); a shorter one means the kernel had no more.
 *
 * Three limits keep one connection from holding the daemon (issue 17): the
 * read event's timeout (the idle limit, srv->idle_s) closes a connection with
 * nothing to say; the deadline timer closes one whose request is not complete
 * request_timeout after its first octet, however slowly the rest trickles in
 * (the idle timeout restarts with every read); and no request is decoded
 * while more than output_high_water octets of replies wait to be written, so
 * a peer that pipelines and never reads holds at most that much (plus one
 * reply) until the write timeout (SESSION_WRITE_S, from the last write that
 * made progress) drops it. Reading resumes once the output is at half of the
 * mark or less.
 *
 * Requests are answered one at a time and in order: while a request's lookup
 * is pending nothing more is decoded, so an answer completing later is
 * written before the replies of the requests that followed it. The
 * connection is still read meanwhile, only to notice its peer going away;
 * what it pipelined is kept, up to the input buffer, then no longer read.
 * EOF or an error then frees the session, and session_destroy cancels the
 * lookup, so a client that gave up (Postfix closes its socketmap connection
 * when its own timeout passes) no longer holds resolver capacity (issue 17
 * item 1). On TCP a peer that half-closes after its request is treated as
 * gone too: Postfix and postmap never half-close (dict_sockmap writes the
 * request and reads the reply on a connection they close whole), and a FIN
 * is a FIN: TCP cannot tell the two apart. Replies already answered are
 * written before the EOF is seen. A Unix socket can tell (peer_half_closed):
 * a peer that closed whole leaves POLLHUP, one that only shut down its
 * sending side (Exim's ${readsocket} does, issue 15) does not; such a
 * session stops reading (s->eof), answers every complete request it
 * received, in order, the pending lookup's too, and then closes.
 *
 * Failures: a read or write error, EOF (after the answers, for a Unix
 * socket's half-close), a timeout or no memory for the output closes the
 * connection (logged at debug level, the timeouts at info); EINTR is
 * retried; nothing here exits the daemon.
 */
#include "session.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "explain.h"
#include "log.h"
#include "lookup.h"
#include "mxtls/netstring.h"
#include "mxtls/socketmap.h"
#include "server.h"
#include "stats.h"

/* The longest request frame: 4 digits, ':', the payload, ','. */
#define SESSION_FRAME_MAX (SOCKETMAP_REQUEST_MAX + 6)

/* Output buffers larger than this are freed once written (a burst of explain replies). */
#define SESSION_OUT_KEEP 4096

/* What the session asks of its read event. */
enum session_reading {
    READ_OFF,  /* closing, throttled, or input full while a lookup is pending */
    READ_IDLE, /* reading, with the idle limit as timeout */
    READ_WAIT, /* reading only to notice EOF: our lookup is pending, no idle limit */
};

struct session {
    struct server_link link; /* server.c's */
    struct server *srv;
    int fd;
    struct event *rev;      /* EV_READ | EV_PERSIST, added as reading says */
    struct event *wev;      /* EV_WRITE | EV_PERSIST, added only after EAGAIN */
    struct event *deadline; /* request_timeout from a request's first octet */
    struct lookup *pending; /* the lookup of the request being answered */
    enum session_reading reading;
    bool writing;        /* wev is added: the kernel said EAGAIN */
    bool explain;        /* the pending request asked for an explanation */
    bool closing;        /* close once the output is written */
    bool throttled;      /* not decoding: the output is above output_high_water */
    bool deadline_armed; /* a partial request is buffered; deadline is pending */
    bool broken;         /* no memory for a reply: close at the next flush */
    bool eof;            /* the peer half-closed (Unix socket): answer, then close */
    char *out;           /* replies not written yet: out[out_off .. out_len) */
    size_t out_off, out_len, out_cap;
    size_t in_off, in_len; /* input not decoded yet: in[in_off .. in_off + in_len) */
    /* stats (issue 16): when the buffered input's first octet and the request's
     * were read; the request's STATS_MAP_* (NONE until it parses) */
    uint64_t buf_t0, req_t0;
    unsigned stat_map;
    char key[SOCKETMAP_KEY_MAX + 1];
    char in[SESSION_IN_SIZE];
};

_Static_assert(SESSION_IN_SIZE >= 2 * SESSION_FRAME_MAX, "the input buffer holds two frames");

/* One reply buffer for the whole process: the loop is single-threaded. */
static char reply_buf[SOCKETMAP_REPLY_BUF_SIZE];

/* out_pending - octets of replies not written yet */
static size_t out_pending(const struct session *s)
{
    return s->out_len - s->out_off;
}

/* out_append - queue (buf, len) after the replies already waiting; false without memory */
static bool out_append(struct session *s, const char *buf, size_t len)
{
    if (s->out_off > 0 && s->out_off == s->out_len)
        s->out_off = s->out_len = 0;
    if (s->out_cap - s->out_len < len) {
        size_t pending = out_pending(s);
        size_t cap = s->out_cap > 0 ? s->out_cap : 256;
        while (cap < pending + len)
            cap *= 2;
        char *p = malloc(cap);
        if (p == NULL)
            return false;
        if (pending > 0)
            memcpy(p, s->out + s->out_off, pending);
        free(s->out);
        s->out = p;
        s->out_cap = cap;
        s->out_off = 0;
        s->out_len = pending;
    }
    memcpy(s->out + s->out_len, buf, len);
    s->out_len += len;
    return true;
}

/* session_link - the server's list links */
struct server_link *session_link(struct session *s)
{
    return &s->link;
}

/* session_destroy - cancel and close; the server has unlinked s */
void session_destroy(struct session *s)
{
    if (s->pending != NULL)
        lookup_cancel(s->pending);
    if (s->deadline != NULL)
        event_free(s->deadline);
    if (s->rev != NULL)
        event_free(s->rev);
    if (s->wev != NULL)
        event_free(s->wev);
    if (s->fd >= 0)
        close(s->fd);
    free(s->out);
    free(s);
}

/* session_close - ask the server to end this session (server_session_close) */
static void session_close(struct session *s)
{
    server_session_close(s->srv, s);
}

/* send_reply - frame and queue one reply; false when the session must close */
static bool send_reply(struct session *s, enum socketmap_status status, const char *text)
{
    size_t len = 0;
    struct mxtls_diag d = {0};
    size_t text_len = status == SOCKETMAP_NOTFOUND ? 0 : strlen(text);
    if (socketmap_reply_format(status, text, text_len, SOCKETMAP_REPLY_MAX, reply_buf,
                               sizeof(reply_buf), &len, &d) < 0) {
        log_msg(LOG_LEVEL_ERROR, "%s: cannot format the reply: %s", s->key, d.what);
        const char *temp = "TEMP mxtlsd: reply does not fit the socketmap protocol";
        socketmap_reply_format(SOCKETMAP_TEMP, temp + 5, strlen(temp + 5), SOCKETMAP_REPLY_MAX,
                               reply_buf, sizeof(reply_buf), &len, &d);
    }
    if (s->srv->kind == SERVER_POLICY) { /* issue 16: count it, then forget its map */
        stats_reply(s->stat_map, status, s->req_t0);
        s->stat_map = STATS_MAP_NONE;
    }
    if (out_append(s, reply_buf, len))
        return true;
    log_msg(LOG_LEVEL_ERROR, "out of memory for a reply of %zu octets: closing the connection",
            len);
    s->broken = true;
    return false;
}
/* session_reply - send_reply for the control service */
void session_reply(struct session *s, enum socketmap_status status, const char *text)
{
    send_reply(s, status, text);
}

/* session_close_after_reply - the connection ends once its output is written */
void session_close_after_reply(struct session *s)
{
    s->closing = true;
}

/* send_decision - the reply text decide() made, split into status and data */
static void send_decision(struct session *s, const struct lookup_result *r)
{
    const char *reply = r->decision.reply;
    if (s->explain) {
        char *json = explain_json(r);
        if (json == NULL)
            send_reply(s, SOCKETMAP_TEMP, "mxtlsd: out of memory");
        else
            send_reply(s, SOCKETMAP_OK, json);
        free(json);
        return;
    }
    if (log_enabled(LOG_LEVEL_DEBUG))
        log_msg(LOG_LEVEL_DEBUG, "%s -> \"%s\" (%s; dane: %s; mta-sts: %s)", s->key, reply,
                r->decision.why, r->decision.dane_why, r->decision.sts_source);
    switch (r->decision.kind) {
    case DECIDE_OK:
        send_reply(s, SOCKETMAP_OK, reply + 3);
        break;
    case DECIDE_NOTFOUND:
        send_reply(s, SOCKETMAP_NOTFOUND, "");
        break;
    case DECIDE_TEMP:
        log_msg(LOG_LEVEL_INFO, "%s -> \"%s\"", s->key, reply);
        send_reply(s, SOCKETMAP_TEMP, reply + 5);
        break;
    }
}

static bool serve(struct session *s);
static void set_reading(struct session *s);

/* resume - after an answer that came later: write it, then the requests that followed */
static void resume(struct session *s)
{
    if (s->srv->draining)
        s->closing = true;
    if (serve(s))
        set_reading(s);
}

/* on_lookup - a pending lookup completed */
static void on_lookup(struct lookup_result *r, void *arg)
{
    struct session *s = arg;
    s->pending = NULL;
    send_decision(s, r);
    lookup_result_finish(r);
    resume(s);
}

/*
 * look_up - answer next-hop (key, key_len) with zone's settings, as a
 * policy (s->explain false) or an explanation; 1 answered, 0 pending.
 */
static int look_up(struct session *s, const char *zone_name, size_t zone_len, const char *key,
                   size_t key_len)
{
    struct socketmap_nexthop nh;
    struct mxtls_diag d = {0};
    struct server *srv = s->srv;

    /* For log lines, cut to the buffer (control requests are longer). */
    size_t shown = key_len < sizeof(s->key) ? key_len : sizeof(s->key) - 1;
    memcpy(s->key, key, shown);
    s->key[shown] = '\0';
    if (socketmap_nexthop_parse(key, key_len, &nh, &d) != 0) {
        /* DESIGN.md: parent-domain probes, IP literals and invalid names: NOTFOUND. */
        log_msg(LOG_LEVEL_DEBUG, "%s -> NOTFOUND (%s)", s->key, d.what);
        if (s->explain) {
            char *json = explain_not_looked_up_json(key, key_len, d.what);
            if (json != NULL)
                send_reply(s, SOCKETMAP_OK, json);
            else
                send_reply(s, SOCKETMAP_TEMP, "mxtlsd: out of memory");
            free(json);
        } else {
            send_reply(s, SOCKETMAP_NOTFOUND, "");
        }
        return 1;
    }
    const struct config_zone *zone = config_zone_for(srv->cfg, zone_name, zone_len);
    struct lookup_result r;
    int rc = lookup_start(server_pipeline(srv), &nh, zone, &r, on_lookup, s, &s->pending);
    if (rc < 0) {
        s->pending = NULL;
        send_reply(s, SOCKETMAP_TEMP, "mxtlsd: out of memory");
        return 1;
    }
    if (rc == 0)
        return 0;
    send_decision(s, &r);
    lookup_result_finish(&r);
    return 1;
}

/* session_explain - "ZONE NEXTHOP": the explanation of NEXTHOP under ZONE's settings */
int session_explain(struct session *s, const char *key, size_t len)
{
    s->explain = true;
    const char *sp = memchr(key, ' ', len);
    if (sp == NULL) {
        send_reply(s, SOCKETMAP_PERM, "explain: expected \"ZONE NEXTHOP\"");
        return 1;
    }
    size_t zone_len = (size_t)(sp - key);
    return look_up(s, key, zone_len, sp + 1, len - zone_len - 1);
}

/* handle - one request payload; returns 1 when answered, 0 when a lookup is pending */
static int handle(struct session *s, const char *data, size_t len)
{
    struct socketmap_request req;
    struct mxtls_diag d = {0};
    struct server *srv = s->srv;

    srv->requests++;
    s->explain = false;
    if (srv->kind == SERVER_CONTROL)
        return control_request(s, data, len);
    if (socketmap_request_parse(data, len, &req, &d) < 0) {
        log_msg(LOG_LEVEL_WARN, "malformed socketmap request: %s", d.what);
        send_reply(s, SOCKETMAP_PERM, "malformed request");
        s->closing = true;
        return 1;
    }
    s->stat_map = stats_map(srv->cfg, req.name, strlen(req.name)); /* issue 16 */
    /*
     * The explain map name only when explain_on_policy_port says so (issue
     * 18: Postfix's port answers Postfix); otherwise "mxtls-explain" is a
     * map name like any other and "ZONE NEXTHOP" no next-hop: NOTFOUND.
     */
    if (srv->cfg->explain_on_policy_port && strcmp(req.name, SESSION_EXPLAIN_NAME) == 0)
        return session_explain(s, req.key, req.key_len);
    return look_up(s, req.name, strlen(req.name), req.key, req.key_len);
}

/*
 * set_deadline - a partial request is buffered (arm the deadline unless it
 * runs already: it counts from the request's first octet) or not (disarm).
 */
static void set_deadline(struct session *s, bool partial)
{
    if (partial == s->deadline_armed)
        return;
    if (partial) {
        uint32_t ms = s->srv->cfg->request_timeout_ms;
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        evtimer_add(s->deadline, &tv);
    } else {
        evtimer_del(s->deadline);
    }
    s->deadline_armed = partial;
}

/* on_deadline - request_timeout passed with the request still incomplete: close */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct session *s = arg;
    s->deadline_armed = false;
    log_msg(LOG_LEVEL_INFO,
            "closing a connection: its request was not complete %u ms after its first octet "
            "(%zu octets received)",
            (unsigned)s->srv->cfg->request_timeout_ms, s->in_len);
    session_close(s);
}

/*
 * decode - answer the buffered requests, one at a time, until one is
 * pending, the input holds no complete request, the output is above
 * output_high_water (throttled) or the connection is to close. Never frees s.
 */
static void decode(struct session *s)
{
    while (s->pending == NULL && !s->closing && !s->broken) {
        if (out_pending(s) > s->srv->cfg->output_high_water) {
            /* Replies are not being read: no more requests until they are. */
            s->throttled = true;
            set_deadline(s, false); /* the wait is ours now, not the peer's */
            return;
        }
        struct netstring_frame fr;
        struct mxtls_diag d = {0};
        int rc = netstring_decode(s->in + s->in_off, s->in_len, SOCKETMAP_REQUEST_MAX, &fr, &d);
        if (rc == MXTLS_EAGAIN && s->eof) {
            /* Half-closed: every request received is answered; a partial one never completes. */
            set_deadline(s, false);
            s->closing = true;
            return;
        }
        if (rc == MXTLS_EAGAIN) {
            set_deadline(s, s->in_len > 0);
            return;
        }
        set_deadline(s, false);
        s->req_t0 = s->buf_t0; /* stats: its latency counts from the buffer's first octet */
        if (rc < 0) {
            log_msg(LOG_LEVEL_WARN, "bad socketmap frame at octet %zu: %s; closing", d.offset,
                    d.what);
            send_reply(s, SOCKETMAP_PERM,
                       rc == MXTLS_ETOOLONG ? "request too long" : "malformed netstring");
            s->closing = true;
            return;
        }
        /* handle copies what it keeps (key, next-hop): the frame may go now. */
        handle(s, fr.data, fr.len);
        s->in_off += fr.consumed;
        s->in_len -= fr.consumed;
    }
}

/*
 * flush - write the queued replies. On EAGAIN ask the loop for write
 * readiness (with the write timeout); once all is written stop asking, and
 * close a session that is to close. false when s was freed.
 */
static bool flush(struct session *s)
{
    if (s->broken) {
        session_close(s);
        return false;
    }
    while (out_pending(s) > 0) {
        ssize_t n = send(s->fd, s->out + s->out_off, out_pending(s), MSG_NOSIGNAL);
        if (n > 0) {
            s->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!s->writing) {
                struct timeval wr = {SESSION_WRITE_S, 0};
                event_add(s->wev, &wr);
                s->writing = true;
            }
            return true;
        }
        log_msg(LOG_LEVEL_DEBUG, "closing a connection: write: %s",
                n < 0 ? strerror(errno) : "nothing written");
        session_close(s);
        return false;
    }
    s->out_off = s->out_len = 0;
    if (s->out_cap > SESSION_OUT_KEEP) {
        free(s->out);
        s->out = NULL;
        s->out_cap = 0;
    }
    if (s->writing) {
        event_del(s->wev);
        s->writing = false;
    }
    if (s->closing && s->pending == NULL) {
        session_close(s);
        return false;
    }
    return true;
}

/*
 * serve - answer what is buffered and write the replies; go on while the
 * writes keep up with a throttle. false when s was freed.
 */
static bool serve(struct session *s)
{
    for (;;) {
        decode(s);
        if (!flush(s))
            return false;
        if (!s->throttled || out_pending(s) > 0)
            return true;
        s->throttled = false; /* everything went out at once: go on decoding */
    }
}

/* in_room - room for the next read, after moving a partial request to the front */
static size_t in_room(struct session *s)
{
    if (s->in_len == 0)
        s->in_off = 0;
    else if (s->in_off > 0 && SESSION_IN_SIZE - s->in_off - s->in_len < SESSION_FRAME_MAX) {
        memmove(s->in, s->in + s->in_off, s->in_len);
        s->in_off = 0;
    }
    return SESSION_IN_SIZE - s->in_off - s->in_len;
}

/*
 * set_reading - add, change or delete the read event as the state wants it;
 * a call to the loop only when that changes (never per request).
 */
static void set_reading(struct session *s)
{
    enum session_reading want = READ_IDLE;
    if (s->closing || s->throttled || s->eof)
        want = READ_OFF;
    else if (s->pending != NULL)
        want = in_room(s) > 0 ? READ_WAIT : READ_OFF;
    if (want == s->reading)
        return;
    if (want == READ_OFF) {
        event_del(s->rev);
    } else {
        struct timeval idle = {(time_t)s->srv->idle_s, 0};
        event_add(s->rev, want == READ_IDLE ? &idle : NULL);
    }
    s->reading = want;
}

/*
 * peer_half_closed - after EOF on s->fd: did the peer only shut down its
 * sending side? Only a Unix socket tells: once the peer has closed whole,
 * poll() reports POLLHUP (the kernel marks both directions shut down); after
 * shutdown(SHUT_WR) only input EOF. On TCP both are one FIN: false.
 */
static bool peer_half_closed(const struct session *s)
{
    if (s->srv->addr.path == NULL)
        return false;
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    int rc;
    do
        rc = poll(&p, 1, 0);
    while (rc < 0 && errno == EINTR);
    return rc == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) == 0;
}

/*
 * on_read - readable (or the idle limit passed): read, answer every complete
 * request, write the replies; read again only when the read filled the
 * buffer. While a lookup is pending, read only to notice EOF.
 */
static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;
    if (what & EV_TIMEOUT) {
        log_msg(LOG_LEVEL_DEBUG, "closing a connection after idle timeout");
        session_close(s);
        return;
    }
    for (;;) {
        size_t room = in_room(s);
        if (room == 0)
            break; /* a lookup is pending and the input is full: set_reading stops reading */
        ssize_t n = read(fd, s->in + s->in_off + s->in_len, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n == 0 && peer_half_closed(s)) {
            /* Answer what was received (a pending lookup's reply too), then close. */
            log_msg(LOG_LEVEL_DEBUG, "the client half-closed: answering %s, then closing",
                    s->pending != NULL ? "the pending request and those after it"
                                       : "the requests received");
            s->eof = true;
            if (s->pending == NULL && !serve(s))
                return;
            break;
        }
        if (n <= 0) {
            if (s->pending != NULL)
                log_msg(LOG_LEVEL_DEBUG, "%s: the client %s before the answer; lookup cancelled",
                        s->key, n == 0 ? "closed the connection" : "connection failed");
            else if (n < 0)
                log_msg(LOG_LEVEL_DEBUG, "closing a connection: read: %s", strerror(errno));
            session_close(s);
            return;
        }
        if (s->in_len == 0) /* stats: a request starts in this read */
            s->buf_t0 = stats_now_ns();
        s->in_len += (size_t)n;
        if (s->pending != NULL)
            break; /* decoded after the answer, as a request arriving then would be */
        if (!serve(s))
            return;
        if ((size_t)n < room || s->pending != NULL || s->closing || s->throttled)
            break;
    }
    set_reading(s);
}

/*
 * on_write - writable again after EAGAIN (or the write timeout passed):
 * write what waits; a throttled session decodes again at half of
 * output_high_water or less.
 */
static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct session *s = arg;
    if (what & EV_TIMEOUT) {
        log_msg(LOG_LEVEL_DEBUG, "closing a connection after write timeout (%zu octets unread)",
                out_pending(s));
        session_close(s);
        return;
    }
    if (!flush(s))
        return;
    if (s->throttled && out_pending(s) <= s->srv->cfg->output_high_water / 2) {
        s->throttled = false;
        if (!serve(s))
            return;
    }
    set_reading(s);
}

/* session_new - take over the accepted (non-blocking) fd */
struct session *session_new(struct server *srv, int fd)
{
    /* Not calloc: the buffers at the end are written before they are read,
     * and zeroing them would make every idle connection's pages resident. */
    struct session *s = malloc(sizeof(*s));
    if (s == NULL) {
        close(fd);
        return NULL;
    }
    memset(s, 0, offsetof(struct session, key));
    s->key[0] = '\0';
    s->srv = srv;
    s->fd = fd;
    s->rev = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_read, s);
    s->wev = event_new(srv->base, fd, EV_WRITE | EV_PERSIST, on_write, s);
    s->deadline = evtimer_new(srv->base, on_deadline, s);
    if (s->rev == NULL || s->wev == NULL || s->deadline == NULL) {
        session_destroy(s);
        return NULL;
    }
    if (evutil_make_socket_nonblocking(fd) < 0) {
        session_destroy(s);
        return NULL;
    }
    if (srv->addr.path == NULL) {
        /* Replies are whole: send each at once (a reply that follows a
         * pending lookup would otherwise wait for the peer's delayed ACK). */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    s->reading = READ_OFF;
    set_reading(s);
    return s; /* server.c links and counts it */
}

/* session_drain - close idle sessions now, busy ones after their reply */
void session_drain(struct session *s)
{
    s->closing = true;
    if (s->pending != NULL)
        return; /* on_lookup writes the answer, then closes */
    if (flush(s))
        set_reading(s); /* waiting for the output to be read (wev) */
}
