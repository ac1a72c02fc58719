/* What serve derives from the CA's certificates for its clients: the
 * /v1/roots answer (the roots, then the cross-certificates in use) and the
 * trust behind the TLS CertificateRequest (every current intermediate,
 * cross-certificate and root). Not the verification of a client
 * certificate: minica_ca_verify_issued does that. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minica/lifecycle.h"
#include "serve/serve_internal.h"

static int append(char **buf, size_t *len, const char *pem, struct minica_err *err)
{
    size_t n = strlen(pem);
    char *grown = realloc(*buf, *len + n + 1);
    if (grown == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    memcpy(grown + *len, pem, n + 1);
    *buf = grown;
    *len += n;
    return MINICA_OK;
}

static int append_cert(const struct minica_ca *ca, const struct minica_ca_cert *c, char **buf,
                       size_t *len, struct minica_err *err)
{
    const char *pem = minica_ca_cert_pem(ca, c);
    return pem != NULL ? append(buf, len, pem, err) : MINICA_OK;
}

int minica_serve_roots_answer(const struct minica_ca *ca, char **out, struct minica_err *err)
{
    const struct minica_ca_cert *certs;
    size_t n, len = 0;
    char *buf = NULL;
    *out = NULL;
    int ret = append(&buf, &len, minica_ca_roots_pem(ca), err);
    minica_ca_certs(ca, &certs, &n);
    /* A client that trusts only the old root learns the new one through
     * the cross-certificate the old root signed (remote.c). */
    for (size_t i = 0; ret == 0 && i < n; i++)
        if (certs[i].role == MINICA_CA_CROSS && certs[i].active && !certs[i].retired)
            ret = append_cert(ca, &certs[i], &buf, &len, err);
    if (ret != 0) {
        free(buf);
        return ret;
    }
    *out = buf;
    return MINICA_OK;
}

int minica_serve_trust_pem(const struct minica_ca *ca, char **out, struct minica_err *err)
{
    const struct minica_ca_cert *certs;
    size_t n, len = 0;
    char *buf = NULL;
    int ret = MINICA_OK;
    *out = NULL;
    minica_ca_certs(ca, &certs, &n);
    /* The names of these go into the CertificateRequest, and GnuTLS clients
     * send their certificate only when its chain names one of them: a leaf
     * of the previous intermediate must still be asked for. */
    for (size_t i = 0; ret == 0 && i < n; i++) {
        const struct minica_ca_cert *c = &certs[i];
        if (c->retired || (c->role == MINICA_CA_INTERMEDIATE && c->revoked))
            continue;
        ret = append_cert(ca, c, &buf, &len, err);
    }
    if (ret == 0 && buf == NULL)
        ret = minica_seterr(err, MINICA_EINVAL, "the CA has no current certificate");
    if (ret != 0) {
        free(buf);
        return ret;
    }
    *out = buf;
    return MINICA_OK;
}
