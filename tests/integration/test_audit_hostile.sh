# The audit log against hostile clients of minica serve: a CSR whose common
# name carries a newline, a forged log line and a terminal escape, sent with
# a valid token, shows in `minica log` (text and --json) quoted and escaped
# on its own row; a row written raw into the database (an older minica) is
# escaped when printed; a flood of bad tokens from one address leaves a
# handful of rows whose counts add up to the number of requests.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" 2>"$T/serve.log" &
SERVE_PID=$!
track_pid "$SERVE_PID"
up() {
    local i
    for i in $(seq 1 100); do
        [ "$(http_code "$URL/v1/health" --cacert "$CA/root.crt")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}
check "server answers /v1/health" up

ESC=$(printf '\033')
# A CN is at most 64 characters: enough for a line that looks like a row.
FORGED_LINE="2026-12-01T00:00:00Z 0 root revoke revoked ALL"
CN=$(printf 'x\n%s\033[2J' "$FORGED_LINE")
TOKEN=$("$MINICA" token web1.internal --dir "$CA")
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/f.key" \
    -subj "/CN=$CN" -addext "subjectAltName=DNS:web1.internal" -out "$T/f.csr" 2>"$T/req.err"
check "openssl made a CSR with the forged common name" sh -c "openssl req -in '$T/f.csr' -noout -subject -nameopt RFC2253,-esc_ctrl | grep -q 'root'"
jq -n --arg t "$TOKEN" --rawfile c "$T/f.csr" '{token: $t, csr: $c}' >"$T/f.json"
code=$(curl -s -o "$T/resp" -w '%{http_code}' --cacert "$CA/root.crt" -H 'Content-Type: application/json' \
    --data-binary "@$T/f.json" "$URL/v1/sign")
check "the forged CSR is refused (403)" test "$code" = 403
check "the client's error quotes the name escaped" sh -c "jq -r .detail '$T/resp' | grep -qF 'common name \"x\\n2026-12-01'"
check_not "the client's error holds no control character" sh -c "jq -r .detail '$T/resp' | grep -q '[[:cntrl:]]'"

# An older minica wrote summaries raw: one such row, put in by hand (a
# character by its code is char() in SQLite, chr() in PostgreSQL).
chr=char
[ -n "${MINICA_DB:-}" ] && chr=chr
db_query "$CA" "INSERT INTO audit (time, uid, \"user\", command, summary) VALUES
    ($(date +%s), 0, 'root', 'serve', 'legacy x' || $chr(10) || '$FORGED_LINE' || $chr(27) || '[2J')" >/dev/null

run "$MINICA" log --dir "$CA"
expect_ok "minica log"
printf '%s\n' "$OUT" >"$T/log.txt"
ROWS=$(db_query "$CA" "SELECT count(*) FROM audit")
check "one printed line per row (and the header)" test "$(wc -l <"$T/log.txt")" = $((ROWS + 1))
check_not "no ESC in the output" grep -qF "$ESC" "$T/log.txt"
check_not "no control character in the output" grep -q '[[:cntrl:]]' "$T/log.txt"
check_not "no forged revoke line" grep -q '^2026-12-01T00:00:00Z' "$T/log.txt"
check "the refusal row quotes the name, escaped" grep -qF 'common name "x\n2026-12-01T00:00:00Z' "$T/log.txt"
check "the legacy row is escaped when printed" grep -qF 'legacy x\n2026-12-01T00:00:00Z' "$T/log.txt"
run "$MINICA" log --dir "$CA" --json
expect_ok "minica log --json"
printf '%s' "$OUT" >"$T/log.json"
check "--json: valid JSON, one object per row" test "$(jq length "$T/log.json")" = "$ROWS"
check "--json: summaries escaped the same way" test "$(jq '[.[] | select(.summary | explode | any(. < 32 or . > 126))] | length' "$T/log.json")" = 0
check "--json: the legacy summary as printed" sh -c "jq -r '.[].summary' '$T/log.json' | grep -qF 'legacy x\n2026-12-01'"

# --- a flood of bad tokens from one address ----------------------------------
N=300
BEFORE=$(db_query "$CA" "SELECT count(*) FROM audit")
python3 - "$PORT" "$CA/root.crt" "$N" >"$T/flood.out" 2>&1 <<'PY'
import http.client, json, ssl, sys
port, root, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=root)
ctx.check_hostname = False
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
codes = {}
for i in range(n):
    # Unknown ids, each another, and malformed ones: what a scanner sends.
    token = "%016x.%s" % (i, "A" * 43) if i % 2 else "bad-%d" % i
    conn.request("POST", "/v1/sign", json.dumps({"token": token, "csr": "x"}),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    codes[r.status] = codes.get(r.status, 0) + 1
print(" ".join("%d=%d" % kv for kv in sorted(codes.items())))
PY
check "the flood got $N answers, all 403" grep -qx "403=$N" "$T/flood.out"
DURING=$(db_query "$CA" "SELECT count(*) FROM audit")
check "during the flood: at most 2 new rows (one per kind of refusal), not $N ($((DURING - BEFORE)))" \
    test $((DURING - BEFORE)) -le 2
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
check "SIGTERM: exit 0" test $? = 0
AFTER=$(db_query "$CA" "SELECT count(*) FROM audit")
check "after shutdown: at most 4 rows for the flood ($((AFTER - BEFORE)))" test $((AFTER - BEFORE)) -le 4
# The first refusal of each kind is a row of its own; "refused N more" counts the rest.
# (The newest rows by id: PostgreSQL's identity may leave gaps.)
TOTAL=$(db_query "$CA" "SELECT summary FROM audit ORDER BY id DESC LIMIT $((AFTER - BEFORE))" |
    awk '/^refused [0-9]+ more from 127\.0\.0\.1 in / { n += $2; next } /\(remote 127\.0\.0\.1 / { n++ } END { print n + 0 }')
check "the counts add up to the $N requests ($TOTAL)" test "$TOTAL" = "$N"
done_testing
