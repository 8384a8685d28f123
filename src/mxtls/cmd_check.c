/*
 * cmd_check - `mxtls check [-c CONFIG] [--json] [--warn-days N] [-f FILE]
 * DOMAIN...`: one audit of everything a sender sees of a receiving domain
 * (issue 11 §1): the MX RRset and its DNSSEC status, each MX host's
 * addresses and TLSA records, an SMTP STARTTLS probe of each address (DANE
 * with OpenSSL's DANE API, WebPKI, the leaf's expiry), MTA-STS (record,
 * policy fetch with mxtlsd's own rules, policy, mx patterns against the MX
 * RRset), TLS-RPT, and the RRSIG expirations of the RRsets involved.
 *
 * The engine is shared with `mxtls sts verify` (cmd_sts.c): check_gather.c
 * gathers, check_eval.c judges, check.c prints, check_run.c runs the list.
 * This file only reads the command line. Exit: the worst domain's status,
 * 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also: the checker could not run);
 * 64 usage; 66 the -f file cannot be read; 74 output.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "cmd.h"

#define WARN_DAYS_MAX 3650

/* cmd_check_usage - see cmd.h */
void cmd_check_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxtls check [-c CONFIG] [--json] [--warn-days N] [-f FILE] DOMAIN...\n"
            "\n"
            "Audit what a sending MTA sees of each DOMAIN: MX and DNSSEC, A/AAAA, TLSA,\n"
            "STARTTLS on every MX address (DANE, WebPKI, certificate expiry), MTA-STS,\n"
            "TLS-RPT and RRSIG expirations. One line per finding, grouped by host.\n"
            "\n"
            "  -c, --config FILE   mxtlsd's configuration: resolver.*, https.ca_file and the\n"
            "                      default zone's timeout (default: mxtlsd's defaults)\n"
            "  -j, --json          one JSON object per domain (JSON lines)\n"
            "  -w, --warn-days N   warn about certificates and signatures expiring within\n"
            "                      N days (default %d)\n"
            "  -f, --file FILE     also the domains in FILE, one a line ('-': stdin)\n"
            "\n"
            "Exit status (the worst domain): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN;\n"
            "64 usage, 66 FILE unreadable. Finding ids: mxtls(1).\n",
            CHECK_WARN_DAYS);
}

/*
 * check_parse_days - a --warn-days value: decimal, 0..WARN_DAYS_MAX.
 * Returns 0 or -1.
 */
static int check_parse_days(const char *s, unsigned *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 4 || strspn(s, "0123456789") != n)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    if (v > WARN_DAYS_MAX)
        return -1;
    *out = v;
    return 0;
}

/* cmd_check - see cmd.h */
int cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"warn-days", required_argument, NULL, 'w'},
        {"file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct check_options o = {.prog = "mxtls check", .warn_days = CHECK_WARN_DAYS};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:jw:f:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o.config = optarg;
            break;
        case 'j':
            o.json = true;
            break;
        case 'w':
            if (check_parse_days(optarg, &o.warn_days) < 0) {
                fprintf(stderr, "mxtls check: --warn-days %s: expected whole days, 0 to %d\n",
                        optarg, WARN_DAYS_MAX);
                return MXTLS_EX_USAGE;
            }
            break;
        case 'f':
            o.file = optarg;
            break;
        case 'h':
            cmd_check_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'mxtls check --help'.\n");
            return MXTLS_EX_USAGE;
        }
    }
    o.domains = argv + optind;
    o.n_domains = (size_t)(argc - optind);
    if (o.n_domains == 0 && o.file == NULL) {
        fprintf(stderr, "mxtls check: no DOMAIN and no -f FILE\n");
        cmd_check_usage(stderr);
        return MXTLS_EX_USAGE;
    }
    o.scope = CHECK_SCOPE_ALL;
    return check_run(&o);
}
