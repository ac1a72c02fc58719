#!/bin/bash
# The run cron pays for every few minutes, when nothing is due (issue 19):
# once the last run's facts hold (src/lib/agent/factcache.c) it opens no
# certificate, key, CA file or database, as strace sees it. It still acts on
# everything that should make it act: a revocation, a foreign certificate in
# place of its own, a rotation, a removed key, and renewals falling due.
source "$SRCDIR/tests/integration/lib/common.sh"

A=$T/agent
mkdir -m 700 "$A"
{
    cat <<EOF2
[agent]
state_dir = $T/ca
lock_file = $A/agent.lock
status_file = $A/agent.status
check_command = true
reload_command = true
EOF2
    for n in a b c; do
        cat <<EOF2

[cert $n.svc]
fullchain = $A/$n.fullchain.crt
key = $A/$n.key
ttl = 30d
EOF2
    done
} >"$A/agent.conf"
agent() { "$MINICA_FAKECLOCK" agent --once --config "$A/agent.conf"; }
# traced: one run under strace; what it opened is in $T/opened.
# LeakSanitizer cannot run under ptrace (the sanitizer gate): off for it.
traced() {
    ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0" \
        strace -f -qq -e trace=open,openat,openat2 -o "$T/opened" \
        "$MINICA_FAKECLOCK" agent --once --config "$A/agent.conf"
}
# settle: file times a second write could leave equal are not trusted
# (base/filestamp.h); wait them out, then let a run record the facts.
settle() {
    sleep 2.2
    run agent
    expect_ok "a run records the facts ($1)"
}
opened() { grep -v ENOENT "$T/opened" | grep -E -- "$1" >/dev/null; }

run "$MINICA" init --dir "$T/ca"
expect_ok "init"
run agent
expect_ok "the first run issues all three"
serial_a=$(serial_of "$A/a.fullchain.crt")
serial_b=$(serial_of "$A/b.fullchain.crt")
settle "first"

run traced
expect_ok "a run with nothing due"
check "it says nothing" test -z "$OUT$ERR"
check "strace saw the run" opened 'agent\.status'
check_not "it opens no database" opened 'minica\.db'
check_not "it opens no key" opened '\.key"'
check_not "it opens no certificate" opened '\.crt"'
check "the facts are private" test "$(mode_of "$A/agent.status.facts")" = 600
check "nothing was renewed" test "$(serial_of "$A/a.fullchain.crt")" = "$serial_a"

# ---- a revocation changes the inventory: the next run reads everything ----
run "$MINICA" revoke b.svc --dir "$T/ca"
expect_ok "revoke b.svc"
run traced
expect_ok "the run after the revocation"
check "it renews the revoked certificate" test "$(serial_of "$A/b.fullchain.crt")" != "$serial_b"
check "it opened the inventory to see it" opened 'minica\.db'
check "the others are left alone" test "$(serial_of "$A/a.fullchain.crt")" = "$serial_a"
settle "after the revocation"

# ---- a foreign certificate in place of c's: its files changed ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=c.svc -days 30 \
    -keyout "$A/c.key.new" -out "$A/c.fullchain.crt.new" 2>/dev/null
mv "$A/c.key.new" "$A/c.key"
mv "$A/c.fullchain.crt.new" "$A/c.fullchain.crt"
foreign=$(serial_of "$A/c.fullchain.crt")
run agent
expect_ok "the run after c was replaced"
expect_out 'c\.svc' "it says what it did about c.svc"
check "it puts a certificate of this CA back" test "$(serial_of "$A/c.fullchain.crt")" != "$foreign"
check "which verifies" openssl verify -CAfile "$T/ca/root.crt" -untrusted "$A/c.fullchain.crt" \
    "$A/c.fullchain.crt"
settle "after c"

# ---- a removed key ----
rm "$A/a.key"
run agent
expect_ok "the run after a's key went"
check "it makes a new key and certificate" test -s "$A/a.key"
check "the new key matches" key_matches "$A/a.key" "$A/a.fullchain.crt"
settle "after a"

# ---- a rotation: the CA changed, so nothing is taken from the facts ----
run "$MINICA" ca rotate --dir "$T/ca"
expect_ok "rotate"
sleep 2.2
run traced
expect_ok "the run after the rotation"
check "it reads the CA again" opened 'intermediate\.crt|minica\.db'
settle "after the rotation"

# ---- time passes: every certificate falls due, facts or not ----
before_b=$(serial_of "$A/b.fullchain.crt")
later=$(($(date +%s) + 25 * 86400))
run env MINICA_FAKE_NOW=$later "$MINICA_FAKECLOCK" agent --once --config "$A/agent.conf"
expect_ok "25 days later"
check "b is renewed" test "$(serial_of "$A/b.fullchain.crt")" != "$before_b"
check "all three say so" test "$(printf '%s\n' "$OUT" | grep -c -E '(a|b|c)\.svc')" -ge 3

done_testing
