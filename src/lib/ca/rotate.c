/* The CA's own lifecycle steps (minica/lifecycle.h): rotate, rollover,
 * drop-cross, retire, revoke an intermediate. Each runs under an exclusive
 * lock on the state directory, first finishes whatever a crash left
 * half-done, and writes new material into ca/ before the one rename that
 * makes it active. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca/ca_internal.h"
#include "ca/keyfile.h"
#include "ca/keytoken.h"
#include "minica/duration.h"
#include "minica/fsutil.h"
#include "minica/lifecycle.h"
#include "minica/statedir.h"

struct lifecycle {
    struct minica_statedir sd;
    struct minica_ca *ca;
};

static void lifecycle_end(struct lifecycle *lc)
{
    minica_ca_close(lc->ca);
    lc->ca = NULL;
    minica_statedir_close(&lc->sd); /* drops the lock */
}

static int state_path(const struct lifecycle *lc, char *out, size_t outlen, const char *rel,
                      struct minica_err *err)
{
    return minica_path_join(out, outlen, lc->sd.real, rel, err);
}

static int write_state_file(const struct lifecycle *lc, const char *rel, const char *data,
                            mode_t mode, unsigned flags, struct minica_err *err)
{
    char path[MINICA_PATH_MAX];
    int ret = state_path(lc, path, sizeof(path), rel, err);
    if (ret == 0)
        ret = minica_write_file_atomic(path, data, strlen(data), mode, flags, err);
    return ret;
}

/* 0700 whatever the umask: ca/ holds keys. */
static int make_private_dir(const struct lifecycle *lc, const char *rel, struct minica_err *err)
{
    char path[MINICA_PATH_MAX];
    int ret = state_path(lc, path, sizeof(path), rel, err);
    if (ret != 0)
        return ret;
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return minica_seterr(err, MINICA_EIO, "cannot create %s: %s", path, strerror(errno));
    if (chmod(path, 0700) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot set the mode of %s: %s", path,
                             strerror(errno));
    return MINICA_OK;
}

/* The key file of entry i, to be copied: files move, nothing signs. */
static int read_key_pem(struct lifecycle *lc, size_t i, char **pem, size_t *len,
                        struct minica_err *err)
{
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    int ret = minica_hierarchy_load_key(&lc->ca->hier, i, &lc->sd, &pk, NULL, 0, &lc->ca->rng, err);
    if (ret == 0)
        ret = minica_ca_key_to_pem(lc->ca, &pk, pem, len, err);
    mbedtls_pk_free(&pk);
    return ret;
}

static int reopen(struct lifecycle *lc, struct minica_err *err)
{
    minica_ca_close(lc->ca);
    lc->ca = NULL;
    return minica_ca_open_flags(lc->sd.path, MINICA_CA_OPEN_NO_KEY, &lc->ca, err);
}

/* Whether pk is the key of a CA certificate whose key file is in ca/. */
static int archived_key(const struct minica_hierarchy *h, const mbedtls_pk_context *pk)
{
    for (size_t i = 0; i < h->n; i++) {
        const struct minica_hier_entry *e = &h->e[i];
        if (e->has_key && !e->in_token && strchr(e->file, '/') != NULL &&
            minica_pk_same_public(&e->crt.pk, pk))
            return 1;
    }
    return 0;
}

static int remove_state_file(const struct lifecycle *lc, const char *rel, struct minica_err *err)
{
    char path[MINICA_PATH_MAX];
    int ret = state_path(lc, path, sizeof(path), rel, err);
    if (ret == 0 && unlink(path) != 0 && errno != ENOENT)
        ret = minica_seterr(err, MINICA_EIO, "cannot remove %s: %s", path, strerror(errno));
    return ret;
}

/* Archives what only the top files hold (a state directory from before
 * ca/ existed), then brings the top files in line with the active issuer:
 * after a crash between the renames of a rotation, intermediate.key,
 * root.crt or root.key may still be the previous ones. */
static int finish_pending(struct lifecycle *lc, struct minica_err *err)
{
    int ret;
    if ((ret = make_private_dir(lc, MINICA_CA_ARCHIVE, err)) != 0 ||
        (ret = make_private_dir(lc, MINICA_CA_ARCHIVE "/retired", err)) != 0)
        return ret;
    struct minica_hierarchy *h = &lc->ca->hier;
    int archived = 0;
    for (size_t i = 0; i < h->n; i++) {
        struct minica_hier_entry *e = &h->e[i];
        if (strchr(e->file, '/') != NULL)
            continue;
        char rel[160];
        const char *role = minica_ca_role_name(e->role);
        const char *serial = h->info[i].serial;
        if (e->has_key && !e->in_token) {
            char *key = NULL;
            size_t klen = 0;
            snprintf(rel, sizeof(rel), MINICA_CA_ARCHIVE "/%s-%s.key", role, serial);
            ret = read_key_pem(lc, i, &key, &klen, err);
            if (ret == 0)
                ret = write_state_file(lc, rel, key, 0600, MINICA_WRITE_NOREPLACE, err);
            minica_free_secret(key, klen);
            if (ret != 0 && ret != MINICA_EEXIST)
                return ret;
        }
        snprintf(rel, sizeof(rel), MINICA_CA_ARCHIVE "/%s-%s.crt", role, serial);
        ret = write_state_file(lc, rel, e->pem, 0644, MINICA_WRITE_NOREPLACE, err);
        if (ret != 0 && ret != MINICA_EEXIST)
            return ret;
        archived = 1;
    }
    if (archived && (ret = reopen(lc, err)) != 0)
        return ret;
    h = &lc->ca->hier;

    /* The top files, as the active issuer says they must be. */
    char path[MINICA_PATH_MAX];
    if ((ret = state_path(lc, path, sizeof(path), "root.crt", err)) != 0)
        return ret;
    if (!minica_file_has_content(path, h->roots_pem, strlen(h->roots_pem)) &&
        (ret = write_state_file(lc, "root.crt", h->roots_pem, 0644, 0, err)) != 0)
        return ret;
    const int top[2] = {h->active_int, h->active_root};
    const char *const top_key[2] = {"intermediate.key", "root.key"};
    for (int k = 0; k < 2; k++) {
        mbedtls_pk_context pk;
        mbedtls_pk_init(&pk);
        int r = minica_ca_read_key(&lc->sd, top_key[k], &pk, &lc->ca->rng, NULL);
        int good = r == 0 && minica_pk_same_public(&h->e[top[k]].crt.pk, &pk);
        /* A crash after a rotation into a token switched, before the
         * previous key's top copy went: it goes now, if ca/ keeps it. */
        int stale = r == 0 && !good && h->e[top[k]].in_token && archived_key(h, &pk);
        mbedtls_pk_free(&pk);
        if (stale && (ret = remove_state_file(lc, top_key[k], err)) != 0)
            return ret;
        if (good || !h->e[top[k]].has_key || h->e[top[k]].in_token)
            continue;
        char *key = NULL;
        size_t klen = 0;
        ret = read_key_pem(lc, (size_t)top[k], &key, &klen, err);
        if (ret == 0)
            ret = write_state_file(lc, top_key[k], key, 0600, 0, err);
        minica_free_secret(key, klen);
        if (ret != 0)
            return ret;
    }
    return MINICA_OK;
}

static int lifecycle_begin(const char *dir, struct lifecycle *lc, struct minica_err *err)
{
    memset(lc, 0, sizeof(*lc));
    int ret = minica_statedir_open(&lc->sd, dir, err);
    if (ret != 0)
        return ret;
    /* One lifecycle step at a time; issuance is not blocked, and a process
     * that opened the CA before the switch issues from the previous
     * intermediate, which stays valid. */
    if (flock(lc->sd.fd, LOCK_EX) != 0) {
        ret = minica_seterr(err, MINICA_EIO, "cannot lock %s: %s", dir, strerror(errno));
        goto fail;
    }
    if ((ret = minica_ca_open_flags(dir, MINICA_CA_OPEN_NO_KEY, &lc->ca, err)) != 0 ||
        (ret = finish_pending(lc, err)) != 0)
        goto fail;
    minica_ca_set_actor(lc->ca, "ca", "local");
    return MINICA_OK;
fail:
    lifecycle_end(lc);
    return ret;
}

/* "CN=<base> Intermediate CA 3": a subject no CA certificate here has yet,
 * so that relying parties and CRL lookups (which go by issuer name) never
 * confuse two generations. base is the active root's name before " Root CA". */
static void next_subject(const struct minica_hierarchy *h, enum minica_ca_role role, char *out,
                         size_t outlen)
{
    char base[256];
    const char *cn = h->info[h->active_root].subject;
    if (strncmp(cn, "CN=", 3) == 0)
        cn += 3;
    snprintf(base, sizeof(base), "%s", cn);
    char *tag = strstr(base, " Root CA");
    if (tag != NULL)
        *tag = '\0';
    const char *what = role == MINICA_CA_ROOT ? "Root CA" : "Intermediate CA";
    size_t count = 0;
    for (size_t i = 0; i < h->n; i++)
        count += h->e[i].role == role;
    for (size_t n = count + 1;; n++) {
        snprintf(out, outlen, "CN=%.40s %s %zu", base, what, n);
        int taken = 0;
        for (size_t i = 0; i < h->n; i++)
            taken |= strcmp(h->info[i].subject, out) == 0;
        if (!taken)
            return;
    }
}

static int sign_pem(const struct minica_tbs *tbs, struct minica_ca *ca, char **pem,
                    char serial_hex[MINICA_SERIAL_HEX_MAX], struct minica_err *err)
{
    unsigned char *der = NULL;
    size_t len = 0;
    int ret = minica_sign_cert(tbs, &ca->scratch, &ca->rng, &der, &len, err);
    if (ret == 0)
        ret = minica_der_to_pem(der, len, "CERTIFICATE", pem, err);
    free(der);
    minica_serial_to_hex(tbs->serial, sizeof(tbs->serial), serial_hex, MINICA_SERIAL_HEX_MAX);
    return ret;
}

/* minica.conf may not permit what the intermediate's constraints refuse:
 * every issuance of it would fail. */
static int policy_within(const struct minica_policy *policy,
                         const struct minica_name_constraints *nc, struct minica_err *err)
{
    for (size_t i = 0; i < policy->n_permit_dns; i++) {
        struct minica_name name;
        const char *d = policy->permit_dns[i];
        if (*d == '.')
            d++;
        if (minica_name_parse(d, &name, NULL) != 0)
            continue;
        if (minica_constraints_check(nc, &name, NULL) != 0)
            return minica_seterr(err, MINICA_EPOLICY,
                                 "minica.conf permits %s, which the new intermediate's name "
                                 "constraints refuse; narrow permit_dns in minica.conf first, or "
                                 "widen --permit-dns",
                                 policy->permit_dns[i]);
    }
    for (size_t i = 0; i < policy->n_permit_ip; i++) {
        const struct minica_cidr *c = &policy->permit_ip[i];
        struct minica_name name;
        memset(&name, 0, sizeof(name));
        name.kind = MINICA_NAME_IP;
        memcpy(name.ip, c->addr, c->addr_len);
        name.ip_len = c->addr_len;
        snprintf(name.text, sizeof(name.text), "%s", c->text);
        if (minica_constraints_check(nc, &name, NULL) != 0)
            return minica_seterr(err, MINICA_EPOLICY,
                                 "minica.conf permits %s, which the new intermediate's name "
                                 "constraints refuse; narrow permit_ip in minica.conf first, or "
                                 "widen --permit-ip",
                                 c->text);
    }
    return MINICA_OK;
}

static int key_type_of_entry(const struct minica_hier_entry *e, enum minica_key_type *type)
{
    if (minica_key_type_of(&e->crt.pk, type) != 0)
        *type = MINICA_KEY_EC_P256;
    return 0;
}

static int64_t lifetime(const struct minica_ca_cert *c)
{
    return c->not_after - c->not_before - 60;
}

/* A new key and a certificate for it, written into ca/ under the serial;
 * nothing is active yet. */
struct made {
    mbedtls_pk_context key;
    struct minica_signer *token_key; /* the key is in a token: no key_pem */
    char *key_pem;
    size_t key_len;
    char *pem;
    char serial[MINICA_SERIAL_HEX_MAX];
    char subject[256];
    int64_t not_after;
};

/* A minute back, for clocks a little behind; and always later than what
 * it replaces, so that the loader can tell material a crash left unused
 * (newer than the active one, and never issued) from a previous one even
 * when both were made within one second. */
static int64_t newer_than(int64_t now, int64_t active_not_before)
{
    int64_t t = now - 60;
    return t > active_not_before ? t : active_not_before + 1;
}

static void made_free(struct made *m)
{
    mbedtls_pk_free(&m->key);
    minica_signer_free(m->token_key);
    minica_free_secret(m->key_pem, m->key_len);
    free(m->pem);
    memset(m, 0, sizeof(*m));
}

static int archive_made(const struct lifecycle *lc, const struct made *m, const char *role,
                        struct minica_err *err)
{
    char rel[160];
    int ret = MINICA_OK;
    if (m->key_pem != NULL) {
        snprintf(rel, sizeof(rel), MINICA_CA_ARCHIVE "/%s-%s.key", role, m->serial);
        ret = write_state_file(lc, rel, m->key_pem, 0600, MINICA_WRITE_NOREPLACE, err);
    }
    if (ret == 0) {
        snprintf(rel, sizeof(rel), MINICA_CA_ARCHIVE "/%s-%s.crt", role, m->serial);
        ret = write_state_file(lc, rel, m->pem, 0644, MINICA_WRITE_NOREPLACE, err);
    }
    return ret;
}

/* token_uri: the new key is made in that token, else it is a key file. */
static int make_intermediate(struct lifecycle *lc, struct made *m, struct minica_signer *signer,
                             const char *issuer_subject, enum minica_key_type type,
                             const char *token_uri, int64_t not_before, int64_t not_after,
                             const struct minica_name_constraints *nc, struct minica_err *err)
{
    struct minica_ca *ca = lc->ca;
    mbedtls_pk_init(&m->key);
    next_subject(&ca->hier, MINICA_CA_INTERMEDIATE, m->subject, sizeof(m->subject));
    struct minica_tbs tbs = {
        .subject = m->subject,
        .issuer = issuer_subject,
        .subject_key = &m->key,
        .signer = signer,
        .not_before = not_before,
        .not_after = not_after,
        .is_ca = 1,
        .pathlen = 0,
        .key_usage = MINICA_KU_KEY_CERT_SIGN | MINICA_KU_CRL_SIGN,
        .name_constraints = minica_constraints_present(nc) ? nc : NULL,
        .with_aki = 1,
    };
    int ret;
    if (token_uri != NULL) {
        if ((ret = minica_keytoken_generate(&ca->policy.keys, token_uri, type, &ca->rng,
                                            &m->token_key, err)) != 0) {
            minica_err_prefix(err, "--intermediate-key");
            return ret;
        }
        tbs.subject_key = &m->token_key->pub;
    } else if ((ret = minica_key_generate(&m->key, type, &ca->rng, err)) != 0 ||
               (ret = minica_ca_key_to_pem(ca, &m->key, &m->key_pem, &m->key_len, err)) != 0) {
        return ret;
    }
    if ((ret = minica_serial_generate(&ca->rng, tbs.serial, err)) != 0 ||
        (ret = sign_pem(&tbs, ca, &m->pem, m->serial, err)) != 0)
        return ret;
    m->not_after = not_after;
    return MINICA_OK;
}

/* The commit point: intermediate.crt names the issuer. Then its key and,
 * after a rollover, the root files follow; finish_pending redoes those if
 * a crash stops them. */
static int activate(struct lifecycle *lc, const struct made *inter, const char *roots_pem,
                    const struct made *root, struct minica_err *err)
{
    int ret = write_state_file(lc, "intermediate.crt", inter->pem, 0644, 0, err);
    if (ret == 0 && inter->key_pem != NULL) {
        ret = write_state_file(lc, "intermediate.key", inter->key_pem, 0600, 0, err);
    } else if (ret == 0) {
        /* The previous intermediate's copy (finish_pending archived it in
         * ca/): no key file is left for the active one, whose key is in
         * the token. */
        ret = remove_state_file(lc, "intermediate.key", err);
    }
    if (ret == 0 && roots_pem != NULL)
        ret = write_state_file(lc, "root.crt", roots_pem, 0644, 0, err);
    if (ret == 0 && root != NULL)
        ret = write_state_file(lc, "root.key", root->key_pem, 0600, 0, err);
    return ret;
}

/* Before the switch: [keys] intermediate names the new token key first,
 * the older lines kept for the intermediates still current (their CRLs
 * are signed until their leaves expire). The edited text must parse. */
static int record_token_key(struct lifecycle *lc, const char *uri, struct minica_err *err)
{
    char *text = NULL, *edited = NULL, path[MINICA_PATH_MAX];
    struct minica_policy *check = malloc(sizeof(*check));
    int ret = check != NULL ? MINICA_OK : minica_seterr(err, MINICA_ENOMEM, "out of memory");
    if (ret == 0)
        ret = minica_statedir_read(&lc->sd, "minica.conf", 1024 * 1024, &text, NULL, err);
    if (ret == MINICA_ENOENT) {
        text = minica_strdup("");
        ret = text != NULL ? MINICA_OK : minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    if (ret == 0 && (edited = minica_policy_text_add_key(text, "intermediate", uri)) == NULL)
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
    if (ret == 0 && (ret = state_path(lc, path, sizeof(path), "minica.conf", err)) == 0 &&
        (ret = minica_policy_load_text(check, path, edited, err)) != 0)
        minica_err_prefix(err, "minica.conf with the new [keys] intermediate");
    if (ret == 0)
        ret = write_state_file(lc, "minica.conf", edited, 0644, 0, err);
    free(check);
    free(text);
    free(edited);
    return ret;
}

int minica_ca_rotate(const char *dir, const struct minica_rotate_options *opts,
                     struct minica_rotate_result *out, struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    struct lifecycle lc;
    int ret = lifecycle_begin(dir, &lc, err);
    if (ret != 0)
        return ret;
    struct minica_ca *ca = lc.ca;
    struct minica_hierarchy *h = &ca->hier;
    const struct minica_ca_cert *ai = &h->info[h->active_int], *ar = &h->info[h->active_root];
    int64_t now = minica_now();
    struct made m;
    memset(&m, 0, sizeof(m));
    struct minica_signer *root_key = NULL;
    struct minica_name_constraints *nc = malloc(sizeof(*nc));
    if (nc == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }

    out->left = ai->not_after - now;
    snprintf(out->previous_serial, sizeof(out->previous_serial), "%s", ai->serial);
    if (opts->if_due && out->left >= MINICA_ROTATE_DUE_FACTOR * ca->policy.max_ttl) {
        snprintf(out->serial, sizeof(out->serial), "%s", ai->serial);
        goto out; /* not due */
    }
    if (opts->permit_dns != NULL || opts->permit_ip != NULL) {
        if ((ret = minica_constraints_for_init(opts->permit_dns, opts->n_permit_dns,
                                               opts->permit_ip, opts->n_permit_ip, nc, err)) != 0)
            goto out;
    } else {
        *nc = ai->nc;
    }
    if ((ret = policy_within(&ca->policy, nc, err)) != 0)
        goto out;
    int64_t ttl = opts->ttl ? opts->ttl : lifetime(ai);
    if (now + ttl > ar->not_after) {
        if (opts->ttl) {
            char left[64];
            minica_duration_format(ar->not_after - now, left, sizeof(left));
            ret = minica_seterr(err, MINICA_EINVAL,
                                "--ttl outlives the root, which expires in %s; give a shorter "
                                "--ttl or roll the root over first: minica ca rollover",
                                left);
            goto out;
        }
        ttl = ar->not_after - now;
    }
    if (ttl < ca->policy.max_ttl) {
        char left[64], max[64];
        minica_duration_format(ttl, left, sizeof(left));
        minica_duration_format(ca->policy.max_ttl, max, sizeof(max));
        ret = minica_seterr(
            err, MINICA_EINVAL, "the new intermediate would live %s, less than max_ttl (%s); %s",
            left, max,
            opts->ttl ? "give a longer --ttl" : "the root expires too soon: minica ca rollover");
        goto out;
    }
    enum minica_key_type type = opts->key_type;
    if (type == 0)
        key_type_of_entry(&h->e[h->active_int], &type);
    if ((ret = minica_ca_load_ca_key(ca, (size_t)h->active_root, &root_key, err)) != 0) {
        minica_err_prefix(err, "a new intermediate needs the root key");
        goto out;
    }
    if ((ret = make_intermediate(&lc, &m, root_key, ar->subject, type, opts->intermediate_key,
                                 newer_than(now, ai->not_before), now + ttl, nc, err)) != 0 ||
        (ret = archive_made(&lc, &m, "intermediate", err)) != 0 ||
        (opts->intermediate_key != NULL &&
         (ret = record_token_key(&lc, opts->intermediate_key, err)) != 0) ||
        (ret = activate(&lc, &m, NULL, NULL, err)) != 0)
        goto out;
    out->rotated = 1;
    snprintf(out->serial, sizeof(out->serial), "%s", m.serial);
    snprintf(out->subject, sizeof(out->subject), "%s", m.subject);
    out->not_after = m.not_after;
    out->previous_leaves = ai->leaves_unexpired;

    char summary[1024], until[32];
    minica_time_rfc3339(m.not_after, until);
    snprintf(summary, sizeof(summary),
             "ca rotate intermediate=%s subject=\"%s\" not_after=%s previous=%s "
             "previous_unexpired_leaves=%lld",
             m.serial, m.subject, until, ai->serial, (long long)ai->leaves_unexpired);
    /* The switch has happened; a lost audit row must not report it undone. */
    minica_ca_audit(ca, summary, NULL);
out:
    made_free(&m);
    minica_signer_free(root_key);
    free(nc);
    lifecycle_end(&lc);
    return ret;
}

static int current_count(const struct minica_hierarchy *h, enum minica_ca_role role)
{
    int n = 0;
    for (size_t i = 0; i < h->n; i++)
        n += h->e[i].role == role && !h->e[i].retired && !h->info[i].staged;
    return n;
}

int minica_ca_rollover(const char *dir, const struct minica_rollover_options *opts,
                       struct minica_rollover_result *out, struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    struct lifecycle lc;
    int ret = lifecycle_begin(dir, &lc, err);
    if (ret != 0)
        return ret;
    struct minica_ca *ca = lc.ca;
    struct minica_hierarchy *h = &ca->hier;
    const struct minica_ca_cert *ai = &h->info[h->active_int], *ar = &h->info[h->active_root];
    int64_t now = minica_now();
    struct made root, inter;
    memset(&root, 0, sizeof(root));
    memset(&inter, 0, sizeof(inter));
    mbedtls_pk_init(&root.key);
    /* The new root's key signs through a signer too, once it is made. */
    struct minica_signer *old_key = NULL, *root_signer = NULL;
    char *cross_pem = NULL, *roots = NULL;

    if (current_count(h, MINICA_CA_ROOT) > 1 || current_count(h, MINICA_CA_CROSS) > 0) {
        ret = minica_seterr(err, MINICA_EBUSY,
                            "a rollover is already under way; finish it first: minica ca "
                            "drop-cross, then minica ca retire OLD-ROOT-SERIAL (see minica ca "
                            "status)");
        goto out;
    }
    int64_t root_ttl = opts->root_ttl ? opts->root_ttl : lifetime(ar);
    int64_t int_ttl = opts->intermediate_ttl ? opts->intermediate_ttl : lifetime(ai);
    if (int_ttl > root_ttl) {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "the intermediate's TTL cannot exceed the root's (--intermediate-ttl "
                            "> --root-ttl)");
        goto out;
    }
    if (int_ttl < ca->policy.max_ttl) {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "--intermediate-ttl is shorter than max_ttl in minica.conf");
        goto out;
    }
    enum minica_key_type type = opts->key_type;
    if (type == 0)
        key_type_of_entry(&h->e[h->active_root], &type);
    if ((ret = minica_ca_load_ca_key(ca, (size_t)h->active_root, &old_key, err)) != 0) {
        minica_err_prefix(err, "a rollover needs the current root's key");
        goto out;
    }

    /* The new root, self-signed, and the same key certified by the old root:
     * a relying party that trusts only the old root builds leaf ->
     * intermediate -> cross -> old root. */
    next_subject(h, MINICA_CA_ROOT, root.subject, sizeof(root.subject));
    root.not_after = now + root_ttl;
    struct minica_tbs rt = {
        .subject = root.subject,
        .issuer = root.subject,
        .not_before = newer_than(now, ar->not_before),
        .not_after = root.not_after,
        .is_ca = 1,
        .pathlen = -1,
        .key_usage = MINICA_KU_KEY_CERT_SIGN | MINICA_KU_CRL_SIGN,
    };
    struct minica_tbs xt = rt;
    xt.issuer = ar->subject;
    xt.signer = old_key;
    xt.not_after = root.not_after < ar->not_after ? root.not_after : ar->not_after;
    xt.with_aki = 1;
    char cross_serial[MINICA_SERIAL_HEX_MAX];
    if ((ret = minica_key_generate(&root.key, type, &ca->rng, err)) != 0 ||
        (ret = minica_ca_key_to_pem(ca, &root.key, &root.key_pem, &root.key_len, err)) != 0 ||
        (ret = minica_serial_generate(&ca->rng, rt.serial, err)) != 0 ||
        (ret = minica_serial_generate(&ca->rng, xt.serial, err)) != 0 ||
        (ret = minica_signer_from_pk(&root.key, "file root.key", &ca->rng, &root_signer, err)) != 0)
        goto out;
    rt.subject_key = xt.subject_key = &root_signer->pub;
    rt.signer = root_signer;
    if ((ret = sign_pem(&rt, ca, &root.pem, root.serial, err)) != 0 ||
        (ret = sign_pem(&xt, ca, &cross_pem, cross_serial, err)) != 0)
        goto out;
    /* The new intermediate keeps the name constraints; the next_subject
     * count sees the new root only once it is in the hierarchy, so the
     * intermediate's name is taken now. */
    int64_t int_nb = newer_than(now, ai->not_before);
    if (int_nb < rt.not_before)
        int_nb = rt.not_before;
    if ((ret = make_intermediate(&lc, &inter, root_signer, root.subject, type, NULL, int_nb,
                                 now + int_ttl, &ai->nc, err)) != 0)
        goto out;
    char rel[160];
    snprintf(rel, sizeof(rel), MINICA_CA_ARCHIVE "/cross-%s.crt", cross_serial);
    if ((ret = archive_made(&lc, &root, "root", err)) != 0 ||
        (ret = write_state_file(&lc, rel, cross_pem, 0644, MINICA_WRITE_NOREPLACE, err)) != 0 ||
        (ret = archive_made(&lc, &inter, "intermediate", err)) != 0)
        goto out;
    size_t need = strlen(root.pem) + strlen(h->roots_pem) + 1;
    if ((roots = malloc(need)) == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(roots, need, "%s%s", root.pem, h->roots_pem);
    if ((ret = activate(&lc, &inter, roots, &root, err)) != 0)
        goto out;
    snprintf(out->root_serial, sizeof(out->root_serial), "%s", root.serial);
    snprintf(out->root_subject, sizeof(out->root_subject), "%s", root.subject);
    snprintf(out->cross_serial, sizeof(out->cross_serial), "%s", cross_serial);
    snprintf(out->intermediate_serial, sizeof(out->intermediate_serial), "%s", inter.serial);
    snprintf(out->previous_root_serial, sizeof(out->previous_root_serial), "%s", ar->serial);

    char summary[1024];
    snprintf(summary, sizeof(summary),
             "ca rollover root=%s subject=\"%s\" cross=%s intermediate=%s previous_root=%s",
             root.serial, root.subject, cross_serial, inter.serial, ar->serial);
    minica_ca_audit(ca, summary, NULL);
out:
    made_free(&root);
    made_free(&inter);
    minica_signer_free(old_key);
    minica_signer_free(root_signer);
    free(cross_pem);
    free(roots);
    lifecycle_end(&lc);
    return ret;
}

/* Moves ca/NAME.crt (and its .key) into ca/retired: one rename each, and
 * the .crt last, since the certificate is what the CA goes by. */
static int move_to_retired(const struct lifecycle *lc, const struct minica_hier_entry *e,
                           struct minica_err *err)
{
    const char *base = strrchr(e->file, '/');
    if (base == NULL)
        return minica_seterr(err, MINICA_EINVAL, "%s is not in the archive", e->file);
    base++;
    char from[MINICA_PATH_MAX], to[MINICA_PATH_MAX], dir[MINICA_PATH_MAX];
    int ret;
    size_t blen = strlen(base);
    for (int k = 0; k < 2; k++) {
        char name[160];
        if (k == 0)
            snprintf(name, sizeof(name), "%.*s.key", (int)(blen - 4), base);
        else
            snprintf(name, sizeof(name), "%s", base);
        char rel_from[200], rel_to[200];
        snprintf(rel_from, sizeof(rel_from), MINICA_CA_ARCHIVE "/%s", name);
        snprintf(rel_to, sizeof(rel_to), MINICA_CA_ARCHIVE "/retired/%s", name);
        if ((ret = state_path(lc, from, sizeof(from), rel_from, err)) != 0 ||
            (ret = state_path(lc, to, sizeof(to), rel_to, err)) != 0)
            return ret;
        if (rename(from, to) != 0 && !(k == 0 && errno == ENOENT))
            return minica_seterr(err, MINICA_EIO, "cannot move %s to %s: %s", from, to,
                                 strerror(errno));
    }
    if ((ret = state_path(lc, dir, sizeof(dir), MINICA_CA_ARCHIVE "/retired", err)) != 0 ||
        (ret = minica_fsync_dir(dir, err)) != 0 ||
        (ret = state_path(lc, dir, sizeof(dir), MINICA_CA_ARCHIVE, err)) != 0)
        return ret;
    return minica_fsync_dir(dir, err);
}

struct stale_names {
    size_t n;
    char list[512];
};

static int collect_stale(const char *name, void *ctx)
{
    struct stale_names *s = ctx;
    if (s->n < 5) {
        size_t used = strlen(s->list);
        snprintf(s->list + used, sizeof(s->list) - used, "%s%s", s->n ? ", " : "", name);
    }
    s->n++;
    return 0;
}

int minica_ca_drop_cross(const char *dir, int force, struct minica_err *err)
{
    struct lifecycle lc;
    int ret = lifecycle_begin(dir, &lc, err);
    if (ret != 0)
        return ret;
    struct minica_hierarchy *h = &lc.ca->hier;
    int found = -1;
    for (size_t i = 0; i < h->n; i++)
        if (h->e[i].role == MINICA_CA_CROSS && h->e[i].active)
            found = (int)i;
    if (found < 0) {
        ret = minica_seterr(err, MINICA_ENOENT, "no cross-certificate is in use in %s", dir);
        goto out;
    }
    const struct minica_ca_cert *x = &h->info[found];
    if (!force) {
        /* A leaf from an intermediate under the new root came with a
         * bundle that holds the new root (local issue, the agent, serve
         * answer from one loaded hierarchy); a name with none may sit
         * beside a bundle with only the old root, which then needs the
         * cross-certificate to verify anything newer. */
        const char *under_new[64];
        size_t n_new = 0;
        for (size_t i = 0; i < h->n && n_new < 64; i++)
            if (h->e[i].role == MINICA_CA_INTERMEDIATE && !h->e[i].retired &&
                h->e[i].issuer == h->active_root)
                under_new[n_new++] = h->e[i].fp;
        struct stale_names stale;
        memset(&stale, 0, sizeof(stale));
        if ((ret = minica_store_names_not_issued_by(lc.ca->store, minica_now(), under_new, n_new,
                                                    collect_stale, &stale, err)) != 0)
            goto out;
        if (stale.n > 0) {
            ret = minica_seterr(err, MINICA_EBUSY,
                                "refusing: %zu name(s) still serve only certificates from "
                                "before the new root, so their trust bundles may lack it: %s%s; "
                                "renew them first (minica agent --force on their hosts), or give "
                                "--force",
                                stale.n, stale.list, stale.n > 5 ? ", ..." : "");
            goto out;
        }
    }
    if ((ret = move_to_retired(&lc, &h->e[found], err)) != 0)
        goto out;
    char summary[256];
    snprintf(summary, sizeof(summary), "ca drop-cross cross=%s%s", x->serial,
             force ? " forced" : "");
    minica_ca_audit(lc.ca, summary, NULL);
out:
    lifecycle_end(&lc);
    return ret;
}

static int find_ca_serial(const struct minica_hierarchy *h, const char *text, int *index,
                          struct minica_err *err)
{
    char serial[MINICA_SERIAL_HEX_MAX];
    int ret = minica_serial_normalize(text, serial, sizeof(serial), err);
    if (ret != 0)
        return ret;
    *index = minica_hierarchy_find_serial(h, serial);
    if (*index < 0)
        return minica_seterr(err, MINICA_ENOENT,
                             "no CA certificate with serial %s here (see minica ca status)",
                             serial);
    return MINICA_OK;
}

static int intermediate_in_use(const struct minica_ca_cert *c, struct minica_err *err)
{
    if (c->leaves_unexpired == 0)
        return MINICA_OK;
    char until[32];
    minica_time_rfc3339(c->last_leaf_not_after, until);
    return minica_seterr(err, MINICA_EBUSY,
                         "refusing: %lld unexpired leaf certificate(s) (%lld revoked) still chain "
                         "to intermediate %s, and the last expires at %s; their CRL must stay "
                         "published until then",
                         (long long)c->leaves_unexpired, (long long)c->leaves_revoked, c->serial,
                         until);
}

int minica_ca_retire(const char *dir, const char *serial, struct minica_err *err)
{
    struct lifecycle lc;
    int ret = lifecycle_begin(dir, &lc, err);
    if (ret != 0)
        return ret;
    struct minica_hierarchy *h = &lc.ca->hier;
    int i;
    if ((ret = find_ca_serial(h, serial, &i, err)) != 0)
        goto out;
    const struct minica_ca_cert *c = &h->info[i];
    if (c->retired)
        goto out; /* nothing left to do */
    if (c->role == MINICA_CA_CROSS) {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "%s is a cross-certificate: stop sending it with minica ca drop-cross",
                            c->serial);
        goto out;
    }
    if (i == h->active_int) {
        ret = minica_seterr(err, MINICA_EBUSY,
                            "refusing: %s is the active intermediate; rotate first (minica ca "
                            "rotate)",
                            c->serial);
        goto out;
    }
    if (i == h->active_root) {
        ret = minica_seterr(err, MINICA_EBUSY,
                            "refusing: root %s issues the active intermediate; roll over first "
                            "(minica ca rollover)",
                            c->serial);
        goto out;
    }
    /* What goes: the certificate, and for a root every intermediate under it. */
    size_t victims[64], nv = 0;
    victims[nv++] = (size_t)i;
    if (c->role == MINICA_CA_INTERMEDIATE) {
        if ((ret = intermediate_in_use(c, err)) != 0)
            goto out;
    } else {
        for (size_t j = 0; j < h->n; j++) {
            const struct minica_ca_cert *d = &h->info[j];
            if (d->retired || (int)j == i)
                continue;
            /* Its own key's cross-certificate goes with it. */
            int own_cross = d->role == MINICA_CA_CROSS && strcmp(d->subject, c->subject) == 0;
            if (!own_cross && strcmp(d->issuer_fingerprint, c->fingerprint) != 0)
                continue;
            if (d->role == MINICA_CA_CROSS && !own_cross && !d->staged) {
                ret = minica_seterr(err, MINICA_EBUSY,
                                    "refusing: root %s signed the cross-certificate %s, which is "
                                    "still sent with every chain; minica ca drop-cross first",
                                    c->serial, d->serial);
                goto out;
            }
            if (d->role == MINICA_CA_INTERMEDIATE && (ret = intermediate_in_use(d, err)) != 0) {
                minica_err_prefix(err, "root %s", c->serial);
                goto out;
            }
            if (nv < sizeof(victims) / sizeof(victims[0]))
                victims[nv++] = j;
        }
    }
    for (size_t k = nv; k-- > 0;)
        if ((ret = move_to_retired(&lc, &h->e[victims[k]], err)) != 0)
            goto out;
    /* Written now: reopening frees the hierarchy c points into. */
    char summary[256];
    snprintf(summary, sizeof(summary), "ca retire %s=%s with=%zu", minica_ca_role_name(c->role),
             c->serial, nv - 1);
    if (c->role == MINICA_CA_ROOT) {
        /* root.crt now holds only the roots that remain. */
        if ((ret = reopen(&lc, err)) != 0 ||
            (ret = write_state_file(&lc, "root.crt", lc.ca->hier.roots_pem, 0644, 0, err)) != 0)
            goto out;
    }
    minica_ca_audit(lc.ca, summary, NULL);
out:
    lifecycle_end(&lc);
    return ret;
}

int minica_ca_revoke_intermediate(const char *dir, const char *serial, int reason,
                                  struct minica_err *err)
{
    struct lifecycle lc;
    int ret = lifecycle_begin(dir, &lc, err);
    if (ret != 0)
        return ret;
    struct minica_hierarchy *h = &lc.ca->hier;
    int i;
    if ((ret = find_ca_serial(h, serial, &i, err)) != 0)
        goto out;
    const struct minica_ca_cert *c = &h->info[i];
    if (c->role != MINICA_CA_INTERMEDIATE) {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "%s is a %s; only an intermediate can be revoked here", c->serial,
                            minica_ca_role_name(c->role));
        goto out;
    }
    if (i == h->active_int) {
        ret = minica_seterr(err, MINICA_EBUSY,
                            "refusing: %s is the active intermediate; rotate first (minica ca "
                            "rotate), then revoke it",
                            c->serial);
        goto out;
    }
    struct minica_ca_revocation row;
    memset(&row, 0, sizeof(row));
    snprintf(row.serial, sizeof(row.serial), "%s", c->serial);
    memcpy(row.fingerprint_sha256, c->fingerprint, sizeof(row.fingerprint_sha256));
    memcpy(row.issuer_fingerprint_sha256, c->issuer_fingerprint,
           sizeof(row.issuer_fingerprint_sha256));
    row.revoked_at = minica_now();
    row.reason = reason;
    char summary[256];
    snprintf(summary, sizeof(summary), "ca revoke intermediate=%s reason=%d leaves=%lld", c->serial,
             reason, (long long)c->leaves_unexpired);
    struct minica_store *store = lc.ca->store;
    if ((ret = minica_store_begin(store, err)) != 0)
        goto out;
    if ((ret = minica_store_revoke_ca(store, &row, err)) != 0 ||
        (ret = minica_ca_audit(lc.ca, summary, err)) != 0 ||
        (ret = minica_store_commit(store, err)) != 0)
        minica_store_rollback(store);
out:
    lifecycle_end(&lc);
    return ret;
}
