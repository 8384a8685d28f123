/*
 * tlsa_make - certificates and keys of PEM files into TLSA association data,
 * and TLSA owner names. See include/mxtls/tlsa_make.h for the contract and
 * the RFC sections.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "mxtls/domain.h"
#include "mxtls/tlsa_make.h"

/* no_password - PEM callback: never prompt (an encrypted PEM block just fails) */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* tlsa_chain_finish - release the certificates of a chain */
void tlsa_chain_finish(struct tlsa_chain *chain)
{
    if (chain == NULL)
        return;
    for (size_t i = 0; i < chain->n && i < TLSA_CHAIN_MAX; i++)
        X509_free(chain->cert[i]);
    chain->n = 0;
}

/* read_chain - tlsa_chain_load's loop, inside the caller's error-queue mark */
static int read_chain(BIO *bio, struct tlsa_chain *chain, struct mxtls_diag *diag)
{
    for (;;) {
        X509 *cert = PEM_read_bio_X509(bio, NULL, no_password, NULL);

        if (cert == NULL) {
            unsigned long e = ERR_peek_last_error();

            /* No further "BEGIN CERTIFICATE" line: the end of the file. */
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
                break;
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                  "certificate %zu of the file does not decode", chain->n + 1);
        }
        if (chain->n == TLSA_CHAIN_MAX) {
            X509_free(cert);
            return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "more than %d certificates in the file",
                                  TLSA_CHAIN_MAX);
        }
        chain->cert[chain->n++] = cert;
    }
    if (chain->n == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "no PEM \"BEGIN CERTIFICATE\" block in the file");
    return 0;
}

/* tlsa_chain_load - every PEM certificate of a file's text, in order */
int tlsa_chain_load(const char *pem, size_t len, struct tlsa_chain *chain, struct mxtls_diag *diag)
{
    BIO *bio;
    int err;

    chain->n = 0;
    if (len > TLSA_CERT_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, TLSA_CERT_MAX, "PEM text longer than %d octets",
                              TLSA_CERT_MAX);
    ERR_set_mark();
    /* A memory BIO reads the caller's buffer: no file or terminal I/O. */
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        err = mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    else
        err = read_chain(bio, chain, diag);
    BIO_free(bio);
    ERR_pop_to_mark();
    if (err < 0)
        tlsa_chain_finish(chain);
    return err;
}

/* is_ca - a CA certificate: RFC 5280 §4.2.1.9 cA, or a v1 self-signed root */
static bool is_ca(X509 *cert)
{
    int r;

    ERR_set_mark();
    /* X509_check_ca: 1 cA true, 3 v1 self-signed, 4 keyCertSign without
     * basicConstraints, 5 Netscape CA type; 0 not a CA. Only 1 and 3 are CAs
     * an RFC 5280 verifier (OpenSSL's, Postfix's) builds a chain through. */
    r = X509_check_ca(cert);
    ERR_pop_to_mark();
    return r == 1 || r == 3;
}

/* subject - the certificate's subject, one line, for a message */
static void subject(X509 *cert, char *buf, size_t size)
{
    X509_NAME_oneline(X509_get_subject_name(cert), buf, (int)size);
}

/* tlsa_chain_pick - which certificate of the file a usage takes */
int tlsa_chain_pick(const struct tlsa_chain *chain, uint8_t usage, size_t *index,
                    struct mxtls_diag *diag)
{
    char name[256];

    if (chain == NULL || chain->n == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "no certificate");
    /* RFC 6698 §2.1.1: usages 1 and 3 name the end-entity certificate. */
    if (usage == TLSA_USAGE_PKIX_EE || usage == TLSA_USAGE_DANE_EE) {
        *index = 0;
        return 0;
    }
    if (usage != TLSA_USAGE_PKIX_TA && usage != TLSA_USAGE_DANE_TA)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "usage %u is not assigned: 0 to 3, RFC 6698 §2.1.1", usage);
    /* RFC 6698 §2.1.1: usages 0 and 2 name a CA certificate (trust anchor).
     * The leaf's immediate issuer is the one the server always sends, as
     * RFC 7671 §5.2.2 needs for DANE-TA(2). */
    *index = 0;
    if (chain->n > 1) {
        size_t i;

        for (i = 1; i < chain->n; i++) {
            int r;

            ERR_set_mark();
            r = X509_check_issued(chain->cert[i], chain->cert[0]);
            ERR_pop_to_mark();
            if (r == X509_V_OK)
                break;
        }
        if (i == chain->n) {
            subject(chain->cert[0], name, sizeof(name));
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                  "usage %u (%s) takes the issuer of the first certificate (%s), "
                                  "and no other certificate in the file issued it",
                                  usage, tlsa_usage_name(usage), name);
        }
        *index = i;
    }
    if (!is_ca(chain->cert[*index])) {
        subject(chain->cert[*index], name, sizeof(name));
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "usage %u (%s) needs a CA certificate, and certificate %zu (%s) is "
                              "not one (no basicConstraints cA, RFC 5280 §4.2.1.9): give the "
                              "CA's certificate, or a chain file with the issuer",
                              usage, tlsa_usage_name(usage), *index + 1, name);
    }
    return 0;
}

/* read_key - the first private key, else the first public key, of PEM text */
static EVP_PKEY *read_key(const char *pem, size_t len)
{
    EVP_PKEY *key = NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);

    if (bio == NULL)
        return NULL;
    key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    if (key != NULL)
        return key;
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return NULL;
    key = PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
    BIO_free(bio);
    return key;
}

/* contains - whether (buf, len) contains the NUL-terminated needle */
static bool contains(const char *buf, size_t len, const char *needle)
{
    return memmem(buf, len, needle, strlen(needle)) != NULL;
}

/* spki_record - the record for a SubjectPublicKeyInfo DER */
static int spki_record(const unsigned char *der, size_t n, uint8_t usage, uint8_t mtype,
                       struct tlsa *rr, struct mxtls_diag *diag)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    /* RFC 6698 §2.1.3: Full(0) is the selected content itself, 1 and 2 its digests. */
    if (mtype == TLSA_MTYPE_FULL)
        return tlsa_init(rr, usage, TLSA_SELECTOR_SPKI, mtype, der, n, diag);
    if (EVP_Digest(der, n, md, &mdlen, mtype == TLSA_MTYPE_SHA2_256 ? EVP_sha256() : EVP_sha512(),
                   NULL) != 1)
        return mxtls_diag_set(diag, MXTLS_ECRYPTO, 0, "%s digest failed", tlsa_mtype_name(mtype));
    return tlsa_init(rr, usage, TLSA_SELECTOR_SPKI, mtype, md, mdlen, diag);
}

/* tlsa_from_key_pem - the SPKI(1) record of a private or public key */
int tlsa_from_key_pem(const char *pem, size_t len, uint8_t usage, uint8_t selector, uint8_t mtype,
                      struct tlsa *rr, struct mxtls_diag *diag)
{
    unsigned char *der = NULL;
    EVP_PKEY *key;
    int n, err;

    rr->usage = rr->selector = rr->mtype = 0;
    rr->len = 0;
    rr->data = NULL;
    if (selector != TLSA_SELECTOR_SPKI)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 1,
                              "selector %u (%s) cannot be computed from a key: only SPKI(1), "
                              "RFC 6698 §2.1.2; selector 0 needs the certificate",
                              selector, tlsa_selector_name(selector));
    if (mtype > TLSA_MTYPE_SHA2_512)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 2,
                              "cannot compute matching type %u: only Full(0), SHA2-256(1) "
                              "and SHA2-512(2)",
                              mtype);
    if (len > TLSA_CERT_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, TLSA_CERT_MAX, "PEM text longer than %d octets",
                              TLSA_CERT_MAX);
    ERR_set_mark();
    key = read_key(pem, len);
    n = key == NULL ? -1 : i2d_PUBKEY(key, &der);
    ERR_pop_to_mark();
    EVP_PKEY_free(key);
    if (key == NULL) {
        if (contains(pem, len, "ENCRYPTED"))
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                  "the private key is encrypted: give its public key instead "
                                  "(openssl pkey -in KEY -pubout)");
        if (contains(pem, len, "-----BEGIN CERTIFICATE-----"))
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                  "no key in the file, only a certificate: use --cert");
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "no PEM private or public key block that decodes (BEGIN PRIVATE "
                              "KEY, BEGIN RSA/EC PRIVATE KEY or BEGIN PUBLIC KEY)");
    }
    if (n <= 0 || der == NULL) {
        OPENSSL_free(der);
        return mxtls_diag_set(diag, MXTLS_ECRYPTO, 0, "cannot DER-encode the public key");
    }
    ERR_set_mark();
    err = spki_record(der, (size_t)n, usage, mtype, rr, diag);
    ERR_pop_to_mark();
    OPENSSL_free(der);
    return err;
}

/* tlsa_owner_name - "_<port>._tcp.<host>." */
int tlsa_owner_name(const char *host, size_t len, unsigned long port, char *out, size_t outsize,
                    struct mxtls_diag *diag)
{
    char name[DOMAIN_BUF_SIZE];
    int err, n;

    /* RFC 6698 §3: the owner is "_" port "._" protocol "." base name. */
    if (port == 0 || port > 65535)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "port %lu: expected 1 to 65535", port);
    err = domain_normalize(host, len, name, sizeof(name), diag);
    if (err < 0)
        return err;
    n = snprintf(out, outsize, "_%lu._tcp.%s.", port, name);
    if (n < 0 || (size_t)n >= outsize)
        return mxtls_diag_set(diag, MXTLS_ENOSPACE, 0, "owner name buffer too small");
    return 0;
}
