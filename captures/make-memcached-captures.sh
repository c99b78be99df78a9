#!/usr/bin/env bash
# make-memcached-captures.sh — memcached's binary protocol and its SASL login: the real libmemcached tools (memccat,
# Debian's libmemcached-tools) talking to a real memcached 1.6 (Debian's, built with SASL) in two network namespaces
# this script creates (bh-mc-cli, bh-mc-srv) and deletes again on exit, captured on the server's veth.
#
#   sudo bash captures/make-memcached-captures.sh     (make-captures.sh runs it)
#
# Address plan (nothing else is ever used): 198.19.67.0/24, veth bhm-cli <-> bhm-srv, client .1, server .2;
# memcached with SASL (-S) on 11211, without on 11212. Every capture holds exactly one TCP flow.
#
#   memcached-binary-sasl-plain.pcap  memccat --binary --username cacheuser --password …: the SASL mechanisms listed,
#                                     an auth with PLAIN (authzid, user and password in clear), then a get
#   memcached-binary.pcap             memccat --binary against the server without SASL: a get, no login
#
# Requirements (Debian 12): iproute2 tcpdump ethtool memcached libmemcached-tools sasl2-bin (saslpasswd2).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
TOOLS=$HERE/tools
# shellcheck source=tools/netns-helpers.sh
source "$TOOLS/netns-helpers.sh"   # lab_begin inc ins veth_link cap_on cap_stop wait_for wait_tcp

NS_C=bh-mc-cli
NS_S=bh-mc-srv
CLIENT=198.19.67.1
SERVER=198.19.67.2

# A throwaway secret. It only ever crosses the veth between our own namespaces.
CACHE_PASSWORD='mc-Secret-42'

lab_begin make-memcached-captures ip ethtool tcpdump ss memcached memccp memccat saslpasswd2

CAP_PID=
CAP_FILE=
cap_start() { cap_on "$NS_S" bhm-srv "$1" tcp port "$2"; }

log "creating namespaces $NS_C, $NS_S"
ns_create "$NS_C" "$NS_S"
veth_link "$NS_C" bhm-cli "$CLIENT/24" "$NS_S" bhm-srv "$SERVER/24"

log "starting memcached"
# Cyrus SASL: memcached reads $SASL_CONF_PATH/memcached.conf; the user lives in a sasldb of our own.
printf 'mech_list: plain\nsasldb_path: %s\n' "$WORK/sasldb2" >"$WORK/memcached.conf"
printf '%s' "$CACHE_PASSWORD" | saslpasswd2 -a memcached -c -p -f "$WORK/sasldb2" cacheuser
ins env SASL_CONF_PATH="$WORK" memcached -S -l "$SERVER" -p 11211 -U 0 -u root >"$WORK/memcached-sasl.log" 2>&1 &
ins memcached -l "$SERVER" -p 11212 -U 0 -u root >"$WORK/memcached.log" 2>&1 &
wait_tcp 11211
wait_tcp 11212
echo hello >"$WORK/greeting"
# The value read back in each capture, stored first (outside the captures).
inc memccp --servers="$SERVER:11211" --binary --username=cacheuser --password="$CACHE_PASSWORD" "$WORK/greeting" \
    || die "memccp could not store with SASL"
inc memccp --servers="$SERVER:11212" --binary "$WORK/greeting" || die "memccp could not store"

# memccat_session FILE PORT ARGS… — one memccat run (one connection), captured; the value must come back
memccat_session() {
    local file=$1 port=$2
    shift 2
    log "$file"
    cap_start "$file" "$port"
    inc memccat --servers="$SERVER:$port" --binary "$@" greeting >"$WORK/$file.out" 2>&1 \
        || die "memccat failed: $(cat "$WORK/$file.out")"
    cap_stop
    grep -qx hello "$WORK/$file.out" || die "$file: the value did not come back: $(cat "$WORK/$file.out")"
}
memccat_session memcached-binary-sasl-plain.pcap 11211 --username=cacheuser --password="$CACHE_PASSWORD"
memccat_session memcached-binary.pcap 11212

chmod 644 "$OUT"/memcached-binary*.pcap
log "done"
