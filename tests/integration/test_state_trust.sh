#!/usr/bin/env bash
# The state directory is trusted only when nobody else could have written it
# (issue 14, item 2): the review's attack, an unprivileged user replacing
# minica.conf in a 0777 state directory so that root's next issue obeyed
# allow_wildcards and a 100y max_ttl, is replayed as uid 65534. Every command
# that opens a state directory refuses such a directory, policy, database or
# key in one line with the fix; init never leaves its directory wider than
# 0700. And the agent makes its own missing state directory (item 4).
source "$SRCDIR/tests/integration/lib/common.sh"

[ "$(id -u)" = 0 ] || {
    echo "ok - skipped: needs root to act as another user (uid 65534)"
    exit 0
}
NOBODY=65534
as_nobody() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- "$@"; }

# Another user must reach the state directory to attack it: $T is root's 0700.
chmod 711 "$T"
mkdir -m 755 "$T/pub"

# 1. init into an existing, empty 0777 directory leaves it 0700.
CA=$T/pub/ca
mkdir "$CA"
chmod 777 "$CA"
run "$MINICA" init --dir "$CA" --permit-dns internal.svc --permit-ip 127.0.0.0/8
expect_ok "init into an existing 0777 directory"
expect_mode "$CA" 700

# init refuses a directory another user owns (they could plant files after a chmod).
mkdir "$T/pub/theirs"
chown $NOBODY:$NOBODY "$T/pub/theirs"
run "$MINICA" init --dir "$T/pub/theirs"
expect_rc 1 "init into another user's directory is refused"
expect_err "^minica: init: $T/pub/theirs is owned by uid $NOBODY .*fix it with: chown root $T/pub/theirs" \
    "init: the refusal names the owner and the fix"
check_not "init: no key written into another user's directory" test -e "$T/pub/theirs/intermediate.key"

# 2. The review's attack: the directory made 0777 (as an init of today's code
# left it), then uid 65534 swaps in its own policy.
chmod 777 "$CA"
cp "$CA/minica.conf" "$T/minica.conf.orig"
as_nobody sh -c "printf '[policy]\npermit_dns = internal.svc\nallow_wildcards = yes\nmax_ttl = 100y\n' \
    >'$CA/.evil' && mv -f '$CA/.evil' '$CA/minica.conf'"
check "the attacker (uid $NOBODY) replaced minica.conf" test "$(stat -c %u "$CA/minica.conf")" = $NOBODY
run "$MINICA" issue '*.internal.svc' --ttl 1000d --dir "$CA" --out "$T/out"
expect_rc 1 "issue from a 0777 state directory is refused"
expect_err "^minica: issue: \\*\\.internal\\.svc: $CA is writable by group or others \(mode 0777\); fix it with: chmod 700 $CA\$" \
    "issue: the refusal is one line with the chmod"
check_not "no wildcard certificate was written" test -e "$T/out/_.internal.svc.crt"
check_not "no wildcard certificate was written" test -e "$T/out/*.internal.svc.crt"

# Every other opener of the state directory refuses it the same way.
for cmd in "list" "log" "show x.internal.svc" "token x.internal.svc" "crl" "export root" \
    "revoke x.internal.svc"; do
    # shellcheck disable=SC2086
    run "$MINICA" $cmd --dir "$CA"
    expect_rc 1 "$cmd: a 0777 state directory is refused"
    expect_err "^minica: ${cmd%% *}: .*fix it with: chmod 700 $CA" "$cmd: the refusal has the fix"
done
run "$MINICA" metrics --dir "$CA"
expect_rc 1 "metrics: a 0777 state directory is refused"
expect_err "^minica: metrics: .*fix it with: chmod 700 $CA" "metrics: the refusal has the fix"
run timeout 20 "$MINICA" serve --dir "$CA" --listen "127.0.0.1:$(free_port)"
expect_rc 1 "serve: a 0777 state directory is refused at start"
expect_err "^minica: serve: .*fix it with: chmod 700 $CA" "serve: the refusal has the fix"
cat >"$T/agent-local.conf" <<EOF
[agent]
state_dir = $CA

[cert local.internal.svc]
fullchain = $T/agent-out/local.fullchain.crt
key = $T/agent-out/local.key
EOF
chmod 600 "$T/agent-local.conf"
mkdir -p "$T/agent-out"
run "$MINICA" agent --config "$T/agent-local.conf"
expect_rc 1 "agent with the local CA: a 0777 state directory is refused"
expect_err "fix it with: chmod 700 $CA" "agent: the refusal has the fix"

# The directory fixed as told: the policy another user wrote is refused next.
chmod 700 "$CA"
run "$MINICA" issue '*.internal.svc' --ttl 1000d --dir "$CA" --out "$T/out"
expect_rc 1 "issue with minica.conf owned by uid $NOBODY is refused"
expect_err "^minica: issue: \\*\\.internal\\.svc: $CA/minica.conf is owned by uid $NOBODY .*fix it with: chown root $CA/minica.conf" \
    "issue: the refusal names the policy's owner and the fix"
check "the refused attempt left the audit log alone" \
    test "$(sqlite3 "$CA/minica.db" "SELECT count(*) FROM audit WHERE summary LIKE '%internal.svc%'")" = 0

# Root's own policy back: the wildcard is refused by policy, a plain name issues.
cp --remove-destination "$T/minica.conf.orig" "$CA/minica.conf"
run "$MINICA" issue '*.internal.svc' --ttl 1000d --dir "$CA" --out "$T/out"
expect_rc 1 "with root's policy the wildcard is refused"
run "$MINICA" issue web.internal.svc --dir "$CA" --out "$T/out"
expect_ok "with the directory and policy fixed, issue works again"

# 3. A group/other-writable minica.db (and -wal).
chmod 666 "$CA/minica.db"
for cmd in "issue w2.internal.svc --out $T/out" "list" "log"; do
    # shellcheck disable=SC2086
    run "$MINICA" $cmd --dir "$CA"
    expect_rc 1 "$cmd: a 0666 minica.db is refused"
    expect_err "^minica: ${cmd%% *}: (w2.internal.svc: )?$CA/minica.db is writable by group or others \(mode 0666\); fix it with: chmod 644 $CA/minica.db\$" \
        "$cmd: the refusal names minica.db and the chmod"
done
chmod 600 "$CA/minica.db"
if [ -e "$CA/minica.db-wal" ]; then
    chmod 622 "$CA/minica.db-wal"
    run "$MINICA" list --dir "$CA"
    expect_rc 1 "a group-writable minica.db-wal is refused"
    expect_err "minica.db-wal is writable by group or others" "the refusal names the WAL"
    chmod 600 "$CA/minica.db-wal"
fi
run "$MINICA" list --dir "$CA"
expect_ok "list works again after the chmod"

# 4. intermediate.key owned by another user, mode 0600.
chown $NOBODY "$CA/intermediate.key"
expect_mode "$CA/intermediate.key" 600
run "$MINICA" issue w3.internal.svc --dir "$CA" --out "$T/out"
expect_rc 1 "an intermediate.key owned by uid $NOBODY is refused"
expect_err "^minica: issue: w3.internal.svc: $CA/intermediate.key is owned by uid $NOBODY .*fix it with: chown root $CA/intermediate.key" \
    "issue: the refusal names the key's owner and the fix"
chown 0 "$CA/intermediate.key"
# The readability rule for keys is as strict as it was.
chmod 640 "$CA/intermediate.key"
run "$MINICA" issue w3.internal.svc --dir "$CA" --out "$T/out"
expect_err "intermediate.key is readable by group or others \(mode 0640\); fix it with: chmod 600" \
    "a group-readable key is still refused"
chmod 600 "$CA/intermediate.key"
# serve's own key (written on its first start) is held to the same rule.
cp "$CA/intermediate.key" "$CA/serve.key"
chown $NOBODY "$CA/serve.key"
run "$MINICA" list --dir "$CA"
expect_rc 1 "a serve.key owned by uid $NOBODY is refused"
expect_err "$CA/serve.key is owned by uid $NOBODY" "the refusal names serve.key"
rm -f "$CA/serve.key"

# 5. The directory above the state directory: writable by others lets them
# rename the state directory away; a sticky one (/tmp) does not.
chmod 777 "$T/pub"
run "$MINICA" list --dir "$CA"
expect_rc 1 "a state directory in a 0777 directory is refused"
expect_err "^minica: list: state directory $CA: directory $T/pub is writable by group or others \(mode 0777\), so they can replace what it holds: chmod go-w $T/pub\$" \
    "the refusal names the parent and the fix"
chmod 1777 "$T/pub"
run "$MINICA" list --dir "$CA"
expect_ok "a sticky parent (like /tmp) is accepted"
chmod 755 "$T/pub"

# 6. A symlinked state directory (MINICA_DIR on another disk) works when the
# link is root's, and the directory it names is what is checked.
ln -s "$CA" "$T/pub/calink"
run env MINICA_DIR="$T/pub/calink" "$MINICA" issue w4.internal.svc --out "$T/out"
expect_ok "issue through a symlinked state directory"
chmod 777 "$CA"
run env MINICA_DIR="$T/pub/calink" "$MINICA" list
expect_rc 1 "the symlink's target is checked"
chmod 700 "$CA"
chown -h $NOBODY "$T/pub/calink"
run env MINICA_DIR="$T/pub/calink" "$MINICA" list
expect_rc 1 "a symlink owned by uid $NOBODY is refused"
expect_err "symbolic link $T/pub/calink is owned by uid $NOBODY.*fix it with: chown -h root $T/pub/calink" \
    "the refusal names the link and the fix"

# 7. The agent on a VM with a remote CA, where its state directory was never
# made: it creates it 0700 and runs (item 4).
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" --timeout 5s 2>"$T/serve.log" &
track_pid $!
up=0
for _ in $(seq 1 100); do
    if [ "$(http_code "$URL/v1/health" -k)" = 200 ]; then
        up=1
        break
    fi
    sleep 0.1
done
check "serve is up" test "$up" = 1
VM=$T/vm
mkdir -m 700 "$VM" "$VM/certs"
"$MINICA" export root --dir "$CA" --out "$VM/root.crt"
"$MINICA" token app.internal.svc --dir "$CA" >"$VM/token"
chmod 600 "$VM/token"
cat >"$VM/agent.conf" <<EOF
[agent]
state_dir = $VM/var/lib/minica
ca_url = $URL
root = $VM/root.crt

[cert app.internal.svc]
fullchain = $VM/certs/app.fullchain.crt
key = $VM/certs/app.key
token_file = $VM/token
EOF
chmod 600 "$VM/agent.conf"
# Its parent is missing too: the agent says which setting names it.
run "$MINICA" agent --config "$VM/agent.conf"
expect_rc 1 "agent: a state directory whose parent is missing is an error"
expect_err "^minica: agent: .*$VM/var/lib/minica.*$VM/var/lib.*state_dir" \
    "agent: the error names the missing parent and the setting"
check "agent: the refused run left the token" test -s "$VM/token"
mkdir -p "$VM/var/lib"
run "$MINICA" agent --config "$VM/agent.conf"
expect_ok "agent: the first run creates its missing state directory"
expect_mode "$VM/var/lib/minica" 700
check "agent: the lock file is in it" test -e "$VM/var/lib/minica/agent.lock"
check "agent: the certificate was written" test -s "$VM/certs/app.fullchain.crt"

# 8. The CA archive (issue 15) is held to the same rule: ca/ writable by
# others, a symlink in its place, or a key in it others can read.
L=$T/lc
run "$MINICA" init --dir "$L"
expect_ok "init a CA for the archive checks"
run "$MINICA" ca rotate --dir "$L"
expect_ok "a rotation makes the archive"
expect_mode "$L/ca" 700
chmod 777 "$L/ca"
run "$MINICA" issue a.svc --dir "$L" --out "$T/lc-out"
expect_rc 1 "issue: a world-writable ca/ is refused"
expect_err "^minica: issue: .*$L/ca.*chmod" "issue: the refusal names ca/ and the fix"
chmod 700 "$L/ca"
key=$(ls "$L"/ca/intermediate-*.key | head -1)
chmod 644 "$key"
run "$MINICA" ca status --dir "$L"
expect_rc 1 "ca status: an archived key others can read is refused"
expect_err "^minica: ca: .*$key" "ca status: the refusal names the key"
chmod 600 "$key"
mv "$L/ca" "$T/lc-archive"
ln -s "$T/lc-archive" "$L/ca"
run "$MINICA" issue a.svc --dir "$L" --out "$T/lc-out"
expect_rc 1 "issue: a symlink in place of ca/ is refused"
rm "$L/ca"
mv "$T/lc-archive" "$L/ca"
run "$MINICA" issue a.svc --dir "$L" --out "$T/lc-out"
expect_ok "issue: the archive restored, the CA issues again"

# init refuses a directory that still holds another CA's archive.
mkdir -m 700 "$T/stale"
cp -a "$L/ca" "$T/stale/ca"
run "$MINICA" init --dir "$T/stale"
expect_rc 1 "init: a leftover ca/ is refused"
expect_err "^minica: init: .*ca" "init: the refusal names it"

done_testing
