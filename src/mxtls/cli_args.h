/*
 * cli_args - option values the mxtls subcommands check the same way.
 */
#ifndef MXTLS_CLI_ARGS_H
#define MXTLS_CLI_ARGS_H

#include <stdbool.h>

/* cli_parse_seconds - whole seconds, 1..max, digits only; 0 or -1 (not that). */
int cli_parse_seconds(const char *s, unsigned max, unsigned *out);

/*
 * cli_valid_zone - a socketmap map name as mxtlsd takes it: 1 to
 * SOCKETMAP_NAME_MAX printable ASCII octets, no space (the daemon's session
 * splits the request at the first space).
 */
bool cli_valid_zone(const char *z);

#endif
