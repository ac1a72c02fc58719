/* Replacing a managed certificate's files with NAME.prev kept, putting
 * them back when its group fails, and the leftovers of a run killed in
 * between. Atomic writes themselves are base/fsutil.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_internal.h"
#include "base/crashpoint.h"
#include "minica/agent.h"
#include "minica/pembundle.h"

void minica_agent_pending_free(struct pending *p)
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

int minica_agent_restore(struct pending *p, struct minica_err *err)
{
    int ret = MINICA_OK;
    unsigned step = 0;
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
        minica_crashpoint("agent-restore", ++step);
    }
    p->replaced = 0;
    return ret;
}

/* The files about to become NAME.prev, as a rollback would put them back.
 * Only a known mismatch counts: a key minica cannot read (encrypted, for
 * an nginx with ssl_password_file) or a setup without a fullchain yet is
 * the operator's own and is put back as it was. */
static void judge_current(const struct minica_agent_cert *c, struct pending *p)
{
    struct minica_agent_cert present = *c;
    const char **paths[4] = {&present.key, &present.cert, &present.fullchain,
                             &present.hooks.pem_bundle};
    for (int i = 0; i < 4; i++)
        if ((*paths[i])[0] != '\0' && access(*paths[i], F_OK) != 0)
            *paths[i] = "";
    p->prev_mismatch = minica_agent_key_check(&present, p->prev_why, sizeof(p->prev_why)) == 0;
}

/* A ca file that already holds the root, with the mode and owner a write
 * would give it, is left alone: replacing it at every renewal gave it a
 * new inode each time, waking whatever watches it, for nothing (minica
 * issue already leaves its ca.crt alone). */
static int ca_file_current(const struct minica_agent_cert *c, const char *root_pem)
{
    struct stat st;
    if (root_pem == NULL || lstat(c->ca, &st) != 0 || !S_ISREG(st.st_mode) ||
        (st.st_mode & 07777) != 0644 || (c->owner.uid != (uid_t)-1 && st.st_uid != c->owner.uid) ||
        (c->owner.gid != (gid_t)-1 && st.st_gid != c->owner.gid))
        return 0;
    return minica_file_has_content(c->ca, root_pem, strlen(root_pem));
}

int minica_agent_replace_files(const struct minica_agent_cert *c, struct pending *p,
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
    if (c->ca[0] != '\0' && !ca_file_current(c, is->root_pem)) {
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
    judge_current(c, p);
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
            minica_agent_restore(p, &rerr);
            return ret;
        }
        s->committed = 1;
        minica_crashpoint("agent-replace", (unsigned)i + 1);
    }
    return MINICA_OK;
}

int minica_agent_narrow_prev(const char *prev, struct minica_err *err)
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

void minica_agent_sweep_stale_temps(const struct minica_agent_config *cfg)
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
