#!/usr/bin/env bash
# TLS benchmark: 20 TLS endpoints (openssl s_server on 127.0.0.1: strict, misconfigured, optional and no
# client auth, TLS 1.2 and 1.3 variants), then `bulkhead tls` with the full battery (plaintext, no-cert,
# four forged certificates, the valid and another identity, four versions, seven cipher categories) timed
# beside sslyze's default scan (certinfo, compression, every version's cipher suites, … ) on the same
# endpoints in the same run. Target: Bulkhead ≥ 10× faster. Prints the figures and writes
# Benchmarks/results/tls.md.
#
# Usage: bash Benchmarks/tls-benchmark.sh [REPEATS]   (default 5 for bulkhead, 3 for sslyze)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-5}
command -v sslyze >/dev/null || { echo "sslyze is not installed: bash scripts/install-deps.sh --test" >&2; exit 2; }
swift build -c release --product bulkhead 2>&1 | tail -1

work=$(mktemp -d /tmp/bulkhead-tls-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# PKI: root, and a server, a client and another client leaf (EC P-256), made with the openssl CLI.
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 365 -subj "/CN=Bench Root" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
leaf() { # name eku san
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" \
        -addext "subjectAltName=$3" -addext "extendedKeyUsage=$2" -addext basicConstraints=critical,CA:FALSE 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -days 200 -copy_extensions copyall -out "$1.pem" 2>/dev/null
}
leaf server serverAuth "DNS:svc.bench,URI:spiffe://bench.test/server"
leaf client clientAuth "URI:spiffe://bench.test/client"
leaf other clientAuth "URI:spiffe://bench.test/other"

configs=(
    "-Verify 1 -verify_return_error -CAfile ca.pem -tls1_3"
    "-Verify 1 -verify_return_error -CAfile ca.pem -tls1_2"
    "-Verify 1 -CAfile ca.pem -tls1_3"
    "-Verify 1 -CAfile ca.pem -tls1_2"
    "-verify 1 -CAfile ca.pem"
    ""
)
endpoints=()
for i in $(seq 0 19); do
    config=${configs[$((i % ${#configs[@]}))]}
    # shellcheck disable=SC2086
    openssl s_server -accept 127.0.0.1:0 -www -cert server.pem -key server.key $config >"s$i.log" 2>&1 &
    pids+=($!)
done
for i in $(seq 0 19); do
    for _ in $(seq 1 100); do
        port=$(grep -o 'ACCEPT 127.0.0.1:[0-9]*' "s$i.log" | cut -d: -f2 || true)
        [[ -n "$port" ]] && break
        sleep 0.05
    done
    endpoints+=("127.0.0.1:$port")
done
cd - >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
bulkhead_args=(tls --ca-bundle "$work/ca.pem" --ca-key "$work/ca.key" --client-cert "$work/client.pem" --client-key "$work/client.key"
    --other-cert "$work/other.pem" --other-key "$work/other.key" --expect-dns svc.bench --expect-spiffe spiffe://bench.test/server
    --format json --output "$work/bulkhead.json")
for endpoint in "${endpoints[@]}"; do bulkhead_args+=(--endpoint "$endpoint"); done

times=()
for _ in $(seq 1 "$repeats"); do
    start=$(date +%s.%N)
    .build/release/bulkhead "${bulkhead_args[@]}" || [[ $? -le 1 ]]
    end=$(date +%s.%N)
    times+=("$(printf "%.3f" "$(echo "$end - $start" | bc)")")
done
bulkhead=$(printf '%s\n' "${times[@]}" | median)
read -r connections verdicts < <(python3 -c "
import json; d=json.load(open('$work/bulkhead.json'))
print(d['connections'], ','.join(f'{k}={v}' for k, v in sorted(d['verdicts'].items())))")

sslyze_times=()
for _ in $(seq 1 $(((repeats + 1) / 2))); do
    start=$(date +%s.%N)
    sslyze --quiet --mozilla_config=disable --json_out="$work/sslyze.json" "${endpoints[@]}" >/dev/null 2>&1 || true
    end=$(date +%s.%N)
    sslyze_times+=("$(printf "%.3f" "$(echo "$end - $start" | bc)")")
done
sslyze_time=$(printf '%s\n' "${sslyze_times[@]}" | median)
sslyze_auth=$(python3 -c "
import json, collections; d=json.load(open('$work/sslyze.json'))
c=collections.Counter((r.get('connectivity_result') or {}).get('client_auth_requirement', 'error') for r in d['server_scan_results'])
print(','.join(f'{k}={v}' for k, v in sorted(c.items())))")

ratio=$(echo "scale=1; $sslyze_time / $bulkhead" | bc)
verdict=PASS
if (($(echo "$ratio < 10" | bc))); then verdict=FAIL; fi
mkdir -p Benchmarks/results
{
    echo "# bulkhead tls — benchmark results"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- $(openssl version); sslyze $(python3 -c 'import importlib.metadata as m; print(m.version("sslyze"))')"
    echo "- 20 endpoints: openssl s_server -www on 127.0.0.1 (strict TLS 1.3/1.2, -Verify 1 without -verify_return_error TLS 1.3/1.2, optional, no client auth)"
    echo
    echo "| run | wall s (median) | connections | result |"
    echo "|---|---:|---:|---|"
    echo "| bulkhead tls, full battery (runs: ${times[*]}) | $bulkhead | $connections | $verdicts |"
    echo "| sslyze default scan (runs: ${sslyze_times[*]}) | $sslyze_time | — | client auth: $sslyze_auth |"
    echo
    echo "Bulkhead is **${ratio}×** faster (target ≥ 10×): $verdict"
} | tee Benchmarks/results/tls.md
