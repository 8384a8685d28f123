/*
 * fuzz_tlsa - libFuzzer target for the TLSA parsers (include/mxtls/tlsa.h).
 *
 * The first input octet picks the entry point (low two bits): 0 presentation
 * text, 1 wire RDATA, 2 DER certificate, 3 PEM certificate; the rest is the
 * input. Invariants, abort() on violation: a failure leaves the record empty
 * with a NUL-terminated reason and an offset within the input; an accepted
 * record is within the caps, formats to one NUL-terminated line and to wire
 * form, and both re-parse to an equal record; usability is decided either way
 * with a reason when not; OpenSSL's error queue is left as found.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "mxtls/tlsa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_diag - a failure's diagnostics are well-formed */
static void check_diag(const struct mxtls_diag *diag, int err, size_t len)
{
    if (diag->code != err || memchr(diag->what, '\0', sizeof(diag->what)) == NULL ||
        diag->what[0] == '\0')
        abort();
    if (diag->offset > len)
        abort();
}

/* check_record - an accepted record keeps every promise of tlsa.h */
static void check_record(const struct tlsa *rr)
{
    uint8_t wire[TLSA_WIRE_MAX];
    struct mxtls_diag diag = {0};
    struct tlsa again;
    size_t wlen = 0, tlen;
    char *text;
    int err;

    if (rr->data == NULL || rr->len == 0 || rr->len > TLSA_DATA_MAX)
        abort();
    text = tlsa_format_text(rr);
    if (text == NULL)
        abort();
    tlen = strlen(text);
    if (strchr(text, '\n') != NULL || tlen < 2 * rr->len + 6 || tlen > 2 * rr->len + 12)
        abort();
    if (tlsa_parse_text(text, tlen, &again, NULL) != 0 || !tlsa_equal(rr, &again))
        abort();
    tlsa_finish(&again);
    free(text);
    if (tlsa_format_wire(rr, wire, sizeof(wire), &wlen, NULL) != 0 || wlen != 3 + rr->len)
        abort();
    if (tlsa_parse_wire((const char *)wire, wlen, &again, NULL) != 0 || !tlsa_equal(rr, &again))
        abort();
    tlsa_finish(&again);

    err = tlsa_usable(rr, &diag);
    if (err != 0) {
        if (err != MXTLS_EINVAL || diag.offset > 3)
            abort();
        check_diag(&diag, err, 3);
    } else if (rr->usage < 2 || rr->usage > 3 || rr->selector > 1 || rr->mtype > 2 ||
               (rr->mtype == 1 && rr->len != 32) || (rr->mtype == 2 && rr->len != 64)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mxtls_diag diag = {0};
    struct tlsa rr;
    const char *in;
    size_t len;
    int err, mode;

    if (size == 0)
        return 0;
    mode = data[0] & 3;
    in = (const char *)data + 1;
    len = size - 1;
    ERR_clear_error();
    switch (mode) {
    case 0:
        err = tlsa_parse_text(in, len, &rr, &diag);
        break;
    case 1:
        err = tlsa_parse_wire(in, len, &rr, &diag);
        break;
    case 2:
        err = tlsa_from_der(in, len, 3, 1, 1, &rr, &diag);
        break;
    default:
        err = tlsa_from_pem(in, len, 2, 0, 2, &rr, &diag);
        break;
    }
    if (err == 0) {
        if (mode >= 2 && rr.len != (mode == 2 ? 32u : 64u))
            abort();
        check_record(&rr);
    } else {
        if (rr.data != NULL || rr.len != 0)
            abort();
        check_diag(&diag, err, len);
    }
    tlsa_finish(&rr);
    if (ERR_peek_error() != 0)
        abort();
    return 0;
}
