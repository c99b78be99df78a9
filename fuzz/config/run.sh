#!/usr/bin/env bash
# Fuzzes one target of fuzz/config/harness.swift for a number of executions, on one core.
#
#   fuzz/config/run.sh TARGET RUNS [extra libFuzzer flags]
#
#   TARGET   policy | scenario | http | chunked | kubernetes | report | answer (0-6)
#   RUNS     executions (e.g. 10000000)
#
# The working corpus of each target is fuzz/work/config/corpus-TARGET (kept between runs), seeded with the committed
# seeds of that target (fuzz/config/corpus/TARGET-*); crash/timeout/OOM inputs go to fuzz/work/config/artifacts/, the
# log to fuzz/work/config/logs/TARGET-<time>.log. BULKHEAD_FUZZ_TARGET forces the target, so every input is that
# target's (its first byte is skipped as usual).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$here/../work/config"
binary="$work/bulkhead-fuzz-config"
[ -x "$binary" ] || "$here/build.sh"
name="${1:?usage: fuzz/config/run.sh policy|scenario|http|chunked|kubernetes|report|answer RUNS}"
runs="${2:?usage: fuzz/config/run.sh TARGET RUNS}"
shift 2
case "$name" in
    policy|0) name=policy; target=0 ;;
    scenario|1) name=scenario; target=1 ;;
    http|2) name=http; target=2 ;;
    chunked|3) name=chunked; target=3 ;;
    kubernetes|4) name=kubernetes; target=4 ;;
    report|5) name=report; target=5 ;;
    answer|6) name=answer; target=6 ;;
    *) echo "unknown target: $name" >&2; exit 2 ;;
esac
corpus="$work/corpus-$name"
mkdir -p "$corpus" "$work/artifacts" "$work/logs"
cp -n "$here"/corpus/"$name"-* "$corpus"/ 2>/dev/null || true
log="$work/logs/$name-$(date -u +%Y%m%dT%H%M%SZ).log"
echo "fuzzing $name for $runs executions; log: $log" >&2
# SWIFT_BACKTRACE=enable=no: libFuzzer, not Swift's backtracer, must handle a trap, so that it saves the input.
SWIFT_BACKTRACE=enable=no BULKHEAD_FUZZ_TARGET=$target "$binary" -runs="$runs" -max_len=16384 -timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$name-" "$@" "$corpus" 2>"$log" && status=0 || status=$?
tail -n 20 "$log" >&2
exit $status
