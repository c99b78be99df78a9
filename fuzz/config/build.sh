#!/usr/bin/env bash
# Builds the libFuzzer harness for Bulkhead's configuration and engine-answer parsers (fuzz/config/harness.swift)
# into fuzz/work/config/.
#
#   fuzz/config/build.sh          fuzz/work/config/bulkhead-fuzz-config  (-sanitize=fuzzer, -O, -assert-config Debug)
#   fuzz/config/build.sh repro    fuzz/work/config/bulkhead-repro-config (-Onone, no libFuzzer: replays files)
#
# As fuzz/build.sh does for the capture parsers, the library sources are copied (Sources/ is never touched) and
# compiled with the harness as ONE module — BulkheadModel, SystemCalls, ContainerEngine, Certificates,
# NetworkNamespaces, Inventory, Reachability, Policy, Lab, Kubernetes, Reporting, Fleet and TLSVerification — with
# their imports of each other removed (Certificates brings the OpenSSL shim, linked against libssl and libcrypto). Yams (the YAML library, from the SwiftPM checkout in
# .build/checkouts) is compiled first as its own module, and its C half (libyaml, CYaml) and the CBulkheadLinux shim
# with clang, with the same coverage instrumentation so the fuzzer also sees libyaml's branches.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$root/fuzz/work/config"
swiftc="${SWIFTC:-$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)}"
clang="${CLANG:-$(dirname "$swiftc")/clang}"
[ -x "$clang" ] || clang="$(command -v clang)"
yams="${YAMS_CHECKOUT:-$root/.build/checkouts/Yams}"
[ -d "$yams/Sources/Yams" ] || { echo "no Yams checkout at $yams: run 'swift build' once (or set YAMS_CHECKOUT)" >&2; exit 2; }

variant="${1:-fuzzer}"
case "$variant" in
    fuzzer) swiftflags=(-O -assert-config Debug -sanitize=fuzzer); cflags=(-O1 -fsanitize=fuzzer-no-link); output="$work/bulkhead-fuzz-config" ;;
    repro) swiftflags=(-Onone); cflags=(-O0); output="$work/bulkhead-repro-config" ;;
    *) echo "unknown variant: $variant (fuzzer | repro)" >&2; exit 2 ;;
esac
build="$work/$variant"
# Yams and libyaml are rebuilt only when their checkout changed (FUZZ_REBUILD_YAMS=1 forces it).
if [ "${FUZZ_REBUILD_YAMS:-0}" = 1 ] || [ ! -f "$build/yams/libYams.a" ] || [ -n "$(find "$yams/Sources" -newer "$build/yams/libYams.a" -print -quit)" ]; then
    rm -rf "$build"
fi
rm -rf "$build/src"
mkdir -p "$build/src" "$build/yams" "$build/obj" "$build/shim"

# 1. C: libyaml and the Linux shim.
if [ ! -f "$build/yams/libYams.a" ]; then
for file in "$yams"/Sources/CYaml/src/*.c; do
    "$clang" "${cflags[@]}" -g -c -I "$yams/Sources/CYaml/include" -DYAML_DECLARE_STATIC "$file" -o "$build/obj/yaml_$(basename "$file" .c).o"
done
fi
"$clang" "${cflags[@]}" -g -c -D_GNU_SOURCE -I "$root/Sources/CBulkheadLinux/include" "$root/Sources/CBulkheadLinux/shim.c" -o "$build/obj/shim.o"
cat >"$build/shim/module.modulemap" <<MAP
module CBulkheadLinux {
    header "$root/Sources/CBulkheadLinux/include/CBulkheadLinux.h"
    export *
}
MAP

# 2. Yams as its own module (its names — Node, Parser, Mark — stay out of Bulkhead's namespace, as in SwiftPM).
[ -f "$build/yams/libYams.a" ] || "$swiftc" "${swiftflags[@]}" -g -parse-as-library -module-name Yams -swift-version 5 -DSWIFT_PACKAGE \
    -I "$yams/Sources/CYaml/include" -emit-module -emit-module-path "$build/yams/Yams.swiftmodule" \
    -emit-library -static -o "$build/yams/libYams.a" "$yams"/Sources/Yams/*.swift \
    -module-cache-path "$build/module-cache"

# 3. Bulkhead's modules as one, their imports of each other removed.
#    Lab's ScenarioAudit.swift and SwarmScenario.swift (the scenario harnesses running an audit) are left out: they need
#    the audit and every stage behind it (libpcap, the TLS battery), and no target here reaches them.
modules="BulkheadModel SystemCalls ContainerEngine Certificates NetworkNamespaces Inventory Reachability Policy Lab Kubernetes Reporting Fleet TLSVerification"
for module in $modules; do
    while IFS= read -r -d '' file; do
        relative="${file#"$root/Sources/$module/"}"
        case "$module/$relative" in Lab/ScenarioAudit.swift | Lab/SwarmScenario.swift) continue ;; esac
        sed -E '/^[[:space:]]*((public|internal|package|@_exported)[[:space:]]+)?import[[:space:]]+(BulkheadModel|SystemCalls|ContainerEngine|Certificates|NetworkNamespaces|Inventory|Reachability|Policy|Lab|Kubernetes|Reporting|Fleet|TLSVerification)[[:space:]]*$/d' \
            "$file" >"$build/src/${module}_${relative//\//_}"
    done < <(find "$root/Sources/$module" -name '*.swift' -print0 | sort -z)
done

main=()
if [ "$variant" = repro ]; then
    main=("$here/../repro-main.swift")
fi
echo "building $output (${swiftflags[*]})" >&2
"$swiftc" "${swiftflags[@]}" -g -parse-as-library -module-name BulkheadConfigFuzz -swift-version 6 \
    -enable-upcoming-feature MemberImportVisibility -enable-upcoming-feature ExistentialAny \
    -I "$build/yams" -I "$yams/Sources/CYaml/include" -I "$build/shim" -I "$root/Sources/CBulkheadOpenSSL" \
    "$here/harness.swift" "$build/src"/*.swift "${main[@]}" "$build"/obj/*.o -L "$build/yams" -lYams \
    -module-cache-path "$build/module-cache" -o "$output"
