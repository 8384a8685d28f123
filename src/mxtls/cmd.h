/*
 * cmd - the subcommands of the mxtls command line and what they share.
 *
 * main.c picks the subcommand named by the first argument and calls its
 * function with the remaining arguments (argv[0] is the subcommand's name, as
 * getopt expects). A subcommand returns the process exit status; it prints
 * its own errors to stderr, prefixed with "mxtls <name>: ". Exit statuses are
 * the monitoring convention of each subcommand plus the sysexits.h codes
 * below, which mean the same for every subcommand.
 */
#ifndef MXTLS_CMD_H
#define MXTLS_CMD_H

#include <stdio.h>

#define MXTLS_EX_USAGE 64 /* sysexits.h EX_USAGE: bad options or arguments */

/*
 * cmd_query - `mxtls query [--json] [-c CONFIG] [--zone NAME] [--direct]
 * NEXTHOP`: what mxtlsd answers Postfix for NEXTHOP, and why. Exit: 0 OK (a
 * policy), 1 NOTFOUND, 2 TEMP, 3 mxtlsd unreachable or failing, 64 usage.
 */
int cmd_query(int argc, char **argv);

/* cmd_query_usage - its help text. */
void cmd_query_usage(FILE *fp);

#endif
