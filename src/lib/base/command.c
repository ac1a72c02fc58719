/* fork/exec of /bin/sh -c COMMAND, bounded in time, with a PATH that finds
 * sbin tools under cron, and its end in words. Operators write those command
 * lines in agent.conf; the tools minica drives itself get an argv instead
 * (minica_exec_capture), so nothing of theirs passes through a shell. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/command.h"

void minica_command_path(const char *path_env, char *out, size_t outlen)
{
    static const char *const sbin[] = {"/usr/local/sbin", "/usr/sbin", "/sbin"};
    /* What dash and bash use when PATH is unset (env -i). */
    if (path_env == NULL || *path_env == '\0')
        path_env = "/usr/local/bin:/usr/bin:/bin";
    snprintf(out, outlen, "%s", path_env);
    for (size_t i = 0; i < sizeof(sbin) / sizeof(sbin[0]); i++) {
        size_t dl = strlen(sbin[i]);
        int present = 0;
        for (const char *p = path_env; *p;) {
            const char *end = strchr(p, ':');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len == dl && strncmp(p, sbin[i], dl) == 0)
                present = 1;
            if (end == NULL)
                break;
            p = end + 1;
        }
        size_t used = strlen(out);
        if (!present && used + dl + 2 <= outlen)
            snprintf(out + used, outlen - used, ":%s", sbin[i]);
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for pid until deadline_ms (monotonic); 1 when it ended. */
static int wait_until(pid_t pid, int64_t deadline_ms, int *status)
{
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid)
            return 1;
        if (w < 0 && errno != EINTR)
            return -1;
        if (monotonic_ms() >= deadline_ms)
            return 0;
        sleep_ms(20);
    }
}

/* A command past its time: its process group gets SIGTERM, and SIGKILL
 * when it lingers; then it is reaped. */
static void stop_group(pid_t pid)
{
    int status;
    kill(-pid, SIGTERM);
    if (wait_until(pid, monotonic_ms() + 2000, &status) == 0) {
        kill(-pid, SIGKILL);
        wait_until(pid, monotonic_ms() + 5000, &status);
    }
}

/* Both runners start the same: a result to fill, and a timeout. */
static struct minica_command_result *begin(struct minica_command_result *result,
                                           struct minica_command_result *local, int64_t *timeout_s)
{
    if (result == NULL)
        result = local;
    memset(result, 0, sizeof(*result));
    if (*timeout_s <= 0)
        *timeout_s = MINICA_COMMAND_DEFAULT_TIMEOUT;
    return result;
}

/* The command's first word, for "'nginx' not found". */
static void first_word(const char *command, char *out, size_t outlen)
{
    while (*command == ' ' || *command == '\t')
        command++;
    size_t n = strcspn(command, " \t;|&<>()");
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, command, n);
    out[n] = '\0';
}

int minica_command_run_timeout(const char *command, int64_t timeout_s,
                               struct minica_command_result *result, struct minica_err *err)
{
    struct minica_command_result local;
    result = begin(result, &local, &timeout_s);
    char path[8192];
    minica_command_path(getenv("PATH"), path, sizeof(path));

    pid_t pid = fork();
    if (pid < 0)
        return minica_seterr(err, MINICA_EIO, "cannot run '%s': %s", command, strerror(errno));
    if (pid == 0) {
        /* Its own process group, so a timeout kills what the shell started. */
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            if (devnull != STDIN_FILENO)
                close(devnull);
        }
        /* Our stdout is for action lines only. */
        dup2(STDERR_FILENO, STDOUT_FILENO);
        signal(SIGPIPE, SIG_DFL);
        setenv("PATH", path, 1);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    /* Also here: whichever of parent and child runs first, the group exists
     * before we might signal it. */
    setpgid(pid, pid);

    int status = 0;
    int done = wait_until(pid, monotonic_ms() + timeout_s * 1000, &status);
    if (done == 0) {
        result->timed_out = 1;
        stop_group(pid);
        return minica_seterr(err, MINICA_EIO, "'%s' did not finish within %llds and was killed",
                             command, (long long)timeout_s);
    }
    if (done < 0)
        return minica_seterr(err, MINICA_EIO, "cannot wait for '%s': %s", command, strerror(errno));
    if (WIFEXITED(status)) {
        result->exited = 1;
        result->exit_code = WEXITSTATUS(status);
        if (result->exit_code == 0)
            return MINICA_OK;
        if (result->exit_code == 127) {
            char word[256];
            first_word(command, word, sizeof(word));
            result->not_found = 1;
            return minica_seterr(err, MINICA_EIO, "'%s': command not found: '%s' (exit 127)",
                                 command, word);
        }
        if (result->exit_code == 126)
            return minica_seterr(err, MINICA_EIO,
                                 "'%s' exited with status 126 (found but not executable)", command);
        return minica_seterr(err, MINICA_EIO, "'%s' exited with status %d", command,
                             result->exit_code);
    }
    result->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    const char *abbrev = sigabbrev_np(result->signal);
    return minica_seterr(err, MINICA_EIO, "'%s' was killed by SIG%s (%s)", command,
                         abbrev ? abbrev : "?", strsignal(result->signal));
}

int minica_command_run(const char *command, struct minica_command_result *result,
                       struct minica_err *err)
{
    return minica_command_run_timeout(command, 0, result, err);
}

int minica_command_find(const char *name, char *out, size_t outlen)
{
    if (strchr(name, '/') != NULL) {
        snprintf(out, outlen, "%s", name);
        return access(name, X_OK) == 0 ? 0 : -1;
    }
    char path[8192];
    minica_command_path(getenv("PATH"), path, sizeof(path));
    for (char *dir = path; dir != NULL && *dir != '\0';) {
        char *end = strchr(dir, ':');
        if (end != NULL)
            *end = '\0';
        struct stat st;
        if (*dir == '/' && (size_t)snprintf(out, outlen, "%s/%s", dir, name) < outlen &&
            stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return 0;
        dir = end ? end + 1 : NULL;
    }
    return -1;
}

/* What a capture collects: stdout whole (up to the cap), stderr's tail. */
struct capture {
    char *out;
    size_t out_len, out_cap;
    char err_tail[1024];
    size_t err_len;
};

static int capture_out(struct capture *c, const char *buf, size_t n)
{
    if (c->out_len + n > MINICA_EXEC_OUT_MAX)
        n = MINICA_EXEC_OUT_MAX - c->out_len;
    if (c->out_len + n + 1 > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n + 1)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (p == NULL)
            return -1;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, buf, n);
    c->out_len += n;
    c->out[c->out_len] = '\0';
    return 0;
}

static void capture_err(struct capture *c, const char *buf, size_t n)
{
    size_t room = sizeof(c->err_tail) - 1;
    if (n >= room) {
        buf += n - room;
        n = room;
    }
    if (c->err_len + n > room) {
        size_t drop = c->err_len + n - room;
        memmove(c->err_tail, c->err_tail + drop, c->err_len - drop);
        c->err_len -= drop;
    }
    memcpy(c->err_tail + c->err_len, buf, n);
    c->err_len += n;
    c->err_tail[c->err_len] = '\0';
}

/* The last non-empty line of what the tool said on stderr. */
static const char *last_line(char *text)
{
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        text[--n] = '\0';
    char *nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

/* Feeds in to the child and drains its stdout and stderr until both close
 * or the deadline passes; 0, or -1 on timeout or a poll/memory failure. */
static int pump(int in_fd, const unsigned char *in, size_t in_len, int out_fd, int err_fd,
                int64_t deadline_ms, struct capture *c)
{
    size_t sent = 0;
    if (in_fd >= 0 && in_len == 0) {
        close(in_fd);
        in_fd = -1;
    }
    while (out_fd >= 0 || err_fd >= 0) {
        struct pollfd p[3];
        int n = 0, i_in = -1, i_out = -1, i_err = -1;
        if (in_fd >= 0)
            p[i_in = n++] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
        if (out_fd >= 0)
            p[i_out = n++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
        if (err_fd >= 0)
            p[i_err = n++] = (struct pollfd){.fd = err_fd, .events = POLLIN};
        int64_t left = deadline_ms - monotonic_ms();
        if (left <= 0)
            break;
        int r = poll(p, (nfds_t)n, (int)(left > 60000 ? 60000 : left));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (i_in >= 0 && p[i_in].revents) {
            ssize_t w = write(in_fd, in + sent, in_len - sent);
            if (w > 0)
                sent += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == in_len) {
                close(in_fd);
                in_fd = -1;
            }
        }
        int *fds[2] = {&out_fd, &err_fd};
        int idx[2] = {i_out, i_err};
        for (int k = 0; k < 2; k++) {
            if (idx[k] < 0 || p[idx[k]].revents == 0)
                continue;
            char buf[4096];
            ssize_t got = read(*fds[k], buf, sizeof(buf));
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (got <= 0) {
                close(*fds[k]);
                *fds[k] = -1;
            } else if (k == 0 && capture_out(c, buf, (size_t)got) != 0) {
                return -1;
            } else if (k == 1) {
                capture_err(c, buf, (size_t)got);
            }
        }
    }
    if (in_fd >= 0)
        close(in_fd);
    int timed_out = out_fd >= 0 || err_fd >= 0;
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    return timed_out ? -1 : 0;
}

int minica_exec_capture(const char *const argv[], const void *in, size_t in_len, char **out,
                        int64_t timeout_s, struct minica_command_result *result,
                        struct minica_err *err)
{
    struct minica_command_result local;
    result = begin(result, &local, &timeout_s);
    *out = NULL;
    char exe[4096];
    if (minica_command_find(argv[0], exe, sizeof(exe)) != 0) {
        result->not_found = 1;
        return minica_seterr(err, MINICA_ENOENT, "%s: command not found", argv[0]);
    }
    char path[8192];
    minica_command_path(getenv("PATH"), path, sizeof(path));
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    if ((in != NULL && pipe2(pin, O_CLOEXEC) != 0) || pipe2(pout, O_CLOEXEC) != 0 ||
        pipe2(perr, O_CLOEXEC) != 0) {
        int e = errno;
        int fds[] = {pin[0], pin[1], pout[0], pout[1], perr[0], perr[1]};
        for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
            if (fds[i] >= 0)
                close(fds[i]);
        return minica_seterr(err, MINICA_EIO, "cannot run %s: %s", argv[0], strerror(e));
    }
    /* A tool that exits before reading its input must not kill us. */
    struct sigaction ignore = {.sa_handler = SIG_IGN}, saved;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, &saved);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int in_fd = in != NULL ? pin[0] : open("/dev/null", O_RDONLY);
        if (in_fd < 0 || dup2(in_fd, STDIN_FILENO) < 0 || dup2(pout[1], STDOUT_FILENO) < 0 ||
            dup2(perr[1], STDERR_FILENO) < 0)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        setenv("PATH", path, 1);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    int fork_errno = errno;
    if (pid > 0)
        setpgid(pid, pid);
    if (pin[0] >= 0)
        close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    if (pid < 0) {
        if (pin[1] >= 0)
            close(pin[1]);
        close(pout[0]);
        close(perr[0]);
        sigaction(SIGPIPE, &saved, NULL);
        return minica_seterr(err, MINICA_EIO, "cannot run %s: %s", argv[0], strerror(fork_errno));
    }
    if (pin[1] >= 0)
        fcntl(pin[1], F_SETFL, fcntl(pin[1], F_GETFL) | O_NONBLOCK);
    struct capture c;
    memset(&c, 0, sizeof(c));
    int64_t deadline = monotonic_ms() + timeout_s * 1000;
    int pumped = pump(pin[1], in, in_len, pout[0], perr[0], deadline, &c);
    int status = 0;
    int done = wait_until(pid, pumped == 0 ? deadline : monotonic_ms(), &status);
    sigaction(SIGPIPE, &saved, NULL);
    *out = c.out != NULL ? c.out : strdup("");
    if (done == 0) {
        result->timed_out = 1;
        stop_group(pid);
        return minica_seterr(err, MINICA_EIO, "%s did not finish within %llds and was killed",
                             argv[0], (long long)timeout_s);
    }
    if (done < 0 || *out == NULL)
        return minica_seterr(err, MINICA_EIO, "cannot wait for %s: %s", argv[0],
                             *out == NULL ? "out of memory" : strerror(errno));
    const char *said = last_line(c.err_tail);
    if (WIFEXITED(status)) {
        result->exited = 1;
        result->exit_code = WEXITSTATUS(status);
        if (result->exit_code == 0)
            return MINICA_OK;
        return minica_seterr(err, MINICA_EIO, "%s exited with status %d%s%s", argv[0],
                             result->exit_code, *said ? ": " : "", said);
    }
    result->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    const char *abbrev = sigabbrev_np(result->signal);
    return minica_seterr(err, MINICA_EIO, "%s was killed by SIG%s", argv[0], abbrev ? abbrev : "?");
}
