#!/bin/bash
# list, token list and log at a terminal and in a pipe: piped, the lines
# are the fixed-width ones scripts have always parsed, byte for byte; on a
# pseudo-terminal the columns line up on their widest entry and the status
# is coloured, unless NO_COLOR, TERM=dumb or --color=never say otherwise;
# --json never changes and never has colour.
source "$SRCDIR/tests/integration/lib/common.sh"
: "${MINICA_FAKECLOCK:?MINICA_FAKECLOCK must point at the test build of minica}"

PTYRUN="python3 $SRCDIR/tests/integration/lib/ptyrun.py --cols 200 --rows 50 --"
ESC=$'\033'
unset NO_COLOR
export TERM=xterm-256color

# A CA with one certificate of every status, and tokens of three states,
# made in the past through the movable clock; listed now, on the real one.
CA=$T/ca
now=$(date +%s)
day=86400
past() { # past SECONDS CMD...: runs the test build SECONDS ago
    local ago=$1
    shift
    MINICA_FAKE_NOW=$((now - ago)) "$MINICA_FAKECLOCK" "$@" >/dev/null
}
check "a CA 100 days old" past $((100 * day)) init --dir "$CA"
check "web.test, 80 days ago for 90 days (renewed below)" \
    past $((80 * day)) issue web.test --ttl 90d --dir "$CA" --out "$T/o"
check "soon.test, 80 days ago for 90 days (expires in 10 days)" \
    past $((80 * day)) issue soon.test --ttl 90d --dir "$CA" --out "$T/o"
check "old.test, expired" past $((10 * day)) issue old.test --ttl 1d --dir "$CA" --out "$T/o"
check "a token that expired" past $((2 * 3600)) token late.test --expires 1h --dir "$CA"
check "web.test renewed" "$MINICA" issue web.test --san 10.0.0.1 --dir "$CA" --out "$T/o"
check "a name longer than its piped column (30)" \
    "$MINICA" issue a-rather-long-name-for-one-host.internal.test --dir "$CA" --out "$T/o"
check "api.test with SANs" "$MINICA" issue api.test --san a.api.test --dir "$CA" --out "$T/o"
check "bad.test" "$MINICA" issue bad.test --dir "$CA" --out "$T/o"
check "bad.test revoked" "$MINICA" revoke bad.test --dir "$CA"
check_not "a refused issue (logged as refused)" "$MINICA" issue x.test --ttl 20y --dir "$CA" --out "$T/o"
check "a token" "$MINICA" token t1.test --dir "$CA"
id=$("$MINICA" token t2.test --usage client --json --dir "$CA" | jq -r .id)
check "a revoked token" "$MINICA" token revoke "$id" --dir "$CA"

# ---- (a) piped: exactly the printf lines minica has always printed ----
# The expected text is made from --json by the printf formats of the first
# release (bash's printf pads by bytes under LC_ALL=C, as C's does), so
# this part passes against the minica before tables as well.
expect_list() { # expect_list ARGS...: what `list ARGS` prints into a pipe
    "$MINICA" list "$@" --json --dir "$CA" | jq -r '.[] | [.serial, .name, .status,
        .not_after, .usage, (.sans | join(","))] | @tsv' >"$T/rows.tsv"
    [ -s "$T/rows.tsv" ] || return 0
    printf '%-32s  %-30s  %-10s  %-20s  %-6s  %s\n' SERIAL NAME STATUS NOT_AFTER USAGE SANS
    while IFS=$'\t' read -r serial name status na usage sans; do
        printf '%-32s  %-30s  %-10s  %-20s  %-6s  %s\n' "$serial" "$name" "$status" "$na" \
            "$usage" "$sans"
    done <"$T/rows.tsv"
}
expect_tokens() {
    printf '%-16s  %-8s  %-6s  %-20s  %-32s  %s\n' ID STATE USAGE EXPIRES "USED BY" NAMES
    "$MINICA" token list --json --dir "$CA" | jq -r '.[] | [.id, .state, .usage, .expires_at,
        (.used_by // "-"), (.sans | join(","))] | @tsv' |
        while IFS=$'\t' read -r tid state usage expires used names; do
            printf '%-16s  %-8s  %-6s  %-20s  %-32s  %s\n' "$tid" "$state" "$usage" "$expires" \
                "$used" "$names"
        done
}
expect_log() {
    printf '%-20s  %6s  %-12s  %-8s  %s\n' TIME UID USER COMMAND SUMMARY
    "$MINICA" log --json --dir "$CA" | jq -r '.[] | [.time, .uid, .user, .command, .summary] |
        @tsv' | while IFS=$'\t' read -r when uid user command summary; do
        printf '%-20s  %6s  %-12s  %-8s  %s\n' "$when" "$uid" "$user" "$command" "$summary"
    done
}
same_bytes() { # same_bytes DESCRIPTION EXPECTED-FILE ACTUAL-FILE
    if cmp -s "$2" "$3"; then
        pass "$1"
    else
        fail "$1: $(diff "$2" "$3" | head -5 | cat -A)"
    fi
}
expect_list >"$T/want"
"$MINICA" list --dir "$CA" >"$T/got"
same_bytes "piped list is the fixed-width format" "$T/want" "$T/got"
check "and shows current certificates only" test "$(wc -l <"$T/got")" -eq 5
expect_list --all >"$T/want"
"$MINICA" list --all --dir "$CA" >"$T/got"
same_bytes "piped list --all is the fixed-width format" "$T/want" "$T/got"
for s in valid superseded revoked expired; do
    check "list --all has a $s row" grep -q "  $s " "$T/got"
done
expect_list --status revoked >"$T/want"
"$MINICA" list --status revoked --dir "$CA" >"$T/got"
same_bytes "piped list --status revoked is the fixed-width format" "$T/want" "$T/got"
"$MINICA" list no-such.test --dir "$CA" >"$T/got"
check "piped list with nothing to show prints nothing, no header" test ! -s "$T/got"
expect_tokens >"$T/want"
"$MINICA" token list --dir "$CA" >"$T/got"
same_bytes "piped token list is the fixed-width format" "$T/want" "$T/got"
for s in valid expired revoked; do
    check "token list has a $s row" grep -q "  $s " "$T/got"
done
expect_log >"$T/want"
"$MINICA" log --dir "$CA" >"$T/got"
same_bytes "piped log is the fixed-width format" "$T/want" "$T/got"
check "the log has a row per action" test "$(wc -l <"$T/got")" -ge 12
run env MINICA_FAKE_NOW=$((now + 400 * day)) "$MINICA_FAKECLOCK" log --since 1h --dir "$CA"
check "piped log with nothing in the period says so" test "$OUT" = "No audit entries in that period."
E=$T/empty
check "a CA with no certificates or tokens" "$MINICA" init --dir "$E"
"$MINICA" token list --dir "$E" >"$T/got"
printf '%-16s  %-8s  %-6s  %-20s  %-32s  %s\n' ID STATE USAGE EXPIRES "USED BY" NAMES >"$T/want"
same_bytes "piped token list without tokens is the header alone" "$T/want" "$T/got"
"$MINICA" list --dir "$E" >"$T/got"
check "piped list without certificates prints nothing" test ! -s "$T/got"
for cmd in "list --all" "token list" "log"; do
    # shellcheck disable=SC2086 # the command's words
    "$MINICA" $cmd --dir "$CA" >"$T/got"
    check "piped $cmd has no escape in auto mode, on an xterm TERM" \
        sh -c "! grep -q '$ESC' '$T/got'"
done

# ---- (b) a terminal: columns line up, and the status is coloured ----
# columns FILE: 0 when every line's fields (split at two or more spaces)
# start (or, right-aligned, end) at the header's display columns, and no
# line ends in a space; prints where the header's fields start.
columns() {
    python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], "rb").read().decode("utf-8")
lines = re.sub("\x1b\\[[0-9;]*m", "", text).split("\n")
if lines[-1] != "":
    sys.exit("no newline at the end")
lines = lines[:-1]
spans = lambda l: [m.span() for m in re.finditer(r"\S+(?: \S+)*", l)]
want = spans(lines[0])
for l in lines:
    if l != l.rstrip():
        sys.exit("trailing space: %r" % l)
    got = spans(l)
    # The last field (SANS, SUMMARY) may hold single spaces of its own.
    n = len(want) - 1
    if len(got) < n or any(g[0] != w[0] and g[1] != w[1] for g, w in zip(got[:n], want)):
        sys.exit("misaligned: %r (header %r)" % (l, lines[0]))
    if len(got) > n and got[n][0] != want[n][0]:
        sys.exit("misaligned last field: %r (header %r)" % (l, lines[0]))
print(" ".join(str(w[0]) for w in want))
PY
}
tty_to() { # tty_to FILE CMD...: CMD's stdout on a pty into FILE, as run() does
    local f=$1
    shift
    $PTYRUN "$@" >"$f" 2>"$T/.stderr"
    RC=$?
    ERR=$(cat "$T/.stderr")
}
tty_to "$T/tty" "$MINICA" list --all --dir "$CA"
expect_ok "list --all on a terminal"
if starts=$(columns "$T/tty"); then pass "list --all: every row's columns start where the header's do"; else fail "list --all columns: $starts"; fi
# NAME is as wide as its widest entry, not the piped 30 bytes.
long="a-rather-long-name-for-one-host.internal.test"
check "list --all: STATUS starts after the longest name, not at a fixed width" \
    test "$(cut -d' ' -f3 <<<"$starts")" = $((32 + 2 + ${#long} + 2))
check "list --all: valid is green" grep -q "${ESC}\[32mvalid${ESC}\[0m" "$T/tty"
check "list --all: revoked is red" grep -q "${ESC}\[31mrevoked${ESC}\[0m" "$T/tty"
check "list --all: expired is red" grep -q "${ESC}\[31mexpired${ESC}\[0m" "$T/tty"
check "list --all: superseded is dim" grep -q "${ESC}\[2msuperseded${ESC}\[0m" "$T/tty"
check "list --all: soon.test, expiring in 10 days, is yellow" \
    grep -q "soon\.test  *${ESC}\[33mvalid${ESC}\[0m" "$T/tty"
opened=$(grep -o "$ESC\[[0-9]*m" "$T/tty" | grep -vc "$ESC\[0m")
check "list --all: only the status is coloured, once a row ($opened)" \
    test "$opened" -eq $(($(wc -l <"$T/tty") - 1))
sed "s/$ESC\[[0-9;]*m//g" "$T/tty" | tr -s ' ' >"$T/tty.words"
"$MINICA" list --all --dir "$CA" | tr -s ' ' >"$T/piped.words"
same_bytes "list --all: the terminal shows the same words as the pipe" "$T/piped.words" "$T/tty.words"
tty_to "$T/tty" "$MINICA" token list --dir "$CA"
if starts=$(columns "$T/tty"); then pass "token list: columns line up"; else fail "token list columns: $starts"; fi
check "token list: states coloured" sh -c "grep -q '${ESC}\[32mvalid' '$T/tty' &&
    grep -q '${ESC}\[31mrevoked' '$T/tty' && grep -q '${ESC}\[31mexpired' '$T/tty'"
tty_to "$T/tty" "$MINICA" log --dir "$CA"
if starts=$(columns "$T/tty"); then pass "log: columns line up"; else fail "log columns: $starts"; fi
check "log: UID stays right-aligned" grep -q '^TIME  *UID  USER' "$T/tty"
check "log: a refusal is red" grep -q "${ESC}\[31mrefused x.test: " "$T/tty"
# A name with non-ASCII text, written into the inventory by hand (minica
# itself refuses it; another tool, or a later minica, might not): columns
# are counted in characters, not bytes.
db_query "$CA" "UPDATE certs SET name = 'müller-straße.test' WHERE name = 'api.test'" >/dev/null
tty_to "$T/tty" "$MINICA" list --all --dir "$CA"
check "list --all shows the non-ASCII name" grep -q 'müller-straße.test' "$T/tty"
if starts=$(columns "$T/tty"); then pass "list --all: a UTF-8 name leaves the columns aligned"; else fail "UTF-8 columns: $starts"; fi
db_query "$CA" "UPDATE certs SET name = 'api.test' WHERE name = 'müller-straße.test'" >/dev/null

# ---- (c) who turns colour off, and on ----
for cmd in "list --all" "token list" "log"; do
    # shellcheck disable=SC2086
    {
        NO_COLOR=1 tty_to "$T/tty" "$MINICA" $cmd --dir "$CA"
        check "$cmd: NO_COLOR=1 on a terminal, no escape" sh -c "! grep -q '$ESC' '$T/tty'"
        if starts=$(columns "$T/tty"); then pass "$cmd: and still aligned"; else fail "$cmd: $starts"; fi
        TERM=dumb tty_to "$T/tty" "$MINICA" $cmd --dir "$CA"
        check "$cmd: TERM=dumb on a terminal, no escape" sh -c "! grep -q '$ESC' '$T/tty'"
        tty_to "$T/tty" "$MINICA" $cmd --color=never --dir "$CA"
        check "$cmd: --color=never on a terminal, no escape" sh -c "! grep -q '$ESC' '$T/tty'"
        tty_to "$T/tty" env NO_COLOR= "$MINICA" $cmd --dir "$CA"
        check "$cmd: an empty NO_COLOR is unset" grep -q "$ESC" "$T/tty"
        NO_COLOR=1 "$MINICA" $cmd --color=always --dir "$CA" >"$T/got"
        check "$cmd: --color=always piped (and over NO_COLOR) colours" grep -q "$ESC\[3" "$T/got"
        sed "s/$ESC\[[0-9;]*m//g" "$T/got" >"$T/got.plain"
        "$MINICA" $cmd --dir "$CA" >"$T/want"
        same_bytes "$cmd: --color=always piped is the fixed-width lines plus colour" "$T/want" \
            "$T/got.plain"
        run "$MINICA" $cmd --color=bogus --dir "$CA"
        expect_rc 2 "$cmd: --color=bogus is a usage error"
        expect_err "^minica: ${cmd%% *}: --color: 'bogus' is not auto, always or never" "$cmd: saying so"
    }
done
run "$MINICA" token x.test --color=always --dir "$CA"
expect_rc 2 "token NAME --color is a usage error (nothing to colour)"

# ---- (d) --json: never an escape, on a terminal or with --color=always ----
for cmd in "list --all" "token list" "log"; do
    # shellcheck disable=SC2086
    {
        "$MINICA" $cmd --json --dir "$CA" >"$T/want"
        tty_to "$T/tty" "$MINICA" $cmd --json --color=always --dir "$CA"
        same_bytes "$cmd --json --color=always on a terminal: the piped JSON" "$T/want" "$T/tty"
        "$MINICA" $cmd --json --color=always --dir "$CA" >"$T/got"
        check "$cmd --json --color=always piped: no escape" sh -c "! grep -q '$ESC' '$T/got'"
        check "$cmd --json is JSON" jq -e 'length > 0' "$T/got"
    }
done

done_testing
