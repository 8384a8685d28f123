/*
 * mxtls - the command line: one program, one subcommand per job (DESIGN.md
 * "Programs"). This file only dispatches: `mxtls COMMAND ARGS...` runs
 * COMMAND's function (cmd.h) with ARGS; `mxtls help COMMAND` and
 * `mxtls COMMAND --help` print the command's help. Exit: the command's
 * status; 0 for --help and --version; 64 for a missing or unknown command.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

#ifndef MXTLS_VERSION
#define MXTLS_VERSION "unknown"
#endif

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *fp);
    const char *summary;
};

static const struct command commands[] = {
    {"query", cmd_query, cmd_query_usage, "what mxtlsd answers Postfix for a next-hop, and why"},
    {"cache", cmd_cache, cmd_cache_usage,
     "list, show, purge, export: the running mxtlsd's MTA-STS policy cache"},
    {"tlsa", cmd_tlsa, cmd_tlsa_usage,
     "gen, verify, rollover: TLSA records to publish, check, rotate"},
    {"sts", cmd_sts, cmd_sts_usage, "gen, verify: the MTA-STS policy, its TXT and TLS-RPT records"},
    {"check", cmd_check, cmd_check_usage,
     "audit DANE, MTA-STS and TLS-RPT of receiving domains (monitoring exit codes)"},
    {"tlsrpt", cmd_tlsrpt, cmd_tlsrpt_usage,
     "TLS reports (RFC 8460): ingest, summary, html, serve; collect, report"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* usage - the synopsis and the list of commands */
static void usage(FILE *fp)
{
    fprintf(fp, "usage: mxtls COMMAND [ARGS...]\n"
                "       mxtls help COMMAND | --help | --version\n"
                "\n"
                "DANE (RFC 7672) and MTA-STS (RFC 8461) for Postfix: tools beside mxtlsd.\n"
                "\n"
                "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(fp, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\n`mxtls COMMAND --help` describes a command; see also mxtls(1).\n");
}

/* find - the command called name, or NULL */
static const struct command *find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return MXTLS_EX_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("mxtls %s\n", MXTLS_VERSION);
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        if (argc == 2) {
            usage(stdout);
            return 0;
        }
        const struct command *c = find(argv[2]);
        if (c == NULL || argc > 3) {
            fprintf(stderr, "mxtls help: no command '%s'\n", argv[2]);
            usage(stderr);
            return MXTLS_EX_USAGE;
        }
        c->usage(stdout);
        return 0;
    }
    const struct command *c = find(name);
    if (c == NULL) {
        fprintf(stderr, "mxtls: %s '%s'\n", name[0] == '-' ? "unknown option" : "no command", name);
        usage(stderr);
        return MXTLS_EX_USAGE;
    }
    return c->run(argc - 1, argv + 1);
}
