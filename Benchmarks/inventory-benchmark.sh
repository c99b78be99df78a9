#!/usr/bin/env bash
# Inventory benchmark: 50 containers on 10 networks (made here, on 198.18.150.0/24 … 198.18.159.0/24),
# then `bulkhead inventory` timed (median of 5) beside the docker CLI doing the equivalent listing and
# inspection. Target: under 1 s after the engine answers. Prints the figures and writes
# Benchmarks/results/inventory.md. Needs root (it starts dockerd through scripts/dockerd.sh if none runs).
set -euo pipefail
cd "$(dirname "$0")/.."
label=bulkhead.bench=inventory
docker=/usr/bin/docker
bash scripts/install-deps.sh --test
bash scripts/dockerd.sh start
trap 'ids=$($docker ps -aq --filter label=$label); [[ -n "$ids" ]] && $docker rm -f $ids >/dev/null; nets=$($docker network ls -q --filter label=$label); [[ -n "$nets" ]] && $docker network rm $nets >/dev/null; true' EXIT
bash scenarios/lab-image/build.sh
swift build -c release --product bulkhead 2>&1 | tail -1

echo "creating 10 networks and 50 containers…" >&2
for n in $(seq 0 9); do
    $docker network create --label "$label" --subnet "198.18.15$n.0/24" "bh-bench-net$n" >/dev/null
done
for c in $(seq 0 49); do
    n=$((c % 10))
    $docker create --label "$label" --name "bh-bench-c$c" --network "bh-bench-net$n" bulkhead-lab:latest \
        busybox httpd -f -p 8080 >/dev/null
    # Every fifth container also joins the next network (a bridge between two).
    if ((c % 5 == 0)); then $docker network connect "bh-bench-net$(((n + 1) % 10))" "bh-bench-c$c"; fi
    $docker start "bh-bench-c$c" >/dev/null
done
sleep 1

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
times=()
for _ in 1 2 3 4 5; do
    start=$(date +%s.%N)
    .build/release/bulkhead inventory --format json --output /tmp/bh-inventory-bench.json || [[ $? -le 1 ]]
    end=$(date +%s.%N)
    times+=("$(printf "%.3f" "$(echo "$end - $start" | bc)")")
done
bulkhead=$(printf '%s\n' "${times[@]}" | median)
read -r calls duration containers networks < <(python3 -c "
import json; s=json.load(open('/tmp/bh-inventory-bench.json'))['summary']
print(s['apiCalls'], round(s['durationSeconds'], 3), s['containers'], s['networks'])")

cli_times=()
for _ in 1 2 3; do
    start=$(date +%s.%N)
    $docker inspect $($docker ps -aq) >/dev/null
    $docker network inspect $($docker network ls -q) >/dev/null
    end=$(date +%s.%N)
    cli_times+=("$(printf "%.3f" "$(echo "$end - $start" | bc)")")
done
cli=$(printf '%s\n' "${cli_times[@]}" | median)

verdict=PASS
if (($(echo "$bulkhead >= 1.0" | bc))); then verdict=FAIL; fi
mkdir -p Benchmarks/results
{
    echo "# bulkhead inventory — benchmark results"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- Engine: $($docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
    echo "- Inventory of $containers containers on $networks networks (10 made here + the engine's own), every one running busybox httpd"
    echo
    echo "| tool | wall s (median) | API calls |"
    echo "|---|---:|---:|"
    echo "| bulkhead inventory --format json (whole process) | $bulkhead | $calls |"
    echo "| docker inspect (all) + docker network inspect (all) | $cli | – |"
    echo
    echo "bulkhead's own measure of the inventory (connect → report): ${duration} s."
    echo
    echo "Target: under 1 s — **$verdict**"
} | tee Benchmarks/results/inventory.md
[[ $verdict == PASS ]]
