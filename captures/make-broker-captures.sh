#!/usr/bin/env bash
# make-broker-captures.sh — the message-broker part of the capture corpus: real clients talking to real MQTT
# (Mosquitto), AMQP 0-9-1 and 1.0 and STOMP (RabbitMQ) and NATS (nats-server) brokers in two network namespaces this
# script creates (bh-brk-cli, bh-brk-srv) and deletes again on exit, captured on the server's veth.
#
#   sudo bash captures/make-broker-captures.sh     (make-captures.sh runs it)
#
# Address plan (nothing else is ever used): 198.19.62.0/24, veth bhb-cli <-> bhb-srv, client .1, server .2.
# Every capture holds exactly one TCP flow (but etcd-call-to-other-grpc: one per attempt of etcdctl; the kafka-* ones:
# two, the client's bootstrap connection and its broker connection) (client ephemeral port -> the broker's port below).
#
#   1883 Mosquitto, password file        1884 Mosquitto, anonymous (MQTT 3.1)
#   5672 RabbitMQ (default user app), AMQP 0-9-1 and 1.0    61613 RabbitMQ STOMP
#   15675 RabbitMQ Web MQTT (MQTT over a WebSocket, /ws)  15674 RabbitMQ Web STOMP (/ws)   (1885: its MQTT, unused)
#   4222 nats-server --user/--pass       4223 nats-server --auth (token)
#   4443 nats-server TLS, verify: true   4444 nats-server TLS, no client certificate asked
#   50051 a gRPC server without TLS (grpcio, h2c): per-call credentials, the other service-to-service shape; and the
#         real etcdctl calling it (a server that is not etcd)
#   4000  a GraphQL subscription endpoint over a WebSocket (a stand-in on Python's websockets, compression off) that
#         gql's client opens with a connection_init carrying its token
#   4001  the same endpoint agreeing to permessage-deflate: gql's client, and Chromium (headless, driven by Selenium),
#         each sending their token in a compressed connection_init
#   9092-9095  a stand-in Kafka broker's SASL_PLAINTEXT listener (bhbroker.py kafka-server; no Kafka in Debian) that
#         kafka-python's consumer authenticates to, on two connections (the bootstrap one and the broker's): PLAIN in
#         SaslAuthenticate v1 (9092), PLAIN as a bare token after SaslHandshake v0 (9093), PLAIN in SaslAuthenticate
#         v2, the flexible encoding (9094), OAUTHBEARER (9095)
#
# Requirements (Debian 12): iproute2 tcpdump openssl python3 ethtool mosquitto mosquitto-clients rabbitmq-server
# amqp-tools nats-server etcd-client chromium chromium-driver, and nats-py, amqp, python-qpid-proton, stomp-py, grpcio,
# paho-mqtt, websocket-client, gql, websockets, selenium and kafka-python from PyPI
# (python3 -m pip install nats-py amqp python-qpid-proton stomp-py grpcio paho-mqtt websocket-client gql websockets
# selenium kafka-python).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
TOOLS=$HERE/tools
PY=$(command -v python3)
# shellcheck source=tools/netns-helpers.sh
source "$TOOLS/netns-helpers.sh"   # ns_delete cleanup_on_exit inc ins lab_pki veth_link cap_on cap_stop wait_for wait_tcp

NS_C=bh-brk-cli
NS_S=bh-brk-srv
CLIENT=198.19.62.1
SERVER=198.19.62.2

# Throwaway secrets. They only ever cross the veth between our own namespaces.
MQTT_USER=sensor-7
MQTT_PASS='mqtt-test-pass-4417'
AMQP_USER=app
AMQP_PASS='amqp-test-pass-2290'
NATS_USER=orders
NATS_PASS='nats-test-pass-8812'
NATS_TOKEN='nats-test-token-5b1e0c93'
GRPC_TOKEN='grpc-test-token-77c1e2a9f0'
GRAPHQL_TOKEN='graphql-test-token-3d9a51'
GRAPHQL_BROWSER_TOKEN='graphql-browser-token-8c21'
KAFKA_USER=orders-svc
KAFKA_PASSWORD='kafka-Pa55-w0rd'
KAFKA_TOKEN='eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcmRlcnMifQ.c2lnbmF0dXJl'

log() { printf '[make-broker-captures] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (sudo bash $0)"
for t in ip ethtool tcpdump openssl ss setpriv mosquitto mosquitto_pub mosquitto_passwd amqp-publish nats-server \
    /usr/lib/rabbitmq/bin/rabbitmq-server etcdctl "$PY"; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool: $t"
done
"$PY" -c 'import nats, amqp, proton, stomp, grpc, paho.mqtt, websocket' 2>/dev/null \
    || die "a python client is missing: python3 -m pip install nats-py amqp python-qpid-proton stomp-py grpcio paho-mqtt websocket-client"

take_lock make-broker-captures

WORK=$(mktemp -d /tmp/bh-broker.XXXXXX)
chmod 755 "$WORK"   # the brokers run as their own users and read their configuration here

teardown() { ns_delete "$NS_C" "$NS_S"; }
cleanup_on_exit

teardown   # leftovers of an interrupted earlier run (only our own bh-brk-* namespaces)

CAP_PID=
CAP_FILE=
# cap_start FILE PORT — tcpdump on the server's veth, classic pcap, the broker's TCP port only
cap_start() { cap_on "$NS_S" bhb-srv "$1" tcp port "$2"; }

lab_pki "DNS:server.test,IP:$SERVER"

log "creating namespaces $NS_C, $NS_S"
ns_create "$NS_C" "$NS_S"
veth_link "$NS_C" bhb-cli "$CLIENT/24" "$NS_S" bhb-srv "$SERVER/24"
mkdir -p "$OUT/keys"

# --- MQTT: Mosquitto, one listener with a password file, one anonymous -------------------------------------------
log "starting mosquitto"
mkdir -p "$WORK/mosquitto"
mosquitto_passwd -c -b "$WORK/mosquitto/passwd" "$MQTT_USER" "$MQTT_PASS" >/dev/null
cat >"$WORK/mosquitto/mosquitto.conf" <<EOF
per_listener_settings true
persistence false
log_dest stderr
listener 1883 $SERVER
allow_anonymous false
password_file $WORK/mosquitto/passwd
listener 1884 $SERVER
allow_anonymous true
EOF
chown -R mosquitto "$WORK/mosquitto" 2>/dev/null || true
chmod 600 "$WORK/mosquitto/passwd"
ins mosquitto -c "$WORK/mosquitto/mosquitto.conf" >"$WORK/mosquitto/log" 2>&1 &
wait_tcp 1883
wait_tcp 1884

log "mqtt-v311-password.pcap"
cap_start mqtt-v311-password.pcap 1883
inc mosquitto_pub -V mqttv311 -h "$SERVER" -p 1883 -i bh-client-311 -u "$MQTT_USER" -P "$MQTT_PASS" \
    -t bulkhead/test -m 'hello from the capture corpus' -q 1 || die "mosquitto_pub (3.1.1) failed"
cap_stop

log "mqtt-v5-password-will.pcap"
cap_start mqtt-v5-password-will.pcap 1883
inc mosquitto_pub -V mqttv5 -h "$SERVER" -p 1883 -i bh-client-5 -u "$MQTT_USER" -P "$MQTT_PASS" \
    -D connect session-expiry-interval 60 --will-topic bulkhead/status --will-payload offline \
    -D will will-delay-interval 5 -t bulkhead/test -m 'hello from the capture corpus' -q 1 \
    || die "mosquitto_pub (5) failed"
cap_stop

log "mqtt-v31-anonymous.pcap"
cap_start mqtt-v31-anonymous.pcap 1884
inc mosquitto_pub -V mqttv31 -h "$SERVER" -p 1884 -i bh-client-31 -t bulkhead/test -m 'hello from the capture corpus' \
    || die "mosquitto_pub (3.1) failed"
cap_stop

# --- AMQP 0-9-1: RabbitMQ, its default user made from the configuration at first boot ----------------------------
log "starting rabbitmq-server (takes a while)"
RMQ=$WORK/rabbitmq
mkdir -p "$RMQ"
cat >"$RMQ/rabbitmq.conf" <<EOF
listeners.tcp.default = $SERVER:5672
stomp.listeners.tcp.1 = $SERVER:61613
mqtt.listeners.tcp.default = $SERVER:1885
web_mqtt.tcp.ip = $SERVER
web_mqtt.tcp.port = 15675
web_stomp.tcp.ip = $SERVER
web_stomp.tcp.port = 15674
default_user = $AMQP_USER
default_pass = $AMQP_PASS
loopback_users = none
EOF
# AMQP 1.0 (same port, its own header), STOMP, and MQTT and STOMP over WebSockets (path /ws)
echo '[rabbitmq_amqp1_0,rabbitmq_stomp,rabbitmq_web_mqtt,rabbitmq_web_stomp].' >"$RMQ/enabled_plugins"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RMQ/.erlang.cookie"
chmod 400 "$RMQ/.erlang.cookie"
chown -R rabbitmq:rabbitmq "$RMQ"
ins env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$RMQ" LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    RABBITMQ_CONFIG_FILE="$RMQ/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ/enabled_plugins" \
    RABBITMQ_CONF_ENV_FILE="$RMQ/rabbitmq-env.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ/advanced.config" \
    RABBITMQ_MNESIA_BASE="$RMQ/mnesia" RABBITMQ_LOG_BASE="$RMQ/log" RABBITMQ_LOGS=- \
    RABBITMQ_PID_FILE="$RMQ/rabbitmq.pid" RABBITMQ_NODENAME=bhbroker@localhost ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1} -noinput' RABBITMQ_ALLOW_INPUT=1 \
    setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups -- /usr/lib/rabbitmq/bin/rabbitmq-server \
    >"$WORK/rabbitmq.log" 2>&1 &
wait_for 120 grep -q "Server startup complete" "$WORK/rabbitmq.log" || die "rabbitmq did not start: $(tail -5 "$WORK/rabbitmq.log")"
wait_tcp 5672
wait_tcp 61613
wait_tcp 15675
wait_tcp 15674

log "amqp-plain.pcap"
cap_start amqp-plain.pcap 5672
inc amqp-publish --url "amqp://$AMQP_USER:$AMQP_PASS@$SERVER:5672" -r bulkhead.test \
    -b 'hello from the capture corpus' || die "amqp-publish failed"
cap_stop

log "amqp-amqplain.pcap"
cap_start amqp-amqplain.pcap 5672
inc "$PY" "$TOOLS/bhbroker.py" amqp --host "$SERVER" --port 5672 --user "$AMQP_USER" --password "$AMQP_PASS" \
    --login-method AMQPLAIN || die "the AMQPLAIN client failed"
cap_stop

log "amqp10-sasl-plain.pcap"
cap_start amqp10-sasl-plain.pcap 5672
inc "$PY" "$TOOLS/bhbroker.py" amqp10 --host "$SERVER" --port 5672 --user "$AMQP_USER" --password "$AMQP_PASS" \
    || die "the AMQP 1.0 client failed"
cap_stop

log "stomp-login.pcap"
cap_start stomp-login.pcap 61613
inc "$PY" "$TOOLS/bhbroker.py" stomp --host "$SERVER" --port 61613 --user "$AMQP_USER" --password "$AMQP_PASS" \
    || die "the STOMP client failed"
cap_stop

log "mqtt-websocket-password.pcap"
cap_start mqtt-websocket-password.pcap 15675
inc "$PY" "$TOOLS/bhbroker.py" mqtt-ws --host "$SERVER" --port 15675 --path /ws --user "$AMQP_USER" \
    --password "$AMQP_PASS" || die "the MQTT-over-WebSocket client failed"
cap_stop

log "stomp-websocket-login.pcap"
cap_start stomp-websocket-login.pcap 15674
inc "$PY" "$TOOLS/bhbroker.py" stomp --host "$SERVER" --port 15674 --ws-path /ws --user "$AMQP_USER" \
    --password "$AMQP_PASS" || die "the STOMP-over-WebSocket client failed"
cap_stop

# --- NATS: nats-server, four configurations ------------------------------------------------------------------------
log "starting nats-server (4)"
NATS=$WORK/nats
mkdir -p "$NATS"
nats_conf() {   # nats_conf NAME PORT EXTRA — a configuration file (nothing from it reaches a shell)
    printf 'listen: "%s:%s"\n%s\n' "$SERVER" "$2" "$3" >"$NATS/$1.conf"
}
nats_conf password 4222 "authorization { user: \"$NATS_USER\", password: \"$NATS_PASS\" }"
nats_conf token 4223 "authorization { token: \"$NATS_TOKEN\" }"
nats_conf tls-verify 4443 "tls { cert_file: \"$PKI/server.pem\", key_file: \"$PKI/server.key\", ca_file: \"$PKI/ca.pem\", verify: true }"
nats_conf tls 4444 "tls { cert_file: \"$PKI/server.pem\", key_file: \"$PKI/server.key\" }"
for name in password token tls-verify tls; do
    ins nats-server -c "$NATS/$name.conf" >"$NATS/$name.log" 2>&1 &
done
for port in 4222 4223 4443 4444; do wait_tcp "$port"; done

nats_capture() {   # nats_capture FILE PORT SCHEME [client options...]
    local file=$1 port=$2 scheme=$3 name=${1%%.*}
    shift 3
    log "$file"
    cap_start "$file" "$port"
    inc "$PY" "$TOOLS/bhbroker.py" nats --server "$scheme://$SERVER:$port" "$@" \
        || die "$file: the NATS client failed"
    cap_stop
}
nats_capture nats-password.pcap 4222 nats --user "$NATS_USER" --password "$NATS_PASS"
nats_capture nats-token.pcap 4223 nats --token "$NATS_TOKEN"
rm -f "$OUT"/keys/nats-tls-*.keys
nats_capture nats-tls-mutual.pcap 4443 tls --cafile "$PKI/ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key" \
    --keylog "$OUT/keys/nats-tls-mutual.keys"
nats_capture nats-tls-server-auth.pcap 4444 tls --cafile "$PKI/ca.pem" --keylog "$OUT/keys/nats-tls-server-auth.keys"

# --- gRPC without TLS: a bearer token in each call's metadata ---------------------------------------------------------
log "starting a gRPC server"
ins "$PY" "$TOOLS/bhbroker.py" grpc-server --listen "$SERVER" --port 50051 >"$WORK/grpc.log" 2>&1 &
wait_tcp 50051
log "h2c-grpc-bearer.pcap"
cap_start h2c-grpc-bearer.pcap 50051
inc "$PY" "$TOOLS/bhbroker.py" grpc-client --host "$SERVER" --port 50051 --token "$GRPC_TOKEN" \
    || die "the gRPC client failed"
cap_stop

# The real etcdctl calling etcd's KV/Range on that server, which is not etcd: it answers Unimplemented, and the flow
# must stay plain http2 with no etcd finding (the etcd captures themselves are made by make-captures.sh).
log "etcd-call-to-other-grpc.pcap"
cap_start etcd-call-to-other-grpc.pcap 50051
if inc env ETCDCTL_API=3 etcdctl --endpoints="http://$SERVER:50051" --command-timeout=3s get /registry/secrets \
    >"$WORK/etcdctl-other.out" 2>&1; then
    die "etcdctl got an answer from a server that is not etcd"
fi
cap_stop
grep -qi "unimplemented\|unknown service" "$WORK/etcdctl-other.out" \
    || die "unexpected etcdctl error: $(tail -2 "$WORK/etcdctl-other.out")"

# --- GraphQL over a WebSocket: the token in connection_init -------------------------------------------------------
log "starting a GraphQL subscription endpoint (stand-in)"
ins "$PY" "$TOOLS/bhbroker.py" graphql-ws-server --listen "$SERVER" --port 4000 >"$WORK/graphql.log" 2>&1 &
wait_tcp 4000
log "graphql-ws-token.pcap"
cap_start graphql-ws-token.pcap 4000
inc "$PY" "$TOOLS/bhbroker.py" graphql-ws-client --host "$SERVER" --port 4000 --token "$GRAPHQL_TOKEN" \
    || die "the GraphQL client failed: $(tail -2 "$WORK/graphql.log")"
cap_stop

# The same endpoint agreeing to permessage-deflate, which Python's websockets and every browser offer by default:
# connection_init crosses compressed, and is as readable.
ins "$PY" "$TOOLS/bhbroker.py" graphql-ws-server --listen "$SERVER" --port 4001 --deflate >"$WORK/graphql-deflate.log" 2>&1 &
wait_tcp 4001
log "graphql-ws-deflate-token.pcap"
cap_start graphql-ws-deflate-token.pcap 4001
inc "$PY" "$TOOLS/bhbroker.py" graphql-ws-client --host "$SERVER" --port 4001 --token "$GRAPHQL_TOKEN" \
    || die "the GraphQL client failed: $(tail -2 "$WORK/graphql-deflate.log")"
cap_stop
log "graphql-ws-browser-token.pcap"
cap_start graphql-ws-browser-token.pcap 4001
inc "$PY" "$TOOLS/bhbroker.py" graphql-ws-browser --host "$SERVER" --port 4001 --token "$GRAPHQL_BROWSER_TOKEN" \
    || die "Chromium's GraphQL page failed: $(tail -2 "$WORK/graphql-deflate.log")"
cap_stop

# --- Kafka's SASL_PLAINTEXT: the real client's PLAIN and OAUTHBEARER tokens in clear --------------------------------
kafka_capture() {  # kafka_capture NAME PORT SERVER-OPTIONS... -- CLIENT-OPTIONS...
    local name=$1 port=$2 server=() client=()
    shift 2
    while [[ $# -gt 0 && $1 != -- ]]; do server+=("$1"); shift; done
    shift
    client=("$@")
    ins "$PY" "$TOOLS/bhbroker.py" kafka-server --listen "$SERVER" --port "$port" "${server[@]}" \
        >"$WORK/kafka-$port.log" 2>&1 &
    wait_tcp "$port"
    log "$name"
    cap_start "$name" "$port"
    inc "$PY" "$TOOLS/bhbroker.py" kafka --host "$SERVER" --port "$port" "${client[@]}" \
        || die "the Kafka client failed on $port: $(tail -2 "$WORK/kafka-$port.log")"
    cap_stop
}
kafka_capture kafka-sasl-plain.pcap 9092 -- --user "$KAFKA_USER" --password "$KAFKA_PASSWORD"
kafka_capture kafka-sasl-plain-handshake-v0.pcap 9093 --handshake-max 0 -- --user "$KAFKA_USER" --password "$KAFKA_PASSWORD"
kafka_capture kafka-sasl-plain-flexible.pcap 9094 --authenticate-max 2 -- --user "$KAFKA_USER" --password "$KAFKA_PASSWORD"
kafka_capture kafka-sasl-oauthbearer.pcap 9095 --mechanism OAUTHBEARER -- --token "$KAFKA_TOKEN"

chmod 644 "$OUT"/h2c-*.pcap "$OUT"/graphql-ws-*.pcap "$OUT"/kafka-*.pcap "$OUT"/etcd-call-to-other-grpc.pcap "$OUT"/mqtt-*.pcap "$OUT"/amqp-*.pcap "$OUT"/stomp-*.pcap "$OUT"/nats-*.pcap "$OUT"/keys/nats-tls-*.keys
log "done"
