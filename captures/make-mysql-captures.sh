#!/usr/bin/env bash
# make-mysql-captures.sh — the MySQL protocol part of the capture corpus: the real mariadb client talking to a real
# MariaDB server (Debian's 10.11) in two network namespaces this script creates (bh-my-cli, bh-my-srv) and deletes
# again on exit, captured on the server's veth.
#
#   sudo bash captures/make-mysql-captures.sh     (make-captures.sh runs it)
#
# Address plan (nothing else is ever used): 198.19.63.0/24, veth bhm-cli <-> bhm-srv, client .1, server .2; MariaDB
# on 3306. Every capture holds exactly one TCP flow (client ephemeral port -> 3306).
#
#   mysql-native-password.pcap   user app, mysql_native_password, no TLS: the scramble of the password crosses
#   mysql-pam-dialog.pcap        user pamuser, IDENTIFIED VIA pam: the server switches the login to MariaDB's dialog
#                                plugin, and the client answers with the password itself, in clear
#   mysql-tls.pcap               user app over TLS 1.2 (the client's SSLRequest, then the handshake): nothing in clear;
#                                the server asks for a client certificate and the client declines
#
# The PAM service the server asks (/etc/pam.d/bulkhead-mariadb-test, made here and removed on exit) is pam_permit:
# any password is accepted, so no account of this machine is involved; the password the client sends is a
# throwaway.
#
# Requirements (Debian 12): iproute2 tcpdump openssl ethtool mariadb-server mariadb-client.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
TOOLS=$HERE/tools
# shellcheck source=tools/netns-helpers.sh
source "$TOOLS/netns-helpers.sh"   # ns_delete cleanup_on_exit inc ins lab_pki veth_link cap_on cap_stop wait_for wait_tcp

NS_C=bh-my-cli
NS_S=bh-my-srv
CLIENT=198.19.63.1
SERVER=198.19.63.2
PAM_SERVICE=/etc/pam.d/bulkhead-mariadb-test

# Throwaway secrets. They only ever cross the veth between our own namespaces.
APP_PASSWORD='db-Secret-42'
PAM_PASSWORD='pam-Secret-77'

log() { printf '[make-mysql-captures] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (sudo bash $0)"
for t in ip ethtool tcpdump openssl ss mariadbd mariadb mariadb-install-db; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool: $t (apt-get install mariadb-server mariadb-client)"
done
[[ -e /usr/lib/mysql/plugin/auth_pam.so ]] || die "MariaDB's PAM plugin is missing (/usr/lib/mysql/plugin/auth_pam.so)"

take_lock make-mysql-captures

WORK=$(mktemp -d /tmp/bh-mysql.XXXXXX)
chmod 755 "$WORK"   # mariadbd runs as mysql and reads its certificates here

teardown() {
    ns_delete "$NS_C" "$NS_S"
    rm -f "$PAM_SERVICE"
}
cleanup_on_exit

teardown   # leftovers of an interrupted earlier run (only our own bh-my-* namespaces and PAM service)

CAP_PID=
CAP_FILE=
cap_start() { cap_on "$NS_S" bhm-srv "$1" tcp port 3306; }

lab_pki "DNS:server.test,IP:$SERVER"
chmod 644 "$PKI"/*.pem "$PKI"/*.key   # throwaway; readable by mariadbd

log "creating namespaces $NS_C, $NS_S"
ns_create "$NS_C" "$NS_S"
veth_link "$NS_C" bhm-cli "$CLIENT/24" "$NS_S" bhm-srv "$SERVER/24"

log "starting MariaDB"
printf '%s\n' 'auth required pam_permit.so' 'account required pam_permit.so' >"$PAM_SERVICE"
mkdir -p "$WORK/data" "$WORK/run"
chown mysql: "$WORK/data" "$WORK/run"
mariadb-install-db --user=mysql --datadir="$WORK/data" --auth-root-authentication-method=normal --skip-test-db \
    >"$WORK/install.log" 2>&1 || die "mariadb-install-db failed: $(tail -3 "$WORK/install.log")"
ins mariadbd --no-defaults --user=mysql --datadir="$WORK/data" --socket="$WORK/run/mysqld.sock" \
    --pid-file="$WORK/run/mysqld.pid" --bind-address="$SERVER" --port=3306 --skip-name-resolve \
    --plugin-load-add=auth_pam --log-error="$WORK/run/error.log" \
    --ssl-ca="$PKI/ca.pem" --ssl-cert="$PKI/server.pem" --ssl-key="$PKI/server.key" &
wait_tcp 3306
ins mariadb --no-defaults -S "$WORK/run/mysqld.sock" -u root -e "
    CREATE USER 'app'@'%' IDENTIFIED BY '$APP_PASSWORD';
    CREATE USER 'pamuser'@'%' IDENTIFIED VIA pam USING '$(basename "$PAM_SERVICE")';" \
    || die "could not create the users: $(tail -3 "$WORK/run/error.log")"

# mysql_query FILE USER PASSWORD TLS-OPTIONS... — one login and one query, captured
mysql_query() {
    local file=$1 user=$2 password=$3
    shift 3
    log "$file"
    cap_start "$file"
    inc mariadb --no-defaults -h "$SERVER" -P 3306 -u "$user" -p"$password" "$@" -e 'SELECT CURRENT_USER()' \
        >"$WORK/$file.out" 2>&1 || die "the mariadb client failed: $(cat "$WORK/$file.out")"
    cap_stop
    grep -q "$user@%" "$WORK/$file.out" || die "$file: unexpected answer: $(cat "$WORK/$file.out")"
}
mysql_query mysql-native-password.pcap app "$APP_PASSWORD" --skip-ssl
mysql_query mysql-pam-dialog.pcap pamuser "$PAM_PASSWORD" --skip-ssl
# TLS 1.2, so that the server's CertificateRequest and the client's empty Certificate are in clear (the client
# declines: it has no certificate to give)
mysql_query mysql-tls.pcap app "$APP_PASSWORD" --ssl --ssl-ca="$PKI/ca.pem" --ssl-verify-server-cert --tls-version=TLSv1.2

chmod 644 "$OUT"/mysql-*.pcap
log "done"
