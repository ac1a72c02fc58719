/* What the signer process checks in a TBS before it signs it: the
 * security boundary of issue 18's privilege separation. The network
 * process that builds the TBS may be compromised, so whatever it sends
 * must be a leaf certificate or a CRL of this issuer that minica itself
 * could have made, or nothing is signed. Pure: no key, no clock, no I/O
 * (the caller passes the time). The message format is signer_wire.h.
 * Internal to src/lib/ca. */
#ifndef MINICA_CA_SIGNER_CHECK_H
#define MINICA_CA_SIGNER_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

#include "ca/signer_wire.h"
#include "minica/constraints.h"
#include "minica/error.h"
#include "minica/key.h"

/* How far a notBefore or thisUpdate may lie before the signer's clock
 * (minica backdates leaves by 60 s for skewed relying parties), and how
 * far after it (the two processes share a host clock). */
#define MINICA_SIGNER_BACKDATE_MAX 600
#define MINICA_SIGNER_SKEW_MAX 300

struct minica_signer_check {
    /* The issuer's subject, as its certificate encodes it (points into
     * the certificate, which must outlive this). */
    const unsigned char *issuer_name;
    size_t issuer_name_len;
    unsigned char key_id[64]; /* its subjectKeyIdentifier */
    size_t key_id_len;
    int64_t issuer_not_after;
    unsigned char alg[16]; /* the AlgorithmIdentifier the signer's key makes */
    size_t alg_len;
    int64_t max_ttl;                   /* seconds, of a leaf */
    int64_t max_crl_next_update;       /* seconds from thisUpdate to nextUpdate */
    struct minica_name_constraints nc; /* the issuer's own */
};

/* For the signer whose key is of kind key_type and whose certificate is
 * issuer (a CA certificate with that public key). Leaves may live at most
 * max_ttl seconds, CRLs max_crl_next_update. */
int minica_signer_check_init(struct minica_signer_check *check, const mbedtls_x509_crt *issuer,
                             enum minica_key_type key_type, int64_t max_ttl,
                             int64_t max_crl_next_update, struct minica_err *err);

/* 0 when tbs (len bytes, nothing after it) may be signed for profile at
 * time now; otherwise MINICA_EINVAL (malformed) or MINICA_EPOLICY (a rule
 * broken), and the reason, one line, in err:
 * - both: strict DER; the signature AlgorithmIdentifier is check->alg;
 *   the issuer Name is byte for byte the issuer certificate's subject;
 * - leaf: a v3 TBSCertificate, serial positive and at most 20 octets,
 *   notBefore near now, notAfter not past the issuer's nor more than
 *   max_ttl after notBefore; exactly the extensions minica writes:
 *   basicConstraints (critical, not a CA), keyUsage (digitalSignature,
 *   keyEncipherment), extKeyUsage (serverAuth, clientAuth),
 *   subjectAltName (DNS and IP names within the issuer's nameConstraints),
 *   all four required, and optionally subjectKeyIdentifier and
 *   authorityKeyIdentifier (the issuer's key id);
 * - CRL: a v2 TBSCertList, thisUpdate near now, nextUpdate after it and at
 *   most max_crl_next_update later, entries with positive serials and at
 *   most a reasonCode or invalidityDate, and exactly cRLNumber and
 *   authorityKeyIdentifier (the issuer's key id) as CRL extensions. */
int minica_signer_check_tbs(const struct minica_signer_check *check,
                            enum minica_wire_profile profile, const unsigned char *tbs, size_t len,
                            int64_t now, struct minica_err *err);

#endif
