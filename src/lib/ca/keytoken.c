/* A CA certificate's key in a PKCS#11 token: minica.conf names the keys
 * by URI and the PIN's source; the certificate says which key is its own
 * (its public key), so that after rotations from one token key to the next
 * an older intermediate (whose CRL is still signed) stays reachable
 * without a per-certificate record. Not here: the token protocol
 * (pkcs11.c). */
#include <stdio.h>
#include <string.h>

#include "ca/keytoken.h"
#include "ca/passphrase.h"
#include "ca/pkcs11.h"
#include "ca/x509.h"

size_t minica_keytoken_count(const struct minica_keys_conf *keys, enum minica_ca_role role)
{
    if (role == MINICA_CA_ROOT)
        return keys->root[0] != '\0';
    return role == MINICA_CA_INTERMEDIATE ? keys->n_intermediate : 0;
}

/* Where the PIN came from, or where to put one, after the token's refusal. */
static void pin_hint(const struct minica_passphrase *pin, struct minica_err *err)
{
    if (pin->len > 0) {
        minica_err_prefix(err, "PIN from %s", pin->source);
    } else if (err != NULL) {
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof(err->msg) - len,
                 "; set [keys] pin_file or pin_credential in minica.conf");
    }
}

static int open_with_pin(const struct minica_keys_conf *keys, const char *uri,
                         struct minica_signer **out, struct minica_err *err)
{
    struct minica_passphrase pin;
    int ret = minica_pin_read(keys, &pin, err);
    if (ret == 0) {
        ret = minica_pkcs11_signer_open(uri, pin.len > 0 ? (const char *)pin.buf : NULL, out, err);
        if (ret == MINICA_EFORBIDDEN)
            pin_hint(&pin, err);
    }
    minica_passphrase_wipe(&pin);
    return ret;
}

int minica_keytoken_open(const struct minica_keys_conf *keys, enum minica_ca_role role,
                         const mbedtls_pk_context *pub, const char *what,
                         struct minica_signer **out, struct minica_err *err)
{
    *out = NULL;
    size_t n = minica_keytoken_count(keys, role);
    const char *name = role == MINICA_CA_ROOT ? "root" : "intermediate";
    if (n == 0)
        return minica_seterr(err, MINICA_ENOENT, "[keys] names no %s key in a token", name);
    /* Why the first URI that failed did, for the message when none fits. */
    char why[sizeof(err->msg)] = "";
    for (size_t i = 0; i < n; i++) {
        const char *uri = role == MINICA_CA_ROOT ? keys->root : keys->intermediate[i];
        struct minica_signer *s = NULL;
        int ret = open_with_pin(keys, uri, &s, err);
        /* A missing key among several may be a retired intermediate's. */
        if (ret == MINICA_ENOENT && n > 1) {
            if (why[0] == '\0' && err != NULL)
                snprintf(why, sizeof(why), "%s", err->msg);
            continue;
        }
        if (ret != 0)
            return ret;
        if (minica_pk_same_public(&s->pub, pub)) {
            *out = s;
            return MINICA_OK;
        }
        if (n == 1) {
            int r =
                minica_seterr(err, MINICA_ECRYPTO, "the key %s does not match %s", s->where, what);
            minica_signer_free(s);
            return r;
        }
        minica_signer_free(s);
    }
    return minica_seterr(err, MINICA_ENOENT, "no key of [keys] %s (%zu URIs) is the one of %s%s%s",
                         name, n, what, why[0] != '\0' ? "; " : ": add its URI", why);
}

int minica_keytoken_generate(const struct minica_keys_conf *keys, const char *uri,
                             enum minica_key_type type, struct minica_rng *rng,
                             struct minica_signer **out, struct minica_err *err)
{
    struct minica_passphrase pin;
    int ret = minica_keys_check_uri(uri, err);
    if (ret == 0)
        ret = minica_pin_read(keys, &pin, err);
    else
        memset(&pin, 0, sizeof(pin));
    if (ret == 0) {
        ret = minica_pkcs11_generate(uri, pin.len > 0 ? (const char *)pin.buf : NULL, type, rng,
                                     out, err);
        if (ret == MINICA_EFORBIDDEN)
            pin_hint(&pin, err);
    }
    minica_passphrase_wipe(&pin);
    return ret;
}
