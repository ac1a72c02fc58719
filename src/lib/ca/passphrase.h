/* The passphrase of the encrypted CA key files, from where minica.conf's
 * [keys] says: a file, or a systemd credential ($CREDENTIALS_DIRECTORY,
 * LoadCredentialEncrypted=). Never argv or the environment: both can be
 * read by other users' processes (/proc/PID/cmdline, a child's environ)
 * and end up in logs. Internal to src/lib/ca. */
#ifndef MINICA_CA_PASSPHRASE_H
#define MINICA_CA_PASSPHRASE_H

#include <stddef.h>

#include "minica/error.h"
#include "minica/policy.h"

/* OpenSSL's -passin file: reads a line of at most 1023 bytes too. */
#define MINICA_PASSPHRASE_MAX 1023
/* A passphrase file is one line; anything much longer is not one. */
#define MINICA_PASSPHRASE_FILE_MAX 4096

struct minica_passphrase {
    unsigned char buf[MINICA_PASSPHRASE_MAX + 1];
    size_t len;
    char source[MINICA_KEYS_PATH_MAX + 64]; /* for messages: the file, or "credential NAME" */
};

/* Reads the passphrase: the first line of the file, without its newline.
 * The file is opened once (O_NOFOLLOW) and checked on that descriptor: a
 * regular file, owned by root or the running user, with no permission bit
 * for group or others. MINICA_EINVAL when keys names no source. */
int minica_passphrase_read(const struct minica_keys_conf *keys, struct minica_passphrase *out,
                           struct minica_err *err);

/* The token PIN of [keys] pin_file / pin_credential, read by the same
 * rules, NUL-terminated in buf; len 0 (and MINICA_OK) when neither is set:
 * the token may need none, or the URI's pin-source names it. */
int minica_pin_read(const struct minica_keys_conf *keys, struct minica_passphrase *out,
                    struct minica_err *err);

/* The same rules for a secret named on the command line: file or
 * credential (exactly one not NULL); setting names the credential's
 * option in messages ("--passphrase-credential"). */
int minica_secret_read(const char *file, const char *credential, const char *what,
                       const char *setting, struct minica_passphrase *out, struct minica_err *err);

/* Wipes it (safe on a zeroed struct). */
void minica_passphrase_wipe(struct minica_passphrase *p);

#endif
