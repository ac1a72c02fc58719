#!/bin/bash
# conf/bootstrap/vm-firstboot.sh under a temporary root (--root), never
# touching /etc: CA state, OS trust store, agent.conf, first agent run, cron
# entry, idempotence; remote mode against a real `minica serve` with
# --token-file and the token file's mode; the example agent.conf / cron line.
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

# Remote mode against a real `minica serve` on loopback: --token-file is
# judged like the agent's token_file, and the copy the agent spends is 0600
# whatever the umask.
run "$FB" --help
expect_out "--token-file FILE" "--help documents --token-file"
expect_out "prefer" "--help says to prefer --token-file"
RCA=$T/remote-ca
run "$MINICA" init --dir "$RCA"
expect_ok "a CA for the remote mode"
serve_up() {
    local _
    for _ in $(seq 1 100); do
        [ "$(http_code "$URL/v1/health" -k)" = 200 ] && return 0
        kill -0 "$SERVE_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
for try in 1 2 3; do # another test may take the port first
    PORT=$(free_port)
    URL=https://127.0.0.1:$PORT
    "$MINICA" serve --dir "$RCA" --listen "127.0.0.1:$PORT" --san ca.test 2>>"$T/serve.log" &
    SERVE_PID=$!
    track_pid "$SERVE_PID"
    serve_up && break
done
check "minica serve answers (try $try)" serve_up
FP=$(openssl x509 -in "$RCA/root.crt" -noout -fingerprint -sha256)
RR=$T/rootr
RTOKEN=$RR/etc/minica/fb.internal.token
RCERT=$RR/etc/ssl/minica/fb.internal.fullchain.crt
remote_boot() {
    "$FB" --minica "$MINICA" --root "$RR" --no-trust --no-cron --name fb.internal \
        --san 127.0.0.1 --ca-url "$URL" --fingerprint "$FP" "$@"
}
umask0() { umask 000 && "$@"; }
TF=$T/fb.token
"$MINICA" token fb.internal --san 127.0.0.1 --dir "$RCA" >"$TF"
chmod 644 "$TF"
run umask0 remote_boot --token-file "$TF"
expect_rc 1 "--token-file readable by others is refused"
expect_err "chmod 600 $TF" "the refusal says the fix"
check_not "no certificate with a refused token file" test -e "$RCERT"
check_not "a refused token is not copied" test -e "$RTOKEN"
expect_mode "$RR/etc/minica" 755 # made by this run, under umask 000
chmod 600 "$TF"
ln -s "$TF" "$T/fb.token.link"
run remote_boot --token-file "$T/fb.token.link"
expect_rc 1 "a symlinked --token-file is refused"
expect_err "symbolic link" "the refusal names the symlink"
run remote_boot --token-file "$TF" --token x
expect_rc 2 "--token and --token-file together"

# A token for another name: the CA refuses it unspent, so the agent's copy
# stays and its mode can be seen. umask 000 must not widen it, nor the dir.
"$MINICA" token other.internal --dir "$RCA" >"$T/other.token"
chmod 600 "$T/other.token"
run umask0 remote_boot --token-file "$T/other.token"
expect_rc 1 "a token for another name fails the first agent run"
expect_mode "$RTOKEN" 600
check "the copy holds the token" cmp -s "$RTOKEN" "$T/other.token"
expect_mode "$RR/etc/minica/agent.conf" 644
check "agent.conf names the copy as token_file" grep -qx "token_file = $RTOKEN" "$RR/etc/minica/agent.conf"

# The right token over a stale 0644 copy, under umask 000: the copy is
# replaced by a 0600 file (else the agent would refuse it) and spent.
chmod 644 "$RTOKEN"
run umask0 remote_boot --token-file "$TF"
expect_ok "first boot with --token-file"
check "certificate from the remote CA verifies for fb.internal" openssl verify -CAfile "$RCA/root.crt" \
    -untrusted "$RCERT" -verify_hostname fb.internal "$RCERT"
expect_mode "$RR/etc/ssl/minica/fb.internal.key" 600
check_not "the agent spent and removed the token copy" test -e "$RTOKEN"
check "the operator's token file is left alone" test -s "$TF"
run remote_boot --token-file "$TF"
expect_ok "second boot with the spent --token-file: nothing to do"

# The shipped examples: agent.conf parses, the cron line has the right shape.
run "$MINICA" agent --config "$SRCDIR/conf/agent.conf" --dry-run --dir "$T/ca"
expect_ok "conf/agent.conf parses (dry run)"
expect_out "would renew upstream.internal.svc" "the example's certs would be issued"
check "conf/minica-agent.cron line" grep -Eq '^\*/15 \* \* \* \* root /usr/local/bin/minica agent --once ' "$SRCDIR/conf/minica-agent.cron"
check "timer has RandomizedDelaySec" grep -q '^RandomizedDelaySec=' "$SRCDIR/conf/minica-agent.timer"

done_testing
