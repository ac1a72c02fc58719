#!/bin/bash
# The configuration minica ships, checked by the tools that read it
# (issue 20, item 7): conf/bootstrap/cloud-init.yaml by `cloud-init schema`,
# the systemd units by `systemd-analyze verify` (which only warns about a
# value it ignores, so any output fails) and their sandboxing by
# `systemd-analyze security`, whose exposure level must stay where it is.
source "$SRCDIR/tests/integration/lib/common.sh"

CONF=$SRCDIR/conf

# ---- cloud-init ----
run cloud-init schema --config-file "$CONF/bootstrap/cloud-init.yaml"
expect_ok "cloud-init schema accepts conf/bootstrap/cloud-init.yaml"
expect_out "^Valid cloud-config" "and says it is valid"
{
    echo "#cloud-config"
    echo "write_files: 5"
} >"$T/broken.yaml"
run cloud-init schema --config-file "$T/broken.yaml"
expect_rc 1 "a broken cloud-config is refused (the check can fail)"

# ---- systemd units ----
# As installed, but with the binary under test in ExecStart (systemd checks
# that it is executable) and the man page where man finds it
# (Documentation=man:minica(1)).
mkdir -p "$T/units" "$T/man/man1"
cp "$SRCDIR/docs/minica.1" "$T/man/man1/"
for u in minica-serve.service minica-agent.service minica-agent.timer; do
    sed "s|/usr/local/bin/minica|$MINICA|g" "$CONF/$u" >"$T/units/$u"
done
verify() { (cd "$T/units" && MANPATH=$T/man systemd-analyze verify "$@"); }
run verify ./minica-serve.service ./minica-agent.service ./minica-agent.timer
expect_ok "systemd-analyze verify"
check "with nothing to say" test -z "$OUT$ERR"
sed 's/^ProtectSystem=strict$/ProtectSystem=strictt/' "$T/units/minica-serve.service" \
    >"$T/units/typo.service"
run verify ./typo.service
check "a typo in a unit is reported (the check can fail)" grep -q "strictt" <<<"$ERR"

# serve runs as its own user, with the sandbox a CA's network process
# needs; the agent runs as root (it writes other users' keys and reloads
# nginx), so its level is higher.
for key in User=minica ProtectSystem=strict ReadWritePaths=/var/lib/minica NoNewPrivileges=yes \
    PrivateTmp=yes CapabilityBoundingSet= SystemCallFilter=@system-service; do
    check "minica-serve.service has $key" grep -qx "$key" "$T/units/minica-serve.service"
done
for key in ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes SystemCallFilter=@system-service; do
    check "minica-agent.service has $key" grep -qx "$key" "$T/units/minica-agent.service"
done
exposure() { # exposure UNIT: the overall level systemd-analyze security gives it
    (cd "$T/units" && systemd-analyze security --offline=yes "./$1" 2>/dev/null) |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}
serve_level=$(exposure minica-serve.service)
agent_level=$(exposure minica-agent.service)
echo "# exposure: minica-serve.service $serve_level, minica-agent.service $agent_level"
check "minica-serve.service exposure $serve_level is at most 2.5 (OK)" \
    awk -v l="$serve_level" 'BEGIN { exit !(l != "" && l <= 2.5) }'
check "minica-agent.service exposure $agent_level is at most 6.0" \
    awk -v l="$agent_level" 'BEGIN { exit !(l != "" && l <= 6.0) }'

done_testing
