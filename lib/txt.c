/*
 * txt - join the character-strings of a TXT RDATA.
 * See include/mxtls/txt.h for the contract.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxtls/txt.h"

/* txt_rdata_join - validate TXT wire form and concatenate its strings */
int txt_rdata_join(const unsigned char *rdata, size_t rdlen, char *out, size_t outsize,
                   size_t *outlen, struct mxtls_diag *diag)
{
    size_t pos = 0, n = 0;

    /* RFC 1035 §3.3.14: TXT-DATA is one or more character-strings. */
    if (rdlen == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "empty TXT RDATA (RFC 1035 §3.3.14)");
    if (rdlen > TXT_RDATA_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, TXT_RDATA_MAX,
                              "TXT RDATA longer than %d octets", TXT_RDATA_MAX);
    /* Every string has a length octet, so the text is shorter than rdlen. */
    if (outsize < rdlen)
        return mxtls_diag_set(diag, MXTLS_ENOSPACE, 0, "output buffer too small");
    while (pos < rdlen) {
        size_t slen = rdata[pos];

        if (slen > rdlen - pos - 1)
            return mxtls_diag_set(diag, MXTLS_EINVAL, pos,
                                  "character-string length %zu runs past the RDATA end", slen);
        /* RFC 8461 §3.1, RFC 8460 §3: strings are joined without separators. */
        memcpy(out + n, rdata + pos + 1, slen);
        n += slen;
        pos += 1 + slen;
    }
    out[n] = '\0';
    if (outlen != NULL)
        *outlen = n;
    return 0;
}

/* txt_rdata_join_set - join every RDATA of an RRset into one heap block */
int txt_rdata_join_set(const struct txt_rdata *rdatas, size_t n, struct txt_record **recs,
                       struct mxtls_diag *diag)
{
    struct txt_record *out;
    size_t i, total, used = 0;
    char *text;

    *recs = NULL;
    /* Each RDATA is capped at TXT_RDATA_MAX, so the sum cannot wrap before
     * n reaches SIZE_MAX / (TXT_RDATA_MAX + sizeof(*out)). */
    if (n > (SIZE_MAX - 1) / (TXT_RDATA_MAX + sizeof(*out)))
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "too many TXT records");
    total = n * sizeof(*out) + 1;
    for (i = 0; i < n; i++) {
        if (rdatas[i].len > TXT_RDATA_MAX)
            return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0,
                                  "TXT record %zu: RDATA longer than %d octets", i, TXT_RDATA_MAX);
        total += rdatas[i].len;
    }
    out = malloc(total);
    if (out == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    text = (char *)(out + n);
    for (i = 0; i < n; i++) {
        struct mxtls_diag d = {0};
        int err = txt_rdata_join(rdatas[i].data, rdatas[i].len, text + used,
                                 total - n * sizeof(*out) - used, &out[i].len, &d);

        if (err < 0) {
            free(out);
            return mxtls_diag_set(diag, err, d.offset, "TXT record %zu: %s", i, d.what);
        }
        out[i].buf = text + used;
        used += out[i].len + 1;
    }
    *recs = out;
    return 0;
}

static bool is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* txt_field_next - step over the delimiter before the next record field */
int txt_field_next(const char *buf, size_t len, size_t *pos, const char *rfc,
                   struct mxtls_diag *diag)
{
    size_t p = *pos, start = p;

    while (p < len && is_wsp((unsigned char)buf[p]))
        p++;
    if (p == len) {
        if (p > start)
            return mxtls_diag_set(diag, MXTLS_EINVAL, start,
                                  "whitespace after the last field without a \";\" (%s)", rfc);
        *pos = p;
        return 0;
    }
    if (buf[p] != ';')
        return mxtls_diag_set(diag, MXTLS_EINVAL, p, "expected \";\" between fields (%s)", rfc);
    p++;
    while (p < len && is_wsp((unsigned char)buf[p]))
        p++;
    *pos = p;
    return p < len; /* [field-delim]: one trailing delimiter is allowed */
}
