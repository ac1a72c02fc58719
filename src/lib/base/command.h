/* Running an operator's command (check_command, reload_command) through
 * /bin/sh -c and describing how it ended. Internal to src/lib; the one place
 * that forks, so PATH handling and timeouts live here. */
#ifndef MINICA_COMMAND_H
#define MINICA_COMMAND_H

#include <stdint.h>

#include "minica/error.h"

/* What a command gets when no command_timeout is configured. */
#define MINICA_COMMAND_DEFAULT_TIMEOUT 60

struct minica_command_result {
    int exited;    /* 1: exited normally, status in exit_code */
    int exit_code; /* valid when exited */
    int signal;    /* terminating signal when !exited */
    int timed_out; /* 1: killed by us after the timeout */
    int not_found; /* 1: the shell said 127, command not found */
};

/* Runs command via /bin/sh -c and waits for it, at most timeout_s seconds
 * (<= 0: MINICA_COMMAND_DEFAULT_TIMEOUT); then its process group gets
 * SIGTERM, and SIGKILL a moment later. stdin is /dev/null; the child's stdout
 * goes to our stderr, so a caller's stdout carries only its own action lines.
 * PATH gets the sbin directories it lacks (cron's is /usr/bin:/bin, and nginx,
 * haproxy and pg_ctlcluster live in sbin).
 * Returns 0 when it exited 0; otherwise MINICA_EIO with err naming the
 * command and how it ended ("exited with status 1", "command not found",
 * "killed by SIGKILL", "timed out after 60s"). result may be NULL. */
int minica_command_run_timeout(const char *command, int64_t timeout_s,
                               struct minica_command_result *result, struct minica_err *err);

/* minica_command_run_timeout with the default timeout. */
int minica_command_run(const char *command, struct minica_command_result *result,
                       struct minica_err *err);

/* The PATH commands get: $PATH (or the usual default when unset) plus
 * /usr/local/sbin, /usr/sbin and /sbin where missing. */
void minica_command_path(const char *path_env, char *out, size_t outlen);

#endif
