#!/usr/bin/env bash
# Probe benchmark (issue 5, "Performance"): 50 containers on 5 networks (made here, on 198.18.160.0/24 …
# 198.18.164.0/24; every tenth container also joins the next network), each listening on 2–3 TCP ports
# (busybox httpd on 80 and/or 8080, redis-server on 6379), some ports dropped or rejected by DOCKER-USER rules.
# Then `bulkhead probe` (release build) is timed over the full TCP matrix (median of 3) and checked against the
# budget timeout × attempts + 2 s, and `nmap -Pn -T4` is run from every source namespace in turn (nsenter) against
# the same addresses and ports; nmap's open/closed/filtered cells are compared with bulkhead's, cell by cell
# (Benchmarks/probe-compare.py). Prints the figures and writes Benchmarks/results/probe.md.
#
# Safety: traffic only goes to the containers made here. bulkhead is given an inventory reduced to them
# (--inventory), and --no-host (no gateway probes); nmap gets the addresses from bulkhead's own cells.
# Needs root (dockerd via scripts/dockerd.sh, nsenter, iptables).
#
# bulkhead is timed twice: with its defaults (the headline, which the targets are checked on) and with
# --max-in-flight WIDE (every probe of the matrix may be in flight at once; its own budget line). The host's
# ICMP rate-limit counters (IcmpOutRateLimitHost/Global) are recorded around each tool: REJECT rules answer
# with ICMP errors, which the kernel rate-limits per source address.
#
# Usage: bash Benchmarks/probe-benchmark.sh [--attempts N] [--timeout S] [--runs N] [--wide N] [--skip-build]
#   --wide 0 skips the second configuration. Exit 0 only if the three targets hold for the default run.
set -euo pipefail
cd "$(dirname "$0")/.."
label=bulkhead.bench=probe
comment=bulkhead-bench=probe
docker=/usr/bin/docker
attempts=2
timeout=1
runs=3
wide=16384
build=1
while (($#)); do
    case "$1" in
    --attempts) attempts=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --wide) wide=$2; shift 2 ;;
    --skip-build) build=0; shift ;;
    *) echo "usage: $0 [--attempts N] [--timeout S] [--runs N] [--wide N] [--skip-build]" >&2; exit 2 ;;
    esac
done
bin=.build-bench/release/bulkhead
work=Benchmarks/work/probe
mkdir -p "$work"

cleanup() {
    local ids nets
    ids=$($docker ps -aq --filter "label=$label" 2>/dev/null || true)
    [[ -n "$ids" ]] && $docker rm -f $ids >/dev/null 2>&1
    nets=$($docker network ls -q --filter "label=$label" 2>/dev/null || true)
    [[ -n "$nets" ]] && $docker network rm $nets >/dev/null 2>&1
    # Our DOCKER-USER rules, found by their comment (deleted by rule number, highest first).
    iptables -w -L DOCKER-USER --line-numbers -n 2>/dev/null | awk -v c="$comment" 'index($0, "/* " c " */") {print $1}' |
        sort -rn | while read -r n; do iptables -w -D DOCKER-USER "$n"; done
    true
}

bash scripts/install-deps.sh --test
command -v nmap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nmap >/dev/null
command -v nsenter >/dev/null || { echo "error: nsenter (util-linux) is missing" >&2; exit 2; }
bash scripts/dockerd.sh start
cleanup
trap cleanup EXIT
bash scenarios/lab-image/build.sh
if ((build)); then
    swift build -c release --product bulkhead --scratch-path .build-bench 2>&1 | tail -1
fi
[[ -x $bin ]] || { echo "error: $bin is missing (build it or drop --skip-build)" >&2; exit 2; }

# Container c is on network c % 5 at 198.18.16<n>.<10 + c/5>; c % 10 == 0 also joins network n+1 at .<100 + c/5>.
ip_of() { echo "198.18.16$(($1 % 5)).$((10 + $1 / 5))"; }
echo "creating 5 networks and 50 containers…" >&2
for n in 0 1 2 3 4; do
    $docker network create --label "$label" --subnet "198.18.16$n.0/24" --gateway "198.18.16$n.1" "bh-probe-net$n" >/dev/null
done
for c in $(seq 0 49); do
    n=$((c % 5))
    # Ports: 80 everywhere; c%3==0 adds 8080 and 6379, c%3==1 adds 8080, c%3==2 adds 6379 (2–3 ports each).
    cmd="busybox httpd -p 80"
    if ((c % 3 != 2)); then cmd+=" && busybox httpd -p 8080"; fi
    if ((c % 3 != 1)); then cmd+=" && exec redis-server --port 6379 --protected-mode no --save '' --appendonly no"; else cmd+=" && exec sleep 100000"; fi
    $docker create --label "$label" --name "bh-probe-c$c" --network "bh-probe-net$n" --ip "$(ip_of "$c")" \
        bulkhead-lab:latest sh -c "$cmd" >/dev/null
    if ((c % 10 == 0)); then
        m=$(((n + 1) % 5))
        $docker network connect --ip "198.18.16$m.$((100 + c / 5))" "bh-probe-net$m" "bh-probe-c$c"
    fi
    $docker start "bh-probe-c$c" >/dev/null
done

# Firewall: DROP (→ filtered) and REJECT of several kinds, all in DOCKER-USER, all commented for the cleanup.
rule() { iptables -w -I DOCKER-USER "$@" -m comment --comment "$comment"; }
for c in 3 10 17 24 31 38 45; do rule -d "$(ip_of $c)" -p tcp --dport 80 -j DROP; done          # all sources
for c in 1 7 13 19 25 31 37 43; do                                                              # one source each
    rule -s "$(ip_of $c)" -d "$(ip_of $((c + 5)))" -p tcp --dport 8080 -j DROP
done
for c in 2 22 42; do rule -d "$(ip_of $c)" -p tcp --dport 6379 -j REJECT --reject-with icmp-admin-prohibited; done
for c in 12 32; do rule -d "$(ip_of $c)" -p tcp --dport 8080 -j REJECT --reject-with icmp-port-unreachable; done
for c in 8 28; do rule -d "$(ip_of $c)" -p tcp --dport 80 -j REJECT --reject-with tcp-reset; done
rule -d "$(ip_of 27)" -p tcp --dport 9 -j REJECT --reject-with icmp-host-unreachable
rules=$(iptables -w -S DOCKER-USER | grep -c -- "$comment" || true)

# Wait until every service listens (redis takes a moment).
declare -A pids
for c in $(seq 0 49); do pids[$c]=$($docker inspect -f '{{.State.Pid}}' "bh-probe-c$c"); done
for _ in $(seq 1 40); do
    up=0
    for c in $(seq 0 49); do
        want=2; ((c % 3 == 0)) && want=3
        have=$(nsenter -t "${pids[$c]}" -n ss -Hltn 2>/dev/null | awk '{sub(/.*:/, "", $4); print $4}' | { grep -xE '80|8080|6379' || true; } | sort -u | wc -l)
        ((have >= want)) && up=$((up + 1))
    done
    ((up == 50)) && break
    sleep 0.5
done
((up == 50)) || { echo "error: only $up of 50 containers listen on all their ports" >&2; exit 2; }

# The inventory bulkhead plans from, reduced to the containers and networks made here (another session's
# containers must never be probed or probed from).
inv_start=$(date +%s.%N)
$bin inventory --format json --output "$work/inventory-all.json" || [[ $? -le 1 ]]
inv_end=$(date +%s.%N)
inventory_s=$(printf "%.3f" "$(echo "$inv_end - $inv_start" | bc)")
python3 - "$work/inventory-all.json" "$work/inventory.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["containers"] = [c for c in doc["containers"] if c["name"].startswith("bh-probe-")]
doc["networks"] = [n for n in doc["networks"] if n["name"].startswith("bh-probe-")]
if "namespaces" in doc: doc["namespaces"] = []
json.dump(doc, open(sys.argv[2], "w"))
assert len(doc["containers"]) == 50 and len(doc["networks"]) == 5, (len(doc["containers"]), len(doc["networks"]))
EOF

# The closed port 9 and every service port on every address, so that bulkhead's cells are exactly the
# address × port product nmap scans (bulkhead would otherwise probe only the ports each container listens on).
probe=("$bin" probe --inventory "$work/inventory.json" --no-host --no-udp --no-icmp --ports tcp/9,tcp/80,tcp/8080,tcp/6379
    --attempts "$attempts" --timeout "$timeout" --format json --quiet)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# The host's ICMP error rate-limit counters (kernel ≥ 6.0), "host global".
icmp_limited() { nstat -asz IcmpOutRateLimitHost IcmpOutRateLimitGlobal 2>/dev/null | awk '/^IcmpOutRateLimitHost/ {h=$2} /^IcmpOutRateLimitGlobal/ {g=$2} END {print h+0, g+0}'; }
budget=$(echo "$timeout * $attempts + 2" | bc)

# time_bulkhead NAME EXTRA-ARGS…: runs it $runs times; sets med_<NAME>, times_<NAME>, limited_<NAME> and
# copies the median run's report to $work/bulkhead-NAME.json.
time_bulkhead() {
    local name=$1 r rc start end median_run t0 t1 list=()
    shift
    read -r h0 g0 < <(icmp_limited)
    for r in $(seq 1 "$runs"); do
        rc=0
        start=$(date +%s.%N)
        "${probe[@]}" "$@" --output "$work/bulkhead-$name-$r.json" 2>"$work/bulkhead-$name-$r.err" || rc=$?
        end=$(date +%s.%N)
        ((rc <= 1)) || { echo "error: bulkhead probe exited $rc" >&2; cat "$work/bulkhead-$name-$r.err" >&2; exit 2; }
        list+=("$(printf "%.3f" "$(echo "$end - $start" | bc)")")
        echo "bulkhead probe ($name) run $r: ${list[-1]} s (exit $rc)" >&2
    done
    read -r h1 g1 < <(icmp_limited)
    printf -v "med_$name" '%s' "$(printf '%s\n' "${list[@]}" | median)"
    printf -v "times_$name" '%s' "${list[*]}"
    printf -v "limited_$name" '%s' "$((h1 - h0)) per-host, $((g1 - g0)) global over $runs runs"
    local m="med_$name"
    for r in $(seq 1 "$runs"); do [[ ${list[$((r - 1))]} == "${!m}" ]] && { median_run=$r; break; }; done
    cp "$work/bulkhead-$name-$median_run.json" "$work/bulkhead-$name.json"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
time_bulkhead default
if ((wide > 0)); then time_bulkhead wide --max-in-flight "$wide"; fi
load_mid=$(cut -d' ' -f1-3 /proc/loadavg)

# nmap from every source namespace in turn, against the addresses and ports of that source's cells.
python3 Benchmarks/probe-compare.py targets "$work/bulkhead-default.json" >"$work/nmap-targets.txt"
mkdir -p "$work/nmap"
rm -f "$work/nmap/"*.xml
read -r h0 g0 < <(icmp_limited)
nmap_start=$(date +%s.%N)
while read -r source ports targets; do
    # shellcheck disable=SC2086
    nsenter -t "${pids[${source#bh-probe-c}]}" -n nmap -Pn -T4 -n -p "$ports" $targets -oX "$work/nmap/$source.xml" >/dev/null
done <"$work/nmap-targets.txt"
nmap_end=$(date +%s.%N)
read -r h1 g1 < <(icmp_limited)
limited_nmap="$((h1 - h0)) per-host, $((g1 - g0)) global"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
nmap_s=$(printf "%.3f" "$(echo "$nmap_end - $nmap_start" | bc)")

python3 Benchmarks/probe-compare.py compare "$work/bulkhead-default.json" "$work/nmap" --counts "$work/counts.txt" >"$work/compare.md" || true
read -r cells agree strict <"$work/counts.txt"
if ((wide > 0)); then
    python3 Benchmarks/probe-compare.py compare "$work/bulkhead-wide.json" "$work/nmap" --counts "$work/counts-wide.txt" >"$work/compare-wide.md" || true
    read -r _ agree_wide strict_wide <"$work/counts-wide.txt"
fi

ratio=$(printf "%.1f" "$(echo "$nmap_s / $med_default" | bc -l)")
verdict_budget=PASS; (($(echo "$med_default > $budget" | bc))) && verdict_budget=FAIL
verdict_ratio=PASS; (($(echo "$ratio < 10" | bc))) && verdict_ratio=FAIL
verdict_agree=PASS; [[ "$cells" == "$agree" && "$cells" -gt 0 ]] || verdict_agree=FAIL
containers=$(python3 -c "import json; print(len(json.load(open('$work/inventory.json'))['containers']))")
addresses=$(python3 -c "import json; print(sum(len(c['networks']) for c in json.load(open('$work/inventory.json'))['containers']))")
summary() {
    python3 -c "
import json, collections; d=json.load(open('$1'))
c=collections.Counter(x['state'] for x in d['cells'])
print(', '.join(f'{k} {v:,}' for k, v in sorted(c.items())) + ';', d['summary'].get('attemptsSent', '?'), 'attempts;', 'engine', round(d['summary'].get('durationSeconds', 0), 3), 's')"
}

mkdir -p Benchmarks/results
{
    echo "# bulkhead probe — benchmark results"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r); load average (1/5/15 min) $load_before before the bulkhead runs, $load_mid after them, $load_after after the nmap sweep"
    echo "- Engine: $($docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'); $(nmap --version | head -1 | sed 's/ (.*//'); bulkhead release binary \`$bin\` built $(date -u -r "$bin" '+%Y-%m-%d %H:%M UTC') (\`--scratch-path .build-bench\`; the tree is at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo ' with uncommitted changes in Sources/') when this report is written)"
    echo "- $containers containers ($addresses addresses: every tenth container is on two networks) on 5 networks (198.18.160.0/24 … 198.18.164.0/24), listening on 2–3 TCP ports each (80, 8080, 6379); $rules DOCKER-USER rules: DROP (one port for all sources, or one port from one source) and REJECT with icmp-admin-prohibited, icmp-port-unreachable, icmp-host-unreachable, tcp-reset"
    echo "- Matrix: every source × every other container's addresses × TCP ports {9, 80, 8080, 6379} (9 is closed everywhere) = **$cells TCP cells**. UDP, ICMP echo and the host side (gateways) are off (\`--no-udp --no-icmp --no-host\`) so that both tools probe exactly the same cells; bulkhead plans from an inventory reduced to these containers (\`--inventory\`)"
    echo "- bulkhead with defaults: $(summary "$work/bulkhead-default.json")"
    ((wide > 0)) && echo "- bulkhead with \`--max-in-flight $wide\`: $(summary "$work/bulkhead-wide.json")"
    echo
    echo "| run | wall s | |"
    echo "|---|---:|---|"
    echo "| \`bulkhead probe --attempts $attempts --timeout $timeout\` (defaults: \`--max-in-flight\` auto, up to 16384), median of $runs ($times_default) | **$med_default** | host ICMP errors rate-limited: $limited_default |"
    ((wide > 0)) && echo "| \`bulkhead probe --attempts $attempts --timeout $timeout --max-in-flight $wide\`, median of $runs ($times_wide) | **$med_wide** | host ICMP errors rate-limited: $limited_wide |"
    echo "| \`bulkhead inventory --format json\` (the plan's input, once; not in the rows above) | $inventory_s | |"
    echo "| \`nmap -Pn -T4 -n -p PORTS ADDRESSES\` via \`nsenter -t PID -n\`, the 50 sources one after the other | $nmap_s | host ICMP errors rate-limited: $limited_nmap |"
    echo
    echo "Targets (checked on the default run):"
    echo
    echo "- within timeout × attempts + 2 s = $budget s: $med_default s — **$verdict_budget**"
    if ((wide > 0)); then
        v=PASS; (($(echo "$med_wide > $budget" | bc))) && v=FAIL
        echo "  (with \`--max-in-flight $wide\`: $med_wide s — $v)"
    fi
    echo "- ≥ 10× faster than nmap from each source namespace: ${ratio}×$( ((wide > 0)) && printf ' (%.1f× with `--max-in-flight %s`)' "$(echo "$nmap_s / $med_wide" | bc -l)" "$wide") — **$verdict_ratio**"
    echo "- same open/closed/filtered cells as nmap: $agree of $cells — **$verdict_agree**; strict (bulkhead's \`rejected\` vs \`filtered\` against nmap's reason): $strict of $cells$( ((wide > 0)) && echo " (with \`--max-in-flight $wide\`: $agree_wide and $strict_wide)")"
    echo
    cat "$work/compare.md"
    if ((wide > 0)); then
        echo
        echo "#### With \`--max-in-flight $wide\`"
        echo
        sed '1,2d' "$work/compare-wide.md"
    fi
} | tee Benchmarks/results/probe.md
[[ $verdict_budget == PASS && $verdict_ratio == PASS && $verdict_agree == PASS ]]
