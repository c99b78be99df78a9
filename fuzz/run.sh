#!/usr/bin/env bash
# Runs the libFuzzer harness over the committed corpus, then distils what it found back into fuzz/corpus/ when the
# result stays small.
#
#   fuzz/run.sh [SECONDS | -runs=N] [--asan] [--no-merge] [-- extra libFuzzer flags]
#
#   SECONDS      fuzz this long on all cores (-fork=$FUZZ_JOBS, default 2); the default is 60
#   -runs=N      N executions on one core instead (e.g. -runs=100000 for a quick check)
#   --asan       use the AddressSanitizer build (slower; also catches C-level memory errors in OpenSSL/libpcap)
#   --no-merge   leave fuzz/corpus/ as it is
#
# Everything it writes goes to fuzz/work/ (git-ignored): the working corpus (fuzz/work/corpus, kept between runs),
# crash / timeout / OOM inputs (fuzz/work/artifacts/), logs (fuzz/work/logs/). A crash does not stop a timed run
# (-ignore_crashes=1); the script lists the artifacts at the end and exits 1 if there are new ones.
# Found a crash? Save a minimal reproduction in fuzz/regressions/NAME.bin (see fuzz/README.md).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
work="$here/work"
mode=time
seconds=60
runs=""
variant=fuzzer
merge=yes
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        -runs=*) mode=runs; runs="${1#-runs=}" ;;
        --asan) variant=asan ;;
        --no-merge) merge=no ;;
        --) shift; extra=("$@"); break ;;
        ''|*[!0-9]*) echo "usage: fuzz/run.sh [SECONDS | -runs=N] [--asan] [--no-merge] [-- libFuzzer flags]" >&2; exit 2 ;;
        *) seconds="$1" ;;
    esac
    shift
done

binary="$work/bulkhead-fuzz"
[ "$variant" = asan ] && binary="$work/bulkhead-fuzz-asan"
if [ ! -x "$binary" ]; then
    "$here/build.sh" "$variant"
elif [ -n "$(find "$here/harness.swift" "$here/known-bugs" "$root/Sources" -newer "$binary" -print -quit)" ]; then
    # Sources changed since the last build. Others may be half-way through an edit: keep fuzzing the last good
    # build when this one fails.
    "$here/build.sh" "$variant" || echo "warning: build failed; fuzzing the previous build of $binary" >&2
fi

mkdir -p "$work/corpus" "$work/artifacts" "$work/logs"
cd "$work/logs"  # -fork writes its per-job logs to the current folder
before=$(ls "$work/artifacts" | wc -l)
export SWIFT_BACKTRACE=enable=no  # let libFuzzer catch the trap and write the input out
flags=(
    -max_len=65536 -timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=2048
    -dict="$here/harness.dict" -artifact_prefix="$work/artifacts/" -print_final_stats=1
)
log="$work/logs/run-$(date +%Y%m%d-%H%M%S).log"
set +e
if [ "$mode" = runs ]; then
    "$binary" "${flags[@]}" -runs="$runs" "${extra[@]}" "$work/corpus" "$here/corpus" 2>&1 | tee "$log" | grep -E '^#[0-9]+ +(INITED|DONE|pulse)|^stat::|^SUMMARY|Test unit written'
else
    "$binary" "${flags[@]}" -fork="${FUZZ_JOBS:-2}" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$seconds" "${extra[@]}" "$work/corpus" "$here/corpus" 2>&1 | tee "$log" \
        | grep -E '^#[0-9]+: cov|INFO: exiting|^SUMMARY|Test unit written|crash-|timeout-|oom-'
fi
set -e
echo "log: $log"

if [ "$merge" = yes ]; then
    # Distil fuzz/corpus/: the seeds (every file not named *-found-*) stay; from everything found so far (the working
    # corpus and the committed *-found-* files), inputs up to 8 KiB each, `-set_cover_merge=1 -use_counters=0` picks
    # a small set that covers the edges the seeds miss, merged into a fresh copy of the seeds. It replaces the
    # committed *-found-* files if the corpus stays within ${FUZZ_CORPUS_FILES:-600} files and 2 MB.
    fresh="$work/merge-fresh"
    pool="$work/merge-pool"
    rm -rf "$fresh" "$pool"
    mkdir -p "$fresh" "$pool"
    find "$here/corpus" -maxdepth 1 -type f ! -name '*-found-*' -exec cp {} "$fresh/" \;
    find "$work/corpus" "$here/corpus" -maxdepth 1 -type f -size -8193c \( -path "$work/corpus/*" -o -name '*-found-*' \) \
        -exec cp {} "$pool/" \;
    # fuzz/corpus/ is replayed by the tests against Sources as they are: while fixes proposed in known-bugs/ are
    # not in Sources, inputs that still crash there stay out of it (they are in fuzz/regressions/ already).
    if ls "$here"/known-bugs/*.patch >/dev/null 2>&1; then
        screen="$work/bulkhead-fuzz-unfixed"
        if [ ! -x "$screen" ] || [ -n "$(find "$here/harness.swift" "$root/Sources" -newer "$screen" -print -quit)" ]; then
            FUZZ_KNOWN_BUGS=crash "$here/build.sh" fuzzer
        fi
        for file in "$pool"/*; do "$screen" "$file" >/dev/null 2>&1 || rm -f "$file"; done
    fi
    [ -x "$work/bulkhead-fuzz" ] || "$here/build.sh" fuzzer
    "$work/bulkhead-fuzz" -set_cover_merge=1 -use_counters=0 -max_len=65536 -timeout=5 -rss_limit_mb=2048 \
        "$fresh" "$pool" >"$work/logs/merge.log" 2>&1 || true
    names=(capture packets tls classify cert decrypted lanes)
    added=0
    for file in "$fresh"/*; do
        base=$(basename "$file")
        [ -e "$here/corpus/$base" ] && continue  # a seed
        target=$(od -An -tu1 -N1 "$file" | tr -d ' ')
        index=$(( ${target:-0} == 6 ? 6 : ${target:-0} % 6 ))  # fuzzTarget() in harness.swift
        mv "$file" "$fresh/${names[$index]}-found-$(echo "$base" | cut -c1-12)"
        added=$((added + 1))
    done
    count=$(ls "$fresh" | wc -l)
    total=$(cat "$fresh"/* | wc -c)
    if [ "$count" -le "${FUZZ_CORPUS_FILES:-600}" ] && [ "$total" -lt 2000000 ]; then
        find "$here/corpus" -maxdepth 1 -name '*-found-*' -delete
        find "$fresh" -maxdepth 1 -name '*-found-*' -exec cp {} "$here/corpus/" \;
        echo "corpus: fuzz/corpus now holds $count files ($total bytes): the seeds and $added found inputs"
    else
        echo "corpus: left as it is (the distilled set would be $count files, $total bytes)"
    fi
fi

after=$(ls "$work/artifacts" | wc -l)
if [ "$after" -gt "$before" ]; then
    echo "NEW ARTIFACTS in fuzz/work/artifacts/:" && ls -t "$work/artifacts" | head -n $((after - before))
    exit 1
fi
