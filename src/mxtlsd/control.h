/*
 * control - mxtlsd's control socket (OpenSMTPD's control.c is the model):
 * requests for the daemon's operator, never on Postfix's port. Today the
 * explain request of `mxtls query` and the cache admin requests of `mxtls
 * cache` (issue 16 §2).
 *
 * It is a second instance of the server skeleton (server.h, kind
 * SERVER_CONTROL, owned by the policy server) with its own small limits
 * (CONTROL_MAX_CONNECTIONS, CONTROL_IDLE_S) and the same sessions
 * (session.c): the same netstring framing, request_timeout, output high
 * water mark and write timeout. A Unix socket (control.path, mode 0600 by
 * default) is created while mxtlsd is still root, with its mode from the
 * start, and then given to the user and group of -u/-g: root and the
 * daemon's user can connect, nobody else (with the default mode). A loopback
 * TCP address (control.host, control.port) is the other choice; config.c
 * refuses any other address.
 *
 * Protocol (doc/internals.md "Control socket"): one netstring request
 * "VERB" or "VERB ARGS", one netstring reply "OK DATA", "NOTFOUND ", "TEMP
 * REASON" or "PERM REASON", in order, on a connection that may carry many.
 *   explain ZONE NEXTHOP  ->  OK {json}  (explain.c; as the mxtls-explain map)
 *   cache-list [AFTER]    ->  OK [json array], an object per cached policy of
 *                             a domain sorting after AFTER (a page), NOTFOUND
 *                             when none
 *   cache-show DOMAIN     ->  OK {json} with the policy text, NOTFOUND
 *   cache-purge DOMAIN [force] -> OK {json} of what was dropped, NOTFOUND, or
 *                             PERM for an enforce policy without force
 *   cache-export ZONE [AFTER] -> OK [json array] of texthash lines "DOMAIN
 *                             POLICY", the enforce policies (a page), NOTFOUND
 *   (issue 16 §2: the socket's owner or loopback only, as for every request)
 *   an unknown VERB       ->  PERM unknown request (the connection stays)
 *   a malformed VERB, or a bad or oversized frame -> PERM ..., then closed
 * New requests are one row in control.c's table.
 */
#ifndef MXTLSD_CONTROL_H
#define MXTLSD_CONTROL_H

#include <stddef.h>

#include "mxtls/diag.h"

struct server;
struct session;

#define CONTROL_MAX_CONNECTIONS 8  /* control connections at once; more wait in the listen queue */
#define CONTROL_IDLE_S          60 /* a control connection with nothing to say is closed */
#define CONTROL_VERB_MAX        32 /* octets of a verb: lower-case letters and '-' */
#define CONTROL_PAGE_MAX        60000 /* octets of one cache-list/cache-export reply's array */

/*
 * control_listen - open the control socket the configuration names
 * (policy->cfg->control), as policy->control; 0 also when it names none.
 * Called by server_listen while still privileged. A negative code with
 * diag: it cannot be bound, another process listens on it, its owner
 * (policy->control_user, control_group) is unknown or cannot be set.
 */
int control_listen(struct server *policy, struct mxtls_diag *diag);

/*
 * control_request - answer one control request payload (data, len) on
 * session s; 1 when answered, 0 when a lookup is pending (session.c sends
 * the reply when it completes).
 */
int control_request(struct session *s, const char *data, size_t len);

/* control_free - free the control server (after server_close); NULL is a no-op. */
void control_free(struct server *ctl);

#endif
