# netns-helpers.sh — shell helpers shared by the capture scripts (make-captures.sh and its tunnel, encap, broker and QUIC
# siblings; sourced, not run). They touch only the namespaces named to them and the processes inside those namespaces.
#
# They expect log() and die() of the script that sources them, and, for cap_stop, CAP_PID and CAP_FILE as the
# scripts' cap_start sets them.

# ns_exists NS — whether the network namespace exists
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$1"; }

# ns_kill_all NS — kill every process that lives in one of OUR namespaces
ns_kill_all() {
    local ns=$1 pids
    ns_exists "$ns" || return 0
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n $pids ]] && kill $pids 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [[ -z $pids ]] && break
        sleep 0.2
    done
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n $pids ]] && kill -9 $pids 2>/dev/null || true
    return 0
}

# take_lock NAME — one run of the calling script at a time (a lock on file descriptor 8, held until it exits)
take_lock() {
    { exec 8>"/run/lock/bh-$1.lock"; } 2>/dev/null || exec 8>"/tmp/bh-$1.lock"
    flock -n 8 || die "another $1.sh run is in progress"
}

# ns_create NS... — our namespaces, IPv4 only (IPv6 off: no neighbour discovery in the captures), loopback up
ns_create() {
    local ns kv
    for ns in "$@"; do
        ip netns add "$ns"
        for kv in default.disable_ipv6=1 all.disable_ipv6=1; do ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$kv"; done
        ip -n "$ns" link set lo up
    done
}

# ns_delete NS... — kill every process in our namespaces NS..., then delete them (their veth ends, tunnel devices
# and taps go with them)
ns_delete() {
    local ns
    for ns in "$@"; do ns_kill_all "$ns"; done
    for ns in "$@"; do
        if ns_exists "$ns"; then ip netns del "$ns" 2>/dev/null || true; fi
    done
}

# lab_begin NAME TOOL... — how a two-namespace capture script starts: log and die prefixed with [NAME], root, every
# TOOL on the PATH, one run at a time, a work folder ($WORK), and its namespaces ($NS_C, $NS_S: set them first)
# deleted now, in case an interrupted run left them, and again on exit (a teardown() the script defined first is used
# instead)
lab_begin() {
    LAB_NAME=$1
    shift
    log() { printf '[%s] %s\n' "$LAB_NAME" "$*" >&2; }
    die() { log "ERROR: $*"; exit 1; }
    [[ $EUID -eq 0 ]] || die "run as root (sudo bash $0)"
    local tool
    for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool"; done
    take_lock "$LAB_NAME"
    WORK=$(mktemp -d "/tmp/bh-${LAB_NAME#make-}.XXXXXX")
    declare -F teardown >/dev/null || teardown() { ns_delete "$NS_C" "$NS_S"; }
    cleanup_on_exit
    teardown
}

# cleanup_on_exit — on exit, run the sourcing script's teardown(), remove its $WORK and, when it failed, say so;
# INT and TERM exit 130 through the same path. teardown() must work when nothing was set up yet.
cleanup_on_exit() {
    trap _cleanup_exit EXIT
    trap 'exit 130' INT TERM
}
_cleanup_exit() {
    local rc=$?
    set +e
    teardown
    rm -rf "$WORK"
    if [[ $rc -ne 0 ]]; then log "FAILED (exit $rc); namespaces and processes cleaned up"; fi
    exit $rc
}

# inc CMD… / ins CMD… — run a command in the client's / the server's namespace ($NS_C, $NS_S of the sourcing script)
inc() { ip netns exec "$NS_C" "$@"; }
ins() { ip netns exec "$NS_S" "$@"; }

# lab_pki SAN — a throwaway CA, a server certificate for server.test with subjectAltName SAN and a client certificate,
# in $WORK/pki (sets PKI; see make_test_pki)
lab_pki() {
    log "generating throwaway PKI in $WORK/pki"
    PKI=$WORK/pki
    make_test_pki "$PKI" server.test "$1"
}

# veth_link NS_A IF_A ADDR_A NS_B IF_B ADDR_B — a veth pair between two of our namespaces, each end addressed
# (ADDR with its prefix), up, without offloads
veth_link() {
    ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
    ip -n "$1" addr add "$3" dev "$2"
    ip -n "$4" addr add "$6" dev "$5"
    ip -n "$1" link set "$2" up
    ip -n "$4" link set "$5" up
    no_offload "$1" "$2"
    no_offload "$4" "$5"
}

# cap_on NS IFACE FILE [tcpdump arguments and filter...] — tcpdump in NS on IFACE into $OUT/FILE, classic pcap, until
# cap_stop; sets CAP_PID and CAP_FILE (not through a subshell: $! must be tcpdump itself, for the SIGINT that stops it)
cap_on() {
    local ns=$1 ifc=$2
    CAP_FILE=$OUT/$3
    shift 3
    rm -f "$CAP_FILE" "$WORK/cap.err"
    ip netns exec "$ns" tcpdump -Z root -n -U --immediate-mode -i "$ifc" "$@" -w "$CAP_FILE" 2>"$WORK/cap.err" &
    CAP_PID=$!
    wait_for 30 grep -q "listening on" "$WORK/cap.err" || die "tcpdump did not start: $(cat "$WORK/cap.err")"
    sleep 0.2
}

# wait_for SECONDS CMD... — poll until CMD succeeds
wait_for() {
    local limit=$1; shift
    local i
    for ((i = 0; i < limit * 20; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

# tcp_listening NS PORT / udp_listening NS PORT — whether something listens there
tcp_listening() { [[ -n $(ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null) ]]; }
udp_listening() { [[ -n $(ip netns exec "$1" ss -Hlun "sport = :$2" 2>/dev/null) ]]; }
# wait_tcp PORT — wait for a TCP server in the server namespace NS_S of the sourcing script
wait_tcp() { wait_for 10 tcp_listening "$NS_S" "$1" || die "server on tcp/$1 did not come up"; }

# wait_pid PID SECONDS — wait for a child, kill it if it overstays
wait_pid() {
    local pid=$1 limit=$2 i
    for ((i = 0; i < limit * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.05
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# cap_stop [SECONDS] — stop the running capture after SECONDS (default 0.4: the last FIN/ACKs), check it is not empty
cap_stop() {
    sleep "${1:-0.4}"   # let the last FIN/ACKs through
    kill -INT "$CAP_PID" 2>/dev/null || true
    wait "$CAP_PID" 2>/dev/null || true
    CAP_PID=
    [[ -s $CAP_FILE ]] || die "capture $CAP_FILE is empty"
    log "  wrote $(basename "$CAP_FILE") ($(stat -c %s "$CAP_FILE") bytes)"
}

# no_offload NS IFACE — wire-sized frames in the captures (no TSO/GSO super-frames)
no_offload() {
    ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 || true
}

# make_test_pki DIR SERVER_CN SERVER_SAN — the throwaway PKI every capture script uses, in DIR (created):
#   ca.pem/ca.key          RSA 2048, CN=Bulkhead Test CA, O=Bulkhead Test
#   server.pem/server.key  RSA 2048, CN=SERVER_CN, O=Bulkhead Test, serverAuth, subjectAltName=SERVER_SAN
#   client.pem/client.key  EC P-256, CN=client.test, clientAuth, SAN URI:spiffe://bulkhead.test/client
#   client.ext             the client extensions, for further client certificates (make-captures.sh's rogue client)
# Files are made world-readable: they are throwaway, and servers run as other users must read them.
make_test_pki() {
    local dir=$1 cn=$2 san=$3
    mkdir -p "$dir"
    (
        cd "$dir"
        exec 2>/dev/null
        openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 30 \
            -keyout ca.key -out ca.pem -subj "/O=Bulkhead Test/CN=Bulkhead Test CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
        openssl req -new -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/O=Bulkhead Test/CN=$cn"
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" "subjectAltName=$san" > server.ext
        openssl x509 -req -sha256 -days 30 -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -extfile server.ext -out server.pem
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
            "extendedKeyUsage=clientAuth" "subjectAltName=URI:spiffe://bulkhead.test/client" > client.ext
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out client.key
        openssl req -new -key client.key -out client.csr -subj "/CN=client.test"
        openssl x509 -req -sha256 -days 30 -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -extfile client.ext -out client.pem
    ) || die "making the test PKI in $dir failed"
    chmod 644 "$dir"/*.pem "$dir"/*.key
}
