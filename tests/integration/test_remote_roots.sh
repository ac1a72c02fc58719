#!/bin/bash
# What a remote agent takes from GET /v1/roots (issue 15): a new root only
# when a cross-certificate in the answer, signed by a root it trusts, has
# exactly that root's subject and public key. A stand-in server
# (lib/fake_roots.py, with a TLS certificate from the real CA so the
# connection verifies) offers roots nobody vouched for, a forged
# cross-certificate and one for another key: each is refused in one line
# and the root file stays as it was; the genuine cross-certificate gets its
# root in.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
VM=$T/vm
S=$T/stub
mkdir -p "$VM/certs" "$VM/state" "$S"
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"
cp "$CA/root.crt" "$T/root1.pem"
run "$MINICA" issue 127.0.0.1 --dir "$CA" --out "$S"
expect_ok "a TLS certificate for the stand-in, from the real CA"

# openssl-made CA certificates, for the answers.
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$S/$1.key" 2>/dev/null; }
printf '%s\n' "basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign,cRLSign" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$S/ca.ext"
selfsigned() { # selfsigned NAME SUBJECT
    openssl req -x509 -key "$S/$1.key" -subj "$2" -days 30 -out "$S/$1.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
cross() { # cross OUT KEY-OF-SUBJECT SUBJECT ISSUER-CERT ISSUER-KEY
    openssl req -new -key "$S/$2.key" -subj "$3" -out "$S/$1.csr" 2>/dev/null &&
        openssl x509 -req -in "$S/$1.csr" -CA "$4" -CAkey "$5" -set_serial "$RANDOM" -days 30 \
            -extfile "$S/ca.ext" -out "$S/$1.pem" 2>/dev/null
}
OLDSUBJ=$(openssl x509 -in "$T/root1.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
NEWSUBJ="/CN=minica Root CA 2"
key new
key other
key fakeold
selfsigned new "$NEWSUBJ"
# The old root's name over another key: what a forger can sign with.
selfsigned fakeold "$OLDSUBJ"
cross forged new "$NEWSUBJ" "$S/fakeold.pem" "$S/fakeold.key"
# Signed by the real old root, but for another key than the offered root's.
cross otherkey other "$NEWSUBJ" "$T/root1.pem" "$CA/root.key"
# The genuine article: the old root certifies the new root's name and key.
cross genuine new "$NEWSUBJ" "$T/root1.pem" "$CA/root.key"
check "the forged cross-certificate names the old root as issuer" test \
    "$(openssl x509 -in "$S/forged.pem" -noout -issuer -nameopt compat | sed 's/^issuer=//')" = "$OLDSUBJ"
check_not "but the old root did not sign it" openssl verify -partial_chain -CAfile "$T/root1.pem" "$S/forged.pem"
check "the old root signed the genuine one" openssl verify -partial_chain -CAfile "$T/root1.pem" "$S/genuine.pem"

cat "$T/root1.pem" >"$S/roots.pem"
tries=0
while :; do
    PORT=$(free_port)
    python3 "$SRCDIR/tests/integration/lib/fake_roots.py" "$PORT" "$S/127.0.0.1.fullchain.crt" \
        "$S/127.0.0.1.key" "$S/roots.pem" "$S/log" >"$S/out" 2>&1 &
    STUB=$!
    track_pid "$STUB"
    for i in $(seq 1 100); do
        grep -q listening "$S/out" && break
        kill -0 "$STUB" 2>/dev/null || break
        sleep 0.1
    done
    grep -q listening "$S/out" && break
    tries=$((tries + 1))
    [ $tries -lt 5 ] || break
done
check "the stand-in is up" grep -q listening "$S/out"

cp "$T/root1.pem" "$VM/root.crt"
printf 'not-a-real-token\n' >"$VM/token"
chmod 600 "$VM/token"
cat >"$VM/agent.conf" <<EOF
[agent]
state_dir = $VM/state
ca_url = https://127.0.0.1:$PORT
root = $VM/root.crt
retry_for = 0

[cert app.internal]
sans = 127.0.0.1
fullchain = $VM/certs/app.fullchain.crt
key = $VM/certs/app.key
token_file = $VM/token
EOF
chmod 600 "$VM/agent.conf"
# offer WHAT FILES...: /v1/roots answers FILES; one agent run (its
# enrollment is refused by the stand-in, which is not what is tested).
offer() {
    local what=$1
    shift
    cat "$@" >"$S/roots.pem"
    : >"$S/log"
    run "$MINICA" agent --once --config "$VM/agent.conf"
    check "$what: the agent asked for /v1/roots" grep -qx "GET /v1/roots" "$S/log"
}
refused() { # refused WHAT FILES...: the offer is refused, the root file unchanged
    local what=$1
    offer "$@"
    # (The stand-in's refusal of the enrollment is another line.)
    check "$what: one line says the root was refused" test "$(grep -cE \
        'refused the root .*minica Root CA 2.*no cross-certificate signed by a trusted root' <<<"$ERR")" = 1
    check "$what: the root file is unchanged" cmp -s "$VM/root.crt" "$T/root1.pem"
}

offer "the old root alone" "$T/root1.pem"
check "the old root alone: the root file is unchanged" cmp -s "$VM/root.crt" "$T/root1.pem"
check_not "and nothing is said about roots" grep -q "root" <<<"$OUT"
refused "a root without a cross-certificate" "$T/root1.pem" "$S/new.pem"
refused "a root with a forged cross-certificate" "$T/root1.pem" "$S/new.pem" "$S/forged.pem"
refused "a cross-certificate for another key" "$T/root1.pem" "$S/new.pem" "$S/otherkey.pem"
refused "an unvouched root alone, the old one not listed" "$S/new.pem"
offer "a genuine cross-certificate without its root" "$T/root1.pem" "$S/genuine.pem"
check "a cross-certificate is no anchor: the root file is unchanged" cmp -s "$VM/root.crt" "$T/root1.pem"

offer "the old root vouching for the new one" "$T/root1.pem" "$S/new.pem" "$S/genuine.pem"
expect_out "now trusts 1 more root" "the agent says it learnt a root"
check "the root file holds two roots" test "$(grep -c 'BEGIN CERTIFICATE' "$VM/root.crt")" = 2
check "the old root" sh -c 'openssl verify -CAfile "$1" "$2" >/dev/null' _ "$VM/root.crt" "$T/root1.pem"
check "and the new one" sh -c 'openssl verify -CAfile "$1" "$2" >/dev/null' _ "$VM/root.crt" "$S/new.pem"
check_not "and no cross-certificate" grep -qF "$(sed -n 2p "$S/genuine.pem")" "$VM/root.crt"
check "the root file is 0644" test "$(mode_of "$VM/root.crt")" = 644
cp "$VM/root.crt" "$T/both.pem"

offer "the old root no longer listed" "$S/new.pem" "$S/genuine.pem"
check "the root file holds the new root alone" cmp -s "$VM/root.crt" "$S/new.pem"
done_testing
