# ACME on minica serve's real HTTPS front: the directory's URLs follow the
# Host the client used, new-nonce answers HEAD and GET with Replay-Nonce and
# Cache-Control: no-store, and a refusal is application/problem+json with a
# fresh nonce. The protocol itself is tests/unit/test_acme.c; real clients
# (certbot, lego) are their own tests.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"
PORT=$(free_port)
CURL=(curl -s --max-time 10 --cacert "$CA/root.crt" --resolve "ca.test:$PORT:127.0.0.1")
URL=https://ca.test:$PORT
wait_up() {
    local i
    for i in $(seq 1 100); do
        [ "$(http_code "$URL/v1/health" "${CURL[@]:1}")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

# Without [acme] enabled = yes: no ACME, and nothing announced.
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" --san ca.test 2>"$T/serve-off.log" &
SERVE_PID=$!
track_pid "$SERVE_PID"
check "ACME off: server answers /v1/health" wait_up
CODE=$("${CURL[@]}" -D "$T/off.h" -o "$T/off.json" -w '%{http_code}' "$URL/acme/directory")
check "ACME off: the directory is 404" test "$CODE" = 404
check "ACME off: problem+json" grep -qi '^content-type: application/problem+json' "$T/off.h"
check "ACME off: malformed, saying how to enable it" jq -e \
    '.type == "urn:ietf:params:acme:error:malformed" and
     .detail == "ACME is not enabled in minica.conf ([acme] enabled = yes)"' "$T/off.json"
check_not "ACME off: no directory URL in the log" grep -q "ACME directory" "$T/serve-off.log"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"

# Enabled with nothing the validator may dial: serve refuses to start.
cp "$CA/minica.conf" "$T/minica.conf.orig"
printf '[acme]\nenabled = yes\neab = optional\n' >>"$CA/minica.conf"
run "$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" --san ca.test
expect_rc 1 "ACME with no validation range: serve refuses"
expect_err '^minica: serve: \[acme\] needs validate_ip or \[policy\] permit_ip: the validator must not dial just anything$' \
    "ACME with no validation range: the message names both keys"
printf 'validate_ip = 127.0.0.0/8\n' >>"$CA/minica.conf"

"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" --san ca.test 2>"$T/serve.log" &
SERVE_PID=$!
track_pid "$SERVE_PID"
check "server answers /v1/health" wait_up
check "serve logs its ACME directory URL" grep -q "ACME directory: https://ca.test:$PORT/acme/directory" "$T/serve.log"

"${CURL[@]}" -D "$T/dir.h" -o "$T/dir.json" "$URL/acme/directory"
check "directory: newAccount on the Host used" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["newAccount"] == sys.argv[2] + "/acme/new-account" and
         d["newNonce"] == sys.argv[2] + "/acme/new-nonce" else 1)' "$T/dir.json" "$URL"
check "directory: Replay-Nonce" grep -qi '^replay-nonce: [A-Za-z0-9_-]\{22\}' "$T/dir.h"

"${CURL[@]}" -I -o "$T/head.h" "$URL/acme/new-nonce"
check "HEAD new-nonce: 200" grep -q '^HTTP/[0-9.]* 200' "$T/head.h"
check "HEAD new-nonce: Replay-Nonce" grep -qi '^replay-nonce: ' "$T/head.h"
check "HEAD new-nonce: Cache-Control no-store" grep -qi '^cache-control: no-store' "$T/head.h"
"${CURL[@]}" -D "$T/get.h" -o /dev/null "$URL/acme/new-nonce"
check "GET new-nonce: 204" grep -q '^HTTP/[0-9.]* 204' "$T/get.h"
N1=$(grep -i '^replay-nonce:' "$T/head.h" | tr -d '\r' | cut -d' ' -f2)
N2=$(grep -i '^replay-nonce:' "$T/get.h" | tr -d '\r' | cut -d' ' -f2)
check "every nonce is new" test -n "$N1" -a "$N1" != "$N2"

CODE=$("${CURL[@]}" -D "$T/bad.h" -o "$T/bad.json" -w '%{http_code}' \
    -H 'Content-Type: application/jose+json' --data '{"protected":"e30","payload":"","signature":""}' \
    "$URL/acme/new-account")
check "a broken JWS: 400" test "$CODE" = 400
check "a broken JWS: problem+json" grep -qi '^content-type: application/problem+json' "$T/bad.h"
check "a broken JWS: an RFC 8555 type" grep -q '"type":"urn:ietf:params:acme:error:' "$T/bad.json"
check "a broken JWS: a fresh nonce" grep -qi '^replay-nonce: ' "$T/bad.h"

# The validation-port hook is the test build's alone (tests/support/acme_test_ports.c).
check_not "the installed binary has no validation-port hook" grep -q MINICA_ACME_TEST_HTTP_PORT "$MINICA"
check "minica-fakeclock has it" grep -q MINICA_ACME_TEST_HTTP_PORT "$MINICA_FAKECLOCK"

# A reload onto a minica.conf without a validation range is refused; the
# running configuration stays.
cp "$T/minica.conf.orig" "$CA/minica.conf"
printf '[acme]\nenabled = yes\n' >>"$CA/minica.conf"
kill -HUP "$SERVE_PID"
reload_refused() {
    for _ in $(seq 1 100); do
        grep -q 'SIGHUP: cannot reload the CA.*\[acme\] needs validate_ip or \[policy\] permit_ip' \
            "$T/serve.log" && return 0
        sleep 0.1
    done
    return 1
}
check "SIGHUP onto ACME without a validation range: refused, logged" reload_refused
CODE=$("${CURL[@]}" -o "$T/dir2.json" -w '%{http_code}' "$URL/acme/directory")
check "after the refused reload ACME still answers" test "$CODE" = 200
check "and still with eab optional" jq -e '.meta.externalAccountRequired == false' "$T/dir2.json"

kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
check "SIGTERM: exit 0" test "$?" = 0
done_testing
