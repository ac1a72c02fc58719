/* The in-process half of bench/run: (a) the cost floor, mbedTLS P-256 key
 * generation + leaf signing called directly, and (b) issuance through
 * libminica (key, certificate, committed DB row), plus the sign + verify
 * floor of a served enrollment. Prints milliseconds per operation; bench/run times the
 * whole-process paths. Not a test. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "base/compat.h"
#include "minica/ca.h"
#include "minica/issue.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int gen_p256(mbedtls_pk_context *pk, mbedtls_ctr_drbg_context *drbg)
{
    int ret = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (ret == 0)
        ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk),
                                  mbedtls_ctr_drbg_random, drbg);
    return ret;
}

/* (a) What any P-256 CA must spend per leaf: a key pair and one signature. */
static int bench_floor(int n, double *ms_per_op)
{
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context issuer;
    static unsigned char buf[8192];
    int ret;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&issuer);
    if ((ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0)) != 0 ||
        (ret = gen_p256(&issuer, &drbg)) != 0)
        goto out;
    double start = now_ms();
    for (int i = 0; i < n && ret == 0; i++) {
        mbedtls_pk_context key;
        mbedtls_x509write_cert crt;
        unsigned char serial[16];
        mbedtls_pk_init(&key);
        mbedtls_x509write_crt_init(&crt);
        if ((ret = gen_p256(&key, &drbg)) == 0 &&
            (ret = mbedtls_ctr_drbg_random(&drbg, serial, sizeof(serial))) == 0) {
            serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x01);
            mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
            mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
            mbedtls_x509write_crt_set_subject_key(&crt, &key);
            mbedtls_x509write_crt_set_issuer_key(&crt, &issuer);
            if ((ret = minica_compat_crt_set_serial(&crt, serial, sizeof(serial))) == 0 &&
                (ret = mbedtls_x509write_crt_set_validity(&crt, "20260101000000",
                                                          "20260401000000")) == 0 &&
                (ret = mbedtls_x509write_crt_set_subject_name(&crt, "CN=leaf.bench.svc")) == 0 &&
                (ret = mbedtls_x509write_crt_set_issuer_name(&crt, "CN=bench intermediate")) == 0 &&
                (ret = mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1)) == 0 &&
                (ret = mbedtls_x509write_crt_set_key_usage(
                     &crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) == 0) {
                int len = mbedtls_x509write_crt_der(&crt, buf, sizeof(buf), mbedtls_ctr_drbg_random,
                                                    &drbg);
                ret = len < 0 ? len : 0;
            }
        }
        mbedtls_x509write_crt_free(&crt);
        mbedtls_pk_free(&key);
    }
    *ms_per_op = (now_ms() - start) / n;
out:
    mbedtls_pk_free(&issuer);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    if (ret != 0)
        fprintf(stderr, "minica_bench: floor: mbedTLS error -0x%04x\n", (unsigned)-ret);
    return ret;
}

/* The crypto floor of one token enrollment in `minica serve`: checking the
 * CSR's signature (one ECDSA P-256 verify) and signing the leaf (one sign). */
static int bench_sigver(int n, double *ms_per_op)
{
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context issuer, client;
    unsigned char hash[32], csr_sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE],
        sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t csr_sig_len = 0, sig_len = 0;
    int ret;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&issuer);
    mbedtls_pk_init(&client);
    memset(hash, 0x5a, sizeof(hash));
    if ((ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0)) != 0 ||
        (ret = gen_p256(&issuer, &drbg)) != 0 || (ret = gen_p256(&client, &drbg)) != 0 ||
        (ret = minica_compat_pk_sign(&client, MBEDTLS_MD_SHA256, hash, sizeof(hash), csr_sig,
                                     sizeof(csr_sig), &csr_sig_len, &drbg)) != 0)
        goto out;
    double start = now_ms();
    for (int i = 0; i < n && ret == 0; i++) {
        hash[i % sizeof(hash)] ^= 1; /* a new leaf each time */
        if ((ret = mbedtls_pk_verify(&client, MBEDTLS_MD_SHA256, hash, sizeof(hash), csr_sig,
                                     csr_sig_len)) == MBEDTLS_ERR_ECP_VERIFY_FAILED)
            ret = 0; /* the hash changed; the work is the same */
        if (ret == 0)
            ret = minica_compat_pk_sign(&issuer, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig,
                                        sizeof(sig), &sig_len, &drbg);
    }
    *ms_per_op = (now_ms() - start) / n;
out:
    mbedtls_pk_free(&client);
    mbedtls_pk_free(&issuer);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    if (ret != 0)
        fprintf(stderr, "minica_bench: sign+verify: mbedTLS error -0x%04x\n", (unsigned)-ret);
    return ret;
}

/* (b) The same through libminica: policy, key, signed leaf, committed row, audit. */
static int bench_inproc(const char *dir, int n, double *ms_per_op)
{
    struct minica_ca *ca = NULL;
    struct minica_err err;
    int ret = minica_ca_open(dir, &ca, &err);
    if (ret != 0) {
        fprintf(stderr, "minica_bench: %s\n", err.msg);
        return ret;
    }
    minica_ca_set_actor(ca, "bench", "local");
    double start = now_ms();
    for (int i = 0; i < n && ret == 0; i++) {
        char name[64];
        snprintf(name, sizeof(name), "inproc-%d.bench.internal.svc", i);
        struct minica_issue_request req;
        memset(&req, 0, sizeof(req));
        req.name = name;
        req.key_type = MINICA_KEY_EC_P256;
        struct minica_issued issued;
        ret = minica_ca_issue(ca, &req, &issued, &err);
        if (ret != 0)
            fprintf(stderr, "minica_bench: %s\n", err.msg);
        else
            minica_issued_free(&issued);
    }
    *ms_per_op = (now_ms() - start) / n;
    minica_ca_close(ca);
    return ret;
}

/* Context for (b): one 4 KiB write + fdatasync in the state directory, what
 * one SQLite WAL commit costs this file system at this moment. */
static int bench_fsync(const char *dir, int n, double *ms_per_op)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/bench-fsync.tmp", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    static char page[4096];
    double start = now_ms();
    for (int i = 0; i < n; i++) {
        if (pwrite(fd, page, sizeof(page), (off_t)i * (off_t)sizeof(page)) < 0 ||
            fdatasync(fd) != 0) {
            close(fd);
            unlink(path);
            return -1;
        }
    }
    *ms_per_op = (now_ms() - start) / n;
    close(fd);
    unlink(path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: minica_bench STATE_DIR N\n"
                        "  prints floor_ms and inproc_ms per issuance (EC P-256), fsync_ms,\n"
                        "  and sigver_ms (one P-256 verify + one sign)\n");
        return 2;
    }
    int n = atoi(argv[2]);
    if (n <= 0)
        return 2;
    double floor_ms = 0, inproc_ms = 0;
    /* Interleave the two in rounds so load changes on a shared machine hit both. */
    double f_sum = 0, i_sum = 0;
    int rounds = 4, per = n / rounds > 0 ? n / rounds : 1;
    for (int r = 0; r < rounds; r++) {
        if (bench_floor(per, &floor_ms) != 0 || bench_inproc(argv[1], per, &inproc_ms) != 0)
            return 1;
        f_sum += floor_ms;
        i_sum += inproc_ms;
    }
    double sigver_ms = 0;
    if (bench_sigver(n, &sigver_ms) != 0)
        return 1;
    double fsync_ms = 0;
    if (bench_fsync(argv[1], 50, &fsync_ms) != 0)
        fsync_ms = -1;
    printf("floor_ms=%.3f inproc_ms=%.3f fsync_ms=%.3f sigver_ms=%.3f\n", f_sum / rounds,
           i_sum / rounds, fsync_ms, sigver_ms);
    return 0;
}
