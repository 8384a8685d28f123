/*
 * domain - DNS host name validation and normalisation.
 * See include/mxtls/domain.h for the rules and their RFC sections.
 */
#include <stdbool.h>
#include <string.h>

#include "mxtls/domain.h"

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static char to_lower(unsigned char c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* domain_normalize - validate a host name and write its canonical form */
int domain_normalize(const char *name, size_t len, char *out, size_t outsize,
                     struct mxtls_diag *diag)
{
    size_t i, label_start = 0;
    bool label_all_digits = true;

    /* One trailing dot names the same (absolute) name: drop it. */
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "empty domain name");
    if (len > DOMAIN_NAME_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, DOMAIN_NAME_MAX,
                              "domain name longer than %d octets", DOMAIN_NAME_MAX);
    if (outsize < len + 1)
        return mxtls_diag_set(diag, MXTLS_ENOSPACE, 0, "output buffer too small");

    for (i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)name[i] : '.';

        if (c == '.') {
            size_t label_len = i - label_start;

            if (label_len == 0)
                return mxtls_diag_set(diag, MXTLS_EINVAL, i, "empty label");
            if (label_len > DOMAIN_LABEL_MAX)
                return mxtls_diag_set(diag, MXTLS_ETOOLONG, label_start,
                                      "label longer than %d octets", DOMAIN_LABEL_MAX);
            /* RFC 1123 §2.1: a label neither starts nor ends with a hyphen. */
            if (name[label_start] == '-' || name[i - 1] == '-')
                return mxtls_diag_set(diag, MXTLS_EINVAL, label_start,
                                      "label starts or ends with a hyphen");
            if (i == len && label_all_digits)
                return mxtls_diag_set(diag, MXTLS_EINVAL, label_start,
                                      "top-level label is all digits (RFC 3696 §2)");
            if (i < len)
                out[i] = '.';
            label_start = i + 1;
            label_all_digits = true;
            continue;
        }
        if (c >= 0x80)
            return mxtls_diag_set(diag, MXTLS_EINVAL, i,
                                  "non-ASCII octet: use the A-label (xn--) form");
        if (!is_alpha(c) && !is_digit(c) && c != '-')
            return mxtls_diag_set(diag, MXTLS_EINVAL, i,
                                  "character 0x%02x is not a letter, digit or hyphen", c);
        if (!is_digit(c))
            label_all_digits = false;
        out[i] = to_lower(c);
    }
    out[len] = '\0';
    return 0;
}

/* domain_pattern_normalize - validate an MTA-STS mx pattern */
int domain_pattern_normalize(const char *pattern, size_t len, char *out, size_t outsize,
                             struct mxtls_diag *diag)
{
    int err;

    if (len < 2 || pattern[0] != '*' || pattern[1] != '.') {
        if (len > 0 && memchr(pattern, '*', len) != NULL)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                  "a wildcard is allowed only as the whole left-most label");
        return domain_normalize(pattern, len, out, outsize, diag);
    }
    if (outsize < 2)
        return mxtls_diag_set(diag, MXTLS_ENOSPACE, 0, "output buffer too small");
    err = domain_normalize(pattern + 2, len - 2, out + 2, outsize - 2, diag);
    if (err < 0) {
        if (diag != NULL)
            diag->offset += 2;
        return err;
    }
    /* RFC 8461 §4.1 wildcards cover one label; "*.com" would cover a TLD. */
    if (strchr(out + 2, '.') == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 2,
                              "wildcard pattern needs at least two labels after \"*.\"");
    out[0] = '*';
    out[1] = '.';
    return 0;
}
