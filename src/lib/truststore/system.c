/* The system store, Debian's layout: a root is a .crt file in
 * /usr/local/share/ca-certificates, and update-ca-certificates links it
 * into /etc/ssl/certs and rebuilds ca-certificates.crt, which OpenSSL,
 * GnuTLS, curl and nginx read. It also runs the hooks other stores hang on
 * it (Java's cacerts, through ca-certificates-java). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/command.h"
#include "minica/fsutil.h"
#include "truststore/truststore_internal.h"

#define LOCAL_DIR "/usr/local/share/ca-certificates"
#define LINK_DIR "/etc/ssl/certs"
#define BUNDLE LINK_DIR "/ca-certificates.crt"
#define STORE "system"
/* A CA has one root, two during a rollover. */
#define MAX_ROOTS 16

static void file_of(const struct trust_root *root, char *out, size_t outlen)
{
    snprintf(out, outlen, LOCAL_DIR "/%s.crt", root->nick);
}

/* update-ca-certificates made the link, so the bundle holds the root. */
static int linked(const struct trust_root *root)
{
    char link[128];
    struct stat st;
    snprintf(link, sizeof(link), LINK_DIR "/%s.pem", root->nick);
    return stat(link, &st) == 0 && S_ISREG(st.st_mode);
}

/* Any trace of it in LINK_DIR, a dangling link too. */
static int listed(const struct trust_root *root)
{
    char link[128];
    struct stat st;
    snprintf(link, sizeof(link), LINK_DIR "/%s.pem", root->nick);
    return lstat(link, &st) == 0;
}

/* The likely cause of a refusal, for an operator who forgot sudo. */
static const char *root_hint(void)
{
    return geteuid() != 0 ? " (the system store needs root: run it with sudo)" : "";
}

/* fresh, after a removal: a plain run neither drops the links of a
 * deleted local certificate nor tells the hooks, so Java's cacerts would
 * keep trusting it; --fresh relinks everything and has the hooks rebuild. */
static int update(struct trust_run *run, int fresh)
{
    const char *const argv[] = {"update-ca-certificates", fresh ? "--fresh" : NULL, NULL};
    char *out = NULL;
    struct minica_err err;
    int ret = minica_exec_capture(argv, NULL, 0, &out, 300, NULL, &err);
    free(out);
    if (ret != 0)
        trust_say(run, STORE, MINICA_TRUST_FAILED, "%s%s", err.msg, root_hint());
    return ret;
}

static void install(struct trust_run *run)
{
    int wrote[MAX_ROOTS] = {0}, was_linked[MAX_ROOTS] = {0}, changed = 0;
    for (size_t i = 0; i < run->n_roots; i++) {
        const struct trust_root *root = &run->roots[i];
        char path[128];
        file_of(root, path, sizeof(path));
        was_linked[i] = linked(root);
        changed |= !was_linked[i];
        if (minica_file_has_content(path, root->pem, root->pem_len))
            continue;
        struct minica_err err;
        if (minica_write_file_atomic(path, root->pem, root->pem_len, 0644, 0, &err) != 0) {
            trust_say(run, STORE, MINICA_TRUST_FAILED, "%s%s", err.msg, root_hint());
            return;
        }
        wrote[i] = changed = 1;
    }
    if (changed && update(run, 0) != 0)
        return;
    for (size_t i = 0; i < run->n_roots; i++) {
        const struct trust_root *root = &run->roots[i];
        char path[128];
        file_of(root, path, sizeof(path));
        if (!linked(root))
            trust_say(run, STORE, MINICA_TRUST_FAILED,
                      "update-ca-certificates ran but did not add %s (%s): is %s a .crt in PEM?",
                      root->subject, root->nick, path);
        else if (wrote[i] || !was_linked[i])
            trust_say(run, STORE, MINICA_TRUST_CHANGED, "added %s as %s; " BUNDLE " rebuilt",
                      root->subject, path);
        else
            trust_say(run, STORE, MINICA_TRUST_UNCHANGED, "%s already trusted (%s)", root->subject,
                      path);
    }
}

static void uninstall(struct trust_run *run)
{
    int was_there[MAX_ROOTS] = {0}, changed = 0;
    for (size_t i = 0; i < run->n_roots; i++) {
        const struct trust_root *root = &run->roots[i];
        char path[128];
        file_of(root, path, sizeof(path));
        was_there[i] = listed(root);
        if (unlink(path) == 0) {
            was_there[i] = 1;
        } else if (errno != ENOENT) {
            trust_say(run, STORE, MINICA_TRUST_FAILED, "cannot remove %s: %s%s", path,
                      strerror(errno), root_hint());
            return;
        }
        changed |= was_there[i];
    }
    if (changed) {
        struct minica_err err;
        if (minica_fsync_dir(LOCAL_DIR, &err) != 0) {
            trust_say(run, STORE, MINICA_TRUST_FAILED, "%s", err.msg);
            return;
        }
        if (update(run, 1) != 0)
            return;
    }
    for (size_t i = 0; i < run->n_roots; i++) {
        const struct trust_root *root = &run->roots[i];
        if (listed(root))
            trust_say(run, STORE, MINICA_TRUST_FAILED,
                      "update-ca-certificates ran but %s (%s) is still in " LINK_DIR, root->subject,
                      root->nick);
        else if (was_there[i])
            trust_say(run, STORE, MINICA_TRUST_CHANGED, "removed %s; " BUNDLE " rebuilt",
                      root->subject);
        else
            trust_say(run, STORE, MINICA_TRUST_UNCHANGED, "%s was not installed", root->subject);
    }
}

static void check(struct trust_run *run)
{
    for (size_t i = 0; i < run->n_roots; i++) {
        const struct trust_root *root = &run->roots[i];
        char path[128];
        file_of(root, path, sizeof(path));
        int has = minica_file_has_content(path, root->pem, root->pem_len);
        if (has && linked(root))
            trust_say(run, STORE, MINICA_TRUST_UNCHANGED, "%s trusted (%s)", root->subject, path);
        else
            trust_say(run, STORE, MINICA_TRUST_MISSING, "%s not trusted%s", root->subject,
                      has ? " (its file is there: run update-ca-certificates)" : "");
    }
}

void trust_system(struct trust_run *run)
{
    char exe[4096];
    struct stat st;
    if (minica_command_find("update-ca-certificates", exe, sizeof(exe)) != 0 ||
        stat(LOCAL_DIR, &st) != 0 || !S_ISDIR(st.st_mode)) {
        trust_absent(run, MINICA_TRUST_SYSTEM, STORE,
                     "no update-ca-certificates or " LOCAL_DIR
                     " here (apt install ca-certificates)");
        return;
    }
    if (run->n_roots > MAX_ROOTS) {
        trust_say(run, STORE, MINICA_TRUST_FAILED, "more than %d roots", MAX_ROOTS);
        return;
    }
    switch (run->opts->action) {
    case MINICA_TRUST_INSTALL:
        install(run);
        break;
    case MINICA_TRUST_UNINSTALL:
        uninstall(run);
        break;
    case MINICA_TRUST_CHECK:
        check(run);
        break;
    }
}
