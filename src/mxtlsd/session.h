/*
 * session - one Postfix connection to mxtlsd: socketmap requests in, replies
 * out (socketmap_table(5)).
 *
 * Requests are netstrings of at most SOCKETMAP_REQUEST_MAX octets, answered
 * in order, one at a time (Postfix sends one and waits; a pipelining client
 * simply waits longer). A malformed or oversized frame is answered "PERM"
 * and the connection is closed after the reply is written. A well-formed
 * request whose key is not a next-hop we look up is "NOTFOUND ". The special
 * map name SESSION_EXPLAIN_NAME asks for an explanation: key "ZONE NEXTHOP",
 * reply "OK <JSON>" (explain.c), for `mxtls query`.
 *
 * Limits (issue 17): a connection is closed when a request is not complete
 * request_timeout after its first octet, when it stays idle SESSION_IDLE_S
 * with no partial request, or when its peer reads nothing for
 * SESSION_WRITE_S; no request is read while more than output_high_water
 * octets of replies wait to be written (reading resumes below half of it).
 * A connection closed (or half-closed) by its peer while its request's
 * lookup is pending is freed at once and the lookup cancelled, so a client
 * that gave up holds no resolver capacity; what it pipelined meanwhile is
 * buffered up to one maximal frame, then no longer read.
 */
#ifndef MXTLSD_SESSION_H
#define MXTLSD_SESSION_H

#include <stdbool.h>

struct server;
struct session;

#define SESSION_EXPLAIN_NAME "mxtls-explain"

/* session_new - take over the accepted socket fd; NULL (fd closed) on failure. */
struct session *session_new(struct server *srv, int fd);

/*
 * session_drain - close now when idle, else after the current reply is
 * written. May free the session.
 */
void session_drain(struct session *s);

/* session_free - cancel its lookup, close, unlink from the server. */
void session_free(struct session *s);

/* session_next - the next session in the server's list. */
struct session *session_next(const struct session *s);

#endif
