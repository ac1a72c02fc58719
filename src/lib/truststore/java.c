/* A Java cacerts keystore, changed with the JDK's keytool. keytool writes
 * the keystore in place, so it works on a copy beside it, which replaces
 * the original once it holds what it should: a keystore is never left
 * half-written for the JVMs that read it. The root's alias is its nick;
 * Debian's ca-certificates-java hook, run by update-ca-certificates, adds
 * the system store's copy as "debian:NICK.pem", which counts too. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/command.h"
#include "minica/fsutil.h"
#include "truststore/truststore_internal.h"

#define STORE "java"
#define DEBIAN_CACERTS "/etc/ssl/certs/java/cacerts"
#define CACERTS_MAX (64 * 1024 * 1024)

struct java {
    char keytool[4096];
    char cacerts[PATH_MAX]; /* the keystore file itself, symlinks resolved */
    const char *storepass_file;
};

static int keytool(const struct java *j, const char *keystore, const char *const *args,
                   const struct trust_root *in, char **out, struct minica_err *err)
{
    /* English messages: "does not exist" is matched below. */
    const char *argv[24] = {j->keytool, "-J-Duser.language=en", "-J-Duser.country=US"};
    size_t n = 3;
    for (; *args != NULL && n < 16; args++)
        argv[n++] = *args;
    argv[n++] = "-keystore";
    argv[n++] = keystore;
    char passarg[4200];
    if (j->storepass_file != NULL) {
        snprintf(passarg, sizeof(passarg), "%s", j->storepass_file);
        argv[n++] = "-storepass:file";
        argv[n++] = passarg;
    } else {
        /* The JDK's default for cacerts, public in every JDK's docs. */
        argv[n++] = "-storepass";
        argv[n++] = "changeit";
    }
    argv[n] = NULL;
    char *local = NULL;
    int ret = minica_exec_capture(argv, in ? in->pem : NULL, in ? in->pem_len : 0,
                                  out ? out : &local, 120, NULL, err);
    /* keytool says what went wrong on stdout. */
    if (ret != 0) {
        const char *said = out ? *out : local;
        const char *line = said ? strstr(said, "keytool error: ") : NULL;
        if (line != NULL) {
            size_t len = strcspn(line, "\r\n");
            minica_seterr(err, MINICA_EIO, "%.*s", (int)len, line);
        }
    }
    free(local);
    return ret;
}

/* 1 when keystore holds the root under alias, 0 when not, -1 on error. */
static int has_alias(const struct java *j, const char *keystore, const char *alias,
                     const struct trust_root *root, struct minica_err *err)
{
    const char *const args[] = {"-exportcert", "-rfc", "-alias", alias, NULL};
    char *out = NULL;
    int ret = keytool(j, keystore, args, NULL, &out, err);
    int has = ret == 0 ? trust_pem_is(out, root) : 0;
    if (ret != 0 && out != NULL && strstr(out, "does not exist") != NULL)
        ret = 0;
    free(out);
    return ret != 0 ? -1 : has;
}

/* Copies the keystore to a temp file beside it, with its owner and mode. */
static int stage_copy(const struct java *j, struct minica_staged_file *sf, char *tmp_path,
                      size_t len, struct minica_err *err)
{
    char *data = NULL;
    size_t n = 0;
    struct stat st;
    if (stat(j->cacerts, &st) != 0)
        return minica_seterr(err, MINICA_EIO, "%s: %s", j->cacerts, strerror(errno));
    int ret = minica_read_file(j->cacerts, CACERTS_MAX, &data, &n, err);
    struct minica_file_owner owner = {st.st_uid, st.st_gid};
    if (ret == 0)
        ret = minica_stage_file(sf, j->cacerts, data, n, st.st_mode & 07777, &owner, err);
    free(data);
    if (ret == 0)
        snprintf(tmp_path, len, "%s/%s", sf->dir, sf->tmp);
    return ret;
}

/* The copy keytool rewrote, made durable and put in place. */
static int commit_copy(struct minica_staged_file *sf, const char *tmp_path, struct minica_err *err)
{
    int fd = open(tmp_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        minica_staged_abort(sf);
        return minica_seterr(err, MINICA_EIO, "%s: %s", tmp_path, strerror(e));
    }
    close(fd);
    return minica_staged_commit(sf, 0, err);
}

static void change(struct trust_run *run, const struct java *j, int want)
{
    int todo[16] = {0}, any = 0;
    for (size_t i = 0; i < run->n_roots; i++) {
        const struct trust_root *root = &run->roots[i];
        char debian[64];
        snprintf(debian, sizeof(debian), "debian:%s.pem", root->nick);
        struct minica_err err;
        int ours = has_alias(j, j->cacerts, root->nick, root, &err);
        int theirs = ours < 0 ? -1 : has_alias(j, j->cacerts, debian, root, &err);
        if (ours < 0 || theirs < 0) {
            trust_say(run, STORE, MINICA_TRUST_FAILED, "%s: %s", j->cacerts, err.msg);
            return;
        }
        if (run->opts->action == MINICA_TRUST_CHECK) {
            trust_say(run, STORE, ours || theirs ? MINICA_TRUST_UNCHANGED : MINICA_TRUST_MISSING,
                      "%s %s in %s", root->subject, ours || theirs ? "trusted" : "not trusted",
                      j->cacerts);
            continue;
        }
        if (want && (ours || theirs)) {
            trust_say(run, STORE, MINICA_TRUST_UNCHANGED, "%s already trusted in %s (as %s)",
                      root->subject, j->cacerts, ours ? root->nick : debian);
        } else if (!want && !ours) {
            if (theirs)
                trust_say(run, STORE, MINICA_TRUST_FAILED,
                          "%s is in %s as %s, which the system store put there: minica trust "
                          "uninstall --store system removes it",
                          root->subject, j->cacerts, debian);
            else
                trust_say(run, STORE, MINICA_TRUST_UNCHANGED, "%s was not in %s", root->subject,
                          j->cacerts);
        } else {
            todo[i] = any = 1;
        }
    }
    if (!any)
        return;
    struct minica_staged_file sf;
    char tmp[PATH_MAX + 300];
    struct minica_err err;
    memset(&sf, 0, sizeof(sf));
    int ret = stage_copy(j, &sf, tmp, sizeof(tmp), &err);
    for (size_t i = 0; ret == 0 && i < run->n_roots; i++) {
        const struct trust_root *root = &run->roots[i];
        const char *const add[] = {"-importcert", "-noprompt", "-alias", root->nick, NULL};
        const char *const del[] = {"-delete", "-alias", root->nick, NULL};
        if (todo[i])
            ret = keytool(j, tmp, want ? add : del, want ? root : NULL, NULL, &err);
        if (ret == 0 && todo[i] && has_alias(j, tmp, root->nick, root, &err) != want)
            ret = minica_seterr(&err, MINICA_EIO, "keytool succeeded but the keystore %s %s",
                                want ? "lacks" : "still holds", root->nick);
    }
    if (ret == 0)
        ret = commit_copy(&sf, tmp, &err);
    else
        minica_staged_abort(&sf);
    if (ret != 0) {
        trust_say(run, STORE, MINICA_TRUST_FAILED, "%s: %s%s", j->cacerts, err.msg,
                  geteuid() != 0 && access(j->cacerts, W_OK) != 0 ? " (it needs root: sudo)" : "");
        return;
    }
    for (size_t i = 0; i < run->n_roots; i++)
        if (todo[i])
            trust_say(run, STORE, MINICA_TRUST_CHANGED, "%s %s %s %s (as %s)",
                      want ? "added" : "removed", run->roots[i].subject, want ? "to" : "from",
                      j->cacerts, run->roots[i].nick);
}

/* keytool and the keystore: the operator's, else $JAVA_HOME's, else
 * Debian's shared one. 0, or -1 after reporting what is missing. */
static int locate(struct trust_run *run, struct java *j)
{
    const struct minica_trust_options *o = run->opts;
    const char *java_home = o->java_home ? o->java_home : getenv("JAVA_HOME");
    if (java_home != NULL && *java_home == '\0')
        java_home = NULL;
    char path[PATH_MAX + 64];
    j->keytool[0] = '\0';
    if (java_home != NULL) {
        snprintf(path, sizeof(path), "%s/bin/keytool", java_home);
        if (access(path, X_OK) == 0)
            snprintf(j->keytool, sizeof(j->keytool), "%s", path);
    }
    if (j->keytool[0] == '\0' &&
        minica_command_find("keytool", j->keytool, sizeof(j->keytool)) != 0) {
        trust_absent(run, MINICA_TRUST_JAVA, STORE,
                     "no keytool here (a Java runtime: apt install default-jre-headless)");
        return -1;
    }
    const char *file = o->java_cacerts;
    if (file == NULL && java_home != NULL) {
        snprintf(path, sizeof(path), "%s/lib/security/cacerts", java_home);
        file = path;
    }
    if (file == NULL)
        file = DEBIAN_CACERTS;
    /* A JDK's lib/security/cacerts is a symlink to Debian's file: the file
     * is replaced, never the link. */
    if (realpath(file, j->cacerts) == NULL) {
        char why[PATH_MAX + 200];
        snprintf(why, sizeof(why), "no keystore %s (%s)%s", file, strerror(errno),
                 o->java_cacerts ? "" : ": name one with --java-cacerts FILE");
        if (o->java_cacerts != NULL)
            trust_say(run, STORE, MINICA_TRUST_FAILED, "%s", why);
        else
            trust_absent(run, MINICA_TRUST_JAVA, STORE, why);
        return -1;
    }
    j->storepass_file = o->java_storepass_file;
    return 0;
}

void trust_java(struct trust_run *run)
{
    struct java j;
    if (run->n_roots > 16) {
        trust_say(run, STORE, MINICA_TRUST_FAILED, "more than 16 roots");
        return;
    }
    if (locate(run, &j) != 0)
        return;
    change(run, &j, run->opts->action == MINICA_TRUST_INSTALL);
}
