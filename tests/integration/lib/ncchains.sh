# Reference chains made with openssl alone (bash, sourced after common.sh):
# a root, intermediates whose nameConstraints are written byte by byte, and
# leaves under them. They show what each verifier does with an encoding
# before minica writes it, and keep the verifier harness honest without
# depending on minica. EC P-256 throughout, as minica's own.

# nc_der TAG HEX: one DER TLV (short or one-byte long form; enough here).
nc_der() {
    local len=$((${#2} / 2))
    if [ "$len" -lt 128 ]; then
        printf '%s%02x%s' "$1" "$len" "$2"
    else
        printf '%s81%02x%s' "$1" "$len" "$2"
    fi
}
_nc_hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# GeneralSubtree for a dNSName ([2] IA5String; "" is the zero-length one).
nc_dns() { nc_der 30 "$(nc_der 82 "$(_nc_hex "$1")")"; }
# GeneralSubtree for an iPAddress ([7] OCTET STRING): address then mask, hex.
nc_ip() { nc_der 30 "$(nc_der 87 "$1$2")"; }
NC_IP4_ALL=$(nc_ip 00000000 00000000)
NC_IP6_ALL=$(nc_ip "$(printf '0%.0s' {1..32})" "$(printf '0%.0s' {1..32})")

# nc_constraints PERMITTED EXCLUDED: the NameConstraints value, each argument
# the concatenated GeneralSubtrees (empty: that list is left out).
nc_constraints() {
    local body=
    [ -n "$1" ] && body+=$(nc_der a0 "$1")
    [ -n "$2" ] && body+=$(nc_der a1 "$2")
    nc_der 30 "$body"
}

_nc_key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }

# nc_root DIR: DIR/root.pem and DIR/root.key.
nc_root() {
    mkdir -p "$1"
    _nc_key "$1/root.key"
    openssl req -new -x509 -key "$1/root.key" -subj "/CN=Test Root" -days 30 \
        -addext "basicConstraints=critical,CA:true" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" -out "$1/root.pem" 2>/dev/null
}

# nc_intermediate DIR NAME NC_HEX: DIR/NAME.pem (and .key) under DIR/root,
# with NC_HEX (from nc_constraints) as its critical nameConstraints.
nc_intermediate() {
    local dir=$1 name=$2
    _nc_key "$dir/$name.key"
    cat >"$dir/$name.ext" <<EXT
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
nameConstraints = critical, DER:$3
EXT
    openssl req -new -key "$dir/$name.key" -subj "/CN=Test Intermediate $name" 2>/dev/null |
        openssl x509 -req -CA "$dir/root.pem" -CAkey "$dir/root.key" -days 20 \
            -set_serial "0x$(openssl rand -hex 8)" -extfile "$dir/$name.ext" \
            -out "$dir/$name.pem" 2>/dev/null
}

# nc_leaf CA_CERT CA_KEY OUT SUBJECT SAN...: a leaf signed by CA_CERT's key,
# written to OUT (its key beside it, OUT.key). Any CA: one of these chains,
# or a minica state directory's intermediate, as whoever stole its key would.
# SUBJECT "" gives an empty subject and a critical SAN (RFC 5280 4.2.1.6);
# otherwise it is the -subj string ("/CN=a.example"). SAN entries as
# openssl writes them: DNS:a.example, IP:10.1.2.3.
nc_leaf() {
    local ca=$1 cakey=$2 out=$3 subject=$4 crit=
    shift 4
    [ -z "$subject" ] && subject=/ crit="critical, "
    _nc_key "$out.key"
    cat >"$out.ext" <<EXT
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = $crit$(IFS=,; echo "$*")
EXT
    openssl req -new -key "$out.key" -subj "$subject" 2>/dev/null |
        openssl x509 -req -CA "$ca" -CAkey "$cakey" -days 10 \
            -set_serial "0x$(openssl rand -hex 8)" -extfile "$out.ext" -out "$out" 2>/dev/null
}
