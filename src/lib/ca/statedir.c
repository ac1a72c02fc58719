/* The state directory's trust rule (sshd's StrictModes, for a CA): a policy,
 * key or inventory that another local user could have written is not the
 * CA's, and a root-run `issue` must not obey it. Checks and reads through
 * descriptors; what the files mean is for ca.c, policy.c and the store. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/trustfile.h"
#include "minica/statedir.h"

/* Everything `init` writes and `open` trusts; the -wal and -shm are the
 * database too (SQLite replays the WAL into it). */
static const struct {
    const char *base;
    enum minica_statedir_kind kind;
} state_files[] = {
    {"root.key", MINICA_STATEDIR_KEY},
    {"intermediate.key", MINICA_STATEDIR_KEY},
    {"root.crt", MINICA_STATEDIR_FILE},
    {"intermediate.crt", MINICA_STATEDIR_FILE},
    {"minica.conf", MINICA_STATEDIR_FILE},
    {"minica.db", MINICA_STATEDIR_FILE},
    {"minica.db-wal", MINICA_STATEDIR_FILE},
    {"minica.db-shm", MINICA_STATEDIR_FILE},
    /* minica serve's own TLS identity, written on its first start. */
    {"serve.key", MINICA_STATEDIR_KEY},
    {"serve.crt", MINICA_STATEDIR_FILE},
    /* The secret ACME EAB MAC keys are derived from (ca/acme_eab.c). */
    {"acme-eab.key", MINICA_STATEDIR_KEY},
};

static void user_name(uid_t uid, char *out, size_t outlen)
{
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
        snprintf(out, outlen, "%s", res->pw_name);
    else
        snprintf(out, outlen, "%u", (unsigned)uid);
}

static int owner_error(const char *path, const struct stat *st, struct minica_err *err)
{
    char owner[256], me[256];
    uid_t euid = geteuid();
    user_name(st->st_uid, owner, sizeof(owner));
    user_name(euid, me, sizeof(me));
    if (euid == 0)
        return minica_seterr(err, MINICA_EIO,
                             "%s is owned by uid %u (%s), not by root; fix it with: chown root "
                             "%s (or run minica as %s)",
                             path, (unsigned)st->st_uid, owner, path, owner);
    return minica_seterr(err, MINICA_EIO,
                         "%s is owned by uid %u (%s), not by root or you (%s); fix it with: chown "
                         "%s %s",
                         path, (unsigned)st->st_uid, owner, me, me, path);
}

int minica_statedir_check_stat(const char *path, const struct stat *st,
                               enum minica_statedir_kind kind, struct minica_err *err)
{
    unsigned mode = (unsigned)(st->st_mode & 07777);
    int is_dir = kind == MINICA_STATEDIR_DIR;
    if (is_dir && !S_ISDIR(st->st_mode))
        return minica_seterr(err, MINICA_EIO, "%s is not a directory", path);
    /* A CA key covered with /dev/null in serve's network process
     * (base/confine.h): that process holds no key, and reads none. */
    if (kind == MINICA_STATEDIR_KEY && S_ISCHR(st->st_mode) && st->st_rdev == makedev(1, 3))
        return MINICA_OK;
    if (!is_dir && !S_ISREG(st->st_mode))
        return minica_seterr(err, MINICA_EIO, "%s is not a regular file", path);
    if (st->st_uid != 0 && st->st_uid != geteuid())
        return owner_error(path, st, err);
    switch (kind) {
    case MINICA_STATEDIR_DIR:
        if (mode & 022)
            return minica_seterr(err, MINICA_EIO,
                                 "%s is writable by group or others (mode %04o); fix it with: "
                                 "chmod 700 %s",
                                 path, mode, path);
        break;
    case MINICA_STATEDIR_KEY:
        if (mode & 077)
            return minica_seterr(err, MINICA_EIO,
                                 "%s is readable by group or others (mode %04o); fix it with: "
                                 "chmod 600 %s",
                                 path, mode, path);
        break;
    case MINICA_STATEDIR_FILE:
        if (mode & 022)
            return minica_seterr(err, MINICA_EIO,
                                 "%s is writable by group or others (mode %04o); fix it with: "
                                 "chmod %03o %s",
                                 path, mode, mode & 0755, path);
        break;
    }
    return MINICA_OK;
}

void minica_statedir_init(struct minica_statedir *sd)
{
    memset(sd, 0, sizeof(*sd));
    sd->fd = -1;
    sd->top_fd = -1;
}

void minica_statedir_close(struct minica_statedir *sd)
{
    if (sd->fd >= 0)
        close(sd->fd);
    if (sd->top_fd >= 0)
        close(sd->top_fd);
    sd->fd = -1;
    sd->top_fd = -1;
}

/* Cuts p to its parent directory; 0 when p is "/" or has no directory part. */
static int to_parent(char *p)
{
    char *slash = strrchr(p, '/');
    if (strcmp(p, "/") == 0 || slash == NULL)
        return 0;
    if (slash == p)
        slash[1] = '\0';
    else
        *slash = '\0';
    return 1;
}

/* path itself (when with_self) and every directory above it, up to "/":
 * the rule for files root acts on (base/trustfile.h), which a sticky
 * directory such as /tmp passes. */
static int check_chain(const char *path, int with_self, struct minica_err *err)
{
    return minica_check_dirs_strict("state directory", path, with_self, err);
}

/* The directories above dir's real location, and, when dir is itself a
 * symlink, the link's owner and the directories the link lives in: whoever
 * may write any of them may put another directory in its place. */
static int check_above(const char *dir, int fd, char *out, size_t outlen, struct minica_err *err)
{
    char real[PATH_MAX];
    struct stat lst, fst, rst;
    if (realpath(dir, real) == NULL || stat(real, &rst) != 0 || fstat(fd, &fst) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot resolve %s: %s", dir, strerror(errno));
    if (rst.st_dev != fst.st_dev || rst.st_ino != fst.st_ino)
        return minica_seterr(err, MINICA_EIO, "%s changed while it was being checked", dir);
    if (snprintf(out, outlen, "%s", real) >= (int)outlen)
        return minica_seterr(err, MINICA_EINVAL, "path too long: %s", real);
    int ret = check_chain(real, 0, err);
    if (ret != 0)
        return ret;
    if (lstat(dir, &lst) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot check %s: %s", dir, strerror(errno));
    if (!S_ISLNK(lst.st_mode))
        return MINICA_OK;
    if (lst.st_uid != 0 && lst.st_uid != geteuid()) {
        char owner[256];
        user_name(lst.st_uid, owner, sizeof(owner));
        return minica_seterr(err, MINICA_EIO,
                             "the symbolic link %s is owned by uid %u (%s), not by root or you; "
                             "fix it with: chown -h root %s",
                             dir, (unsigned)lst.st_uid, owner, dir);
    }
    char parent[MINICA_PATH_MAX], link_parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", dir);
    if (!to_parent(parent))
        snprintf(parent, sizeof(parent), ".");
    if (realpath(parent, link_parent) == NULL)
        return minica_seterr(err, MINICA_EIO, "cannot resolve %s: %s", parent, strerror(errno));
    return check_chain(link_parent, 1, err);
}

static int join(char *out, size_t outlen, const struct minica_statedir *sd, const char *base,
                struct minica_err *err)
{
    return minica_path_join(out, outlen, sd->path, base, err);
}

static int symlink_error(const char *path, struct minica_err *err)
{
    return minica_seterr(err, MINICA_EIO,
                         "%s is a symbolic link; the state directory holds only its own files: "
                         "fix it with: cp --remove-destination \"$(readlink -f %s)\" %s",
                         path, path, path);
}

int minica_statedir_open(struct minica_statedir *sd, const char *dir, struct minica_err *err)
{
    minica_statedir_init(sd);
    if (snprintf(sd->path, sizeof(sd->path), "%s", dir) >= (int)sizeof(sd->path))
        return minica_seterr(err, MINICA_EINVAL, "path too long: %s", dir);
    sd->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sd->fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return minica_seterr(err, MINICA_ENOENT,
                                 "no CA in %s (the directory is missing); create one with: "
                                 "minica init --dir %s",
                                 dir, dir);
        return minica_seterr(err, MINICA_EIO, "cannot open the state directory %s: %s", dir,
                             strerror(e));
    }
    struct stat st;
    int ret;
    if (fstat(sd->fd, &st) != 0) {
        ret = minica_seterr(err, MINICA_EIO, "cannot check %s: %s", dir, strerror(errno));
        goto fail;
    }
    if ((ret = minica_statedir_check_stat(dir, &st, MINICA_STATEDIR_DIR, err)) != 0 ||
        (ret = check_above(dir, sd->fd, sd->real, sizeof(sd->real), err)) != 0)
        goto fail;
    for (size_t i = 0; i < sizeof(state_files) / sizeof(state_files[0]); i++) {
        char path[MINICA_PATH_MAX];
        if ((ret = join(path, sizeof(path), sd, state_files[i].base, err)) != 0)
            goto fail;
        if (fstatat(sd->fd, state_files[i].base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue; /* what must exist, its reader reports missing */
            ret = minica_seterr(err, MINICA_EIO, "cannot check %s: %s", path, strerror(errno));
            goto fail;
        }
        if (S_ISLNK(st.st_mode)) {
            ret = symlink_error(path, err);
            goto fail;
        }
        if ((ret = minica_statedir_check_stat(path, &st, state_files[i].kind, err)) != 0)
            goto fail;
    }
    return MINICA_OK;
fail:
    minica_statedir_close(sd);
    return ret;
}

int minica_statedir_open_sub(struct minica_statedir *sub, const struct minica_statedir *parent,
                             const char *name, struct minica_err *err)
{
    minica_statedir_init(sub);
    if (minica_path_join(sub->path, sizeof(sub->path), parent->path, name, err) != 0 ||
        minica_path_join(sub->real, sizeof(sub->real), parent->real, name, err) != 0)
        return MINICA_EINVAL;
    sub->fd = openat(parent->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub->fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return minica_seterr(err, MINICA_ENOENT, "%s is missing", sub->path);
        if (e == ELOOP || e == ENOTDIR)
            return minica_seterr(err, MINICA_EIO,
                                 "%s is not a directory of the state directory's own", sub->path);
        return minica_seterr(err, MINICA_EIO, "cannot open %s: %s", sub->path, strerror(e));
    }
    struct stat st;
    int ret;
    if (fstat(sub->fd, &st) != 0)
        ret = minica_seterr(err, MINICA_EIO, "cannot check %s: %s", sub->path, strerror(errno));
    else
        ret = minica_statedir_check_stat(sub->path, &st, MINICA_STATEDIR_DIR, err);
    if (ret == 0) {
        int top = parent->top_fd >= 0 ? parent->top_fd : parent->fd;
        sub->top_fd = fcntl(top, F_DUPFD_CLOEXEC, 0);
        snprintf(sub->top_path, sizeof(sub->top_path), "%s", minica_statedir_top_path(parent));
        if (sub->top_fd < 0)
            ret = minica_seterr(err, MINICA_EIO, "cannot open %s: %s", sub->path, strerror(errno));
    }
    if (ret != 0)
        minica_statedir_close(sub);
    return ret;
}

const char *minica_statedir_top_path(const struct minica_statedir *sd)
{
    return sd->top_fd >= 0 ? sd->top_path : sd->path;
}

int minica_statedir_read_top(struct minica_statedir *sd, const char *base, size_t max, char **buf,
                             size_t *len, struct minica_err *err)
{
    if (sd->top_fd < 0)
        return minica_statedir_read(sd, base, max, buf, len, err);
    /* A view of the top directory through the descriptor the sub holds. */
    struct minica_statedir *top = malloc(sizeof(*top));
    if (top == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    minica_statedir_init(top);
    top->fd = sd->top_fd;
    snprintf(top->path, sizeof(top->path), "%s", sd->top_path);
    int ret = minica_statedir_read(top, base, max, buf, len, err);
    free(top);
    return ret;
}

int minica_statedir_list(struct minica_statedir *sd, minica_statedir_entry_cb cb, void *ctx,
                         struct minica_err *err)
{
    int fd = dup(sd->fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return minica_seterr(err, MINICA_EIO, "cannot list %s: %s", sd->path, strerror(errno));
    }
    rewinddir(d);
    int ret = MINICA_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if ((ret = cb(e->d_name, ctx)) != 0)
            break;
    }
    closedir(d);
    return ret;
}

int minica_statedir_read(struct minica_statedir *sd, const char *base, size_t max, char **buf,
                         size_t *len, struct minica_err *err)
{
    *buf = NULL;
    if (len)
        *len = 0;
    char path[MINICA_PATH_MAX];
    int ret = join(path, sizeof(path), sd, base, err);
    if (ret != 0)
        return ret;
    size_t blen = strlen(base);
    enum minica_statedir_kind kind = blen > 4 && strcmp(base + blen - 4, ".key") == 0
                                         ? MINICA_STATEDIR_KEY
                                         : MINICA_STATEDIR_FILE;
    /* O_NONBLOCK: a FIFO planted in place of a file must not hang the CA. */
    int fd = openat(sd->fd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return minica_seterr(err, MINICA_ENOENT, "cannot read %s: %s", path, strerror(e));
        if (e == ELOOP)
            return symlink_error(path, err);
        return minica_seterr(err, MINICA_EIO, "cannot read %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        ret = minica_seterr(err, MINICA_EIO, "cannot check %s: %s", path, strerror(errno));
        goto out;
    }
    if ((ret = minica_statedir_check_stat(path, &st, kind, err)) != 0)
        goto out;
    if ((size_t)st.st_size > max) {
        ret = minica_seterr(err, MINICA_EINVAL, "%s is too large (%lld bytes, at most %zu)", path,
                            (long long)st.st_size, max);
        goto out;
    }
    size_t cap = (size_t)st.st_size + 1, got = 0;
    char *data = malloc(cap);
    if (data == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory reading %s", path);
        goto out;
    }
    while (got < cap - 1) {
        ssize_t r = read(fd, data + got, cap - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ret = minica_seterr(err, MINICA_EIO, "cannot read %s: %s", path, strerror(errno));
            minica_free_secret(data, cap);
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    data[got] = '\0';
    *buf = data;
    if (len)
        *len = got;
out:
    close(fd);
    return ret;
}

int minica_statedir_prepare(const char *dir, struct minica_err *err)
{
    int ret = minica_mkdir_private(dir, err);
    if (ret != 0)
        return ret;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return minica_seterr(err, MINICA_EIO, "cannot open %s: %s", dir, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        ret = minica_seterr(err, MINICA_EIO, "cannot check %s: %s", dir, strerror(errno));
    } else if (st.st_uid != 0 && st.st_uid != geteuid()) {
        /* Its owner could put files in it after we chmod: not ours to adopt. */
        ret = owner_error(dir, &st, err);
    } else if ((st.st_mode & 077) != 0 && fchmod(fd, 0700) != 0) {
        ret = minica_seterr(err, MINICA_EIO, "cannot make %s private (chmod 700): %s", dir,
                            strerror(errno));
    }
    close(fd);
    if (ret != 0)
        return ret;
    /* The directories above it, and anything already planted in it. */
    struct minica_statedir sd;
    ret = minica_statedir_open(&sd, dir, err);
    minica_statedir_close(&sd);
    return ret;
}
