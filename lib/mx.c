/*
 * mx - MX RDATA parsing (see include/mxtls/mx.h).
 */
#include "mxtls/mx.h"

#include <string.h>

#define WIRE_NAME_MAX 255 /* RFC 1035 §3.1 */

/* mx_rdata_parse - preference and exchange of one MX record */
int mx_rdata_parse(const unsigned char *buf, size_t len, uint16_t *pref, char *host,
                   size_t hostsize, struct mxtls_diag *diag)
{
    char text[WIRE_NAME_MAX + 1];
    size_t i = 2, o = 0;

    if (hostsize > 0)
        host[0] = '\0';
    if (hostsize < DOMAIN_BUF_SIZE)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "mx: host buffer too small");
    /* RFC 1035 §3.3.9: PREFERENCE (16 bits), then EXCHANGE (a name, at least the root). */
    if (len < 3)
        return mxtls_diag_set(diag, MXTLS_EINVAL, len, "mx: RDATA of %zu octets is too short", len);
    if (len > MX_RDATA_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, MX_RDATA_MAX, "mx: RDATA over %d octets",
                              MX_RDATA_MAX);
    *pref = (uint16_t)(buf[0] << 8 | buf[1]);
    for (;;) {
        if (i >= len)
            return mxtls_diag_set(diag, MXTLS_EINVAL, i, "mx: name runs past the RDATA");
        size_t l = buf[i];
        if (l == 0)
            break;
        /* RFC 1035 §4.1.4: 0xC0 is a compression pointer, not allowed here (RFC 3597 §4). */
        if (l > DOMAIN_LABEL_MAX)
            return mxtls_diag_set(diag, MXTLS_EINVAL, i,
                                  "mx: label length %zu (over 63 or a "
                                  "compression pointer)",
                                  l);
        if (i + 1 + l > len)
            return mxtls_diag_set(diag, MXTLS_EINVAL, i, "mx: label runs past the RDATA");
        /* A '.' inside a wire label would change the name's labels in text form. */
        if (memchr(buf + i + 1, '.', l) != NULL)
            return mxtls_diag_set(diag, MXTLS_EINVAL, i, "mx: '.' inside a label");
        if (o + l + 1 > WIRE_NAME_MAX)
            return mxtls_diag_set(diag, MXTLS_ETOOLONG, i, "mx: name over 255 octets");
        if (o > 0)
            text[o++] = '.';
        memcpy(text + o, buf + i + 1, l);
        o += l;
        i += 1 + l;
    }
    if (i + 1 != len)
        return mxtls_diag_set(diag, MXTLS_EINVAL, i + 1, "mx: %zu octets after the name",
                              len - i - 1);
    if (o == 0)
        return 1; /* RFC 7505 §3: the exchange "." is a null MX */
    int err = domain_normalize(text, o, host, hostsize, diag);
    if (err < 0) {
        host[0] = '\0';
        return err;
    }
    return 0;
}
