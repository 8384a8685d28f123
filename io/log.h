/*
 * log - the programs' one log: stderr, a file, or syslog.
 *
 * Leaf code never logs (it fills a struct mxtls_diag); the daemon's main,
 * session and pipeline code do, through log_msg. Levels follow
 * postfix-mta-sts-resolver's -v names (debug, info, warn, error); messages
 * below the chosen level cost one comparison. A log file is opened in append
 * mode and reopened by log_reopen (SIGHUP, after logrotate moved it), never
 * through a symbolic link, only as a regular file with one link owned by root
 * or the process, and only in a directory nobody else can write
 * (log_dir_open). Every
 * line is one write(2), so concurrent writers do not interleave mid-line.
 *
 * Global state: one destination per process (a log is a process's identity,
 * like syslog's openlog). Not thread-safe against log_open/log_reopen; log_msg
 * itself is safe from any thread.
 */
#ifndef MXTLS_IO_LOG_H
#define MXTLS_IO_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
};

/*
 * log_level_parse - the level named name ("debug", "info", "warn",
 * "warning", "error"; upper case accepted); returns 0 and sets *out, or -1.
 */
int log_level_parse(const char *name, enum log_level *out);

/*
 * log_open - log as ident at level to path (append), or to syslog (facility
 * mail) when path is "syslog", or to stderr when path is NULL. Returns 0, or
 * -1 with errno set when the file cannot be opened (the log stays on stderr).
 */
int log_open(const char *ident, enum log_level level, const char *path);

/*
 * log_error - why the last log_open or log_reopen failed (the path and the
 * reason), for the caller's message.
 */
const char *log_error(void);

/*
 * log_dir_open - open the directory of path (O_DIRECTORY) for openat() of
 * the file itself, whose name *base then points at (inside path). A file a
 * daemon writes while privileged must not be where someone else can plant a
 * symlink or a hard link: the directory must belong to root or to the
 * effective user, and no other user or group (but root's or our own) may
 * write it. Returns the descriptor, or -1 with errno set (EPERM for such a
 * directory) and why (whysize octets) saying what is wrong.
 */
int log_dir_open(const char *path, const char **base, char *why, size_t whysize);

/* log_reopen - reopen the log file (after rotation); stderr/syslog: no-op. */
int log_reopen(void);

/* log_enabled - whether a message at level would be written. */
bool log_enabled(enum log_level level);

/* log_msg - write one line at level: "<time> ident[pid]: level: text". */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
