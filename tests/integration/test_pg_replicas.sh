#!/bin/bash
# Two `minica serve` replicas on one PostgreSQL inventory (issue 17): the
# second state directory holds only what docs/design.md "Several
# replicas" lists (no root key). 2 x 200 concurrent enrollments (no
# duplicate serial, every row there); one token raced by 20 clients across
# both (one winner); a revocation through one replica refused for renewal
# at the other at once; both answer the same CRL, byte for byte; an
# ACME nonce of one replica accepted by the other, once, and across a
# restart; a rotation on one host, seen at the other after a copy and
# SIGHUP, and a replica whose files lag a `ca revoke` of its issuer
# refusing to issue. Checked with curl, openssl, psql and the raw ACME
# client.
source "$SRCDIR/tests/integration/lib/common.sh"

pg_new_db replicas
URI=$PG_DB_URI
A=$T/a
B=$T/b
ACME_PY=$SRCDIR/tests/integration/lib/acme_client.py
sql() { pg_psql "$URI" "$1"; }
# norm SERIAL...: as the inventory writes serials (lowercase hex, no
# colons, no leading zero bytes).
norm() { tr 'A-F' 'a-f' | tr -d ':' | sed 's/^\(00\)*//'; }

run "$MINICA" --db "$URI" init --dir "$A"
expect_ok "init a CA whose inventory is PostgreSQL"
printf '\n[store]\ndatabase = %s\n[acme]\nenabled = yes\neab = optional\nvalidate_ip = 127.0.0.0/8\n' \
    "$URI" >>"$A/minica.conf"

# replica_copy SRC DST: what a replica needs, as docs/design.md lists it:
# the CA certificates, the intermediate keys, minica.conf (and acme-eab.key
# when EAB keys were made). Not the root key, not serve.crt / serve.key
# (each replica makes its own), not retired material.
replica_copy() {
    local src=$1 dst=$2 f
    mkdir -m 0700 "$dst" 2>/dev/null || test -d "$dst" || return 1
    cp -p "$src/root.crt" "$src/intermediate.crt" "$src/intermediate.key" "$src/minica.conf" "$dst/"
    [ -f "$src/acme-eab.key" ] && cp -p "$src/acme-eab.key" "$dst/"
    if [ -d "$src/ca" ]; then
        mkdir -m 0700 "$dst/ca" 2>/dev/null || test -d "$dst/ca" || return 1
        for f in "$src"/ca/*.crt "$src"/ca/intermediate-*.key; do
            [ -f "$f" ] && cp -p "$f" "$dst/ca/"
        done
    fi
    return 0
}
replica_copy "$A" "$B"
ROOT_KEY_LINE=$(sed -n 2p "$A/root.key")
check_not "the replica's directory holds no root key" grep -rqF -- "$ROOT_KEY_LINE" "$B"

# serve_start DIR NAME: serve on a free port (retried on a port race);
# sets NAME_PORT, NAME_PID, NAME_LOG.
serve_start() {
    local dir=$1 name=$2 port pid log=$T/serve-$2.log
    for _ in 1 2 3; do
        port=$(free_port)
        "$MINICA" serve --dir "$dir" --listen "127.0.0.1:$port" --san "$name.ca.test" \
            --timeout 10s --max-per-ip 64 2>>"$log" &
        pid=$!
        track_pid "$pid"
        for _ in $(seq 1 100); do
            if [ "$(http_code "https://127.0.0.1:$port/v1/health" --cacert "$A/root.crt")" = 200 ]; then
                printf -v "${name}_PORT" %s "$port"
                printf -v "${name}_PID" %s "$pid"
                printf -v "${name}_LOG" %s "$log"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        grep -q "in use" "$log" || break
    done
    echo "# serve $name did not start: $(tail -n 3 "$log" | tr '\n' ' ')"
    return 1
}
serve_start "$A" A
check "replica A serves" test -n "${A_PORT:-}"
serve_start "$B" B
check "replica B serves, without the root key" test -n "${B_PORT:-}"
check "B names the shared inventory" grep -qF "inventory: $URI" "$T/serve-B.log"
check "B made its own server certificate" test -s "$B/serve.crt"
check_not "B's server certificate is not A's" cmp -s "$A/serve.crt" "$B/serve.crt"

# One key and CSR for every enrollment of a name: the server signs what
# the token allows, and generating 400 keys would only cost time.
csr_for() { # csr_for NAME: $T/NAME.csr with the key $T/NAME.key
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" \
        -subj "/CN=$1" -out "$T/$1.csr" 2>/dev/null
}
# requests CFG DIR PREFIX PORT PATH TOKEN_FILE FIRST STEP: curl config
# blocks (one transfer each, every option per block: `next` resets them)
# for the tokens of TOKEN_FILE lines FIRST, FIRST+STEP, ... sent to PORT;
# bodies and answers in DIR as PREFIX-N.json and PREFIX-N.out.
requests() {
    local cfg=$1 dir=$2 prefix=$3 port=$4 csr n=0 blocks=0 t
    csr=$(jq -Rs . "$5")
    mkdir -p "$dir"
    : >"$cfg"
    while read -r t; do
        n=$((n + 1))
        if [ "$n" -lt "$7" ] || [ $(((n - $7) % $8)) != 0 ]; then continue; fi
        printf '{"token":"%s","csr":%s}' "$t" "$csr" >"$dir/$prefix-$n.json"
        {
            [ "$blocks" = 0 ] || echo next
            printf 'url = "https://127.0.0.1:%s/v1/sign"\ndata-binary = "@%s"\noutput = "%s"\n' \
                "$port" "$dir/$prefix-$n.json" "$dir/$prefix-$n.out"
            printf 'silent\nshow-error\ncacert = "%s"\nheader = "Content-Type: application/json"\n' \
                "$A/root.crt"
            printf 'max-time = 60\nwrite-out = "%%{http_code}\\n"\n'
        } >>"$cfg"
        blocks=$((blocks + 1))
    done <"$6"
}
# blast CFG PARALLEL: one curl running CFG's transfers PARALLEL at a time.
blast() { curl -s --no-progress-meter --parallel --parallel-max "$2" -K "$1" 2>>"$T/curl.err"; }

# --- a. 2 x 200 concurrent enrollments ------------------------------------
csr_for fleet.internal
# One token from `minica token`, 399 more like it cloned in one statement
# (400 runs of the command cost 5 to 12 s here, one commit each): same
# names, usage, TTL and expiry, each with its own id and secret, kept as
# minica keeps one (the SHA-256 of the secret's text, design.md).
"$MINICA" token fleet.internal --expires 10m --dir "$A" >"$T/tokens"
TID=$(cut -d. -f1 "$T/tokens")
sql "INSERT INTO tokens (id, secret_sha256, name, sans, usage, ttl, created_at, expires_at)
     SELECT lpad(to_hex(4096 + g), 16, '0'),
            encode(sha256(convert_to('S' || lpad(g::text, 42, '0'), 'UTF8')), 'hex'),
            name, sans, usage, ttl, created_at, expires_at
     FROM tokens, generate_series(1, 399) g WHERE id = '$TID'" >/dev/null
for i in $(seq 1 399); do printf '%016x.S%042d\n' $((4096 + i)) "$i"; done >>"$T/tokens"
check "400 distinct tokens" test "$(sort -u "$T/tokens" | wc -l)" = 400
check "400 unused tokens for fleet.internal (psql)" test "$(sql "SELECT count(*) FROM tokens
    WHERE name = 'fleet.internal' AND used_at IS NULL")" = 400
requests "$T/a.cfg" "$T/enroll" a "$A_PORT" "$T/fleet.internal.csr" "$T/tokens" 1 2
requests "$T/b.cfg" "$T/enroll" b "$B_PORT" "$T/fleet.internal.csr" "$T/tokens" 2 2
blast "$T/a.cfg" 4 >"$T/a.codes" &
pa=$!
blast "$T/b.cfg" 4 >"$T/b.codes" &
pb=$!
wait "$pa" "$pb"
check "replica A answered 200 to its 200 enrollments" test "$(grep -c '^200$' "$T/a.codes")" = 200
check "replica B answered 200 to its 200 enrollments" test "$(grep -c '^200$' "$T/b.codes")" = 200
cat "$T"/enroll/*.out | jq -r .certificate >"$T/issued.pem"
# The serials as the certificates say (openssl), not as the JSON does;
# 16 octets, so openssl prints them in hex on the line after the label.
openssl crl2pkcs7 -nocrl -certfile "$T/issued.pem" | openssl pkcs7 -print_certs -noout -text |
    awk '/Serial Number:$/ { getline; print $1 }' | norm | sort >"$T/serials.answered"
cat "$T"/enroll/*.out | jq -r .serial | norm | sort >"$T/serials.json"
check "400 certificates were handed out" test "$(wc -l <"$T/serials.answered")" = 400
check "no serial was handed out twice" test -z "$(uniq -d "$T/serials.answered")"
check "each answer's serial field is its certificate's" cmp -s "$T/serials.answered" "$T/serials.json"
sql "SELECT serial FROM certs WHERE name = 'fleet.internal' ORDER BY serial" | norm | sort >"$T/serials.db"
check "PostgreSQL holds exactly the 400 rows handed out (psql)" cmp -s "$T/serials.answered" "$T/serials.db"
check "every token is spent, each by its own certificate" test "$(sql "SELECT count(DISTINCT used_by)
    FROM tokens WHERE name = 'fleet.internal' AND used_by IN (SELECT serial FROM certs)")" = 400
check "the certificates chain to the CA (openssl, one sample per replica)" sh -c "
    jq -r .certificate '$T/enroll/a-1.out' >'$T/a1.pem' && jq -r .certificate '$T/enroll/b-2.out' >'$T/b2.pem' &&
    openssl verify -CAfile '$A/root.crt' -untrusted '$A/intermediate.crt' '$T/a1.pem' '$T/b2.pem'"

# --- b. one token, 20 clients, both replicas -------------------------------
csr_for race.internal
"$MINICA" token race.internal --dir "$A" >"$T/race.token"
for _ in $(seq 1 10); do cat "$T/race.token"; done >"$T/race.tokens"
requests "$T/ra.cfg" "$T/race" a "$A_PORT" "$T/race.internal.csr" "$T/race.tokens" 1 1
requests "$T/rb.cfg" "$T/race" b "$B_PORT" "$T/race.internal.csr" "$T/race.tokens" 1 1
blast "$T/ra.cfg" 10 >"$T/ra.codes" &
pa=$!
blast "$T/rb.cfg" 10 >"$T/rb.codes" &
pb=$!
wait "$pa" "$pb"
codes=$(cat "$T/ra.codes" "$T/rb.codes" | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')
if [ "$codes" = "200x1 403x19 " ]; then pass "one token raced by 20 clients: 1 x 200, 19 x 403"; else fail "race: $codes"; fi
check "every refusal says forbidden" test "$(cat "$T"/race/*.out | jq -r '.error // empty' | sort | uniq -c |
    awk '{print $1 $2}')" = 19forbidden
check "one row for the raced name (psql)" test "$(sql "SELECT count(*) FROM certs WHERE name = 'race.internal'")" = 1
check "the token paid for that row" test "$(sql "SELECT count(*) FROM tokens t JOIN certs c
    ON c.serial = t.used_by WHERE c.name = 'race.internal'")" = 1

# --- c. revoked through A, refused for renewal at B at once ----------------
jq -r .certificate "$T/enroll/a-1.out" >"$T/x.crt"
X=$(serial_of "$T/x.crt")
jq -n --rawfile c "$T/fleet.internal.csr" '{csr: $c}' >"$T/renew.json"
renew_code() { # renew_code PORT CERT KEY: the status of a renewal with CERT
    curl -s -o "$T/renew.out" -w '%{http_code}' --max-time 30 --cacert "$A/root.crt" \
        -H 'Content-Type: application/json' --data-binary "@$T/renew.json" --cert "$2" --key "$3" \
        "https://127.0.0.1:$1/v1/renew" || true
}
check "a certificate A issued renews at B" test "$(renew_code "$B_PORT" "$T/x.crt" "$T/fleet.internal.key")" = 200
# Through A's own API: ACME revokeCert signed with the certificate's key
# (RFC 8555 7.6), which A records in the shared inventory.
mkdir -m 0700 "$T/acme-x"
cp "$T/fleet.internal.key" "$T/acme-x/cert.key"
DER64=$(openssl x509 -in "$T/x.crt" -outform DER | basenc --base64url -w0 | tr -d '=')
run python3 "$ACME_PY" --directory "https://127.0.0.1:$A_PORT/acme/directory" --cafile "$A/root.crt" \
    --state "$T/acme-x" post --key cert revokeCert --payload "{\"certificate\": \"$DER64\"}"
check "A revokes it (ACME revokeCert with the certificate's key): 200" test "$(jq -r .status <<<"$OUT")" = 200
check "renewal with it at B right after: 403" test "$(renew_code "$B_PORT" "$T/x.crt" "$T/fleet.internal.key")" = 403
check "B says it is revoked" grep -q "revoked" "$T/renew.out"
check "and at A too: 403" test "$(renew_code "$A_PORT" "$T/x.crt" "$T/fleet.internal.key")" = 403
check "the row says revoked (psql)" test "$(sql "SELECT revoked_at IS NOT NULL FROM certs WHERE serial = '$X'")" = t

# --- d. the CRL of either replica -------------------------------------------
# The set signed last is published in the inventory and answered by
# every replica (minica_ca_crls_published), and the revocation above
# dropped it: "the same" is byte for byte, signed after the revocation.
curl -s --max-time 30 --cacert "$A/root.crt" -o "$T/a.crl" "https://127.0.0.1:$A_PORT/v1/crl"
curl -s --max-time 30 --cacert "$A/root.crt" -o "$T/b.crl" "https://127.0.0.1:$B_PORT/v1/crl"
cat "$A/intermediate.crt" "$A/root.crt" >"$T/chain.pem"
for r in a b; do
    check "replica ${r^^}'s CRL verifies under the intermediate (openssl)" sh -c \
        "openssl crl -inform DER -in '$T/$r.crl' -CAfile '$T/chain.pem' -noout 2>&1 | grep -q 'verify OK'"
    openssl crl -inform DER -in "$T/$r.crl" -noout -text |
        sed -n '/Revoked Certificates:/,/Signature Algorithm/p' | grep -v 'Signature Algorithm' >"$T/$r.revoked"
    openssl crl -inform DER -in "$T/$r.crl" -noout -issuer >"$T/$r.issuer"
    openssl crl -inform DER -in "$T/$r.crl" -noout -crlnumber | sed 's/.*=//' >"$T/$r.number"
done
check "both CRLs list the revoked certificate" sh -c "grep -qi 'Serial Number: 0*$X\$' '$T/a.revoked' &&
    grep -qi 'Serial Number: 0*$X\$' '$T/b.revoked'"
check "A and B answer the same CRL, byte for byte" cmp -s "$T/a.crl" "$T/b.crl"
check "so the same entries, issuer and cRLNumber" sh -c "cmp -s '$T/a.revoked' '$T/b.revoked' &&
    cmp -s '$T/a.issuer' '$T/b.issuer' && cmp -s '$T/a.number' '$T/b.number'"

# --- e. ACME nonces across replicas -----------------------------------------
DA="https://127.0.0.1:$A_PORT/acme/directory"
DB="https://127.0.0.1:$B_PORT/acme/directory"
acme() { # acme DIRECTORY ARGS...: the raw client, its JSON answer in $OUT
    local d=$1
    shift
    run python3 "$ACME_PY" --directory "$d" --cafile "$A/root.crt" --state "$T/acme" "$@"
}
acme "$DA" nonce
N=$(jq -r .nonce <<<"$OUT")
check "A hands out a nonce" test -n "$N" -a "$N" != null
acme "$DB" post --key one newAccount --payload '{"termsOfServiceAgreed": true}' --nonce "$N"
check "B accepts A's nonce: newAccount 201" test "$(jq -r .status <<<"$OUT")" = 201
acme "$DA" post --key two newAccount --payload '{"termsOfServiceAgreed": true}' --nonce "$N"
check "the same nonce again at A: 400 badNonce" test "$(jq -r '"\(.status) \(.type)"' <<<"$OUT")" = "400 badNonce"
check "one secret row for both replicas (psql)" test "$(sql "SELECT count(*) FROM serve_secrets")" = 1
acme "$DA" nonce
N=$(jq -r .nonce <<<"$OUT")
kill "$A_PID"
wait "$A_PID" 2>/dev/null
serve_start "$A" A
acme "https://127.0.0.1:$A_PORT/acme/directory" post --key three newAccount \
    --payload '{"termsOfServiceAgreed": true}' --nonce "$N"
check "a nonce from before A's restart is accepted after it: 201" test "$(jq -r .status <<<"$OUT")" = 201

# --- f. ca rotate on A's host: B follows after a copy and SIGHUP -------------
OLD=$(serial_of "$A/intermediate.crt")
run "$MINICA" ca rotate --dir "$A"
expect_ok "ca rotate on A's host"
kill -HUP "$A_PID"
NEW=$(serial_of "$A/intermediate.crt")
wait_reload() { # wait_reload LOG SERIAL [COUNT]: COUNT reloads to SERIAL logged
    for _ in $(seq 1 100); do
        [ "$(grep -c "SIGHUP: reloaded the CA: issuing intermediate serial $2" "$1")" -ge "${3:-1}" ] &&
            return 0
        sleep 0.1
    done
    return 1
}
check "A reloads the new intermediate" wait_reload "$T/serve-A.log" "$NEW"
# A leaf of the new intermediate, enrolled at A.
"$MINICA" token fleet.internal --dir "$A" >"$T/new.token"
requests "$T/n.cfg" "$T/new" a "$A_PORT" "$T/fleet.internal.csr" "$T/new.token" 1 1
blast "$T/n.cfg" 1 >/dev/null
jq -r .certificate "$T/new/a-1.out" >"$T/y.crt"
check "A issues from the new intermediate" openssl verify -CAfile "$A/root.crt" \
    -untrusted "$A/intermediate.crt" "$T/y.crt"
check "B, not yet given it, refuses to renew that leaf: 403" \
    test "$(renew_code "$B_PORT" "$T/y.crt" "$T/fleet.internal.key")" = 403
check "as not this CA's (B does not know the new intermediate)" \
    grep -q "not issued by this CA" "$T/renew.out"
check "while leaves of the previous intermediate still renew at B" \
    test "$(renew_code "$B_PORT" "$T/b2.pem" "$T/fleet.internal.key")" = 200

# The previous intermediate revoked (its key leaked, say) before B got the
# new files: the revocation is in the inventory, B's issuer in its files.
run "$MINICA" ca revoke "$OLD" --reason keyCompromise --dir "$A"
expect_ok "ca revoke of the previous intermediate on A's host"
kill -HUP "$B_PID"
check "B reloads, its files still naming the revoked one" wait_reload "$T/serve-B.log" "$OLD"
"$MINICA" token stale.internal --dir "$A" >"$T/stale.token"
csr_for stale.internal
requests "$T/s.cfg" "$T/stale" b "$B_PORT" "$T/stale.internal.csr" "$T/stale.token" 1 1
check "B refuses to issue from a revoked intermediate: 403" test "$(blast "$T/s.cfg" 1)" = 403
check "and says what to copy" grep -q "is revoked in the inventory; copy the CA files" "$T/stale/b-1.out"
check "no row for it (psql)" test "$(sql "SELECT count(*) FROM certs WHERE name = 'stale.internal'")" = 0
run "$MINICA" ca status --dir "$B"
expect_rc 4 "ca status on B: critical"
expect_out "is revoked in the inventory, so nothing is issued here" "ca status on B says why"

replica_copy "$A" "$B"
check_not "the copy leaves the root key out (ca/root-*.key)" grep -rqF -- "$ROOT_KEY_LINE" "$B"
kill -HUP "$B_PID"
check "after the copy and SIGHUP, B issues from the new intermediate" wait_reload "$T/serve-B.log" "$NEW"
check "and renews the new intermediate's leaves" test "$(renew_code "$B_PORT" "$T/y.crt" "$T/fleet.internal.key")" = 200
check "renewed at B, the leaf is from the new intermediate" sh -c "jq -r .certificate '$T/renew.out' >'$T/z.crt' &&
    openssl verify -CAfile '$A/root.crt' -untrusted '$A/intermediate.crt' '$T/z.crt'"
check "but not the revoked one's" test "$(renew_code "$B_PORT" "$T/b2.pem" "$T/fleet.internal.key")" = 403
kill -HUP "$A_PID"
check "A reloads too" wait_reload "$T/serve-A.log" "$NEW" 2
check "nor does A" test "$(renew_code "$A_PORT" "$T/b2.pem" "$T/fleet.internal.key")" = 403
run "$MINICA" ca status --dir "$B"
check_not "ca status on B no longer says it cannot issue" grep -q "nothing is issued here" <<<"$OUT"

check "no curl transfer failed" test ! -s "$T/curl.err"
done_testing
