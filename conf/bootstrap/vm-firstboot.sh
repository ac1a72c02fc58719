#!/bin/sh
# First boot of a VM image: set up (or adopt) a minica state directory,
# trust its root system-wide, write /etc/minica/agent.conf, run the agent
# once and install its cron entry. Idempotent: a second run changes nothing.
# With --ca-url, --fingerprint and --token-file (or --token) the CA is
# remote (minica serve): its root is bootstrapped by fingerprint and the
# token pays for the first certificate; no CA is created here.
set -eu
# Under cloud-init or a custom image the inherited umask may be anything
# (000 included): directories made here must not be writable by others.
umask 022

usage() {
    cat <<USAGE
Usage: vm-firstboot.sh [OPTIONS]

Options (each also read from the environment variable shown):
  --minica PATH          minica binary (MINICA_BIN, default /usr/local/bin/minica;
                         never looked up in PATH: Debian's "minica" is another program)
  --state-dir DIR        CA state directory; used as it is when it holds a CA,
                         created with 'minica init' otherwise
                         (MINICA_STATE_DIR, default /var/lib/minica)
  --ca-name NAME         CN prefix for a new CA (MINICA_CA_NAME, default minica)
  --name NAME            the certificate's name (MINICA_CERT_NAME, default: hostname -f)
  --san LIST             more names, comma-separated (MINICA_CERT_SANS)
  --usage USAGE          server, client or both (MINICA_CERT_USAGE, default server)
  --ttl DURATION         certificate lifetime (MINICA_CERT_TTL, default: the CA policy's)
  --cert-dir DIR         where NAME.fullchain.crt, NAME.key and ca.crt go
                         (MINICA_CERT_DIR, default /etc/ssl/minica)
  --group GROUP          group of the key, which then gets mode 0640 (MINICA_KEY_GROUP)
  --check-command CMD    agent check_command (MINICA_CHECK_COMMAND)
  --reload-command CMD   agent reload_command (MINICA_RELOAD_COMMAND)
  --ca-url URL           remote mode: the CA's minica serve (MINICA_CA_URL)
  --fingerprint SHA256   remote mode: the CA root's SHA-256 (MINICA_CA_FINGERPRINT)
  --token-file FILE      remote mode: read the one-time token for the first
                         certificate from FILE, a regular file only its owner
                         may read (chmod 600), else refused (MINICA_TOKEN_FILE).
                         Preferred over --token
  --token TOKEN          remote mode: the token itself (MINICA_TOKEN); a command
                         line shows in ps and shell history, so prefer
                         --token-file. Either way the token is copied to
                         /etc/minica/NAME.token (mode 0600), the agent's
                         token_file, which the agent deletes once used
  --root DIR             prefix for every system path (/etc, /usr/local/share,
                         trust store), kept in the paths written to agent.conf
                         and the cron entry: for tests; to prepare an image,
                         run the script inside its chroot instead (MINICA_ROOT)
  --no-trust             do not add the root to the OS trust store
  --no-cron              do not install /etc/cron.d/minica-agent
  -h, --help             this text
USAGE
}

MINICA_BIN=${MINICA_BIN:-/usr/local/bin/minica}
STATE_DIR=${MINICA_STATE_DIR:-}
CA_NAME=${MINICA_CA_NAME:-minica}
CERT_NAME=${MINICA_CERT_NAME:-}
CERT_SANS=${MINICA_CERT_SANS:-}
CERT_USAGE=${MINICA_CERT_USAGE:-server}
CERT_TTL=${MINICA_CERT_TTL:-}
CERT_DIR=${MINICA_CERT_DIR:-}
KEY_GROUP=${MINICA_KEY_GROUP:-}
CHECK_COMMAND=${MINICA_CHECK_COMMAND:-}
RELOAD_COMMAND=${MINICA_RELOAD_COMMAND:-}
ROOT=${MINICA_ROOT:-}
CA_URL=${MINICA_CA_URL:-}
CA_FINGERPRINT=${MINICA_CA_FINGERPRINT:-}
TOKEN=${MINICA_TOKEN:-}
TOKEN_SRC=${MINICA_TOKEN_FILE:-}
TRUST=1
CRON=1

need() { [ $# -ge 2 ] || { echo "vm-firstboot: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case $1 in
    --minica) need "$@"; MINICA_BIN=$2; shift ;;
    --state-dir) need "$@"; STATE_DIR=$2; shift ;;
    --ca-name) need "$@"; CA_NAME=$2; shift ;;
    --name) need "$@"; CERT_NAME=$2; shift ;;
    --san) need "$@"; CERT_SANS=$2; shift ;;
    --usage) need "$@"; CERT_USAGE=$2; shift ;;
    --ttl) need "$@"; CERT_TTL=$2; shift ;;
    --cert-dir) need "$@"; CERT_DIR=$2; shift ;;
    --group) need "$@"; KEY_GROUP=$2; shift ;;
    --check-command) need "$@"; CHECK_COMMAND=$2; shift ;;
    --reload-command) need "$@"; RELOAD_COMMAND=$2; shift ;;
    --root) need "$@"; ROOT=$2; shift ;;
    --ca-url) need "$@"; CA_URL=$2; shift ;;
    --fingerprint) need "$@"; CA_FINGERPRINT=$2; shift ;;
    --token) need "$@"; TOKEN=$2; shift ;;
    --token-file) need "$@"; TOKEN_SRC=$2; shift ;;
    --no-trust) TRUST=0 ;;
    --no-cron) CRON=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "vm-firstboot: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

ROOT=${ROOT%/}
STATE_DIR=${STATE_DIR:-$ROOT/var/lib/minica}
CERT_DIR=${CERT_DIR:-$ROOT/etc/ssl/minica}
CONF=$ROOT/etc/minica/agent.conf
CRON_FILE=$ROOT/etc/cron.d/minica-agent
TRUST_DIR=$ROOT/usr/local/share/ca-certificates
if [ -z "$CERT_NAME" ]; then
    CERT_NAME=$(hostname -f 2>/dev/null || hostname)
fi

die() { echo "vm-firstboot: $*" >&2; exit 1; }
say() { echo "vm-firstboot: $*"; }

if [ -n "$TOKEN" ] && [ -n "$TOKEN_SRC" ]; then
    echo "vm-firstboot: --token and --token-file exclude each other" >&2
    exit 2
fi

[ -x "$MINICA_BIN" ] || die "$MINICA_BIN is not an executable (set --minica or MINICA_BIN)"
# cron runs the entry from /: a relative path must not reach it.
case $MINICA_BIN in
/*) ;;
*) MINICA_BIN=$(cd "$(dirname "$MINICA_BIN")" && pwd)/$(basename "$MINICA_BIN") ;;
esac
case $CERT_USAGE in server | client | both) ;; *) die "--usage must be server, client or both" ;; esac

# install_file SRC DEST MODE: replaces DEST (atomically) only when it differs.
install_file() {
    if [ -f "$2" ] && cmp -s "$1" "$2"; then
        rm -f "$1"
        return 1
    fi
    chmod "$3" "$1"
    mv -f "$1" "$2"
    return 0
}

# 1. The CA: adopt the one in STATE_DIR, or create it; remote: bootstrap its root.
ROOT_CRT=$STATE_DIR/root.crt
TOKEN_FILE=$ROOT/etc/minica/$CERT_NAME.token
if [ -n "$CA_URL" ]; then
    [ -n "$CA_FINGERPRINT" ] || die "--ca-url needs --fingerprint"
    ROOT_CRT=$ROOT/etc/minica/root.crt
    mkdir -p "$STATE_DIR" "$ROOT/etc/minica"
    chmod 0700 "$STATE_DIR"
    "$MINICA_BIN" bootstrap --ca-url "$CA_URL" --fingerprint "$CA_FINGERPRINT" \
        --out "$ROOT/etc/minica" >/dev/null || die "cannot bootstrap the root of $CA_URL"
    # The token only matters until the first certificate exists.
    if [ ! -f "${CERT_DIR}/$CERT_NAME.fullchain.crt" ]; then
        if [ -n "$TOKEN_SRC" ]; then
            # A bearer secret, judged like the agent judges token_file: a
            # copy of one others could read would hide that it leaked.
            if [ -L "$TOKEN_SRC" ] || [ ! -f "$TOKEN_SRC" ]; then
                die "token file $TOKEN_SRC is a symbolic link or not a regular file"
            fi
            case $(ls -ld -- "$TOKEN_SRC") in
            ????------*) ;;
            *) die "token file $TOKEN_SRC is accessible by others: chmod 600 $TOKEN_SRC" ;;
            esac
            TOKEN=$(cat -- "$TOKEN_SRC") || die "cannot read $TOKEN_SRC"
            [ -n "$TOKEN" ] || die "token file $TOKEN_SRC is empty"
        fi
        if [ -n "$TOKEN" ]; then
            # A fresh 0600 file renamed into place: writing into an existing
            # one would keep whatever mode it had. printf is a builtin: the
            # token never appears in a command line.
            tmp=$(mktemp "$ROOT/etc/minica/.token.XXXXXX")
            chmod 0600 "$tmp"
            printf '%s\n' "$TOKEN" >"$tmp"
            mv -f "$tmp" "$TOKEN_FILE"
        fi
    fi
elif [ -f "$STATE_DIR/root.crt" ] && [ -f "$STATE_DIR/intermediate.crt" ]; then
    :
else
    "$MINICA_BIN" init --dir "$STATE_DIR" --name "$CA_NAME" >/dev/null ||
        die "cannot create a CA in $STATE_DIR"
    say "created a CA in $STATE_DIR"
fi

# 2. The root in the OS trust store (Debian's update-ca-certificates).
if [ "$TRUST" = 1 ]; then
    mkdir -p "$TRUST_DIR"
    tmp=$(mktemp "$TRUST_DIR/.minica-root.XXXXXX")
    cp "$ROOT_CRT" "$tmp"
    if install_file "$tmp" "$TRUST_DIR/minica-root.crt" 0644; then
        if [ -n "$ROOT" ]; then
            mkdir -p "$ROOT/etc/ssl/certs" "$ROOT/usr/share/ca-certificates" \
                "$ROOT/etc/ca-certificates/update.d"
            [ -f "$ROOT/etc/ca-certificates.conf" ] || : >"$ROOT/etc/ca-certificates.conf"
            update-ca-certificates --certsconf "$ROOT/etc/ca-certificates.conf" \
                --certsdir "$ROOT/usr/share/ca-certificates" --localcertsdir "$TRUST_DIR" \
                --etccertsdir "$ROOT/etc/ssl/certs" --hooksdir "$ROOT/etc/ca-certificates/update.d" \
                >/dev/null || die "update-ca-certificates failed"
        else
            update-ca-certificates >/dev/null || die "update-ca-certificates failed"
        fi
        say "added the minica root to the OS trust store"
    fi
fi

# 3. agent.conf from the arguments.
mkdir -p "$(dirname "$CONF")" "$CERT_DIR"
chmod 0755 "$CERT_DIR"
tmp=$(mktemp "$(dirname "$CONF")/.agent.conf.XXXXXX")
{
    echo "# Written by vm-firstboot.sh; running it again with other options rewrites it."
    echo "[agent]"
    echo "state_dir = $STATE_DIR"
    if [ -n "$CA_URL" ]; then
        echo "ca_url = $CA_URL"
        echo "root = $ROOT_CRT"
    fi
    [ -n "$CHECK_COMMAND" ] && echo "check_command = $CHECK_COMMAND"
    [ -n "$RELOAD_COMMAND" ] && echo "reload_command = $RELOAD_COMMAND"
    echo
    echo "[cert $CERT_NAME]"
    [ -n "$CERT_SANS" ] && echo "sans = $CERT_NAME, $CERT_SANS"
    echo "usage = $CERT_USAGE"
    [ -n "$CERT_TTL" ] && echo "ttl = $CERT_TTL"
    echo "fullchain = $CERT_DIR/$CERT_NAME.fullchain.crt"
    echo "key = $CERT_DIR/$CERT_NAME.key"
    echo "ca = $CERT_DIR/ca.crt"
    [ -n "$CA_URL" ] && echo "token_file = $TOKEN_FILE"
    if [ -n "$KEY_GROUP" ]; then
        echo "group = $KEY_GROUP"
        echo "mode = 0640"
    fi
} >"$tmp"
if install_file "$tmp" "$CONF" 0644; then
    say "wrote $CONF"
fi

# 4. One agent run now (silent when the certificate is already good).
"$MINICA_BIN" agent --once --config "$CONF" || die "the first agent run failed"

# 5. The cron entry, with minica by its full path.
if [ "$CRON" = 1 ]; then
    mkdir -p "$(dirname "$CRON_FILE")"
    tmp=$(mktemp "$(dirname "$CRON_FILE")/.minica-agent.XXXXXX")
    cat >"$tmp" <<CRONTAB
# Installed by vm-firstboot.sh: renew minica certificates every 15 minutes.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
*/15 * * * * root $MINICA_BIN agent --once --jitter 5m --config $CONF
CRONTAB
    if install_file "$tmp" "$CRON_FILE" 0644; then
        say "installed $CRON_FILE"
    fi
fi
exit 0
