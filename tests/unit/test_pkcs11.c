/* The PKCS#11 signer against a real token: SoftHSM2 made in a temp dir
 * (tests/support/softhsm). Keys made by minica_pkcs11_generate and by
 * pkcs11-tool; signatures checked with mbedTLS and with openssl; every
 * failure a one-line message that names what went wrong. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <mbedtls/md.h>
#include <mbedtls/pk.h>

#include "base/util.h"
#include "ca/pkcs11.h"
#include "ca/signer.h"
#include "testutil.h"

static char *dir;        /* the token's temp dir, also scratch for openssl */
static char module[256]; /* SoftHSM2's module */
static struct minica_rng rng;

static int group_setup(void **state)
{
    (void)state;
    const char *script = getenv("MINICA_TEST_SOFTHSM");
    if (script == NULL) {
        fprintf(stderr, "MINICA_TEST_SOFTHSM (tests/support/softhsm) is not set\n");
        return -1;
    }
    dir = tu_tempdir();
    char cmd[4400];
    snprintf(cmd, sizeof(cmd), "sh '%s' '%s/hsm'", script, dir);
    FILE *p = popen(cmd, "r");
    char conf[4200] = "";
    if (p == NULL || fgets(conf, sizeof(conf), p) == NULL ||
        fgets(module, sizeof(module), p) == NULL) {
        if (p != NULL)
            pclose(p);
        return -1;
    }
    if (pclose(p) != 0)
        return -1;
    conf[strcspn(conf, "\n")] = '\0';
    module[strcspn(module, "\n")] = '\0';
    setenv("SOFTHSM2_CONF", conf, 1);
    struct minica_err err;
    return minica_rng_init(&rng, &err);
}

static int group_teardown(void **state)
{
    (void)state;
    minica_rng_free(&rng);
    tu_rmtree(dir);
    free(dir);
    return 0;
}

/* signer.h's contract for minica_signer_free (signer.c, on branch signer):
 * the backend releases impl, the caller pub and the struct. */
static void signer_free(struct minica_signer *s)
{
    if (s == NULL)
        return;
    s->ops->free(s);
    mbedtls_pk_free(&s->pub);
    free(s);
}

/* pkcs11:token=minica-test;object=LABEL?module-path=SOFTHSM */
static void uri_for(char *out, size_t size, const char *label)
{
    snprintf(out, size, "pkcs11:token=minica-test;object=%s?module-path=%s", label, module);
}

static void hash_of(mbedtls_md_type_t md, const char *text, unsigned char *hash, size_t *len)
{
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(md);
    assert_non_null(info);
    assert_int_equal(mbedtls_md(info, (const unsigned char *)text, strlen(text), hash), 0);
    *len = mbedtls_md_get_size(info);
}

static void write_file(const char *name, const void *data, size_t len)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* openssl, not mbedTLS, on the same signature: the public key exported
 * as PEM, the hash and the signature in files. */
static int openssl_verifies(struct minica_signer *s, const char *digest, const unsigned char *hash,
                            size_t hash_len, const unsigned char *sig, size_t sig_len)
{
    unsigned char pem[4096];
    assert_int_equal(mbedtls_pk_write_pubkey_pem(&s->pub, pem, sizeof(pem)), 0);
    write_file("pub.pem", pem, strlen((const char *)pem));
    write_file("hash.bin", hash, hash_len);
    write_file("sig.bin", sig, sig_len);
    char cmd[13000];
    snprintf(cmd, sizeof(cmd),
             "openssl pkeyutl -verify -pubin -inkey '%s/pub.pem' -in '%s/hash.bin' "
             "-sigfile '%s/sig.bin' -pkeyopt digest:%s >/dev/null 2>&1",
             dir, dir, dir, digest);
    return system(cmd) == 0;
}

/* Signs one hash of md and checks it with mbedTLS and openssl, and that
 * openssl refuses it once broken. */
static void check_signs(struct minica_signer *s, mbedtls_md_type_t md, const char *digest)
{
    unsigned char hash[64], sig[1024];
    size_t hash_len = 0, sig_len = 0;
    struct minica_err err;
    hash_of(md, "tbsCertificate stand-in", hash, &hash_len);
    int ret = s->ops->sign(s, md, hash, hash_len, sig, sizeof(sig), &sig_len, &err);
    if (ret != 0)
        fail_msg("sign: %s", err.msg);
    assert_int_equal(mbedtls_pk_verify(&s->pub, md, hash, hash_len, sig, sig_len), 0);
    assert_true(openssl_verifies(s, digest, hash, hash_len, sig, sig_len));
    sig[sig_len / 2] ^= 0x01;
    assert_false(openssl_verifies(s, digest, hash, hash_len, sig, sig_len));
}

static struct minica_signer *generate(const char *label, enum minica_key_type type)
{
    char uri[1024];
    uri_for(uri, sizeof(uri), label);
    struct minica_signer *s = NULL;
    struct minica_err err;
    int ret = minica_pkcs11_generate(uri, "1234", type, &rng, &s, &err);
    if (ret != 0)
        fail_msg("generate %s: %s", label, err.msg);
    assert_non_null(s);
    return s;
}

static struct minica_signer *open_ok(const char *uri, const char *pin)
{
    struct minica_signer *s = NULL;
    struct minica_err err;
    int ret = minica_pkcs11_signer_open(uri, pin, &s, &err);
    if (ret != 0)
        fail_msg("open %s: %s", uri, err.msg);
    return s;
}

static void open_fails(const char *uri, const char *pin, int code, const char *want)
{
    struct minica_signer *s = NULL;
    struct minica_err err;
    int ret = minica_pkcs11_signer_open(uri, pin, &s, &err);
    assert_null(s);
    if (ret != code || strstr(err.msg, want) == NULL)
        fail_msg("open %s: want %d \"%s\", got %d \"%s\"", uri, code, want, ret, err.msg);
    assert_null(strchr(err.msg, '\n'));
    print_message("%s\n", err.msg);
    if (pin != NULL)
        assert_null(strstr(err.msg, pin));
}

static void test_generated_p256_signs_sha256(void **state)
{
    (void)state;
    struct minica_signer *s = generate("gen-p256", MINICA_KEY_EC_P256);
    assert_int_equal(mbedtls_pk_get_type(&s->pub), MBEDTLS_PK_ECKEY);
    assert_int_equal(mbedtls_pk_get_bitlen(&s->pub), 256);
    check_signs(s, MBEDTLS_MD_SHA256, "sha256");
    signer_free(s);
    /* and again, opened later as a CA would */
    char uri[1024];
    uri_for(uri, sizeof(uri), "gen-p256");
    s = open_ok(uri, "1234");
    check_signs(s, MBEDTLS_MD_SHA256, "sha256");
    signer_free(s);
}

static void test_generated_p384_signs_sha384(void **state)
{
    (void)state;
    struct minica_signer *s = generate("gen-p384", MINICA_KEY_EC_P384);
    assert_int_equal(mbedtls_pk_get_bitlen(&s->pub), 384);
    check_signs(s, MBEDTLS_MD_SHA384, "sha384");
    signer_free(s);
}

static void test_generated_rsa2048_signs_pkcs1(void **state)
{
    (void)state;
    struct minica_signer *s = generate("gen-rsa", MINICA_KEY_RSA_2048);
    assert_int_equal(mbedtls_pk_get_type(&s->pub), MBEDTLS_PK_RSA);
    assert_int_equal(mbedtls_pk_get_bitlen(&s->pub), 2048);
    check_signs(s, MBEDTLS_MD_SHA256, "sha256");
    check_signs(s, MBEDTLS_MD_SHA384, "sha384");
    check_signs(s, MBEDTLS_MD_SHA512, "sha512");
    signer_free(s);
}

/* The key's attributes as generate promised: never leaves the token. */
static void test_generated_key_is_not_extractable(void **state)
{
    (void)state;
    struct minica_signer *s = generate("gen-check", MINICA_KEY_EC_P256);
    signer_free(s);
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "pkcs11-tool --module '%s' --token-label minica-test --login --pin 1234 "
             "--list-objects --type privkey --label gen-check 2>&1",
             module);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[8192];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "gen-check"));
    assert_non_null(strstr(out, "sign"));
    assert_non_null(strstr(out, "never extractable"));
    assert_non_null(strstr(out, "sensitive"));
}

static void test_generate_refuses_a_label_in_use(void **state)
{
    (void)state;
    struct minica_signer *s = generate("gen-twice", MINICA_KEY_EC_P256);
    signer_free(s);
    char uri[1024];
    uri_for(uri, sizeof(uri), "gen-twice");
    struct minica_err err;
    assert_int_equal(minica_pkcs11_generate(uri, "1234", MINICA_KEY_EC_P256, &rng, NULL, &err),
                     MINICA_EEXIST);
    assert_non_null(strstr(err.msg, "already holds"));
    /* still exactly one key under it */
    s = open_ok(uri, "1234");
    signer_free(s);
}

static void tool_keypair(const char *key_type, const char *label, const char *id, const char *extra)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "pkcs11-tool --module '%s' --token-label minica-test --login --pin 1234 "
             "--keypairgen --key-type %s --label %s --id %s %s >/dev/null 2>&1",
             module, key_type, label, id, extra);
    assert_int_equal(system(cmd), 0);
}

static void test_pkcs11_tool_keys_sign(void **state)
{
    (void)state;
    tool_keypair("EC:prime256v1", "tool-ec", "a1b2", "");
    tool_keypair("rsa:2048", "tool-rsa", "c3d4", "");
    char uri[1024];
    uri_for(uri, sizeof(uri), "tool-ec");
    struct minica_signer *s = open_ok(uri, "1234");
    check_signs(s, MBEDTLS_MD_SHA256, "sha256");
    signer_free(s);
    /* named by id alone */
    snprintf(uri, sizeof(uri), "pkcs11:token=minica-test;id=%%c3%%d4?module-path=%s", module);
    s = open_ok(uri, "1234");
    assert_int_equal(mbedtls_pk_get_type(&s->pub), MBEDTLS_PK_RSA);
    check_signs(s, MBEDTLS_MD_SHA256, "sha256");
    signer_free(s);
}

/* A key that wants the PIN before every C_Sign is refused at open, not
 * at the first certificate. */
static void test_always_authenticate_key_is_refused(void **state)
{
    (void)state;
    tool_keypair("EC:prime256v1", "tool-always", "e5f6", "--always-auth");
    char uri[1024];
    uri_for(uri, sizeof(uri), "tool-always");
    open_fails(uri, "1234", MINICA_EINVAL, "CKA_ALWAYS_AUTHENTICATE");
}

static void test_wrong_pin_is_named(void **state)
{
    (void)state;
    char uri[1024];
    uri_for(uri, sizeof(uri), "gen-p256");
    open_fails(uri, "9999", MINICA_EFORBIDDEN,
               "C_Login: CKR_PIN_INCORRECT: wrong PIN for token minica-test");
}

static void test_missing_pin_is_refused(void **state)
{
    (void)state;
    char uri[1024];
    uri_for(uri, sizeof(uri), "gen-p256");
    open_fails(uri, NULL, MINICA_EFORBIDDEN, "token minica-test needs a PIN");
}

static void test_unknown_object_is_named(void **state)
{
    (void)state;
    char uri[1024];
    uri_for(uri, sizeof(uri), "no-such-key");
    open_fails(uri, "1234", MINICA_ENOENT,
               "token minica-test holds no private key object=no-such-key");
}

static void test_unknown_token_lists_the_tokens(void **state)
{
    (void)state;
    char uri[1024];
    snprintf(uri, sizeof(uri), "pkcs11:token=no-such-token;object=gen-p256?module-path=%s", module);
    open_fails(uri, "1234", MINICA_ENOENT, "no PKCS#11 token matches");
    open_fails(uri, "1234", MINICA_ENOENT, "tokens present: minica-test");
}

static void test_malformed_uri_is_refused(void **state)
{
    (void)state;
    open_fails("pkcs11:token=minica%zztest;object=x", "1234", MINICA_EINVAL,
               "malformed PKCS#11 URI");
    open_fails("https://example.com/key", "1234", MINICA_EINVAL, "malformed PKCS#11 URI");
    /* a misspelt attribute would widen the match */
    open_fails("pkcs11:tokn=minica-test;object=gen-p256", "1234", MINICA_EINVAL,
               "attribute p11-kit does not know");
    char uri[1024];
    snprintf(uri, sizeof(uri), "pkcs11:token=minica-test?module-path=%s", module);
    open_fails(uri, "1234", MINICA_EINVAL, "names no key");
}

static void test_missing_module_is_named(void **state)
{
    (void)state;
    open_fails("pkcs11:token=minica-test;object=gen-p256?module-path=/nonexistent/libnope.so",
               "1234", MINICA_ENOENT, "cannot load PKCS#11 module /nonexistent/libnope.so");
}

/* The PIN in the URI opens the token, and stays out of where. */
static void test_pin_value_is_not_in_where(void **state)
{
    (void)state;
    char uri[1024];
    snprintf(uri, sizeof(uri),
             "pkcs11:token=minica-test;object=gen-p256?pin-value=1234&module-path=%s", module);
    struct minica_signer *s = open_ok(uri, NULL);
    char want[1024];
    uri_for(want, sizeof(want), "gen-p256");
    assert_string_equal(s->where, want);
    assert_null(strstr(s->where, "1234"));
    assert_null(strstr(s->where, "pin"));
    signer_free(s);
    /* nor a wrong one in the message */
    snprintf(uri, sizeof(uri),
             "pkcs11:token=minica-test;object=gen-p256?module-path=%s&pin-value=9876", module);
    struct minica_err err;
    assert_int_equal(minica_pkcs11_signer_open(uri, NULL, &s, &err), MINICA_EFORBIDDEN);
    assert_null(strstr(err.msg, "9876"));
}

static void redacts_to(const char *uri, const char *want)
{
    char out[512];
    struct minica_err err;
    assert_int_equal(minica_pkcs11_uri_redact(uri, out, sizeof(out), &err), 0);
    assert_string_equal(out, want);
}

static void test_redact_drops_only_the_pin(void **state)
{
    (void)state;
    redacts_to("pkcs11:token=t;object=k", "pkcs11:token=t;object=k");
    redacts_to("pkcs11:token=t;object=k?pin-value=1234", "pkcs11:token=t;object=k");
    redacts_to("pkcs11:token=t?pin-value=1234&module-path=/m.so",
               "pkcs11:token=t?module-path=/m.so");
    redacts_to("pkcs11:token=t?module-path=/m.so&pin-value=1234",
               "pkcs11:token=t?module-path=/m.so");
    redacts_to("pkcs11:pin-value=1234;token=t;object=k", "pkcs11:token=t;object=k");
    redacts_to("pkcs11:token=t?pin-source=file:/p&pin-value=x",
               "pkcs11:token=t?pin-source=file:/p");
    char small[16];
    struct minica_err err;
    assert_int_equal(
        minica_pkcs11_uri_redact("pkcs11:token=a-long-token-name", small, sizeof(small), &err),
        MINICA_EINVAL);
}

static void test_pin_source_file_is_checked(void **state)
{
    (void)state;
    char pinfile[4200], link[4200], uri[8192];
    snprintf(pinfile, sizeof(pinfile), "%s/pin", dir);
    snprintf(link, sizeof(link), "%s/pin-link", dir);
    write_file("pin", "1234\n", 5);
    assert_int_equal(chmod(pinfile, 0600), 0);
    snprintf(uri, sizeof(uri),
             "pkcs11:token=minica-test;object=gen-p256?pin-source=file:%s&module-path=%s", pinfile,
             module);
    struct minica_signer *s = open_ok(uri, NULL);
    check_signs(s, MBEDTLS_MD_SHA256, "sha256");
    signer_free(s);
    assert_int_equal(chmod(pinfile, 0640), 0);
    open_fails(uri, NULL, MINICA_EFORBIDDEN, "readable or writable by others");
    assert_int_equal(chmod(pinfile, 0600), 0);
    assert_int_equal(symlink(pinfile, link), 0);
    snprintf(uri, sizeof(uri),
             "pkcs11:token=minica-test;object=gen-p256?pin-source=file:%s&module-path=%s", link,
             module);
    open_fails(uri, NULL, MINICA_EIO, "symbolic link");
}

/* Without module-path, p11-kit's configured modules: Debian's softhsm2
 * registers itself in /usr/share/p11-kit/modules. */
static void test_configured_modules_find_the_token(void **state)
{
    (void)state;
    struct minica_signer *s = open_ok("pkcs11:token=minica-test;object=gen-p256", "1234");
    check_signs(s, MBEDTLS_MD_SHA256, "sha256");
    signer_free(s);
}

/* Root and intermediate in one token: closing one leaves the other
 * logged in and signing. */
static void test_two_signers_share_a_token(void **state)
{
    (void)state;
    char a[1024], b[1024];
    uri_for(a, sizeof(a), "gen-p256");
    uri_for(b, sizeof(b), "gen-p384");
    struct minica_signer *sa = open_ok(a, "1234");
    struct minica_signer *sb = open_ok(b, "1234");
    check_signs(sa, MBEDTLS_MD_SHA256, "sha256");
    signer_free(sa);
    check_signs(sb, MBEDTLS_MD_SHA384, "sha384");
    signer_free(sb);
}

/* X.690 8.3.2: no INTEGER starts with nine equal bits. */
static void assert_minimal_integer(const unsigned char **p, const unsigned char *end)
{
    assert_true(end - *p >= 3);
    assert_int_equal((*p)[0], 0x02);
    size_t len = (*p)[1];
    assert_true(len >= 1 && len <= 49 && (size_t)(end - *p) >= 2 + len);
    const unsigned char *v = *p + 2;
    assert_int_equal(v[0] & 0x80, 0); /* r and s are positive */
    if (len > 1)
        assert_false(v[0] == 0x00 && (v[1] & 0x80) == 0);
    *p = v + len;
}

/* r || s with a top bit set (half of them) and with leading zero bytes
 * (1 in 256): each must come out a minimal DER INTEGER, which OpenSSL
 * insists on. 128 signatures see the first. */
static void test_ecdsa_signatures_are_minimal_der(void **state)
{
    (void)state;
    char uri[1024];
    uri_for(uri, sizeof(uri), "gen-p256");
    struct minica_signer *s = open_ok(uri, "1234");
    unsigned char hash[32], sig[256];
    size_t hash_len, sig_len;
    struct minica_err err;
    hash_of(MBEDTLS_MD_SHA256, "many", hash, &hash_len);
    int padded = 0;
    for (int i = 0; i < 128; i++) {
        assert_int_equal(
            s->ops->sign(s, MBEDTLS_MD_SHA256, hash, hash_len, sig, sizeof(sig), &sig_len, &err),
            0);
        assert_int_equal(sig[0], 0x30);
        assert_int_equal(sig[1], sig_len - 2);
        const unsigned char *p = sig + 2;
        padded += sig[4] == 0x00;
        assert_minimal_integer(&p, sig + sig_len);
        assert_minimal_integer(&p, sig + sig_len);
        assert_ptr_equal(p, sig + sig_len);
        assert_int_equal(
            mbedtls_pk_verify(&s->pub, MBEDTLS_MD_SHA256, hash, hash_len, sig, sig_len), 0);
    }
    assert_true(padded > 0); /* the 00 before a set top bit was needed, and written */
    signer_free(s);
}

/* serve's threads may share one signer, each getting good signatures.
 * SoftHSM2 passes this even without the signer's lock (it serialises
 * itself); the lock is for modules that do not. */
struct signing_thread {
    struct minica_signer *s;
    unsigned char hash[32];
    unsigned char sig[32][128];
    size_t sig_len[32];
    int failed;
};

static void *sign_many(void *arg)
{
    struct signing_thread *t = arg;
    struct minica_err err;
    for (int i = 0; i < 32; i++)
        if (t->s->ops->sign(t->s, MBEDTLS_MD_SHA256, t->hash, sizeof(t->hash), t->sig[i],
                            sizeof(t->sig[i]), &t->sig_len[i], &err) != 0)
            t->failed = 1;
    return NULL;
}

static void test_threads_share_a_signer(void **state)
{
    (void)state;
    char uri[1024];
    uri_for(uri, sizeof(uri), "gen-p256");
    struct minica_signer *s = open_ok(uri, "1234");
    struct signing_thread t[4];
    pthread_t tid[4];
    memset(t, 0, sizeof(t));
    for (int i = 0; i < 4; i++) {
        t[i].s = s;
        size_t len;
        char text[16];
        snprintf(text, sizeof(text), "thread %d", i);
        hash_of(MBEDTLS_MD_SHA256, text, t[i].hash, &len);
        assert_int_equal(pthread_create(&tid[i], NULL, sign_many, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);
    for (int i = 0; i < 4; i++) {
        assert_false(t[i].failed);
        for (int j = 0; j < 32; j++)
            assert_int_equal(mbedtls_pk_verify(&s->pub, MBEDTLS_MD_SHA256, t[i].hash,
                                               sizeof(t[i].hash), t[i].sig[j], t[i].sig_len[j]),
                             0);
    }
    signer_free(s);
}

static void test_sign_refuses_a_hash_of_the_wrong_length(void **state)
{
    (void)state;
    char uri[1024];
    uri_for(uri, sizeof(uri), "gen-p256");
    struct minica_signer *s = open_ok(uri, "1234");
    unsigned char hash[32] = {0}, sig[256];
    size_t sig_len;
    struct minica_err err;
    assert_int_equal(
        s->ops->sign(s, MBEDTLS_MD_SHA384, hash, sizeof(hash), sig, sizeof(sig), &sig_len, &err),
        MINICA_EINVAL);
    assert_int_equal(s->ops->sign(s, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, 8, &sig_len, &err),
                     MINICA_EINVAL);
    signer_free(s);
}

/* In order: the later tests use the keys the first ones make. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_p256_signs_sha256),
        cmocka_unit_test(test_generated_p384_signs_sha384),
        cmocka_unit_test(test_generated_rsa2048_signs_pkcs1),
        cmocka_unit_test(test_generated_key_is_not_extractable),
        cmocka_unit_test(test_generate_refuses_a_label_in_use),
        cmocka_unit_test(test_pkcs11_tool_keys_sign),
        cmocka_unit_test(test_always_authenticate_key_is_refused),
        cmocka_unit_test(test_wrong_pin_is_named),
        cmocka_unit_test(test_missing_pin_is_refused),
        cmocka_unit_test(test_unknown_object_is_named),
        cmocka_unit_test(test_unknown_token_lists_the_tokens),
        cmocka_unit_test(test_malformed_uri_is_refused),
        cmocka_unit_test(test_missing_module_is_named),
        cmocka_unit_test(test_pin_value_is_not_in_where),
        cmocka_unit_test(test_redact_drops_only_the_pin),
        cmocka_unit_test(test_pin_source_file_is_checked),
        cmocka_unit_test(test_configured_modules_find_the_token),
        cmocka_unit_test(test_two_signers_share_a_token),
        cmocka_unit_test(test_ecdsa_signatures_are_minimal_der),
        cmocka_unit_test(test_threads_share_a_signer),
        cmocka_unit_test(test_sign_refuses_a_hash_of_the_wrong_length),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
