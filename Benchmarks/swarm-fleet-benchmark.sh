#!/usr/bin/env bash
# Swarm fleet benchmark (issue 17): the two-node lab (scenarios/swarm-lab/lab.sh) with four global services (plain
# HTTP and a TLS server on a plain overlay, two HTTP servers on an encrypted overlay: 8 tasks), audited as the fleet
# audit does (`audit --swarm` on each node, the two nodes at once as the global job runs them, and one after the
# other), beside the single-node audit of the same services (the same 8 containers, as plain containers on one
# bridge of node 1, `audit --scope-label`). Each figure is the median of RUNS runs; the stage times come from the
# reports (summary.durations). Writes Benchmarks/results/swarm-fleet.md. Needs root.
# Usage: bash Benchmarks/swarm-fleet-benchmark.sh [RUNS] [SLOT]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
slot=${2:-12}
bulkhead=${BULKHEAD:-.build/release/bulkhead}
docker=/usr/bin/docker
lab=bsbn$slot
work=Benchmarks/work/swarm
[[ -x "$bulkhead" ]] || { echo "build it first: swift build -c release --product bulkhead" >&2; exit 2; }
mkdir -p "$work"
trap 'bash scenarios/swarm-lab/lab.sh down "$lab" || true' EXIT
bash scenarios/swarm-lab/lab.sh up "$lab" "$slot" >"$work/lab.env"
state=/run/bulkhead-swarm/$lab
node() { local i=$1; shift; DOCKER_HOST="unix://$state/node$i.sock" DOCKER_API_VERSION=1.41 "$docker" "$@"; }

tls='cd /tmp && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.pem -subj /CN=tlsd -days 2 2>/dev/null && exec openssl s_server -accept 8443 -cert c.pem -key k.pem -quiet'
node 1 network create -d overlay --attachable plain >/dev/null
node 1 network create -d overlay --opt encrypted secret >/dev/null
create() { node 1 service create -d --mode global --endpoint-mode dnsrr --no-resolve-image "$@" >/dev/null; }
create --name web --network plain bulkhead-lab:latest httpd -f -p 8080 -h /tmp
create --name tlsd --network plain --env OPENSSL_CONF=/dev/null bulkhead-lab:latest sh -c "$tls"
create --name enc --network secret bulkhead-lab:latest httpd -f -p 8081 -h /tmp
create --name enc2 --network secret bulkhead-lab:latest httpd -f -p 8082 -h /tmp
for _ in $(seq 1 60); do
    [[ $(node 1 service ls --format '{{.Replicas}}' | grep -c '^2/2') == 4 ]] && break
    sleep 0.5
done
sleep 2 # the servers' sockets listening

audit() { # audit NODE OUTPUT [ARGS...]
    local i=$1 out=$2
    shift 2
    # Each node its own run lock, as on separate hosts.
    DOCKER_HOST="unix://$state/node$i.sock" "$bulkhead" audit --quiet --exit-zero --format json \
        --state-dir "$work/state-$i" "$@" >"$out"
}
now() { date +%s.%N; }
for run in $(seq 1 "$runs"); do
    start=$(now)
    audit 1 "$work/fleet-par-1-$run.json" --swarm &
    audit 2 "$work/fleet-par-2-$run.json" --swarm &
    wait
    echo "$(echo "$(now) - $start" | bc)" >"$work/fleet-par-$run.time"
    start=$(now)
    audit 1 "$work/fleet-seq-1-$run.json" --swarm
    audit 2 "$work/fleet-seq-2-$run.json" --swarm
    echo "$(echo "$(now) - $start" | bc)" >"$work/fleet-seq-$run.time"
done
# Then the single-node audit: the services' tasks removed, the same services as plain containers on node 1.
for service in web tlsd enc enc2; do node 1 service rm "$service" >/dev/null; done
# The same services once more on node 1 alone: two plain containers each, on two local bridges.
node 1 network create --label bulkhead.bench=single --subnet "198.19.$((16 * slot + 3)).0/26" single-plain >/dev/null
node 1 network create --label bulkhead.bench=single --subnet "198.19.$((16 * slot + 3)).64/26" single-secret >/dev/null
for replica in 1 2; do
    run() { node 1 run -d --label bulkhead.bench=single "$@" >/dev/null; }
    run --name "web-$replica" --network single-plain bulkhead-lab:latest httpd -f -p 8080 -h /tmp
    run --name "tlsd-$replica" --network single-plain -e OPENSSL_CONF=/dev/null bulkhead-lab:latest sh -c "$tls"
    run --name "enc-$replica" --network single-secret bulkhead-lab:latest httpd -f -p 8081 -h /tmp
    run --name "enc2-$replica" --network single-secret bulkhead-lab:latest httpd -f -p 8082 -h /tmp
done
sleep 3
for run in $(seq 1 "$runs"); do
    start=$(now)
    audit 1 "$work/single-$run.json" --scope-label bulkhead.bench=single
    echo "$(echo "$(now) - $start" | bc)" >"$work/single-$run.time"
done

python3 - "$work" "$runs" <<'PY'
import json, statistics, sys, datetime
work, runs = sys.argv[1], int(sys.argv[2])
def t(name): return statistics.median(float(open(f"{work}/{name}-{r}.time").read()) for r in range(1, runs + 1))
def reports(name): return [json.load(open(f"{work}/{name}-{r}.json")) for r in range(1, runs + 1)]
def stage(rs, key): return statistics.median(r["summary"]["durations"].get(key, 0) for r in rs)
def cells(r): return len(r["evidence"]["probe"]["cells"]) if r["evidence"].get("probe") else 0
rows = []
for label, rs in [("fleet, node 1 (manager)", reports("fleet-par-1")), ("fleet, node 2 (worker)", reports("fleet-par-2")),
                  ("single node, same services", reports("single"))]:
    r = rs[-1]
    rows.append(f"| {label} | {len(r['evidence']['inventory']['containers'])} | {cells(r)} | {len(r['edges'])} | "
                f"{stage(rs, 'inventory'):.2f} | {stage(rs, 'probe'):.2f} | {stage(rs, 'tls'):.2f} | "
                f"{statistics.median(x['summary']['durationSeconds'] for x in rs):.2f} |")
load = open("/proc/loadavg").read().split()[:3]
out = [f"# Swarm fleet audit benchmark ({datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, load {' '.join(load)}, {runs} runs)", "",
       "| audit | containers (local + remote tasks) | probe cells | edges | inventory s | probe s | tls s | total s (report) |",
       "|---|---:|---:|---:|---:|---:|---:|---:|", *rows, "",
       f"Wall time, median: fleet with both nodes at once **{t('fleet-par'):.2f} s**, one node after the other "
       f"{t('fleet-seq'):.2f} s; single-node audit of the same 8 containers **{t('single'):.2f} s**."]
open("Benchmarks/results/swarm-fleet.md", "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
