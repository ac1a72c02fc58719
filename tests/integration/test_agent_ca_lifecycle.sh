#!/bin/bash
# What the local agent's files say after each step of the CA's lifecycle
# (issue 15): a rotation leaves current leaves alone; a rollover makes every
# ca = bundle wrong (it lacks the new root), so the next run renews; after
# drop-cross the fullchain stops sending the cross-certificate, and after
# the old root is retired the bundle stops trusting it. A run with nothing
# to do renews nothing.
source "$SRCDIR/tests/integration/lib/common.sh"

A=$T/agent
mkdir -m 700 "$A"
cat >"$A/agent.conf" <<EOF2
[agent]
state_dir = $T/ca
lock_file = $A/agent.lock
status_file = $A/agent.status

[cert up.svc]
cert = $A/up.crt
fullchain = $A/up.fullchain.crt
key = $A/up.key
ca = $A/ca.crt
ttl = 30d
EOF2
count() { grep -c 'BEGIN CERTIFICATE' "$1"; }
serial() { openssl x509 -in "$A/up.crt" -noout -serial | cut -d= -f2; }
verifies() { # verifies BUNDLE: the leaf against BUNDLE with its fullchain
    openssl verify -CAfile "$1" -untrusted "$A/up.fullchain.crt" "$A/up.crt" >/dev/null 2>&1
}
agent() { "$MINICA_FAKECLOCK" agent --once --config "$A/agent.conf"; }

run "$MINICA" init --dir "$T/ca"
expect_ok "init"
run agent
expect_ok "first run issues"
first=$(serial)
cp "$T/ca/root.crt" "$T/root1.pem"

run "$MINICA" ca rotate --dir "$T/ca"
expect_ok "rotate"
run agent
expect_ok "run after the rotation"
check "a rotation renews nothing: the leaf of the previous intermediate is current" \
    test "$(serial)" = "$first"

run "$MINICA" ca rollover --dir "$T/ca"
expect_ok "rollover"
run agent
expect_ok "run after the rollover"
expect_out "renewed up.svc.*$A/ca.crt does not hold the CA's current roots" \
    "the run renews because the bundle lacks the new root, and says so"
check "the bundle holds both roots" test "$(count "$A/ca.crt")" = 2
check "the fullchain sends leaf, intermediate, cross-certificate" \
    test "$(count "$A/up.fullchain.crt")" = 3
check "a client with only the old root still verifies" verifies "$T/root1.pem"
check "a client with the new bundle verifies" verifies "$A/ca.crt"
renewed=$(serial)
run agent
check "a second run renews nothing" test "$(serial)" = "$renewed"

run "$MINICA" ca drop-cross --dir "$T/ca"
expect_ok "drop-cross once up.svc is renewed under the new root"
run agent
expect_ok "run after drop-cross"
check "the fullchain no longer sends the cross-certificate" \
    test "$(count "$A/up.fullchain.crt")" = 2
check "the new bundle verifies the new chain" verifies "$A/ca.crt"
check_not "a client with only the old root no longer does" verifies "$T/root1.pem"

old_root=$(openssl x509 -in "$T/root1.pem" -noout -serial | cut -d= -f2 | tr A-F a-f)
# Once the old intermediates' leaves have expired (30d, 91 days on).
later=$(($(date +%s) + 91 * 86400))
run env MINICA_FAKE_NOW=$later "$MINICA_FAKECLOCK" ca retire "$old_root" --dir "$T/ca"
expect_ok "retire the old root once nothing chains to it"
run env MINICA_FAKE_NOW=$later "$MINICA_FAKECLOCK" agent --once --config "$A/agent.conf"
expect_ok "run after the retirement"
check "the bundle trusts only the new root" test "$(count "$A/ca.crt")" = 1
check_not "the old root is gone from the bundle" grep -qF "$(sed -n 2p "$T/root1.pem")" "$A/ca.crt"

done_testing
