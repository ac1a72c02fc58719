#!/bin/bash
# Files root reads and acts on cannot be swapped by another local user
# (issue 14, items 1 and 3): agent.conf (its commands run as root) and the
# token files of the agent and of `issue --ca-url`. The review exchanged a
# root-owned agent.conf in a 0777 directory for its own with
# renameat2(RENAME_EXCHANGE); no race is needed to show the fix: a 0777
# directory, a directory or file owned by another user, a symlink and a
# FIFO are each refused at once, with the path and the fix in one line.
# uid 65534 (nobody) plays the other user; the tests run as root.
source "$SRCDIR/tests/integration/lib/common.sh"

NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
# The other user must be able to reach the directories below.
chmod 755 "$T"

CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"

# ---- agent.conf in a directory anyone can write -------------------------------
OPEN=$T/open
CERTS=$T/certs
mkdir -p "$OPEN" "$CERTS"
chmod 777 "$OPEN"
cat >"$OPEN/agent.conf" <<EOF
[agent]
check_command = touch $T/check-ran
reload_command = true

[cert a.test]
fullchain = $CERTS/a.fullchain.crt
key = $CERTS/a.key
EOF
chmod 644 "$OPEN/agent.conf"
# What the attack needs: the other user can put its own file under that name.
run "${NOBODY[@]}" sh -c "echo '# theirs' >'$OPEN/theirs' && mv -f '$OPEN/theirs' '$OPEN/probe'"
expect_ok "another user can replace entries of a 0777 directory"
rm -f "$OPEN/probe"

run timeout 10 "$MINICA" agent --config "$OPEN/agent.conf" --dir "$CA"
expect_rc 1 "agent: a config in a 0777 directory is refused"
expect_err "^minica: agent: agent config $OPEN/agent.conf: directory $OPEN is writable by group or others \(mode 0777\).*: chmod go-w $OPEN$" \
    "agent: the refusal names the directory and the fix"
check_not "agent: its check_command did not run" test -e "$T/check-ran"
check_not "agent: nothing was issued" test -e "$CERTS/a.key"

run timeout 10 "$MINICA" agent status --config "$OPEN/agent.conf" --dir "$CA"
expect_rc 1 "agent status: a config in a 0777 directory is refused"
expect_err "chmod go-w $OPEN$" "agent status: the refusal says the fix"

run timeout 10 "$MINICA" metrics --config "$OPEN/agent.conf" --dir "$CA"
expect_rc 1 "metrics: a config in a 0777 directory is refused"
expect_err "chmod go-w $OPEN$" "metrics: the refusal says the fix"

# Group-writable counts as well (sshd's StrictModes), two levels up too.
chmod 755 "$OPEN"
chmod 775 "$T"
run timeout 10 "$MINICA" agent --config "$OPEN/agent.conf" --dir "$CA" --dry-run
expect_rc 1 "agent: a group-writable directory further up is refused"
expect_err "chmod go-w $T$" "agent: the refusal names that directory"
chmod 755 "$T"

chown 65534:65534 "$OPEN"
run timeout 10 "$MINICA" agent --config "$OPEN/agent.conf" --dir "$CA"
expect_rc 1 "agent: a config in a directory another user owns is refused"
expect_err "directory $OPEN is owned by uid 65534, not by root.*: chown root $OPEN$" \
    "agent: the refusal names the owner and the fix"
chown 0:0 "$OPEN"

chown 65534:65534 "$OPEN/agent.conf"
run timeout 10 "$MINICA" agent --config "$OPEN/agent.conf" --dir "$CA"
expect_rc 1 "agent: a config another user owns is refused"
expect_err "agent config $OPEN/agent.conf is owned by uid 65534, not by root: chown root $OPEN/agent.conf$" \
    "agent: the refusal names the owner"
chown 0:0 "$OPEN/agent.conf"

ln -s "$OPEN/agent.conf" "$T/agent.conf.link"
run timeout 10 "$MINICA" agent --config "$T/agent.conf.link" --dir "$CA"
expect_rc 1 "agent: a symlinked config is refused"
expect_err "is a symbolic link" "agent: the refusal names the symlink"

run timeout 10 "$MINICA" agent --config "$OPEN/agent.conf" --dir "$CA"
expect_ok "agent: the same config in a 0755 directory is used"
check "agent: its check_command ran" test -e "$T/check-ran"
check "agent: a certificate was issued" test -s "$CERTS/a.key"

# A sticky directory (/tmp's mode) is fine: nobody else may rename root's entries.
STICKY=$T/sticky
mkdir "$STICKY"
chmod 1777 "$STICKY"
cp "$OPEN/agent.conf" "$STICKY/agent.conf"
run timeout 10 "$MINICA" agent status --config "$STICKY/agent.conf" --dir "$CA"
expect_ok "agent status: a root config in a sticky directory is used"
run "${NOBODY[@]}" mv -f "$STICKY/agent.conf" "$STICKY/moved"
expect_rc 1 "another user cannot rename root's file in the sticky directory"

# ---- the running user's own files count like root's -----------------------------
NB=$T/nb
mkdir -p "$NB"
"$MINICA" init --dir "$NB/ca" >/dev/null
cat >"$NB/agent.conf" <<EOF
[agent]
state_dir = $NB/ca

[cert b.test]
fullchain = $NB/b.fullchain.crt
key = $NB/b.key
EOF
chown -R 65534:65534 "$NB"
run "${NOBODY[@]}" timeout 10 "$MINICA" agent status --config "$NB/agent.conf"
expect_out "^b.test" "agent status as another user reads its own config"
check_not "its own config is not refused" grep -q "agent config" <<<"$ERR"
run timeout 10 "$MINICA" agent status --config "$NB/agent.conf"
expect_rc 1 "root refuses the other user's config"
expect_err "owned by uid 65534, not by root" "root: the refusal names the owner"

# ---- token_file of the agent and --token-file of issue --ca-url ------------------
# Nothing listens at URL: every refusal below happens before the network.
URL=https://127.0.0.1:$(free_port)
TD=$T/tokens
mkdir "$TD"
mkdir -p "$T/tstate"
printf '0123456789abcdef\n' >"$TD/real.token"
chmod 600 "$TD/real.token"
agent_conf() { # agent_conf TOKEN_FILE: a remote agent config using it
    cat >"$T/remote.conf" <<EOF
[agent]
state_dir = $T/tstate
ca_url = $URL
root = $CA/root.crt

[cert t.test]
fullchain = $T/tstate/t.fullchain.crt
key = $T/tstate/t.key
token_file = $1
EOF
    chmod 600 "$T/remote.conf"
}
issue_with() { # issue_with TOKEN_FILE
    run timeout 10 "$MINICA" issue t.test --ca-url "$URL" --root "$CA/root.crt" \
        --token-file "$1" --out "$T/tstate"
}

# A symlink: whoever can change the link chooses what root sends.
ln -s "$TD/real.token" "$TD/link.token"
agent_conf "$TD/link.token"
run timeout 10 "$MINICA" agent --config "$T/remote.conf"
expect_rc 1 "agent: a symlinked token_file is refused"
expect_err "token file $TD/link.token is a symbolic link" "agent: the refusal names the symlink"
issue_with "$TD/link.token"
expect_rc 1 "issue: a symlinked --token-file is refused"
expect_err "^minica: issue: token file $TD/link.token is a symbolic link" \
    "issue: the refusal names the symlink"

# A FIFO used to block open(2) until a writer came: for ever, in cron.
mkfifo -m 600 "$TD/fifo.token"
agent_conf "$TD/fifo.token"
run timeout 10 "$MINICA" agent --config "$T/remote.conf"
expect_rc 1 "agent: a FIFO token_file fails at once instead of hanging"
expect_err "token file $TD/fifo.token is not a regular file" "agent: the error says what it is"
issue_with "$TD/fifo.token"
expect_rc 1 "issue: a FIFO --token-file fails at once instead of hanging"
expect_err "token file $TD/fifo.token is not a regular file" "issue: the error says what it is"

# A 0600 token in a 0777 directory: anyone could have swapped in theirs.
chmod 777 "$TD"
agent_conf "$TD/real.token"
run timeout 10 "$MINICA" agent --config "$T/remote.conf"
expect_rc 1 "agent: a token_file in a 0777 directory is refused"
expect_err "directory $TD is writable by group or others.*chmod go-w $TD " "agent: the refusal says the fix"
issue_with "$TD/real.token"
expect_rc 1 "issue: a --token-file in a 0777 directory is refused"
expect_err "chmod go-w $TD$" "issue: the refusal says the fix"
chmod 755 "$TD"

# A 0600 token another user owns: its owner chose the secret root sends.
chown 65534:65534 "$TD/real.token"
run timeout 10 "$MINICA" agent --config "$T/remote.conf"
expect_rc 1 "agent: a token_file another user owns is refused"
expect_err "token file $TD/real.token is owned by uid 65534, not by root: chown root $TD/real.token " \
    "agent: the refusal names the owner"
issue_with "$TD/real.token"
expect_rc 1 "issue: a --token-file another user owns is refused"
expect_err "owned by uid 65534, not by root" "issue: the refusal names the owner"
chown 0:0 "$TD/real.token"

# Readable by others stays refused, with today's fix.
chmod 644 "$TD/real.token"
issue_with "$TD/real.token"
expect_rc 1 "issue: a --token-file readable by others is refused"
expect_err "chmod 600 $TD/real.token$" "issue: the refusal says chmod 600"
chmod 600 "$TD/real.token"
check "the refused token files are left alone" test -s "$TD/real.token"

# ---- the root certificate the client trusts the CA by ----------------------------
# Whoever can swap root = / --root stands in for the CA and is sent the token.
RD=$T/rootdir
mkdir "$RD"
cp "$CA/root.crt" "$RD/root.crt"
chmod 777 "$RD"
sed -i "s|^root = .*|root = $RD/root.crt|" "$T/remote.conf"
run timeout 10 "$MINICA" agent --config "$T/remote.conf"
expect_rc 1 "agent: a root = in a 0777 directory is refused"
expect_err "root certificate $RD/root.crt: directory $RD is writable by group or others.*chmod go-w $RD" \
    "agent: the refusal names the root file and the fix"
run timeout 10 "$MINICA" issue t.test --ca-url "$URL" --root "$RD/root.crt" \
    --token-file "$TD/real.token" --out "$T/tstate"
expect_rc 1 "issue: a --root in a 0777 directory is refused"
expect_err "root certificate $RD/root.crt: directory $RD is writable by group or others.*chmod go-w $RD" \
    "issue: the refusal names the root file and the fix"
chmod 755 "$RD"

done_testing
