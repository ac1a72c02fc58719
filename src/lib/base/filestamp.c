#include "base/filestamp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int64_t ns_of(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

int64_t minica_filestamp_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return ns_of(&t);
}

int minica_filestamp_append(char *out, size_t outlen, const char *path, unsigned fields,
                            int64_t now_ns, int *settled)
{
    size_t used = strnlen(out, outlen);
    if (used >= outlen)
        return -1;
    struct stat st;
    int n;
    if (stat(path, &st) != 0) { /* a symlink: what it points to now */
        if (errno != ENOENT)
            return -1;
        n = snprintf(out + used, outlen - used, "%s-", used > 0 ? " " : "");
    } else {
        int64_t mtime = ns_of(&st.st_mtim);
        int64_t ctime = (fields & MINICA_STAMP_NO_CTIME) ? 0 : ns_of(&st.st_ctim);
        if (now_ns - mtime < MINICA_FILESTAMP_SETTLE_NS ||
            now_ns - ctime < MINICA_FILESTAMP_SETTLE_NS)
            *settled = 0;
        n = snprintf(out + used, outlen - used,
                     "%s%" PRIuMAX ":%" PRIuMAX ":%o:%" PRIdMAX ":%" PRId64 ":%" PRId64,
                     used > 0 ? " " : "", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino,
                     (unsigned)st.st_mode, (intmax_t)st.st_size, mtime, ctime);
    }
    return n < 0 || (size_t)n >= outlen - used ? -1 : 0;
}
