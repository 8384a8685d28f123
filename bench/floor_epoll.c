/*
 * floor_epoll - the raw-epoll floor: a socketmap server that does no work,
 * like floor.c (every well-formed request gets the same fixed reply), but
 * with no libevent at all: one thread, epoll_wait, non-blocking sockets, one
 * read per readiness into a fixed buffer of the connection's own, every
 * complete request in it answered, the replies written with one write. The
 * connection asks epoll for EPOLLOUT only when a write says EAGAIN. So a
 * request costs a read and a write (plus epoll_wait, shared by whatever is
 * ready at once): the fewest system calls a socketmap server can make, and
 * the ceiling mxtlsd's own I/O path (src/mxtlsd/session.c) is measured
 * against (issue 18).
 *
 *   floor-epoll [-a ADDR] [-p PORT] [-r REPLY] [-P PIDFILE]
 *
 * Requests are framed by libmxtls's netstring decoder with the same cap as
 * floor.c; a malformed or oversized netstring, EOF or an error closes the
 * connection, and so does a peer whose unread replies pass OUT_MAX octets.
 * The PID file is written once the socket listens. SIGTERM or SIGINT stops
 * it (signalfd).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mxtls/netstring.h"

#define REQUEST_MAX 10000              /* request payload cap, as floor.c */
#define IN_SIZE     (REQUEST_MAX + 16) /* one read: at least one maximal frame */
#define OUT_MAX     (1 << 20)          /* unread replies past this: the peer is dropped */

struct conn {
    int fd;
    int want_out; /* EPOLLOUT is asked for */
    size_t in_len;
    char *out;
    size_t out_off, out_len, out_cap;
    char in[IN_SIZE];
};

static char reply[1024]; /* the encoded reply */
static size_t reply_len;
static int ep;

/* conn_free - close and forget */
static void conn_free(struct conn *c)
{
    close(c->fd);
    free(c->out);
    free(c);
}

/* set_out - ask epoll for EPOLLOUT (or stop asking); 0 or -1 */
static int set_out(struct conn *c, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    if (c->want_out == on)
        return 0;
    c->want_out = on;
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* flush - write the queued replies; 0, or -1 when the connection must close */
static int flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return set_out(c, 1);
        return -1;
    }
    c->out_off = c->out_len = 0;
    return set_out(c, 0);
}

/* queue - append one reply; -1 when the peer has too much unread */
static int queue(struct conn *c)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_cap - c->out_len < reply_len) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 4096;
        char *p;
        if (cap > OUT_MAX)
            return -1;
        p = realloc(c->out, cap);
        if (p == NULL)
            return -1;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, reply, reply_len);
    c->out_len += reply_len;
    return 0;
}

/* on_readable - one read, every complete request answered, one write; -1: close */
static int on_readable(struct conn *c)
{
    size_t off = 0;
    ssize_t n;
    do
        n = read(c->fd, c->in + c->in_len, IN_SIZE - c->in_len);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n <= 0)
        return -1;
    c->in_len += (size_t)n;
    for (;;) {
        struct netstring_frame f;
        int rc = netstring_decode(c->in + off, c->in_len - off, REQUEST_MAX, &f, NULL);
        if (rc == MXTLS_EAGAIN)
            break;
        if (rc != 0 || queue(c) < 0)
            return -1;
        off += f.consumed;
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return flush(c);
}

/* on_accept - take every waiting connection: non-blocking, no Nagle delay, EPOLLIN */
static void on_accept(int lfd)
{
    for (;;) {
        int one = 1, fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct conn *c;
        struct epoll_event ev;
        if (fd < 0)
            return; /* EAGAIN, or EMFILE and friends: the next readiness retries */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            conn_free(c);
    }
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1", *pidfile = NULL;
    const char *text = "OK secure match=mx.example.test servername=hostname";
    struct sockaddr_in sa;
    struct epoll_event ev, evs[64];
    sigset_t mask;
    char *end;
    long port = 18461;
    int opt, lfd, sfd, one = 1, running = 1;
    /* Markers telling the listening socket and the signalfd from connections. */
    static int lmark, smark;

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
        fprintf(stderr, "floor-epoll: reply too long\n");
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        goto usage;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    ep = epoll_create1(EPOLL_CLOEXEC);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sfd < 0 || ep < 0 || lfd < 0) {
        perror("floor-epoll");
        return 1;
    }
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1024) < 0) {
        fprintf(stderr, "floor-epoll: bind %s:%ld: %s\n", addr, port, strerror(errno));
        return 1;
    }
    ev.events = EPOLLIN;
    ev.data.ptr = &lmark;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.ptr = &smark;
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
    if (pidfile != NULL) {
        FILE *fp = fopen(pidfile, "w");
        if (fp == NULL || fprintf(fp, "%ld\n", (long)getpid()) < 0 || fclose(fp) != 0) {
            fprintf(stderr, "floor-epoll: cannot write %s\n", pidfile);
            return 1;
        }
    }
    while (running) {
        int i, n = epoll_wait(ep, evs, 64, -1);
        if (n < 0 && errno != EINTR) {
            perror("floor-epoll: epoll_wait");
            return 1;
        }
        for (i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (evs[i].data.ptr == &lmark) {
                on_accept(lfd);
                continue;
            }
            if (evs[i].data.ptr == &smark) {
                running = 0;
                continue;
            }
            if ((evs[i].events & EPOLLOUT) && flush(c) < 0) {
                conn_free(c);
                continue;
            }
            if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && on_readable(c) < 0)
                conn_free(c);
        }
    }
    close(lfd);
    close(sfd);
    close(ep);
    return 0;

usage:
    fprintf(stderr, "usage: floor-epoll [-a ADDR] [-p PORT] [-r REPLY] [-P PIDFILE]\n");
    return 2;
}
