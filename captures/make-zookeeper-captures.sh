#!/usr/bin/env bash
# make-zookeeper-captures.sh — the ZooKeeper part of the capture corpus: real clients (Kazoo from PyPI, and
# ZooKeeper's own zkCli.sh) talking to a real Apache ZooKeeper 3.8 server (Debian's), in two network namespaces this
# script creates (bh-zk-cli, bh-zk-srv) and deletes again on exit, captured on the server's veth.
#
#   sudo bash captures/make-zookeeper-captures.sh     (make-captures.sh runs it)
#
# Address plan (nothing else is ever used): 198.19.66.0/24, veth bhz-cli <-> bhz-srv, client .1, server .2;
# ZooKeeper's client port 2181. Every capture holds exactly one TCP flow.
#
#   zookeeper-digest-kazoo.pcap   Kazoo with auth_data digest app:…: an ephemeral znode created with a digest ACL, read back
#   zookeeper-zkcli-addauth.pcap  zkCli.sh: addauth digest ops:…, then ls /
#   zookeeper-no-auth.pcap        Kazoo without credentials: ls / (a plaintext session, no secret)
#   zookeeper-ruok.pcap           the four-letter word ruok, as a health check sends it (printf ruok | nc), and imok
#   zookeeper-cons-refused.pcap   cons, which 4lw.commands.whitelist (ruok; this server answers srvr even so) refuses:
#                                 the server's refusal
#   zookeeper-sasl-digest.pcap    zkCli.sh logging in with SASL DIGEST-MD5 (a JAAS DigestLoginModule, as Kafka brokers
#                                 do), then ls /: no password crosses, a digest of it does
#   zookeeper-idle-session.pcap   Kazoo with auth_data digest app:… and a 4 s session timeout, idle for 6 s (its pings
#                                 each way), then ls /: make-midstream-captures.sh cuts midstream-zookeeper.pcap from it
#
# Requirements (Debian 12): iproute2 tcpdump tshark ethtool zookeeper (and its Java), and kazoo from PyPI.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
TOOLS=$HERE/tools
PY=$(command -v python3)
ZK_BIN=/usr/share/zookeeper/bin
# shellcheck source=tools/netns-helpers.sh
source "$TOOLS/netns-helpers.sh"   # lab_begin inc ins veth_link cap_on cap_stop wait_for wait_tcp

NS_C=bh-zk-cli
NS_S=bh-zk-srv
CLIENT=198.19.66.1
SERVER=198.19.66.2

# Throwaway secrets. They only ever cross the veth between our own namespaces.
APP_PASSWORD='zk-App-Secret-12'
OPS_PASSWORD='zk-Ops-Secret-9'
SASL_PASSWORD='zk-Sasl-Secret-5'

lab_begin make-zookeeper-captures ip ethtool tcpdump tshark ss java "$PY" "$ZK_BIN/zkServer.sh" "$ZK_BIN/zkCli.sh"
"$PY" -c 'import kazoo' 2>/dev/null || die "kazoo missing: python3 -m pip install kazoo"

CAP_PID=
CAP_FILE=
cap_start() { cap_on "$NS_S" bhz-srv "$1" tcp port 2181; }

log "creating namespaces $NS_C, $NS_S"
ns_create "$NS_C" "$NS_S"
veth_link "$NS_C" bhz-cli "$CLIENT/24" "$NS_S" bhz-srv "$SERVER/24"

log "starting ZooKeeper"
mkdir -p "$WORK/data"
cat >"$WORK/zoo.cfg" <<CONF
tickTime=2000
dataDir=$WORK/data
clientPort=2181
clientPortAddress=$SERVER
admin.enableServer=false
4lw.commands.whitelist=ruok
authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider
CONF
# SASL DIGEST-MD5: the server's users and the client's login (JAAS), as a Kafka deployment configures them.
cat >"$WORK/server.jaas" <<JAAS
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_app="$SASL_PASSWORD";
};
JAAS
cat >"$WORK/client.jaas" <<JAAS
Client {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="app"
    password="$SASL_PASSWORD";
};
JAAS
cp /etc/zookeeper/conf/log4j.properties "$WORK/" 2>/dev/null || true
ins env ZOOCFGDIR="$WORK" ZOO_LOG_DIR="$WORK" SERVER_JVMFLAGS="-Djava.security.auth.login.config=$WORK/server.jaas" \
    "$ZK_BIN/zkServer.sh" start-foreground "$WORK/zoo.cfg" >"$WORK/zookeeper.log" 2>&1 &
wait_for 60 tcp_listening "$NS_S" 2181 || die "ZooKeeper did not start: $(tail -5 "$WORK/zookeeper.log")"

# kazoo_session FILE AUTH [IDLE] — one Kazoo session (AUTH: app:password, or none), captured; IDLE: the session
# (timeout 4 s) then waits that many seconds, pinging, before it lists /
kazoo_session() {
    local attempt
    for attempt in 1 2; do
        kazoo_run "$@"
        # One connection, whole: once (in a full make-captures.sh run) the capture of a session that succeeded came
        # out empty; the session is run again rather than a capture without its flow kept.
        [[ $(tshark -r "$OUT/$1" -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0' 2>/dev/null | wc -l) -eq 1 ]] && return
        log "  $1 holds no whole connection (attempt $attempt)"
    done
    die "$1: no whole connection captured"
}

kazoo_run() {
    log "$1"
    cap_start "$1"
    inc "$PY" - "$SERVER:2181" "$2" "${3:-0}" >"$WORK/$1.out" 2>&1 <<'PYTHON' \
        || die "the Kazoo client failed: $(cat "$WORK/$1.out")"
import sys
import time

from kazoo.client import KazooClient
from kazoo.security import make_digest_acl

hosts, auth, idle = sys.argv[1], sys.argv[2], float(sys.argv[3])
if idle:
    zk = KazooClient(hosts=hosts, auth_data=[("digest", auth)], timeout=4.0)
    zk.start(timeout=20)
    zk.ensure_path("/bulkhead")
    time.sleep(idle)
    print(zk.get_children("/"))
elif auth == "none":
    zk = KazooClient(hosts=hosts)
    zk.start(timeout=20)
    print(zk.get_children("/"))
else:
    user, password = auth.split(":", 1)
    zk = KazooClient(hosts=hosts, auth_data=[("digest", auth)])
    zk.start(timeout=20)
    zk.ensure_path("/bulkhead")
    zk.create("/bulkhead/config", b"value", acl=[make_digest_acl(user, password, all=True)], ephemeral=True)
    print(zk.get("/bulkhead/config")[0])
zk.stop()
zk.close()
PYTHON
    cap_stop
}
kazoo_session zookeeper-digest-kazoo.pcap "app:$APP_PASSWORD"
kazoo_session zookeeper-no-auth.pcap none
kazoo_session zookeeper-idle-session.pcap "app:$APP_PASSWORD" 6
[[ $(tshark -r "$OUT/zookeeper-idle-session.pcap" -Y 'tcp.payload == 00:00:00:08:ff:ff:ff:fe:00:00:00:0b' 2>/dev/null \
    | wc -l) -ge 2 ]] || die "zookeeper-idle-session.pcap: fewer than two pings"

log "zookeeper-zkcli-addauth.pcap"
cap_start zookeeper-zkcli-addauth.pcap
printf 'addauth digest ops:%s\nls /\nquit\n' "$OPS_PASSWORD" \
    | inc timeout 60 "$ZK_BIN/zkCli.sh" -server "$SERVER:2181" >"$WORK/zkcli.out" 2>&1 \
    || die "zkCli.sh failed: $(tail -5 "$WORK/zkcli.out")"
grep -q "bulkhead" "$WORK/zkcli.out" || die "zkCli.sh did not list /: $(tail -5 "$WORK/zkcli.out")"
cap_stop

log "zookeeper-sasl-digest.pcap"
cap_start zookeeper-sasl-digest.pcap
printf 'ls /\nquit\n' \
    | inc env CLIENT_JVMFLAGS="-Djava.security.auth.login.config=$WORK/client.jaas" \
        timeout 60 "$ZK_BIN/zkCli.sh" -server "$SERVER:2181" >"$WORK/zkcli-sasl.out" 2>&1 \
    || die "zkCli.sh failed: $(tail -5 "$WORK/zkcli-sasl.out")"
grep -q "SaslAuthenticated" "$WORK/zkcli-sasl.out" || die "zkCli.sh did not log in with SASL: $(tail -5 "$WORK/zkcli-sasl.out")"
cap_stop

# four_letter FILE WORD EXPECTED — WORD sent alone on a connection of its own (bash's /dev/tcp: the bytes a health
# check's `printf WORD | nc` sends), the server's answer read to its close; it must start with EXPECTED
four_letter() {
    log "$1"
    cap_start "$1"
    inc bash -c 'exec 3<>"/dev/tcp/$0/2181" && printf %s "$1" >&3 && cat <&3' "$SERVER" "$2" >"$WORK/$1.out" 2>&1 \
        || die "$1: the connection failed: $(cat "$WORK/$1.out")"
    cap_stop
    grep -q "^$3" "$WORK/$1.out" || die "$1: unexpected answer: $(cat "$WORK/$1.out")"
}
four_letter zookeeper-ruok.pcap ruok imok
four_letter zookeeper-cons-refused.pcap cons "cons is not executed"

chmod 644 "$OUT"/zookeeper-*.pcap
log "done"
