#!/usr/bin/env bash
# Set-up command 2: the full test suite. Installs what the tests need, builds, runs every test, and
# prints a closing "N passed, N failed" line. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
# Layout as swift-format writes it with the committed .swift-format (120 columns; `swift format format -i -r Sources
# Tests Package.swift` fixes it): a change that is not formatted fails here, before anything is built.
swift format lint --strict --recursive --parallel Sources Tests Package.swift
swift build --build-tests
# README command 1 builds in release, where MemberImportVisibility has failed builds that debug accepted.
swift build -c release --product bulkhead
# The fuzz harnesses compile Bulkhead's sources outside SwiftPM, as one module each: a new import in one of them broke
# the configuration harness unnoticed until this check. Their replay builds (no libFuzzer) take about half a minute each.
bash fuzz/build.sh repro
bash fuzz/config/build.sh repro
# ...and replay the committed corpora and crashers once (about a second): the harnesses' own checks, which the tests do
# not make (the flow JSON writer against Codable, --relocate on every scenario, merge's hand-written JSON readers
# against Foundation's, the TLS battery's judges read twice), hold on every input.
replay_log=$(mktemp)
for replay in "fuzz/work/bulkhead-repro fuzz/corpus fuzz/regressions" \
    "fuzz/work/config/bulkhead-repro-config fuzz/config/corpus fuzz/config/regressions"; do
    read -r binary corpus regressions <<<"$replay"
    if ! "$binary" "$corpus"/* "$regressions"/* >"$replay_log" 2>&1; then
        echo "bulkhead: an input of $corpus or $regressions fails its fuzz harness's checks:" >&2
        tail -n 20 "$replay_log" >&2
        exit 1
    fi
done
rm -f "$replay_log"
# A real Docker engine for the inventory and lab tests: started here if none runs, stopped after.
started_dockerd=0
if ! /usr/bin/docker version >/dev/null 2>&1; then
    bash scripts/dockerd.sh start
    started_dockerd=1
fi
# The fence every test runs behind: whatever a test enumerates or names, Bulkhead (in-process or the binary the tests
# start) refuses, before any packet, every probe outside loopback and the lab range 198.18.0.0/15 (README, "Scope
# guard"): a test that went wrong fails instead of sending elsewhere.
export BULKHEAD_ALLOWED_RANGES=127.0.0.0/8,::1/128,198.18.0.0/15
log=$(mktemp)
trap 'rm -f "$log"; if [[ $started_dockerd == 1 ]]; then bash scripts/dockerd.sh stop; fi' EXIT
if /usr/bin/docker version >/dev/null 2>&1; then bash scenarios/lab-image/build.sh; fi
set +e
swift test --skip-build 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# Swift Testing closes with "Test run with N tests in M suites passed/failed … with K issues".
summary=$(grep -E 'Test run with [0-9]+ tests' "$log" | tail -n 1 || true)
total=$(sed -E 's/.*Test run with ([0-9]+) tests.*/\1/' <<<"$summary")
failed=$(grep -cE '^✘ Test .* failed after' "$log" || true)
if [[ -n "$total" && "$total" =~ ^[0-9]+$ ]]; then
    echo "bulkhead: $((total - failed)) passed, $failed failed"
fi
# analyze's threads under ThreadSanitizer: a race fails the run too.
if ! bash scripts/race-check.sh; then
    echo "bulkhead: the race check failed (ThreadSanitizer, scripts/race-check.sh)"
    status=1
fi
exit "$status"
