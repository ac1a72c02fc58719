#!/bin/bash
# conf/bootstrap/vm-firstboot.sh under a temporary root (--root), never
# touching /etc: CA state, OS trust store, agent.conf, first agent run, cron
# entry, idempotence; and the example agent.conf / cron line parse.
source "$SRCDIR/tests/integration/lib/common.sh"

FB=$SRCDIR/conf/bootstrap/vm-firstboot.sh
R=$T/root
# A decoy "minica" first in PATH: the script must use the explicit path.
mkdir -p "$T/decoy"
printf '#!/bin/sh\ntouch %s/decoy-called\nexit 1\n' "$T" >"$T/decoy/minica"
chmod 755 "$T/decoy/minica"

run env PATH="$T/decoy:$PATH" "$FB" --root "$R" --minica "$MINICA" --name vm1.internal.svc \
    --san 127.0.0.1 --reload-command "echo reload >> $T/reloads"
expect_ok "first boot"
expect_out "created a CA" "creates the CA"
expect_out "trust store" "installs the root"
check_not "the decoy minica from PATH was never called" test -e "$T/decoy-called"
S=$R/var/lib/minica
C=$R/etc/ssl/minica
check "state dir holds a CA" test -f "$S/root.crt"
expect_mode "$S" 700
check "root is in the trust bundle" grep -qF "$(sed -n 2p "$S/root.crt")" "$R/etc/ssl/certs/ca-certificates.crt"
check "root is linked in the certs dir" test -L "$R/etc/ssl/certs/minica-root.pem"
check "agent.conf written" test -f "$R/etc/minica/agent.conf"
check "cert verifies under the root" openssl verify -CAfile "$S/root.crt" -untrusted "$S/intermediate.crt" \
    "$C/vm1.internal.svc.fullchain.crt"
check "the IP SAN is in the cert" sh -c "openssl x509 -in '$C/vm1.internal.svc.fullchain.crt' -noout -ext subjectAltName | grep -q 'IP Address:127.0.0.1'"
check "key matches" key_matches "$C/vm1.internal.svc.key" "$C/vm1.internal.svc.fullchain.crt"
expect_mode "$C/vm1.internal.svc.key" 600
check "ca.crt is the root" cmp -s "$C/ca.crt" "$S/root.crt"
check "cron entry calls minica by its path" grep -q "^\*/15 \* \* \* \* root $MINICA agent --once .*--config $R/etc/minica/agent.conf" "$R/etc/cron.d/minica-agent"
if [ "$(wc -l <"$T/reloads")" -eq 1 ]; then pass "reloaded once"; else fail "reloads: $(cat "$T/reloads")"; fi

# Idempotent: a second boot changes nothing and says nothing.
sums() { find "$R" -type f ! -name 'agent.status' ! -name 'minica.db*' ! -name agent.lock -exec sha256sum {} + | sort; }
sums >"$T/before"
run env PATH="$T/decoy:$PATH" "$FB" --root "$R" --minica "$MINICA" --name vm1.internal.svc \
    --san 127.0.0.1 --reload-command "echo reload >> $T/reloads"
expect_ok "second boot"
if [ -z "$OUT$ERR" ]; then pass "second boot prints nothing"; else fail "second boot printed: $OUT $ERR"; fi
sums >"$T/after"
check "second boot changes no file" cmp -s "$T/before" "$T/after"
if [ "$(wc -l <"$T/reloads")" -eq 1 ]; then pass "second boot does not reload"; else fail "second boot reloaded"; fi

# A provided state dir, and settings from the environment.
run "$MINICA" init --dir "$T/ca" --name provided
expect_ok "a provided CA"
R2=$T/root2
run env MINICA_BIN="$MINICA" MINICA_ROOT="$R2" MINICA_STATE_DIR="$T/ca" MINICA_CERT_NAME=vm2.internal.svc \
    MINICA_CERT_USAGE=both MINICA_CERT_TTL=7d MINICA_CERT_DIR="$T/certs2" "$FB" --no-cron
expect_ok "first boot from the environment with a provided CA"
if printf '%s' "$OUT" | grep -q "created a CA"; then fail "created a CA although one was provided"; else pass "uses the provided CA"; fi
check "trust store has the provided root" cmp -s "$R2/usr/local/share/ca-certificates/minica-root.crt" "$T/ca/root.crt"
check "cert from the provided CA" openssl verify -CAfile "$T/ca/root.crt" -untrusted "$T/ca/intermediate.crt" \
    -purpose sslclient "$T/certs2/vm2.internal.svc.fullchain.crt"
check "usage both gives serverAuth too" openssl verify -CAfile "$T/ca/root.crt" -untrusted "$T/ca/intermediate.crt" \
    -purpose sslserver "$T/certs2/vm2.internal.svc.fullchain.crt"
check_not "--no-cron installs no cron entry" test -e "$R2/etc/cron.d/minica-agent"
check "ttl from the environment" grep -qx "ttl = 7d" "$R2/etc/minica/agent.conf"

# A relative --minica still puts an absolute path in the cron entry.
R4=$T/root4
run env -C "$(dirname "$MINICA")" "$FB" --root "$R4" --minica "./$(basename "$MINICA")" \
    --state-dir "$T/ca" --name vm4.internal.svc --no-trust
expect_ok "first boot with a relative --minica"
check "the cron entry has minica's absolute path" \
    grep -q "^\*/15 \* \* \* \* root $MINICA agent --once " "$R4/etc/cron.d/minica-agent"

run "$FB" --root "$T/root3" --minica "$T/no-such-minica"
expect_rc 1 "a missing minica binary"
expect_err "no-such-minica" "names the binary"
check_not "nothing written without a binary" test -e "$T/root3/etc/minica/agent.conf"

# The shipped examples: agent.conf parses, the cron line has the right shape.
run "$MINICA" agent --config "$SRCDIR/conf/agent.conf" --dry-run --dir "$T/ca"
expect_ok "conf/agent.conf parses (dry run)"
expect_out "would renew upstream.internal.svc" "the example's certs would be issued"
check "conf/minica-agent.cron line" grep -Eq '^\*/15 \* \* \* \* root /usr/local/bin/minica agent --once ' "$SRCDIR/conf/minica-agent.cron"
check "timer has RandomizedDelaySec" grep -q '^RandomizedDelaySec=' "$SRCDIR/conf/minica-agent.timer"

done_testing
