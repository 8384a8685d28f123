/*
 * fetch - the HTTPS fetch of MTA-STS policies (RFC 8461 §3.3) for mxtlsd.
 *
 * GET https://mta-sts.<domain>/.well-known/mta-sts.txt with libcurl's multi
 * interface driven by the caller's libevent event_base; nothing here blocks.
 * The policy host's address comes from mxtlsd's own (DNSSEC-aware) resolver:
 * it is pinned with CURLOPT_CONNECT_TO, so SNI and the certificate name check
 * still use the real name "mta-sts.<domain>". Rules (RFC 8461 §3.3): HTTPS
 * only, TLS 1.2 or newer, WebPKI validation against the configured CA file
 * (or the system store), no redirects (a 3xx is a failure), status 200 only,
 * Content-Type text/plain (parameters allowed), a body of at most
 * STS_POLICY_BODY_MAX octets (enforced while receiving, chunked or not), and
 * the caller's time limit. No cookies, no proxy from the environment, no
 * connection reuse (the next fetch may be handed another address).
 *
 * Ownership: struct fetch owns the curl multi handle, its libevent events and
 * every transfer in flight. The body handed to a callback is borrowed for the
 * duration of that call only. Parsing it is sts_policy_parse's job.
 *
 * Failures: fetch_new and fetch_policy return NULL or a negative MXTLS_E*
 * code synchronously (and then no callback happens); everything that goes
 * wrong on the network arrives in the callback as a struct fetch_result with
 * a failure class matching the TLS-RPT result types (RFC 8460 §4.3.2.1) and a
 * precise human reason. Nothing here logs or exits.
 */
#ifndef MXTLS_IO_FETCH_H
#define MXTLS_IO_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "mxtls/decide.h"
#include "mxtls/diag.h"

#define FETCH_REASON_MAX          512   /* room for a reason with a URL in it */
#define FETCH_CONNECT_TIMEOUT_MAX 10000 /* ms; the TCP+TLS setup, within the total */

struct fetch;

/* The outcome of one fetch, handed to the callback. */
struct fetch_result {
    bool ok;                         /* 200, text/plain, body within the cap */
    enum decide_sts_failure failure; /* !ok: DECIDE_STS_FETCH_ERROR or _WEBPKI_INVALID */
    long http_status;                /* the response status, 0 when there was none */
    const char *reason;              /* !ok: why, NUL-terminated; "" when ok */
    const char *body;                /* ok: the body (borrowed, not NUL-terminated) */
    size_t body_len;                 /* ok: its length, <= STS_POLICY_BODY_MAX */
};

typedef void (*fetch_callback)(const struct fetch_result *result, void *arg);

/*
 * fetch_new - a fetcher whose transfers run on base. ca_file is the PEM file
 * of trusted CAs (copied), or NULL for libcurl's system default store.
 * Initialises libcurl globally (reference-counted by libcurl). Returns NULL
 * and fills diag when libcurl or libevent cannot be set up or memory runs out.
 */
struct fetch *fetch_new(struct event_base *base, const char *ca_file, struct mxtls_diag *diag);

/*
 * fetch_free - cancel every transfer in flight WITHOUT calling their
 * callbacks, release their events and the fetcher. fetch_free(NULL) is a
 * no-op. It must not be called from within a fetch callback (defer it, for
 * example with event_base_once).
 */
void fetch_free(struct fetch *f);

/*
 * fetch_policy - start fetching the MTA-STS policy of domain (a host name,
 * normalised here; "mta-sts." is prepended) from addr (an IPv4 or IPv6
 * literal, what the resolver found for mta-sts.<domain>), giving up after
 * timeout_ms milliseconds in total (1 .. 600000). On success returns 0 and
 * cb(result, arg) is called exactly once, later, from the event loop (never
 * from within fetch_policy), unless fetch_free cancels it first. The callback
 * may start new fetches. Returns MXTLS_EINVAL for a bad domain, address or
 * timeout, MXTLS_ETOOLONG when mta-sts.<domain> is too long, MXTLS_ENOMEM
 * when libcurl refuses the transfer; then cb is never called.
 */
int fetch_policy(struct fetch *f, const char *domain, const char *addr, unsigned timeout_ms,
                 fetch_callback cb, void *arg);

#endif
