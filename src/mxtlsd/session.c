/*
 * session - socketmap requests and replies on one connection (see session.h).
 *
 * Three limits keep one connection from holding the daemon (issue 17): the
 * bufferevent's read timeout (SESSION_IDLE_S) closes a connection with
 * nothing to say; the deadline timer closes one whose request is not
 * complete request_timeout after its first octet, however slowly the rest
 * trickles in (the read timeout restarts with every octet); and reading
 * stops while more than output_high_water octets of replies wait to be
 * written, so a peer that pipelines and never reads holds at most that much
 * (plus one reply) until the write timeout (SESSION_WRITE_S) drops it.
 *
 * While a request's lookup is pending the connection is still read, only to
 * notice its peer going away: nothing is decoded until the reply is queued,
 * and the read high-water mark (SESSION_READ_HIGH_WATER, one maximal frame)
 * stops reading a peer that pipelines more than that. EOF or an error then
 * frees the session, and session_destroy cancels the lookup, so a client that
 * gave up (Postfix closes its socketmap connection when its own timeout
 * passes) no longer holds resolver capacity (issue 17 item 1). A peer that
 * half-closes after its request is treated as gone too: Postfix and postmap
 * never half-close (dict_sockmap writes the request and reads the reply on
 * a connection they close whole), and TCP cannot tell the two apart.
 */
#include "session.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "explain.h"
#include "log.h"
#include "lookup.h"
#include "mxtls/netstring.h"
#include "mxtls/socketmap.h"
#include "server.h"

struct session {
    struct server_link link; /* server.c's */
    struct server *srv;
    struct bufferevent *bev;
    struct lookup *pending; /* the lookup of the request being answered */
    bool explain;           /* the pending request asked for an explanation */
    bool closing;           /* close once the output is written */
    bool throttled;         /* not reading: the output is above output_high_water */
    bool deadline_armed;    /* a partial request is buffered; deadline is pending */
    struct event *deadline; /* request_timeout from a request's first octet */
    char key[SOCKETMAP_KEY_MAX + 1];
};

/* The longest request frame: 4 digits, ':', the payload, ','; and some slack. */
#define SESSION_READ_HIGH_WATER (SOCKETMAP_REQUEST_MAX + 8)

/* One reply buffer for the whole process: the loop is single-threaded. */
static char reply_buf[SOCKETMAP_REPLY_BUF_SIZE];

static void on_read(struct bufferevent *bev, void *arg);

/*
 * set_idle - the idle limit applies (no request of ours is pending) or not
 * (waiting for our own lookup is not the peer being idle; the zone's
 * timeout, up to an hour, bounds that wait). The write limit always does.
 */
static void set_idle(struct session *s, bool on)
{
    struct timeval idle = {(time_t)s->srv->idle_s, 0}, wr = {SESSION_WRITE_S, 0};
    bufferevent_set_timeouts(s->bev, on ? &idle : NULL, &wr);
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
    bufferevent_free(s->bev);
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
    return bufferevent_write(s->bev, reply_buf, len) == 0;
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

/* resume - after an answer: close when asked to, else read the next request */
static void resume(struct session *s)
{
    if (s->closing || s->srv->draining) {
        s->closing = true;
        bufferevent_disable(s->bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
            session_close(s);
        return;
    }
    set_idle(s, true);
    bufferevent_enable(s->bev, EV_READ);
    on_read(s->bev, s); /* requests may already be buffered (pipelining) */
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
            (unsigned)s->srv->cfg->request_timeout_ms,
            evbuffer_get_length(bufferevent_get_input(s->bev)));
    session_close(s);
}

/* on_read - decode and answer the buffered requests, one at a time */
static void on_read(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    /*
     * A lookup is pending: read only to notice EOF (on_event). What arrives
     * is the next request, decoded (and its deadline started) after this
     * reply, as a request that arrives then would be: the wait is ours.
     */
    if (s->pending != NULL)
        return;
    while (s->pending == NULL && !s->closing) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) > s->srv->cfg->output_high_water) {
            /* Replies are not being read: stop reading requests until on_write. */
            s->throttled = true;
            bufferevent_disable(bev, EV_READ);
            set_deadline(s, false); /* the wait is ours now, not the peer's */
            return;
        }
        size_t avail = evbuffer_get_length(in);
        /* The longest frame: 4 digits, ':', the payload, ','. */
        size_t want = avail < SESSION_READ_HIGH_WATER ? avail : SESSION_READ_HIGH_WATER;
        const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
        struct netstring_frame fr;
        struct mxtls_diag d = {0};
        int rc = netstring_decode(buf, want, SOCKETMAP_REQUEST_MAX, &fr, &d);
        if (rc == MXTLS_EAGAIN) {
            set_deadline(s, avail > 0);
            return;
        }
        set_deadline(s, false);
        if (rc < 0) {
            log_msg(LOG_LEVEL_WARN, "bad socketmap frame at octet %zu: %s; closing", d.offset,
                    d.what);
            send_reply(s, SOCKETMAP_PERM,
                       rc == MXTLS_ETOOLONG ? "request too long" : "malformed netstring");
            s->closing = true;
            break;
        }
        int answered = handle(s, fr.data, fr.len);
        evbuffer_drain(in, fr.consumed);
        if (!answered) {
            set_idle(s, false);
            return; /* one request at a time: the rest waits for on_lookup */
        }
    }
    if (s->closing)
        resume(s);
}

/*
 * on_write - the output drained to half of output_high_water or less (the
 * write low-water mark): a closing session can go once it is empty, a
 * throttled one reads again.
 */
static void on_write(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;
    if (s->closing) {
        if (s->pending == NULL && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            session_close(s);
        return;
    }
    if (s->throttled) {
        s->throttled = false;
        if (s->pending == NULL) {
            bufferevent_enable(bev, EV_READ);
            on_read(bev, s); /* requests may already be buffered */
        }
    }
}

/*
 * on_event - EOF, error or timeout: the connection is done. A pending
 * lookup is cancelled (session_destroy): its client is gone.
 */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct session *s = arg;
    if (what & BEV_EVENT_TIMEOUT)
        log_msg(LOG_LEVEL_DEBUG, "closing a connection after %s timeout",
                (what & BEV_EVENT_READING) ? "idle" : "write");
    else if (s->pending != NULL)
        log_msg(LOG_LEVEL_DEBUG, "%s: the client %s before the answer; lookup cancelled", s->key,
                (what & BEV_EVENT_EOF) ? "closed the connection" : "connection failed");
    session_close(s);
}

/* session_new - wrap the accepted fd */
struct session *session_new(struct server *srv, int fd)
{
    struct session *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        evutil_closesocket(fd);
        return NULL;
    }
    s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (s->bev == NULL) {
        evutil_closesocket(fd);
        free(s);
        return NULL;
    }
    s->srv = srv;
    s->deadline = evtimer_new(srv->base, on_deadline, s);
    if (s->deadline == NULL) {
        bufferevent_free(s->bev);
        free(s);
        return NULL;
    }
    set_idle(s, true);
    bufferevent_setwatermark(s->bev, EV_WRITE, srv->cfg->output_high_water / 2, 0);
    bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_READ_HIGH_WATER);
    bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
    bufferevent_enable(s->bev, EV_READ);
    return s; /* server.c links and counts it */
}

/* session_drain - close idle sessions now, busy ones after their reply */
void session_drain(struct session *s)
{
    s->closing = true;
    if (s->pending == NULL)
        resume(s);
}
