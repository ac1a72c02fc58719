/* The error context: one human sentence per failure, mbedTLS detail after it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/error.h>

#include "minica/error.h"

int minica_seterr(struct minica_err *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

int minica_seterr_mbedtls(struct minica_err *err, int code, int mbedtls_ret, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        char detail[200];
        mbedtls_strerror(mbedtls_ret, detail, sizeof(detail));
        size_t used = strlen(err->msg);
        snprintf(err->msg + used, sizeof(err->msg) - used, " (%s)", detail);
    }
    return code;
}

void minica_err_prefix(struct minica_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    char old[sizeof(err->msg)];
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
}
