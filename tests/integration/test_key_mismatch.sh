#!/bin/bash
# A key that does not match its certificate (issue 21): planted, or left by
# a SIGKILL between two renames (the test build's MINICA_TEST_CRASH_AT,
# base/crashpoint.h). `minica issue` says so and repairs it; agent status,
# --verify-only and the metrics report it; the agent never restores a
# NAME.prev pair that does not match, at any step of a restore; and the
# single-file form (NAME.pem as both of nginx's directives) serves.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"
killed=$(asan_options_for_killed)
# crash SITE:STEP CMD...: the test build, killed right after that step.
crash() {
    local at=$1
    shift
    # (braces: keeps bash's "Killed" job notice out of the log)
    { ASAN_OPTIONS=$killed MINICA_TEST_CRASH_AT=$at "$@" >/dev/null 2>"$T/.crash"; } 2>/dev/null
    RC=$?
}
# pair_ok DIR NAME: the key matches the certificate and the fullchain.
pair_ok() { key_matches "$1/$2.key" "$1/$2.crt" && key_matches "$1/$2.key" "$1/$2.fullchain.crt"; }

# ---- minica issue ----
O=$T/out
run "$MINICA" issue a.test --dir "$CA" --out "$O"
expect_ok "issue a.test"
check "no warning for a matching pair" test -z "$ERR"
run "$MINICA" issue other.test --dir "$CA" --out "$T/other"
expect_ok "issue another name, for a foreign key"
cp "$T/other/other.test.key" "$O/a.test.key"
run "$MINICA" issue a.test --dir "$CA" --out "$O"
expect_ok "issue into a directory whose key does not match"
expect_err "^minica: issue: warning: the key in $O/a.test.key does not match the certificate in $O/a.test.crt \(an interrupted earlier issue\?\); replaced by a matching pair$" \
    "issue says the pair it found did not match"
check "and leaves a matching pair" pair_ok "$O" a.test

crash issue-deliver:1 "$MINICA_FAKECLOCK" issue a.test --dir "$CA" --out "$O"
check "issue killed after its first rename (exit $RC)" test "$RC" = 137
check_not "the new key now sits beside the old certificate" key_matches "$O/a.test.key" "$O/a.test.crt"
run "$MINICA" issue a.test --dir "$CA" --out "$O" --json
expect_ok "the next issue into it"
expect_err "warning: the key in .*a.test.key does not match" "issue after the crash says so"
check "--json carries the warning" test "$(printf '%s' "$OUT" | jq -r .warning)" != null
check "the pair matches again" pair_ok "$O" a.test

# From a CSR the key stays where it is: a NAME.key left from before is named.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/csr.key" \
    -subj /CN=a.test -addext subjectAltName=DNS:a.test -out "$T/a.csr" 2>/dev/null
run "$MINICA" issue a.test --csr "$T/a.csr" --dir "$CA" --out "$O"
expect_ok "issue a.test from a CSR into the same directory"
expect_err "warning: the key in $O/a.test.key does not match the certificate in $O/a.test.crt .*issued from a CSR, so that key was left alone" \
    "issue --csr names the stale a.test.key"
run "$MINICA" issue a.test --csr "$T/a.csr" --pem-bundle --dir "$CA" --out "$O"
expect_rc 2 "--pem-bundle with --csr is a usage error"

# ---- the single-file form ----
B=$T/bundle
run "$MINICA" issue up.test --pem-bundle --dir "$CA" --out "$B"
expect_ok "issue --pem-bundle"
expect_out "key \+ chain: $B/up.test.pem" "issue names the bundle"
expect_mode "$B/up.test.pem" 600
check "no separate key, certificate or fullchain" test ! -e "$B/up.test.key" -a ! -e "$B/up.test.crt" -a ! -e "$B/up.test.fullchain.crt"
check "the bundle's key is its certificate's" key_matches "$B/up.test.pem" "$B/up.test.pem"
check "it holds the leaf and the intermediate" test "$(grep -c 'BEGIN CERTIFICATE' "$B/up.test.pem")" = 2
run "$MINICA" nginx snippet up.test --pem-bundle --certs "$B"
expect_ok "nginx snippet --pem-bundle"
expect_out "ssl_certificate $B/up.test.pem;" "the snippet's ssl_certificate is the bundle"
expect_out "ssl_certificate_key $B/up.test.pem;" "and so is its ssl_certificate_key"
NG=$T/nginx
mkdir -p "$NG"
PORT=$(free_port)
{
    nginx_conf_head
    echo "http { access_log off; server { listen 127.0.0.1:$PORT ssl; server_name up.test;"
    printf '%s\n' "$OUT" | grep -E '^ssl_certificate(_key)? '
    printf '%s\n' 'location / { return 200 "up\n"; } } }'
} >"$NG/nginx.conf"
if nginx_start "$NG"; then
    pass "nginx starts with ssl_certificate and ssl_certificate_key naming one file"
    check "curl verifies it against ca.crt" test "$(http_code "https://up.test:$PORT/" \
        --cacert "$B/ca.crt" --resolve "up.test:$PORT:127.0.0.1")" = 200
    crash issue-deliver:1 "$MINICA_FAKECLOCK" issue up.test --pem-bundle --dir "$CA" --out "$B"
    check "issue --pem-bundle killed after its first rename (exit $RC)" test "$RC" = 137
    check "the bundle is whole and its own" key_matches "$B/up.test.pem" "$B/up.test.pem"
    check "nginx reloads it" nginx_reload_settled "$NG"
    check "and serves it" test "$(http_code "https://up.test:$PORT/" \
        --cacert "$B/ca.crt" --resolve "up.test:$PORT:127.0.0.1")" = 200
    nginx_stop "$NG"
else
    fail "nginx starts with the bundle: $(cat "$NG/logs/error.log")"
fi

# ---- the agent ----
A=$T/agent
D=$T/files
mkdir -m 700 "$A" "$D"
cat >"$A/agent.conf" <<EOF
[agent]
state_dir = $CA
lock_file = $A/agent.lock
status_file = $A/agent.status
check_command = test ! -e $T/fail
reload_command = true

[cert svc.test]
key = $D/svc.key
cert = $D/svc.crt
fullchain = $D/svc.fullchain.crt
ca = $D/ca.crt
ttl = 30d
EOF
agent() { run "$MINICA_FAKECLOCK" agent --once --config "$A/agent.conf" "$@"; }
metric() { "$MINICA" metrics --config "$A/agent.conf" | grep "^$1{name=\"svc.test\"}" | awk '{print $2}'; }
agent
expect_ok "the agent's first run"
check "its pair matches" pair_ok "$D" svc
check "metrics: key_mismatch 0" test "$(metric minica_agent_key_mismatch)" = 0

cp "$T/other/other.test.key" "$D/svc.key"
run "$MINICA" agent status --config "$A/agent.conf"
expect_rc 1 "agent status with a planted foreign key"
expect_out "key: +MISMATCH: the key in $D/svc.key does not match the certificate in $D/svc.crt" \
    "agent status names the files"
run "$MINICA" agent status --config "$A/agent.conf" --json
check "agent status --json: key_matches false" test "$(printf '%s' "$OUT" | jq '.certs[0].key_matches')" = false
run "$MINICA" agent --verify-only --config "$A/agent.conf"
expect_rc 1 "agent --verify-only with the foreign key"
expect_err "^minica: agent: svc.test: the key in $D/svc.key does not match the certificate in $D/svc.crt" \
    "--verify-only names the files"
check "metrics: key_mismatch 1" test "$(metric minica_agent_key_mismatch)" = 1
agent
expect_ok "the agent's next run"
expect_out "renewed svc.test .*does not match" "renews the pair"
check "the pair matches again" pair_ok "$D" svc
check "metrics: key_mismatch back to 0" test "$(metric minica_agent_key_mismatch)" = 0
run "$MINICA" agent status --config "$A/agent.conf"
expect_ok "agent status is clean again"

crash agent-replace:1 "$MINICA_FAKECLOCK" agent --once --force --config "$A/agent.conf"
check "agent killed after renaming the new key (exit $RC)" test "$RC" = 137
check_not "the new key sits beside the old certificate" key_matches "$D/svc.key" "$D/svc.crt"
run "$MINICA" agent --verify-only --config "$A/agent.conf"
expect_rc 1 "--verify-only after the crash"
check "metrics after the crash: key_mismatch 1" test "$(metric minica_agent_key_mismatch)" = 1
agent
expect_ok "the next run repairs it"
check "the pair matches" pair_ok "$D" svc

# SIGKILL after each step of a restore (fullchain, cert, key: the reverse
# of the renames; ca.crt already holds the root and is left alone), while
# the check keeps failing. The next run must not put back a NAME.prev pair
# that does not match.
mixed_steps=
for step in 1 2 3; do
    rm -f "$T/fail"
    agent --force
    [ "$RC" = 0 ] || fail "step $step: a clean renewal first: $ERR"
    touch "$T/fail"
    crash "agent-restore:$step" "$MINICA_FAKECLOCK" agent --once --force --config "$A/agent.conf"
    check "restore step $step: killed (exit $RC)" test "$RC" = 137
    mixed=0
    pair_ok "$D" svc || mixed=1
    agent
    expect_rc 1 "restore step $step: the next run, check still failing"
    check "restore step $step: the key matches its certificate and fullchain" pair_ok "$D" svc
    if [ "$mixed" = 1 ]; then
        mixed_steps="$mixed_steps $step"
        check "restore step $step: the run says it did not roll back" grep -q "not rolled back: the key in $D/svc.key does not match" <<<"$ERR"
        check "restore step $step: metrics: stuck 1" test "$(metric minica_agent_stuck)" = 1
        run "$MINICA" agent status --config "$A/agent.conf"
        expect_rc 1 "restore step $step: agent status"
        expect_out "STUCK since" "restore step $step: agent status says stuck"
        agent
        expect_rc 1 "restore step $step: each run checks again while the check fails"
        rm -f "$T/fail"
        agent
        expect_ok "restore step $step: once the check passes"
        expect_out "svc.test: no longer stuck" "restore step $step: the run says so"
        check "restore step $step: metrics: stuck 0" test "$(metric minica_agent_stuck)" = 0
        run "$MINICA" agent status --config "$A/agent.conf"
        expect_ok "restore step $step: agent status is clean"
        agent
        check "restore step $step: the run after is silent" test "$RC" = 0 -a -z "$OUT$ERR"
    fi
done
check "a crash mid-restore left a mixed pair after steps 1 and 2 (got:$mixed_steps)" \
    test "$mixed_steps" = " 1 2"
check "the agent left ca.crt alone: no ca.crt.prev" test ! -e "$D/ca.crt.prev"
rm -f "$T/fail"
done_testing
