/* One-file PEM bundles (leaf + chain + key) for servers such as haproxy that
 * read certificate and key from a single file. Only assembles and stages;
 * when to write and how to roll back is the agent's business. */
#include <stdlib.h>
#include <string.h>

#include "minica/pembundle.h"

static void append(char *buf, size_t *off, const char *pem)
{
    size_t n = strlen(pem);
    memcpy(buf + *off, pem, n);
    *off += n;
    if (n > 0 && pem[n - 1] != '\n')
        buf[(*off)++] = '\n';
}

int minica_pem_bundle_build(const char *key_pem, const char *cert_pem, const char *chain_pem,
                            char **out, size_t *len, struct minica_err *err)
{
    *out = NULL;
    *len = 0;
    if (key_pem == NULL || *key_pem == '\0' || cert_pem == NULL || *cert_pem == '\0')
        return minica_seterr(err, MINICA_EINVAL,
                             "a PEM bundle needs a certificate and its private key");
    if (chain_pem == NULL)
        chain_pem = "";
    size_t cap = strlen(cert_pem) + strlen(chain_pem) + strlen(key_pem) + 4;
    char *buf = malloc(cap);
    if (buf == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    size_t off = 0;
    /* haproxy finds the key anywhere in the file; leaf first is what it and
     * every other reader of such bundles expect for the certificate chain. */
    append(buf, &off, cert_pem);
    append(buf, &off, chain_pem);
    append(buf, &off, key_pem);
    buf[off] = '\0';
    *out = buf;
    *len = off;
    return MINICA_OK;
}

int minica_pem_bundle_stage(struct minica_staged_file *sf, const char *path, const char *key_pem,
                            const char *cert_pem, const char *chain_pem, mode_t mode,
                            const struct minica_file_owner *owner, struct minica_err *err)
{
    memset(sf, 0, sizeof(*sf));
    sf->dirfd = -1;
    if ((mode & 0137) != 0)
        return minica_seterr(err, MINICA_EINVAL,
                             "%s holds a private key: mode %04o is wider than 0640", path,
                             (unsigned)mode);
    char *buf = NULL;
    size_t len = 0;
    int ret = minica_pem_bundle_build(key_pem, cert_pem, chain_pem, &buf, &len, err);
    if (ret != 0)
        return ret;
    ret = minica_stage_file(sf, path, buf, len, mode, owner, err);
    minica_free_secret(buf, len);
    return ret;
}

int minica_pem_bundle_write(const char *path, const char *key_pem, const char *cert_pem,
                            const char *chain_pem, mode_t mode, struct minica_err *err)
{
    struct minica_staged_file sf;
    int ret = minica_pem_bundle_stage(&sf, path, key_pem, cert_pem, chain_pem, mode, NULL, err);
    if (ret == 0)
        ret = minica_staged_commit(&sf, 0, err);
    minica_staged_abort(&sf);
    return ret;
}
