#!/bin/bash
# minica's chains under the strictest verifiers we can run here (issue 13,
# item 1): headless Chromium (its own path builder, Chrome Root Store code,
# local roots from an NSS database) and webpki (the verifier behind rustls),
# both of which refuse an ecdsa-with-SHA256 AlgorithmIdentifier followed by
# NULL, where OpenSSL, GnuTLS, NSS and mbedTLS accept it. The encoding itself
# is test_signature_encoding.sh; this is what a browser or a Rust client says.
# Controls keep the harness honest: a chain OpenSSL made, and minica's own
# chain re-signed by OpenSSL with the same keys and extensions, must pass; a
# chain whose root is not trusted must fail.

# Chromium calls Google at start (component updates, network time, accounts)
# whatever its flags say, so it runs in a network namespace of its own that
# holds only loopback: nothing can leave this machine. Done before common.sh,
# whose temp dir and exit trap belong to the process that stays.
if [ -z "${MINICA_STRICT_NETNS:-}" ] && unshare --net true 2>/dev/null; then
    MINICA_STRICT_NETNS=1 exec unshare --net bash "$0" "$@"
fi
[ -n "${MINICA_STRICT_NETNS:-}" ] && ip link set lo up

source "$SRCDIR/tests/integration/lib/common.sh"
source "$SRCDIR/tests/integration/lib/strict.sh"

if [ -n "${MINICA_STRICT_NETNS:-}" ]; then
    pass "running in a network namespace with loopback only"
else
    echo "# no network namespace (unshare --net failed): Chromium's own requests go to ~NOTFOUND only"
fi

# --- helpers ---------------------------------------------------------------------
# resign CADIR LEAF LEAFKEY OUT: OUT.int.crt and OUT.leaf.crt, the CA's
# intermediate and LEAF signed again by OpenSSL with the same keys, names and
# extensions. OpenSSL writes ecdsa-with-SHA256 without parameters, so a chain
# that passes this way and fails minica's way fails for its encoding alone.
resign() {
    local ca=$1 leaf=$2 key=$3 out=$4
    openssl x509 -x509toreq -in "$ca/intermediate.crt" -key "$ca/intermediate.key" \
        -copy_extensions copyall -out "$out.int.req" &&
        openssl x509 -req -in "$out.int.req" -CA "$ca/root.crt" -CAkey "$ca/root.key" \
            -copy_extensions copyall -set_serial "0x$(openssl rand -hex 8)" -days 30 \
            -out "$out.int.crt" &&
        openssl x509 -x509toreq -in "$leaf" -key "$key" -copy_extensions copyall -out "$out.leaf.req" &&
        openssl x509 -req -in "$out.leaf.req" -CA "$out.int.crt" -CAkey "$ca/intermediate.key" \
            -copy_extensions copyall -set_serial "0x$(openssl rand -hex 8)" -days 7 \
            -out "$out.leaf.crt"
} 2>/dev/null

# --- the CAs and chains -----------------------------------------------------------
P256=$T/p256
P384=$T/p384
RSA=$T/rsa
"$MINICA" init --dir "$P256" --name strict-p256 >/dev/null || fail "init the P-256 CA"
"$MINICA" init --dir "$P384" --name strict-p384 --key-type ec-p384 >/dev/null || fail "init the P-384 CA"
"$MINICA" init --dir "$RSA" --name strict-rsa --key-type rsa-2048 >/dev/null || fail "init the RSA CA"
"$MINICA" issue web.p256.test --dir "$P256" --out "$T/out" >/dev/null || fail "issue web.p256.test"
"$MINICA" issue client.p256.test --usage client --dir "$P256" --out "$T/out" >/dev/null ||
    fail "issue client.p256.test"
"$MINICA" issue web.p384.test --dir "$P384" --out "$T/out" >/dev/null || fail "issue web.p384.test"
"$MINICA" issue web.rsa.test --key-type ec-p256 --dir "$RSA" --out "$T/out" >/dev/null ||
    fail "issue web.rsa.test"
check "minica's P-256 chain re-signed by OpenSSL" resign "$P256" "$T/out/web.p256.test.crt" \
    "$T/out/web.p256.test.key" "$T/re"
check "OpenSSL control chain (trusted root)" ossl_chain "$T/ctl" ctl.test
check "OpenSSL control chain (untrusted root)" ossl_chain "$T/untrusted" untrusted.test

# minica serve with a DNS name for its own certificate, and a leaf it issues.
SERVE_PID=
for _ in 1 2 3; do
    SPORT=$(browser_port)
    "$MINICA" serve --dir "$P256" --listen "127.0.0.1:$SPORT" --san ca.p256.test 2>"$T/serve.log" &
    SERVE_PID=$!
    for _ in $(seq 1 100); do
        [ "$(http_code "https://127.0.0.1:$SPORT/v1/health" -k)" = 200 ] && break 2
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill "$SERVE_PID" 2>/dev/null
    SERVE_PID=
done
[ -n "$SERVE_PID" ] && track_pid "$SERVE_PID"
check "minica serve is up" test -n "$SERVE_PID"
TOK=$("$MINICA" token tok.p256.test --dir "$P256")
run "$MINICA" issue tok.p256.test --ca-url "https://127.0.0.1:$SPORT" --root "$P256/root.crt" \
    --token "$TOK" --out "$T/out"
expect_ok "token enrollment through serve"
openssl s_client -connect "127.0.0.1:$SPORT" -servername ca.p256.test -showcerts </dev/null 2>/dev/null |
    sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' |
    awk -v p="$T/wire" '/-----BEGIN/ { n++ } n { print > (p "." n ".pem") }'
check "serve sends its certificate and the intermediate" test -s "$T/wire.1.pem" -a -s "$T/wire.2.pem"

# --- Chromium -------------------------------------------------------------------------
if chromium_ready; then
    trust "$T/ctl/root.crt" ctl
    trust "$P256/root.crt" strict-p256
    trust "$P384/root.crt" strict-p384
    trust "$RSA/root.crt" strict-rsa
    check "the NSS database holds the four roots, trusted for TLS servers" test \
        "$(certutil -L -d "sql:$HOME/.pki/nssdb" | grep -c ' C,,')" = 4

    tls_serve "$T/ctl/leaf.crt" "$T/ctl/root.crt" "$T/ctl/leaf.key"
    expect_browse "control: OpenSSL chain under a trusted root" ok ctl.test "$port"
    tls_serve "$T/untrusted/leaf.crt" "$T/untrusted/root.crt" "$T/untrusted/leaf.key"
    expect_browse "control: OpenSSL chain under an untrusted root is refused" \
        net::ERR_CERT_AUTHORITY_INVALID untrusted.test "$port"
    tls_serve "$T/re.leaf.crt" "$T/re.int.crt" "$T/out/web.p256.test.key"
    expect_browse "control: minica's keys and extensions, signed by OpenSSL" ok web.p256.test "$port"
    tls_serve "$T/out/web.p256.test.crt" "$P256/intermediate.crt" "$T/out/web.p256.test.key"
    expect_browse "minica P-256 CA: leaf chain" ok web.p256.test "$port"
    tls_serve "$T/out/tok.p256.test.crt" "$P256/intermediate.crt" "$T/out/tok.p256.test.key"
    expect_browse "minica P-256 CA: leaf issued through serve (token)" ok tok.p256.test "$port"
    expect_browse "minica serve's own certificate" ok ca.p256.test "$SPORT" v1/health '"status"'
    tls_serve "$T/out/web.p384.test.crt" "$P384/intermediate.crt" "$T/out/web.p384.test.key"
    expect_browse "minica P-384 CA: leaf chain" ok web.p384.test "$port"
    tls_serve "$T/out/web.rsa.test.crt" "$RSA/intermediate.crt" "$T/out/web.rsa.test.key"
    expect_browse "minica RSA CA: leaf chain" ok web.rsa.test "$port"
else
    fail "Chromium: chromium and certutil (packages chromium, libnss3-tools) are needed: scripts/install-deps"
fi

# --- webpki -------------------------------------------------------------------------
if webpki_ready; then
    pass "webpki verifier built offline from Debian's crates"
    webpki_expect "webpki control: OpenSSL chain" ok server "$T/ctl/root.crt" "$T/ctl/leaf.crt" --name ctl.test
    webpki_expect "webpki control: the wrong root is refused" UnknownIssuer server "$T/ctl/root.crt" \
        "$T/untrusted/leaf.crt" --name untrusted.test
    webpki_expect "webpki control: the wrong name is refused" CertNotValidForName server \
        "$T/ctl/root.crt" "$T/ctl/leaf.crt" --name other.test
    webpki_expect "webpki control: minica's keys and extensions, signed by OpenSSL" ok server \
        "$P256/root.crt" "$T/re.leaf.crt" "$T/re.int.crt" --name web.p256.test
    webpki_expect "webpki: minica P-256 server leaf" ok server "$P256/root.crt" \
        "$T/out/web.p256.test.crt" "$P256/intermediate.crt" --name web.p256.test
    webpki_expect "webpki: minica P-256 client leaf" ok client "$P256/root.crt" \
        "$T/out/client.p256.test.crt" "$P256/intermediate.crt"
    webpki_expect "webpki: leaf issued through serve (token)" ok server "$P256/root.crt" \
        "$T/out/tok.p256.test.crt" "$P256/intermediate.crt" --name tok.p256.test
    webpki_expect "webpki: serve's own certificate, as sent" ok server "$P256/root.crt" \
        "$T/wire.1.pem" "$T/wire.2.pem" --name ca.p256.test
    webpki_expect "webpki: minica P-384 server leaf" ok server "$P384/root.crt" \
        "$T/out/web.p384.test.crt" "$P384/intermediate.crt" --name web.p384.test
    webpki_expect "webpki: minica RSA CA server leaf" ok server "$RSA/root.crt" \
        "$T/out/web.rsa.test.crt" "$RSA/intermediate.crt" --name web.rsa.test
else
    fail "webpki verifier: cannot build it offline (packages cargo, librust-webpki-dev: scripts/install-deps): $(tail -n 3 "$T/cargo.log" 2>/dev/null | tr '\n' ' ')"
fi

[ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" && wait "$SERVE_PID"
done_testing
