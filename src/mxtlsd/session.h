/*
 * session - one connection to mxtlsd: netstring requests in, replies out.
 * On the policy server, Postfix's socketmap (socketmap_table(5)); on the
 * control server, control requests (control.h) with the same framing,
 * limits and timeouts. The server (server.c) owns the session: it links and
 * counts it, and a session that is done asks server_session_close.
 *
 * Requests are netstrings of at most SOCKETMAP_REQUEST_MAX octets, answered
 * in order, one at a time (Postfix sends one and waits). A client may
 * pipeline: every complete request in what one read returns is answered and
 * the replies go out in one write; a request whose lookup is pending holds
 * back the ones after it, so replies always come in request order. A malformed or oversized frame
 * is answered "PERM" and the connection is closed after the reply is written. A well-formed request
 * whose key is not a next-hop we look up is "NOTFOUND ". The map name SESSION_EXPLAIN_NAME
 * (explain.h) asks for an explanation, key "ZONE NEXTHOP", reply "OK <JSON>" (explain.c), only when
 * explain_on_policy_port is true; otherwise it is a map name like any other (default_zone), and its
 * key "ZONE NEXTHOP" is not a next-hop: "NOTFOUND ". `mxtls query` asks the control socket instead.
 *
 * Limits (issue 17): a connection is closed when a request is not complete
 * request_timeout after its first octet, when it stays idle SESSION_IDLE_S
 * with no partial request, or when its peer reads nothing for
 * SESSION_WRITE_S; no request is read while more than output_high_water
 * octets of replies wait to be written (reading resumes below half of it).
 * A connection closed (or half-closed) by its peer while its request's
 * lookup is pending is freed at once and the lookup cancelled, so a client
 * that gave up holds no resolver capacity; what it pipelined meanwhile is
 * buffered up to SESSION_IN_SIZE octets, then no longer read.
 *
 * I/O (issue 18): no bufferevent. The session reads into its own bounded
 * buffer and writes with send(2) at once; it asks the loop for write
 * readiness only when the kernel says EAGAIN (session.c).
 */
#ifndef MXTLSD_SESSION_H
#define MXTLSD_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "mxtls/socketmap.h"

/* The session's input buffer: what one read may return (at least two maximal frames). */
#define SESSION_IN_SIZE 4096

struct server;
struct server_link;
struct session;

/*
 * session_new - take over the accepted socket fd and start reading; NULL
 * (fd closed) on failure. The caller (server.c) links and counts it.
 */
struct session *session_new(struct server *srv, int fd);

/*
 * session_drain - close now when idle, else after the current reply is
 * written. May free the session.
 */
void session_drain(struct session *s);

/*
 * session_destroy - cancel its lookup, close its socket, free it. Only
 * server_session_close calls it, after unlinking s.
 */
void session_destroy(struct session *s);

/* session_link - its place in the server's list (server.c only). */
struct server_link *session_link(struct session *s);

/*
 * session_reply - frame and queue one reply (status and text, as
 * socketmap_table(5) has them) for the request being answered; for the
 * control service (control.c).
 */
void session_reply(struct session *s, enum socketmap_status status, const char *text);

/* session_close_after_reply - close the connection once the queued replies are written. */
void session_close_after_reply(struct session *s);

/*
 * session_explain - answer the explain request "ZONE NEXTHOP" (key, len):
 * "OK <JSON>", "PERM" when it is not two words. Returns 1 when answered, 0
 * when a lookup is pending (the reply follows when it completes).
 */
int session_explain(struct session *s, const char *key, size_t len);

#endif
