/* Delivering an issued certificate into an output directory: NAME.crt,
 * NAME.key (0600), NAME.fullchain.crt (what nginx's ssl_certificate wants)
 * and ca.crt (what proxy_ssl_trusted_certificate wants), or NAME.pem (key
 * and chain in one file, 0600) and ca.crt, and NAME.p12 (PKCS#12, 0600)
 * when asked. All are written,
 * then synced, before the first is renamed, so a full disk fails before
 * anything is replaced; an identical ca.crt is left alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/crashpoint.h"
#include "ca/x509.h"
#include "minica/fsutil.h"
#include "minica/issue.h"
#include "minica/key.h"
#include "minica/pembundle.h"
#include "minica/pkcs12.h"

int minica_output_paths(const char *outdir, const char *name, struct minica_output_paths *paths,
                        struct minica_err *err)
{
    struct minica_name parsed;
    int ret = minica_name_parse(name, &parsed, err);
    if (ret != 0)
        return ret;
    /* The canonical name has no "/" and no "..": it cannot leave outdir. */
    char base[320];
    if (parsed.wildcard)
        snprintf(base, sizeof(base), "_wildcard.%s", parsed.text + 2);
    else
        snprintf(base, sizeof(base), "%s", parsed.text);
    char file[360];
    snprintf(file, sizeof(file), "%s.crt", base);
    if ((ret = minica_path_join(paths->cert, sizeof(paths->cert), outdir, file, err)) != 0)
        return ret;
    snprintf(file, sizeof(file), "%s.key", base);
    if ((ret = minica_path_join(paths->key, sizeof(paths->key), outdir, file, err)) != 0)
        return ret;
    snprintf(file, sizeof(file), "%s.fullchain.crt", base);
    if ((ret = minica_path_join(paths->fullchain, sizeof(paths->fullchain), outdir, file, err)) !=
        0)
        return ret;
    snprintf(file, sizeof(file), "%s.pem", base);
    if ((ret = minica_path_join(paths->bundle, sizeof(paths->bundle), outdir, file, err)) != 0)
        return ret;
    snprintf(file, sizeof(file), "%s.p12", base);
    if ((ret = minica_path_join(paths->pkcs12, sizeof(paths->pkcs12), outdir, file, err)) != 0)
        return ret;
    paths->found_mismatch[0] = '\0';
    return minica_path_join(paths->ca, sizeof(paths->ca), outdir, "ca.crt", err);
}

/* key_path's key against those of cert_paths that exist: 0 only for a
 * known mismatch. */
static int existing_pair_mismatch(const char *key_path, const char *a, const char *b, char *why,
                                  size_t whylen)
{
    if (!minica_file_exists(key_path))
        return 0;
    const char *certs[2] = {minica_file_exists(a) ? a : "", b && minica_file_exists(b) ? b : ""};
    return minica_key_files_match(key_path, certs, 2, why, whylen) == 0;
}

/* What an earlier delivery killed between two renames left behind: nothing
 * else looks at it, and the files about to be written replace it. */
static void note_mismatch_before(const struct minica_output_paths *paths, unsigned flags, char *out,
                                 size_t outlen)
{
    char why[900];
    int bad =
        flags & MINICA_DELIVER_PEM_BUNDLE
            ? existing_pair_mismatch(paths->bundle, paths->bundle, NULL, why, sizeof(why))
            : existing_pair_mismatch(paths->key, paths->cert, paths->fullchain, why, sizeof(why));
    if (bad)
        snprintf(out, outlen, "%s (an interrupted earlier issue?); replaced by a matching pair",
                 why);
}

/* Older than any delivery in progress (which takes milliseconds). */
#define STALE_TEMP_AGE 600

/* *replaced says which files already carry the new certificate or key
 * when delivery fails (bit i for files[i]; every file written once every
 * rename is done, even if the directory sync then fails). A ca.crt left
 * alone because it already holds the root is not replaced. */
#define N_FILES 5

/* Refusals that need no signature: checked before a certificate is made. */
static int check_options(const struct minica_deliver_options *opts, int has_key,
                         struct minica_err *err)
{
    if ((opts->flags & MINICA_DELIVER_PEM_BUNDLE) && !has_key)
        return minica_seterr(err, MINICA_EINVAL,
                             "a PEM bundle holds the key: it cannot be made from a CSR");
    if ((opts->flags & MINICA_DELIVER_PKCS12) && !has_key)
        return minica_seterr(err, MINICA_EINVAL,
                             "a PKCS#12 file holds the key: it cannot be made from a CSR");
    if ((opts->flags & MINICA_DELIVER_PKCS12) &&
        (opts->pkcs12_pass == NULL || opts->pkcs12_pass_len == 0))
        return minica_seterr(err, MINICA_EINVAL, "a PKCS#12 file needs a passphrase");
    return MINICA_OK;
}

static int deliver(const struct minica_issued *issued, const char *outdir,
                   const struct minica_deliver_options *opts, struct minica_output_paths *paths,
                   unsigned *replaced, struct minica_err *err)
{
    *replaced = 0;
    unsigned flags = opts->flags;
    int ret = minica_output_paths(outdir, issued->name, paths, err);
    if (ret != 0)
        return ret;
    int bundle = (flags & MINICA_DELIVER_PEM_BUNDLE) != 0;
    if ((ret = check_options(opts, issued->key_pem != NULL, err)) != 0)
        return ret;
    /* A missing --out is created private: it is about to hold a key. */
    ret = flags & MINICA_DELIVER_PARENTS ? minica_mkdir_private(outdir, err)
                                         : minica_mkdir_private_one(outdir, err);
    if (ret != 0)
        return ret;
    /* An issue killed mid-delivery leaves temp files, one of them a private
     * key: clear this NAME's old ones. */
    {
        const char *bases[6];
        const char *all[6] = {paths->key, paths->cert,   paths->fullchain,
                              paths->ca,  paths->bundle, paths->pkcs12};
        for (int b = 0; b < 6; b++) {
            const char *slash = strrchr(all[b], '/');
            bases[b] = slash ? slash + 1 : all[b];
        }
        minica_sweep_stale_temps(outdir, bases, 6, STALE_TEMP_AGE);
    }
    if (issued->key_pem != NULL)
        note_mismatch_before(paths, flags, paths->found_mismatch, sizeof(paths->found_mismatch));

    size_t cert_len = strlen(issued->cert_pem), chain_len = strlen(issued->chain_pem);
    char *fullchain = malloc(cert_len + chain_len + 1);
    if (fullchain == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    memcpy(fullchain, issued->cert_pem, cert_len);
    memcpy(fullchain + cert_len, issued->chain_pem, chain_len + 1);
    char *pem_bundle = NULL;
    size_t pem_bundle_len = 0;
    if (bundle &&
        (ret = minica_pem_bundle_build(issued->key_pem, issued->cert_pem, issued->chain_pem,
                                       &pem_bundle, &pem_bundle_len, err)) != 0) {
        free(fullchain);
        return ret;
    }
    /* Built (a few seconds of PBKDF2) before anything is staged: a failure
     * leaves every file as it was. */
    unsigned char *p12 = NULL;
    size_t p12_len = 0;
    if (flags & MINICA_DELIVER_PKCS12) {
        struct minica_pkcs12_input in;
        memset(&in, 0, sizeof(in));
        in.key_pem = issued->key_pem;
        in.cert_pem = issued->cert_pem;
        in.chain_pem = issued->chain_pem;
        in.friendly_name = issued->name;
        in.pass = opts->pkcs12_pass;
        in.pass_len = opts->pkcs12_pass_len;
        if ((ret = minica_pkcs12_build(&in, &p12, &p12_len, err)) != 0) {
            minica_err_prefix(err, "%s", paths->pkcs12);
            free(fullchain);
            if (pem_bundle != NULL)
                minica_free_secret(pem_bundle, pem_bundle_len);
            return ret;
        }
    }

    struct {
        const char *path;
        const char *data;
        size_t len;
        mode_t mode;
    } files[N_FILES] = {
        {paths->key, issued->key_pem, 0, 0600},
        {paths->cert, issued->cert_pem, 0, 0644},
        {paths->fullchain, fullchain, 0, 0644},
        {paths->ca, issued->root_pem, 0, 0644},
        {paths->pkcs12, (const char *)p12, p12_len, 0600},
    };
    if (bundle) {
        files[0].path = paths->bundle, files[0].data = pem_bundle;
        files[1].data = files[2].data = NULL;
    }
    for (size_t f = 0; f < 4; f++)
        files[f].len = files[f].data != NULL ? strlen(files[f].data) : 0;
    /* Every issue into one --out delivers the same root: rewriting an
     * identical ca.crt would cost a file sync and touch its mtime for
     * nothing (and wake anything watching it). */
    if (issued->root_pem != NULL &&
        minica_file_has_content(paths->ca, issued->root_pem, strlen(issued->root_pem)))
        files[3].data = NULL;
    struct minica_staged_file staged[N_FILES];
    memset(staged, 0, sizeof(staged));
    for (size_t i = 0; i < N_FILES; i++)
        staged[i].dirfd = -1;
    size_t i;
    /* Write all, then sync all: the disk flushes the files together instead
     * of one flush per file. Each is still synced before any is renamed. */
    for (i = 0; i < N_FILES; i++) {
        if (files[i].data == NULL)
            continue; /* no key when issued from a CSR; ca.crt already current; no .p12 */
        if ((ret = minica_stage_file_nosync(&staged[i], files[i].path, files[i].data, files[i].len,
                                            files[i].mode, NULL, err)) != 0)
            break;
    }
    /* rename(2) cannot replace a directory: find that out before the first
     * commit, or the key would already be swapped when the chain fails. */
    for (i = 0; ret == 0 && i < N_FILES; i++) {
        struct stat st;
        if (files[i].data != NULL && lstat(files[i].path, &st) == 0 && S_ISDIR(st.st_mode))
            ret = minica_seterr(err, MINICA_EIO, "%s is a directory", files[i].path);
    }
    for (i = 0; ret == 0 && i < N_FILES; i++) {
        if (files[i].data != NULL)
            ret = minica_staged_sync(&staged[i], err);
    }
    if (ret == 0) {
        unsigned step = 0;
        for (i = 0; i < N_FILES; i++) {
            if (files[i].data == NULL)
                continue;
            if ((ret = minica_staged_commit(&staged[i], MINICA_WRITE_NO_DIRSYNC, err)) != 0)
                break;
            *replaced |= 1u << i;
            minica_crashpoint("issue-deliver", ++step);
        }
        /* One directory sync makes every rename durable before we report success. */
        if (ret == 0)
            ret = minica_fsync_dir(*outdir != '\0' ? outdir : ".", err);
    }
    for (i = 0; i < N_FILES; i++)
        minica_staged_abort(&staged[i]);
    free(fullchain);
    if (pem_bundle != NULL)
        minica_free_secret(pem_bundle, pem_bundle_len);
    free(p12); /* encrypted: nothing to wipe */
    /* From a CSR the key is elsewhere; one left here from an earlier issue
     * would pair with the new certificate in a snippet that names it. */
    if (ret == 0 && issued->key_pem == NULL &&
        existing_pair_mismatch(paths->key, paths->cert, NULL, paths->found_mismatch,
                               sizeof(paths->found_mismatch))) {
        size_t used = strlen(paths->found_mismatch);
        snprintf(paths->found_mismatch + used, sizeof(paths->found_mismatch) - used,
                 " (issued from a CSR, so that key was left alone: remove it, or point "
                 "ssl_certificate_key at the CSR's key)");
    }
    return ret;
}

int minica_deliver_files_opts(const struct minica_issued *issued, const char *outdir,
                              const struct minica_deliver_options *opts,
                              struct minica_output_paths *paths, struct minica_err *err)
{
    unsigned replaced;
    return deliver(issued, outdir, opts, paths, &replaced, err);
}

int minica_deliver_files(const struct minica_issued *issued, const char *outdir, unsigned flags,
                         struct minica_output_paths *paths, struct minica_err *err)
{
    struct minica_deliver_options opts = {flags, NULL, 0};
    return minica_deliver_files_opts(issued, outdir, &opts, paths, err);
}

int minica_ca_issue_to_dir(struct minica_ca *ca, const struct minica_issue_request *req,
                           const char *outdir, unsigned flags, struct minica_issued *out,
                           struct minica_output_paths *paths, struct minica_err *err)
{
    struct minica_deliver_options opts = {flags, NULL, 0};
    return minica_ca_issue_to_dir_opts(ca, req, outdir, &opts, out, paths, err);
}

int minica_ca_issue_to_dir_opts(struct minica_ca *ca, const struct minica_issue_request *req,
                                const char *outdir, const struct minica_deliver_options *opts,
                                struct minica_issued *out, struct minica_output_paths *paths,
                                struct minica_err *err)
{
    unsigned flags = opts->flags;
    memset(out, 0, sizeof(*out));
    /* Refuse a bad NAME before anything is signed or recorded. */
    int ret = minica_output_paths(outdir, req->name, paths, err);
    if (ret != 0)
        return ret;
    /* Leaves never go into the state directory: "minica issue intermediate"
     * run there would replace the CA's own key and certificate. */
    struct stat out_st, ca_st;
    if (stat(*outdir != '\0' ? outdir : ".", &out_st) == 0 &&
        stat(minica_ca_dir(ca), &ca_st) == 0 && out_st.st_dev == ca_st.st_dev &&
        out_st.st_ino == ca_st.st_ino)
        return minica_seterr(err, MINICA_EINVAL,
                             "refusing to write into the CA's state directory %s (use --out DIR)",
                             minica_ca_dir(ca));
    if ((ret = check_options(opts, req->csr_pem == NULL, err)) != 0)
        return ret;
    /* A mistyped --out fails before anything is signed or recorded (and
     * a refused issue creates no directory either). */
    if (!(flags & MINICA_DELIVER_PARENTS) && (ret = minica_mkdir_one_possible(outdir, err)) != 0)
        return ret;
    if ((ret = minica_ca_issue(ca, req, out, err)) != 0)
        return ret;
    unsigned replaced = 0;
    if ((ret = deliver(out, outdir, opts, paths, &replaced, err)) == 0)
        return MINICA_OK;
    char summary[1024];
    if (replaced == 0) {
        /* Nothing on disk refers to it: neither a row nor files. */
        snprintf(summary, sizeof(summary), "withdrew %s serial=%s: the files could not be written",
                 out->name, out->serial);
        minica_store_delete_cert(minica_ca_store(ca), out->serial, NULL);
    } else {
        /* Some files already hold the new certificate or key: the row stays,
         * or a certificate in use could be neither listed nor revoked. */
        const char *names[N_FILES] = {flags & MINICA_DELIVER_PEM_BUNDLE ? paths->bundle
                                                                        : paths->key,
                                      paths->cert, paths->fullchain, paths->ca, paths->pkcs12};
        char done[900] = "";
        for (unsigned i = 0; i < N_FILES; i++) {
            if (!(replaced & (1u << i)))
                continue;
            const char *base = strrchr(names[i], '/');
            base = base ? base + 1 : names[i];
            size_t used = strlen(done);
            snprintf(done + used, sizeof(done) - used, "%s%s", used ? ", " : "", base);
        }
        snprintf(summary, sizeof(summary),
                 "delivering %s serial=%s failed after %s had been replaced; the certificate "
                 "stays in the inventory",
                 out->name, out->serial, done);
        if (err != NULL) {
            size_t used = strlen(err->msg);
            snprintf(err->msg + used, sizeof(err->msg) - used,
                     "; %s already replaced, serial %s kept in the inventory (run the same "
                     "command again)",
                     done, out->serial);
        }
    }
    minica_ca_audit(ca, summary, NULL);
    minica_issued_free(out);
    return ret;
}
