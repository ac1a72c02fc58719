/* Loading libcurl on demand (see curl_dl.h for why). Nothing else: the
 * HTTP requests themselves are remote.c's. */
#include <dlfcn.h>
#include <string.h>

#include "curl_dl.h"

/* The SONAME of Debian's libcurl3-gnutls: the GnuTLS build, so that one TLS
 * library serves libmicrohttpd, libcurl and the agent's probe. */
#define LIBCURL_SONAME "libcurl-gnutls.so.4"

int minica_curl_open(struct minica_curl *api, struct minica_err *err)
{
    memset(api, 0, sizeof(*api));
    api->handle = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (api->handle == NULL)
        return minica_seterr(err, MINICA_ENET,
                             "cannot load libcurl (%s), needed to reach a remote CA: install "
                             "the libcurl3-gnutls package",
                             dlerror());
    const struct {
        const char *name;
        void **slot;
    } symbols[] = {
        {"curl_global_init", (void **)&api->global_init},
        {"curl_global_cleanup", (void **)&api->global_cleanup},
        {"curl_easy_init", (void **)&api->easy_init},
        {"curl_easy_setopt", (void **)&api->easy_setopt},
        {"curl_easy_perform", (void **)&api->easy_perform},
        {"curl_easy_getinfo", (void **)&api->easy_getinfo},
        {"curl_easy_cleanup", (void **)&api->easy_cleanup},
        {"curl_easy_strerror", (void **)&api->easy_strerror},
        {"curl_slist_append", (void **)&api->slist_append},
        {"curl_slist_free_all", (void **)&api->slist_free_all},
    };
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        *symbols[i].slot = dlsym(api->handle, symbols[i].name);
        if (*symbols[i].slot == NULL) {
            int ret = minica_seterr(err, MINICA_ENET, "%s lacks %s: libcurl is too old",
                                    LIBCURL_SONAME, symbols[i].name);
            minica_curl_close(api);
            return ret;
        }
    }
    return MINICA_OK;
}

void minica_curl_close(struct minica_curl *api)
{
    if (api->handle != NULL)
        dlclose(api->handle);
    memset(api, 0, sizeof(*api));
}
