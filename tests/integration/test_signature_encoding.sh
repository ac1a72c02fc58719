#!/bin/bash
# The DER encoding of every signature minica makes (issue 13, item 1): in
# each AlgorithmIdentifier of a certificate, CRL or CSR, ecdsa-with-SHA256/384
# has no parameters (RFC 5758 3.2: "MUST be absent") and sha*WithRSAEncryption
# has a NULL (RFC 4055 5, RFC 8017 A.2.4). OpenSSL, GnuTLS, NSS and mbedTLS
# accept either, so the other tests cannot see it; Chromium and webpki refuse
# the chain (test_strict_verifier.sh runs them). This test reads the encoding
# itself: roots, intermediates (P-256, P-384, RSA), leaves of every usage and
# path (CLI, --csr, token enrollment, renewal, the agent, serve's own), CRLs,
# and the CSRs minica's clients send, caught by a stand-in server.
source "$SRCDIR/tests/integration/lib/common.sh"
source "$SRCDIR/tests/integration/lib/der.sh"

# expect_sig FILE ec|rsa DESCRIPTION
expect_sig() {
    local got
    if got=$(sig_alg_check "$1" "$2"); then pass "$3"; else fail "$3: $got"; fi
}
# split_pem FILE PREFIX: PREFIX.1.pem, PREFIX.2.pem... one per PEM object.
split_pem() { awk -v p="$2" '/-----BEGIN/ { n++ } n { print > (p "." n ".pem") }' "$1"; }
pem_count() { grep -c -- '-----BEGIN' "$1"; }

# --- the checker itself, on what OpenSSL writes ----------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/o-ec.key" \
    -out "$T/o-ec.crt" -subj /CN=ossl-ec -days 1 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/o-rsa.key" -out "$T/o-rsa.crt" \
    -subj /CN=ossl-rsa -days 1 2>/dev/null
openssl req -new -key "$T/o-ec.key" -subj /CN=ossl-csr -out "$T/o-ec.csr" 2>/dev/null
check "checker: OpenSSL's EC certificate has no parameters" sig_alg_check "$T/o-ec.crt" ec
check "checker: OpenSSL's EC CSR has no parameters" sig_alg_check "$T/o-ec.csr" ec
check "checker: OpenSSL's RSA certificate has a NULL" sig_alg_check "$T/o-rsa.crt" rsa
check_not "checker: an RSA signature is not taken for EC" sig_alg_check "$T/o-rsa.crt" ec
check_not "checker: an EC signature is not taken for RSA" sig_alg_check "$T/o-ec.crt" rsa
check "checker: a certificate has two AlgorithmIdentifiers" test "$(sig_algs "$T/o-ec.crt" | wc -l)" = 2
check "checker: a CSR has one" test "$(sig_algs "$T/o-ec.csr" | wc -l)" = 1

# --- EC P-256 CA: root, intermediate, export ---------------------------------------
CA=$T/p256
"$MINICA" init --dir "$CA" --name sig-p256 >/dev/null || fail "init the P-256 CA"
expect_sig "$CA/root.crt" ec "P-256 root"
expect_sig "$CA/intermediate.crt" ec "P-256 intermediate"
"$MINICA" export chain --dir "$CA" --out "$T/chain.pem"
split_pem "$T/chain.pem" "$T/chain"
check "export chain: two certificates" test "$(pem_count "$T/chain.pem")" = 2
expect_sig "$T/chain.1.pem" ec "export chain: the intermediate"
expect_sig "$T/chain.2.pem" ec "export chain: the root"

# --- leaves from the CLI -----------------------------------------------------------
L=$T/leaves
run "$MINICA" issue srv.internal --san 127.0.0.1 --dir "$CA" --out "$L"
expect_ok "issue a server leaf"
expect_sig "$L/srv.internal.crt" ec "server leaf (ec-p256 key)"
split_pem "$L/srv.internal.fullchain.crt" "$T/srvchain"
expect_sig "$T/srvchain.2.pem" ec "server fullchain: its intermediate"
run "$MINICA" issue cli.internal --usage client --dir "$CA" --out "$L"
expect_ok "issue a client leaf"
expect_sig "$L/cli.internal.crt" ec "client leaf"
run "$MINICA" issue both.internal --usage both --key-type ec-p384 --dir "$CA" --out "$L"
expect_ok "issue a server+client leaf with a P-384 key"
expect_sig "$L/both.internal.crt" ec "server+client leaf (ec-p384 key)"
run "$MINICA" issue rsakey.internal --key-type rsa-2048 --dir "$CA" --out "$L"
expect_ok "issue a leaf with an RSA key"
expect_sig "$L/rsakey.internal.crt" ec "leaf with an RSA key: the EC CA's signature"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ext.key" \
    -subj /CN=ext.internal -addext subjectAltName=DNS:ext.internal -out "$T/ext.csr" 2>/dev/null
run "$MINICA" issue ext.internal --csr "$T/ext.csr" --dir "$CA" --out "$L"
expect_ok "issue from an OpenSSL CSR"
expect_sig "$L/ext.internal.crt" ec "leaf signed from --csr"

# --- the agent's local issuer -------------------------------------------------------
mkdir -p "$T/agent-local"
cat >"$T/agent-local/agent.conf" <<EOF
[agent]
state_dir = $CA

[cert local.internal]
fullchain = $T/agent-local/local.fullchain.crt
key = $T/agent-local/local.key
EOF
run "$MINICA" agent --config "$T/agent-local/agent.conf"
expect_ok "agent (local CA) writes a certificate"
expect_sig "$T/agent-local/local.fullchain.crt" ec "agent leaf (local CA)"

# --- CRLs ------------------------------------------------------------------------------
"$MINICA" revoke cli.internal --dir "$CA" >/dev/null || fail "revoke cli.internal"
run "$MINICA" crl --der --out "$T/int.crl" --dir "$CA"
expect_ok "intermediate CRL"
expect_sig "$T/int.crl" ec "intermediate CRL (DER)"
run "$MINICA" crl --dir "$CA"
printf '%s\n' "$OUT" >"$T/int.crl.pem"
expect_sig "$T/int.crl.pem" ec "intermediate CRL (PEM on stdout)"
run "$MINICA" crl --root --der --out "$T/root.crl" --dir "$CA"
expect_ok "root CRL"
expect_sig "$T/root.crl" ec "root CRL"

# --- minica serve: its own certificate, token enrollment, renewal ----------------------
SERVE_PID=
for _ in 1 2 3; do
    PORT=$(free_port)
    "$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" --san ca.test 2>"$T/serve.log" &
    SERVE_PID=$!
    for _ in $(seq 1 100); do
        [ "$(http_code "https://127.0.0.1:$PORT/v1/health" -k)" = 200 ] && break 2
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill "$SERVE_PID" 2>/dev/null
    SERVE_PID=
done
if [ -n "$SERVE_PID" ]; then
    track_pid "$SERVE_PID"
    pass "minica serve is up"
else
    fail "minica serve did not start: $(tail -n 2 "$T/serve.log" | tr '\n' ' ')"
fi
URL=https://127.0.0.1:$PORT
expect_sig "$CA/serve.crt" ec "serve.crt on disk"
openssl s_client -connect "127.0.0.1:$PORT" -servername ca.test -showcerts </dev/null \
    2>/dev/null >"$T/sclient.txt"
split_pem <(sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' "$T/sclient.txt") "$T/wire"
check "serve sends its leaf and the intermediate" test -s "$T/wire.1.pem" -a -s "$T/wire.2.pem"
expect_sig "$T/wire.1.pem" ec "serve's TLS certificate, as sent"
expect_sig "$T/wire.2.pem" ec "serve's intermediate, as sent"

TOK=$("$MINICA" token tok.internal --san 127.0.0.1 --dir "$CA")
run "$MINICA" issue tok.internal --san 127.0.0.1 --ca-url "$URL" --root "$CA/root.crt" \
    --token "$TOK" --out "$T/tok"
expect_ok "token enrollment through serve"
expect_sig "$T/tok/tok.internal.crt" ec "leaf issued through serve (token)"
split_pem "$T/tok/tok.internal.fullchain.crt" "$T/tokchain"
expect_sig "$T/tokchain.2.pem" ec "the intermediate serve hands out"

AG=$T/agent-remote
mkdir -p "$AG/certs" "$AG/state"
# --usage both: the CSR catcher below is Python's TLS server, which checks a
# client certificate for clientAuth (minica serve does not ask for it).
(umask 077 && "$MINICA" token app.internal --usage both --dir "$CA" >"$AG/token")
agent_remote_conf() { # agent_remote_conf URL
    cat >"$AG/agent.conf" <<EOF
[agent]
state_dir = $AG/state
ca_url = $1
root = $CA/root.crt

[cert app.internal]
fullchain = $AG/certs/app.fullchain.crt
key = $AG/certs/app.key
token_file = $AG/token
EOF
    chmod 600 "$AG/agent.conf"
}
agent_remote_conf "$URL"
run "$MINICA" agent --config "$AG/agent.conf"
expect_ok "agent enrolls through serve with its token"
expect_sig "$AG/certs/app.fullchain.crt" ec "agent leaf (token enrollment)"
FIRST=$(serial_of "$AG/certs/app.fullchain.crt")
run "$MINICA" agent --config "$AG/agent.conf" --force
expect_ok "agent renews over mutual TLS"
check "the renewal is a new certificate" test "$(serial_of "$AG/certs/app.fullchain.crt")" != "$FIRST"
expect_sig "$AG/certs/app.fullchain.crt" ec "agent leaf (renewal, /v1/renew)"

# --- the CSRs minica's clients send ---------------------------------------------------
# They exist only on the wire: a stand-in server keeps them and refuses.
CAP=$T/capture
mkdir -p "$CAP/in"
"$MINICA" issue 127.0.0.1 --dir "$CA" --out "$CAP" >/dev/null || fail "issue the stand-in's certificate"
cat "$CA/intermediate.crt" "$CA/root.crt" >"$CAP/clientca.pem"
CAP_PID=
for _ in 1 2 3; do
    CPORT=$(free_port)
    python3 "$SRCDIR/tests/integration/lib/csr_capture.py" "$CPORT" "$CAP/127.0.0.1.fullchain.crt" \
        "$CAP/127.0.0.1.key" "$CAP/clientca.pem" "$CAP/in" 2>"$CAP/log" &
    CAP_PID=$!
    for _ in $(seq 1 50); do
        ss -Htln "sport = :$CPORT" | grep -q . && break 2
        kill -0 "$CAP_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill "$CAP_PID" 2>/dev/null
    CAP_PID=
done
[ -n "$CAP_PID" ] && track_pid "$CAP_PID"
check "the CSR catcher is up" test -n "$CAP_PID"
CURL=https://127.0.0.1:$CPORT
# captured_csr N PATH OUT: the Nth request went to PATH and its "csr" is a
# CSR whose signature OpenSSL verifies; it is written to OUT.
captured_csr() {
    for _ in $(seq 1 50); do
        [ -s "$CAP/in/$1.json" ] && break
        sleep 0.1
    done
    grep -qx "$2" "$CAP/in/$1.path" && jq -r .csr "$CAP/in/$1.json" >"$3" &&
        openssl req -in "$3" -noout -verify
}
n=0
for kt in ec-p256:ec ec-p384:ec rsa-2048:rsa; do
    n=$((n + 1))
    run "$MINICA" issue "csr-${kt%%:*}.internal" --ca-url "$CURL" --root "$CA/root.crt" \
        --token "0123456789abcdef.x" --key-type "${kt%%:*}" --out "$T/cap-out"
    expect_rc 1 "issue --ca-url --key-type ${kt%%:*}: the stand-in refuses"
    check "issue --ca-url --key-type ${kt%%:*}: a valid CSR was sent to /v1/sign" \
        captured_csr "$n" /v1/sign "$CAP/$n.csr"
    expect_sig "$CAP/$n.csr" "${kt#*:}" "CSR from issue --ca-url (${kt%%:*} key)"
done
# The agent's renewal CSR, sent with its certificate as TLS client certificate.
agent_remote_conf "$CURL"
n=$((n + 1))
run "$MINICA" agent --config "$AG/agent.conf" --force
expect_rc 1 "agent renewal: the stand-in refuses"
check "agent renewal: a valid CSR was sent to /v1/renew" captured_csr "$n" /v1/renew "$CAP/$n.csr"
expect_sig "$CAP/$n.csr" ec "CSR from the agent's renewal"

# --- EC P-384 CA ---------------------------------------------------------------------
CA3=$T/p384
"$MINICA" init --dir "$CA3" --name sig-p384 --key-type ec-p384 >/dev/null || fail "init the P-384 CA"
expect_sig "$CA3/root.crt" ec "P-384 root"
expect_sig "$CA3/intermediate.crt" ec "P-384 intermediate"
run "$MINICA" issue p384.internal --dir "$CA3" --out "$T/p384out"
expect_ok "issue under the P-384 CA"
expect_sig "$T/p384out/p384.internal.crt" ec "leaf under the P-384 CA"
"$MINICA" crl --der --out "$T/p384.crl" --dir "$CA3" >/dev/null
expect_sig "$T/p384.crl" ec "CRL of the P-384 CA"

# --- RSA CA: the NULL must stay --------------------------------------------------------
CAR=$T/rsa
"$MINICA" init --dir "$CAR" --name sig-rsa --key-type rsa-2048 >/dev/null || fail "init the RSA CA"
expect_sig "$CAR/root.crt" rsa "RSA root keeps its NULL"
expect_sig "$CAR/intermediate.crt" rsa "RSA intermediate keeps its NULL"
run "$MINICA" issue rsa.internal --key-type ec-p256 --dir "$CAR" --out "$T/rsaout"
expect_ok "issue an EC-key leaf under the RSA CA"
expect_sig "$T/rsaout/rsa.internal.crt" rsa "leaf under the RSA CA: RSA signature with NULL"
"$MINICA" crl --der --out "$T/rsa.crl" --dir "$CAR" >/dev/null
expect_sig "$T/rsa.crl" rsa "CRL of the RSA CA keeps its NULL"

[ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" && wait "$SERVE_PID"
done_testing
