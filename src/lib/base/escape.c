/* Escaping client text for the audit log and error messages (escape.h). All
 * non-ASCII is escaped, valid UTF-8 too: minica's names are ASCII, and a
 * check for printable UTF-8 would have to know every invisible and
 * reordering code point (U+202E turns a line around on screen). */
#include <stdio.h>
#include <string.h>

#include "minica/escape.h"

/* The escape for byte c into buf (up to 5 bytes with the NUL); its length. */
static size_t escape_byte(unsigned char c, int quoting, char buf[5])
{
    if (c >= 0x20 && c < 0x7f && !(quoting && (c == '"' || c == '\\'))) {
        buf[0] = (char)c;
        buf[1] = '\0';
        return 1;
    }
    switch (c) {
    case '\n':
        memcpy(buf, "\\n", 3);
        return 2;
    case '\r':
        memcpy(buf, "\\r", 3);
        return 2;
    case '\t':
        memcpy(buf, "\\t", 3);
        return 2;
    case '"':
        memcpy(buf, "\\\"", 3);
        return 2;
    case '\\':
        memcpy(buf, "\\\\", 3);
        return 2;
    default:
        snprintf(buf, 5, "\\x%02x", c);
        return 4;
    }
}

static size_t escape(const char *in, size_t max, int quoting, char *out, size_t outlen)
{
    size_t need = 0, used = 0;
    int full = outlen == 0;
    for (size_t i = 0; i < max && in[i] != '\0'; i++) {
        char buf[5];
        size_t n = escape_byte((unsigned char)in[i], quoting, buf);
        need += n;
        if (!full && used + n < outlen) {
            memcpy(out + used, buf, n);
            used += n;
        } else {
            full = 1;
        }
    }
    if (outlen > 0)
        out[used] = '\0';
    return need;
}

size_t minica_escape_text(const char *in, char *out, size_t outlen)
{
    return escape(in ? in : "", (size_t)-1, 0, out, outlen);
}

void minica_quote_text(const char *in, size_t max, char *out, size_t outlen)
{
    if (outlen < 3) {
        if (outlen > 0)
            out[0] = '\0';
        return;
    }
    const char *text = in ? in : "";
    int cut = strnlen(text, max + 1) > max;
    out[0] = '"';
    /* Room for the closing quote and, when cut, the "...". */
    size_t room = outlen - 1 - 1 - (cut ? 3 : 0);
    if (outlen < 6)
        room = outlen - 2;
    escape(text, max, 1, out + 1, room);
    size_t used = strlen(out);
    snprintf(out + used, outlen - used, "\"%s", cut ? "..." : "");
}
