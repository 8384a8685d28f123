/*
 * fuzz_smtp_reply - libFuzzer target for SMTP reply parsing
 * (include/mxtls/smtp_reply.h).
 *
 * Invariants, abort() on violation: the result is 0, MXTLS_EAGAIN,
 * MXTLS_EINVAL or MXTLS_ETOOLONG; on 0 the reply consumed is within the input
 * and the caps, ends in LF, the code is 200-559, the text is printable ASCII
 * and NUL-terminated, and parsing just the consumed octets gives the same
 * reply; every error has a reason and nothing consumed; EAGAIN never comes
 * with more than the caps of input looked at.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxtls/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct smtp_reply r, again;
    struct mxtls_diag d = {0};
    size_t used = 1;
    int rc = smtp_reply_parse(buf, size, &r, &used, &d);
    switch (rc) {
    case 0:
        break;
    case MXTLS_EAGAIN:
        if (used != 0 || size > SMTP_REPLY_TOTAL_MAX + SMTP_REPLY_LINE_MAX)
            abort();
        return 0;
    case MXTLS_EINVAL:
    case MXTLS_ETOOLONG:
        if (used != 0 || d.what[0] == '\0' || d.code != rc || d.offset > size)
            abort();
        return 0;
    default:
        abort();
    }
    if (used == 0 || used > size || used > SMTP_REPLY_TOTAL_MAX || buf[used - 1] != '\n')
        abort();
    if (r.code < 200 || r.code > 559 || r.n_lines < 1 || r.n_lines > SMTP_REPLY_LINES_MAX)
        abort();
    if (memchr(r.text, '\0', sizeof r.text) == NULL)
        abort();
    for (const char *p = r.text; *p != '\0'; p++)
        if (*p < 0x20 || *p > 0x7e)
            abort();
    size_t used2 = 0;
    if (smtp_reply_parse(buf, used, &again, &used2, &d) != 0 || used2 != used ||
        again.code != r.code || again.n_lines != r.n_lines || again.starttls != r.starttls ||
        strcmp(again.text, r.text) != 0)
        abort();
    return 0;
}
