/* The CA hierarchy: `init` creates a root and an intermediate in a state
 * directory; `open` loads them for issuing. Nothing here issues leaves. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "base/filestamp.h"
#include "ca/ca_internal.h"
#include "ca/keyfile.h"
#include "ca/keytoken.h"
#include "minica/lifecycle.h"
#include "minica/der.h"
#include "minica/fsutil.h"
#include "minica/signer_proc.h"
#include "minica/statedir.h"

/* ca/ too: another CA's archive would join this one's hierarchy. */
static const char *const ca_files[] = {
    "root.key",    "root.crt", "intermediate.key", "intermediate.crt", "minica.db",
    "minica.conf", "ca"};

static int check_ca_name(const char *name, struct minica_err *err)
{
    size_t len = strlen(name);
    if (len == 0 || len > 40)
        return minica_seterr(err, MINICA_EINVAL, "invalid --name '%s': 1 to 40 characters", name);
    for (const char *p = name; *p; p++) {
        /* Characters with a meaning in a distinguished-name string are refused. */
        if (!isprint((unsigned char)*p) || strchr(",=+\\\"<>;#", *p) != NULL)
            return minica_seterr(err, MINICA_EINVAL,
                                 "invalid --name '%s': use letters, digits, spaces, '-', '.'",
                                 name);
    }
    return MINICA_OK;
}

static int sign_to_pem(const struct minica_tbs *tbs, struct minica_scratch *scratch,
                       struct minica_rng *rng, char **pem, struct minica_err *err)
{
    unsigned char *der = NULL;
    size_t len = 0;
    int ret = minica_sign_cert(tbs, scratch, rng, &der, &len, err);
    if (ret == 0)
        ret = minica_der_to_pem(der, len, "CERTIFICATE", pem, err);
    free(der);
    return ret;
}

/* `minica --db TARGET` sets MINICA_DB for its one command (src/cli/main.c):
 * the one channel that reaches every opener (serve's reload, the agent's
 * local issuer, metrics) without a parameter through each. */
static const char *db_override(void)
{
    const char *env = getenv("MINICA_DB");
    return env != NULL && *env != '\0' ? env : NULL;
}

/* Which inventory: --db / MINICA_DB, else minica.conf's [store] database
 * (checked when parsed), else the SQLite file DIR/minica.db (is_file). */
static int store_target(const char *real, const struct minica_store_conf *conf, char *out,
                        size_t outlen, int *is_file, struct minica_err *err)
{
    const char *over = db_override();
    *is_file = 0;
    if (over != NULL) {
        int ret = minica_store_target_check(over, 0, err);
        if (ret != 0) {
            minica_err_prefix(err, "--db (or MINICA_DB)");
            return ret;
        }
    } else if (conf->database[0] == '\0') {
        *is_file = 1;
        return minica_path_join(out, outlen, real, "minica.db", err);
    }
    const char *target = over != NULL ? over : conf->database;
    if (snprintf(out, outlen, "%s", target) >= (int)outlen)
        return minica_seterr(err, MINICA_EINVAL, "database URI longer than %zu bytes", outlen - 1);
    return MINICA_OK;
}

/* [keys] of a new CA whose keys init makes in a token: the URIs and the
 * PIN's source, checked as the parser would check them. */
static int init_token_keys(const struct minica_init_options *opts, struct minica_keys_conf *keys,
                           struct minica_err *err)
{
    int ret;
    if (opts->pin_file != NULL && opts->pin_credential != NULL)
        return minica_seterr(err, MINICA_EINVAL, "--pin-file and --pin-credential: give one");
    if (opts->pin_file != NULL) {
        if ((ret = minica_keys_check_file(opts->pin_file, err)) != 0)
            return minica_seterr(err, MINICA_EINVAL, "--pin-file: an absolute path, not '%s'",
                                 opts->pin_file);
        snprintf(keys->pin_file, sizeof(keys->pin_file), "%s", opts->pin_file);
    }
    if (opts->pin_credential != NULL) {
        if ((ret = minica_keys_check_credential(opts->pin_credential, err)) != 0)
            return minica_seterr(err, MINICA_EINVAL,
                                 "--pin-credential: a credential name (no '/'), not '%s'",
                                 opts->pin_credential);
        snprintf(keys->pin_credential, sizeof(keys->pin_credential), "%s", opts->pin_credential);
    }
    const char *const uris[2] = {opts->intermediate_key, opts->root_key};
    const char *const flags[2] = {"--intermediate-key", "--root-key"};
    for (int i = 0; i < 2; i++) {
        if (uris[i] == NULL)
            continue;
        if ((ret = minica_keys_check_uri(uris[i], err)) != 0) {
            minica_err_prefix(err, "%s", flags[i]);
            return ret;
        }
    }
    if (opts->intermediate_key != NULL) {
        snprintf(keys->intermediate[0], sizeof(keys->intermediate[0]), "%s",
                 opts->intermediate_key);
        keys->n_intermediate = 1;
    }
    if (opts->root_key != NULL)
        snprintf(keys->root, sizeof(keys->root), "%s", opts->root_key);
    if ((opts->pin_file != NULL || opts->pin_credential != NULL) && uris[0] == NULL &&
        uris[1] == NULL)
        return minica_seterr(err, MINICA_EINVAL,
                             "--pin-file or --pin-credential without --intermediate-key or "
                             "--root-key: no key goes into a token");
    return MINICA_OK;
}

int minica_ca_init(const char *dir, const struct minica_init_options *opts, struct minica_err *err)
{
    const char *name = opts->name ? opts->name : "minica";
    int64_t root_ttl = opts->root_ttl ? opts->root_ttl : 10 * 365 * 86400LL;
    int64_t int_ttl = opts->intermediate_ttl ? opts->intermediate_ttl : 3 * 365 * 86400LL;
    enum minica_key_type type = opts->key_type ? opts->key_type : MINICA_KEY_EC_P256;
    struct minica_policy policy;
    char path[MINICA_PATH_MAX];
    int ret;

    if ((ret = check_ca_name(name, err)) != 0)
        return ret;
    if (int_ttl > root_ttl)
        return minica_seterr(err, MINICA_EINVAL,
                             "the intermediate's TTL cannot exceed the root's (--intermediate-ttl "
                             "> --root-ttl)");
    if (int_ttl < 86400)
        return minica_seterr(err, MINICA_EINVAL,
                             "--intermediate-ttl is too short to issue from (at least 1d)");
    minica_policy_init(&policy);
    policy.default_key_type = type;
    /* [keys] in the new minica.conf, and both keys written encrypted. */
    if (opts->passphrase_file != NULL && opts->passphrase_credential != NULL)
        return minica_seterr(err, MINICA_EINVAL,
                             "--passphrase-file and --passphrase-credential: give one");
    if (opts->passphrase_file != NULL) {
        if ((ret = minica_keys_check_file(opts->passphrase_file, err)) != 0)
            return ret;
        snprintf(policy.keys.passphrase_file, sizeof(policy.keys.passphrase_file), "%s",
                 opts->passphrase_file);
    }
    if (opts->passphrase_credential != NULL) {
        if ((ret = minica_keys_check_credential(opts->passphrase_credential, err)) != 0)
            return ret;
        snprintf(policy.keys.passphrase_credential, sizeof(policy.keys.passphrase_credential), "%s",
                 opts->passphrase_credential);
    }
    if ((ret = init_token_keys(opts, &policy.keys, err)) != 0)
        return ret;
    /* A leaf cannot outlive the intermediate: with a short one, the default
     * TTLs would make every plain `issue` fail. A leaf of default_ttl stays
     * issuable for the first half of the intermediate's life. */
    if (policy.max_ttl > int_ttl)
        policy.max_ttl = int_ttl;
    if (policy.default_ttl > int_ttl / 2)
        policy.default_ttl = int_ttl / 2;
    /* minica.conf starts with the intermediate's own permitted lists. */
    _Static_assert(MINICA_CONSTRAINTS_MAX <= MINICA_POLICY_MAX_ENTRIES, "policy too small");
    struct minica_name_constraints nc;
    if ((ret = minica_constraints_for_init(opts->permit_dns, opts->n_permit_dns, opts->permit_ip,
                                           opts->n_permit_ip, &nc, err)) != 0)
        return ret;
    for (size_t i = 0; i < nc.permit_dns.n; i++)
        snprintf(policy.permit_dns[i], sizeof(policy.permit_dns[i]), "%s", nc.permit_dns.name[i]);
    policy.n_permit_dns = nc.permit_dns.n;
    memcpy(policy.permit_ip, nc.permit_ip.cidr, nc.permit_ip.n * sizeof(policy.permit_ip[0]));
    policy.n_permit_ip = nc.permit_ip.n;

    /* An existing directory is narrowed to 0700 before anything is
     * written: a CA in a directory others may write is refused on open. */
    if ((ret = minica_statedir_prepare(dir, err)) != 0)
        return ret;
    for (size_t i = 0; i < sizeof(ca_files) / sizeof(ca_files[0]); i++) {
        if ((ret = minica_path_join(path, sizeof(path), dir, ca_files[i], err)) != 0)
            return ret;
        if (minica_file_exists(path))
            return minica_seterr(err, MINICA_EEXIST,
                                 "%s already holds a CA (%s exists); refusing to overwrite it", dir,
                                 ca_files[i]);
    }

    struct minica_rng rng;
    if ((ret = minica_rng_init(&rng, err)) != 0)
        return ret;
    mbedtls_pk_context root_key, int_key;
    mbedtls_pk_init(&root_key);
    mbedtls_pk_init(&int_key);
    /* The root signs through a signer like every CA key; it is in memory
     * here only because it was just made. */
    struct minica_signer *root_signer = NULL, *int_signer = NULL;
    struct minica_scratch scratch;
    minica_scratch_init(&scratch);
    char *root_key_pem = NULL, *int_key_pem = NULL, *root_pem = NULL, *int_pem = NULL;
    char *conf = NULL;
    size_t root_key_len = 0, int_key_len = 0;
    char root_subject[128], int_subject[128];
    snprintf(root_subject, sizeof(root_subject), "CN=%s Root CA", name);
    snprintf(int_subject, sizeof(int_subject), "CN=%s Intermediate CA", name);
    int64_t now = minica_now();

    /* A token key is made last of the two: a refusal of the other (a
     * passphrase file, say) leaves nothing behind in the token. */
    if (opts->root_key == NULL &&
        ((ret = minica_key_generate(&root_key, type, &rng, err)) != 0 ||
         (ret = minica_keyfile_pem(&policy.keys, &root_key, &rng, &root_key_pem, &root_key_len,
                                   err)) != 0 ||
         (ret = minica_signer_from_pk(&root_key, "file root.key", &rng, &root_signer, err)) != 0))
        goto out;
    if (opts->intermediate_key == NULL &&
        ((ret = minica_key_generate(&int_key, type, &rng, err)) != 0 ||
         (ret = minica_keyfile_pem(&policy.keys, &int_key, &rng, &int_key_pem, &int_key_len,
                                   err)) != 0))
        goto out;
    if (opts->root_key != NULL &&
        (ret = minica_keytoken_generate(&policy.keys, opts->root_key, type, &rng, &root_signer,
                                        err)) != 0) {
        minica_err_prefix(err, "--root-key");
        goto out;
    }
    if (opts->intermediate_key != NULL &&
        (ret = minica_keytoken_generate(&policy.keys, opts->intermediate_key, type, &rng,
                                        &int_signer, err)) != 0) {
        minica_err_prefix(err, "--intermediate-key");
        goto out;
    }

    struct minica_tbs root = {
        .subject = root_subject,
        .issuer = root_subject,
        .subject_key = &root_signer->pub,
        .signer = root_signer,
        .not_before = now - 60,
        .not_after = now + root_ttl,
        .is_ca = 1,
        .pathlen = -1,
        .key_usage = MINICA_KU_KEY_CERT_SIGN | MINICA_KU_CRL_SIGN,
    };
    struct minica_tbs inter = {
        .subject = int_subject,
        .issuer = root_subject,
        .subject_key = int_signer != NULL ? &int_signer->pub : &int_key,
        .signer = root_signer,
        .not_before = now - 60,
        .not_after = now + int_ttl,
        .is_ca = 1,
        .pathlen = 0,
        .key_usage = MINICA_KU_KEY_CERT_SIGN | MINICA_KU_CRL_SIGN,
        .name_constraints = &nc,
        .with_aki = 1,
    };
    if ((ret = minica_serial_generate(&rng, root.serial, err)) != 0 ||
        (ret = minica_serial_generate(&rng, inter.serial, err)) != 0 ||
        (ret = sign_to_pem(&root, &scratch, &rng, &root_pem, err)) != 0 ||
        (ret = sign_to_pem(&inter, &scratch, &rng, &int_pem, err)) != 0)
        goto out;
    if ((conf = minica_policy_render(&policy)) == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }

    /* Keys first: a CA certificate without its key on disk would be useless.
     * NOREPLACE: a concurrent init cannot overwrite ours (nor we theirs). */
    const struct {
        const char *base;
        const char *data;
        size_t len;
        mode_t mode;
    } files[] = {
        {"root.key", root_key_pem, root_key_pem != NULL ? root_key_len : 0, 0600},
        {"intermediate.key", int_key_pem, int_key_len, 0600},
        {"root.crt", root_pem, strlen(root_pem), 0644},
        {"intermediate.crt", int_pem, strlen(int_pem), 0644},
        {"minica.conf", conf, strlen(conf), 0644},
    };
    size_t n_files = sizeof(files) / sizeof(files[0]);
    size_t created = 0;
    for (; created < n_files; created++) {
        if (files[created].data == NULL) /* the key is in a token */
            continue;
        if ((ret = minica_path_join(path, sizeof(path), dir, files[created].base, err)) != 0 ||
            (ret = minica_write_file_atomic(path, files[created].data, files[created].len,
                                            files[created].mode, MINICA_WRITE_NOREPLACE, err)) != 0)
            break;
    }
    if (ret == 0) {
        /* The minica.conf just written names no database: the init row goes
         * to --db's when given, else to a new DIR/minica.db. */
        struct minica_store *store = NULL;
        struct minica_store_conf none;
        char summary[512];
        int is_file = 0;
        memset(&none, 0, sizeof(none));
        if ((ret = store_target(dir, &none, path, sizeof(path), &is_file, err)) == 0 &&
            (ret = minica_store_open(path, &store, err)) == 0) {
            snprintf(summary, sizeof(summary), "init name=\"%s\" key_type=%s root=%s", name,
                     minica_key_type_name(type), root_subject);
            ret = minica_store_audit(store, "init", summary, err);
            minica_store_close(store);
        }
        if (ret != 0 && is_file)
            unlink(path);
    }
    if (ret != 0) {
        /* Remove only what this call created. */
        for (size_t i = 0; i < created && i < n_files; i++) {
            if (files[i].data != NULL &&
                minica_path_join(path, sizeof(path), dir, files[i].base, NULL) == 0)
                unlink(path);
        }
        if (minica_path_join(path, sizeof(path), dir, "minica.db", NULL) == 0 &&
            created == n_files) {
            char aux[MINICA_PATH_MAX + 8];
            snprintf(aux, sizeof(aux), "%s-wal", path);
            unlink(aux);
            snprintf(aux, sizeof(aux), "%s-shm", path);
            unlink(aux);
        }
    }
out:
    minica_free_secret(root_key_pem, root_key_len);
    minica_free_secret(int_key_pem, int_key_len);
    free(root_pem);
    free(int_pem);
    free(conf);
    mbedtls_pk_free(&root_key);
    mbedtls_pk_free(&int_key);
    minica_signer_free(root_signer);
    minica_signer_free(int_signer);
    minica_scratch_free(&scratch);
    minica_rng_free(&rng);
    return ret;
}

int minica_ca_read_key(struct minica_statedir *sd, const char *base, mbedtls_pk_context *pk,
                       struct minica_rng *rng, struct minica_err *err)
{
    char *pem = NULL;
    size_t len = 0;
    /* Like ssh: a CA key others can read is treated as compromised-by-config. */
    int ret = minica_statedir_read(sd, base, 64 * 1024, &pem, &len, err);
    if (ret != 0)
        return ret;
    /* Plain, or encrypted under minica.conf's [keys] (keyfile.c). */
    ret = minica_keyfile_parse(sd, base, pem, len, pk, rng, err);
    minica_free_secret(pem, len + 1);
    return ret;
}

/* A missing minica.conf is the defaults, as it always was. */
static int load_policy(struct minica_statedir *sd, struct minica_policy *policy,
                       struct minica_err *err)
{
    char path[MINICA_PATH_MAX];
    char *text = NULL;
    int ret = minica_path_join(path, sizeof(path), sd->path, "minica.conf", err);
    if (ret != 0)
        return ret;
    ret = minica_statedir_read(sd, "minica.conf", 1024 * 1024, &text, NULL, err);
    if (ret == MINICA_ENOENT) {
        minica_policy_init(policy);
        return MINICA_OK;
    }
    if (ret == 0)
        ret = minica_policy_load_text(policy, path, text, err);
    free(text);
    return ret;
}

/* dir names the CA in messages; real is where SQLite opens it (it refuses a
 * path through a symlink, and a symlinked state directory is allowed). */
/* expect: refuse, before connecting, any inventory but this one; the
 * target opened is copied to target_out (MINICA_PATH_MAX) when given. */
static int ca_open_store(const char *dir, const char *real, const struct minica_store_conf *conf,
                         const char *expect, char *target_out, struct minica_store **store,
                         struct minica_err *err)
{
    char target[MINICA_PATH_MAX];
    int is_file = 0;
    int ret = store_target(real, conf, target, sizeof(target), &is_file, err);
    if (ret != 0)
        return ret;
    /* Both come from minica.conf, which holds no password, or both from
     * MINICA_DB, which then did not change. */
    if (expect != NULL && strcmp(target, expect) != 0)
        return minica_seterr(err, MINICA_EINVAL,
                             "minica.conf names another inventory (%s, not %s): restart to "
                             "switch",
                             target, expect);
    if (target_out != NULL)
        memcpy(target_out, target, sizeof(target));
    if (is_file && !minica_file_exists(target))
        return minica_seterr(err, MINICA_ENOENT,
                             "no CA in %s (minica.db is missing); create one with: minica init "
                             "--dir %s",
                             dir, dir);
    return minica_store_open(target, store, err);
}

/* [store] alone: list and log must work while [policy] is broken (they show
 * why). A missing minica.conf names no database. */
static int load_store_conf(struct minica_statedir *sd, struct minica_store_conf *conf,
                           struct minica_err *err)
{
    char path[MINICA_PATH_MAX];
    char *text = NULL;
    memset(conf, 0, sizeof(*conf));
    int ret = minica_path_join(path, sizeof(path), sd->path, "minica.conf", err);
    if (ret != 0)
        return ret;
    ret = minica_statedir_read(sd, "minica.conf", 1024 * 1024, &text, NULL, err);
    if (ret == MINICA_ENOENT)
        return MINICA_OK;
    if (ret == 0)
        ret = minica_store_conf_load_text(conf, path, text, err);
    free(text);
    return ret;
}

int minica_state_open_store(const char *dir, struct minica_store **out, struct minica_err *err)
{
    *out = NULL;
    struct minica_statedir sd;
    struct minica_store_conf conf;
    int ret = minica_statedir_open(&sd, dir, err);
    if (ret == 0 && (ret = load_store_conf(&sd, &conf, err)) == 0)
        ret = ca_open_store(dir, sd.real, &conf, NULL, NULL, out, err);
    minica_statedir_close(&sd);
    return ret;
}

int minica_state_has_store(const char *dir)
{
    if (db_override() != NULL)
        return 1;
    char path[MINICA_PATH_MAX];
    if (minica_path_join(path, sizeof(path), dir, "minica.db", NULL) == 0 &&
        minica_file_exists(path))
        return 1;
    struct minica_statedir sd;
    struct minica_store_conf conf;
    struct minica_err ignored;
    int has = 0;
    if (minica_statedir_open(&sd, dir, &ignored) == 0 && load_store_conf(&sd, &conf, &ignored) == 0)
        has = conf.database[0] != '\0';
    minica_statedir_close(&sd);
    return has;
}

int minica_state_stamp(const char *dir, char *out, size_t outlen, int *settled)
{
    out[0] = '\0';
    *settled = 1;
    if (db_override() != NULL)
        return MINICA_EINVAL;
    struct minica_statedir sd;
    struct minica_store_conf conf;
    struct minica_err ignored;
    if (minica_statedir_open(&sd, dir, &ignored) != 0)
        return MINICA_EINVAL;
    int ret = load_store_conf(&sd, &conf, &ignored);
    minica_statedir_close(&sd);
    if (ret != 0 || conf.database[0] != '\0')
        return MINICA_EINVAL; /* a server's inventory changes unseen from here */
    /* Everything a verdict reads: the CA certificates (replaced by
     * rename, and the archive's entries by rename into it), the policy, and
     * the inventory with its write-ahead log. Not DIR itself: the agent's
     * own status files may live there. */
    static const struct {
        const char *rel;
        unsigned fields;
    } parts[] = {
        {"minica.conf", MINICA_STAMP_ALL},
        {"root.crt", MINICA_STAMP_ALL},
        {"intermediate.crt", MINICA_STAMP_ALL},
        {MINICA_CA_ARCHIVE, MINICA_STAMP_ALL},
        {MINICA_CA_ARCHIVE "/retired", MINICA_STAMP_ALL},
        {"minica.db", MINICA_STAMP_ALL},
        {"minica.db-wal", MINICA_STAMP_NO_CTIME},
    };
    int64_t now = minica_filestamp_now();
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        char path[MINICA_PATH_MAX];
        if (minica_path_join(path, sizeof(path), dir, parts[i].rel, NULL) != 0 ||
            minica_filestamp_append(out, outlen, path, parts[i].fields, now, settled) != 0)
            return MINICA_EIO;
    }
    return MINICA_OK;
}

/* A bad minica.conf stops all issuance; the audit log says why, for whoever
 * looks later. Best effort: the caller reports the error itself. When even
 * [store] is unreadable, only an existing DIR/minica.db is written to. */
static void audit_policy_error(struct minica_statedir *sd, const struct minica_err *err)
{
    struct minica_store *store = NULL;
    struct minica_store_conf conf;
    struct minica_err ignored;
    char summary[sizeof(err->msg) + 32];
    if (load_store_conf(sd, &conf, &ignored) != 0)
        memset(&conf, 0, sizeof(conf));
    if (ca_open_store(sd->real, sd->real, &conf, NULL, NULL, &store, &ignored) != 0)
        return;
    snprintf(summary, sizeof(summary), "policy load error: %s", err->msg);
    minica_store_audit(store, "policy", summary, &ignored);
    minica_store_close(store);
}

/* Entry i's key in a PKCS#11 token, as [keys] names it: the one whose
 * public key is the certificate's (minica_keytoken_open checks it). */
static int token_signer_of(struct minica_ca *ca, size_t i, struct minica_statedir *sd,
                           struct minica_signer **out, struct minica_err *err)
{
    const struct minica_hier_entry *e = &ca->hier.e[i];
    struct minica_keys_conf *keys = calloc(1, sizeof(*keys));
    if (keys == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    char what[200];
    snprintf(what, sizeof(what), "%s/%s", sd->path, e->file);
    int ret = minica_keyfile_keys_conf(sd, keys, err);
    if (ret == 0)
        ret = minica_keytoken_open(keys, e->role, &e->crt.pk, what, out, err);
    free(keys);
    return ret;
}

/* The signer of hier.e[i]: its key file, read into memory, or its key in
 * a token. */
static int signer_of(struct minica_ca *ca, size_t i, struct minica_statedir *sd,
                     struct minica_signer **out, struct minica_err *err)
{
    mbedtls_pk_context pk;
    char file[160], where[200];
    *out = NULL;
    if (ca->hier.e[i].in_token)
        return token_signer_of(ca, i, sd, out, err);
    mbedtls_pk_init(&pk);
    int ret = minica_hierarchy_load_key(&ca->hier, i, sd, &pk, file, sizeof(file), &ca->rng, err);
    if (ret == 0) {
        snprintf(where, sizeof(where), "file %s", file);
        ret = minica_signer_from_pk(&pk, where, &ca->rng, out, err);
    }
    mbedtls_pk_free(&pk);
    return ret;
}

/* A handle whose keys are in serve's signer process: the signer of every
 * certificate the worker holds a key for asks it, and the others' keys
 * are missing here, whatever the directory holds. */
static int attach_signer_proc(struct minica_ca *ca, struct minica_signer_proc *proc,
                              struct minica_err *err)
{
    ca->sigproc = proc;
    for (size_t i = 0; i < ca->hier.n; i++) {
        ca->hier.e[i].has_key = minica_signer_proc_holds(proc, ca->hier.e[i].fp);
        ca->hier.e[i].in_token = 0; /* the worker's, if it holds it */
    }
    if (!ca->hier.e[ca->hier.active_int].has_key)
        return minica_seterr(err, MINICA_ENOENT,
                             "serve's signer process does not hold the issuing intermediate's "
                             "key (%s)",
                             ca->hier.e[ca->hier.active_int].file);
    return minica_signer_proc_signer(proc, ca->intermediate, &ca->intermediate_key, err);
}

static int ca_open(const char *dir, unsigned flags, struct minica_signer_proc *proc,
                   const char *expect_store, struct minica_ca **out, struct minica_err *err)
{
    *out = NULL;
    struct minica_ca *ca = calloc(1, sizeof(*ca));
    if (ca == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    snprintf(ca->dir, sizeof(ca->dir), "%s", dir);
    snprintf(ca->command, sizeof(ca->command), "minica");
    snprintf(ca->origin, sizeof(ca->origin), "local");
    minica_scratch_init(&ca->scratch);
    int ret = minica_rng_init(&ca->rng, err);
    if (ret != 0) {
        free(ca);
        return ret;
    }
    /* Every file is checked before any is believed (and each again as it is
     * read): another local user must not choose the policy or the key. */
    struct minica_statedir sd;
    minica_statedir_init(&sd);
    if ((ret = minica_statedir_open(&sd, dir, err)) != 0 ||
        (ret = minica_hierarchy_load(&ca->hier, &sd, err)) != 0)
        goto fail;
    ca->intermediate = &ca->hier.e[ca->hier.active_int].crt;
    ca->root = &ca->hier.e[ca->hier.active_root].crt;
    if (proc != NULL)
        ret = attach_signer_proc(ca, proc, err);
    else if (!(flags & MINICA_CA_OPEN_NO_KEY))
        ret = signer_of(ca, (size_t)ca->hier.active_int, &sd, &ca->intermediate_key, err);
    if (ret != 0)
        goto fail;
    if ((ret = load_policy(&sd, &ca->policy, err)) != 0) {
        audit_policy_error(&sd, err);
        goto fail;
    }
    if (!(flags & MINICA_CA_OPEN_NO_STORE) &&
        ((ret = ca_open_store(dir, sd.real, &ca->policy.store, expect_store, ca->store_target,
                              &ca->store, err)) != 0 ||
         (ret = minica_hierarchy_apply_store(&ca->hier, ca->store, minica_now(), err)) != 0))
        goto fail;
    const struct minica_ca_cert *ai = &ca->hier.info[ca->hier.active_int];
    mbedtls_x509_dn_gets(ca->intermediate_subject, sizeof(ca->intermediate_subject),
                         &ca->intermediate->subject);
    memcpy(ca->intermediate_fp, ai->fingerprint, sizeof(ca->intermediate_fp));
    memcpy(ca->root_fp, ca->hier.info[ca->hier.active_root].fingerprint, sizeof(ca->root_fp));
    ca->intermediate_not_after = ai->not_after;
    ca->intermediate_nc = ai->nc;
    minica_statedir_close(&sd);
    *out = ca;
    return MINICA_OK;
fail:
    minica_statedir_close(&sd);
    minica_ca_close(ca);
    return ret;
}

int minica_ca_load_ca_key(struct minica_ca *ca, size_t i, struct minica_signer **out,
                          struct minica_err *err)
{
    if (ca->sigproc != NULL) {
        *out = NULL;
        if (!ca->hier.e[i].has_key)
            return minica_seterr(err, MINICA_ENOENT,
                                 "serve's signer process holds no key for %s (it reads the keys "
                                 "at start and at SIGHUP)",
                                 ca->hier.e[i].file);
        return minica_signer_proc_signer(ca->sigproc, &ca->hier.e[i].crt, out, err);
    }
    struct minica_statedir sd;
    int ret = minica_statedir_open(&sd, ca->dir, err);
    if (ret == 0)
        ret = signer_of(ca, i, &sd, out, err);
    minica_statedir_close(&sd);
    return ret;
}

int minica_ca_open_flags(const char *dir, unsigned flags, struct minica_ca **out,
                         struct minica_err *err)
{
    return ca_open(dir, flags, NULL, NULL, out, err);
}

int minica_ca_open(const char *dir, struct minica_ca **out, struct minica_err *err)
{
    return ca_open(dir, 0, NULL, NULL, out, err);
}

int minica_ca_open_signed_by(const char *dir, struct minica_signer_proc *proc,
                             struct minica_ca **out, struct minica_err *err)
{
    return ca_open(dir, MINICA_CA_OPEN_NO_KEY, proc, NULL, out, err);
}

int minica_ca_reopen(const struct minica_ca *current, struct minica_ca **out,
                     struct minica_err *err)
{
    return ca_open(current->dir, current->sigproc ? MINICA_CA_OPEN_NO_KEY : 0, current->sigproc,
                   current->store_target, out, err);
}

void minica_ca_close(struct minica_ca *ca)
{
    if (ca == NULL)
        return;
    minica_hierarchy_free(&ca->hier);
    minica_signer_free(ca->intermediate_key);
    minica_scratch_free(&ca->scratch);
    minica_rng_free(&ca->rng);
    minica_store_close(ca->store);
    mbedtls_platform_zeroize(ca, sizeof(*ca));
    free(ca);
}

void minica_ca_set_actor(struct minica_ca *ca, const char *command, const char *origin)
{
    if (command)
        snprintf(ca->command, sizeof(ca->command), "%s", command);
    if (origin)
        snprintf(ca->origin, sizeof(ca->origin), "%s", origin);
}

int minica_ca_audit(struct minica_ca *ca, const char *summary, struct minica_err *err)
{
    /* Whole, however long: a revocation of many certificates names every
     * serial, and the audit log is the record of it. */
    if (strcmp(ca->origin, "local") == 0)
        return minica_store_audit(ca->store, ca->command, summary, err);
    size_t size = strlen(summary) + strlen(ca->origin) + 4;
    char *line = malloc(size);
    if (line == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    snprintf(line, size, "%s (%s)", summary, ca->origin);
    int ret = minica_store_audit(ca->store, ca->command, line, err);
    free(line);
    return ret;
}

void minica_ca_set_refusal_sink(struct minica_ca *ca, minica_refusal_sink sink, void *ctx)
{
    ca->refusal_sink = sink;
    ca->refusal_ctx = ctx;
}

void minica_ca_audit_refusal(struct minica_ca *ca, const char *summary, const char *unproven)
{
    if (ca->refusal_sink == NULL) {
        minica_ca_audit(ca, summary, NULL);
        return;
    }
    char line[4096];
    if (strcmp(ca->origin, "local") == 0)
        snprintf(line, sizeof(line), "%s", summary);
    else
        snprintf(line, sizeof(line), "%s (%s)", summary, ca->origin);
    ca->refusal_sink(ca->refusal_ctx, unproven ? unproven : ca->origin, ca->command, line);
}

const char *minica_ca_dir(const struct minica_ca *ca)
{
    return ca->dir;
}
const struct minica_policy *minica_ca_policy(const struct minica_ca *ca)
{
    return &ca->policy;
}
struct minica_store *minica_ca_store(struct minica_ca *ca)
{
    return ca->store;
}
const char *minica_ca_roots_pem(const struct minica_ca *ca)
{
    return ca->hier.roots_pem;
}
const char *minica_ca_chain_pem(const struct minica_ca *ca)
{
    return ca->hier.chain_pem;
}
int minica_ca_chain_pem_of(const struct minica_ca *ca, const char *issuer_fp, char **out,
                           struct minica_err *err)
{
    *out = NULL;
    for (size_t i = 0; i < ca->hier.n; i++)
        if (ca->hier.e[i].role == MINICA_CA_INTERMEDIATE &&
            strcmp(ca->hier.e[i].fp, issuer_fp) == 0)
            return minica_hierarchy_chain_of(&ca->hier, i, out, err);
    return minica_seterr(err, MINICA_ENOENT, "no intermediate of this CA has fingerprint %.64s",
                         issuer_fp);
}
void minica_ca_certs(const struct minica_ca *ca, const struct minica_ca_cert **certs, size_t *n)
{
    *certs = ca->hier.info;
    *n = ca->hier.n;
}
const char *minica_ca_cert_pem(const struct minica_ca *ca, const struct minica_ca_cert *cert)
{
    size_t i = (size_t)(cert - ca->hier.info);
    return i < ca->hier.n ? ca->hier.e[i].pem : NULL;
}
const struct minica_ca_cert *minica_ca_active_intermediate(const struct minica_ca *ca)
{
    return &ca->hier.info[ca->hier.active_int];
}
const struct minica_ca_cert *minica_ca_active_root(const struct minica_ca *ca)
{
    return &ca->hier.info[ca->hier.active_root];
}
int64_t minica_ca_intermediate_not_after(const struct minica_ca *ca)
{
    return ca->intermediate_not_after;
}
const char *minica_ca_intermediate_fingerprint(const struct minica_ca *ca)
{
    return ca->intermediate_fp;
}
const char *minica_ca_root_fingerprint(const struct minica_ca *ca)
{
    return ca->root_fp;
}

int minica_ca_verify_issued(struct minica_ca *ca, const unsigned char *der, size_t len,
                            char serial[MINICA_SERIAL_HEX_MAX], struct minica_err *err)
{
    /* Any current intermediate (and cross-certificate) may be the link: a
     * leaf of the previous intermediate renews over mutual TLS like one of
     * the active one. Only current roots anchor it. */
    mbedtls_x509_crt chain, roots;
    mbedtls_x509_crt_init(&chain);
    mbedtls_x509_crt_init(&roots);
    int ret;
    if (minica_crt_parse_der(&chain, der, len, NULL) != 0) {
        ret = minica_seterr(err, MINICA_EINVAL, "the certificate cannot be parsed");
        goto out;
    }
    for (size_t i = 0; i < ca->hier.n; i++) {
        const struct minica_hier_entry *e = &ca->hier.e[i];
        if (e->retired || ca->hier.info[i].revoked || ca->hier.info[i].staged)
            continue;
        mbedtls_x509_crt *to = e->role == MINICA_CA_ROOT ? &roots : &chain;
        if (minica_crt_parse_der(to, e->crt.raw.p, e->crt.raw.len, NULL) != 0) {
            ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
            goto out;
        }
    }
    uint32_t flags = 0;
    mbedtls_x509_crt_verify(&chain, &roots, NULL, NULL, &flags, NULL, NULL);
    flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
    if (flags != 0) {
        ret = minica_seterr(err, MINICA_EFORBIDDEN, "the certificate was not issued by this CA");
        goto out;
    }
    minica_serial_to_hex(chain.serial.p, chain.serial.len, serial, MINICA_SERIAL_HEX_MAX);
    ret = MINICA_OK;
out:
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&roots);
    return ret;
}
