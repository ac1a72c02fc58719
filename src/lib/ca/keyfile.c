/* The CA's key files, plain or encrypted as minica.conf's [keys] says:
 * reading one (for minica_ca_read_key), writing one (init, rotate,
 * rollover), and `minica ca encrypt-keys`. The format is pkcs8.c's, the
 * passphrase passphrase.c's; the trust rule for the files statedir.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include <mbedtls/platform_util.h>

#include "ca/ca_internal.h"
#include "ca/keyfile.h"
#include "ca/passphrase.h"
#include "ca/pkcs8.h"
#include "minica/fsutil.h"
#include "minica/lifecycle.h"

#define CONF_MAX (1024 * 1024)

/* [keys] of the state directory sd belongs to; a missing minica.conf
 * names no source. */
int minica_keyfile_keys_conf(struct minica_statedir *sd, struct minica_keys_conf *keys,
                             struct minica_err *err)
{
    char *text = NULL;
    char name[MINICA_PATH_MAX];
    memset(keys, 0, sizeof(*keys));
    int ret =
        minica_path_join(name, sizeof(name), minica_statedir_top_path(sd), "minica.conf", err);
    if (ret != 0)
        return ret;
    ret = minica_statedir_read_top(sd, "minica.conf", CONF_MAX, &text, NULL, err);
    if (ret == MINICA_ENOENT)
        return MINICA_OK;
    if (ret == 0)
        ret = minica_keys_conf_load_text(keys, name, text, err);
    free(text);
    return ret;
}

static int decrypt_with(const struct minica_passphrase *pass, const char *path, const char *pem,
                        mbedtls_pk_context *pk, struct minica_rng *rng, struct minica_err *err)
{
    int ret = minica_pkcs8_decrypt_pem(pem, pass->buf, pass->len, pk, rng, err);
    if (ret == MINICA_EFORBIDDEN)
        ret = minica_seterr(err, MINICA_EFORBIDDEN,
                            "wrong passphrase for %s (from %s), or the file is damaged", path,
                            pass->source);
    else if (ret != 0)
        minica_err_prefix(err, "%s", path);
    return ret;
}

static int decrypt(const struct minica_keys_conf *keys, const char *path, const char *pem,
                   mbedtls_pk_context *pk, struct minica_rng *rng, struct minica_err *err)
{
    struct minica_passphrase pass;
    int ret = minica_passphrase_read(keys, &pass, err);
    if (ret == 0)
        ret = decrypt_with(&pass, path, pem, pk, rng, err);
    minica_passphrase_wipe(&pass);
    return ret;
}

int minica_keyfile_parse(struct minica_statedir *sd, const char *base, const char *pem, size_t len,
                         mbedtls_pk_context *pk, struct minica_rng *rng, struct minica_err *err)
{
    char path[MINICA_PATH_MAX];
    int ret = minica_path_join(path, sizeof(path), sd->path, base, err);
    if (ret != 0)
        return ret;
    if (!minica_pkcs8_is_encrypted(pem)) {
        /* Plain keys stay readable with [keys] set: `ca encrypt-keys`
         * is how a CA moves over. */
        ret = minica_key_parse_pem(pk, pem, len, rng, err);
        if (ret != 0)
            minica_err_prefix(err, "%s", path);
        return ret;
    }
    struct minica_keys_conf keys;
    if ((ret = minica_keyfile_keys_conf(sd, &keys, err)) != 0)
        return ret;
    if (!minica_keys_conf_is_set(&keys))
        return minica_seterr(err, MINICA_EINVAL,
                             "%s is encrypted: set [keys] passphrase_file or passphrase_credential "
                             "in %s/minica.conf",
                             path, minica_statedir_top_path(sd));
    return decrypt(&keys, path, pem, pk, rng, err);
}

static int encrypt_with(const struct minica_passphrase *pass, mbedtls_pk_context *pk,
                        struct minica_rng *rng, char **pem, size_t *len, struct minica_err *err)
{
    return minica_pkcs8_encrypt_pem(pk, pass->buf, pass->len, 0, rng, pem, len, err);
}

int minica_keyfile_pem(const struct minica_keys_conf *keys, mbedtls_pk_context *pk,
                       struct minica_rng *rng, char **pem, size_t *len, struct minica_err *err)
{
    if (!minica_keys_conf_is_set(keys))
        return minica_key_to_pem(pk, pem, len, err);
    struct minica_passphrase pass;
    int ret = minica_passphrase_read(keys, &pass, err);
    if (ret == 0)
        ret = encrypt_with(&pass, pk, rng, pem, len, err);
    minica_passphrase_wipe(&pass);
    return ret;
}

int minica_ca_key_to_pem(struct minica_ca *ca, mbedtls_pk_context *pk, char **pem, size_t *len,
                         struct minica_err *err)
{
    return minica_keyfile_pem(&ca->policy.keys, pk, &ca->rng, pem, len, err);
}

/* `minica ca encrypt-keys`: everything is read, encrypted and checked
 * first, and written only when every file passed, so that a refusal
 * leaves the directory as it was. */
struct pending {
    char rel[160]; /* under the state directory, for the atomic write */
    char *pem;     /* the encrypted PEM; NULL: already encrypted */
    size_t pem_len;
};

struct job {
    struct minica_statedir *top;
    const struct minica_passphrase *pass;
    struct minica_rng *rng;
    struct pending *p;
    size_t n, cap;
    struct minica_err *err;
};

/* One directory's files: where, named prefix ("", "ca/", "ca/retired/")
 * from the state directory. */
struct scan_dir {
    struct job *j;
    struct minica_statedir *where;
    const char *prefix;
};

static int add_file(const struct scan_dir *d, const char *name)
{
    struct job *j = d->j;
    struct minica_err *err = j->err;
    char *pem = NULL, path[MINICA_PATH_MAX];
    size_t len = 0;
    int ret = minica_statedir_read(d->where, name, 64 * 1024, &pem, &len, err);
    if (ret == MINICA_ENOENT)
        return MINICA_OK; /* an offline root.key, say */
    if (ret != 0)
        return ret;
    if (j->n == j->cap) {
        size_t ncap = j->cap ? j->cap * 2 : 8;
        struct pending *np = realloc(j->p, ncap * sizeof(*np));
        if (np == NULL) {
            minica_free_secret(pem, len + 1);
            return minica_seterr(err, MINICA_ENOMEM, "out of memory");
        }
        j->p = np;
        j->cap = ncap;
    }
    struct pending *p = &j->p[j->n];
    memset(p, 0, sizeof(*p));
    snprintf(p->rel, sizeof(p->rel), "%s%s", d->prefix, name);
    minica_path_join(path, sizeof(path), d->where->path, name, NULL);
    mbedtls_pk_context pk, back;
    mbedtls_pk_init(&pk);
    mbedtls_pk_init(&back);
    if (minica_pkcs8_is_encrypted(pem)) {
        /* Another passphrase's file would be lost to this CA. */
        ret = decrypt_with(j->pass, path, pem, &pk, j->rng, err);
        j->n++;
        goto out;
    }
    if ((ret = minica_key_parse_pem(&pk, pem, len, j->rng, err)) != 0) {
        minica_err_prefix(err, "%s", path);
        goto out;
    }
    /* What is written must open again, or the CA loses its key. */
    if ((ret = encrypt_with(j->pass, &pk, j->rng, &p->pem, &p->pem_len, err)) != 0 ||
        (ret = minica_pkcs8_decrypt_pem(p->pem, j->pass->buf, j->pass->len, &back, j->rng, err)) !=
            0)
        goto out;
    if (!minica_pk_same_public(&pk, &back)) {
        ret = minica_seterr(err, MINICA_ECRYPTO, "%s: the encrypted copy does not read back", path);
        goto out;
    }
    j->n++;
out:
    if (ret != 0) {
        minica_free_secret(p->pem, p->pem_len);
        p->pem = NULL;
    }
    mbedtls_pk_free(&pk);
    mbedtls_pk_free(&back);
    minica_free_secret(pem, len + 1);
    return ret;
}

static int scan_cb(const char *name, void *ctx)
{
    size_t len = strlen(name);
    if (len <= 4 || strcmp(name + len - 4, ".key") != 0)
        return 0;
    return add_file(ctx, name);
}

/* ca/ and ca/retired hold only CA keys (hierarchy.c holds every .key there
 * to the rule for keys); at the top, only the two active ones are the CA's
 * (serve.key and acme-eab.key are not). */
static int collect(struct job *j)
{
    struct scan_dir top = {j, j->top, ""};
    int ret = add_file(&top, "root.key");
    if (ret == 0)
        ret = add_file(&top, "intermediate.key");
    if (ret != 0)
        return ret;
    struct minica_statedir ca, retired;
    ret = minica_statedir_open_sub(&ca, j->top, MINICA_CA_ARCHIVE, j->err);
    if (ret == MINICA_ENOENT)
        return MINICA_OK;
    if (ret != 0)
        return ret;
    struct scan_dir in_ca = {j, &ca, MINICA_CA_ARCHIVE "/"};
    ret = minica_statedir_list(&ca, scan_cb, &in_ca, j->err);
    if (ret == 0) {
        ret = minica_statedir_open_sub(&retired, &ca, "retired", j->err);
        if (ret == 0) {
            struct scan_dir in_retired = {j, &retired, MINICA_CA_ARCHIVE "/retired/"};
            ret = minica_statedir_list(&retired, scan_cb, &in_retired, j->err);
            minica_statedir_close(&retired);
        } else if (ret == MINICA_ENOENT) {
            ret = MINICA_OK;
        }
    }
    minica_statedir_close(&ca);
    return ret;
}

int minica_ca_encrypt_keys(const char *dir, struct minica_encrypt_keys_result *out,
                           struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    struct minica_statedir sd;
    struct minica_keys_conf keys;
    struct minica_passphrase pass;
    struct minica_rng rng;
    struct job j;
    memset(&j, 0, sizeof(j));
    memset(&pass, 0, sizeof(pass));
    int ret = minica_rng_init(&rng, err);
    if (ret != 0)
        return ret;
    if ((ret = minica_statedir_open(&sd, dir, err)) != 0)
        goto out_rng;
    /* The lifecycle steps' lock (rotate.c): none of them rewrites a key
     * file under us. */
    if (flock(sd.fd, LOCK_EX) != 0) {
        ret = minica_seterr(err, MINICA_EIO, "cannot lock %s: %s", dir, strerror(errno));
        goto out;
    }
    if ((ret = minica_keyfile_keys_conf(&sd, &keys, err)) != 0)
        goto out;
    if (!minica_keys_conf_is_set(&keys)) {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "no passphrase source: set [keys] passphrase_file or "
                            "passphrase_credential in %s/minica.conf first",
                            dir);
        goto out;
    }
    if ((ret = minica_passphrase_read(&keys, &pass, err)) != 0)
        goto out;
    j.top = &sd;
    j.pass = &pass;
    j.rng = &rng;
    j.err = err;
    if ((ret = collect(&j)) != 0)
        goto out;
    for (size_t i = 0; i < j.n; i++) {
        char path[MINICA_PATH_MAX];
        if (j.p[i].pem == NULL) {
            out->already++;
            continue;
        }
        if ((ret = minica_path_join(path, sizeof(path), sd.real, j.p[i].rel, err)) != 0 ||
            (ret = minica_write_file_atomic(path, j.p[i].pem, j.p[i].pem_len, 0600, 0, err)) != 0)
            goto out;
        out->encrypted++;
    }
out:
    for (size_t i = 0; i < j.n; i++)
        minica_free_secret(j.p[i].pem, j.p[i].pem_len);
    free(j.p);
    minica_passphrase_wipe(&pass);
    minica_statedir_close(&sd); /* drops the lock */
out_rng:
    minica_rng_free(&rng);
    return ret;
}
