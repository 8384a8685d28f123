/*
 * mxtlsd - the Postfix TLS policy daemon (skeleton).
 *
 * This is the program's entry point only: it parses its command line and
 * says what it cannot do yet. The listener, lookup pipeline and cache arrive
 * with the mxtlsd issue; until then it exits with status 69 (EX_UNAVAILABLE)
 * rather than pretend to answer Postfix.
 */
#include <stdio.h>
#include <string.h>

#define MXTLSD_VERSION "0.1.0"
#define EX_USAGE       64
#define EX_UNAVAILABLE 69

static void usage(FILE *fp)
{
    fprintf(fp, "usage: mxtlsd [--help] [--version]\n"
                "\n"
                "mxtlsd will answer Postfix smtp_tls_policy_maps socketmap queries with\n"
                "DANE and MTA-STS policy. This build contains the parsers (libmxtls) but\n"
                "not yet the daemon: it does not listen.\n");
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("mxtlsd %s\n", MXTLSD_VERSION);
        return 0;
    }
    if (argc > 1) {
        usage(stderr);
        return EX_USAGE;
    }
    fprintf(stderr,
            "mxtlsd %s: the policy daemon is not implemented in this build; "
            "not listening\n",
            MXTLSD_VERSION);
    return EX_UNAVAILABLE;
}
