# netns-helpers.sh — shell helpers shared by make-captures.sh and make-tunnel-captures.sh (sourced, not run).
# They touch only the namespaces named to them and the processes inside those namespaces.
# wait_tcp needs NS_S (the server namespace) and die() from the sourcing script.

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$1"; }
ns_kill_all() {   # kill every process that lives in one of OUR namespaces
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

wait_for() {   # wait_for SECONDS CMD...  (poll until CMD succeeds)
    local limit=$1; shift
    local i
    for ((i = 0; i < limit * 20; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}
tcp_listening() { [[ -n $(ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null) ]]; }
udp_listening() { [[ -n $(ip netns exec "$1" ss -Hlun "sport = :$2" 2>/dev/null) ]]; }
wait_tcp() { wait_for 10 tcp_listening "$NS_S" "$1" || die "server on tcp/$1 did not come up"; }

wait_pid() {   # wait_pid PID SECONDS — wait for a child, kill it if it overstays
    local pid=$1 limit=$2 i
    for ((i = 0; i < limit * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.05
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
