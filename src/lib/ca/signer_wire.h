/* The messages between serve's network process and its signer process
 * (issue 18): one request "sign this TBS for this profile", one response
 * carrying the signature or a one-line reason. A fixed binary layout, one
 * message per SOCK_SEQPACKET read; these functions only encode and decode
 * buffers (the socket is the caller's). What the signer checks in a TBS
 * before signing it is signer_check.h. Internal to src/lib/ca.
 *
 * request  := "MCS1" version:u8 id:u32 profile:u8 tbs_len:u32 tbs[tbs_len]
 * response := "MCS1" version:u8 id:u32 status:u8 body_len:u16 body[body_len]
 * Integers are big-endian; body is the signature (status ok) or the reason
 * (printable ASCII, no newline). Nothing may follow; no length may be 0. */
#ifndef MINICA_CA_SIGNER_WIRE_H
#define MINICA_CA_SIGNER_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"

#define MINICA_WIRE_VERSION 1
#define MINICA_WIRE_REQUEST_HEADER 14
#define MINICA_WIRE_RESPONSE_HEADER 12
/* Bounds on a TBS: a leaf's names are at most 2 KiB of text
 * (MINICA_SANS_MAX) and its key at most an RSA-4096 one, so minica's
 * largest leaf is under 4 KiB. A CRL entry is 30 to 50 bytes, so 4 MiB is
 * some 100000 revocations. Linux refuses a SOCK_SEQPACKET message larger
 * than the sender's SO_SNDBUF (at most net.core.wmem_max, 208 KiB by
 * default, doubled): the transport must raise it at both ends, or hand a
 * large CRL over otherwise (a memfd). */
#define MINICA_WIRE_LEAF_TBS_MAX (16 * 1024)
#define MINICA_WIRE_CRL_TBS_MAX (4 * 1024 * 1024)
#define MINICA_WIRE_REQUEST_MAX (MINICA_WIRE_REQUEST_HEADER + MINICA_WIRE_CRL_TBS_MAX)
/* An RSA-4096 signature is 512 bytes, an ECDSA P-384 one at most 104. */
#define MINICA_WIRE_SIG_MAX 1024
#define MINICA_WIRE_REASON_MAX 255
#define MINICA_WIRE_RESPONSE_MAX (MINICA_WIRE_RESPONSE_HEADER + MINICA_WIRE_SIG_MAX)

enum minica_wire_profile {
    MINICA_WIRE_LEAF = 1, /* a TBSCertificate of an end-entity certificate */
    MINICA_WIRE_CRL = 2,  /* a TBSCertList */
};

enum minica_wire_status {
    MINICA_WIRE_OK = 0,      /* body: the signature, as X.509 carries it */
    MINICA_WIRE_REFUSED = 1, /* the TBS or the message broke a rule: do not retry */
    MINICA_WIRE_FAILED = 2,  /* the signer could not sign (token gone, ...) */
};

struct minica_wire_request {
    uint32_t id;
    enum minica_wire_profile profile;
    const unsigned char *tbs; /* decoded: points into the message */
    size_t tbs_len;
};

struct minica_wire_response {
    uint32_t id;
    enum minica_wire_status status;
    const unsigned char *sig; /* status ok; decoded: points into the message */
    size_t sig_len;
    char reason[MINICA_WIRE_REASON_MAX + 1]; /* otherwise, NUL-terminated */
};

/* The bytes a request for tbs_len bytes of TBS takes. */
size_t minica_wire_request_size(size_t tbs_len);

/* Into buf (size bytes); *len is what was written. Refuses what decode
 * would refuse (an unknown profile, an empty or oversize TBS). */
int minica_wire_encode_request(const struct minica_wire_request *req, unsigned char *buf,
                               size_t size, size_t *len, struct minica_err *err);
int minica_wire_decode_request(const unsigned char *msg, size_t len,
                               struct minica_wire_request *out, struct minica_err *err);

/* With status ok, resp->sig is sent; otherwise resp->reason, cut to
 * MINICA_WIRE_REASON_MAX bytes and with every byte outside printable
 * ASCII replaced by '?' (it comes from error messages). */
int minica_wire_encode_response(const struct minica_wire_response *resp, unsigned char *buf,
                                size_t size, size_t *len, struct minica_err *err);
int minica_wire_decode_response(const unsigned char *msg, size_t len,
                                struct minica_wire_response *out, struct minica_err *err);

#endif
