#!/bin/bash
# minica ca status (human and --json) and its exit codes, and the warning
# list --expiring and agent status give once the intermediate has less than
# max_ttl left. The clock is moved with the test build (MINICA_FAKECLOCK);
# what status says is checked against openssl's reading of the files.
source "$SRCDIR/tests/integration/lib/common.sh"
: "${MINICA_FAKECLOCK:?MINICA_FAKECLOCK must point at minica-fakeclock}"

CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init"
run "$MINICA" issue a.internal.svc --ttl 30d --out "$T/out" --dir "$CA"
expect_ok "issue a 30d leaf"

epoch_of() { date -d "$(openssl x509 -in "$1" -noout -enddate | sed 's/notAfter=//')" +%s; }
rfc3339_of() { date -u -d "@$(epoch_of "$1")" +%Y-%m-%dT%H:%M:%SZ; }
IS=$(serial_of "$CA/intermediate.crt")
RS=$(serial_of "$CA/root.crt")
NA=$(epoch_of "$CA/intermediate.crt")
DAY=86400
YEAR=$((365 * DAY))

# A fresh CA: healthy, both certificates shown as openssl reads them.
run "$MINICA" ca status --dir "$CA"
expect_rc 0 "ca status of a fresh CA"
expect_out "^intermediate $IS \(active\)$" "the intermediate, by openssl's serial, is active"
expect_out "^root $RS \(active\)$" "the root, by openssl's serial, is active"
expect_out "^  not after:    $(rfc3339_of "$CA/intermediate.crt")$" "the intermediate's notAfter matches openssl's"
expect_out "^  key:          file intermediate.key \(0600\)$" "where the intermediate's key is, and its mode"
expect_out "^  leaves:       1 unexpired" "the leaf it signed is counted"
expect_out "^health: ok" "health ok"

run "$MINICA" ca status --json --dir "$CA"
expect_ok "ca status --json"
printf '%s' "$OUT" >"$T/status.json"
check "--json is JSON" jq -e . "$T/status.json"
check "health ok, exit_code 0" jq -e '.health == "ok" and .exit_code == 0' "$T/status.json"
check "active_intermediate is openssl's serial" jq -e --arg s "$IS" '.active_intermediate == $s' "$T/status.json"
check "active_root is openssl's serial" jq -e --arg s "$RS" '.active_root == $s' "$T/status.json"
check "two certificates, roots first" jq -e '[.certs[].role] == ["root", "intermediate"]' "$T/status.json"
check "the intermediate's fields" jq -e --arg na "$(rfc3339_of "$CA/intermediate.crt")" \
    '.certs[1] | .not_after == $na and .state == "active" and .active and .key_type == "ec-p256"
     and .leaves_unexpired == 1 and .key_file == "intermediate.key" and (.constraints.permit_dns | length) == 0
     and (.fingerprint_sha256 | length) == 64 and .seconds_left > 0' "$T/status.json"
check "no findings" jq -e '.findings == []' "$T/status.json"
fp=$(openssl x509 -in "$CA/intermediate.crt" -outform DER | sha256sum | cut -d' ' -f1)
check "fingerprint_sha256 is the DER's SHA-256" jq -e --arg f "$fp" '.certs[1].fingerprint_sha256 == $f' "$T/status.json"

# The clock moved: less than 2 x max_ttl (1y) left is attention, less than
# max_ttl critical, an expired intermediate critical.
run env MINICA_FAKE_NOW=$((NA - 2 * YEAR - DAY)) "$MINICA_FAKECLOCK" ca status --dir "$CA"
expect_rc 0 "just over 2 x max_ttl left"
run env MINICA_FAKE_NOW=$((NA - 2 * YEAR + DAY)) "$MINICA_FAKECLOCK" ca status --dir "$CA"
expect_rc 3 "under 2 x max_ttl left: attention"
expect_out "rotation due: the intermediate .*serial $IS.*minica ca rotate" "says a rotation is due"
run env MINICA_FAKE_NOW=$((NA - 20 * DAY)) "$MINICA_FAKECLOCK" ca status --dir "$CA"
expect_rc 4 "under max_ttl left: critical"
expect_out "renewals are shortened: the intermediate .* expires in 20d, less than max_ttl 1y; rotate now: minica ca rotate" \
    "says renewals are shortened"
run env MINICA_FAKE_NOW=$((NA - 20 * DAY)) "$MINICA_FAKECLOCK" ca status --json --dir "$CA"
expect_rc 4 "--json exits with the health too"
printf '%s' "$OUT" >"$T/status.json"
check "--json: critical" jq -e '.health == "critical" and .exit_code == 4 and (.findings | length) >= 1' "$T/status.json"
run env MINICA_FAKE_NOW=$((NA + DAY)) "$MINICA_FAKECLOCK" ca status --dir "$CA"
expect_rc 4 "an expired intermediate: critical"
expect_out "time left:    expired 1d ago" "time left says expired"

# list --expiring and agent status warn from the same point on, and exit 1.
run "$MINICA_FAKECLOCK" list --expiring 1d --dir "$CA"
expect_rc 0 "list --expiring today: nothing"
if [ -z "$ERR" ]; then pass "no warning today"; else fail "warning today: $ERR"; fi
run env MINICA_FAKE_NOW=$((NA - YEAR + DAY)) "$MINICA_FAKECLOCK" list --expiring 1d --dir "$CA"
expect_rc 1 "list --expiring once less than max_ttl is left"
expect_err "^minica: list: warning: the intermediate CN=minica Intermediate CA \(serial $IS\) expires in 364d, less than max_ttl 1y; renewals are shortened; rotate it: minica ca rotate$" \
    "one warning line naming the intermediate and ca rotate"
run env MINICA_FAKE_NOW=$((NA - YEAR - DAY)) "$MINICA_FAKECLOCK" list --expiring 1d --dir "$CA"
expect_rc 0 "list --expiring with just over max_ttl left"
run env MINICA_FAKE_NOW=$((NA - YEAR + DAY)) "$MINICA_FAKECLOCK" list --dir "$CA"
expect_rc 0 "plain list does not judge the CA"

cat >"$T/agent.conf" <<CONF
[agent]
state_dir = $CA
[cert a.internal.svc]
cert = $T/out/a.internal.svc.crt
key = $T/out/a.internal.svc.key
CONF
run "$MINICA_FAKECLOCK" agent status --config "$T/agent.conf"
expect_rc 0 "agent status today"
if [ -z "$ERR" ]; then pass "agent status: no warning today"; else fail "agent status warned today: $ERR"; fi
run env MINICA_FAKE_NOW=$((NA - 20 * DAY)) "$MINICA_FAKECLOCK" agent status --config "$T/agent.conf"
expect_rc 1 "agent status once less than max_ttl is left"
expect_err "^minica: agent: warning: the intermediate .*serial $IS.* less than max_ttl 1y; renewals are shortened; rotate it: minica ca rotate$" \
    "agent status: one warning line"
expect_out "^a.internal.svc$" "agent status still reports the certificate"
run env MINICA_FAKE_NOW=$((NA - 20 * DAY)) "$MINICA_FAKECLOCK" agent status --json --config "$T/agent.conf"
printf '%s' "$OUT" >"$T/agent.json"
check "agent status --json: ca_warning" jq -e '.ca_warning | test("renewals are shortened")' "$T/agent.json"
run "$MINICA" agent status --json --config "$T/agent.conf"
printf '%s' "$OUT" >"$T/agent.json"
check "agent status --json: ca_warning null today" jq -e '.ca_warning == null' "$T/agent.json"

# After a rotation: the new intermediate is active, the previous one still
# vouches for the leaf and says so without changing the health.
if "$MINICA" ca rotate --dir "$CA" >/dev/null 2>&1; then
    NS=$(serial_of "$CA/intermediate.crt")
    run "$MINICA" ca status --json --dir "$CA"
    expect_rc 0 "ca status after a rotation"
    printf '%s' "$OUT" >"$T/status.json"
    check "the new intermediate is active" jq -e --arg s "$NS" '.active_intermediate == $s' "$T/status.json"
    check "the previous one is current, with its leaf" jq -e --arg s "$IS" \
        '.certs[] | select(.serial == $s) | .state == "current" and (.active | not) and .leaves_unexpired == 1' \
        "$T/status.json"
    check "a finding says so" jq -e '.findings | any(test("previous intermediate still vouches for 1 unexpired leaves"))' \
        "$T/status.json"
else
    fail "ca rotate failed"
fi

# Without the root key (kept offline): status works and says where keys are.
mv "$CA/root.key" "$T/root.key.offline"
for k in "$CA"/ca/root-*.key; do [ -e "$k" ] && mv "$k" "$T/"; done
run "$MINICA" ca status --dir "$CA"
expect_rc 0 "ca status without the root key"
expect_out "key:          offline \(not in this state directory\)" "the root's key is offline"
expect_out "is not here \(kept offline\?\)" "and a finding says so"

# Errors.
run "$MINICA" ca status --dir "$T/nowhere"
expect_rc 1 "ca status without a CA"
expect_err "^minica: ca: status: " "one-line error"
run "$MINICA" ca status --bogus --dir "$CA"
expect_rc 2 "unknown option"
run "$MINICA" ca status extra --dir "$CA"
expect_rc 2 "unexpected argument"

done_testing
