#!/bin/bash
# minica db migrate (issue 17): an SQLite inventory copied into PostgreSQL,
# checked there with psql, then used as the inventory (list, CRL numbers,
# issuance and audit ids go on), a non-empty target refused, and the way
# back into a new SQLite file giving the same list. PostgreSQL is the ctest
# fixture's (tests/support/pgcluster), each database the test's own.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
crlnumber() { printf '%d' "$(openssl crl -in "$1" -noout -crlnumber | sed 's/^crlNumber=//')"; }
certs_sql="SELECT serial, name, sans, usage, key_type, not_before, not_after, issued_at, revoked_at, revoke_reason, fingerprint_sha256, issuer_fingerprint_sha256, pem FROM certs ORDER BY serial"
audit_sql="SELECT id, time, uid, \"user\", command, summary FROM audit ORDER BY id"
tokens_sql="SELECT id, secret_sha256, name, sans, usage, ttl, created_at, expires_at, used_at, revoked_at, used_by FROM tokens ORDER BY id"

# --- usage -------------------------------------------------------------------
run "$MINICA" help db
expect_out "minica db migrate --to TARGET" "minica help db shows the usage"
expect_out "db migrate --to DIR/minica.db.new" "and the way back"
run "$MINICA" db migrate --help
expect_out "--to TARGET" "db migrate --help"
run "$MINICA" db
expect_rc 2 "db without what to do is a usage error"
run "$MINICA" db migrate --dir "$CA"
expect_rc 2 "migrate without --to is a usage error"
expect_err "^minica: db: migrate: --to TARGET is required" "and says so in one line"
run "$MINICA" db migrate --dir "$CA" --to mysql://db/minica
expect_rc 2 "a target of another scheme is a usage error"

# --- an SQLite CA with a bit of everything -----------------------------------
run "$MINICA" init --dir "$CA"
expect_ok "init a CA on SQLite"
for n in a b c; do
    run "$MINICA" issue $n.internal.svc --dir "$CA" --out "$T/$n"
    expect_ok "issue $n on SQLite"
done
run "$MINICA" revoke b.internal.svc --dir "$CA"
expect_ok "revoke b"
run "$MINICA" token t1.internal.svc --dir "$CA"
expect_ok "a token"
run "$MINICA" token t2.internal.svc --dir "$CA"
expect_ok "another token"
"$MINICA" crl --dir "$CA" --out "$T/crl1.pem" >/dev/null &&
    "$MINICA" crl --dir "$CA" --out "$T/crl2.pem" >/dev/null
sqlite_crl=$(crlnumber "$T/crl2.pem")
check "two CRLs on SQLite: cRLNumber $sqlite_crl > 1" test "$sqlite_crl" -gt 1
run "$MINICA" db migrate --dir "$CA" --to "$T/missing/dir/x.db"
expect_rc 1 "a target that cannot be created is refused"
"$MINICA" list --dir "$CA" --status all >"$T/list.sqlite"
sq() { sqlite3 "$CA/minica.db" "$1"; }
sqlite_audit_max=$(sq "SELECT max(id) FROM audit")
cp "$CA/minica.conf" "$T/minica.conf.sqlite"

# --- into PostgreSQL -----------------------------------------------------------
pg_new_db migrate
URI=$PG_DB_URI
run "$MINICA" db migrate --dir "$CA" --to "$URI"
expect_ok "db migrate into an empty PostgreSQL database"
expect_out "^certs +3 rows  sha256 [0-9a-f]{64}$" "one line per table: certs, rows and checksum"
expect_out "^audit +$(sq "SELECT count(*) FROM audit") rows" "audit's row count"
expect_out "^acme_eab_keys +0 rows" "the ACME tables are named too"
expect_out "counts and checksums match" "and a verified summary"
for table in certs cert_names tokens audit counters ca_revocations acme_accounts acme_eab_keys; do
    check "psql: $table has as many rows as in SQLite" \
        test "$(pg_psql "$URI" "SELECT count(*) FROM $table")" = "$(sq "SELECT count(*) FROM $table")"
done
check "psql: the certificates, every column, are SQLite's" \
    test "$(pg_psql "$URI" "$certs_sql")" = "$(sq "$certs_sql")"
check "psql: the audit rows, ids included" test "$(pg_psql "$URI" "$audit_sql")" = "$(sq "$audit_sql")"
check "psql: the tokens" test "$(pg_psql "$URI" "$tokens_sql")" = "$(sq "$tokens_sql")"
check "psql: the CRL counter" \
    test "$(pg_psql "$URI" "SELECT value FROM counters WHERE name = 'crl_number_intermediate'")" = "$sqlite_crl"

# --- a target with rows: refused, nothing changed ----------------------------
before=$(pg_psql "$URI" "$audit_sql")
run "$MINICA" db migrate --dir "$CA" --to "$URI"
expect_rc 1 "migrating again into the same database is refused"
expect_err "^minica: db: migrate: postgresql://minica@/[^ ]+ is not empty \(table [a-z_]+ has rows\): migrate into a new, empty database$" \
    "the refusal says why in one line"
check "the refused target is unchanged" test "$(pg_psql "$URI" "$audit_sql")" = "$before"
sum=$(sha256sum <"$CA/minica.db")
run "$MINICA" db migrate --dir "$CA" --to "$CA/minica.db"
expect_rc 1 "migrating onto the source file itself is refused"
expect_err "is not empty: migrate into a new file" "as a non-empty file"
check "the source file is unchanged" test "$(sha256sum <"$CA/minica.db")" = "$sum"

# --- PostgreSQL as the inventory -----------------------------------------------
printf '\n[store]\ndatabase = %s\n' "$URI" >>"$CA/minica.conf"
"$MINICA" list --dir "$CA" --status all >"$T/list.pg"
check "list on PostgreSQL is the list on SQLite" cmp -s "$T/list.sqlite" "$T/list.pg"
run "$MINICA" crl --dir "$CA" --out "$T/crl3.pem"
expect_ok "crl on PostgreSQL"
pg_crl=$(crlnumber "$T/crl3.pem")
check "cRLNumber goes on increasing ($sqlite_crl -> $pg_crl)" test "$pg_crl" -gt "$sqlite_crl"
run "$MINICA" issue d.internal.svc --dir "$CA" --out "$T/d"
expect_ok "issue on PostgreSQL"
check "d is in PostgreSQL's inventory" \
    test "$(pg_psql "$URI" "SELECT count(*) FROM certs WHERE serial = '$(serial_of "$T/d/d.internal.svc.crt")'")" = 1
check "its audit rows take ids after the copied ones" \
    test "$(pg_psql "$URI" "SELECT count(*) FROM audit WHERE id > $sqlite_audit_max")" -ge 2
run "$MINICA" list --dir "$CA" d.internal.svc
expect_out "d\.internal\.svc +valid" "list shows d"

# --- the way back: into a new SQLite file --------------------------------------
"$MINICA" list --dir "$CA" --status all >"$T/list.pg2"
run "$MINICA" --db "$URI" db migrate --dir "$CA" --to "$T/back.db"
expect_ok "the way back: --db URI db migrate --to a new SQLite file"
expect_out "^certs +4 rows" "4 certificates back"
expect_mode "$T/back.db" 600
BACK=$T/back
mkdir -m 700 "$BACK"
cp -p "$CA"/*.crt "$CA"/*.key "$BACK"/
cp "$T/minica.conf.sqlite" "$BACK/minica.conf"
mv "$T/back.db" "$BACK/minica.db"
"$MINICA" list --dir "$BACK" --status all >"$T/list.back"
check "list on the SQLite copy is the list on PostgreSQL" cmp -s "$T/list.pg2" "$T/list.back"
check "the audit log is the same" \
    test "$(sqlite3 "$BACK/minica.db" "$audit_sql")" = "$(pg_psql "$URI" "$audit_sql")"
run "$MINICA" crl --dir "$BACK" --out "$T/crl4.pem"
expect_ok "crl on the SQLite copy"
check "cRLNumber still increasing ($pg_crl -> $(crlnumber "$T/crl4.pem"))" \
    test "$(crlnumber "$T/crl4.pem")" -gt "$pg_crl"

done_testing
