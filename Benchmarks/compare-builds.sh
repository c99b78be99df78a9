#!/usr/bin/env bash
# compare-builds.sh -- two builds of bulkhead on the same capture, alternately, in the same minutes.
#
# On a shared or noisy machine, wall times of one build drift by ±10 % from one minute to the next; comparing a
# build with an earlier one measured on another day says more about the machine than about the code. This runs the
# two binaries one after the other, N times each, writing the report to a file as a user would (the previous report
# deleted and the page cache's dirty pages flushed before each run, outside the clock), and prints the median wall
# time and the median CPU time (user + system) of each.
#
# Usage: bash Benchmarks/compare-builds.sh N BIN_A BIN_B CAPTURE [extra analyze arguments...]
#   e.g. bash Benchmarks/compare-builds.sh 15 /tmp/bulkhead-old .build/release/bulkhead Benchmarks/work/short.pcap
#        bash Benchmarks/compare-builds.sh 9 /tmp/bulkhead-old .build/release/bulkhead Benchmarks/work/short.pcap \
#            --keylog Benchmarks/work/short.keys
set -euo pipefail
if [ $# -lt 4 ]; then
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
runs="$1" bin_a="$2" bin_b="$3" capture="$4"
shift 4
for bin in "$bin_a" "$bin_b"; do
    [ -x "$bin" ] || { echo "compare-builds: not an executable: $bin" >&2; exit 2; }
done
[ -r "$capture" ] || { echo "compare-builds: cannot read $capture" >&2; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cat "$capture" > /dev/null
# Python's os.wait4 gives the child's CPU time to the microsecond; /usr/bin/time rounds to 10 ms, as coarse as the
# differences being measured.
python3 - "$runs" "$bin_a" "$bin_b" "$capture" "$out/report.json" "$@" <<'PYTHON'
import os, statistics, subprocess, sys, time

runs, bins, capture, report, extra = int(sys.argv[1]), {"A": sys.argv[2], "B": sys.argv[3]}, sys.argv[4], sys.argv[5], sys.argv[6:]
wall, cpu = {"A": [], "B": []}, {"A": [], "B": []}
for _ in range(runs):
    for which in ("A", "B"):
        if os.path.exists(report):
            os.remove(report)
        os.sync()
        with open(report, "wb") as sink:
            start = time.perf_counter()
            child = subprocess.Popen([bins[which], "analyze", capture, "--format", "json", *extra], stdout=sink, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
            elapsed = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):  # 1 means findings, which is normal
            sys.exit(f"compare-builds: {bins[which]} exited with status {code}")
        wall[which].append(elapsed)
        cpu[which].append(usage.ru_utime + usage.ru_stime)
for which in ("A", "B"):
    print(f"{which} {bins[which]}: median wall {statistics.median(wall[which]):.3f} s, CPU {statistics.median(cpu[which]):.3f} s")
print(f"B / A: wall {statistics.median(wall['B']) / statistics.median(wall['A']):.3f}, "
      f"CPU {statistics.median(cpu['B']) / statistics.median(cpu['A']):.3f}")
PYTHON
