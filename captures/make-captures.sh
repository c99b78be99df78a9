#!/usr/bin/env bash
# make-captures.sh — recreate the Bulkhead capture corpus from scratch.
#
#   sudo bash captures/make-captures.sh
#
# Real clients talk to real servers between two Linux network namespaces that
# this script creates (bh-cap-cli, bh-cap-srv) and deletes again on exit.
# Every capture is written into captures/, TLS key logs (SSLKEYLOGFILE format)
# into captures/keys/.
#
# Address plan (nothing else is ever used):
#   198.18.1.0/24       veth bhc-cli0 <-> bhc-srv0      client .1, server .2 (IPv4 only)
#   2001:2:0:1::/64     veth bhc-cli6 <-> bhc-srv6      client ::1, server ::2 (IPv6 only)
#   198.18.100.0/24     VLAN 100 over trunk veth bhc-clit <-> bhc-srvt
#                       (tap bhc-cli-v100 / bhc-srv-v100: client .1, server .2)
#   198.19.40.0/24 - 198.19.45.0/24   the overlay captures, made by make-encap-captures.sh
#   198.19.61.0/24                    the QUIC captures, made last by make-quic-captures.sh
#   198.19.62.0/24                    the MQTT, AMQP, STOMP and NATS captures, made by make-broker-captures.sh
#   198.19.63.0/24                    the MySQL (MariaDB) captures, made by make-mysql-captures.sh
#   198.19.64.0/24                    the LDAP (slapd) captures, made by make-ldap-captures.sh
#   198.19.65.0/24                    the h2c upgrade captures (httpd, curl, Java), made by make-h2c-captures.sh
#   198.19.66.0/24                    the ZooKeeper captures, made by make-zookeeper-captures.sh
#   198.19.67.0/24                    the binary memcached captures, made by make-memcached-captures.sh
#                       (namespaces bh-encap-cli / bh-encap-srv; see there)
#
# Server ports (in bh-cap-srv):
#   8080 nginx HTTP (Basic auth on /private/, Bearer on /api/, stand-ins for Vault's /v1/, Keycloak's token
#        endpoint and Grafana's /login), also on [::]:8080
#   8081 nginx h2c (HTTP/2 prior knowledge)      6380 redis (requirepass)
#   2375 dockerd (the Engine API without TLS)    2376 dockerd --tlsverify (asked in clear)
#   2379 etcd (its v3 API without TLS, gRPC and the JSON gateway; peers on the namespace's loopback)
#   2380 a second etcd cluster's peer API, one member in each namespace (raft over plain HTTP)
#   5432 postgres (ssl=on, pg_hba "password")    8443, 9000 openssl s_server (TLS)
#   2525 SMTP (python, STARTTLS + AUTH)           2121 FTP (python, login only)
#   11211 memcached (TCP only)                    53/udp dnsmasq
#   7000 made-up text protocol (python)           7001 made-up binary protocol (python)
#
# Certificates are generated at run time (throwaway PKI in a temp dir), so dates,
# serials, keys and fingerprints change on every run; the expected/*.json files
# assert only subjects, issuers, SANs and key types.
#
# The proxy-tunnel (SOCKS, HTTP CONNECT) and XMPP/IRC STARTTLS captures are made by the sibling
# make-tunnel-captures.sh, in namespaces of its own on 198.19.210.0/24; this script runs it at the end.
#
# Requirements (Debian 12): tcpdump dumpcap editcap (wireshark-common) tshark openssl curl
#   nginx-light redis-server redis-tools postgresql-15 memcached dnsmasq-base docker.io (dockerd and the docker CLI)
#   etcd-server etcd-client mariadb-server mariadb-client (for make-mysql-captures.sh) slapd and ldap3 from PyPI
#   (for make-ldap-captures.sh) apache2 openjdk-17-jdk-headless (for make-h2c-captures.sh)
#   zookeeper and kazoo from PyPI (for make-zookeeper-captures.sh) libmemcached-tools sasl2-bin (for
#   make-memcached-captures.sh)
#   bind9-dnsutils python3 iproute2 ethtool tinyproxy-bin (for make-tunnel-captures.sh) wireguard-go wireguard-tools
#   (for make-encap-captures.sh); aioquic from PyPI (for make-quic-captures.sh); mosquitto mosquitto-clients
#   rabbitmq-server amqp-tools nats-server chromium chromium-driver, and nats-py, amqp, python-qpid-proton,
#   stomp-py, grpcio, paho-mqtt, websocket-client, gql, websockets, selenium and kafka-python from PyPI (for
#   make-broker-captures.sh)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
KEYS=$HERE/keys
TOOLS=$HERE/tools
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
# shellcheck source=tools/netns-helpers.sh
source "$TOOLS/netns-helpers.sh"   # ns_exists ns_kill_all inc ins lab_pki wait_for wait_pid cap_stop no_offload

NS_C=bh-cap-cli
NS_S=bh-cap-srv
C4=198.18.1.1
S4=198.18.1.2
C6=2001:2:0:1::1
S6=2001:2:0:1::2
CV=198.18.100.1
SV=198.18.100.2
VID=100

# Throwaway secrets. They only ever cross the veth between our own namespaces
# and are never written into the expected files.
HTTP_BASIC='alice:Sesame-Open-42'   # user:password for curl -u / htpasswd
HTTP_USER=${HTTP_BASIC%%:*}
HTTP_PASS=${HTTP_BASIC#*:}
BEARER_TOKEN='bh-test-token-2f6c1e9a7d3b4c58'
VAULT_TOKEN='hvs.bh-test-vault-8c41d2e7'
CLIENT_SECRET='bh-test-client-secret+5e/9a'
URL_TOKEN='bh-test-url-token-73b1f0'
CONSOLE_PASS='bh-test-console-pass-61e0'
ETCD_PASS='bh-test-etcd-root-58c2'
ETCD_VALUE='bh-test-etcd-value-0d7e'
REDIS_PASS='redis-test-pass-7731'
PG_USER=app
PG_PASS='pg-test-pass-5150'
SMTP_USER=alice
SMTP_PASS='smtp-test-pass-9921'
FTP_USER=alice
FTP_PASS='ftp-test-pass-3344'

log() { printf '[make-captures] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (sudo bash $0)"
for t in ip ethtool tcpdump dumpcap editcap openssl curl nginx redis-server redis-cli psql memcached dnsmasq dig ss runuser \
    dockerd docker nsenter etcd etcdctl "$PY"; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool: $t"
done
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[[ -x $PGBIN/pg_ctl && -x $PGBIN/initdb ]] || die "postgresql server binaries not found"
[[ -c /dev/net/tun ]] || die "/dev/net/tun missing (needed for the VLAN trunk)"

# one run at a time: a second run would tear down the first one's namespaces
{ exec 9>/run/lock/bh-make-captures.lock; } 2>/dev/null || exec 9>/tmp/bh-make-captures.lock
flock -n 9 || die "another make-captures.sh run is in progress"

WORK=$(mktemp -d /tmp/bh-cap.XXXXXX)
chmod 755 "$WORK"   # postgres and nginx workers need to traverse it

# ------------------------------------------------------------------ cleanup
teardown() {
    if [[ -n ${PGDATA:-} && -f ${PGDATA}/postmaster.pid ]]; then
        ip netns exec "$NS_S" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" stop -m fast >/dev/null 2>&1 || true
    fi
    ns_delete "$NS_C" "$NS_S"
    # the renegotiation capture's stdin feeder runs outside the namespaces
    if [[ -n ${FEED_PID:-} ]]; then kill "$FEED_PID" 2>/dev/null; wait "$FEED_PID" 2>/dev/null; FEED_PID=; fi
}

cleanup_on_exit

teardown   # leftovers of an interrupted earlier run (only our own bh-cap-* namespaces)

# ------------------------------------------------------------------ helpers
CAP_PID=
CAP_FILE=
# cap_start FILE NS IFACE [extra tcpdump args]   — tcpdump, classic pcap
cap_start() { cap_on "$2" "$3" "$1" "${@:4}"; }
# cap_start_dumpcap FILE NS IFACE  — dumpcap, pcapng
cap_start_dumpcap() {
    local file=$1 ns=$2 ifc=$3
    CAP_FILE=$OUT/$file
    rm -f "$CAP_FILE" "$WORK/cap.err"
    ip netns exec "$ns" dumpcap -q -i "$ifc" -w "$CAP_FILE" 2>"$WORK/cap.err" &
    CAP_PID=$!
    wait_for 10 grep -q "Capturing on" "$WORK/cap.err" || die "dumpcap did not start: $(cat "$WORK/cap.err")"
    sleep 0.3
}

# resp CMD ARGS... -- encode redis commands as RESP arrays: "SET k v GET k" -> 2 commands
resp() {
    local argv=() w
    for w in "$@"; do
        case $w in SET|GET|PING) if ((${#argv[@]})); then resp_one "${argv[@]}"; fi; argv=("$w") ;; *) argv+=("$w") ;; esac
    done
    if ((${#argv[@]})); then resp_one "${argv[@]}"; fi
}
resp_one() { local a; printf '*%d\r\n' $#; for a in "$@"; do printf '$%d\r\n%s\r\n' ${#a} "$a"; done; }

# ------------------------------------------------------------------ test PKI
# server: RSA 2048, CN=server.test,O=Bulkhead Test, SAN DNS:server.test, IP:198.18.1.2; client: EC P-256, CN=client.test
lab_pki "DNS:server.test,IP:$S4"
(
    # rogue CA and a rogue client with the same names, issued by it
    cd "$PKI"
    exec 2>/dev/null
    openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 30 \
        -keyout rogue-ca.key -out rogue-ca.pem -subj "/CN=Rogue Test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out rogue-client.key
    openssl req -new -key rogue-client.key -out rogue-client.csr -subj "/CN=client.test"
    openssl x509 -req -sha256 -days 30 -in rogue-client.csr -CA rogue-ca.pem -CAkey rogue-ca.key \
        -CAcreateserial -extfile client.ext -out rogue-client.pem
)
chmod 644 "$PKI"/*.pem "$PKI"/*.key   # throwaway; readable by postgres/nginx workers

# ------------------------------------------------------------------ namespaces
log "creating namespaces $NS_C, $NS_S"
for ns in "$NS_C" "$NS_S"; do
    ip netns add "$ns"
    # IPv6 off by default (only the bhc-*6 veth turns it on), no DAD/RS/RA noise
    for kv in default.disable_ipv6=1 default.accept_dad=0 default.router_solicitations=0 \
              all.router_solicitations=0 default.accept_ra=0 all.accept_ra=0; do
        ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$kv"
    done
    ip -n "$ns" link set lo up
done

# IPv4 link
veth_link "$NS_C" bhc-cli0 "$C4/24" "$NS_S" bhc-srv0 "$S4/24"

# IPv6 link (IPv6 only, no DAD, no link-local address, no RS)
ip link add bhc-cli6 netns "$NS_C" type veth peer name bhc-srv6 netns "$NS_S"
for pair in "$NS_C bhc-cli6 $C6" "$NS_S bhc-srv6 $S6"; do
    set -- $pair
    ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.addr_gen_mode=1"
    ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=0"
    ip -n "$1" -6 addr add "$3/64" dev "$2" nodad
    ip -n "$1" link set "$2" up
    no_offload "$1" "$2"
done
set --

# VLAN 100: trunk veth + a tap per side bridged by the tagging relay (see README)
ip link add bhc-clit netns "$NS_C" type veth peer name bhc-srvt netns "$NS_S"
ip -n "$NS_C" link set bhc-clit up
ip -n "$NS_S" link set bhc-srvt up
no_offload "$NS_C" bhc-clit; no_offload "$NS_S" bhc-srvt
for side in "$NS_C bhc-cli-v100 bhc-clit $CV" "$NS_S bhc-srv-v100 bhc-srvt $SV"; do
    set -- $side
    ip netns exec "$1" "$PY" "$TOOLS/bhcap.py" vlan-trunk "$2" "$3" "$VID" >"$WORK/vlan-$2.log" 2>&1 &
    wait_for 10 ip -n "$1" link show "$2" || die "vlan relay $2 did not start"
    ip -n "$1" addr add "$4/24" dev "$2"
    ip -n "$1" link set "$2" up
    no_offload "$1" "$2"
done
set --

# Resolve neighbours now so the captures start with warm ARP/ND caches
# (makes the captures smaller; ARP/ND would not count as flows anyway).
inc curl -s -o /dev/null --max-time 1 "http://$S4:1/" || true
inc curl -s -o /dev/null --max-time 1 -g "http://[$S6]:1/" || true
inc curl -s -o /dev/null --max-time 1 "http://$SV:1/" || true

# ------------------------------------------------------------------ servers
log "starting nginx, redis, postgres, memcached, dnsmasq"
NG=$WORK/nginx
mkdir -p "$NG/www/private" "$NG/www/api" "$NG/tmp"
printf '<!doctype html><title>Bulkhead</title><p>Bulkhead test server</p>\n' > "$NG/www/index.html"
printf 'Top secret: the Bulkhead test corpus.\n' > "$NG/www/private/index.html"
printf '{"subject":"service-account-7","scopes":["read"]}\n' > "$NG/www/api/whoami"
printf '%s:%s\n' "$HTTP_USER" "$(openssl passwd -apr1 "$HTTP_PASS")" > "$NG/htpasswd"
chmod -R a+rX "$NG"
cat > "$NG/nginx.conf" <<EOF
worker_processes 1;
user nobody nogroup;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 64; }
http {
    access_log $NG/access.log;
    client_body_temp_path $NG/tmp/body;
    proxy_temp_path $NG/tmp/proxy;
    fastcgi_temp_path $NG/tmp/fastcgi;
    uwsgi_temp_path $NG/tmp/uwsgi;
    scgi_temp_path $NG/tmp/scgi;
    default_type text/html;
    server_tokens off;
    server {
        listen 8080;
        listen [::]:8080 ipv6only=on;
        server_name server.test;
        root $NG/www;
        location /private/ {
            auth_basic "Bulkhead private";
            auth_basic_user_file $NG/htpasswd;
        }
        location /api/ {
            default_type application/json;
            if (\$http_authorization !~ "^Bearer ") { return 401; }
        }
        # Stand-ins for Vault's HTTP API and Keycloak's token endpoint: what the captures show is what the client
        # sends.
        location /v1/ {
            default_type application/json;
            if (\$http_x_vault_token = "") { return 403; }
            return 200 '{"data":{"data":{"user":"app"}}}\n';
        }
        location = /login {
            default_type application/json;
            return 200 '{"message":"Logged in"}\n';
        }
        location = /realms/shop/protocol/openid-connect/token {
            default_type application/json;
            return 200 '{"access_token":"opaque","token_type":"Bearer","expires_in":300}\n';
        }
    }
    server {
        listen 8081 http2;
        server_name server.test;
        root $NG/www;
    }
}
EOF
ins nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" -g 'daemon off;' &
wait_tcp 8080; wait_tcp 8081

mkdir -p "$WORK/redis"
ins redis-server --port 6380 --bind "$S4" --requirepass "$REDIS_PASS" --save "" --appendonly no \
    --dir "$WORK/redis" --logfile "$WORK/redis/redis.log" --daemonize no &
wait_tcp 6380

PGDATA=$WORK/pg
mkdir -p "$PGDATA" "$WORK/pgsock"
chown postgres: "$PGDATA" "$WORK/pgsock"
chmod 700 "$PGDATA"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --no-sync >"$WORK/initdb.log" 2>&1 \
    || die "initdb failed: $(tail -5 "$WORK/initdb.log")"
install -o postgres -g postgres -m 600 "$PKI/server.pem" "$PGDATA/server.crt"
install -o postgres -g postgres -m 600 "$PKI/server.key" "$PGDATA/server.key"
cat > "$PGDATA/pg_hba.conf" <<EOF
local all all trust
host  all $PG_USER 198.18.1.0/24 password
EOF
ins runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/postgres.log" -w -s \
    -o "-c listen_addresses=$S4 -c port=5432 -c unix_socket_directories=$WORK/pgsock -c ssl=on -c fsync=off -c synchronous_commit=off" start
ins runuser -u postgres -- psql -qX -h "$WORK/pgsock" -U postgres -d postgres \
    -c "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASS'" -c "CREATE DATABASE $PG_USER OWNER $PG_USER" >/dev/null

ins memcached -l "$S4" -p 11211 -U 0 -u memcache -m 8 &
wait_tcp 11211

ins dnsmasq -k --conf-file=/dev/null --port=53 --listen-address="$S4" --bind-interfaces \
    --no-resolv --no-hosts --no-poll --address="/server.test/$S4" --pid-file="$WORK/dnsmasq.pid" \
    --log-facility="$WORK/dnsmasq.log" &
wait_for 10 udp_listening "$NS_S" 53 || die "dnsmasq did not come up"

# ------------------------------------------------------------------ outputs
mkdir -p "$KEYS"
rm -f "$OUT"/*.pcap "$OUT"/*.pcapng "$KEYS"/*.keys

NOCA=(-no-CAfile -no-CApath -no-CAstore)   # never auto-add the CA to the chain
SRV_PID=

# tls_server PORT LOGNAME [s_server options]  — one-shot openssl s_server (-naccept 1, -rev)
tls_server() {
    local port=$1 name=$2; shift 2
    ins openssl s_server -accept "$S4:$port" -cert "$PKI/server.pem" -key "$PKI/server.key" \
        "${NOCA[@]}" -verifyCAfile "$PKI/ca.pem" -naccept 1 -rev "$@" >"$WORK/s_server.$name.log" 2>&1 </dev/null &
    SRV_PID=$!
    wait_tcp "$port"
}
# tls_client PORT LOGNAME [s_client options]  — sends one line, reads the reply, quits
tls_client() {
    local port=$1 name=$2; shift 2
    { printf 'hello bulkhead\n'; sleep 0.6; } |
        inc openssl s_client -connect "$S4:$port" "${NOCA[@]}" -verifyCAfile "$PKI/ca.pem" \
            -verify_return_error "$@" >"$WORK/s_client.$name.log" 2>&1 || true
    wait_pid "$SRV_PID" 5
    local proto cipher
    proto=$(grep -m1 -E '^ *Protocol *:' "$WORK/s_client.$name.log" | awk '{print $3}' || true)
    cipher=$(grep -m1 -E '^ *Cipher *:' "$WORK/s_client.$name.log" | awk '{print $3}' || true)
    log "  s_client: ${proto:-?} ${cipher:-?} $(grep -oE 'alert [a-z ]+[a-z]|verify error:[^ ]*' "$WORK/s_client.$name.log" | grep -v 'alert number' | head -n1 || true)"
}
# tls_flow FILE PORT KEYLOG|- "server opts" "client opts"   (capture on the server veth)
tls_flow() {
    local file=$1 port=$2 keylog=$3 sopts=$4 copts=$5 name=${1%%.*}
    log "$file"
    local kl=()
    if [[ $keylog != - ]]; then kl=(-keylogfile "$KEYS/$keylog"); fi
    cap_start "$file" "$NS_S" bhc-srv0
    # shellcheck disable=SC2086
    tls_server "$port" "$name" $sopts
    # shellcheck disable=SC2086
    tls_client "$port" "$name" $copts "${kl[@]}"
    cap_stop
}

CLIENT_CERT="-cert $PKI/client.pem -key $PKI/client.key"
ROGUE_CERT="-cert $PKI/rogue-client.pem -key $PKI/rogue-client.key"

# ---------------------------------------------------------- HTTP / plaintext
log "http-basic-auth.pcap"
cap_start http-basic-auth.pcap "$NS_S" bhc-srv0
inc curl -sS -o /dev/null -u "$HTTP_BASIC" "http://$S4:8080/private/"
cap_stop

log "http-bearer.pcap"
cap_start http-bearer.pcap "$NS_S" bhc-srv0
inc curl -sS -o /dev/null -H "Authorization: Bearer $BEARER_TOKEN" "http://$S4:8080/api/whoami"
cap_stop

log "http-vault-token.pcap"
cap_start http-vault-token.pcap "$NS_S" bhc-srv0
inc curl -sS -o /dev/null -H "X-Vault-Token: $VAULT_TOKEN" "http://$S4:8080/v1/secret/data/app"
cap_stop

log "http-url-token.pcap"
cap_start http-url-token.pcap "$NS_S" bhc-srv0
inc curl -sS -o /dev/null "http://$S4:8080/v1/stream?access_token=$URL_TOKEN&format=json"
cap_stop

log "http-form-client-secret.pcap"
cap_start http-form-client-secret.pcap "$NS_S" bhc-srv0
inc curl -sS -o /dev/null --data-urlencode grant_type=client_credentials --data-urlencode client_id=orders \
    --data-urlencode "client_secret=$CLIENT_SECRET" "http://$S4:8080/realms/shop/protocol/openid-connect/token"
cap_stop

log "http-json-login.pcap"
cap_start http-json-login.pcap "$NS_S" bhc-srv0
inc curl -sS -o /dev/null -H 'Content-Type: application/json' \
    --data "{\"user\":\"admin\",\"password\":\"$CONSOLE_PASS\"}" "http://$S4:8080/login"
cap_stop

# ---------------------------------------------------------- a container engine's API in clear
# A real dockerd listening on tcp://198.18.1.2:2375 without --tlsverify (it warns, and slows its start down to say
# so), with data and exec roots of its own, no bridge, no iptables rules; the real docker CLI asks it for its version.
log "starting dockerd on tcp://$S4:2375"
DK=$WORK/docker
mkdir -p "$DK/client"
# nsenter --net, not ip netns exec: dockerd needs the host's cgroup mounts, which ip netns exec remounts away.
nsenter --net="/var/run/netns/$NS_S" dockerd --host "tcp://$S4:2375" --data-root "$DK/data" --exec-root "$DK/exec" \
    --pidfile "$DK/dockerd.pid" --bridge=none --iptables=false --ip-masq=false >"$DK/dockerd.log" 2>&1 &
wait_for 60 tcp_listening "$NS_S" 2375 || die "dockerd did not listen on 2375: $(tail -3 "$DK/dockerd.log")"
log "docker-api-plaintext.pcap"
cap_start docker-api-plaintext.pcap "$NS_S" bhc-srv0
inc env DOCKER_CONFIG="$DK/client" docker -H "tcp://$S4:2375" version >/dev/null
cap_stop
DK_PID=$(cat "$DK/dockerd.pid" 2>/dev/null || true)
if [[ -n $DK_PID ]]; then
    kill "$DK_PID" 2>/dev/null || true
    wait_for 20 bash -c "! kill -0 $DK_PID" || log "dockerd still running; the teardown kills it"
fi

# A second dockerd that requires TLS with client certificates (--tlsverify) on 2376, asked by the same CLI in clear:
# it answers the plain request with Go's "400 Client sent an HTTP request to an HTTPS server", which is no engine
# answering, and must stay plain http with no engine finding.
log "starting dockerd --tlsverify on tcp://$S4:2376"
nsenter --net="/var/run/netns/$NS_S" dockerd --host "tcp://$S4:2376" --tlsverify --tlscacert "$PKI/ca.pem" \
    --tlscert "$PKI/server.pem" --tlskey "$PKI/server.key" --data-root "$DK/tls-data" --exec-root "$DK/tls-exec" \
    --pidfile "$DK/dockerd-tls.pid" --bridge=none --iptables=false --ip-masq=false >"$DK/dockerd-tls.log" 2>&1 &
wait_for 60 tcp_listening "$NS_S" 2376 || die "dockerd --tlsverify did not listen on 2376: $(tail -3 "$DK/dockerd-tls.log")"
log "docker-api-tlsverify-refuses-plaintext.pcap"
cap_start docker-api-tlsverify-refuses-plaintext.pcap "$NS_S" bhc-srv0
if inc env DOCKER_CONFIG="$DK/client" docker -H "tcp://$S4:2376" version >"$DK/refused.out" 2>&1; then
    die "the docker CLI got an answer in clear from dockerd --tlsverify"
fi
cap_stop
grep -q "HTTP request to an HTTPS server" "$DK/refused.out" || die "unexpected docker CLI error: $(tail -2 "$DK/refused.out")"
DK_PID=$(cat "$DK/dockerd-tls.pid" 2>/dev/null || true)
if [[ -n $DK_PID ]]; then
    kill "$DK_PID" 2>/dev/null || true
    wait_for 20 bash -c "! kill -0 $DK_PID" || log "dockerd --tlsverify still running; the teardown kills it"
fi

# ---------------------------------------------------------- etcd's API in clear
# A real etcd (Debian's etcd-server) serving its clients on http://198.18.1.2:2379 without --cert-file (its peer URL
# on the namespace's loopback), asked by the real etcdctl: a key written and read back; then a root user added and
# auth turned on, a login (Auth/Authenticate: the password in the request), a read with the token it gave, and a
# read with no user, which etcd refuses with its own error.
log "starting etcd on http://$S4:2379"
ET=$WORK/etcd
mkdir -p "$ET"
ins etcd --name bh-cap --data-dir "$ET/data" --listen-client-urls "http://$S4:2379" \
    --advertise-client-urls "http://$S4:2379" --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster bh-cap=http://127.0.0.1:2380 \
    >"$ET/etcd.log" 2>&1 &
ET_PID=$!
wait_for 30 tcp_listening "$NS_S" 2379 || die "etcd did not listen on 2379: $(tail -3 "$ET/etcd.log")"
etcdctl_c() { inc env ETCDCTL_API=3 etcdctl --endpoints="http://$S4:2379" --command-timeout=5s "$@"; }
log "etcd-plaintext.pcap"
cap_start etcd-plaintext.pcap "$NS_S" bhc-srv0
etcdctl_c put /registry/secrets/shop/db-password "$ETCD_VALUE" >/dev/null
[[ $(etcdctl_c get --print-value-only /registry/secrets/shop/db-password) == "$ETCD_VALUE" ]] || die "etcd read back"
cap_stop
# The same v3 API through etcd's JSON gateway (HTTP/1.1), as curl, scripts and health checks call it.
log "etcd-gateway-json.pcap"
cap_start etcd-gateway-json.pcap "$NS_S" bhc-srv0
ETCD_KEY64=$(printf %s /registry/secrets/shop/db-password | base64 -w0)
inc curl -sS --max-time 5 -o "$ET/range.json" -X POST -d "{\"key\":\"$ETCD_KEY64\"}" "http://$S4:2379/v3/kv/range"
cap_stop
grep -q '"cluster_id"' "$ET/range.json" || die "the gateway's answer: $(head -c 200 "$ET/range.json")"
log "etcd-auth-password.pcap"
cap_start etcd-auth-password.pcap "$NS_S" bhc-srv0
etcdctl_c user add "root:$ETCD_PASS" >/dev/null
etcdctl_c auth enable >/dev/null 2>&1
[[ $(etcdctl_c --user "root:$ETCD_PASS" get --print-value-only /registry/secrets/shop/db-password) == "$ETCD_VALUE" ]] \
    || die "etcd read back with a login"
if etcdctl_c get /registry/secrets/shop/db-password >/dev/null 2>&1; then die "etcd answered a read with no user"; fi
cap_stop
kill "$ET_PID" 2>/dev/null || true
wait "$ET_PID" 2>/dev/null || true

# Two etcd members replicating over their peer API in clear (raft over plain HTTP, no --peer-cert-file): one in each
# namespace, peers on 198.18.1.1:2380 and 198.18.1.2:2380, clients on each namespace's loopback. The capture starts
# before them, so it holds the streams each opens to the other (GET /raft/stream/…, answered with X-Etcd-Cluster-Id),
# and a key written on one member replicated to the other. How many other connections (probes, retries before the
# second member is up) it holds depends on timing: the expected file names the four streams and no flow count.
log "etcd-peer-plaintext.pcap"
cap_start etcd-peer-plaintext.pcap "$NS_S" bhc-srv0 tcp port 2380
ETP_PIDS=()
for member in "a $NS_C $C4" "b $NS_S $S4"; do
    set -- $member
    ip netns exec "$2" etcd --name "bh-peer-$1" --data-dir "$ET/peer-$1" --initial-cluster-token bh-cap-peers \
        --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
        --listen-peer-urls "http://$3:2380" --initial-advertise-peer-urls "http://$3:2380" \
        --initial-cluster "bh-peer-a=http://$C4:2380,bh-peer-b=http://$S4:2380" >"$ET/peer-$1.log" 2>&1 &
    ETP_PIDS+=($!)
done
set --
etcd_peer_healthy() { inc env ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 --command-timeout=2s endpoint health >/dev/null 2>&1; }
wait_for 30 etcd_peer_healthy || die "the two-member etcd cluster did not become healthy: $(tail -3 "$ET/peer-a.log")"
inc env ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 put /registry/configmaps/shop/settings replicated >/dev/null
[[ $(ins env ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 get --print-value-only \
    /registry/configmaps/shop/settings) == replicated ]] || die "the key did not reach the second member"
cap_stop
for pid in "${ETP_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
for pid in "${ETP_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done

log "http2-h2c.pcap"
cap_start http2-h2c.pcap "$NS_S" bhc-srv0
inc curl -sS -o /dev/null --http2-prior-knowledge "http://$S4:8081/"
cap_stop

log "redis-auth.pcap"
cap_start redis-auth.pcap "$NS_S" bhc-srv0
# redis-cli in its interactive/stdin mode would first download COMMAND DOCS
# (~170 KB); --pipe mode sends AUTH, our RESP commands, then an ECHO marker.
resp SET greeting "hello bulkhead" GET greeting |
    inc redis-cli -h "$S4" -p 6380 --no-auth-warning -a "$REDIS_PASS" --pipe >/dev/null
cap_stop

log "postgresql-cleartext-password.pcap"
cap_start postgresql-cleartext-password.pcap "$NS_S" bhc-srv0
inc env PGPASSWORD="$PG_PASS" PGGSSENCMODE=disable PGCONNECT_TIMEOUT=5 psql -qX -w \
    "host=$S4 port=5432 user=$PG_USER dbname=$PG_USER sslmode=disable application_name=bulkhead" \
    -c "SELECT current_user, inet_server_port();" >/dev/null
cap_stop

log "postgresql-sslrequest.pcap"
cap_start postgresql-sslrequest.pcap "$NS_S" bhc-srv0
inc env PGPASSWORD="$PG_PASS" PGGSSENCMODE=disable PGCONNECT_TIMEOUT=5 psql -qX -w \
    "host=$S4 port=5432 user=$PG_USER dbname=$PG_USER sslmode=require application_name=bulkhead" \
    -c "SELECT current_user, ssl FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE pid = pg_backend_pid();" >/dev/null
cap_stop

log "memcached.pcap"
cap_start memcached.pcap "$NS_S" bhc-srv0
inc "$PY" "$TOOLS/bhcap.py" memcached-client "$S4" 11211
cap_stop

log "dns-udp.pcap"
cap_start dns-udp.pcap "$NS_S" bhc-srv0
inc dig +tries=1 +time=3 @"$S4" server.test A >/dev/null
cap_stop

log "smtp-auth-plain.pcap"
cap_start smtp-auth-plain.pcap "$NS_S" bhc-srv0
ins "$PY" "$TOOLS/bhcap.py" smtp-server "$S4" 2525 "$PKI/server.pem" "$PKI/server.key" &
SRV_PID=$!; wait_tcp 2525
inc "$PY" "$TOOLS/bhcap.py" smtp-client "$S4" 2525 "$SMTP_USER" "$SMTP_PASS"
wait_pid "$SRV_PID" 5
cap_stop

log "smtp-starttls.pcap"
cap_start smtp-starttls.pcap "$NS_S" bhc-srv0
ins "$PY" "$TOOLS/bhcap.py" smtp-server "$S4" 2525 "$PKI/server.pem" "$PKI/server.key" &
SRV_PID=$!; wait_tcp 2525
inc "$PY" "$TOOLS/bhcap.py" smtp-client "$S4" 2525 "$SMTP_USER" "$SMTP_PASS" \
    --starttls "$PKI/ca.pem" "$KEYS/smtp-starttls.keys"
wait_pid "$SRV_PID" 5
cap_stop

log "ftp-login.pcap"
cap_start ftp-login.pcap "$NS_S" bhc-srv0
ins "$PY" "$TOOLS/bhcap.py" ftp-server "$S4" 2121 &
SRV_PID=$!; wait_tcp 2121
inc "$PY" "$TOOLS/bhcap.py" ftp-client "$S4" 2121 "$FTP_USER" "$FTP_PASS"
wait_pid "$SRV_PID" 5
cap_stop

log "unknown-plaintext.pcap"
cap_start unknown-plaintext.pcap "$NS_S" bhc-srv0
ins "$PY" "$TOOLS/bhcap.py" line-server "$S4" 7000 &
SRV_PID=$!; wait_tcp 7000
inc "$PY" "$TOOLS/bhcap.py" line-client "$S4" 7000
wait_pid "$SRV_PID" 5
cap_stop

log "unknown-binary.pcap"
cap_start unknown-binary.pcap "$NS_S" bhc-srv0
ins "$PY" "$TOOLS/bhcap.py" binary-server "$S4" 7001 &
SRV_PID=$!; wait_tcp 7001
inc "$PY" "$TOOLS/bhcap.py" binary-client "$S4" 7001
wait_pid "$SRV_PID" 5
cap_stop

# ---------------------------------------------------------- TLS 1.2
tls_flow tls12-server-auth.pcap 8443 - \
    "-tls1_2 -alpn http/1.1" \
    "-tls1_2 -servername server.test -alpn http/1.1"
tls_flow tls12-mutual.pcap 9000 tls12-mutual.keys \
    "-tls1_2 -Verify 1 -verify_return_error -cipher ECDHE-RSA-AES256-GCM-SHA384" \
    "-tls1_2 $CLIENT_CERT"
tls_flow tls12-client-cert-declined.pcap 8443 - \
    "-tls1_2 -verify 1" \
    "-tls1_2 -servername server.test"
tls_flow tls12-client-cert-rejected-rogue-ca.pcap 9000 - \
    "-tls1_2 -Verify 1 -verify_return_error" \
    "-tls1_2 -servername server.test $ROGUE_CERT"
tls_flow tls12-chacha20-server-auth.pcap 8443 tls12-chacha20-server-auth.keys \
    "-tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305" \
    "-tls1_2 -servername server.test -cipher ECDHE-RSA-CHACHA20-POLY1305"

# TLS 1.2 renegotiation: the first handshake asks for no certificate; once the
# client's first line has arrived, s_server's "R" command renegotiates and asks
# for a client certificate (-no_ticket -no_cache: a full handshake, not a
# resumption). The client presents the rogue-CA certificate inside the encrypted
# renegotiation and the server answers with a fatal unknown_ca alert that is
# encrypted under the first handshake's keys.
log "tls12-renegotiation-client-cert-rejected.pcap"
cap_start tls12-renegotiation-client-cert-rejected.pcap "$NS_S" bhc-srv0
RENEG_LOG=$WORK/s_server.reneg.log
: >"$RENEG_LOG"
rm -f "$WORK/reneg.in"; mkfifo "$WORK/reneg.in"
ins openssl s_server -accept "$S4:9000" -cert "$PKI/server.pem" -key "$PKI/server.key" \
    "${NOCA[@]}" -verifyCAfile "$PKI/ca.pem" -verify_return_error -naccept 1 -tls1_2 \
    -no_ticket -no_cache <"$WORK/reneg.in" >"$RENEG_LOG" 2>&1 &
SRV_PID=$!
{ wait_for 10 grep -q 'hello bulkhead' "$RENEG_LOG"; printf 'R\n'
  wait_for 10 grep -qE '^ERROR|CONNECTION CLOSED' "$RENEG_LOG"; } >"$WORK/reneg.in" &
FEED_PID=$!
wait_tcp 9000
# shellcheck disable=SC2086
{ printf 'hello bulkhead\n'; wait_for 10 grep -qE '^ERROR|CONNECTION CLOSED' "$RENEG_LOG"; } |
    inc openssl s_client -connect "$S4:9000" "${NOCA[@]}" -verifyCAfile "$PKI/ca.pem" -verify_return_error \
        -tls1_2 -servername server.test $ROGUE_CERT -keylogfile "$KEYS/tls12-renegotiation-client-cert-rejected.keys" \
        >"$WORK/s_client.reneg.log" 2>&1 || true
wait_pid "$SRV_PID" 5
wait_pid "$FEED_PID" 5
FEED_PID=
grep -q 'alert unknown ca' "$WORK/s_client.reneg.log" \
    || die "renegotiation: the client did not get the unknown_ca alert (see $WORK/s_client.reneg.log)"
log "  s_client: renegotiation rejected with alert unknown ca"
cap_stop

# ---------------------------------------------------------- TLS 1.3 (key logs saved)
tls_flow tls13-server-auth.pcap 8443 tls13-server-auth.keys \
    "-tls1_3" \
    "-tls1_3 -servername server.test"
tls_flow tls13-mutual.pcap 9000 tls13-mutual.keys \
    "-tls1_3 -Verify 1 -verify_return_error" \
    "-tls1_3 $CLIENT_CERT"
tls_flow tls13-client-cert-declined.pcap 8443 tls13-client-cert-declined.keys \
    "-tls1_3 -verify 1" \
    "-tls1_3 -servername server.test"
tls_flow tls13-client-cert-required-rejected.pcap 9000 tls13-client-cert-required-rejected.keys \
    "-tls1_3 -Verify 1 -verify_return_error" \
    "-tls1_3 -servername server.test"
tls_flow tls13-aes128-mutual.pcap 8443 tls13-aes128-mutual.keys \
    "-tls1_3 -Verify 1 -verify_return_error -ciphersuites TLS_AES_128_GCM_SHA256" \
    "-tls1_3 -servername server.test -ciphersuites TLS_AES_128_GCM_SHA256 $CLIENT_CERT"
# HelloRetryRequest: the client's first key_share is X25519, the server accepts only P-256
tls_flow tls13-hrr-mutual.pcap 9000 tls13-hrr-mutual.keys \
    "-tls1_3 -groups P-256 -Verify 1 -verify_return_error" \
    "-tls1_3 -groups X25519:P-256 -servername server.test $CLIENT_CERT"
if command -v tshark >/dev/null 2>&1; then
    HRR_RANDOM=cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c
    n=$(tshark -n -r "$OUT/tls13-hrr-mutual.pcap" -d tcp.port==9000,tls \
        -Y "tls.handshake.type == 2 && tls.handshake.random == $HRR_RANDOM" 2>/dev/null | wc -l)
    [[ $n -eq 1 ]] || die "tls13-hrr-mutual.pcap: expected 1 HelloRetryRequest, tshark sees $n"
    log "  tshark: HelloRetryRequest present"
fi
tls_flow tls13-chacha20-server-auth.pcap 8443 tls13-chacha20-server-auth.keys \
    "-tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256 -alpn h2,http/1.1" \
    "-tls1_3 -servername server.test -ciphersuites TLS_CHACHA20_POLY1305_SHA256 -alpn h2,http/1.1"
tls_flow tls13-aes128-client-cert-declined.pcap 8443 tls13-aes128-client-cert-declined.keys \
    "-tls1_3 -verify 1 -ciphersuites TLS_AES_128_GCM_SHA256" \
    "-tls1_3 -servername server.test -ciphersuites TLS_AES_128_GCM_SHA256"

# pcapng with a Decryption Secrets Block: tls13-mutual.pcap plus its key log, embedded
log "tls13-mutual-dsb.pcapng"
rm -f "$OUT/tls13-mutual-dsb.pcapng"
editcap --inject-secrets "tls,$KEYS/tls13-mutual.keys" "$OUT/tls13-mutual.pcap" "$OUT/tls13-mutual-dsb.pcapng"
log "  wrote tls13-mutual-dsb.pcapng ($(stat -c %s "$OUT/tls13-mutual-dsb.pcapng") bytes)"

# ---------------------------------------------------------- key logs for negative tests
# unrelated.keys: real key log lines (one TLS 1.3 and one TLS 1.2 connection) from
# connections that are NOT captured anywhere, so they match no capture.
log "keys/unrelated.keys (two uncaptured connections)"
tls_server 8443 unrelated13 -tls1_3 -Verify 1 -verify_return_error
# shellcheck disable=SC2086
tls_client 8443 unrelated13 -tls1_3 -servername server.test $CLIENT_CERT -keylogfile "$KEYS/unrelated.keys"
tls_server 9000 unrelated12 -tls1_2
tls_client 9000 unrelated12 -tls1_2 -servername server.test -keylogfile "$KEYS/unrelated.keys"
[[ $(grep -c '^CLIENT_RANDOM ' "$KEYS/unrelated.keys") -eq 1 && \
   $(grep -c '^CLIENT_TRAFFIC_SECRET_0 ' "$KEYS/unrelated.keys") -eq 1 ]] \
    || die "keys/unrelated.keys does not hold one TLS 1.2 and one TLS 1.3 connection"

# malformed.keys: fixed content; no line is a usable key log entry (see README)
log "keys/malformed.keys"
cat > "$KEYS/malformed.keys" <<'MALFORMED'
# Bulkhead capture corpus: a deliberately MALFORMED NSS key log file (see captures/README.md).
# No line in it is a usable key log entry, and nothing in it matches any capture.

garbage: this line is not a key log line at all
CLIENT_RANDOM
CLIENT_RANDOM zz4e1195df020de59e0d65a33a4279f1183e7ae4e5d980e309f8b55adff2e61c c02c0b965e023abee808f2b548d8d5193a8b5229be6f3121a6f16e2d41a449b37dc96f776c8423e57a2785489a3f9c43
# a TLS 1.2 master secret cut off after 95 hex digits (47.5 of 48 bytes)
CLIENT_RANDOM 122c597083bd438b7f6d72af75d025948899647711b806bdd2cd82fa69713db3 0ad52e338662c923b15fd45a73c6e97336efccf28a7aef9449443cc6dd7415fb8b53639f152c8fc6ef30802fde462ba
# a TLS 1.3 secret cut off after 11 hex digits
CLIENT_HANDSHAKE_TRAFFIC_SECRET 5c88e7a226e11ad1204cb8d30cd5d6ff6cba69bc32da73134928e17c90c54086 865ab0d317f
# an unknown label (otherwise well-formed: 32-byte client random, 48-byte secret)
SERVER_SECRET_OF_THE_DAY f21b0ef89d8ee5daf6ba6cd441652a647229941e85b1537b5c35ede6b4d519a8 db87cee52504ca5732bad49ddb1d5b8551c011c1891996d58aacae47f66585ed33112ee14ee469c3eb52fe90322ec81d
  	  

MALFORMED

# ---------------------------------------------------------- link-layer / format variants
log "ipv6-http.pcap"
cap_start ipv6-http.pcap "$NS_S" bhc-srv6
inc curl -sS -o /dev/null -g "http://[$S6]:8080/"
cap_stop

log "vlan-http-basic-auth.pcap"
cap_start vlan-http-basic-auth.pcap "$NS_S" bhc-srvt
inc curl -sS -o /dev/null -u "$HTTP_BASIC" "http://$SV:8080/private/"
cap_stop

log "tls12-linux-sll2.pcap"
cap_start tls12-linux-sll2.pcap "$NS_C" any -y LINUX_SLL2
tls_server 8443 sll2 -tls1_2
tls_client 8443 sll2 -tls1_2 -servername server.test
cap_stop

log "tls12-mutual-dumpcap.pcapng"
cap_start_dumpcap tls12-mutual-dumpcap.pcapng "$NS_S" bhc-srv0
tls_server 9000 dumpcap -tls1_2 -Verify 1 -verify_return_error
# shellcheck disable=SC2086
tls_client 9000 dumpcap -tls1_2 -servername server.test $CLIENT_CERT
cap_stop 1.5   # dumpcap has no immediate mode: give libpcap's buffer timeout time to expire

log "http-snaplen96.pcap"
cap_start http-snaplen96.pcap "$NS_S" bhc-srv0 -s 96
inc curl -sS -o /dev/null "http://$S4:8080/index.html"
cap_stop

log "mixed-nanosecond.pcap"
cap_start mixed-nanosecond.pcap "$NS_S" bhc-srv0 --time-stamp-precision=nano
inc curl -sS -o /dev/null "http://$S4:8080/"
resp PING GET greeting | inc redis-cli -h "$S4" -p 6380 --no-auth-warning -a "$REDIS_PASS" --pipe >/dev/null
tls_server 9000 mixed -tls1_2
tls_client 9000 mixed -tls1_2 -servername server.test
cap_stop

# ------------------------------------------------------------------ summary
teardown
# the rm -f of *.pcap above removed the tunnel and XMPP/IRC captures too: make them again
bash "$HERE/make-tunnel-captures.sh" || die "make-tunnel-captures.sh failed"
chmod 644 "$OUT"/*.pcap "$OUT"/*.pcapng "$KEYS"/*.keys
log "done: $(ls "$OUT"/*.pcap "$OUT"/*.pcapng | wc -l) captures, $(du -ch "$OUT"/*.pcap "$OUT"/*.pcapng | tail -n1 | cut -f1) total"
teardown
# The overlay captures (VXLAN, Geneve, gretap, ipip on an underlay veth) have their own namespaces and addresses
# (198.19.40.0/24 and up): see make-encap-captures.sh.
bash "$HERE/make-encap-captures.sh" || die "make-encap-captures.sh failed"
# The MQTT, AMQP, STOMP and NATS captures (Mosquitto, RabbitMQ, nats-server, 198.19.62.0/24): see make-broker-captures.sh.
bash "$HERE/make-broker-captures.sh" || die "make-broker-captures.sh failed"
# The MySQL protocol captures (MariaDB's server and client, 198.19.63.0/24): see make-mysql-captures.sh.
bash "$HERE/make-mysql-captures.sh" || die "make-mysql-captures.sh failed"
# The LDAP captures (OpenLDAP's slapd and the ldap3 client, 198.19.64.0/24): see make-ldap-captures.sh.
bash "$HERE/make-ldap-captures.sh" || die "make-ldap-captures.sh failed"
# The HTTP/1.1 upgrade to h2c (Apache httpd with mod_http2, curl and Java's HttpClient, 198.19.65.0/24): see
# make-h2c-captures.sh.
bash "$HERE/make-h2c-captures.sh" || die "make-h2c-captures.sh failed"
# ZooKeeper (Debian's server, Kazoo and zkCli.sh, 198.19.66.0/24): see make-zookeeper-captures.sh.
bash "$HERE/make-zookeeper-captures.sh" || die "make-zookeeper-captures.sh failed"
# memcached's binary protocol and SASL login (Debian's memcached and libmemcached-tools, 198.19.67.0/24): see
# make-memcached-captures.sh.
bash "$HERE/make-memcached-captures.sh" || die "make-memcached-captures.sh failed"
# The QUIC captures (aioquic peers, 198.19.61.0/24): see make-quic-captures.sh; it needs aioquic from PyPI.
bash "$HERE/make-quic-captures.sh" || die "make-quic-captures.sh failed"
# Connections the capture joined after their start, cut from the captures above: see make-midstream-captures.sh.
bash "$HERE/make-midstream-captures.sh" || die "make-midstream-captures.sh failed"
if [[ ${BH_SKIP_CHECK:-0} != 1 ]] && command -v tshark >/dev/null 2>&1; then
    log "cross-checking expected/*.json against the new captures with tshark (BH_SKIP_CHECK=1 skips)"
    "$PY" "$TOOLS/check_expected.py" || die "captures do not match expected/*.json (see above)"
fi
