/* The versions of minica and of the libraries it runs with, for
 * `minica version --json` and bug reports. */
#ifndef MINICA_VERSIONS_H
#define MINICA_VERSIONS_H

#define MINICA_VERSION_TEXT_MAX 64

/* "" for a library that is loaded on demand and is not installed; its
 * *_missing then says why (the "install the ... package" line). */
struct minica_versions {
    char minica[MINICA_VERSION_TEXT_MAX];
    char mbedtls[MINICA_VERSION_TEXT_MAX];
    char sqlite[MINICA_VERSION_TEXT_MAX];
    char gnutls[MINICA_VERSION_TEXT_MAX];
    char microhttpd[MINICA_VERSION_TEXT_MAX];
    char curl[MINICA_VERSION_TEXT_MAX];
    char gnutls_missing[512];
    char microhttpd_missing[512];
    char curl_missing[512];
};

/* Fills v; loads GnuTLS, libmicrohttpd and libcurl to ask them. */
void minica_versions_get(struct minica_versions *v);

#endif
