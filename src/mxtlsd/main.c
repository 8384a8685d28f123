/*
 * mxtlsd - the Postfix TLS policy daemon: DANE first, MTA-STS otherwise.
 *
 * Startup: options, configuration (fatal when wrong: exit 78 with the file,
 * line and key), log, event loop, resolver, HTTPS fetcher, listener, the
 * pidfile (its existence means "bound"), the privilege drop (OpenSMTPD: right
 * after bind), the persistent cache (opened as the unprivileged user, so its
 * files belong to it), and the loop. SIGTERM/SIGINT drain, SIGHUP
 * reopens the log. Exit: 0 after a clean stop, 64 usage, 69 resource
 * unavailable (bind, resolver), 78 configuration.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dane.h"
#include "dns.h"
#include "fetch.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "sts_cache.h"

#ifndef MXTLSD_VERSION
#define MXTLSD_VERSION "unknown" /* meson passes project_version() */
#endif
#define EX_USAGE       64
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE    70
#define EX_CONFIG      78

#define SWEEP_INTERVAL_S 60 /* caches drop what expired this often */

struct options {
    const char *config;
    const char *level;
    const char *logfile;
    const char *pidfile;
    const char *user;
    const char *group;
    bool check_config;
};

struct daemon {
    struct options opt;
    struct mxtls_config cfg;
    struct event_base *base;
    struct dns *dns;
    struct fetch *fetch;
    struct store *store;
    struct server srv;
    struct event *sig_term, *sig_int, *sig_hup, *proactive, *sweep;
};

/* usage - the synopsis */
static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxtlsd [-c CONFIG] [-v LEVEL] [-l LOGFILE] [-p PIDFILE] [-u USER] [-g GROUP]\n"
            "              [--check-config] [--help] [--version]\n"
            "\n"
            "Answers Postfix smtp_tls_policy_maps socketmap queries with DANE (RFC 7672)\n"
            "and MTA-STS (RFC 8461) policy. Reads postfix-mta-sts-resolver's\n"
            "mta-sts-daemon.yml; without -c it listens on 127.0.0.1:8461 with an SQLite\n"
            "cache at %s/cache.db.\n"
            "\n"
            "  -c, --config FILE    configuration file (YAML)\n"
            "  -v, --verbosity LVL  debug, info, warn or error (default info)\n"
            "  -l, --logfile FILE   log to FILE (\"syslog\" for syslog; default stderr)\n"
            "  -p, --pidfile FILE   write the PID once listening\n"
            "  -u, --user USER      drop privileges to USER after binding\n"
            "  -g, --group GROUP    and to GROUP\n"
            "      --check-config   load the configuration, report, and exit\n",
            MXTLS_STATEDIR);
}

/* parse_options - getopt_long; exits on --help, --version and errors */
static void parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},  {"verbosity", required_argument, NULL, 'v'},
        {"logfile", required_argument, NULL, 'l'}, {"pidfile", required_argument, NULL, 'p'},
        {"user", required_argument, NULL, 'u'},    {"group", required_argument, NULL, 'g'},
        {"check-config", no_argument, NULL, 'C'},  {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "c:v:l:p:u:g:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->config = optarg;
            break;
        case 'v':
            o->level = optarg;
            break;
        case 'l':
            o->logfile = optarg;
            break;
        case 'p':
            o->pidfile = optarg;
            break;
        case 'u':
            o->user = optarg;
            break;
        case 'g':
            o->group = optarg;
            break;
        case 'C':
            o->check_config = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("mxtlsd %s\n", MXTLSD_VERSION);
            exit(0);
        default:
            usage(stderr);
            exit(EX_USAGE);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "mxtlsd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        exit(EX_USAGE);
    }
}

/* load_config - the file, or the embedded default */
static int load_config(const struct options *o, struct mxtls_config *cfg)
{
    struct mxtls_diag d = {0};
    int err = o->config != NULL ? config_load_file(o->config, cfg, &d) : config_init_defaults(cfg);
    if (err < 0) {
        fprintf(stderr, "mxtlsd: %s\n", o->config != NULL ? d.what : "out of memory");
        return -1;
    }
    if (cfg->cache.type == CONFIG_CACHE_REDIS) {
        fprintf(stderr,
                "mxtlsd: %s: cache.type: redis is not supported by this build; use "
                "sqlite or internal\n",
                o->config);
        return -1;
    }
    return 0;
}

/* drop_privileges - setgid/setuid to the configured user and group */
static int drop_privileges(const struct options *o)
{
    if (o->user == NULL && o->group == NULL)
        return 0;
    gid_t gid = getgid();
    uid_t uid = getuid();
    if (o->group != NULL) {
        struct group *gr = getgrnam(o->group);
        if (gr == NULL) {
            log_msg(LOG_LEVEL_ERROR, "unknown group %s", o->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (o->user != NULL) {
        struct passwd *pw = getpwnam(o->user);
        if (pw == NULL) {
            log_msg(LOG_LEVEL_ERROR, "unknown user %s", o->user);
            return -1;
        }
        uid = pw->pw_uid;
        if (o->group == NULL)
            gid = pw->pw_gid;
    }
    if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot drop privileges: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* open_store - the SQLite cache; creates the default state directory */
static int open_store(struct daemon *dm)
{
    if (dm->cfg.cache.type != CONFIG_CACHE_SQLITE)
        return 0;
    const char *path = dm->cfg.cache.filename;
    if (strncmp(path, MXTLS_STATEDIR "/", sizeof(MXTLS_STATEDIR)) == 0)
        mkdir(MXTLS_STATEDIR, 0750); /* the embedded default's directory */
    struct mxtls_diag d = {0};
    dm->store = store_open(path, &d);
    if (dm->store == NULL) {
        log_msg(LOG_LEVEL_ERROR, "cache: %s", d.what);
        return -1;
    }
    return 0;
}

/* on_signal - TERM/INT drain, HUP reopens the log */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct daemon *dm = arg;
    if (sig == SIGHUP) {
        if (log_reopen() < 0)
            log_msg(LOG_LEVEL_ERROR, "cannot reopen the log: %s", strerror(errno));
        log_msg(LOG_LEVEL_INFO, "log reopened");
        return;
    }
    log_msg(LOG_LEVEL_INFO, "signal %d: stopping (%zu connections, %llu requests served)", (int)sig,
            dm->srv.n_sessions, dm->srv.requests);
    server_drain(&dm->srv);
}

/* on_proactive - the periodic refresh of cached policies */
static void on_proactive(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *dm = arg;
    const struct config_proactive *p = &dm->cfg.proactive;
    int64_t min_age = (int64_t)((double)p->interval_s / (p->grace_ratio > 0 ? p->grace_ratio : 1));
    size_t n = sts_cache_proactive(dm->srv.pipeline.sts, min_age, p->concurrency_limit,
                                   dm->cfg.default_zone.timeout_ms);
    log_msg(LOG_LEVEL_INFO, "proactive refresh: %zu cached policies queued", n);
}

/* on_sweep - free expired DANE facts and idle MTA-STS entries */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *dm = arg;
    size_t facts = dane_cache_sweep(dm->srv.pipeline.dane);
    size_t idle = sts_cache_sweep(dm->srv.pipeline.sts);
    log_msg(LOG_LEVEL_DEBUG, "sweep: %zu expired DANE facts, %zu idle MTA-STS entries freed", facts,
            idle);
}

/* setup_events - signals, the sweep and the proactive timer */
static int setup_events(struct daemon *dm)
{
    signal(SIGPIPE, SIG_IGN);
    dm->sig_term = evsignal_new(dm->base, SIGTERM, on_signal, dm);
    dm->sig_int = evsignal_new(dm->base, SIGINT, on_signal, dm);
    dm->sig_hup = evsignal_new(dm->base, SIGHUP, on_signal, dm);
    if (dm->sig_term == NULL || dm->sig_int == NULL || dm->sig_hup == NULL ||
        evsignal_add(dm->sig_term, NULL) < 0 || evsignal_add(dm->sig_int, NULL) < 0 ||
        evsignal_add(dm->sig_hup, NULL) < 0)
        return -1;
    dm->sweep = event_new(dm->base, -1, EV_PERSIST, on_sweep, dm);
    struct timeval every = {SWEEP_INTERVAL_S, 0};
    if (dm->sweep == NULL || event_add(dm->sweep, &every) < 0)
        return -1;
    if (dm->cfg.proactive.enabled) {
        dm->proactive = event_new(dm->base, -1, EV_PERSIST, on_proactive, dm);
        struct timeval tv = {(time_t)dm->cfg.proactive.interval_s, 0};
        if (dm->proactive == NULL || event_add(dm->proactive, &tv) < 0)
            return -1;
    }
    return 0;
}

/* write_pidfile - written once listening: its presence means "ready" */
static int write_pidfile(const char *path)
{
    FILE *fp = fopen(path, "w");
    if (fp == NULL || fprintf(fp, "%ld\n", (long)getpid()) < 0 || fclose(fp) != 0) {
        log_msg(LOG_LEVEL_ERROR, "pidfile %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* start - everything up to the loop; returns an exit status, 0 to run */
static int start(struct daemon *dm)
{
    struct mxtls_diag d = {0};
    dm->base = event_base_new();
    if (dm->base == NULL)
        return EX_SOFTWARE;
    dm->dns = dns_new(dm->base, dm->cfg.unbound_config, dm->cfg.trust_anchor_file, &d);
    if (dm->dns == NULL) {
        log_msg(LOG_LEVEL_ERROR, "resolver: %s", d.what);
        return EX_UNAVAILABLE;
    }
    dm->fetch = fetch_new(dm->base, dm->cfg.ca_file, &d);
    if (dm->fetch == NULL) {
        log_msg(LOG_LEVEL_ERROR, "https: %s", d.what);
        return EX_UNAVAILABLE;
    }
    dm->srv.base = dm->base;
    dm->srv.cfg = &dm->cfg;
    if (server_listen(&dm->srv, &d) < 0) {
        log_msg(LOG_LEVEL_ERROR, "%s", d.what);
        return EX_UNAVAILABLE;
    }
    /* Written while still privileged (it may live in /run), once bound. */
    if (dm->opt.pidfile != NULL && write_pidfile(dm->opt.pidfile) < 0)
        return EX_UNAVAILABLE;
    if (drop_privileges(&dm->opt) < 0)
        return EX_CONFIG;
    if (open_store(dm) < 0)
        return EX_UNAVAILABLE;
    int64_t grace = (int64_t)(dm->cfg.cache_grace_ms / 1000);
    dm->srv.pipeline.sts = sts_cache_new(dm->dns, dm->fetch, dm->store, grace);
    dm->srv.pipeline.dane = dane_cache_new(dm->dns);
    if (dm->srv.pipeline.sts == NULL || dm->srv.pipeline.dane == NULL)
        return EX_SOFTWARE;
    if (dm->cfg.cache.type == CONFIG_CACHE_INTERNAL)
        sts_cache_set_limit(dm->srv.pipeline.sts, dm->cfg.cache.cache_size);
    size_t loaded = 0, invalid = 0;
    if (sts_cache_load(dm->srv.pipeline.sts, (int64_t)time(NULL), &loaded, &invalid) < 0)
        return EX_UNAVAILABLE;
    if (setup_events(dm) < 0)
        return EX_SOFTWARE;
    if (dm->cfg.path != NULL)
        log_msg(LOG_LEVEL_INFO, "mxtlsd %s listening on %s; cache %s, %zu policies loaded",
                MXTLSD_VERSION, dm->cfg.path, config_cache_type_name(dm->cfg.cache.type), loaded);
    else
        log_msg(LOG_LEVEL_INFO, "mxtlsd %s listening on %s:%u; cache %s, %zu policies loaded",
                MXTLSD_VERSION, dm->cfg.host, (unsigned)dm->cfg.port,
                config_cache_type_name(dm->cfg.cache.type), loaded);
    return 0;
}

/* stop - free in dependency order: sessions, caches, then the I/O they used */
static void stop(struct daemon *dm)
{
    server_close(&dm->srv);
    sts_cache_free(dm->srv.pipeline.sts);
    dane_cache_free(dm->srv.pipeline.dane);
    fetch_free(dm->fetch);
    dns_free(dm->dns);
    store_close(dm->store);
    if (dm->sig_term)
        event_free(dm->sig_term);
    if (dm->sig_int)
        event_free(dm->sig_int);
    if (dm->sig_hup)
        event_free(dm->sig_hup);
    if (dm->proactive)
        event_free(dm->proactive);
    if (dm->sweep)
        event_free(dm->sweep);
    if (dm->base)
        event_base_free(dm->base);
    if (dm->opt.pidfile != NULL)
        unlink(dm->opt.pidfile);
    config_finish(&dm->cfg);
}

int main(int argc, char **argv)
{
    struct daemon dm = {0};
    parse_options(argc, argv, &dm.opt);
    enum log_level level = LOG_LEVEL_INFO;
    if (dm.opt.level != NULL && log_level_parse(dm.opt.level, &level) < 0) {
        fprintf(stderr, "mxtlsd: -v %s: expected debug, info, warn or error\n", dm.opt.level);
        return EX_USAGE;
    }
    if (load_config(&dm.opt, &dm.cfg) < 0) {
        config_finish(&dm.cfg);
        return EX_CONFIG;
    }
    if (dm.opt.check_config) {
        printf("%s: OK: %s, cache %s, %zu zones\n", dm.opt.config ? dm.opt.config : "(default)",
               dm.cfg.path ? dm.cfg.path : dm.cfg.host, config_cache_type_name(dm.cfg.cache.type),
               dm.cfg.nzones);
        config_finish(&dm.cfg);
        return 0;
    }
    if (log_open("mxtlsd", level, dm.opt.logfile) < 0) {
        fprintf(stderr, "mxtlsd: log file %s: %s\n", dm.opt.logfile, strerror(errno));
        config_finish(&dm.cfg);
        return EX_UNAVAILABLE;
    }
    int rc = start(&dm);
    if (rc == 0) {
        event_base_dispatch(dm.base);
        log_msg(LOG_LEVEL_INFO, "stopped");
    }
    stop(&dm);
    return rc;
}
