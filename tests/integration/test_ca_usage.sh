#!/bin/bash
# minica ca's bad input and failure paths (issue 15): usage errors exit 2
# with one line, and a step that cannot be done exits 1 and changes
# nothing: a rotation without the root key leaves the issuer, its files
# and the archive as they were.
source "$SRCDIR/tests/integration/lib/common.sh"

run "$MINICA" init --dir "$T/ca"
expect_ok "init"

run "$MINICA" ca --dir "$T/ca"
expect_rc 2 "ca without a subcommand is a usage error"
run "$MINICA" ca
expect_rc 2 "ca alone is a usage error"
expect_err "^minica: ca: missing what to do" "it says what is missing"
run "$MINICA" ca frobnicate --dir "$T/ca"
expect_rc 2 "an unknown subcommand is a usage error"
expect_err "^minica: ca: unknown 'frobnicate'" "it names the unknown subcommand"
run "$MINICA" ca rotate --ttl forever --dir "$T/ca"
expect_rc 2 "rotate --ttl with a bad duration"
run "$MINICA" ca rotate --key-type dsa --dir "$T/ca"
expect_rc 2 "rotate --key-type with an unknown type"
run "$MINICA" ca retire --dir "$T/ca"
expect_rc 2 "retire without a serial"
expect_err "^minica: ca: retire: missing SERIAL" "it says the serial is missing"
run "$MINICA" ca revoke 00ff --reason sideways --dir "$T/ca"
expect_rc 2 "revoke with an unknown reason"
run "$MINICA" ca drop-cross --reason keyCompromise --dir "$T/ca"
expect_rc 2 "drop-cross does not take --reason"
run "$MINICA" ca retire 00ff --force --dir "$T/ca"
expect_rc 2 "retire does not take --force"
run "$MINICA" ca retire zz --dir "$T/ca"
expect_rc 1 "retire a malformed serial"
run "$MINICA" ca status --dir "$T/missing"
expect_rc 1 "status of a missing state directory"
expect_err "^minica: ca: .*minica init" "it points at init"
run "$MINICA" help ca
expect_ok "minica help ca"
expect_out "ca rotate" "the help shows rotate"

# Without the root key, rotate refuses and nothing moves. A root kept
# offline is gone from both places: the top file and its copy in ca/ (the
# refused steps above already archived it there).
cp "$T/ca/intermediate.crt" "$T/int-before.crt"
archived_key=$(ls "$T"/ca/ca/root-*.key)
check "the first ca step archived the root key, 0600" test "$(stat -c %a "$archived_key")" = 600
mv "$T/ca/root.key" "$T/root.key.offline"
mv "$archived_key" "$T/root.key.archived"
run "$MINICA" ca status --dir "$T/ca"
expect_out "key: +offline \(not in this state directory\)" "ca status says the root key is offline"
run "$MINICA" ca rotate --dir "$T/ca"
expect_rc 1 "rotate without the root key"
expect_err "^minica: ca: rotate: a new intermediate needs the root key" "it says which key is missing"
check "intermediate.crt is unchanged" cmp "$T/ca/intermediate.crt" "$T/int-before.crt"
check "no new intermediate was archived" \
    test "$(ls "$T/ca/ca" | grep -c '^intermediate-.*\.crt$')" = 1
check "no temp file is left behind" test -z "$(ls -A "$T/ca" "$T/ca/ca" | grep '\.tmp')"
run "$MINICA" issue a.svc --dir "$T/ca" --out "$T/out"
expect_ok "the CA still issues from the old intermediate"
check "the leaf verifies under the old chain" openssl verify -CAfile "$T/ca/root.crt" \
    -untrusted "$T/ca/intermediate.crt" "$T/out/a.svc.crt"
run "$MINICA" ca rollover --dir "$T/ca"
expect_rc 1 "rollover without the root key"
expect_err "^minica: ca: rollover: a rollover needs the current root's key" "it says which key"
mv "$T/root.key.offline" "$T/ca/root.key"
mv "$T/root.key.archived" "$archived_key"
run "$MINICA" ca rotate --dir "$T/ca"
expect_ok "with the key back, rotate works"

done_testing
