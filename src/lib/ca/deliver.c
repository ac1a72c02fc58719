/* Delivering an issued certificate into an output directory: NAME.crt,
 * NAME.key (0600), NAME.fullchain.crt (what nginx's ssl_certificate wants)
 * and ca.crt (what proxy_ssl_trusted_certificate wants), or NAME.pem (key
 * and chain in one file, 0600) and ca.crt. All are written,
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
static int deliver(const struct minica_issued *issued, const char *outdir, unsigned flags,
                   struct minica_output_paths *paths, unsigned *replaced, struct minica_err *err)
{
    *replaced = 0;
    int ret = minica_output_paths(outdir, issued->name, paths, err);
    if (ret != 0)
        return ret;
    int bundle = (flags & MINICA_DELIVER_PEM_BUNDLE) != 0;
    if (bundle && issued->key_pem == NULL)
        return minica_seterr(err, MINICA_EINVAL,
                             "a PEM bundle holds the key: it cannot be made from a CSR");
    /* A missing --out is created private: it is about to hold a key. */
    ret = flags & MINICA_DELIVER_PARENTS ? minica_mkdir_private(outdir, err)
                                         : minica_mkdir_private_one(outdir, err);
    if (ret != 0)
        return ret;
    /* An issue killed mid-delivery leaves temp files, one of them a private
     * key: clear this NAME's old ones. */
    {
        const char *bases[5];
        const char *all[5] = {paths->key, paths->cert, paths->fullchain, paths->ca, paths->bundle};
        for (int b = 0; b < 5; b++) {
            const char *slash = strrchr(all[b], '/');
            bases[b] = slash ? slash + 1 : all[b];
        }
        minica_sweep_stale_temps(outdir, bases, 5, STALE_TEMP_AGE);
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

    struct {
        const char *path;
        const char *data;
        mode_t mode;
    } files[4] = {
        {paths->key, issued->key_pem, 0600},
        {paths->cert, issued->cert_pem, 0644},
        {paths->fullchain, fullchain, 0644},
        {paths->ca, issued->root_pem, 0644},
    };
    if (bundle) {
        files[0].path = paths->bundle, files[0].data = pem_bundle;
        files[1].data = files[2].data = NULL;
    }
    /* Every issue into one --out delivers the same root: rewriting an
     * identical ca.crt would cost a file sync and touch its mtime for
     * nothing (and wake anything watching it). */
    if (issued->root_pem != NULL &&
        minica_file_has_content(paths->ca, issued->root_pem, strlen(issued->root_pem)))
        files[3].data = NULL;
    struct minica_staged_file staged[4];
    memset(staged, 0, sizeof(staged));
    for (size_t i = 0; i < 4; i++)
        staged[i].dirfd = -1;
    size_t i;
    /* Write all, then sync all: the disk flushes the files together instead
     * of one flush per file. Each is still synced before any is renamed. */
    for (i = 0; i < 4; i++) {
        if (files[i].data == NULL)
            continue; /* no key when issued from a CSR; ca.crt already current */
        if ((ret = minica_stage_file_nosync(&staged[i], files[i].path, files[i].data,
                                            strlen(files[i].data), files[i].mode, NULL, err)) != 0)
            break;
    }
    /* rename(2) cannot replace a directory: find that out before the first
     * commit, or the key would already be swapped when the chain fails. */
    for (i = 0; ret == 0 && i < 4; i++) {
        struct stat st;
        if (files[i].data != NULL && lstat(files[i].path, &st) == 0 && S_ISDIR(st.st_mode))
            ret = minica_seterr(err, MINICA_EIO, "%s is a directory", files[i].path);
    }
    for (i = 0; ret == 0 && i < 4; i++) {
        if (files[i].data != NULL)
            ret = minica_staged_sync(&staged[i], err);
    }
    if (ret == 0) {
        unsigned step = 0;
        for (i = 0; i < 4; i++) {
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
    for (i = 0; i < 4; i++)
        minica_staged_abort(&staged[i]);
    free(fullchain);
    if (pem_bundle != NULL)
        minica_free_secret(pem_bundle, pem_bundle_len);
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

int minica_deliver_files(const struct minica_issued *issued, const char *outdir, unsigned flags,
                         struct minica_output_paths *paths, struct minica_err *err)
{
    unsigned replaced;
    return deliver(issued, outdir, flags, paths, &replaced, err);
}

int minica_ca_issue_to_dir(struct minica_ca *ca, const struct minica_issue_request *req,
                           const char *outdir, unsigned flags, struct minica_issued *out,
                           struct minica_output_paths *paths, struct minica_err *err)
{
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
    if ((flags & MINICA_DELIVER_PEM_BUNDLE) && req->csr_pem != NULL)
        return minica_seterr(err, MINICA_EINVAL,
                             "a PEM bundle holds the key: it cannot be made from a CSR");
    /* A mistyped --out fails before anything is signed or recorded (and
     * a refused issue creates no directory either). */
    if (!(flags & MINICA_DELIVER_PARENTS) && (ret = minica_mkdir_one_possible(outdir, err)) != 0)
        return ret;
    if ((ret = minica_ca_issue(ca, req, out, err)) != 0)
        return ret;
    unsigned replaced = 0;
    if ((ret = deliver(out, outdir, flags, paths, &replaced, err)) == 0)
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
        const char *names[4] = {flags & MINICA_DELIVER_PEM_BUNDLE ? paths->bundle : paths->key,
                                paths->cert, paths->fullchain, paths->ca};
        char done[900] = "";
        for (unsigned i = 0; i < 4; i++) {
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
