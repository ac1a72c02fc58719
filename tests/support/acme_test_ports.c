/* The test build's ACME validation ports: MINICA_ACME_TEST_HTTP_PORT and
 * MINICA_ACME_TEST_TLS_PORT move where `minica serve` dials for http-01
 * (and http redirects) and tls-alpn-01, so certbot --http-01-port or lego
 * on loopback can be validated without root. Linked into the unit tests
 * and minica-fakeclock in place of src/lib/serve/acme_ports.c, never into
 * the installed binary. */
#include <stdlib.h>

#include "serve/acme_validate.h"

static void port_from(const char *var, unsigned *port)
{
    const char *v = getenv(var);
    if (v == NULL || *v == '\0')
        return;
    char *end;
    long p = strtol(v, &end, 10);
    if (*end == '\0' && p >= 1 && p <= 65535)
        *port = (unsigned)p;
}

void minica_acme_test_ports(struct minica_acme_validate_settings *s)
{
    port_from("MINICA_ACME_TEST_HTTP_PORT", &s->http_port);
    port_from("MINICA_ACME_TEST_TLS_PORT", &s->tls_port);
}
