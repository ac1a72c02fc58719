/* One place that configures libinih: "#" and ";" inline comments (the
 * documented examples use them), no multi-line values (an indented line is
 * a typo, not a continuation), long lines, stop at the first error. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "base/inifile.h"

struct trampoline {
    struct minica_ini_ctx ctx;
    minica_ini_handler handler;
};

static int call_handler(void *user, const char *section, const char *key, const char *value)
{
    struct trampoline *t = user;
    return t->handler(&t->ctx, section, key, value);
}

int minica_ini_parse(const char *path, const char *text, minica_ini_handler handler, void *user,
                     struct minica_err *err)
{
    ini_inline_comment_prefixes = (char *)";#";
    ini_allow_inline_comments = true;
    ini_allow_multiline = false;
    ini_stop_on_first_error = true;
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = 8192;

    struct trampoline t;
    memset(&t, 0, sizeof(t));
    t.ctx.user = user;
    t.handler = handler;
    int line = text ? ini_parse_string(text, call_handler, &t) : ini_parse(path, call_handler, &t);
    if (line == 0)
        return MINICA_OK;
    if (line == -1)
        return minica_seterr(err, MINICA_ENOENT, "cannot read %s", path);
    if (line == -2)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory reading %s", path);
    if (t.ctx.msg[0] == '\0')
        return minica_seterr(err, MINICA_EINVAL,
                             "%s:%d: syntax error (expected [section] or "
                             "key = value)",
                             path, line);
    return minica_seterr(err, MINICA_EINVAL, "%s:%d: %s", path, line, t.ctx.msg);
}

int minica_ini_bool(const char *value, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(value, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(value, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int minica_ini_split_list(char *value, char **items, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(value, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        tok = trim(tok);
        if (*tok == '\0')
            continue;
        if (n == max)
            return -1;
        items[n++] = tok;
    }
    return n;
}
