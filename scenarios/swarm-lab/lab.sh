#!/usr/bin/env bash
# A two-node Docker Swarm on this one machine, beside (never instead of) the host's engine:
#   underlay  network namespace NAME-u with a bridge joining the nodes (198.19.B.0/24)
#   node i    network namespace NAME-ni, its own dockerd (and containerd) in a private mount namespace,
#             socket STATE/nodei.sock, bridge 198.19.(B+i).1/24, local pool 198.19.(B+4i).0/22
#   swarm     init on node 1, node 2 joins as a worker; overlay pool 198.19.(B+12).0/22 in /26s
# where B = 16 x SLOT (SLOT 1..14): every address is inside 198.19.0.0/16 and away from the shared test
# engine's 198.18.0.0/16 and 198.19.255.0/24. The lab image (scenarios/lab-image/build.sh) is imported on
# node 1 and copied to node 2 with save | load: no registry.
#
# Usage: lab.sh up NAME SLOT | down NAME | status NAME
#   NAME: [a-z][a-z0-9]{1,7} (names interfaces and namespaces), SLOT: 1..14.
# `up` prints KEY=VALUE lines (sockets, addresses, node IDs) on stdout; on any failure it tears down what
# it built. `down` is safe after a half-built or killed `up`: it stops only the pids the lab recorded (and
# processes whose command line names the lab's own state directory), removes its namespaces, cgroups and
# directories, and says what it removed. Run as root.
set -euo pipefail
docker=${DOCKER:-/usr/bin/docker}
here=$(cd "$(dirname "$0")" && pwd)
action=${1:-}
name=${2:-}
run_root=/run/bulkhead-swarm
data_root=/var/lib/bulkhead-swarm

fail() { echo "lab.sh: $*" >&2; exit 2; }
[[ "$name" =~ ^[a-z][a-z0-9]{1,7}$ ]] || fail "the lab name must match [a-z][a-z0-9]{1,7}, got '${name}'"
state=$run_root/$name
root=$data_root/$name
underlay=$name-u

node_docker() { # node_docker I ARGS...: the engine client against node I
    local node=$1
    shift
    DOCKER_HOST="unix://$state/node$node.sock" DOCKER_API_VERSION=1.41 "$docker" "$@"
}

# Whether pid $1 is still one of this lab's: alive, and its command line names the lab's directories. A recorded pid
# alone proves nothing once its process has ended: pids wrap (32768 here) and the number may now be anyone's,
# the host's own dockerd included.
ours() {
    local cmdline
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
    grep -qE "($state|$root)(/| |$)" <<<"$cmdline"
}

# Processes that belong to this lab: the dockerd pids it recorded, and anything whose command line names the
# lab's own directories (the containerd each engine started, its shims).
lab_pids() {
    local pid
    if [[ -f "$state/pids" ]]; then
        while read -r pid; do ours "$pid" && echo "$pid"; done <"$state/pids"
    fi
    for pid in /proc/[0-9]*; do
        pid=${pid#/proc/}
        # A process may end between the glob and the read: skip it.
        cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
        if grep -qE "($state|$root)(/| |$)" <<<"$cmdline"; then echo "$pid"; fi
    done
}

# Processes in the lab's own cgroups (the tasks' containers: their command lines do not name the lab).
cgroup_pids() {
    local i
    for i in 1 2; do
        find "/sys/fs/cgroup/pids/$name-n$i" -name cgroup.procs -exec cat {} + 2>/dev/null
    done
}

# Sends a signal to the given pids, then waits up to $2 seconds for them to end; prints those still alive.
stop_pids() {
    local signal=$1 seconds=$2 pid alive
    shift 2
    for pid in "$@"; do kill "-$signal" "$pid" 2>/dev/null; done
    for _ in $(seq 1 $((seconds * 4))); do
        alive=$(for pid in "$@"; do [[ -d /proc/$pid ]] && echo "$pid"; done)
        [[ -z "$alive" ]] && return 0
        sleep 0.25
    done
    echo "$alive"
}

down() {
    local pid i cgroup left
    # Tear-down goes on past any failure: whatever can be removed is.
    set +e
    # The engines first, alone, so that each stops its containers in order (containerd and shims still up).
    if [[ -f "$state/pids" ]]; then
        # shellcheck disable=SC2046
        left=$(stop_pids TERM 20 $(while read -r pid; do ours "$pid" && echo "$pid"; done <"$state/pids"))
        # shellcheck disable=SC2086
        [[ -n "$left" ]] && stop_pids KILL 5 $left >/dev/null
    fi
    # Then whatever of the lab is left: containerd, shims, the tasks' processes.
    for _ in 1 2 3; do
        left=$({ lab_pids; cgroup_pids; } | sort -u)
        [[ -z "$left" ]] && break
        # shellcheck disable=SC2086
        left=$(stop_pids TERM 5 $left)
        # shellcheck disable=SC2086
        [[ -n "$left" ]] && stop_pids KILL 5 $left >/dev/null
    done
    for i in 1 2; do
        ip netns del "$name-n$i" 2>/dev/null
    done
    ip netns del "$underlay" 2>/dev/null
    for i in 1 2; do
        for cgroup in /sys/fs/cgroup/*/"$name-n$i"; do
            [[ -d "$cgroup" ]] || continue
            # Deepest first: containers' groups, then the engine's.
            find "$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
    done
    if [[ -d "$root" ]]; then
        # Mounts live in the engines' private mount namespaces and died with them; anything left (a lazy
        # unmount pending) is unmounted before the tree goes.
        grep -F " $root/" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r mountpoint; do
            umount -l "$mountpoint" 2>/dev/null
        done
        rm -rf --one-file-system "$root"
    fi
    rm -rf "$state"
    left=$(ls -d /run/netns/"$name"-* /sys/fs/cgroup/*/"$name"-n* "$root" "$state" 2>/dev/null)
    if [[ -n "$left" ]]; then
        echo "lab.sh: lab $name not wholly removed; left: $left" >&2
        return 1
    fi
    echo "lab $name down" >&2
}

wait_engine() { # wait_engine I: until node I's engine answers, or its log says why not
    local node=$1
    for _ in $(seq 1 120); do
        node_docker "$node" version >/dev/null 2>&1 && return 0
        [[ -d /proc/$(tail -n 1 "$state/pids") ]] || break
        sleep 0.25
    done
    echo "lab.sh: the engine of node $node did not come up; its log follows" >&2
    tail -n 30 "$state/node$node.log" >&2 || true
    return 1
}

up() {
    local slot=$1 base underlay_net i address pid token
    [[ "$slot" =~ ^([1-9]|1[0-4])$ ]] || fail "SLOT must be 1..14, got '$slot'"
    [[ $(id -u) -eq 0 ]] || fail "the Swarm lab needs root (namespaces, dockerd)"
    command -v dockerd >/dev/null || fail "dockerd is missing (apt-get install docker.io)"
    [[ -x "$docker" ]] || fail "no docker client at $docker"
    [[ ! -e "$state" && ! -e "$root" ]] || fail "lab $name exists already (run: $0 down $name)"
    base=$((16 * slot))
    underlay_net=198.19.$base
    # The slot's block 198.19.B.0/20 must be unused on the host (another lab, the shared engine).
    if ip -4 -o addr show | grep -qE " 198\.19\.($base|$((base + 1))|$((base + 2))|$((base + 3))|$((base + 4))|$((base + 5))|$((base + 6))|$((base + 7))|$((base + 8))|$((base + 9))|$((base + 10))|$((base + 11))|$((base + 12))|$((base + 13))|$((base + 14))|$((base + 15)))\."; then
        fail "198.19.$base.0/20 (slot $slot) is in use on the host; pick another slot"
    fi
    for other in "$run_root"/*/slot; do
        if [[ -f "$other" && "$(cat "$other")" == "$slot" ]]; then
            fail "slot $slot is taken by lab $(basename "$(dirname "$other")")"
        fi
    done
    mkdir -p "$state" "$root"
    echo "$slot" >"$state/slot"
    : >"$state/pids"
    trap 'status=$?; if [[ $status -ne 0 ]]; then echo "lab.sh: up failed; tearing down" >&2; down; fi' EXIT
    trap 'exit 130' INT TERM

    ip netns add "$underlay"
    ip -n "$underlay" link set lo up
    ip -n "$underlay" link add br0 type bridge
    ip -n "$underlay" link set br0 up
    for i in 1 2; do
        address=$underlay_net.$((10 + i))
        ip netns add "$name-n$i"
        ip -n "$underlay" link add "u$i" type veth peer name eth0 netns "$name-n$i"
        ip -n "$underlay" link set "u$i" master br0 up
        ip -n "$name-n$i" link set lo up
        ip -n "$name-n$i" addr add "$address/24" dev eth0
        ip -n "$name-n$i" link set eth0 up
        mkdir -p "$root/node$i/etc-docker" "$root/node$i/data" "$root/node$i/exec"
        echo "nameserver $address" >"$root/node$i/resolv.conf"
        echo '{}' >"$root/node$i/daemon.json"
        # nsenter and unshare exec in turn, and the shell execs dockerd: $! is dockerd itself. The shell's
        # text is fixed; every value reaches it as a positional parameter.
        DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 nsenter --net="/run/netns/$name-n$i" \
            unshare --mount --uts --propagation private \
            sh -c 'hostname "$1" && mount --bind "$2/etc-docker" /etc/docker && mkdir -p /run/containerd &&
                   mount --bind "$2/resolv.conf" /etc/resolv.conf && mount -t tmpfs tmpfs /run/containerd &&
                   exec dockerd --data-root "$2/data" --exec-root "$2/exec" --pidfile "$2/dockerd.pid" \
                     -H "unix://$3" --bip "$4" --default-address-pool "$5" --cgroup-parent "/$6" \
                     --config-file "$2/daemon.json"' \
            lab "$name-node$i" "$root/node$i" "$state/node$i.sock" "198.19.$((base + i)).1/24" \
            "base=198.19.$((base + 4 * i)).0/22,size=24" "$name-n$i" >"$state/node$i.log" 2>&1 &
        echo $! >>"$state/pids"
        # The node's socket and root also by its host name, for services whose mounts name them with
        # {{.Node.Hostname}} (deploy/swarm's global job).
        ln -s "node$i.sock" "$state/$name-node$i.sock"
        ln -s "node$i" "$root/$name-node$i"
        wait_engine "$i"
    done
    node_docker 1 swarm init --advertise-addr "$underlay_net.11" --listen-addr "$underlay_net.11:2377" \
        --data-path-addr "$underlay_net.11" --default-addr-pool "198.19.$((base + 12)).0/22" \
        --default-addr-pool-mask-length 26 >/dev/null
    token=$(node_docker 1 swarm join-token -q worker)
    node_docker 2 swarm join --token "$token" --advertise-addr "$underlay_net.12" \
        --listen-addr "$underlay_net.12:2377" --data-path-addr "$underlay_net.12" "$underlay_net.11:2377" >/dev/null
    for _ in $(seq 1 60); do
        [[ $(node_docker 1 node ls --filter role=worker --format '{{.Status}}' 2>/dev/null) == Ready ]] && break
        sleep 0.25
    done
    [[ $(node_docker 1 node ls --filter role=worker --format '{{.Status}}') == Ready ]] || fail "node 2 never became Ready"
    DOCKER_HOST="unix://$state/node1.sock" DOCKER_API_VERSION=1.41 DOCKER="$docker" bash "$here/../lab-image/build.sh" >&2
    node_docker 1 save bulkhead-lab:latest | node_docker 2 load >/dev/null
    echo "LAB=$name"
    echo "STATE=$state"
    for i in 1 2; do
        echo "NODE${i}_SOCKET=$state/node$i.sock"
        echo "NODE${i}_ADDRESS=$underlay_net.$((10 + i))"
        echo "NODE${i}_NETNS=$name-n$i"
        echo "NODE${i}_ID=$(node_docker "$i" info --format '{{.Swarm.NodeID}}')"
    done
    echo "UNDERLAY_NETNS=$underlay"
    echo "UNDERLAY_BRIDGE=br0"
    echo "SWARM_POOL=198.19.$((base + 12)).0/22"
    echo "CLUSTER_ID=$(node_docker 1 info --format '{{.Swarm.Cluster.ID}}')"
}

case "$action" in
up)
    up "${3:-}"
    trap - EXIT
    ;;
down) down ;;
status)
    for i in 1 2; do
        if node_docker "$i" info --format "node $i: {{.Swarm.LocalNodeState}} {{.Swarm.NodeID}}" 2>/dev/null; then :; else echo "node $i: down"; fi
    done
    ;;
*) fail "usage: $0 up NAME SLOT | down NAME | status NAME" ;;
esac
