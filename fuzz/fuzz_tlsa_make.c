/*
 * fuzz_tlsa_make - libFuzzer target for the PEM readers of `mxtls tlsa gen`
 * (include/mxtls/tlsa_make.h): a certificate chain file or a key file, which
 * may come from anywhere (`openssl s_client -showcerts | mxtls tlsa gen
 * --cert -` feeds it what a remote server sent).
 *
 * The first input octet picks the entry point (low bit: 0 chain, 1 key) and
 * the usage (bits 1-2) and matching type (bits 3-4 modulo 3); the rest is
 * the PEM text. Invariants, abort() on violation: a chain load either fails
 * with an empty chain and a NUL-terminated reason or holds 1 to
 * TLSA_CHAIN_MAX certificates; the picked index is inside the chain; an
 * accepted record is within the caps, has the requested fields, formats and
 * re-parses to an equal record; a failed key read leaves the record empty;
 * OpenSSL's error queue is left as found.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "mxtls/tlsa.h"
#include "mxtls/tlsa_make.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_diag - a failure's diagnostics are well-formed */
static void check_diag(const struct mxtls_diag *diag, int err)
{
    if (diag->code != err || memchr(diag->what, '\0', sizeof(diag->what)) == NULL ||
        diag->what[0] == '\0')
        abort();
}

/* check_record - an accepted record has the asked fields and round-trips */
static void check_record(const struct tlsa *rr, uint8_t usage, uint8_t selector, uint8_t mtype)
{
    struct tlsa again;
    char *text;

    if (rr->data == NULL || rr->len == 0 || rr->len > TLSA_DATA_MAX)
        abort();
    if (rr->usage != usage || rr->selector != selector || rr->mtype != mtype)
        abort();
    if ((mtype == 1 && rr->len != 32) || (mtype == 2 && rr->len != 64))
        abort();
    text = tlsa_format_text(rr);
    if (text == NULL)
        abort();
    if (tlsa_parse_text(text, strlen(text), &again, NULL) != 0 || !tlsa_equal(rr, &again))
        abort();
    tlsa_finish(&again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mxtls_diag diag = {0};
    struct tlsa_chain chain;
    struct tlsa rr = {0};
    const char *in;
    size_t len, idx = 0;
    uint8_t usage, mtype;
    int err;

    if (size == 0)
        return 0;
    usage = (uint8_t)((data[0] >> 1) & 3);
    mtype = (uint8_t)(((data[0] >> 3) & 3) % 3);
    in = (const char *)data + 1;
    len = size - 1;
    ERR_clear_error();
    if ((data[0] & 1) == 0) {
        err = tlsa_chain_load(in, len, &chain, &diag);
        if (err != 0) {
            if (chain.n != 0)
                abort();
            check_diag(&diag, err);
        } else {
            if (chain.n == 0 || chain.n > TLSA_CHAIN_MAX)
                abort();
            memset(&diag, 0, sizeof(diag));
            err = tlsa_chain_pick(&chain, usage, &idx, &diag);
            if (err == 0) {
                if (idx >= chain.n || (usage % 2 == 1 && idx != 0))
                    abort();
                if (tlsa_from_x509(chain.cert[idx], usage, 1, mtype, &rr, NULL) == 0)
                    check_record(&rr, usage, 1, mtype);
                tlsa_finish(&rr);
            } else {
                check_diag(&diag, err);
            }
        }
        tlsa_chain_finish(&chain);
    } else {
        err = tlsa_from_key_pem(in, len, usage, 1, mtype, &rr, &diag);
        if (err == 0) {
            check_record(&rr, usage, 1, mtype);
        } else {
            if (rr.data != NULL || rr.len != 0)
                abort();
            check_diag(&diag, err);
        }
        tlsa_finish(&rr);
    }
    if (ERR_peek_error() != 0)
        abort();
    return 0;
}
