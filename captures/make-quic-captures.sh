#!/usr/bin/env bash
# make-quic-captures.sh — the QUIC part of the capture corpus: real QUIC connections between aioquic peers
# (tools/bhquic.py, HTTP/0.9 over QUIC, ALPN hq-interop) in two network namespaces this script creates
# (bh-quic-cli, bh-quic-srv) and deletes again on exit, captured on the server's veth.
#
#   sudo bash captures/make-quic-captures.sh     (make-captures.sh runs it last)
#
# Address plan (nothing else is ever used): 198.19.61.0/24, veth bhq-cli <-> bhq-srv, client .1, server .2.
# Every capture holds exactly one UDP flow (client ephemeral port -> server 4433, 4434 or 4435).
#
# Requirements (Debian 12): iproute2 tcpdump openssl python3 ethtool, and aioquic from PyPI
# (python3 -m pip install aioquic).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
TOOLS=$HERE/tools
PY=$(command -v python3)
# shellcheck source=tools/netns-helpers.sh
source "$TOOLS/netns-helpers.sh"   # ns_delete cleanup_on_exit inc ins lab_pki veth_link cap_on cap_stop wait_for wait_pid

NS_C=bh-quic-cli
NS_S=bh-quic-srv
CLIENT=198.19.61.1
SERVER=198.19.61.2

log() { printf '[make-quic-captures] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (sudo bash $0)"
for t in ip ethtool tcpdump openssl ss "$PY"; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool: $t"
done
"$PY" -c 'import aioquic' 2>/dev/null || die "aioquic missing: python3 -m pip install aioquic"

take_lock make-quic-captures

WORK=$(mktemp -d /tmp/bh-quic.XXXXXX)

teardown() { ns_delete "$NS_C" "$NS_S"; }
cleanup_on_exit

teardown   # leftovers of an interrupted earlier run (only our own bh-quic-* namespaces)

CAP_PID=
CAP_FILE=
# cap_start FILE PORT — tcpdump on the server's veth, classic pcap, the server's UDP port only
cap_start() { cap_on "$NS_S" bhq-srv "$1" udp port "$2"; }

lab_pki "DNS:server.test,IP:$SERVER"

log "creating namespaces $NS_C, $NS_S"
ns_create "$NS_C" "$NS_S"
veth_link "$NS_C" bhq-cli "$CLIENT/24" "$NS_S" bhq-srv "$SERVER/24"
mkdir -p "$OUT/keys"

# quic_pair FILE PORT EXPECT "server options" "client options" — one connection, captured; EXPECT is the client's
# exit code (0: answered, 3: refused). The client's key log goes to keys/NAME.keys.
quic_pair() {
    local file=$1 port=$2 expect=$3 sopts=$4 copts=$5 name=${1%%.*} rc=0
    log "$file"
    rm -f "$OUT/keys/$name.keys"
    cap_start "$file" "$port"
    # shellcheck disable=SC2086
    ins "$PY" "$TOOLS/bhquic.py" server --listen "$SERVER" --port "$port" --cert "$PKI/server.pem" \
        --key "$PKI/server.key" $sopts >"$WORK/server.$name.log" 2>&1 &
    local srv=$!
    wait_for 10 udp_listening "$NS_S" "$port" || die "$file: the QUIC server did not come up"
    # shellcheck disable=SC2086
    inc "$PY" "$TOOLS/bhquic.py" client --connect "$SERVER" --port "$port" --server-name server.test \
        --cafile "$PKI/ca.pem" --keylog "$OUT/keys/$name.keys" $copts >"$WORK/client.$name.log" 2>&1 || rc=$?
    [[ $rc -eq $expect ]] || die "$file: the client exited $rc, expected $expect (see $(cat "$WORK/client.$name.log"))"
    wait_pid "$srv" 35
    cap_stop 0.5
}
CLIENT_CERT="--cert $PKI/client.pem --key $PKI/client.key"

quic_pair quic-server-auth.pcap 4433 0 "" ""
quic_pair quic-mutual.pcap 4434 0 "--request-client-cert" "$CLIENT_CERT"
quic_pair quic-client-cert-declined.pcap 4433 0 "--request-client-cert" ""
quic_pair quic-v2-retry.pcap 4434 0 "--version 2 --retry" "--version 2"
quic_pair quic-alpn-refused.pcap 4433 3 "--alpn h3" ""
quic_pair quic-client-cert-required-rejected.pcap 4434 3 "--require-client-cert" ""
# Six requests on one mutually authenticated connection: 1-RTT packets each way after the handshake, which
# make-midstream-captures.sh cuts midstream-quic.pcap from (a connection the capture joined after its handshake).
quic_pair quic-mutual-requests.pcap 4435 0 "--request-client-cert" "$CLIENT_CERT --requests 6"

# a connection refused before the handshake secrets were made logs none
for keys in "$OUT"/keys/quic-*.keys; do [[ -s $keys ]] || rm -f "$keys"; done
chmod 644 "$OUT"/quic-*.pcap "$OUT"/keys/quic-*.keys
log "done"
