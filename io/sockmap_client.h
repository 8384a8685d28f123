/*
 * sockmap_client - the client side of a socketmap-framed exchange (Postfix's
 * dict_sockmap.c is the model): connect to a Unix socket path or a
 * host:port, send one netstring request, read one netstring reply. Used by
 * `mxtls query` (mxtlsd's control socket, or the explain map on the policy
 * port) and by tests; any program may use it.
 *
 * Everything is bounded: one deadline (CLOCK_MONOTONIC milliseconds, see
 * sockmap_client_now_ms) covers connect, send and receive; a reply payload
 * longer than the caller's cap is refused without reading further. Sockets
 * are non-blocking and close-on-exec; SIGPIPE is not raised (MSG_NOSIGNAL).
 * Failures return -1 or NULL and write a one-line reason naming the peer
 * (the caller's label, e.g. "mxtlsd at 127.0.0.1:8461") into the caller's
 * buffer; nothing here logs, exits or keeps state.
 */
#ifndef MXTLS_IO_SOCKMAP_CLIENT_H
#define MXTLS_IO_SOCKMAP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/* Where the server listens: a Unix socket path, or host and port. */
struct sockmap_client_addr {
    const char *path; /* when set, host and port are unused */
    const char *host;
    uint16_t port;
};

#define SOCKMAP_CLIENT_NAME_MAX 272 /* "[host]:port" (host: 253) or a socket path (107) */

/* sockmap_client_now_ms - monotonic milliseconds, the clock of every deadline here */
int64_t sockmap_client_now_ms(void);

/* sockmap_client_name - "path", "host:port" or "[v6]:port" into out, for messages */
void sockmap_client_name(const struct sockmap_client_addr *a, char *out, size_t size);

/*
 * sockmap_client_connect - a connected socket to a by deadline: the first
 * address getaddrinfo gives that accepts. Returns the descriptor (the caller
 * closes it), or -1 with err filled ("cannot connect to LABEL: reason";
 * label NULL: the address's name) and errno set to the last connect error
 * (ENOENT: no such socket file, EACCES: its mode forbids us).
 */
int sockmap_client_connect(const struct sockmap_client_addr *a, int64_t deadline, const char *label,
                           char *err, size_t errsize);

/*
 * sockmap_client_request - frame (payload, len) as a netstring (at most
 * maxlen octets of payload), send it on fd and read one netstring reply of
 * at most reply_max octets of payload, all by deadline. Returns the reply's
 * payload as a NUL-terminated heap string (the caller frees it), or NULL
 * with err filled; name (sockmap_client_name) goes into the messages.
 */
char *sockmap_client_request(int fd, const char *payload, size_t len, size_t maxlen,
                             size_t reply_max, int64_t deadline, const char *name, char *err,
                             size_t errsize);

/*
 * sockmap_client_ask - connect, sockmap_client_request, close: one request
 * with a timeout of timeout_ms in all; label as for sockmap_client_connect.
 * Same results; *connect_errno (when not NULL) is set to the connect error,
 * 0 when connected.
 */
char *sockmap_client_ask(const struct sockmap_client_addr *a, const char *label,
                         const char *payload, size_t len, size_t maxlen, size_t reply_max,
                         uint32_t timeout_ms, int *connect_errno, char *err, size_t errsize);

#endif
