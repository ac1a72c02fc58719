/* Durable, permission-safe files: atomic replacement (temp file in the same
 * directory, fchmod before any byte, fsync, rename, fsync the directory),
 * private directories, bounded reads. Not for parsing what is read. */
#ifndef MINICA_FSUTIL_H
#define MINICA_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "minica/error.h"

#define MINICA_PATH_MAX 4096

/* Refuse to replace an existing file (uses link(2), which never overwrites). */
#define MINICA_WRITE_NOREPLACE 0x1
/* Skip the directory fsync: the caller commits several files into one
 * directory and then calls minica_fsync_dir once (one sync instead of N). */
#define MINICA_WRITE_NO_DIRSYNC 0x2

/* Creates dir (and missing parents) with mode 0700 for the last component;
 * an existing directory is accepted as it is. A non-directory in the way is an error. */
int minica_mkdir_private(const char *dir, struct minica_err *err);
/* The same for dir alone: a missing parent is MINICA_ENOENT, naming it,
 * so that a mistyped path fails instead of growing a tree. */
int minica_mkdir_private_one(const char *dir, struct minica_err *err);
/* That check alone, creating nothing: 0 when dir exists or its parent does. */
int minica_mkdir_one_possible(const char *dir, struct minica_err *err);

/* Creates dir if missing (mode), accepts an existing directory. */
int minica_mkdir(const char *dir, mode_t mode, struct minica_err *err);

/* A file written to a temp name and not yet visible under its final name. */
struct minica_staged_file {
    int dirfd;
    char dir[MINICA_PATH_MAX];
    char base[256];
    char tmp[300];
    int active;
    int fd;       /* the temp file, open while unsynced */
    int unsynced; /* written but not yet fsynced (minica_stage_file_nosync) */
};

/* Owner and group to give a staged file; -1 keeps the current process's. */
struct minica_file_owner {
    uid_t uid;
    gid_t gid;
};

/* Writes data to a temp file next to path with the given mode (and owner,
 * when owner is not NULL), fsynced. Nothing is visible under path yet. */
int minica_stage_file(struct minica_staged_file *sf, const char *path, const void *data, size_t len,
                      mode_t mode, const struct minica_file_owner *owner, struct minica_err *err);
/* Like minica_stage_file, but only writes the data and starts its writeback:
 * the file is not durable until minica_staged_sync. Staging several files
 * this way, then syncing each, lets the disk flush them together instead of
 * one after another. Keeps the temp file open until it is synced. */
int minica_stage_file_nosync(struct minica_staged_file *sf, const char *path, const void *data,
                             size_t len, mode_t mode, const struct minica_file_owner *owner,
                             struct minica_err *err);
/* fsyncs and closes a file staged with minica_stage_file_nosync (nothing to
 * do after minica_stage_file). On failure the temp file is removed. */
int minica_staged_sync(struct minica_staged_file *sf, struct minica_err *err);
/* Renames the temp file into place (or links it, with MINICA_WRITE_NOREPLACE),
 * then fsyncs the directory. A file not yet synced is synced first: nothing
 * appears under its final name before its bytes are on disk. */
int minica_staged_commit(struct minica_staged_file *sf, unsigned flags, struct minica_err *err);
/* Removes the temp file if it is still there. Safe on a committed or zeroed struct. */
void minica_staged_abort(struct minica_staged_file *sf);

/* stage + commit in one call. */
int minica_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             unsigned flags, struct minica_err *err);

/* Reads a whole regular file (at most max bytes; larger is an error) and
 * NUL-terminates it. *buf is malloc'd; free it with minica_free_secret when it
 * may hold a key. */
int minica_read_file(const char *path, size_t max, char **buf, size_t *len, struct minica_err *err);

/* 1 when path is a regular file (not a symlink) holding exactly these bytes;
 * 0 otherwise, including when it cannot be read. Lets a caller leave an
 * identical file alone instead of replacing it. */
int minica_file_has_content(const char *path, const void *data, size_t len);

/* Zeroizes and frees. */
void minica_free_secret(void *p, size_t len);

int minica_fsync_dir(const char *dir, struct minica_err *err);

/* Removes temp files minica_stage_file left next to DIR/BASE (a process
 * killed between staging and renaming), when older than min_age_seconds:
 * younger ones may belong to a run still in progress. */
void minica_sweep_stale_temps(const char *dir, const char *const *bases, size_t n,
                              int64_t min_age_seconds);

/* Joins dir and base into out; refuses results longer than outlen. */
int minica_path_join(char *out, size_t outlen, const char *dir, const char *base,
                     struct minica_err *err);

int minica_file_exists(const char *path);

/* The state directory: explicit --dir, else $MINICA_DIR, else /var/lib/minica. */
const char *minica_default_state_dir(const char *explicit_dir);

#endif
