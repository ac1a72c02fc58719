#!/bin/bash
# The Debian package (debian/), end to end on this machine: build it from a
# copy of the tree with dpkg-buildpackage, prove its Build-Depends exact,
# hold it to lintian, install it with apt, check what it installed and
# created, run a CA through the installed binary as the service user,
# start serve as its unit says, upgrade, remove and purge it.
#
# It installs minica-pki system-wide and removes it again, so it is not in
# ctest (scripts/test runs it as its own gate, after the suites): it needs
# root, and a machine without minica-pki, Debian's minica, /etc/minica,
# /var/lib/minica or a minica user, which it refuses to touch.
#
# SRCDIR: the tree to package (default: this checkout).
: "${SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
MINICA=/usr/bin/minica # the binary under test is the package's
. "$SRCDIR/tests/integration/lib/common.sh"
export DEBIAN_FRONTEND=noninteractive

[ "$(id -u)" -eq 0 ] || { echo "test_debian_package: needs root (it installs the package)" >&2; exit 1; }
for p in minica-pki minica; do
    if dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^.i'; then
        echo "test_debian_package: $p is installed here; it would be replaced and removed" >&2
        exit 1
    fi
done
for f in /etc/minica /var/lib/minica /var/lib/minica-agent; do
    if [ -e "$f" ]; then
        echo "test_debian_package: $f exists; it may be someone's CA, so this test will not run here" >&2
        exit 1
    fi
done
if getent passwd minica >/dev/null || getent group minica >/dev/null; then
    echo "test_debian_package: a minica user or group exists; this test creates and deletes its own" >&2
    exit 1
fi

# apt-get hands maintainer scripts a terminal of its own: what they print
# to stderr arrives on its stdout, so their messages are looked for in both.

# From here on the machine is ours to restore, whatever fails.
_pkg_cleanup() {
    [ -n "${SERVE_PID:-}" ] && kill "$SERVE_PID" 2>/dev/null
    apt-get purge -y -qq minica-pki >/dev/null 2>&1
    rm -rf /etc/minica /var/lib/minica /var/lib/minica-agent
    userdel minica 2>/dev/null
    groupdel minica 2>/dev/null
    _cleanup
}
trap _pkg_cleanup EXIT
chmod 755 "$T" # apt's _apt user reads the .deb from here

version=$(sed -n '1s/^minica-pki (\([^)]*\)).*/\1/p' "$SRCDIR/debian/changelog")
project=$(sed -n 's/^project(minica VERSION \([0-9.]*\).*/\1/p' "$SRCDIR/CMakeLists.txt")
check "debian/changelog's version ($version) is CMakeLists.txt's ($project)" test "$version" = "$project"

# 1. Build, from a copy: dpkg-buildpackage writes into debian/ and leaves the
# .deb in the parent directory. With the unit tests, as a Debian builder
# would, and under strace for the Build-Depends proof.
mkdir "$T/src"
if git -C "$SRCDIR" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$SRCDIR" && git ls-files -co --exclude-standard -z | tar --null -cf - -T -) | tar -xf - -C "$T/src"
else
    tar -C "$SRCDIR" --exclude='./build*' --exclude=./demo -cf - . | tar -xf - -C "$T/src"
fi
mkdir "$T/trace"
(cd "$T/src" && DEB_BUILD_OPTIONS="parallel=$(nproc)" strace -ff -qq -z -e trace=openat,execve --seccomp-bpf \
    -o "$T/trace/t" dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1
RC=$?
if [ "$RC" -eq 0 ]; then pass "dpkg-buildpackage -us -uc -b"; else
    tail -40 "$T/build.log"
    fail "dpkg-buildpackage -us -uc -b (exit $RC)"
    done_testing
fi
check "the build ran the unit tests" grep -q '100% tests passed' "$T/build.log"
deb=$T/minica-pki_${version}_$(dpkg --print-architecture).deb
check "it made $deb" test -s "$deb"

run python3 "$SRCDIR/tests/package/builddeps_used.py" "$SRCDIR/debian/control" "$T/trace"
if [ "$RC" -eq 0 ]; then pass "Build-Depends is exactly what the build used ($ERR)"; else
    fail "Build-Depends is not what the build used: $OUT"
fi
rm -rf "$T/trace"

# 2. lintian: no error, no warning; an override needs its reason above it.
run lintian --fail-on error,warning --display-info "$T"/minica-pki_"${version}"_*.changes
[ "$RC" -eq 0 ] || printf '%s\n%s\n' "$OUT" "$ERR"
expect_ok "lintian: no errors or warnings"
for o in "$SRCDIR"/debian/*lintian-overrides "$SRCDIR"/debian/source/lintian-overrides; do
    [ -f "$o" ] || continue
    check "every override in $o has a reason (a comment above it)" \
        awk '/^#/ { reason = 1; next } /^[[:space:]]*$/ { next } !reason { exit 1 } { reason = 0 }' "$o"
done

# 3. What the package says it is.
field() { dpkg-deb -f "$deb" "$1"; }
check "Conflicts: minica (Debian's unrelated Go tool)" sh -c "dpkg-deb -f '$deb' Conflicts | grep -Eq '(^|, )minica(\$|[ ,])'"
# Each library libload.c dlopens is a dependency: GnuTLS, libcurl and
# libmicrohttpd Depends, libpq and p11-kit Recommends.
for so in $(sed -n 's/^#define LIB[A-Z0-9]*_SONAME "\(.*\)"$/\1/p' "$SRCDIR/src/lib/base/libload.c"); do
    path=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64|64bit|AArch64/ { print $NF; exit }')
    pkg=""
    # ldconfig says /lib/..., dpkg may know the file as /usr/lib/... (merged /usr).
    for p in "$path" "/usr$path" "$(readlink -f "$path")"; do
        pkg=$(dpkg -S "$p" 2>/dev/null | head -1 | cut -d: -f1)
        [ -n "$pkg" ] && break
    done
    case $so in libpq.* | libp11-kit.*) f=Recommends ;; *) f=Depends ;; esac
    if [ -z "$pkg" ]; then
        fail "no package here provides the dlopen'ed $so (ldconfig: '$path')"
        continue
    fi
    check "$f names $pkg, which provides the dlopen'ed $so" \
        sh -c "dpkg-deb -f '$deb' $f | tr ',' '\n' | grep -Eq '^ *$pkg( |\$)'"
done

# 4. Install.
run apt-get install -y -qq "$deb"
expect_ok "apt-get install ./$(basename "$deb")"
check "/usr/bin/minica is the package's" sh -c "dpkg -S /usr/bin/minica | grep -q '^minica-pki:'"
run /usr/bin/minica version
expect_out "^minica $version" "the installed minica is version $version"
check "the man page" test -s /usr/share/man/man1/minica.1.gz
check "bash completion" bash -c '. /usr/share/bash-completion/completions/minica && complete -p minica'
check "zsh completion" test -s /usr/share/zsh/vendor-completions/_minica
check "fish completion" test -s /usr/share/fish/vendor_completions.d/minica.fish
for f in agent.conf agent-haproxy.conf minica-serve.service bootstrap/cloud-init.yaml nginx/proxy.conf; do
    check "example $f" test -s "/usr/share/doc/minica-pki/examples/$f"
done
check "/etc/minica/agent.conf is a conffile" \
    sh -c "dpkg-query -W -f='\${Conffiles}' minica-pki | grep -q '^ /etc/minica/agent.conf '"
for u in minica-serve.service minica-agent.service minica-agent.timer; do
    check "unit $u is installed" test -s "/lib/systemd/system/$u"
    check "unit $u is conf/$u with the packaged path" \
        sh -c "sed 's|/usr/local/bin/minica|/usr/bin/minica|g' '$SRCDIR/conf/$u' | cmp -s - /lib/systemd/system/$u"
    check_not "unit $u is not enabled" sh -c "ls /etc/systemd/system/*.wants/$u"
done
run systemd-analyze verify /lib/systemd/system/minica-serve.service /lib/systemd/system/minica-agent.service \
    /lib/systemd/system/minica-agent.timer
expect_ok "systemd-analyze verify: the installed units"
check "ExecStart runs /usr/bin/minica" grep -q '^ExecStart=/usr/bin/minica serve ' /lib/systemd/system/minica-serve.service

IFS=: read -r _ _ uid gid _ home shell < <(getent passwd minica)
check "a minica user exists" test -n "${uid:-}"
check "it is a system user (uid $uid)" test "${uid:-1000}" -lt 1000
check "its group is minica" test "$(getent group minica | cut -d: -f3)" = "${gid:-x}"
check "its home is /var/lib/minica" test "${home:-}" = /var/lib/minica
check "it has no login shell" test "${shell:-}" = /usr/sbin/nologin
check "/var/lib/minica is minica:minica" test "$(stat -c %U:%G /var/lib/minica)" = minica:minica
expect_mode /var/lib/minica 700
check "/var/lib/minica-agent is root's" test "$(stat -c %U /var/lib/minica-agent)" = root
expect_mode /var/lib/minica-agent 700
check "the install created no CA and no key" test -z "$(ls -A /var/lib/minica)"

# 5. A CA through the installed binary, as the user serve runs as. (root is
# refused a state directory it does not own, which section 6 relies on.)
as_minica() { runuser -u minica -- "$@"; }
run as_minica /usr/bin/minica init
expect_ok "minica init (as minica, default state dir)"
check "it made /var/lib/minica/root.crt" test -s /var/lib/minica/root.crt
out=$(mktemp -d /tmp/minica-pkg.XXXXXX)
chown minica: "$out"
run as_minica /usr/bin/minica issue upstream.internal.svc --san 127.0.0.1 --ttl 90d --out "$out"
expect_ok "minica issue upstream.internal.svc (as minica)"
check "openssl verifies the certificate against the root" \
    openssl verify -CAfile /var/lib/minica/root.crt -untrusted /var/lib/minica/intermediate.crt \
    "$out/upstream.internal.svc.crt"
check "the key is minica's" test "$(stat -c %U "$out/upstream.internal.svc.key")" = minica
expect_mode "$out/upstream.internal.svc.key" 600
run /usr/bin/minica list
expect_rc 1 "root running minica on minica's state is refused"
expect_err "^minica: list: /var/lib/minica is owned by .*minica.*run minica as minica" \
    "... with the fix in the message"
rm -rf "$out"

# 6. serve, as systemd would run it, and the packaged agent.conf's layout:
# the agent as root, its state in /var/lib/minica-agent, certificates from
# serve with a token.
port=$(free_port)
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/minica-serve.service)
if [ -d /run/systemd/system ]; then
    mkdir -p /run/systemd/system/minica-serve.service.d
    printf '[Service]\nExecStart=\nExecStart=%s\n' "${exec_start/--listen :9443/--listen 127.0.0.1:$port}" \
        >/run/systemd/system/minica-serve.service.d/test-port.conf
    systemctl daemon-reload
    run systemctl start minica-serve.service
    expect_ok "systemctl start minica-serve"
else
    # No systemd here: the unit's ExecStart line as its User and UMask, on a
    # free port instead of 9443.
    case $exec_start in *" --listen :9443"*) pass "ExecStart listens on :9443" ;; *) fail "ExecStart: $exec_start" ;; esac
    (umask 0077 && exec setpriv --reuid=minica --regid=minica --init-groups -- \
        ${exec_start/--listen :9443/--listen 127.0.0.1:$port}) >"$T/serve.log" 2>&1 &
    SERVE_PID=$!
fi
URL=https://127.0.0.1:$port
if wait_health "$URL"; then pass "serve answers /v1/health"; else
    cat "$T/serve.log" 2>/dev/null
    fail "serve answers /v1/health"
fi
check "serve's TLS verifies against the CA's root" \
    curl -sf --max-time 10 --cacert /var/lib/minica/root.crt "$URL/v1/health"

token=$(as_minica /usr/bin/minica token web1.internal --san 127.0.0.1)
cp /var/lib/minica/root.crt /etc/minica/root.crt
install -m 0600 /dev/null /etc/minica/web1.token
printf '%s\n' "$token" >/etc/minica/web1.token
mkdir -p "$T/certs"
cp /etc/minica/agent.conf "$T/agent.conf.shipped"
run /usr/bin/minica agent --once
expect_rc 1 "the shipped agent.conf renews nothing"
expect_err "^minica: agent: /etc/minica/agent.conf has no \[cert NAME\] sections: nothing to renew$" \
    "... and says it has no [cert NAME] section"
sed -i -e "s|^# ca_url = .*|ca_url = $URL|" -e 's|^# root = \(/etc/minica/root.crt\).*|root = \1|' /etc/minica/agent.conf
cat >>/etc/minica/agent.conf <<EOF

[cert web1.internal]
sans = 127.0.0.1
fullchain = $T/certs/web1.fullchain.crt
key = $T/certs/web1.key
token_file = /etc/minica/web1.token
EOF
run /usr/bin/minica agent --once
expect_ok "the agent (root, shipped agent.conf + one [cert]) renews through serve"
check "the agent's certificate verifies against the root" \
    openssl verify -CAfile /etc/minica/root.crt -untrusted "$T/certs/web1.fullchain.crt" \
    "$T/certs/web1.fullchain.crt"
check "its lock and status are in /var/lib/minica-agent" test -e /var/lib/minica-agent/agent.lock

# 7. An upgrade (the same version again: postinst configure OLD) keeps the
# CA, the inventory and the edited conffile.
root_sum=$(sha256sum /var/lib/minica/root.crt /var/lib/minica/*.key | sha256sum)
rows=$(as_minica /usr/bin/minica list --all --json | jq length)
conf_sum=$(sha256sum </etc/minica/agent.conf)
run apt-get install -y -qq --reinstall "$deb"
expect_ok "apt-get install --reinstall (an upgrade)"
check "the CA's keys and certificates are unchanged" \
    test "$(sha256sum /var/lib/minica/root.crt /var/lib/minica/*.key | sha256sum)" = "$root_sum"
check "the inventory still has its $rows rows" \
    test "$(as_minica /usr/bin/minica list --all --json | jq length)" = "$rows"
check "the edited /etc/minica/agent.conf is kept" test "$(sha256sum </etc/minica/agent.conf)" = "$conf_sum"
if [ -d /run/systemd/system ]; then
    check "a running serve is running after the upgrade" systemctl is-active -q minica-serve.service
    systemctl stop minica-serve.service
    apt-get install -y -qq --reinstall "$deb" >/dev/null 2>&1
    check_not "a stopped serve stays stopped after the upgrade" systemctl is-active -q minica-serve.service
else
    check "serve (not systemd's) was left running by the upgrade" kill -0 "$SERVE_PID"
    kill "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null
    SERVE_PID=""
fi
rm -rf /run/systemd/system/minica-serve.service.d

# 8. remove keeps configuration and state; purge keeps the CA only.
run apt-get remove -y -qq minica-pki
expect_ok "apt-get remove minica-pki"
check_not "/usr/bin/minica is gone" test -e /usr/bin/minica
check_not "the units are gone" test -e /lib/systemd/system/minica-serve.service
check "remove keeps /etc/minica/agent.conf" test -s /etc/minica/agent.conf
check "remove keeps the CA" test -s /var/lib/minica/root.key
run apt-get purge -y -qq minica-pki
expect_ok "apt-get purge minica-pki"
check "purge says it kept the CA and how to delete it" \
    sh -c "printf '%s' \"\$1\" | grep -q 'kept /var/lib/minica.*rm -rf /var/lib/minica'" _ "$OUT$ERR"
check "purge kept the CA's keys, unchanged" \
    test "$(sha256sum /var/lib/minica/root.crt /var/lib/minica/*.key | sha256sum)" = "$root_sum"
check_not "purge removed /etc/minica/agent.conf" test -e /etc/minica/agent.conf
check "purge left the files it does not own (the root, the token)" test -s /etc/minica/root.crt
check_not "purge removed /var/lib/minica-agent" test -e /var/lib/minica-agent
check "purge kept the minica user (it owns the CA)" getent passwd minica
check_not "the package is gone" sh -c "dpkg-query -W -f='\${db:Status-Abbrev}' minica-pki | grep -q '^.i'"

# 9. Install over an operator's CA owned by root: never re-owned; and an
# empty state directory is removed by purge.
rm -rf /etc/minica /var/lib/minica
userdel minica
mkdir -m 700 /var/lib/minica
echo operator >/var/lib/minica/keep
run apt-get install -y -qq "$deb"
expect_ok "install over a root-owned /var/lib/minica"
check "postinst says whose it is and what serve needs" \
    sh -c "printf '%s' \"\$1\" | grep -q '/var/lib/minica is owned by root, not minica'" _ "$OUT$ERR"
check "it was not re-owned" test "$(stat -c %U /var/lib/minica/keep)" = root
rm -rf /var/lib/minica
apt-get purge -y -qq minica-pki >/dev/null 2>&1
apt-get install -y -qq "$deb" >/dev/null 2>&1
check "a reinstall recreates /var/lib/minica" test -d /var/lib/minica
run apt-get purge -y -qq minica-pki
expect_ok "purge with an empty /var/lib/minica"
check_not "purge removed the empty /var/lib/minica" test -e /var/lib/minica

done_testing
