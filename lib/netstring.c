/*
 * netstring - netstring decoding and encoding.
 * See include/mxtls/netstring.h for the contract.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mxtls/netstring.h"

/* netstring_decode - decode one netstring from the bytes received so far */
int netstring_decode(const char *buf, size_t len, size_t cap, struct netstring_frame *frame,
                     struct mxtls_diag *diag)
{
    size_t i, start, n = 0;

    for (i = 0; i < len && buf[i] != ':'; i++) {
        unsigned char c = (unsigned char)buf[i];
        size_t d;

        if (c < '0' || c > '9')
            return mxtls_diag_set(diag, MXTLS_EINVAL, i,
                                  "netstring: octet 0x%02x where a length digit or ':' belongs", c);
        /* netstrings.txt: no leading zeros; "0:," is the only one starting with 0. */
        if (i == 1 && buf[0] == '0')
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "netstring: length has a leading zero");
        d = (size_t)(c - '0');
        /* n * 10 + d > cap, written so that it cannot overflow. */
        if (d > cap || n > (cap - d) / 10)
            return mxtls_diag_set(diag, MXTLS_ETOOLONG, i,
                                  "netstring: length exceeds the limit of %zu octets", cap);
        n = n * 10 + d;
    }
    if (i == len)
        return mxtls_diag_set(diag, MXTLS_EAGAIN, len, "netstring: length incomplete");
    if (i == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "netstring: no length digits before ':'");
    start = i + 1;
    /* The payload and the ',' must both be there: n + 1 octets after ':'. */
    if (len - start <= n)
        return mxtls_diag_set(diag, MXTLS_EAGAIN, len, "netstring: %zu of %zu payload octets",
                              len - start < n ? len - start : n, n);
    if (buf[start + n] != ',')
        return mxtls_diag_set(diag, MXTLS_EINVAL, start + n,
                              "netstring: octet 0x%02x after the payload instead of ','",
                              (unsigned char)buf[start + n]);
    frame->data = buf + start;
    frame->len = n;
    frame->consumed = start + n + 1;
    return 0;
}

/* decimal_digits - number of decimal digits of n, at least 1 */
static size_t decimal_digits(size_t n)
{
    size_t d = 1;

    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* netstring_encoded_size - wire size of a netstring with a len-octet payload */
size_t netstring_encoded_size(size_t len)
{
    size_t overhead = decimal_digits(len) + 2; /* digits, ':' and ',' */

    if (len > SIZE_MAX - overhead)
        return 0;
    return len + overhead;
}

/* netstring_encode - write a payload as a netstring into a caller buffer */
int netstring_encode(const char *data, size_t len, char *out, size_t outsize, size_t *outlen,
                     struct mxtls_diag *diag)
{
    size_t size = netstring_encoded_size(len);
    int hdr;

    if (size == 0 || size == SIZE_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "netstring: payload too large");
    if (outsize < size + 1)
        return mxtls_diag_set(diag, MXTLS_ENOSPACE, 0,
                              "netstring: output needs %zu octets, has %zu", size + 1, outsize);
    hdr = snprintf(out, outsize, "%zu:", len);
    if (hdr < 0 || (size_t)hdr != size - len - 1)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "netstring: cannot format the length");
    if (len > 0)
        memcpy(out + hdr, data, len);
    out[size - 1] = ',';
    out[size] = '\0';
    if (outlen != NULL)
        *outlen = size;
    return 0;
}
