/* fork/exec of /bin/sh -c COMMAND, bounded in time, with a PATH that finds
 * sbin tools under cron, and its end in words. Not for building command
 * lines: operators write them in agent.conf. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    if (result == NULL)
        result = &local;
    memset(result, 0, sizeof(*result));
    if (timeout_s <= 0)
        timeout_s = MINICA_COMMAND_DEFAULT_TIMEOUT;
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
        kill(-pid, SIGTERM);
        if (wait_until(pid, monotonic_ms() + 2000, &status) == 0) {
            kill(-pid, SIGKILL);
            wait_until(pid, monotonic_ms() + 5000, &status);
        }
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
