/*
 * log - stderr, file or syslog output for the programs (see log.h).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static const char *log_ident = "mxtls";
static enum log_level log_min = LOG_LEVEL_INFO;
static int log_fd = 2;
static bool log_syslog;
static char log_path[4096];
static char log_why[4608]; /* why the last log_open/log_reopen refused the path */

static const char *const level_names[] = {"debug", "info", "warning", "error"};

/* log_level_parse - a level from its name */
int log_level_parse(const char *name, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {{"debug", LOG_LEVEL_DEBUG}, {"info", LOG_LEVEL_INFO},
                 {"warn", LOG_LEVEL_WARN},   {"warning", LOG_LEVEL_WARN},
                 {"error", LOG_LEVEL_ERROR}, {"fatal", LOG_LEVEL_ERROR}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

/* log_dir_open - see log.h */
int log_dir_open(const char *path, const char **base, char *why, size_t whysize)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *name = slash != NULL ? slash + 1 : path;
    size_t dlen = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);
    if (*name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || dlen >= sizeof(dir)) {
        snprintf(why, whysize, "%s: not a file name", path);
        errno = EINVAL;
        return -1;
    }
    memcpy(dir, slash == NULL ? "." : path, dlen);
    dir[dlen] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        snprintf(why, whysize, "%s: directory %s: %s", path, dir, strerror(e));
        if (fd >= 0)
            close(fd);
        errno = e;
        return -1;
    }
    /* Whoever else can write the directory can plant a symlink or a file
     * there for us to write through (issue 17, item 11). */
    bool foreign_owner = st.st_uid != 0 && st.st_uid != geteuid();
    bool group_w = (st.st_mode & S_IWGRP) != 0 && st.st_gid != 0 && st.st_gid != getegid();
    bool other_w = (st.st_mode & S_IWOTH) != 0;
    if (foreign_owner || group_w || other_w) {
        snprintf(why, whysize,
                 "%s: refusing a file in directory %s: it is %s (uid %ld, mode %03o); use a "
                 "directory only root or this daemon's user can write",
                 path, dir,
                 foreign_owner ? "owned by another user"
                 : other_w     ? "writable by every user"
                               : "writable by another group",
                 (long)st.st_uid, (unsigned)(st.st_mode & 07777));
        close(fd);
        errno = EPERM;
        return -1;
    }
    *base = name;
    return fd;
}

/* open_file - open path for appending; the old descriptor is closed on success */
static int open_file(void)
{
    const char *base = NULL;
    int dfd = log_dir_open(log_path, &base, log_why, sizeof(log_why));
    if (dfd < 0)
        return -1;
    /* O_NOFOLLOW: never append to what a symlink points at (item 11) */
    int fd = openat(dfd, base, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    int e = errno;
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
                    (st.st_uid != 0 && st.st_uid != geteuid()))) {
        close(fd);
        fd = -1;
        e = EPERM;
        snprintf(log_why, sizeof(log_why),
                 "%s: refusing: not a regular file of root's or ours with one link", log_path);
    } else if (fd < 0) {
        snprintf(log_why, sizeof(log_why), "%s: %s", log_path,
                 e == ELOOP ? "is a symbolic link: refusing to follow it" : strerror(e));
    }
    close(dfd);
    errno = e;
    if (fd < 0)
        return -1;
    /* Other threads log too: replace the descriptor in one step (dup2), so no
     * line can go to a number another thread just reused. */
    if (log_fd > 2 && dup3(fd, log_fd, O_CLOEXEC) >= 0) {
        close(fd);
        return 0;
    }
    log_fd = fd;
    return 0;
}

/* log_open - choose the destination and level */
int log_open(const char *ident, enum log_level level, const char *path)
{
    log_ident = ident;
    log_min = level;
    if (path == NULL)
        return 0;
    if (strcmp(path, "syslog") == 0) {
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
        log_syslog = true;
        return 0;
    }
    if (strlen(path) >= sizeof(log_path)) {
        snprintf(log_why, sizeof(log_why), "log file name too long");
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(log_path, path);
    return open_file();
}

/* log_error - why the last open failed */
const char *log_error(void)
{
    return log_why;
}

/* log_reopen - reopen the file after rotation */
int log_reopen(void)
{
    if (log_syslog || log_path[0] == '\0')
        return 0;
    return open_file();
}

/* log_enabled - cheap level check */
bool log_enabled(enum log_level level)
{
    return level >= log_min;
}

/* log_msg - format and write one line */
void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    char text[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (log_syslog) {
        static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
        syslog(prio[level], "%s: %s", level_names[level], text);
        return;
    }
    char line[LOG_LINE_MAX + 128];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld]: %s: %s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, log_ident, (long)getpid(), level_names[level], text);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    ssize_t w = write(log_fd, line, (size_t)n);
    (void)w; /* nowhere to report a failing log */
}
