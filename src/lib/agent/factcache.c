/* What the last runs learned about each healthy certificate, so that a run
 * in which nothing is due reads no certificate, key or CA file and opens no
 * database: for each [cert], the stamps of its files (base/filestamp.h) and
 * the facts decide.c needs, under the stamp of the CA's state directory
 * (minica_state_stamp). An entry is used only while every stamp is the
 * same, and for at most a day: then the files are read again. Anything odd
 * about the cache file makes it empty, never an error: it only saves time.
 *
 * The file (STATUS_FILE.facts, mode 0600) is one header, one "ca" line and
 * one tab-separated line per certificate. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_internal.h"
#include "base/filestamp.h"
#include "base/strpool.h"
#include "base/trustfile.h"
#include "base/util.h"
#include "minica/ca.h"
#include "minica/fsutil.h"

#define HEADER "minica-agent-facts 1"
#define MAX_AGE_NS (86400 * 1000000000LL)
#define STAMP_MAX 1024
#define FILE_MAX (64 * 1024 * 1024)

/* Strings point into the loaded file or into strings. */
struct entry {
    const char *name, *stamp, *serial, *sans;
    int64_t checked; /* real time, ns */
    int usage, key_type;
    int64_t not_before, not_after;
};

struct minica_agent_factcache {
    char ca_stamp[STAMP_MAX];
    int64_t now;       /* real time, ns */
    char *text;        /* the file as loaded, cut into strings */
    struct entry *old; /* from the file, sorted by name */
    size_t n_old;
    struct entry *next; /* what this run saves */
    size_t n_next, cap_next;
    struct minica_strpool *strings; /* of what this run recorded */
    int changed;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* One "name \t stamp \t checked \t serial \t sans \t usage \t key_type \t
 * not_before \t not_after" line. */
static int parse_entry(char *line, struct entry *e)
{
    char *f[9];
    int n = 0;
    for (char *p = line; n < 9; n++) {
        f[n] = p;
        char *tab = strchr(p, '\t');
        if (tab == NULL) {
            n++;
            break;
        }
        *tab = '\0';
        p = tab + 1;
    }
    if (n != 9 || strchr(f[8], '\t') != NULL)
        return -1;
    char *end;
    if (f[0][0] == '\0' || strlen(f[0]) > MINICA_NAME_MAX ||
        strlen(f[3]) >= MINICA_SERIAL_HEX_MAX || strlen(f[4]) >= MINICA_SANS_MAX)
        return -1;
    e->name = f[0];
    e->stamp = f[1];
    e->serial = f[3];
    e->sans = f[4];
    long long v[5];
    const int idx[5] = {2, 5, 6, 7, 8};
    for (int i = 0; i < 5; i++) {
        v[i] = strtoll(f[idx[i]], &end, 10);
        if (end == f[idx[i]] || *end != '\0')
            return -1;
    }
    e->checked = v[0];
    e->usage = (int)v[1];
    e->key_type = (int)v[2];
    e->not_before = v[3];
    e->not_after = v[4];
    return 0;
}

static void load_file(struct minica_agent_factcache *fc, const char *path)
{
    char *text = NULL;
    struct minica_err ignored;
    /* Only a file this user (or root) wrote: its facts decide what is left
     * alone. */
    if (minica_read_trusted_file(path, FILE_MAX, "agent facts", MINICA_TRUST_SECRET, &text, NULL,
                                 &ignored) != 0)
        return;
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    if (line == NULL || strcmp(line, HEADER) != 0)
        goto out;
    line = strtok_r(NULL, "\n", &save);
    if (line == NULL || strncmp(line, "ca ", 3) != 0 || strcmp(line + 3, fc->ca_stamp) != 0)
        goto out; /* another CA state, or none recorded: nothing holds */
    if ((fc->old = calloc(lines + 1, sizeof(*fc->old))) == NULL)
        goto out;
    fc->text = text; /* the entries' strings */
    text = NULL;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        if (parse_entry(line, &fc->old[fc->n_old]) != 0) {
            fc->n_old = 0; /* damaged: trust none of it */
            break;
        }
        fc->n_old++;
    }
    qsort(fc->old, fc->n_old, sizeof(*fc->old), by_name);
out:
    free(text);
}

struct minica_agent_factcache *minica_agent_factcache_open(const char *path, const char *ca_stamp,
                                                           int64_t now_ns)
{
    struct minica_agent_factcache *fc = calloc(1, sizeof(*fc));
    if (fc == NULL || strlen(ca_stamp) >= sizeof(fc->ca_stamp) ||
        (fc->strings = minica_strpool_new()) == NULL) {
        free(fc);
        return NULL;
    }
    memcpy(fc->ca_stamp, ca_stamp, strlen(ca_stamp) + 1);
    fc->now = now_ns;
    load_file(fc, path);
    return fc;
}

/* The stamps of cert's files, in a fixed order of roles. */
static int cert_stamp(const struct minica_agent_factcache *fc, const struct minica_agent_cert *c,
                      char *out, size_t outlen, int *settled)
{
    const char *paths[5] = {c->key, c->cert, c->fullchain, c->ca, c->hooks.pem_bundle};
    out[0] = '\0';
    *settled = 1;
    for (int i = 0; i < 5; i++) {
        if (paths[i][0] == '\0') {
            size_t used = strlen(out);
            if (used + 3 > outlen)
                return -1;
            memcpy(out + used, used > 0 ? " _" : "_", used > 0 ? 3 : 2);
        } else if (minica_filestamp_append(out, outlen, paths[i], MINICA_STAMP_ALL, fc->now,
                                           settled) != 0) {
            return -1;
        }
    }
    return 0;
}

static struct entry *add_next(struct minica_agent_factcache *fc)
{
    struct entry *grown =
        minica_array_grow(fc->next, &fc->cap_next, fc->n_next, sizeof(*grown), 64);
    if (grown == NULL)
        return NULL;
    fc->next = grown;
    return &fc->next[fc->n_next++];
}

int minica_agent_factcache_lookup(struct minica_agent_factcache *fc,
                                  const struct minica_agent_cert *c,
                                  struct minica_agent_facts *facts, char *stamp, size_t stamplen)
{
    int settled;
    stamp[0] = '\0';
    if (cert_stamp(fc, c, stamp, stamplen, &settled) != 0 || !settled) {
        stamp[0] = '\0'; /* not to be recorded */
        return 0;
    }
    struct entry key = {.name = c->name};
    const struct entry *e =
        fc->n_old > 0 ? bsearch(&key, fc->old, fc->n_old, sizeof(*fc->old), by_name) : NULL;
    if (e == NULL || strcmp(e->stamp, stamp) != 0 || fc->now - e->checked > MAX_AGE_NS ||
        e->checked > fc->now)
        return 0;
    memset(facts, 0, sizeof(*facts));
    facts->key_matches = 1;
    facts->files_agree = 1;
    facts->current_ca = 1;
    snprintf(facts->serial, sizeof(facts->serial), "%s", e->serial);
    snprintf(facts->sans, sizeof(facts->sans), "%s", e->sans);
    facts->usage = (enum minica_usage)e->usage;
    facts->key_type = (enum minica_key_type)e->key_type;
    facts->not_before = e->not_before;
    facts->not_after = e->not_after;
    struct entry *kept = add_next(fc);
    if (kept != NULL)
        *kept = *e;
    else
        fc->changed = 1;
    return 1;
}

void minica_agent_factcache_record(struct minica_agent_factcache *fc,
                                   const struct minica_agent_cert *c,
                                   const struct minica_agent_facts *facts, const char *stamp)
{
    /* Only what decide.c leaves alone, and only settled stamps. */
    if (stamp[0] == '\0' || facts->missing || facts->unreadable || !facts->key_matches ||
        !facts->files_agree || !facts->current_ca || facts->revoked ||
        strpbrk(facts->sans, "\t\n") != NULL)
        return;
    struct entry e = {
        .name = minica_strpool_dup(fc->strings, c->name),
        .stamp = minica_strpool_dup(fc->strings, stamp),
        .serial = minica_strpool_dup(fc->strings, facts->serial),
        .sans = minica_strpool_dup(fc->strings, facts->sans),
        .checked = fc->now,
        .usage = (int)facts->usage,
        .key_type = (int)facts->key_type,
        .not_before = facts->not_before,
        .not_after = facts->not_after,
    };
    struct entry *slot;
    if (e.name == NULL || e.stamp == NULL || e.serial == NULL || e.sans == NULL ||
        (slot = add_next(fc)) == NULL)
        return;
    *slot = e;
    fc->changed = 1;
}

int minica_agent_factcache_save(struct minica_agent_factcache *fc, const char *path,
                                struct minica_err *err)
{
    if (!fc->changed && fc->n_next == fc->n_old)
        return MINICA_OK; /* every entry was used as it was */
    size_t cap = 64 + strlen(fc->ca_stamp), len = 0;
    for (size_t i = 0; i < fc->n_next; i++)
        cap += strlen(fc->next[i].name) + strlen(fc->next[i].stamp) + strlen(fc->next[i].serial) +
               strlen(fc->next[i].sans) + 160;
    char *text = malloc(cap);
    if (text == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    len += (size_t)snprintf(text, cap, "%s\nca %s\n", HEADER, fc->ca_stamp);
    for (size_t i = 0; i < fc->n_next; i++) {
        const struct entry *e = &fc->next[i];
        len += (size_t)snprintf(text + len, cap - len,
                                "%s\t%s\t%" PRId64 "\t%s\t%s\t%d\t%d\t%" PRId64 "\t%" PRId64 "\n",
                                e->name, e->stamp, e->checked, e->serial, e->sans, e->usage,
                                e->key_type, e->not_before, e->not_after);
    }
    int ret = minica_write_file_atomic(path, text, len, 0600, 0, err);
    free(text);
    return ret;
}

void minica_agent_factcache_free(struct minica_agent_factcache *fc)
{
    if (fc == NULL)
        return;
    free(fc->text);
    free(fc->old);
    free(fc->next);
    minica_strpool_free(fc->strings);
    free(fc);
}
