#!/bin/bash
# SIGKILL during `minica ca rollover` (issue 15: "every step is safe to
# interrupt; the next step finishes what a crash left"). A rollover writes
# a new root, a cross-certificate and an intermediate under the new root,
# then switches intermediate.crt. After a kill at any moment the CA must be
# whole, old or new: either nothing of the rollover is in use (one root in
# the trust bundle, no cross in the chain, and a new rollover works) or all
# of it is (two roots, intermediate + cross). Never a new root in every
# trust bundle that nothing issues under, with the CA calling itself
# healthy and no command able to finish or undo it.
source "$SRCDIR/tests/integration/lib/common.sh"

N=${ROLLOVER_KILLS:-50}
killed=0 old=0 new=0 half=0 bad_status=0 bad_issue=0 bad_verify=0 stuck=0

# How long a rollover takes here (the shortest of two), for the kill points.
run "$MINICA" init --dir "$T/measure"
expect_ok "init a CA to time a rollover"
run_ms=5000
for i in 1 2; do
    start=$(date +%s%N)
    run "$MINICA" ca rollover --dir "$T/measure"
    ms=$((($(date +%s%N) - start) / 1000000))
    expect_ok "an unhurried rollover ($ms ms)"
    [ $ms -lt $run_ms ] && run_ms=$ms
    # The next rollover needs this one finished: cross dropped, old root out.
    "$MINICA" ca drop-cross --force --dir "$T/measure" >/dev/null 2>&1
    for s in $("$MINICA" ca status --json --dir "$T/measure" |
        jq -r '.certs[] | select(.role != "cross" and .state == "current") | .serial'); do
        "$MINICA" ca retire "$s" --dir "$T/measure" >/dev/null 2>&1
    done
done
[ $run_ms -ge 5 ] || run_ms=5

killed_asan=$(asan_options_for_killed)
for i in $(seq 1 "$N"); do
    d=$T/ca$i
    "$MINICA" init --dir "$d" >/dev/null 2>&1 || fail "init $i"
    ASAN_OPTIONS=$killed_asan "$MINICA" ca rollover --dir "$d" >/dev/null 2>&1 &
    pid=$!
    ms=$((RANDOM % run_ms))
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    [ $? -eq 137 ] && killed=$((killed + 1))

    "$MINICA" ca status --dir "$d" >/dev/null 2>"$T/err"
    st=$?
    case $st in 0 | 3) ;; *)
        bad_status=$((bad_status + 1))
        echo "# kill $i: ca status exits $st: $(cat "$T/err")"
        ;;
    esac
    if ! "$MINICA" issue "probe.svc" --ttl 1h --dir "$d" --out "$d.out" >/dev/null 2>"$T/err"; then
        bad_issue=$((bad_issue + 1))
        echo "# kill $i: issue fails: $(cat "$T/err")"
        continue
    fi
    "$MINICA" export root --dir "$d" >"$d.roots" 2>/dev/null
    "$MINICA" export intermediate --dir "$d" >"$d.chain" 2>/dev/null
    if ! openssl verify -CAfile "$d.roots" -untrusted "$d.chain" "$d.out/probe.svc.crt" >/dev/null 2>&1; then
        bad_verify=$((bad_verify + 1))
        echo "# kill $i: the leaf does not verify under export root + export intermediate"
    fi
    roots=$(grep -c BEGIN "$d.roots")
    chain=$(grep -c BEGIN "$d.chain")
    if [ "$roots" = 1 ] && [ "$chain" = 1 ]; then
        # Nothing of the rollover in use: a new one must go through.
        old=$((old + 1))
        if ! "$MINICA" ca rollover --dir "$d" >/dev/null 2>"$T/err"; then
            stuck=$((stuck + 1))
            echo "# kill $i: old state, but a new rollover fails: $(cat "$T/err")"
        fi
    elif [ "$roots" = 2 ] && [ "$chain" = 2 ]; then
        new=$((new + 1))
    else
        half=$((half + 1))
        echo "# kill $i: half a rollover: export root has $roots certificates, export intermediate $chain;" \
            "ca status exits $st; $("$MINICA" ca rollover --dir "$d" 2>&1 >/dev/null)"
    fi
done
echo "# $killed of $N rollovers killed (a rollover takes ~${run_ms}ms): $old old, $new new, $half half"
check "some rollovers were killed mid-run" test "$killed" -gt 0
check "after each kill ca status exits 0 or 3" test "$bad_status" = 0
check "after each kill minica issue works" test "$bad_issue" = 0
check "after each kill the leaf verifies under export root + export intermediate" test "$bad_verify" = 0
check "after each kill the CA is the old one or the new one, never half ($half half)" test "$half" = 0
check "after each kill that left the old CA, a new rollover works" test "$stuck" = 0
done_testing
