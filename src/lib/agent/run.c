/* The renewal agent's run: inspect and decide for every managed
 * certificate, then for each group replace, check, reload, verify or roll
 * back; the run lock, jitter and the status file. Parsing agent.conf is
 * config.c; talking to a CA is the issuer's job (issuer.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_internal.h"
#include "base/command.h"
#include "base/filestamp.h"
#include "ca/x509.h"
#include "minica/agent.h"
#include "minica/ca.h"
#include "minica/duration.h"

/* ---- check and reload ---- */

/* Certificates that share a reload (and check) are replaced, checked and
 * reloaded together: the commands in effect for each (its [cert]'s, else
 * [agent]'s) decide its group. A group that fails is rolled back alone. */
struct group {
    const char *check_command;
    const char *reload_command;
    const char *reload_pidfile;
    int reload_signal;
    int64_t command_timeout;
};

static int signal_pidfile(const char *pidfile, int sig, struct minica_err *err)
{
    char *buf = NULL;
    int ret = minica_read_file(pidfile, 64, &buf, NULL, err);
    if (ret != 0)
        return ret;
    char *end;
    long pid = strtol(buf, &end, 10);
    while (*end == '\n' || *end == ' ' || *end == '\r')
        end++;
    if (pid <= 1 || *end != '\0') {
        free(buf);
        return minica_seterr(err, MINICA_EINVAL, "%s does not hold a process id", pidfile);
    }
    free(buf);
    if (kill((pid_t)pid, sig) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot signal process %ld from %s: %s", pid, pidfile,
                             strerror(errno));
    return MINICA_OK;
}

static int group_reload(const struct group *g, char *what, size_t whatlen, struct minica_err *err)
{
    if (g->reload_command != NULL && g->reload_command[0] != '\0') {
        snprintf(what, whatlen, "ran reload_command '%s'", g->reload_command);
        return minica_command_run_timeout(g->reload_command, g->command_timeout, NULL, err);
    }
    if (g->reload_pidfile != NULL && g->reload_pidfile[0] != '\0') {
        snprintf(what, whatlen, "sent SIG%s to the process in %s", sigabbrev_np(g->reload_signal),
                 g->reload_pidfile);
        return signal_pidfile(g->reload_pidfile, g->reload_signal, err);
    }
    what[0] = '\0';
    return MINICA_OK;
}

/* The marker that a run replaced files but has not finished check and
 * reload: the next run reloads even when nothing is due, so a crash cannot
 * leave new files on disk that the server never loaded. */
static void pending_marker(const struct minica_agent_config *cfg, char *out, size_t outlen)
{
    out[0] = '\0';
    if (cfg->status_file[0] != '\0')
        snprintf(out, outlen, "%s.reload-pending", cfg->status_file);
}

/* The first cert (config order) with the same commands in effect as cert i. */
static size_t group_leader(const struct minica_agent_config *cfg, size_t i)
{
    const struct minica_agent_cert *c = &cfg->certs[i];
    for (size_t j = 0; j < i; j++) {
        const struct minica_agent_cert *o = &cfg->certs[j];
        if (strcmp(minica_agent_check_command(cfg, c), minica_agent_check_command(cfg, o)) == 0 &&
            strcmp(minica_agent_reload_command(cfg, c), minica_agent_reload_command(cfg, o)) == 0 &&
            strcmp(minica_agent_reload_pidfile(cfg, c), minica_agent_reload_pidfile(cfg, o)) == 0)
            return j;
    }
    return i;
}

static int run_group(const struct minica_agent_config *cfg, const struct group *g, size_t leader,
                     struct pending *todo, size_t n_todo, int marker_found,
                     struct minica_issuer *issuer, struct minica_agent_run *run,
                     struct minica_err *first)
{
    int failed = 0;
    size_t changed = 0;
    char marker[MINICA_PATH_MAX + 32];
    pending_marker(cfg, marker, sizeof(marker));
    struct minica_err err;
    for (size_t i = 0; i < n_todo; i++) {
        struct pending *p = &todo[i];
        const struct minica_agent_cert *c = &cfg->certs[p->index];
        char sans_copy[MINICA_SANS_MAX];
        snprintf(sans_copy, sizeof(sans_copy), "%s", c->sans);
        const char *sans[MINICA_MAX_SANS];
        struct minica_issue_request req;
        memset(&req, 0, sizeof(req));
        char *save = NULL;
        for (char *t = strtok_r(sans_copy, ",", &save); t && req.n_sans < MINICA_MAX_SANS;
             t = strtok_r(NULL, ",", &save))
            sans[req.n_sans++] = t;
        req.name = c->name;
        req.sans = sans;
        req.ttl = c->ttl;
        req.usage = c->usage;
        req.key_type = c->key_type;
        int ret = issuer->ops->issue(issuer->ctx, &req, &p->issued, &err);
        if (ret == 0 && marker[0] != '\0' && changed == 0 && !marker_found &&
            access(marker, F_OK) != 0)
            ret = minica_write_file_atomic(marker, "", 0, 0600, 0, &err);
        if (ret == 0)
            ret = minica_agent_replace_files(c, p, &err);
        if (ret != 0) {
            minica_agent_say(run, 1, "%s: %s (previous files kept)", c->name, err.msg);
            minica_agent_state_error(run->state, c->name, err.msg, minica_now());
            if (first->msg[0] == '\0')
                snprintf(first->msg, sizeof(first->msg), "%s: %s", c->name, err.msg);
            run->failed++;
            failed = 1;
            continue;
        }
        changed++;
    }
    if (changed == 0 && !marker_found)
        return failed;

    const char *stage = NULL;
    char what[MINICA_AGENT_COMMAND_MAX + 64] = "";
    int ret = MINICA_OK;
    if (g->check_command != NULL && g->check_command[0] != '\0') {
        ret = minica_command_run_timeout(g->check_command, g->command_timeout, NULL, &err);
        stage = "check_command failed";
    }
    if (ret == 0) {
        ret = group_reload(g, what, sizeof(what), &err);
        stage = "reload failed";
    }
    /* A reload that exits 0 proves nothing (nginx -s reload only sends
     * SIGHUP): each `verify` endpoint must now serve the new serial. */
    int not_served = 0;
    const char *culprit = NULL; /* the certificate whose endpoint did not serve it */
    for (size_t i = 0; ret == 0 && i < n_todo; i++) {
        struct pending *p = &todo[i];
        if (!p->replaced)
            continue;
        ret = minica_agent_verify_served(cfg, &cfg->certs[p->index],
                                         issuer->ops->root_pem(issuer->ctx), p->issued.serial,
                                         run->state, &err);
        if (ret != 0) {
            stage = "not served after the reload";
            not_served = 1;
            culprit = cfg->certs[p->index].name;
        }
    }
    if (ret != 0) {
        struct minica_err rerr;
        rerr.msg[0] = '\0';
        for (size_t i = n_todo; i-- > 0;) {
            struct pending *p = &todo[i];
            struct minica_err one;
            if (!p->replaced)
                continue;
            if (p->prev_mismatch) {
                p->stuck = 1;
                continue;
            }
            p->rolled_back = 1;
            p->restored = minica_agent_restore(p, &one) == 0;
            if (!p->restored && rerr.msg[0] == '\0')
                rerr = one;
        }
        /* The server may have loaded the new files after all (or half of
         * them): make it load the restored ones. */
        char again[MINICA_AGENT_COMMAND_MAX + 64];
        struct minica_err aerr;
        if (not_served && rerr.msg[0] == '\0' && group_reload(g, again, sizeof(again), &aerr) != 0)
            snprintf(rerr.msg, sizeof(rerr.msg), "reloading the restored files failed: %s",
                     aerr.msg);
        for (size_t i = 0; i < n_todo; i++) {
            struct pending *p = &todo[i];
            const char *name = cfg->certs[p->index].name;
            char line[2048], cause[1400];
            /* A verify failure is one certificate's: the others of its group
             * were served fine and are rolled back only with it. */
            if (culprit != NULL && strcmp(culprit, name) != 0)
                snprintf(cause, sizeof(cause), "its group was rolled back: %s was %s", culprit,
                         stage);
            else
                snprintf(cause, sizeof(cause), "%s: %s", stage, err.msg);
            if (p->stuck) {
                snprintf(line, sizeof(line),
                         "%s: %s; not rolled back: %s, so the new files stay in place "
                         "(stuck: each run checks and reloads again)",
                         name, cause, p->prev_why);
                minica_agent_say(run, 1, "%s", line);
                minica_agent_state_error(run->state, name, line + strlen(name) + 2, minica_now());
                minica_agent_state_stuck(run->state, name, p->prev_why, minica_now());
                run->failed++;
                continue;
            }
            if (!p->rolled_back)
                continue;
            if (rerr.msg[0] != '\0')
                snprintf(line, sizeof(line), "%s: %s; and %s", name, cause, rerr.msg);
            else
                snprintf(line, sizeof(line), "%s: %s; restored the previous files%s", name, cause,
                         not_served ? " and reloaded" : "");
            minica_agent_say(run, 1, "%s", line);
            minica_agent_state_error(run->state, name, line + strlen(name) + 2, minica_now());
            run->failed++;
            /* Its files are gone again: the inventory must not keep it as
             * the name's current certificate (minica list). */
            struct minica_err werr;
            if (p->restored && issuer->ops->withdraw != NULL &&
                issuer->ops->withdraw(issuer->ctx, p->issued.serial, &werr) != 0)
                minica_agent_say(run, 1,
                                 "warning: %s: the rolled-back certificate (serial %s) stays "
                                 "valid in the inventory: %s",
                                 name, p->issued.serial, werr.msg);
        }
        if (changed == 0)
            minica_agent_say(run, 1, "%s: %s", stage, err.msg);
        if (first->msg[0] == '\0')
            snprintf(first->msg, sizeof(first->msg), "%s: %s", stage, err.msg);
        return 1;
    }
    for (size_t i = 0; i < n_todo; i++) {
        struct pending *p = &todo[i];
        if (!p->replaced)
            continue;
        char until[32];
        minica_time_rfc3339(p->issued.not_after, until);
        minica_agent_say(run, 0, "renewed %s (serial %s, valid until %s): %s",
                         cfg->certs[p->index].name, p->issued.serial, until, p->why);
        /* No rollback from here on: the retired keys may lose their old
         * mode. A failure only warns: the new files are in place and served. */
        for (size_t k = 0; k < p->n_files; k++) {
            struct minica_err nerr;
            if (p->files[k].secret && p->files[k].had_prev &&
                minica_agent_narrow_prev(p->files[k].prev, &nerr) != 0)
                minica_agent_say(run, 1, "warning: %s: %s", cfg->certs[p->index].name, nerr.msg);
        }
        minica_agent_state_renewed(run->state, cfg->certs[p->index].name, minica_now());
        run->renewed++;
    }
    /* Its check, reload and verify went through: no longer stuck. */
    for (size_t k = 0; minica_agent_state_any_stuck(run->state) && k < cfg->n_certs; k++)
        if (group_leader(cfg, k) == leader &&
            minica_agent_state_unstuck(run->state, cfg->certs[k].name))
            minica_agent_say(run, 0,
                             "%s: no longer stuck: its group was checked, reloaded and "
                             "verified",
                             cfg->certs[k].name);
    if (changed == 0)
        minica_agent_say(run, 0, "a previous run was interrupted before reloading");
    if (what[0] != '\0') {
        minica_agent_say(run, 0, "reloaded: %s", what);
        run->reloaded = 1;
    }
    return failed;
}

int minica_agent_run_with(const struct minica_agent_config *cfg, struct minica_issuer *issuer,
                          struct minica_agent_run *run, struct minica_err *err)
{
    int64_t now = minica_now();
    struct minica_err first;
    first.msg[0] = '\0';
    int failed = 0;
    struct pending *todo = calloc(cfg->n_certs ? cfg->n_certs : 1, sizeof(*todo));
    if (todo == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    size_t n_todo = 0;
    char marker[MINICA_PATH_MAX + 32];
    pending_marker(cfg, marker, sizeof(marker));
    int marker_found = !run->dry_run && marker[0] != '\0' && access(marker, F_OK) == 0;

    if (!run->dry_run)
        minica_agent_sweep_stale_temps(cfg);
    if (!run->dry_run && issuer->ops->begin_run != NULL)
        issuer->ops->begin_run(issuer->ctx, run->report, run->report_ctx);
    for (size_t i = 0; i < cfg->n_certs; i++) {
        const struct minica_agent_cert *c = &cfg->certs[i];
        /* A certificate born inside its renewal window would be renewed,
         * and its server reloaded, by every run: refuse, loudly. */
        if (c->ttl > 0 && cfg->renew_before_percent == 0 && cfg->renew_before_seconds >= c->ttl) {
            char rb[64], ttl[64], msg[256];
            minica_duration_format(cfg->renew_before_seconds, rb, sizeof(rb));
            minica_duration_format(c->ttl, ttl, sizeof(ttl));
            snprintf(msg, sizeof(msg),
                     "ttl %s is not longer than renew_before %s, so every run would renew it; "
                     "nothing done",
                     ttl, rb);
            minica_agent_say(run, 1, "%s: %s", c->name, msg);
            minica_agent_state_error(run->state, c->name, msg, now);
            if (first.msg[0] == '\0')
                snprintf(first.msg, sizeof(first.msg), "%s: %s", c->name, msg);
            run->failed++;
            failed = 1;
            continue;
        }
        struct minica_agent_facts facts;
        struct minica_err ierr;
        char stamp[1024];
        if (run->facts_cache != NULL &&
            minica_agent_factcache_lookup(run->facts_cache, c, &facts, stamp, sizeof(stamp))) {
            /* as it was: nothing read */
        } else if (minica_agent_inspect(issuer, c, &facts, &ierr) == 0) {
            if (run->facts_cache != NULL)
                minica_agent_factcache_record(run->facts_cache, c, &facts, stamp);
        } else {
            minica_agent_say(run, 1, "%s: %s", c->name, ierr.msg);
            minica_agent_state_error(run->state, c->name, ierr.msg, now);
            if (first.msg[0] == '\0')
                snprintf(first.msg, sizeof(first.msg), "%s: %s", c->name, ierr.msg);
            run->failed++;
            failed = 1;
            continue;
        }
        struct pending *p = &todo[n_todo];
        p->reason = minica_agent_decide(cfg, c, &facts, now, run->force, p->why, sizeof(p->why));
        if (p->reason == MINICA_RENEW_NONE)
            continue;
        if (run->dry_run) {
            minica_agent_say(run, 0, "would renew %s: %s", c->name, p->why);
            continue;
        }
        p->index = i;
        n_todo++;
    }

    if (!run->dry_run && (n_todo > 0 || marker_found)) {
        /* Order todo by group (config order inside each): each group is then
         * a slice. Nothing is staged yet, so the entries may move. */
        struct pending *sorted = calloc(n_todo ? n_todo : 1, sizeof(*sorted));
        if (sorted == NULL) {
            free(todo);
            return minica_seterr(err, MINICA_ENOMEM, "out of memory");
        }
        size_t m = 0;
        for (size_t i = 0; i < cfg->n_certs; i++) {
            if (group_leader(cfg, i) != i)
                continue;
            size_t start = m;
            for (size_t k = 0; k < n_todo; k++)
                if (group_leader(cfg, todo[k].index) == i)
                    sorted[m++] = todo[k];
            if (m == start && !marker_found)
                continue;
            const struct minica_agent_cert *c = &cfg->certs[i];
            struct group g = {minica_agent_check_command(cfg, c),
                              minica_agent_reload_command(cfg, c),
                              minica_agent_reload_pidfile(cfg, c), cfg->reload_signal,
                              minica_agent_command_timeout(cfg)};
            if (run_group(cfg, &g, i, sorted + start, m - start, marker_found, issuer, run,
                          &first) != 0)
                failed = 1;
        }
        memcpy(todo, sorted, n_todo * sizeof(*todo));
        free(sorted);
        /* Kept while a certificate is stuck: every run then checks,
         * reloads and verifies again, until its group gets through. */
        if (marker[0] != '\0' && !minica_agent_state_any_stuck(run->state))
            unlink(marker);
    }
    for (size_t i = 0; i < n_todo; i++)
        minica_agent_pending_free(&todo[i]);
    free(todo);
    if (failed)
        return minica_seterr(err, MINICA_EIO, "%s", first.msg);
    return MINICA_OK;
}

/* ---- lock, jitter, status ---- */

/* Which setting put file where it is, for a message about its directory. */
static const char *setting_for(const struct minica_agent_config *cfg, const char *file,
                               const char *own_setting, const char *default_base)
{
    char derived[MINICA_PATH_MAX];
    if (minica_path_join(derived, sizeof(derived), cfg->state_dir, default_base, NULL) == 0 &&
        strcmp(derived, file) == 0)
        return "state_dir";
    return own_setting;
}

/* The agent's own state directory may never have been made: a VM whose CA
 * is remote has no `minica init` to make it. Created 0700, as certbot makes
 * its own; only the last component, so that a mistyped path fails with the
 * setting named instead of growing a tree where it was not meant to be. */
static int ensure_dir_of(const char *file, const char *setting, struct minica_err *err)
{
    char dir[MINICA_PATH_MAX];
    if (snprintf(dir, sizeof(dir), "%s", file) >= (int)sizeof(dir))
        return minica_seterr(err, MINICA_EINVAL, "path too long: %s", file);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return MINICA_OK; /* the working directory, or "/" */
    *slash = '\0';
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return minica_seterr(err, MINICA_EIO, "%s is not a directory (set %s in agent.conf)",
                                 dir, setting);
        return MINICA_OK;
    }
    if (errno != ENOENT)
        return minica_seterr(err, MINICA_EIO, "cannot check %s: %s", dir, strerror(errno));
    if (mkdir(dir, 0700) == 0) {
        if (chmod(dir, 0700) != 0) /* mkdir honours the umask */
            return minica_seterr(err, MINICA_EIO, "cannot chmod %s: %s", dir, strerror(errno));
        return MINICA_OK;
    }
    if (errno == EEXIST)
        return MINICA_OK;
    int e = errno;
    if (e == ENOENT) {
        char *up = strrchr(dir, '/');
        if (up != NULL && up != dir)
            *up = '\0';
        return minica_seterr(err, MINICA_ENOENT,
                             "cannot create the agent's state directory %s/%s: %s is missing "
                             "too; create it, or set %s in agent.conf",
                             dir, up != NULL ? up + 1 : "", dir, setting);
    }
    return minica_seterr(err, MINICA_EIO, "cannot create the agent's state directory %s: %s", dir,
                         strerror(e));
}

static int take_lock(const char *path, int *fd, struct minica_err *err)
{
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd < 0)
        return minica_seterr(err, MINICA_EIO, "cannot open the lock file %s: %s", path,
                             strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return minica_seterr(err, MINICA_EEXIST, "another agent run holds %s", path);
        return minica_seterr(err, MINICA_EIO, "cannot lock %s: %s", path, strerror(e));
    }
    return MINICA_OK;
}

static void jitter_sleep(int64_t jitter)
{
    if (jitter <= 0)
        return;
    if (jitter > MINICA_AGENT_JITTER_MAX)
        jitter = MINICA_AGENT_JITTER_MAX;
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint64_t)time(NULL) ^ (uint64_t)getpid();
    uint64_t ms = r % ((uint64_t)jitter * 1000);
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int minica_agent_status_load(const char *path, struct minica_agent_status *st,
                             struct minica_err *err)
{
    memset(st, 0, sizeof(*st));
    if (!minica_file_exists(path))
        return MINICA_OK;
    char *buf = NULL;
    int ret = minica_read_file(path, 64 * 1024, &buf, NULL, err);
    if (ret != 0)
        return ret;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long v;
        char key[64];
        if (sscanf(line, "%63[a-z_] = %lld", key, &v) != 2)
            continue; /* later versions may add lines */
        if (strcmp(key, "last_run") == 0)
            st->last_run = v;
        else if (strcmp(key, "last_success") == 0)
            st->last_success = v;
        else if (strcmp(key, "renewals_total") == 0)
            st->renewals_total = v;
        else if (strcmp(key, "failures_total") == 0)
            st->failures_total = v;
    }
    free(buf);
    return MINICA_OK;
}

int minica_agent_status_save(const char *path, const struct minica_agent_status *st,
                             struct minica_err *err)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf),
                     "# minica agent counters (read by 'minica metrics'); rewritten by each run\n"
                     "last_run = %lld\nlast_success = %lld\nrenewals_total = %lld\n"
                     "failures_total = %lld\n",
                     (long long)st->last_run, (long long)st->last_success,
                     (long long)st->renewals_total, (long long)st->failures_total);
    return minica_write_file_atomic(path, buf, (size_t)n, 0644, 0, err);
}

int minica_agent_run(const struct minica_agent_config *cfg, struct minica_agent_run *run,
                     struct minica_err *err)
{
    jitter_sleep(run->jitter);
    int lock = -1;
    int ret = ensure_dir_of(cfg->lock_file,
                            setting_for(cfg, cfg->lock_file, "lock_file", "agent.lock"), err);
    if (ret == 0)
        ret = ensure_dir_of(cfg->status_file,
                            setting_for(cfg, cfg->status_file, "status_file", "agent.status"), err);
    if (ret == 0)
        ret = take_lock(cfg->lock_file, &lock, err);
    if (ret != 0)
        return ret;
    struct minica_issuer issuer;
    memset(&issuer, 0, sizeof(issuer));
    /* Per-cert last error and probe results, for `agent status` and metrics. */
    char state_path[MINICA_PATH_MAX + 8];
    minica_agent_state_path(cfg->status_file, state_path, sizeof(state_path));
    struct minica_agent_state *state = calloc(1, sizeof(*state));
    struct minica_err sterr;
    if (state == NULL) {
        close(lock);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    if (minica_agent_state_load(state, state_path, &sterr) != 0)
        minica_agent_state_init(state);
    if (run->state == NULL && !run->dry_run)
        run->state = state;
    /* A local CA whose state has settled since the last run: certificates
     * whose files are unchanged are judged from that run's facts, and the
     * CA is opened only if one of them needs it. */
    struct minica_agent_factcache *cache = NULL;
    char facts_path[MINICA_PATH_MAX + 8], ca_stamp[1024];
    int settled = 0;
    snprintf(facts_path, sizeof(facts_path), "%s.facts", cfg->status_file);
    if (cfg->ca_url[0] == '\0' && run->facts_cache == NULL &&
        minica_state_stamp(cfg->state_dir, ca_stamp, sizeof(ca_stamp), &settled) == 0 && settled)
        cache = minica_agent_factcache_open(facts_path, ca_stamp, minica_filestamp_now());
    if (cfg->ca_url[0] != '\0')
        ret = minica_issuer_open_remote_agent(&issuer, cfg, err);
    else if (cache != NULL)
        ret = minica_issuer_open_local_lazy(&issuer, cfg->state_dir, "agent", err);
    else
        ret = minica_issuer_open_local(&issuer, cfg->state_dir, "agent", err);
    if (cache != NULL)
        run->facts_cache = cache;
    if (ret == 0)
        ret = minica_agent_run_with(cfg, &issuer, run, err);
    minica_issuer_close(&issuer);
    if (cache != NULL) {
        struct minica_err cerr;
        if (!run->dry_run && minica_agent_factcache_save(cache, facts_path, &cerr) != 0)
            minica_agent_say(run, 1, "%s", cerr.msg);
        run->facts_cache = NULL;
        minica_agent_factcache_free(cache);
    }
    if (!run->dry_run) {
        struct minica_agent_status st;
        struct minica_err serr;
        if (minica_agent_status_load(cfg->status_file, &st, &serr) != 0)
            memset(&st, 0, sizeof(st));
        st.last_run = minica_now();
        if (ret == 0)
            st.last_success = st.last_run;
        st.renewals_total += (int64_t)run->renewed;
        st.failures_total += (int64_t)(run->failed > 0 ? run->failed : (ret != 0));
        if (run->state == state && minica_agent_state_save(state, state_path, &sterr) != 0)
            minica_agent_say(run, 1, "%s", sterr.msg);
        if (minica_agent_status_save(cfg->status_file, &st, &serr) != 0) {
            if (run->failed > 0)
                minica_agent_say(run, 1, "%s", serr.msg);
            if (ret == 0)
                ret = minica_seterr(err, MINICA_EIO, "%s", serr.msg);
        }
    }
    if (run->state == state)
        run->state = NULL;
    minica_agent_state_free(state);
    free(state);
    close(lock);
    return ret;
}

void minica_agent_say(struct minica_agent_run *run, int is_error, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (run->report != NULL)
        run->report(run->report_ctx, is_error, line);
}
