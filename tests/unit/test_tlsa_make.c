/*
 * test_tlsa_make - certificates and keys of PEM files into TLSA records, and
 * owner names (include/mxtls/tlsa_make.h), what `mxtls tlsa gen` prints.
 * Each row names the rule it exercises; removing the rule fails the row.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "unit.h"

#include "mxtls/tlsa.h"
#include "mxtls/tlsa_make.h"

/*
 * Fixtures made with the openssl command line (EC P-256, valid 100 years):
 *   ca.pem    openssl req -x509 -newkey ec ... -subj /CN=Test-CA
 *             -addext basicConstraints=critical,CA:TRUE
 *   leaf.pem  /CN=mx.example.test, CA:FALSE, issued by ca.pem; leaf.key its
 *             key (PKCS#8), leaf.pub the public key (openssl pkey -pubout),
 *             leaf.enc the key encrypted (openssl pkey -aes128)
 *   other.pem a second self-signed CA (/CN=Other) that issued nothing here
 * and the records with the hardening guide's pipeline:
 *   3 1 1: openssl x509 -in leaf.pem -noout -pubkey |
 *          openssl pkey -pubin -outform DER | sha256sum
 *   3 1 2, 2 1 1: the same with sha512sum, or on ca.pem
 *   3 1 0: ... | xxd -p;  3 0 1, 2 0 1, 2 0 2: openssl x509 -outform DER | sha256sum/sha512sum
 */

static const char ca_pem[] = "-----BEGIN CERTIFICATE-----\n"
                             "MIIBiDCCAS6gAwIBAgIUZ0/rgtMNjvSQOEQFUUpSX4PciD8wCgYIKoZIzj0EAwIw\n"
                             "EjEQMA4GA1UEAwwHVGVzdC1DQTAgFw0yNjEyMDIwNDI2MzdaGA8yMTI2MTEwODA0\n"
                             "MjYzN1owEjEQMA4GA1UEAwwHVGVzdC1DQTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
                             "A0IABDvhjY1xMOKLYuBtSfJhoqGjdInS0z4akFoeI69zQEwEVBm7u32VH+/lvwa3\n"
                             "EsBDqfit+K9VHZJiJ+fY8xsn8OejYDBeMB0GA1UdDgQWBBTtR/ExdT4EhAWbMcei\n"
                             "7+bl4IBJpDAfBgNVHSMEGDAWgBTtR/ExdT4EhAWbMcei7+bl4IBJpDAPBgNVHRMB\n"
                             "Af8EBTADAQH/MAsGA1UdDwQEAwIBBjAKBggqhkjOPQQDAgNIADBFAiABq0mO2f8r\n"
                             "X/N5sqp0WPV4t3P341ViaUIW+k8XK0iwvwIhAKX95Y0AT9CATsdYJhgiQ4y8ntBK\n"
                             "8rcpczHRIsqyxwOK\n"
                             "-----END CERTIFICATE-----\n";
static const char leaf_pem[] = "-----BEGIN CERTIFICATE-----\n"
                               "MIIBmjCCAT+gAwIBAgIUZ/SN3uupAdfy/F0yW5yqyvLQDS0wCgYIKoZIzj0EAwIw\n"
                               "EjEQMA4GA1UEAwwHVGVzdC1DQTAgFw0yNjEyMDIwNDI2MzdaGA8yMTI2MTEwODA0\n"
                               "MjYzN1owGjEYMBYGA1UEAwwPbXguZXhhbXBsZS50ZXN0MFkwEwYHKoZIzj0CAQYI\n"
                               "KoZIzj0DAQcDQgAEPi5wkfvLII8AJkAzKKroE1Hb4/IT2dqYjP+MZNsrCCp3RJ5E\n"
                               "3fWBTxUmk+/lIA4ZyeOQI5Hm7kMbydB1NfvA8aNpMGcwCQYDVR0TBAIwADAaBgNV\n"
                               "HREEEzARgg9teC5leGFtcGxlLnRlc3QwHQYDVR0OBBYEFIWGY1bAfH+C1mwqiLZq\n"
                               "dOpsKVpSMB8GA1UdIwQYMBaAFO1H8TF1PgSEBZsxx6Lv5uXggEmkMAoGCCqGSM49\n"
                               "BAMCA0kAMEYCIQDGHhFwINE34lN0CKHUHyQ238FofADcy/sgli9F7izH1wIhAJNU\n"
                               "2NInDO/HPFTLOjjYveWQRs6E8dcMrZtlaeXnLcbP\n"
                               "-----END CERTIFICATE-----\n";
static const char other_pem[] = "-----BEGIN CERTIFICATE-----\n"
                                "MIIBdjCCAR2gAwIBAgIUGUyGuJnxkbPz08lKITI91o4mPGUwCgYIKoZIzj0EAwIw\n"
                                "EDEOMAwGA1UEAwwFT3RoZXIwIBcNMjYxMjAyMDQyNjM3WhgPMjEyNjExMDgwNDI2\n"
                                "MzdaMBAxDjAMBgNVBAMMBU90aGVyMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
                                "ipqS0CFZ6s9itJUiMT26hOBuzNh4Isqslbb2LykumqfwMUMHJsj4UXtBBF850/4g\n"
                                "Wjw/tsfg1R1mpD1ZeUxKMKNTMFEwHQYDVR0OBBYEFHNrQXBaVLR6YB86/M6Oeei8\n"
                                "TBBCMB8GA1UdIwQYMBaAFHNrQXBaVLR6YB86/M6Oeei8TBBCMA8GA1UdEwEB/wQF\n"
                                "MAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgYZBNqSD610spw2Q9TGK8i+1XJW+Nfh6S\n"
                                "gJIzger8KvoCIHj/J91nv2lLxGfNf1Xqwfjl3cTi1p433uEHY5MHZ9v9\n"
                                "-----END CERTIFICATE-----\n";
static const char leaf_key[] = "-----BEGIN PRIVATE KEY-----\n"
                               "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgllVDfFudpvKmP0m6\n"
                               "sK1dBhL0yDetHm8xkwI99ObINhahRANCAAQ+LnCR+8sgjwAmQDMoqugTUdvj8hPZ\n"
                               "2piM/4xk2ysIKndEnkTd9YFPFSaT7+UgDhnJ45AjkebuQxvJ0HU1+8Dx\n"
                               "-----END PRIVATE KEY-----\n";
static const char leaf_pub[] = "-----BEGIN PUBLIC KEY-----\n"
                               "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPi5wkfvLII8AJkAzKKroE1Hb4/IT\n"
                               "2dqYjP+MZNsrCCp3RJ5E3fWBTxUmk+/lIA4ZyeOQI5Hm7kMbydB1NfvA8Q==\n"
                               "-----END PUBLIC KEY-----\n";
static const char leaf_enc[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
                               "MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAgFsKfNiK27TQICCAAw\n"
                               "DAYIKoZIhvcNAgkFADAdBglghkgBZQMEAQIEEPxmXRQBpTpZvKuNIaVQt6wEgZDV\n"
                               "j+dsrqWOooPyLZ2HhnizQmXoOHeMhVFFN5NsyvDmvecSdLv8Ho+sElZ9nXEEJs+y\n"
                               "ovjwozIViZ3reo9oW8yMTSRE/f9EjmQSl6hION5qGcw8fr/LLEB9fXXg98RMeQlc\n"
                               "8yWlQ34442fHnzTHOqf8LvxQeiAmFuAY6LVjrorriOSRhzdhB3AOUtWmsuQBv1Q=\n"
                               "-----END ENCRYPTED PRIVATE KEY-----\n";

#define LEAF_311 "a3feee8ce1a5885ab97c9874fdea05f85f8236743b6b48774e4b4f6a89d5941a"
#define LEAF_312                                                                                   \
    "76ada9126b89897edde8f4e4b141bfb8f8686953e31e6f86bddee5b89ad21b2b"                             \
    "46bc87d3c4be5dbfed02e72f168ade10ae831d75a7da8bee258ce29910549ece"
#define LEAF_310                                                                                   \
    "3059301306072a8648ce3d020106082a8648ce3d030107034200043e2e7091fbcb208f0026403328aae81351"     \
    "dbe3f213d9da988cff8c64db2b082a77449e44ddf5814f152693efe5200e19c9e3902391e6ee431bc9d07535"     \
    "fbc0f1"
#define LEAF_301 "6b59b9c18a78c63a2d8602bdbc3aaab59c745951ae492b8a6cb6ba2cb8918755"
#define CA_311   "2d86ec5f6ee3b583a175fb809b34657d5e9b30b8e15a5bec58fcb5d4ee118520"
#define CA_301   "4fc6361a173e103f450b51fd336706a47cbaa529d71ebe1b7d54edcdaed71d6f"
#define CA_302                                                                                     \
    "520f4afa360b681c8db2aad1fb232a02d2d01a8f2d96aa1b63070d82185e0bf4"                             \
    "5b3cb2b7a7a9e4ada95391d3e03fbc972b4e520a8f375fa912885bf22f3bbf89"

enum pem_id {
    P_LEAF,
    P_CA,
    P_LEAF_CA,
    P_LEAF_OTHER,
    P_KEY_LEAF,
    P_LEAF_OTHER_CA,
    P_CA_LEAF,
    P_EMPTY,
    P_BROKEN,
    P_LEAF_KEY
};

/* pem_text - the text of a fixture file (heap; caller frees) */
static char *pem_text(enum pem_id id)
{
    const char *parts[4] = {NULL};
    char *out;
    size_t n = 0;

    switch (id) {
    case P_LEAF:
        parts[0] = leaf_pem;
        break;
    case P_CA:
        parts[0] = ca_pem;
        break;
    case P_LEAF_CA: /* a "fullchain" file */
        parts[0] = leaf_pem;
        parts[1] = ca_pem;
        break;
    case P_LEAF_OTHER:
        parts[0] = leaf_pem;
        parts[1] = other_pem;
        break;
    case P_LEAF_OTHER_CA:
        parts[0] = leaf_pem;
        parts[1] = other_pem;
        parts[2] = ca_pem;
        break;
    case P_CA_LEAF:
        parts[0] = ca_pem;
        parts[1] = leaf_pem;
        break;
    case P_KEY_LEAF: /* a combined key + certificate file, as some servers use */
        parts[0] = leaf_key;
        parts[1] = "some text between blocks\n";
        parts[2] = leaf_pem;
        break;
    case P_LEAF_KEY:
        parts[0] = leaf_pem;
        parts[1] = leaf_key;
        break;
    case P_EMPTY:
        parts[0] = "no PEM here\n";
        break;
    case P_BROKEN:
        parts[0] = leaf_pem;
        parts[1] = "-----BEGIN CERTIFICATE-----\nMIIBiDCCAS6gAwIBAgIU\n-----END CERTIFICATE-----\n";
        break;
    }
    for (int i = 0; i < 4 && parts[i] != NULL; i++)
        n += strlen(parts[i]);
    out = malloc(n + 1);
    assert_non_null(out);
    out[0] = '\0';
    for (int i = 0; i < 4 && parts[i] != NULL; i++)
        strcat(out, parts[i]);
    return out;
}

/* The certificate file a record is made from, as `tlsa gen --cert` does. */
struct cert_case {
    const char *rule;
    enum pem_id pem;
    int usage, selector, mtype;
    int want_err;      /* 0 or MXTLS_E* */
    size_t want_index; /* certificate picked */
    const char *want;  /* "U S M hex" */
    const char *why;   /* a substring of the reason on failure */
};

static const struct cert_case cert_cases[] = {
    {"cert: default 3 1 1 of the leaf equals the guide's openssl | sha256sum (RFC 7672 §3.1.1)",
     P_LEAF, 3, 1, 1, 0, 0, "3 1 1 " LEAF_311, NULL},
    {"cert: 3 1 2 is SHA-512 of the SPKI (RFC 6698 §2.1.3)", P_LEAF, 3, 1, 2, 0, 0,
     "3 1 2 " LEAF_312, NULL},
    {"cert: 3 1 0 is the SPKI DER itself (RFC 6698 §2.1.2)", P_LEAF, 3, 1, 0, 0, 0,
     "3 1 0 " LEAF_310, NULL},
    {"cert: 3 0 1 is SHA-256 of the whole certificate (RFC 6698 §2.1.2)", P_LEAF, 3, 0, 1, 0, 0,
     "3 0 1 " LEAF_301, NULL},
    {"cert: usage 1 takes the leaf too (RFC 6698 §2.1.1)", P_LEAF_CA, 1, 1, 1, 0, 0,
     "1 1 1 " LEAF_311, NULL},
    {"chain: 3 1 1 takes the first certificate of a fullchain file", P_LEAF_CA, 3, 1, 1, 0, 0,
     "3 1 1 " LEAF_311, NULL},
    {"chain: 2 1 1 takes the leaf's issuer (RFC 6698 §2.1.1, RFC 7671 §5.2)", P_LEAF_CA, 2, 1, 1, 0,
     1, "2 1 1 " CA_311, NULL},
    {"chain: 2 0 1 is SHA-256 of the issuer certificate", P_LEAF_CA, 2, 0, 1, 0, 1, "2 0 1 " CA_301,
     NULL},
    {"chain: 0 0 2 (PKIX-TA) takes the issuer as 2 does", P_LEAF_CA, 0, 0, 2, 0, 1, "0 0 2 " CA_302,
     NULL},
    {"chain: the issuer is found by signature, not by position", P_LEAF_OTHER_CA, 2, 1, 1, 0, 2,
     "2 1 1 " CA_311, NULL},
    {"chain: a key block before the certificate is skipped", P_KEY_LEAF, 3, 1, 1, 0, 0,
     "3 1 1 " LEAF_311, NULL},
    {"chain: a key block after the certificate is skipped", P_LEAF_KEY, 3, 1, 1, 0, 0,
     "3 1 1 " LEAF_311, NULL},
    {"ca: a CA certificate alone gives its own 2 1 1", P_CA, 2, 1, 1, 0, 0, "2 1 1 " CA_311, NULL},
    {"ca: usage 2 on a lone leaf is refused: it anchors nothing (RFC 5280 §4.2.1.9)", P_LEAF, 2, 1,
     1, MXTLS_EINVAL, 0, NULL, "not one"},
    {"ca: usage 2 when no certificate in the file issued the first", P_LEAF_OTHER, 2, 1, 1,
     MXTLS_EINVAL, 0, NULL, "no other certificate in the file issued it"},
    {"ca: the first certificate is the leaf even when it is a CA; its issuer is absent", P_CA_LEAF,
     2, 1, 1, MXTLS_EINVAL, 0, NULL, "issued it"},
    {"ca: usage 5 is not assigned (RFC 6698 §2.1.1)", P_LEAF_CA, 5, 1, 1, MXTLS_EINVAL, 0, NULL,
     "not assigned"},
    {"load: no certificate block", P_EMPTY, 3, 1, 1, MXTLS_EINVAL, 0, NULL, "no PEM"},
    {"load: a certificate block that does not decode is an error, not the end", P_BROKEN, 3, 1, 1,
     MXTLS_EINVAL, 0, NULL, "certificate 2 of the file does not decode"},
};

/* test_cert - one cert_cases row */
static void test_cert(void **state)
{
    const struct cert_case *c = *state;
    char *pem = pem_text(c->pem);
    struct tlsa_chain chain = {0};
    struct mxtls_diag d = {0};
    struct tlsa rr = {0};
    size_t idx = 99;
    int err;

    err = tlsa_chain_load(pem, strlen(pem), &chain, &d);
    if (err == 0)
        err = tlsa_chain_pick(&chain, (uint8_t)c->usage, &idx, &d);
    if (err == 0)
        err = tlsa_from_x509(chain.cert[idx], (uint8_t)c->usage, (uint8_t)c->selector,
                             (uint8_t)c->mtype, &rr, &d);
    assert_int_equal(err, c->want_err);
    if (err == 0) {
        char *text = tlsa_format_text(&rr);

        assert_int_equal(idx, c->want_index);
        assert_non_null(text);
        assert_string_equal(text, c->want);
        free(text);
    } else {
        assert_non_null(strstr(d.what, c->why));
    }
    assert_int_equal(ERR_peek_error(), 0); /* the error queue is left as found */
    tlsa_finish(&rr);
    tlsa_chain_finish(&chain);
    free(pem);
}

/* A record from a key file, as `tlsa gen --key` does. */
struct key_case {
    const char *rule;
    const char *pem;
    int selector, mtype;
    int want_err;
    const char *want; /* "U S M hex" with usage 3 */
    const char *why;
};

static const struct key_case key_cases[] = {
    {"key: a private key gives the certificate's 3 1 1 (RFC 6698 §2.1.2, RFC 7671 §8.1)", leaf_key,
     1, 1, 0, "3 1 1 " LEAF_311, NULL},
    {"key: a public key gives the same 3 1 1", leaf_pub, 1, 1, 0, "3 1 1 " LEAF_311, NULL},
    {"key: 3 1 2 from a public key", leaf_pub, 1, 2, 0, "3 1 2 " LEAF_312, NULL},
    {"key: 3 1 0 from a private key is the SPKI DER", leaf_key, 1, 0, 0, "3 1 0 " LEAF_310, NULL},
    {"key: selector 0 needs the certificate (RFC 6698 §2.1.2)", leaf_key, 0, 1, MXTLS_EINVAL, NULL,
     "selector 0"},
    {"key: matching type 3 cannot be computed", leaf_key, 1, 3, MXTLS_EINVAL, NULL,
     "matching type 3"},
    {"key: an encrypted key fails without prompting, with a hint", leaf_enc, 1, 1, MXTLS_EINVAL,
     NULL, "encrypted"},
    {"key: a certificate given as a key says so", leaf_pem, 1, 1, MXTLS_EINVAL, NULL, "--cert"},
    {"key: no key block", "hello\n", 1, 1, MXTLS_EINVAL, NULL, "no PEM private or public key"},
};

/* test_key - one key_cases row */
static void test_key(void **state)
{
    const struct key_case *c = *state;
    struct mxtls_diag d = {0};
    struct tlsa rr;
    int err;

    err = tlsa_from_key_pem(c->pem, strlen(c->pem), 3, (uint8_t)c->selector, (uint8_t)c->mtype, &rr,
                            &d);
    assert_int_equal(err, c->want_err);
    if (err == 0) {
        char *text = tlsa_format_text(&rr);

        assert_non_null(text);
        assert_string_equal(text, c->want);
        free(text);
        assert_int_equal(tlsa_usable(&rr, NULL), 0);
    } else {
        assert_non_null(strstr(d.what, c->why));
        assert_null(rr.data);
    }
    assert_int_equal(ERR_peek_error(), 0);
    tlsa_finish(&rr);
}

/* The owner name of a host's TLSA RRset. */
struct owner_case {
    const char *rule;
    const char *host;
    unsigned long port;
    int want_err;
    const char *want;
};

static const struct owner_case owner_cases[] = {
    {"owner: _25._tcp.HOST. for SMTP (RFC 7672 §2.2, RFC 6698 §3)", "mx.example.com", 25, 0,
     "_25._tcp.mx.example.com."},
    {"owner: lower-cased, one trailing dot accepted", "MX.Example.COM.", 25, 0,
     "_25._tcp.mx.example.com."},
    {"owner: another port (RFC 6698 §3)", "mx.example.com", 465, 0, "_465._tcp.mx.example.com."},
    {"owner: port 65535", "mx.example.com", 65535, 0, "_65535._tcp.mx.example.com."},
    {"owner: port 0 refused", "mx.example.com", 0, MXTLS_EINVAL, NULL},
    {"owner: port 65536 refused", "mx.example.com", 65536, MXTLS_EINVAL, NULL},
    {"owner: not a host name", "mx..example.com", 25, MXTLS_EINVAL, NULL},
    {"owner: an IP address is not a host name", "192.0.2.1", 25, MXTLS_EINVAL, NULL},
    {"owner: a name over 253 octets",
     "a"
     ".aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     ".aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     ".aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     ".aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     25, MXTLS_ETOOLONG, NULL},
};

/* test_owner - one owner_cases row */
static void test_owner(void **state)
{
    const struct owner_case *c = *state;
    char out[TLSA_OWNER_BUF];
    int err = tlsa_owner_name(c->host, strlen(c->host), c->port, out, sizeof(out), NULL);

    assert_int_equal(err, c->want_err);
    if (err == 0)
        assert_string_equal(out, c->want);
}

/* test_owner_longest - the longest name and port fit TLSA_OWNER_BUF */
static void test_owner_longest(void **state)
{
    char host[254], out[TLSA_OWNER_BUF];

    (void)state;
    /* 4 labels: 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 octets */
    memset(host, 'a', 253);
    host[63] = host[127] = host[191] = '.';
    host[253] = '\0';
    assert_int_equal(tlsa_owner_name(host, 253, 65535, out, sizeof(out), NULL), 0);
    assert_int_equal(strlen(out), 12 + 253 + 1);
    assert_int_equal(tlsa_owner_name(host, 253, 65535, out, strlen(out), NULL), MXTLS_ENOSPACE);
}

/* test_chain_caps - TLSA_CHAIN_MAX certificates and TLSA_CERT_MAX octets */
static void test_chain_caps(void **state)
{
    size_t one = strlen(leaf_pem);
    char *pem = malloc(one * (TLSA_CHAIN_MAX + 1) + 1);
    struct tlsa_chain chain = {0};
    struct mxtls_diag d = {0};

    (void)state;
    assert_non_null(pem);
    for (size_t i = 0; i <= TLSA_CHAIN_MAX; i++)
        memcpy(pem + i * one, leaf_pem, one);
    assert_int_equal(tlsa_chain_load(pem, one * TLSA_CHAIN_MAX, &chain, &d), 0);
    assert_int_equal(chain.n, TLSA_CHAIN_MAX);
    tlsa_chain_finish(&chain);
    assert_int_equal(chain.n, 0);
    assert_int_equal(tlsa_chain_load(pem, one * (TLSA_CHAIN_MAX + 1), &chain, &d), MXTLS_ETOOLONG);
    assert_int_equal(chain.n, 0);
    assert_int_equal(tlsa_chain_load(pem, TLSA_CERT_MAX + 1, &chain, &d), MXTLS_ETOOLONG);
    assert_int_equal(ERR_peek_error(), 0);
    tlsa_chain_finish(NULL);
    free(pem);
}

int main(void)
{
    static struct unit_suite s;

    UNIT_ROWS(&s, test_cert, cert_cases);
    UNIT_ROWS(&s, test_key, key_cases);
    UNIT_ROWS(&s, test_owner, owner_cases);
    unit_one(&s, "owner: the longest name and port fit TLSA_OWNER_BUF", test_owner_longest, NULL);
    unit_one(&s, "load: at most TLSA_CHAIN_MAX certificates and TLSA_CERT_MAX octets",
             test_chain_caps, NULL);
    return unit_run(&s, "tlsa_make");
}
