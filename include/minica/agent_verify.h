/* What the agent does beyond renewing files: per-[cert] hooks (check and
 * reload commands, a haproxy PEM bundle), proof that a reload took effect
 * (`verify` endpoints probed over TLS), `--verify-only`, `agent status` and
 * the per-certificate state behind them. Included by agent.h; the renewal
 * cycle itself is src/lib/agent/run.c. */
#ifndef MINICA_AGENT_VERIFY_H
#define MINICA_AGENT_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"
#include "minica/fsutil.h"
#include "minica/names.h"

#define MINICA_AGENT_HOOK_COMMAND_MAX 4096
#define MINICA_AGENT_VERIFY_MAX 2048
#define MINICA_AGENT_DEFAULT_VERIFY_TIMEOUT 10
#define MINICA_AGENT_DEFAULT_COMMAND_TIMEOUT 60

struct minica_agent_config;
struct minica_agent_cert;
struct minica_agent_run;

/* The [cert NAME] keys of this module. */
struct minica_agent_cert_hooks {
    /* "" when unset, never NULL; kept in the config's string pool. */
    const char *verify; /* "HOST:PORT[/SNI], ...", validated at load */
    const char *check_command;
    const char *reload_command;
    int has_check;  /* set in [cert] (even empty): overrides [agent]'s */
    int has_reload; /* likewise; an own reload_command also drops [agent]'s reload_pidfile */
    const char *pem_bundle;
    unsigned seen;
};

/* The [agent] keys of this module. */
struct minica_agent_hooks_config {
    int64_t verify_timeout;  /* seconds; 0: MINICA_AGENT_DEFAULT_VERIFY_TIMEOUT */
    int64_t command_timeout; /* seconds; 0: MINICA_AGENT_DEFAULT_COMMAND_TIMEOUT */
    unsigned seen;
};

/* Config parsing hooks, called by the agent.conf parser for keys it does not know.
 * Return 1 when the key was taken, 0 on a bad value (msg says why), -1 when
 * the key is not one of ours either. */
int minica_agent_hooks_agent_key(struct minica_agent_hooks_config *h, const char *key,
                                 const char *value, char *msg, size_t msglen);
struct minica_strpool;
int minica_agent_hooks_cert_key(struct minica_agent_cert_hooks *h, struct minica_strpool *strings,
                                const char *key, const char *value, char *msg, size_t msglen);

int64_t minica_agent_verify_timeout(const struct minica_agent_config *cfg);
int64_t minica_agent_command_timeout(const struct minica_agent_config *cfg);
/* The commands in effect for cert: its own, else [agent]'s. "" = none. */
const char *minica_agent_check_command(const struct minica_agent_config *cfg,
                                       const struct minica_agent_cert *cert);
const char *minica_agent_reload_command(const struct minica_agent_config *cfg,
                                        const struct minica_agent_cert *cert);
const char *minica_agent_reload_pidfile(const struct minica_agent_config *cfg,
                                        const struct minica_agent_cert *cert);

/* Per-certificate state kept next to the agent's counters
 * (STATUS_FILE.json): last error, last renewal, what each endpoint served. */
struct minica_agent_served {
    char endpoint[2 * MINICA_NAME_MAX + 16];
    char serial[41];   /* "" when it did not answer */
    int64_t not_after; /* of the served certificate; 0 if unknown */
    int64_t checked;   /* when */
    char error[512];   /* "" when it served what was expected */
};
struct minica_agent_cert_state {
    char name[MINICA_NAME_MAX + 1];
    char last_error[1024];
    int64_t last_error_time;
    int64_t last_renewal;
    /* Its group failed and its files could not be put back (their
     * NAME.prev key and certificate do not match): the new ones stayed.
     * "" once a run completes its group's check, reload and verify. */
    char stuck[1024];
    int64_t stuck_since;
    struct minica_agent_served *served;
    size_t n_served;
};
struct minica_agent_state {
    int64_t verify_failures_total;
    struct minica_agent_cert_state *certs;
    size_t n_certs;
    size_t cap_certs;
    size_t hint; /* the entry found last: runs and files go in config order */
};

void minica_agent_state_init(struct minica_agent_state *st);
void minica_agent_state_free(struct minica_agent_state *st);
/* STATUS_FILE.json for a status file path. */
void minica_agent_state_path(const char *status_file, char *out, size_t outlen);
/* A missing file is an empty state. */
int minica_agent_state_load(struct minica_agent_state *st, const char *path,
                            struct minica_err *err);
int minica_agent_state_save(const struct minica_agent_state *st, const char *path,
                            struct minica_err *err);
/* The entry for name, created when missing (NULL only when out of memory). */
struct minica_agent_cert_state *minica_agent_state_cert(struct minica_agent_state *st,
                                                        const char *name);
void minica_agent_state_error(struct minica_agent_state *st, const char *name, const char *msg,
                              int64_t now);
/* A renewal went through: clears the last error and stuck. */
void minica_agent_state_renewed(struct minica_agent_state *st, const char *name, int64_t now);
/* Its group's check, reload and verify went through again: clears stuck.
 * 1 when it was stuck. */
int minica_agent_state_unstuck(struct minica_agent_state *st, const char *name);
void minica_agent_state_stuck(struct minica_agent_state *st, const char *name, const char *why,
                              int64_t now);
/* 1 when any certificate is stuck. */
int minica_agent_state_any_stuck(const struct minica_agent_state *st);
void minica_agent_state_served(struct minica_agent_state *st, const char *name,
                               const char *endpoint, const char *serial, int64_t not_after,
                               const char *error, int64_t now);

/* After a reload: each `verify` endpoint of cert must serve serial (a
 * certificate that verifies against root_pem), within verify_timeout. 0 when
 * all do (or cert has none); else MINICA_EIO with err naming the first
 * endpoint that did not and the serial it served. Results go to st (may be
 * NULL). */
int minica_agent_verify_served(const struct minica_agent_config *cfg,
                               const struct minica_agent_cert *cert, const char *root_pem,
                               const char *serial, struct minica_agent_state *st,
                               struct minica_err *err);

/* `minica agent --verify-only`: no renewal. For each cert, its files must
 * hold a certificate that is not close to expiry (less than half of the
 * renew_before window left), and each endpoint must serve exactly that
 * certificate. Problems go to run->report (one line each) and count in
 * run->failed; returns MINICA_EIO when there was any. Updates the state file. */
int minica_agent_verify_only(const struct minica_agent_config *cfg, struct minica_agent_run *run,
                             struct minica_err *err);

/* `minica agent status`: one report per [cert], with live probes. */
struct minica_agent_cert_report {
    char name[MINICA_NAME_MAX + 1];
    char serial[41];       /* on disk; "" when unreadable */
    char disk_error[1024]; /* why the files could not be read */
    int key_matches;       /* minica_agent_key_check: 1, 0, or -1 (cannot tell) */
    char key_error[1024];  /* unless key_matches is 1: which files, why */
    int64_t not_before;
    int64_t not_after;
    double lifetime_left;               /* 0..1 share of the lifetime left now */
    int64_t next_renewal;               /* when the agent will renew it (0 if unknown) */
    struct minica_agent_served *served; /* one per verify endpoint, probed now */
    size_t n_served;
    char last_error[1024]; /* from the state file */
    int64_t last_error_time;
    int64_t last_renewal;
    char stuck[1024]; /* from the state file: why its group could not be rolled back */
    int64_t stuck_since;
};
int minica_agent_status_collect(const struct minica_agent_config *cfg,
                                struct minica_agent_cert_report **reports, size_t *n,
                                struct minica_err *err);
void minica_agent_status_reports_free(struct minica_agent_cert_report *reports, size_t n);

/* When cert (lifetime not_before..not_after) becomes due under cfg's renew_before. */
int64_t minica_agent_renewal_time(const struct minica_agent_config *cfg, int64_t not_before,
                                  int64_t not_after);

/* Prometheus lines from the state file: minica_agent_verify_failures_total and
 * minica_served_cert_not_after_seconds{name,endpoint,serial}. *out is malloc'd. */
int minica_agent_verify_metrics(const char *status_file, char **out, struct minica_err *err);

#endif
