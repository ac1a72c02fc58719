/* nginx glue: the snippet that makes nginx verify (and present) minica
 * certificates, a reader for nginx's configuration syntax that follows
 * `include`, and a checker for unverified TLS to upstreams. The reader
 * mirrors ngx_conf_read_token's rules; it is not a validator of directives. */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/x509_crt.h>

#include "ca/x509.h"
#include "minica/fsutil.h"
#include "minica/names.h"
#include "minica/nginx.h"

/* ------------------------------------------------------------------ */
/* snippet                                                             */
/* ------------------------------------------------------------------ */

/* Writes a path as one nginx word. nginx expands $variables in
 * ssl_certificate and friends (since 1.15.9) and has no escape for '$', so a
 * path with '$' or a control byte cannot be written safely and is refused. */
static int put_path(FILE *f, const char *dir, const char *base, struct minica_err *err)
{
    char path[MINICA_PATH_MAX];
    int ret = minica_path_join(path, sizeof(path), dir, base, err);
    if (ret != 0)
        return ret;
    int needs_quotes = 0;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (*p == '$' || *p < 0x20 || *p == 0x7f)
            return minica_seterr(err, MINICA_EINVAL,
                                 "%s cannot be written in an nginx config ('$' or a control "
                                 "character in the path)",
                                 path);
        if (strchr(" ;{}#\"'\\", *p) != NULL)
            needs_quotes = 1;
    }
    if (!needs_quotes) {
        fputs(path, f);
        return 0;
    }
    fputc('"', f);
    for (const char *p = path; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', f);
        fputc(*p, f);
    }
    fputc('"', f);
    return 0;
}

static int absolute_dir(const char *dir, char *out, size_t outlen, struct minica_err *err)
{
    char cwd[MINICA_PATH_MAX];
    if (dir != NULL && dir[0] == '/') {
        if (strlen(dir) >= outlen)
            return minica_seterr(err, MINICA_EINVAL, "path too long: %s", dir);
        snprintf(out, outlen, "%s", dir);
    } else {
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return minica_seterr(err, MINICA_EIO, "cannot get the current directory: %s",
                                 strerror(errno));
        if (dir == NULL || strcmp(dir, ".") == 0) {
            snprintf(out, outlen, "%s", cwd);
        } else {
            char resolved[PATH_MAX];
            if (realpath(dir, resolved) != NULL) {
                if (strlen(resolved) >= outlen)
                    return minica_seterr(err, MINICA_EINVAL, "path too long: %s", resolved);
                snprintf(out, outlen, "%s", resolved);
            } else {
                int ret = minica_path_join(out, outlen, cwd, dir, err);
                if (ret != 0)
                    return ret;
            }
        }
    }
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
    return 0;
}

int minica_nginx_snippet(const struct minica_nginx_snippet_opts *opts, char **out,
                         struct minica_err *err)
{
    *out = NULL;
    struct minica_name name, client;
    int ret = minica_name_parse(opts->name, &name, err);
    if (ret != 0)
        return ret;
    if (name.wildcard)
        return minica_seterr(err, MINICA_EINVAL,
                             "%s: a wildcard name cannot be an upstream address; use a host name",
                             opts->name);
    if (opts->client != NULL) {
        ret = minica_name_parse(opts->client, &client, err);
        if (ret != 0)
            return minica_seterr(err, MINICA_EINVAL, "client: %s", err->msg);
    }
    char dir[MINICA_PATH_MAX];
    ret = absolute_dir(opts->certs_dir, dir, sizeof(dir), err);
    if (ret != 0)
        return ret;

    char fullchain[MINICA_NAME_MAX + 32], key[MINICA_NAME_MAX + 32];
    snprintf(fullchain, sizeof(fullchain), "%s.fullchain.crt", name.text);
    snprintf(key, sizeof(key), "%s.key", name.text);
    /* An IPv6 upstream needs brackets in a URL, not in proxy_ssl_name. */
    const char *lb = strchr(name.text, ':') ? "[" : "", *rb = strchr(name.text, ':') ? "]" : "";

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    fprintf(f,
            "# nginx on the proxy, in its server { } block: pass requests to %s\n"
            "# over TLS and verify its minica certificate. nginx resolves %s when\n"
            "# it starts: give it a DNS entry, or name an upstream block instead:\n"
            "#   upstream %s { server 10.0.2.88:443; }\n"
            "location / {\n"
            "    proxy_pass https://%s%s%s;\n"
            "    proxy_ssl_verify on;\n"
            "    proxy_ssl_trusted_certificate ",
            name.text, name.text, name.text, lb, name.text, rb);
    if ((ret = put_path(f, dir, "ca.crt", err)) != 0)
        goto out;
    fprintf(f,
            ";\n"
            "    # leaf <- intermediate <- root, with room for a second intermediate\n"
            "    # (nginx's default of 1 allows exactly one).\n"
            "    proxy_ssl_verify_depth 2;\n"
            "    # send SNI and check the certificate against this name, not the\n"
            "    # address nginx connects to.\n"
            "    proxy_ssl_server_name on;\n"
            "    proxy_ssl_name %s;\n",
            name.text);
    if (opts->client != NULL) {
        char cchain[MINICA_NAME_MAX + 32], ckey[MINICA_NAME_MAX + 32];
        snprintf(cchain, sizeof(cchain), "%s.fullchain.crt", client.text);
        snprintf(ckey, sizeof(ckey), "%s.key", client.text);
        fprintf(f, "    # the proxy's client certificate (issued with --usage client).\n"
                   "    proxy_ssl_certificate ");
        if ((ret = put_path(f, dir, cchain, err)) != 0)
            goto out;
        fprintf(f, ";\n    proxy_ssl_certificate_key ");
        if ((ret = put_path(f, dir, ckey, err)) != 0)
            goto out;
        fprintf(f, ";\n");
    }
    fprintf(f,
            "}\n\n"
            "# nginx on the upstream %s, in its server { } block.\n"
            "listen 443 ssl;\n"
            "ssl_certificate ",
            name.text);
    if ((ret = put_path(f, dir, fullchain, err)) != 0)
        goto out;
    fprintf(f, ";\nssl_certificate_key ");
    if ((ret = put_path(f, dir, key, err)) != 0)
        goto out;
    fprintf(f, ";\n");
    if (opts->client != NULL) {
        fprintf(f, "# mTLS: only clients with a certificate from minica's root get in.\n"
                   "ssl_client_certificate ");
        if ((ret = put_path(f, dir, "ca.crt", err)) != 0)
            goto out;
        fprintf(f, ";\n"
                   "ssl_verify_client on;\n"
                   "ssl_verify_depth 2;\n");
    }
out:
    if (fclose(f) != 0 && ret == 0)
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
    if (ret != 0) {
        free(text);
        return ret;
    }
    *out = text;
    return 0;
}

/* ------------------------------------------------------------------ */
/* reader                                                              */
/* ------------------------------------------------------------------ */

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

static void dirname_of(const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(out, outlen, "%s", "");
    else if (slash == path)
        snprintf(out, outlen, "%s", "/");
    else
        snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

/* dir "" means the current directory: keep the path as written. */
static int join_rel(char *out, size_t outlen, const char *dir, const char *rel,
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
    int ret = join_rel(first, sizeof(first), p->conf_dir, pat, p->err);
    if (ret != 0)
        return fail_at(p, inc->file, inc->line, ret, "%s", p->err->msg);
    ret = include_candidate(p, first, parent, depth, inc);
    if (ret != 0)
        return ret < 0 ? ret : 0;
    /* Not under the prefix: try next to the including file (a fragment
     * checked on its own, e.g. sites-enabled/x including a sibling). */
    dirname_of(inc->file, incdir, sizeof(incdir));
    if (pat[0] != '/' && strcmp(incdir, p->conf_dir) != 0) {
        ret = join_rel(second, sizeof(second), incdir, pat, p->err);
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
        dirname_of(path, dir, sizeof(dir));
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

/* ------------------------------------------------------------------ */
/* checker                                                             */
/* ------------------------------------------------------------------ */

enum { R_OFF = 1, R_TRUST = 2, R_DEPTH = 4, R_BADVAL = 8 };

struct checker {
    struct minica_nginx_conf *conf;
    char conf_dir[MINICA_PATH_MAX];
    struct minica_nginx_report *rep;
    struct minica_err *err;
    int64_t now;
    /* The blocks around the directive being looked at, outermost first. */
    const struct minica_nginx_directive *chain[MINICA_NGINX_MAX_BLOCK_DEPTH + 2];
    /* What each of those blocks sets itself, found once per block so that a
     * block with many proxy_pass is not rescanned for each. */
    struct minica_nginx_directive *sets[MINICA_NGINX_MAX_BLOCK_DEPTH + 2][3];
    size_t nchain;
    /* upstream { } blocks, sorted by name. */
    const struct minica_nginx_directive **upstreams;
    size_t nupstreams;
};

enum inherited { I_VERIFY, I_TRUSTED, I_DEPTH };
static const char *const inherited_names[] = {"proxy_ssl_verify", "proxy_ssl_trusted_certificate",
                                              "proxy_ssl_verify_depth"};

void minica_nginx_report_init(struct minica_nginx_report *rep)
{
    memset(rep, 0, sizeof(*rep));
}

void minica_nginx_report_free(struct minica_nginx_report *rep)
{
    if (rep == NULL)
        return;
    for (size_t i = 0; i < rep->n; i++)
        free(rep->items[i].msg);
    free(rep->items);
    memset(rep, 0, sizeof(*rep));
}

static int add_item(struct checker *ck, const struct minica_nginx_directive *d, int note,
                    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static int add_item(struct checker *ck, const struct minica_nginx_directive *d, int note,
                    const char *fmt, va_list ap)
{
    struct minica_nginx_report *rep = ck->rep;
    if (rep->n == rep->cap) {
        size_t cap = rep->cap == 0 ? 8 : rep->cap * 2;
        void *n = realloc(rep->items, cap * sizeof(*rep->items));
        if (n == NULL)
            return minica_seterr(ck->err, MINICA_ENOMEM, "out of memory");
        rep->items = n;
        rep->cap = cap;
    }
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        return minica_seterr(ck->err, MINICA_ENOMEM, "out of memory");
    rep->items[rep->n].file = d->file;
    rep->items[rep->n].line = d->line;
    rep->items[rep->n].msg = msg;
    rep->items[rep->n].note = note;
    rep->n++;
    rep->notes += note != 0;
    return 0;
}

static int finding(struct checker *ck, const struct minica_nginx_directive *d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int finding(struct checker *ck, const struct minica_nginx_directive *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ret = add_item(ck, d, 0, fmt, ap);
    va_end(ap);
    return ret;
}

/* For configs that work: an operator gating CI on the check must not fail
 * on them. */
static int note(struct checker *ck, const struct minica_nginx_directive *d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int note(struct checker *ck, const struct minica_nginx_directive *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ret = add_item(ck, d, 1, fmt, ap);
    va_end(ap);
    return ret;
}

/* The directive nginx applies here: the innermost level that sets it wins
 * (ngx_conf_merge_* from http to server to location to nested location/if). */
static struct minica_nginx_directive *effective(const struct checker *ck, enum inherited which)
{
    for (size_t i = ck->nchain; i-- > 0;)
        if (ck->sets[i][which] != NULL)
            return ck->sets[i][which];
    return NULL;
}

static int cmp_upstream(const void *a, const void *b)
{
    const struct minica_nginx_directive *x = *(const struct minica_nginx_directive *const *)a;
    const struct minica_nginx_directive *y = *(const struct minica_nginx_directive *const *)b;
    return strcmp(x->args[1], y->args[1]);
}

/* upstream blocks are only valid in http; a fragment may have them at its top. */
static int collect_upstreams(struct checker *ck, const struct minica_nginx_directive *b,
                             int in_http)
{
    for (size_t i = 0; i < b->nchildren; i++) {
        const struct minica_nginx_directive *d = b->children[i];
        if (!d->is_block)
            continue;
        if (strcmp(d->args[0], "upstream") == 0 && d->nargs >= 2) {
            const struct minica_nginx_directive **n =
                realloc(ck->upstreams, (ck->nupstreams + 1) * sizeof(*ck->upstreams));
            if (n == NULL)
                return minica_seterr(ck->err, MINICA_ENOMEM, "out of memory");
            ck->upstreams = n;
            ck->upstreams[ck->nupstreams++] = d;
        } else if (!in_http && strcmp(d->args[0], "http") == 0) {
            int ret = collect_upstreams(ck, d, 1);
            if (ret != 0)
                return ret;
        }
    }
    return 0;
}

static const struct minica_nginx_directive *find_upstream(const struct checker *ck,
                                                          const char *host, size_t hostlen)
{
    size_t lo = 0, hi = ck->nupstreams;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *name = ck->upstreams[mid]->args[1];
        int c = strncmp(name, host, hostlen);
        if (c == 0 && name[hostlen] != '\0')
            c = 1; /* name is longer than host: it sorts after */
        if (c == 0)
            return ck->upstreams[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int check_trusted(struct checker *ck, struct minica_nginx_directive *t)
{
    if (t->reported & R_TRUST)
        return 0;
    t->reported |= R_TRUST;
    if (t->nargs != 2)
        return finding(ck, t, "proxy_ssl_trusted_certificate takes one file name");
    const char *file = t->args[1];
    char path[MINICA_PATH_MAX];
    struct minica_err e;
    /* nginx resolves relative certificate paths against its prefix (conf dir). */
    if (join_rel(path, sizeof(path), ck->conf_dir, file, &e) != 0)
        return finding(ck, t, "proxy_ssl_trusted_certificate %s: %s", file, e.msg);
    struct stat st;
    if (stat(path, &st) != 0)
        return finding(ck, t,
                       "proxy_ssl_trusted_certificate %s does not exist: nginx will refuse to "
                       "start",
                       path);
    char *buf = NULL;
    size_t len = 0;
    if (minica_read_file(path, 1024 * 1024, &buf, &len, &e) != 0)
        return finding(ck, t, "proxy_ssl_trusted_certificate %s: %s", path, e.msg);
    mbedtls_x509_crt chain;
    mbedtls_x509_crt_init(&chain);
    int ret = 0;
    /* minica_crt_parse_pem also takes a name-constrained intermediate, which
     * plain mbedtls_x509_crt_parse refuses. */
    struct minica_err pe;
    int pr = minica_crt_parse_pem(&chain, buf, &pe);
    free(buf);
    if (pr != 0 || chain.raw.len == 0) {
        ret = finding(ck, t,
                      "proxy_ssl_trusted_certificate %s holds no certificate mbedTLS can parse "
                      "(%s)",
                      path, pe.msg);
        goto out;
    }
    for (const mbedtls_x509_crt *c = &chain; c != NULL && c->raw.len > 0; c = c->next) {
        int64_t not_after = minica_x509_time_to_unix(&c->valid_to);
        if (not_after >= ck->now)
            continue;
        char subject[256], when[21];
        if (mbedtls_x509_dn_gets(subject, sizeof(subject), &c->subject) < 0)
            snprintf(subject, sizeof(subject), "%s", "?");
        minica_unix_to_rfc3339(not_after, when);
        ret = finding(ck, t,
                      "proxy_ssl_trusted_certificate %s: certificate \"%s\" expired on %s; "
                      "chains through it fail to verify",
                      path, subject, when);
        if (ret != 0)
            break;
    }
out:
    mbedtls_x509_crt_free(&chain);
    return ret;
}

static int check_depth(struct checker *ck, struct minica_nginx_directive *dep)
{
    if (dep->reported & R_DEPTH)
        return 0;
    dep->reported |= R_DEPTH;
    char *end = NULL;
    errno = 0;
    long v = dep->nargs == 2 ? strtol(dep->args[1], &end, 10) : -1;
    if (dep->nargs != 2 || end == dep->args[1] || *end != '\0' || errno != 0 || v < 0)
        return finding(ck, dep, "proxy_ssl_verify_depth takes one number");
    /* OpenSSL counts only the CA certificates between the leaf and the trust
     * anchor (SSL_CTX_set_verify_depth): 0 fails on minica's intermediate,
     * 1 accepts it (checked against a real nginx in test_nginx_check.sh). */
    if (v == 0)
        return finding(ck, dep,
                       "proxy_ssl_verify_depth 0 is shorter than a minica chain (upstream "
                       "certificate <- intermediate <- root): every request fails with 502; "
                       "use 2");
    if (v < 2)
        return note(ck, dep,
                    "proxy_ssl_verify_depth 1 allows exactly one intermediate: enough for "
                    "minica's chain, but no room for a second one; minica's snippet uses 2");
    return 0;
}

static int check_proxy_pass(struct checker *ck, struct minica_nginx_directive *pp)
{
    if (pp->nargs < 2 || strncasecmp(pp->args[1], "https://", 8) != 0)
        return 0;
    ck->rep->https_upstreams++;
    const char *url = pp->args[1];
    const char *host = url + 8;
    size_t hostlen = strcspn(host, ":/");
    const struct minica_nginx_directive *up = find_upstream(ck, host, hostlen);
    char what[512];
    if (up != NULL)
        snprintf(what, sizeof(what), "proxy_pass %s (upstream block at %s:%d)", url, up->file,
                 up->line);
    else
        snprintf(what, sizeof(what), "proxy_pass %s", url);

    const struct minica_nginx_directive *v = effective(ck, I_VERIFY);
    if (v == NULL)
        return finding(ck, pp,
                       "%s without proxy_ssl_verify on: nginx does not verify an upstream's "
                       "certificate by default, so anything on the path can impersonate it",
                       what);
    if (v->nargs != 2 || strcmp(v->args[1], "on") != 0)
        return 0; /* off (or nonsense) is reported where it is written */
    int ret = 0;
    struct minica_nginx_directive *t = effective(ck, I_TRUSTED);
    if (t == NULL)
        ret = finding(ck, pp,
                      "%s: proxy_ssl_verify on without proxy_ssl_trusted_certificate: nginx has "
                      "nothing to verify against (nginx -t refuses this); use minica's ca.crt",
                      what);
    else
        ret = check_trusted(ck, t);
    if (ret != 0)
        return ret;
    struct minica_nginx_directive *dep = effective(ck, I_DEPTH);
    if (dep == NULL)
        return note(ck, pp,
                    "%s: no proxy_ssl_verify_depth, so nginx's default of 1 applies: enough "
                    "for minica's chain (one intermediate), but no room for a second one; "
                    "minica's snippet sets proxy_ssl_verify_depth 2",
                    what);
    return check_depth(ck, dep);
}

static int check_verify_value(struct checker *ck, struct minica_nginx_directive *d)
{
    if (d->nargs == 2 && strcmp(d->args[1], "on") == 0)
        return 0;
    if (d->reported & (R_OFF | R_BADVAL))
        return 0;
    if (d->nargs == 2 && strcmp(d->args[1], "off") == 0) {
        d->reported |= R_OFF;
        return finding(ck, d,
                       "proxy_ssl_verify off: upstream certificates are not verified here and "
                       "in every block that inherits this");
    }
    d->reported |= R_BADVAL;
    return finding(ck, d, "proxy_ssl_verify takes on or off");
}

static int descends(const char *name)
{
    static const char *const ctx[] = {"http", "server", "location", "if", "limit_except"};
    for (size_t i = 0; i < sizeof(ctx) / sizeof(ctx[0]); i++)
        if (strcmp(name, ctx[i]) == 0)
            return 1;
    return 0;
}

static int walk(struct checker *ck, const struct minica_nginx_directive *block)
{
    if (ck->nchain >= sizeof(ck->chain) / sizeof(ck->chain[0]))
        return 0;
    ck->chain[ck->nchain] = block;
    memset(ck->sets[ck->nchain], 0, sizeof(ck->sets[ck->nchain]));
    /* The first occurrence counts (nginx refuses a duplicate anyway). */
    for (size_t i = block->nchildren; i-- > 0;) {
        struct minica_nginx_directive *d = block->children[i];
        for (int k = 0; !d->is_block && k < 3; k++)
            if (strcmp(d->args[0], inherited_names[k]) == 0)
                ck->sets[ck->nchain][k] = d;
    }
    ck->nchain++;
    int ret = 0;
    for (size_t i = 0; ret == 0 && i < block->nchildren; i++) {
        struct minica_nginx_directive *d = block->children[i];
        if (d->is_block) {
            if (descends(d->args[0]))
                ret = walk(ck, d);
        } else if (strcmp(d->args[0], "proxy_pass") == 0) {
            ret = check_proxy_pass(ck, d);
        } else if (strcmp(d->args[0], "proxy_ssl_verify") == 0) {
            ret = check_verify_value(ck, d);
        }
    }
    ck->nchain--;
    return ret;
}

int minica_nginx_check(struct minica_nginx_conf *conf, const char *conf_dir,
                       struct minica_nginx_report *rep, struct minica_err *err)
{
    struct checker *ck = calloc(1, sizeof(*ck));
    if (ck == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    ck->conf = conf;
    ck->rep = rep;
    ck->err = err;
    ck->now = minica_now();
    if (conf_dir != NULL)
        snprintf(ck->conf_dir, sizeof(ck->conf_dir), "%s", conf_dir);
    else if (conf->nfiles > 0)
        dirname_of(conf->files[0], ck->conf_dir, sizeof(ck->conf_dir));
    int ret = collect_upstreams(ck, &conf->root, 0);
    if (ret == 0 && ck->nupstreams > 1)
        qsort(ck->upstreams, ck->nupstreams, sizeof(*ck->upstreams), cmp_upstream);
    if (ret == 0)
        ret = walk(ck, &conf->root);
    free(ck->upstreams);
    free(ck);
    return ret;
}
