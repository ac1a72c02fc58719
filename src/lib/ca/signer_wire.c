/* Encoding and decoding of the signer's messages (signer_wire.h). The
 * decoders are the first thing the signer process runs on bytes from a
 * network process that may be compromised: every length is checked
 * against what is left before it is used, and anything but exactly one
 * well-formed message is refused. Not the socket, not the TBS checks. */
#include <string.h>

#include "ca/signer_wire.h"

static const unsigned char magic[4] = {'M', 'C', 'S', '1'};

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static size_t tbs_max(int profile)
{
    switch (profile) {
    case MINICA_WIRE_LEAF:
        return MINICA_WIRE_LEAF_TBS_MAX;
    case MINICA_WIRE_CRL:
        return MINICA_WIRE_CRL_TBS_MAX;
    default:
        return 0;
    }
}

static int check_header(const unsigned char *msg, size_t len, size_t header, const char *what,
                        struct minica_err *err)
{
    if (len < header)
        return minica_seterr(err, MINICA_EINVAL, "signer %s: %zu bytes, shorter than a header",
                             what, len);
    if (memcmp(msg, magic, sizeof(magic)) != 0)
        return minica_seterr(err, MINICA_EINVAL, "signer %s: not a minica signer message", what);
    if (msg[4] != MINICA_WIRE_VERSION)
        return minica_seterr(err, MINICA_EINVAL, "signer %s: version %u, expected %u", what, msg[4],
                             MINICA_WIRE_VERSION);
    return MINICA_OK;
}

size_t minica_wire_request_size(size_t tbs_len)
{
    return MINICA_WIRE_REQUEST_HEADER + tbs_len;
}

int minica_wire_encode_request(const struct minica_wire_request *req, unsigned char *buf,
                               size_t size, size_t *len, struct minica_err *err)
{
    size_t max = tbs_max((int)req->profile);
    if (max == 0)
        return minica_seterr(err, MINICA_EINVAL, "signer request: unknown profile %d",
                             (int)req->profile);
    if (req->tbs_len == 0 || req->tbs_len > max)
        return minica_seterr(err, MINICA_EINVAL, "signer request: a TBS of %zu bytes (1 to %zu)",
                             req->tbs_len, max);
    size_t need = minica_wire_request_size(req->tbs_len);
    if (size < need)
        return minica_seterr(err, MINICA_EINVAL, "signer request: buffer too small");
    memcpy(buf, magic, sizeof(magic));
    buf[4] = MINICA_WIRE_VERSION;
    put_u32(buf + 5, req->id);
    buf[9] = (unsigned char)req->profile;
    put_u32(buf + 10, (uint32_t)req->tbs_len);
    memcpy(buf + MINICA_WIRE_REQUEST_HEADER, req->tbs, req->tbs_len);
    *len = need;
    return MINICA_OK;
}

int minica_wire_decode_request(const unsigned char *msg, size_t len,
                               struct minica_wire_request *out, struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    int ret = check_header(msg, len, MINICA_WIRE_REQUEST_HEADER, "request", err);
    if (ret != 0)
        return ret;
    size_t max = tbs_max(msg[9]);
    if (max == 0)
        return minica_seterr(err, MINICA_EINVAL, "signer request: unknown profile %u", msg[9]);
    uint32_t tbs_len = get_u32(msg + 10);
    if (tbs_len == 0 || tbs_len > max)
        return minica_seterr(err, MINICA_EINVAL, "signer request: a TBS of %lu bytes (1 to %zu)",
                             (unsigned long)tbs_len, max);
    /* Compared as a subtraction: the header is there, so it cannot wrap. */
    if (len - MINICA_WIRE_REQUEST_HEADER != tbs_len)
        return minica_seterr(err, MINICA_EINVAL,
                             "signer request: %zu bytes after the header, the TBS says %lu",
                             len - MINICA_WIRE_REQUEST_HEADER, (unsigned long)tbs_len);
    out->id = get_u32(msg + 5);
    out->profile = (enum minica_wire_profile)msg[9];
    out->tbs = msg + MINICA_WIRE_REQUEST_HEADER;
    out->tbs_len = tbs_len;
    return MINICA_OK;
}

static int printable(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e;
}

int minica_wire_encode_response(const struct minica_wire_response *resp, unsigned char *buf,
                                size_t size, size_t *len, struct minica_err *err)
{
    const unsigned char *body;
    size_t body_len;
    if (resp->status == MINICA_WIRE_OK) {
        if (resp->sig_len == 0 || resp->sig_len > MINICA_WIRE_SIG_MAX)
            return minica_seterr(err, MINICA_EINVAL,
                                 "signer response: a signature of %zu bytes (1 to %d)",
                                 resp->sig_len, MINICA_WIRE_SIG_MAX);
        body = resp->sig;
        body_len = resp->sig_len;
    } else if (resp->status == MINICA_WIRE_REFUSED || resp->status == MINICA_WIRE_FAILED) {
        body = (const unsigned char *)resp->reason;
        body_len = strnlen(resp->reason, MINICA_WIRE_REASON_MAX);
        if (body_len == 0) {
            body = (const unsigned char *)"no reason given";
            body_len = strlen((const char *)body);
        }
    } else {
        return minica_seterr(err, MINICA_EINVAL, "signer response: unknown status %d",
                             (int)resp->status);
    }
    if (size < MINICA_WIRE_RESPONSE_HEADER + body_len)
        return minica_seterr(err, MINICA_EINVAL, "signer response: buffer too small");
    memcpy(buf, magic, sizeof(magic));
    buf[4] = MINICA_WIRE_VERSION;
    put_u32(buf + 5, resp->id);
    buf[9] = (unsigned char)resp->status;
    buf[10] = (unsigned char)(body_len >> 8);
    buf[11] = (unsigned char)body_len;
    unsigned char *p = buf + MINICA_WIRE_RESPONSE_HEADER;
    memcpy(p, body, body_len);
    if (resp->status != MINICA_WIRE_OK)
        for (size_t i = 0; i < body_len; i++)
            if (!printable(p[i]))
                p[i] = '?';
    *len = MINICA_WIRE_RESPONSE_HEADER + body_len;
    return MINICA_OK;
}

int minica_wire_decode_response(const unsigned char *msg, size_t len,
                                struct minica_wire_response *out, struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    int ret = check_header(msg, len, MINICA_WIRE_RESPONSE_HEADER, "response", err);
    if (ret != 0)
        return ret;
    unsigned status = msg[9];
    size_t max = status == MINICA_WIRE_OK ? MINICA_WIRE_SIG_MAX
                 : status == MINICA_WIRE_REFUSED || status == MINICA_WIRE_FAILED
                     ? MINICA_WIRE_REASON_MAX
                     : 0;
    if (max == 0)
        return minica_seterr(err, MINICA_EINVAL, "signer response: unknown status %u", status);
    size_t body_len = (size_t)msg[10] << 8 | msg[11];
    if (body_len == 0 || body_len > max)
        return minica_seterr(err, MINICA_EINVAL, "signer response: a body of %zu bytes (1 to %zu)",
                             body_len, max);
    if (len - MINICA_WIRE_RESPONSE_HEADER != body_len)
        return minica_seterr(err, MINICA_EINVAL,
                             "signer response: %zu bytes after the header, the body says %zu",
                             len - MINICA_WIRE_RESPONSE_HEADER, body_len);
    const unsigned char *body = msg + MINICA_WIRE_RESPONSE_HEADER;
    if (status == MINICA_WIRE_OK) {
        out->sig = body;
        out->sig_len = body_len;
    } else {
        for (size_t i = 0; i < body_len; i++)
            if (!printable(body[i]))
                return minica_seterr(err, MINICA_EINVAL,
                                     "signer response: the reason is not one printable line");
        memcpy(out->reason, body, body_len);
        out->reason[body_len] = '\0';
    }
    out->id = get_u32(msg + 5);
    out->status = (enum minica_wire_status)status;
    return MINICA_OK;
}
