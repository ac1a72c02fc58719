/* Client text made safe to store and print: a CSR's common name or a
 * client's reason reaches the audit log and error messages, and `minica log`
 * prints them on a terminal. Escaped text holds printable ASCII only, so it
 * can neither start a line nor send a terminal escape. Not a general
 * quoting library: one line of text in, one line out. */
#ifndef MINICA_ESCAPE_H
#define MINICA_ESCAPE_H

#include <stddef.h>

/* Copies in to out with every byte outside printable ASCII (0x20-0x7e)
 * escaped: \n, \r and \t by name, the rest (controls, DEL, and every byte
 * from 0x80 up, UTF-8 included) as \xNN. A backslash stays as it is, so
 * escaped text escapes to itself and text escaped when it was stored is
 * not escaped twice when printed. out is always terminated (outlen > 0);
 * an escape that does not fit is left out whole. Returns the length the
 * whole result needs, without the terminator, as snprintf does: at most
 * 4 * strlen(in). */
size_t minica_escape_text(const char *in, char *out, size_t outlen);

/* in as data: in double quotes, escaped as above and with \" and \\, so the
 * text cannot end the quotes or pass for an escape. At most max bytes of in
 * (then "..." after the closing quote). Needs at most 4 * max + 6 bytes. */
void minica_quote_text(const char *in, size_t max, char *out, size_t outlen);

#endif
