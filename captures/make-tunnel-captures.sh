#!/usr/bin/env bash
# make-tunnel-captures.sh — the proxy-tunnel and XMPP/IRC STARTTLS part of the capture corpus.
#
#   sudo bash captures/make-tunnel-captures.sh      (make-captures.sh runs it too, at its end)
#
# Real clients (curl, openssl s_client) talk through proxies (tinyproxy for HTTP CONNECT,
# tools/bhcap.py proxy for SOCKS 4, 4a and 5) to openssl s_server, and to small XMPP and IRC
# STARTTLS peers (tools/bhcap.py), between two network namespaces this script creates
# (bh-tun-cli, bh-tun-srv) and deletes again on exit. It rewrites only the captures it makes.
#
# Address plan (nothing else is ever used; the namespaces have no default route, the SOCKS proxy
# connects only to the two backend addresses below, named in its allow list, and tinyproxy only to
# backend.test, by its filter; both names resolve through /etc/netns/bh-tun-srv/hosts, which
# `ip netns exec` puts in place of /etc/hosts inside bh-tun-srv, made here and removed on exit):
#   198.19.210.0/24   veth bht-cli0 <-> bht-srv0   client .1, proxy / XMPP / IRC server .2
#   198.19.211.2/32   on bh-tun-srv's lo           backend.test: openssl s_server on 8443
#   198.19.211.3/32   on bh-tun-srv's lo           proxy2.test: tinyproxy again, as the second proxy
#                                                  of the nested capture
#
# Ports (in bh-tun-srv): 1080 SOCKS (bhcap.py), 3128 HTTP CONNECT (tinyproxy with Basic auth, on every
#   address of the namespace), 5222 XMPP c2s, 5269 XMPP s2s, 6667 IRC, 198.19.211.2:8443 TLS backend.
#
# Certificates are generated at run time (throwaway PKI in a temp dir), as in make-captures.sh.
#
# Requirements (Debian 12): tcpdump openssl curl tinyproxy-bin (or tinyproxy) python3 iproute2 ethtool
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
TOOLS=$HERE/tools
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)

NS_C=bh-tun-cli
NS_S=bh-tun-srv
C4=198.19.210.1
P4=198.19.210.2
BACKEND=198.19.211.2
PROXY2=198.19.211.3
ALLOW="backend.test=$BACKEND,proxy2.test=$PROXY2"

# Throwaway secrets: they only cross the veth between our own namespaces and never reach an expected file.
SOCKS_USER=bob
SOCKS_PASS='socks-test-pass-6161'
HTTP_PROXY_USER=carol
HTTP_PROXY_PASS='proxy-test-pass-2718'

log() { printf '[make-tunnel-captures] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (sudo bash $0)"
for t in ip ethtool tcpdump openssl curl tinyproxy ss "$PY"; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool: $t"
done

# take_lock, ns_create, ns_exists, ns_kill_all, wait_for, tcp_listening, udp_listening, wait_tcp, wait_pid
# shellcheck source=tools/netns-helpers.sh
source "$TOOLS/netns-helpers.sh"

take_lock make-tunnel-captures

WORK=$(mktemp -d /tmp/bh-tun.XXXXXX)
chmod 755 "$WORK"

HOSTS_DIR=/etc/netns/$NS_S   # ip netns exec bind-mounts its files over /etc inside the namespace
teardown() {
    ns_delete "$NS_C" "$NS_S"
    rm -f "$HOSTS_DIR/hosts"
    rmdir "$HOSTS_DIR" /etc/netns 2>/dev/null || true   # /etc/netns only if nothing else is in it
}
cleanup_on_exit
teardown


CAP_PID=
CAP_FILE=
cap_start() { cap_on "$NS_S" bht-srv0 "$1" tcp; }   # cap_start FILE — tcpdump on the proxy side of the veth

# ------------------------------------------------------------------ PKI
log "generating throwaway PKI in $WORK/pki"
PKI=$WORK/pki
make_test_pki "$PKI" backend.test "DNS:backend.test,DNS:server.test,IP:$BACKEND"
NOCA=(-no-CAfile -no-CApath -no-CAstore)

# ------------------------------------------------------------------ namespaces
log "creating namespaces $NS_C, $NS_S"
ns_create "$NS_C" "$NS_S"
ip link add bht-cli0 netns "$NS_C" type veth peer name bht-srv0 netns "$NS_S"
ip -n "$NS_C" addr add "$C4/24" dev bht-cli0
ip -n "$NS_S" addr add "$P4/24" dev bht-srv0
ip -n "$NS_S" addr add "$BACKEND/32" dev lo
ip -n "$NS_S" addr add "$PROXY2/32" dev lo
ip -n "$NS_C" link set bht-cli0 up
ip -n "$NS_S" link set bht-srv0 up
for pair in "$NS_C bht-cli0" "$NS_S bht-srv0"; do
    set -- $pair
    ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 || true
done
set --
inc curl -s -o /dev/null --max-time 1 "http://$P4:1/" || true   # warm the ARP caches
mkdir -p "$HOSTS_DIR"
printf '127.0.0.1 localhost\n%s backend.test\n%s proxy2.test\n' "$BACKEND" "$PROXY2" > "$HOSTS_DIR/hosts"

# ------------------------------------------------------------------ servers
# s_server -HTTP sends a file as the whole HTTP response, status line and headers included
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello through the tunnel\n' > "$WORK/hello.txt"
chmod 644 "$WORK/hello.txt"

BACKEND_PID=
# backend [s_server options] — one-shot s_server on backend.test:8443 serving $WORK over -HTTP
backend() {
    (cd "$WORK" && exec ip netns exec "$NS_S" openssl s_server -accept "$BACKEND:8443" -cert "$PKI/server.pem" \
        -key "$PKI/server.key" "${NOCA[@]}" -verifyCAfile "$PKI/ca.pem" -naccept 1 -HTTP "$@") \
        >"$WORK/backend.log" 2>&1 </dev/null &
    BACKEND_PID=$!
    wait_for 10 tcp_listening "$NS_S" 8443 || die "backend did not come up"
}
PROXY_PID=
# proxy ADDRESS PORT [--socks-user U:P] — the SOCKS proxy, for one connection
proxy() {
    local address=$1 port=$2; shift 2
    ip netns exec "$NS_S" "$PY" "$TOOLS/bhcap.py" proxy "$address" "$port" 1 "$ALLOW" "$@" >>"$WORK/proxy.log" 2>&1 &
    PROXY_PID=$!
    wait_tcp "$port"
}
finish() {   # wait for the one-shot servers of a capture
    wait_pid "$PROXY_PID" 5
    [[ -n $BACKEND_PID ]] && wait_pid "$BACKEND_PID" 5
    BACKEND_PID=
}
CURL_TLS=(--cacert "$PKI/ca.pem" -sS -o "$WORK/curl.out" --max-time 10)

# tinyproxy: HTTP CONNECT only to backend.test:8443 (FilterDefaultDeny plus a filter naming it alone), Basic
# auth required, on every address of bh-tun-srv (198.19.210.2 and proxy2.test); it serves all three CONNECT
# captures and is stopped after them.
mkdir -p "$WORK/tinyproxy"
printf '^backend[.]test$\n' > "$WORK/tinyproxy/filter"
cat > "$WORK/tinyproxy/tinyproxy.conf" <<CONF
User nobody
Group nogroup
Port 3128
Timeout 10
MaxClients 8
LogLevel Info
PidFile "$WORK/tinyproxy/tinyproxy.pid"
Allow 198.19.210.0/24
Allow 198.19.211.0/24
ConnectPort 8443
BasicAuth $HTTP_PROXY_USER $HTTP_PROXY_PASS
Filter "$WORK/tinyproxy/filter"
FilterURLs Off
FilterDefaultDeny Yes
DisableViaHeader Yes
CONF
chown -R nobody:nogroup "$WORK/tinyproxy"
ip netns exec "$NS_S" tinyproxy -d -c "$WORK/tinyproxy/tinyproxy.conf" >"$WORK/tinyproxy.log" 2>&1 &
TINYPROXY_PID=$!
wait_tcp 3128
check_body() { grep -q 'hello through the tunnel' "$WORK/curl.out" || die "$1: the client did not get the page"; rm -f "$WORK/curl.out"; }

# ------------------------------------------------------------------ SOCKS
log "socks5-password-tls12-mutual.pcap"
cap_start socks5-password-tls12-mutual.pcap
backend -tls1_2 -Verify 1 -verify_return_error
proxy "$P4" 1080 --socks-user "$SOCKS_USER:$SOCKS_PASS"
inc curl "${CURL_TLS[@]}" --socks5-hostname "$P4:1080" --proxy-user "$SOCKS_USER:$SOCKS_PASS" \
    --cert "$PKI/client.pem" --key "$PKI/client.key" https://backend.test:8443/hello.txt
finish; cap_stop; check_body socks5-password

log "socks5-tls13.pcap"
cap_start socks5-tls13.pcap
backend -tls1_3
proxy "$P4" 1080
inc curl "${CURL_TLS[@]}" --socks5 "$P4:1080" --resolve "backend.test:8443:$BACKEND" https://backend.test:8443/hello.txt
finish; cap_stop; check_body socks5

log "socks4-tls13.pcap"
cap_start socks4-tls13.pcap
backend -tls1_3
proxy "$P4" 1080
inc curl "${CURL_TLS[@]}" --socks4 "$P4:1080" --resolve "backend.test:8443:$BACKEND" https://backend.test:8443/hello.txt
finish; cap_stop; check_body socks4

log "socks4a-tls13-mutual.pcap"
cap_start socks4a-tls13-mutual.pcap
backend -tls1_3 -Verify 1 -verify_return_error
proxy "$P4" 1080
inc curl "${CURL_TLS[@]}" --socks4a "$P4:1080" --cert "$PKI/client.pem" --key "$PKI/client.key" \
    https://backend.test:8443/hello.txt
finish; cap_stop; check_body socks4a

# ------------------------------------------------------------------ HTTP CONNECT
log "http-connect-tls13-mutual.pcap"
cap_start http-connect-tls13-mutual.pcap
backend -tls1_3 -Verify 1 -verify_return_error
{ printf 'GET /hello.txt HTTP/1.0\r\n\r\n'; sleep 1; } |
    inc openssl s_client -proxy "$P4:3128" -proxy_user "$HTTP_PROXY_USER" -proxy_pass "pass:$HTTP_PROXY_PASS" \
        -connect backend.test:8443 -servername backend.test "${NOCA[@]}" -verifyCAfile "$PKI/ca.pem" \
        -verify_return_error -cert "$PKI/client.pem" -key "$PKI/client.key" -quiet >"$WORK/curl.out" 2>"$WORK/s_client.err" || true
finish; cap_stop; check_body http-connect

log "http-connect-refused.pcap"
cap_start http-connect-refused.pcap
inc curl "${CURL_TLS[@]}" -p -x "http://$P4:3128" https://backend.test:8443/hello.txt 2>"$WORK/curl.err" \
    && die "http-connect-refused: curl got through without proxy credentials"
grep -q '407' "$WORK/curl.err" || die "http-connect-refused: no 407 ($(cat "$WORK/curl.err"))"
cap_stop

# CONNECT inside SOCKS: curl's --preproxy opens a SOCKS 5 tunnel (bhcap.py) to proxy2.test:3128 (tinyproxy), then sends
# CONNECT backend.test:8443 through it, then TLS to the backend.
log "socks5-http-connect-nested.pcap"
cap_start socks5-http-connect-nested.pcap
backend -tls1_3
proxy "$P4" 1080
inc curl "${CURL_TLS[@]}" --preproxy "socks5h://$P4:1080" -p -x http://proxy2.test:3128 \
    --proxy-user "$HTTP_PROXY_USER:$HTTP_PROXY_PASS" https://backend.test:8443/hello.txt
finish; cap_stop; check_body nested
kill "$TINYPROXY_PID" 2>/dev/null || true
wait_pid "$TINYPROXY_PID" 5

# ------------------------------------------------------------------ XMPP / IRC STARTTLS
log "xmpp-starttls.pcap"
cap_start xmpp-starttls.pcap
ins "$PY" "$TOOLS/bhcap.py" xmpp-server "$P4" 5222 "$PKI/server.pem" "$PKI/server.key" "$PKI/ca.pem" &
SRV_PID=$!; wait_tcp 5222
{ sleep 1; } | inc openssl s_client -connect "$P4:5222" -starttls xmpp -xmpphost server.test -servername server.test \
    "${NOCA[@]}" -verifyCAfile "$PKI/ca.pem" -verify_return_error >"$WORK/s_client.log" 2>&1 || true
wait_pid "$SRV_PID" 5; cap_stop
grep -qE 'Verify return code: 0' "$WORK/s_client.log" || die "xmpp: TLS did not come up ($(tail -3 "$WORK/s_client.log"))"

log "xmpp-server-starttls-mutual.pcap"
cap_start xmpp-server-starttls-mutual.pcap
ins "$PY" "$TOOLS/bhcap.py" xmpp-server "$P4" 5269 "$PKI/server.pem" "$PKI/server.key" "$PKI/ca.pem" --require-cert --tls1_2 &
SRV_PID=$!; wait_tcp 5269
{ sleep 1; } | inc openssl s_client -connect "$P4:5269" -starttls xmpp-server -xmpphost server.test -servername server.test \
    "${NOCA[@]}" -verifyCAfile "$PKI/ca.pem" -verify_return_error -cert "$PKI/client.pem" -key "$PKI/client.key" \
    >"$WORK/s_client.log" 2>&1 || true
wait_pid "$SRV_PID" 5; cap_stop
grep -qE 'Verify return code: 0' "$WORK/s_client.log" || die "xmpp-server: TLS did not come up ($(tail -3 "$WORK/s_client.log"))"

log "irc-starttls.pcap"
cap_start irc-starttls.pcap
ins "$PY" "$TOOLS/bhcap.py" irc-server "$P4" 6667 "$PKI/server.pem" "$PKI/server.key" &
SRV_PID=$!; wait_tcp 6667
{ sleep 0.5; printf 'NICK bulkhead\r\n'; sleep 0.5; } | inc openssl s_client -connect "$P4:6667" -starttls irc -servername server.test \
    "${NOCA[@]}" -verifyCAfile "$PKI/ca.pem" -verify_return_error -crlf >"$WORK/s_client.log" 2>&1 || true
wait_pid "$SRV_PID" 5; cap_stop
grep -qE 'Verify return code: 0' "$WORK/s_client.log" || die "irc: TLS did not come up ($(tail -3 "$WORK/s_client.log"))"

chmod 644 "$OUT"/socks*.pcap "$OUT"/http-connect*.pcap "$OUT"/xmpp*.pcap "$OUT"/irc*.pcap
log "done"
