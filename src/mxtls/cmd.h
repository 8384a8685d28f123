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

#define MXTLS_EX_USAGE    64 /* sysexits.h EX_USAGE: bad options or arguments */
#define MXTLS_EX_DATAERR  65 /* sysexits.h EX_DATAERR: input data refused (a file, a value) */
#define MXTLS_EX_NOINPUT  66 /* sysexits.h EX_NOINPUT: an input file cannot be read */
#define MXTLS_EX_SOFTWARE 70 /* sysexits.h EX_SOFTWARE: internal error (out of memory, a bug) */
#define MXTLS_EX_IOERR    74 /* sysexits.h EX_IOERR: output could not be written */
#define MXTLS_EX_TEMPFAIL 75 /* sysexits.h EX_TEMPFAIL: try again later (a busy store) */

/*
 * cmd_query - `mxtls query [--json] [-c CONFIG] [--zone NAME] [--direct]
 * NEXTHOP`: what mxtlsd answers Postfix for NEXTHOP, and why. Exit: 0 OK (a
 * policy), 1 NOTFOUND, 2 TEMP, 3 mxtlsd unreachable or failing, 64 usage.
 */
int cmd_query(int argc, char **argv);

/* cmd_query_usage - its help text. */
void cmd_query_usage(FILE *fp);

/*
 * cmd_cache - `mxtls cache list|show DOMAIN|purge DOMAIN|export`
 * (cmd_cache.c): the running mxtlsd's MTA-STS policy cache, through its
 * control socket (issue 16 §2). Exit: 0 done, 1 no policy cached for DOMAIN,
 * 2 purge refused (enforce without --force), 3 mxtlsd unreachable or
 * failing, 64 usage, 74 output not written.
 */
int cmd_cache(int argc, char **argv);

/* cmd_cache_usage - its help text. */
void cmd_cache_usage(FILE *fp);

/*
 * cmd_tlsa - `mxtls tlsa gen|verify|rollover ...` (cmd_tlsa.c): the TLSA
 * records to publish for a certificate or key; the published records checked
 * against what every MX address presents; whether a new certificate can be
 * deployed without bouncing a DANE sender. Exit: gen 0, 64 usage, 65 bad
 * certificate or key data, 66 unreadable file; verify and rollover the
 * monitoring codes 0-3 (mxtls(1)).
 */
int cmd_tlsa(int argc, char **argv);

/* cmd_tlsa_usage - its help text. */
void cmd_tlsa_usage(FILE *fp);

/*
 * cmd_sts - `mxtls sts gen --mx PATTERN... --mode M --max-age S ...`: the
 * MTA-STS policy file, its TXT record and the TLS-RPT record (cmd_sts.c).
 * Exit: 0, 64 usage, 65 a value mxtlsd would reject. `mxtls sts verify
 * [-c CONFIG] [--json] DOMAIN`: the published MTA-STS and TLS-RPT against
 * the live MX RRset; exit as cmd_check.
 */
int cmd_sts(int argc, char **argv);

/* cmd_sts_usage - its help text. */
void cmd_sts_usage(FILE *fp);

/*
 * cmd_check - `mxtls check [-c CONFIG] [--json] [--warn-days N] [-f FILE]
 * DOMAIN...`: audit DANE, MTA-STS and TLS-RPT of receiving domains
 * (cmd_check.c). Exit: the worst domain, 0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN; 64 usage; 66 FILE unreadable; 74 output.
 */
int cmd_check(int argc, char **argv);

/* cmd_check_usage - its help text. */
void cmd_check_usage(FILE *fp);

/*
 * cmd_tlsrpt_collect - `mxtls tlsrpt collect [-c CONFIG] [--db FILE]
 * [--follow] [--sending-ip IP] [FILE...|-]`: count Postfix's TLS sessions
 * under the policy mxtlsd applied, in the TLS-RPT sending store
 * (cmd_tlsrpt_collect.c, issue 12). Exit: 0, 64 usage, 66 unreadable file,
 * 75 store failure.
 */
int cmd_tlsrpt_collect(int argc, char **argv);

/*
 * cmd_tlsrpt_report - `mxtls tlsrpt report [-c CONFIG] [--db FILE] [--day
 * YYYY-MM-DD] [--dry-run DIR]`: build and deliver the RFC 8460 reports of a
 * day (cmd_tlsrpt_report.c, issue 12). Exit: 0 every report delivered or
 * written, 1 some delivery failed (retried later), 64 usage, 75 store.
 */
int cmd_tlsrpt_report(int argc, char **argv);

/*
 * cmd_tlsrpt - `mxtls tlsrpt ingest|summary|html|serve`: the receiving side of
 * SMTP TLS reporting, RFC 8460 (cmd_tlsrpt.c). Exit: 0; ingest 65 an input
 * refused, 66 unreadable, 75 the store failed; 64 usage; summary, html and
 * serve 74 store or output.
 */
int cmd_tlsrpt(int argc, char **argv);

/* cmd_tlsrpt_usage - its help text. */
void cmd_tlsrpt_usage(FILE *fp);

#endif
