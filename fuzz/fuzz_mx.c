/*
 * fuzz_mx - libFuzzer target for MX RDATA parsing (include/mxtls/mx.h).
 *
 * Invariants, abort() on violation: the result is 1, 0 or a negative code
 * with a reason; a host name is NUL-terminated, normalised (normalising it
 * again gives the same text) and its wire form re-parses to the same host and
 * preference; a failure leaves host empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxtls/mx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* to_wire - the RDATA for (pref, host): labels of the dotted text */
static size_t to_wire(uint16_t pref, const char *host, unsigned char *out)
{
    size_t n = 0;
    out[n++] = (unsigned char)(pref >> 8);
    out[n++] = (unsigned char)pref;
    const char *p = host;
    while (*p != '\0') {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        out[n++] = (unsigned char)l;
        memcpy(out + n, p, l);
        n += l;
        p += l + (dot ? 1 : 0);
    }
    out[n++] = 0;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char host[DOMAIN_BUF_SIZE];
    uint16_t pref = 0;
    struct mxtls_diag d = {0};
    int rc = mx_rdata_parse(data, size, &pref, host, sizeof(host), &d);
    if (rc < 0) {
        if (host[0] != '\0' || d.what[0] == '\0' || d.code != rc)
            abort();
        return 0;
    }
    if (rc == 1) {
        if (host[0] != '\0')
            abort();
        return 0;
    }
    if (rc != 0 || memchr(host, '\0', sizeof(host)) == NULL || host[0] == '\0')
        abort();
    char again[DOMAIN_BUF_SIZE];
    if (domain_normalize(host, strlen(host), again, sizeof(again), &d) != 0 ||
        strcmp(again, host) != 0)
        abort();
    unsigned char wire[MX_RDATA_MAX];
    size_t n = to_wire(pref, host, wire);
    uint16_t pref2 = 0;
    if (mx_rdata_parse(wire, n, &pref2, again, sizeof(again), &d) != 0 || pref2 != pref ||
        strcmp(again, host) != 0)
        abort();
    return 0;
}
