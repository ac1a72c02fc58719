#!/bin/bash
# PostgreSQL restarted under a load of enrollments (issue 17's faults):
# `minica serve` on a PostgreSQL inventory of its own cluster (not the
# shared fixture's: this one is stopped), two client loops spending
# one-time tokens on POST /v1/sign, and the server stopped (fast) and
# started again in the middle. While it is down the API answers 503 with
# Retry-After, serve neither crashes nor hangs, and it serves again by
# itself once the database is back. Every certificate handed out has its
# committed row, and every row is a certificate serve handed out (or, for
# a commit whose outcome it could not learn, said so in its log). Last,
# serve started while the database is down exits 1 naming it.
source "$SRCDIR/tests/integration/lib/common.sh"

: "${MINICA_TEST_PGCLUSTER:?run through ctest: it names tests/support/pgcluster}"
pg_need
PGDIR=$(sh "$MINICA_TEST_PGCLUSTER" new) || { echo "pgcluster new failed" >&2; exit 1; }
trap '_cleanup; sh "$MINICA_TEST_PGCLUSTER" destroy "$PGDIR"' EXIT
URI=$(sh "$MINICA_TEST_PGCLUSTER" uri "$PGDIR")
pg_down() { sh "$MINICA_TEST_PGCLUSTER" stop "$PGDIR" fast; }
pg_up() { sh "$MINICA_TEST_PGCLUSTER" start "$PGDIR"; }

CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"
printf '[store]\ndatabase = %s\n[acme]\nenabled = yes\nvalidate_ip = 127.0.0.0/8\n' "$URI" >>"$CA/minica.conf"

NAME=load.internal
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/load.key" \
    -subj "/CN=$NAME" -out "$T/load.csr" 2>/dev/null
check "a CSR for $NAME" test -s "$T/load.csr"
# make_tokens FILE N: N one-time tokens for NAME, one a line.
make_tokens() {
    local i
    for i in $(seq 1 "$2"); do "$MINICA" token "$NAME" --dir "$CA" || return 1; done >"$1"
}
check "tokens for the first loop" make_tokens "$T/tokens1" 15
check "tokens for the second loop" make_tokens "$T/tokens2" 15
check "tokens for the checks" make_tokens "$T/tokens0" 3

PORT=$(free_port)
URL=https://127.0.0.1:$PORT
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" --timeout 10s 2>"$T/serve.log" &
SERVE_PID=$!
track_pid "$SERVE_PID"
check "serve answers on the PostgreSQL inventory" wait_health "$URL"
check "and names it" grep -qF "inventory: $URI" "$T/serve.log"

# sign TOKEN PREFIX: one POST /v1/sign; headers in PREFIX.h, body in
# PREFIX.b; prints the status (000: no answer within curl's limit).
sign() {
    jq -n --arg t "$1" --rawfile c "$T/load.csr" '{token: $t, csr: $c}' >"$2.req"
    curl -s -k -D "$2.h" -o "$2.b" -w '%{http_code}' --max-time 20 -X POST \
        -H 'Content-Type: application/json' --data-binary "@$2.req" "$URL/v1/sign" || true
}

b64url() { xxd -r -p | basenc --base64url -w0 | tr -d '='; }
# certid PEM: ACME renewal-info's base64url(AKI keyIdentifier) "."
# base64url(serial DER contents), as test_acme_renewal.sh makes it.
certid() {
    local aki serial
    aki=$(openssl x509 -in "$1" -noout -ext authorityKeyIdentifier |
        sed -n 2p | sed 's/keyid://' | tr -d ' :\n')
    serial=$(openssl x509 -in "$1" -noout -serial | cut -d= -f2)
    [ $((${#serial} % 2)) = 1 ] && serial=0$serial
    case $serial in [89A-Fa-f]*) serial=00$serial ;; esac
    printf '%s.%s' "$(printf %s "$aki" | b64url)" "$(printf %s "$serial" | b64url)"
}
# renewal_info PREFIX: ACME's unauthenticated GET of the first
# certificate's renewal-info (a lookup in the inventory), as sign does.
renewal_info() {
    curl -s -k -D "$1.h" -o "$1.b" -w '%{http_code}' --max-time 20 \
        "$URL/acme/renewal-info/$CERTID" || true
}
code=$(sign "$(sed -n 3p "$T/tokens0")" "$T/first")
check "an enrollment before the outage" test "$code" = 200
jq -r .certificate "$T/first.b" >"$T/first.crt"
jq -r .serial "$T/first.b" >"$T/first.serial"
CERTID=$(certid "$T/first.crt")
check "ACME renewal-info answers 200 before the outage" test "$(renewal_info "$T/ari")" = 200

# load N: spends the tokens of tokens$N, each until it is answered other
# than 503 (the client retries faster than Retry-After says, to keep the
# test short). One line per answer in load$N.log: token, status,
# Retry-After, serial (of the certificate in a 200, by openssl).
load() {
    local n=$1 tok code ra serial tries
    while read -r tok; do
        tries=0
        while :; do
            code=$(sign "$tok" "$T/l$n")
            ra=$(tr -d '\r' <"$T/l$n.h" 2>/dev/null | sed -n 's/^[Rr]etry-[Aa]fter: *//p')
            serial=-
            if [ "$code" = 200 ]; then
                serial=$(jq -r .certificate "$T/l$n.b" | openssl x509 -noout -serial |
                    sed 's/serial=//' | tr 'A-F' 'a-f' | sed 's/^\(00\)*//')
            fi
            echo "${tok%%.*} $code ${ra:--} $serial" >>"$T/load$n.log"
            [ "$code" = 503 ] || break
            tries=$((tries + 1))
            [ "$tries" -lt 100 ] || break
            sleep 0.2
        done
    done <"$T/tokens$n"
}
: >"$T/load1.log"
: >"$T/load2.log"
load 1 &
L1=$!
load 2 &
L2=$!

# The outage, once the loops are under way.
for _ in $(seq 1 200); do
    [ "$(grep -c ' 200 ' "$T/load1.log" "$T/load2.log" | awk -F: '{s += $2} END {print s}')" -ge 4 ] && break
    sleep 0.1
done
pg_down
# Deterministic, whatever the loops met: an enrollment while it is down.
code=$(sign "$(sed -n 1p "$T/tokens0")" "$T/down")
check "while PostgreSQL is down, POST /v1/sign answers 503" test "$code" = 503
check "with Retry-After: 5" grep -qi '^retry-after: 5' "$T/down.h"
check "and error \"unavailable\"" test "$(jq -r .error "$T/down.b")" = unavailable
check_not "the answer does not leak the server's socket path" grep -qF "$PGDIR" "$T/down.b"
check "ACME renewal-info answers 503 while it is down" test "$(renewal_info "$T/ari-down")" = 503
check "with Retry-After: 5" grep -qi '^retry-after: 5' "$T/ari-down.h"
check "as a serverInternal problem" test "$(jq -r .type "$T/ari-down.b")" = \
    urn:ietf:params:acme:error:serverInternal
check "health still answers" test "$(http_code "$URL/v1/health" -k)" = 200
sleep 2
check "serve is alive during the outage" kill -0 "$SERVE_PID"
pg_up

wait "$L1" "$L2"
cat "$T/load1.log" "$T/load2.log" >"$T/load.log"
check "serve is alive after the outage" kill -0 "$SERVE_PID"
check "the server logged the outage as 503" grep -q "POST /v1/sign 503 .*cannot be reached" "$T/serve.log"
check_not "no request went unanswered (curl's limit, 20s)" grep -q ' 000 ' "$T/load.log"
# A commit whose answer was lost while even the lookup failed (the server
# stopping) may have spent its token: the retry is then refused (403),
# which serve's log must explain, once per such commit.
unknown=$(grep -c "whether certificate .* was recorded is unknown" "$T/serve.log")
spent=$(awk '$2 == 403' "$T/load.log" | wc -l)
check_not "no answer but 200, 503 and an explained 403" \
    awk '$2 != 200 && $2 != 503 && $2 != 403 {bad = 1} END {exit !bad}' "$T/load.log"
check "no 403 but for a commit serve logged as unknown ($spent 403, $unknown unknown)" \
    test "$spent" -le "$unknown"
check_not "every 503 carries Retry-After" awk '$2 == 503 && $3 != 5 {bad = 1} END {exit !bad}' "$T/load.log"
check "every other token of both loops was spent by a 200 in the end" \
    test "$(awk '$2 == 200' "$T/load.log" | wc -l)" = $((30 - spent))
echo "# answers: $(awk '{print $2}' "$T/load.log" | sort | uniq -c | tr '\n' ' ')"

code=$(sign "$(sed -n 2p "$T/tokens0")" "$T/after")
check "after the restart an enrollment succeeds, serve not restarted" test "$code" = 200
jq -r .serial "$T/after.b" >"$T/after.serial"

# Certificates handed out (every 200's serial, by openssl) against the
# rows: none handed out without its row, and no row without a 200, but
# for a commit whose outcome serve could not learn (its log says so).
check "ACME renewal-info answers 200 again" test "$(renewal_info "$T/ari-after")" = 200
{ awk '$2 == 200 {print $4}' "$T/load.log"; cat "$T/first.serial" "$T/after.serial"; } |
    sort >"$T/handed"
pg_psql "$URI" "SELECT serial FROM certs WHERE name = '$NAME' ORDER BY serial" | sort >"$T/rows"
check "the handed-out serials are distinct" test "$(uniq -d "$T/handed" | wc -l)" = 0
check "no certificate handed out without its row" test -z "$(comm -23 "$T/handed" "$T/rows")"
extra=$(comm -13 "$T/handed" "$T/rows")
unexplained=""
for s in $extra; do
    grep -q "whether certificate $s was recorded is unknown" "$T/serve.log" || unexplained="$unexplained $s"
done
check "no row for a certificate serve did not hand out (unexplained:${unexplained:- none})" \
    test -z "$unexplained"
check "every spent token names a recorded certificate" test "$(pg_psql "$URI" \
    "SELECT count(*) FROM tokens t WHERE t.used_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM certs c WHERE c.serial = t.used_by)")" = 0

kill "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null

# --- a server that takes connections and never answers -----------------------
# What a host gone silent behind a TCP port looks like: here a Unix socket
# at the cluster's path that queues connections and never reads them, so
# each reconnect waits connect_timeout (2s here). Requests reach the store
# one at a time; after one reconnect fails the next ones must fail at
# once, not wait 2s each after one another.
check "tokens for the silent server" make_tokens "$T/tokens3" 7
PORT3=$(free_port)
URL=https://127.0.0.1:$PORT3
"$MINICA" --db "$URI&connect_timeout=2" serve --dir "$CA" --listen "127.0.0.1:$PORT3" \
    --timeout 30s 2>"$T/serve3.log" &
SERVE_PID=$!
track_pid "$SERVE_PID"
check "serve answers again" wait_health "$URL"
code=$(sign "$(sed -n 1p "$T/tokens3")" "$T/s0")
check "an enrollment before the server goes silent" test "$code" = 200
pg_down
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(64)
open(sys.argv[2], "w").close()
time.sleep(120)' "$PGDIR/.s.PGSQL.5432" "$T/silent.ready" &
SILENT=$!
track_pid "$SILENT"
for _ in $(seq 1 50); do [ -e "$T/silent.ready" ] && break; sleep 0.1; done
# silent_sign N: one enrollment, curl giving up after 8s (000).
silent_sign() {
    local c
    c=$(jq -n --arg t "$(sed -n "$(($1 + 1))p" "$T/tokens3")" --rawfile c "$T/load.csr" \
        '{token: $t, csr: $c}' | curl -s -k -o /dev/null -w '%{http_code}' --max-time 8 \
        -X POST -H 'Content-Type: application/json' --data-binary @- "$URL/v1/sign")
    echo "$c" >"$T/silent.$1"
}
for i in 1 2 3 4 5 6; do silent_sign "$i" & done
wait $(jobs -p | grep -v "^$SILENT\$" | grep -v "^$SERVE_PID\$") 2>/dev/null
answers=$(cat "$T"/silent.[1-6] | sort | uniq -c | tr '\n' ' ')
check "6 enrollments at once against a silent server are all answered 503 ($answers)" \
    test "$(cat "$T"/silent.[1-6] | grep -c '^503$')" = 6
kill "$SILENT" 2>/dev/null
wait "$SILENT" 2>/dev/null
rm -f "$PGDIR/.s.PGSQL.5432"
pg_up
# The hold-off is over 2s after the last failed attempt.
ok=0
for _ in $(seq 1 20); do
    code=$(sign "$(sed -n 7p "$T/tokens3")" "$T/s7")
    [ "$code" = 200 ] && { ok=1; break; }
    sleep 0.5
done
check "and serve enrolls again once the real server is back" test "$ok" = 1
kill "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null

# --- serve started while the database is down --------------------------------
pg_down
PORT2=$(free_port)
run timeout 60 "$MINICA" --db "postgresql://minica:s3cret@/minica?host=$PGDIR" serve --dir "$CA" \
    --listen "127.0.0.1:$PORT2"
expect_rc 1 "serve with the inventory unreachable exits 1"
expect_err "^minica: serve: .*postgresql://minica@/minica\?host=.*cannot be reached" \
    "naming the database"
check_not "without its password" grep -q s3cret <<<"$ERR"

done_testing
