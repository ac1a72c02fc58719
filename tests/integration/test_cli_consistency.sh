#!/bin/bash
# One rule per kind of input (issue 20, item 5): keywords in any case,
# durations printed the way they are typed, a TTL floor, --out that does
# not grow a tree from a typo, repeated revocations that say so, output
# that names the certificate, and exclusive options and empty inputs that
# are errors rather than silence.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init"

# ---- keywords are case-insensitive everywhere ----
run "$MINICA" issue a.test --usage Server --key-type EC-P384 --dir "$CA" --out "$T/o"
expect_ok "--usage Server --key-type EC-P384"
expect_out "usage server" "the usage is read as server"
check "the key is P-384" sh -c "openssl x509 -in '$T/o/a.test.crt' -noout -text | grep -q 'NIST CURVE: P-384'"
run "$MINICA" revoke a.test --reason KeyCompromise --dir "$CA"
expect_ok "--reason KeyCompromise (as before)"
run "$MINICA" list --status Revoked --dir "$CA"
expect_ok "--status Revoked"
expect_out "a.test +revoked" "lists the revoked certificate"
run "$MINICA" token b.test --usage CLIENT --dir "$CA"
expect_ok "token --usage CLIENT"

# ---- durations print as they are typed; the TTL has a floor ----
run "$MINICA" issue c.test --ttl 36h --dir "$CA" --out "$T/o"
expect_ok "--ttl 36h"
expect_out "valid for 1d12h," "the validity prints as 1d12h, which --ttl takes back"
run "$MINICA" issue c.test --ttl 1s --dir "$CA" --out "$T/o"
expect_rc 2 "--ttl 1s is refused"
expect_err "^minica: issue: --ttl: '1s' is shorter than the minimum TTL of 5m" "and says the minimum"
run "$MINICA" issue c.test --ttl 5m --dir "$CA" --out "$T/o"
expect_ok "--ttl 5m, the minimum, is accepted"
run "$MINICA" token d.test --ttl 4m --dir "$CA"
expect_rc 2 "token --ttl 4m is refused"
mkdir -m 700 "$T/agent"
cat >"$T/agent/short.conf" <<EOF
[agent]
state_dir = $CA
[cert e.test]
fullchain = $T/agent/e.fullchain.crt
key = $T/agent/e.key
ttl = 2m
EOF
run "$MINICA" agent --config "$T/agent/short.conf"
expect_rc 1 "agent.conf ttl = 2m is refused"
expect_err "ttl: '2m' is shorter than the minimum TTL of 5m" "naming the key and the minimum"

# ---- --out creates one level, not a tree from a typo ----
rows_before=$(sqlite3 "$CA/minica.db" "SELECT count(*) FROM certs")
run "$MINICA" issue f.test --dir "$CA" --out "$T/typo/certs"
expect_rc 1 "--out with a missing parent fails"
expect_err "cannot create $T/typo/certs: $T/typo does not exist either .*--parents" "and names the missing parent"
check "nothing was created" test ! -e "$T/typo"
check "nothing was signed or recorded" test "$(sqlite3 "$CA/minica.db" "SELECT count(*) FROM certs")" = "$rows_before"
run "$MINICA" issue f.test --dir "$CA" --out "$T/typo/certs" --parents
expect_ok "--parents creates the tree"
expect_mode "$T/typo/certs" 700
run "$MINICA" issue f.test --dir "$CA" --out "$T/one"
expect_ok "one missing level is created, as before"

# ---- revocations say what they did, and to which certificate ----
run "$MINICA" token g.test --json --dir "$CA"
id=$(printf '%s' "$OUT" | jq -r .id)
run "$MINICA" token revoke "$id" --dir "$CA"
expect_out "^Revoked token $id$" "token revoke"
audits=$(sqlite3 "$CA/minica.db" "SELECT count(*) FROM audit WHERE summary LIKE 'token $id revoked%'")
check "the revocation is audited once" test "$audits" = 1
run "$MINICA" token revoke "$id" --dir "$CA"
expect_ok "a second token revoke is harmless"
expect_out "^Token $id was already revoked at .*; nothing changed$" "and says it was already revoked"
check "the second revoke is not audited again" test "$(sqlite3 "$CA/minica.db" \
    "SELECT count(*) FROM audit WHERE summary LIKE 'token $id revoked%'")" = "$audits"
serial=$(serial_of "$T/one/f.test.crt")
run "$MINICA" revoke "$serial" --dir "$CA"
expect_ok "revoke SERIAL"
expect_out "^Revoked 1 certificate for f.test, reason unspecified:$" "names the certificate, not its serial"

# ---- exclusive options and empty inputs are errors ----
run "$MINICA" show c.test --json --pem --dir "$CA"
expect_rc 2 "show --json --pem is a usage error"
expect_err "--json and --pem exclude each other" "saying so"
: >"$T/agent/empty.conf"
run "$MINICA" agent --config "$T/agent/empty.conf"
expect_rc 1 "an empty agent.conf fails"
expect_err "^minica: agent: $T/agent/empty.conf has no \[cert NAME\] sections: nothing to renew$" "saying there is nothing to renew"
run "$MINICA" agent status --config "$T/agent/empty.conf"
expect_rc 1 "agent status with an empty agent.conf fails"
run "$MINICA" nginx check "$T/no-such.conf"
expect_rc 1 "nginx check of a missing file fails"
expect_out "1 of 1 FILE could not be checked" "and the summary says it was not checked"

# ---- the agent leaves an unchanged ca.crt alone ----
cat >"$T/agent/ca.conf" <<EOF
[agent]
state_dir = $CA
lock_file = $T/agent/agent.lock
status_file = $T/agent/agent.status
[cert h.test]
fullchain = $T/agent/h.fullchain.crt
key = $T/agent/h.key
ca = $T/agent/ca.crt
EOF
run "$MINICA" agent --config "$T/agent/ca.conf"
expect_ok "the agent's first run writes ca.crt"
inode=$(stat -c %i "$T/agent/ca.crt")
run "$MINICA" agent --config "$T/agent/ca.conf" --force
expect_ok "a forced renewal"
check "ca.crt keeps its inode" test "$(stat -c %i "$T/agent/ca.crt")" = "$inode"
check "and has no .prev" test ! -e "$T/agent/ca.crt.prev"
check "it still holds the root" cmp -s "$T/agent/ca.crt" "$CA/root.crt"
chmod 600 "$T/agent/ca.crt"
run "$MINICA" agent --config "$T/agent/ca.conf" --force
expect_ok "a renewal with ca.crt at the wrong mode"
expect_mode "$T/agent/ca.crt" 644

# ---- several names in one issue, as mkcert takes them ----
run "$MINICA" issue multi.test other.test 10.1.2.3 --san last.test --dir "$CA" --out "$T/multi"
expect_ok "issue NAME NAME2 IP --san NAME3"
check "the files are named after the first" test -s "$T/multi/multi.test.crt"
sans=$(openssl x509 -in "$T/multi/multi.test.crt" -noout -ext subjectAltName | tail -n 1)
check "NAME is the first SAN" grep -q '^ *DNS:multi.test,' <<<"$sans"
for n in DNS:other.test "IP Address:10.1.2.3" DNS:last.test; do
    check "$n is a SAN" grep -q "$n" <<<"$sans"
done
run "$MINICA" issue multi2.test 'bad name;' --dir "$CA" --out "$T/multi"
expect_rc 2 "a bad second name is a usage error"

# ---- list shows what is current (issue 20, item 4) ----
L=$T/listca
run "$MINICA" init --dir "$L"
expect_ok "a CA of its own for list"
now=$(date +%s)
# An old certificate that expires in 10 days, renewed since.
MINICA_FAKE_NOW=$((now - 80 * 86400)) run "$MINICA_FAKECLOCK" issue web.test --ttl 90d --dir "$L" --out "$T/l1"
expect_ok "an 80-day-old web.test"
old_serial=$(serial_of "$T/l1/web.test.crt")
run "$MINICA" issue web.test --dir "$L" --out "$T/l2"
new_serial=$(serial_of "$T/l2/web.test.crt")
run "$MINICA" list --dir "$L"
expect_ok "list"
check "by default one row for web.test, the newest" test "$(printf '%s\n' "$OUT" | grep -c ' web.test ')" = 1
expect_out "^$new_serial +web.test +valid " "the newest is valid"
run "$MINICA" list --all --dir "$L"
expect_out "^$old_serial +web.test +superseded " "--all shows the older one as superseded"
run "$MINICA" list --status superseded --json --dir "$L"
check "--status superseded --json" test "$(printf '%s' "$OUT" | jq -r '.[0].serial + " " + .[0].status')" = "$old_serial superseded"
run "$MINICA" list --expiring 30d --dir "$L"
expect_ok "--expiring does not alarm on a certificate that was renewed"
# Still deployed here: a managed file holds the old one, so it is current.
mkdir -m 700 "$T/lagent"
cat >"$T/lagent/agent.conf" <<EOF
[agent]
state_dir = $L
[cert web.test]
fullchain = $T/l1/web.test.fullchain.crt
key = $T/l1/web.test.key
EOF
run "$MINICA" list --dir "$L" --config "$T/lagent/agent.conf"
expect_out "^$old_serial +web.test +valid " "a certificate a managed file holds is current"
run "$MINICA" list --expiring 30d --dir "$L" --config "$T/lagent/agent.conf"
expect_rc 1 "and its coming expiry is reported"
run "$MINICA" list --dir "$L" --config "$T/lagent/missing.conf"
expect_rc 1 "an explicit --config that cannot be read is an error"
# A renewal the agent rolled back is revoked (superseded), not current.
cat >"$T/lagent/rollback.conf" <<EOF
[agent]
state_dir = $L
lock_file = $T/lagent/agent.lock
status_file = $T/lagent/agent.status
check_command = false
[cert web.test]
fullchain = $T/l2/web.test.fullchain.crt
key = $T/l2/web.test.key
EOF
run "$MINICA" agent --config "$T/lagent/rollback.conf" --force
expect_rc 1 "a renewal whose check fails"
check "its files were restored" test "$(serial_of "$T/l2/web.test.crt")" = "$new_serial"
run "$MINICA" list --dir "$L"
expect_out "^$new_serial +web.test +valid " "the restored certificate is still the current one"
run "$MINICA" list --all --json --dir "$L"
check "the rolled-back one is revoked, reason superseded (4)" test "$(printf '%s' "$OUT" | jq \
    "[.[] | select(.name == \"web.test\" and .status == \"revoked\" and .revoke_reason == 4)] | length")" = 1

# ---- version --json: the libraries as loaded now ----
run "$MINICA" version --json
expect_ok "version --json"
check "minica's version" test "$(printf '%s' "$OUT" | jq -r .minica)" = "$("$MINICA" version | sed 's/^minica //')"
got_mbed=$(printf '%s' "$OUT" | jq -r .libraries.mbedtls.version)
# Debian 12's own mbedTLS, or the 3.6 gate's build of Debian 13's.
if ldd "$MINICA" | grep -q '=> /\(usr/\)\?lib/x86_64-linux-gnu/libmbedcrypto.so.7 '; then
    mbed=$(dpkg-query -W -f '${Version}' libmbedcrypto7 | sed 's/-.*//')
    check "mbedTLS as dpkg has it ($mbed)" test "$got_mbed" = "$mbed"
else
    check "mbedTLS 3.6 in the 3.6 build ($got_mbed)" grep -q '^3\.6\.' <<<"$got_mbed"
fi
check "SQLite as sqlite3 reports it" test "$(printf '%s' "$OUT" | jq -r .libraries.sqlite.version)" = \
    "$(sqlite3 --version | cut -d' ' -f1)"
check "GnuTLS as certtool reports it" test "$(printf '%s' "$OUT" | jq -r .libraries.gnutls.version)" = \
    "$(certtool --version | sed -n 's/^certtool [^0-9]*//p' | head -n 1)"
check "libcurl as curl reports it" test "$(printf '%s' "$OUT" | jq -r .libraries.libcurl.version)" = \
    "$(curl --version | sed -n '1s/^curl \([^ ]*\).*/\1/p')"
check "a libmicrohttpd version" test "$(printf '%s' "$OUT" | jq -r .libraries.libmicrohttpd.version)" != null
run env MINICA_TEST_MISSING_LIB=libcurl "$MINICA_FAKECLOCK" version --json
check "a missing libcurl: version null" test "$(printf '%s' "$OUT" | jq -r .libraries.libcurl.version)" = null
check "and the package to install" sh -c "printf '%s' '$OUT' | jq -r .libraries.libcurl.error | grep -q 'install the libcurl3-gnutls package'"
run "$MINICA" version --yaml
expect_rc 2 "version with an unknown argument"

done_testing
