/*
 * mxtlsd - the Postfix TLS policy daemon: DANE first, MTA-STS otherwise.
 *
 * Startup: options, configuration (fatal when wrong: exit 78 with the file,
 * line and key), log, event loop, resolver, HTTPS fetcher, listener, the
 * pidfile keeper, the privilege drop (OpenSMTPD: right after bind; then
 * PR_SET_NO_NEW_PRIVS), the signal handlers, the persistent cache (opened
 * as the unprivileged user, so its files belong to it), the pidfile (its
 * existence means "answering"), and the loop. SIGTERM/SIGINT drain, SIGHUP
 * reopens the log; signals that arrive during the cache load are handled
 * once the loop runs. Exit: 0 after a clean stop, 64 usage, 69 resource
 * unavailable (bind, resolver, pidfile), 78 configuration.
 *
 * The pidfile (issue 17, items 11 and 12) is kept by a small child that
 * stays root when the daemon drops its privileges: it only reads a pipe.
 * On "ready" it writes the daemon's PID atomically (a temporary file, then
 * renameat) into the pidfile's directory, which must be writable by no one
 * but root and us (log_dir_open); when the pipe closes (the daemon exited,
 * however it exited) it removes the pidfile it wrote, even from a
 * root-owned /run. A pidfile already there is refused unless it is a stale
 * one of ours (a regular file holding a PID that is not running).
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dane.h"
#include "dns.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "server.h"
#include "stats.h"
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
#define STORE_WATCH_S    1  /* the cache store's lag and file are checked this often */

struct options {
    const char *config;
    const char *level;
    const char *logfile;
    const char *pidfile;
    const char *user;
    const char *group;
    bool check_config;
};

/* The pidfile keeper (see the top of the file). */
struct pidfile {
    pid_t keeper;    /* the child that writes and removes it, 0 = none */
    int to_keeper;   /* its pipe: "W" = write it now; closed = remove it and exit */
    int from_keeper; /* its answer to "W": 0 or an errno value, one byte */
};

struct daemon {
    struct options opt;
    struct pidfile pid;
    struct mxtls_config cfg;
    struct event_base *base;
    struct pipeline_ctx core; /* resolver, fetcher, store, caches (core/pipeline.h) */
    struct server srv;
    struct metrics *metrics; /* the Prometheus listener (metrics.h), NULL = off */
    struct event *sig_term, *sig_int, *sig_hup, *proactive, *sweep, *store_watch;
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
    return 0;
}

/*
 * no_new_privs - nothing this process runs may gain privileges again (it
 * never execs). A seccomp filter that refuses prctl is only warned about:
 * such a sandbox (systemd NoNewPrivileges=) already sets it.
 */
static int no_new_privs(void)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        log_msg(LOG_LEVEL_WARN, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
    return 0;
}

/* drop_privileges - setgid/setuid to the configured user and group, then no new privileges */
static int drop_privileges(const struct options *o)
{
    if (o->user == NULL && o->group == NULL)
        return no_new_privs();
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
    if (uid != 0 && setuid(0) == 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot drop privileges: root could be regained");
        return -1;
    }
    return no_new_privs();
}

/* on_signal - TERM/INT drain, HUP reopens the log */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct daemon *dm = arg;
    if (sig == SIGHUP) {
        if (log_reopen() < 0)
            log_msg(LOG_LEVEL_ERROR, "cannot reopen the log: %s", log_error());
        else
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

/* on_store_watch - the store's lag warning; after it lost its file, write memory again */
static void on_store_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *dm = arg;
    if (store_watch(dm->core.store) & STORE_WANT_REPERSIST) {
        size_t n = sts_cache_persist_all(dm->srv.pipeline.sts);
        log_msg(LOG_LEVEL_WARN, "cache: %zu policies held in memory queued to be written again", n);
    }
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
    if (dm->core.store != NULL) {
        dm->store_watch = event_new(dm->base, -1, EV_PERSIST, on_store_watch, dm);
        struct timeval tick = {STORE_WATCH_S, 0};
        if (dm->store_watch == NULL || event_add(dm->store_watch, &tick) < 0)
            return -1;
    }
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

/* pid_parse - the PID a pidfile holds ("123\n"), or -1 */
static long pid_parse(const char *buf, size_t len)
{
    long v = 0;
    size_t i = 0;
    for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
        if (v > 4194304) /* PID_MAX_LIMIT */
            return -1;
        v = v * 10 + (buf[i] - '0');
    }
    if (i == 0 || v <= 0)
        return -1;
    for (; i < len; i++)
        if (buf[i] != '\n' && buf[i] != ' ')
            return -1;
    return v;
}

/*
 * pidfile_clear - what is at the pidfile's name before we write it: nothing;
 * a stale pidfile of ours (a regular file of root's or ours with one link,
 * holding no PID or one not running) is removed; anything else is refused.
 */
static int pidfile_clear(int dfd, const char *base, const char *path)
{
    struct stat st;
    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT
                   ? 0
                   : (log_msg(LOG_LEVEL_ERROR, "pidfile %s: %s", path, strerror(errno)), -1);
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || (st.st_uid != 0 && st.st_uid != geteuid())) {
        log_msg(LOG_LEVEL_ERROR,
                "pidfile %s: refusing: it exists and is %s; remove it if it is not another "
                "program's",
                path,
                S_ISLNK(st.st_mode)    ? "a symbolic link"
                : !S_ISREG(st.st_mode) ? "not a regular file"
                : st.st_nlink != 1     ? "a file with several links"
                                       : "another user's file");
        return -1;
    }
    char buf[32];
    ssize_t n = 0;
    int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) {
        n = read(fd, buf, sizeof(buf));
        close(fd);
    }
    long pid = n > 0 ? pid_parse(buf, (size_t)n) : -1;
    if (pid > 0 && pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
        log_msg(LOG_LEVEL_ERROR, "pidfile %s: process %ld is running (another mxtlsd?)", path, pid);
        return -1;
    }
    if (unlinkat(dfd, base, 0) < 0) {
        log_msg(LOG_LEVEL_ERROR, "pidfile %s: cannot remove the stale one: %s", path,
                strerror(errno));
        return -1;
    }
    log_msg(LOG_LEVEL_INFO, "pidfile %s: removed a stale one (%s)", path,
            pid > 0 ? "its process is gone" : "it held no PID");
    return 0;
}

/*
 * close_all_but - close descriptors 3..limit-1 except a, b and c, one by
 * one: for kernels without close_range (before 5.9) or where a seccomp
 * filter refuses it. A kept descriptor must not be a listener or a pipe
 * end: the keeper would hold the port, or never see its EOF.
 */
static void close_all_but(int a, int b, int c)
{
    struct rlimit rl;
    long limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                     ? (long)rl.rlim_cur
                     : 65536;
    for (long fd = 3; fd < limit; fd++)
        if (fd != a && fd != b && fd != c)
            close((int)fd);
}

/* keeper_close_fds - close every inherited descriptor from 3 up but the three kept */
static void keeper_close_fds(int a, int b, int c)
{
#ifdef SYS_close_range
    int k[3] = {a, b, c};
    for (int i = 0; i < 3; i++) /* sort the three */
        for (int j = i + 1; j < 3; j++)
            if (k[j] < k[i]) {
                int t = k[i];
                k[i] = k[j];
                k[j] = t;
            }
    unsigned from = 3;
    for (int i = 0; i < 3; i++) {
        if ((unsigned)k[i] > from && syscall(SYS_close_range, from, (unsigned)k[i] - 1, 0U) < 0) {
            close_all_but(a, b, c);
            return;
        }
        if ((unsigned)k[i] + 1 > from)
            from = (unsigned)k[i] + 1;
    }
    if (syscall(SYS_close_range, from, ~0U, 0U) < 0)
        close_all_but(a, b, c);
#else
    close_all_but(a, b, c);
#endif
}

/*
 * keeper - the pidfile keeper's life (a child that keeps root's rights):
 * wait for "W", write text atomically at base in dfd, answer; at EOF remove
 * what it wrote and exit. Only async-signal-safe calls (the parent has
 * threads).
 */
static void keeper(int dfd, const char *base, const char *tmp, const char *text, size_t len, int in,
                   int out)
{
    struct stat mine = {0};
    bool written = false;
    char c;
    keeper_close_fds(dfd, in, out);
    signal(SIGTERM, SIG_IGN); /* a process-group signal must not leave the pidfile */
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN); /* the daemon may die before reading our answer */
    prctl(PR_SET_NAME, "mxtlsd-pidfile", 0, 0, 0);
    for (;;) {
        ssize_t n = read(in, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        unsigned char status = 0;
        unlinkat(dfd, tmp, 0);
        int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, text, len) != (ssize_t)len || fstat(fd, &mine) < 0)
            status = (unsigned char)(errno != 0 ? errno : EIO);
        if (fd >= 0 && close(fd) < 0 && status == 0)
            status = (unsigned char)errno;
        if (status == 0 && renameat(dfd, tmp, dfd, base) < 0)
            status = (unsigned char)errno;
        if (status != 0)
            unlinkat(dfd, tmp, 0);
        written = status == 0;
        while (write(out, &status, 1) < 0 && errno == EINTR)
            ;
    }
    struct stat now;
    if (written && fstatat(dfd, base, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
        now.st_dev == mine.st_dev && now.st_ino == mine.st_ino)
        unlinkat(dfd, base, 0);
    _exit(0);
}

/*
 * pidfile_prepare - while still privileged: check the pidfile's directory,
 * clear a stale pidfile, start the keeper. Nothing is written yet.
 */
static int pidfile_prepare(struct pidfile *pf, const char *path)
{
    char why[512];
    const char *base = NULL;
    int dfd = log_dir_open(path, &base, why, sizeof(why));
    if (dfd < 0) {
        log_msg(LOG_LEVEL_ERROR, "pidfile %s", why);
        return -1;
    }
    if (pidfile_clear(dfd, base, path) < 0) {
        close(dfd);
        return -1;
    }
    /* Formatted before fork: the keeper only makes async-signal-safe calls. */
    char text[32], tmp[300];
    int tlen = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    if (snprintf(tmp, sizeof(tmp), ".%.240s.%ld.tmp", base, (long)getpid()) >= (int)sizeof(tmp)) {
        log_msg(LOG_LEVEL_ERROR, "pidfile %s: name too long", path);
        close(dfd);
        return -1;
    }
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) < 0) {
        log_msg(LOG_LEVEL_ERROR, "pidfile %s: pipe: %s", path, strerror(errno));
        close(dfd);
        return -1;
    }
    if (pipe2(from, O_CLOEXEC) < 0) {
        log_msg(LOG_LEVEL_ERROR, "pidfile %s: pipe: %s", path, strerror(errno));
        close(to[0]);
        close(to[1]);
        close(dfd);
        return -1;
    }
    pid_t child = fork();
    if (child == 0) {
        /* The parent's ends first: held here, the keeper would never see EOF. */
        close(to[1]);
        close(from[0]);
        keeper(dfd, base, tmp, text, (size_t)tlen, to[0], from[1]);
    }
    int e = errno;
    close(to[0]);
    close(from[1]);
    close(dfd);
    if (child < 0) {
        log_msg(LOG_LEVEL_ERROR, "pidfile %s: fork: %s", path, strerror(e));
        close(to[1]);
        close(from[0]);
        return -1;
    }
    pf->keeper = child;
    pf->to_keeper = to[1];
    pf->from_keeper = from[0];
    return 0;
}

/* pidfile_publish - the daemon answers now: the keeper writes the pidfile */
static int pidfile_publish(struct pidfile *pf, const char *path)
{
    unsigned char status = EIO;
    ssize_t n;
    while ((n = write(pf->to_keeper, "W", 1)) < 0 && errno == EINTR)
        ;
    if (n == 1)
        while ((n = read(pf->from_keeper, &status, 1)) < 0 && errno == EINTR)
            ;
    if (n != 1 || status != 0) {
        log_msg(LOG_LEVEL_ERROR, "pidfile %s: %s", path,
                n != 1 ? "its keeper process is gone" : strerror(status));
        return -1;
    }
    return 0;
}

/* pidfile_finish - the keeper removes the pidfile and exits; wait for it */
static void pidfile_finish(struct pidfile *pf)
{
    if (pf->keeper <= 0)
        return;
    close(pf->to_keeper);
    close(pf->from_keeper);
    while (waitpid(pf->keeper, NULL, 0) < 0 && errno == EINTR)
        ;
    pf->keeper = 0;
}

/* start - everything up to the loop; returns an exit status, 0 to run */
static int start(struct daemon *dm)
{
    struct mxtls_diag d = {0};
    dm->base = event_base_new();
    if (dm->base == NULL)
        return EX_SOFTWARE;
    int err = pipeline_open_net(&dm->core, dm->base, &dm->cfg, &d);
    if (err == PIPELINE_E_RESOLVER) {
        /* A trust anchor that would turn DNSSEC off, or an option libunbound
         * refuses, is a configuration error (issue 17); memory is not. */
        log_msg(LOG_LEVEL_ERROR, "resolver: %s", d.what);
        return d.code == MXTLS_ENOMEM ? EX_UNAVAILABLE : EX_CONFIG;
    }
    if (err < 0) {
        log_msg(LOG_LEVEL_ERROR, "https: %s", d.what);
        return EX_UNAVAILABLE;
    }
    dm->srv.base = dm->base;
    dm->srv.cfg = &dm->cfg;
    /* The control socket (control.h) is created now, as root, and given to -u/-g. */
    dm->srv.control_user = dm->opt.user;
    dm->srv.control_group = dm->opt.group;
    if (server_listen(&dm->srv, &d) < 0) {
        log_msg(LOG_LEVEL_ERROR, "%s", d.what);
        return EX_UNAVAILABLE;
    }
    /* issue 16: the counters, then the metrics listener (bound while privileged) */
    if (stats_init(&dm->cfg) < 0 || metrics_listen(dm->base, &dm->srv, &dm->metrics, &d) < 0) {
        log_msg(LOG_LEVEL_ERROR, "%s", d.code != 0 ? d.what : "out of memory");
        return EX_UNAVAILABLE;
    }
    /* Its keeper starts while still privileged (it may live in /run). */
    if (dm->opt.pidfile != NULL && pidfile_prepare(&dm->pid, dm->opt.pidfile) < 0)
        return EX_UNAVAILABLE;
    if (drop_privileges(&dm->opt) < 0)
        return EX_CONFIG;
    /* The store is opened as the unprivileged user, so its files belong to it. */
    err = pipeline_open_caches(&dm->core, &dm->cfg, PIPELINE_PERSIST, &d);
    if (err == PIPELINE_E_STORE) {
        log_msg(LOG_LEVEL_ERROR, "cache: %s", d.what);
        return EX_UNAVAILABLE;
    }
    dm->srv.pipeline = dm->core.services;
    if (err < 0)
        return EX_SOFTWARE;
    /* Handlers before the load: a signal during it is handled once the loop runs. */
    if (setup_events(dm) < 0)
        return EX_SOFTWARE;
    size_t loaded = 0, invalid = 0;
    if (pipeline_load(&dm->core, (int64_t)time(NULL), &loaded, &invalid) < 0)
        return EX_UNAVAILABLE;
    if (dm->cfg.path != NULL)
        log_msg(LOG_LEVEL_INFO, "mxtlsd %s listening on %s; cache %s, %zu policies loaded",
                MXTLSD_VERSION, dm->cfg.path, config_cache_type_name(dm->cfg.cache.type), loaded);
    else
        log_msg(LOG_LEVEL_INFO, "mxtlsd %s listening on %s:%u; cache %s, %zu policies loaded",
                MXTLSD_VERSION, dm->cfg.host, (unsigned)dm->cfg.port,
                config_cache_type_name(dm->cfg.cache.type), loaded);
    /* The pidfile appears only now that the daemon answers, and after that
     * line: whoever waits for the pidfile finds the start logged. */
    if (dm->opt.pidfile != NULL && pidfile_publish(&dm->pid, dm->opt.pidfile) < 0)
        return EX_UNAVAILABLE;
    return 0;
}

/*
 * free_signal_events - libevent puts back the disposition it found (SIG_DFL)
 * when a signal event is freed, so a second SIGTERM during the rest of the
 * teardown (an init system or a test repeating its stop) would kill the
 * daemon with status 143 instead of the 0 of a clean stop. The signals are
 * blocked across the frees and then ignored; by now the caches' threads are
 * joined, so this thread's mask is the process's.
 */
static void free_signal_events(struct daemon *dm)
{
    static const int stop_signals[] = {SIGTERM, SIGINT, SIGHUP};
    sigset_t block;
    sigemptyset(&block);
    for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
        sigaddset(&block, stop_signals[i]);
    sigprocmask(SIG_BLOCK, &block, NULL);
    if (dm->sig_term)
        event_free(dm->sig_term);
    if (dm->sig_int)
        event_free(dm->sig_int);
    if (dm->sig_hup)
        event_free(dm->sig_hup);
    for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
        signal(stop_signals[i], SIG_IGN);
}

/* stop - free in dependency order: sessions, caches, then the I/O they used */
static void stop(struct daemon *dm)
{
    metrics_free(dm->metrics);
    server_close(&dm->srv);
    pipeline_close(&dm->core);
    stats_finish();
    free_signal_events(dm);
    if (dm->proactive)
        event_free(dm->proactive);
    if (dm->sweep)
        event_free(dm->sweep);
    if (dm->store_watch)
        event_free(dm->store_watch);
    if (dm->base)
        event_base_free(dm->base);
    pidfile_finish(&dm->pid);
    config_finish(&dm->cfg);
}

int main(int argc, char **argv)
{
    struct daemon dm = {0};
    /* Until its handler is installed, SIGHUP ("reopen the log") must not kill. */
    signal(SIGHUP, SIG_IGN);
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
        struct mxtls_diag ta = {0};
        if (dns_check_trust_anchor(dm.cfg.trust_anchor_file, &ta) < 0) {
            fprintf(stderr, "mxtlsd: %s: resolver: %s\n",
                    dm.opt.config ? dm.opt.config : "(default)", ta.what);
            config_finish(&dm.cfg);
            return EX_CONFIG;
        }
        printf("%s: OK: %s, cache %s, %zu zones\n", dm.opt.config ? dm.opt.config : "(default)",
               dm.cfg.path ? dm.cfg.path : dm.cfg.host, config_cache_type_name(dm.cfg.cache.type),
               dm.cfg.nzones);
        config_finish(&dm.cfg);
        return 0;
    }
    if (log_open("mxtlsd", level, dm.opt.logfile) < 0) {
        fprintf(stderr, "mxtlsd: log file %s\n", log_error());
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
