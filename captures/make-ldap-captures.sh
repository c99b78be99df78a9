#!/usr/bin/env bash
# make-ldap-captures.sh — the LDAP part of the capture corpus: the real ldap3 client (PyPI) talking to a real OpenLDAP
# slapd (Debian's 2.5) in two network namespaces this script creates (bh-ldap-cli, bh-ldap-srv) and deletes again on
# exit, captured on the server's veth.
#
#   sudo bash captures/make-ldap-captures.sh     (make-captures.sh runs it)
#
# Address plan (nothing else is ever used): 198.19.64.0/24, veth bhl-cli <-> bhl-srv, client .1, server .2; slapd on
# 389. Every capture holds exactly one TCP flow (client ephemeral port -> 389).
#
#   ldap-simple-bind.pcap   a simple bind as the directory's manager, then a search: the password in clear
#   ldap-starttls.pcap      ldap3's open: the root DSE and the schema read in clear first (about 75 kB of answers),
#                           then the StartTLS extended operation, TLS, and the bind inside it
#
# Requirements (Debian 12): iproute2 tcpdump openssl ethtool slapd, and ldap3 from PyPI (python3 -m pip install ldap3).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
TOOLS=$HERE/tools
PY=$(command -v python3)
# shellcheck source=tools/netns-helpers.sh
source "$TOOLS/netns-helpers.sh"   # lab_begin inc ins lab_pki veth_link cap_on cap_stop wait_for wait_tcp

NS_C=bh-ldap-cli
NS_S=bh-ldap-srv
CLIENT=198.19.64.1
SERVER=198.19.64.2

# A throwaway secret. It only ever crosses the veth between our own namespaces.
MANAGER_PASSWORD='ldap-Secret-99'

lab_begin make-ldap-captures ip ethtool tcpdump openssl ss slapd "$PY"
"$PY" -c 'import ldap3' 2>/dev/null || die "ldap3 missing: python3 -m pip install ldap3"

CAP_PID=
CAP_FILE=
cap_start() { cap_on "$NS_S" bhl-srv "$1" tcp port 389; }

lab_pki "DNS:server.test,IP:$SERVER"

log "creating namespaces $NS_C, $NS_S"
ns_create "$NS_C" "$NS_S"
veth_link "$NS_C" bhl-cli "$CLIENT/24" "$NS_S" bhl-srv "$SERVER/24"

log "starting slapd"
mkdir -p "$WORK/db"
cat >"$WORK/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $WORK/slapd.pid
TLSCertificateFile $PKI/server.pem
TLSCertificateKeyFile $PKI/server.key
TLSCACertificateFile $PKI/ca.pem
database mdb
suffix "dc=bulkhead,dc=test"
rootdn "cn=admin,dc=bulkhead,dc=test"
rootpw $MANAGER_PASSWORD
directory $WORK/db
CONF
ins slapd -f "$WORK/slapd.conf" -h "ldap://$SERVER:389/" || die "slapd did not start"
wait_tcp 389

# ldap_session FILE MODE — one ldap3 session (MODE simple or starttls), captured
ldap_session() {
    log "$1"
    cap_start "$1"
    inc "$PY" - "$2" "$SERVER" "$PKI/ca.pem" "$MANAGER_PASSWORD" >"$WORK/$1.out" 2>&1 <<'PYTHON' \
        || die "the ldap3 client failed: $(cat "$WORK/$1.out")"
import ssl
import sys

from ldap3 import SIMPLE, Connection, Server, Tls

mode, host, ca, password = sys.argv[1:5]
server = Server(host, port=389, tls=Tls(ca_certs_file=ca, validate=ssl.CERT_REQUIRED))
connection = Connection(server, user="cn=admin,dc=bulkhead,dc=test", password=password, authentication=SIMPLE)
if mode == "starttls":
    connection.open()
    assert connection.start_tls(), connection.result
assert connection.bind(), connection.result
connection.search("dc=bulkhead,dc=test", "(objectClass=*)")
connection.unbind()
PYTHON
    cap_stop
}
ldap_session ldap-simple-bind.pcap simple
ldap_session ldap-starttls.pcap starttls

kill "$(cat "$WORK/slapd.pid")" 2>/dev/null || true
chmod 644 "$OUT"/ldap-*.pcap
log "done"
