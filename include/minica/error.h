/* Error codes and the one-sentence error context every libminica call fills.
 * Library functions never print and never exit: they return 0 or a negative
 * MINICA_E* code and leave a human reason in struct minica_err. */
#ifndef MINICA_ERROR_H
#define MINICA_ERROR_H

#include <stddef.h>

enum {
    MINICA_OK = 0,
    MINICA_EINVAL = -1,  /* bad input from the caller (a name, a duration, a file) */
    MINICA_EIO = -2,     /* the file system said no */
    MINICA_ECRYPTO = -3, /* mbedTLS said no */
    MINICA_EDB = -4,     /* SQLite said no */
    MINICA_EPOLICY = -5, /* the CA's policy forbids it */
    MINICA_EEXIST = -6,  /* something that must not exist yet does */
    MINICA_ENOENT = -7,  /* something that must exist does not */
    MINICA_ENOMEM = -8,
    MINICA_EFORBIDDEN = -9, /* authentication or authorization failed (tokens, mTLS) */
    MINICA_ENET = -10,      /* a remote CA could not be reached */
    MINICA_EBUSY = -11,     /* refused: something still depends on it (a CA in use) */
    /* the inventory's server cannot be reached (PostgreSQL down or
     * restarting): retry later (serve answers 503 with Retry-After) */
    MINICA_EUNAVAILABLE = -12,
};

struct minica_err {
    char msg[1024];
};

/* Sets err->msg (printf-style); returns code so callers can `return minica_seterr(...)`. */
int minica_seterr(struct minica_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like minica_seterr, but appends ": <mbedTLS's description of mbedtls_ret>". */
int minica_seterr_mbedtls(struct minica_err *err, int code, int mbedtls_ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefixes the current message with "<prefix>: ". */
void minica_err_prefix(struct minica_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
