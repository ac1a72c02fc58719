# ACME Renewal Information (RFC 9773) and the certificate URL across a
# rotation, on `minica serve`'s real HTTPS front with a certificate lego
# got by http-01. The certID is built from what openssl prints of lego's
# certificate (AKI keyIdentifier, serial), the window checked against the
# certificate's own dates; after `minica ca rotate` and SIGHUP the window
# says renew now, and the old order's certificate URL still sends a chain
# that `openssl verify` accepts, which today's chain does not. Requests
# lego cannot be made to send (Debian's lego 4.9 has no ARI) are signed
# with lego's own account key by lib/acme_post.py.
: "${SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
source "$SRCDIR/tests/integration/lib/acme.sh"
acme_isolate "$0" "$@"
source "$SRCDIR/tests/integration/lib/common.sh"

# Debian's python3 has the cryptography module certbot uses.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"
ROOT=$CA/root.crt
if ! acme_serve_start "$CA" S; then
    fail "minica serve starts"
    done_testing
fi
DIR_URL=$(acme_directory_url S)
CURL=(curl -s --max-time 10 --cacert "$ROOT")
"${CURL[@]}" -o "$T/dir.json" "$DIR_URL"
check "the directory names renewalInfo" \
    test "$(jq -r .renewalInfo "$T/dir.json")" = "$S_URL/acme/renewal-info"

# --- a certificate from lego -------------------------------------------------
ST=$T/lego
run lego_run "$ROOT" "$ST" --server "$DIR_URL" --accept-tos --email ari@example.com \
    --http --http.port "127.0.0.1:$S_HTTP_PORT" -d localhost run
expect_ok "lego gets a certificate for localhost"
CRT=$ST/certificates/localhost.crt
LEAF=$T/leaf.pem
acme_leaf "$CRT" "$LEAF"

b64url() { xxd -r -p | basenc --base64url -w0 | tr -d '='; }
# certid PEM: base64url(AKI keyIdentifier) "." base64url(serial DER contents).
certid() {
    local aki serial
    aki=$(openssl x509 -in "$1" -noout -ext authorityKeyIdentifier |
        sed -n 2p | sed 's/keyid://' | tr -d ' :\n')
    serial=$(openssl x509 -in "$1" -noout -serial | cut -d= -f2)
    [ $((${#serial} % 2)) = 1 ] && serial=0$serial
    # A DER INTEGER with its top bit set gets a zero octet in front.
    case $serial in [89A-Fa-f]*) serial=00$serial ;; esac
    printf '%s.%s' "$(printf %s "$aki" | b64url)" "$(printf %s "$serial" | b64url)"
}
CERTID=$(certid "$LEAF")
echo "# certID $CERTID"
NB=$(date -d "$(openssl x509 -in "$LEAF" -noout -startdate | cut -d= -f2)" +%s)
NA=$(date -d "$(openssl x509 -in "$LEAF" -noout -enddate | cut -d= -f2)" +%s)
# window_of JSON FIELD: the window's start or end as Unix time.
window_of() { date -d "$(jq -r ".suggestedWindow.$2" "$1")" +%s; }

CODE=$("${CURL[@]}" -D "$T/ri.h" -o "$T/ri.json" -w '%{http_code}' "$S_URL/acme/renewal-info/$CERTID")
check "renewal-info: 200 for lego's certificate" test "$CODE" = 200
check "renewal-info: Retry-After 6 h" grep -qi '^retry-after: 21600' "$T/ri.h"
check "renewal-info: application/json" grep -qi '^content-type: application/json' "$T/ri.h"
check "renewal-info: the window starts at 2/3 of its life" \
    test "$(window_of "$T/ri.json" start)" = $((NB + (NA - NB) * 2 / 3))
check "renewal-info: and ends at 5/6" \
    test "$(window_of "$T/ri.json" end)" = $((NB + (NA - NB) * 5 / 6))
CODE=$("${CURL[@]}" -o "$T/unknown.json" -w '%{http_code}' "$S_URL/acme/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
check "renewal-info: 404 malformed for a certificate this CA did not issue" \
    test "$CODE:$(jq -r .type "$T/unknown.json")" = "404:urn:ietf:params:acme:error:malformed"

# --- Content-Type (RFC 8555 6.2) ----------------------------------------------
CODE=$("${CURL[@]}" -o "$T/ct.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data '{"protected":"e30","payload":"","signature":""}' "$S_URL/acme/new-account")
check "a POST as application/json: 415 malformed" \
    test "$CODE:$(jq -r .type "$T/ct.json")" = "415:urn:ietf:params:acme:error:malformed"

# --- lego's account, for requests of our own --------------------------------
ACCT_DIR=$(dirname "$(compgen -G "$ST/accounts/*/ari@example.com/account.json" | head -n 1)")
KID=$(jq -r .registration.uri "$ACCT_DIR/account.json")
KEY=$ACCT_DIR/keys/ari@example.com.key
CERT_URL=$(jq -r .certUrl "$ST/certificates/localhost.json")
acme_post() { "$PY" "$SRCDIR/tests/integration/lib/acme_post.py" "$ROOT" "$KEY" "$KID" "$DIR_URL" "$@"; }
check "lego's account and certificate URL are known" test -f "$KEY" -a -n "$KID" -a -n "$CERT_URL"

# --- newOrder replaces (RFC 9773 5) ------------------------------------------
ORDER="{\"identifiers\":[{\"type\":\"dns\",\"value\":\"localhost\"}],\"replaces\":\"$CERTID\"}"
acme_post "$S_URL/acme/new-order" "$ORDER" >"$T/rep1"
check "newOrder replacing lego's certificate: 201" test "$(head -n 1 "$T/rep1")" = 201
check "the order says what it replaces" \
    test "$(tail -n +2 "$T/rep1" | jq -r .replaces)" = "$CERTID"
acme_post "$S_URL/acme/new-order" "$ORDER" >"$T/rep2"
check "replacing it again: 409 alreadyReplaced" \
    test "$(head -n 1 "$T/rep2"):$(tail -n +2 "$T/rep2" | jq -r .type)" = \
    "409:urn:ietf:params:acme:error:alreadyReplaced"

# --- after a rotation ----------------------------------------------------------
OLD_INT=$T/old-int.pem
cp "$CA/intermediate.crt" "$OLD_INT"
run "$MINICA" ca rotate --dir "$CA"
expect_ok "minica ca rotate"
MARK=$(wc -l <"$S_LOG")
kill -HUP "$S_PID"
reloaded() { tail -n "+$((MARK + 1))" "$S_LOG" | grep -q 'SIGHUP: reloaded the CA'; }
for _ in $(seq 1 100); do reloaded && break; sleep 0.1; done
check "serve reloads the CA on SIGHUP" reloaded

"${CURL[@]}" -o "$T/ri2.json" "$S_URL/acme/renewal-info/$CERTID"
check "renewal-info after the rotation: the window has passed (renew now)" \
    test "$(window_of "$T/ri2.json" end)" -lt "$(date +%s)"

acme_post "$CERT_URL" >"$T/cert.out"
check "the old order's certificate URL: 200" test "$(head -n 1 "$T/cert.out")" = 200
tail -n +2 "$T/cert.out" >"$T/chain.pem"
check "it is lego's certificate" cmp -s <(openssl x509 -in "$T/chain.pem" -outform DER) \
    <(openssl x509 -in "$LEAF" -outform DER)
check "its chain verifies with openssl" \
    openssl verify -CAfile "$ROOT" -untrusted "$T/chain.pem" "$LEAF"
check "the chain holds the intermediate that signed it" \
    cmp -s <(openssl x509 -in "$OLD_INT" -outform DER) \
    <(awk 'n==1{print} /END CERTIFICATE/{n++}' "$T/chain.pem" | openssl x509 -outform DER)
check_not "today's intermediate would not verify it" \
    openssl verify -CAfile "$ROOT" -untrusted "$CA/intermediate.crt" "$LEAF"

kill -TERM "$S_PID"
wait "$S_PID"
check "SIGTERM: exit 0" test "$?" = 0
done_testing
