#include "serve/fastverify.h"

#include "base/libload.h"

static int off;

void minica_gnutls_ecdsa_off(int on)
{
    off = on;
}

int minica_gnutls_ecdsa_verify(int sha384, const unsigned char *spki, size_t spki_len,
                               const unsigned char *data, size_t data_len, const unsigned char *sig,
                               size_t sig_len)
{
    if (off)
        return -1;
    struct minica_err err;
    const struct minica_gnutls *g = minica_gnutls_load(&err);
    if (g == NULL)
        return -1;
    gnutls_pubkey_t pub;
    if (g->pubkey_init(&pub) < 0)
        return -1;
    gnutls_datum_t spki_d = {(unsigned char *)spki, (unsigned)spki_len};
    int ret = -1;
    if (g->pubkey_import(pub, &spki_d, GNUTLS_X509_FMT_DER) >= 0) {
        gnutls_datum_t data_d = {(unsigned char *)data, (unsigned)data_len};
        gnutls_datum_t sig_d = {(unsigned char *)sig, (unsigned)sig_len};
        ret = g->pubkey_verify_data2(pub,
                                     sha384 ? GNUTLS_SIGN_ECDSA_SHA384 : GNUTLS_SIGN_ECDSA_SHA256,
                                     0, &data_d, &sig_d) >= 0;
    }
    g->pubkey_deinit(pub);
    return ret;
}
