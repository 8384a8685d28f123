/*
 * cli_args - option values the mxtls subcommands check the same way (see
 * cli_args.h).
 */
#include "cli_args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mxtls/socketmap.h"

/* cli_parse_seconds - strtoul refuses nothing by itself: the first octet must be a digit */
int cli_parse_seconds(const char *s, unsigned max, unsigned *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || errno != 0 || *end != '\0' || v < 1 || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* cli_valid_zone - printable ASCII, no space, bounded */
bool cli_valid_zone(const char *z)
{
    size_t n = strlen(z);
    if (n == 0 || n > SOCKETMAP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (z[i] <= ' ' || z[i] > '~')
            return false;
    return true;
}
