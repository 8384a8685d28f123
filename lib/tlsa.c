/*
 * tlsa - the DANE TLSA record: parse, format, judge usability, compute.
 * See include/mxtls/tlsa.h for the contract and the RFC sections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mxtls/tlsa.h"

/* tlsa_empty - the state every failure leaves a record in */
static void tlsa_empty(struct tlsa *rr)
{
    rr->usage = 0;
    rr->selector = 0;
    rr->mtype = 0;
    rr->len = 0;
    rr->data = NULL;
}

/* tlsa_init - fill a record with a copy of the given data */
int tlsa_init(struct tlsa *rr, uint8_t usage, uint8_t selector, uint8_t mtype, const uint8_t *data,
              size_t len, struct mxtls_diag *diag)
{
    tlsa_empty(rr);
    if (len == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 3, "empty certificate association data");
    if (len > TLSA_DATA_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 3,
                              "certificate association data longer than %d octets", TLSA_DATA_MAX);
    rr->data = malloc(len);
    if (rr->data == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    memcpy(rr->data, data, len);
    rr->len = len;
    rr->usage = usage;
    rr->selector = selector;
    rr->mtype = mtype;
    return 0;
}

/* tlsa_finish - release a record's data */
void tlsa_finish(struct tlsa *rr)
{
    if (rr == NULL)
        return;
    free(rr->data);
    tlsa_empty(rr);
}

/* tlsa_parse_wire - parse RDATA: usage, selector, matching type, data */
int tlsa_parse_wire(const char *buf, size_t len, struct tlsa *rr, struct mxtls_diag *diag)
{
    const uint8_t *p = (const uint8_t *)buf;

    tlsa_empty(rr);
    /* RFC 6698 §2.1: three one-octet fields, then the data. */
    if (len < 3)
        return mxtls_diag_set(diag, MXTLS_EINVAL, len,
                              "TLSA RDATA of %zu octets is shorter than its 3 fixed octets "
                              "(RFC 6698 §2.1)",
                              len);
    /* Empty data can match no certificate: reject it here, so that every
     * accepted record also has a presentation form (RFC 6698 §2.2 needs hex). */
    if (len == 3)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 3,
                              "empty certificate association data (RFC 6698 §2.1.4)");
    return tlsa_init(rr, p[0], p[1], p[2], p + 3, len - 3, diag);
}

/*
 * Presentation form scanner. Tokens are separated by blanks; RFC 1035 §5.1
 * parentheses make line breaks blanks, and ';' starts a comment that runs to
 * the end of the line. Outside parentheses a line break ends the record.
 */
struct scan {
    const char *buf;
    size_t len;
    size_t pos;
    bool in_paren;
    bool ended; /* a line break was seen outside parentheses */
};

static bool is_delim(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(' || c == ')' || c == ';';
}

/* scan_token - find the next token; 1 and (start, tlen), 0 at the end, or an error */
static int scan_token(struct scan *s, size_t *start, size_t *tlen, struct mxtls_diag *diag)
{
    while (s->pos < s->len) {
        unsigned char c = (unsigned char)s->buf[s->pos];

        if (c == ' ' || c == '\t') {
            s->pos++;
        } else if (c == '\r' || c == '\n') {
            if (!s->in_paren)
                s->ended = true;
            s->pos++;
        } else if (c == ';') {
            /* RFC 1035 §5.1: a comment is ignored up to the end of the line. */
            while (s->pos < s->len && s->buf[s->pos] != '\n')
                s->pos++;
        } else if (s->ended) {
            return mxtls_diag_set(diag, MXTLS_EINVAL, s->pos,
                                  "text after a line break: a record continues on the next "
                                  "line only inside parentheses (RFC 1035 §5.1)");
        } else if (c == '(') {
            if (s->in_paren)
                return mxtls_diag_set(diag, MXTLS_EINVAL, s->pos,
                                      "nested '(' (RFC 1035 §5.1 groups do not nest)");
            s->in_paren = true;
            s->pos++;
        } else if (c == ')') {
            if (!s->in_paren)
                return mxtls_diag_set(diag, MXTLS_EINVAL, s->pos, "')' without '('");
            s->in_paren = false;
            s->pos++;
        } else {
            *start = s->pos;
            while (s->pos < s->len && !is_delim((unsigned char)s->buf[s->pos]))
                s->pos++;
            *tlen = s->pos - *start;
            return 1;
        }
    }
    if (s->in_paren)
        return mxtls_diag_set(diag, MXTLS_EINVAL, s->len, "'(' is never closed");
    return 0;
}

static const char *const field_names[3] = {"usage", "selector", "matching type"};

/* parse_u8 - one decimal field 0-255 of at most three digits (RFC 6698 §2.2) */
static int parse_u8(const char *tok, size_t tlen, size_t off, int field, uint8_t *out,
                    struct mxtls_diag *diag)
{
    unsigned value = 0;
    size_t i;

    if (tok[0] == '+' || tok[0] == '-')
        return mxtls_diag_set(diag, MXTLS_EINVAL, off,
                              "%s field has a sign: it is an unsigned decimal number 0-255 "
                              "(RFC 6698 §2.2)",
                              field_names[field]);
    if (tok[0] == '\\')
        return mxtls_diag_set(diag, MXTLS_EINVAL, off,
                              "the RFC 3597 generic form (\\#) is not supported: give the "
                              "fields as \"usage selector type hex\" (RFC 6698 §2.2)");
    for (i = 0; i < tlen; i++) {
        unsigned char c = (unsigned char)tok[i];

        if (c < '0' || c > '9')
            return mxtls_diag_set(
                diag, MXTLS_EINVAL, off + i, "%s field is not a decimal number 0-255%s",
                field_names[field],
                (c | 0x20) >= 'a' && (c | 0x20) <= 'z' && i == 0
                    ? " (mnemonics such as DANE-EE are not accepted, RFC 6698 §2.2)"
                    : " (RFC 6698 §2.2)");
        if (i >= 3)
            return mxtls_diag_set(diag, MXTLS_EINVAL, off,
                                  "%s field has more than 3 digits (RFC 6698 §2.2: 8 bits)",
                                  field_names[field]);
        value = value * 10 + (unsigned)(c - '0');
    }
    if (value > 255)
        return mxtls_diag_set(diag, MXTLS_EINVAL, off,
                              "%s field %u is out of range 0-255 (RFC 6698 §2.2: 8 bits)",
                              field_names[field], value);
    *out = (uint8_t)value;
    return 0;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* tlsa_parse_text - parse the presentation form "U S M hex..." */
int tlsa_parse_text(const char *buf, size_t len, struct tlsa *rr, struct mxtls_diag *diag)
{
    struct scan s = {buf, len, 0, false, false};
    uint8_t fields[3], *data = NULL;
    size_t start = 0, tlen = 0, digits = 0, cap, i;
    int field, got, err;

    tlsa_empty(rr);
    if (len > TLSA_TEXT_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, TLSA_TEXT_MAX,
                              "TLSA text longer than %d octets", TLSA_TEXT_MAX);
    for (field = 0; field < 3; field++) {
        got = scan_token(&s, &start, &tlen, diag);
        if (got < 0)
            return got;
        if (got == 0)
            return mxtls_diag_set(diag, MXTLS_EINVAL, len, "missing %s field (RFC 6698 §2.2)",
                                  field_names[field]);
        err = parse_u8(buf + start, tlen, start, field, &fields[field], diag);
        if (err < 0)
            return err;
    }

    /* The data can be no longer than half the hex text left, nor than the cap. */
    cap = (len - s.pos) / 2;
    if (cap > TLSA_DATA_MAX)
        cap = TLSA_DATA_MAX;
    if (cap > 0) {
        data = calloc(cap, 1);
        if (data == NULL)
            return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    }
    /* RFC 6698 §2.2: whitespace is allowed anywhere within the hex string, so
     * digits pair up across blanks, as in zone file parsers. */
    while ((got = scan_token(&s, &start, &tlen, diag)) > 0) {
        for (i = 0; i < tlen; i++) {
            unsigned char c = (unsigned char)buf[start + i];
            int v = hex_value(c);

            if (v < 0) {
                free(data);
                return mxtls_diag_set(diag, MXTLS_EINVAL, start + i,
                                      "octet 0x%02x in the association data is not a hex "
                                      "digit (RFC 6698 §2.2)",
                                      c);
            }
            if (digits / 2 >= cap) {
                free(data);
                return mxtls_diag_set(diag, MXTLS_ETOOLONG, start + i,
                                      "certificate association data longer than %d octets",
                                      TLSA_DATA_MAX);
            }
            data[digits / 2] = (uint8_t)(data[digits / 2] << 4 | v);
            digits++;
        }
    }
    if (got < 0) {
        free(data);
        return got;
    }
    if (digits == 0) {
        free(data);
        return mxtls_diag_set(diag, MXTLS_EINVAL, len,
                              "missing certificate association data (RFC 6698 §2.2)");
    }
    if (digits % 2 != 0) {
        free(data);
        return mxtls_diag_set(diag, MXTLS_EINVAL, len,
                              "odd number of hex digits (%zu) in the association data "
                              "(RFC 6698 §2.2)",
                              digits);
    }
    err = tlsa_init(rr, fields[0], fields[1], fields[2], data, digits / 2, diag);
    free(data);
    return err;
}

/* tlsa_format_text - canonical one-line presentation form */
char *tlsa_format_text(const struct tlsa *rr)
{
    static const char hex[] = "0123456789abcdef";
    size_t size, i;
    char *out;
    int n;

    if (rr == NULL || rr->data == NULL || rr->len == 0 || rr->len > TLSA_DATA_MAX)
        return NULL;
    size = sizeof("255 255 255 ") + 2 * rr->len;
    out = malloc(size);
    if (out == NULL)
        return NULL;
    n = snprintf(out, size, "%u %u %u ", rr->usage, rr->selector, rr->mtype);
    for (i = 0; i < rr->len; i++) {
        out[n + 2 * i] = hex[rr->data[i] >> 4];
        out[n + 2 * i + 1] = hex[rr->data[i] & 0x0f];
    }
    out[n + 2 * rr->len] = '\0';
    return out;
}

/* tlsa_format_wire - RDATA of a record */
int tlsa_format_wire(const struct tlsa *rr, uint8_t *out, size_t outsize, size_t *outlen,
                     struct mxtls_diag *diag)
{
    if (rr == NULL || rr->data == NULL || rr->len == 0 || rr->len > TLSA_DATA_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "empty or oversized TLSA record");
    if (outsize < 3 + rr->len)
        return mxtls_diag_set(diag, MXTLS_ENOSPACE, 0, "output buffer too small");
    out[0] = rr->usage;
    out[1] = rr->selector;
    out[2] = rr->mtype;
    memcpy(out + 3, rr->data, rr->len);
    *outlen = 3 + rr->len;
    return 0;
}

/* tlsa_equal - same fields and data */
bool tlsa_equal(const struct tlsa *a, const struct tlsa *b)
{
    return a->usage == b->usage && a->selector == b->selector && a->mtype == b->mtype &&
           a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* tlsa_usage_name - RFC 7218 acronym of a usage */
const char *tlsa_usage_name(uint8_t usage)
{
    static const char *const names[] = {"PKIX-TA", "PKIX-EE", "DANE-TA", "DANE-EE"};

    if (usage < 4)
        return names[usage];
    return usage == 255 ? "PrivCert" : "unassigned";
}

/* tlsa_selector_name - RFC 7218 acronym of a selector */
const char *tlsa_selector_name(uint8_t selector)
{
    if (selector == TLSA_SELECTOR_CERT)
        return "Cert";
    if (selector == TLSA_SELECTOR_SPKI)
        return "SPKI";
    return selector == 255 ? "PrivSel" : "unassigned";
}

/* tlsa_mtype_name - RFC 7218 acronym of a matching type */
const char *tlsa_mtype_name(uint8_t mtype)
{
    static const char *const names[] = {"Full", "SHA2-256", "SHA2-512"};

    if (mtype < 3)
        return names[mtype];
    return mtype == 255 ? "PrivMatch" : "unassigned";
}

/*
 * full_data_loads - whether Full(0) data is one whole DER object of the kind
 * the selector names, as OpenSSL's SSL_dane_tlsa_add() (the verifier Postfix
 * uses) requires before it will use the record.
 */
static bool full_data_loads(const struct tlsa *rr)
{
    const unsigned char *p = rr->data;
    bool ok = false;

    ERR_set_mark();
    if (rr->selector == TLSA_SELECTOR_CERT) {
        X509 *cert = d2i_X509(NULL, &p, (long)rr->len);

        ok = cert != NULL && p == rr->data + rr->len;
        X509_free(cert);
    } else {
        EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)rr->len);

        ok = key != NULL && p == rr->data + rr->len;
        EVP_PKEY_free(key);
    }
    ERR_pop_to_mark();
    return ok;
}

/* tlsa_usable - RFC 7672 §3.1 usability for SMTP, with the reason when not */
int tlsa_usable(const struct tlsa *rr, struct mxtls_diag *diag)
{
    size_t want;

    /* RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are not for SMTP. */
    if (rr->usage == TLSA_USAGE_PKIX_TA || rr->usage == TLSA_USAGE_PKIX_EE)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "usage %u (%s) is not usable for SMTP, RFC 7672 §3.1.3", rr->usage,
                              tlsa_usage_name(rr->usage));
    /* RFC 7672 §3.1: SMTP uses DANE-TA(2) (§3.1.2) and DANE-EE(3) (§3.1.1). */
    if (rr->usage != TLSA_USAGE_DANE_TA && rr->usage != TLSA_USAGE_DANE_EE)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "usage %u (%s) is not supported: SMTP uses DANE-TA(2) and "
                              "DANE-EE(3), RFC 7672 §3.1",
                              rr->usage, tlsa_usage_name(rr->usage));
    if (rr->selector != TLSA_SELECTOR_CERT && rr->selector != TLSA_SELECTOR_SPKI)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 1,
                              "selector %u (%s) is not supported: Cert(0) or SPKI(1), "
                              "RFC 7672 §3.1",
                              rr->selector, tlsa_selector_name(rr->selector));
    if (rr->mtype > TLSA_MTYPE_SHA2_512)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 2,
                              "matching type %u (%s) is not supported: Full(0), SHA2-256(1) "
                              "or SHA2-512(2), RFC 7672 §3.1",
                              rr->mtype, tlsa_mtype_name(rr->mtype));
    if (rr->len == 0 || rr->data == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 3, "empty certificate association data");
    if (rr->mtype != TLSA_MTYPE_FULL) {
        /* RFC 6698 §2.1.3: the data is the digest itself, so its length is fixed. */
        want = rr->mtype == TLSA_MTYPE_SHA2_256 ? 32 : 64;
        if (rr->len != want)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 3,
                                  "%s data is %zu octets, not %zu: malformed record, "
                                  "RFC 6698 §2.1.3",
                                  tlsa_mtype_name(rr->mtype), rr->len, want);
        return 0;
    }
    /* Full(0): the data is the certificate or key itself (RFC 6698 §2.1.3).
     * RFC 7671 §5 uses such records as the server's key (§5.1) or as a trust
     * anchor (§5.2), so data that does not decode can match nothing and
     * anchor nothing; OpenSSL refuses it, and so Postfix cannot use it. */
    if (!full_data_loads(rr))
        return mxtls_diag_set(
            diag, MXTLS_EINVAL, 3, "Full(0) data is not one DER %s, RFC 6698 §2.1.3, RFC 7671 §5",
            rr->selector == TLSA_SELECTOR_CERT ? "certificate" : "SubjectPublicKeyInfo");
    return 0;
}

/* selected_der - DER of the whole certificate or of its SubjectPublicKeyInfo */
static int selected_der(const X509 *cert, uint8_t selector, unsigned char **der,
                        struct mxtls_diag *diag)
{
    int n;

    *der = NULL;
    if (selector == TLSA_SELECTOR_CERT)
        n = i2d_X509(cert, der);
    else
        n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), der);
    if (n <= 0 || *der == NULL) {
        OPENSSL_free(*der);
        *der = NULL;
        return mxtls_diag_set(diag, MXTLS_ECRYPTO, 0, "cannot DER-encode the %s",
                              selector == TLSA_SELECTOR_CERT ? "certificate" : "public key");
    }
    return n;
}

/* compute - tlsa_from_x509 without the OpenSSL error-queue bookkeeping */
static int compute(const X509 *cert, uint8_t usage, uint8_t selector, uint8_t mtype,
                   struct tlsa *rr, struct mxtls_diag *diag)
{
    unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int n, err;

    n = selected_der(cert, selector, &der, diag);
    if (n < 0)
        return n;
    if (mtype == TLSA_MTYPE_FULL) {
        err = tlsa_init(rr, usage, selector, mtype, der, (size_t)n, diag);
    } else if (EVP_Digest(der, (size_t)n, md, &mdlen,
                          mtype == TLSA_MTYPE_SHA2_256 ? EVP_sha256() : EVP_sha512(), NULL) != 1) {
        err = mxtls_diag_set(diag, MXTLS_ECRYPTO, 0, "%s digest failed", tlsa_mtype_name(mtype));
    } else {
        err = tlsa_init(rr, usage, selector, mtype, md, mdlen, diag);
    }
    OPENSSL_free(der);
    return err;
}

/* tlsa_from_x509 - the record of the given kind for a certificate */
int tlsa_from_x509(const X509 *cert, uint8_t usage, uint8_t selector, uint8_t mtype,
                   struct tlsa *rr, struct mxtls_diag *diag)
{
    int err;

    tlsa_empty(rr);
    if (cert == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "no certificate");
    if (selector > TLSA_SELECTOR_SPKI)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 1,
                              "cannot compute selector %u: only Cert(0) and SPKI(1)", selector);
    if (mtype > TLSA_MTYPE_SHA2_512)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 2,
                              "cannot compute matching type %u: only Full(0), SHA2-256(1) "
                              "and SHA2-512(2)",
                              mtype);
    ERR_set_mark();
    err = compute(cert, usage, selector, mtype, rr, diag);
    ERR_pop_to_mark();
    return err;
}

/* tlsa_from_der - the record of the given kind for one DER certificate */
int tlsa_from_der(const char *der, size_t len, uint8_t usage, uint8_t selector, uint8_t mtype,
                  struct tlsa *rr, struct mxtls_diag *diag)
{
    const unsigned char *p = (const unsigned char *)der;
    X509 *cert;
    int err;

    tlsa_empty(rr);
    if (len > TLSA_CERT_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, TLSA_CERT_MAX,
                              "certificate longer than %d octets", TLSA_CERT_MAX);
    ERR_set_mark();
    cert = d2i_X509(NULL, &p, (long)len);
    ERR_pop_to_mark();
    if (cert == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "not a DER certificate");
    if (p != (const unsigned char *)der + len) {
        X509_free(cert);
        return mxtls_diag_set(diag, MXTLS_EINVAL, (size_t)(p - (const unsigned char *)der),
                              "octets after the end of the DER certificate");
    }
    err = tlsa_from_x509(cert, usage, selector, mtype, rr, diag);
    X509_free(cert);
    return err;
}

/* no_password - PEM callback: never prompt (an encrypted PEM block just fails) */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* tlsa_from_pem - the record of the given kind for the first PEM certificate */
int tlsa_from_pem(const char *pem, size_t len, uint8_t usage, uint8_t selector, uint8_t mtype,
                  struct tlsa *rr, struct mxtls_diag *diag)
{
    X509 *cert = NULL;
    BIO *bio;
    int err;

    tlsa_empty(rr);
    if (len > TLSA_CERT_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, TLSA_CERT_MAX, "PEM text longer than %d octets",
                              TLSA_CERT_MAX);
    ERR_set_mark();
    /* A memory BIO reads the caller's buffer: no file or terminal I/O. */
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio != NULL)
        cert = PEM_read_bio_X509(bio, NULL, no_password, NULL);
    BIO_free(bio);
    ERR_pop_to_mark();
    if (bio == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    if (cert == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "no PEM \"BEGIN CERTIFICATE\" block that decodes");
    err = tlsa_from_x509(cert, usage, selector, mtype, rr, diag);
    X509_free(cert);
    return err;
}

/* tlsa_record_for_cert - "3 1 1 <hex>" for a certificate */
char *tlsa_record_for_cert(const X509 *cert, struct mxtls_diag *diag)
{
    struct tlsa rr;
    char *text;

    /* RFC 7672 §3.1.1: DANE-EE(3) SPKI(1) SHA2-256(1) survives certificate
     * renewal with the same key, and needs no name checks. */
    if (tlsa_from_x509(cert, TLSA_USAGE_DANE_EE, TLSA_SELECTOR_SPKI, TLSA_MTYPE_SHA2_256, &rr,
                       diag) < 0)
        return NULL;
    text = tlsa_format_text(&rr);
    tlsa_finish(&rr);
    if (text == NULL)
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    return text;
}

/* tlsa_match_x509 - whether a record's data matches a certificate */
int tlsa_match_x509(const struct tlsa *rr, const X509 *cert, struct mxtls_diag *diag)
{
    struct tlsa mine;
    bool same;
    int err;

    err = tlsa_from_x509(cert, rr->usage, rr->selector, rr->mtype, &mine, diag);
    if (err < 0)
        return err;
    same = mine.len == rr->len && memcmp(mine.data, rr->data, rr->len) == 0;
    tlsa_finish(&mine);
    if (!same)
        return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 3,
                              "the certificate's %s %s does not match the record",
                              tlsa_selector_name(rr->selector), tlsa_mtype_name(rr->mtype));
    return 0;
}
