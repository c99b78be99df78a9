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

cut amqp amqp-plain 9                          # Connection.Tune/TuneOk, Open, a publish
cut mqtt mqtt-v311-password 9                  # PUBACK one way, DISCONNECT the other
cut postgresql postgresql-cleartext-password 9 # AuthenticationOk and ParameterStatus, a Query and its rows
cut redis redis-auth 9                         # +OK and a bulk reply; the tail of a command, then an ECHO array
cut memcached memcached 9                      # VALUE … END, then quit (a verb Redis knows too)
cut stomp stomp-login 10                       # SEND, MESSAGE, DISCONNECT, RECEIPT
cut nats nats-password 11                      # SUB and PUB, MSG back
cut grpc h2c-grpc-bearer 16                    # PINGs, the second call (its bearer token a literal again) and its answer
cut etcd etcd-auth-password 88 97              # the read with the token, one connection (the next starts at 98)
chmod 644 "$HERE"/midstream-*.pcap
