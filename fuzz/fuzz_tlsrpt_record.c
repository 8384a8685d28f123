/*
 * fuzz_tlsrpt_record - tlsrpt_record_parse/select/select_rdata/format on
 * hostile bytes.
 *
 * Invariants (abort() on violation): an accepted record begins with
 * "v=TLSRPTv1;", holds 1..TLSRPT_RUA_MAX supported URIs (with the skipped
 * ones, no more than TLSRPT_RUA_MAX in all), each NUL-terminated, within
 * TLSRPT_URI_MAX, starting with its lower-case scheme and holding only
 * visible ASCII other than ",", ";" and "!"; its canonical format parses back
 * to the same URIs and formats to the same text. A rejected one yields NULL
 * and a reason. The input split at '\n' is also an RRset: select() agrees with
 * a plain count of records beginning "v=TLSRPTv1;", and the same set in wire
 * form gives select_rdata() the same answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxtls/tlsrpt_record.h"
#include "mxtls/txt.h"

#include "txt_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#define MAX_RECS 16

/* same_uris - two records hold the same URIs in the same order */
static int same_uris(const struct tlsrpt_record *a, const struct tlsrpt_record *b)
{
    size_t i;

    if (a->n_rua != b->n_rua)
        return 0;
    for (i = 0; i < a->n_rua; i++)
        if (a->rua[i].scheme != b->rua[i].scheme || strcmp(a->rua[i].uri, b->rua[i].uri) != 0)
            return 0;
    return 1;
}

/* check_accepted - every invariant of a parsed record */
static void check_accepted(const struct tlsrpt_record *rec)
{
    struct tlsrpt_record *again = NULL;
    char *text, *text2;
    size_t i, j;

    CHECK(rec->n_rua >= 1 && rec->n_rua <= TLSRPT_RUA_MAX);
    CHECK(rec->n_rua + rec->n_unsupported <= TLSRPT_RUA_MAX);
    for (i = 0; i < rec->n_rua; i++) {
        const char *u = rec->rua[i].uri;
        size_t n = strnlen(u, TLSRPT_URI_MAX + 1);

        CHECK(n <= TLSRPT_URI_MAX);
        if (rec->rua[i].scheme == TLSRPT_SCHEME_MAILTO)
            CHECK(strncmp(u, "mailto:", 7) == 0 && n > 7);
        else
            CHECK(rec->rua[i].scheme == TLSRPT_SCHEME_HTTPS && strncmp(u, "https://", 8) == 0);
        for (j = 0; j < n; j++) {
            unsigned char c = (unsigned char)u[j];

            CHECK(c > 0x20 && c < 0x7f && c != ',' && c != ';' && c != '!');
        }
    }
    text = tlsrpt_record_format(rec);
    CHECK(text != NULL);
    CHECK(tlsrpt_record_parse(text, strlen(text), &again, NULL) == 0);
    CHECK(same_uris(rec, again) && again->n_unsupported == 0);
    text2 = tlsrpt_record_format(again);
    CHECK(text2 != NULL && strcmp(text, text2) == 0);
    free(text);
    free(text2);
    tlsrpt_record_free(again);
}

/* check_result - what every outcome must look like */
static void check_result(int err, const struct tlsrpt_record *rec, const struct mxtls_diag *diag,
                         size_t size)
{
    if (err == 0) {
        CHECK(rec != NULL);
        check_accepted(rec);
        return;
    }
    CHECK(rec == NULL);
    CHECK(err == MXTLS_EINVAL || err == MXTLS_ETOOLONG || err == MXTLS_ENOTFOUND ||
          err == MXTLS_EMULTIPLE || err == MXTLS_ENOMEM);
    CHECK(diag->code == err);
    CHECK(diag->what[0] != '\0' && memchr(diag->what, '\0', sizeof(diag->what)) != NULL);
    CHECK(diag->offset <= size);
}

/* check_set - the input split at '\n' as an RRset, text and wire form */
static void check_set(const char *buf, size_t size)
{
    struct txt_record recs[MAX_RECS];
    struct txt_rdata rd[MAX_RECS];
    unsigned char *wire = malloc(2 * size + MAX_RECS + 1), *w = wire;
    struct tlsrpt_record *rec = NULL, *rec2 = NULL, *one = NULL;
    struct mxtls_diag diag = {0}, diag2 = {0};
    size_t n = 0, start = 0, i, found = 0, which = 0;
    int err, err2;

    CHECK(wire != NULL);
    for (i = 0; i <= size && n < MAX_RECS; i++) {
        if (i == size || (buf[i] == '\n' && n + 1 < MAX_RECS)) {
            recs[n].buf = buf + start;
            recs[n].len = i - start;
            n++;
            start = i + 1;
        }
    }
    for (i = 0; i < n; i++) {
        if (recs[i].len >= 11 && memcmp(recs[i].buf, "v=TLSRPTv1;", 11) == 0 && found++ == 0)
            which = i;
        rd[i].data = w;
        rd[i].len = txt_wire_encode(recs[i].buf, recs[i].len, w);
        w += rd[i].len;
    }
    err = tlsrpt_record_select(recs, n, &rec, &diag);
    check_result(err, rec, &diag, size);
    if (found == 0)
        CHECK(err == MXTLS_ENOTFOUND);
    else if (found > 1)
        CHECK(err == MXTLS_EMULTIPLE);
    else {
        CHECK(tlsrpt_record_parse(recs[which].buf, recs[which].len, &one, NULL) == err);
        CHECK(err != 0 || same_uris(rec, one));
    }
    err2 = tlsrpt_record_select_rdata(rd, n, &rec2, &diag2);
    if (size <= TXT_RDATA_MAX / 2) {
        CHECK(err2 == err);
        CHECK(err != 0 || same_uris(rec, rec2));
    }
    tlsrpt_record_free(rec);
    tlsrpt_record_free(rec2);
    tlsrpt_record_free(one);
    free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tlsrpt_record *rec = NULL;
    struct mxtls_diag diag = {0};
    int err = tlsrpt_record_parse((const char *)data, size, &rec, &diag);

    check_result(err, rec, &diag, size);
    if (err == 0)
        CHECK(size >= 11 && memcmp(data, "v=TLSRPTv1;", 11) == 0);
    tlsrpt_record_free(rec);
    check_set((const char *)data, size);
    return 0;
}
