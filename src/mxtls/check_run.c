/*
 * check_run - the run of `mxtls check` / `mxtls sts verify` over many
 * domains on one event loop (see check_run.h). Setup failures are reported
 * on stderr and give UNKNOWN (3); a domain that is not a host name gets a
 * report of its own (domain-invalid) and does not stop the others.
 */
#include "check_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "check_gather.h"
#include "cmd.h"
#include "config.h"
#include "dns.h"
#include "fetch.h"
#include "mxtls/domain.h"

#define LINE_MAX_OCTETS 1024 /* a -f line longer than this is not a domain */

struct run {
    const struct check_options *o;
    struct check_env env;
    size_t n;
    char **names;                  /* as given */
    struct check_report **reports; /* done, not yet printed */
    size_t next_start, next_print, running;
    enum check_status worst;
    bool color;
    bool output_failed;
};

/* A domain being gathered. */
struct job {
    struct run *run;
    size_t idx;
};

/* add_name - append a copy of name to the run's list (abort when out of memory) */
static int add_name(struct run *r, size_t *cap, const char *name, size_t len)
{
    if (r->n >= CHECK_DOMAINS_MAX)
        return -1;
    if (r->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        char **p = realloc(r->names, *cap * sizeof(*p));
        if (p == NULL)
            abort();
        r->names = p;
    }
    char *s = malloc(len + 1);
    if (s == NULL)
        abort();
    memcpy(s, name, len);
    s[len] = '\0';
    r->names[r->n++] = s;
    return 0;
}

/*
 * read_list - the domains of -f: one a line, surrounding blanks ignored,
 * empty lines and lines starting with '#' skipped. Returns 0, or -1 with a
 * message on stderr when the file cannot be read or holds too many.
 */
static int read_list(struct run *r, size_t *cap, const char *path)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (fp == NULL) {
        fprintf(stderr, "%s: %s: %s\n", r->o->prog, path, strerror(errno));
        return -1;
    }
    char line[LINE_MAX_OCTETS + 2];
    int rc = 0;
    bool overlong = false;
    while (fgets(line, sizeof(line), fp) != NULL) {
        size_t len = strlen(line);
        bool complete = len > 0 && line[len - 1] == '\n';
        if (overlong) { /* the rest of a line that was too long */
            overlong = !complete;
            continue;
        }
        if (!complete && !feof(fp)) {
            overlong = true;
            if (add_name(r, cap, "(a line over 1024 octets)", 25) < 0)
                rc = -1;
            continue;
        }
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        len = strlen(p);
        while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == ' ' ||
                           p[len - 1] == '\t'))
            len--;
        if (len == 0 || p[0] == '#')
            continue;
        if (add_name(r, cap, p, len) < 0) {
            fprintf(stderr, "%s: %s: more than %d domains\n", r->o->prog, path, CHECK_DOMAINS_MAX);
            rc = -1;
            break;
        }
    }
    if (ferror(fp)) {
        fprintf(stderr, "%s: %s: read error\n", r->o->prog, path);
        rc = -1;
    }
    if (fp != stdin)
        fclose(fp);
    return rc;
}

/* print_ready - print the reports that are done, in input order */
static void print_ready(struct run *r)
{
    while (r->next_print < r->n && r->reports[r->next_print] != NULL) {
        struct check_report *rep = r->reports[r->next_print];
        r->worst = check_status_worse(r->worst, check_report_status(rep));
        int rc = r->o->json ? check_report_print_json(rep, stdout)
                            : check_report_print_text(rep, stdout, r->color);
        if (rc < 0 || fflush(stdout) != 0)
            r->output_failed = true;
        check_report_free(rep);
        r->reports[r->next_print++] = NULL;
    }
    if (r->next_print == r->n)
        event_base_loopbreak(r->env.base);
}

static void start_more(struct run *r);

/* on_facts - a domain's facts: judge them, keep the report, start the next */
static void on_facts(const struct check_facts *facts, void *arg)
{
    struct job *j = arg;
    struct run *r = j->run;
    struct check_report *rep = check_report_new(r->names[j->idx]); /* as given */
    check_eval(facts, (int64_t)time(NULL), r->o->warn_days, rep);
    r->reports[j->idx] = rep;
    r->running--;
    free(j);
    start_more(r);
    print_ready(r);
}

/* start_more - start gatherings up to the concurrency bound */
static void start_more(struct run *r)
{
    while (r->running < CHECK_CONCURRENCY && r->next_start < r->n) {
        size_t i = r->next_start++;
        const char *name = r->names[i];
        char norm[DOMAIN_BUF_SIZE];
        struct mxtls_diag d = {0};
        if (domain_normalize(name, strlen(name), norm, sizeof(norm), &d) < 0) {
            struct check_report *rep = check_report_new(name);
            check_add(rep, "domain-invalid", CHECK_SEV_UNKNOWN, NULL, NULL, "not a domain name: %s",
                      d.what);
            r->reports[i] = rep;
            continue;
        }
        struct job *j = calloc(1, sizeof(*j));
        if (j == NULL)
            abort();
        j->run = r;
        j->idx = i;
        r->running++;
        check_gather_start(&r->env, norm, on_facts, j);
    }
}

/* check_run - see check_run.h */
int check_run(const struct check_options *o)
{
    struct run r = {.o = o, .worst = CHECK_OK};
    size_t cap = 0;
    int status = CHECK_UNKNOWN;
    for (size_t i = 0; i < o->n_domains; i++)
        if (add_name(&r, &cap, o->domains[i], strlen(o->domains[i])) < 0)
            break;
    if (o->file != NULL && read_list(&r, &cap, o->file) < 0) {
        status = MXTLS_EX_NOINPUT;
        goto out_names;
    }
    if (r.n == 0) {
        fprintf(stderr, "%s: no domain to check\n", o->prog);
        status = MXTLS_EX_USAGE;
        goto out_names;
    }
    r.reports = calloc(r.n, sizeof(*r.reports));
    if (r.reports == NULL)
        abort();
    const char *nc = getenv("NO_COLOR");
    r.color = !o->json && isatty(STDOUT_FILENO) && (nc == NULL || nc[0] == '\0');

    struct mxtls_config cfg;
    struct mxtls_diag d = {0};
    int err =
        o->config != NULL ? config_load_file(o->config, &cfg, &d) : config_init_defaults(&cfg);
    if (err < 0) {
        fprintf(stderr, "%s: %s\n", o->prog, o->config != NULL ? d.what : "out of memory");
        if (err != MXTLS_ENOMEM)
            config_finish(&cfg);
        goto out_reports;
    }
    r.env.base = event_base_new();
    if (r.env.base == NULL) {
        fprintf(stderr, "%s: cannot create an event loop\n", o->prog);
        goto out_cfg;
    }
    r.env.dns = dns_new(r.env.base, cfg.unbound_config, cfg.trust_anchor_file, &cfg.resolver, &d);
    if (r.env.dns == NULL) {
        fprintf(stderr, "%s: resolver: %s\n", o->prog, d.what);
        goto out_base;
    }
    r.env.fetch = fetch_new(r.env.base, cfg.ca_file, &d);
    if (r.env.fetch == NULL) {
        fprintf(stderr, "%s: https: %s\n", o->prog, d.what);
        goto out_dns;
    }
    r.env.ca_file = cfg.ca_file;
    r.env.dns_timeout_ms = cfg.default_zone.timeout_ms ? cfg.default_zone.timeout_ms : 4000;
    unsigned probe = r.env.dns_timeout_ms * CHECK_PROBE_FACTOR;
    r.env.probe_timeout_ms = probe > CHECK_PROBE_MIN_MS ? probe : CHECK_PROBE_MIN_MS;
    r.env.scope = o->scope;

    start_more(&r);
    print_ready(&r);
    if (r.next_print < r.n)
        event_base_dispatch(r.env.base);
    status = r.next_print == r.n ? (int)r.worst : CHECK_UNKNOWN;
    if (r.output_failed) {
        fprintf(stderr, "%s: cannot write the output\n", o->prog);
        status = MXTLS_EX_IOERR;
    }
    fetch_free(r.env.fetch);
out_dns:
    dns_free(r.env.dns);
out_base:
    event_base_free(r.env.base);
out_cfg:
    config_finish(&cfg);
out_reports:
    for (size_t i = 0; i < r.n; i++)
        check_report_free(r.reports[i]);
    free(r.reports);
out_names:
    for (size_t i = 0; i < r.n; i++)
        free(r.names[i]);
    free(r.names);
    return status;
}
