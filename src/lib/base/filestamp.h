/* "Has this file changed since I last read it?" without reading it: what
 * stat says about it, as git's index keeps it. A rewrite shows in the inode
 * (atomic replacement), the size, or the times; ctime cannot be set back
 * from user space. A stamp taken while its times were still fresh proves
 * nothing (a second write in the same clock tick, or on a file system that
 * keeps seconds, leaves them equal), so callers trust only settled ones. */
#ifndef MINICA_BASE_FILESTAMP_H
#define MINICA_BASE_FILESTAMP_H

#include <stddef.h>
#include <stdint.h>

/* Times this far behind the real clock are settled. */
#define MINICA_FILESTAMP_SETTLE_NS (2 * 1000000000LL)

/* What to compare. A directory's entries change its mtime and ctime; a
 * SQLite -wal file is truncated (ctime) by every reader that opens it,
 * so it is compared on what a write changes. */
enum minica_stamp_fields {
    MINICA_STAMP_ALL = 0,
    MINICA_STAMP_NO_CTIME = 1,
};

/* Appends path's stamp ("-" when it does not exist) to out as one word, at
 * most outlen bytes in all. Returns 0, or -1 when stat fails otherwise or
 * out is full. *settled is cleared when a time is within the settle window
 * of now_ns (CLOCK_REALTIME). */
int minica_filestamp_append(char *out, size_t outlen, const char *path, unsigned fields,
                            int64_t now_ns, int *settled);

/* CLOCK_REALTIME in ns: file times are real, whatever a test's clock says. */
int64_t minica_filestamp_now(void);

#endif
