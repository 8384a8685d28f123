/*
 * fuzz_sts_record - sts_record_parse/select/select_rdata and txt_rdata_join
 * on hostile bytes.
 *
 * Invariants (abort() on violation): an accepted record begins with
 * "v=STSv1;" and yields a NUL-terminated id of 1-32 letters and digits that
 * survives a re-format and re-parse; a rejected one leaves id "" and a
 * reason. The input split at '\n' is also a TXT RRset: select() agrees with
 * a plain count of records beginning "v=STSv1;", and the same set encoded in
 * wire form gives select_rdata() the same answer. The raw input is also
 * joined as one RDATA, whose output must match a reference decoder.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxtls/sts_record.h"
#include "mxtls/txt.h"

#include "txt_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#define MAX_RECS 16

/* check_result - what every outcome must look like */
static void check_result(int err, const struct sts_record *rec, const struct mxtls_diag *diag,
                         size_t size)
{
    size_t i, n = strnlen(rec->id, sizeof(rec->id));

    CHECK(n < sizeof(rec->id));
    if (err == 0) {
        CHECK(n >= 1 && n <= STS_RECORD_ID_MAX);
        for (i = 0; i < n; i++) {
            unsigned char c = (unsigned char)rec->id[i];

            CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
        }
        return;
    }
    CHECK(n == 0);
    CHECK(err == MXTLS_EINVAL || err == MXTLS_ETOOLONG || err == MXTLS_ENOTFOUND ||
          err == MXTLS_EMULTIPLE || err == MXTLS_ENOMEM);
    CHECK(diag->code == err);
    CHECK(diag->what[0] != '\0' && memchr(diag->what, '\0', sizeof(diag->what)) != NULL);
    CHECK(diag->offset <= size);
}

/* check_parse - one record text */
static void check_parse(const char *buf, size_t size)
{
    struct sts_record rec, again;
    struct mxtls_diag diag = {0};
    char text[64];
    int err = sts_record_parse(buf, size, &rec, &diag);

    check_result(err, &rec, &diag, size);
    if (err != 0)
        return;
    CHECK(size >= 8 && memcmp(buf, "v=STSv1;", 8) == 0);
    /* the canonical record carries the same id */
    strcpy(text, "v=STSv1; id=");
    strcat(text, rec.id);
    CHECK(sts_record_parse(text, strlen(text), &again, NULL) == 0);
    CHECK(strcmp(rec.id, again.id) == 0);
}

/* check_join - txt_rdata_join against a reference decoder */
static void check_join(const uint8_t *data, size_t size)
{
    char *out = malloc(size + 1), *ref = malloc(size + 1);
    size_t outlen = 0, pos = 0, n = 0;
    bool ok = size > 0 && size <= TXT_RDATA_MAX;
    int err;

    CHECK(out != NULL && ref != NULL);
    while (ok && pos < size) {
        size_t l = data[pos];

        if (pos + 1 + l > size) {
            ok = false;
            break;
        }
        memcpy(ref + n, data + pos + 1, l);
        n += l;
        pos += 1 + l;
    }
    err = txt_rdata_join(data, size, out, size + 1, &outlen, NULL);
    CHECK((err == 0) == ok);
    if (ok) {
        CHECK(outlen == n && outlen < size && memcmp(out, ref, n) == 0 && out[n] == '\0');
    }
    free(out);
    free(ref);
}

/* check_set - the input split at '\n' as an RRset, text and wire form */
static void check_set(const char *buf, size_t size)
{
    struct txt_record recs[MAX_RECS];
    struct txt_rdata rd[MAX_RECS];
    unsigned char *wire = malloc(2 * size + MAX_RECS + 1), *w = wire;
    struct sts_record rec, rec2, one;
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
        if (recs[i].len >= 8 && memcmp(recs[i].buf, "v=STSv1;", 8) == 0 && found++ == 0)
            which = i;
        rd[i].data = w;
        rd[i].len = txt_wire_encode(recs[i].buf, recs[i].len, w);
        w += rd[i].len;
    }
    err = sts_record_select(recs, n, &rec, &diag);
    check_result(err, &rec, &diag, size);
    if (found == 0)
        CHECK(err == MXTLS_ENOTFOUND);
    else if (found > 1)
        CHECK(err == MXTLS_EMULTIPLE);
    else {
        CHECK(sts_record_parse(recs[which].buf, recs[which].len, &one, NULL) == err);
        CHECK(strcmp(one.id, rec.id) == 0);
    }
    /* wire form: only RDATAs over 65535 octets can differ */
    err2 = sts_record_select_rdata(rd, n, &rec2, &diag2);
    if (size <= TXT_RDATA_MAX / 2) {
        CHECK(err2 == err && strcmp(rec.id, rec2.id) == 0);
    }
    free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_parse((const char *)data, size);
    check_join(data, size);
    check_set((const char *)data, size);
    return 0;
}
