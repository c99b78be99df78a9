#!/usr/bin/env bash
# make-midstream-captures.sh — captures of connections that were open before the capture began (a database pool's, a
# broker's), cut from the corpus's own real captures: `editcap -r SOURCE FIRST-LAST` keeps exactly the packets a
# tcpdump started at packet FIRST would have recorded (no SYN, no opening message).
#
#   bash captures/make-midstream-captures.sh     (make-captures.sh runs it last; no root needed)
#
# Requirements: editcap (wireshark-common), tshark (to count the packets).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for tool in editcap tshark; do
    command -v "$tool" >/dev/null 2>&1 || { echo "[make-midstream-captures] missing tool: $tool" >&2; exit 1; }
done

# cut NAME SOURCE FIRST — midstream-NAME.pcap: SOURCE.pcap from packet FIRST to its end
cut() {  # cut NAME SOURCE FIRST [LAST]: packets FIRST to LAST (default: the last) of SOURCE.pcap
    local name=$1 source=$HERE/$2.pcap first=$3 last=${4:-}
    [[ -n $last ]] || last=$(tshark -r "$source" 2>/dev/null | wc -l)
    editcap -F pcap -r "$source" "$HERE/midstream-$name.pcap" "$first-$last"
    echo "[make-midstream-captures]   wrote midstream-$name.pcap (packets $first-$last of $2.pcap)" >&2
}

# cut_stream NAME SOURCE PORT FILTER: the one connection whose packets match FILTER (read as HTTP/2 on PORT), from
# the packet after the one holding its client preface on: packet numbers differ from run to run where a source
# holds several connections, so the connection is found by what it carries.
cut_stream() {
    local name=$1 source=$HERE/$2.pcap decode=(-d "tcp.port==$3,http2") stream preface
    stream=$(tshark -r "$source" "${decode[@]}" -Y "$4" -T fields -e tcp.stream 2>/dev/null | head -n1)
    [[ -n $stream ]] || { echo "[make-midstream-captures] no connection of $2.pcap matches $4" >&2; exit 1; }
    preface=$(tshark -r "$source" "${decode[@]}" -Y "tcp.stream == $stream && http2.magic" -T fields -e frame.number \
        2>/dev/null | head -n1)
    tshark -r "$source" "${decode[@]}" -Y "tcp.stream == $stream && frame.number > ${preface:-0}" -F pcap \
        -w "$HERE/midstream-$name.pcap" 2>/dev/null
    echo "[make-midstream-captures]   wrote midstream-$name.pcap (connection $stream of $2.pcap after its preface)" >&2
}

cut amqp amqp-plain 9                          # Connection.Tune/TuneOk, Open, a publish
cut mqtt mqtt-v311-password 9                  # PUBACK one way, DISCONNECT the other
cut postgresql postgresql-cleartext-password 9 # AuthenticationOk and ParameterStatus, a Query and its rows
cut redis redis-auth 9                         # +OK and a bulk reply; the tail of a command, then an ECHO array
cut memcached memcached 9                      # VALUE … END, then quit (a verb Redis knows too)
cut stomp stomp-login 10                       # SEND, MESSAGE, DISCONNECT, RECEIPT
cut nats nats-password 11                      # SUB and PUB, MSG back
# PINGs, the second call (its bearer token a literal again) and its answer: from the packet after the one that ends
# the first call's answer (found by content: grpcio's PINGs may move packet numbers between runs).
first_call_end=$(tshark -r "$HERE/h2c-grpc-bearer.pcap" -d tcp.port==50051,http2 \
    -Y 'tcp.srcport == 50051 && http2.streamid == 1 && http2.flags.end_stream == 1' -T fields -e frame.number \
    2>/dev/null | head -n1)
[[ -n $first_call_end ]] || { echo "[make-midstream-captures] h2c-grpc-bearer.pcap: no end of the first call" >&2; exit 1; }
cut grpc h2c-grpc-bearer $((first_call_end + 1))
cut_stream etcd etcd-auth-password 2379 'http2.header.name == "token"'  # the read with the token, one connection
# QUIC after its handshake: six requests on one connection, from the datagram after its last long header on (1-RTT
# packets only, whichever way aioquic's timing fell), found by content as that timing moves packet numbers.
last_long=$(tshark -r "$HERE/quic-mutual-requests.pcap" -Y 'quic.header_form == 1' -T fields -e frame.number \
    2>/dev/null | tail -n1)
[[ -n $last_long ]] || { echo "[make-midstream-captures] quic-mutual-requests.pcap: no long header" >&2; exit 1; }
cut quic quic-mutual-requests $((last_long + 1))
# ZooKeeper after its ConnectRequest and AuthPacket: an idle session's pings each way, then ls / and the close, from
# the first ping on (found by content: Kazoo's timing moves packet numbers).
first_ping=$(tshark -r "$HERE/zookeeper-idle-session.pcap" -Y 'tcp.payload == 00:00:00:08:ff:ff:ff:fe:00:00:00:0b' \
    -T fields -e frame.number 2>/dev/null | head -n1)
[[ -n $first_ping ]] || { echo "[make-midstream-captures] zookeeper-idle-session.pcap: no ping" >&2; exit 1; }
cut zookeeper zookeeper-idle-session "$first_ping"
chmod 644 "$HERE"/midstream-*.pcap
