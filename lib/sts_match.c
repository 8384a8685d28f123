/*
 * sts_match - MX host name against MTA-STS "mx" patterns (RFC 8461 §4.1).
 * See include/mxtls/sts_match.h for the contract.
 */
#include <string.h>

#include "mxtls/domain.h"
#include "mxtls/sts_match.h"

/* match_norm - match a normalised host against a normalised pattern */
static int match_norm(const char *pattern, const char *host)
{
    size_t hlen, slen;
    const char *suffix;

    if (pattern[0] != '*')
        return strcmp(pattern, host) == 0;
    /* §4.1: "*" is the whole left-most label and stands for exactly one
     * label: host = label "." suffix, where label holds no dot. */
    suffix = pattern + 2;
    hlen = strlen(host);
    slen = strlen(suffix);
    if (hlen < slen + 2 || host[hlen - slen - 1] != '.')
        return 0;
    if (strcmp(host + hlen - slen, suffix) != 0)
        return 0;
    return memchr(host, '.', hlen - slen - 1) == NULL;
}

/* sts_match_host - does host match one mx pattern? */
int sts_match_host(const char *pattern, const char *host, size_t host_len)
{
    char p[DOMAIN_BUF_SIZE], h[DOMAIN_BUF_SIZE];

    if (pattern == NULL || host == NULL)
        return 0;
    if (domain_pattern_normalize(pattern, strlen(pattern), p, sizeof(p), NULL) < 0)
        return 0;
    if (domain_normalize(host, host_len, h, sizeof(h), NULL) < 0)
        return 0;
    return match_norm(p, h);
}

/* sts_policy_match - does host match any of a policy's mx patterns? */
int sts_policy_match(const struct sts_policy *policy, const char *host, size_t host_len)
{
    char h[DOMAIN_BUF_SIZE];
    size_t i;

    if (policy == NULL || host == NULL)
        return 0;
    if (domain_normalize(host, host_len, h, sizeof(h), NULL) < 0)
        return 0;
    for (i = 0; i < policy->n_mx; i++)
        if (sts_match_host(policy->mx[i], h, strlen(h)))
            return 1;
    return 0;
}
