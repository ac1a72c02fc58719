/* Running an operator's command (check_command, reload_command) through
 * /bin/sh -c and describing how it ended. Internal to src/lib; the one place
 * that forks, so PATH handling and timeouts live here. */
#ifndef MINICA_COMMAND_H
#define MINICA_COMMAND_H

#include <stddef.h>
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

/* Runs argv[0] (found on the PATH below) with argv, no shell: for tools minica
 * drives itself with arguments it built (certutil, keytool), which no shell
 * may split or expand. stdin gets in (in_len bytes; NULL: /dev/null); the
 * child's stdout is returned in *out (malloc'd, NUL-terminated, at most
 * MINICA_EXEC_OUT_MAX bytes kept) and the last line of its stderr, for
 * messages, in err_line. Bounded in time like minica_command_run_timeout.
 * Returns 0 when it exited 0, else MINICA_EIO with err saying how it ended
 * and what it said; *out is set either way (free it). result may be NULL. */
#define MINICA_EXEC_OUT_MAX (1024 * 1024)
int minica_exec_capture(const char *const argv[], const void *in, size_t in_len, char **out,
                        int64_t timeout_s, struct minica_command_result *result,
                        struct minica_err *err);

/* Where PATH (plus the sbin directories, as below) finds the executable
 * name, into out; a name with a slash is taken as it is. 0, or -1 when there
 * is none. */
int minica_command_find(const char *name, char *out, size_t outlen);

/* The PATH commands get: $PATH (or the usual default when unset) plus
 * /usr/local/sbin, /usr/sbin and /sbin where missing. */
void minica_command_path(const char *path_env, char *out, size_t outlen);

#endif
