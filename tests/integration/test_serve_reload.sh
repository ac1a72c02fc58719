#!/bin/bash
# minica serve across the CA's lifecycle (issue 15), without a restart: on
# SIGHUP it reloads the CA after `ca rotate` and `ca rollover`, serves a new
# certificate from the new intermediate (with the cross-certificate during
# the rollover), keeps asking for and renewing leaves of the previous
# intermediates over mutual TLS, and keeps the CA it has when the reload
# fails. A VM bootstrapped with the first root's fingerprint renews across
# all of it and ends up trusting the new root, learnt from /v1/roots.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
VM=$T/vm
NAME=app.internal
mkdir -p "$VM/certs" "$VM/state"
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"
cp "$CA/root.crt" "$T/root1.pem"
"$MINICA" export intermediate --dir "$CA" >"$T/int1.pem"

PORT=$(free_port)
URL=https://127.0.0.1:$PORT
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" 2>"$T/serve.log" &
SERVE_PID=$!
track_pid "$SERVE_PID"
check "serve answers /v1/health" wait_health "$URL"

fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
split_pem() { # split_pem FILE PREFIX: PREFIX.1.pem ...; prints how many
    rm -f "$2".*.pem
    awk -v p="$2" '/-----BEGIN CERTIFICATE-----/ { n++; f = p "." n ".pem" }
        f { print > f } /-----END CERTIFICATE-----/ { close(f); f = "" }
        END { print n + 0 }' "$1"
}
holds() { # holds FILE CERT: one of FILE's certificates is CERT
    local n i
    n=$(split_pem "$1" "$T/.holds")
    for i in $(seq 1 "$n"); do [ "$(fp "$T/.holds.$i.pem")" = "$(fp "$2")" ] && return 0; done
    return 1
}
count_certs() { grep -c -- '-----BEGIN CERTIFICATE-----' "$1"; }
# issued_by CERT CA: CERT's signature is CA's (partial chain: CA is the anchor).
issued_by() { openssl verify -partial_chain -CAfile "$2" "$1" >/dev/null 2>&1; }
# served_by CA [N]: serve's leaf (now) is signed by CA, and it sends N certificates.
served_by() {
    openssl s_client -connect "127.0.0.1:$PORT" -showcerts </dev/null 2>/dev/null >"$T/served"
    local n
    n=$(split_pem "$T/served" "$T/served")
    issued_by "$T/served.1.pem" "$1" && { [ -z "${2:-}" ] || [ "$n" = "$2" ]; }
}
# wait_served_by CA [N]: serve re-issues its certificate right after the
# SIGHUP; bounded polling, no timing asserted.
wait_served_by() {
    local i
    for i in $(seq 1 100); do
        served_by "$@" && return 0
        sleep 0.1
    done
    return 1
}
wait_log() { # wait_log REGEX: a line of serve's log matches it (bounded)
    local i
    for i in $(seq 1 100); do
        grep -qE -- "$1" "$T/serve.log" && return 0
        sleep 0.1
    done
    return 1
}
tls_verifies() { # tls_verifies ROOTS: serve's chain verifies under ROOTS alone
    openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$1" -verify_ip 127.0.0.1 \
        -verify_return_error </dev/null 2>&1 | grep -q "Verify return code: 0"
}
# asks_for CERT: serve's CertificateRequest names CERT's subject (a GnuTLS
# or Go client sends its certificate only when its chain names one).
asks_for() {
    local subj
    subj=$(openssl x509 -in "$1" -noout -subject | sed 's/^subject=//')
    openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
        sed -n '/^Acceptable client certificate CA names/,/^Requested Signature/p' | grep -qxF -- "$subj"
}
leaf_sum() { sha256sum "$VM/certs/$NAME.crt" | cut -d' ' -f1; }

# --- a VM pinned to the first root, enrolled with a token --------------------
run "$MINICA" bootstrap --ca-url "$URL" --fingerprint "$(fp "$T/root1.pem")" --out "$VM"
expect_ok "bootstrap pinned to the first root"
"$MINICA" token "$NAME" --san 127.0.0.1 --ttl 1d --dir "$CA" >"$VM/token"
chmod 600 "$VM/token"
# cert = the leaf alone: libcurl over GnuTLS sends it only when serve's
# CertificateRequest names its issuer (the fullchain would name the root).
cat >"$VM/agent.conf" <<EOF
[agent]
state_dir = $VM/state
ca_url = $URL
root = $VM/root.crt
retry_for = 5s

[cert $NAME]
sans = 127.0.0.1
cert = $VM/certs/$NAME.crt
fullchain = $VM/certs/$NAME.fullchain.crt
key = $VM/certs/$NAME.key
ca = $VM/certs/ca.crt
token_file = $VM/token
EOF
chmod 600 "$VM/agent.conf"
agent() { run "$MINICA" agent --once --config "$VM/agent.conf" "$@"; }
agent
expect_ok "the VM enrolls"
check "its leaf is from the first intermediate" issued_by "$VM/certs/$NAME.crt" "$T/int1.pem"

# --- rotation: SIGHUP switches serve to the new intermediate -----------------
run "$MINICA" ca rotate --dir "$CA"
expect_ok "ca rotate"
"$MINICA" export intermediate --dir "$CA" >"$T/int2.pem"
check_not "before SIGHUP serve still sends the first intermediate's certificate" served_by "$T/int2.pem"
kill -HUP "$SERVE_PID"
check "after SIGHUP serve's certificate is from the new intermediate" wait_served_by "$T/int2.pem" 2
check "serve's chain verifies under the pinned root" tls_verifies "$VM/root.crt"
check "serve.crt on disk is the new one" issued_by "$CA/serve.crt" "$T/int2.pem"
check "serve logged the reload" wait_log "SIGHUP: reloaded the CA"
check "serve is still up" wait_health "$URL"

# A second certificate enrolls under the new intermediate: the VM now has
# leaves of two intermediates, both current.
"$MINICA" token web.internal --san 127.0.0.2 --ttl 1d --dir "$CA" >"$VM/token2"
chmod 600 "$VM/token2"
cat >>"$VM/agent.conf" <<EOF

[cert web.internal]
sans = 127.0.0.2
cert = $VM/certs/web.crt
fullchain = $VM/certs/web.fullchain.crt
key = $VM/certs/web.key
token_file = $VM/token2
EOF
agent
expect_ok "a run after the rotation enrolls the second certificate"
check "from the new intermediate" issued_by "$VM/certs/web.crt" "$T/int2.pem"
before=$(leaf_sum)
web=$(sha256sum "$VM/certs/web.crt")
agent
expect_ok "the next run"
check "the previous intermediate's leaf is not renewed before it is due" test "$(leaf_sum)" = "$before"
check "nor the new intermediate's" test "$(sha256sum "$VM/certs/web.crt")" = "$web"
agent --force
expect_ok "the previous intermediate's leaf renews over mutual TLS"
check "the renewed leaf is from the new intermediate" issued_by "$VM/certs/$NAME.crt" "$T/int2.pem"

# A second rotation: the leaf of the intermediate serve did not start with
# must still be asked for (its name in the CertificateRequest) and renewed.
run "$MINICA" ca rotate --dir "$CA"
expect_ok "a second ca rotate"
"$MINICA" export intermediate --dir "$CA" >"$T/int3.pem"
kill -HUP "$SERVE_PID"
check "after SIGHUP serve's certificate is from the third intermediate" wait_served_by "$T/int3.pem" 2
check "serve asks for certificates of the first intermediate" asks_for "$T/int1.pem"
check "of the second" asks_for "$T/int2.pem"
check "of the third" asks_for "$T/int3.pem"
check "and of the root" asks_for "$T/root1.pem"
agent --force
expect_ok "a leaf of the second intermediate renews over mutual TLS"
check "the renewed leaf is from the third intermediate" issued_by "$VM/certs/$NAME.crt" "$T/int3.pem"

# --- a failed reload keeps the CA in use ---------------------------------------
chmod 640 "$CA/intermediate.key"
kill -HUP "$SERVE_PID"
check "a reload that cannot open the CA logs one line" wait_log "SIGHUP: cannot reload the CA"
chmod 600 "$CA/intermediate.key"
check "serve still answers" wait_health "$URL"
check "and still sends the third intermediate's certificate" served_by "$T/int3.pem" 2
agent --force
expect_ok "renewals go on after the failed reload"

# --- rollover: a new root, cross-signed by the first --------------------------
run "$MINICA" ca rollover --dir "$CA"
expect_ok "ca rollover"
cp "$CA/root.crt" "$T/roots-ca.pem"
"$MINICA" export intermediate --dir "$CA" >"$T/chain4.pem"
split_pem "$T/chain4.pem" "$T/chain4" >/dev/null
cp "$T/chain4.1.pem" "$T/int4.pem"
cp "$T/chain4.2.pem" "$T/cross.pem"
split_pem "$T/roots-ca.pem" "$T/rootsca" >/dev/null
cp "$T/rootsca.1.pem" "$T/root2.pem"
check "the new root is another root" test "$(fp "$T/root2.pem")" != "$(fp "$T/root1.pem")"
check "the cross-certificate is signed by the first root" issued_by "$T/cross.pem" "$T/root1.pem"
kill -HUP "$SERVE_PID"
check "after SIGHUP serve sends leaf, intermediate and cross-certificate" wait_served_by "$T/int4.pem" 3
check "which verifies under the first root alone" tls_verifies "$T/root1.pem"
check "and under the new root alone" tls_verifies "$T/root2.pem"
check "serve asks for certificates of the new intermediate" asks_for "$T/int4.pem"
check "and of the new root" asks_for "$T/root2.pem"
curl -s --max-time 10 --cacert "$T/root1.pem" "$URL/v1/roots" >"$T/v1roots.pem"
check "/v1/roots holds three certificates" test "$(count_certs "$T/v1roots.pem")" = 3
check "/v1/roots holds the first root" holds "$T/v1roots.pem" "$T/root1.pem"
check "/v1/roots holds the new root" holds "$T/v1roots.pem" "$T/root2.pem"
check "/v1/roots holds the cross-certificate" holds "$T/v1roots.pem" "$T/cross.pem"
for r in root1 root2; do
    run "$MINICA" bootstrap --ca-url "$URL" --fingerprint "$(fp "$T/$r.pem")" --out "$T/boot-$r"
    expect_ok "bootstrap pinned to $r finds it among the roots"
    check "and keeps $r alone" cmp -s "$T/boot-$r/root.crt" "$T/$r.pem"
done

agent
expect_ok "the VM's first run after the rollover"
expect_out "now trusts 1 more root" "the agent says it learnt a root"
check "the VM's root file holds the new root" holds "$VM/root.crt" "$T/root2.pem"
check "and still the first root" holds "$VM/root.crt" "$T/root1.pem"
check "the root file is 0644" test "$(mode_of "$VM/root.crt")" = 644
check "the same run gave the ca = bundle the new root" holds "$VM/certs/ca.crt" "$T/root2.pem"
check "beside the first" holds "$VM/certs/ca.crt" "$T/root1.pem"
agent --force
expect_ok "the VM renews after the rollover"
check "its leaf is from the new root's intermediate" issued_by "$VM/certs/$NAME.crt" "$T/int4.pem"
check "its ca = bundle holds the new root" holds "$VM/certs/ca.crt" "$T/root2.pem"
check "and the first root" holds "$VM/certs/ca.crt" "$T/root1.pem"
check "its leaf verifies under the new root alone" openssl verify -CAfile "$T/root2.pem" \
    -untrusted "$VM/certs/$NAME.fullchain.crt" "$VM/certs/$NAME.crt"
cp "$VM/root.crt" "$T/vmroots.pem"
agent
expect_ok "a run with nothing new"
check "leaves the root file alone" cmp -s "$VM/root.crt" "$T/vmroots.pem"

kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
check "serve stops cleanly" test $? = 0
done_testing
