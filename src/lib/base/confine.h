/* What serve's network process does to itself once it has opened what it
 * needs (issue 18): whatever a bug in its parsers lets an attacker run, it
 * runs without the CA keys. Linux only, like the rest of serve. */
#ifndef MINICA_BASE_CONFINE_H
#define MINICA_BASE_CONFINE_H

#include <stddef.h>

#include "minica/error.h"

/* Covers every CA key file under dir (every *.key but serve.key and
 * acme-eab.key, serve's own) with /dev/null on a nodev, read-only mount,
 * in a mount namespace this process first makes its own: opening one then
 * fails. Root does it directly; another user in a user namespace of its
 * own (where kernel.unprivileged_userns_clone or AppArmor allow one). The
 * other processes of the host see the files as they are. *covered is how
 * many were covered. Single-threaded callers only. */
int minica_confine_cover_keys(const char *dir, size_t *covered, struct minica_err *err);

/* The same in the mount namespace of process pid (which covered its keys
 * already): for keys made after it started, by `ca rotate`. Forks; the
 * caller must be single-threaded or not mind a short child. */
int minica_confine_cover_keys_of(int pid, const char *dir, struct minica_err *err);

/* Whether process pid's mount namespace is not ours (it covered keys). */
int minica_confine_covered(int pid);

/* no_new_privs; then as root, either the unprivileged user (its uid, gid,
 * and no supplementary groups) or, with user NULL, uid 0 with only
 * CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, bounding set included. In a
 * user namespace of its own (not root), every capability it gave. */
int minica_confine_drop(const char *user, struct minica_err *err);

#endif
