/* Whether a private key file and the certificate files beside it belong
 * together. minica replaces them with one rename each, so a crash between
 * two renames can leave a new key next to the old certificate: nginx then
 * refuses the pair at its next reload ("key values mismatch"). The agent's
 * reports, its rollback and `minica issue` ask this before trusting a pair. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ca/x509.h"
#include "minica/fsutil.h"
#include "minica/key.h"

#define PAIR_FILE_MAX (256 * 1024)

static int read_pem(const char *path, char **buf, char *why, size_t whylen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            snprintf(why, whylen, "%s does not exist", path);
        else
            snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    struct minica_err err;
    if (minica_read_file(path, PAIR_FILE_MAX, buf, NULL, &err) != 0) {
        snprintf(why, whylen, "%s", err.msg);
        return -1;
    }
    return 0;
}

int minica_key_files_match(const char *key_path, const char *const *cert_paths, size_t n, char *why,
                           size_t whylen)
{
    why[0] = '\0';
    char *key = NULL;
    if (read_pem(key_path, &key, why, whylen) != 0)
        return -1;
    int verdict = 1;
    for (size_t i = 0; i < n && verdict == 1; i++) {
        const char *path = cert_paths[i];
        if (path == NULL || path[0] == '\0')
            continue;
        char *pem = NULL;
        if (read_pem(path, &pem, why, whylen) != 0) {
            verdict = -1;
            break;
        }
        mbedtls_x509_crt crt;
        mbedtls_x509_crt_init(&crt);
        struct minica_err err;
        int match = -1;
        if (minica_crt_parse_pem_first(&crt, pem, &err) != 0)
            snprintf(why, whylen, "%s holds no readable certificate", path);
        else if ((match = minica_key_matches_crt(key, &crt, &err)) < 0)
            snprintf(why, whylen, "%s holds no readable private key", key_path);
        else if (match == 0)
            snprintf(why, whylen, "the key in %s does not match the certificate in %s", key_path,
                     path);
        verdict = match;
        mbedtls_x509_crt_free(&crt);
        /* A bundle holds the key too. */
        minica_free_secret(pem, strlen(pem));
    }
    minica_free_secret(key, strlen(key));
    return verdict;
}
