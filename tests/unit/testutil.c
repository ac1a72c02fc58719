/* Helpers shared by the unit tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minica/ca.h"
#include "testutil.h"

char *tu_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof(tmpl), "%s/minica-unit.XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    if (dir == NULL)
        abort();
    char *copy = malloc(strlen(dir) + 1);
    if (copy == NULL)
        abort();
    strcpy(copy, dir);
    return copy;
}

void tu_rmtree(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
}

char *tu_make_ca(void)
{
    char *dir = tu_tempdir();
    char cadir[4200];
    snprintf(cadir, sizeof(cadir), "%s/ca", dir);
    struct minica_init_options opts;
    memset(&opts, 0, sizeof(opts));
    struct minica_err err;
    if (minica_ca_init(cadir, &opts, &err) != 0) {
        fprintf(stderr, "tu_make_ca: %s\n", err.msg);
        abort();
    }
    free(dir);
    char *out = malloc(strlen(cadir) + 1);
    if (out == NULL)
        abort();
    strcpy(out, cadir);
    return out;
}
