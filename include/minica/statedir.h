/* Whether a CA state directory can be trusted (sshd's StrictModes for a
 * CA): the directory, the directories above it and the CA's files belong to
 * root or to the running user and nobody else may write them. Every opener
 * of a state directory goes through here; what the files mean is not its job. */
#ifndef MINICA_STATEDIR_H
#define MINICA_STATEDIR_H

#include <stddef.h>
#include <sys/stat.h>

#include "minica/error.h"
#include "minica/fsutil.h"

/* What a path is expected to be, and so which rule it gets. */
enum minica_statedir_kind {
    MINICA_STATEDIR_DIR,  /* the state directory: a directory, not writable by group/others */
    MINICA_STATEDIR_FILE, /* minica.conf, minica.db, certificates: not writable by group/others */
    MINICA_STATEDIR_KEY,  /* a CA key: not readable by group/others either (like ssh) */
};

/* An open, checked state directory. Files are read relative to fd, so a
 * directory renamed after the check cannot feed the reader another's file. */
struct minica_statedir {
    int fd;
    char path[MINICA_PATH_MAX]; /* as given, for messages */
    char real[MINICA_PATH_MAX]; /* resolved, for what opens by name (SQLite refuses symlinks) */
    /* In a subdirectory (minica_statedir_open_sub): the state directory it
     * belongs to, whose minica.conf governs its files (an encrypted key's
     * passphrase source); -1 in the state directory itself. */
    int top_fd;
    char top_path[MINICA_PATH_MAX];
};

/* The rule on one stat result (path names it in the message): owned by root
 * or the effective user, and the kind's mode rule. The message is one line
 * ending with the command that fixes it. */
int minica_statedir_check_stat(const char *path, const struct stat *st,
                               enum minica_statedir_kind kind, struct minica_err *err);

/* Zeroes sd (fd -1), so minica_statedir_close is safe on it. */
void minica_statedir_init(struct minica_statedir *sd);

/* Opens dir and checks it, the directories above it, and every CA file in
 * it that exists (root.key, intermediate.key, the certificates, minica.conf,
 * minica.db with its -wal and -shm). A missing directory is MINICA_ENOENT
 * with "create one with: minica init". A symlinked dir is followed when the
 * link belongs to root or the running user; the directory it names is checked. */
int minica_statedir_open(struct minica_statedir *sd, const char *dir, struct minica_err *err);

/* Reads DIR/base whole (at most max bytes) through one descriptor opened
 * O_NOFOLLOW, checked again with fstat by the rule for its kind (a name
 * ending in ".key" is a key). MINICA_ENOENT when it is missing. *buf is
 * NUL-terminated and malloc'd; free a key's with minica_free_secret. */
int minica_statedir_read(struct minica_statedir *sd, const char *base, size_t max, char **buf,
                         size_t *len, struct minica_err *err);

/* A subdirectory of an open state directory (the CA archive, "ca"),
 * opened without following a symlink and held to the directory rule.
 * MINICA_ENOENT when it does not exist. */
int minica_statedir_open_sub(struct minica_statedir *sub, const struct minica_statedir *parent,
                             const char *name, struct minica_err *err);

/* minica_statedir_read of the state directory sd belongs to (sd itself
 * when it is not a subdirectory): its minica.conf. */
int minica_statedir_read_top(struct minica_statedir *sd, const char *base, size_t max, char **buf,
                             size_t *len, struct minica_err *err);
/* That directory's path, for messages. */
const char *minica_statedir_top_path(const struct minica_statedir *sd);

/* Calls cb with the name of each entry not starting with '.'; a non-zero
 * return stops the listing and is returned. Files are checked when read. */
typedef int (*minica_statedir_entry_cb)(const char *name, void *ctx);
int minica_statedir_list(struct minica_statedir *sd, minica_statedir_entry_cb cb, void *ctx,
                         struct minica_err *err);

void minica_statedir_close(struct minica_statedir *sd);

/* For init: creates dir 0700 (and missing parents) or adopts an existing
 * directory of root's or the running user's, narrowing a wider mode to
 * 0700; refuses another user's directory and untrusted directories above it. */
int minica_statedir_prepare(const char *dir, struct minica_err *err);

#endif
