/* A reader for nginx's configuration syntax that follows `include`, into a
 * tree of directives. It mirrors ngx_conf_read_token's rules; it is not a
 * validator of directives (check.c judges the few minica cares about). */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minica/fsutil.h"
#include "minica/nginx.h"
#include "nginx/nginx_internal.h"

struct lexer {
    const char *buf;
    size_t len, pos;
    int line;
    const char *file;
};

enum token { T_WORD, T_SEMI, T_OPEN, T_CLOSE, T_EOF, T_ERR };

struct parser {
    struct minica_nginx_conf *conf;
    struct minica_err *err;
    const char *conf_dir;                                 /* NULL: includes are not followed */
    char *open_files[MINICA_NGINX_MAX_INCLUDE_DEPTH + 1]; /* realpaths being read */
    int nopen;
    int token_err; /* the code behind the last T_ERR */
};

static int fail_at(struct parser *p, const char *file, int line, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail_at(struct parser *p, const char *file, int line, int code, const char *fmt, ...)
{
    char reason[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    snprintf(p->conf->err_file, sizeof(p->conf->err_file), "%s", file);
    p->conf->err_line = line;
    return minica_seterr(p->err, code, "%s:%d: %s", file, line, reason);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* nginx's unescaping (ngx_conf_read_token): \" \' \\ become the character,
 * \t \r \n the control character; any other backslash stays. */
static char *unescape(const char *src, size_t n)
{
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        if (src[i] == '\\' && i + 1 < n) {
            char c = src[i + 1], r = 0;
            switch (c) {
            case '"':
            case '\'':
            case '\\':
                r = c;
                break;
            case 't':
                r = '\t';
                break;
            case 'r':
                r = '\r';
                break;
            case 'n':
                r = '\n';
                break;
            default:
                break;
            }
            if (r != 0) {
                out[j++] = r;
                i += 2;
                continue;
            }
        }
        out[j++] = src[i++];
    }
    out[j] = '\0';
    return out;
}

static enum token next_token(struct parser *p, struct lexer *lx, char **word, int *tline)
{
    *word = NULL;
    for (;;) {
        if (lx->pos >= lx->len)
            return T_EOF;
        char c = lx->buf[lx->pos];
        if (c == '\n') {
            lx->line++;
            lx->pos++;
        } else if (is_space(c)) {
            lx->pos++;
        } else if (c == '#') { /* a comment only where a word could start */
            while (lx->pos < lx->len && lx->buf[lx->pos] != '\n')
                lx->pos++;
        } else {
            break;
        }
    }
    *tline = lx->line;
    char c = lx->buf[lx->pos];
    if (c == ';' || c == '{' || c == '}') {
        lx->pos++;
        return c == ';' ? T_SEMI : c == '{' ? T_OPEN : T_CLOSE;
    }
    size_t start, end;
    if (c == '"' || c == '\'') {
        int start_line = lx->line;
        start = ++lx->pos;
        while (lx->pos < lx->len && lx->buf[lx->pos] != c) {
            if (lx->buf[lx->pos] == '\\' && lx->pos + 1 < lx->len)
                lx->pos++;
            if (lx->buf[lx->pos] == '\n')
                lx->line++;
            lx->pos++;
        }
        if (lx->pos >= lx->len) {
            p->token_err =
                fail_at(p, lx->file, start_line, MINICA_EINVAL,
                        "unterminated %s-quoted string (no closing %c before the end of the file)",
                        c == '"' ? "double" : "single", c);
            return T_ERR;
        }
        end = lx->pos++;
        /* nginx wants a separator after a closing quote; ')' closes an if (...) */
        if (lx->pos < lx->len) {
            char n = lx->buf[lx->pos];
            if (!is_space(n) && n != ';' && n != '{' && n != ')') {
                p->token_err = fail_at(p, lx->file, lx->line, MINICA_EINVAL,
                                       "unexpected \"%c\" after a quoted string", n);
                return T_ERR;
            }
        }
    } else {
        start = lx->pos;
        int after_dollar = 0;
        while (lx->pos < lx->len) {
            char ch = lx->buf[lx->pos];
            if (ch == '\\') { /* the next byte is literal, even a separator */
                lx->pos++;
                if (lx->pos < lx->len) {
                    if (lx->buf[lx->pos] == '\n')
                        lx->line++;
                    lx->pos++;
                }
                after_dollar = 0;
                continue;
            }
            if (ch == '{' && after_dollar) { /* ${name} */
                lx->pos++;
                after_dollar = 0;
                continue;
            }
            if (is_space(ch) || ch == ';' || ch == '{')
                break;
            after_dollar = ch == '$';
            lx->pos++;
        }
        end = lx->pos;
    }
    *word = unescape(lx->buf + start, end - start);
    if (*word == NULL) {
        p->token_err = minica_seterr(p->err, MINICA_ENOMEM, "out of memory");
        return T_ERR;
    }
    return T_WORD;
}

static void directive_free(struct minica_nginx_directive *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->nargs; i++)
        free(d->args[i]);
    free(d->args);
    for (size_t i = 0; i < d->nchildren; i++)
        directive_free(d->children[i]);
    free(d->children);
    free(d);
}

static int add_child(struct parser *p, struct minica_nginx_directive *parent,
                     struct minica_nginx_directive *d)
{
    if (p->conf->ndirectives >= MINICA_NGINX_MAX_DIRECTIVES)
        return fail_at(p, d->file, d->line, MINICA_EINVAL, "more than %d directives",
                       MINICA_NGINX_MAX_DIRECTIVES);
    size_t n = parent->nchildren; /* capacity: 4, then doubled at each power of two */
    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
        void *grown = realloc(parent->children, (n == 0 ? 4 : n * 2) * sizeof(*parent->children));
        if (grown == NULL)
            return minica_seterr(p->err, MINICA_ENOMEM, "out of memory");
        parent->children = grown;
    }
    parent->children[parent->nchildren++] = d;
    p->conf->ndirectives++;
    return 0;
}

static int parse_file_into(struct parser *p, const char *path,
                           struct minica_nginx_directive *parent, int depth,
                           const struct minica_nginx_directive *from);

static int has_glob_magic(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* Expands one candidate path: 1 if it named something (a file, or a glob with
 * matches), 0 if not, <0 on error. */
static int include_candidate(struct parser *p, const char *path,
                             struct minica_nginx_directive *parent, int depth,
                             const struct minica_nginx_directive *inc)
{
    if (!has_glob_magic(path)) {
        struct stat st;
        if (stat(path, &st) != 0)
            return 0;
        int ret = parse_file_into(p, path, parent, depth, inc);
        return ret != 0 ? ret : 1;
    }
    glob_t g;
    memset(&g, 0, sizeof(g));
    int gr = glob(path, 0, NULL, &g);
    if (gr == GLOB_NOMATCH) {
        globfree(&g);
        return 0;
    }
    if (gr != 0) {
        globfree(&g);
        return fail_at(p, inc->file, inc->line, MINICA_EIO, "include %s: glob failed", path);
    }
    int ret = 0;
    if (g.gl_pathc > MINICA_NGINX_MAX_FILES)
        ret = fail_at(p, inc->file, inc->line, MINICA_EINVAL,
                      "include %s matches more than %d files", path, MINICA_NGINX_MAX_FILES);
    for (size_t i = 0; ret == 0 && i < g.gl_pathc; i++)
        ret = parse_file_into(p, g.gl_pathv[i], parent, depth, inc);
    globfree(&g);
    return ret != 0 ? ret : 1;
}

void minica_nginx_dirname(const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(out, outlen, "%s", "");
    else if (slash == path)
        snprintf(out, outlen, "%s", "/");
    else
        snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

int minica_nginx_resolve(char *out, size_t outlen, const char *dir, const char *rel,
                         struct minica_err *err)
{
    if (rel[0] == '/' || dir[0] == '\0') {
        if (strlen(rel) >= outlen)
            return minica_seterr(err, MINICA_EINVAL, "path too long: %s", rel);
        snprintf(out, outlen, "%s", rel);
        return 0;
    }
    return minica_path_join(out, outlen, dir, rel, err);
}

static int do_include(struct parser *p, const struct minica_nginx_directive *inc,
                      struct minica_nginx_directive *parent, int depth)
{
    if (inc->nargs != 2)
        return fail_at(p, inc->file, inc->line, MINICA_EINVAL,
                       "include takes one file name or pattern");
    const char *pat = inc->args[1];
    char first[MINICA_PATH_MAX], second[MINICA_PATH_MAX], incdir[MINICA_PATH_MAX];
    int ret = minica_nginx_resolve(first, sizeof(first), p->conf_dir, pat, p->err);
    if (ret != 0)
        return fail_at(p, inc->file, inc->line, ret, "%s", p->err->msg);
    ret = include_candidate(p, first, parent, depth, inc);
    if (ret != 0)
        return ret < 0 ? ret : 0;
    /* Not under the prefix: try next to the including file (a fragment
     * checked on its own, e.g. sites-enabled/x including a sibling). */
    minica_nginx_dirname(inc->file, incdir, sizeof(incdir));
    if (pat[0] != '/' && strcmp(incdir, p->conf_dir) != 0) {
        ret = minica_nginx_resolve(second, sizeof(second), incdir, pat, p->err);
        if (ret != 0)
            return fail_at(p, inc->file, inc->line, ret, "%s", p->err->msg);
        ret = include_candidate(p, second, parent, depth, inc);
        if (ret != 0)
            return ret < 0 ? ret : 0;
    } else {
        second[0] = '\0';
    }
    if (has_glob_magic(pat)) /* nginx accepts a pattern that matches nothing */
        return 0;
    if (second[0] != '\0')
        return fail_at(p, inc->file, inc->line, MINICA_ENOENT,
                       "include %s: no such file (tried %s and %s)", pat, first, second);
    return fail_at(p, inc->file, inc->line, MINICA_ENOENT, "include %s: no such file", first);
}

static void free_args(char **args, size_t nargs)
{
    for (size_t i = 0; i < nargs; i++)
        free(args[i]);
    free(args);
}

/* Reads directives into parent until the block's '}' (file_depth > 0) or
 * the end of the file (file_depth == 0). depth counts blocks across files. */
static int parse_block(struct parser *p, struct lexer *lx, struct minica_nginx_directive *parent,
                       int depth, int file_depth, int open_line)
{
    char **args = NULL;
    size_t nargs = 0, cap = 0;
    int dline = 0, ret = 0;
    for (;;) {
        char *w = NULL;
        int tline = lx->line;
        enum token t = next_token(p, lx, &w, &tline);
        if (t == T_ERR) {
            ret = p->token_err;
            goto out;
        }
        if (t == T_WORD) {
            if (nargs == 0)
                dline = tline;
            if (nargs >= MINICA_NGINX_MAX_ARGS) {
                free(w);
                ret = fail_at(p, lx->file, dline, MINICA_EINVAL,
                              "more than %d words in one directive", MINICA_NGINX_MAX_ARGS);
                goto out;
            }
            if (nargs == cap) {
                size_t ncap = cap == 0 ? 4 : cap * 2;
                char **n = realloc(args, ncap * sizeof(*args));
                if (n == NULL) {
                    free(w);
                    ret = minica_seterr(p->err, MINICA_ENOMEM, "out of memory");
                    goto out;
                }
                args = n;
                cap = ncap;
            }
            args[nargs++] = w;
            continue;
        }
        if (t == T_SEMI || t == T_OPEN) {
            if (nargs == 0) {
                ret = fail_at(p, lx->file, tline, MINICA_EINVAL, "unexpected \"%c\"",
                              t == T_SEMI ? ';' : '{');
                goto out;
            }
            if (t == T_OPEN && depth >= MINICA_NGINX_MAX_BLOCK_DEPTH) {
                ret = fail_at(p, lx->file, tline, MINICA_EINVAL, "blocks nested deeper than %d",
                              MINICA_NGINX_MAX_BLOCK_DEPTH);
                goto out;
            }
            struct minica_nginx_directive *d = calloc(1, sizeof(*d));
            if (d == NULL) {
                ret = minica_seterr(p->err, MINICA_ENOMEM, "out of memory");
                goto out;
            }
            d->file = lx->file;
            d->line = dline;
            d->args = args;
            d->nargs = nargs;
            d->is_block = t == T_OPEN;
            args = NULL;
            nargs = cap = 0;
            if ((ret = add_child(p, parent, d)) != 0) {
                directive_free(d);
                goto out;
            }
            if (t == T_OPEN)
                ret = parse_block(p, lx, d, depth + 1, file_depth + 1, tline);
            else if (p->conf_dir != NULL && strcmp(d->args[0], "include") == 0)
                ret = do_include(p, d, parent, depth);
            if (ret != 0)
                goto out;
            continue;
        }
        if (t == T_CLOSE) {
            if (nargs > 0 || file_depth == 0) {
                ret = fail_at(p, lx->file, tline, MINICA_EINVAL, "unexpected \"}\"");
                goto out;
            }
            goto out; /* end of this block */
        }
        /* T_EOF */
        if (nargs > 0) {
            ret = fail_at(p, lx->file, lx->line, MINICA_EINVAL,
                          "unexpected end of file, expecting \";\" or \"}\" after \"%s\" (line %d)",
                          args[0], dline);
            goto out;
        }
        if (file_depth > 0)
            ret = fail_at(p, lx->file, lx->line, MINICA_EINVAL,
                          "unexpected end of file, expecting \"}\" (the block opened on line %d "
                          "is not closed)",
                          open_line);
        goto out;
    }
out:
    free_args(args, nargs);
    return ret;
}

static int add_file_name(struct parser *p, const char *path, const char **stored)
{
    struct minica_nginx_conf *c = p->conf;
    char **n = realloc(c->files, (c->nfiles + 1) * sizeof(*c->files));
    if (n == NULL)
        return minica_seterr(p->err, MINICA_ENOMEM, "out of memory");
    c->files = n;
    if ((c->files[c->nfiles] = strdup(path)) == NULL)
        return minica_seterr(p->err, MINICA_ENOMEM, "out of memory");
    *stored = c->files[c->nfiles++];
    return 0;
}

static int parse_file_into(struct parser *p, const char *path,
                           struct minica_nginx_directive *parent, int depth,
                           const struct minica_nginx_directive *from)
{
    const char *ffile = from ? from->file : path;
    int fline = from ? from->line : 0;
#define FAIL(code, ...)                                                                            \
    (from ? fail_at(p, ffile, fline, code, __VA_ARGS__) : minica_seterr(p->err, code, __VA_ARGS__))
    if (p->nopen >= MINICA_NGINX_MAX_INCLUDE_DEPTH)
        return FAIL(MINICA_EINVAL, "includes nested deeper than %d (at %s)",
                    MINICA_NGINX_MAX_INCLUDE_DEPTH, path);
    if (p->conf->nfiles >= MINICA_NGINX_MAX_FILES)
        return FAIL(MINICA_EINVAL, "more than %d files included", MINICA_NGINX_MAX_FILES);
    struct stat st;
    if (stat(path, &st) != 0)
        return FAIL(errno == ENOENT ? MINICA_ENOENT : MINICA_EIO, "cannot read %s: %s", path,
                    strerror(errno));
    if (!S_ISREG(st.st_mode)) /* a FIFO would block the read */
        return FAIL(MINICA_EIO, "cannot read %s: not a regular file", path);
    char *real = realpath(path, NULL);
    if (real == NULL)
        return FAIL(MINICA_EIO, "cannot read %s: %s", path, strerror(errno));
    for (int i = 0; i < p->nopen; i++) {
        if (strcmp(p->open_files[i], real) == 0) {
            free(real);
            return FAIL(MINICA_EINVAL,
                        "include loop: %s includes itself (directly or through "
                        "other files)",
                        path);
        }
    }
    char *buf = NULL;
    size_t len = 0;
    struct minica_err rerr;
    int ret = minica_read_file(path, MINICA_NGINX_MAX_FILE_BYTES, &buf, &len, &rerr);
    if (ret != 0) {
        free(real);
        return FAIL(ret, "%s", rerr.msg);
    }
    if (p->conf->total_bytes + len > MINICA_NGINX_MAX_TOTAL_BYTES) {
        free(real);
        free(buf);
        return FAIL(MINICA_EINVAL, "more than %u bytes of configuration in all",
                    MINICA_NGINX_MAX_TOTAL_BYTES);
    }
#undef FAIL
    p->conf->total_bytes += len;
    struct lexer lx = {buf, len, 0, 1, NULL};
    ret = add_file_name(p, path, &lx.file);
    if (ret == 0) {
        p->open_files[p->nopen++] = real;
        ret = parse_block(p, &lx, parent, depth, 0, 0);
        p->nopen--;
    }
    free(real);
    free(buf);
    return ret;
}

void minica_nginx_conf_init(struct minica_nginx_conf *conf)
{
    memset(conf, 0, sizeof(*conf));
}

void minica_nginx_conf_free(struct minica_nginx_conf *conf)
{
    if (conf == NULL)
        return;
    for (size_t i = 0; i < conf->root.nchildren; i++)
        directive_free(conf->root.children[i]);
    free(conf->root.children);
    for (size_t i = 0; i < conf->nfiles; i++)
        free(conf->files[i]);
    free(conf->files);
    memset(conf, 0, sizeof(*conf));
}

int minica_nginx_parse_file(struct minica_nginx_conf *conf, const char *path, const char *conf_dir,
                            struct minica_err *err)
{
    char dir[MINICA_PATH_MAX];
    if (conf_dir != NULL)
        snprintf(dir, sizeof(dir), "%s", conf_dir);
    else
        minica_nginx_dirname(path, dir, sizeof(dir));
    struct parser p = {.conf = conf, .err = err, .conf_dir = dir};
    return parse_file_into(&p, path, &conf->root, 0, NULL);
}

int minica_nginx_parse_buffer(struct minica_nginx_conf *conf, const char *buf, size_t len,
                              const char *name, struct minica_err *err)
{
    struct parser p = {.conf = conf, .err = err, .conf_dir = NULL};
    if (len > MINICA_NGINX_MAX_FILE_BYTES)
        return minica_seterr(err, MINICA_EINVAL, "%s is too large (%zu bytes, at most %u)", name,
                             len, MINICA_NGINX_MAX_FILE_BYTES);
    struct lexer lx = {buf, len, 0, 1, NULL};
    int ret = add_file_name(&p, name, &lx.file);
    if (ret != 0)
        return ret;
    conf->total_bytes += len;
    return parse_block(&p, &lx, &conf->root, 0, 0, 0);
}
