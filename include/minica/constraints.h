/* The nameConstraints extension of a CA certificate (RFC 5280 4.2.1.10) for
 * the two name forms minica issues, dNSName and iPAddress: what init writes
 * into the intermediate, what the intermediate it opens says, and whether a
 * name satisfies it. The certificate, not minica.conf, is what every relying
 * party enforces, so issuance checks both. */
#ifndef MINICA_CONSTRAINTS_H
#define MINICA_CONSTRAINTS_H

#include <stddef.h>

#include "minica/error.h"
#include "minica/names.h"

#define MINICA_CONSTRAINTS_MAX 64

struct minica_dns_subtrees {
    /* lowercase; "" is every DNS name, ".x" only names below x */
    char name[MINICA_CONSTRAINTS_MAX][MINICA_NAME_MAX + 1];
    size_t n;
};
struct minica_ip_subtrees {
    struct minica_cidr cidr[MINICA_CONSTRAINTS_MAX];
    size_t n;
};
struct minica_name_constraints {
    struct minica_dns_subtrees permit_dns, exclude_dns;
    struct minica_ip_subtrees permit_ip, exclude_ip;
    size_t n_other; /* subtrees of name forms minica never issues (ignored) */
};

/* What `init --permit-dns/--permit-ip` writes: the permitted lists, and,
 * when only one form is given, the other excluded outright (0.0.0.0/0 and
 * ::/0, or the zero-length dNSName, as the CA/B Baseline Requirements do), so
 * that a stolen intermediate key cannot mint certificates for it. */
int minica_constraints_for_init(const char *const *dns, size_t n_dns, const char *const *ips,
                                size_t n_ips, struct minica_name_constraints *out,
                                struct minica_err *err);

/* 1 when nc constrains anything minica issues. */
int minica_constraints_present(const struct minica_name_constraints *nc);
/* 1 when nc has any dNSName subtree. OpenSSL and GnuTLS then check a leaf's
 * CN against it when the leaf has no DNS name. */
int minica_constraints_cover_dns(const struct minica_name_constraints *nc);

/* The extension's value (the NameConstraints SEQUENCE), written backwards at
 * the end of buf as the minica_der_* encoders do. */
int minica_constraints_encode(const struct minica_name_constraints *nc, unsigned char *buf,
                              size_t size, unsigned char **der, size_t *len,
                              struct minica_err *err);
/* The reverse. Subtrees with minimum/maximum, masks that are not a prefix,
 * and trailing bytes are refused as malformed. */
int minica_constraints_decode(const unsigned char *der, size_t len,
                              struct minica_name_constraints *out, struct minica_err *err);

/* MINICA_OK, or MINICA_EPOLICY naming the subtree that refuses name. */
int minica_constraints_check(const struct minica_name_constraints *nc,
                             const struct minica_name *name, struct minica_err *err);

#endif
