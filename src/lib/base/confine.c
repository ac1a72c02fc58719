/* serve's network process confining itself (base/confine.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/confine.h"

/* serve's own secrets, which its network process uses: its TLS key and
 * the key the ACME EAB MAC keys derive from. */
static int is_ca_key(const char *dir_rel, const char *name)
{
    size_t n = strlen(name);
    if (n < 5 || strcmp(name + n - 4, ".key") != 0)
        return 0;
    if (dir_rel[0] == '\0' && (strcmp(name, "serve.key") == 0 || strcmp(name, "acme-eab.key") == 0))
        return 0;
    return 1;
}

static int cover_one(const char *path, struct minica_err *err)
{
    if (mount("/dev/null", path, NULL, MS_BIND, NULL) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot cover %s: %s", path, strerror(errno));
    /* Read-only too: nothing written through it reaches /dev/null's users. */
    if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot make %s's cover read-only: %s", path,
                             strerror(errno));
    return MINICA_OK;
}

/* Whether path is a mount point already (covered by an earlier pass): its
 * device differs from its directory's. */
static int covered_already(int dirfd, const char *name)
{
    struct stat f, d;
    if (fstatat(dirfd, name, &f, AT_SYMLINK_NOFOLLOW) != 0 || fstat(dirfd, &d) != 0)
        return 0;
    return f.st_dev != d.st_dev || S_ISCHR(f.st_mode);
}

/* dir and its subdirectories (the archive of older CA certificates and
 * keys), two levels down at most. */
static int cover_tree(const char *root, const char *rel, int depth, size_t *covered,
                      struct minica_err *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(path);
    if (d == NULL)
        return minica_seterr(err, MINICA_EIO, "cannot read %s: %s", path, strerror(errno));
    int ret = MINICA_OK;
    struct dirent *de;
    while (ret == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        char child[4096];
        snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        if (S_ISDIR(st.st_mode) && depth < 2) {
            ret = cover_tree(root, child, depth + 1, covered, err);
        } else if ((S_ISREG(st.st_mode) || S_ISCHR(st.st_mode)) && is_ca_key(rel, de->d_name) &&
                   !covered_already(dirfd(d), de->d_name)) {
            char full[8192];
            snprintf(full, sizeof(full), "%s/%s", root, child);
            if ((ret = cover_one(full, err)) == 0)
                (*covered)++;
        }
    }
    closedir(d);
    return ret;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Not root: a user namespace of our own, where our uid and gid are
 * themselves and we may mount. Once the capabilities it gives are dropped
 * (minica_confine_drop), the covers stay: a namespace made from here
 * copies them locked. */
static int in_own_user_namespace;

static int own_user_namespace(struct minica_err *err)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    char map[64];
    if (unshare(CLONE_NEWUSER) != 0)
        return minica_seterr(err, MINICA_EFORBIDDEN, "cannot make a user namespace: %s",
                             strerror(errno));
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    if (write_file("/proc/self/uid_map", map) != 0 ||
        write_file("/proc/self/setgroups", "deny") != 0)
        return minica_seterr(err, MINICA_EIO, "cannot map uid %u: %s", (unsigned)uid,
                             strerror(errno));
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    if (write_file("/proc/self/gid_map", map) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot map gid %u: %s", (unsigned)gid,
                             strerror(errno));
    in_own_user_namespace = 1;
    return MINICA_OK;
}

int minica_confine_cover_keys(const char *dir, size_t *covered, struct minica_err *err)
{
    *covered = 0;
    int ret = geteuid() == 0 ? MINICA_OK : own_user_namespace(err);
    if (ret != 0)
        return ret;
    if (unshare(CLONE_NEWNS) != 0)
        return minica_seterr(err, MINICA_EFORBIDDEN, "cannot make a mount namespace: %s",
                             strerror(errno));
    /* Nothing mounted here propagates back to the host's namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot make the mounts private: %s",
                             strerror(errno));
    return cover_tree(dir, "", 0, covered, err);
}

/* Whether our namespace of kind ("user", "mnt") is pid's. */
static int same_ns(int pid, const char *kind)
{
    char a[64], b[64], pa[64], pb[64];
    ssize_t n, m;
    snprintf(pa, sizeof(pa), "/proc/self/ns/%s", kind);
    snprintf(pb, sizeof(pb), "/proc/%d/ns/%s", pid, kind);
    if ((n = readlink(pa, a, sizeof(a) - 1)) < 0 || (m = readlink(pb, b, sizeof(b) - 1)) < 0)
        return 1;
    a[n] = b[m] = '\0';
    return strcmp(a, b) == 0;
}

int minica_confine_covered(int pid)
{
    return !same_ns(pid, "mnt");
}

int minica_confine_cover_keys_of(int pid, const char *dir, struct minica_err *err)
{
    char path[64], abs[4096];
    /* setns moves the working directory to the namespace's root. */
    if (realpath(dir, abs) == NULL)
        return minica_seterr(err, MINICA_EIO, "cannot resolve %s: %s", dir, strerror(errno));
    snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC), ufd = -1;
    if (fd < 0)
        return minica_seterr(err, MINICA_EIO, "cannot open %s: %s", path, strerror(errno));
    /* Not root, its mount namespace belongs to its user namespace, which
     * our uid owns: entering that one first gives the right to mount. */
    if (!same_ns(pid, "user")) {
        snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
        if ((ufd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
            close(fd);
            return minica_seterr(err, MINICA_EIO, "cannot open %s: %s", path, strerror(errno));
        }
    }
    pid_t child = fork();
    if (child < 0) {
        close(fd);
        if (ufd >= 0)
            close(ufd);
        return minica_seterr(err, MINICA_EIO, "fork: %s", strerror(errno));
    }
    if (child == 0) {
        size_t n = 0;
        struct minica_err why;
        if (ufd >= 0 && setns(ufd, CLONE_NEWUSER) != 0)
            _exit(1);
        _exit(setns(fd, CLONE_NEWNS) == 0 && cover_tree(abs, "", 0, &n, &why) == 0 ? 0 : 1);
    }
    close(fd);
    if (ufd >= 0)
        close(ufd);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot cover the new key files of process %d", pid);
    return MINICA_OK;
}

/* Every capability but the two that let root reach files of other users
 * (a PostgreSQL socket directory, a state directory on a share): without
 * them a reload could not reconnect. Gone with the rest: CAP_SYS_ADMIN
 * (which could lift the covers), CAP_SYS_PTRACE (which could read the
 * undumpable signer), CAP_SYS_RAWIO, CAP_SETUID and the others. */
static int drop_capabilities(struct minica_err *err)
{
    const unsigned keep = 1u << CAP_DAC_OVERRIDE | 1u << CAP_DAC_READ_SEARCH;
    for (int cap = 0; cap <= 63; cap++)
        if ((cap >= 32 || !(keep & 1u << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 &&
            errno != EINVAL)
            return minica_seterr(err, MINICA_EIO, "cannot drop capability %d: %s", cap,
                                 strerror(errno));
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    data[0].effective = data[0].permitted = keep;
    if (syscall(SYS_capset, &hdr, data) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot drop the capabilities: %s", strerror(errno));
    return MINICA_OK;
}

static int drop_all_capabilities(struct minica_err *err)
{
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            return minica_seterr(err, MINICA_EIO, "cannot drop capability %d: %s", cap,
                                 strerror(errno));
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &hdr, data) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot drop the capabilities: %s", strerror(errno));
    return MINICA_OK;
}

int minica_confine_drop(const char *user, struct minica_err *err)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot set no_new_privs: %s", strerror(errno));
    if (geteuid() != 0) {
        if (user != NULL)
            return minica_seterr(err, MINICA_EINVAL, "--user %s needs serve started as root", user);
        /* What the user namespace of our own gave goes, lest the covers. */
        return in_own_user_namespace ? drop_all_capabilities(err) : MINICA_OK;
    }
    if (user == NULL)
        return drop_capabilities(err);
    struct passwd *pw = getpwnam(user);
    if (pw == NULL)
        return minica_seterr(err, MINICA_EINVAL, "no user %s on this host", user);
    if (pw->pw_uid == 0)
        return minica_seterr(err, MINICA_EINVAL, "user %s is root: name an unprivileged one", user);
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot become user %s: %s", user, strerror(errno));
    /* setuid from root must not be undoable. */
    if (setuid(0) == 0)
        return minica_seterr(err, MINICA_EIO, "could become root again after user %s", user);
    return MINICA_OK;
}
