#!/usr/bin/env bash
# TLS benchmark: 20 TLS endpoints (openssl s_server: strict, misconfigured, optional and no client auth,
# TLS 1.2 and 1.3 variants; on 127.0.0.1, or with --lab in 20 lab containers on 198.18.62.0/24), then `bulkhead tls` with the full battery (plaintext, no-cert,
# four forged certificates, the valid and another identity, four versions, seven cipher categories) timed
# beside sslyze's default scan (certinfo, compression, every version's cipher suites, … ) on the same
# endpoints in the same run. Target: Bulkhead ≥ 10× faster. Prints the figures and writes
# Benchmarks/results/tls.md.
#
# Usage: bash Benchmarks/tls-benchmark.sh [--lab] [REPEATS]   (default 5 for bulkhead, 3 for sslyze)
# --lab needs root: it starts dockerd through scripts/dockerd.sh if none runs and builds the lab image.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=loopback
if [[ "${1:-}" == "--lab" ]]; then mode=lab; shift; fi
repeats=${1:-5}
docker=/usr/bin/docker
label=bulkhead.bench=tls
command -v sslyze >/dev/null || { echo "sslyze is not installed: bash scripts/install-deps.sh --test" >&2; exit 2; }
swift build -c release --product bulkhead 2>&1 | tail -1

work=$(mktemp -d /tmp/bulkhead-tls-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [[ $mode == lab ]]; then
        ids=$($docker ps -aq --filter "label=$label"); [[ -n "$ids" ]] && $docker rm -f $ids >/dev/null
        nets=$($docker network ls -q --filter "label=$label"); [[ -n "$nets" ]] && $docker network rm $nets >/dev/null
    fi
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
if [[ $mode == lab ]]; then
    cd - >/dev/null
    bash scripts/dockerd.sh start
    # Any lab image has openssl: never rebuild a shared one that may be newer than this branch's build.sh.
    $docker image inspect bulkhead-lab:latest >/dev/null 2>&1 || bash scenarios/lab-image/build.sh
    chmod 644 "$work"/*.key
    $docker network create --label "$label" --subnet 198.18.62.0/24 bh-tlsbench >/dev/null
    for i in $(seq 0 19); do
        config=${configs[$((i % ${#configs[@]}))]//ca.pem//pki/ca.pem}
        # shellcheck disable=SC2086
        $docker run -d --label "$label" --name "bh-tlsbench-$i" --network bh-tlsbench --ip "198.18.62.$((10 + i))" \
            -v "$work:/pki:ro" bulkhead-lab:latest openssl s_server -accept 8443 -www -cert /pki/server.pem -key /pki/server.key $config >/dev/null
        endpoints+=("198.18.62.$((10 + i)):8443")
    done
    for endpoint in "${endpoints[@]}"; do
        for _ in $(seq 1 100); do
            timeout 1 bash -c "</dev/tcp/${endpoint%:*}/${endpoint#*:}" 2>/dev/null && break
            sleep 0.1
        done
    done
    cd "$work"
else
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
fi
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
    where="on 127.0.0.1"
    [[ $mode == lab ]] && where="in 20 lab containers on 198.18.62.0/24, probed from the host"
    echo "- 20 endpoints: openssl s_server -www $where (strict TLS 1.3/1.2, -Verify 1 without -verify_return_error TLS 1.3/1.2, optional, no client auth)"
    echo
    echo "| run | wall s (median) | connections | result |"
    echo "|---|---:|---:|---|"
    echo "| bulkhead tls, full battery (runs: ${times[*]}) | $bulkhead | $connections | $verdicts |"
    echo "| sslyze default scan (runs: ${sslyze_times[*]}) | $sslyze_time | — | client auth: $sslyze_auth |"
    echo
    echo "Bulkhead is **${ratio}×** faster (target ≥ 10×): $verdict"
} | tee "Benchmarks/results/tls-$mode.md"
