#!/usr/bin/env bash
# The audit log: every state-changing command leaves a row (init, issue, a
# refused issue, revoke, crl) with UTC time, uid and user name, command and
# summary; `minica log --json` is valid JSON; --since filters; no key
# material ever reaches the log.
source "$SRCDIR/tests/integration/lib/common.sh"

ca=$T/ca
two_days_ago=$(($(date +%s) - 2 * 86400))
MINICA_FAKE_NOW=$two_days_ago run "$MINICA_FAKECLOCK" init --dir "$ca" --permit-dns internal.svc
expect_ok "init (two days ago)"
run "$MINICA" issue web.internal.svc --dir "$ca" --out "$T/web"
expect_ok "issue"
serial=$(serial_of "$T/web/web.internal.svc.crt")
run "$MINICA" issue www.example.com --dir "$ca" --out "$T/no"
expect_rc 1 "refused issue"
run "$MINICA" revoke web.internal.svc --dir "$ca" --reason keyCompromise
expect_ok "revoke"
run "$MINICA" crl --dir "$ca" --out "$T/crl.pem"
expect_ok "crl"
run "$MINICA" crl --root --dir "$ca" --out "$T/root-crl.pem"
expect_ok "crl --root"

run "$MINICA" log --dir "$ca" --json
expect_ok "log --json"
printf '%s' "$OUT" >"$T/log.json"
check "log --json is a JSON array" python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
assert isinstance(rows, list) and rows
for r in rows:
    assert set(r) == {"time", "uid", "user", "command", "summary"}, r
' "$T/log.json"

uid=$(id -u)
user=$(id -un)
row() { # row COMMAND SUMMARY-REGEX description: one row with this uid and user
    if python3 - "$T/log.json" "$1" "$2" "$uid" "$user" <<'PY'; then pass "$3"; else fail "$3: $(cat "$T/log.json")"; fi
import json, re, sys
path, command, regex, uid, user = sys.argv[1:]
rows = json.load(open(path))
ok = [r for r in rows if r["command"] == command and re.search(regex, r["summary"])
      and r["uid"] == int(uid) and r["user"] == user
      and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["time"])]
sys.exit(0 if ok else 1)
PY
}
row init '^init ' "init row"
row issue "^issued web\\.internal\\.svc serial=$serial" "issue row with the serial"
row issue '^refused www\.example\.com: .*outside the permitted DNS names' "refused issue row with the rule"
row revoke "^revoked web\\.internal\\.svc serial=$serial reason=keyCompromise" "revoke row with serial and reason"
row crl '^crl intermediate number=1 revoked=1' "crl row"
row crl '^crl root number=1 revoked=0' "root crl row"

if grep -q "PRIVATE KEY" "$T/log.json"; then fail "key material in the audit log"; else pass "no PRIVATE KEY in the log"; fi
key_body=$(sed -n 2p "$T/web/web.internal.svc.key")
if grep -qF "$key_body" "$T/log.json"; then fail "key bytes in the audit log"; else pass "no key bytes in the log"; fi
if sqlite3 "$ca/minica.db" "SELECT summary FROM audit" 2>/dev/null | grep -q "PRIVATE KEY"; then
    fail "key material in the audit table"
else
    pass "no PRIVATE KEY in the audit table"
fi

# --since: the init two days ago is older than 1d.
run "$MINICA" log --dir "$ca" --since 1d --json
expect_ok "log --since 1d"
if printf '%s' "$OUT" | grep -q '"command":[[:space:]]*"init"'; then fail "--since 1d still shows init"; else pass "--since 1d leaves out the old init"; fi
if printf '%s' "$OUT" | grep -q '"command":[[:space:]]*"revoke"'; then pass "--since 1d shows revoke"; else fail "--since 1d lost revoke"; fi
run "$MINICA" log --dir "$ca" --since 3d
expect_ok "log --since 3d (table)"
expect_out "init" "table shows init"
expect_out "TIME +UID +USER +COMMAND +SUMMARY" "table has a header"
expect_out "$user" "table shows the user"
run "$MINICA" log --dir "$ca" --since yesterday
expect_rc 2 "bad --since is a usage error"
expect_err "^minica: log: --since: invalid duration 'yesterday'" "bad --since: the message names the value"

# log needs no CA key: it only reads the inventory.
chmod 000 "$ca/intermediate.key"
run "$MINICA" log --dir "$ca"
expect_ok "log works without reading the CA key"
chmod 600 "$ca/intermediate.key"

# A long row (a revoke lists every serial it took) is shown whole, in both
# forms; it used to be cut at 2,047 bytes.
long=$(printf 'revoked %.0s0123456789abcdef0123456789abcdef ' $(seq 1 100))
sqlite3 "$ca/minica.db" "INSERT INTO audit (time, uid, user, command, summary)
    VALUES (strftime('%s','now'), 0, 'root', 'revoke', '$long')"
run "$MINICA" log --dir "$ca" --json
expect_ok "log --json with a long row"
check "--json shows the long row whole (${#long} bytes)" \
    test "$(printf '%s' "$OUT" | jq -r '.[-1].summary | length')" = "${#long}"
run "$MINICA" log --dir "$ca"
check "the table shows it whole" sh -c 'printf "%s" "$1" | grep -qF "$2"' _ "$OUT" "$long"

done_testing
