# The nameConstraints encodings a constrained intermediate needs, checked
# with the five verifiers minica's users run (OpenSSL, GnuTLS, NSS, Go,
# Java) on chains made with openssl alone. This pins down what each one does
# before minica writes it, and checks the harness itself: every rejection
# below has a control that the same leaf verifies without the constraint.
# Tests of minica's own chains reuse check_chain (lib/verifiers.sh) and
# nc_leaf (lib/ncchains.sh) to mint what a stolen intermediate key could.
source "$SRCDIR/tests/integration/lib/common.sh"
source "$SRCDIR/tests/integration/lib/verifiers.sh"
source "$SRCDIR/tests/integration/lib/ncchains.sh"

C=$T/chains
nc_root "$C" || fail "make the root"
ROOT=$C/root.pem
IP10=$(nc_ip 0a000000 ff000000)

# leaf CA NAME SUBJECT SAN...: $C/NAME.pem under the intermediate $C/CA.pem.
leaf() { nc_leaf "$C/$1.pem" "$C/$1.key" "$C/$2.pem" "${@:3}" || fail "make leaf $2"; }

# A DNS-constrained intermediate: permitted dNSName, and every IPv4 and IPv6
# address excluded, as the CA/Browser Forum's baseline requirements
# (7.1.2.5.2) spell "may not issue for any IP address". Without the
# exclusion, RFC 5280 4.2.1.10 leaves the iPAddress form unconstrained.
nc_intermediate "$C" dns "$(nc_constraints "$(nc_dns internal.svc)" "$NC_IP4_ALL$NC_IP6_ALL")" ||
    fail "make the DNS-constrained intermediate"
leaf dns dns-name "" DNS:a.internal.svc
leaf dns dns-ip4 "" IP:192.168.7.7
leaf dns dns-ip6 "" IP:fd00::7
leaf dns dns-both "" DNS:a.internal.svc IP:192.168.7.7
check_chain "$ROOT" "$C/dns.pem" "$C/dns-name.pem" accept "a permitted DNS name"
check_chain "$ROOT" "$C/dns.pem" "$C/dns-ip4.pem" reject "an IPv4 address excluded by 0.0.0.0/0"
check_chain "$ROOT" "$C/dns.pem" "$C/dns-ip6.pem" reject "an IPv6 address excluded by ::/0"
check_chain "$ROOT" "$C/dns.pem" "$C/dns-both.pem" reject "a permitted DNS name beside an excluded IP"

# Control: permitted dNSName alone (what init --permit-dns wrote before).
nc_intermediate "$C" dnsopen "$(nc_constraints "$(nc_dns internal.svc)" "")" ||
    fail "make the DNS-only intermediate"
leaf dnsopen dnsopen-ip4 "" IP:192.168.7.7
check_chain "$ROOT" "$C/dnsopen.pem" "$C/dnsopen-ip4.pem" accept \
    "any IP address under a permitted dNSName alone"

# An IP-constrained intermediate: permitted iPAddress, and every DNS name
# excluded by a zero-length dNSName (baseline requirements 7.1.2.5.2 again).
# All five reject a DNS name under it. Java 17 does so by accident: its
# DNSName.constrains throws StringIndexOutOfBoundsException on the empty
# name, CertPathValidator passes it on, and a JSSE handshake fails with
# SSLException. "." is no alternative: OpenSSL and NSS ignore it, and
# GnuTLS then rejects every leaf, IP-only ones included.
nc_intermediate "$C" ip "$(nc_constraints "$IP10" "$(nc_dns '')")" ||
    fail "make the IP-constrained intermediate"
leaf ip ip-addr "" IP:10.1.2.3
leaf ip ip-name "" DNS:a.example
leaf ip ip-both "" IP:10.1.2.3 DNS:a.example
check_chain "$ROOT" "$C/ip.pem" "$C/ip-addr.pem" accept "a permitted IP address"
check_chain "$ROOT" "$C/ip.pem" "$C/ip-name.pem" reject "a DNS name excluded by the zero-length dNSName"
check_chain "$ROOT" "$C/ip.pem" "$C/ip-both.pem" reject "a permitted IP beside an excluded DNS name"

# Once any dNSName constraint is present, OpenSSL and GnuTLS check a CN
# that looks like a name against it when the SAN has no DNS entry:
# CN=10.1.2.3 then falls to the exclusion, while NSS, Go and Java look at
# the SAN only. An IP-only leaf under such an intermediate needs a subject
# without the address in CN (empty, with a critical SAN).
leaf ip ip-cn /CN=10.1.2.3 IP:10.1.2.3
VERIFIERS="openssl gnutls" check_chain "$ROOT" "$C/ip.pem" "$C/ip-cn.pem" reject \
    "an IP-only leaf with CN=10.1.2.3 under a DNS exclusion"
VERIFIERS="nss nss_pkix go java" check_chain "$ROOT" "$C/ip.pem" "$C/ip-cn.pem" accept \
    "an IP-only leaf with CN=10.1.2.3 under a DNS exclusion"

# Controls: permitted iPAddress alone (what init --permit-ip wrote before),
# and "." in place of the zero-length name.
nc_intermediate "$C" ipopen "$(nc_constraints "$IP10" "")" || fail "make the IP-only intermediate"
leaf ipopen ipopen-name "" DNS:a.example
check_chain "$ROOT" "$C/ipopen.pem" "$C/ipopen-name.pem" accept \
    "any DNS name under a permitted iPAddress alone"
nc_intermediate "$C" ipdot "$(nc_constraints "$IP10" "$(nc_dns .)")" || fail "make the '.' intermediate"
leaf ipdot ipdot-name "" DNS:a.example
VERIFIERS="openssl nss" check_chain "$ROOT" "$C/ipdot.pem" "$C/ipdot-name.pem" accept \
    "a DNS name under an excluded '.'"

done_testing
