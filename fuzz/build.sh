#!/usr/bin/env bash
# Builds the libFuzzer harness (fuzz/harness.swift) into fuzz/work/.
#
#   fuzz/build.sh            both variants
#   fuzz/build.sh fuzzer     fuzz/work/bulkhead-fuzz       (-sanitize=fuzzer: fastest)
#   fuzz/build.sh asan       fuzz/work/bulkhead-fuzz-asan  (-sanitize=fuzzer,address)
#   fuzz/build.sh repro      fuzz/work/bulkhead-repro      (-Onone, no libFuzzer: `bulkhead-repro FILE...` replays
#                            inputs and a crash prints a Swift backtrace with exact source lines)
#   fuzz/build.sh coverage   fuzz/work/bulkhead-coverage   (the same with source coverage; see fuzz/coverage.sh)
#
#   FUZZ_KNOWN_BUGS=crash fuzz/build.sh [variant]
#                            the same from Sources exactly as they are, without the proposed fixes of
#                            fuzz/known-bugs/ (binaries named ...-unfixed), to reproduce the crashes they cover
#
# SwiftPM cannot link a libFuzzer executable (it renames `main`), so the harness is compiled with swiftc directly,
# together with the sources of SystemCalls, BulkheadModel, Certificates, PacketAnalysis, PacketAnalysisFuzzing (the
# targets) and Reporting as ONE module (and the C shims they call: CBulkheadLinux, CBulkheadStreams). The sources are
# copied (never edited in place) to fuzz/work/src/, named after their module to keep file names unique, with
# their imports of each other removed.
#
# `-assert-config Debug` keeps the standard library's debug preconditions (bounds checks on
# Unsafe[Raw]BufferPointer subscripts and loads) in the optimised build, so an out-of-bounds read traps here as it
# does in a debug build, instead of silently reading a neighbouring byte.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
work="$here/work"
src="$work/src"
swiftc="${SWIFTC:-$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)}"

variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(fuzzer asan)

# 1. Copy the library sources (Sources/ itself is never touched). Reporting only serves the harness's check that
#    FlowJSONWriter (the CLI's JSON output) agrees with the records' Codable form.
modules="SystemCalls BulkheadModel Certificates PacketAnalysis PacketAnalysisFuzzing Reporting"
tree="$work/tree"
rm -rf "$tree" "$src"
mkdir -p "$tree/Sources" "$src"
for module in $modules; do
    cp -R "$root/Sources/$module" "$tree/Sources/$module"
done

# 2. Known crashers not fixed in Sources yet: fuzz/known-bugs/*.patch hold the proposed fixes and are applied to
#    the copy, so that fuzzing goes on past them. A patch that is already in Sources (it reverse-applies) is skipped.
#    FUZZ_KNOWN_BUGS=crash leaves them out, to reproduce the crashes.
if [ "${FUZZ_KNOWN_BUGS:-patch}" != crash ]; then
    for fix in "$here"/known-bugs/*.patch; do
        [ -e "$fix" ] || continue
        if patch -p1 -s -f --dry-run -d "$tree" <"$fix" >/dev/null 2>&1; then
            patch -p1 -s -f -d "$tree" <"$fix"
            echo "applied to the build copy: known-bugs/$(basename "$fix")" >&2
        elif patch -p1 -s -f -R --dry-run -d "$tree" <"$fix" >/dev/null 2>&1; then
            echo "already fixed in Sources: known-bugs/$(basename "$fix") (delete it)" >&2
        else
            echo "warning: known-bugs/$(basename "$fix") no longer applies; Sources changed around it (check the bug by hand)" >&2
        fi
    done
fi

# 3. One module: flatten (file names must be unique) and drop the imports of the modules being merged.
for module in $modules; do
    while IFS= read -r -d '' file; do
        relative="${file#"$tree/Sources/$module/"}"
        target="$src/${module}_${relative//\//_}"
        sed -E '/^[[:space:]]*((public|internal|package|@_exported)[[:space:]]+)?import[[:space:]]+(SystemCalls|BulkheadModel|Certificates|PacketAnalysis|PacketAnalysisFuzzing)[[:space:]]*$/d' \
            "$file" >"$target"
    done < <(find "$tree/Sources/$module" -name '*.swift' -print0 | sort -z)
done

# The C targets the merged modules import: SystemCalls' shim (epoll and setns wrappers) and PacketAnalysis's capture
# streams (gzip, and streams read through a tap), each compiled here and named by a module map of the harness's own,
# as SwiftPM does for them.
shims=()
for name in CBulkheadLinux CBulkheadStreams; do
    mkdir -p "$work/shims/$name"
    printf 'module %s {\n    header "%s"\n    export *\n}\n' "$name" \
        "$root/Sources/$name/include/$name.h" >"$work/shims/$name/module.modulemap"
    for file in "$root/Sources/$name"/*.c; do
        object="$work/shims/$name/$(basename "$file" .c).o"
        "${CC:-clang}" -c -O1 -D_GNU_SOURCE -I "$root/Sources/$name/include" "$file" -o "$object"
        shims+=("$object")
    done
done

common=(
    -g
    -parse-as-library -module-name BulkheadFuzz -package-name bulkhead -swift-version 6
    -enable-upcoming-feature MemberImportVisibility -enable-upcoming-feature ExistentialAny
    -I "$root/Sources/CBulkheadPcap" -I "$root/Sources/CBulkheadOpenSSL"
    -I "$work/shims/CBulkheadLinux" -I "$work/shims/CBulkheadStreams"
    -lpcap -lssl -lcrypto -lz
    -module-cache-path "$work/module-cache"
)

suffix=""
[ "${FUZZ_KNOWN_BUGS:-patch}" = crash ] && suffix="-unfixed"
for variant in "${variants[@]}"; do
    case "$variant" in
        fuzzer) flags=(-O -assert-config Debug -sanitize=fuzzer); output="$work/bulkhead-fuzz$suffix"; main=() ;;
        asan) flags=(-O -assert-config Debug -sanitize=fuzzer,address); output="$work/bulkhead-fuzz-asan$suffix"; main=() ;;
        repro|coverage)
            if [ "$variant" = repro ]; then
                flags=(-Onone)
                output="$work/bulkhead-repro$suffix"
            else
                flags=(-Onone -profile-generate -profile-coverage-mapping)
                output="$work/bulkhead-coverage$suffix"
            fi
            main=("$here/repro-main.swift")
            ;;
        *) echo "unknown variant: $variant (fuzzer | asan | repro | coverage)" >&2; exit 2 ;;
    esac
    echo "building $output (${flags[*]})" >&2
    "$swiftc" "${common[@]}" "${flags[@]}" "$here/harness.swift" "$src"/*.swift "${main[@]}" "${shims[@]}" -o "$output"
done
