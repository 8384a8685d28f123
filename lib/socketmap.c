/*
 * socketmap - Postfix socketmap requests, next-hop keys and replies.
 * See include/mxtls/socketmap.h for the contract.
 */
#include <arpa/inet.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>

#include "mxtls/socketmap.h"

#define NEXTHOP_DEFAULT_PORT 25 /* SMTP (RFC 5321 §4.5.4.2); Postfix omits it from keys */
#define PORT_DIGITS_MAX      5  /* "65535" */
#define IP_LITERAL_MAX       64 /* longer than any IPv6 text (45) plus "ipv6:" */

/* is_printable - printable ASCII, space included */
static bool is_printable(unsigned char c)
{
    return c >= 0x20 && c < 0x7f;
}

/* socketmap_request_parse - split a request into map name and key */
int socketmap_request_parse(const char *buf, size_t len, struct socketmap_request *req,
                            struct mxtls_diag *diag)
{
    const char *space;
    size_t i, name_len, key_len;

    if (len == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "socketmap: empty request");
    if (len > SOCKETMAP_REQUEST_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, SOCKETMAP_REQUEST_MAX,
                              "socketmap: request longer than %d octets", SOCKETMAP_REQUEST_MAX);
    /* socketmap_table(5): "name <space> key"; the name itself holds no space. */
    space = memchr(buf, ' ', len);
    if (space == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "socketmap: no space between map name and key");
    name_len = (size_t)(space - buf);
    key_len = len - name_len - 1;
    if (name_len == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "socketmap: empty map name");
    if (name_len > SOCKETMAP_NAME_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, SOCKETMAP_NAME_MAX,
                              "socketmap: map name longer than %d octets", SOCKETMAP_NAME_MAX);
    for (i = 0; i < name_len; i++)
        if (!is_printable((unsigned char)buf[i]))
            return mxtls_diag_set(diag, MXTLS_EINVAL, i, "socketmap: octet 0x%02x in the map name",
                                  (unsigned char)buf[i]);
    if (key_len == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, len, "socketmap: empty key");
    /* key_len <= SOCKETMAP_REQUEST_MAX - 2 = SOCKETMAP_KEY_MAX follows from the checks above. */
    for (i = name_len + 1; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];

        /* Postfix keys are C strings; control octets could only forge log lines. */
        if (c < 0x20 || c == 0x7f)
            return mxtls_diag_set(diag, MXTLS_EINVAL, i,
                                  "socketmap: control octet 0x%02x in the key", c);
    }
    memcpy(req->name, buf, name_len);
    req->name[name_len] = '\0';
    memcpy(req->key, space + 1, key_len);
    req->key[key_len] = '\0';
    req->key_len = key_len;
    return 0;
}

/* parse_port - 1-5 decimal digits, no sign, value 1-65535 */
static int parse_port(const char *s, size_t len, size_t offset, uint16_t *port,
                      struct mxtls_diag *diag)
{
    size_t i;
    unsigned long v = 0;

    if (len == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, offset, "next-hop: empty port after ':'");
    if (len > PORT_DIGITS_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, offset, "next-hop: port has more than %d digits",
                              PORT_DIGITS_MAX);
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return mxtls_diag_set(diag, MXTLS_EINVAL, offset + i,
                                  "next-hop: port is not a decimal number");
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return mxtls_diag_set(diag, MXTLS_EINVAL, offset, "next-hop: port %lu outside 1-65535", v);
    *port = (uint16_t)v;
    return 0;
}

/* ip_literal - is (s, len) the text of an IPv4 (af = AF_INET) or IPv6 address? */
static bool ip_literal(int af, const char *s, size_t len)
{
    char copy[IP_LITERAL_MAX];
    unsigned char addr[16];

    if (len >= sizeof(copy) || memchr(s, '\0', len) != NULL)
        return false;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return inet_pton(af, copy, addr) == 1;
}

/* socketmap_nexthop_parse - normalise a Postfix next-hop key */
int socketmap_nexthop_parse(const char *key, size_t len, struct socketmap_nexthop *nh,
                            struct mxtls_diag *diag)
{
    const char *host, *colon;
    size_t host_len, host_off, rest_off;
    int err;

    if (len == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "next-hop: empty key");
    nh->port = NEXTHOP_DEFAULT_PORT;
    nh->bracketed = key[0] == '[';
    if (nh->bracketed) {
        const char *close = memchr(key, ']', len);

        if (close == NULL)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "next-hop: '[' without ']'");
        host = key + 1;
        host_off = 1;
        host_len = (size_t)(close - host);
        rest_off = (size_t)(close - key) + 1;
        if (rest_off < len) {
            if (key[rest_off] != ':')
                return mxtls_diag_set(diag, MXTLS_EINVAL, rest_off,
                                      "next-hop: only \":port\" may follow ']'");
            err = parse_port(key + rest_off + 1, len - rest_off - 1, rest_off + 1, &nh->port, diag);
            if (err < 0)
                return err;
        }
        if (host_len == 0)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 1, "next-hop: empty \"[]\"");
        /* Postfix address literals: [192.0.2.1], [ipv6:2001:db8::1], [2001:db8::1]. */
        if (host_len > 5 && strncasecmp(host, "ipv6:", 5) == 0) {
            if (ip_literal(AF_INET6, host + 5, host_len - 5))
                return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 1,
                                      "next-hop: IPv6 address literal, no policy lookup");
            return mxtls_diag_set(diag, MXTLS_EINVAL, 1, "next-hop: malformed IPv6 literal");
        }
        if (ip_literal(AF_INET6, host, host_len) || ip_literal(AF_INET, host, host_len))
            return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 1,
                                  "next-hop: IP address literal, no policy lookup");
    } else {
        host = key;
        host_off = 0;
        host_len = len;
        colon = memchr(key, ':', len);
        /* More than one ':' without brackets can only be a bare IPv6 address. */
        if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon - key) - 1) != NULL) {
            if (ip_literal(AF_INET6, key, len))
                return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0,
                                      "next-hop: IPv6 address, no policy lookup");
            return mxtls_diag_set(diag, MXTLS_EINVAL, (size_t)(colon - key),
                                  "next-hop: more than one ':'");
        }
        if (colon != NULL) {
            host_len = (size_t)(colon - key);
            err = parse_port(colon + 1, len - host_len - 1, host_len + 1, &nh->port, diag);
            if (err < 0)
                return err;
        }
        if (host_len == 0)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "next-hop: empty host before ':'");
        if (ip_literal(AF_INET, host, host_len))
            return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0,
                                  "next-hop: IPv4 address, no policy lookup");
        /* Postfix's tls_policy_lookup() probes parent domains as ".example.com". */
        if (host[0] == '.') {
            err = domain_normalize(host + 1, host_len - 1, nh->domain, sizeof(nh->domain), diag);
            if (err < 0) {
                if (diag != NULL)
                    diag->offset += 1;
                return err;
            }
            return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0,
                                  "next-hop: parent-domain probe, no policy lookup");
        }
    }
    err = domain_normalize(host, host_len, nh->domain, sizeof(nh->domain), diag);
    if (err < 0 && diag != NULL)
        diag->offset += host_off;
    return err;
}

/* socketmap_reply_format - frame one reply as a netstring */
int socketmap_reply_format(enum socketmap_status status, const char *text, size_t text_len,
                           size_t cap, char *out, size_t outsize, size_t *outlen,
                           struct mxtls_diag *diag)
{
    const char *word;
    size_t i, word_len, payload, size;
    size_t digits;
    char *p;

    switch (status) {
    case SOCKETMAP_OK:
        word = "OK ";
        break;
    case SOCKETMAP_NOTFOUND:
        /* socketmap_table(5): "NOTFOUND <space>", with the space. */
        word = "NOTFOUND ";
        break;
    case SOCKETMAP_TEMP:
        word = "TEMP ";
        break;
    case SOCKETMAP_PERM:
        word = "PERM ";
        break;
    default:
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "socketmap: unknown reply status %d",
                              (int)status);
    }
    word_len = strlen(word);
    if (cap < word_len)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0,
                              "socketmap: reply cap %zu is below the %zu-octet status", cap,
                              word_len);
    if (status == SOCKETMAP_OK) {
        if (text_len == 0)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "socketmap: OK reply without data");
        for (i = 0; i < text_len; i++)
            if (!is_printable((unsigned char)text[i]))
                return mxtls_diag_set(diag, MXTLS_EINVAL, i, "socketmap: octet 0x%02x in OK data",
                                      (unsigned char)text[i]);
        /* A policy cut short would be a different policy: refuse instead. */
        if (text_len > cap - word_len)
            return mxtls_diag_set(diag, MXTLS_ETOOLONG, cap - word_len,
                                  "socketmap: OK data longer than the %zu-octet reply cap", cap);
    } else if (status == SOCKETMAP_NOTFOUND) {
        if (text_len != 0)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "socketmap: NOTFOUND takes no text");
    } else if (text_len > cap - word_len) {
        text_len = cap - word_len; /* a reason is only for the log: cut it to fit */
    }
    payload = word_len + text_len;
    size = netstring_encoded_size(payload);
    if (size == 0 || outsize < size + 1)
        return mxtls_diag_set(diag, MXTLS_ENOSPACE, 0,
                              "socketmap: reply needs %zu octets, buffer has %zu", size + 1,
                              outsize);
    /* The length in decimal, without printf: this runs for every reply. */
    digits = size - payload - 2; /* size counted the digits, ':' and ',' */
    p = out + digits;
    *p = ':';
    for (i = payload; p > out; i /= 10)
        *--p = (char)('0' + i % 10);
    p = out + digits + 1;
    memcpy(p, word, word_len);
    p += word_len;
    /* Postfix logs the reason as a C string: no NUL, no line breaks, ASCII only. */
    for (i = 0; i < text_len; i++)
        *p++ = is_printable((unsigned char)text[i]) ? text[i] : '?';
    *p++ = ',';
    *p = '\0';
    if (outlen != NULL)
        *outlen = size;
    return 0;
}
