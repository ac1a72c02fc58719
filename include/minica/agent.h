/* The renewal agent: agent.conf, the renewal decision (a pure function of
 * what is on disk and what the config asks for), and the
 * replace/check/reload/rollback cycle run from cron or a systemd timer.
 * Not a daemon: one run, then exit. */
#ifndef MINICA_AGENT_H
#define MINICA_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "minica/error.h"
#include "minica/agent_verify.h"
#include "minica/fsutil.h"
#include "minica/issue.h"
#include "minica/issuer.h"
#include "minica/store.h"

#define MINICA_AGENT_DEFAULT_CONFIG "/etc/minica/agent.conf"
#define MINICA_AGENT_COMMAND_MAX 4096
/* --jitter's ceiling: spreading a fleet's runs over more than a day is a
 * typo (5M for 5m), and a run asleep that long misses its own schedule. */
#define MINICA_AGENT_JITTER_MAX (24 * 3600)

/* One [cert NAME] section. */
struct minica_agent_cert {
    char name[MINICA_NAME_MAX + 1];
    char sans[MINICA_SANS_MAX]; /* canonical, comma-separated, NAME first */
    enum minica_usage usage;
    int64_t ttl;                   /* 0: the CA policy's default */
    enum minica_key_type key_type; /* 0: the CA policy's default */
    /* Paths: "" when unset, never NULL (minica_agent_cert_init); the
     * strings belong to the config that loaded them. */
    const char *fullchain;
    const char *key;
    const char *cert;
    const char *ca;
    const char *token_file;         /* remote CA: one-time token for the first issuance */
    struct minica_file_owner owner; /* -1: the agent's own */
    mode_t key_mode;                /* default 0600, never wider than 0640 */
    int line;                       /* of the section header, for messages */
    /* verify, its own commands, pem_bundle: see agent_verify.h */
    struct minica_agent_cert_hooks hooks;
};

struct minica_agent_config {
    char path[MINICA_PATH_MAX];
    char state_dir[MINICA_PATH_MAX]; /* "" until resolved */
    int renew_before_percent;        /* of the lifetime left; 0 when a duration is set */
    int64_t renew_before_seconds;
    char check_command[MINICA_AGENT_COMMAND_MAX];
    char reload_command[MINICA_AGENT_COMMAND_MAX];
    char reload_pidfile[MINICA_PATH_MAX];
    int reload_signal;                 /* with reload_pidfile; default SIGHUP */
    char lock_file[MINICA_PATH_MAX];   /* default STATE_DIR/agent.lock */
    char status_file[MINICA_PATH_MAX]; /* default STATE_DIR/agent.status */
    char ca_url[1024];                 /* remote CA (minica serve); "" = the local CA */
    char root[MINICA_PATH_MAX];        /* with ca_url: the bootstrapped root */
    int64_t retry_for; /* with ca_url: seconds one run waits for a busy or unreachable CA,
                          in all; 0 = 3m, -1 = no retries */
    struct minica_agent_cert *certs;
    size_t n_certs;
    size_t cap_certs;               /* allocated entries of certs */
    struct minica_strpool *strings; /* of the certs' paths and commands */
    /* verify_timeout, command_timeout: see agent_verify.h */
    struct minica_agent_hooks_config hooks;
};

void minica_agent_config_init(struct minica_agent_config *cfg);
/* An empty [cert NAME] entry: server usage, the agent's own user, key mode
 * 0600, every path and command "". */
void minica_agent_cert_init(struct minica_agent_cert *cert);
void minica_agent_config_free(struct minica_agent_config *cfg);
/* Parses path (or text, when not NULL; path is then used in messages).
 * Unknown sections or keys, missing required keys and bad values are errors
 * "path:line: reason". */
int minica_agent_config_load(struct minica_agent_config *cfg, const char *path, const char *text,
                             struct minica_err *err);
/* Fills state_dir (explicit_dir, else the config's, else $MINICA_DIR, else
 * /var/lib/minica), and the lock and status files left unset. */
int minica_agent_config_resolve(struct minica_agent_config *cfg, const char *explicit_dir,
                                struct minica_err *err);

/* Why a certificate is (or is not) renewed, in the order they are checked. */
enum minica_renew_reason {
    MINICA_RENEW_NONE = 0,
    MINICA_RENEW_FORCED,
    MINICA_RENEW_MISSING,        /* a configured file does not exist */
    MINICA_RENEW_UNREADABLE,     /* a file cannot be read or parsed */
    MINICA_RENEW_KEY_MISMATCH,   /* the key is not the certificate's */
    MINICA_RENEW_FILES_DISAGREE, /* cert, fullchain and ca files tell different stories */
    MINICA_RENEW_NOT_CURRENT_CA, /* not issued by this CA's current intermediate */
    MINICA_RENEW_REVOKED,
    MINICA_RENEW_EXPIRED,
    MINICA_RENEW_NAMES_CHANGED,
    MINICA_RENEW_USAGE_CHANGED,
    MINICA_RENEW_KEY_TYPE_CHANGED,
    MINICA_RENEW_DUE, /* less than renew_before of its lifetime left */
};

/* What is on disk for one managed certificate, gathered by
 * minica_agent_inspect (or built by hand in tests). */
struct minica_agent_facts {
    int missing;            /* a file does not exist */
    int unreadable;         /* a file cannot be read or parsed */
    char problem[1024];     /* which file and why, for the two above */
    int key_matches;        /* key and leaf belong together */
    int files_agree;        /* cert == fullchain's leaf, chain and ca are the CA's */
    char disagreement[512]; /* which files, when !files_agree */
    int current_ca;         /* issuer verdict */
    int revoked;            /* issuer verdict */
    char serial[MINICA_SERIAL_HEX_MAX];
    char sans[MINICA_SANS_MAX]; /* canonical, comma-separated */
    enum minica_usage usage;
    enum minica_key_type key_type;
    int64_t not_before;
    int64_t not_after;
};

/* Reads and judges the files of cert. File problems are facts, not errors;
 * an error means the issuer could not judge. */
int minica_agent_inspect(struct minica_issuer *issuer, const struct minica_agent_cert *cert,
                         struct minica_agent_facts *facts, struct minica_err *err);

/* Whether cert's key belongs to its certificate files (cert, fullchain;
 * a pem_bundle's key to its own certificate): 1 yes, 0 no, -1 a file is
 * missing or unreadable; unless 1, why says which files. What `agent
 * status`, `--verify-only` and `minica metrics` report, without a CA. */
int minica_agent_key_check(const struct minica_agent_cert *cert, char *why, size_t whylen);

/* The decision: pure, no I/O. why gets one human sentence for the reason. */
enum minica_renew_reason minica_agent_decide(const struct minica_agent_config *cfg,
                                             const struct minica_agent_cert *cert,
                                             const struct minica_agent_facts *facts, int64_t now,
                                             int force, char *why, size_t whylen);
const char *minica_renew_reason_name(enum minica_renew_reason reason);

/* One run. The library never prints: each action or failure is passed to
 * report as one line (failures with is_error = 1, and so are warnings, which
 * start with "warning: " and do not fail the run). */
struct minica_agent_factcache;
struct minica_agent_run {
    int force;
    int dry_run;
    int64_t jitter; /* seconds: sleep a random time below this first (at most
                       MINICA_AGENT_JITTER_MAX) */
    void (*report)(void *ctx, int is_error, const char *line);
    void *report_ctx;
    /* Results. */
    size_t renewed;
    size_t failed;
    int reloaded;
    /* Per-cert last error and probe results; NULL: not recorded. */
    struct minica_agent_state *state;
    /* Facts of earlier runs (minica_agent_run sets it); NULL: read every file. */
    struct minica_agent_factcache *facts_cache;
};

/* The cycle for every [cert] with a given issuer: decide, issue, stage,
 * keep NAME.prev, rename in place, check, reload once, roll back on failure.
 * Returns 0 when every certificate is good, MINICA_EIO (err: the first
 * failure) otherwise. Takes no lock. */
int minica_agent_run_with(const struct minica_agent_config *cfg, struct minica_issuer *issuer,
                          struct minica_agent_run *run, struct minica_err *err);

/* The whole run for the CLI: jitter, lock (non-blocking), open the local
 * issuer, minica_agent_run_with, update the status file (not in dry-run).
 * Per-cert failures go to report (run->failed > 0); an error with
 * run->failed == 0 (lock held, no CA) was not reported: print err. */
int minica_agent_run(const struct minica_agent_config *cfg, struct minica_agent_run *run,
                     struct minica_err *err);

/* Agent counters kept in status_file (key=value lines, for `minica metrics`). */
struct minica_agent_status {
    int64_t last_run;
    int64_t last_success;
    int64_t renewals_total;
    int64_t failures_total;
};
/* A missing file gives zeros. */
int minica_agent_status_load(const char *path, struct minica_agent_status *st,
                             struct minica_err *err);
int minica_agent_status_save(const char *path, const struct minica_agent_status *st,
                             struct minica_err *err);

/* The serial and not_after of the leaf a managed cert's files hold. */
int minica_agent_read_leaf(const struct minica_agent_cert *cert, char serial[MINICA_SERIAL_HEX_MAX],
                           int64_t *not_after, struct minica_err *err);

#endif
