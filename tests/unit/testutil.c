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
    struct minica_init_options opts;
    memset(&opts, 0, sizeof(opts));
    return tu_make_ca_with(&opts);
}

void tu_free_ca(char *cadir)
{
    char *slash = strrchr(cadir, '/');
    if (slash != NULL && strcmp(slash, "/ca") == 0)
        *slash = '\0';
    tu_rmtree(cadir);
    free(cadir);
}

void tu_write_policy(const char *cadir, const char *text)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/minica.conf", cadir);
    FILE *fp = fopen(path, "w");
    if (fp == NULL || fputs(text, fp) < 0 || fclose(fp) != 0)
        abort();
}

char *tu_make_ca_with(const struct minica_init_options *opts)
{
    char *dir = tu_tempdir();
    char cadir[4200];
    snprintf(cadir, sizeof(cadir), "%s/ca", dir);
    struct minica_err err;
    if (minica_ca_init(cadir, opts, &err) != 0) {
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
