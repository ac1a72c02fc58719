# Shared helpers for the integration tests (bash). Each test sources this
# file, gets its own temp dir ($T) that is removed at exit, and runs the
# minica binary it was given in $MINICA, by path, never from PATH (Debian has
# an unrelated 'minica').
set -u
: "${MINICA:?MINICA must point at the built minica binary}"
: "${SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"
export LC_ALL=C
unset MINICA_DIR MINICA_DB

T=$(mktemp -d "${TMPDIR:-/tmp}/minica-test.XXXXXX")
_pids=()
_nginx_prefixes=()
_failures=0
_checks=0
_pg_dbs=()

_cleanup() {
    local p
    for p in "${_nginx_prefixes[@]}"; do
        [ -f "$p/nginx.pid" ] && kill -QUIT "$(cat "$p/nginx.pid")" 2>/dev/null
    done
    for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.2
    for p in "${_nginx_prefixes[@]}"; do
        [ -f "$p/nginx.pid" ] && kill -KILL "$(cat "$p/nginx.pid")" 2>/dev/null
    done
    for p in "${_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in "${_pg_dbs[@]}"; do "$PG_BIN/dropdb" -h "$PG_SOCK" -U minica --if-exists --force "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap _cleanup EXIT

# PostgreSQL (issue 17). The ctest fixture (tests/support/pgcluster) runs
# one cluster for every test labelled postgresql; its URI is in the file
# MINICA_TEST_PG_URI_FILE. pg_need fails the test, never skips it, when
# there is none. pg_new_db NAME makes a database of the test's own there
# (dropped at exit) and sets PG_DB_URI to it. A script that runs on both
# backends (tests/CMakeLists.txt's MINICA_BOTH_BACKENDS) is given
# MINICA_TEST_STORE=postgresql for its second run: then every minica it
# starts uses a fresh database through MINICA_DB, and db_query runs SQL on
# whichever inventory is in use.
pg_need() {
    [ -n "${PG_BIN:-}" ] && return 0
    : "${MINICA_TEST_PG_URI_FILE:?run through ctest: the pgcluster fixture gives the URI}"
    [ -s "$MINICA_TEST_PG_URI_FILE" ] ||
        { echo "no PostgreSQL cluster: install postgresql (scripts/install-deps --test)" >&2; exit 1; }
    PG_URI=$(cat "$MINICA_TEST_PG_URI_FILE")
    PG_SOCK=${PG_URI##*host=}
    PG_BIN=""
    local d
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/createdb" ] && PG_BIN=$d; done
    [ -n "$PG_BIN" ] || { echo "createdb missing: install postgresql" >&2; exit 1; }
}
pg_new_db() {
    pg_need
    local name=minica_${1}_$$_$RANDOM
    "$PG_BIN/createdb" -h "$PG_SOCK" -U minica "$name" || { echo "createdb $name failed" >&2; exit 1; }
    _pg_dbs+=("$name")
    PG_DB_URI="postgresql://minica@/$name?host=$PG_SOCK"
}
# pg_psql URI SQL: one value per line, no headers.
pg_psql() {
    pg_need
    "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}
# db_query DIR SQL: SQL on the inventory DIR's minica uses (MINICA_DB when
# set, else DIR/minica.db).
db_query() {
    if [ -n "${MINICA_DB:-}" ]; then
        pg_psql "$MINICA_DB" "$2"
    else
        sqlite3 "$1/minica.db" "$2"
    fi
}
# db_dump DIR: the whole inventory as SQL text, to grep for what must never
# be stored (keys, token secrets).
db_dump() {
    if [ -n "${MINICA_DB:-}" ]; then
        pg_need
        "$PG_BIN/pg_dump" -d "$MINICA_DB" --no-owner
    else
        sqlite3 "$1/minica.db" .dump
    fi
}
# db_new NAME: for a second CA in one script, which must not share the
# first's inventory. Sets NEW_DB to a fresh database's URI on PostgreSQL,
# to "" on SQLite (minica reads an empty MINICA_DB as none: DIR/minica.db);
# the script runs that CA's commands as MINICA_DB=$NEW_DB.
db_new() {
    NEW_DB=""
    if [ -n "${MINICA_DB:-}" ]; then
        pg_new_db "$1"
        NEW_DB=$PG_DB_URI
    fi
}
if [ "${MINICA_TEST_STORE:-sqlite}" = postgresql ]; then
    pg_new_db "$(basename "$0" .sh | sed 's/^test_//')"
    export MINICA_DB=$PG_DB_URI
    echo "# inventory: PostgreSQL ($MINICA_DB)"
fi

# Register a background pid to be killed at exit.
track_pid() { _pids+=("$1"); }

pass() { _checks=$((_checks + 1)); echo "ok - $*"; }
fail() { _checks=$((_checks + 1)); _failures=$((_failures + 1)); echo "FAIL - $*"; }

# run CMD...: runs it, keeps stdout in $OUT, stderr in $ERR, status in $RC.
run() {
    OUT=$("$@" 2>"$T/.stderr")
    RC=$?
    ERR=$(cat "$T/.stderr")
}

expect_rc() { # expect_rc N description
    if [ "$RC" -eq "$1" ]; then pass "$2 (exit $RC)"; else fail "$2: exit $RC, wanted $1; stderr: $ERR"; fi
}
expect_ok() { expect_rc 0 "$1"; }
expect_err() { # expect_err REGEX description: one line on stderr matching REGEX
    if printf '%s' "$ERR" | grep -Eq -- "$1"; then
        pass "$2"
    else
        fail "$2: stderr '$ERR' does not match /$1/"
    fi
    if [ "$(printf '%s\n' "$ERR" | wc -l)" -ne 1 ]; then fail "$2: error is not one line: $ERR"; fi
}
expect_out() { # expect_out REGEX description
    if printf '%s' "$OUT" | grep -Eq -- "$1"; then pass "$2"; else fail "$2: stdout does not match /$1/: $OUT"; fi
}
check() { # check description CMD...: passes when CMD succeeds
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}
check_not() {
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then fail "$what"; else pass "$what"; fi
}
mode_of() { stat -c %a "$1"; }
expect_mode() { # expect_mode FILE MODE
    local m
    m=$(mode_of "$1")
    if [ "$m" = "$2" ]; then pass "$1 has mode $2"; else fail "$1 has mode $m, wanted $2"; fi
}
# key_matches KEY CERT: the public keys are the same.
key_matches() {
    local a b
    a=$(openssl pkey -in "$1" -pubout 2>/dev/null | sha256sum) || return 1
    b=$(openssl x509 -in "$2" -noout -pubkey 2>/dev/null | sha256sum) || return 1
    [ -n "$a" ] && [ "$a" = "$b" ]
}
serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/serial=//' | tr 'A-F' 'a-f' | sed 's/^\(00\)*//'; }

# free_port: a port for a server on 127.0.0.1 to listen on, outside the
# kernel's ephemeral range (net.ipv4.ip_local_port_range). Inside it, the
# outgoing connections of tests running in parallel (curl, nginx to its
# upstreams) can hold the port at any moment, and bind() fails with
# "Address already in use". The port has no socket in any state right now;
# two tests can still pick the same one, so a server start should retry on
# EADDRINUSE.
free_port() {
    local lo=32768 hi=60999 base span port
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
    if [ "$lo" -gt 11000 ]; then
        base=10000 span=$((lo - 10000))
    else # the range starts low: above it, then
        base=$((hi + 1)) span=$((65536 - hi - 1))
    fi
    while :; do
        port=$((base + RANDOM % span))
        if ! ss -Htan "sport = :$port" 2>/dev/null | grep -q .; then
            echo "$port"
            return
        fi
    done
}

# nginx_start PREFIX: starts nginx with PREFIX/nginx.conf (which the test
# wrote; it must use 127.0.0.1 listens only). pid and logs stay in PREFIX.
nginx_start() {
    local prefix=$1
    mkdir -p "$prefix/logs"
    _nginx_prefixes+=("$prefix")
    nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" \
        -g "pid $prefix/nginx.pid;" || return 1
    local i
    for i in $(seq 1 50); do
        [ -s "$prefix/nginx.pid" ] && return 0
        sleep 0.1
    done
    return 1
}
nginx_reload() {
    nginx -p "$1" -c "$1/nginx.conf" -e "$1/logs/error.log" -g "pid $1/nginx.pid;" -s reload
}
nginx_stop() {
    local prefix=$1
    [ -f "$prefix/nginx.pid" ] && kill -QUIT "$(cat "$prefix/nginx.pid")" 2>/dev/null
    local i
    for i in $(seq 1 50); do
        [ -f "$prefix/nginx.pid" ] || return 0
        sleep 0.1
    done
}
# The top of an nginx.conf for tests: runs as root, logs in the prefix.
nginx_conf_head() {
    cat <<NGINX
user root;
worker_processes 1;
daemon on;
events { worker_connections 256; }
NGINX
}
# http_code URL [curl args...]: prints the HTTP status, 000 on connection errors.
http_code() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url" || true
}

# wait_health URL: up to 10s for a minica serve at URL to answer /v1/health.
wait_health() {
    local i
    for i in $(seq 1 100); do
        [ "$(http_code "$1/v1/health" -k)" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

# done_testing: summary line and exit status.
done_testing() {
    echo "$((_checks - _failures)) passed, $_failures failed"
    [ "$_failures" -eq 0 ]
    exit $?
}

# nginx_reload_settled PREFIX: reloads and waits (bounded, 20s) until every
# worker of the old configuration has exited. `nginx -s reload` only signals
# the master; for a while old and new workers both accept connections, so a
# request right after "the new config answered once" can still get the old
# one. Fails when the old workers never leave (e.g. a config nginx refused).
nginx_reload_settled() {
    local prefix=$1 master old now i p alive
    master=$(cat "$prefix/nginx.pid") || return 1
    old=" $(ps -o pid= --ppid "$master" | tr '\n' ' ') "
    nginx_reload "$prefix" || return 1
    for i in $(seq 1 200); do
        # Old workers are the master's children until they exit.
        now=$(ps -o pid= --ppid "$master")
        alive=0
        for p in $now; do case $old in *" $p "*) alive=1 ;; esac; done
        [ "$alive" = 0 ] && [ -n "$now" ] && return 0
        sleep 0.1
    done
    return 1
}

# ASAN_OPTIONS for a process the test is about to SIGKILL: a kill that
# lands during LeakSanitizer's exit-time check leaves a tracer message
# ("Unable to get registers from thread N") in the sanitizer logs, which is
# no leak. The runs that are not killed keep checking leaks.
asan_options_for_killed() {
    echo "${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
}
