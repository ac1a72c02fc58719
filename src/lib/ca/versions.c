/* What minica runs with: its own version, mbedTLS and SQLite (linked), and
 * the libraries it loads on demand, asked at run time, since the one
 * installed is what matters, not the one it was built against. */
#include <stdio.h>
#include <string.h>

#include <mbedtls/version.h>

#include "base/libload.h"
#include "minica/store.h"
#include "minica/versions.h"

void minica_versions_get(struct minica_versions *v)
{
    memset(v, 0, sizeof(*v));
    snprintf(v->minica, sizeof(v->minica), "%s", MINICA_VERSION);
#if defined(MBEDTLS_VERSION_C)
    char mbed[18];
    mbedtls_version_get_string(mbed);
    snprintf(v->mbedtls, sizeof(v->mbedtls), "%s", mbed);
#else
    snprintf(v->mbedtls, sizeof(v->mbedtls), "%s", MBEDTLS_VERSION_STRING);
#endif
    snprintf(v->sqlite, sizeof(v->sqlite), "%s", minica_store_sqlite_version());
    struct minica_err err;
    const struct minica_gnutls *gnutls = minica_gnutls_load(&err);
    if (gnutls != NULL)
        snprintf(v->gnutls, sizeof(v->gnutls), "%s", gnutls->check_version(NULL));
    else
        snprintf(v->gnutls_missing, sizeof(v->gnutls_missing), "%s", err.msg);
    const struct minica_mhd *mhd = minica_mhd_load(&err);
    if (mhd != NULL)
        snprintf(v->microhttpd, sizeof(v->microhttpd), "%s", mhd->get_version());
    else
        snprintf(v->microhttpd_missing, sizeof(v->microhttpd_missing), "%s", err.msg);
    const struct minica_curl *curl = minica_curl_load(&err);
    if (curl != NULL)
        snprintf(v->curl, sizeof(v->curl), "%s", curl->version_info(CURLVERSION_NOW)->version);
    else
        snprintf(v->curl_missing, sizeof(v->curl_missing), "%s", err.msg);
}
