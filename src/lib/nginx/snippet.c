/* The snippet that makes nginx verify (and present) minica certificates:
 * `minica nginx snippet`, quoted so that nginx reads every path as one
 * word. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "ca/x509.h"
#include "minica/der.h"
#include "minica/fsutil.h"
#include "minica/names.h"
#include "minica/nginx.h"
#include "minica/store.h"

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

static int need_file(const char *dir, const char *base, const char *what, struct minica_err *err)
{
    char path[MINICA_PATH_MAX];
    int ret = minica_path_join(path, sizeof(path), dir, base, err);
    if (ret == 0 && !minica_file_exists(path))
        ret = minica_seterr(err, MINICA_ENOENT, "%s does not exist (%s)", path, what);
    return ret;
}

/* A certificate nginx will present must allow that use: a client-only
 * certificate as the upstream's is a 502 at the first request, which
 * nginx -t does not see. ip gets its first IP SAN ("" without). A file
 * that is not there is left to the inventory: this host may hold only
 * the other side's. */
static int check_leaf(const char *dir, const char *base, const char *name, int client, char *ip,
                      size_t iplen, struct minica_err *err)
{
    char path[MINICA_PATH_MAX], *pem = NULL;
    int ret = minica_path_join(path, sizeof(path), dir, base, err);
    if (ret != 0 || !minica_file_exists(path))
        return ret;
    if ((ret = minica_read_file(path, 256 * 1024, &pem, NULL, err)) != 0)
        return ret;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    if (minica_crt_parse_pem_first(&crt, pem, NULL) != 0) {
        ret = minica_seterr(err, MINICA_EINVAL, "%s holds no readable certificate", path);
    } else {
        const char *oid = client ? MBEDTLS_OID_CLIENT_AUTH : MBEDTLS_OID_SERVER_AUTH;
        size_t oidlen = client ? MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)
                               : MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);
        if (mbedtls_x509_crt_check_extended_key_usage(&crt, oid, oidlen) != 0)
            ret = minica_seterr(err, MINICA_EINVAL,
                                "the certificate in %s is not for %s use: issue %s with --usage "
                                "%s (or both)",
                                path, client ? "client" : "server", name,
                                client ? "client" : "server");
        char sans[MINICA_SANS_MAX] = "";
        if (ret == 0 && ip != NULL && crt.v3_ext.p != NULL &&
            minica_der_find_san(crt.v3_ext.p, crt.v3_ext.len, sans, sizeof(sans), NULL) == 0) {
            char *save = NULL;
            for (char *t = strtok_r(sans, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                struct minica_name n;
                if (minica_name_parse(t, &n, NULL) == 0 && n.kind == MINICA_NAME_IP) {
                    snprintf(ip, iplen, "%s", n.text);
                    break;
                }
            }
        }
    }
    mbedtls_x509_crt_free(&crt);
    minica_free_secret(pem, strlen(pem)); /* a PEM bundle holds the key */
    return ret;
}

struct usable {
    int client;
    int found;
};

static int usable_row(const struct minica_cert_row *row, void *p)
{
    struct usable *u = p;
    if (strcmp(row->usage, "both") == 0 || strcmp(row->usage, u->client ? "client" : "server") == 0)
        u->found = 1;
    return 0;
}

/* The inventory knows every name: one that has no valid certificate for
 * this use was never issued, or was mistyped. */
static int check_inventory(struct minica_store *store, const char *name, int client,
                           struct minica_err *err)
{
    struct minica_cert_filter filter;
    memset(&filter, 0, sizeof(filter));
    filter.name = name;
    filter.status_mask = MINICA_STATUS_VALID;
    filter.now = minica_now();
    filter.without_pem = 1;
    struct usable u = {client, 0};
    int ret = minica_store_list_certs(store, &filter, usable_row, &u, err);
    if (ret == 0 && !u.found)
        ret = minica_seterr(err, MINICA_ENOENT,
                            "%s has no valid certificate for %s use in the inventory: issue it "
                            "first (minica issue %s%s)",
                            name, client ? "client" : "server", name,
                            client ? " --usage client" : "");
    return ret;
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
    char ip[64] = "";
    if (opts->check_files) {
        if (!minica_file_exists(dir))
            return minica_seterr(err, MINICA_ENOENT,
                                 "%s does not exist: give --certs the --out of minica issue", dir);
        if ((ret = need_file(dir, "ca.crt", "minica issue and minica bootstrap write it", err)) !=
                0 ||
            (ret = check_leaf(dir, fullchain, name.text, 0, ip, sizeof(ip), err)) != 0)
            return ret;
        if (opts->inventory != NULL &&
            (ret = check_inventory(opts->inventory, name.text, 0, err)) != 0)
            return ret;
        if (opts->client != NULL) {
            char cchain[MINICA_NAME_MAX + 32];
            snprintf(cchain, sizeof(cchain), "%s%s", client.text,
                     opts->pem_bundle ? ".pem" : ".fullchain.crt");
            if ((ret = check_leaf(dir, cchain, client.text, 1, NULL, 0, err)) != 0)
                return ret;
            if (opts->inventory != NULL &&
                (ret = check_inventory(opts->inventory, client.text, 1, err)) != 0)
                return ret;
        }
    }
    /* The address for the comment's upstream block: the certificate's
     * own IP SAN when it has one, never an example address. */
    char server[96];
    if (ip[0] != '\0')
        snprintf(server, sizeof(server), strchr(ip, ':') ? "[%s]:443" : "%s:443", ip);
    else
        snprintf(server, sizeof(server), "ADDRESS:443");

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    fprintf(f,
            "# nginx on the proxy, in its server { } block: pass requests to %s\n"
            "# over TLS and verify its minica certificate. nginx resolves %s when\n"
            "# it starts: give it a DNS entry, or name an upstream block instead:\n"
            "#   upstream %s { server %s; }\n"
            "location / {\n"
            "    proxy_pass https://%s;\n"
            "    proxy_ssl_verify on;\n"
            "    proxy_ssl_trusted_certificate ",
            name.text, name.text, name.text, server, name.text);
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
