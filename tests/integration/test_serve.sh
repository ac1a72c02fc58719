# minica serve end to end: a real server on loopback, a separate "VM"
# directory that bootstraps the root by fingerprint, enrolls with one-time
# tokens and renews over mutual TLS; refusals (status, JSON, audit, files
# untouched), concurrency, hostile clients, certificate re-issue, SIGTERM.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
VM=$T/vm
mkdir -p "$VM"
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"

PORT=$(free_port)
URL=https://127.0.0.1:$PORT
# --max-per-ip: the concurrency and idle-connection tests below all come from
# 127.0.0.1; the default per-address cap (16) has its own test further down.
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" --san ca.test --timeout 5s \
    --max-per-ip 64 2>"$T/serve.log" &
SERVE_PID=$!
track_pid "$SERVE_PID"
check "server answers /v1/health" wait_health "$URL"

# body_code METHOD PATH FILE [curl args]: status of a request with FILE as body, body in $T/resp.
body_code() {
    local method=$1 path=$2 file=$3
    shift 3
    curl -s -o "$T/resp" -w '%{http_code}' --max-time 30 --cacert "$VM/root.crt" -X "$method" \
        -H 'Content-Type: application/json' --data-binary "@$file" "$@" "$URL$path" || true
}
json_error() { jq -r '.error // empty' "$T/resp" 2>/dev/null; }
audit_has() { "$MINICA" log --dir "$CA" | grep -F -- "$1" >/dev/null; }
audit_count() { "$MINICA" log --dir "$CA" | grep -cF -- "$1"; }
# audit_row A B: one audit row contains both A and B.
audit_row() { "$MINICA" log --dir "$CA" | grep -F -- "$1" | grep -qF -- "$2"; }
vm_sums() { find "$VM" -type f -print0 | sort -z | xargs -0 sha256sum; }

# --- bootstrap ------------------------------------------------------------
FP=$(openssl x509 -in "$CA/root.crt" -noout -fingerprint -sha256)
# Differs from the real fingerprint in its first byte, whatever that byte is.
case "${FP#*=}" in
00*) WRONG=$(printf '%s' "$FP" | sed 's/=../=11/') ;;
*) WRONG=$(printf '%s' "$FP" | sed 's/=../=00/') ;;
esac
check "the wrong fingerprint is really wrong" test "$WRONG" != "$FP"
run "$MINICA" bootstrap --ca-url "$URL" --fingerprint "$WRONG" --out "$VM/etc"
expect_rc 1 "bootstrap with a wrong fingerprint fails"
expect_err "fingerprint" "the refusal names the fingerprint"
check_not "nothing written after a wrong fingerprint" test -e "$VM/etc/root.crt"
run "$MINICA" bootstrap --ca-url "$URL" --fingerprint "$FP" --out "$VM/etc"
expect_ok "bootstrap with the fingerprint as openssl prints it"
check "root.crt is the CA's root" cmp "$VM/etc/root.crt" "$CA/root.crt"
LOWER=$(printf '%s' "${FP#*=}" | tr -d ':' | tr 'A-F' 'a-f')
run "$MINICA" bootstrap --ca-url "$URL/" --fingerprint "$LOWER" --out "$VM"
expect_ok "bootstrap with a lowercase fingerprint without colons"
check "root.crt stored" cmp "$VM/root.crt" "$CA/root.crt"

# --- the server's own certificate and TLS ----------------------------------
check "serve.key is 0600" test "$(mode_of "$CA/serve.key")" = 600
SCLIENT=$(openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$VM/root.crt" -verify_ip 127.0.0.1 \
    -verify_return_error </dev/null 2>&1)
if printf '%s' "$SCLIENT" | grep -q "Verify return code: 0"; then
    pass "the server's certificate verifies under the root for 127.0.0.1"
else
    fail "server certificate does not verify for 127.0.0.1: $SCLIENT"
fi
check "the server's certificate carries --san ca.test" sh -c "openssl s_client -connect 127.0.0.1:$PORT \
    -CAfile '$VM/root.crt' -verify_hostname ca.test -verify_return_error </dev/null 2>&1 | grep -q 'Verify return code: 0'"
check "curl trusts the server with only the root" test "$(http_code "$URL/v1/health" --cacert "$VM/root.crt")" = 200
check_not "TLS 1.1 is refused" openssl s_client -connect "127.0.0.1:$PORT" -tls1_1 -verify_return_error \
    -CAfile "$VM/root.crt" </dev/null
check_not "a CBC suite is refused" openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 \
    -cipher AES128-SHA -CAfile "$VM/root.crt" -verify_return_error </dev/null
check_not "static RSA / non-forward-secret key exchange is refused" openssl s_client \
    -connect "127.0.0.1:$PORT" -tls1_2 -cipher AES128-GCM-SHA256 -CAfile "$VM/root.crt" \
    -verify_return_error </dev/null
# The server key is ECDSA, so RSA-key-exchange suites fail whatever the
# priority string says; these ECDHE-ECDSA CBC suites are what GnuTLS's NORMAL
# would accept and the AEAD-only priority must not.
check_not "ECDHE with CBC/SHA1 (not AEAD) is refused" openssl s_client -connect "127.0.0.1:$PORT" \
    -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA -CAfile "$VM/root.crt" -verify_return_error </dev/null
check_not "ECDHE with CBC/SHA256 (not AEAD) is refused" openssl s_client -connect "127.0.0.1:$PORT" \
    -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256 -CAfile "$VM/root.crt" -verify_return_error </dev/null
check "TLS 1.3 works" openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 -CAfile "$VM/root.crt" \
    -verify_return_error </dev/null
check "TLS 1.2 with ECDHE and AES-GCM works" openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 \
    -cipher ECDHE-ECDSA-AES128-GCM-SHA256 -CAfile "$VM/root.crt" -verify_return_error </dev/null

# --- enrollment with a token ------------------------------------------------
run "$MINICA" token web1.internal --san 127.0.0.1 --dir "$CA"
expect_ok "token created"
TOKEN=$OUT
check "the token is alone on one line" test "$(printf '%s\n' "$OUT" | wc -l)" = 1
TOKEN_ID=${TOKEN%%.*}
run "$MINICA" issue web1.internal --san 127.0.0.1 --ca-url "$URL" --root "$VM/root.crt" \
    --token "$TOKEN" --out "$VM/certs"
expect_ok "remote issue with the token"
C=$VM/certs/web1.internal
check "certificate verifies for web1.internal" openssl verify -CAfile "$VM/root.crt" \
    -untrusted "$C.fullchain.crt" -verify_hostname web1.internal "$C.crt"
check "certificate verifies for 127.0.0.1" openssl verify -CAfile "$VM/root.crt" \
    -untrusted "$C.fullchain.crt" -verify_ip 127.0.0.1 "$C.crt"
expect_mode "$C.key" 600
check "key matches certificate" key_matches "$C.key" "$C.crt"
check "ca.crt is the root" cmp "$VM/certs/ca.crt" "$CA/root.crt"
db_dump "$CA" >"$T/inventory.sql"
check "the inventory dumps" test -s "$T/inventory.sql"
check_not "the CA's database dump holds no private key" grep -q "PRIVATE KEY" "$T/inventory.sql"
check_not "the CA's database dump holds no token secret" grep -qF "${TOKEN#*.}" "$T/inventory.sql"
if [ -n "${MINICA_DB:-}" ]; then
    check_not "on PostgreSQL, no minica.db in the state directory" test -e "$CA/minica.db"
else
    check_not "the CA's database holds no private key" grep -q "PRIVATE KEY" "$CA/minica.db"
fi
check "audit row says remote, address and token id" audit_has "(remote 127.0.0.1 token $TOKEN_ID)"
check "token list shows it used" sh -c "'$MINICA' token list --dir '$CA' | grep '^$TOKEN_ID' | grep -q used"
check "request log line on stderr" grep -q "POST /v1/sign 200" "$T/serve.log"
check "token list --json: used, and by the issued serial" test "$("$MINICA" token list --dir "$CA" --json |
    jq -r --arg id "$TOKEN_ID" '.[] | select(.id == $id) | "\(.state) \(.used_by)"')" = "used $(serial_of "$C.crt")"
run "$MINICA" token revoke "$TOKEN_ID" --dir "$CA"
expect_rc 1 "token revoke of a used token"
expect_err "already used" "revoking a used token says to revoke the certificate instead"

# A name longer than a CN may be (64, RFC 5280 ub-common-name) travels in the
# SAN only: the client's CSR and the certificate have an empty subject, which
# mbedTLS 3.6 refuses to be given as "" (2.28 takes it).
LONG=$(printf 'l%.0s' $(seq 1 40)).$(printf 'm%.0s' $(seq 1 30)).internal
LTOKEN=$("$MINICA" token "$LONG" --dir "$CA")
run "$MINICA" issue "$LONG" --ca-url "$URL" --root "$VM/root.crt" --token "$LTOKEN" --out "$VM/long"
expect_ok "remote issue of an 80-character name (no CN fits)"
check "its certificate verifies for the long name" openssl verify -CAfile "$VM/root.crt" \
    -untrusted "$VM/long/$LONG.fullchain.crt" -verify_hostname "$LONG" "$VM/long/$LONG.crt"

# --- token creation: --json, policy checked now -------------------------------
run "$MINICA" token json.internal --san 127.0.0.1 --usage both --ttl 2h --expires 10m --json --dir "$CA"
expect_ok "token --json"
printf '%s' "$OUT" >"$T/tok.json"
check "token --json: the token starts with its id" test "$(jq -r '.token | split(".")[0]' "$T/tok.json")" = "$(jq -r .id "$T/tok.json")"
check "token --json: names, usage, ttl" test "$(jq -c '[.name, .sans, .usage, .ttl_seconds]' "$T/tok.json")" = '["json.internal",["json.internal","127.0.0.1"],"both",7200]'
check "token --json: 256-bit secret (43 base64url characters)" sh -c "jq -r .token '$T/tok.json' | grep -Eq '^[0-9a-f]{16}\.[A-Za-z0-9_-]{43}\$'"
PCA=$T/pca
db_new pca # its own inventory: its token list must be its own
MINICA_DB=$NEW_DB "$MINICA" init --dir "$PCA" >/dev/null
sed -i 's/^# permit_dns = .*/permit_dns = internal/' "$PCA/minica.conf"
MINICA_DB=$NEW_DB run "$MINICA" token web.example.com --dir "$PCA"
expect_rc 1 "token for a name outside the policy refused at creation"
expect_err "web.example.com" "the refusal names the name"
MINICA_DB=$NEW_DB run "$MINICA" token web.internal --ttl 2y --dir "$PCA"
expect_rc 1 "token with a TTL above the policy's maximum refused at creation"
check "no token recorded after the refusals" test "$(MINICA_DB=$NEW_DB "$MINICA" token list --json --dir "$PCA" | jq length)" = 0

# --- refusals: status, JSON error, audit row, VM files untouched -------------
BEFORE=$(vm_sums)
run "$MINICA" issue web1.internal --san 127.0.0.1 --ca-url "$URL" --root "$VM/root.crt" \
    --token "$TOKEN" --out "$VM/certs"
expect_rc 1 "replayed token refused"
expect_err "HTTP 403.*already used" "replay: 403 with the reason"
check "replay audited" audit_has "refused token $TOKEN_ID"
check "VM files untouched after the replay" test "$(vm_sums)" = "$BEFORE"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/w1.key" \
    -subj /CN=web1.internal -addext "subjectAltName=DNS:web1.internal,IP:127.0.0.1" \
    -out "$T/w1.csr" 2>/dev/null
jq -n --arg t "$TOKEN" --rawfile c "$T/w1.csr" '{token: $t, csr: $c}' >"$T/replay.json"
N=$(audit_count "refused token $TOKEN_ID")
check "replay over HTTP: 403 + JSON error" test "$(body_code POST /v1/sign "$T/replay.json")/$(json_error)" = 403/forbidden
# The same refusal again from the same address within a minute: counted, not
# a row of its own (the count row comes when the minute is over, or at exit).
check "replay over HTTP: counted, no second row" test "$(audit_count "refused token $TOKEN_ID")" = "$N"

PAST=$(($(date +%s) - 7200))
OLD=$(MINICA_FAKE_NOW=$PAST "$MINICA_FAKECLOCK" token web1.internal --san 127.0.0.1 --dir "$CA")
jq -n --arg t "$OLD" --rawfile c "$T/w1.csr" '{token: $t, csr: $c}' >"$T/old.json"
check "expired token: 403 + JSON error" test "$(body_code POST /v1/sign "$T/old.json")/$(json_error)" = 403/forbidden
check "expired token audited" audit_row "refused token ${OLD%%.*}" "expired at"
run "$MINICA" issue web1.internal --san 127.0.0.1 --ca-url "$URL" --root "$VM/root.crt" \
    --token "$OLD" --out "$VM/certs"
expect_rc 1 "remote issue with an expired token refused"
expect_err "HTTP 403.*expired" "expired token: 403 with the reason"

OTHER=$("$MINICA" token web2.internal --dir "$CA")
jq -n --arg t "$OTHER" --rawfile c "$T/w1.csr" '{token: $t, csr: $c}' >"$T/other.json"
check "token for other names: 403 + JSON error" test "$(body_code POST /v1/sign "$T/other.json")/$(json_error)" = 403/forbidden
check "other names audited" audit_row "refused token ${OTHER%%.*}" "is not the allowed name"
run "$MINICA" issue web1.internal --ca-url "$URL" --root "$VM/root.crt" --token "$OTHER" --out "$VM/certs"
expect_rc 1 "remote issue with another name's token refused"
check "VM files untouched after the refusals" test "$(vm_sums)" = "$BEFORE"

# A CSR whose signature does not verify: flip a byte of the signature.
FRESH=$("$MINICA" token web1.internal --san 127.0.0.1 --dir "$CA")
openssl req -in "$T/w1.csr" -outform DER -out "$T/w1.der"
python3 - "$T/w1.der" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[-3] ^= 0x55
open(p, 'wb').write(bytes(b))
PY
{ echo "-----BEGIN CERTIFICATE REQUEST-----"; base64 -w 64 "$T/w1.der"; echo "-----END CERTIFICATE REQUEST-----"; } >"$T/bad.csr"
jq -n --arg t "$FRESH" --rawfile c "$T/bad.csr" '{token: $t, csr: $c}' >"$T/bad.json"
check "CSR with a bad signature: 400 + JSON error" test "$(body_code POST /v1/sign "$T/bad.json")/$(json_error)" = 400/bad_request
check "bad signature audited with its token id" audit_row "signature is invalid" "token ${FRESH%%.*}"
check "VM files untouched after the bad CSR" test "$(vm_sums)" = "$BEFORE"
jq -n --arg t "$FRESH" --rawfile c "$T/w1.csr" '{token: $t, csr: $c}' >"$T/fresh.json"
check "the token survives a refused CSR" test "$(body_code POST /v1/sign "$T/fresh.json")" = 200

REVOKED=$("$MINICA" token web1.internal --san 127.0.0.1 --dir "$CA")
run "$MINICA" token revoke "${REVOKED%%.*}" --dir "$CA"
expect_ok "token revoke"
jq -n --arg t "$REVOKED" --rawfile c "$T/w1.csr" '{token: $t, csr: $c}' >"$T/revoked.json"
check "revoked token: 403 + JSON error" test "$(body_code POST /v1/sign "$T/revoked.json")/$(json_error)" = 403/forbidden
check "revoked token audited" audit_row "refused token ${REVOKED%%.*}" "was revoked"

# --- renewal over mutual TLS ------------------------------------------------
jq -n --rawfile c "$T/w1.csr" '{csr: $c}' >"$T/renew.json"
check "renewal with the current cert: 200" test "$(body_code POST /v1/renew "$T/renew.json" --cert "$C.crt" --key "$C.key")" = 200
jq -r .certificate "$T/resp" >"$T/renewed.crt"
check "renewed certificate verifies" openssl verify -CAfile "$VM/root.crt" -untrusted "$C.fullchain.crt" "$T/renewed.crt"
check "renewed certificate carries the new key" key_matches "$T/w1.key" "$T/renewed.crt"
check "renewal audited with the old serial" audit_has "renew of $(serial_of "$C.crt")"
BEFORE=$(vm_sums)
check "renewal without a client cert: 403" test "$(body_code POST /v1/renew "$T/renew.json")/$(json_error)" = 403/forbidden
check "renewal without a client cert audited" audit_row "refused renewal" "needs the current certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/foreign.key" \
    -subj /CN=web1.internal -days 1 -out "$T/foreign.crt" 2>/dev/null
check "renewal with a cert from another CA: 403" test "$(body_code POST /v1/renew "$T/renew.json" --cert "$T/foreign.crt" --key "$T/foreign.key")/$(json_error)" = 403/forbidden
check "renewal with a cert from another CA audited" audit_row "refused renewal" "not issued by this CA"
# Issued on a clock 11 minutes back with the shortest TTL (5m): expired now.
MINICA_FAKE_NOW=$(($(date +%s) - 660)) "$MINICA_FAKECLOCK" issue short.internal --ttl 5m \
    --usage client --dir "$CA" --out "$T/short" >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/s.key" \
    -subj /CN=short.internal -out "$T/s.csr" 2>/dev/null
jq -n --rawfile c "$T/s.csr" '{csr: $c}' >"$T/srenew.json"
check "renewal with an expired cert: 403" test "$(body_code POST /v1/renew "$T/srenew.json" --cert "$T/short/short.internal.crt" --key "$T/short/short.internal.key")/$(json_error)" = 403/forbidden
check "renewal with an expired cert audited" audit_row "refused renewal" "$(serial_of "$T/short/short.internal.crt")) expired at"
check "expired renewal says a new token is needed" grep -q "new token" "$T/resp"
"$MINICA" revoke web1.internal --dir "$CA" >/dev/null
check "renewal with a revoked cert: 403" test "$(body_code POST /v1/renew "$T/renew.json" --cert "$C.crt" --key "$C.key")/$(json_error)" = 403/forbidden
check "renewal refusals audited" audit_has "refused renewal"
check "renewal with a revoked cert audited" audit_row "refused renewal" "$(serial_of "$C.crt")) is revoked"
check "VM files untouched after the refused renewals" test "$(vm_sums)" = "$BEFORE"

# --- the agent with the remote issuer ---------------------------------------
AG=$T/agentvm
mkdir -p "$AG/certs" "$AG/state"
cp "$VM/root.crt" "$AG/root.crt"
"$MINICA" token app.internal --san 127.0.0.1 --dir "$CA" >"$AG/token"
cat >"$AG/agent.conf" <<EOF
[agent]
state_dir = $AG/state
ca_url = $URL
root = $AG/root.crt
# The CA-down check at the end waits this long, not the default 3m.
retry_for = 3s

[cert app.internal]
sans = 127.0.0.1
fullchain = $AG/certs/app.fullchain.crt
key = $AG/certs/app.key
ca = $AG/certs/ca.crt
token_file = $AG/token
EOF
chmod 600 "$AG/agent.conf"
chmod 644 "$AG/token"
run "$MINICA" agent --config "$AG/agent.conf"
expect_rc 1 "agent: a token_file readable by others is refused"
expect_err "chmod 600 $AG/token" "agent: the refusal says the fix"
check "agent: the refused token is not spent" test -s "$AG/token"
check_not "agent: nothing written with a refused token" test -e "$AG/certs/app.key"
chmod 600 "$AG/token"
run "$MINICA" agent --config "$AG/agent.conf"
expect_ok "agent: first certificate with the token"
check "agent: certificate verifies for app.internal" openssl verify -CAfile "$AG/root.crt" \
    -untrusted "$AG/certs/app.fullchain.crt" -verify_hostname app.internal "$AG/certs/app.fullchain.crt"
expect_mode "$AG/certs/app.key" 600
check_not "agent: token file removed" test -e "$AG/token"
S1=$(serial_of "$AG/certs/app.fullchain.crt")
run "$MINICA" agent --config "$AG/agent.conf"
expect_ok "agent: second run"
check "agent: second run changes nothing" test "$(serial_of "$AG/certs/app.fullchain.crt")" = "$S1"
run "$MINICA" agent --config "$AG/agent.conf" --force
expect_ok "agent --force renews over mutual TLS without a token"
check "agent: new serial after --force" test "$(serial_of "$AG/certs/app.fullchain.crt")" != "$S1"
check "agent: renewal audited as mTLS renewal" audit_has "renew of $S1"

# --- nginx: a "VM" upstream with a remote-issued certificate behind a proxy ----
NP=$T/nginx
mkdir -p "$NP/logs"
UP=$(free_port)
PX=$(free_port)
{
    nginx_conf_head
    cat <<NGINX
http {
    access_log off;
    server {
        listen 127.0.0.1:$UP ssl;
        ssl_certificate $AG/certs/app.fullchain.crt;
        ssl_certificate_key $AG/certs/app.key;
        location / { return 200 "upstream ok\n"; }
    }
    server {
        listen 127.0.0.1:$PX;
        location / {
            proxy_pass https://127.0.0.1:$UP;
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 2;
            proxy_ssl_trusted_certificate $VM/root.crt;
            proxy_ssl_server_name on;
            proxy_ssl_name app.internal;
        }
    }
}
NGINX
} >"$NP/nginx.conf"
if nginx_start "$NP"; then
    check "nginx proxy verifies the remote-issued upstream certificate (200)" \
        test "$(http_code "http://127.0.0.1:$PX/")" = 200
    nginx_stop "$NP"
else
    fail "nginx starts: $(tail -3 "$NP/logs/error.log")"
fi

# The VM's own agent with a revoked certificate: refused, audited, files intact.
"$MINICA" revoke app.internal --dir "$CA" >/dev/null
AG_BEFORE=$(sha256sum "$AG"/certs/*)
N=$(audit_count "$(serial_of "$AG/certs/app.fullchain.crt")) is revoked")
run "$MINICA" agent --config "$AG/agent.conf" --force
expect_rc 1 "agent --force with a revoked certificate fails"
check "agent: the error says the certificate is revoked" sh -c "printf '%s' \"\$1\" | grep -q 'HTTP 403.*revoked'" _ "$ERR"
check "agent: files intact after the refused renewal" test "$(sha256sum "$AG"/certs/*)" = "$AG_BEFORE"
check "agent: refused renewal audited" test "$(audit_count "$(serial_of "$AG/certs/app.fullchain.crt")) is revoked")" = $((N + 1))

# --- vm-firstboot.sh in remote mode --------------------------------------------
FB=$T/fb
FBTOKEN=$("$MINICA" token fb.internal --san 127.0.0.1 --dir "$CA")
firstboot() {
    sh "$SRCDIR/conf/bootstrap/vm-firstboot.sh" --minica "$MINICA" --root "$FB" --no-trust \
        --no-cron --name fb.internal --san 127.0.0.1 --ca-url "$URL" --fingerprint "$FP" "$@"
}
run firstboot --token "$FBTOKEN"
expect_ok "vm-firstboot.sh --ca-url --fingerprint --token"
check "firstboot: root bootstrapped" cmp "$FB/etc/minica/root.crt" "$CA/root.crt"
check "firstboot: certificate verifies for fb.internal" openssl verify -CAfile "$CA/root.crt" \
    -untrusted "$FB/etc/ssl/minica/fb.internal.fullchain.crt" -verify_hostname fb.internal \
    "$FB/etc/ssl/minica/fb.internal.fullchain.crt"
check_not "firstboot: token file gone" test -e "$FB/etc/minica/fb.internal.token"
FBS=$(serial_of "$FB/etc/ssl/minica/fb.internal.fullchain.crt")
run firstboot --token "$FBTOKEN"
expect_ok "vm-firstboot.sh again"
check "firstboot again: same certificate" test "$(serial_of "$FB/etc/ssl/minica/fb.internal.fullchain.crt")" = "$FBS"
run firstboot --fingerprint "$WRONG"
expect_rc 1 "vm-firstboot.sh with a wrong fingerprint fails"

# --- concurrency --------------------------------------------------------------
mkdir -p "$T/many"
pids=()
for i in $(seq 1 20); do
    tok=$("$MINICA" token "n$i.internal" --dir "$CA")
    "$MINICA" issue "n$i.internal" --ca-url "$URL" --root "$VM/root.crt" --token "$tok" \
        --out "$T/many/$i" >/dev/null 2>"$T/many/$i.err" &
    pids+=($!)
done
okc=0
for p in "${pids[@]}"; do wait "$p" && okc=$((okc + 1)); done
check "20 concurrent enrollments all succeed" test "$okc" = 20
check "20 distinct serials" test "$(for i in $(seq 1 20); do serial_of "$T/many/$i/n$i.internal.crt"; done | sort -u | wc -l)" = 20

RACE=$("$MINICA" token race.internal --dir "$CA")
mkdir -p "$T/race" # --out creates one level (issue 20)
pids=()
for i in $(seq 1 10); do
    "$MINICA" issue race.internal --ca-url "$URL" --root "$VM/root.crt" --token "$RACE" \
        --out "$T/race/$i" >/dev/null 2>&1 &
    pids+=($!)
done
okc=0
for p in "${pids[@]}"; do wait "$p" && okc=$((okc + 1)); done
check "one token raced by 10 clients: exactly one success" test "$okc" = 1
check "one token raced by 10 clients: exactly one certificate" test "$(ls "$T"/race/*/race.internal.crt 2>/dev/null | wc -l)" = 1
check "one token raced: one row in the inventory" test "$("$MINICA" list --dir "$CA" --json | jq '[.[] | select(.name == "race.internal")] | length')" = 1

# --- remote issue: --usage/--san must match the token, --token-file --------------
TF=$T/usage.token
(umask 077 && "$MINICA" token usage.internal --dir "$CA" >"$TF")
USAGE_ID=$(cut -d. -f1 "$TF")
run "$MINICA" issue usage.internal --ca-url "$URL" --root "$VM/root.crt" --token-file "$TF" \
    --usage client --out "$T/usage"
expect_rc 1 "remote issue --usage client with a server token fails"
expect_err "^minica: issue: .*grants usage server, not client" "the error names both usages"
check "one line on stderr" test "$(printf '%s\n' "$ERR" | wc -l)" = 1
check "nothing written after a usage mismatch" test ! -e "$T/usage/usage.internal.crt" -a ! -e "$T/usage/usage.internal.key"
check "the usage refusal is audited" audit_row "refused token $USAGE_ID" "grants usage server, not client"
run "$MINICA" issue usage.internal --ca-url "$URL" --root "$VM/root.crt" --token-file "$TF" \
    --san extra.internal --out "$T/usage"
expect_rc 1 "remote issue with a --san the token does not grant fails"
expect_err "^minica: issue: .*other than the allowed ones" "the error says the names differ"
check "nothing written after a name mismatch" test ! -e "$T/usage/usage.internal.crt"
run "$MINICA" issue usage.internal --ca-url "$URL" --root "$VM/root.crt" --token-file "$TF" \
    --out "$T/typo/certs"
expect_rc 1 "remote issue into a mistyped --out fails"
expect_err "^minica: issue: usage.internal: cannot create $T/typo/certs: $T/typo does not exist either" \
    "before the CA is asked (the token stays unspent, used below)"
check "nothing created for the mistyped --out" test ! -e "$T/typo"
chmod 644 "$TF"
run "$MINICA" issue usage.internal --ca-url "$URL" --root "$VM/root.crt" --token-file "$TF" \
    --out "$T/usage"
expect_rc 1 "--token-file readable by others is refused"
expect_err "chmod 600 $TF" "the refusal says how to fix it"
check "nothing written for a world-readable token file" test ! -e "$T/usage/usage.internal.key"
chmod 600 "$TF"
run "$MINICA" issue usage.internal --ca-url "$URL" --root "$VM/root.crt" --token "x" \
    --token-file "$TF" --out "$T/usage"
expect_rc 2 "--token and --token-file together is a usage error"
# The refusals above left the token unspent: the matching request gets it.
run "$MINICA" issue usage.internal --ca-url "$URL" --root "$VM/root.crt" --token-file "$TF" \
    --usage server --out "$T/usage"
expect_ok "remote issue --token-file --usage server with a server token"
check "the certificate is a TLS server certificate" sh -c "openssl x509 -in '$T/usage/usage.internal.crt' -noout -ext extendedKeyUsage | grep -q 'TLS Web Server Authentication'"
check "the certificate verifies under the root" openssl verify -CAfile "$VM/root.crt" -untrusted "$T/usage/usage.internal.fullchain.crt" "$T/usage/usage.internal.crt"

# --- hostile clients ----------------------------------------------------------
fds=()
for i in $(seq 1 20); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    fds+=("$fd")
done
check "health answers while 20 idle connections are held" test "$(http_code "$URL/v1/health" --cacert "$VM/root.crt")" = 200
for fd in "${fds[@]}"; do exec {fd}>&-; done
exec {idle}<>"/dev/tcp/127.0.0.1/$PORT"
if timeout 20 cat <&"$idle" >/dev/null; then
    pass "an idle connection is closed by the server (--timeout)"
else
    fail "an idle connection stayed open past --timeout"
fi
exec {idle}>&-

head -c 20000000 /dev/zero >"$T/big"
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$SERVE_PID/status"; }
HWM_BEFORE=$(hwm_kb)
# curl sends "Expect: 100-continue" and must wait for the 413 however slow
# the machine is, instead of starting to send the body after 1s.
check "a 20 MB body is refused with 413" test "$(body_code POST /v1/sign "$T/big" --expect100-timeout 60)" = 413
# Headers announcing 20 MB and no body at all: the 413 must come from the
# headers alone (a server waiting for the body would time out instead).
python3 - "$PORT" "$VM/root.crt" >"$T/cl413" 2>&1 <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30))
s.sendall(b"POST /v1/sign HTTP/1.1\r\nHost: ca\r\nContent-Type: application/json\r\n"
          b"Content-Length: 20000000\r\n\r\n")
print(s.recv(200).decode("latin-1").splitlines()[0])
PY
check "a declared 20 MB body is refused before any of it is sent" grep -q "^HTTP/1.1 413" "$T/cl413"
code=$(body_code POST /v1/sign "$T/big" -H 'Transfer-Encoding: chunked' --expect100-timeout 60)
check "a chunked 20 MB body is not accepted ($code)" test "$code" != 200
check "the server's peak memory did not grow by the 20 MB bodies" test $(($(hwm_kb) - HWM_BEFORE)) -lt 10240
printf '{"token": "x", "csr": ' >"$T/trunc.json"
check "malformed JSON: 400" test "$(body_code POST /v1/sign "$T/trunc.json")/$(json_error)" = 400/bad_request
PEMTOK=$("$MINICA" token web1.internal --dir "$CA")
jq -n --arg t "$PEMTOK" '{token: $t, csr: "-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----\n"}' >"$T/pem.json"
check "malformed PEM: 400" test "$(body_code POST /v1/sign "$T/pem.json")/$(json_error)" = 400/bad_request
check "unknown path: 404" test "$(http_code "$URL/v1/../../etc/passwd" --cacert "$VM/root.crt" --path-as-is)" = 404
check "wrong method: 405" test "$(http_code "$URL/v1/sign" --cacert "$VM/root.crt")" = 405
BIGHDR=$(head -c 40000 /dev/zero | tr '\0' a)
code=$(http_code "$URL/v1/health" --cacert "$VM/root.crt" -H "X-Big: $BIGHDR")
check "oversized headers are refused ($code)" test "$code" -ge 400
printf 'GARBAGE / NOTHTTP\r\n\r\n' | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$PORT" >"$T/garbage" 2>/dev/null
check "malformed HTTP gets a 400" grep -q "400" "$T/garbage"
printf 'not tls at all\r\n\r\n' | timeout 10 bash -c "cat >/dev/tcp/127.0.0.1/$PORT" 2>/dev/null
check "the server is still up after all that" test "$(http_code "$URL/v1/health" --cacert "$VM/root.crt")" = 200
check "GET /v1/crl is a DER CRL" sh -c "curl -s --cacert '$VM/root.crt' '$URL/v1/crl' | openssl crl -inform DER -noout"
check "GET /v1/crl is served as application/pkix-crl" test "$(curl -s -o /dev/null -w '%{content_type}' \
    --cacert "$VM/root.crt" "$URL/v1/crl")" = application/pkix-crl
check "the CRL lists the revoked web1.internal certificate" sh -c "curl -s --cacert '$VM/root.crt' '$URL/v1/crl' |
    openssl crl -inform DER -noout -text | grep -qi 'serial number: 0*$(serial_of "$C.crt")\$'"

# --- re-issue of the server certificate without a restart ---------------------
P2=$(free_port)
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$P2" --cert-ttl 20s --max-connections 4 \
    --max-per-ip 4 2>"$T/serve2.log" &
S2=$!
track_pid "$S2"
if wait_health "https://127.0.0.1:$P2"; then
    pass "second server up"
else
    fail "second server up: $(tail -n 3 "$T/serve2.log" | tr '\n' ' ')"
fi
# The server may still count a connection the client already closed (the
# health probe's) for a moment, and then refuses one of our four instead of
# the fifth; so each attempt starts again from four fresh ones (bounded).
fifth_refused() {
    local i fd code fds
    for i in $(seq 1 20); do
        fds=()
        for _ in 1 2 3 4; do
            exec {fd}<>"/dev/tcp/127.0.0.1/$P2"
            fds+=("$fd")
        done
        code=$(http_code "https://127.0.0.1:$P2/v1/health" --cacert "$VM/root.crt")
        for fd in "${fds[@]}"; do exec {fd}>&-; done
        [ "$code" = 000 ] && return 0
        sleep 0.2
    done
    return 1
}
check "--max-connections: a fifth connection is refused" fifth_refused
check "--max-connections: served again once they are closed" wait_health "https://127.0.0.1:$P2"
peer_serial() {
    openssl s_client -connect "127.0.0.1:$P2" -CAfile "$VM/root.crt" </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null
}
first=$(peer_serial)
changed=0
for i in $(seq 1 60); do
    sleep 1
    now=$(peer_serial)
    if [ -n "$now" ] && [ "$now" != "$first" ]; then
        changed=1
        break
    fi
done
check "the server certificate is re-issued without a restart" test "$changed" = 1
check "same server process after the re-issue" kill -0 "$S2"
# The new certificate is served a moment before its log line is written.
log_has() {
    local i
    for i in $(seq 1 50); do
        grep -q "$1" "$2" && return 0
        sleep 0.1
    done
    return 1
}
check "re-issue logged" log_has "re-issued" "$T/serve2.log"
# An idle connection (this server's --timeout is the default 30s) must not
# hold up a SIGTERM.
exec {idle}<>"/dev/tcp/127.0.0.1/$P2"
kill -TERM "$S2"
# gone PID: the process has exited (a zombie not yet waited for counts).
gone() {
    local i st
    for i in $(seq 1 100); do
        st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)
        [ -z "$st" ] || [ "$st" = Z ] && return 0
        sleep 0.1
    done
    return 1
}
check "SIGTERM stops the server while an idle connection is open" gone "$S2"
wait "$S2"
check "SIGTERM stops the second server cleanly" test $? = 0
exec {idle}>&-

# --- the default per-address connection cap (16) -------------------------------
P3=$(free_port)
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$P3" --max-connections 64 2>"$T/serve3.log" &
S3=$!
track_pid "$S3"
check "third server up" wait_health "https://127.0.0.1:$P3"
# 16 idle connections from 127.0.0.1 fill that address's served share (and
# here its /24's: a quarter of 64): a 17th from it is told to come back
# (503, Retry-After) instead of being closed, while another network,
# 127.1.0.1, is still served (as in fifth_refused, a just-closed probe may
# still count, so each attempt starts afresh).
per_ip_capped() {
    local i fd own other fds
    for i in $(seq 1 20); do
        fds=()
        for _ in $(seq 1 16); do
            exec {fd}<>"/dev/tcp/127.0.0.1/$P3"
            fds+=("$fd")
        done
        own=$(curl -s -o /dev/null -w '%{http_code} %header{retry-after}' --max-time 10 \
            --cacert "$VM/root.crt" "https://127.0.0.1:$P3/v1/crl")
        other=$(http_code "https://127.0.0.1:$P3/v1/crl" --cacert "$VM/root.crt" \
            --interface 127.1.0.1)
        for fd in "${fds[@]}"; do exec {fd}>&-; done
        [ "$own" = "503 1" ] && [ "$other" = 200 ] && return 0
        sleep 0.2
    done
    return 1
}
check "default --max-per-ip: a 17th connection from one address is answered 503 + Retry-After, another network is served" per_ip_capped
kill -TERM "$S3"
wait "$S3"

# --- SIGTERM ------------------------------------------------------------------
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
RC=$?
check "SIGTERM: exit 0" test "$RC" = 0
check "SIGTERM logged" grep -q "stopping" "$T/serve.log"
check "the repeated replay was counted into a row" audit_row "more from 127.0.0.1 in " "refused token $TOKEN_ID"

# --- the CA unreachable: retries, then exit 1 with the files intact ---------------
AG_BEFORE=$(sha256sum "$AG"/certs/*)
run "$MINICA" agent --config "$AG/agent.conf" --force
expect_rc 1 "agent --force with the CA down fails"
check "agent: the error says the CA is busy or refusing connections" sh -c "printf '%s' \"\$1\" | grep -q 'the CA at .* is busy or refusing connections'" _ "$ERR"
check "agent: files intact when the CA is down" test "$(sha256sum "$AG"/certs/*)" = "$AG_BEFORE"

done_testing
