/*
 * floor - a socketmap server that does no work: every well-formed request
 * gets the same fixed reply. It is the ceiling any policy daemon can reach
 * on this machine with this load generator, built the way mxtlsd is built:
 * one thread, libevent, an evconnlistener and one bufferevent per
 * connection, requests framed by libmxtls's netstring decoder (pipelined
 * requests are answered in order; a malformed or oversized netstring closes
 * the connection).
 *
 *   floor [-a ADDR] [-p PORT] [-r REPLY] [-P PIDFILE]
 *
 * The PID file is written once the listener is bound, as mxtlsd does.
 * SIGTERM or SIGINT stops it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "mxtls/netstring.h"

#define REQUEST_MAX 10000 /* request payload cap, as a policy daemon would set */

static char reply[1024]; /* the encoded reply */
static size_t reply_len;

/* on_read - answer every complete request in the input buffer */
static void on_read(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer *out = bufferevent_get_output(bev);

    for (;;) {
        size_t len = evbuffer_get_length(in);
        struct netstring_frame f;
        int rc;

        if (len == 0)
            return;
        rc = netstring_decode((const char *)evbuffer_pullup(in, -1), len, REQUEST_MAX, &f, NULL);
        if (rc == MXTLS_EAGAIN)
            return;
        if (rc != 0) {
            bufferevent_free(bev);
            return;
        }
        evbuffer_drain(in, f.consumed);
        evbuffer_add(out, reply, reply_len);
    }
}

/* on_event - the peer closed or the connection failed */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

/* on_accept - a new connection: no Nagle delay, read requests */
static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct event_base *base = evconnlistener_get_base(l);
    struct bufferevent *bev;
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        close(fd);
        return;
    }
    bufferevent_setcb(bev, on_read, NULL, on_event, NULL);
    bufferevent_enable(bev, EV_READ);
}

/* on_signal - SIGTERM/SIGINT: leave the loop */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1", *pidfile = NULL;
    const char *text = "OK secure match=mx.example.test servername=hostname";
    struct sockaddr_in sa;
    struct event_base *base;
    struct evconnlistener *l;
    struct event *sigterm, *sigint;
    char *end;
    long port = 18461;
    int opt;

    while ((opt = getopt(argc, argv, "a:p:r:P:")) != -1) {
        switch (opt) {
        case 'a':
            addr = optarg;
            break;
        case 'p':
            port = strtol(optarg, &end, 10);
            if (*end != '\0' || port <= 0 || port > 65535)
                goto usage;
            break;
        case 'r':
            text = optarg;
            break;
        case 'P':
            pidfile = optarg;
            break;
        default:
            goto usage;
        }
    }
    if (optind != argc)
        goto usage;
    if (netstring_encode(text, strlen(text), reply, sizeof reply, &reply_len, NULL) != 0) {
        fprintf(stderr, "floor: reply too long\n");
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        goto usage;

    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    if (base == NULL)
        return 1;
    l = evconnlistener_new_bind(base, on_accept, NULL,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                -1, (struct sockaddr *)&sa, sizeof sa);
    if (l == NULL) {
        fprintf(stderr, "floor: bind %s:%ld: %s\n", addr, port, strerror(errno));
        return 1;
    }
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    if (pidfile != NULL) {
        FILE *fp = fopen(pidfile, "w");

        if (fp == NULL || fprintf(fp, "%ld\n", (long)getpid()) < 0 || fclose(fp) != 0) {
            fprintf(stderr, "floor: cannot write %s\n", pidfile);
            return 1;
        }
    }
    event_base_dispatch(base);
    evconnlistener_free(l);
    event_free(sigterm);
    event_free(sigint);
    event_base_free(base);
    return 0;

usage:
    fprintf(stderr, "usage: floor [-a ADDR] [-p PORT] [-r REPLY] [-P PIDFILE]\n");
    return 2;
}
