/*
 * dkim_sign - DKIM-sign a report mail with libopendkim (see dkim_sign.h).
 */
#include "dkim_sign.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <opendkim/dkim.h>

#define KEY_MAX 65536

/* read_key - the PEM file, at most KEY_MAX octets */
static char *read_key(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *b = malloc(KEY_MAX + 1);
    size_t n = b != NULL ? fread(b, 1, KEY_MAX + 1, f) : 0;
    fclose(f);
    if (b == NULL || n == 0 || n > KEY_MAX) {
        free(b);
        return NULL;
    }
    b[n] = '\0';
    *len = n;
    return b;
}

/* dkim_sign_message - feed headers, body, and take the signature header */
int dkim_sign_message(const char *key_file, const char *selector, const char *domain,
                      const char *msg, size_t len, char **header, struct mxtls_diag *diag)
{
    size_t klen;
    int rc = 0;
    DKIM_STAT st;
    *header = NULL;
    char *key = read_key(key_file, &klen);
    if (key == NULL)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "DKIM key %s: cannot read it", key_file);
    DKIM_LIB *lib = dkim_init(NULL, NULL);
    if (lib == NULL) {
        free(key);
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "libopendkim: cannot initialise");
    }
    DKIM *d = dkim_sign(lib, (const unsigned char *)"mxtls-tlsrpt", NULL, (dkim_sigkey_t)key,
                        (const unsigned char *)selector, (const unsigned char *)domain,
                        DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1, &st);
    if (d == NULL) {
        rc = mxtls_diag_set(diag, MXTLS_ECRYPTO, 0, "DKIM: %s", dkim_getresultstr(st));
        goto out;
    }
    /* headers: one unfolded-or-folded field at a time, up to the empty line */
    const char *p = msg, *end = msg + len, *body = NULL;
    while (p < end) {
        const char *e = p;
        for (;;) {
            const char *crlf = memchr(e, '\r', (size_t)(end - e));
            if (crlf == NULL || crlf + 1 >= end || crlf[1] != '\n') {
                e = end;
                break;
            }
            e = crlf;
            if (crlf + 2 < end && (crlf[2] == ' ' || crlf[2] == '\t')) {
                e = crlf + 2; /* a folded continuation */
                continue;
            }
            break;
        }
        if (e == p) { /* the empty line */
            body = p + 2;
            break;
        }
        if (dkim_header(d, (u_char *)(uintptr_t)p, (size_t)(e - p)) != DKIM_STAT_OK) {
            rc = mxtls_diag_set(diag, MXTLS_ECRYPTO, 0, "DKIM: a header was refused");
            goto out;
        }
        p = e + 2;
    }
    if (body == NULL || body > end || dkim_eoh(d) != DKIM_STAT_OK ||
        dkim_body(d, (u_char *)(uintptr_t)body, (size_t)(end - body)) != DKIM_STAT_OK ||
        dkim_eom(d, NULL) != DKIM_STAT_OK) {
        rc = mxtls_diag_set(diag, MXTLS_ECRYPTO, 0, "DKIM: signing failed (%s)",
                            dkim_geterror(d) != NULL ? dkim_geterror(d) : "no detail");
        goto out;
    }
    u_char *sig = NULL;
    size_t sl = 0;
    static const char name[] = "DKIM-Signature: ";
    if (dkim_getsighdr_d(d, sizeof(name) - 1, &sig, &sl) != DKIM_STAT_OK || sig == NULL) {
        rc = mxtls_diag_set(diag, MXTLS_ECRYPTO, 0, "DKIM: no signature header");
        goto out;
    }
    /* libopendkim folds with "\n\t"; mail on the wire wants CRLF */
    size_t nl = 0;
    for (size_t i = 0; i < sl; i++)
        nl += sig[i] == '\n';
    char *h = malloc(sizeof(name) + sl + nl + 1);
    if (h == NULL) {
        rc = MXTLS_ENOMEM;
        goto out;
    }
    size_t o = 0;
    memcpy(h, name, sizeof(name) - 1);
    o = sizeof(name) - 1;
    for (size_t i = 0; i < sl; i++) {
        if (sig[i] == '\n' && (i == 0 || sig[i - 1] != '\r'))
            h[o++] = '\r';
        h[o++] = (char)sig[i];
    }
    h[o] = '\0';
    *header = h;
out:
    if (d != NULL)
        dkim_free(d);
    dkim_close(lib);
    free(key);
    return rc;
}
