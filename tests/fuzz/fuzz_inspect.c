/* libFuzzer harness for minica inspect's reader: any bytes as the file
 * (PEM or DER, auto-detected), and, when the first byte is odd, the same
 * bytes as the --root and --issuer files too, so that hostile certificates
 * reach the chain, signature and CRL checks. Whatever it reads must come
 * back bounded and printable, and a refusal must say why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minica/inspect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    FUZZ_ASSERT(n < size);
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] != 0x7f);
}

static void check_names(const struct minica_inspect_name *v, size_t n)
{
    FUZZ_ASSERT(n <= 256);
    for (size_t i = 0; i < n; i++)
        check_text(v[i].value, sizeof(v[i].value));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    struct minica_inspect_options opts;
    memset(&opts, 0, sizeof(opts));
    opts.now = 1796000000; /* 2026-11 */
    if (size > 0 && (data[0] & 1)) {
        opts.root = opts.issuer = data;
        opts.root_len = opts.issuer_len = size;
    }
    struct minica_inspect_report r;
    struct minica_err err;
    if (minica_inspect(data, size, &opts, &r, &err) != 0) {
        FUZZ_ASSERT(err.msg[0] != '\0');
        FUZZ_ASSERT(r.n_certs == 0 && r.n_crls == 0 && r.certs == NULL);
        return 0;
    }
    FUZZ_ASSERT(r.n_certs <= MINICA_INSPECT_CERTS_MAX && r.n_crls <= MINICA_INSPECT_CRLS_MAX);
    FUZZ_ASSERT(r.n_certs + r.n_crls > 0 || r.kind == MINICA_INSPECT_CSR);
    for (size_t i = 0; i < r.n_certs; i++) {
        const struct minica_inspect_cert *c = &r.certs[i];
        check_text(c->subject, sizeof(c->subject));
        check_text(c->issuer, sizeof(c->issuer));
        check_text(c->serial, sizeof(c->serial));
        check_text(c->key_usage, sizeof(c->key_usage));
        check_text(c->ext_key_usage, sizeof(c->ext_key_usage));
        check_text(c->nc_permitted, sizeof(c->nc_permitted));
        check_text(c->nc_excluded, sizeof(c->nc_excluded));
        check_names(c->sans, c->n_sans);
        FUZZ_ASSERT(strlen(c->fingerprint_sha256) == 64);
    }
    if (r.kind == MINICA_INSPECT_CSR) {
        check_text(r.csr.subject, sizeof(r.csr.subject));
        check_names(r.csr.sans, r.csr.n_sans);
    }
    for (size_t i = 0; i < r.n_crls; i++) {
        check_text(r.crls[i].issuer, sizeof(r.crls[i].issuer));
        for (size_t j = 0; j < r.crls[i].n_revoked; j++)
            check_text(r.crls[i].revoked[j].serial, sizeof(r.crls[i].revoked[j].serial));
    }
    /* A verdict is good only if nothing in it is bad. */
    if (r.ok && r.kind == MINICA_INSPECT_CHAIN)
        FUZZ_ASSERT(r.chain_ok);
    minica_inspect_report_free(&r);
    return 0;
}
