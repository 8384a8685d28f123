/*
 * txt_wire - shared by the TXT record fuzz targets: encode one record text as
 * TXT RDATA (RFC 1035 §3.3.14), split into character-strings of at most 255
 * octets, the way a DNS answer may carry it. out must hold len + len / 255 + 1.
 */
#ifndef MXTLS_FUZZ_TXT_WIRE_H
#define MXTLS_FUZZ_TXT_WIRE_H

#include <stddef.h>
#include <string.h>

static inline size_t txt_wire_encode(const char *buf, size_t len, unsigned char *out)
{
    size_t pos = 0, done = 0;

    do {
        size_t l = len - done > 255 ? 255 : len - done;

        out[pos++] = (unsigned char)l;
        memcpy(out + pos, buf + done, l);
        pos += l;
        done += l;
    } while (done < len);
    return pos;
}

#endif
