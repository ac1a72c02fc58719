/* Reads the CA keys' passphrase from a file or a systemd credential, with
 * the rule ssh applies to private keys: nobody but root and the CA's user
 * may read it, or it is refused. Not here: what the passphrase unlocks
 * (pkcs8.c, keyfile.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "ca/passphrase.h"

void minica_passphrase_wipe(struct minica_passphrase *p)
{
    mbedtls_platform_zeroize(p->buf, sizeof(p->buf));
    p->len = 0;
}

/* Where the credential is: $CREDENTIALS_DIRECTORY is a path that systemd
 * sets for the service, not a secret. setting names where the credential
 * was asked for, in messages ("[keys] passphrase_credential = NAME"). */
static int credential_path(const char *setting, const char *name, char *out, size_t outlen,
                           struct minica_err *err)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    if (dir == NULL || dir[0] == '\0')
        return minica_seterr(err, MINICA_EINVAL,
                             "%s, but $CREDENTIALS_DIRECTORY is "
                             "not set: run minica from a systemd unit with "
                             "LoadCredentialEncrypted=%s:...",
                             setting, name);
    if (dir[0] != '/')
        return minica_seterr(err, MINICA_EINVAL,
                             "$CREDENTIALS_DIRECTORY is not an absolute path: %s", dir);
    if (snprintf(out, outlen, "%s/%s", dir, name) >= (int)outlen)
        return minica_seterr(err, MINICA_EINVAL, "credential path too long: %s/%s", dir, name);
    return MINICA_OK;
}

static int check_fd(int fd, const char *path, const char *what, struct minica_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot check %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return minica_seterr(err, MINICA_EIO, "%s is not a regular file", path);
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return minica_seterr(err, MINICA_EIO,
                             "%s is owned by uid %u, not by root or you (uid %u); fix it with: "
                             "chown %u %s",
                             path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(),
                             path);
    unsigned mode = (unsigned)(st.st_mode & 07777);
    if (mode & 077)
        return minica_seterr(err, MINICA_EIO,
                             "%s is open to group or others (mode %04o); fix it with: chmod 600 %s",
                             path, mode, path);
    if (st.st_size > MINICA_PASSPHRASE_FILE_MAX)
        return minica_seterr(err, MINICA_EINVAL,
                             "%s is too large for a %s file (%lld bytes, at most %d)", path, what,
                             (long long)st.st_size, MINICA_PASSPHRASE_FILE_MAX);
    return MINICA_OK;
}

/* The first line of file, or of the credential; what ("passphrase",
 * "pin") names the secret in messages, setting the credential's option
 * (NULL: the [keys] key). */
static int read_secret(const char *file, const char *credential, const char *what,
                       const char *setting, struct minica_passphrase *out, struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    char path[MINICA_KEYS_PATH_MAX + MINICA_KEYS_CREDENTIAL_MAX + 2];
    char where[MINICA_KEYS_CREDENTIAL_MAX + 64];
    int ret;
    if (setting != NULL)
        snprintf(where, sizeof(where), "%s %s", setting, credential);
    else
        snprintf(where, sizeof(where), "[keys] %s_credential = %s", what, credential);
    if (file[0] != '\0') {
        if (strlen(file) >= MINICA_KEYS_PATH_MAX)
            return minica_seterr(err, MINICA_EINVAL, "%s file name too long", what);
        snprintf(path, sizeof(path), "%s", file);
        snprintf(out->source, sizeof(out->source), "%s", path);
    } else if (credential[0] != '\0') {
        if ((ret = minica_keys_check_credential(credential, err)) != 0)
            return ret;
        if ((ret = credential_path(where, credential, path, sizeof(path), err)) != 0)
            return ret;
        snprintf(out->source, sizeof(out->source), "credential %s", credential);
    } else {
        return minica_seterr(err, MINICA_EINVAL,
                             "no %s source: set [keys] %s_file or %s_credential in minica.conf",
                             what, what, what);
    }
    /* O_NONBLOCK: a FIFO in its place must not hang the CA (it is refused
     * as not a regular file). */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return minica_seterr(err, MINICA_EIO, "%s is a symbolic link; name the %s file itself",
                                 path, what);
        /* Not MINICA_ENOENT: to a key's reader that means the key is missing. */
        return minica_seterr(err, MINICA_EIO, "cannot read the %s from %s: %s", what, path,
                             strerror(e));
    }
    unsigned char data[MINICA_PASSPHRASE_FILE_MAX + 1];
    size_t got = 0;
    if ((ret = check_fd(fd, path, what, err)) != 0)
        goto out;
    while (got < sizeof(data)) {
        ssize_t r = read(fd, data + got, sizeof(data) - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ret = minica_seterr(err, MINICA_EIO, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got > MINICA_PASSPHRASE_FILE_MAX) {
        ret = minica_seterr(err, MINICA_EINVAL, "%s grew past %d bytes while being read", path,
                            MINICA_PASSPHRASE_FILE_MAX);
        goto out;
    }
    /* The first line without its newline, as openssl's -passin file: takes it. */
    const unsigned char *nl = memchr(data, '\n', got);
    size_t len = nl != NULL ? (size_t)(nl - data) : got;
    if (len == 0) {
        ret = minica_seterr(err, MINICA_EINVAL, "the first line of %s is empty: no %s", path, what);
        goto out;
    }
    if (len > MINICA_PASSPHRASE_MAX) {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "the %s in %s is longer than %d bytes (openssl's limit)", what, path,
                            MINICA_PASSPHRASE_MAX);
        goto out;
    }
    if (memchr(data, '\0', len) != NULL) {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "the %s in %s holds a NUL byte, which openssl would cut", what, path);
        goto out;
    }
    memcpy(out->buf, data, len);
    out->len = len;
    ret = MINICA_OK;
out:
    mbedtls_platform_zeroize(data, sizeof(data));
    close(fd);
    if (ret != 0)
        minica_passphrase_wipe(out);
    return ret;
}

int minica_passphrase_read(const struct minica_keys_conf *keys, struct minica_passphrase *out,
                           struct minica_err *err)
{
    return read_secret(keys->passphrase_file, keys->passphrase_credential, "passphrase", NULL, out,
                       err);
}

int minica_pin_read(const struct minica_keys_conf *keys, struct minica_passphrase *out,
                    struct minica_err *err)
{
    if (keys->pin_file[0] == '\0' && keys->pin_credential[0] == '\0') {
        memset(out, 0, sizeof(*out));
        return MINICA_OK;
    }
    return read_secret(keys->pin_file, keys->pin_credential, "pin", NULL, out, err);
}

int minica_secret_read(const char *file, const char *credential, const char *what,
                       const char *setting, struct minica_passphrase *out, struct minica_err *err)
{
    if ((file == NULL) == (credential == NULL)) {
        memset(out, 0, sizeof(*out));
        return minica_seterr(err, MINICA_EINVAL, "name one %s source: a file or a credential",
                             what);
    }
    return read_secret(file ? file : "", credential ? credential : "", what, setting, out, err);
}
