#!/usr/bin/env bash
# The CRLs a remote machine gets from minica serve after `minica ca rotate`.
# GET /v1/crls is every current intermediate's CRL in one PEM; GET /v1/crl
# stays the active intermediate's in DER (what agents before it read). An
# agent whose certificate is a leaf of the previous intermediate finds it
# revoked on that intermediate's CRL and renews, which the active
# intermediate's CRL alone could never tell it. Against a CA without
# /v1/crls (a python stand-in answering 404) the agent uses /v1/crl.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
AG=$T/vm
mkdir -p "$AG/certs" "$AG/state"
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"

PORT=$(free_port)
URL=https://127.0.0.1:$PORT
start_serve() {
    "$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" 2>>"$T/serve.log" &
    SERVE_PID=$!
    track_pid "$SERVE_PID"
    local _
    for _ in $(seq 1 100); do
        [ "$(http_code "$URL/v1/health" -k)" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}
stop_serve() {
    kill -TERM "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
}
check "serve answers" start_serve

cp "$CA/root.crt" "$AG/root.crt"
"$MINICA" token app.internal --san 127.0.0.1 --dir "$CA" >"$AG/token"
chmod 600 "$AG/token"
cat >"$AG/agent.conf" <<EOF
[agent]
state_dir = $AG/state
ca_url = $URL
root = $AG/root.crt
retry_for = 5s

[cert app.internal]
sans = 127.0.0.1
fullchain = $AG/certs/app.fullchain.crt
key = $AG/certs/app.key
token_file = $AG/token
EOF
chmod 600 "$AG/agent.conf"
run "$MINICA" agent --config "$AG/agent.conf"
expect_ok "agent: first certificate, from the first intermediate"
app=$(serial_of "$AG/certs/app.fullchain.crt")
cp "$CA/intermediate.crt" "$T/old-int.crt"

run "$MINICA" ca rotate --dir "$CA"
expect_ok "ca rotate"
cp "$CA/intermediate.crt" "$T/new-int.crt"
# serve reads the CA at start; a restart picks up the rotation whatever
# else serve learns to do on a signal.
stop_serve
check "serve answers after the rotation" start_serve
run "$MINICA" issue local.internal --dir "$CA" --out "$T/local"
expect_ok "issue a leaf of the new intermediate"
local_serial=$(serial_of "$T/local/local.internal.crt")
# Both revoked before anything asks serve for a CRL: it keeps the CRLs it
# signed for a minute.
"$MINICA" revoke local.internal --dir "$CA" >/dev/null
"$MINICA" revoke app.internal --dir "$CA" >/dev/null

# /v1/crls: both intermediates' CRLs, each listing only its own leaves.
code=$(curl -s -o "$T/crls.pem" -w '%{http_code} %{content_type}' --cacert "$AG/root.crt" "$URL/v1/crls")
check "GET /v1/crls: 200 application/x-pem-file" test "$code" = "200 application/x-pem-file"
check "GET /v1/crls holds two CRLs" test "$(grep -c 'BEGIN X509 CRL' "$T/crls.pem")" -eq 2
csplit -s -z -f "$T/part" "$T/crls.pem" '/BEGIN X509 CRL/' '{*}'
check "the first is the active intermediate's" \
    sh -c "openssl crl -in '$T/part00' -CAfile '$T/new-int.crt' -noout 2>&1 | grep -qx 'verify OK'"
check "the second is the previous intermediate's" \
    sh -c "openssl crl -in '$T/part01' -CAfile '$T/old-int.crt' -noout 2>&1 | grep -qx 'verify OK'"
check "the previous intermediate's lists the agent's leaf" \
    sh -c "openssl crl -in '$T/part01' -noout -text | grep -qi 'serial number: 0*$app\$'"
check "the active intermediate's lists the new leaf" \
    sh -c "openssl crl -in '$T/part00' -noout -text | grep -qi 'serial number: 0*$local_serial\$'"
out=$(openssl verify -crl_check -CRLfile "$T/crls.pem" -CAfile "$AG/root.crt" -untrusted "$T/old-int.crt" \
    "$AG/certs/app.fullchain.crt" 2>&1)
if printf '%s' "$out" | grep -q "certificate revoked"; then pass "openssl with /v1/crls: the agent's leaf is revoked"; else fail "openssl /v1/crls: $out"; fi

# /v1/crl: unchanged for older agents, the active intermediate's in DER.
code=$(curl -s -o "$T/crl.der" -w '%{http_code} %{content_type}' --cacert "$AG/root.crt" "$URL/v1/crl")
check "GET /v1/crl: 200 application/pkix-crl" test "$code" = "200 application/pkix-crl"
check "GET /v1/crl is the active intermediate's CRL" \
    sh -c "openssl crl -inform DER -in '$T/crl.der' -CAfile '$T/new-int.crt' -noout 2>&1 | grep -qx 'verify OK'"
check_not "and cannot tell of the previous intermediate's leaves" \
    sh -c "openssl crl -inform DER -in '$T/crl.der' -noout -text | grep -qi 'serial number: 0*$app\$'"

# The agent, not forced: it sees its leaf revoked and tries to renew it,
# which serve refuses for a revoked certificate (it needs a new token).
run "$MINICA" agent --config "$AG/agent.conf"
expect_rc 1 "agent with its leaf revoked on the previous intermediate's CRL"
check "agent: renewal attempted because the certificate is revoked" \
    sh -c "printf '%s' \"\$1\" | grep -q 'revoked'" _ "$ERR$OUT"
check "serve audited the refused renewal" sh -c "'$MINICA' log --dir '$CA' | grep -F 'refused renewal' | grep -qF '$app) is revoked'"

stop_serve

# A CA from before /v1/crls (404 there): the agent falls back to /v1/crl,
# here the DER CRL of the intermediate that signed its leaf.
run "$MINICA" crl --issuer "$(serial_of "$T/old-int.crt")" --der --dir "$CA" --out "$T/old.der"
expect_ok "the previous intermediate's CRL in DER"
run "$MINICA" issue 127.0.0.1 --dir "$CA" --out "$T/oldca"
expect_ok "a certificate for the stand-in CA"
OLDPORT=$(free_port)
python3 - "$OLDPORT" "$T/oldca/127.0.0.1.fullchain.crt" "$T/oldca/127.0.0.1.key" "$T/old.der" \
    "$T/oldca.log" <<'PY' &
import http.server, json, ssl, sys
port, chain, key, der, log = sys.argv[1:]
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        with open(log, "a") as f:
            f.write(f"{self.command} {self.path}\n")
        if self.command == "GET" and self.path == "/v1/crl":
            body, kind, code = open(der, "rb").read(), "application/pkix-crl", 200
        else:
            body = json.dumps({"error": "not_found", "detail": "no such endpoint"}).encode()
            kind, code = "application/json", 404
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer
    def log_message(self, *args):
        pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(chain, key)
srv = http.server.HTTPServer(("127.0.0.1", int(port)), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY
track_pid $!
up=0
for _ in $(seq 1 100); do
    [ "$(http_code "https://127.0.0.1:$OLDPORT/v1/crl" --cacert "$AG/root.crt")" = 200 ] && up=1 && break
    sleep 0.1
done
check "the stand-in CA answers" test "$up" = 1
: >"$T/oldca.log"
sed "s|^ca_url = .*|ca_url = https://127.0.0.1:$OLDPORT|" "$AG/agent.conf" >"$AG/old-agent.conf"
chmod 600 "$AG/old-agent.conf"
run "$MINICA" agent --config "$AG/old-agent.conf"
expect_rc 1 "agent against a CA without /v1/crls"
# (Each run also asks for /v1/roots first, to learn a rolled-over root.)
check "agent asked for /v1/crls, then /v1/crl" \
    test "$(grep -v '^GET /v1/roots$' "$T/oldca.log" | head -2 | tr '\n' ' ')" = "GET /v1/crls GET /v1/crl "
check "agent: found its leaf revoked and tried to renew it" grep -q "^POST /v1/renew" "$T/oldca.log"

done_testing
