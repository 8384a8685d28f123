/*
 * sockmap_client - one netstring request and reply over a stream socket
 * (see sockmap_client.h). poll(2) waits, bounded by the caller's deadline;
 * the reply is decoded by lib/netstring.c with the caller's cap, so a peer
 * that sends an endless or malformed frame costs at most cap octets.
 */
#include "sockmap_client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mxtls/diag.h"
#include "mxtls/netstring.h"

/* sockmap_client_now_ms - monotonic milliseconds */
int64_t sockmap_client_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait_fd - poll fd for events until deadline: 1 ready, 0 timed out, -1 error */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - sockmap_client_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* sockmap_client_name - where the server listens, for messages */
void sockmap_client_name(const struct sockmap_client_addr *a, char *out, size_t size)
{
    if (a->path != NULL)
        snprintf(out, size, "%s", a->path);
    else if (a->host != NULL && strchr(a->host, ':') != NULL)
        snprintf(out, size, "[%s]:%u", a->host, (unsigned)a->port);
    else
        snprintf(out, size, "%s:%u", a->host != NULL ? a->host : "?", (unsigned)a->port);
}

/* connect_one - a non-blocking connect to addr, finished by deadline; fd or -1 with errno */
static int connect_one(const struct sockaddr *addr, socklen_t len, int64_t deadline)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, addr, len) == 0)
        return fd;
    if (errno == EINPROGRESS) {
        int w = wait_fd(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
            return fd;
        errno = w == 0 ? ETIMEDOUT : w < 0 ? errno : soerr;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* sockmap_client_connect - Unix path or the addresses of host:port, in order */
int sockmap_client_connect(const struct sockmap_client_addr *a, int64_t deadline, const char *label,
                           char *err, size_t errsize)
{
    char buf[SOCKMAP_CLIENT_NAME_MAX];
    sockmap_client_name(a, buf, sizeof(buf));
    const char *name = label != NULL ? label : buf;
    if (a->path != NULL) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        size_t plen = strlen(a->path);
        if (plen >= sizeof(sun.sun_path)) {
            snprintf(err, errsize, "%s: socket path too long", name);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(sun.sun_path, a->path, plen + 1);
        int fd = connect_one((const struct sockaddr *)&sun, sizeof(sun), deadline);
        if (fd < 0) {
            int saved = errno;
            snprintf(err, errsize, "cannot connect to %s: %s", name, strerror(saved));
            errno = saved;
        }
        return fd;
    }
    if (a->host == NULL) {
        snprintf(err, errsize, "no address to connect to");
        errno = EINVAL;
        return -1;
    }
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)a->port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(a->host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errsize, "cannot resolve %s: %s", name, gai_strerror(gai));
        errno = EINVAL;
        return -1;
    }
    int fd = -1, last = ECONNREFUSED;
    for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = connect_one(ai->ai_addr, ai->ai_addrlen, deadline);
        if (fd < 0)
            last = errno;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errsize, "cannot connect to %s: %s", name, strerror(last));
        errno = last;
    }
    return fd;
}

/* send_all - write len octets by deadline; 0 or -1 with errno */
static int send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        int w = wait_fd(fd, POLLOUT, deadline);
        if (w <= 0) {
            if (w == 0)
                errno = ETIMEDOUT;
            return -1;
        }
    }
    return 0;
}

/* recv_reply - read one netstring of at most reply_max payload octets by deadline */
static char *recv_reply(int fd, size_t reply_max, int64_t deadline, const char *name, char *err,
                        size_t errsize)
{
    /* The longest frame: its length's digits, ':', the payload, ','. */
    size_t cap = reply_max + 24, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    for (;;) {
        struct netstring_frame fr;
        struct mxtls_diag d = {0};
        int rc = netstring_decode(buf, len, reply_max, &fr, &d);
        if (rc == 0) {
            memmove(buf, fr.data, fr.len);
            buf[fr.len] = '\0';
            return buf;
        }
        if (rc != MXTLS_EAGAIN) {
            snprintf(err, errsize, "%s sent a malformed reply: %s", name, d.what);
            break;
        }
        if (len == cap) { /* cannot happen: decode fails first past the cap */
            snprintf(err, errsize, "%s sent an oversized reply", name);
            break;
        }
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (n == 0) {
            snprintf(err, errsize, "%s closed the connection without a reply", name);
            break;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            int w = wait_fd(fd, POLLIN, deadline);
            if (w > 0)
                continue;
            snprintf(err, errsize, "%s: %s", name, w == 0 ? "no reply in time" : strerror(errno));
            break;
        }
        snprintf(err, errsize, "%s: %s", name, strerror(errno));
        break;
    }
    free(buf);
    return NULL;
}

/* sockmap_client_request - one framed request, one reply */
char *sockmap_client_request(int fd, const char *payload, size_t len, size_t maxlen,
                             size_t reply_max, int64_t deadline, const char *name, char *err,
                             size_t errsize)
{
    if (len > maxlen) {
        snprintf(err, errsize, "the request (%zu octets) is longer than %zu octets", len, maxlen);
        return NULL;
    }
    size_t fcap = len + 24, flen = 0;
    char *frame = malloc(fcap);
    struct mxtls_diag d = {0};
    if (frame == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    if (netstring_encode(payload, len, frame, fcap, &flen, &d) < 0) {
        snprintf(err, errsize, "the request cannot be framed: %s", d.what);
        free(frame);
        return NULL;
    }
    char *reply = NULL;
    if (send_all(fd, frame, flen, deadline) < 0)
        snprintf(err, errsize, "%s: sending the request: %s", name, strerror(errno));
    else
        reply = recv_reply(fd, reply_max, deadline, name, err, errsize);
    free(frame);
    return reply;
}

/* sockmap_client_ask - connect, ask, close */
char *sockmap_client_ask(const struct sockmap_client_addr *a, const char *label,
                         const char *payload, size_t len, size_t maxlen, size_t reply_max,
                         uint32_t timeout_ms, int *connect_errno, char *err, size_t errsize)
{
    int64_t deadline = sockmap_client_now_ms() + (int64_t)timeout_ms;
    char buf[SOCKMAP_CLIENT_NAME_MAX];
    sockmap_client_name(a, buf, sizeof(buf));
    const char *name = label != NULL ? label : buf;
    int fd = sockmap_client_connect(a, deadline, name, err, errsize);
    if (connect_errno != NULL)
        *connect_errno = fd < 0 ? errno : 0;
    if (fd < 0)
        return NULL;
    char *reply =
        sockmap_client_request(fd, payload, len, maxlen, reply_max, deadline, name, err, errsize);
    close(fd);
    return reply;
}
