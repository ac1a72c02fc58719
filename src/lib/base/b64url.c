/* Strict base64url (see b64url.h). mbedTLS's base64 speaks only the
 * padded '+' '/' alphabet and tolerates whitespace, so JOSE gets its own. */
#include "base/b64url.h"

#include <stdint.h>

#include "minica/error.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t minica_b64url_encoded_len(size_t len)
{
    return len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
}

size_t minica_b64url_decoded_max(size_t len)
{
    return len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
}

int minica_b64url_encode(const unsigned char *in, size_t len, char *out, size_t out_size)
{
    if (out_size < minica_b64url_encoded_len(len) + 1)
        return MINICA_EINVAL;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return MINICA_OK;
}

static int value_of(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int minica_b64url_decode(const char *text, size_t len, unsigned char *out, size_t out_size,
                         size_t *out_len)
{
    *out_len = 0;
    if (len % 4 == 1)
        return MINICA_EINVAL;
    size_t need = minica_b64url_decoded_max(len);
    if (need > out_size)
        return MINICA_EINVAL;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = value_of((unsigned char)text[i]);
        if (v < 0)
            return MINICA_EINVAL;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* The 2 or 4 bits left over must be zero: "QQ" is 'A', "QR" must not be. */
    if (acc != 0)
        return MINICA_EINVAL;
    *out_len = o;
    return MINICA_OK;
}
