#!/usr/bin/env bash
# make-h2c-captures.sh — the HTTP/1.1 → HTTP/2 upgrade (`Upgrade: h2c`, RFC 7540 §3.2) part of the capture corpus:
# real clients (curl 7.88 `--http2` on http:// URLs, and Java 17's java.net.http.HttpClient asked for HTTP/2) talking
# to a real Apache httpd 2.4 with mod_http2 (`Protocols h2c http/1.1`), in two network namespaces this script creates
# (bh-h2c-cli, bh-h2c-srv) and deletes again on exit, captured on the server's veth.
#
#   sudo bash captures/make-h2c-captures.sh     (make-captures.sh runs it)
#
# Address plan (nothing else is ever used): 198.19.65.0/24, veth bhh-cli <-> bhh-srv, client .1, server .2. httpd
# listens on 8080 (h2c offered) and 8082 (HTTP/1.1 only: a server that ignores the upgrade). Every capture holds
# exactly one TCP flow.
#
#   h2c-upgrade-basic.pcap        curl --http2 -u alice: two URLs on one connection; the first request (HTTP/1.1, with
#                                 the upgrade) and the second (HTTP/2, HPACK) both carry Basic credentials
#   h2c-upgrade-java-bearer.pcap  Java's HttpClient: a first GET without credentials upgrades the connection, then two
#                                 GETs with a Bearer token, only ever sent as HTTP/2
#   h2c-upgrade-digest.pcap       curl --http2 --digest: the first request is answered 401 in HTTP/1.1, the second
#                                 (with the digest, asking again) switches the connection
#   h2c-upgrade-declined.pcap     curl --http2 -u alice against 8082: httpd answers in HTTP/1.1 and the connection
#                                 stays HTTP/1.1 (two requests, each with Basic credentials)
#
# httpd runs mpm_worker: with mpm_event (Debian's default) httpd 2.4.71 often ends an upgraded connection with a
# GOAWAY right after its first stream, which Java's client reports as a failure.
#
# Requirements (Debian 12): iproute2 tcpdump ethtool curl apache2 openjdk-17-jdk-headless (java).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
TOOLS=$HERE/tools
# shellcheck source=tools/netns-helpers.sh
source "$TOOLS/netns-helpers.sh"   # lab_begin inc ins veth_link cap_on cap_stop wait_for wait_tcp

NS_C=bh-h2c-cli
NS_S=bh-h2c-srv
CLIENT=198.19.65.1
SERVER=198.19.65.2

# Throwaway secrets. They only ever cross the veth between our own namespaces.
BASIC_PASSWORD='h2c-Secret-1'
DIGEST_PASSWORD='h2c-Digest-2'
BEARER_TOKEN='eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJoMmMtY2xpZW50In0.h2c-signature-000'

lab_begin make-h2c-captures ip ethtool tcpdump ss curl apache2 htpasswd java
[[ -f /usr/lib/apache2/modules/mod_http2.so ]] || die "mod_http2 missing (apt-get install apache2)"
chmod 755 "$WORK"   # httpd's children (www-data) read the document root below it

CAP_PID=
CAP_FILE=
cap_start() { cap_on "$NS_S" bhh-srv "$1" tcp port "$2"; }

log "creating namespaces $NS_C, $NS_S"
ns_create "$NS_C" "$NS_S"
veth_link "$NS_C" bhh-cli "$CLIENT/24" "$NS_S" bhh-srv "$SERVER/24"

log "starting httpd"
mkdir -p "$WORK/www/private" "$WORK/www/digest" "$WORK/www/api"
echo hello >"$WORK/www/index.html"
echo private-a >"$WORK/www/private/a.txt"
echo private-b >"$WORK/www/private/b.txt"
echo digest >"$WORK/www/digest/c.txt"
echo api-a >"$WORK/www/api/a.txt"
echo api-b >"$WORK/www/api/b.txt"
htpasswd -bc "$WORK/htpasswd" alice "$BASIC_PASSWORD" 2>/dev/null
# htdigest's file: user:realm:MD5(user:realm:password)
printf 'alice:digest-realm:%s\n' "$(printf '%s' "alice:digest-realm:$DIGEST_PASSWORD" | md5sum | cut -d' ' -f1)" \
    >"$WORK/htdigest"
chmod 644 "$WORK/htpasswd" "$WORK/htdigest"
cat >"$WORK/httpd.conf" <<CONF
ServerRoot /usr/lib/apache2
ServerName server.test
User www-data
Group www-data
PidFile $WORK/httpd.pid
ErrorLog $WORK/error.log
LoadModule mpm_worker_module modules/mod_mpm_worker.so
LoadModule authz_core_module modules/mod_authz_core.so
LoadModule authn_core_module modules/mod_authn_core.so
LoadModule authn_file_module modules/mod_authn_file.so
LoadModule authz_user_module modules/mod_authz_user.so
LoadModule auth_basic_module modules/mod_auth_basic.so
LoadModule auth_digest_module modules/mod_auth_digest.so
LoadModule mime_module modules/mod_mime.so
LoadModule http2_module modules/mod_http2.so
TypesConfig /etc/mime.types
Listen $SERVER:8080
Listen $SERVER:8082
Protocols h2c http/1.1
DocumentRoot $WORK/www
<Directory $WORK/www/private>
  AuthType Basic
  AuthName private
  AuthUserFile $WORK/htpasswd
  Require valid-user
</Directory>
<Directory $WORK/www/digest>
  AuthType Digest
  AuthName digest-realm
  AuthDigestProvider file
  AuthUserFile $WORK/htdigest
  Require valid-user
</Directory>
<VirtualHost $SERVER:8082>
  ServerName server.test
  Protocols http/1.1
</VirtualHost>
CONF
ins apache2 -f "$WORK/httpd.conf" -k start || die "httpd did not start: $(cat "$WORK/error.log" 2>/dev/null)"
wait_tcp 8080
wait_tcp 8082

# curl_session FILE PORT CURL_ARGS… — one curl run (one connection), captured; its transcript kept for the checks
curl_session() {
    local file=$1 port=$2
    shift 2
    log "$file"
    cap_start "$file" "$port"
    inc curl -sS -v --fail "$@" >/dev/null 2>"$WORK/$file.curl" || die "curl failed: $(cat "$WORK/$file.curl")"
    cap_stop
    [[ $(grep -c "Connected to" "$WORK/$file.curl") -eq 1 ]] || die "$file: curl opened more than one connection"
}

curl_session h2c-upgrade-basic.pcap 8080 --http2 -u "alice:$BASIC_PASSWORD" \
    "http://$SERVER:8080/private/a.txt" "http://$SERVER:8080/private/b.txt"
grep -q "Received 101, Switching to HTTP/2" "$WORK/h2c-upgrade-basic.pcap.curl" || die "no h2c upgrade"

curl_session h2c-upgrade-digest.pcap 8080 --http2 --digest -u "alice:$DIGEST_PASSWORD" \
    "http://$SERVER:8080/digest/c.txt"
grep -q "HTTP/1.1 401" "$WORK/h2c-upgrade-digest.pcap.curl" || die "the digest capture had no challenge"
grep -q "Received 101, Switching to HTTP/2" "$WORK/h2c-upgrade-digest.pcap.curl" || die "no h2c upgrade"

curl_session h2c-upgrade-declined.pcap 8082 --http2 -u "alice:$BASIC_PASSWORD" \
    "http://$SERVER:8082/private/a.txt" "http://$SERVER:8082/private/b.txt"
if grep -q "Switching to HTTP/2" "$WORK/h2c-upgrade-declined.pcap.curl"; then die "8082 switched to HTTP/2"; fi

log "h2c-upgrade-java-bearer.pcap"
cap_start h2c-upgrade-java-bearer.pcap 8080
inc java "$TOOLS/H2cClient.java" "http://$SERVER:8080" "$BEARER_TOKEN" >"$WORK/java.out" 2>&1 \
    || die "the Java client failed: $(cat "$WORK/java.out")"
cap_stop

ins apache2 -f "$WORK/httpd.conf" -k stop || true
chmod 644 "$OUT"/h2c-upgrade-*.pcap
log "done"
