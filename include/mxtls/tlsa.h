/*
 * tlsa - the DANE TLSA record (RFC 6698): parse, format, judge, compute.
 *
 * A struct tlsa is one record: certificate usage, selector, matching type and
 * the certificate association data, which the record owns (heap, at most
 * TLSA_DATA_MAX octets, never empty). Two parsers fill it from hostile input:
 * tlsa_parse_wire() from RDATA as libunbound hands it over (RFC 6698 §2.1),
 * tlsa_parse_text() from the presentation form of zone files and `dig`
 * output, "3 1 1 8cb0fc6c..." (RFC 6698 §2.2). Both never read past len, cap
 * every field and reject anything malformed with a reason in struct
 * mxtls_diag. The formatters write the canonical forms back; parse(format(r))
 * equals r for every record either parser accepts.
 *
 * Parsing says nothing about whether an SMTP client can use a record:
 * tlsa_usable() decides that (RFC 7672 §3.1) and says why not. A record that
 * fails to parse is an unusable record, not an absent one: the RRset still
 * exists and still means "TLS is required" (RFC 7672 §2.2).
 *
 * tlsa_from_x509() and friends compute the association data for a
 * certificate, which is what `mxtls tlsa` prints and what a rotation check
 * compares. They use OpenSSL's libcrypto for DER encoding and digests only
 * (computation, no I/O) and leave the OpenSSL error queue as they found it.
 *
 * Ownership: struct tlsa is embedded by the caller; every function that fills
 * one leaves it either owning its data (release with tlsa_finish()) or empty
 * (data NULL, len 0), so tlsa_finish() is always safe after any call.
 */
#ifndef MXTLS_TLSA_H
#define MXTLS_TLSA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "mxtls/diag.h"

/*
 * Cap on the certificate association data. Digests are 32 or 64 octets; only
 * Full(0) records carry a whole certificate or SubjectPublicKeyInfo. A
 * certificate with an RSA-4096 key is about 1.5 KiB, and 8 KiB leaves room
 * for long SAN lists and RSA-8192 keys. RDATA could carry up to 65532 octets
 * (RFC 1035 §3.2.1 RDLENGTH is 16 bits), but nothing real needs that, and
 * an answer that large only travels over TCP anyway.
 */
#define TLSA_DATA_MAX 8192
#define TLSA_WIRE_MAX (3 + TLSA_DATA_MAX) /* longest RDATA tlsa_parse_wire accepts */
/* Cap on presentation input: hex for TLSA_DATA_MAX plus generous whitespace. */
#define TLSA_TEXT_MAX 65536
/* Cap on certificate input to tlsa_from_der / tlsa_from_pem. */
#define TLSA_CERT_MAX 262144

/* RFC 6698 §7.2-7.4 with the RFC 7218 acronyms. */
enum tlsa_usage {
    TLSA_USAGE_PKIX_TA = 0,
    TLSA_USAGE_PKIX_EE = 1,
    TLSA_USAGE_DANE_TA = 2,
    TLSA_USAGE_DANE_EE = 3,
};

enum tlsa_selector {
    TLSA_SELECTOR_CERT = 0, /* the whole certificate, DER */
    TLSA_SELECTOR_SPKI = 1, /* its SubjectPublicKeyInfo, DER */
};

enum tlsa_mtype {
    TLSA_MTYPE_FULL = 0,     /* the selected DER itself */
    TLSA_MTYPE_SHA2_256 = 1, /* SHA-256 of it, 32 octets */
    TLSA_MTYPE_SHA2_512 = 2, /* SHA-512 of it, 64 octets */
};

struct tlsa {
    uint8_t usage;    /* enum tlsa_usage, or any other octet as received */
    uint8_t selector; /* enum tlsa_selector, or any other octet */
    uint8_t mtype;    /* enum tlsa_mtype, or any other octet */
    size_t len;       /* 1..TLSA_DATA_MAX when filled, 0 when empty */
    uint8_t *data;    /* len octets, owned; NULL when empty */
};

/*
 * tlsa_init - fill *rr (caller-provided, uninitialised) with the given
 * fields and a copy of (data, len). Returns 0; MXTLS_EINVAL when len is 0;
 * MXTLS_ETOOLONG when len exceeds TLSA_DATA_MAX; MXTLS_ENOMEM. On failure
 * *rr is empty.
 */
int tlsa_init(struct tlsa *rr, uint8_t usage, uint8_t selector, uint8_t mtype, const uint8_t *data,
              size_t len, struct mxtls_diag *diag);

/* tlsa_finish - release the data *rr owns and leave it empty; NULL is a no-op. */
void tlsa_finish(struct tlsa *rr);

/*
 * tlsa_parse_wire - parse TLSA RDATA (buf, len): one octet each of usage,
 * selector and matching type, then the association data (RFC 6698 §2.1).
 * Any octet value is accepted in the first three fields (usability is
 * tlsa_usable's business). Returns 0 and fills *rr (caller must
 * tlsa_finish), or MXTLS_EINVAL (fewer than 4 octets: the data is empty, and
 * empty data matches no certificate), MXTLS_ETOOLONG (data over
 * TLSA_DATA_MAX), MXTLS_ENOMEM; then *rr is empty and diag says why.
 */
int tlsa_parse_wire(const char *buf, size_t len, struct tlsa *rr, struct mxtls_diag *diag);

/*
 * tlsa_parse_text - parse the presentation form of TLSA RDATA (buf, len; no
 * NUL needed), as in a zone file after "TLSA" or in `dig` output: three
 * unsigned decimal fields 0-255 (at most three digits, no sign), then the
 * association data in hexadecimal, either case, with blanks allowed anywhere
 * inside it (RFC 6698 §2.2). Fields are separated by spaces or tabs. The
 * zone-file grouping of RFC 1035 §5.1 is understood, as `dig +multiline`
 * prints it: parentheses (not nested), inside which line breaks are blanks,
 * and ';' comments to the end of a line. Outside parentheses a line break
 * ends the record: only blanks, line breaks and comments may follow. The hex
 * digit count must be even and non-zero.
 * Not accepted: the owner/TTL/class/type prefix of a whole RR, the RFC 3597
 * "\#" generic form, RFC 7218 mnemonics in place of numbers.
 * Returns 0 and fills *rr (caller must tlsa_finish), or MXTLS_EINVAL,
 * MXTLS_ETOOLONG (input over TLSA_TEXT_MAX, data over TLSA_DATA_MAX),
 * MXTLS_ENOMEM; then *rr is empty and diag has the reason and byte offset.
 */
int tlsa_parse_text(const char *buf, size_t len, struct tlsa *rr, struct mxtls_diag *diag);

/*
 * tlsa_format_text - the canonical presentation form of *rr on one line:
 * "U S M hex" with lower-case hex, no line break. Returns a NUL-terminated
 * heap string the caller frees, or NULL when out of memory or when *rr is
 * empty or its data longer than TLSA_DATA_MAX.
 */
char *tlsa_format_text(const struct tlsa *rr);

/*
 * tlsa_format_wire - write the RDATA of *rr (RFC 6698 §2.1) into out, which
 * holds outsize octets (TLSA_WIRE_MAX always suffices), and store its length
 * in *outlen. Returns 0, MXTLS_EINVAL (*rr empty or data over TLSA_DATA_MAX)
 * or MXTLS_ENOSPACE.
 */
int tlsa_format_wire(const struct tlsa *rr, uint8_t *out, size_t outsize, size_t *outlen,
                     struct mxtls_diag *diag);

/* tlsa_equal - true when both records have the same fields and data. */
bool tlsa_equal(const struct tlsa *a, const struct tlsa *b);

/*
 * tlsa_usable - whether an SMTP client can authenticate a server with *rr
 * (RFC 7672 §3.1): usage DANE-TA(2) or DANE-EE(3), selector Cert(0) or
 * SPKI(1), matching type Full(0), SHA2-256(1) or SHA2-512(2), and data that
 * fits the matching type: exactly 32 or 64 octets for the digests; for
 * Full(0), one whole DER certificate (selector 0) or SubjectPublicKeyInfo
 * (selector 1) that OpenSSL can load, nothing after it. Returns 0 when
 * usable, otherwise MXTLS_EINVAL with a one-line reason for a person in diag
 * (offset: 0 usage, 1 selector, 2 matching type, 3 data), e.g. "usage 1
 * (PKIX-EE) is not usable for SMTP, RFC 7672 §3.1.3".
 */
int tlsa_usable(const struct tlsa *rr, struct mxtls_diag *diag);

/*
 * tlsa_usage_name, tlsa_selector_name, tlsa_mtype_name - the RFC 7218
 * acronym of a field value ("DANE-EE", "SPKI", "SHA2-256", "PrivCert", ...),
 * or "unassigned". Never NULL.
 */
const char *tlsa_usage_name(uint8_t usage);
const char *tlsa_selector_name(uint8_t selector);
const char *tlsa_mtype_name(uint8_t mtype);

/*
 * tlsa_from_x509 - fill *rr (caller-provided, uninitialised) with a record
 * of the given usage, selector and matching type for certificate cert
 * (borrowed): selector 0 takes the certificate's DER, 1 its
 * SubjectPublicKeyInfo DER; matching type 0 keeps it, 1 and 2 take its
 * SHA-256 or SHA-512 digest. The usage is stored as given: it does not
 * change the data. Returns 0 (caller must tlsa_finish), MXTLS_EINVAL (no
 * cert, selector not 0-1 or matching type not 0-2),
 * MXTLS_ETOOLONG (Full(0) data over TLSA_DATA_MAX), MXTLS_ECRYPTO or
 * MXTLS_ENOMEM; then *rr is empty.
 */
int tlsa_from_x509(const X509 *cert, uint8_t usage, uint8_t selector, uint8_t mtype,
                   struct tlsa *rr, struct mxtls_diag *diag);

/*
 * tlsa_from_der - as tlsa_from_x509, for one DER certificate (der, len),
 * which must be all of the input (at most TLSA_CERT_MAX octets). Returns
 * also MXTLS_EINVAL when it does not decode as exactly one certificate.
 */
int tlsa_from_der(const char *der, size_t len, uint8_t usage, uint8_t selector, uint8_t mtype,
                  struct tlsa *rr, struct mxtls_diag *diag);

/*
 * tlsa_from_pem - as tlsa_from_x509, for the first "BEGIN CERTIFICATE"
 * block in PEM text (pem, len; at most TLSA_CERT_MAX octets, no NUL needed).
 * Text around the block and further blocks are ignored: a chain file gives
 * the record of its first (leaf) certificate. Returns also MXTLS_EINVAL when
 * no certificate block decodes.
 */
int tlsa_from_pem(const char *pem, size_t len, uint8_t usage, uint8_t selector, uint8_t mtype,
                  struct tlsa *rr, struct mxtls_diag *diag);

/*
 * tlsa_record_for_cert - the presentation form of the DANE-EE(3) SPKI(1)
 * SHA2-256(1) record for cert, "3 1 1 <64 hex digits>", the record RFC 7672
 * §3.1.1 recommends and `mxtls tlsa` prints. Returns a heap string the
 * caller frees, or NULL (diag says why).
 */
char *tlsa_record_for_cert(const X509 *cert, struct mxtls_diag *diag);

/*
 * tlsa_match_x509 - whether *rr's association data matches cert under *rr's
 * selector and matching type (the usage is not looked at: chain position is
 * the verifier's business). Returns 0 on a match, MXTLS_ENOTFOUND when the
 * data differs, or what tlsa_from_x509 returns for a selector or matching
 * type it cannot compute.
 */
int tlsa_match_x509(const struct tlsa *rr, const X509 *cert, struct mxtls_diag *diag);

#endif
