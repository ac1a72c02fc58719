/* libFuzzer harness for minica's DER code: the subjectAltName and
 * nameConstraints decoders on raw bytes, and the SAN and nameConstraints
 * encoders on names taken from the input (one per line), each read back
 * with mbedTLS's ASN.1 parser (and nameConstraints with its decoder) and,
 * when the first byte is odd, the SAN inside a signed certificate read back
 * with mbedtls_x509_crt_parse_der. Encoders must never write what the
 * parsers see differently. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/x509_crt.h>

#include "ca/ca_internal.h"
#include "fuzz_common.h"
#include "minica/constraints.h"
#include "minica/der.h"
#include "minica/issue.h"
#include "minica/names.h"

#define GN_DNS (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)
#define GN_IP (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)
#define MAX_SUBTREES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct minica_rng rng;
static struct minica_signer *signer;
static struct minica_scratch scratch;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct minica_err err;
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    minica_scratch_init(&scratch);
    if (minica_rng_init(&rng, &err) != 0 ||
        minica_key_generate(&key, MINICA_KEY_EC_P256, &rng, &err) != 0 ||
        minica_signer_from_pk(&key, "fuzz", &rng, &signer, &err) != 0) {
        fprintf(stderr, "fuzz_der: %s\n", err.msg);
        abort();
    }
    return 0;
}

/* Expects one GeneralName at *p with this tag and value. */
static void expect_general_name(unsigned char **p, const unsigned char *end, int tag,
                                const unsigned char *value, size_t len)
{
    size_t l;
    FUZZ_ASSERT(mbedtls_asn1_get_tag(p, end, &l, tag) == 0);
    FUZZ_ASSERT(l == len && memcmp(*p, value, len) == 0);
    *p += l;
}

static void check_san(const struct minica_name *names, size_t n)
{
    static unsigned char buf[64 * 1024];
    static char decoded[64 * 1024], expected[64 * 1024];
    unsigned char *der;
    size_t len;
    struct minica_err err;
    FUZZ_ASSERT(minica_der_san(names, n, buf, sizeof(buf), &der, &len, &err) == 0);
    FUZZ_ASSERT(der >= buf && der + len == buf + sizeof(buf));

    /* mbedTLS's ASN.1 reader sees exactly the names, in order. */
    unsigned char *p = der;
    const unsigned char *end = der + len;
    size_t seq;
    FUZZ_ASSERT(
        mbedtls_asn1_get_tag(&p, end, &seq, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) == 0);
    FUZZ_ASSERT(p + seq == end);
    for (size_t i = 0; i < n; i++) {
        if (names[i].kind == MINICA_NAME_IP)
            expect_general_name(&p, end, GN_IP, names[i].ip, names[i].ip_len);
        else
            expect_general_name(&p, end, GN_DNS, (const unsigned char *)names[i].text,
                                strlen(names[i].text));
    }
    FUZZ_ASSERT(p == end);

    /* Our own decoder gives back the canonical text. */
    size_t used = 0;
    expected[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(expected + used, sizeof(expected) - used, "%s%s", i ? "," : "",
                                 names[i].text);
    FUZZ_ASSERT(minica_der_parse_san(der, len, decoded, sizeof(decoded), &err) == 0);
    FUZZ_ASSERT(strcmp(decoded, expected) == 0);
}

static void check_san_in_certificate(const struct minica_name *names, size_t n)
{
    struct minica_tbs tbs;
    memset(&tbs, 0, sizeof(tbs));
    tbs.subject = "CN=fuzz";
    tbs.issuer = "CN=fuzz";
    tbs.subject_key = &signer->pub;
    tbs.signer = signer;
    tbs.serial[15] = 1;
    tbs.not_before = 1700000000;
    tbs.not_after = 1800000000;
    tbs.pathlen = -1;
    tbs.key_usage = MINICA_KU_DIGITAL_SIGNATURE;
    tbs.server_auth = 1;
    tbs.sans = names;
    tbs.n_sans = n;
    unsigned char *der = NULL;
    size_t len = 0;
    struct minica_err err;
    FUZZ_ASSERT(minica_sign_cert(&tbs, &scratch, &rng, &der, &len, &err) == 0);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    FUZZ_ASSERT(mbedtls_x509_crt_parse_der(&crt, der, len) == 0);
    const mbedtls_x509_sequence *s = &crt.subject_alt_names;
    for (size_t i = 0; i < n; i++, s = s->next) {
        FUZZ_ASSERT(s != NULL);
        if (names[i].kind == MINICA_NAME_IP) {
            FUZZ_ASSERT(s->buf.tag == GN_IP && s->buf.len == names[i].ip_len);
            FUZZ_ASSERT(memcmp(s->buf.p, names[i].ip, names[i].ip_len) == 0);
        } else {
            FUZZ_ASSERT(s->buf.tag == GN_DNS && s->buf.len == strlen(names[i].text));
            FUZZ_ASSERT(memcmp(s->buf.p, names[i].text, s->buf.len) == 0);
        }
    }
    FUZZ_ASSERT(s == NULL || s->buf.p == NULL);
    mbedtls_x509_crt_free(&crt);
    free(der);
}

static void check_name_constraints(const char (*dns)[MINICA_NAME_MAX + 1], size_t n_dns,
                                   const struct minica_cidr *ips, size_t n_ips)
{
    static unsigned char buf[64 * 1024];
    static struct minica_name_constraints nc, back;
    unsigned char *der;
    size_t len, l;
    struct minica_err err;
    memset(&nc, 0, sizeof(nc));
    memcpy(nc.permit_dns.name, dns, n_dns * sizeof(dns[0]));
    nc.permit_dns.n = n_dns;
    memcpy(nc.permit_ip.cidr, ips, n_ips * sizeof(ips[0]));
    nc.permit_ip.n = n_ips;
    FUZZ_ASSERT(minica_constraints_encode(&nc, buf, sizeof(buf), &der, &len, &err) == 0);
    FUZZ_ASSERT(minica_constraints_decode(der, len, &back, &err) == 0);
    FUZZ_ASSERT(back.permit_dns.n == n_dns && back.permit_ip.n == n_ips && back.n_other == 0);
    for (size_t i = 0; i < n_dns; i++)
        FUZZ_ASSERT(strcmp(back.permit_dns.name[i], dns[i]) == 0);
    for (size_t i = 0; i < n_ips; i++)
        FUZZ_ASSERT(strcmp(back.permit_ip.cidr[i].text, ips[i].text) == 0);
    unsigned char *p = der;
    const unsigned char *end = der + len;
    FUZZ_ASSERT(
        mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) == 0 &&
        p + l == end);
    FUZZ_ASSERT(
        mbedtls_asn1_get_tag(&p, end, &l,
                             MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0) == 0 &&
        p + l == end);
    for (size_t i = 0; i < n_dns + n_ips; i++) {
        FUZZ_ASSERT(mbedtls_asn1_get_tag(&p, end, &l,
                                         MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) == 0);
        const unsigned char *subtree_end = p + l;
        if (i < n_dns) {
            expect_general_name(&p, subtree_end, GN_DNS, (const unsigned char *)dns[i],
                                strlen(dns[i]));
        } else {
            const struct minica_cidr *c = &ips[i - n_dns];
            FUZZ_ASSERT(mbedtls_asn1_get_tag(&p, subtree_end, &l, GN_IP) == 0);
            FUZZ_ASSERT(l == 2 * c->addr_len && memcmp(p, c->addr, c->addr_len) == 0);
            /* The mask has exactly prefix leading one bits. */
            unsigned ones = 0;
            for (size_t b = 0; b < c->addr_len * 8; b++)
                if (p[c->addr_len + b / 8] & (0x80 >> (b % 8)))
                    ones++;
            FUZZ_ASSERT(ones == c->prefix);
            p += l;
        }
        FUZZ_ASSERT(p == subtree_end); /* no minimum/maximum (RFC 5280 4.2.1.10) */
    }
    FUZZ_ASSERT(p == end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char decoded[4096];
    static struct minica_name names[MINICA_MAX_SANS];
    static char dns[MAX_SUBTREES][MINICA_NAME_MAX + 1];
    static struct minica_cidr ips[MAX_SUBTREES];
    struct minica_err err;
    if (size == 0 || size > 32 * 1024)
        return 0;

    /* The decoder on the raw bytes: what it accepts are valid names. */
    if (minica_der_parse_san(data, size, decoded, sizeof(decoded), &err) == 0) {
        char *save = NULL;
        struct minica_name name;
        for (char *t = strtok_r(decoded, ",", &save); t; t = strtok_r(NULL, ",", &save))
            FUZZ_ASSERT(minica_name_parse(t, &name, &err) == 0);
    }

    static struct minica_name_constraints nc;
    (void)minica_constraints_decode(data, size, &nc, &err);

    /* The encoders on the names in the text after the first byte. */
    char *text = fuzz_cstr(data + 1, size - 1);
    size_t n = 0, n_dns = 0, n_ips = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (n < MINICA_MAX_SANS && minica_name_parse(line, &names[n], &err) == 0)
            n++;
        if (n_dns < MAX_SUBTREES &&
            minica_dns_suffix_parse(line, dns[n_dns], sizeof(dns[0]), &err) == 0)
            n_dns++;
        if (n_ips < MAX_SUBTREES && minica_cidr_parse(line, &ips[n_ips], &err) == 0)
            n_ips++;
    }
    if (n > 0) {
        check_san(names, n);
        if (data[0] & 1)
            check_san_in_certificate(names, n);
    }
    if (n_dns + n_ips > 0)
        check_name_constraints(dns, n_dns, ips, n_ips);
    free(text);
    return 0;
}
