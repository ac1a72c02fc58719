/* libcurl, loaded when a command first talks to a remote CA. Linking it
 * pulls in some thirty shared libraries whose loading cost every minica
 * process (each `minica issue`, each cron run of the agent) about 3 ms
 * while only bootstrap, remote issuance and the remote issuer use it. */
#ifndef MINICA_CURL_DL_H
#define MINICA_CURL_DL_H

#include <curl/curl.h>

#include "minica/error.h"

/* The libcurl calls minica makes, resolved from the shared library. */
struct minica_curl {
    void *handle;
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *h, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *h);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *h);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *text);
    void (*slist_free_all)(struct curl_slist *list);
};

/* Loads libcurl (GnuTLS flavour, as Debian's libcurl3-gnutls ships it). */
int minica_curl_open(struct minica_curl *api, struct minica_err *err);
void minica_curl_close(struct minica_curl *api);

#endif
