/*
 * fuzz_tlsrpt_mime - mime_report_part (io/mime.h, GMime) on hostile email
 * bytes: the MIME path of `mxtls tlsrpt ingest`.
 *
 * Invariants (abort() on violation): a found part is a heap buffer of at
 * most the cap, NUL-terminated, and *gzip is 0 or 1; not found or refused
 * yields NULL and a reason.
 */
#include <stdint.h>
#include <stdlib.h>

#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#define MIME_FUZZ_CAP 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mxtls_diag diag = {0};
    char *out = NULL;
    size_t outlen = 0;
    int gz = -1;
    int err = mime_report_part((const char *)data, size, MIME_FUZZ_CAP, &out, &outlen, &gz, &diag);

    if (err == 0) {
        CHECK(out != NULL && outlen <= MIME_FUZZ_CAP && out[outlen] == '\0');
        CHECK(gz == 0 || gz == 1);
        free(out);
    } else {
        CHECK(out == NULL && diag.code == err && diag.what[0] != '\0');
    }
    return 0;
}
