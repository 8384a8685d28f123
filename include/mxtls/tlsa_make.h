/*
 * tlsa_make - what `mxtls tlsa gen` needs beyond tlsa.h: the certificates of
 * a PEM chain file, which one a record of a given usage is made from, a
 * record from a private or public key, and the record's owner name.
 *
 * Input is a file's text, handed over as (buf, len) by the caller (no I/O
 * here): an operator's certificate or key file, which may be anything. Every
 * function caps what it reads, never prompts for a pass phrase, leaves the
 * OpenSSL error queue as it found it and fails with a reason in struct
 * mxtls_diag.
 *
 * Which certificate a usage takes (RFC 6698 §2.1.1, RFC 7671 §5): the first
 * certificate of the file is the server's own (leaf), as in a "fullchain"
 * file. DANE-EE(3) and PKIX-EE(1) take it. DANE-TA(2) and PKIX-TA(0) take
 * the certificate in the file that issued the first one (its immediate
 * issuer, the trust anchor RFC 7671 §5.2 expects the server to send), or,
 * when the file holds a single certificate, that certificate, which must
 * then be a CA certificate. A TA record made from a leaf would anchor
 * nothing.
 *
 * Ownership: struct tlsa_chain holds references to the certificates it
 * loaded; release them with tlsa_chain_finish(), which is safe after any
 * call (and on a zeroed struct).
 */
#ifndef MXTLS_TLSA_MAKE_H
#define MXTLS_TLSA_MAKE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "mxtls/diag.h"
#include "mxtls/tlsa.h"

#define TLSA_CHAIN_MAX 16 /* certificates read from one file */
/* "_65535._tcp." + a 253-octet name + "." + NUL */
#define TLSA_OWNER_BUF (12 + 253 + 2)

struct tlsa_chain {
    size_t n;                   /* 0..TLSA_CHAIN_MAX */
    X509 *cert[TLSA_CHAIN_MAX]; /* owned; file order, [0] the leaf */
};

/*
 * tlsa_chain_load - every "BEGIN CERTIFICATE" block of PEM text (pem, len;
 * at most TLSA_CERT_MAX octets, no NUL needed), in order, into *chain
 * (caller-provided, uninitialised). Other PEM blocks (a private key in a
 * combined file) and text between blocks are skipped. Returns 0 with
 * chain->n >= 1; MXTLS_EINVAL when no certificate block is found or one does
 * not decode (diag names which, counting from 1); MXTLS_ETOOLONG over
 * TLSA_CERT_MAX octets or TLSA_CHAIN_MAX certificates; MXTLS_ENOMEM. On
 * failure *chain is empty.
 */
int tlsa_chain_load(const char *pem, size_t len, struct tlsa_chain *chain, struct mxtls_diag *diag);

/* tlsa_chain_finish - release the certificates; leaves *chain empty. NULL is a no-op. */
void tlsa_chain_finish(struct tlsa_chain *chain);

/*
 * tlsa_chain_pick - the index in chain of the certificate a record of the
 * given usage is made from (see the top of this file). Returns 0 and sets
 * *index; MXTLS_EINVAL when the chain is empty, for a TA usage when no
 * certificate of a several-certificate file issued the first one, or when
 * the picked TA certificate is not a CA certificate (RFC 5280 §4.2.1.9
 * basicConstraints cA, or a self-signed version 1 root); and for a usage
 * other than 0-3 (RFC 6698 §2.1.1 assigns no others).
 */
int tlsa_chain_pick(const struct tlsa_chain *chain, uint8_t usage, size_t *index,
                    struct mxtls_diag *diag);

/*
 * tlsa_from_key_pem - as tlsa_from_x509 (tlsa.h), for the first private key
 * ("BEGIN PRIVATE KEY", "BEGIN RSA/EC PRIVATE KEY") or else the first public
 * key ("BEGIN PUBLIC KEY") in PEM text (pem, len; at most TLSA_CERT_MAX
 * octets). Only selector SPKI(1) can be computed from a key: the record is
 * then identical to the one for any certificate carrying that key, which is
 * why `tlsa gen --key` can publish the next key before its certificate
 * exists (RFC 7671 §8.1). Returns 0 (caller must tlsa_finish), MXTLS_EINVAL
 * (selector 0, matching type over 2, no key block, an encrypted key),
 * MXTLS_ETOOLONG, MXTLS_ECRYPTO, MXTLS_ENOMEM; then *rr is empty.
 */
int tlsa_from_key_pem(const char *pem, size_t len, uint8_t usage, uint8_t selector, uint8_t mtype,
                      struct tlsa *rr, struct mxtls_diag *diag);

/*
 * tlsa_owner_name - the owner name of a host's TLSA RRset for TCP port
 * port, "_<port>._tcp.<host>." (RFC 6698 §3, RFC 7672 §2.2: port 25 for
 * SMTP), into out (outsize octets; TLSA_OWNER_BUF suffices). host (len
 * octets, need not be NUL-terminated, one trailing dot allowed) must be a
 * valid host name (domain.h); it is written lower-case. Returns 0,
 * MXTLS_EINVAL (bad host, port 0 or over 65535), MXTLS_ETOOLONG or
 * MXTLS_ENOSPACE.
 */
int tlsa_owner_name(const char *host, size_t len, unsigned long port, char *out, size_t outsize,
                    struct mxtls_diag *diag);

#endif
