# ACME refusals (issue 16) against the real `minica serve`, driven by a raw
# client of our own (lib/acme_client.py) that misbehaves where real clients
# will not. Each refusal must come back as application/problem+json with
# the RFC 8555 problem type and HTTP status that fits, and nothing may be
# issued for the name (minica list). Positive controls (the same client
# getting a certificate, a redirect inside the policy being followed, the
# same name being dialed under a CA whose policy permits its address) show
# that each refusal is the server's and for the reason checked.
#
# Refused: a DNS name outside permit_dns and an IP outside permit_ip
# (rejectedIdentifier); a challenge answered with a wrong key authorization
# (challenge, authorization and order invalid, finalize orderNotReady); a
# replayed nonce (badNonce, with a fresh Replay-Nonce that then works); a
# JWS under account A's kid signed by another key (malformed), with an alg
# not taken (badSignatureAlgorithm listing the algorithms), naming another
# url (unauthorized) or a kid that is no account (accountDoesNotExist);
# another account's order read or finalized, and a deactivated account's
# newOrder (unauthorized); finalize CSRs with other names, fewer names, or
# a CN outside the order (badCSR); a validation
# target outside the policy: a name that resolves (/etc/hosts: localhost)
# to an address outside permit_ip is never dialed, neither for http-01 nor
# for tls-alpn-01, and an http-01 redirect to an address outside the policy
# is not followed; where [acme] exists, neither is an address inside
# permit_ip but outside [acme] validate_ip. The responder records every TCP
# connection it accepts, which proves "not dialed".
#
# ACME on: `[acme] enabled = yes, eab = optional` is appended to each CA's
# minica.conf when the binary reads that section; one that refuses unknown
# sections (ACME always on) gets its file back unchanged. validate_ip is
# left unset (CA C aside), so the validator dials what [policy] permit_ip
# permits.
#
# Addresses: 127.0.0.0/28 is the main CA's permit_ip and every scenario has
# its own address in it (all of 127/8 is loopback on Linux), so "nothing
# issued for NAME" is about that scenario alone; 127.0.0.100 is loopback
# outside the policy. Ports and isolation as in test_acme_clients.sh
# (lib/acme.sh): a network namespace of its own when root, else the test
# build's validation-port hook.
: "${SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
source "$SRCDIR/tests/integration/lib/acme.sh"
acme_isolate "$0" "$@"
source "$SRCDIR/tests/integration/lib/common.sh"

CLIENT_PY=$SRCDIR/tests/integration/lib/acme_client.py
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-60}

# acme_enable CA: turns ACME on in CA/minica.conf ([acme], EAB optional)
# when this binary knows the section; a binary from before [acme] (ACME
# always on, unknown sections refused) gets the file back as it was.
ACME_SECTION=no
acme_enable() {
    local conf=$1/minica.conf
    grep -q '^\[acme\]' "$conf" && return 0
    cp "$conf" "$T/minica.conf.orig"
    printf '[acme]\nenabled = yes\neab = optional\n' >>"$conf"
    if "$MINICA" ca status --dir "$1" 2>&1 >/dev/null | grep -q 'unknown section \[acme\]'; then
        cp "$T/minica.conf.orig" "$conf"
        ACME_SECTION=no
    else
        ACME_SECTION=yes
    fi
}

# ask CLIENT_ARGS...: one client run against $DIR_URL with state $ST; its
# JSON answer in $J ('{}' when the client itself failed or timed out).
ask() {
    J=$(timeout "$CLIENT_TIMEOUT" python3 "$CLIENT_PY" --directory "$DIR_URL" --cafile "$ROOT" \
        --state "$ST" "$@" 2>"$T/client.err")
    local rc=$?
    if [ "$rc" -ne 0 ] || [ -z "$J" ]; then
        echo "# client $1 exit $rc: $(tail -n 3 "$T/client.err" | tr '\n' ' ')"
        J='{}'
    fi
}
# jqok DESC FILTER: $J satisfies FILTER.
jqok() {
    if jq -e "$2" >/dev/null 2>&1 <<<"$J"; then
        pass "$1"
    else
        fail "$1: got $(jq -c 'if .challenge then {challenge: [.challenge[].body | {status, error}],
            authz: [.authz[].body.status], order: .order.body.status, hits: (.hits | length)}
            else {status, type, detail} end' <<<"$J" 2>/dev/null | head -c 600)"
    fi
}
# problem DESC STATUS TYPE [JQ_PATH]: the answer at JQ_PATH (default .) is an
# RFC 7807 problem document of TYPE with HTTP status STATUS (or one of
# "A, B"), and carries a fresh nonce (RFC 8555 6.5).
problem() {
    local p=${4:-.}
    jqok "$1: HTTP $2, $3" \
        "$p | (.status | IN($2)) and .type == \"$3\" and
         (.content_type | startswith(\"application/problem+json\")) and
         .body.type == \"urn:ietf:params:acme:error:$3\" and (.nonce | length > 0)"
}
# nothing_issued CA NAME DESC
nothing_issued() {
    check "$3: nothing issued for $2" acme_nothing_issued "$1" "$2"
}
inventory_size() { "$MINICA" list --dir "$1" --status all --json | jq length; }

# --- CA A: permit_dns localhost, permit_ip 127.0.0.0/28 ------------------
CA=$T/ca
run "$MINICA" init --dir "$CA" --permit-dns localhost --permit-ip 127.0.0.0/28
expect_ok "init CA A (permit_dns localhost, permit_ip 127.0.0.0/28)"
acme_enable "$CA"
echo "# [acme] section: $ACME_SECTION ($([ "$ACME_SECTION" = yes ] && echo "this binary reads it" ||
    echo "this binary refuses unknown sections; ACME is on without it"))"
ROOT=$CA/root.crt
if ! acme_serve_start "$CA" S; then
    fail "minica serve starts for CA A"
    done_testing
fi
DIR_URL=$S_DIRECTORY
HP=$S_HTTP_PORT
ST=$T/client-a
echo "# serve is $ACME_SERVE_BIN; http-01 dialed on port $HP" \
    "$([ "${ACME_NETNS:-}" = 1 ] && echo "(a network namespace of its own)")"

ask account --key a
jqok "newAccount without EAB: 201 with the account URL" '.status == 201 and (.location | test("/acme/acct/"))'

# Positive control: this client gets a certificate by http-01, for an IP
# and for a DNS name that /etc/hosts resolves, and it verifies.
ask order --key a ip:127.0.0.2
ORDER=$(jq -r '.location // empty' <<<"$J")
jqok "control: newOrder for 127.0.0.2 is 201 pending" '.status == 201 and .body.status == "pending"'
ask authorize --key a "$ORDER" --port "$HP" --listen 127.0.0.2
jqok "control: the right key authorization makes the order ready" \
    '.challenge[0].body.status == "valid" and .authz[0].body.status == "valid" and .order.body.status == "ready"'
ask finalize --key a "$ORDER" --names 127.0.0.2 --cn 127.0.0.2 --out "$T/control.pem"
jqok "control: finalize issues" '.status == 200 and .order.body.status == "valid" and .certificate.status == 200'
check "control: the certificate verifies under the root for 127.0.0.2 (openssl)" \
    acme_verify "$ROOT" "$T/control.pem" 127.0.0.2
check "control: minica list has it" test "$(acme_status "$CA" "$(acme_serial "$T/control.pem")")" = valid

ask order --key a dns:localhost
ORDER=$(jq -r '.location // empty' <<<"$J")
ask authorize --key a "$ORDER" --port "$HP" --listen 127.0.0.1
jqok "control: localhost is resolved and dialed on 127.0.0.1 under CA A" \
    '.order.body.status == "ready" and ([.hits[] | select(.connect_from)] | length > 0)'

# The listener that stands in for tls-alpn-01 records a validator that
# connects (the handshake then fails: it is no TLS server).
ask order --key a ip:127.0.0.3
ORDER=$(jq -r '.location // empty' <<<"$J")
ask authorize --key a "$ORDER" --type tls-alpn-01 --port "$S_TLS_PORT" --listen 127.0.0.3
jqok "control: tls-alpn-01 to 127.0.0.3 connects to the listener there" \
    '.challenge[0].body.status == "invalid" and (.hits | length > 0)'

# --- names outside the policy ---------------------------------------------
ask order --key a dns:example.org
problem "newOrder for a DNS name outside permit_dns" 400 rejectedIdentifier
jqok "the refusal names the name" '.detail | test("example.org")'
nothing_issued "$CA" example.org "DNS name outside the policy"
ask order --key a ip:10.9.9.9
problem "newOrder for an IP outside permit_ip" 400 rejectedIdentifier
jqok "the refusal names the address" '.detail | test("10.9.9.9")'
nothing_issued "$CA" 10.9.9.9 "IP outside the policy"
# An address sent as a dns identifier (lego does) or a name as an ip one,
# and a wildcard, which needs dns-01 (not offered).
ask order --key a dns:127.0.0.4
problem "newOrder with an address as a dns identifier" 400 rejectedIdentifier
ask order --key a ip:localhost
problem "newOrder with a name as an ip identifier" 400 rejectedIdentifier
ask order --key a 'dns:*.localhost'
problem "newOrder for a wildcard" 400 rejectedIdentifier
ask order --key a ip:127.0.0.4 dns:example.org
problem "newOrder with one name inside and one outside" 400 rejectedIdentifier
nothing_issued "$CA" 127.0.0.4 "an order with one name outside the policy"

# --- a failed challenge ---------------------------------------------------
ask order --key a ip:127.0.0.5
ORDER=$(jq -r '.location // empty' <<<"$J")
ask finalize --key a "$ORDER" --names 127.0.0.5 --cn 127.0.0.5
problem "finalize before any challenge" 403 orderNotReady
ask authorize --key a "$ORDER" --port "$HP" --listen 127.0.0.5 --answer wrong
jqok "wrong key authorization: the validator fetched it" '[.hits[] | select(.path)] | length > 0'
jqok "wrong key authorization: the challenge is invalid with incorrectResponse or unauthorized" \
    '.challenge[0].body.status == "invalid" and
     (.challenge[0].body.error.type | IN("urn:ietf:params:acme:error:incorrectResponse",
                                         "urn:ietf:params:acme:error:unauthorized"))'
jqok "wrong key authorization: the authorization is invalid" '.authz[0].body.status == "invalid"'
jqok "wrong key authorization: the authorization's challenge carries the error" \
    '[.authz[0].body.challenges[] | select(.type == "http-01") | .error.type] | length == 1'
jqok "wrong key authorization: the order is invalid" '.order.body.status == "invalid"'
ask finalize --key a "$ORDER" --names 127.0.0.5 --cn 127.0.0.5
problem "finalize after a failed challenge" 403 orderNotReady
nothing_issued "$CA" 127.0.0.5 "failed challenge"

# --- nonces ---------------------------------------------------------------
ask account --key r
R_ORDERS=$(jq -r '.body.orders // empty' <<<"$J")
ask post --key r newOrder --payload '{"identifiers":[{"type":"ip","value":"127.0.0.6"}]}' --save "$T/req.jws"
jqok "nonce: a first newOrder is 201" '.status == 201'
SENT_NONCE=$(jq -r .protected "$T/req.jws" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .nonce)
ask send newOrder "$T/req.jws"
problem "the same request sent again (a replay)" 400 badNonce
FRESH=$(jq -r '.nonce // empty' <<<"$J")
check "badNonce: the Replay-Nonce is a new one" test -n "$FRESH" -a "$FRESH" != "$SENT_NONCE"
ask post --key r "$R_ORDERS" --nonce "$SENT_NONCE"
problem "a new request with the spent nonce" 400 badNonce
ask post --key r "$R_ORDERS" --nonce "AAAAAAAAAAAAAAAAAAAAAA"
problem "a nonce the server never gave" 400 badNonce
ask post --key r "$R_ORDERS" --nonce "$FRESH"
jqok "the badNonce answer's Replay-Nonce then works" '.status == 200'
jqok "the replay made no second order" '.body.orders | length == 1'

# --- a JWS signed by another key than the kid's --------------------------
# RFC 8555 6.2 wants the JWS verified with the kid's account key and names
# no problem type for a signature that does not verify; malformed is what
# the server answers (as Boulder and Pebble do), unauthorized would do too.
ask account --key w
W_ORDERS=$(jq -r '.body.orders // empty' <<<"$J")
ask account --key b
B_ORDERS=$(jq -r '.body.orders // empty' <<<"$J")
ask post --key w newOrder --payload '{"identifiers":[{"type":"ip","value":"127.0.0.7"}]}' --sign-key b
jqok "kid of account W, signed by account B's key: 400 malformed or 403 unauthorized" \
    '(.status == 400 and .type == "malformed") or (.status == 403 and .type == "unauthorized")'
problem "kid of account W, signed by account B's key" 400 malformed
ask post --key w newOrder --payload '{"identifiers":[{"type":"ip","value":"127.0.0.7"}]}' --sign-key stranger
problem "kid of account W, signed by a key no account has" 400 malformed
# RFC 8555 6.2: an alg the server does not take is badSignatureAlgorithm,
# and the problem MUST list the algorithms it takes.
ask post --key w newOrder --payload '{"identifiers":[{"type":"ip","value":"127.0.0.7"}]}' --alg HS256
problem "a JWS with alg HS256" 400 badSignatureAlgorithm
jqok "badSignatureAlgorithm lists the algorithms taken (RFC 8555 6.2)" \
    '.body.algorithms | type == "array" and index("ES256") != null and index("RS256") != null'
# RFC 8555 6.4: a url in the JWS other than the request's is unauthorized.
ask post --key w newOrder --payload '{"identifiers":[{"type":"ip","value":"127.0.0.7"}]}' --jws-url revokeCert
jqok "a JWS whose url is another resource's: unauthorized (RFC 8555 6.4)" \
    '.type == "unauthorized" and .status >= 400 and .status < 500'
# A kid that names no account of this CA (RFC 8555 6.7 accountDoesNotExist).
ask post --key w newOrder --payload '{"identifiers":[{"type":"ip","value":"127.0.0.7"}]}' \
    --kid "${W_ORDERS%/orders}x"
problem "a kid that is no account" 400 accountDoesNotExist
ask post --key w "$W_ORDERS"
jqok "the refused requests made no order for W" '.status == 200 and (.body.orders | length == 0)'
ask post --key b "$B_ORDERS"
jqok "nor for B, whose key signed them" '.status == 200 and (.body.orders | length == 0)'
nothing_issued "$CA" 127.0.0.7 "wrongly signed newOrder"

# --- finalize CSRs that do not match the order ---------------------------
ask order --key a ip:127.0.0.8
ORDER=$(jq -r '.location // empty' <<<"$J")
ask authorize --key a "$ORDER" --port "$HP" --listen 127.0.0.8
jqok "CSR checks: the order for 127.0.0.8 is ready" '.order.body.status == "ready"'
BEFORE=$(inventory_size "$CA")
ask finalize --key a "$ORDER" --names 127.0.0.8,127.0.0.9 --cn 127.0.0.8
problem "a CSR with a name more than the order's" 400 badCSR
jqok "the refusal names the extra name" '.detail | test("127.0.0.9")'
ask finalize --key a "$ORDER" --names 127.0.0.9 --cn 127.0.0.9
problem "a CSR with another name than the order's" 400 badCSR
ask finalize --key a "$ORDER" --names 127.0.0.8 --cn 127.0.0.9
problem "a CSR whose CN is not in the order" 400 badCSR
nothing_issued "$CA" 127.0.0.8 "CSRs with other names"
nothing_issued "$CA" 127.0.0.9 "CSRs with other names"
# The order is still ready; another account's right key is not its owner's.
ask post --key b "$ORDER"
problem "account B reads account A's order" 403 unauthorized
ask finalize --key b "$ORDER" --names 127.0.0.8 --cn 127.0.0.8
jqok "account B finalizes account A's order: refused, unauthorized" \
    '.order_before.status == 403 and .order_before.type == "unauthorized"'
CSR8=$(openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -subj /CN=127.0.0.8 -addext subjectAltName=IP:127.0.0.8 -outform DER 2>/dev/null |
    base64 -w0 | tr '+/' '-_' | tr -d =)
ask post --key b "${ORDER}/finalize" --payload "{\"csr\":\"$CSR8\"}"
problem "account B posts a right CSR (openssl) to account A's finalize URL" 403 unauthorized
nothing_issued "$CA" 127.0.0.8 "another account's finalize"

# A deactivated account's key authorizes nothing more (RFC 8555 7.3.6).
ask account --key d
D_ACCT=$(jq -r '.location // empty' <<<"$J")
ask post --key d "$D_ACCT" --payload '{"status":"deactivated"}'
jqok "account D deactivates itself" '.status == 200 and .body.status == "deactivated"'
ask order --key d ip:127.0.0.9
# 403, as for another account's order: a 401 would need WWW-Authenticate.
problem "newOrder by a deactivated account" "403" unauthorized
nothing_issued "$CA" 127.0.0.9 "a deactivated account"

ask order --key a ip:127.0.0.10 ip:127.0.0.11
ORDER2=$(jq -r '.location // empty' <<<"$J")
ask authorize --key a "$ORDER2" --port "$HP" --listen 127.0.0.10 --listen 127.0.0.11
jqok "CSR checks: the order for 127.0.0.10 and .11 is ready" '.order.body.status == "ready"'
ask finalize --key a "$ORDER2" --names 127.0.0.10 --cn 127.0.0.10
problem "a CSR with fewer names than the order" 400 badCSR
nothing_issued "$CA" 127.0.0.10 "a CSR with fewer names"
nothing_issued "$CA" 127.0.0.11 "a CSR with fewer names"
check "no refused CSR added a certificate to the inventory" test "$(inventory_size "$CA")" = "$BEFORE"
ask post --key a "${ORDER}/finalize" --payload "{\"csr\":\"$CSR8\"}"
jqok "control: the CSR account B sent, from account A, is issued" '.status == 200 and (.body.status | IN("valid", "processing"))'
# A refused CSR leaves the order ready for a right one.
ask finalize --key a "$ORDER2" --names 127.0.0.10,127.0.0.11 --cn 127.0.0.10 --out "$T/two.pem"
jqok "after the refusals, the order's own names are issued" '.status == 200 and .order.body.status == "valid"'
check "that certificate verifies for 127.0.0.11 (openssl)" acme_verify "$ROOT" "$T/two.pem" 127.0.0.11

# --- http-01 redirects ----------------------------------------------------
# Inside the policy a redirect is followed: the refusals below are the
# policy's, not a validator that never follows.
ask order --key a ip:127.0.0.14
ORDER=$(jq -r '.location // empty' <<<"$J")
ask authorize --key a "$ORDER" --port "$HP" --listen 127.0.0.14 --listen 127.0.0.15 \
    --answer "redirect=http://127.0.0.15:$HP/.well-known/acme-challenge/{token}"
jqok "control: a redirect to 127.0.0.15 (inside permit_ip) is followed" \
    '.challenge[0].body.status == "valid" and ([.hits[] | select(.local == "127.0.0.15" and .path)] | length > 0)'

ask order --key a ip:127.0.0.12
ORDER=$(jq -r '.location // empty' <<<"$J")
ask authorize --key a "$ORDER" --port "$HP" --listen 127.0.0.12 --listen 127.0.0.100 \
    --answer "redirect=http://127.0.0.100:$HP/.well-known/acme-challenge/{token}"
jqok "redirect to 127.0.0.100 (loopback outside permit_ip): the challenge is invalid" \
    '.challenge[0].body.status == "invalid" and .authz[0].body.status == "invalid" and .order.body.status == "invalid"'
jqok "redirect to 127.0.0.100: the error says the redirect was not followed" \
    '.challenge[0].body.error.detail | test("not following the redirect")'
jqok "redirect to 127.0.0.100: the validator reached the identifier's address" \
    '[.hits[] | select(.local == "127.0.0.12" and .path)] | length > 0'
jqok "redirect to 127.0.0.100: no connection reached 127.0.0.100" \
    '[.hits[] | select(.local == "127.0.0.100")] | length == 0'
nothing_issued "$CA" 127.0.0.12 "a redirect outside the policy"

ask order --key a ip:127.0.0.13
ORDER=$(jq -r '.location // empty' <<<"$J")
ask authorize --key a "$ORDER" --port "$HP" --listen 127.0.0.13 \
    --answer "redirect=http://10.255.255.1:$HP/.well-known/acme-challenge/{token}"
jqok "redirect to 10.255.255.1: the challenge is invalid, not followed, for the policy" \
    '.challenge[0].body.status == "invalid" and
     (.challenge[0].body.error.detail | test("not following the redirect.*outside the permitted IP ranges"))'
nothing_issued "$CA" 127.0.0.13 "a redirect to 10.255.255.1"

# --- CA B: localhost permitted as a name, its address not -----------------
CB=$T/cb
run "$MINICA" init --dir "$CB" --permit-dns localhost --permit-ip 10.20.0.0/16
expect_ok "init CA B (permit_dns localhost, permit_ip 10.20.0.0/16)"
acme_enable "$CB"
# serve's own certificate cannot name 127.0.0.1 under this policy (the
# intermediate's name constraints keep it out), so it is reached as
# localhost; otherwise as acme_serve_start does.
serve_b_start() {
    local port http tls pid _
    for _ in 1 2 3; do
        port=$(free_port)
        http=${ACME_CHALLENGE_HTTP_PORT:-$(free_port)}
        tls=${ACME_CHALLENGE_TLS_PORT:-$(free_port)}
        # shellcheck disable=SC2046
        env $(acme_validator_env "$http" "$tls") "$ACME_SERVE_BIN" serve --dir "$CB" \
            --listen "127.0.0.1:$port" --san localhost --timeout 10s 2>"$T/serve-b.log" &
        pid=$!
        track_pid "$pid"
        for _ in $(seq 1 100); do
            if [ "$(http_code "https://localhost:$port/v1/health" --cacert "$CB/root.crt" \
                --resolve "localhost:$port:127.0.0.1")" = 200 ]; then
                SB_DIRECTORY=https://localhost:$port/acme/directory
                SB_HTTP_PORT=$http
                SB_TLS_PORT=$tls
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        grep -q "in use" "$T/serve-b.log" || break
    done
    echo "# serve did not start: $(tail -n 3 "$T/serve-b.log" | tr '\n' ' ')"
    return 1
}
if ! serve_b_start; then
    fail "minica serve starts for CA B"
    done_testing
fi
DIR_URL=$SB_DIRECTORY
ROOT=$CB/root.crt
ST=$T/client-b
# serve's own TLS certificate for localhost is in CA B's inventory: what
# counts is that ACME adds none.
names_count() { "$MINICA" list "$2" --dir "$1" --status all --json | jq length; }
B_LOCALHOST=$(names_count "$CB" localhost)
ask account --key a
ask order --key a dns:localhost
ORDER=$(jq -r '.location // empty' <<<"$J")
jqok "CA B: newOrder for localhost (a permitted name) is 201" '.status == 201'
ask authorize --key a "$ORDER" --port "$SB_HTTP_PORT" --listen 127.0.0.1
jqok "CA B: localhost resolves to 127.0.0.1, outside permit_ip: the challenge is invalid" \
    '.challenge[0].body.status == "invalid" and .authz[0].body.status == "invalid" and .order.body.status == "invalid"'
jqok "CA B: the error is rejectedIdentifier, not dialing localhost" \
    '.challenge[0].body.error.type == "urn:ietf:params:acme:error:rejectedIdentifier" and
     (.challenge[0].body.error.detail | test("not dialing localhost"))'
jqok "CA B: no connection reached the responder on 127.0.0.1" '.hits | length == 0'
ask finalize --key a "$ORDER" --names localhost --cn localhost
problem "CA B: finalize after the refused validation" 403 orderNotReady
# The same for tls-alpn-01: the validator must not connect to the TLS port.
ask order --key a dns:localhost
ORDER=$(jq -r '.location // empty' <<<"$J")
ask authorize --key a "$ORDER" --type tls-alpn-01 --port "$SB_TLS_PORT" --listen 127.0.0.1
jqok "CA B: tls-alpn-01 for localhost is invalid, rejectedIdentifier" \
    '.challenge[0].body.status == "invalid" and
     .challenge[0].body.error.type == "urn:ietf:params:acme:error:rejectedIdentifier"'
jqok "CA B: no connection reached 127.0.0.1's TLS validation port" '.hits | length == 0'
check "CA B: a validation target outside the policy: no certificate for localhost but serve's own" \
    test "$(names_count "$CB" localhost)" = "$B_LOCALHOST"

# --- CA C: [acme] validate_ip narrower than permit_ip ----------------------
# Where the binary reads [acme]: the validator dials only validate_ip, even
# for an address the policy would issue for.
if [ "$ACME_SECTION" = yes ]; then
    CC=$T/cc
    run "$MINICA" init --dir "$CC" --permit-dns localhost --permit-ip 127.0.0.0/28
    expect_ok "init CA C (permit_ip 127.0.0.0/28)"
    printf '[acme]\nenabled = yes\neab = optional\nvalidate_ip = 127.0.0.2/32\n' >>"$CC/minica.conf"
    if ! acme_serve_start "$CC" SC; then
        fail "minica serve starts for CA C (validate_ip 127.0.0.2/32)"
        done_testing
    fi
    DIR_URL=$SC_DIRECTORY
    ROOT=$CC/root.crt
    ST=$T/client-c
    ask account --key a
    ask order --key a ip:127.0.0.2
    ORDER=$(jq -r '.location // empty' <<<"$J")
    ask authorize --key a "$ORDER" --port "$SC_HTTP_PORT" --listen 127.0.0.2
    jqok "CA C: control: 127.0.0.2, inside validate_ip, is dialed and valid" \
        '.order.body.status == "ready" and (.hits | length > 0)'
    ask order --key a ip:127.0.0.3
    ORDER=$(jq -r '.location // empty' <<<"$J")
    jqok "CA C: newOrder for 127.0.0.3 (inside permit_ip) is 201" '.status == 201'
    ask authorize --key a "$ORDER" --port "$SC_HTTP_PORT" --listen 127.0.0.3
    jqok "CA C: 127.0.0.3, outside validate_ip, is not dialed: rejectedIdentifier" \
        '.challenge[0].body.status == "invalid" and
         .challenge[0].body.error.type == "urn:ietf:params:acme:error:rejectedIdentifier" and
         (.hits | length == 0)'
    ask order --key a ip:127.0.0.2
    ORDER=$(jq -r '.location // empty' <<<"$J")
    ask authorize --key a "$ORDER" --port "$SC_HTTP_PORT" --listen 127.0.0.2 --listen 127.0.0.3 \
        --answer "redirect=http://127.0.0.3:$SC_HTTP_PORT/.well-known/acme-challenge/{token}"
    jqok "CA C: a redirect to 127.0.0.3 (outside validate_ip) is not followed" \
        '.challenge[0].body.status == "invalid" and
         ([.hits[] | select(.local == "127.0.0.3")] | length == 0)'
    nothing_issued "$CC" 127.0.0.3 "CA C: outside validate_ip"
fi

done_testing
