/*
 * fuzz_socketmap - arbitrary bytes from a socketmap client through the
 * netstring decoder (whole and split at every offset), then each decoded
 * payload through the request parser, the next-hop normaliser and the reply
 * formatter. Aborts when an invariant of the contracts in
 * include/mxtls/netstring.h and include/mxtls/socketmap.h breaks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxtls/domain.h"
#include "mxtls/netstring.h"
#include "mxtls/socketmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP         SOCKETMAP_REQUEST_MAX
#define COPY_SPLITS 512 /* below this, prefixes go in exact-size copies for ASan */

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "invariant broken: %s\n", what);
        abort();
    }
}

/* Decoding a prefix of buf is "need more" or the whole buffer's answer. */
static void check_splits(const char *buf, size_t len, int whole, const struct netstring_frame *wf)
{
    size_t k;

    for (k = 0; k <= len; k++) {
        struct netstring_frame f;
        char *copy = NULL;
        const char *p = buf;
        int err;

        if (len < COPY_SPLITS) {
            copy = malloc(k ? k : 1);
            check(copy != NULL, "malloc");
            memcpy(copy, buf, k);
            p = copy;
        }
        err = netstring_decode(p, k, CAP, &f, NULL);
        if (whole == 0 && k >= wf->consumed) {
            check(err == 0, "complete prefix decodes");
            check(f.len == wf->len && f.consumed == wf->consumed, "same frame from a prefix");
            check(memcmp(f.data, wf->data, f.len) == 0, "same payload from a prefix");
        } else if (whole == MXTLS_EAGAIN || whole == 0) {
            check(err == MXTLS_EAGAIN, "prefix of a (partial) netstring needs more");
        } else {
            check(err == MXTLS_EAGAIN || err == whole, "prefix error is the final error");
        }
        free(copy);
    }
}

/* A normalised next-hop re-normalises to itself and re-parses to itself. */
static void check_nexthop(const char *key, size_t len)
{
    struct socketmap_nexthop nh, again;
    char out[DOMAIN_BUF_SIZE], text[DOMAIN_BUF_SIZE + 16];
    size_t i, dlen;
    int n, err = socketmap_nexthop_parse(key, len, &nh, NULL);

    check(err == 0 || err == MXTLS_EINVAL || err == MXTLS_ETOOLONG || err == MXTLS_ENOTFOUND,
          "nexthop error code");
    if (err != 0)
        return;
    dlen = strnlen(nh.domain, sizeof(nh.domain));
    check(dlen > 0 && dlen <= DOMAIN_NAME_MAX, "domain NUL-terminated within cap");
    check(nh.port >= 1, "port in 1-65535");
    for (i = 0; i < dlen; i++)
        check(nh.domain[i] < 'A' || nh.domain[i] > 'Z', "domain lower-case");
    check(nh.domain[dlen - 1] != '.', "trailing dot stripped");
    check(domain_normalize(nh.domain, dlen, out, sizeof(out), NULL) == 0, "domain re-normalises");
    check(strcmp(out, nh.domain) == 0, "domain is a fixed point");
    n = snprintf(text, sizeof(text), nh.bracketed ? "[%s]:%u" : "%s:%u", nh.domain,
                 (unsigned)nh.port);
    check(n > 0 && (size_t)n < sizeof(text), "format next-hop");
    check(socketmap_nexthop_parse(text, (size_t)n, &again, NULL) == 0, "next-hop re-parses");
    check(strcmp(again.domain, nh.domain) == 0 && again.bracketed == nh.bracketed &&
              again.port == nh.port,
          "next-hop round trip");
}

/* Replies built from hostile text are one netstring of printable ASCII. */
static void check_reply(enum socketmap_status st, const char *text, size_t len, size_t cap)
{
    static char out[CAP + 64];
    struct netstring_frame f;
    size_t i, n = 0;
    int err = socketmap_reply_format(st, text, len, cap, out, sizeof(out), &n, NULL);

    if (err != 0)
        return;
    check(out[n] == '\0', "reply NUL-terminated");
    check(netstring_decode(out, n, cap, &f, NULL) == 0, "reply decodes within its cap");
    check(f.consumed == n && f.len <= cap, "reply is one netstring");
    for (i = 0; i < f.len; i++)
        check(f.data[i] >= 0x20 && f.data[i] < 0x7f, "reply printable");
    if (st == SOCKETMAP_OK)
        check(f.len == len + 3 && memcmp(f.data, "OK ", 3) == 0 &&
                  memcmp(f.data + 3, text, len) == 0,
              "OK data verbatim");
    if (st == SOCKETMAP_TEMP)
        check(memcmp(f.data, "TEMP ", 5) == 0, "TEMP prefix");
}

static void check_payload(const char *p, size_t len)
{
    static struct socketmap_request req;
    size_t i, klen;
    int err = socketmap_request_parse(p, len, &req, NULL);

    check(err == 0 || err == MXTLS_EINVAL || err == MXTLS_ETOOLONG, "request error code");
    if (err == 0) {
        klen = strnlen(req.key, sizeof(req.key));
        check(klen == req.key_len && klen > 0 && klen <= SOCKETMAP_KEY_MAX, "key length");
        check(strnlen(req.name, sizeof(req.name)) > 0, "name non-empty");
        check(strlen(req.name) + 1 + klen == len, "name and key cover the request");
        for (i = 0; i < klen; i++)
            check((unsigned char)req.key[i] >= 0x20 && req.key[i] != 0x7f, "key has no controls");
        check(strchr(req.name, ' ') == NULL, "name has no space");
        check_nexthop(req.key, req.key_len);
    }
    check_nexthop(p, len);
    check_reply(SOCKETMAP_TEMP, p, len, len % 64 + 5);
    check_reply(SOCKETMAP_OK, p, len, CAP);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct netstring_frame f;
    char enc[CAP + 16];
    size_t off = 0, n;
    int err = netstring_decode(buf, size, CAP, &f, NULL);

    check(err == 0 || err == MXTLS_EAGAIN || err == MXTLS_EINVAL || err == MXTLS_ETOOLONG,
          "decode error code");
    check_splits(buf, size, err, &f);

    /* Pipelined: decode netstring after netstring, as the daemon does. */
    while (netstring_decode(buf + off, size - off, CAP, &f, NULL) == 0) {
        check(f.consumed > 0 && f.consumed <= size - off, "consumed within input");
        check(f.len <= CAP && f.data > buf + off && f.data + f.len < buf + off + f.consumed,
              "payload inside the frame");
        /* One encoding per string: re-encoding gives back the exact bytes. */
        check(netstring_encode(f.data, f.len, enc, sizeof(enc), &n, NULL) == 0, "re-encode");
        check(n == f.consumed && memcmp(enc, buf + off, n) == 0, "unique encoding");
        check_payload(f.data, f.len);
        off += f.consumed;
    }
    /* Raw bytes straight into the parsers too, NULs and all. */
    if (size <= CAP)
        check_payload(buf, size);
    return 0;
}
