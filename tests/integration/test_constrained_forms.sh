# A name-constrained intermediate constrains both name forms (issue 13,
# item 4): what init writes must stop a stolen intermediate key from minting
# a certificate that any of the five verifiers accepts for a name form the
# operator never allowed, and leave what minica itself issues verifiable by
# all five. The leaves "a thief" signs are made with openssl and the
# intermediate's key, so minica's own issuance checks play no part.
source "$SRCDIR/tests/integration/lib/common.sh"
source "$SRCDIR/tests/integration/lib/verifiers.sh"
source "$SRCDIR/tests/integration/lib/ncchains.sh"

# forge CA OUT SAN...: a leaf with an empty subject under CA's intermediate.
forge() {
    local ca=$1 out=$2
    shift 2
    nc_leaf "$ca/intermediate.crt" "$ca/intermediate.key" "$out" "" "$@" || fail "forge $out"
}

# --permit-dns only: every IP address is excluded.
DNS=$T/dnsca
run "$MINICA" init --dir "$DNS" --permit-dns internal.svc
expect_ok "init --permit-dns only"
forge "$DNS" "$T/dns-name.pem" DNS:a.internal.svc
check_chain "$DNS/root.crt" "$DNS/intermediate.crt" "$T/dns-name.pem" accept \
    "a forged leaf for a permitted name (control)"
forge "$DNS" "$T/dns-ip4.pem" IP:192.168.7.7
check_chain "$DNS/root.crt" "$DNS/intermediate.crt" "$T/dns-ip4.pem" reject \
    "a forged IPv4 leaf under --permit-dns only"
forge "$DNS" "$T/dns-ip6.pem" IP:fd00::7
check_chain "$DNS/root.crt" "$DNS/intermediate.crt" "$T/dns-ip6.pem" reject \
    "a forged IPv6 leaf under --permit-dns only"
run "$MINICA" issue a.internal.svc --dir "$DNS" --out "$T/dnsout"
expect_ok "issue a permitted name under --permit-dns only"
check_chain "$DNS/root.crt" "$DNS/intermediate.crt" "$T/dnsout/a.internal.svc.crt" accept \
    "minica's leaf under --permit-dns only"
run "$MINICA" issue 192.168.7.7 --dir "$DNS" --out "$T/dnsout"
check_not "issue refuses an IP address under --permit-dns only" test "$RC" -eq 0

# --permit-ip only: every DNS name is excluded.
IP=$T/ipca
run "$MINICA" init --dir "$IP" --permit-ip 10.0.0.0/8
expect_ok "init --permit-ip only"
forge "$IP" "$T/ip-addr.pem" IP:10.1.2.3
check_chain "$IP/root.crt" "$IP/intermediate.crt" "$T/ip-addr.pem" accept \
    "a forged leaf for a permitted address (control)"
forge "$IP" "$T/ip-name.pem" DNS:a.example
check_chain "$IP/root.crt" "$IP/intermediate.crt" "$T/ip-name.pem" reject \
    "a forged DNS leaf under --permit-ip only"
forge "$IP" "$T/ip-both.pem" IP:10.1.2.3 DNS:a.example
check_chain "$IP/root.crt" "$IP/intermediate.crt" "$T/ip-both.pem" reject \
    "a forged leaf with a permitted address and a DNS name under --permit-ip only"
# OpenSSL and GnuTLS check a CN=10.1.2.3 against the DNS exclusion: this
# is what keeps minica's IP-only leaves to a subject they accept.
run "$MINICA" issue 10.1.2.3 --dir "$IP" --out "$T/ipout"
expect_ok "issue a permitted address under --permit-ip only"
check_chain "$IP/root.crt" "$IP/intermediate.crt" "$T/ipout/10.1.2.3.crt" accept \
    "minica's IP-only leaf under --permit-ip only"
run "$MINICA" issue a.example --dir "$IP" --out "$T/ipout"
check_not "issue refuses a DNS name under --permit-ip only" test "$RC" -eq 0

# Both options: each form is confined to what was permitted.
BOTH=$T/bothca
run "$MINICA" init --dir "$BOTH" --permit-dns internal.svc --permit-ip 127.0.0.0/8
expect_ok "init --permit-dns and --permit-ip"
forge "$BOTH" "$T/both-ip.pem" IP:192.168.7.7
check_chain "$BOTH/root.crt" "$BOTH/intermediate.crt" "$T/both-ip.pem" reject \
    "a forged leaf for an address outside --permit-ip"
forge "$BOTH" "$T/both-name.pem" DNS:a.example
check_chain "$BOTH/root.crt" "$BOTH/intermediate.crt" "$T/both-name.pem" reject \
    "a forged leaf for a name outside --permit-dns"
run "$MINICA" issue up.internal.svc --san 127.0.0.1 --dir "$BOTH" --out "$T/bothout"
expect_ok "issue a name and an address under both options"
check_chain "$BOTH/root.crt" "$BOTH/intermediate.crt" "$T/bothout/up.internal.svc.crt" accept \
    "minica's leaf with both forms"
run "$MINICA" issue 127.0.0.2 --dir "$BOTH" --out "$T/bothout"
expect_ok "issue an IP-only leaf under both options"
check_chain "$BOTH/root.crt" "$BOTH/intermediate.crt" "$T/bothout/127.0.0.2.crt" accept \
    "minica's IP-only leaf under both options"

done_testing
