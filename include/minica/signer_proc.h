/* serve's signer process (issue 18): the CA keys live in a process that
 * never reads network input, and the process that does (libmicrohttpd,
 * GnuTLS, JSON, CSRs, JWS) opens the CA without them and asks for each
 * signature over a socketpair (ca/signer_wire.h), which the signer checks
 * (ca/signer_check.h) before it signs.
 *
 * Two processes are forked: a supervisor, which holds no key and restarts
 * the worker when it dies, and the worker, which opens every CA key of the
 * state directory (a file, an encrypted file, a PKCS#11 token) and
 * answers. Both are undumpable (no ptrace, no /proc/PID/mem for the same
 * user) and die with the process that started them. */
#ifndef MINICA_SIGNER_PROC_H
#define MINICA_SIGNER_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include "minica/ca.h"
#include "minica/error.h"

struct minica_signer_proc;

/* One line, without a newline, from the signer processes. */
typedef void (*minica_signer_log)(void *ctx, const char *line);

/* Forks the supervisor and its first worker for the CA in dir, and waits
 * until the worker holds its keys (an encrypted key's PBKDF2, a token's
 * login): its failure is this one's. Call it before any thread starts and
 * before this process reads anything secret: the children are forks of
 * it. log (may be NULL) runs in the children. */
int minica_signer_proc_start(const char *dir, minica_signer_log log, void *log_ctx,
                             struct minica_signer_proc **out, struct minica_err *err);

/* The CA in dir opened without its keys: every signature it makes goes to
 * proc, which must outlive it (and the handles minica_ca_reopen makes from
 * it). A CA key the worker does not hold is missing here. */
int minica_ca_open_signed_by(const char *dir, struct minica_signer_proc *proc,
                             struct minica_ca **out, struct minica_err *err);

/* A new worker, which reads the keys again (after `ca rotate`), replaces
 * the running one once it holds them; on failure the running one stays. */
int minica_signer_proc_reload(struct minica_signer_proc *proc, struct minica_err *err);

/* Whether the supervisor has ended (then reaped, with how it ended in
 * how: "signal 9"): nothing restarts it, so serve must stop. */
int minica_signer_proc_gone(struct minica_signer_proc *proc, char *how, size_t size);

/* The supervisor's pid, and the worker's as it last said hello. */
pid_t minica_signer_proc_supervisor(const struct minica_signer_proc *proc);
pid_t minica_signer_proc_worker(const struct minica_signer_proc *proc);

/* Stops both processes and frees proc. */
void minica_signer_proc_stop(struct minica_signer_proc *proc);

#endif
