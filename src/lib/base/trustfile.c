/* Reading a file a privileged run acts on, so that what is checked is what
 * is read: one open (no symlink, no blocking on a FIFO), fstat of that
 * descriptor, then every directory above it walked from "/" with openat and
 * the file found again in the last one (same device and inode). The CA's
 * state directory (ca/statedir.c) uses the same walk for the directories
 * above it. Not for files minica writes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/trustfile.h"
#include "minica/fsutil.h"

static int trusted_uid(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

/* "root" or "root or this user (uid N)", for the ownership errors. */
static const char *whom(char *buf, size_t size)
{
    if (geteuid() == 0)
        snprintf(buf, size, "root");
    else
        snprintf(buf, size, "root or this user (uid %u)", (unsigned)geteuid());
    return buf;
}

static int judge_dir(const char *what, const char *path, const char *dir, const struct stat *st,
                     struct minica_err *err)
{
    char who[64];
    if (!trusted_uid(st->st_uid))
        return minica_seterr(err, MINICA_EFORBIDDEN,
                             "%s %s: directory %s is owned by uid %u, not by %s, so its owner "
                             "can replace what it holds: chown root %s",
                             what, path, dir, (unsigned)st->st_uid, whom(who, sizeof(who)), dir);
    /* In a sticky directory nobody but an entry's owner may rename or remove
     * it, and the entry below is held to the owner rule: nothing to swap. */
    if ((st->st_mode & 022) != 0 && (st->st_mode & S_ISVTX) == 0)
        return minica_seterr(err, MINICA_EFORBIDDEN,
                             "%s %s: directory %s is writable by group or others (mode %04o), "
                             "so they can replace what it holds: chmod go-w %s",
                             what, path, dir, (unsigned)(st->st_mode & 07777), dir);
    return MINICA_OK;
}

static int judge_file(const char *what, const char *path, const struct stat *st, unsigned flags,
                      struct minica_err *err)
{
    char who[64];
    if (!S_ISREG(st->st_mode))
        return minica_seterr(err, MINICA_EINVAL, "%s %s is not a regular file", what, path);
    if (!trusted_uid(st->st_uid))
        return minica_seterr(err, MINICA_EFORBIDDEN,
                             "%s %s is owned by uid %u, not by %s: chown root %s", what, path,
                             (unsigned)st->st_uid, whom(who, sizeof(who)), path);
    if ((flags & MINICA_TRUST_SECRET) && (st->st_mode & 077) != 0)
        return minica_seterr(err, MINICA_EFORBIDDEN,
                             "%s %s is accessible by others (mode %03o): chmod 600 %s", what, path,
                             (unsigned)(st->st_mode & 0777), path);
    if ((st->st_mode & 022) != 0)
        return minica_seterr(err, MINICA_EFORBIDDEN,
                             "%s %s may be changed by other users (mode %03o): chmod go-w %s", what,
                             path, (unsigned)(st->st_mode & 0777), path);
    return MINICA_OK;
}

/* Every directory from "/" down to real (a canonical directory name; real
 * itself only when with_self), each judged, walked with openat and
 * O_NOFOLLOW so that each directory judged is the one the next step looks
 * into. On success *last is an O_PATH descriptor of real. */
static int walk_dirs(const char *what, const char *path, const char *real, int with_self, int *last,
                     struct minica_err *err)
{
    char shown[PATH_MAX];
    struct stat st;
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        int ret =
            minica_seterr(err, MINICA_EIO, "%s %s: cannot open /: %s", what, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return ret;
    }
    size_t n = strlen(real);
    int ret = n > 1 || with_self ? judge_dir(what, path, "/", &st, err) : MINICA_OK;
    for (size_t i = 1; ret == 0 && i < n;) {
        size_t end = i;
        while (end < n && real[end] != '/')
            end++;
        char name[NAME_MAX + 1];
        if (end - i > NAME_MAX) {
            ret = minica_seterr(err, MINICA_EINVAL, "%s %s: path too long", what, path);
            break;
        }
        memcpy(name, real + i, end - i);
        name[end - i] = '\0';
        memcpy(shown, real, end);
        shown[end] = '\0';
        int next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 || fstat(next, &st) != 0) {
            ret = minica_seterr(err, MINICA_EFORBIDDEN,
                                "%s %s: directory %s changed while it "
                                "was checked: %s",
                                what, path, shown, strerror(errno));
            if (next >= 0)
                close(next);
            break;
        }
        close(fd);
        fd = next;
        if (end < n || with_self)
            ret = judge_dir(what, path, shown, &st, err);
        i = end + 1;
    }
    if (ret != 0) {
        close(fd);
        return ret;
    }
    *last = fd;
    return MINICA_OK;
}

int minica_check_dirs_strict(const char *what, const char *dir, int with_self,
                             struct minica_err *err)
{
    char real[PATH_MAX];
    if (realpath(dir, real) == NULL)
        return minica_seterr(err, MINICA_EIO, "%s %s: cannot resolve it: %s", what, dir,
                             strerror(errno));
    int fd;
    int ret = walk_dirs(what, dir, real, with_self, &fd, err);
    if (ret == 0)
        close(fd);
    return ret;
}

/* The directories holding path, then path's entry in the last of them,
 * which must be the inode judged already (leaf). */
static int check_dirs(const char *what, const char *path, const struct stat *leaf,
                      struct minica_err *err)
{
    char dir[PATH_MAX], real[PATH_MAX];
    if (strlen(path) >= sizeof(dir))
        return minica_seterr(err, MINICA_EINVAL, "%s %s: path too long", what, path);
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base;
    if (slash == NULL) {
        base = path;
        snprintf(dir, sizeof(dir), ".");
    } else {
        base = path + (slash - dir) + 1;
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
    if (*base == '\0')
        return minica_seterr(err, MINICA_EINVAL, "%s %s names a directory, not a file", what, path);
    if (realpath(dir, real) == NULL)
        return minica_seterr(err, MINICA_EIO, "%s %s: cannot resolve %s: %s", what, path, dir,
                             strerror(errno));
    int fd;
    int ret = walk_dirs(what, path, real, 1, &fd, err);
    if (ret != 0)
        return ret;
    struct stat st;
    if (fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_dev != leaf->st_dev ||
        st.st_ino != leaf->st_ino)
        ret = minica_seterr(err, MINICA_EFORBIDDEN,
                            "%s %s was replaced while it was checked: make sure only root can "
                            "write its directory",
                            what, path);
    close(fd);
    return ret;
}

static int open_error(const char *what, const char *path, int e, struct minica_err *err)
{
    if (e == ELOOP)
        return minica_seterr(err, MINICA_EINVAL,
                             "%s %s is a symbolic link: name the file itself (owned by root, "
                             "chmod go-w)",
                             what, path);
    return minica_seterr(err, e == ENOENT ? MINICA_ENOENT : MINICA_EIO, "cannot read %s %s: %s",
                         what, path, strerror(e));
}

int minica_read_trusted_file(const char *path, size_t max, const char *what, unsigned flags,
                             char **buf, size_t *len, struct minica_err *err)
{
    *buf = NULL;
    if (len != NULL)
        *len = 0;
    /* O_NONBLOCK: a FIFO opens at once instead of waiting for a writer,
     * and is then refused as not a regular file. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return open_error(what, path, errno, err);
    char *data = NULL;
    size_t cap = 0, got = 0;
    struct stat st;
    int ret;
    if (fstat(fd, &st) != 0) {
        ret = minica_seterr(err, MINICA_EIO, "cannot read %s %s: %s", what, path, strerror(errno));
        goto out;
    }
    if ((ret = judge_file(what, path, &st, flags, err)) != 0 ||
        (ret = check_dirs(what, path, &st, err)) != 0)
        goto out;
    if ((size_t)st.st_size > max) {
        ret = minica_seterr(err, MINICA_EINVAL, "%s %s is too large (%lld bytes, at most %zu)",
                            what, path, (long long)st.st_size, max);
        goto out;
    }
    cap = (size_t)st.st_size + 1;
    if ((data = malloc(cap)) == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory reading %s", path);
        goto out;
    }
    for (;;) {
        /* One byte beyond the size fstat gave: a file still growing is
         * refused rather than cut. */
        char extra = 0;
        char *at = got < cap - 1 ? data + got : &extra;
        size_t room = got < cap - 1 ? cap - 1 - got : 1;
        ssize_t r = read(fd, at, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ret = minica_seterr(err, MINICA_EIO, "cannot read %s %s: %s", what, path,
                                strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        if (at == &extra) {
            ret = minica_seterr(err, MINICA_EINVAL, "%s %s changed while it was read", what, path);
            goto out;
        }
        got += (size_t)r;
    }
    data[got] = '\0';
    *buf = data;
    data = NULL;
    if (len != NULL)
        *len = got;
out:
    if (data != NULL)
        minica_free_secret(data, cap);
    close(fd);
    return ret;
}

int minica_check_path_strict(const char *path, struct minica_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return open_error("file", path, errno, err);
    if (S_ISLNK(st.st_mode))
        return open_error("file", path, ELOOP, err);
    int ret;
    if (S_ISDIR(st.st_mode))
        ret = judge_dir("directory", path, path, &st, err);
    else
        ret = judge_file("file", path, &st, 0, err);
    if (ret == 0)
        ret = check_dirs(S_ISDIR(st.st_mode) ? "directory" : "file", path, &st, err);
    return ret;
}
