#!/usr/bin/env bash
# Load: 4 processes each issue 200 certificates at the same time into one
# state directory. Every issuance must succeed (no "database is locked"
# reaching the operator), and the inventory must hold 800 distinct serials
# that match the 800 certificates on disk. Not a timing test.
source "$SRCDIR/tests/integration/lib/common.sh"

WORKERS=4
PER_WORKER=200
ca=$T/ca
run "$MINICA" init --dir "$ca"
expect_ok "init a CA"

worker() {
    local w=$1 i fails=0
    for i in $(seq 1 "$PER_WORKER"); do
        "$MINICA" issue "w$w-$i.load.internal.svc" --key-type ec-p256 --dir "$ca" \
            --out "$T/out$w" >/dev/null 2>>"$T/err$w" || fails=$((fails + 1))
    done
    echo "$fails" >"$T/fails$w"
}

pids=()
for w in $(seq 1 "$WORKERS"); do
    worker "$w" &
    pids+=($!)
    track_pid "$!"
done
for p in "${pids[@]}"; do wait "$p"; done

total_fails=0
for w in $(seq 1 "$WORKERS"); do
    total_fails=$((total_fails + $(cat "$T/fails$w")))
done
if [ "$total_fails" -eq 0 ]; then pass "800 concurrent issuances, zero failures"; else
    fail "$total_fails of $((WORKERS * PER_WORKER)) issuances failed: $(head -c 2000 "$T"/err*)"
fi
if cat "$T"/err* | grep -qi "locked\|busy"; then
    fail "'database is locked' reached the user: $(grep -hi 'locked\|busy' "$T"/err* | head -3)"
else
    pass "no 'database is locked' or 'busy' on stderr"
fi

# The inventory, read by its database's own client and by minica.
rows=$(db_query "$ca" "SELECT count(*) FROM certs")
distinct=$(db_query "$ca" "SELECT count(DISTINCT serial) FROM certs")
[ "$rows" -eq 800 ] && pass "800 rows" || fail "$rows rows, wanted 800"
[ "$distinct" -eq 800 ] && pass "800 distinct serials in the DB" || fail "$distinct distinct serials"
run "$MINICA" list --json --dir "$ca"
expect_ok "list --json after the load"
listed=$(printf '%s' "$OUT" | grep -o '"serial"' | wc -l)
[ "$listed" -eq 800 ] && pass "list --json shows 800" || fail "list --json shows $listed"
if [ -z "${MINICA_DB:-}" ]; then
    check "PRAGMA integrity_check is ok" test "$(db_query "$ca" 'PRAGMA integrity_check')" = ok
fi

# The files: 800 certificates with 800 distinct serials, each one in the DB.
db_query "$ca" "SELECT serial FROM certs" | sort >"$T/db_serials"
: >"$T/disk_serials"
for crt in "$T"/out*/w*.load.internal.svc.crt; do
    case $crt in *.fullchain.crt) continue ;; esac
    serial_of "$crt" >>"$T/disk_serials"
done
sort -o "$T/disk_serials" "$T/disk_serials"
n_disk=$(sort -u "$T/disk_serials" | wc -l)
[ "$n_disk" -eq 800 ] && pass "800 distinct serials on disk" || fail "$n_disk distinct serials on disk"
check "the serials on disk are the serials in the DB" cmp -s "$T/db_serials" "$T/disk_serials"

# A sample of pairs: key matches cert, and the chain verifies.
for w in $(seq 1 "$WORKERS"); do
    for i in 1 100 200; do
        base=$T/out$w/w$w-$i.load.internal.svc
        check "w$w-$i: key matches certificate" key_matches "$base.key" "$base.crt"
    done
done
check "a certificate verifies against the root" openssl verify -CAfile "$ca/root.crt" \
    -untrusted "$ca/intermediate.crt" "$T/out1/w1-1.load.internal.svc.crt"

done_testing
