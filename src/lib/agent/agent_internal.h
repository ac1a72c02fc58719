/* What the agent's run (run.c) and its file replacement (replace.c) share.
 * Internal to src/lib/agent. */
#ifndef MINICA_AGENT_INTERNAL_H
#define MINICA_AGENT_INTERNAL_H

#include <stddef.h>
#include <sys/types.h>

#include "minica/agent.h"
#include "minica/fsutil.h"
#include "minica/issue.h"

/* One file of a managed cert being replaced. */
struct swap {
    const char *path;
    char prev[MINICA_PATH_MAX + 8];
    const char *data;
    mode_t mode;
    struct minica_staged_file staged;
    int secret; /* holds a private key: its .prev is narrowed once the group succeeded */
    int had_prev;
    int committed;
};

/* A managed cert being renewed in this run. */
struct pending {
    size_t index;
    enum minica_renew_reason reason;
    char why[1024];
    struct minica_issued issued;
    char *fullchain;
    char *bundle; /* pem_bundle's content: holds the key */
    size_t bundle_len;
    struct swap files[5];
    size_t n_files;
    int replaced; /* the new files are in place */
    /* Replaced, then restored because its group failed. */
    int rolled_back;
    int restored; /* every file of it is back as it was */
    /* The files it replaced (now NAME.prev) are a key and certificate that
     * do not match each other: putting them back would break the server's
     * next reload, so a failed group keeps the new ones. */
    int prev_mismatch;
    char prev_why[1024];
    int stuck; /* its group failed and prev_mismatch kept the new files */
};

void minica_agent_pending_free(struct pending *p);

/* Puts the previous files back (or removes new ones that had none), last
 * renamed first. Returns 0 when every file is back. The caller first checks
 * prev_mismatch: this does not. */
int minica_agent_restore(struct pending *p, struct minica_err *err);

/* Stages every file first (nothing visible yet), then keeps the current
 * files as NAME.prev (hard links) and renames the new ones in: key first,
 * then the certificates. A crash in between leaves a key that does not match
 * its certificate, which the next run's decision repairs; until then agent
 * status, --verify-only and the metrics report it. Sets prev_mismatch when
 * the current files are such a pair. */
int minica_agent_replace_files(const struct minica_agent_cert *c, struct pending *p,
                               struct minica_err *err);

/* A retired key kept as NAME.prev has the mode of the file it replaced: an
 * old self-signed setup's 0644 key would stay readable by every local user.
 * Called only once the group's check, reload and verify passed (a rollback
 * must put the original back exactly as it was). The .prev is the agent's
 * own hard link; O_NOFOLLOW keeps a symlink planted in its place from
 * redirecting the fchmod. */
int minica_agent_narrow_prev(const char *prev, struct minica_err *err);

/* A run killed between staging and renaming leaves ".BASE.tmp-*" next to a
 * managed file. Each directory is read once per run: reading it once per
 * file made a no-op run over 1,000 certificates cost seconds. */
void minica_agent_sweep_stale_temps(const struct minica_agent_config *cfg);

/* One line to the run's report callback (stdout or a test's collector). */
void minica_agent_say(struct minica_agent_run *run, int is_error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The facts of healthy certificates from earlier runs (factcache.c). */
struct minica_agent_factcache;

/* Loads path when it was written under the same CA stamp (else starts
 * empty). now_ns: the real time (minica_filestamp_now), against which
 * stamps settle and entries age. NULL only when out of memory. */
struct minica_agent_factcache *minica_agent_factcache_open(const char *path, const char *ca_stamp,
                                                           int64_t now_ns);
/* 1 and facts filled when the cache holds cert's facts and its files are
 * as they were; 0 otherwise. stamp gets the files' stamp for
 * minica_agent_factcache_record ("" when it must not be recorded). A hit
 * is kept for the next save. */
int minica_agent_factcache_lookup(struct minica_agent_factcache *fc,
                                  const struct minica_agent_cert *c,
                                  struct minica_agent_facts *facts, char *stamp, size_t stamplen);
/* Keeps facts inspected under stamp, when they are of a certificate the
 * agent leaves alone. */
void minica_agent_factcache_record(struct minica_agent_factcache *fc,
                                   const struct minica_agent_cert *c,
                                   const struct minica_agent_facts *facts, const char *stamp);
/* Writes what this run used and learned, when that differs from the file. */
int minica_agent_factcache_save(struct minica_agent_factcache *fc, const char *path,
                                struct minica_err *err);
void minica_agent_factcache_free(struct minica_agent_factcache *fc);

#endif
