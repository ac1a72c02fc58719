/* nginx's path rules, shared by the reader and the checker. Internal to
 * src/lib/nginx. */
#ifndef MINICA_NGINX_INTERNAL_H
#define MINICA_NGINX_INTERNAL_H

#include <stddef.h>

#include "minica/error.h"

/* The directory part of path, as nginx takes the prefix of a config file:
 * "" for a bare name, "/" for a file in the root. */
void minica_nginx_dirname(const char *path, char *out, size_t outlen);
/* rel resolved against dir, as nginx resolves include and certificate paths;
 * dir "" means the current directory: the path is kept as written. */
int minica_nginx_resolve(char *out, size_t outlen, const char *dir, const char *rel,
                         struct minica_err *err);

#endif
