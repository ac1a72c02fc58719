/* ACME Renewal Information (serve/acme_ari.c, RFC 9773): the certID of a
 * certificate openssl made, checked against what openssl itself prints of
 * it; certID parsing and formatting, refusals of malformed ones; the
 * suggested window's arithmetic. The resource itself is in test_acme.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/x509_crt.h>

#include "base/b64url.h"
#include "ca/x509.h"
#include "serve/acme_ari.h"
#include "testutil.h"

/* stdout of a shell command (NUL-terminated); fails unless it exits 0. */
static void run(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
}

/* Hex with optional colons ("69:88:5B", "008765") into bytes. */
static size_t unhex(const char *s, unsigned char *out, size_t cap)
{
    size_t n = 0;
    unsigned v;
    while (*s && n < cap) {
        if (*s == ':' || *s == ' ') {
            s++;
            continue;
        }
        assert_int_equal(sscanf(s, "%2x", &v), 1);
        out[n++] = (unsigned char)v;
        s += 2;
    }
    return n;
}

/* A CA and a leaf made by openssl, the leaf with serial, and the certID
 * built from what `openssl x509 -ext authorityKeyIdentifier -serial`
 * prints of it. */
static void openssl_leaf(const char *dir, const char *serial, mbedtls_x509_crt *crt, char *want,
                         size_t want_size)
{
    char cmd[8192], out[4096];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout ca.key -out ca.crt -subj /CN=ari-test-ca -days 2 2>/dev/null && "
             "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout leaf.key -out leaf.csr -subj /CN=leaf.test 2>/dev/null && "
             "printf 'authorityKeyIdentifier=keyid:always\\nsubjectAltName=DNS:leaf.test\\n' "
             ">ext.cnf && openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key "
             "-set_serial %s -days 1 -extfile ext.cnf -out leaf.crt 2>/dev/null && "
             "openssl x509 -in leaf.crt -noout -ext authorityKeyIdentifier -serial",
             dir, serial);
    run(cmd, out, sizeof(out));
    /* "X509v3 Authority Key Identifier: \n    69:88:..\nserial=00876543" */
    const char *aki = strstr(out, "Identifier:");
    const char *ser = strstr(out, "serial=");
    assert_non_null(aki);
    assert_non_null(ser);
    aki += strlen("Identifier:");
    aki += strspn(aki, " \n");
    if (strncmp(aki, "keyid:", 6) == 0) /* older openssl */
        aki += 6;
    char aki_hex[256], ser_hex[128];
    assert_int_equal(sscanf(aki, "%255[0-9A-Fa-f:]", aki_hex), 1);
    assert_int_equal(sscanf(ser + 7, "%127[0-9A-Fa-f]", ser_hex), 1);
    struct minica_ari_certid id;
    memset(&id, 0, sizeof(id));
    id.aki_len = unhex(aki_hex, id.aki, sizeof(id.aki));
    /* openssl prints the INTEGER's value, without the sign octet DER adds
     * when the top bit is set (RFC 9773 4.1 keeps it). */
    unsigned char v[32];
    size_t vl = unhex(ser_hex, v, sizeof(v));
    if (v[0] & 0x80)
        id.serial[id.serial_len++] = 0;
    memcpy(id.serial + id.serial_len, v, vl);
    id.serial_len += vl;
    assert_int_equal(minica_ari_certid_format(&id, want, want_size), 0);

    snprintf(cmd, sizeof(cmd), "%s/leaf.crt", dir);
    char *pem = tu_slurp(cmd);
    mbedtls_x509_crt_init(crt);
    assert_int_equal(minica_crt_parse_pem_first(crt, pem, NULL), 0);
    free(pem);
}

static void test_certid_of_an_openssl_certificate_matches_openssl(void **state)
{
    (void)state;
    /* One serial with the top bit set (DER adds a zero octet), one without. */
    static const char *const serials[] = {"0x8765432100ffee", "0x1234"};
    for (size_t i = 0; i < sizeof(serials) / sizeof(serials[0]); i++) {
        char *dir = tu_tempdir();
        mbedtls_x509_crt crt;
        char want[MINICA_ARI_CERTID_MAX], got[MINICA_ARI_CERTID_MAX];
        openssl_leaf(dir, serials[i], &crt, want, sizeof(want));
        struct minica_ari_certid id;
        struct minica_err err;
        assert_int_equal(minica_ari_certid_of_crt(&crt, &id, &err), 0);
        assert_int_equal(minica_ari_certid_format(&id, got, sizeof(got)), 0);
        assert_string_equal(got, want);
        /* And back: parsing gives the same octets and the stored serial. */
        struct minica_ari_certid back;
        assert_int_equal(minica_ari_certid_parse(got, &back, &err), 0);
        assert_memory_equal(back.aki, id.aki, id.aki_len);
        assert_int_equal(back.serial_len, id.serial_len);
        char hex[MINICA_SERIAL_HEX_MAX];
        minica_ari_certid_serial_hex(&back, hex);
        assert_string_equal(hex, i == 0 ? "8765432100ffee" : "1234");
        mbedtls_x509_crt_free(&crt);
        tu_rmtree(dir);
        free(dir);
    }
}

/* RFC 9773 4.1's own example. */
static void test_certid_of_the_rfc_example(void **state)
{
    (void)state;
    struct minica_ari_certid id;
    memset(&id, 0, sizeof(id));
    id.aki_len = unhex("69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4", id.aki,
                       sizeof(id.aki));
    id.serial_len = unhex("00:87:65:43:21", id.serial, sizeof(id.serial));
    char text[MINICA_ARI_CERTID_MAX];
    assert_int_equal(minica_ari_certid_format(&id, text, sizeof(text)), 0);
    assert_string_equal(text, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    assert_int_equal(minica_ari_certid_format(&id, text, 10), MINICA_EINVAL);
}

static void test_certid_malformed_is_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        ".",
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ",           /* no serial */
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ.",          /* empty serial */
        ".AIdlQyE",                              /* empty AKI */
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE.x", /* three parts */
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ=.AIdlQyE",  /* padding */
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdl+yE",   /* base64, not base64url */
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyF",   /* non-zero unused bits */
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ.h2VDIQ",    /* top bit set: negative */
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AAFlQyE",   /* a needless leading zero */
        /* 22 serial octets */
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AAECAwQFBgcICQoLDA0ODxAREhMUFQ",
        /* 65 AKI octets */
        ("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-"
         "P0A.AIdlQyE"),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct minica_ari_certid id;
        struct minica_err err;
        err.msg[0] = '\0';
        if (minica_ari_certid_parse(bad[i], &id, &err) != MINICA_EINVAL)
            fail_msg("accepted certID \"%s\"", bad[i]);
        assert_true(err.msg[0] != '\0');
    }
    /* The longest serial RFC 5280 allows, with its sign octet, is fine. */
    struct minica_ari_certid id;
    assert_int_equal(minica_ari_certid_parse(
                         "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIECAwQFBgcICQoLDA0ODxAREhMU", &id, NULL),
                     0);
    assert_int_equal(id.serial_len, 21);
}

/* A certificate with no AKI has no certID. */
static void test_certid_needs_an_aki(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char cmd[4096], out[64];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout k.pem -out c.pem -subj /CN=no-aki -days 1 -addext "
             "authorityKeyIdentifier=none -addext subjectKeyIdentifier=none 2>/dev/null "
             "&& echo ok",
             dir);
    run(cmd, out, sizeof(out));
    snprintf(cmd, sizeof(cmd), "%s/c.pem", dir);
    char *pem = tu_slurp(cmd);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(minica_crt_parse_pem_first(&crt, pem, NULL), 0);
    struct minica_ari_certid id;
    struct minica_err err;
    assert_int_equal(minica_ari_certid_of_crt(&crt, &id, &err), MINICA_EINVAL);
    mbedtls_x509_crt_free(&crt);
    free(pem);
    tu_rmtree(dir);
    free(dir);
}

#define DAY 86400LL

static void test_window_is_two_thirds_to_five_sixths(void **state)
{
    (void)state;
    int64_t s, e, nb = 1800000000LL;
    minica_ari_window(nb, nb + 90 * DAY, 0, 1, nb + DAY, &s, &e);
    assert_int_equal(s, nb + 60 * DAY);
    assert_int_equal(e, nb + 75 * DAY);
    /* The clock does not move a healthy certificate's window. */
    int64_t s2, e2;
    minica_ari_window(nb, nb + 90 * DAY, 0, 1, nb + 89 * DAY, &s2, &e2);
    assert_int_equal(s2, s);
    assert_int_equal(e2, e);
    /* A tiny or broken lifetime still gives end after start. */
    minica_ari_window(nb, nb + 1, 0, 1, nb, &s, &e);
    assert_true(e > s);
    minica_ari_window(nb, nb - 10, 0, 1, nb, &s, &e);
    assert_true(e > s);
}

static void test_window_is_past_when_revoked_or_issuer_gone(void **state)
{
    (void)state;
    int64_t s, e, nb = 1800000000LL, now = nb + DAY;
    minica_ari_window(nb, nb + 90 * DAY, 1, 1, now, &s, &e);
    assert_true(s < e && e < now);
    minica_ari_window(nb, nb + 90 * DAY, 0, 0, now, &s, &e);
    assert_true(s < e && e < now);
    minica_ari_window(nb, nb + 90 * DAY, 1, 0, now, &s, &e);
    assert_true(s < e && e < now);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certid_of_an_openssl_certificate_matches_openssl),
        cmocka_unit_test(test_certid_of_the_rfc_example),
        cmocka_unit_test(test_certid_malformed_is_refused),
        cmocka_unit_test(test_certid_needs_an_aki),
        cmocka_unit_test(test_window_is_two_thirds_to_five_sixths),
        cmocka_unit_test(test_window_is_past_when_revoked_or_issuer_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
