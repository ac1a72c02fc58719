/* PKCS#12 files (RFC 7292) for Java keystores and Windows services: a
 * private key, its certificate and chain in one PFX under a passphrase,
 * laid out as OpenSSL 3 writes by default. Only writing: minica never reads
 * a PFX. Where the passphrase comes from is read here by the same rules as
 * the CA key's passphrase (a private file or a systemd credential). */
#ifndef MINICA_PKCS12_H
#define MINICA_PKCS12_H

#include <stddef.h>

#include "minica/error.h"
#include "minica/fsutil.h"

/* PBKDF2-HMAC-SHA256 for the key and certificate bags, and the MAC's own
 * key derivation. As high as every reader takes: .NET's PFX loader
 * (X509CertificateLoader, Pkcs12LoaderLimits' defaults) refuses a file
 * with more than 300000 iterations in any one derivation or 1000000 in
 * all, so the 600000 of minica's encrypted CA keys would lock Windows
 * services out. Ten times Java keytool's own default (10000), fifty times
 * OpenSSL's (2048). The MAC's count matters as much as PBKDF2's: the MAC
 * checks a guessed passphrase without decrypting anything, so a file with
 * a cheap MAC is only as hard to guess as that. */
#define MINICA_PKCS12_ITERATIONS 100000

/* openssl's -passin file: limit, as for the CA key's passphrase. */
#define MINICA_PKCS12_PASSPHRASE_MAX 1023

struct minica_pkcs12_passphrase {
    unsigned char buf[MINICA_PKCS12_PASSPHRASE_MAX + 1];
    size_t len;
    char source[4160]; /* for messages: the file, or "credential NAME" */
};

/* Reads the passphrase from file or from the systemd credential (exactly
 * one of them not NULL): the first line, from a regular file opened once
 * without following a symlink, owned by root or the running user and
 * closed to group and others. Never from argv or the environment. */
int minica_pkcs12_passphrase_read(const char *file, const char *credential,
                                  struct minica_pkcs12_passphrase *out, struct minica_err *err);
/* Wipes it (safe on a zeroed struct). */
void minica_pkcs12_passphrase_wipe(struct minica_pkcs12_passphrase *p);

struct minica_pkcs12_input {
    const char *key_pem;  /* the private key (unencrypted PEM; a PEM bundle will do) */
    const char *cert_pem; /* its certificate: the first one in it */
    /* Optional: the chain above it (intermediates, and the root if the
     * file is to carry it); a copy of the leaf (a fullchain file) is left
     * out. */
    const char *chain_pem;
    /* The alias keytool shows, UTF-8; NULL: the leaf's CN. */
    const char *friendly_name;
    const unsigned char *pass; /* UTF-8, not empty */
    size_t pass_len;
    unsigned iterations; /* 0: MINICA_PKCS12_ITERATIONS (tests use fewer) */
};

/* The PFX as DER: the key in a pkcs8ShroudedKeyBag (PBES2, PBKDF2-HMAC-
 * SHA256, AES-256-CBC), the certificates in an encrypted SafeContents (the
 * same), an HMAC-SHA256 MAC keyed by RFC 7292 appendix B's KDF. The key
 * bag and the leaf's certificate bag carry the friendlyName and the same
 * localKeyId (the leaf's SHA-1, as OpenSSL's), so a keystore shows one
 * private key entry with its chain. A key that is not the certificate's
 * is refused (MINICA_EINVAL). *der is malloc'd. */
int minica_pkcs12_build(const struct minica_pkcs12_input *in, unsigned char **der, size_t *der_len,
                        struct minica_err *err);

/* Builds it and replaces path atomically, mode 0600 whatever the umask. */
int minica_pkcs12_write(const char *path, const struct minica_pkcs12_input *in,
                        struct minica_err *err);

/* The files of one certificate: its private key, the certificate (the
 * first one in the file) and, optional (""), the chain above it (a
 * fullchain file or a PEM bundle will do: the leaf is not repeated). */
struct minica_pkcs12_files {
    char key[MINICA_PATH_MAX];
    char cert[MINICA_PATH_MAX];
    char chain[MINICA_PATH_MAX];
};

/* NAME's files in dir as `minica issue` writes them: NAME.key, NAME.crt
 * and NAME.fullchain.crt, or else the PEM bundle NAME.pem for all three.
 * MINICA_ENOENT, naming what is missing, when neither is there. */
int minica_pkcs12_files_in_dir(const char *dir, const char *name, struct minica_pkcs12_files *out,
                               struct minica_err *err);

/* Reads the files, refuses a key that is not the certificate's (naming
 * both files), and writes the PFX to out as minica_pkcs12_write does.
 * friendly_name NULL: the certificate's CN. */
int minica_pkcs12_export(const struct minica_pkcs12_files *files, const char *friendly_name,
                         const unsigned char *pass, size_t pass_len, const char *out,
                         struct minica_err *err);

#endif
