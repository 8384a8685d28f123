/*
 * check_run - one run of `mxtls check` or `mxtls sts verify` over a list of
 * domains: the configuration (-c: mxtlsd's file for resolver.*,
 * https.ca_file and the default zone's timeout; without it mxtlsd's
 * defaults), one event loop, one resolver and one fetcher for every domain,
 * at most CHECK_CONCURRENCY domains gathered at a time, each report printed
 * as soon as it and every domain before it are done (the output keeps the
 * input order), and the exit status: the worst status over the domains
 * (check.h), or a sysexits code when the run itself cannot happen.
 */
#ifndef MXTLS_CHECK_RUN_H
#define MXTLS_CHECK_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "check_facts.h"

#define CHECK_CONCURRENCY  64 /* domains gathered at once */
#define CHECK_WARN_DAYS    14 /* --warn-days default */
#define CHECK_DOMAINS_MAX  1000000
#define CHECK_PROBE_FACTOR 3     /* an SMTP probe may take this many zone timeouts */
#define CHECK_PROBE_MIN_MS 10000 /* ... and at least this long (a slow greeting) */

struct check_options {
    const char *prog;   /* "mxtls check", for messages */
    const char *config; /* -c, or NULL */
    bool json;
    unsigned warn_days;
    enum check_scope scope;
    const char *file; /* -f, "-" for stdin, or NULL */
    size_t n_domains; /* the command-line domains */
    char **domains;
};

/*
 * check_run - run the checks and print the reports to stdout. Returns the
 * exit status: 0..3, the worst domain; 3 (UNKNOWN) also when the checker
 * cannot run at all (the configuration cannot be loaded, the resolver or the
 * fetcher cannot be set up: the reason goes to stderr); 64 no domain given;
 * 66 the -f file cannot be read; 74 the output cannot be written.
 */
int check_run(const struct check_options *o);

#endif
