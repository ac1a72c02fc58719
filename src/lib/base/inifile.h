/* libinih with minica's settings, and file:line error reporting shared by
 * minica.conf and agent.conf. Internal to src/lib. */
#ifndef MINICA_INIFILE_H
#define MINICA_INIFILE_H

#include <stddef.h>

#include "minica/error.h"

/* A handler fills ctx->msg and returns 0 to reject a line; the parser then
 * reports "path:line: msg". */
struct minica_ini_ctx {
    char msg[512];
    void *user;
};
typedef int (*minica_ini_handler)(struct minica_ini_ctx *ctx, const char *section, const char *key,
                                  const char *value);

/* Parses a file (text == NULL) or a string (text != NULL; path is then only
 * used in messages). */
int minica_ini_parse(const char *path, const char *text, minica_ini_handler handler, void *user,
                     struct minica_err *err);

/* Helpers for values. */
int minica_ini_bool(const char *value, int *out);
/* Splits a comma-separated list in place; returns the count or -1 if more than max. */
int minica_ini_split_list(char *value, char **items, int max);

#endif
