/* The renewal agent's work: what is on disk (inspect), whether to renew
 * (decide, pure), and the replace/check/reload/rollback cycle with NAME.prev
 * files, the run lock and the status file. Parsing agent.conf is
 * agent_config.c; talking to a CA is the issuer's job (issuer.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "base/command.h"
#include "ca/x509.h"
#include "minica/remote.h"
#include "minica/agent.h"
#include "minica/der.h"
#include "minica/duration.h"
#include "minica/pembundle.h"

#define CERT_FILE_MAX (256 * 1024)

/* ---- reading what is on disk ---- */

static int read_optional(const char *path, char **buf, struct minica_agent_facts *f)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) {
            if (!f->missing && !f->unreadable)
                snprintf(f->problem, sizeof(f->problem), "%s does not exist", path);
            f->missing = 1;
        } else {
            if (!f->missing && !f->unreadable)
                snprintf(f->problem, sizeof(f->problem), "cannot read %s: %s", path,
                         strerror(errno));
            f->unreadable = 1;
        }
        return -1;
    }
    struct minica_err err;
    if (minica_read_file(path, CERT_FILE_MAX, buf, NULL, &err) != 0) {
        if (!f->missing && !f->unreadable)
            snprintf(f->problem, sizeof(f->problem), "%s", err.msg);
        f->unreadable = 1;
        return -1;
    }
    return 0;
}

static void unreadable(struct minica_agent_facts *f, const char *path, const char *what)
{
    if (!f->missing && !f->unreadable)
        snprintf(f->problem, sizeof(f->problem), "%s %s", path, what);
    f->unreadable = 1;
}

/* subjectAltName of a parsed certificate, canonical and comma-separated. */
static int leaf_sans(const mbedtls_x509_crt *crt, char *out, size_t outlen, struct minica_err *err)
{
    out[0] = '\0';
    if (crt->v3_ext.p == NULL || crt->v3_ext.len == 0)
        return MINICA_OK;
    return minica_der_find_san(crt->v3_ext.p, crt->v3_ext.len, out, outlen, err);
}

static enum minica_usage leaf_usage(const mbedtls_x509_crt *crt)
{
    int server = mbedtls_x509_crt_check_extended_key_usage(
                     crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) == 0;
    int client = mbedtls_x509_crt_check_extended_key_usage(
                     crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) == 0;
    if (server && client)
        return MINICA_USAGE_BOTH;
    return client ? MINICA_USAGE_CLIENT : MINICA_USAGE_SERVER;
}

static int same_der(const mbedtls_x509_crt *a, const mbedtls_x509_crt *b)
{
    return a != NULL && b != NULL && a->raw.len == b->raw.len &&
           memcmp(a->raw.p, b->raw.p, a->raw.len) == 0;
}

/* Through minica_crt_parse_pem: a name-constrained intermediate in a
 * fullchain file must parse (plain mbedtls_x509_crt_parse refuses it). */
static int parse_pem_chain(mbedtls_x509_crt *crt, const char *pem)
{
    return minica_crt_parse_pem(crt, pem, NULL);
}

int minica_agent_inspect(struct minica_issuer *issuer, const struct minica_agent_cert *cert,
                         struct minica_agent_facts *facts, struct minica_err *err)
{
    memset(facts, 0, sizeof(*facts));
    facts->files_agree = 1;
    char *key = NULL, *leaf_file = NULL, *fullchain = NULL, *ca = NULL;
    size_t key_len = 0;
    mbedtls_x509_crt leaf, chain, cafile, want;
    mbedtls_x509_crt_init(&leaf);
    mbedtls_x509_crt_init(&chain);
    mbedtls_x509_crt_init(&cafile);
    mbedtls_x509_crt_init(&want);
    int ret = MINICA_OK;
    char *bundle = NULL;
    mbedtls_x509_crt bundle_leaf;
    mbedtls_x509_crt_init(&bundle_leaf);
    /* A pem_bundle without key/fullchain is both (haproxy): judge it as such.
     * Next to them, it must hold the same leaf. */
    struct minica_agent_cert *alone = NULL;
    if (cert->hooks.pem_bundle[0] != '\0' &&
        (cert->key[0] == '\0' || (cert->fullchain[0] == '\0' && cert->cert[0] == '\0'))) {
        if ((alone = malloc(sizeof(*alone))) == NULL)
            return minica_seterr(err, MINICA_ENOMEM, "out of memory");
        *alone = *cert;
        if (alone->key[0] == '\0')
            memcpy(alone->key, cert->hooks.pem_bundle, sizeof(alone->key));
        if (alone->fullchain[0] == '\0' && alone->cert[0] == '\0')
            memcpy(alone->fullchain, cert->hooks.pem_bundle, sizeof(alone->fullchain));
        cert = alone;
    } else if (cert->hooks.pem_bundle[0] != '\0') {
        read_optional(cert->hooks.pem_bundle, &bundle, facts);
    }

    read_optional(cert->key, &key, facts);
    if (cert->cert[0] != '\0')
        read_optional(cert->cert, &leaf_file, facts);
    if (cert->fullchain[0] != '\0')
        read_optional(cert->fullchain, &fullchain, facts);
    if (cert->ca[0] != '\0')
        read_optional(cert->ca, &ca, facts);
    if (facts->missing || facts->unreadable)
        goto out;
    key_len = strlen(key);

    const char *leaf_path = leaf_file ? cert->cert : cert->fullchain;
    /* Each file is parsed once: without a cert file, the fullchain's first
     * certificate is the leaf (a no-op run over 1,000 certificates is mostly
     * base64 decoding). */
    if (leaf_file != NULL && parse_pem_chain(&leaf, leaf_file) != 0) {
        unreadable(facts, leaf_path, "holds no readable certificate");
        goto out;
    }
    /* Its intermediate is compared as text below, and parsed only then. */
    if (fullchain != NULL && minica_crt_parse_pem_first(&chain, fullchain, NULL) != 0) {
        unreadable(facts, cert->fullchain, "holds no readable certificate");
        goto out;
    }
    const mbedtls_x509_crt *lc = leaf_file != NULL ? &leaf : &chain;
    const char *root_pem = issuer->ops->root_pem(issuer->ctx);
    int ca_is_root = ca != NULL && root_pem != NULL && strcmp(ca, root_pem) == 0;
    if (ca != NULL && !ca_is_root && parse_pem_chain(&cafile, ca) != 0) {
        unreadable(facts, cert->ca, "holds no readable certificate");
        goto out;
    }
    struct minica_err kerr;
    int match = minica_key_matches_crt(key, lc, &kerr);
    if (match < 0) {
        unreadable(facts, cert->key, "holds no readable private key");
        goto out;
    }
    facts->key_matches = match == 1;

    minica_serial_to_hex(lc->serial.p, lc->serial.len, facts->serial, sizeof(facts->serial));
    facts->not_before = minica_x509_time_to_unix(&lc->valid_from);
    facts->not_after = minica_x509_time_to_unix(&lc->valid_to);
    facts->usage = leaf_usage(lc);
    minica_key_type_of(&lc->pk, &facts->key_type);
    struct minica_err serr;
    if (leaf_sans(lc, facts->sans, sizeof(facts->sans), &serr) != 0)
        facts->sans[0] = '\0'; /* unknown names: the comparison will ask for a renewal */

    struct minica_issuer_verdict verdict;
    char *pem = leaf_file ? leaf_file : fullchain;
    ret = issuer->ops->verdict(issuer->ctx, pem, &verdict, err);
    if (ret != 0)
        goto out;
    facts->current_ca = verdict.current;
    facts->revoked = verdict.revoked;

    /* The files must tell one story: the cert file's leaf is the
     * fullchain's, the fullchain goes on with the CA's intermediate, ca is the
     * CA's root. A crash between two renames shows up here. */
    if (leaf_file != NULL && fullchain != NULL && !same_der(lc, &chain)) {
        facts->files_agree = 0;
        snprintf(facts->disagreement, sizeof(facts->disagreement),
                 "%s and %s hold different certificates", cert->cert, cert->fullchain);
    } else if (fullchain != NULL && facts->current_ca) {
        const char *inter = issuer->ops->chain_pem(issuer->ctx);
        /* minica writes fullchain = leaf PEM + the CA's intermediate PEM, so
         * the text usually matches; only a reformatted file needs parsing. */
        const char *second = strstr(fullchain + 1, "-----BEGIN CERTIFICATE-----");
        int same_text = inter != NULL && second != NULL && strcmp(second, inter) == 0;
        mbedtls_x509_crt full;
        mbedtls_x509_crt_init(&full);
        int agree = same_text || (inter != NULL && parse_pem_chain(&full, fullchain) == 0 &&
                                  parse_pem_chain(&want, inter) == 0 && same_der(full.next, &want));
        mbedtls_x509_crt_free(&full);
        if (!agree) {
            facts->files_agree = 0;
            snprintf(facts->disagreement, sizeof(facts->disagreement),
                     "%s does not continue with the CA's intermediate", cert->fullchain);
        }
    }
    if (facts->files_agree && bundle != NULL &&
        (parse_pem_chain(&bundle_leaf, bundle) != 0 || !same_der(&bundle_leaf, lc))) {
        facts->files_agree = 0;
        snprintf(facts->disagreement, sizeof(facts->disagreement),
                 "%s does not hold the certificate of %s", cert->hooks.pem_bundle, leaf_path);
    }
    if (facts->files_agree && ca != NULL) {
        mbedtls_x509_crt_free(&want);
        mbedtls_x509_crt_init(&want);
        if (!ca_is_root && (root_pem == NULL || parse_pem_chain(&want, root_pem) != 0 ||
                            !same_der(&cafile, &want))) {
            facts->files_agree = 0;
            snprintf(facts->disagreement, sizeof(facts->disagreement), "%s is not the CA's root",
                     cert->ca);
        }
    }
out:
    if (bundle != NULL)
        minica_free_secret(bundle, strlen(bundle));
    mbedtls_x509_crt_free(&bundle_leaf);
    free(alone);
    if (key != NULL)
        minica_free_secret(key, key_len ? key_len : strlen(key));
    free(leaf_file);
    free(fullchain);
    free(ca);
    mbedtls_x509_crt_free(&leaf);
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&cafile);
    mbedtls_x509_crt_free(&want);
    return ret;
}

int minica_agent_read_leaf(const struct minica_agent_cert *cert, char serial[MINICA_SERIAL_HEX_MAX],
                           int64_t *not_after, struct minica_err *err)
{
    const char *path = cert->cert[0] != '\0'        ? cert->cert
                       : cert->fullchain[0] != '\0' ? cert->fullchain
                                                    : cert->hooks.pem_bundle;
    char *pem = NULL;
    int ret = minica_read_file(path, CERT_FILE_MAX, &pem, NULL, err);
    if (ret != 0)
        return ret;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    if (parse_pem_chain(&crt, pem) != 0) {
        ret = minica_seterr(err, MINICA_EINVAL, "%s holds no readable certificate", path);
    } else {
        minica_serial_to_hex(crt.serial.p, crt.serial.len, serial, MINICA_SERIAL_HEX_MAX);
        *not_after = minica_x509_time_to_unix(&crt.valid_to);
    }
    mbedtls_x509_crt_free(&crt);
    minica_free_secret(pem, strlen(pem)); /* may be a pem_bundle, with the key */
    return ret;
}

/* ---- the decision ---- */

static int same_name_set(const char *a, const char *b)
{
    char ca[MINICA_SANS_MAX], cb[MINICA_SANS_MAX];
    for (int pass = 0; pass < 2; pass++) {
        snprintf(ca, sizeof(ca), "%s", pass ? b : a);
        snprintf(cb, sizeof(cb), "%s", pass ? a : b);
        char *save = NULL;
        for (char *t = strtok_r(ca, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int found = 0;
            size_t tl = strlen(t);
            for (const char *q = cb; *q;) {
                const char *comma = strchr(q, ',');
                size_t ql = comma ? (size_t)(comma - q) : strlen(q);
                if (ql == tl && memcmp(q, t, tl) == 0)
                    found = 1;
                q += ql + (comma ? 1 : 0);
            }
            if (!found)
                return 0;
        }
    }
    return 1;
}

enum minica_renew_reason minica_agent_decide(const struct minica_agent_config *cfg,
                                             const struct minica_agent_cert *cert,
                                             const struct minica_agent_facts *f, int64_t now,
                                             int force, char *why, size_t whylen)
{
    char when[32];
    minica_time_rfc3339(f->not_after, when);
    if (force) {
        snprintf(why, whylen, "forced (--force)");
        return MINICA_RENEW_FORCED;
    }
    if (f->missing) {
        snprintf(why, whylen, "%s", f->problem);
        return MINICA_RENEW_MISSING;
    }
    if (f->unreadable) {
        snprintf(why, whylen, "%s", f->problem);
        return MINICA_RENEW_UNREADABLE;
    }
    if (!f->key_matches) {
        snprintf(why, whylen, "the key in %s does not match the certificate", cert->key);
        return MINICA_RENEW_KEY_MISMATCH;
    }
    if (!f->current_ca) {
        snprintf(why, whylen,
                 "the certificate (serial %s) was not issued by this CA's current intermediate",
                 f->serial);
        return MINICA_RENEW_NOT_CURRENT_CA;
    }
    if (!f->files_agree) {
        snprintf(why, whylen, "%s", f->disagreement);
        return MINICA_RENEW_FILES_DISAGREE;
    }
    if (f->revoked) {
        snprintf(why, whylen, "the certificate (serial %s) is revoked", f->serial);
        return MINICA_RENEW_REVOKED;
    }
    if (f->not_after <= now) {
        snprintf(why, whylen, "the certificate (serial %s) expired at %s", f->serial, when);
        return MINICA_RENEW_EXPIRED;
    }
    if (!same_name_set(f->sans, cert->sans)) {
        snprintf(why, whylen, "the names changed (certificate: %s; config: %s)", f->sans,
                 cert->sans);
        return MINICA_RENEW_NAMES_CHANGED;
    }
    enum minica_usage want =
        cert->usage == MINICA_USAGE_DEFAULT ? MINICA_USAGE_SERVER : cert->usage;
    if (f->usage != want) {
        snprintf(why, whylen, "the usage changed (certificate: %s; config: %s)",
                 minica_usage_name(f->usage), minica_usage_name(want));
        return MINICA_RENEW_USAGE_CHANGED;
    }
    if (cert->key_type != MINICA_KEY_DEFAULT && f->key_type != cert->key_type) {
        snprintf(why, whylen, "the key type changed (certificate: %s; config: %s)",
                 minica_key_type_name(f->key_type), minica_key_type_name(cert->key_type));
        return MINICA_RENEW_KEY_TYPE_CHANGED;
    }
    int64_t left = f->not_after - now;
    int64_t lifetime = f->not_after - f->not_before;
    int64_t threshold = cfg->renew_before_percent > 0
                            ? lifetime / 100 * cfg->renew_before_percent +
                                  lifetime % 100 * cfg->renew_before_percent / 100
                            : cfg->renew_before_seconds;
    if (left < threshold) {
        char l[64], t[64];
        minica_duration_format(left > 0 ? left : 1, l, sizeof(l));
        if (cfg->renew_before_percent > 0)
            snprintf(t, sizeof(t), "%d%% of its lifetime", cfg->renew_before_percent);
        else
            minica_duration_format(threshold, t, sizeof(t));
        snprintf(why, whylen, "%s left until %s, less than renew_before (%s)", l, when, t);
        return MINICA_RENEW_DUE;
    }
    snprintf(why, whylen, "valid until %s", when);
    return MINICA_RENEW_NONE;
}

const char *minica_renew_reason_name(enum minica_renew_reason reason)
{
    switch (reason) {
    case MINICA_RENEW_NONE:
        return "none";
    case MINICA_RENEW_FORCED:
        return "forced";
    case MINICA_RENEW_MISSING:
        return "missing";
    case MINICA_RENEW_UNREADABLE:
        return "unreadable";
    case MINICA_RENEW_KEY_MISMATCH:
        return "key-mismatch";
    case MINICA_RENEW_NOT_CURRENT_CA:
        return "not-current-ca";
    case MINICA_RENEW_FILES_DISAGREE:
        return "files-disagree";
    case MINICA_RENEW_REVOKED:
        return "revoked";
    case MINICA_RENEW_EXPIRED:
        return "expired";
    case MINICA_RENEW_NAMES_CHANGED:
        return "names-changed";
    case MINICA_RENEW_USAGE_CHANGED:
        return "usage-changed";
    case MINICA_RENEW_KEY_TYPE_CHANGED:
        return "key-type-changed";
    case MINICA_RENEW_DUE:
        return "due";
    }
    return "unknown";
}

/* ---- replacing files with NAME.prev kept ---- */

/* One file of a managed cert being replaced. */
struct swap {
    const char *path;
    char prev[MINICA_PATH_MAX + 8];
    const char *data;
    mode_t mode;
    struct minica_staged_file staged;
    int secret; /* holds a private key: its .prev is narrowed once the group succeeded */
    int had_prev;
    int committed;
};

/* A managed cert being renewed in this run. */
struct pending {
    size_t index;
    enum minica_renew_reason reason;
    char why[1024];
    struct minica_issued issued;
    char *fullchain;
    char *bundle; /* pem_bundle's content: holds the key */
    size_t bundle_len;
    struct swap files[5];
    size_t n_files;
    int replaced; /* the new files are in place */
    /* Replaced, then restored because its group failed. */
    int rolled_back;
};

static void pending_free(struct pending *p)
{
    for (size_t i = 0; i < p->n_files; i++)
        minica_staged_abort(&p->files[i].staged);
    minica_issued_free(&p->issued);
    free(p->fullchain);
    p->fullchain = NULL;
    if (p->bundle != NULL)
        minica_free_secret(p->bundle, p->bundle_len);
    p->bundle = NULL;
    p->n_files = 0;
}

static int fsync_parent(const char *path)
{
    char dir[MINICA_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return 0;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    struct minica_err err;
    return minica_fsync_dir(dir, &err);
}

/* Puts the previous files back (or removes new ones that had none), last
 * renamed first. Returns 0 when every file is back. */
static int restore(struct pending *p, struct minica_err *err)
{
    int ret = MINICA_OK;
    for (size_t i = p->n_files; i-- > 0;) {
        struct swap *s = &p->files[i];
        if (!s->committed)
            continue;
        int rc = s->had_prev ? rename(s->prev, s->path) : unlink(s->path);
        if (rc != 0 && ret == 0)
            ret = minica_seterr(err, MINICA_EIO, "cannot restore %s: %s", s->path, strerror(errno));
        if (rc == 0)
            s->committed = 0;
        fsync_parent(s->path);
    }
    p->replaced = 0;
    return ret;
}

/* Stages every file first (nothing visible yet), then keeps the current
 * files as NAME.prev (hard links) and renames the new ones in: key first,
 * then the certificates. A crash in between leaves a key that does not match
 * its certificate, which the next run's decision repairs. */
static int replace_files(const struct minica_agent_cert *c, struct pending *p,
                         struct minica_err *err)
{
    const struct minica_issued *is = &p->issued;
    if (is->key_pem == NULL)
        return minica_seterr(err, MINICA_EINVAL, "the issuer returned no private key");
    size_t cl = strlen(is->cert_pem), chl = strlen(is->chain_pem);
    p->fullchain = malloc(cl + chl + 1);
    if (p->fullchain == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    memcpy(p->fullchain, is->cert_pem, cl);
    memcpy(p->fullchain + cl, is->chain_pem, chl + 1);

    p->n_files = 0;
    memset(p->files, 0, sizeof(p->files));
    struct swap *s;
    if (c->key[0] != '\0') {
        s = &p->files[p->n_files++];
        s->path = c->key, s->data = is->key_pem, s->mode = c->key_mode;
        s->secret = 1;
    }
    if (c->hooks.pem_bundle[0] != '\0') {
        int bret = minica_pem_bundle_build(is->key_pem, is->cert_pem, is->chain_pem, &p->bundle,
                                           &p->bundle_len, err);
        if (bret != 0)
            return bret;
        s = &p->files[p->n_files++];
        s->path = c->hooks.pem_bundle, s->data = p->bundle, s->mode = c->key_mode;
        s->secret = 1;
    }
    if (c->cert[0] != '\0') {
        s = &p->files[p->n_files++];
        s->path = c->cert, s->data = is->cert_pem, s->mode = 0644;
    }
    if (c->fullchain[0] != '\0') {
        s = &p->files[p->n_files++];
        s->path = c->fullchain, s->data = p->fullchain, s->mode = 0644;
    }
    if (c->ca[0] != '\0') {
        s = &p->files[p->n_files++];
        s->path = c->ca, s->data = is->root_pem, s->mode = 0644;
    }
    const struct minica_file_owner *owner =
        c->owner.uid == (uid_t)-1 && c->owner.gid == (gid_t)-1 ? NULL : &c->owner;
    int ret;
    for (size_t i = 0; i < p->n_files; i++) {
        s = &p->files[i];
        snprintf(s->prev, sizeof(s->prev), "%s.prev", s->path);
        ret = minica_stage_file_nosync(&s->staged, s->path, s->data, strlen(s->data), s->mode,
                                       owner, err);
        if (ret != 0)
            return ret;
    }
    /* All written before any is synced: the disk flushes them together. */
    for (size_t i = 0; i < p->n_files; i++) {
        if ((ret = minica_staged_sync(&p->files[i].staged, err)) != 0)
            return ret;
    }
    for (size_t i = 0; i < p->n_files; i++) {
        s = &p->files[i];
        if (unlink(s->prev) != 0 && errno != ENOENT)
            return minica_seterr(err, MINICA_EIO, "cannot remove %s: %s", s->prev, strerror(errno));
        if (link(s->path, s->prev) == 0)
            s->had_prev = 1;
        else if (errno != ENOENT)
            return minica_seterr(err, MINICA_EIO, "cannot keep %s as %s: %s", s->path, s->prev,
                                 strerror(errno));
    }
    p->replaced = 1;
    for (size_t i = 0; i < p->n_files; i++) {
        s = &p->files[i];
        ret = minica_staged_commit(&s->staged, 0, err);
        if (ret != 0 && s->staged.active == 0 && access(s->path, F_OK) == 0) {
            /* Renamed, only the directory sync failed: the file is in place. */
            s->committed = 1;
        }
        if (ret != 0) {
            struct minica_err rerr;
            restore(p, &rerr);
            return ret;
        }
        s->committed = 1;
    }
    return MINICA_OK;
}

/* A retired key kept as NAME.prev has the mode of the file it replaced: an
 * old self-signed setup's 0644 key would stay readable by every local user.
 * Called only once the group's check, reload and verify passed (a rollback
 * must put the original back exactly as it was). The .prev is the agent's
 * own hard link; O_NOFOLLOW keeps a symlink planted in its place from
 * redirecting the fchmod. */
static int narrow_prev(const char *prev, struct minica_err *err)
{
    int fd = open(prev, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP)
        return minica_seterr(err, MINICA_EINVAL,
                             "%s is a symbolic link: the key it points to keeps its mode", prev);
    if (fd < 0)
        return minica_seterr(err, MINICA_EIO, "cannot open %s to narrow its mode to 0600: %s", prev,
                             strerror(errno));
    int ret = MINICA_OK;
    struct stat st;
    if (fstat(fd, &st) != 0)
        ret = minica_seterr(err, MINICA_EIO, "cannot stat %s: %s", prev, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        ret = minica_seterr(err, MINICA_EINVAL, "%s is not a regular file; its mode is left alone",
                            prev);
    else if ((st.st_mode & 07777) != (st.st_mode & 0600) && fchmod(fd, st.st_mode & 0600) != 0)
        ret = minica_seterr(err, MINICA_EIO, "cannot narrow %s (mode %03o) to 0600: %s", prev,
                            (unsigned)(st.st_mode & 07777), strerror(errno));
    close(fd);
    return ret;
}

/* Leftover temp files of a run killed between staging and renaming. */
/* One managed file: its path and where its directory part ends. */
struct managed_path {
    const char *path;
    size_t dirlen;
};

static int managed_path_cmp(const void *a, const void *b)
{
    const struct managed_path *x = a, *y = b;
    size_t n = x->dirlen < y->dirlen ? x->dirlen : y->dirlen;
    int c = strncmp(x->path, y->path, n);
    if (c != 0)
        return c;
    return (x->dirlen > y->dirlen) - (x->dirlen < y->dirlen);
}

/* A run killed between staging and renaming leaves ".BASE.tmp-*" next to a
 * managed file. Each directory is read once per run: reading it once per
 * file made a no-op run over 1,000 certificates cost seconds. */
static void sweep_stale_temps(const struct minica_agent_config *cfg)
{
    struct managed_path *mp = calloc(cfg->n_certs * 5 + 1, sizeof(*mp));
    if (mp == NULL)
        return;
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_certs; i++) {
        const struct minica_agent_cert *c = &cfg->certs[i];
        const char *paths[5] = {c->key, c->cert, c->fullchain, c->ca, c->hooks.pem_bundle};
        for (int j = 0; j < 5; j++) {
            const char *slash = strrchr(paths[j], '/');
            if (paths[j][0] == '\0' || slash == NULL)
                continue;
            mp[n].path = paths[j];
            mp[n].dirlen = (size_t)(slash - paths[j]);
            n++;
        }
    }
    qsort(mp, n, sizeof(*mp), managed_path_cmp);
    for (size_t i = 0; i < n;) {
        size_t end = i;
        while (end < n && managed_path_cmp(&mp[i], &mp[end]) == 0)
            end++;
        char dir[MINICA_PATH_MAX];
        snprintf(dir, sizeof(dir), "%.*s", (int)(mp[i].dirlen ? mp[i].dirlen : 1), mp[i].path);
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            const char *name = e->d_name, *tmp = NULL;
            for (const char *p = strstr(name, ".tmp-"); p != NULL; p = strstr(p + 1, ".tmp-"))
                tmp = p;
            if (name[0] != '.' || tmp == NULL || tmp == name)
                continue;
            size_t blen = (size_t)(tmp - name - 1);
            for (size_t k = i; k < end; k++) {
                const char *base = mp[k].path + mp[k].dirlen + 1;
                if (strlen(base) == blen && strncmp(base, name + 1, blen) == 0) {
                    unlinkat(dirfd(d), name, 0);
                    break;
                }
            }
        }
        if (d != NULL)
            closedir(d);
        i = end;
    }
    free(mp);
}

/* ---- check and reload ---- */

/* Certificates that share a reload (and check) are replaced, checked and
 * reloaded together: the commands in effect for each (its [cert]'s, else
 * [agent]'s) decide its group. A group that fails is rolled back alone. */
struct group {
    const char *check_command;
    const char *reload_command;
    const char *reload_pidfile;
    int reload_signal;
    int64_t command_timeout;
};

static int signal_pidfile(const char *pidfile, int sig, struct minica_err *err)
{
    char *buf = NULL;
    int ret = minica_read_file(pidfile, 64, &buf, NULL, err);
    if (ret != 0)
        return ret;
    char *end;
    long pid = strtol(buf, &end, 10);
    while (*end == '\n' || *end == ' ' || *end == '\r')
        end++;
    if (pid <= 1 || *end != '\0') {
        free(buf);
        return minica_seterr(err, MINICA_EINVAL, "%s does not hold a process id", pidfile);
    }
    free(buf);
    if (kill((pid_t)pid, sig) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot signal process %ld from %s: %s", pid, pidfile,
                             strerror(errno));
    return MINICA_OK;
}

static int group_reload(const struct group *g, char *what, size_t whatlen, struct minica_err *err)
{
    if (g->reload_command != NULL && g->reload_command[0] != '\0') {
        snprintf(what, whatlen, "ran reload_command '%s'", g->reload_command);
        return minica_command_run_timeout(g->reload_command, g->command_timeout, NULL, err);
    }
    if (g->reload_pidfile != NULL && g->reload_pidfile[0] != '\0') {
        snprintf(what, whatlen, "sent SIG%s to the process in %s", sigabbrev_np(g->reload_signal),
                 g->reload_pidfile);
        return signal_pidfile(g->reload_pidfile, g->reload_signal, err);
    }
    what[0] = '\0';
    return MINICA_OK;
}

static void say(struct minica_agent_run *run, int is_error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(struct minica_agent_run *run, int is_error, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (run->report != NULL)
        run->report(run->report_ctx, is_error, line);
}

/* The marker that a run replaced files but has not finished check and
 * reload: the next run reloads even when nothing is due, so a crash cannot
 * leave new files on disk that the server never loaded. */
static void pending_marker(const struct minica_agent_config *cfg, char *out, size_t outlen)
{
    out[0] = '\0';
    if (cfg->status_file[0] != '\0')
        snprintf(out, outlen, "%s.reload-pending", cfg->status_file);
}

/* The first cert (config order) with the same commands in effect as cert i. */
static size_t group_leader(const struct minica_agent_config *cfg, size_t i)
{
    const struct minica_agent_cert *c = &cfg->certs[i];
    for (size_t j = 0; j < i; j++) {
        const struct minica_agent_cert *o = &cfg->certs[j];
        if (strcmp(minica_agent_check_command(cfg, c), minica_agent_check_command(cfg, o)) == 0 &&
            strcmp(minica_agent_reload_command(cfg, c), minica_agent_reload_command(cfg, o)) == 0 &&
            strcmp(minica_agent_reload_pidfile(cfg, c), minica_agent_reload_pidfile(cfg, o)) == 0)
            return j;
    }
    return i;
}

static int run_group(const struct minica_agent_config *cfg, const struct group *g,
                     struct pending *todo, size_t n_todo, int marker_found,
                     struct minica_issuer *issuer, struct minica_agent_run *run,
                     struct minica_err *first)
{
    int failed = 0;
    size_t changed = 0;
    char marker[MINICA_PATH_MAX + 32];
    pending_marker(cfg, marker, sizeof(marker));
    struct minica_err err;
    for (size_t i = 0; i < n_todo; i++) {
        struct pending *p = &todo[i];
        const struct minica_agent_cert *c = &cfg->certs[p->index];
        char sans_copy[MINICA_SANS_MAX];
        snprintf(sans_copy, sizeof(sans_copy), "%s", c->sans);
        const char *sans[MINICA_MAX_SANS];
        struct minica_issue_request req;
        memset(&req, 0, sizeof(req));
        char *save = NULL;
        for (char *t = strtok_r(sans_copy, ",", &save); t && req.n_sans < MINICA_MAX_SANS;
             t = strtok_r(NULL, ",", &save))
            sans[req.n_sans++] = t;
        req.name = c->name;
        req.sans = sans;
        req.ttl = c->ttl;
        req.usage = c->usage;
        req.key_type = c->key_type;
        int ret = issuer->ops->issue(issuer->ctx, &req, &p->issued, &err);
        if (ret == 0 && marker[0] != '\0' && changed == 0 && !marker_found)
            ret = minica_write_file_atomic(marker, "", 0, 0600, 0, &err);
        if (ret == 0)
            ret = replace_files(c, p, &err);
        if (ret != 0) {
            say(run, 1, "%s: %s (previous files kept)", c->name, err.msg);
            minica_agent_state_error(run->state, c->name, err.msg, minica_now());
            if (first->msg[0] == '\0')
                snprintf(first->msg, sizeof(first->msg), "%s: %s", c->name, err.msg);
            run->failed++;
            failed = 1;
            continue;
        }
        changed++;
    }
    if (changed == 0 && !marker_found)
        return failed;

    const char *stage = NULL;
    char what[MINICA_AGENT_COMMAND_MAX + 64] = "";
    int ret = MINICA_OK;
    if (g->check_command != NULL && g->check_command[0] != '\0') {
        ret = minica_command_run_timeout(g->check_command, g->command_timeout, NULL, &err);
        stage = "check_command failed";
    }
    if (ret == 0) {
        ret = group_reload(g, what, sizeof(what), &err);
        stage = "reload failed";
    }
    /* A reload that exits 0 proves nothing (nginx -s reload only sends
     * SIGHUP): each `verify` endpoint must now serve the new serial. */
    int not_served = 0;
    for (size_t i = 0; ret == 0 && i < n_todo; i++) {
        struct pending *p = &todo[i];
        if (!p->replaced)
            continue;
        ret = minica_agent_verify_served(cfg, &cfg->certs[p->index],
                                         issuer->ops->root_pem(issuer->ctx), p->issued.serial,
                                         run->state, &err);
        if (ret != 0) {
            stage = "not served after the reload";
            not_served = 1;
        }
    }
    if (ret != 0) {
        struct minica_err rerr;
        rerr.msg[0] = '\0';
        for (size_t i = n_todo; i-- > 0;) {
            struct pending *p = &todo[i];
            struct minica_err one;
            if (!p->replaced)
                continue;
            p->rolled_back = 1;
            if (restore(p, &one) != 0 && rerr.msg[0] == '\0')
                rerr = one;
        }
        /* The server may have loaded the new files after all (or half of
         * them): make it load the restored ones. */
        char again[MINICA_AGENT_COMMAND_MAX + 64];
        struct minica_err aerr;
        if (not_served && rerr.msg[0] == '\0' && group_reload(g, again, sizeof(again), &aerr) != 0)
            snprintf(rerr.msg, sizeof(rerr.msg), "reloading the restored files failed: %s",
                     aerr.msg);
        for (size_t i = 0; i < n_todo; i++) {
            struct pending *p = &todo[i];
            if (!p->rolled_back)
                continue;
            const char *name = cfg->certs[p->index].name;
            char line[2048];
            if (rerr.msg[0] != '\0')
                snprintf(line, sizeof(line), "%s: %s: %s; and %s", name, stage, err.msg, rerr.msg);
            else
                snprintf(line, sizeof(line), "%s: %s: %s; restored the previous files%s", name,
                         stage, err.msg, not_served ? " and reloaded" : "");
            say(run, 1, "%s", line);
            minica_agent_state_error(run->state, name, line + strlen(name) + 2, minica_now());
            run->failed++;
        }
        if (changed == 0)
            say(run, 1, "%s: %s", stage, err.msg);
        if (first->msg[0] == '\0')
            snprintf(first->msg, sizeof(first->msg), "%s: %s", stage, err.msg);
        if (marker[0] != '\0')
            unlink(marker);
        return 1;
    }
    for (size_t i = 0; i < n_todo; i++) {
        struct pending *p = &todo[i];
        if (!p->replaced)
            continue;
        char until[32];
        minica_time_rfc3339(p->issued.not_after, until);
        say(run, 0, "renewed %s (serial %s, valid until %s): %s", cfg->certs[p->index].name,
            p->issued.serial, until, p->why);
        /* No rollback from here on: the retired keys may lose their old
         * mode. A failure only warns: the new files are in place and served. */
        for (size_t k = 0; k < p->n_files; k++) {
            struct minica_err nerr;
            if (p->files[k].secret && p->files[k].had_prev &&
                narrow_prev(p->files[k].prev, &nerr) != 0)
                say(run, 1, "warning: %s: %s", cfg->certs[p->index].name, nerr.msg);
        }
        minica_agent_state_renewed(run->state, cfg->certs[p->index].name, minica_now());
        run->renewed++;
    }
    if (changed == 0)
        say(run, 0, "a previous run was interrupted before reloading");
    if (what[0] != '\0') {
        say(run, 0, "reloaded: %s", what);
        run->reloaded = 1;
    }
    if (marker[0] != '\0')
        unlink(marker);
    return failed;
}

int minica_agent_run_with(const struct minica_agent_config *cfg, struct minica_issuer *issuer,
                          struct minica_agent_run *run, struct minica_err *err)
{
    int64_t now = minica_now();
    struct minica_err first;
    first.msg[0] = '\0';
    int failed = 0;
    struct pending *todo = calloc(cfg->n_certs ? cfg->n_certs : 1, sizeof(*todo));
    if (todo == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    size_t n_todo = 0;
    char marker[MINICA_PATH_MAX + 32];
    pending_marker(cfg, marker, sizeof(marker));
    int marker_found = !run->dry_run && marker[0] != '\0' && access(marker, F_OK) == 0;

    if (!run->dry_run)
        sweep_stale_temps(cfg);
    for (size_t i = 0; i < cfg->n_certs; i++) {
        const struct minica_agent_cert *c = &cfg->certs[i];
        /* A certificate born inside its renewal window would be renewed,
         * and its server reloaded, by every run: refuse, loudly. */
        if (c->ttl > 0 && cfg->renew_before_percent == 0 && cfg->renew_before_seconds >= c->ttl) {
            char rb[64], ttl[64], msg[256];
            minica_duration_format(cfg->renew_before_seconds, rb, sizeof(rb));
            minica_duration_format(c->ttl, ttl, sizeof(ttl));
            snprintf(msg, sizeof(msg),
                     "ttl %s is not longer than renew_before %s, so every run would renew it; "
                     "nothing done",
                     ttl, rb);
            say(run, 1, "%s: %s", c->name, msg);
            minica_agent_state_error(run->state, c->name, msg, now);
            if (first.msg[0] == '\0')
                snprintf(first.msg, sizeof(first.msg), "%s: %s", c->name, msg);
            run->failed++;
            failed = 1;
            continue;
        }
        struct minica_agent_facts facts;
        struct minica_err ierr;
        if (minica_agent_inspect(issuer, c, &facts, &ierr) != 0) {
            say(run, 1, "%s: %s", c->name, ierr.msg);
            minica_agent_state_error(run->state, c->name, ierr.msg, now);
            if (first.msg[0] == '\0')
                snprintf(first.msg, sizeof(first.msg), "%s: %s", c->name, ierr.msg);
            run->failed++;
            failed = 1;
            continue;
        }
        struct pending *p = &todo[n_todo];
        p->reason = minica_agent_decide(cfg, c, &facts, now, run->force, p->why, sizeof(p->why));
        if (p->reason == MINICA_RENEW_NONE)
            continue;
        if (run->dry_run) {
            say(run, 0, "would renew %s: %s", c->name, p->why);
            continue;
        }
        p->index = i;
        n_todo++;
    }

    if (!run->dry_run && (n_todo > 0 || marker_found)) {
        /* Order todo by group (config order inside each): each group is then
         * a slice. Nothing is staged yet, so the entries may move. */
        struct pending *sorted = calloc(n_todo ? n_todo : 1, sizeof(*sorted));
        if (sorted == NULL) {
            free(todo);
            return minica_seterr(err, MINICA_ENOMEM, "out of memory");
        }
        size_t m = 0;
        for (size_t i = 0; i < cfg->n_certs; i++) {
            if (group_leader(cfg, i) != i)
                continue;
            size_t start = m;
            for (size_t k = 0; k < n_todo; k++)
                if (group_leader(cfg, todo[k].index) == i)
                    sorted[m++] = todo[k];
            if (m == start && !marker_found)
                continue;
            const struct minica_agent_cert *c = &cfg->certs[i];
            struct group g = {minica_agent_check_command(cfg, c),
                              minica_agent_reload_command(cfg, c),
                              minica_agent_reload_pidfile(cfg, c), cfg->reload_signal,
                              minica_agent_command_timeout(cfg)};
            if (run_group(cfg, &g, sorted + start, m - start, marker_found, issuer, run, &first) !=
                0)
                failed = 1;
        }
        memcpy(todo, sorted, n_todo * sizeof(*todo));
        free(sorted);
    }
    for (size_t i = 0; i < n_todo; i++)
        pending_free(&todo[i]);
    free(todo);
    if (failed)
        return minica_seterr(err, MINICA_EIO, "%s", first.msg);
    return MINICA_OK;
}

/* ---- lock, jitter, status ---- */

static int take_lock(const char *path, int *fd, struct minica_err *err)
{
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd < 0)
        return minica_seterr(err, MINICA_EIO, "cannot open the lock file %s: %s", path,
                             strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return minica_seterr(err, MINICA_EEXIST, "another agent run holds %s", path);
        return minica_seterr(err, MINICA_EIO, "cannot lock %s: %s", path, strerror(e));
    }
    return MINICA_OK;
}

static void jitter_sleep(int64_t jitter)
{
    if (jitter <= 0)
        return;
    if (jitter > MINICA_AGENT_JITTER_MAX)
        jitter = MINICA_AGENT_JITTER_MAX;
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint64_t)time(NULL) ^ (uint64_t)getpid();
    uint64_t ms = r % ((uint64_t)jitter * 1000);
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int minica_agent_status_load(const char *path, struct minica_agent_status *st,
                             struct minica_err *err)
{
    memset(st, 0, sizeof(*st));
    if (!minica_file_exists(path))
        return MINICA_OK;
    char *buf = NULL;
    int ret = minica_read_file(path, 64 * 1024, &buf, NULL, err);
    if (ret != 0)
        return ret;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long v;
        char key[64];
        if (sscanf(line, "%63[a-z_] = %lld", key, &v) != 2)
            continue; /* later versions may add lines */
        if (strcmp(key, "last_run") == 0)
            st->last_run = v;
        else if (strcmp(key, "last_success") == 0)
            st->last_success = v;
        else if (strcmp(key, "renewals_total") == 0)
            st->renewals_total = v;
        else if (strcmp(key, "failures_total") == 0)
            st->failures_total = v;
    }
    free(buf);
    return MINICA_OK;
}

int minica_agent_status_save(const char *path, const struct minica_agent_status *st,
                             struct minica_err *err)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf),
                     "# minica agent counters (read by 'minica metrics'); rewritten by each run\n"
                     "last_run = %lld\nlast_success = %lld\nrenewals_total = %lld\n"
                     "failures_total = %lld\n",
                     (long long)st->last_run, (long long)st->last_success,
                     (long long)st->renewals_total, (long long)st->failures_total);
    return minica_write_file_atomic(path, buf, (size_t)n, 0644, 0, err);
}

int minica_agent_run(const struct minica_agent_config *cfg, struct minica_agent_run *run,
                     struct minica_err *err)
{
    jitter_sleep(run->jitter);
    int lock = -1;
    int ret = take_lock(cfg->lock_file, &lock, err);
    if (ret != 0)
        return ret;
    struct minica_issuer issuer;
    memset(&issuer, 0, sizeof(issuer));
    /* Per-cert last error and probe results, for `agent status` and metrics. */
    char state_path[MINICA_PATH_MAX + 8];
    minica_agent_state_path(cfg->status_file, state_path, sizeof(state_path));
    struct minica_agent_state *state = calloc(1, sizeof(*state));
    struct minica_err sterr;
    if (state == NULL) {
        close(lock);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    if (minica_agent_state_load(state, state_path, &sterr) != 0)
        minica_agent_state_init(state);
    if (run->state == NULL && !run->dry_run)
        run->state = state;
    if (cfg->ca_url[0] != '\0')
        ret = minica_issuer_open_remote_agent(&issuer, cfg, err);
    else
        ret = minica_issuer_open_local(&issuer, cfg->state_dir, "agent", err);
    if (ret == 0)
        ret = minica_agent_run_with(cfg, &issuer, run, err);
    minica_issuer_close(&issuer);
    if (!run->dry_run) {
        struct minica_agent_status st;
        struct minica_err serr;
        if (minica_agent_status_load(cfg->status_file, &st, &serr) != 0)
            memset(&st, 0, sizeof(st));
        st.last_run = minica_now();
        if (ret == 0)
            st.last_success = st.last_run;
        st.renewals_total += (int64_t)run->renewed;
        st.failures_total += (int64_t)(run->failed > 0 ? run->failed : (ret != 0));
        if (run->state == state && minica_agent_state_save(state, state_path, &sterr) != 0)
            say(run, 1, "%s", sterr.msg);
        if (minica_agent_status_save(cfg->status_file, &st, &serr) != 0) {
            if (run->failed > 0)
                say(run, 1, "%s", serr.msg);
            if (ret == 0)
                ret = minica_seterr(err, MINICA_EIO, "%s", serr.msg);
        }
    }
    if (run->state == state)
        run->state = NULL;
    minica_agent_state_free(state);
    free(state);
    close(lock);
    return ret;
}
