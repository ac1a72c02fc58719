/* Reads the CA certificates of a state directory (the active files at the
 * top, the archive in ca/, what was retired in ca/retired) into one list,
 * and works out which issues and what relying parties trust. Issuers are
 * matched by name: minica gives every CA certificate it makes its own
 * subject, except a cross-certificate, which is its root's subject on
 * purpose. The files were all checked by the state directory's rule. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca/ca_internal.h"
#include "ca/hierarchy.h"
#include "ca/pkcs8.h"
#include "ca/keyfile.h"
#include "ca/keytoken.h"
#include "ca/pkcs11.h"
#include "minica/fsutil.h"

#define CA_FILE_MAX (64 * 1024)

const char *minica_ca_role_name(enum minica_ca_role role)
{
    switch (role) {
    case MINICA_CA_ROOT:
        return "root";
    case MINICA_CA_CROSS:
        return "cross";
    case MINICA_CA_INTERMEDIATE:
        return "intermediate";
    }
    return "?";
}

void minica_hierarchy_free(struct minica_hierarchy *h)
{
    for (size_t i = 0; i < h->n; i++) {
        mbedtls_x509_crt_free(&h->e[i].crt);
        free(h->e[i].pem);
    }
    free(h->e);
    free(h->info);
    free(h->chain_pem);
    free(h->roots_pem);
    memset(h, 0, sizeof(*h));
}

static int find_fp(const struct minica_hierarchy *h, const char *fp)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->e[i].fp, fp) == 0)
            return (int)i;
    return -1;
}

/* Adds each certificate of pem (one, or root.crt's several) as role. */
static int add_pem(struct minica_hierarchy *h, const char *pem, enum minica_ca_role role,
                   const char *file, int retired, struct minica_err *err)
{
    mbedtls_x509_crt list;
    mbedtls_x509_crt_init(&list);
    int ret = minica_crt_parse_pem(&list, pem, err);
    if (ret != 0) {
        minica_err_prefix(err, "%s", file);
        goto out;
    }
    for (const mbedtls_x509_crt *c = &list; c != NULL && c->raw.len > 0; c = c->next) {
        char fp[65];
        minica_sha256_hex(c->raw.p, c->raw.len, fp);
        if (find_fp(h, fp) >= 0)
            continue; /* the active copy of an archived certificate */
        if (h->n == h->cap) {
            size_t ncap = h->cap ? h->cap * 2 : 8;
            struct minica_hier_entry *e = realloc(h->e, ncap * sizeof(*e));
            if (e == NULL) {
                ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
                goto out;
            }
            h->e = e;
            h->cap = ncap;
        }
        struct minica_hier_entry *e = &h->e[h->n];
        memset(e, 0, sizeof(*e));
        mbedtls_x509_crt_init(&e->crt);
        if ((ret = minica_crt_parse_der(&e->crt, c->raw.p, c->raw.len, err)) != 0 ||
            (ret = minica_der_to_pem(c->raw.p, c->raw.len, "CERTIFICATE", &e->pem, err)) != 0) {
            mbedtls_x509_crt_free(&e->crt);
            goto out;
        }
        e->role = role;
        e->retired = retired;
        snprintf(e->file, sizeof(e->file), "%s", file);
        memcpy(e->fp, fp, sizeof(fp));
        h->n++;
    }
out:
    mbedtls_x509_crt_free(&list);
    return ret;
}

static int read_add(struct minica_hierarchy *h, struct minica_statedir *sd, const char *base,
                    const char *file, enum minica_ca_role role, int retired, struct minica_err *err)
{
    char *pem = NULL;
    int ret = minica_statedir_read(sd, base, CA_FILE_MAX, &pem, NULL, err);
    if (ret == 0)
        ret = add_pem(h, pem, role, file, retired, err);
    free(pem);
    return ret;
}

static int role_of_name(const char *name, enum minica_ca_role *role)
{
    size_t len = strlen(name);
    if (len < 5 || strcmp(name + len - 4, ".crt") != 0)
        return 0;
    if (strncmp(name, "root-", 5) == 0)
        *role = MINICA_CA_ROOT;
    else if (strncmp(name, "cross-", 6) == 0)
        *role = MINICA_CA_CROSS;
    else if (strncmp(name, "intermediate-", 13) == 0)
        *role = MINICA_CA_INTERMEDIATE;
    else
        return 0;
    return 1;
}

struct scan {
    struct minica_hierarchy *h;
    struct minica_statedir *sd;
    const char *prefix;
    int retired;
    struct minica_err *err;
};

/* A key in the archive is held to the rule for keys even when nothing
 * reads it now: it is still a CA key others could read (or swap). */
static int check_archived_key(struct scan *s, const char *name)
{
    char path[MINICA_PATH_MAX];
    struct stat st;
    if (minica_path_join(path, sizeof(path), s->sd->path, name, s->err) != 0)
        return MINICA_EINVAL;
    if (fstatat(s->sd->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return minica_seterr(s->err, MINICA_EIO, "cannot check %s: %s", path, strerror(errno));
    if (S_ISLNK(st.st_mode))
        return minica_seterr(s->err, MINICA_EIO,
                             "%s is a symbolic link; the state directory holds only its own files",
                             path);
    return minica_statedir_check_stat(path, &st, MINICA_STATEDIR_KEY, s->err);
}

static int scan_entry(const char *name, void *ctx)
{
    struct scan *s = ctx;
    enum minica_ca_role role;
    size_t len = strlen(name);
    if (len > 4 && strcmp(name + len - 4, ".key") == 0)
        return check_archived_key(s, name);
    if (!role_of_name(name, &role))
        return 0;
    char file[128];
    snprintf(file, sizeof(file), "%s%s", s->prefix, name);
    return read_add(s->h, s->sd, name, file, role, s->retired, s->err);
}

/* Retired first, so that a certificate also found elsewhere stays retired. */
static int scan_archive(struct minica_hierarchy *h, struct minica_statedir *top,
                        struct minica_err *err)
{
    struct minica_statedir ca, retired;
    int ret = minica_statedir_open_sub(&ca, top, MINICA_CA_ARCHIVE, err);
    if (ret == MINICA_ENOENT)
        return MINICA_OK;
    if (ret != 0)
        return ret;
    ret = minica_statedir_open_sub(&retired, &ca, "retired", err);
    if (ret == 0) {
        struct scan s = {h, &retired, MINICA_CA_ARCHIVE "/retired/", 1, err};
        ret = minica_statedir_list(&retired, scan_entry, &s, err);
        minica_statedir_close(&retired);
    } else if (ret == MINICA_ENOENT) {
        ret = MINICA_OK;
    }
    if (ret == 0) {
        struct scan s = {h, &ca, MINICA_CA_ARCHIVE "/", 0, err};
        ret = minica_statedir_list(&ca, scan_entry, &s, err);
    }
    minica_statedir_close(&ca);
    return ret;
}

static int same_name(const mbedtls_x509_buf *a, const mbedtls_x509_buf *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* The root whose subject issued c: a current one before a retired one. */
static int issuing_root(const struct minica_hierarchy *h, const mbedtls_x509_crt *c)
{
    int found = -1;
    for (size_t i = 0; i < h->n; i++) {
        const struct minica_hier_entry *r = &h->e[i];
        if (r->role != MINICA_CA_ROOT || !same_name(&r->crt.subject_raw, &c->issuer_raw))
            continue;
        if (!r->retired)
            return (int)i;
        if (found < 0)
            found = (int)i;
    }
    return found;
}

static int by_role_then_age(const void *pa, const void *pb)
{
    const struct minica_hier_entry *a = pa, *b = pb;
    if (a->role != b->role)
        return (int)a->role - (int)b->role;
    int64_t ta = minica_x509_time_to_unix(&a->crt.valid_from);
    int64_t tb = minica_x509_time_to_unix(&b->crt.valid_from);
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return strcmp(a->fp, b->fp);
}

static int append(char **buf, const char *pem, struct minica_err *err)
{
    size_t have = *buf ? strlen(*buf) : 0, add = strlen(pem);
    char *n = realloc(*buf, have + add + 1);
    if (n == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    memcpy(n + have, pem, add + 1);
    *buf = n;
    return MINICA_OK;
}

/* A cross-certificate that travels with the chains of root's intermediates:
 * the root's key certified by an older root, during a rollover. */
static int is_cross_of(const struct minica_hier_entry *e, const struct minica_hier_entry *root)
{
    return e->role == MINICA_CA_CROSS && !e->retired &&
           same_name(&e->crt.subject_raw, &root->crt.subject_raw) &&
           minica_pk_same_public(&e->crt.pk, &root->crt.pk);
}

int minica_hierarchy_chain_of(const struct minica_hierarchy *h, size_t i, char **out,
                              struct minica_err *err)
{
    *out = NULL;
    const struct minica_hier_entry *ie = &h->e[i];
    int ret = append(out, ie->pem, err);
    const struct minica_hier_entry *root = ie->issuer >= 0 ? &h->e[ie->issuer] : NULL;
    for (size_t k = 0; ret == 0 && root != NULL && k < h->n; k++)
        if (is_cross_of(&h->e[k], root))
            ret = append(out, h->e[k].pem, err);
    if (ret != 0) {
        free(*out);
        *out = NULL;
    }
    return ret;
}

static void key_file_of(const struct minica_hier_entry *e, char *out, size_t outlen);

/* What `ca status` says of the key. A mode others can read is named: the
 * key is refused until it is narrowed (minica_statedir_read). */
static void key_where(const struct minica_hier_entry *e, const struct minica_keys_conf *keys,
                      char *out, size_t outlen)
{
    char file[160];
    if (e->role == MINICA_CA_CROSS) {
        snprintf(out, outlen, "its root's");
        return;
    }
    /* Which URI is the key is known only in the token; the active one is
     * the first line (ca rotate writes it there). No PIN is shown. */
    if (e->in_token) {
        const char *uri = e->role == MINICA_CA_ROOT ? keys->root : keys->intermediate[0];
        if (e->role == MINICA_CA_ROOT || keys->n_intermediate == 1 || e->active)
            minica_pkcs11_uri_redact(uri, out, outlen, NULL);
        else
            snprintf(out, outlen, "pkcs11 (one of the %zu [keys] intermediate URIs)",
                     keys->n_intermediate);
        return;
    }
    if (!e->has_key) {
        snprintf(out, outlen, "offline (not in this state directory)");
        return;
    }
    key_file_of(e, file, sizeof(file));
    snprintf(out, outlen, "%sfile %s (%04o%s)", e->key_encrypted ? "encrypted " : "", file,
             e->key_mode, (e->key_mode & 077) != 0 ? ": refused, group or others may read it" : "");
}

static void describe(struct minica_hierarchy *h, size_t i, const struct minica_keys_conf *keys,
                     struct minica_ca_cert *out)
{
    const struct minica_hier_entry *e = &h->e[i];
    memset(out, 0, sizeof(*out));
    out->role = e->role;
    out->active = e->active;
    out->retired = e->retired;
    out->has_key = e->has_key;
    snprintf(out->file, sizeof(out->file), "%s", e->file);
    key_where(e, keys, out->key_where, sizeof(out->key_where));
    minica_serial_to_hex(e->crt.serial.p, e->crt.serial.len, out->serial, sizeof(out->serial));
    memcpy(out->fingerprint, e->fp, sizeof(out->fingerprint));
    if (e->issuer >= 0)
        memcpy(out->issuer_fingerprint, h->e[e->issuer].fp, sizeof(out->issuer_fingerprint));
    mbedtls_x509_dn_gets(out->subject, sizeof(out->subject), &e->crt.subject);
    mbedtls_x509_dn_gets(out->issuer, sizeof(out->issuer), &e->crt.issuer);
    enum minica_key_type type;
    snprintf(out->key_type, sizeof(out->key_type), "%s",
             minica_key_type_of(&e->crt.pk, &type) == 0 ? minica_key_type_name(type) : "unknown");
    out->not_before = minica_x509_time_to_unix(&e->crt.valid_from);
    out->not_after = minica_x509_time_to_unix(&e->crt.valid_to);
    if (e->role == MINICA_CA_INTERMEDIATE)
        minica_crt_name_constraints(&e->crt, &out->nc, NULL);
}

/* The key file that goes with entry i: beside its archived certificate, or
 * the active one at the top (a state directory from before ca/ existed). */
static void key_file_of(const struct minica_hier_entry *e, char *out, size_t outlen)
{
    size_t len = strlen(e->file);
    if (strchr(e->file, '/') != NULL && len > 4)
        snprintf(out, outlen, "%.*s.key", (int)(len - 4), e->file);
    else
        snprintf(out, outlen, "%s", e->role == MINICA_CA_ROOT ? "root.key" : "intermediate.key");
}

/* Whether DIR/file exists, its mode, and whether its PEM label says it
 * is encrypted: the label only, for `ca status`; nothing is decrypted. */
static int key_exists(struct minica_statedir *sd, const char *file, unsigned *mode, int *encrypted)
{
    char path[MINICA_PATH_MAX], head[64];
    struct stat st;
    *mode = 0;
    *encrypted = 0;
    if (minica_path_join(path, sizeof(path), sd->real, file, NULL) != 0 ||
        !minica_file_exists(path))
        return 0;
    if (stat(path, &st) == 0)
        *mode = (unsigned)st.st_mode & 07777;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) {
        ssize_t n = read(fd, head, sizeof(head) - 1);
        close(fd);
        if (n > 0) {
            head[n] = '\0';
            *encrypted = strstr(head, "-----BEGIN " MINICA_PKCS8_PEM_LABEL "-----") != NULL;
        }
    }
    return 1;
}

int minica_hierarchy_load(struct minica_hierarchy *h, struct minica_statedir *sd,
                          struct minica_err *err)
{
    memset(h, 0, sizeof(*h));
    h->active_int = h->active_root = -1;
    char *active_pem = NULL;
    int ret = minica_statedir_read(sd, "intermediate.crt", CA_FILE_MAX, &active_pem, NULL, err);
    if (ret == MINICA_ENOENT)
        ret = minica_seterr(err, MINICA_ENOENT,
                            "no CA in %s (intermediate.crt is missing); create one with: minica "
                            "init --dir %s",
                            sd->path, sd->path);
    if (ret != 0)
        return ret;
    mbedtls_x509_crt active;
    mbedtls_x509_crt_init(&active);
    char active_fp[65] = "";
    struct minica_keys_conf *keys = NULL;
    if ((ret = minica_crt_parse_pem_first(&active, active_pem, err)) != 0) {
        minica_err_prefix(err, "%s/intermediate.crt", sd->path);
        goto out;
    }
    minica_sha256_hex(active.raw.p, active.raw.len, active_fp);

    if ((keys = calloc(1, sizeof(*keys))) == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    if ((ret = minica_keyfile_keys_conf(sd, keys, err)) != 0 ||
        (ret = scan_archive(h, sd, err)) != 0 ||
        (ret = read_add(h, sd, "root.crt", "root.crt", MINICA_CA_ROOT, 0, err)) != 0 ||
        (ret = add_pem(h, active_pem, MINICA_CA_INTERMEDIATE, "intermediate.crt", 0, err)) != 0) {
        if (ret == MINICA_ENOENT)
            ret = minica_seterr(err, MINICA_ENOENT,
                                "no CA in %s (root.crt is missing); create one with: minica init "
                                "--dir %s",
                                sd->path, sd->path);
        goto out;
    }
    qsort(h->e, h->n, sizeof(h->e[0]), by_role_then_age);

    h->active_int = find_fp(h, active_fp);
    struct minica_hier_entry *ai = &h->e[h->active_int];
    if (ai->retired) {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "%s/intermediate.crt is a retired intermediate; restore the active "
                            "one from %s/" MINICA_CA_ARCHIVE,
                            sd->path, sd->path);
        goto out;
    }
    for (size_t i = 0; i < h->n; i++) {
        struct minica_hier_entry *e = &h->e[i];
        e->issuer = e->role == MINICA_CA_ROOT ? (int)i : issuing_root(h, &e->crt);
        char key[160];
        key_file_of(e, key, sizeof(key));
        e->has_key = key_exists(sd, key, &e->key_mode, &e->key_encrypted);
        /* No key file: the token's, when [keys] names one of its role. */
        if (!e->has_key && minica_keytoken_count(keys, e->role) > 0)
            e->in_token = e->has_key = 1;
    }
    h->active_root = ai->issuer;
    if (h->active_root < 0) {
        ret = minica_seterr(
            err, MINICA_EINVAL,
            "%s/intermediate.crt is not signed by any root in %s (root.crt, " MINICA_CA_ARCHIVE
            "/)",
            sd->path, sd->path);
        goto out;
    }
    struct minica_hier_entry *ar = &h->e[h->active_root];
    ai->active = ar->active = 1;
    if ((ret = minica_hierarchy_chain_of(h, (size_t)h->active_int, &h->chain_pem, err)) != 0)
        goto out;
    /* The cross-certificate of the issuing root travels with the chain. */
    for (size_t i = 0; i < h->n; i++)
        if (is_cross_of(&h->e[i], ar))
            h->e[i].active = 1;
    if ((h->info = calloc(h->n, sizeof(*h->info))) == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < h->n; i++)
        describe(h, i, keys, &h->info[i]);
out:
    free(keys);
    mbedtls_x509_crt_free(&active);
    free(active_pem);
    if (ret != 0)
        minica_hierarchy_free(h);
    return ret;
}

struct stats_ctx {
    struct minica_hierarchy *h;
};

static int apply_stats(const struct minica_issuer_stats *row, void *ctx)
{
    struct minica_hierarchy *h = ((struct stats_ctx *)ctx)->h;
    int i = find_fp(h, row->issuer_fingerprint_sha256);
    if (i >= 0) {
        h->info[i].leaves_unexpired = row->unexpired;
        h->info[i].leaves_revoked = row->unexpired_revoked;
        h->info[i].last_leaf_not_after = row->last_not_after;
    }
    return 0;
}

static int apply_revocation(const struct minica_ca_revocation *row, void *ctx)
{
    struct minica_hierarchy *h = ((struct stats_ctx *)ctx)->h;
    int i = find_fp(h, row->fingerprint_sha256);
    if (i >= 0) {
        h->info[i].revoked = 1;
        h->info[i].revoked_at = row->revoked_at;
        h->info[i].revoke_reason = row->reason;
    }
    return 0;
}

/* Material a rotation or rollover wrote into ca/ before a crash stopped it
 * short of its switch: newer than what is active, never active (no leaf
 * ever came from it). It is not trusted or sent; the step can be run again,
 * or the material retired. An intermediate with leaves was active once
 * (the previous one copied back, say): it stays current. */
static void mark_staged(struct minica_hierarchy *h)
{
    const struct minica_ca_cert *ai = &h->info[h->active_int], *ar = &h->info[h->active_root];
    for (size_t i = 0; i < h->n; i++) {
        struct minica_ca_cert *c = &h->info[i];
        if (c->role == MINICA_CA_INTERMEDIATE && !c->active && !c->retired &&
            c->not_before > ai->not_before && c->leaves_unexpired == 0)
            c->staged = 1;
    }
    for (size_t i = 0; i < h->n; i++) {
        struct minica_ca_cert *r = &h->info[i];
        if (r->role != MINICA_CA_ROOT || r->active || r->retired || r->not_before <= ar->not_before)
            continue;
        int current_below = 0;
        for (size_t j = 0; j < h->n; j++)
            if (h->info[j].role == MINICA_CA_INTERMEDIATE && !h->info[j].retired &&
                !h->info[j].staged && h->e[j].issuer == (int)i)
                current_below = 1;
        r->staged = !current_below;
    }
    for (size_t i = 0; i < h->n; i++) {
        struct minica_ca_cert *x = &h->info[i];
        if (x->role != MINICA_CA_CROSS || x->active || x->retired)
            continue;
        for (size_t j = 0; j < h->n; j++)
            if (h->info[j].staged && h->info[j].role == MINICA_CA_ROOT &&
                same_name(&h->e[j].crt.subject_raw, &h->e[i].crt.subject_raw))
                x->staged = 1;
    }
}

int minica_hierarchy_apply_store(struct minica_hierarchy *h, struct minica_store *store,
                                 int64_t now, struct minica_err *err)
{
    struct stats_ctx ctx = {h};
    int ret = minica_store_issuer_stats(store, now, apply_stats, &ctx, err);
    if (ret == 0)
        ret = minica_store_list_ca_revocations(store, apply_revocation, &ctx, err);
    if (ret != 0)
        return ret;
    mark_staged(h);
    /* The trust bundle: the issuing root first, then every other current one. */
    free(h->roots_pem);
    h->roots_pem = NULL;
    if ((ret = append(&h->roots_pem, h->e[h->active_root].pem, err)) != 0)
        return ret;
    for (size_t i = 0; i < h->n; i++) {
        const struct minica_ca_cert *c = &h->info[i];
        if (c->role == MINICA_CA_ROOT && !c->active && !c->retired && !c->staged &&
            (ret = append(&h->roots_pem, h->e[i].pem, err)) != 0)
            return ret;
    }
    return MINICA_OK;
}

int minica_hierarchy_find_serial(const struct minica_hierarchy *h, const char *serial)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->info[i].serial, serial) == 0)
            return (int)i;
    return -1;
}

int minica_hierarchy_load_key(const struct minica_hierarchy *h, size_t i,
                              struct minica_statedir *sd, mbedtls_pk_context *pk, char *file_out,
                              size_t file_out_len, struct minica_rng *rng, struct minica_err *err)
{
    const struct minica_hier_entry *e = &h->e[i];
    char file[160];
    /* The active ones are read at the top first: that is where a state
     * directory from before ca/ existed has them, and after a crash in a
     * rotation the top file may still hold the previous key. */
    const char *top = e->role == MINICA_CA_ROOT ? "root.key" : "intermediate.key";
    int ret = MINICA_ENOENT;
    if (e->active) {
        ret = minica_ca_read_key(sd, top, pk, rng, err);
        if (ret == 0 && minica_pk_same_public(&e->crt.pk, pk)) {
            if (file_out != NULL)
                snprintf(file_out, file_out_len, "%s", top);
            return MINICA_OK;
        }
        mbedtls_pk_free(pk);
        mbedtls_pk_init(pk);
        if (ret != 0 && ret != MINICA_ENOENT)
            return ret;
    }
    int top_missing = e->active && ret == MINICA_ENOENT;
    key_file_of(e, file, sizeof(file));
    if (strchr(file, '/') == NULL) {
        if (ret == MINICA_ENOENT)
            return minica_seterr(err, MINICA_ENOENT, "%s/%s is missing", sd->path, file);
        return minica_seterr(err, MINICA_ECRYPTO, "%s/%s does not match %s", sd->path, file,
                             e->file);
    }
    struct minica_statedir sub;
    char dirpart[160];
    snprintf(dirpart, sizeof(dirpart), "%s", file);
    char *slash = strrchr(dirpart, '/');
    *slash = '\0';
    struct minica_statedir ca, *where = &ca;
    if ((ret = minica_statedir_open_sub(&ca, sd, MINICA_CA_ARCHIVE, err)) != 0)
        return ret;
    if (strcmp(dirpart, MINICA_CA_ARCHIVE) != 0) {
        ret = minica_statedir_open_sub(&sub, &ca, "retired", err);
        if (ret != 0) {
            minica_statedir_close(&ca);
            return ret;
        }
        where = &sub;
    }
    ret = minica_ca_read_key(where, slash + 1, pk, rng, err);
    if (ret == MINICA_ENOENT && top_missing)
        ret = minica_seterr(err, MINICA_ENOENT, "%s/%s and %s/%s are missing", sd->path, top,
                            sd->path, file);
    else if (ret == MINICA_ENOENT)
        ret = minica_seterr(err, MINICA_ENOENT, "%s/%s is missing", sd->path, file);
    else if (ret == 0 && !minica_pk_same_public(&e->crt.pk, pk))
        ret =
            minica_seterr(err, MINICA_ECRYPTO, "%s/%s does not match %s", sd->path, file, e->file);
    else if (ret == 0 && file_out != NULL)
        snprintf(file_out, file_out_len, "%s", file);
    if (where != &ca)
        minica_statedir_close(&sub);
    minica_statedir_close(&ca);
    return ret;
}
