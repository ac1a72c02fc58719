/* serve's signer process (minica/signer_proc.h): the supervisor, the
 * worker that holds the CA keys, and, in the network process, the signer
 * that asks the worker over the socket.
 *
 * One SOCK_SEQPACKET socketpair carries everything. The network end sends
 * requests and reads responses; the supervisor keeps the other end, and
 * each worker inherits it, so the network end stays valid across worker
 * restarts. Messages with id 0 come from the signer side unasked: a
 * worker's hello (status ok; its pid, then the fingerprints of the CA
 * certificates whose keys it holds) or a notice (status failed; a worker
 * died, or could not load its keys). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "base/compat.h"
#include "base/confine.h"
#include "ca/ca_internal.h"
#include "ca/signer_check.h"
#include "ca/signer_wire.h"
#include "minica/crl.h"
#include "minica/signer_proc.h"

#define FP_HEX 64
#define HELD_MAX ((MINICA_WIRE_SIG_MAX - 4) / FP_HEX)
/* Loading the keys can take an encrypted key's PBKDF2 per key, or a
 * token's login; a signature, a token's round trip. */
#define HELLO_TIMEOUT_MS 120000
#define SIGN_TIMEOUT_MS 30000
#define POLL_SLICE_MS 200
/* How long a worker must live before its next death restarts it at once,
 * and the longest wait between restarts of one that keeps dying. */
#define STABLE_SECONDS 10
#define BACKOFF_MAX_MS 5000

struct minica_signer_proc {
    int sock;
    int ctl; /* to the supervisor: 'r' reloads, closing it stops */
    pid_t supervisor;
    pthread_mutex_t lock; /* one request in flight: the socket's order is the answer's */
    uint32_t next_id;
    pid_t worker;
    char held[HELD_MAX][FP_HEX + 1];
    size_t n_held;
};

/* ---- the signer side: messages and logging ---- */

struct side {
    int sock;
    minica_signer_log log;
    void *log_ctx;
};

static void side_log(const struct side *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void side_log(const struct side *s, const char *fmt, ...)
{
    if (s->log == NULL)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    s->log(s->log_ctx, line);
}

static int send_response(int sock, uint32_t id, enum minica_wire_status status,
                         const unsigned char *body, size_t body_len, const char *reason)
{
    struct minica_wire_response resp;
    memset(&resp, 0, sizeof(resp));
    resp.id = id;
    resp.status = status;
    resp.sig = body;
    resp.sig_len = body_len;
    if (reason != NULL)
        snprintf(resp.reason, sizeof(resp.reason), "%s", reason[0] ? reason : "refused");
    unsigned char buf[MINICA_WIRE_RESPONSE_MAX];
    size_t len = 0;
    struct minica_err err;
    if (minica_wire_encode_response(&resp, buf, sizeof(buf), &len, &err) != 0)
        return -1;
    return send(sock, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Sent, and logged unless quiet: at start the network process reports
 * the reason itself, as serve's one line of failure. */
static void notice(const struct side *s, int quiet, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void notice(const struct side *s, int quiet, const char *fmt, ...)
{
    char reason[MINICA_WIRE_REASON_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (!quiet)
        side_log(s, "signer: %s", reason);
    send_response(s->sock, 0, MINICA_WIRE_FAILED, NULL, 0, reason);
}

/* Neither ptrace nor /proc/PID/mem for a process of the same user, no
 * privilege from an exec, and death with the parent. */
static void harden_child(pid_t parent)
{
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent)
        _exit(1);
}

/* Every descriptor but the ones kept: nothing of the parent's (the
 * inventory, a listener) reaches the key's process. */
static void close_others(int keep1, int keep2)
{
    int max = (int)sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = 3; fd < max; fd++)
        if (fd != keep1 && fd != keep2)
            close(fd);
}

/* ---- the worker ---- */

struct held_key {
    struct minica_signer *signer;
    struct minica_signer_check check;
    /* Intermediates sign leaves, roots only CRLs. Any intermediate held,
     * not only the issuing one: between a reload of the signer and the
     * network process's reload (or when that one fails) the network side
     * still issues from the one it knows, which is as much this CA's. */
    int leaves;
    char fp[FP_HEX + 1];
};

struct worker {
    struct minica_ca *ca;
    struct held_key key[HELD_MAX];
    size_t n;
};

static void worker_free(struct worker *w)
{
    for (size_t i = 0; i < w->n; i++)
        minica_signer_free(w->key[i].signer);
    minica_ca_close(w->ca);
    memset(w, 0, sizeof(*w));
}

static int hold(struct worker *w, size_t i, int required, struct minica_err *err)
{
    const struct minica_hier_entry *e = &w->ca->hier.e[i];
    if (w->n == HELD_MAX)
        return MINICA_OK;
    struct held_key *k = &w->key[w->n];
    struct minica_err why;
    int ret = minica_ca_load_ca_key(w->ca, i, &k->signer, &why);
    if (ret == MINICA_ENOENT && !required)
        return MINICA_OK; /* an offline root, a retired intermediate's deleted key */
    if (ret != 0) {
        *err = why;
        return ret;
    }
    enum minica_key_type type;
    if (minica_key_type_of(&k->signer->pub, &type) != 0) {
        minica_signer_free(k->signer);
        k->signer = NULL;
        return minica_seterr(err, MINICA_ECRYPTO, "the key of %s is of a kind minica cannot use",
                             e->file);
    }
    ret = minica_signer_check_init(&k->check, &e->crt, type, minica_ca_policy(w->ca)->max_ttl,
                                   MINICA_CRL_DEFAULT_NEXT_UPDATE, err);
    if (ret != 0) {
        minica_signer_free(k->signer);
        k->signer = NULL;
        return ret;
    }
    k->leaves = e->role == MINICA_CA_INTERMEDIATE;
    snprintf(k->fp, sizeof(k->fp), "%s", e->fp);
    w->n++;
    return MINICA_OK;
}

static int worker_load(const char *dir, struct worker *w, struct minica_err *err)
{
    memset(w, 0, sizeof(*w));
    int ret =
        minica_ca_open_flags(dir, MINICA_CA_OPEN_NO_KEY | MINICA_CA_OPEN_NO_STORE, &w->ca, err);
    if (ret != 0)
        return ret;
    const struct minica_hierarchy *h = &w->ca->hier;
    if ((ret = hold(w, (size_t)h->active_int, 1, err)) != 0) {
        minica_err_prefix(err, "the issuing intermediate's key");
        return ret;
    }
    for (size_t i = 0; i < h->n && ret == 0; i++) {
        const struct minica_hier_entry *e = &h->e[i];
        if ((int)i == h->active_int || e->retired || e->role == MINICA_CA_CROSS)
            continue;
        ret = hold(w, i, 0, err);
    }
    return ret;
}

static void worker_hello(const struct side *s, const struct worker *w)
{
    unsigned char body[MINICA_WIRE_SIG_MAX];
    uint32_t pid = (uint32_t)getpid();
    body[0] = (unsigned char)(pid >> 24);
    body[1] = (unsigned char)(pid >> 16);
    body[2] = (unsigned char)(pid >> 8);
    body[3] = (unsigned char)pid;
    for (size_t i = 0; i < w->n; i++)
        memcpy(body + 4 + i * FP_HEX, w->key[i].fp, FP_HEX);
    send_response(s->sock, 0, MINICA_WIRE_OK, body, 4 + w->n * FP_HEX, NULL);
}

/* The key that may sign tbs: the first whose checks it passes. The
 * reason given otherwise is the one of the key whose issuer it names. */
static struct held_key *key_for(struct worker *w, enum minica_wire_profile profile,
                                const unsigned char *tbs, size_t len, struct minica_err *err)
{
    struct minica_err first;
    int have = 0;
    int64_t now = minica_now();
    for (size_t i = 0; i < w->n; i++) {
        struct held_key *k = &w->key[i];
        struct minica_err why;
        if (profile == MINICA_WIRE_LEAF && !k->leaves)
            continue;
        if (minica_signer_check_tbs(&k->check, profile, tbs, len, now, &why) == 0)
            return k;
        if (!have) {
            first = why;
            have = 1;
        }
    }
    if (have)
        *err = first;
    else
        minica_seterr(err, MINICA_EPOLICY, "no key here signs that");
    return NULL;
}

static void worker_answer(const struct side *s, struct worker *w, const unsigned char *msg,
                          size_t len)
{
    struct minica_wire_request req;
    struct minica_err err;
    uint32_t id = 0;
    if (len >= 9) /* "MCS1" version id: answer to the id the request claims */
        id = (uint32_t)msg[5] << 24 | (uint32_t)msg[6] << 16 | (uint32_t)msg[7] << 8 | msg[8];
    if (minica_wire_decode_request(msg, len, &req, &err) != 0) {
        side_log(s, "signer: refused a malformed request: %s", err.msg);
        send_response(s->sock, id == 0 ? UINT32_MAX : id, MINICA_WIRE_REFUSED, NULL, 0, err.msg);
        return;
    }
    struct held_key *k = key_for(w, req.profile, req.tbs, req.tbs_len, &err);
    if (k == NULL) {
        side_log(s, "signer: refused to sign a %s: %s",
                 req.profile == MINICA_WIRE_CRL ? "CRL" : "certificate", err.msg);
        send_response(s->sock, req.id, MINICA_WIRE_REFUSED, NULL, 0, err.msg);
        return;
    }
    mbedtls_md_type_t md_type = minica_key_md(&k->signer->pub);
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(md_type);
    unsigned char hash[MBEDTLS_MD_MAX_SIZE], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_len = 0;
    int ret = md == NULL || minica_compat_md(md, req.tbs, req.tbs_len, hash) != 0
                  ? minica_seterr(&err, MINICA_ECRYPTO, "cannot hash what is to be signed")
                  : minica_signer_sign(k->signer, md_type, hash, mbedtls_md_get_size(md), sig,
                                       sizeof(sig), &sig_len, &err);
    mbedtls_platform_zeroize(hash, sizeof(hash));
    if (ret != 0 || sig_len > MINICA_WIRE_SIG_MAX) {
        side_log(s, "signer: cannot sign: %s", ret != 0 ? err.msg : "signature too long");
        send_response(s->sock, req.id, MINICA_WIRE_FAILED, NULL, 0,
                      ret != 0 ? err.msg : "signature too long");
        return;
    }
    send_response(s->sock, req.id, MINICA_WIRE_OK, sig, sig_len, NULL);
}

/* status_fd: one byte to the supervisor, 'k' when the keys are held;
 * then it waits for one byte back before it says hello and serves. */
static void worker_main(const struct side *s, const char *dir, int status_fd, int first)
{
    struct worker w;
    struct minica_err err;
    if (worker_load(dir, &w, &err) != 0) {
        notice(s, first, "cannot load the CA keys: %s", err.msg);
        worker_free(&w);
        _exit(3);
    }
    char go = 0;
    if (write(status_fd, "k", 1) != 1 || read(status_fd, &go, 1) != 1 || go != 'g') {
        worker_free(&w);
        _exit(1);
    }
    close(status_fd);
    worker_hello(s, &w);
    unsigned char *buf = malloc(MINICA_WIRE_REQUEST_MAX);
    if (buf == NULL)
        _exit(1);
    for (;;) {
        ssize_t n = recv(s->sock, buf, MINICA_WIRE_REQUEST_MAX, MSG_TRUNC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the network side is gone: exit 0 tells the supervisor */
        if ((size_t)n > MINICA_WIRE_REQUEST_MAX) {
            send_response(s->sock, UINT32_MAX, MINICA_WIRE_REFUSED, NULL, 0, "request too large");
            continue;
        }
        worker_answer(s, &w, buf, (size_t)n);
    }
    free(buf);
    worker_free(&w);
    _exit(0);
}

/* ---- the supervisor ---- */

struct spawned {
    pid_t pid;
    int status_fd;
};

/* A worker, up to the point where it holds its keys (0) or failed (-1,
 * reaped). The caller sends it 'g' when it may take over. */
static int spawn_worker(const struct side *s, const char *dir, int first, struct spawned *out)
{
    int sp[2];
    out->pid = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
        return -1;
    pid_t self = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(sp[0]);
        close(sp[1]);
        return -1;
    }
    if (pid == 0) {
        close(sp[0]);
        harden_child(self);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGHUP, SIG_IGN);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        worker_main(s, dir, sp[1], first);
        _exit(1);
    }
    close(sp[1]);
    struct pollfd pfd = {sp[0], POLLIN, 0};
    char c = 0;
    int ready = poll(&pfd, 1, HELLO_TIMEOUT_MS) == 1 && read(sp[0], &c, 1) == 1 && c == 'k';
    if (!ready) {
        close(sp[0]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    out->pid = pid;
    out->status_fd = sp[0];
    return 0;
}

static void go(struct spawned *w)
{
    if (write(w->status_fd, "g", 1) != 1) {
        /* it died meanwhile: SIGCHLD says so */
    }
    close(w->status_fd);
    w->status_fd = -1;
}

static void stop_worker(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static void describe_exit(int status, char *out, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(out, size, "signal %d", WTERMSIG(status));
    else
        snprintf(out, size, "exit status %d", WEXITSTATUS(status));
}

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    if (sig != SIGCHLD)
        stopping = 1;
}

/* A SIGHUP reload after `ca rotate`: a new key file the network process
 * would see is covered there too, before the new worker serves. */
static void cover_new_keys(const struct side *s, const char *dir)
{
    struct minica_err err;
    if (minica_confine_covered((int)getppid()) &&
        minica_confine_cover_keys_of((int)getppid(), dir, &err) != 0)
        side_log(s, "signer: %s", err.msg);
}

/* ctl: the network process writes 'r' for a reload; its end of file is
 * its exit. */
static void supervisor_main(const struct side *s, const char *dir, int ctl)
{
    sigset_t set, none;
    sigemptyset(&set);
    sigemptyset(&none);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGHUP, SIG_IGN); /* a terminal's hangup: the network process decides */

    struct spawned cur;
    if (spawn_worker(s, dir, 1, &cur) != 0)
        _exit(3); /* the worker sent its reason */
    go(&cur);
    time_t started = time(NULL);
    unsigned backoff_ms = 0;
    while (!stopping) {
        struct pollfd pfd = {ctl, POLLIN, 0};
        struct timespec ts = {1, 0};
        /* SIGCHLD and SIGTERM interrupt the wait, and only the wait. */
        int r = ppoll(&pfd, 1, &ts, &none);
        if (stopping)
            break;
        if (r > 0) {
            char c = 0;
            ssize_t n = read(ctl, &c, 1);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                break;
            if (n == 1 && c == 'r') {
                struct spawned next;
                cover_new_keys(s, dir);
                if (spawn_worker(s, dir, 0, &next) == 0) {
                    pid_t old = cur.pid;
                    cur.pid = -1;
                    stop_worker(old);
                    cur = next;
                    go(&cur);
                    started = time(NULL);
                    backoff_ms = 0;
                }
                /* else the new worker sent its reason, and the old one serves on */
            }
        }
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid != cur.pid)
                continue;
            cur.pid = -1;
            /* Its end of file: the network process is gone, so is the job. */
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                stopping = 1;
                break;
            }
            char how[32];
            describe_exit(status, how, sizeof(how));
            notice(s, 0, "the signer process %ld ended (%s); starting another", (long)pid, how);
        }
        while (cur.pid < 0 && !stopping) {
            /* One that keeps dying is restarted ever more slowly. */
            if (time(NULL) - started >= STABLE_SECONDS)
                backoff_ms = 0;
            else
                backoff_ms = backoff_ms == 0                   ? 100
                             : backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                               : backoff_ms * 2;
            struct timespec pause = {backoff_ms / 1000, (long)(backoff_ms % 1000) * 1000000L};
            while (nanosleep(&pause, &pause) != 0 && errno == EINTR && !stopping)
                ;
            started = time(NULL);
            if (!stopping && spawn_worker(s, dir, 0, &cur) == 0)
                go(&cur);
        }
    }
    stop_worker(cur.pid);
    _exit(0);
}

/* ---- the network side ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Whether pid is gone or a zombie: a worker killed while its supervisor
 * has not reaped it yet answers nothing, ever. */
static int process_gone(pid_t pid)
{
    if (pid <= 0)
        return 0;
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static void take_hello(struct minica_signer_proc *p, const struct minica_wire_response *r)
{
    p->worker = (pid_t)be32(r->sig);
    p->n_held = 0;
    for (size_t off = 4; off + FP_HEX <= r->sig_len && p->n_held < HELD_MAX; off += FP_HEX) {
        memcpy(p->held[p->n_held], r->sig + off, FP_HEX);
        p->held[p->n_held++][FP_HEX] = '\0';
    }
}

/* Reads messages until the one with id (0: a hello or a notice), within
 * timeout_ms. A notice while waiting for another id means the request
 * died with its worker. buf holds MINICA_WIRE_RESPONSE_MAX bytes; resp
 * points into it. */
static int await(struct minica_signer_proc *p, uint32_t id, int timeout_ms, unsigned char *buf,
                 struct minica_wire_response *resp, struct minica_err *err)
{
    int waited = 0;
    for (;;) {
        struct pollfd pfd = {p->sock, POLLIN, 0};
        int r = poll(&pfd, 1, POLL_SLICE_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return minica_seterr(err, MINICA_EUNAVAILABLE, "the signer process: poll: %s",
                                 strerror(errno));
        if (r == 0) {
            waited += POLL_SLICE_MS;
            if (id != 0 && process_gone(p->worker))
                return minica_seterr(err, MINICA_EUNAVAILABLE,
                                     "the signer process %ld died before it answered",
                                     (long)p->worker);
            if (waited >= timeout_ms)
                return minica_seterr(err, MINICA_EUNAVAILABLE,
                                     "the signer process did not answer within %d s",
                                     timeout_ms / 1000);
            continue;
        }
        ssize_t n = recv(p->sock, buf, MINICA_WIRE_RESPONSE_MAX, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return minica_seterr(err, MINICA_EUNAVAILABLE, "the signer process is gone");
        if ((size_t)n > MINICA_WIRE_RESPONSE_MAX ||
            minica_wire_decode_response(buf, (size_t)n, resp, err) != 0)
            return minica_seterr(err, MINICA_ECRYPTO, "the signer process sent a malformed answer");
        if (resp->id == 0 && resp->status == MINICA_WIRE_OK) {
            if (resp->sig_len < 4)
                return minica_seterr(err, MINICA_ECRYPTO, "the signer process sent a bad hello");
            take_hello(p, resp);
            if (id == 0)
                return MINICA_OK;
            continue;
        }
        /* A notice: the worker that had the request is gone, or the one
         * awaited could not load its keys. */
        if (resp->id == 0)
            return minica_seterr(err, MINICA_EUNAVAILABLE, "the signer process: %s", resp->reason);
        if (resp->id == id)
            return MINICA_OK;
        /* an answer to a request that timed out: dropped */
    }
}

/* Nothing left on the socket from before: notices of earlier deaths. */
static void drain(struct minica_signer_proc *p, unsigned char *buf)
{
    struct minica_wire_response resp;
    struct minica_err ignored;
    for (;;) {
        ssize_t n = recv(p->sock, buf, MINICA_WIRE_RESPONSE_MAX, MSG_DONTWAIT | MSG_TRUNC);
        if (n <= 0)
            return;
        if ((size_t)n <= MINICA_WIRE_RESPONSE_MAX &&
            minica_wire_decode_response(buf, (size_t)n, &resp, &ignored) == 0 && resp.id == 0 &&
            resp.status == MINICA_WIRE_OK && resp.sig_len >= 4)
            take_hello(p, &resp);
    }
}

static int request(struct minica_signer_proc *p, enum minica_wire_profile profile,
                   const unsigned char *tbs, size_t tbs_len, unsigned char *sig, size_t sig_size,
                   size_t *sig_len, struct minica_err *err)
{
    size_t size = minica_wire_request_size(tbs_len), len = 0;
    unsigned char *msg = malloc(size ? size : 1);
    unsigned char buf[MINICA_WIRE_RESPONSE_MAX];
    struct minica_wire_response resp;
    if (msg == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    pthread_mutex_lock(&p->lock);
    drain(p, buf);
    if (++p->next_id == 0)
        p->next_id = 1;
    struct minica_wire_request req = {p->next_id, profile, tbs, tbs_len};
    int ret = minica_wire_encode_request(&req, msg, size, &len, err);
    if (ret == 0 && send(p->sock, msg, len, MSG_NOSIGNAL) != (ssize_t)len)
        ret = errno == EMSGSIZE
                  ? minica_seterr(err, MINICA_EINVAL,
                                  "%zu bytes to sign exceed the signer socket's buffer", tbs_len)
                  : minica_seterr(err, MINICA_EUNAVAILABLE, "the signer process: send: %s",
                                  strerror(errno));
    if (ret == 0)
        ret = await(p, req.id, SIGN_TIMEOUT_MS, buf, &resp, err);
    pthread_mutex_unlock(&p->lock);
    free(msg);
    if (ret != 0)
        return ret;
    if (resp.status == MINICA_WIRE_REFUSED)
        return minica_seterr(err, MINICA_ECRYPTO, "the signer process refused: %s", resp.reason);
    if (resp.status != MINICA_WIRE_OK)
        return minica_seterr(err, MINICA_EUNAVAILABLE, "the signer process could not sign: %s",
                             resp.reason);
    if (resp.sig_len > sig_size)
        return minica_seterr(err, MINICA_ECRYPTO, "the signer process sent too long a signature");
    memcpy(sig, resp.sig, resp.sig_len);
    *sig_len = resp.sig_len;
    return MINICA_OK;
}

/* Raises a socket's buffers toward what a large CRL needs: what Linux
 * allows an unprivileged process (net.core.wmem_max) unless root. */
static void grow_buffers(int fd)
{
    int size = MINICA_WIRE_REQUEST_MAX + 4096;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

int minica_signer_proc_start(const char *dir, minica_signer_log log, void *log_ctx,
                             struct minica_signer_proc **out, struct minica_err *err)
{
    *out = NULL;
    struct minica_signer_proc *p = calloc(1, sizeof(*p));
    int sv[2], ctl[2];
    if (p == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    if (pipe2(ctl, O_CLOEXEC) != 0) {
        free(p);
        return minica_seterr(err, MINICA_EIO, "cannot make the signer's pipe: %s", strerror(errno));
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        close(ctl[0]);
        close(ctl[1]);
        free(p);
        return minica_seterr(err, MINICA_EIO, "cannot make the signer's socket: %s",
                             strerror(errno));
    }
    grow_buffers(sv[0]);
    grow_buffers(sv[1]);
    pid_t self = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        close(ctl[0]);
        close(ctl[1]);
        free(p);
        return minica_seterr(err, MINICA_EIO, "cannot start the signer process: %s",
                             strerror(errno));
    }
    if (pid == 0) {
        close(sv[0]);
        close(ctl[1]);
        harden_child(self);
        close_others(sv[1], ctl[0]);
        struct side s = {sv[1], log, log_ctx};
        supervisor_main(&s, dir, ctl[0]);
        _exit(1);
    }
    close(sv[1]);
    close(ctl[0]);
    p->sock = sv[0];
    p->ctl = ctl[1];
    p->supervisor = pid;
    pthread_mutex_init(&p->lock, NULL);
    unsigned char buf[MINICA_WIRE_RESPONSE_MAX];
    struct minica_wire_response resp;
    int ret = await(p, 0, HELLO_TIMEOUT_MS, buf, &resp, err);
    if (ret != 0) {
        minica_err_prefix(err, "cannot start the signer process");
        minica_signer_proc_stop(p);
        return ret == MINICA_EUNAVAILABLE ? MINICA_EIO : ret;
    }
    *out = p;
    return MINICA_OK;
}

int minica_signer_proc_reload(struct minica_signer_proc *p, struct minica_err *err)
{
    unsigned char buf[MINICA_WIRE_RESPONSE_MAX];
    struct minica_wire_response resp;
    pthread_mutex_lock(&p->lock);
    drain(p, buf);
    /* A pipe, not a signal: the network process may run as another user. */
    int ret = write(p->ctl, "r", 1) == 1
                  ? await(p, 0, HELLO_TIMEOUT_MS, buf, &resp, err)
                  : minica_seterr(err, MINICA_EUNAVAILABLE, "the signer process is gone");
    pthread_mutex_unlock(&p->lock);
    return ret;
}

int minica_signer_proc_gone(struct minica_signer_proc *p, char *how, size_t size)
{
    int status = 0;
    if (p->supervisor <= 0 || waitpid(p->supervisor, &status, WNOHANG) != p->supervisor)
        return 0;
    describe_exit(status, how, size);
    p->supervisor = -1; /* reaped */
    return 1;
}

pid_t minica_signer_proc_supervisor(const struct minica_signer_proc *p)
{
    return p->supervisor;
}

pid_t minica_signer_proc_worker(const struct minica_signer_proc *p)
{
    return p->worker;
}

int minica_signer_proc_socket(const struct minica_signer_proc *p)
{
    return p->sock;
}

void minica_signer_proc_stop(struct minica_signer_proc *p)
{
    if (p == NULL)
        return;
    close(p->sock);
    close(p->ctl); /* the supervisor's cue to stop its worker and exit */
    if (p->supervisor > 0) {
        while (waitpid(p->supervisor, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- the signer a keyless CA handle signs with ---- */

static int proxy_sign(struct minica_signer *s, mbedtls_md_type_t md, const unsigned char *hash,
                      size_t hash_len, unsigned char *sig, size_t sig_size, size_t *sig_len,
                      struct minica_err *err)
{
    (void)s, (void)md, (void)hash, (void)hash_len, (void)sig, (void)sig_size, (void)sig_len;
    return minica_seterr(err, MINICA_EINVAL, "serve's signer process signs whole TBSs only");
}

static int proxy_sign_tbs(struct minica_signer *s, enum minica_wire_profile profile,
                          const unsigned char *tbs, size_t tbs_len, unsigned char *sig,
                          size_t sig_size, size_t *sig_len, struct minica_err *err)
{
    return request(s->impl, profile, tbs, tbs_len, sig, sig_size, sig_len, err);
}

static void proxy_free(struct minica_signer *s)
{
    s->impl = NULL; /* the process is the server's */
}

static const struct minica_signer_ops proxy_ops = {proxy_sign, proxy_free, proxy_sign_tbs};

int minica_signer_proc_holds(const struct minica_signer_proc *p, const char *fp)
{
    for (size_t i = 0; i < p->n_held; i++)
        if (strcmp(p->held[i], fp) == 0)
            return 1;
    return 0;
}

int minica_signer_proc_signer(struct minica_signer_proc *p, const mbedtls_x509_crt *crt,
                              struct minica_signer **out, struct minica_err *err)
{
    *out = NULL;
    struct minica_signer *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    mbedtls_pk_init(&s->pub);
    /* The certificate's public key: the algorithm and the AKI. */
    unsigned char der[2048];
    int n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)&crt->pk, der, sizeof(der));
    if (n <= 0 || mbedtls_pk_parse_public_key(&s->pub, der + sizeof(der) - n, (size_t)n) != 0) {
        mbedtls_pk_free(&s->pub);
        free(s);
        return minica_seterr(err, MINICA_ECRYPTO, "cannot read a CA certificate's public key");
    }
    s->ops = &proxy_ops;
    s->impl = p;
    snprintf(s->where, sizeof(s->where), "serve's signer process %ld", (long)p->worker);
    *out = s;
    return MINICA_OK;
}
