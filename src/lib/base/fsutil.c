/* Atomic, durable, permission-safe files. Every secret minica writes goes
 * through minica_stage_file: created O_EXCL|O_NOFOLLOW relative to an open
 * directory, fchmod'd before the first byte (so umask never widens a key),
 * fsynced (possibly later, together with its siblings), renamed into place,
 * and the directory fsynced so the rename survives a power cut. */
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

#if defined(__linux__) && defined(__has_include)
#if __has_include(<sys/random.h>)
#include <sys/random.h>
#define MINICA_HAVE_GETRANDOM 1
#endif
#endif

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

int minica_mkdir_one_possible(const char *dir, struct minica_err *err)
{
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return MINICA_OK;
    char parent[MINICA_PATH_MAX];
    if (snprintf(parent, sizeof(parent), "%s", dir) >= (int)sizeof(parent))
        return minica_seterr(err, MINICA_EINVAL, "path too long: %s", dir);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (slash != NULL) {
        if (slash == parent)
            slash[1] = '\0';
        else
            *slash = '\0';
        if (stat(parent, &st) != 0 && errno == ENOENT)
            return minica_seterr(err, MINICA_ENOENT,
                                 "cannot create %s: %s does not exist either (a typo? create it, "
                                 "or pass --parents)",
                                 dir, parent);
    }
    return MINICA_OK;
}

int minica_mkdir_private_one(const char *dir, struct minica_err *err)
{
    int ret = minica_mkdir_one_possible(dir, err);
    return ret != 0 ? ret : mkdir_parents(dir, 0700, err);
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

/* 32 unpredictable bits for a temp name (O_EXCL makes a guessed name harmless,
 * but an unguessable one also cannot be squatted to make staging fail). */
static unsigned temp_name_bits(int attempt)
{
    unsigned r = 0;
#ifdef MINICA_HAVE_GETRANDOM
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
        return r;
#endif
    int ufd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (ufd >= 0) {
        if (read(ufd, &r, sizeof(r)) != (ssize_t)sizeof(r))
            r = (unsigned)getpid() ^ (unsigned)attempt;
        close(ufd);
    } else {
        r = (unsigned)getpid() ^ (unsigned)attempt;
    }
    return r;
}

static int stage(struct minica_staged_file *sf, const char *path, const void *data, size_t len,
                 mode_t mode, const struct minica_file_owner *owner, int sync_now,
                 struct minica_err *err)
{
    memset(sf, 0, sizeof(*sf));
    sf->dirfd = -1;
    sf->fd = -1;
    int ret = split_path(path, sf->dir, sizeof(sf->dir), sf->base, sizeof(sf->base), err);
    if (ret != 0)
        return ret;
    sf->dirfd = open(sf->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sf->dirfd < 0)
        return minica_seterr(err, MINICA_EIO, "cannot open directory %s: %s", sf->dir,
                             strerror(errno));

    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(sf->tmp, sizeof(sf->tmp), ".%s.tmp-%08x", sf->base, temp_name_bits(attempt));
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
    sf->fd = fd;
    sf->unsynced = 1;
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
    if (sync_now)
        return minica_staged_sync(sf, err);
#ifdef SYNC_FILE_RANGE_WRITE
    /* Only a head start for the fsync in minica_staged_sync, which reports
     * any error: while this file's pages go to the disk, the next file is
     * written, and the fsyncs then find most of the work done. */
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
    return MINICA_OK;
fail:
    minica_staged_abort(sf);
    return ret;
}

int minica_stage_file(struct minica_staged_file *sf, const char *path, const void *data, size_t len,
                      mode_t mode, const struct minica_file_owner *owner, struct minica_err *err)
{
    return stage(sf, path, data, len, mode, owner, 1, err);
}

int minica_stage_file_nosync(struct minica_staged_file *sf, const char *path, const void *data,
                             size_t len, mode_t mode, const struct minica_file_owner *owner,
                             struct minica_err *err)
{
    return stage(sf, path, data, len, mode, owner, 0, err);
}

int minica_staged_sync(struct minica_staged_file *sf, struct minica_err *err)
{
    if (!sf->active)
        return minica_seterr(err, MINICA_EINVAL, "nothing staged");
    if (!sf->unsynced)
        return MINICA_OK;
    int ret = MINICA_OK;
    if (fsync(sf->fd) != 0)
        ret = minica_seterr(err, MINICA_EIO, "cannot sync %s/%s: %s", sf->dir, sf->base,
                            strerror(errno));
    /* close can report a delayed write error (NFS); the data is then not safe. */
    if (close(sf->fd) != 0 && ret == MINICA_OK)
        ret = minica_seterr(err, MINICA_EIO, "cannot write %s/%s: %s", sf->dir, sf->base,
                            strerror(errno));
    sf->fd = -1;
    sf->unsynced = 0;
    if (ret != MINICA_OK)
        minica_staged_abort(sf);
    return ret;
}

int minica_staged_commit(struct minica_staged_file *sf, unsigned flags, struct minica_err *err)
{
    if (!sf->active)
        return minica_seterr(err, MINICA_EINVAL, "nothing staged");
    int ret = minica_staged_sync(sf, err);
    if (ret != MINICA_OK)
        return ret;
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
    if (!(flags & MINICA_WRITE_NO_DIRSYNC) && fsync(sf->dirfd) != 0)
        ret = minica_seterr(err, MINICA_EIO, "cannot sync directory %s: %s", sf->dir,
                            strerror(errno));
    close(sf->dirfd);
    sf->dirfd = -1;
    return ret;
}

void minica_staged_abort(struct minica_staged_file *sf)
{
    /* A zeroed struct (never staged) has fd 0 and dirfd 0: only close what
     * staging opened. Staging always fills dir before opening anything. */
    int staged = sf->dir[0] != '\0';
    if (staged && sf->unsynced && sf->fd >= 0)
        close(sf->fd);
    sf->unsynced = 0;
    sf->fd = -1;
    if (staged && sf->active && sf->dirfd >= 0)
        unlinkat(sf->dirfd, sf->tmp, 0);
    sf->active = 0;
    if (staged && sf->dirfd >= 0)
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

int minica_file_has_content(const char *path, const void *data, size_t len)
{
    /* A symlink is never "the same file", whatever it points to, and a
     * device or FIFO is not opened at all. O_NOFOLLOW and O_NONBLOCK hold
     * that if something else is swapped in after the lstat. */
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || (uintmax_t)st.st_size != len)
        return 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uintmax_t)st.st_size == len;
    const unsigned char *want = data;
    size_t off = 0;
    unsigned char buf[4096];
    while (same) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (size_t)r > len - off)
            same = 0; /* unreadable, or grew since fstat */
        else if (r == 0)
            break;
        else if (memcmp(buf, want + off, (size_t)r) != 0)
            same = 0;
        else
            off += (size_t)r;
    }
    close(fd);
    return same && off == len;
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
