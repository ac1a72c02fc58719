#!/bin/bash
# Which inventory a command uses (issue 17): minica.conf's [store] database,
# `minica --db TARGET` (or MINICA_DB) for one command, else DIR/minica.db.
# The refusals (an inline password, a path, another scheme, an unknown key)
# through the real binary, the override, serve's "inventory:" line, and one
# CA run end to end on the real PostgreSQL of the ctest fixture
# (tests/support/pgcluster; its URI in the file MINICA_TEST_PG_URI_FILE).
# The store's SQL on PostgreSQL is test_store's; this is the setting only.
source "$SRCDIR/tests/integration/lib/common.sh"

pg_new_db dbsetting
URI=$PG_DB_URI
# Nothing listens here: a database that cannot be the one in use.
DEAD="postgresql://minica@/nowhere?host=$T/no-socket&connect_timeout=2"

# --- the help names the setting ---------------------------------------------
run "$MINICA" --help
expect_out "--db TARGET" "minica --help describes --db"
expect_out "MINICA_DB" "and MINICA_DB"
run "$MINICA" --db
expect_rc 2 "--db without a value is a usage error"
run "$MINICA" --db "$URI"
expect_rc 2 "--db without a command is a usage error"

# --- the default: DIR/minica.db --------------------------------------------
CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init a CA with the default inventory"
check "minica.db is created" test -f "$CA/minica.db"
check "init's minica.conf shows a commented [store] example" grep -q '^# \[store\]$' "$CA/minica.conf"
run "$MINICA" issue a.internal.svc --dir "$CA" --out "$T/a"
expect_ok "issue into the SQLite inventory"
cp "$CA/minica.conf" "$T/minica.conf.good"

# conf_store LINES...: the good minica.conf plus a [store] section.
conf_store() {
    cp "$T/minica.conf.good" "$CA/minica.conf"
    printf '[store]\n' >>"$CA/minica.conf"
    printf '%s\n' "$@" >>"$CA/minica.conf"
}
last_line() { wc -l <"$CA/minica.conf"; }

# --- refusals, each naming the file and line --------------------------------
conf_store "database = postgresql://minica:s3cret@db.internal/minica"
line=$(last_line)
for cmd in list issue; do
    if [ $cmd = issue ]; then run "$MINICA" issue b.internal.svc --dir "$CA" --out "$T/b"; else run "$MINICA" list --dir "$CA"; fi
    expect_rc 1 "$cmd: a password in minica.conf is refused"
    expect_err "^minica: $cmd: .*$CA/minica\.conf:$line: \[store\] database: put the password in a libpq passfile \(passfile=/path in the URI, mode 0600\) or PGPASSFILE, not in minica\.conf$" \
        "$cmd: the refusal says where the password goes, with file:line"
    check_not "$cmd: the message does not repeat the password" grep -q s3cret <<<"$ERR"
done
conf_store "database = postgres://db.internal/minica?sslmode=require&password=s3cret"
run "$MINICA" list --dir "$CA"
expect_rc 1 "a password= parameter is refused too"
expect_err "\[store\] database: put the password in a libpq passfile" "password= names the fix"

conf_store "database = $T/other.db"
line=$(last_line)
run "$MINICA" list --dir "$CA"
expect_rc 1 "an absolute path in [store] database is refused"
expect_err "minica\.conf:$line: \[store\] database: expected a postgresql:// URI, not '$T/other\.db' \(the SQLite inventory is always DIR/minica\.db" \
    "a path: the SQLite file is always DIR/minica.db"
conf_store "database = other.db"
run "$MINICA" issue b.internal.svc --dir "$CA" --out "$T/b"
expect_rc 1 "a relative path is refused"
check_not "and creates no file" test -e "$CA/other.db"
check_not "anywhere" test -e other.db

conf_store "database = mysql://db.internal/minica"
run "$MINICA" list --dir "$CA"
expect_rc 1 "another scheme is refused"
expect_err "\[store\] database: unknown scheme 'mysql' \(expected postgresql:// or postgres://\)" "the scheme is named"

conf_store "database = $URI" "pool = 4"
line=$(last_line)
run "$MINICA" list --dir "$CA"
expect_rc 1 "an unknown key in [store] is refused"
expect_err "minica\.conf:$line: unknown key 'pool' in \[store\] \(known: database\)" "unknown key: file:line"

# --- the setting is used, and --db overrides it -----------------------------
conf_store "database = $DEAD"
run "$MINICA" list --dir "$CA"
expect_rc 1 "list goes to [store]'s database"
expect_err "^minica: list: .*postgresql://minica@/nowhere" "and names it"
run "$MINICA" --db "$URI" list --dir "$CA"
expect_ok "--db overrides [store] database"
cp "$T/minica.conf.good" "$CA/minica.conf"
run "$MINICA" --db "$DEAD" list --dir "$CA"
expect_rc 1 "--db overrides the default DIR/minica.db"
expect_err "^minica: list: .*postgresql://minica@/nowhere" "and names the database it tried"
run env MINICA_DB="$DEAD" "$MINICA" show a.internal.svc --dir "$CA"
expect_rc 1 "MINICA_DB does what --db does"
expect_err "^minica: show: .*postgresql://minica@/nowhere" "MINICA_DB names the database"
run "$MINICA" --db "$CA/minica.db" list --dir "$CA"
expect_rc 1 "--db with a path is refused (the SQLite file is DIR/minica.db)"
expect_err "^minica: list: --db \(or MINICA_DB\): expected a postgresql:// URI" "the --db refusal names it"
run "$MINICA" --db="postgresql://u:pw@/nowhere?host=$T/no-socket&connect_timeout=2" list --dir "$CA"
expect_rc 1 "--db=URI is read"
check_not "a password given to --db is never printed" grep -q ':pw@' <<<"$ERR"
run "$MINICA" list --dir "$CA"
expect_ok "without --db the SQLite inventory is back"
expect_out "a\.internal\.svc" "with its certificate"

# --- serve names its inventory in its start log -----------------------------
PORT=$(free_port)
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" --san ca.test 2>"$T/serve.log" &
SERVE_PID=$!
track_pid "$SERVE_PID"
started() { grep -q "listening on" "$T/serve.log"; }
for _ in $(seq 1 100); do started && break; sleep 0.1; done
check "serve starts" started
check "serve's start log names the inventory" grep -q "inventory: .*$CA/minica\.db\$" "$T/serve.log"
kill "$SERVE_PID" 2>/dev/null
wait "$SERVE_PID" 2>/dev/null

# --- end to end on PostgreSQL -----------------------------------------------
PCA=$T/pgca
run "$MINICA" --db "$URI" init --dir "$PCA"
expect_ok "init with --db puts the init row in PostgreSQL"
check_not "init --db creates no minica.db" test -e "$PCA/minica.db"
printf '\n[store]\ndatabase = %s\n' "$URI" >>"$PCA/minica.conf"
run "$MINICA" issue pg.internal.svc --dir "$PCA" --out "$T/pg"
expect_ok "issue with [store] database = postgresql://..."
check "the certificate chains to the CA (openssl)" \
    openssl verify -CAfile "$PCA/root.crt" -untrusted "$PCA/intermediate.crt" "$T/pg/pg.internal.svc.crt"
run "$MINICA" list --dir "$PCA"
expect_ok "list reads PostgreSQL"
expect_out "pg\.internal\.svc" "list shows the certificate issued there"
run "$MINICA" log --dir "$PCA"
expect_out "init" "the audit log in PostgreSQL has init's row"
check_not "no minica.db appears in the state directory" test -e "$PCA/minica.db"
# The rows are in the database, not in some file: PostgreSQL's own client.
n=$(pg_psql "$URI" "SELECT count(*) FROM certs" 2>&1)
if [ "$n" = 1 ]; then pass "psql counts the one certificate"; else fail "psql: $n"; fi
PORT=$(free_port)
: >"$T/serve.log"
"$MINICA" serve --dir "$PCA" --listen "127.0.0.1:$PORT" --san ca.test 2>"$T/serve.log" &
SERVE_PID=$!
track_pid "$SERVE_PID"
for _ in $(seq 1 100); do started && break; sleep 0.1; done
check "serve starts on the PostgreSQL inventory" started
check "and names it in its start log" grep -qF "inventory: $URI" "$T/serve.log"
# A reload never switches inventories: the nonces, the published CRLs
# and the requests in flight belong to the one in use.
cp "$PCA/minica.conf" "$T/pca.conf"
{ grep -v '^database = ' "$T/pca.conf"; printf 'database = %s\n' "$DEAD"; } >"$PCA/minica.conf"
kill -HUP "$SERVE_PID"
for _ in $(seq 1 100); do grep -q "names another inventory" "$T/serve.log" && break; sleep 0.1; done
check "SIGHUP with another [store] database is refused, naming both" \
    grep -qF "names another inventory (postgresql://minica@/nowhere" "$T/serve.log"
check "serve goes on" kill -0 "$SERVE_PID"
check "and still answers from the inventory in use" \
    sh -c "curl -sk https://127.0.0.1:$PORT/v1/crl | openssl crl -inform DER -noout"
cp "$T/pca.conf" "$PCA/minica.conf"
kill "$SERVE_PID" 2>/dev/null
wait "$SERVE_PID" 2>/dev/null
run "$MINICA" --db "$DEAD" list --dir "$PCA"
expect_rc 1 "--db overrides a PostgreSQL [store] too"
expect_err "^minica: list: .*postgresql://minica@/nowhere" "the override's database is the one tried"

done_testing
