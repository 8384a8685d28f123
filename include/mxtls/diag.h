/*
 * diag - error codes and diagnostics shared by every libmxtls module.
 *
 * Library functions return 0 on success or a negative MXTLS_E* code, and may
 * fill a caller-owned struct mxtls_diag with what went wrong and where, so the
 * caller (daemon, command line) decides how to show it. Leaf code never logs.
 * A NULL diag pointer is always allowed and means "caller does not care".
 */
#ifndef MXTLS_DIAG_H
#define MXTLS_DIAG_H

#include <stddef.h>

enum mxtls_err {
    MXTLS_OK = 0,
    MXTLS_EINVAL = -1,    /* input violates the grammar or a rule */
    MXTLS_ETOOLONG = -2,  /* input exceeds a hard size or count cap */
    MXTLS_ENOMEM = -3,    /* allocation failed */
    MXTLS_ENOTFOUND = -4, /* nothing applicable present (e.g. no record) */
    MXTLS_EMULTIPLE = -5, /* more than one where exactly one is allowed */
    MXTLS_EAGAIN = -6,    /* input incomplete: more bytes are needed */
    MXTLS_ECRYPTO = -7,   /* OpenSSL reported a failure */
    MXTLS_ENOSPACE = -8,  /* caller's output buffer is too small */
    MXTLS_EIO = -9,       /* a file or store could not be read or written */
};

#define MXTLS_DIAG_WHAT_MAX 512 /* room for "file:line: key.path: reason" */

struct mxtls_diag {
    int code;                       /* one of enum mxtls_err */
    size_t offset;                  /* byte offset in the input, when known */
    char what[MXTLS_DIAG_WHAT_MAX]; /* human-readable reason, NUL-terminated */
};

/*
 * mxtls_diag_set - record a failure in diag (when not NULL) and return code.
 * The message is formatted with printf rules and silently truncated to fit.
 */
int mxtls_diag_set(struct mxtls_diag *diag, int code, size_t offset, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* mxtls_strerror - short static text for an MXTLS_E* code; never NULL. */
const char *mxtls_strerror(int code);

#endif
