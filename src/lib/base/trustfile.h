/* Files a privileged run reads and then acts on (agent.conf runs commands,
 * a token file is sent to the CA): opened once, judged on the descriptor
 * that is read, and refused when anyone but root or the running user could
 * have written or swapped them (sshd's StrictModes). Internal to src/lib;
 * not for files minica writes (fsutil.h). The CA's state directory has its
 * own rules for what it holds (ca/statedir.c) and this one above it.
 *
 * The rule, for the file and every directory from its own up to "/":
 * - owned by root or by the effective uid of this process;
 * - not writable by group or others, whatever the group (sshd's rule: a
 *   group of one today can gain members tomorrow);
 * - except a sticky directory (/tmp, mode 1777): there only the owner of an
 *   entry may rename or remove it, and the entry below it is held to the
 *   owner rule, so nobody else can swap it.
 * The file itself must also be a regular file, never a symlink (O_NOFOLLOW)
 * and never a FIFO or device (O_NONBLOCK: opening a FIFO must not hang). */
#ifndef MINICA_TRUSTFILE_H
#define MINICA_TRUSTFILE_H

#include <stddef.h>

#include "minica/error.h"

/* The file is a bearer secret: group and others may not even read it
 * (mode 0600 or stricter, "chmod 600 FILE"). */
#define MINICA_TRUST_SECRET 0x1

/* Reads path (at most max bytes; larger is an error) into a malloc'd,
 * NUL-terminated *buf (length in *len when len is not NULL) after the
 * checks above. what names the file in errors ("agent config", "token
 * file"); each refusal is one sentence naming the path and the command that
 * fixes it. Returns 0, MINICA_ENOENT when path does not exist,
 * MINICA_EFORBIDDEN when the file or a directory fails the rule, MINICA_EINVAL
 * for a symlink, a non-regular or an oversized file. Free *buf with
 * minica_free_secret when it may hold a secret. */
int minica_read_trusted_file(const char *path, size_t max, const char *what, unsigned flags,
                             char **buf, size_t *len, struct minica_err *err);

/* The same rule for a path that is opened some other way: path itself (not
 * followed when it is a symlink, which is refused) and every directory above
 * it. 0 or MINICA_EFORBIDDEN / MINICA_ENOENT / MINICA_EINVAL with the fix in
 * err. */
int minica_check_path_strict(const char *path, struct minica_err *err);

/* The rule for directories alone: every directory from "/" down to dir
 * (dir itself too when with_self), on dir's canonical name. what and dir
 * name the thing in errors. */
int minica_check_dirs_strict(const char *what, const char *dir, int with_self,
                             struct minica_err *err);

#endif
