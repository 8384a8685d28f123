/*
 * dkim_verify - verify the DKIM signature (RFC 6376) of an emailed TLS
 * report (RFC 8460 §5.3: reports sent by mail SHOULD be DKIM-signed), with
 * libopendkim.
 *
 * The signing key (RFC 6376 §3.6.2.2: TXT at SELECTOR._domainkey.DOMAIN) is
 * asked of the caller's lookup function, so the caller decides the resolver
 * (mxtls uses its own validating libunbound resolver, io/dns.h); libopendkim
 * never does DNS itself. RFC 8460 §3 registers the DKIM service type
 * "tlsrpt": a key whose s= lists "tlsrpt" is accepted for a report (stock
 * libopendkim accepts only "email" and "*").
 *
 * The outcome is one verdict for the message, named as in RFC 8601 §2.7.1:
 * "pass" when some signature verifies (the first passing one is reported,
 * preferring one whose domain is aligned with the From: domain), else
 * "fail" (signature or body hash mismatch, the key record absent or
 * unusable: RFC 6376 §6.1.2 PERMFAIL), "temperror" (the key lookup failed
 * for now: RFC 6376 §6.1.2 TEMPFAIL), "permerror" (the signature header
 * itself is malformed), "none" (no DKIM-Signature). With the verdict: the
 * signature's d= and s=, the From: domain and whether d= is that domain or
 * a parent of it ("aligned", relaxed as in RFC 7489 §3.1.1 without a public
 * suffix list), and a reason in words. A failing verdict is information,
 * never a refusal of the report.
 *
 * Ownership: dkim_verifier_new allocates; dkim_verifier_free(NULL) is a
 * no-op. Failures: dkim_verify_message returns 0 with the outcome filled in
 * every case a message can cause; a negative MXTLS_E* code (MXTLS_ENOMEM,
 * MXTLS_EIO for a libopendkim failure) with diag only when nothing could be
 * judged. Nothing logs or exits. Blocks as long as the lookup function does.
 */
#ifndef MXTLS_IO_DKIM_VERIFY_H
#define MXTLS_IO_DKIM_VERIFY_H

#include <stddef.h>

#include "mxtls/diag.h"

#define DKIM_NAME_BUF   256  /* a domain name or selector, NUL-terminated */
#define DKIM_REASON_BUF 1024 /* the reason in words */
#define DKIM_KEY_MAX    4096 /* octets of one key record (the TXT strings joined) */

/* The verdict for one message (RFC 8601 §2.7.1 names: dkim_verdict_name). */
enum dkim_verdict {
    DKIM_V_NONE,      /* no DKIM-Signature header */
    DKIM_V_PASS,      /* a signature verified */
    DKIM_V_FAIL,      /* no signature verified: mismatch, or no usable key */
    DKIM_V_TEMPERROR, /* the key could not be looked up now */
    DKIM_V_PERMERROR, /* the signature header is malformed */
};

struct dkim_outcome {
    enum dkim_verdict result;
    char domain[DKIM_NAME_BUF];      /* d= of the signature reported; "" with none */
    char selector[DKIM_NAME_BUF];    /* s= */
    char from_domain[DKIM_NAME_BUF]; /* the domain of the From: address; "" when none */
    int aligned;                     /* domain is from_domain or a parent of it */
    char reason[DKIM_REASON_BUF];    /* what happened, in words */
};

/* What a key lookup found. */
enum dkim_key_status {
    DKIM_KEY_FOUND,    /* buf holds the record */
    DKIM_KEY_NOTFOUND, /* the name or its TXT record does not exist */
    DKIM_KEY_TEMPFAIL, /* the lookup failed (SERVFAIL, timeout, DNSSEC bogus) */
};

/*
 * dkim_key_fn - look up the TXT record at qname (SELECTOR._domainkey.DOMAIN,
 * no trailing dot) and write it NUL-terminated into buf (bufsize octets; the
 * character-strings of the record joined, RFC 6376 §3.6.2.2). On
 * NOTFOUND/TEMPFAIL write the reason into why (whysize octets).
 */
typedef enum dkim_key_status (*dkim_key_fn)(void *arg, const char *qname, char *buf, size_t bufsize,
                                            char *why, size_t whysize);

struct dkim_verifier;

/* dkim_verifier_new - a verifier asking lookup(arg, ...) for keys; NULL with diag on failure */
struct dkim_verifier *dkim_verifier_new(dkim_key_fn lookup, void *arg, struct mxtls_diag *diag);

/* dkim_verifier_free - free; NULL is a no-op */
void dkim_verifier_free(struct dkim_verifier *v);

/*
 * dkim_verify_message - judge the message (buf, len), RFC 5322 with CRLF or
 * LF line ends, into *out (see the header comment). Returns 0, or a negative
 * MXTLS_E* code with diag when no verdict could be reached (out->result is
 * then DKIM_V_TEMPERROR with the reason).
 */
int dkim_verify_message(struct dkim_verifier *v, const char *buf, size_t len,
                        struct dkim_outcome *out, struct mxtls_diag *diag);

/* dkim_verdict_name - "none", "pass", "fail", "temperror" or "permerror" */
const char *dkim_verdict_name(enum dkim_verdict r);

/* dkim_has_signature - the header block of (buf, len) has a DKIM-Signature field */
int dkim_has_signature(const char *buf, size_t len);

#endif
