/* Atomic, durable, permission-safe files. Every secret minica writes goes
 * through minica_stage_file: created O_EXCL|O_NOFOLLOW relative to an open
 * directory, fchmod'd before the first byte (so umask never widens a key),
 * fsynced, renamed into place, and the directory fsynced so the rename
 * survives a power cut. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "minica/fsutil.h"

int minica_path_join(char *out, size_t outlen, const char *dir, const char *base,
                     struct minica_err *err)
{
    int n;
    if (dir == NULL || *dir == '\0')
        n = snprintf(out, outlen, "%s", base);
    else if (dir[strlen(dir) - 1] == '/')
        n = snprintf(out, outlen, "%s%s", dir, base);
    else
        n = snprintf(out, outlen, "%s/%s", dir, base);
    if (n < 0 || (size_t)n >= outlen)
        return minica_seterr(err, MINICA_EINVAL, "path too long: %s/%s", dir, base);
    return MINICA_OK;
}

int minica_file_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

const char *minica_default_state_dir(const char *explicit_dir)
{
    if (explicit_dir != NULL && *explicit_dir != '\0')
        return explicit_dir;
    const char *env = getenv("MINICA_DIR");
    if (env != NULL && *env != '\0')
        return env;
    return "/var/lib/minica";
}

static int mkdir_parents(const char *dir, mode_t mode, struct minica_err *err)
{
    char path[MINICA_PATH_MAX];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return minica_seterr(err, MINICA_EINVAL, "path too long: %s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return minica_seterr(err, MINICA_EIO, "cannot create directory %s: %s", path,
                                 strerror(errno));
        *p = '/';
    }
    if (mkdir(path, mode) == 0) {
        /* mkdir honours the umask; the requested mode is what we promised. */
        if (chmod(path, mode) != 0)
            return minica_seterr(err, MINICA_EIO, "cannot chmod %s: %s", path, strerror(errno));
        return MINICA_OK;
    }
    if (errno != EEXIST)
        return minica_seterr(err, MINICA_EIO, "cannot create directory %s: %s", path,
                             strerror(errno));
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return minica_seterr(err, MINICA_EIO, "%s exists and is not a directory", path);
    return MINICA_OK;
}

int minica_mkdir_private(const char *dir, struct minica_err *err)
{
    return mkdir_parents(dir, 0700, err);
}

int minica_mkdir(const char *dir, mode_t mode, struct minica_err *err)
{
    return mkdir_parents(dir, mode, err);
}

static int split_path(const char *path, char *dir, size_t dirlen, char *base, size_t baselen,
                      struct minica_err *err)
{
    char tmp[MINICA_PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return minica_seterr(err, MINICA_EINVAL, "path too long: %s", path);
    char tmp2[MINICA_PATH_MAX];
    memcpy(tmp2, tmp, sizeof(tmp));
    const char *b = basename(tmp);
    const char *d = dirname(tmp2);
    if (*b == '\0' || strcmp(b, "/") == 0 || strcmp(b, ".") == 0 || strcmp(b, "..") == 0)
        return minica_seterr(err, MINICA_EINVAL, "not a file path: %s", path);
    if (snprintf(dir, dirlen, "%s", d) >= (int)dirlen ||
        snprintf(base, baselen, "%s", b) >= (int)baselen)
        return minica_seterr(err, MINICA_EINVAL, "path too long: %s", path);
    return MINICA_OK;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int minica_stage_file(struct minica_staged_file *sf, const char *path, const void *data, size_t len,
                      mode_t mode, const struct minica_file_owner *owner, struct minica_err *err)
{
    memset(sf, 0, sizeof(*sf));
    sf->dirfd = -1;
    int ret = split_path(path, sf->dir, sizeof(sf->dir), sf->base, sizeof(sf->base), err);
    if (ret != 0)
        return ret;
    sf->dirfd = open(sf->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sf->dirfd < 0)
        return minica_seterr(err, MINICA_EIO, "cannot open directory %s: %s", sf->dir,
                             strerror(errno));

    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        unsigned r = 0;
        int ufd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (ufd >= 0) {
            if (read(ufd, &r, sizeof(r)) != (ssize_t)sizeof(r))
                r = (unsigned)getpid() ^ (unsigned)attempt;
            close(ufd);
        }
        snprintf(sf->tmp, sizeof(sf->tmp), ".%s.tmp-%08x", sf->base, r);
        fd = openat(sf->dirfd, sf->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        ret = minica_seterr(err, MINICA_EIO, "cannot create a file in %s: %s", sf->dir,
                            strerror(errno));
        close(sf->dirfd);
        sf->dirfd = -1;
        return ret;
    }
    sf->active = 1;
    /* Owner and mode before any byte, so a key is never readable by others. */
    if (owner != NULL && fchown(fd, owner->uid, owner->gid) != 0) {
        ret =
            minica_seterr(err, MINICA_EIO, "cannot set the owner of %s: %s", path, strerror(errno));
        goto fail;
    }
    if (fchmod(fd, mode) != 0) {
        ret =
            minica_seterr(err, MINICA_EIO, "cannot set the mode of %s: %s", path, strerror(errno));
        goto fail;
    }
    if (write_all(fd, data, len) != 0) {
        ret = minica_seterr(err, MINICA_EIO, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    if (fsync(fd) != 0) {
        ret = minica_seterr(err, MINICA_EIO, "cannot sync %s: %s", path, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        ret = minica_seterr(err, MINICA_EIO, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    return MINICA_OK;
fail:
    if (fd >= 0)
        close(fd);
    minica_staged_abort(sf);
    return ret;
}

int minica_staged_commit(struct minica_staged_file *sf, unsigned flags, struct minica_err *err)
{
    if (!sf->active)
        return minica_seterr(err, MINICA_EINVAL, "nothing staged");
    if (flags & MINICA_WRITE_NOREPLACE) {
        if (linkat(sf->dirfd, sf->tmp, sf->dirfd, sf->base, 0) != 0) {
            int e = errno;
            minica_staged_abort(sf);
            if (e == EEXIST)
                return minica_seterr(err, MINICA_EEXIST, "%s/%s already exists", sf->dir, sf->base);
            return minica_seterr(err, MINICA_EIO, "cannot create %s/%s: %s", sf->dir, sf->base,
                                 strerror(e));
        }
        unlinkat(sf->dirfd, sf->tmp, 0);
    } else if (renameat(sf->dirfd, sf->tmp, sf->dirfd, sf->base) != 0) {
        int e = errno;
        minica_staged_abort(sf);
        return minica_seterr(err, MINICA_EIO, "cannot replace %s/%s: %s", sf->dir, sf->base,
                             strerror(e));
    }
    sf->active = 0;
    int ret = MINICA_OK;
    if (!(flags & MINICA_WRITE_NO_DIRSYNC) && fsync(sf->dirfd) != 0)
        ret = minica_seterr(err, MINICA_EIO, "cannot sync directory %s: %s", sf->dir,
                            strerror(errno));
    close(sf->dirfd);
    sf->dirfd = -1;
    return ret;
}

void minica_staged_abort(struct minica_staged_file *sf)
{
    if (sf->active && sf->dirfd >= 0)
        unlinkat(sf->dirfd, sf->tmp, 0);
    sf->active = 0;
    if (sf->dirfd >= 0)
        close(sf->dirfd);
    sf->dirfd = -1;
}

int minica_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             unsigned flags, struct minica_err *err)
{
    struct minica_staged_file sf;
    int ret = minica_stage_file(&sf, path, data, len, mode, NULL, err);
    if (ret != 0)
        return ret;
    return minica_staged_commit(&sf, flags, err);
}

int minica_read_file(const char *path, size_t max, char **buf, size_t *len, struct minica_err *err)
{
    *buf = NULL;
    if (len)
        *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return minica_seterr(err, errno == ENOENT ? MINICA_ENOENT : MINICA_EIO,
                             "cannot read %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return minica_seterr(err, MINICA_EIO, "cannot read %s: not a regular file", path);
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return minica_seterr(err, MINICA_EINVAL, "%s is too large (%lld bytes, at most %zu)", path,
                             (long long)st.st_size, max);
    }
    size_t cap = (size_t)st.st_size + 1;
    char *data = malloc(cap);
    if (data == NULL) {
        close(fd);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory reading %s", path);
    }
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, data + got, cap - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            minica_free_secret(data, cap);
            return minica_seterr(err, MINICA_EIO, "cannot read %s: %s", path, strerror(e));
        }
        if (r == 0 || got + (size_t)r == cap - 1) {
            got += (size_t)r;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    data[got] = '\0';
    *buf = data;
    if (len)
        *len = got;
    return MINICA_OK;
}

void minica_free_secret(void *p, size_t len)
{
    if (p == NULL)
        return;
    if (len == 0)
        len = strlen(p);
    mbedtls_platform_zeroize(p, len);
    free(p);
}

int minica_fsync_dir(const char *dir, struct minica_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return minica_seterr(err, MINICA_EIO, "cannot open directory %s: %s", dir, strerror(errno));
    int ret = MINICA_OK;
    if (fsync(fd) != 0)
        ret = minica_seterr(err, MINICA_EIO, "cannot sync directory %s: %s", dir, strerror(errno));
    close(fd);
    return ret;
}

void minica_sweep_stale_temps(const char *dir, const char *const *bases, size_t n,
                              int64_t min_age_seconds)
{
    DIR *d = opendir(*dir != '\0' ? dir : ".");
    if (d == NULL)
        return;
    time_t cutoff = time(NULL) - (time_t)min_age_seconds;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (name[0] != '.')
            continue;
        for (size_t i = 0; i < n; i++) {
            size_t blen = strlen(bases[i]);
            struct stat st;
            /* Exactly what minica_stage_file makes: ".BASE.tmp-XXXXXXXX". */
            if (strncmp(name + 1, bases[i], blen) != 0 ||
                strncmp(name + 1 + blen, ".tmp-", 5) != 0 || strlen(name + 1 + blen + 5) != 8)
                continue;
            if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
                st.st_mtime < cutoff)
                unlinkat(dirfd(d), name, 0);
            break;
        }
    }
    closedir(d);
}
