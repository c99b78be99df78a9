#!/usr/bin/env bash
# make-encap-captures.sh — the overlay part of the capture corpus: real traffic
# inside VXLAN, Geneve, keyed gretap and IP-in-IP tunnels, captured on the
# UNDERLAY veth between two network namespaces this script creates
# (bh-encap-cli, bh-encap-srv) and deletes again on exit.
#
#   sudo bash captures/make-encap-captures.sh     (make-captures.sh runs it last)
#
# Address plan (nothing else is ever used; all of it below 198.19.200.0):
#   198.19.40.0/24  underlay veth bhe-u-cli <-> bhe-u-srv   client host .1, server host .2
#   198.19.41.0/24  VXLAN VNI 42 (kernel device bhe-vx42, UDP 4789)
#   198.19.42.0/24  Geneve VNI 4242 (tap bhe-gnv, user-space endpoint, UDP 6081)
#   198.19.43.0/24  gretap, GRE key 77 (tap bhe-gre, user-space endpoint, IP protocol 47)
#   198.19.44.0/24  ipip (tun bhe-ipip, user-space endpoint, IP protocol 4)
#   198.19.46.0/24  WireGuard (wireguard-go on tun devices bhe-wg-c / bhe-wg-s, UDP 51820), made last
#   198.19.45.0/24  TWICE: VXLAN VNI 142 and VNI 143, the same inner addresses in both (kernel devices made in
#                   the underlay namespaces, then moved into overlay namespaces bh-encap-{cli,srv}-{a,b}, the
#                   way Docker's overlay driver does it: their UDP sockets stay on the underlay)
#   inner addresses: client .1, server .2 in each
#
# The kernel this corpus was made on has CONFIG_VXLAN but none of CONFIG_GENEVE,
# CONFIG_NET_IPGRE_DEMUX, CONFIG_NET_IPIP, CONFIG_IPV6_SIT (and no modules): the
# VXLAN tunnel is the kernel's own device; Geneve, gretap and ipip are done by
# tools/bhtunnel.py on tap/tun devices (see there and README.md). ERSPAN needs
# CONFIG_NET_IPGRE as well and is tested on assembled bytes only.
#
# Requirements (Debian 12): iproute2 tcpdump openssl curl python3 ethtool wireguard-go wireguard-tools
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
TOOLS=$HERE/tools
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
# shellcheck source=tools/netns-helpers.sh
source "$TOOLS/netns-helpers.sh"   # ns_exists ns_kill_all wait_for wait_pid cap_stop no_offload

NS_C=bh-encap-cli
NS_S=bh-encap-srv
# Two overlay networks that reuse one inner subnet (VNI 142 and 143), each in namespaces of its own on both hosts
OVERLAY_NS=(bh-encap-cli-a bh-encap-cli-b bh-encap-srv-a bh-encap-srv-b)
UNDER_C=198.19.40.1
UNDER_S=198.19.40.2

# Throwaway secrets: they only cross our own namespaces and never reach the expected files.
HTTP_USER=alice
HTTP_PASS='Overlay-Sesame-42'

log() { printf '[make-encap-captures] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (sudo bash $0)"
for t in ip ethtool tcpdump openssl curl ss "$PY" wireguard-go wg; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool: $t"
done
[[ -c /dev/net/tun ]] || die "/dev/net/tun missing (needed for the user-space tunnel endpoints)"

take_lock make-encap-captures

WORK=$(mktemp -d /tmp/bh-encap.XXXXXX)

# ------------------------------------------------------------------ cleanup
teardown() {
    ns_delete "${OVERLAY_NS[@]}" "$NS_C" "$NS_S"
    # wireguard-go's control sockets are not per namespace
    rm -f /var/run/wireguard/bhe-wg-c.sock /var/run/wireguard/bhe-wg-s.sock
}
cleanup_on_exit

teardown   # leftovers of an interrupted earlier run (only our own bh-encap-* namespaces)

# ------------------------------------------------------------------ helpers
tcp_listening() { [[ -n $(ip netns exec "$NS_S" ss -Hltn "src $1 and sport = :$2" 2>/dev/null) ]]; }
wait_tcp() { wait_for 10 tcp_listening "$1" "$2" || die "server on $1:$2 did not come up"; }
CAP_PID=
CAP_FILE=
# cap_start FILE FILTER...  — tcpdump on the server's UNDERLAY veth, classic pcap
cap_start() { cap_on "$NS_S" bhe-u-srv "$@"; }

# ------------------------------------------------------------------ test PKI (same names as make-captures.sh)
lab_pki "DNS:server.test"
NOCA=(-no-CAfile -no-CApath -no-CAstore)

# ------------------------------------------------------------------ namespaces, underlay, tunnels
log "creating namespaces $NS_C, $NS_S"
ns_create "$NS_C" "$NS_S"
veth_link "$NS_C" bhe-u-cli "$UNDER_C/24" "$NS_S" bhe-u-srv "$UNDER_S/24"

# tunnel_side NS DEVICE INNER_ADDRESS  — address the device, bring it up, no offloads
tunnel_side() {
    ip -n "$1" addr add "$3/24" dev "$2"
    ip -n "$1" link set "$2" up
    no_offload "$1" "$2"
}

# VXLAN VNI 42: the kernel's device, unicast to the other host, standard port
for side in "$NS_C $UNDER_C $UNDER_S 198.19.41.1" "$NS_S $UNDER_S $UNDER_C 198.19.41.2"; do
    set -- $side
    ip -n "$1" link add bhe-vx42 type vxlan id 42 local "$2" remote "$3" dstport 4789 dev "${1/bh-encap-/bhe-u-}" nolearning
    tunnel_side "$1" bhe-vx42 "$4"
done
set --

# Geneve VNI 4242, gretap key 77, ipip: user-space endpoints (tools/bhtunnel.py) on tap/tun devices
for spec in "geneve bhe-gnv 4242 198.19.42" "gretap bhe-gre 77 198.19.43" "ipip bhe-ipip 0 198.19.44"; do
    set -- $spec
    kind=$1 dev=$2 id=$3 net=$4
    for side in "$NS_C $UNDER_C $UNDER_S 1" "$NS_S $UNDER_S $UNDER_C 2"; do
        set -- $side
        ip netns exec "$1" "$PY" "$TOOLS/bhtunnel.py" tunnel "$kind" "$dev" "$2" "$3" "$id" >"$WORK/$dev-$4.log" 2>&1 &
        wait_for 10 ip -n "$1" link show "$dev" || die "$kind endpoint $dev did not start: $(cat "$WORK/$dev-$4.log")"
        # room for the outer headers inside the underlay's 1500 bytes
        ip -n "$1" link set "$dev" mtu 1400
        tunnel_side "$1" "$dev" "$net.$4"
    done
done
set --

# VNI 142 and 143: one inner subnet, 198.19.45.0/24, in two overlays (side a: 142, side b: 143)
for side in "$NS_C $UNDER_C $UNDER_S 1 cli" "$NS_S $UNDER_S $UNDER_C 2 srv"; do
    set -- $side
    for overlay in "a 142" "b 143"; do
        read -r letter vni <<<"$overlay"
        ns=bh-encap-$5-$letter
        ip netns add "$ns"
        for kv in default.disable_ipv6=1 all.disable_ipv6=1; do ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$kv"; done
        ip -n "$ns" link set lo up
        ip -n "$1" link add "bhe-vx$vni" type vxlan id "$vni" local "$2" remote "$3" dstport 4789 dev "bhe-u-$5" nolearning
        ip -n "$1" link set "bhe-vx$vni" netns "$ns"
        tunnel_side "$ns" "bhe-vx$vni" "198.19.45.$4"
    done
done
set --

# Warm ARP (underlay and every overlay) so the captures start clean; then check every tunnel carries traffic.
# A connection to a closed port is refused (curl exit 7) only when the SYN and the RST crossed the tunnel.
for net in 198.19.41 198.19.42 198.19.43 198.19.44; do
    rc=0; inc curl -s -o /dev/null --max-time 3 "http://$net.2:1/" || rc=$?
    [[ $rc -eq 7 ]] || die "no traffic through the tunnel to $net.2 (curl exit $rc)"
done
for letter in a b; do
    rc=0; ip netns exec "bh-encap-cli-$letter" curl -s -o /dev/null --max-time 3 "http://198.19.45.2:1/" || rc=$?
    [[ $rc -eq 7 ]] || die "no traffic through overlay $letter to 198.19.45.2 (curl exit $rc)"
done
log "all six tunnels carry traffic"

# ------------------------------------------------------------------ servers
ins "$PY" "$TOOLS/bhtunnel.py" basic-auth-server 198.19.41.2 8080 "$HTTP_USER" "$HTTP_PASS" &
wait_tcp 198.19.41.2 8080
mkdir -p "$WORK/www"
printf '<!doctype html><title>Bulkhead</title><p>Bulkhead overlay test server</p>\n' > "$WORK/www/index.html"
ins "$PY" -m http.server --bind 198.19.44.2 8080 --directory "$WORK/www" >/dev/null 2>&1 &
wait_tcp 198.19.44.2 8080

# tls_pair FILE ADDRESS PORT "s_server options" "s_client options" FILTER  — one-shot s_server, one line each way
tls_pair() {
    local file=$1 address=$2 port=$3 sopts=$4 copts=$5 filter=$6 name=${1%%.*}
    log "$file"
    cap_start "$file" $filter
    # shellcheck disable=SC2086
    ip netns exec "$NS_S" openssl s_server -accept "$address:$port" -cert "$PKI/server.pem" -key "$PKI/server.key" \
        "${NOCA[@]}" -verifyCAfile "$PKI/ca.pem" -naccept 1 -rev $sopts >"$WORK/s_server.$name.log" 2>&1 </dev/null &
    local srv=$!
    wait_tcp "$address" "$port"
    # shellcheck disable=SC2086
    { printf 'hello bulkhead\n'; sleep 0.6; } |
        inc openssl s_client -connect "$address:$port" "${NOCA[@]}" -verifyCAfile "$PKI/ca.pem" -verify_return_error \
            $copts >"$WORK/s_client.$name.log" 2>&1 || true
    wait_pid "$srv" 5
    grep -q 'Verify return code: 0' "$WORK/s_client.$name.log" || die "$file: the TLS handshake failed (see $WORK/s_client.$name.log)"
    log "  s_client: $(grep -m1 -E '^ *Protocol *:' "$WORK/s_client.$name.log" | awk '{print $3}') $(grep -m1 -E '^ *Cipher *:' "$WORK/s_client.$name.log" | awk '{print $3}')"
    cap_stop
}
CLIENT_CERT="-cert $PKI/client.pem -key $PKI/client.key"

# ------------------------------------------------------------------ captures
log "vxlan-http-basic-auth.pcap"
cap_start vxlan-http-basic-auth.pcap udp port 4789
inc curl -sS -o /dev/null -u "$HTTP_USER:$HTTP_PASS" "http://198.19.41.2:8080/private/"
cap_stop

tls_pair geneve-tls12-mutual.pcap 198.19.42.2 9000 \
    "-tls1_2 -Verify 1 -verify_return_error -cipher ECDHE-RSA-AES128-GCM-SHA256" \
    "-tls1_2 -servername server.test $CLIENT_CERT" "udp port 6081"

tls_pair gretap-key-tls13-mutual.pcap 198.19.43.2 9443 \
    "-tls1_3 -Verify 1 -verify_return_error" \
    "-tls1_3 -servername server.test $CLIENT_CERT" "ip proto 47"

log "ipip-http.pcap"
cap_start ipip-http.pcap ip proto 4
inc curl -sS -o /dev/null "http://198.19.44.2:8080/index.html"
cap_stop

# The same inner 5-tuple in two VNIs: curl from the same source port to the same server in each overlay
log "vxlan-two-vnis-same-addresses.pcap"
mkdir -p "$WORK/www-a" "$WORK/www-b"
printf 'overlay a (VNI 142)\n' > "$WORK/www-a/index.html"
printf 'overlay b (VNI 143)\n' > "$WORK/www-b/index.html"
for letter in a b; do
    ip netns exec "bh-encap-srv-$letter" "$PY" -m http.server --bind 198.19.45.2 8080 --directory "$WORK/www-$letter" >/dev/null 2>&1 &
    wait_for 10 bash -c "[[ -n \$(ip netns exec bh-encap-srv-$letter ss -Hltn 'sport = :8080') ]]" || die "server in overlay $letter did not come up"
done
cap_start vxlan-two-vnis-same-addresses.pcap udp port 4789
for letter in a b; do
    ip netns exec "bh-encap-cli-$letter" curl -sS -o /dev/null --local-port 40045 "http://198.19.45.2:8080/index.html"
done
cap_stop

# WireGuard, as Kubernetes CNIs encrypt node-to-node traffic (Calico, Cilium, Flannel's wireguard backend): made
# last, so that its capture starts before the tunnel's first handshake. This kernel has no CONFIG_WIREGUARD:
# wireguard-go runs the tunnel on a tun device in each host namespace, bhe-wg-c / bhe-wg-s (names unique on the host:
# its control sockets in /var/run/wireguard are not per namespace), inner 198.19.46.0/24, UDP 51820 on the underlay.
log "wireguard-http.pcap"
for side in c s; do
    (umask 077 && wg genkey > "$WORK/wg-$side.key")
    wg pubkey < "$WORK/wg-$side.key" > "$WORK/wg-$side.pub"
done
ip netns exec "$NS_C" wireguard-go bhe-wg-c >/dev/null 2>&1 || die "wireguard-go did not start in $NS_C"
ip netns exec "$NS_S" wireguard-go bhe-wg-s >/dev/null 2>&1 || die "wireguard-go did not start in $NS_S"
inc wg set bhe-wg-c private-key "$WORK/wg-c.key" listen-port 51820 \
    peer "$(cat "$WORK/wg-s.pub")" endpoint "$UNDER_S:51820" allowed-ips 198.19.46.2/32
ins wg set bhe-wg-s private-key "$WORK/wg-s.key" listen-port 51820 \
    peer "$(cat "$WORK/wg-c.pub")" endpoint "$UNDER_C:51820" allowed-ips 198.19.46.1/32
tunnel_side "$NS_C" bhe-wg-c 198.19.46.1
tunnel_side "$NS_S" bhe-wg-s 198.19.46.2
ins "$PY" -m http.server --bind 198.19.46.2 8080 --directory "$WORK/www" >/dev/null 2>&1 &
wait_tcp 198.19.46.2 8080
cap_start wireguard-http.pcap udp port 51820
inc curl -sS -o /dev/null --max-time 5 "http://198.19.46.2:8080/index.html"
cap_stop

chmod 644 "$OUT"/vxlan-*.pcap "$OUT"/geneve-*.pcap "$OUT"/gretap-*.pcap "$OUT"/ipip-*.pcap "$OUT"/wireguard-*.pcap
log "done"
