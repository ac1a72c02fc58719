/* nginx glue: the directives that make nginx trust (and present) minica
 * certificates, and a reader + checker for nginx configuration files that
 * finds unverified TLS to upstreams. Not an nginx config writer or linter. */
#ifndef MINICA_NGINX_H
#define MINICA_NGINX_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"

/* Limits that keep a hostile or broken config (the parser is fuzzed) from
 * exhausting memory or the stack. Real configs are far below them. */
#define MINICA_NGINX_MAX_FILE_BYTES (4u * 1024 * 1024)   /* one file */
#define MINICA_NGINX_MAX_TOTAL_BYTES (32u * 1024 * 1024) /* all files read */
#define MINICA_NGINX_MAX_FILES 1024                      /* files read */
#define MINICA_NGINX_MAX_INCLUDE_DEPTH 16                /* nested includes */
#define MINICA_NGINX_MAX_BLOCK_DEPTH 64                  /* nested { } */
#define MINICA_NGINX_MAX_ARGS 1024                       /* words in one directive */
#define MINICA_NGINX_MAX_DIRECTIVES 200000               /* in all files */

/* ---- snippet ---- */

struct minica_nginx_snippet_opts {
    const char *name;      /* the upstream's name, as issued: proxy_pass https://NAME */
    const char *client;    /* NULL, or the name of a client certificate for mTLS */
    const char *certs_dir; /* where NAME.fullchain.crt, NAME.key, ca.crt are; NULL = cwd */
    int pem_bundle;        /* NAME.pem (minica issue --pem-bundle) holds key and chain */
    /* Look first (the CLI does): certs_dir and its ca.crt must exist; a
     * certificate file there for NAME must be for server use, one for
     * client for client use (the upstream's first IP SAN then goes into
     * the comment's upstream block). A host holds only its own side's
     * files, so a missing one is not an error by itself; the inventory is
     * what knows every name. MINICA_ENOENT, MINICA_EINVAL otherwise. */
    int check_files;
    /* With check_files: an inventory to find NAME (and client) in, with a
     * valid certificate of the right usage; NULL for none. */
    struct minica_store *inventory;
};

/* Text of the proxy's location block and the upstream's server directives
 * (malloc'd, NUL-terminated). Paths are printed absolute. An IP address as
 * NAME is MINICA_EINVAL: nginx checks proxy_ssl_name with host-name rules
 * only, so the snippet would fail with 502; err says to issue a DNS name. */
int minica_nginx_snippet(const struct minica_nginx_snippet_opts *opts, char **out,
                         struct minica_err *err);

/* ---- configuration reader ---- */

struct minica_nginx_directive {
    const char *file; /* owned by the conf (its files[]) */
    int line;         /* line of the directive's name */
    char **args;      /* args[0] is the name; quotes and escapes already removed */
    size_t nargs;
    int is_block; /* it had { ... } */
    struct minica_nginx_directive **children;
    size_t nchildren;
    unsigned reported; /* checker's bookkeeping: findings already made about it */
};

struct minica_nginx_conf {
    struct minica_nginx_directive root; /* the main context; only children are used */
    char **files;                       /* every file read, in order; files[0] the main one */
    size_t nfiles;
    size_t total_bytes;
    size_t ndirectives;
    /* Where a parse failed ("" / 0 when the failure has no place, e.g. a missing file). */
    char err_file[4096];
    int err_line;
};

void minica_nginx_conf_init(struct minica_nginx_conf *conf);
void minica_nginx_conf_free(struct minica_nginx_conf *conf);

/* Reads path and every file it includes. Relative include paths resolve the
 * way nginx does, against the configuration prefix conf_dir (NULL: the
 * directory of path, as for `nginx -c path`); when nothing is found there,
 * against the including file's directory (so a fragment can be checked on
 * its own). Glob patterns are expanded with glob(3), sorted, and may match
 * nothing, as in nginx. An include loop, a missing file, a syntax error or a
 * limit above is an error with conf->err_file/err_line set and the place in
 * err's sentence. */
int minica_nginx_parse_file(struct minica_nginx_conf *conf, const char *path, const char *conf_dir,
                            struct minica_err *err);

/* Parses one buffer (nothing read from disk: `include` stays a plain
 * directive). name is used in messages. The fuzzing entry point. */
int minica_nginx_parse_buffer(struct minica_nginx_conf *conf, const char *buf, size_t len,
                              const char *name, struct minica_err *err);

/* ---- checker ---- */

struct minica_nginx_finding {
    const char *file; /* owned by the conf */
    int line;
    char *msg;
    int note; /* 1: advice that does not fail the check (a config that works) */
};

struct minica_nginx_report {
    struct minica_nginx_finding *items;
    size_t n, cap;
    size_t notes;           /* items with note = 1; n - notes are findings */
    size_t https_upstreams; /* proxy_pass https:// seen */
};

void minica_nginx_report_init(struct minica_nginx_report *rep);
void minica_nginx_report_free(struct minica_nginx_report *rep);

/* Appends to rep the findings about conf: proxy_pass https:// whose
 * effective context (location, enclosing locations, server, http: the
 * inheritance nginx applies to proxy_ssl_*) lacks proxy_ssl_verify on;
 * proxy_ssl_verify off; verify on without proxy_ssl_trusted_certificate;
 * a trusted-certificate file that is missing, unparsable or holds an
 * expired certificate (relative paths resolve against conf_dir, NULL: the
 * main file's directory); proxy_ssl_verify_depth 0, which rejects minica's
 * upstream <- intermediate <- root chain. Depth 1 (nginx's default) accepts
 * that chain (OpenSSL counts neither the leaf nor the trust anchor), so it
 * is only a note: no room for a second intermediate. With verification on,
 * an IP address as the name nginx checks is a finding: proxy_ssl_name set to
 * one (at the directive, once), or none (or $proxy_host) inherited and an
 * address as the host of proxy_pass (at the proxy_pass). nginx matches that
 * name with X509_check_host, DNS SANs then the CN, never IP SANs. Only http
 * contexts are looked at (not stream or mail).
 * Returns 0 (findings are not errors) or MINICA_ENOMEM. */
/* root_pem: minica's root (PEM), or NULL when not known. With it, a
 * proxy_ssl_trusted_certificate file that does not hold it is a finding,
 * and it alone is what the file's expiry findings are about; without it,
 * a file with as many certificates as a system bundle is a note. */
int minica_nginx_check(struct minica_nginx_conf *conf, const char *conf_dir, const char *root_pem,
                       struct minica_nginx_report *rep, struct minica_err *err);

#endif
