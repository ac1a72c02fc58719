#!/usr/bin/env bash
# Hostile or damaged state: a corrupted minica.db, a truncated CA key, a CA
# key readable by others (refused like ssh, with the chmod in the message),
# symlinks planted at output paths and at the database (never followed into
# place). Each failure is one line and exit 1, never a crash.
source "$SRCDIR/tests/integration/lib/common.sh"

fresh_ca() { # fresh_ca DIR: a CA with one issued certificate
    rm -rf "$1"
    "$MINICA" init --dir "$1" >/dev/null && "$MINICA" issue one.internal.svc --dir "$1" \
        --out "$1/out" >/dev/null
}
not_a_crash() { # the last run ended by exit, not by a signal (>128)
    if [ "$RC" -lt 128 ]; then pass "$1: no crash (exit $RC)"; else fail "$1: killed, exit $RC"; fi
}

# 1. A corrupted database: the header overwritten.
ca=$T/ca1
fresh_ca "$ca" || fail "set up CA 1"
printf 'this is not an SQLite database header at all.....' |
    dd of="$ca/minica.db" bs=1 seek=0 conv=notrunc status=none
run "$MINICA" list --dir "$ca"
expect_rc 1 "corrupted DB header: list fails"
expect_err '^minica: list: .*minica.db.*(damaged|not a minica database|not a database)' \
    "corrupted DB header: one line naming the database"
run "$MINICA" issue two.internal.svc --dir "$ca" --out "$ca/out"
expect_rc 1 "corrupted DB header: issue fails"
expect_err '^minica: issue: .*minica.db' "corrupted DB header: issue names the database"
check_not "corrupted DB header: no certificate was written for the refused issuance" \
    test -e "$ca/out/two.internal.svc.crt"

# ...and garbage in the middle of the file (the tables' pages).
ca=$T/ca2
fresh_ca "$ca" || fail "set up CA 2"
for i in $(seq 1 5); do
    "$MINICA" issue "n$i.internal.svc" --dir "$ca" --out "$ca/out" >/dev/null
done
sqlite3 "$ca/minica.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
size=$(stat -c %s "$ca/minica.db")
head -c $((size - 4096)) /dev/urandom | dd of="$ca/minica.db" bs=1 seek=4096 conv=notrunc status=none
for cmd in "list" "list --json" "show one.internal.svc" "issue three.internal.svc --out $ca/out"; do
    # shellcheck disable=SC2086
    run "$MINICA" $cmd --dir "$ca"
    not_a_crash "corrupted DB pages: $cmd"
    if [ "$RC" -ne 0 ]; then
        expect_rc 1 "corrupted DB pages: $cmd fails with exit 1"
        expect_err "^minica: ${cmd%% *}: " "corrupted DB pages: $cmd gives one line"
    fi
done

# 2. A truncated intermediate key.
ca=$T/ca3
fresh_ca "$ca" || fail "set up CA 3"
len=$(stat -c %s "$ca/intermediate.key")
truncate -s $((len / 2)) "$ca/intermediate.key"
run "$MINICA" issue two.internal.svc --dir "$ca" --out "$ca/out"
expect_rc 1 "truncated intermediate.key: issue fails"
expect_err '^minica: issue: .*intermediate.key' "truncated intermediate.key: named in one line"
check "truncated intermediate.key: no row added" \
    test "$(sqlite3 "$ca/minica.db" 'SELECT count(*) FROM certs')" -eq 1
: >"$ca/intermediate.key"
run "$MINICA" issue two.internal.svc --dir "$ca" --out "$ca/out"
expect_rc 1 "empty intermediate.key: issue fails"
expect_err '^minica: issue: .*intermediate.key' "empty intermediate.key: named in one line"

# 3. A CA key readable by group or others: refused, like ssh, with the fix.
ca=$T/ca4
fresh_ca "$ca" || fail "set up CA 4"
for mode in 644 640 604; do
    chmod "$mode" "$ca/intermediate.key"
    run "$MINICA" issue two.internal.svc --dir "$ca" --out "$ca/out"
    expect_rc 1 "intermediate.key mode $mode: refused"
    expect_err "^minica: issue: .*intermediate.key.*chmod 600 .*intermediate.key" \
        "intermediate.key mode $mode: the message has the chmod fix"
done
chmod 600 "$ca/intermediate.key"
run "$MINICA" issue two.internal.svc --dir "$ca" --out "$ca/out"
expect_ok "after chmod 600 issuing works again"

# A valid key that is not the intermediate's (here: the root's) is refused.
cp "$ca/intermediate.key" "$T/intermediate.key.orig"
cp "$ca/root.key" "$ca/intermediate.key"
chmod 600 "$ca/intermediate.key"
run "$MINICA" issue three.internal.svc --dir "$ca" --out "$ca/out"
expect_rc 1 "intermediate.key swapped for another key: refused"
expect_err '^minica: issue: .*intermediate.key does not match intermediate.crt' \
    "intermediate.key swapped: one line saying it does not match"
check_not "intermediate.key swapped: nothing issued" test -e "$ca/out/three.internal.svc.crt"
cp "$T/intermediate.key.orig" "$ca/intermediate.key"

# 4. Symlinks planted at output paths: replaced, never followed.
ca=$T/ca5
fresh_ca "$ca" || fail "set up CA 5"
out=$T/out5
mkdir -p "$out"
echo "victim key file" >"$T/victim.key"
echo "victim cert file" >"$T/victim.crt"
echo "victim chain" >"$T/victim.chain"
cp "$T/victim.key" "$T/victim.key.orig"
cp "$T/victim.crt" "$T/victim.crt.orig"
cp "$T/victim.chain" "$T/victim.chain.orig"
ln -s "$T/victim.key" "$out/web.internal.svc.key"
ln -s "$T/victim.crt" "$out/web.internal.svc.crt"
ln -s "$T/victim.chain" "$out/web.internal.svc.fullchain.crt"
ln -s "$T/victim.chain" "$out/ca.crt"
run "$MINICA" issue web.internal.svc --dir "$ca" --out "$out"
expect_ok "issue with symlinks planted at the output paths"
for f in web.internal.svc.key web.internal.svc.crt web.internal.svc.fullchain.crt ca.crt; do
    check_not "$f: the symlink was replaced" test -L "$out/$f"
    check "$f: is a regular file now" test -f "$out/$f"
done
expect_mode "$out/web.internal.svc.key" 600
check "the symlinks' targets are untouched (key)" cmp -s "$T/victim.key" "$T/victim.key.orig"
check "the symlinks' targets are untouched (cert)" cmp -s "$T/victim.crt" "$T/victim.crt.orig"
check "the symlinks' targets are untouched (chain)" cmp -s "$T/victim.chain" "$T/victim.chain.orig"
check "the new key matches the new certificate" \
    key_matches "$out/web.internal.svc.key" "$out/web.internal.svc.crt"
# A dangling symlink at the key path (pointing where a key would be created).
rm -f "$out/web.internal.svc.key"
ln -s "$T/created-through-symlink" "$out/web.internal.svc.key"
run "$MINICA" issue web.internal.svc --dir "$ca" --out "$out"
expect_ok "issue with a dangling symlink at NAME.key"
check_not "nothing was created through the dangling symlink" test -e "$T/created-through-symlink"
check_not "the dangling symlink was replaced" test -L "$out/web.internal.svc.key"

# 5. A symlink in place of the database: refused, the target untouched.
ca=$T/ca6
fresh_ca "$ca" || fail "set up CA 6"
mv "$ca/minica.db" "$T/real.db"
rm -f "$ca/minica.db-wal" "$ca/minica.db-shm"
ln -s "$T/real.db" "$ca/minica.db"
sum=$(sha256sum <"$T/real.db")
run "$MINICA" issue two.internal.svc --dir "$ca" --out "$ca/out"
expect_rc 1 "a symlink at minica.db: refused"
expect_err '^minica: issue: .*minica.db' "a symlink at minica.db: one line naming it"
check "the symlink's target is untouched" test "$(sha256sum <"$T/real.db")" = "$sum"

done_testing
