/*
 * tlsrpt_datagram - libtlsrpt's datagrams into policies and sessions (see
 * tlsrpt_datagram.h).
 */
#include "tlsrpt_datagram.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>

/* tlsrpt_dgram_failure - libtlsrpt's tlsrpt_failure_t to RFC 8460 §4.3 */
int tlsrpt_dgram_failure(long code)
{
    switch (code) {
    case 201:
        return TLSRPT_STARTTLS_NOT_SUPPORTED;
    case 202:
        return TLSRPT_CERTIFICATE_HOST_MISMATCH;
    case 203:
        return TLSRPT_CERTIFICATE_NOT_TRUSTED;
    case 204:
        return TLSRPT_CERTIFICATE_EXPIRED;
    case 205:
        return TLSRPT_VALIDATION_FAILURE;
    case 301:
        return TLSRPT_STS_POLICY_FETCH_ERROR;
    case 302:
        return TLSRPT_STS_POLICY_INVALID;
    case 303:
        return TLSRPT_STS_WEBPKI_INVALID;
    case 304:
        return TLSRPT_TLSA_INVALID;
    case 305:
        return TLSRPT_DNSSEC_INVALID;
    case 306:
        return TLSRPT_DANE_REQUIRED;
    default:
        return -1;
    }
}

/* text - copy a JSON string member (absent: ""); 0, or MXTLS_EINVAL */
static int text(const json_t *obj, const char *key, char *out, size_t size, bool lower,
                struct mxtls_diag *diag)
{
    const json_t *v = json_object_get(obj, key);
    out[0] = '\0';
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: \"%s\" is not a string", key);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n >= size)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: \"%s\" longer than %zu octets", key,
                              size - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: \"%s\" has a control character",
                                  key);
        out[i] = lower && c >= 'A' && c <= 'Z' ? (char)(c + 32) : (char)c;
    }
    out[n] = '\0';
    return 0;
}

/* list - a JSON array of strings into entries ending '\n'; 0, or MXTLS_EINVAL */
static int list(const json_t *obj, const char *key, char *out, size_t size, struct mxtls_diag *diag)
{
    const json_t *a = json_object_get(obj, key), *v;
    size_t o = 0, i;
    out[0] = '\0';
    if (a == NULL || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: \"%s\" is not an array", key);
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v))
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: \"%s\"[%zu] is not a string",
                                  key, i);
        size_t n = json_string_length(v);
        const char *s = json_string_value(v);
        if (o + n + 2 > size)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: \"%s\" longer than %zu octets",
                                  key, size - 2);
        for (size_t k = 0; k < n; k++) {
            unsigned char c = (unsigned char)s[k];
            if (c < 0x20 || c == 0x7f)
                return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                      "datagram: \"%s\"[%zu] has a control character", key, i);
            out[o++] = (char)c;
        }
        out[o++] = '\n';
    }
    out[o] = '\0';
    return 0;
}

/* integer - a JSON integer member within [lo, hi]; 0, or MXTLS_EINVAL */
static int integer(const json_t *obj, const char *key, long lo, long hi, bool required, long *out,
                   struct mxtls_diag *diag)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL && !required)
        return 0;
    if (v == NULL || !json_is_integer(v))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: \"%s\" %s", key,
                              v == NULL ? "missing" : "is not an integer");
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: \"%s\" %lld out of range", key,
                              (long long)x);
    *out = (long)x;
    return 0;
}

/* policy - one element of "policies" */
static int policy(const json_t *o, struct tlsrpt_dgram_policy *p, struct mxtls_diag *diag)
{
    long type = 0, f = 0, t = 0;
    int rc;
    if (!json_is_object(o))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: a policy is not an object");
    if ((rc = integer(o, "policy-type", 0, 1000, true, &type, diag)) != 0 ||
        (rc = integer(o, "f", 0, 1, true, &f, diag)) != 0 ||
        (rc = integer(o, "t", 0, 1000000, false, &t, diag)) != 0)
        return rc;
    switch (type) {
    case 1:
        p->type = TLSRPT_POLICY_TLSA;
        break;
    case 2:
        p->type = TLSRPT_POLICY_STS;
        break;
    case 9:
        p->type = TLSRPT_POLICY_NONE;
        break;
    default:
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: policy-type %ld unknown", type);
    }
    p->failed = f == 1;
    if ((rc = text(o, "policy-domain", p->domain, sizeof(p->domain), true, diag)) != 0 ||
        (rc = list(o, "policy-string", p->strings, sizeof(p->strings), diag)) != 0 ||
        (rc = list(o, "mx-host", p->mx, sizeof(p->mx), diag)) != 0)
        return rc;
    const json_t *fd = json_object_get(o, "failure-details");
    p->result = TLSRPT_SUCCESS;
    if (fd != NULL && !json_is_array(fd))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: failure-details not an array");
    if (fd != NULL && json_array_size(fd) > 0) {
        const json_t *d = json_array_get(fd, 0);
        long code = 0;
        if (!json_is_object(d))
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: a failure is not an object");
        if ((rc = integer(d, "c", 0, 100000, true, &code, diag)) != 0)
            return rc;
        int r = tlsrpt_dgram_failure(code);
        if (r < 0)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: failure code %ld unknown",
                                  code);
        p->result = (enum tlsrpt_result)r;
        char reason[POSTFIX_LOG_REASON_MAX + 1], add[POSTFIX_LOG_REASON_MAX + 1];
        if ((rc = text(d, "s", p->sending_ip, sizeof(p->sending_ip), true, diag)) != 0 ||
            (rc = text(d, "n", p->mx_host, sizeof(p->mx_host), true, diag)) != 0 ||
            (rc = text(d, "r", p->ip, sizeof(p->ip), true, diag)) != 0 ||
            (rc = text(d, "f", reason, sizeof(reason), false, diag)) != 0 ||
            (rc = text(d, "a", add, sizeof(add), false, diag)) != 0)
            return rc;
        /* RFC 8460 §4.4 failure-reason-code; libtlsrpt's additional information when none */
        memcpy(p->reason, reason[0] != '\0' ? reason : add, sizeof(p->reason));
    }
    if (p->failed && p->result == TLSRPT_SUCCESS)
        p->result = TLSRPT_VALIDATION_FAILURE; /* failed without a detail: the generic type */
    return 0;
}

/* tlsrpt_dgram_decode - parse, check the version, read the policies */
int tlsrpt_dgram_decode(const void *buf, size_t len, struct tlsrpt_dgram *out,
                        struct mxtls_diag *diag)
{
    json_error_t err;
    int rc = 0;
    memset(out, 0, offsetof(struct tlsrpt_dgram, p));
    if (len > TLSRPT_DGRAM_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "datagram: %zu octets, more than %d", len,
                              TLSRPT_DGRAM_MAX);
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, (size_t)err.position, "datagram: not JSON: %s",
                              err.text);
    if (!json_is_object(j)) {
        rc = mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: not a JSON object");
        goto out;
    }
    const json_t *v = json_object_get(j, "dpv");
    if (v == NULL) {
        out->version = 0;
    } else if (json_is_string(v) && strcmp(json_string_value(v), "1") == 0) {
        out->version = 1;
    } else {
        rc = mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "datagram: protocol version %s unknown",
                            json_is_string(v) ? json_string_value(v) : "(not a string)");
        goto out;
    }
    if ((rc = text(j, "d", out->domain, sizeof(out->domain), true, diag)) != 0)
        goto out;
    if (out->domain[0] == '\0') {
        rc = mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: no domain (\"d\")");
        goto out;
    }
    const json_t *pols = json_object_get(j, "policies");
    if (!json_is_array(pols) || json_array_size(pols) == 0) {
        rc = mxtls_diag_set(diag, MXTLS_EINVAL, 0, "datagram: no policies");
        goto out;
    }
    if (json_array_size(pols) > TLSRPT_DGRAM_POLICIES_MAX) {
        rc = mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "datagram: more than %d policies",
                            TLSRPT_DGRAM_POLICIES_MAX);
        goto out;
    }
    size_t i;
    const json_t *p;
    json_array_foreach(pols, i, p)
    {
        memset(&out->p[i], 0, sizeof(out->p[i]));
        if ((rc = policy(p, &out->p[i], diag)) != 0)
            goto out;
        if (out->p[i].domain[0] == '\0') /* policy-domain is optional: the recipient's */
            memcpy(out->p[i].domain, out->domain, sizeof(out->p[i].domain));
    }
    out->n = json_array_size(pols);
out:
    json_decref(j);
    if (rc != 0)
        out->n = 0;
    return rc;
}
