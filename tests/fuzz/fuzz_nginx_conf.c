/* libFuzzer harness for the nginx configuration reader and checker
 * (`minica nginx check`): any buffer parses or fails with a message, and
 * the checker runs over whatever parsed. Nothing is included from disk;
 * relative certificate paths resolve in an empty directory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "minica/nginx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char empty_dir[64];

static void cleanup(void)
{
    rmdir(empty_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(empty_dir, sizeof(empty_dir), "/tmp/fuzz_nginx.XXXXXX");
    if (mkdtemp(empty_dir) == NULL)
        abort();
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    struct minica_nginx_conf conf;
    struct minica_nginx_report rep;
    struct minica_err err;
    minica_nginx_conf_init(&conf);
    minica_nginx_report_init(&rep);
    if (minica_nginx_parse_buffer(&conf, (const char *)data, size, "nginx.conf", &err) == 0) {
        int ret = minica_nginx_check(&conf, empty_dir, NULL, &rep, &err);
        FUZZ_ASSERT(ret == 0 || ret == MINICA_ENOMEM);
        for (size_t i = 0; i < rep.n; i++)
            FUZZ_ASSERT(rep.items[i].msg != NULL && rep.items[i].msg[0] != '\0');
        FUZZ_ASSERT(rep.https_upstreams <= conf.ndirectives);
    } else {
        FUZZ_ASSERT(err.msg[0] != '\0');
    }
    minica_nginx_report_free(&rep);
    minica_nginx_conf_free(&conf);
    return 0;
}
