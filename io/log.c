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
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static const char *log_ident = "mxtls";
static enum log_level log_min = LOG_LEVEL_INFO;
static int log_fd = 2;
static bool log_syslog;
static char log_path[4096];

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

/* open_file - open path for appending; the old descriptor is closed on success */
static int open_file(void)
{
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    if (log_fd > 2)
        close(log_fd);
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
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(log_path, path);
    return open_file();
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
