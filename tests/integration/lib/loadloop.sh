# A request loop that runs in the background across a test's phases
# (bash, sourced after common.sh): the "zero failed requests" of a change
# made under load. lib/loadloop.py does the requests; these functions start
# it, read its counts and stop it.
#
#   loadloop_start URL [RATE]   start (default 25 requests/s); the loop is
#                               stopped at exit like any tracked pid
#   loadloop_counts             prints "total N ok N failed N" so far
#   loadloop_failed             prints the number of failed requests so far
#   loadloop_stop               stops it, waits for its final counts
#   loadloop_failures           the failed requests, one line each

: "${T:?source common.sh first}"
LOADLOOP_OUT=$T/loadloop
LOADLOOP_PID=

loadloop_start() {
    local url=$1 rate=${2:-25} i
    rm -f "$LOADLOOP_OUT" "$LOADLOOP_OUT.fail" "$LOADLOOP_OUT.done"
    python3 "$SRCDIR/tests/integration/lib/loadloop.py" "$url" "$rate" "$LOADLOOP_OUT" &
    LOADLOOP_PID=$!
    track_pid "$LOADLOOP_PID"
    # Started when it has written its first counts.
    for i in $(seq 1 100); do
        [ -s "$LOADLOOP_OUT" ] && return 0
        sleep 0.1
    done
    return 1
}
loadloop_counts() { cat "$LOADLOOP_OUT" 2>/dev/null || echo "total 0 ok 0 failed 0"; }
loadloop_failed() { loadloop_counts | awk '{print $6}'; }
loadloop_total() { loadloop_counts | awk '{print $2}'; }
loadloop_failures() { cat "$LOADLOOP_OUT.fail" 2>/dev/null; }
loadloop_stop() {
    local i
    [ -n "$LOADLOOP_PID" ] || return 0
    kill -TERM "$LOADLOOP_PID" 2>/dev/null
    for i in $(seq 1 150); do
        [ -e "$LOADLOOP_OUT.done" ] && break
        sleep 0.1
    done
    wait "$LOADLOOP_PID" 2>/dev/null
    LOADLOOP_PID=
}
