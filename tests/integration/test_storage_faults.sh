#!/usr/bin/env bash
# Storage faults: a write that fails (RLIMIT_FSIZE, as on a full disk), a
# read-only output directory, and a file where the output directory should
# be. Each must give one clear line and exit 1, and leave the previous
# certificate files and the inventory exactly as they were (no new row).
source "$SRCDIR/tests/integration/lib/common.sh"

ca=$T/ca
out=$T/out
run "$MINICA" init --dir "$ca"
expect_ok "init a CA"
run "$MINICA" issue web.internal.svc --dir "$ca" --out "$out"
expect_ok "issue the certificate that must survive"

snapshot() { # the state that must not change: files and rows
    (cd "$out" && sha256sum -- * 2>/dev/null) >"$T/files.$1"
    ls -A "$out" >"$T/names.$1"
    sqlite3 "$ca/minica.db" "SELECT serial FROM certs ORDER BY serial" >"$T/rows.$1"
}
expect_unchanged() { # expect_unchanged WHAT
    snapshot after
    check "$1: previous files intact" cmp -s "$T/files.before" "$T/files.after"
    check "$1: no new or leftover files in the output directory" \
        cmp -s "$T/names.before" "$T/names.after"
    check "$1: no new row in the inventory" cmp -s "$T/rows.before" "$T/rows.after"
    check "$1: the DB is intact" test "$(sqlite3 "$ca/minica.db" 'PRAGMA integrity_check')" = ok
    check "$1: the previous key still matches its certificate" \
        key_matches "$out/web.internal.svc.key" "$out/web.internal.svc.crt"
}
snapshot before

# 1. Writes fail: RLIMIT_FSIZE. The process must not die of SIGXFSZ; every
# limit that makes the issuance fail must fail it cleanly. (bash counts
# ulimit -f in 1024-byte blocks.)
for kb in 1 2 4 8; do
    OUT=$( (ulimit -f "$kb" && exec "$MINICA" issue web.internal.svc --dir "$ca" --out "$out") \
        2>"$T/.stderr")
    RC=$?
    ERR=$(cat "$T/.stderr")
    if [ "$RC" -eq 0 ]; then
        # A limit large enough for everything: then the new files are whole.
        pass "ulimit -f $kb: issuance fit under the limit"
        check "ulimit -f $kb: new key matches new certificate" \
            key_matches "$out/web.internal.svc.key" "$out/web.internal.svc.crt"
        snapshot before
        continue
    fi
    expect_rc 1 "ulimit -f $kb: issuance fails"
    expect_err '^minica: issue: .*(File too large|disk|I/O|write|sync)' \
        "ulimit -f $kb: one-line error naming the write failure"
    expect_unchanged "ulimit -f $kb"
done

# 2. A read-only output directory. root ignores permission bits, so as root
# the directory is made read-only with a private bind mount.
ro_issue() {
    if [ "$(id -u)" -ne 0 ]; then
        chmod 555 "$out"
        "$MINICA" issue web.internal.svc --dir "$ca" --out "$out"
        local rc=$?
        chmod 700 "$out"
        return $rc
    fi
    unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" &&
        exec "$2" issue web.internal.svc --dir "$3" --out "$1"' sh "$out" "$MINICA" "$ca"
}
if [ "$(id -u)" -ne 0 ] || unshare -m true 2>/dev/null; then
    run ro_issue
    expect_rc 1 "read-only output directory: issuance fails"
    expect_err '^minica: issue: web.internal.svc: .*(Read-only|Permission denied)' \
        "read-only output directory: one-line error naming the cause"
    expect_unchanged "read-only output directory"
    run "$MINICA" log --dir "$ca"
    if [ "$RC" -eq 0 ]; then
        expect_out 'withdrew web.internal.svc' "the withdrawn issuance is in the audit log"
    fi
else
    echo "skip - read-only directory: cannot make one (root without unshare)"
fi

# 3. A file where the output directory should be.
echo "not a directory" >"$T/blocker"
cp "$T/blocker" "$T/blocker.orig"
run "$MINICA" issue web.internal.svc --dir "$ca" --out "$T/blocker"
expect_rc 1 "a file in place of --out: issuance fails"
expect_err '^minica: issue: web.internal.svc: .*not a directory' \
    "a file in place of --out: one-line error"
check "the file in the way is untouched" cmp -s "$T/blocker" "$T/blocker.orig"
expect_unchanged "a file in place of --out"
# ...and a file in place of a parent of --out.
run "$MINICA" issue web.internal.svc --dir "$ca" --out "$T/blocker/sub"
expect_rc 1 "a file in place of a parent of --out: issuance fails"
expect_err '^minica: issue: web.internal.svc: .*(not a directory|Not a directory)' \
    "a file in place of a parent of --out: one-line error"
expect_unchanged "a file in place of a parent of --out"

# After all that, issuing works again.
run "$MINICA" issue web.internal.svc --dir "$ca" --out "$out"
expect_ok "issuance works again after the faults"
check "new key matches new certificate" \
    key_matches "$out/web.internal.svc.key" "$out/web.internal.svc.crt"

done_testing
