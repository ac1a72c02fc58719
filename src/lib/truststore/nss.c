/* NSS databases: Chromium's ~/.pki/nssdb and each Firefox profile keep
 * their own trust, in cert9.db (the sql: format), and neither reads the
 * system store for it. certutil, from libnss3-tools, changes them. A root
 * is added as a trusted CA for TLS servers ("C,,"), what mkcert and an
 * administrator's certutil -A do. */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/command.h"
#include "truststore/truststore_internal.h"

#define STORE "nss"
#define MAX_DBS 32

/* A database's state for one root. */
enum nss_has { NSS_ABSENT, NSS_UNTRUSTED, NSS_TRUSTED };

static int certutil(const char *db, const char *const *args, const struct trust_root *in,
                    char **out, struct minica_err *err)
{
    char dbarg[4200];
    snprintf(dbarg, sizeof(dbarg), "sql:%s", db);
    const char *argv[16] = {"certutil"};
    size_t n = 1;
    for (; *args != NULL && n < 12; args++)
        argv[n++] = *args;
    argv[n++] = "-d";
    argv[n++] = dbarg;
    argv[n] = NULL;
    char *local = NULL;
    int ret = minica_exec_capture(argv, in ? in->pem : NULL, in ? in->pem_len : 0,
                                  out ? out : &local, 60, NULL, err);
    free(local);
    return ret;
}

/* The trust attributes certutil -L lists for nick ("C,,"), "" when none. */
static void trust_flags(const char *listing, const char *nick, char *flags, size_t len)
{
    size_t nl = strlen(nick);
    flags[0] = '\0';
    for (const char *line = listing; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        if (ll > nl && strncmp(line, nick, nl) == 0 && line[nl] == ' ') {
            const char *last = line + ll;
            while (last > line && (last[-1] == ' ' || last[-1] == '\r'))
                last--;
            const char *first = last;
            while (first > line && first[-1] != ' ')
                first--;
            snprintf(flags, len, "%.*s", (int)(last - first), first);
            return;
        }
        line = end ? end + 1 : NULL;
    }
}

static int nss_state(const char *db, const struct trust_root *root, enum nss_has *has,
                     struct minica_err *err)
{
    static const char *const list_all[] = {"-L", NULL};
    const char *const show[] = {"-L", "-a", "-n", root->nick, NULL};
    char *out = NULL;
    *has = NSS_ABSENT;
    /* certutil -L -n exits 255 for a nickname it lacks, as for a broken
     * database; the full listing tells the two apart. */
    int ret = certutil(db, list_all, NULL, &out, err);
    if (ret != 0) {
        free(out);
        return ret;
    }
    char flags[64];
    trust_flags(out, root->nick, flags, sizeof(flags));
    free(out);
    if (flags[0] == '\0')
        return MINICA_OK;
    out = NULL;
    if (certutil(db, show, NULL, &out, err) == 0 && trust_pem_is(out, root)) {
        const char *comma = strchr(flags, ',');
        size_t ssl = comma ? (size_t)(comma - flags) : strlen(flags);
        *has = memchr(flags, 'C', ssl) != NULL ? NSS_TRUSTED : NSS_UNTRUSTED;
    } else {
        *has = NSS_UNTRUSTED; /* another certificate under our name: replace it */
    }
    free(out);
    return MINICA_OK;
}

/* A database another user owns is theirs to change: certutil run by root
 * would leave root-owned files in it that lock its browser out. */
static int usable(struct trust_run *run, const char *db)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof(path), "%s/cert9.db", db);
    if (lstat(path, &st) != 0) {
        trust_say(run, STORE, MINICA_TRUST_FAILED,
                  "%s: no cert9.db (%s); make one with: certutil -N -d sql:%s --empty-password", db,
                  strerror(errno), db);
        return 0;
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        trust_say(run, STORE, MINICA_TRUST_FAILED,
                  "%s belongs to uid %u, not to this user (uid %u): run minica trust as its "
                  "owner, without sudo",
                  db, (unsigned)st.st_uid, (unsigned)geteuid());
        return 0;
    }
    return 1;
}

static void one_db(struct trust_run *run, const char *db)
{
    if (!usable(run, db))
        return;
    enum minica_trust_action action = run->opts->action;
    for (size_t i = 0; i < run->n_roots; i++) {
        const struct trust_root *root = &run->roots[i];
        enum nss_has has;
        struct minica_err err;
        if (nss_state(db, root, &has, &err) != 0) {
            trust_say(run, STORE, MINICA_TRUST_FAILED, "sql:%s: %s", db, err.msg);
            return;
        }
        if (action == MINICA_TRUST_CHECK) {
            trust_say(run, STORE,
                      has == NSS_TRUSTED ? MINICA_TRUST_UNCHANGED : MINICA_TRUST_MISSING,
                      "%s %s in sql:%s", root->subject,
                      has == NSS_TRUSTED ? "trusted" : "not trusted", db);
            continue;
        }
        int want = action == MINICA_TRUST_INSTALL;
        if ((want && has == NSS_TRUSTED) || (!want && has == NSS_ABSENT)) {
            trust_say(run, STORE, MINICA_TRUST_UNCHANGED, "%s %s sql:%s", root->subject,
                      want ? "already trusted in" : "was not in", db);
            continue;
        }
        /* Out with whatever is under our name (every copy), then in. */
        const char *const del[] = {"-D", "-n", root->nick, NULL};
        int ret = 0;
        for (int n = 0; ret == 0 && has != NSS_ABSENT && n < 8; n++) {
            ret = certutil(db, del, NULL, NULL, &err);
            if (ret == 0)
                ret = nss_state(db, root, &has, &err);
        }
        const char *const add[] = {"-A", "-a", "-t", "C,,", "-n", root->nick, NULL};
        if (ret == 0 && want)
            ret = certutil(db, add, root, NULL, &err);
        if (ret == 0)
            ret = nss_state(db, root, &has, &err);
        if (ret == 0 && has != (want ? NSS_TRUSTED : NSS_ABSENT))
            ret = minica_seterr(&err, MINICA_EIO, "certutil succeeded but the database %s it",
                                want ? "does not trust" : "still holds");
        if (ret != 0) {
            trust_say(run, STORE, MINICA_TRUST_FAILED, "sql:%s: %s", db, err.msg);
            return;
        }
        trust_say(run, STORE, MINICA_TRUST_CHANGED, "%s %s %s sql:%s (as %s)",
                  want ? "added" : "removed", root->subject, want ? "to" : "from", db, root->nick);
    }
}

/* The databases Chromium and Firefox keep under home, Debian's packages
 * and the snaps. */
static size_t find_dbs(const char *home, char dbs[][4096], size_t max)
{
    static const char *const patterns[] = {
        /* under home */
        "/.pki/nssdb/cert9.db",
        "/snap/chromium/current/.pki/nssdb/cert9.db",
        "/.mozilla/firefox/*/cert9.db",
        "/snap/firefox/common/.mozilla/firefox/*/cert9.db",
    };
    size_t n = 0;
    for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
        char pattern[4096];
        glob_t g;
        snprintf(pattern, sizeof(pattern), "%s%s", home, patterns[p]);
        if (glob(pattern, 0, NULL, &g) != 0)
            continue;
        for (size_t i = 0; i < g.gl_pathc && n < max; i++) {
            char *slash = strrchr(g.gl_pathv[i], '/');
            snprintf(dbs[n++], 4096, "%.*s", (int)(slash - g.gl_pathv[i]), g.gl_pathv[i]);
        }
        globfree(&g);
    }
    return n;
}

void trust_nss(struct trust_run *run)
{
    char exe[4096];
    if (minica_command_find("certutil", exe, sizeof(exe)) != 0) {
        trust_absent(run, MINICA_TRUST_NSS, STORE,
                     "no certutil here (apt install libnss3-tools), so no NSS database changed");
        return;
    }
    const struct minica_trust_options *o = run->opts;
    for (size_t i = 0; i < o->n_nssdbs; i++)
        one_db(run, o->nssdbs[i]);
    if (o->n_nssdbs > 0)
        return;
    const char *home = o->home ? o->home : getenv("HOME");
    if (home == NULL || *home == '\0') {
        trust_absent(run, MINICA_TRUST_NSS, STORE, "no HOME, so no NSS database to look for");
        return;
    }
    static char dbs[MAX_DBS][4096];
    size_t n = find_dbs(home, dbs, MAX_DBS);
    if (n == 0) {
        char why[4400];
        snprintf(why, sizeof(why),
                 "no NSS database under %s (Chromium's .pki/nssdb, Firefox profiles): start the "
                 "browser once, or name one with --nssdb DIR",
                 home);
        trust_absent(run, MINICA_TRUST_NSS, STORE, why);
    }
    for (size_t i = 0; i < n; i++)
        one_db(run, dbs[i]);
}
