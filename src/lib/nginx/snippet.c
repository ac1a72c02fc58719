/* The snippet that makes nginx verify (and present) minica certificates:
 * `minica nginx snippet`, quoted so that nginx reads every path as one
 * word. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minica/fsutil.h"
#include "minica/names.h"
#include "minica/nginx.h"

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
    /* nginx matches proxy_ssl_name with X509_check_host (DNS SANs, then the
     * CN) and never looks at IP SANs: "proxy_ssl_name 10.0.2.88" works only
     * through a CN of 10.0.2.88, which an IP-only certificate under
     * --permit-dns does not have (502). */
    if (name.kind == MINICA_NAME_IP)
        return minica_seterr(err, MINICA_EINVAL,
                             "%s: nginx checks proxy_ssl_name with host-name rules (DNS SANs, "
                             "then the CN) and ignores IP SANs: proxy_ssl_name %s gets 502 from "
                             "a certificate without that CN (minica's under --permit-dns); "
                             "issue a DNS name for the upstream (minica issue NAME --san %s) "
                             "and run minica nginx snippet NAME",
                             opts->name, name.text, name.text);
    if (opts->client != NULL) {
        ret = minica_name_parse(opts->client, &client, err);
        if (ret != 0)
            return minica_seterr(err, MINICA_EINVAL, "client: %s", err->msg);
    }
    char dir[MINICA_PATH_MAX];
    ret = absolute_dir(opts->certs_dir, dir, sizeof(dir), err);
    if (ret != 0)
        return ret;

    /* With a PEM bundle, both directives name the one file (nginx reads
     * the certificates and the key out of it): one rename replaces it. */
    char fullchain[MINICA_NAME_MAX + 32], key[MINICA_NAME_MAX + 32];
    snprintf(fullchain, sizeof(fullchain), "%s%s", name.text,
             opts->pem_bundle ? ".pem" : ".fullchain.crt");
    snprintf(key, sizeof(key), "%s%s", name.text, opts->pem_bundle ? ".pem" : ".key");

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
            "    proxy_pass https://%s;\n"
            "    proxy_ssl_verify on;\n"
            "    proxy_ssl_trusted_certificate ",
            name.text, name.text, name.text, name.text);
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
        snprintf(cchain, sizeof(cchain), "%s%s", client.text,
                 opts->pem_bundle ? ".pem" : ".fullchain.crt");
        snprintf(ckey, sizeof(ckey), "%s%s", client.text, opts->pem_bundle ? ".pem" : ".key");
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
