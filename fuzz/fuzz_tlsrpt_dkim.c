/*
 * fuzz_tlsrpt_dkim - dkim_verify_message (io/dkim_verify.h, libopendkim) on
 * hostile emails and hostile key records: the DKIM path of `mxtls tlsrpt
 * ingest`. The input is KEY-RECORD NUL MESSAGE; the key lookup answers with
 * the record (so its s= service-type rewrite and libopendkim's key parser
 * see it), "no such record" when it is empty, or a temporary failure when it
 * starts with '!'.
 *
 * Invariants (abort() on violation): the call returns 0 (a message never
 * makes it fail); the verdict is one of the five; the names and the reason
 * are NUL-terminated within their buffers and the reason is not empty; a
 * message without a DKIM-Signature field (dkim_has_signature) is "none"; a
 * "pass" names its domain and selector, and "aligned" implies a From:
 * domain.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

struct fuzz_key {
    const char *rec;
    size_t len;
};

/* lookup - the record of this input, whatever the name */
static enum dkim_key_status lookup(void *arg, const char *qname, char *buf, size_t bufsize,
                                   char *why, size_t whysize)
{
    const struct fuzz_key *k = arg;
    size_t n = k->len < bufsize - 1 ? k->len : bufsize - 1;

    CHECK(qname != NULL && strstr(qname, "._domainkey.") != NULL);
    if (k->len == 0) {
        snprintf(why, whysize, "NXDOMAIN");
        return DKIM_KEY_NOTFOUND;
    }
    if (k->rec[0] == '!') {
        snprintf(why, whysize, "timeout");
        return DKIM_KEY_TEMPFAIL;
    }
    memcpy(buf, k->rec, n);
    buf[n] = '\0';
    return DKIM_KEY_FOUND;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dkim_verifier *v;
    static struct fuzz_key key;
    const uint8_t *nul = memchr(data, '\0', size);
    const char *msg;
    size_t mlen;
    struct dkim_outcome out;
    struct mxtls_diag diag = {0};

    if (v == NULL && (v = dkim_verifier_new(lookup, &key, NULL)) == NULL)
        abort();
    if (nul == NULL)
        return 0;
    key.rec = (const char *)data;
    key.len = (size_t)(nul - data);
    if (key.len > DKIM_KEY_MAX)
        return 0;
    msg = (const char *)nul + 1;
    mlen = size - key.len - 1;
    CHECK(dkim_verify_message(v, msg, mlen, &out, &diag) == 0);
    CHECK(out.result >= DKIM_V_NONE && out.result <= DKIM_V_PERMERROR);
    CHECK(memchr(out.domain, '\0', sizeof(out.domain)) != NULL);
    CHECK(memchr(out.selector, '\0', sizeof(out.selector)) != NULL);
    CHECK(memchr(out.from_domain, '\0', sizeof(out.from_domain)) != NULL);
    CHECK(memchr(out.reason, '\0', sizeof(out.reason)) != NULL && out.reason[0] != '\0');
    if (!dkim_has_signature(msg, mlen))
        CHECK(out.result == DKIM_V_NONE);
    if (out.result == DKIM_V_PASS)
        CHECK(out.domain[0] != '\0' && out.selector[0] != '\0');
    if (out.aligned)
        CHECK(out.from_domain[0] != '\0' && out.domain[0] != '\0');
    CHECK(strcmp(dkim_verdict_name(out.result), "") != 0);
    return 0;
}
