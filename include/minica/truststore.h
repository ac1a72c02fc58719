/* Putting minica's roots where this host's clients look for trust anchors,
 * and taking them out again (minica trust): the system store that OpenSSL,
 * GnuTLS, curl and nginx read (update-ca-certificates), the NSS databases of
 * Chromium and Firefox (certutil), and a Java cacerts keystore (keytool).
 * Each store is changed only when it lacks (or, to uninstall, holds) a root,
 * so a second run changes nothing, and every store says what it did. */
#ifndef MINICA_TRUSTSTORE_H
#define MINICA_TRUSTSTORE_H

#include <stddef.h>

#include "minica/error.h"

enum {
    MINICA_TRUST_SYSTEM = 1,
    MINICA_TRUST_NSS = 2,
    MINICA_TRUST_JAVA = 4,
    MINICA_TRUST_ALL = 7,
};

enum minica_trust_action {
    MINICA_TRUST_INSTALL,
    MINICA_TRUST_UNINSTALL,
    MINICA_TRUST_CHECK, /* changes nothing: says where the roots are trusted */
};

enum minica_trust_outcome {
    MINICA_TRUST_CHANGED,   /* added, or removed */
    MINICA_TRUST_UNCHANGED, /* already as asked (check: trusted there) */
    MINICA_TRUST_MISSING,   /* check only: not trusted there */
    MINICA_TRUST_SKIPPED,   /* the store is not on this host, and was not asked for by name */
    MINICA_TRUST_FAILED,
};

struct minica_trust_options {
    enum minica_trust_action action;
    unsigned stores;   /* MINICA_TRUST_* to act on; 0: all */
    unsigned required; /* of those, the ones named by the operator: absent is a failure */
    /* NSS databases (directories holding cert9.db); none: the ones found
     * under home (Chromium's ~/.pki/nssdb, Firefox profiles). */
    const char *const *nssdbs;
    size_t n_nssdbs;
    const char *home; /* NULL: $HOME */
    /* The keystore; NULL: $JAVA_HOME/lib/security/cacerts, else Debian's
     * /etc/ssl/certs/java/cacerts. */
    const char *java_cacerts;
    const char *java_home;           /* NULL: $JAVA_HOME */
    const char *java_storepass_file; /* NULL: the JDK default, "changeit" */
};

/* One line of what happened: store is "system", "nss" or "java"; text is a
 * sentence naming the root and the file or database. */
struct minica_trust_report {
    const char *store;
    enum minica_trust_outcome outcome;
    const char *text;
};
typedef void (*minica_trust_report_fn)(const struct minica_trust_report *report, void *ctx);

/* Reads a file of roots for minica_trust_apply (at most 1 MiB; free *pem).
 * Whoever could write it decides what every TLS client of the host trusts,
 * so it is held to the rule of files a root process acts on: opened once,
 * regular, and nobody but root or the caller may have written it or a
 * directory above it. */
int minica_trust_read_roots(const char *path, char **pem, struct minica_err *err);

/* Acts on every store of opts with the roots in roots_pem (PEM; every
 * certificate must be a self-signed CA certificate), calling report for
 * each outcome. Returns 0 when no store failed (for CHECK: and every root
 * is trusted in every store that is here), MINICA_EINVAL for roots_pem
 * that holds anything but roots, MINICA_EIO when a store failed, and
 * MINICA_ENOENT for CHECK when a root is missing somewhere. */
int minica_trust_apply(const char *roots_pem, const struct minica_trust_options *opts,
                       minica_trust_report_fn report, void *ctx, struct minica_err *err);

#endif
