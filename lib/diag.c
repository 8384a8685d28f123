/*
 * diag - error codes and diagnostics shared by every libmxtls module.
 * See include/mxtls/diag.h for the contract.
 */
#include <stdarg.h>
#include <stdio.h>

#include "mxtls/diag.h"

/* mxtls_diag_set - record a failure in diag and return its code */
int mxtls_diag_set(struct mxtls_diag *diag, int code, size_t offset, const char *fmt, ...)
{
    va_list ap;

    if (diag == NULL)
        return code;
    diag->code = code;
    diag->offset = offset;
    va_start(ap, fmt);
    vsnprintf(diag->what, sizeof(diag->what), fmt, ap);
    va_end(ap);
    return code;
}

/* mxtls_strerror - short static text for an MXTLS_E* code */
const char *mxtls_strerror(int code)
{
    switch (code) {
    case MXTLS_OK:
        return "success";
    case MXTLS_EINVAL:
        return "invalid input";
    case MXTLS_ETOOLONG:
        return "input too long";
    case MXTLS_ENOMEM:
        return "out of memory";
    case MXTLS_ENOTFOUND:
        return "not found";
    case MXTLS_EMULTIPLE:
        return "more than one found";
    case MXTLS_EAGAIN:
        return "incomplete input";
    case MXTLS_ECRYPTO:
        return "cryptographic library failure";
    case MXTLS_ENOSPACE:
        return "output buffer too small";
    case MXTLS_EIO:
        return "input/output error";
    }
    return "unknown error";
}
