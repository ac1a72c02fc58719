/* Where serve's ACME validator dials: the RFC's ports, always. Alone in its
 * file so that the test build can link tests/support/acme_test_ports.c in
 * its place: a release binary has no way to be told to validate on another
 * port, which would let an unprivileged user of the target host pass
 * http-01 or tls-alpn-01 for it. */
#include "serve/acme_validate.h"

void minica_acme_test_ports(struct minica_acme_validate_settings *s)
{
    (void)s;
}
