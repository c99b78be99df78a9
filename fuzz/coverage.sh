#!/usr/bin/env bash
# Line / region coverage of the library sources reached by replaying a corpus (default fuzz/corpus/ plus
# fuzz/regressions/) through the harness, with llvm-cov. Prints the per-file report; the HTML goes to
# fuzz/work/coverage/html/.
#
#   fuzz/coverage.sh [DIR...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$here/work"
bin="$(dirname "$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)")"
"$here/build.sh" coverage >&2
out="$work/coverage"
rm -rf "$out" && mkdir -p "$out/raw"
dirs=("$@")
[ ${#dirs[@]} -eq 0 ] && dirs=("$here/corpus" "$here/regressions")
# One process per 200 files (a profile is written at exit); a crashing input would lose its batch's counts.
find "${dirs[@]}" -type f ! -name '*.md' -print0 | xargs -0 -n 200 env LLVM_PROFILE_FILE="$out/raw/%p.profraw" "$work/bulkhead-coverage" >/dev/null
"$bin/llvm-profdata" merge -sparse "$out"/raw/*.profraw -o "$out/merged.profdata"
"$bin/llvm-cov" report "$work/bulkhead-coverage" -instr-profile="$out/merged.profdata" "$work/src" \
    | sed -e "s#$work/src/##"
"$bin/llvm-cov" show "$work/bulkhead-coverage" -instr-profile="$out/merged.profdata" -format=html \
    -output-dir="$out/html" "$work/src" >/dev/null
