#!/usr/bin/env bash
# Audit benchmark (issue 7, "Performance"): the demo shop (scenarios/demo.yaml) audited end to end — inventory,
# probes from every container's namespace, the mTLS battery, live capture while the shop's traffic runs — three
# times, each after a fresh `scenario up` (container start-up is excluded: the audit's own clock starts after it).
# Target: under 30 s on the 2 cores here. The figures come from the report itself (summary.durations, the stage
# times the audit records). Each stage's peer comparison lives in its own benchmark (probe vs nmap, tls vs sslyze,
# analyze vs tshark and the bare libpcap read). Writes Benchmarks/results/audit.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
bash scripts/install-deps.sh --demo
bash scripts/dockerd.sh start
bash scenarios/lab-image/build.sh
swift build -c release --product bulkhead 2>&1 | tail -1
work=Benchmarks/work/audit
mkdir -p "$work"
for run in $(seq 1 "$runs"); do
    status=0
    .build/release/bulkhead scenario run scenarios/demo.yaml --format json --report "json=$work/audit-$run.json" >/dev/null 2>"$work/run-$run.log" || status=$?
    echo "run $run: exit $status" >&2
done
python3 - "$work" "$runs" <<'PY'
import json, sys, statistics, datetime, os
work, runs = sys.argv[1], int(sys.argv[2])
reports = [json.load(open(f"{work}/audit-{i}.json")) for i in range(1, runs + 1)]
totals = [r["summary"]["durationSeconds"] for r in reports]
stages = ["inventory", "probe", "tls", "capture"]
median = statistics.median(totals)
load = open("/proc/loadavg").read().split()[:3]
lines = [
    "# Audit benchmark: the demo shop",
    "",
    f"- Date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; load average {' '.join(load)}; {os.cpu_count()} CPUs",
    f"- {runs} runs of `bulkhead scenario run scenarios/demo.yaml` (release build); times from each report's `summary.durations`",
    f"- Edges: {reports[-1]['summary']['edges']}; probe cells: {len(reports[-1]['evidence']['probe']['cells'])}; "
    f"TLS endpoints: {len(reports[-1]['evidence']['tls'] or {})}; captured flows: {len(reports[-1]['evidence']['capture']['flows'])}",
    "",
    "| run | " + " | ".join(stages) + " | total s |",
    "|---|" + "---:|" * (len(stages) + 1),
]
for i, r in enumerate(reports, 1):
    d = r["summary"]["durations"]
    lines.append(f"| {i} | " + " | ".join(f"{d.get(s, 0):.2f}" for s in stages) + f" | **{r['summary']['durationSeconds']:.2f}** |")
lines += ["", f"Median total {median:.2f} s — target under 30 s: **{'PASS' if median < 30 else 'FAIL'}**. (The capture stage lasts as long as the shop's traffic: five commands run inside it.)"]
open("Benchmarks/results/audit.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
