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
for _ in $(seq "$runs"); do
    for which in A B; do
        if [ "$which" = A ]; then bin="$bin_a"; else bin="$bin_b"; fi
        rm -f "$out/report.json"
        sync
        # %e wall seconds, %U and %S CPU seconds; exit status 1 (findings) is normal.
        /usr/bin/time -f "$which %e %U %S" -a -o "$out/times" "$bin" analyze "$capture" --format json "$@" \
            > "$out/report.json" 2> /dev/null || [ $? -eq 1 ]
    done
done
BIN_A="$bin_a" BIN_B="$bin_b" awk '
    { wall[$1] = wall[$1] " " $2; cpu[$1] = cpu[$1] " " ($3 + $4) }
    function median(list,    values, n) { n = split(list, values, " "); asort(values); return values[int((n + 1) / 2)] }
    END {
        printf "A %s: median wall %.3f s, CPU %.3f s\n", ENVIRON["BIN_A"], median(wall["A"]), median(cpu["A"])
        printf "B %s: median wall %.3f s, CPU %.3f s\n", ENVIRON["BIN_B"], median(wall["B"]), median(cpu["B"])
        printf "B / A: wall %.3f, CPU %.3f\n", median(wall["B"]) / median(wall["A"]), median(cpu["B"]) / median(cpu["A"])
    }' "$out/times"
