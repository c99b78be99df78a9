#!/usr/bin/env bash
# race-check.sh -- `analyze`'s threads under ThreadSanitizer.
#
# `analyze` reads on one thread, analyses flows on lanes of their own, spools and folds findings side by side, and
# renders the findings on every core: shared state there is guarded by locks, handed over whole, or kept to one
# thread, and much of it is `@unchecked Sendable`, which the compiler cannot check. This builds bulkhead with
# ThreadSanitizer (`.build/tsan`), generates a capture of short connections with enough findings for the rendering
# to split them (about 3,000), and runs `analyze` on it with two and three lanes, as json and jsonl, with and without
# its key log (once with its secrets read back from the key log's scratch file), once with its findings written out
# to scratch files and read back, once rotated into 40 files read as a folder (json and table); and, when a Docker
# engine answers (scripts/test.sh starts one), the demo scenario end to end: inventory, probes from inside the
# containers' namespaces, the TLS battery, live capture and the audit.
# Any race ThreadSanitizer sees fails the check (exit 1) and its report is printed.
#
# Usage: bash scripts/race-check.sh        (scripts/test.sh runs it after the test suite)
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
swift build --sanitize=thread --build-path .build/tsan --product bulkhead >/dev/null
binary=".build/tsan/debug/bulkhead"
"${CC:-gcc}" -O2 -o "$work/gen" Benchmarks/gen-mixed-capture.c -lcrypto
"$work/gen" -o "$work/short.pcap" -t "$work/truth.json" -s 20000000 --seed 7 --keylog "$work/short.keys" \
    --shape short --window 2000 >/dev/null
# "No race" means something only from an instrumented binary: without ThreadSanitizer in it, silence proves nothing.
if ! nm "$binary" | grep " __tsan_init$" >/dev/null; then  # grep reads it all: -q would leave nm a broken pipe
    echo "race-check: $binary is not built with ThreadSanitizer: nothing would be seen" >&2
    exit 1
fi
failures=0
# check LABEL ALLOWED_STATUSES COMMAND...: runs the command under ThreadSanitizer; a race, or an exit status outside
# ALLOWED_STATUSES (a space-separated list), fails the check and prints the report.
check() {
    local label="$1" allowed="$2" status races
    shift 2
    set +e
    TSAN_OPTIONS="halt_on_error=0 exitcode=66" "$@" >"$work/out" 2>"$work/err"
    status=$?
    set -e
    races=$(grep -c "WARNING: ThreadSanitizer" "$work/err" || true)
    if [[ $races != 0 || " $allowed " != *" $status "* ]]; then
        echo "race-check: $label: exit $status, $races race(s)" >&2
        sed -n '1,60p' "$work/err" >&2
        failures=$((failures + 1))
    else
        echo "race-check: $label: no race (exit $status)"
    fi
}
# Key logs of unrelated connections around the capture's own: 18 MB of secrets before it (past the 16 MB the key log
# keeps in memory) and 2 MB after (so that the capture's secrets are in chunks already written out): the lanes read
# them back from the key log's scratch file.
python3 - "$work" <<'PY'
import sys
for name, first, count in (("before", 0, 70_000), ("after", 70_000, 8_000)):
    with open(f"{sys.argv[1]}/{name}.keys", "w") as out:
        for index in range(first, first + count):
            random = index.to_bytes(4, "big").hex() * 8
            for label in ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                          "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"):
                out.write(f"{label} {random} {'5c' * 48}\n")
PY
decrypted() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["summary"]["decryptedFlows"])' "$1"; }
for arguments in "--threads 2 --format json" "--threads 3 --format json" "--threads 2 --format jsonl" \
    "--threads 3 --spill-findings-past 50 --format json" \
    "--threads 3 --keylog $work/short.keys --format json" \
    "--threads 3 --keylog $work/before.keys --keylog $work/short.keys --keylog $work/after.keys --format json"; do
    # 0: clean, 1: findings (the capture has credentials in clear).
    # shellcheck disable=SC2086
    check "analyze $arguments" "0 1" "$binary" analyze "$work/short.pcap" $arguments
    case "$arguments" in
    *--keylog*) cp "$work/out" "$work/keylog-$(grep -o -- --keylog <<<"$arguments" | wc -l).json" ;;
    *--spill-findings-past*) grep -v durationSeconds "$work/out" >"$work/spilled.json" ;;
    "--threads 3 --format json") grep -v durationSeconds "$work/out" >"$work/held.json" ;;
    esac
done
# Findings written out to scratch files every 50 per lane, merged and sorted back through them, give the same document.
if ! cmp -s "$work/held.json" "$work/spilled.json"; then
    echo "race-check: findings written out give another document than findings held" >&2
    failures=$((failures + 1))
fi
# The secrets read back from the scratch file decrypt what those kept in memory do.
if [[ $(decrypted "$work/keylog-1.json") == 0 || $(decrypted "$work/keylog-1.json") != "$(decrypted "$work/keylog-3.json")" ]]; then
    echo "race-check: secrets read back from the key log's scratch file decrypted" \
        "$(decrypted "$work/keylog-3.json") flows, against $(decrypted "$work/keylog-1.json") from memory" >&2
    failures=$((failures + 1))
fi
# The same capture rotated into 40 files, read as a folder by lanes fed file after file (the flows go on across the
# files): as json it must give the whole capture's flows and findings; the table (rows made in the lanes) too.
python3 - "$work" <<'PY'
import os, struct, sys
data = open(f"{sys.argv[1]}/short.pcap", "rb").read()
records, offset = [], 24
while offset + 16 <= len(data):
    length = struct.unpack("<I", data[offset + 8:offset + 12])[0]
    records.append(data[offset:offset + 16 + length])
    offset += 16 + length
os.makedirs(f"{sys.argv[1]}/rotated")
step = -(-len(records) // 40)
for index in range(0, len(records), step):
    with open(f"{sys.argv[1]}/rotated/part-{index // step:02d}.pcap", "wb") as out:
        out.write(data[:24] + b"".join(records[index:index + step]))
PY
check "analyze rotated/ --threads 3 --format json" "0 1" "$binary" analyze "$work/rotated" --threads 3 \
    --sharding-threshold 0 --format json
cp "$work/out" "$work/rotated.json"
check "analyze rotated/ --threads 2 (table)" "0 1" "$binary" analyze "$work/rotated" --threads 2 --sharding-threshold 0
# same_as_whole DOCUMENT DESCRIPTION: the json document has the whole capture's flows (but for the file each is named
# by) and findings, else the check fails saying the description.
same_as_whole() {
    if ! python3 - "$work/held.json" "$1" <<'PY'; then
import json, sys
whole, other = (json.load(open(path)) for path in sys.argv[1:])
strip = lambda flows: [{k: v for k, v in flow.items() if k != "file"} for flow in flows]
sys.exit(0 if strip(whole["flows"]) == strip(other["flows"]) and whole["findings"] == other["findings"] else 1)
PY
        echo "race-check: $2 gives other flows or findings than the whole" >&2
        failures=$((failures + 1))
    fi
}
same_as_whole "$work/rotated.json" "the capture rotated into 40 files"
# The capture gzip-compressed: decompressed on a thread of its own while this one analyses it (the ring of chunks
# between them is what is checked); the flows and findings must be the whole capture's.
gzip -1 -c "$work/short.pcap" >"$work/short.pcap.gz"
check "analyze short.pcap.gz --format json" "0 1" "$binary" analyze "$work/short.pcap.gz" --format json
same_as_whole "$work/out" "the capture gzip-compressed"
if /usr/bin/docker version >/dev/null 2>&1; then
    bash scenarios/lab-image/build.sh >/dev/null
    # 0: the scenario found exactly its planted findings.
    check "scenario run scenarios/demo.yaml" "0" "$binary" scenario run scenarios/demo.yaml --report "json=$work/demo.json"
else
    echo "race-check: no Docker engine: the demo scenario is not run"
fi
exit $((failures > 0 ? 1 : 0))
