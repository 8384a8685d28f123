/*
 * smtp_probe - one SMTP STARTTLS probe of one MX address, asynchronous on a
 * libevent loop: connect, banner, EHLO, STARTTLS, the TLS handshake, and what
 * a sender would conclude from it (DANE with OpenSSL's DANE API, WebPKI with
 * the given trust store and the MX host name). For `mxtls check`,
 * `mxtls tlsa verify` and `mxtls tlsa rollover` (issue 11).
 *
 * The peer is hostile: every reply line and the whole EHLO reply are bounded,
 * every stage has the request's deadline, and a peer that sends garbage, stalls,
 * drops the connection or fails the handshake gives a result with the stage it
 * reached and a reason, never a crash or a hang. Exactly one completion per
 * successful smtp_probe_start, unless smtp_probe_cancel comes first.
 *
 * Replies are parsed by lib/smtp_reply.c (RFC 5321 §4.2; lines capped at
 * SMTP_REPLY_LINE_MAX, a reply at SMTP_REPLY_TOTAL_MAX octets); plaintext
 * after the STARTTLS 220 reply is refused (the CVE-2011-0411 injection).
 * OpenSSL writes to the socket with write(2): smtp_probe_start sets SIGPIPE
 * to SIG_IGN when its disposition is still SIG_DFL, so a peer that resets
 * mid-handshake cannot kill the program. The WebPKI trust store is loaded
 * once per ca_file and shared by later probes (a system bundle takes ~30 ms
 * to load): use the module from one thread.
 */
#ifndef MXTLS_IO_SMTP_PROBE_H
#define MXTLS_IO_SMTP_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "mxtls/tlsa.h"

struct event_base;
struct smtp_probe;

/* How far the probe got; the result's reason says why it stopped there. */
enum smtp_probe_stage {
    SMTP_PROBE_CONNECT = 0, /* TCP connect failed or timed out */
    SMTP_PROBE_BANNER,      /* no 220 greeting (silence, garbage, 4xx/5xx) */
    SMTP_PROBE_EHLO,        /* EHLO refused or its reply was malformed/oversized */
    SMTP_PROBE_NO_STARTTLS, /* EHLO succeeded but STARTTLS was not offered */
    SMTP_PROBE_STARTTLS,    /* STARTTLS command refused (not 220) */
    SMTP_PROBE_HANDSHAKE,   /* TLS handshake failed (alert, reset, timeout) */
    SMTP_PROBE_DONE,        /* TLS established; the fields below are filled */
};

struct smtp_probe_request {
    const char *host;    /* MX host name: SNI, EHLO checks, WebPKI name check */
    const char *address; /* numeric IPv4 or IPv6 address to connect to */
    uint16_t port;       /* normally 25 */
    const char *helo;    /* the name we send in EHLO; NULL: "mxtls.invalid" */
    /* DANE (RFC 7672): the TLSA RRset to verify against (may be empty).
       Unusable records (usage 0/1, unknown values) are skipped as RFC 7672
       §3.1 says. The TLSA base domain(s) for name checks of usage 2 are
       host (and the CNAME-expanded name if any: RFC 7672 §3.2.2). */
    const struct tlsa *tlsa;
    size_t n_tlsa;
    const char *tlsa_base_alt; /* CNAME-expanded host or NULL */
    const char *ca_file;       /* WebPKI trust store; NULL: OpenSSL's default paths */
    unsigned timeout_ms;       /* deadline for the whole probe */
};

struct smtp_probe_result {
    enum smtp_probe_stage stage;
    char reason[256]; /* empty when stage is DONE; otherwise what failed, for an operator */
    bool timed_out;   /* the probe ended at the request's deadline (stage: where it was) */
    char banner[256]; /* first line of the 220 greeting, sanitised, possibly cut */
    bool starttls_offered;
    /* Set when stage == SMTP_PROBE_DONE: */
    char tls_version[32];   /* "TLSv1.3" */
    char cipher[64];        /* OpenSSL cipher name */
    STACK_OF(X509) * chain; /* the presented chain, leaf first; owned by the result */
    time_t leaf_not_after;  /* the leaf's notAfter, UTC; 0 when unknown */
    /* DANE, when n_tlsa > 0: did a usable record match, which, at what depth. */
    bool dane_matched;
    int dane_record;       /* index into request.tlsa of the matching record, -1 if none */
    int dane_depth;        /* chain depth of the matched certificate (0 = leaf), -1 if none */
    char dane_reason[256]; /* why nothing matched, when n_tlsa > 0 and !dane_matched */
    /* WebPKI: chain valid up to the trust store, and valid for host. */
    bool webpki_chain_ok;
    bool webpki_name_ok;
    char webpki_reason[256]; /* OpenSSL's verify error string when !chain_ok or !name_ok */
};

typedef void (*smtp_probe_callback)(const struct smtp_probe_result *result, void *arg);

/*
 * smtp_probe_start - start one probe on base. The request is copied; the
 * result passed to cb is borrowed for the callback only (X509_up_ref what
 * must outlive it). Returns the probe (to cancel) or NULL when it could not
 * start (bad address, out of memory), with *err set to a message.
 */
struct smtp_probe *smtp_probe_start(struct event_base *base, const struct smtp_probe_request *req,
                                    smtp_probe_callback cb, void *arg, const char **err);

/* smtp_probe_cancel - stop a probe in flight; its callback is never called. */
void smtp_probe_cancel(struct smtp_probe *p);

/* smtp_probe_stage_name - "connect", "banner", ..., "done". */
const char *smtp_probe_stage_name(enum smtp_probe_stage stage);

#endif /* MXTLS_IO_SMTP_PROBE_H */
