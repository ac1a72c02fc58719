# ACME External Account Binding (RFC 8555 7.3.4) with the real binary and
# lego from Debian: `minica acme eab create` prints a kid and MAC key that
# lego's --eab --kid --hmac turns into an account that issues; lego without
# them is told EAB is required, a second account with the same key
# unauthorized, and after `minica acme eab revoke` the bound account's new
# order is refused (unauthorized). Nothing is issued on a refusal (minica
# list). The MAC key is in neither the database nor the audit log, and
# DIR/acme-eab.key is 0600. Ports and namespaces: lib/acme.sh.
: "${SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
source "$SRCDIR/tests/integration/lib/acme.sh"
acme_isolate "$0" "$@"
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"
ROOT=$CA/root.crt
printf '[acme]\nenabled = yes\nvalidate_ip = 127.0.0.0/8\n' >>"$CA/minica.conf"

# --- the CLI ---------------------------------------------------------------
run "$MINICA" acme eab list --dir "$CA"
expect_ok "eab list with no keys"
check "eab list: only the header" test "$(printf '%s\n' "$OUT" | wc -l)" = 1
check_not "no acme-eab.key before the first key" test -e "$CA/acme-eab.key"
run "$MINICA" acme eab create --dir "$CA" --label "lego on web1" --permit-dns localhost
expect_ok "eab create"
KID=$(printf '%s\n' "$OUT" | awk '$1 == "kid" { print $2 }')
HMAC=$(printf '%s\n' "$OUT" | awk '$1 == "hmac" { print $2 }')
check "eab create prints a 16-hex kid" grep -Eqx '[0-9a-f]{16}' <<<"$KID"
check "eab create prints a 32-octet base64url MAC key" grep -Eqx '[A-Za-z0-9_-]{43}' <<<"$HMAC"
check "acme-eab.key is 0600" test "$(stat -c %a "$CA/acme-eab.key")" = 600
check_not "the MAC key is not in the database" grep -rqF -- "$HMAC" "$CA"
if [ -n "${MINICA_DB:-}" ]; then
    db_dump "$CA" >"$T/inventory.sql"
    check "the inventory dumps" test -s "$T/inventory.sql"
    check_not "the MAC key is not in the PostgreSQL inventory" grep -qF -- "$HMAC" "$T/inventory.sql"
    check_not "nor is the secret it is derived from" \
        grep -qF -- "$(tr -d '\n' <"$CA/acme-eab.key")" "$T/inventory.sql"
else
    check_not "nor is the secret it is derived from" \
        grep -qF -- "$(tr -d '\n' <"$CA/acme-eab.key")" "$CA/minica.db" "$CA/minica.db-wal"
fi
run "$MINICA" log --dir "$CA"
check "eab create is audited with its kid" grep -q "acme eab key $KID created label=\"lego on web1\" permit_dns=localhost" <<<"$OUT"
run "$MINICA" acme eab create --dir "$CA" --json --expires 1d
expect_ok "eab create --json"
KID2=$(jq -r .kid <<<"$OUT")
HMAC2=$(jq -r .hmac_key <<<"$OUT")
check "eab create --json: kid and hmac_key" test -n "$KID2" -a ${#HMAC2} = 43
check "the second key has another MAC key" test "$HMAC2" != "$HMAC"
run "$MINICA" acme eab create --dir "$CA" --permit-ip 10.0.0.1/8
expect_rc 1 "eab create with a bad CIDR: refused"
expect_err '^minica: acme: eab create: --permit-ip: .*10\.0\.0\.1/8' "eab create with a bad CIDR: one line naming it"
run "$MINICA" acme eab create --dir "$CA" --expires 2y
expect_rc 1 "eab create --expires 2y: refused"
run "$MINICA" acme eab create --dir "$CA" --expires soon
expect_rc 2 "eab create --expires soon: usage"
run "$MINICA" acme
expect_rc 2 "acme without a subcommand: usage"
run "$MINICA" acme eab frob
expect_rc 2 "acme eab frob: usage"
run "$MINICA" acme eab revoke
expect_rc 2 "eab revoke without KID: usage"
run "$MINICA" acme eab revoke 0000000000000000 --dir "$CA"
expect_rc 1 "eab revoke of an unknown kid: refused"
run "$MINICA" acme eab list --dir "$CA" --json
check "eab list --json: both keys valid" jq -e --arg k "$KID" \
    'length == 2 and all(.[]; .state == "valid") and (.[] | select(.kid == $k) | .permit_dns == ["localhost"] and .label == "lego on web1")' <<<"$OUT"
run "$MINICA" help acme
check "minica help acme shows the usage" grep -q '^Usage: minica acme eab create' <<<"$OUT"

# --- serve, lego --------------------------------------------------------------
if ! acme_serve_start "$CA" S ca.test; then
    fail "minica serve starts"
    done_testing
fi
DIR_URL=$(acme_directory_url S)
curl -s --max-time 10 --cacert "$ROOT" -o "$T/dir.json" "$DIR_URL"
check "the directory says externalAccountRequired" jq -e '.meta.externalAccountRequired == true' "$T/dir.json"
HTTP=(--http --http.port "127.0.0.1:$S_HTTP_PORT")
localhost_certs() { "$MINICA" list localhost --dir "$CA" --status all --json | jq length; }

run lego_run "$ROOT" "$T/lego-none" --server "$DIR_URL" --accept-tos --email none@example.com \
    "${HTTP[@]}" -d localhost run
check "lego without EAB: refused" test "$RC" != 0
# lego reads meta.externalAccountRequired from the directory and stops
# before newAccount (the server's own externalAccountRequired answer is
# tests/unit/test_acme.c's).
check "lego without EAB: told the server requires External Account Binding" \
    grep -q 'Server requires External Account Binding' <<<"$OUT$ERR"
check_not "lego without EAB: no account was made" grep -Eq 'POST /acme/new-account 201' "$S_LOG"
check "lego without EAB: nothing issued" test "$(localhost_certs)" = 0

run lego_run "$ROOT" "$T/lego-bad" --server "$DIR_URL" --accept-tos --email bad@example.com \
    --eab --kid "$KID" --hmac "$HMAC2" "${HTTP[@]}" -d localhost run
check "lego with another key's MAC: refused" test "$RC" != 0
check "lego with another key's MAC: unauthorized" grep -q 'error:unauthorized' <<<"$OUT$ERR"
run "$MINICA" acme account list --dir "$CA" --json
check "no account after the refusals" jq -e 'length == 0' <<<"$OUT"

LEGO=(--server "$DIR_URL" --accept-tos --email web1@example.com --eab --kid "$KID" --hmac "$HMAC")
run lego_run "$ROOT" "$T/lego" "${LEGO[@]}" "${HTTP[@]}" -d localhost run
expect_ok "lego with --eab --kid --hmac issues for localhost"
CERT=$T/lego/certificates/localhost.crt
check "the certificate verifies under minica's root" acme_verify "$ROOT" "$CERT" localhost
SERIAL=$(acme_serial "$CERT")
check "minica list has it valid" test "$(acme_status "$CA" "$SERIAL")" = valid
run "$MINICA" acme account list --dir "$CA" --json
ACCT=$(jq -r '.[0].id' <<<"$OUT")
check "account list: one account, bound to the kid, one order" \
    jq -e --arg k "$KID" 'length == 1 and .[0].eab_kid == $k and .[0].orders == 1 and .[0].status == "valid"' <<<"$OUT"
run "$MINICA" acme eab list --dir "$CA" --json
check "eab list: the key is bound to that account" \
    jq -e --arg k "$KID" --arg a "$ACCT" '.[] | select(.kid == $k) | .state == "bound" and .account == $a' <<<"$OUT"
run "$MINICA" acme eab list --dir "$CA"
check "eab list: the table shows it bound" grep -Eq "^$KID +bound +[^ ]+ +$ACCT +localhost +lego on web1$" <<<"$OUT"

run lego_run "$ROOT" "$T/lego-second" --server "$DIR_URL" --accept-tos --email two@example.com \
    --eab --kid "$KID" --hmac "$HMAC" "${HTTP[@]}" -d localhost run
check "a second account with the same key: refused" test "$RC" != 0
check "a second account with the same key: unauthorized" grep -q 'error:unauthorized' <<<"$OUT$ERR"

# A key's --permit-dns narrows what its account may order.
run "$MINICA" acme eab create --dir "$CA" --permit-dns db.internal
KID3=$(printf '%s\n' "$OUT" | awk '$1 == "kid" { print $2 }')
HMAC3=$(printf '%s\n' "$OUT" | awk '$1 == "hmac" { print $2 }')
run lego_run "$ROOT" "$T/lego-narrow" --server "$DIR_URL" --accept-tos --email three@example.com \
    --eab --kid "$KID3" --hmac "$HMAC3" "${HTTP[@]}" -d localhost run
check "a key for db.internal orders no localhost: refused" test "$RC" != 0
check "a key for db.internal orders no localhost: rejectedIdentifier naming the key" \
    grep -q "localhost is outside what this account's external account binding key $KID3 permits" <<<"$OUT$ERR"
check "nothing more was issued for localhost by it" test "$(localhost_certs)" = 1

# --- revocation ----------------------------------------------------------------
run "$MINICA" acme eab revoke "$KID" --dir "$CA"
expect_ok "eab revoke"
expect_out "^Revoked EAB key $KID\$" "eab revoke: says so"
run "$MINICA" acme eab revoke "$KID" --dir "$CA"
expect_rc 1 "a second eab revoke: refused"
expect_err "^minica: acme: eab revoke: $KID is already revoked\$" "a second eab revoke: already revoked"
run "$MINICA" log --dir "$CA"
check "eab revoke is audited" grep -q "acme eab key $KID revoked (account $ACCT)" <<<"$OUT"
run "$MINICA" acme eab list --dir "$CA" --json
check "eab list: revoked" jq -e --arg k "$KID" '.[] | select(.kid == $k) | .state == "revoked"' <<<"$OUT"

run lego_run "$ROOT" "$T/lego" "${LEGO[@]}" "${HTTP[@]}" -d localhost renew --days 3650 --no-random-sleep
check "the bound account's new order after the revocation: refused" test "$RC" != 0
check "the bound account's new order: unauthorized, naming the revoked key" \
    grep -q "its external account binding key $KID was revoked" <<<"$OUT$ERR"
check "nothing more was issued for localhost" test "$(localhost_certs)" = 1
check "the first certificate is still valid" test "$(acme_status "$CA" "$SERIAL")" = valid

kill -TERM "$S_PID"
wait "$S_PID"
check "serve: SIGTERM exits 0" test "$?" = 0
done_testing
