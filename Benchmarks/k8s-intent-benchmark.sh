#!/usr/bin/env bash
# `k8s intent` at scale (k8s review d09): a generated dump of N pods (20 namespaces, N/4 policies with selector,
# namespaceSelector, ipBlock-with-except and named-port rules; every pod declares 2 ports, so 2·N² cells with the
# default ports), evaluated as a table and as JSON; wall time, CPU (user+sys) and peak RSS from /usr/bin/time, and
# the output's size. Offline: the dump is generated here, nothing is contacted.
#
# Usage: Benchmarks/k8s-intent-benchmark.sh [binary...]   (default: .build/release/bulkhead)
#   SIZES="500 1000 2000"  pod counts          REPEATS=3  runs per measurement (the median is printed, and the range)
#   FORMATS="table json"   MAX_CELLS_JSON=...  skip JSON above this many cells (the in-memory writer of 876dc3d
#                                              needs ~3.4 KB of RSS per cell: 27 GB at 8M cells, an OOM on 24 GB)
# Output: one line per (binary, N, format): wall s, CPU s, peak RSS MB, output MB, with min–max over the repeats.
set -euo pipefail
cd "$(dirname "$0")/.."
binaries=("$@")
[ ${#binaries[@]} -gt 0 ] || binaries=(.build/release/bulkhead)
sizes=${SIZES:-500 1000 2000}
repeats=${REPEATS:-3}
formats=${FORMATS:-table json}
max_cells_json=${MAX_CELLS_JSON:-100000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

generate() {
    python3 - "$1" "$2" <<'PY'
import json, sys, random
random.seed(1); NP = int(sys.argv[1]); NPOL = NP // 4; NNS = 20; items = []
for n in range(NNS):
    items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns{n}", "labels": {"team": f"t{n % 5}"}}})
for i in range(NP):
    items.append({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"p{i}", "namespace": f"ns{i % NNS}",
                     "labels": {"app": f"app{i % 50}", "tier": random.choice(["web", "db", "cache"])}},
        "spec": {"nodeName": f"n{i % 10}", "containers": [{"name": "c", "image": "i",
                 "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 5432 + (i % 3), "name": "db"}]}]},
        "status": {"phase": "Running", "podIP": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"}})
for j in range(NPOL):
    items.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": f"pol{j}", "namespace": f"ns{j % NNS}"},
        "spec": {"podSelector": {"matchLabels": {"app": f"app{j % 50}"}}, "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": f"t{j % 5}"}},
                                   "podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "cache"]}]}},
                                  {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]}}],
                         "ports": [{"port": "db"}, {"port": 80}]}],
            "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"port": 53, "protocol": "UDP"}]},
                       {"to": [{"podSelector": {"matchLabels": {"tier": "db"}}}], "ports": [{"port": "db"}]}]}})
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, open(sys.argv[2], "w"))
PY
}

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
range() { sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%s-%s", lo, hi}'; }

printf '%-34s %5s %6s %9s %9s %9s %9s  %s\n' binary N format wall_s cpu_s rss_MB out_MB "ranges (wall; cpu; rss)"
for n in $sizes; do
    generate "$n" "$work/c.json"
    cells=$((2 * n * n))
    for binary in "${binaries[@]}"; do
        for format in $formats; do
            if [ "$format" = json ] && [ "$cells" -gt "$max_cells_json" ]; then
                printf '%-34s %5s %6s skipped: %d cells > MAX_CELLS_JSON\n' "$binary" "$n" "$format" "$cells"
                continue
            fi
            : >"$work/runs"
            for _ in $(seq 1 "$repeats"); do
                /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$binary" k8s intent "$work/c.json" \
                    --format "$format" -o "$work/out" 2>/dev/null || true
                read -r wall user sys rss <"$work/time"
                echo "$wall $(echo "$user + $sys" | bc) $((rss / 1024))" >>"$work/runs"
            done
            size=$(($(stat -c %s "$work/out") / 1048576))
            rm -f "$work/out"
            printf '%-34s %5s %6s %9s %9s %9s %9s  %s; %s; %s\n' "$binary" "$n" "$format" \
                "$(cut -d' ' -f1 "$work/runs" | median)" "$(cut -d' ' -f2 "$work/runs" | median)" \
                "$(cut -d' ' -f3 "$work/runs" | median)" "$size" \
                "$(cut -d' ' -f1 "$work/runs" | range)" "$(cut -d' ' -f2 "$work/runs" | range)" \
                "$(cut -d' ' -f3 "$work/runs" | range)"
        done
    done
done
