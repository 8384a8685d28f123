/*
 * gz - gunzip with zlib under a hard output cap (see gz.h).
 *
 * Failure: a negative MXTLS_E* code with diag naming zlib's reason; the
 * partial output is freed. Memory: the output buffer (at most max + 1 octets)
 * and zlib's fixed 32 KiB window.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gz.h"

#define GZ_FIRST_CHUNK 65536

/* gz_is_gzip - the gzip magic number at the start */
int gz_is_gzip(const void *buf, size_t len)
{
    const unsigned char *p = buf;

    return len >= 2 && p[0] == 0x1f && p[1] == 0x8b; /* RFC 1952 §2.3.1 ID1 ID2 */
}

/* grow - double *cap (never past max + 1) and realloc *out */
static int grow(char **out, size_t *cap, size_t max)
{
    size_t want = *cap * 2;
    char *p;

    if (want > max + 1)
        want = max + 1;
    p = realloc(*out, want);
    if (p == NULL)
        return -1;
    *out = p;
    *cap = want;
    return 0;
}

/* gz_inflate - gunzip into a new buffer, at most max octets */
int gz_inflate(const void *buf, size_t len, size_t max, char **out, size_t *outlen,
               struct mxtls_diag *diag)
{
    const unsigned char *in = buf;
    /* a first guess of 8 times the input: reports compress about that well */
    size_t cap = len < GZ_FIRST_CHUNK / 8 ? len * 8 + 1024 : GZ_FIRST_CHUNK, used = 0, pos = 0;
    char *o;
    z_stream zs;
    int zr, err = 0;

    *out = NULL;
    *outlen = 0;
    if (!gz_is_gzip(buf, len))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "not gzip data (RFC 1952)");
    if (cap > max + 1)
        cap = max + 1;
    o = malloc(cap);
    if (o == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) { /* 16: gzip wrapper only */
        free(o);
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "zlib: cannot initialise");
    }
    for (;;) {
        size_t chunk = len - pos > UINT32_MAX ? UINT32_MAX : len - pos;

        zs.next_in = (unsigned char *)(uintptr_t)(in + pos);
        zs.avail_in = (uInt)chunk;
        if (used == cap - 1 || used == cap) {
            if (cap >= max + 1) {
                err = mxtls_diag_set(diag, MXTLS_ETOOLONG, pos, "decompressed size over %zu octets",
                                     max);
                break;
            }
            if (grow(&o, &cap, max) != 0) {
                err = mxtls_diag_set(diag, MXTLS_ENOMEM, pos, "out of memory");
                break;
            }
        }
        zs.next_out = (unsigned char *)o + used;
        zs.avail_out = (uInt)(cap - 1 - used); /* keep one octet for the NUL */
        zr = inflate(&zs, Z_NO_FLUSH);
        pos += chunk - zs.avail_in;
        used = cap - 1 - zs.avail_out;
        if (used > max) {
            err =
                mxtls_diag_set(diag, MXTLS_ETOOLONG, pos, "decompressed size over %zu octets", max);
            break;
        }
        if (zr == Z_STREAM_END) {
            if (pos == len)
                break;
            if (!gz_is_gzip(in + pos, len - pos)) {
                err =
                    mxtls_diag_set(diag, MXTLS_EINVAL, pos, "trailing data after the gzip member");
                break;
            }
            inflateReset(&zs); /* another member: joined (RFC 1952 §2.2) */
            continue;
        }
        if (zr == Z_BUF_ERROR && pos == len && zs.avail_out > 0) {
            err = mxtls_diag_set(diag, MXTLS_EINVAL, pos, "truncated gzip data");
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            err = mxtls_diag_set(diag, zr == Z_MEM_ERROR ? MXTLS_ENOMEM : MXTLS_EINVAL, pos,
                                 "corrupt gzip data: %s", zs.msg != NULL ? zs.msg : "zlib error");
            break;
        }
        if (zr == Z_OK && pos == len && zs.avail_out > 0) {
            err = mxtls_diag_set(diag, MXTLS_EINVAL, pos, "truncated gzip data");
            break;
        }
    }
    inflateEnd(&zs);
    if (err < 0) {
        free(o);
        return err;
    }
    o[used] = '\0';
    *out = o;
    *outlen = used;
    return 0;
}
