#!/usr/bin/env bash
# run-analyze-benchmark.sh -- end-to-end performance benchmark for `bulkhead analyze`.
#
# Builds a >= 1 GB mixed capture (gen-mixed-capture.c), then times, on the same
# warm file and in one run:
#   floor     bare libpcap read loop (pcap-read-floor.c), the practical floor
#   bulkhead  `bulkhead analyze FILE --format json` (release build), --format jsonl, and the default table
#   keylog    `bulkhead analyze FILE --keylog KEYS --format json`: the capture's TLS 1.3
#             flows are really encrypted and KEYS (written by the generator) holds their
#             secrets, so bulkhead decrypts every TLS 1.3 handshake
#   tshark    tshark extracting TLS handshake fields
# and checks bulkhead's summary against the generator's truth file.
#
# Targets (from the issues): bulkhead within 2x of the floor, >= 50x faster than
# tshark, peak RSS < 300 MB, per-class flow counts exactly right; with the key log
# within 1.3x of the run without keys, client-certificate states and decrypted-flow
# count exactly right.
# Exit status: 0 all targets met, 1 a count mismatch or missed target, 2 usage/setup error.
#
# Usage: bash Benchmarks/run-analyze-benchmark.sh [options]
#   --size-mb N          capture size in MB (10^6 bytes), default 1100
#   --shape S            mixed (default: long and short flows, a fat tail of bulk transfers) or short
#                        (almost every flow a handshake and a request or two: ~6 kB per flow, the shape
#                        container hosts carry, and the one where per-flow cost shows); results go to
#                        results/latest.md (mixed) or results/latest-short.md
#   --tshark-sample MB   run tshark on the first ~MB of the capture and extrapolate
#                        linearly to the full size (labelled as such); default: full file
#   --no-tshark          skip tshark (the 50x target is then not evaluated)
#   --no-bulkhead        only measure the floor and tshark (bulkhead targets not evaluated)
#   --no-keylog          skip the `--keylog` runs (the 1.3x target is then not evaluated)
#   --repeat N           runs of floor and bulkhead; the median wall time is reported (default 5)
#   --rss-scaling        also analyze a capture 1/4 the size and report RSS for both sizes
#   --distinct-findings N  also analyze N cleartext connections each to a server of its own (N distinct findings:
#                        gen-distinct-findings.py) and hold its peak RSS to the target too
#   --rotated-files N    also analyze the capture rotated into about N files (editcap -c, as tcpdump -C leaves it)
#                        as a folder: same counts as the whole, peak RSS held to the target (default 1000; 0: skip)
#   --syn-scan N         also analyze a SYN scan of N half-open connections (gen-syn-scan.py), all open at once:
#                        every one reported, peak RSS held to the target (default 1000000, 70 MB; 0: skip)
#   --dns-exchanges N    also analyze N DNS lookups at 5,000 a second (gen-dns-exchanges.py), each a UDP flow of its
#                        own: every one a dns flow, peak RSS held to the target (default 1000000, 232 MB; 0: skip)
#   --quic-connections N also analyze N QUIC connections at 2,000 a second (gen-quic-connections.py: the real aioquic
#                        connection of captures/quic-server-auth.pcap replayed from a client port each): every one a
#                        quic flow, its Initial packets decrypted, peak RSS held to the target (default 150000,
#                        775 MB; 0: skip)
#   --dribbled-handshakes N  also analyze 6 x N handshakes of 16,000 bytes sent a byte per segment (a GET, a
#                        WebSocket upgrade, a CONNECT, an h2c etcd call, a compressed WebSocket message, an h2c
#                        upgrade declined in answers: gen-dribbled-handshakes.py), the input that hurts readers
#                        waiting for a header block's end and the inflater: within 5x its own libpcap read (default
#                        20, 136 MB; 0: skip)
#   --no-gzip            skip the run on the capture gzip-compressed (`gzip -1`, as `tcpdump -z gzip` leaves rotated
#                        files), timed beside `gzip -dc` alone and `gzip -dc | bulkhead analyze -`
#   --container C        pcap (default) or pcapng: the generated capture converted by editcap, as dumpcap and
#                        Wireshark write captures (every tool reads the same packets; results go to
#                        results/latest[-short]-pcapng.md)
#   --regenerate         rebuild the capture even if a matching one exists
#   --seed N             generator seed (default 20240601)
#   --bulkhead-args STR  extra arguments appended to every `bulkhead analyze` invocation
#   --skip-build         do not run `swift build` (use the existing release binary)
#   --bulkhead-bin PATH  benchmark this bulkhead binary instead of building one
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
WORK="$HERE/work"
RESULTS="$HERE/results"

SIZE_MB=1100
SHAPE=mixed
CONTAINER=pcap
TSHARK_SAMPLE_MB=0
NO_TSHARK=0
NO_BULKHEAD=0
NO_KEYLOG=0
REPEAT=5
RSS_SCALING=0
DISTINCT_FINDINGS=0
ROTATED_FILES=1000
SYN_SCAN=1000000
DRIBBLED_HANDSHAKES=20
DNS_EXCHANGES=1000000
QUIC_CONNECTIONS=150000
GZIP_RUN=1
REGEN=0
SEED=20240601
BULKHEAD_ARGS=""
SKIP_BUILD=0
BULKHEAD_BIN=""

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --size-mb) SIZE_MB="$2"; shift 2 ;;
        --shape) SHAPE="$2"; shift 2 ;;
        --container) CONTAINER="$2"; shift 2 ;;
        --tshark-sample) TSHARK_SAMPLE_MB="$2"; shift 2 ;;
        --no-tshark) NO_TSHARK=1; shift ;;
        --no-bulkhead) NO_BULKHEAD=1; shift ;;
        --no-keylog) NO_KEYLOG=1; shift ;;
        --repeat) REPEAT="$2"; shift 2 ;;
        --rss-scaling) RSS_SCALING=1; shift ;;
        --distinct-findings) DISTINCT_FINDINGS="$2"; shift 2 ;;
        --rotated-files) ROTATED_FILES="$2"; shift 2 ;;
        --syn-scan) SYN_SCAN="$2"; shift 2 ;;
        --dribbled-handshakes) DRIBBLED_HANDSHAKES="$2"; shift 2 ;;
        --dns-exchanges) DNS_EXCHANGES="$2"; shift 2 ;;
        --quic-connections) QUIC_CONNECTIONS="$2"; shift 2 ;;
        --no-gzip) GZIP_RUN=0; shift ;;
        --regenerate) REGEN=1; shift ;;
        --seed) SEED="$2"; shift 2 ;;
        --bulkhead-args) BULKHEAD_ARGS="$2"; shift 2 ;;
        --skip-build) SKIP_BUILD=1; shift ;;
        --bulkhead-bin) BULKHEAD_BIN="$2"; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $1" >&2; usage 2 ;;
    esac
done
for n in "$SIZE_MB" "$TSHARK_SAMPLE_MB" "$REPEAT" "$SEED"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "expected a non-negative integer, got '$n'" >&2; exit 2; }
done
[ "$REPEAT" -ge 1 ] || REPEAT=1
[ "$SIZE_MB" -ge 1 ] || { echo "--size-mb must be >= 1" >&2; exit 2; }
case "$SHAPE" in mixed|short) ;; *) echo "--shape must be mixed or short, got '$SHAPE'" >&2; exit 2 ;; esac
case "$CONTAINER" in pcap|pcapng) ;; *) echo "--container must be pcap or pcapng, got '$CONTAINER'" >&2; exit 2 ;; esac

log() { printf '\n==> %s\n' "$*" >&2; }

# ---------------------------------------------------------------- dependencies
log "checking dependencies"
missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
{ [ -f /usr/include/pcap/pcap.h ] || dpkg -s libpcap-dev >/dev/null 2>&1; } || missing+=(libpcap-dev)
{ [ -f /usr/include/openssl/evp.h ] || dpkg -s libssl-dev >/dev/null 2>&1; } || missing+=(libssl-dev)
if [ "$NO_TSHARK" = 0 ] || [ "$RSS_SCALING" = 1 ] || [ "$CONTAINER" = pcapng ]; then
    command -v tshark >/dev/null 2>&1 || missing+=(tshark)
    command -v editcap >/dev/null 2>&1 || missing+=(wireshark-common)
fi
[ -x /usr/bin/time ] || missing+=(time)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

mkdir -p "$WORK/bin" "$WORK/logs" "$RESULTS"

# ---------------------------------------------------------------- build
BULKHEAD=""
BULKHEAD_FROM=build
if [ "$NO_BULKHEAD" = 0 ] && [ -n "$BULKHEAD_BIN" ]; then
    BULKHEAD="$(cd "$(dirname "$BULKHEAD_BIN")" && pwd)/$(basename "$BULKHEAD_BIN")"
    BULKHEAD_FROM=bin
    [ -x "$BULKHEAD" ] || { echo "error: $BULKHEAD_BIN is not executable" >&2; exit 2; }
elif [ "$NO_BULKHEAD" = 0 ]; then
    if [ "$SKIP_BUILD" = 0 ]; then
        log "building bulkhead (release)"
        if ! (cd "$ROOT" && swift build -c release --product bulkhead); then
            echo "error: release build of bulkhead failed (use --no-bulkhead to measure only the baselines)" >&2
            exit 2
        fi
    fi
    BULKHEAD="$(cd "$ROOT" && swift build -c release --show-bin-path)/bulkhead"
    [ -x "$BULKHEAD" ] || { echo "error: $BULKHEAD not found" >&2; exit 2; }
fi

log "compiling generator and libpcap floor (gcc -O2)"
gcc -O2 -o "$WORK/bin/gen-mixed-capture" "$HERE/gen-mixed-capture.c" -lcrypto
gcc -O2 -o "$WORK/bin/pcap-read-floor" "$HERE/pcap-read-floor.c" -lpcap

# ---------------------------------------------------------------- capture
GEN_VERSION="$(sed -n 's/^#define GEN_VERSION \([0-9]*\).*/\1/p' "$HERE/gen-mixed-capture.c")"

# capture_matches PCAP TRUTH TARGET_BYTES KEYS: the truth file describes exactly this file and these
# parameters, and KEYS is the key log written with it (the capture is always made with --keylog)
capture_matches() {
    [ -f "$1" ] && [ -f "$2" ] && [ -f "$4" ] || return 1
    python3 - "$1" "$2" "$3" "$SEED" "$GEN_VERSION" "$4" "$SHAPE" <<'EOF'
import json, os, sys
pcap, truth, target, seed, ver, keys, shape = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
try:
    t = json.load(open(truth))
    key_lines = sum(1 for line in open(keys) if line.strip())
except Exception:
    sys.exit(1)
ok = (t.get("targetBytes") == target and t.get("seed") == seed and t.get("generatorVersion") == ver
      and t.get("shape", "mixed") == shape
      and t.get("fileBytes") == os.path.getsize(pcap)
      and isinstance(t.get("keylog"), dict) and t["keylog"].get("lines") == key_lines)
sys.exit(0 if ok else 1)
EOF
}

# ensure_capture PCAP TRUTH SIZE_MB KEYS
ensure_capture() {
    local pcap="$1" truth="$2" mb="$3" target=$(( $3 * 1000000 )) keys="$4"
    if [ "$REGEN" = 0 ] && capture_matches "$pcap" "$truth" "$target" "$keys"; then
        log "reusing $(basename "$pcap") + $(basename "$keys") (${mb} MB, seed $SEED)"
    else
        log "generating $(basename "$pcap") + key log $(basename "$keys") (${mb} MB, seed $SEED)"
        rm -f "$pcap" "$truth" "$keys"
        local t0 t1
        t0=$(date +%s%N)
        "$WORK/bin/gen-mixed-capture" -o "$pcap" -t "$truth" -s "$target" --seed "$SEED" --keylog "$keys" --shape "$SHAPE" \
            $([ "$SHAPE" = short ] && echo --window 2000)
        t1=$(date +%s%N)
        echo "generated in $(( (t1 - t0) / 1000000 )) ms" >&2
        # flush the freshly written file now: background writeback of ~1 GB of dirty
        # pages during the timed runs slows them down noticeably
        sync "$pcap" "$keys" 2>/dev/null || sync
    fi
}

# in_container PCAP: the capture in the chosen container, converted by editcap when it is pcapng (made again whenever
# the pcap is newer); the truth file describes the packets, which are the same.
in_container() {
    local pcap="$1"
    if [ "$CONTAINER" = pcap ]; then echo "$pcap"; return; fi
    local converted="${pcap%.pcap}.pcapng"
    if [ ! -s "$converted" ] || [ "$pcap" -nt "$converted" ]; then
        log "converting $(basename "$pcap") to pcapng (editcap -F pcapng)"
        editcap -F pcapng "$pcap" "$converted" >&2
        sync "$converted" 2>/dev/null || sync
    fi
    echo "$converted"
}

CAP_PCAP="$WORK/$SHAPE.pcap"
TRUTH="$WORK/$SHAPE.truth.json"
KEYS="$WORK/$SHAPE.keys"
ensure_capture "$CAP_PCAP" "$TRUTH" "$SIZE_MB" "$KEYS"
CAP="$(in_container "$CAP_PCAP")"

CAP_Q="$WORK/$SHAPE-quarter.pcap"
TRUTH_Q="$WORK/$SHAPE-quarter.truth.json"
KEYS_Q="$WORK/$SHAPE-quarter.keys"
if [ "$RSS_SCALING" = 1 ] && [ "$NO_BULKHEAD" = 0 ]; then
    ensure_capture "$CAP_Q" "$TRUTH_Q" $(( (SIZE_MB + 3) / 4 )) "$KEYS_Q"
    CAP_Q="$(in_container "$CAP_Q")"
fi

# ---------------------------------------------------------------- timed runs
RUNS="$WORK/logs/runs.tsv"
: > "$RUNS"
rm -f "$WORK"/logs/time-*.txt "$WORK"/logs/stderr-*.txt

# run_timed LABEL FILE_MEASURED STDOUT_FILE CMD...  (wall via date +%s%N, RSS/CPU via /usr/bin/time -v)
run_timed() {
    local label="$1" file="$2" out="$3"; shift 3
    local tf="$WORK/logs/time-$label.txt" ef="$WORK/logs/stderr-$label.txt" t0 t1 rc
    # The previous run's report goes before the clock starts: truncating it (tens to hundreds of MB of page cache)
    # inside the timed redirection was the harness's cost, not the measured tool's.
    case "$out" in /dev/*) ;; *) rm -f "$out" ;; esac
    # And the reports of the runs before are written back to disk now: at 4 GB each is about a gigabyte of dirty page
    # cache, whose writeback during the next timed run added seconds of system time to it (a --keylog run measured
    # 1.89x the json run that way, 1.22-1.27x without).
    sync
    t0=$(date +%s%N)
    set +e
    /usr/bin/time -v -o "$tf" "$@" > "$out" 2> "$ef"
    rc=$?
    set -e
    t1=$(date +%s%N)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$rc" "$(( t1 - t0 ))" "$tf" "$file" "$out" >> "$RUNS"
    if [ "$rc" != 0 ]; then
        echo "warning: $label exited with status $rc (stderr: $ef)" >&2
        tail -5 "$ef" >&2 || true
    fi
}

warm() { log "warming page cache: $(basename "$1")"; cat "$1" > /dev/null; }

warm "$CAP"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2206
EXTRA=($BULKHEAD_ARGS)

for i in $(seq 1 "$REPEAT"); do
    log "floor: libpcap read loop (run $i/$REPEAT)"
    run_timed "floor.$i" "$CAP" "$WORK/logs/floor.out" "$WORK/bin/pcap-read-floor" "$CAP"
    if [ "$NO_BULKHEAD" = 0 ]; then
        log "bulkhead analyze --format json (run $i/$REPEAT)"
        run_timed "bulkhead-json.$i" "$CAP" "$WORK/out.json" "$BULKHEAD" analyze "$CAP" --format json "${EXTRA[@]}"
        log "bulkhead analyze --format jsonl (run $i/$REPEAT)"
        run_timed "bulkhead-jsonl.$i" "$CAP" "$WORK/out.jsonl" "$BULKHEAD" analyze "$CAP" --format jsonl "${EXTRA[@]}"
        log "bulkhead analyze, the default table (run $i/$REPEAT)"
        run_timed "bulkhead-table.$i" "$CAP" "$WORK/out.txt" "$BULKHEAD" analyze "$CAP" "${EXTRA[@]}"
        if [ "$NO_KEYLOG" = 0 ]; then
            log "bulkhead analyze --keylog --format json (run $i/$REPEAT)"
            run_timed "bulkhead-keylog.$i" "$CAP" "$WORK/out-keylog.json" "$BULKHEAD" analyze "$CAP" --keylog "$KEYS" --format json "${EXTRA[@]}"
        fi
    fi
done

if [ "$RSS_SCALING" = 1 ] && [ "$NO_BULKHEAD" = 0 ]; then
    warm "$CAP_Q"
    log "bulkhead analyze --format json on the 1/4-size capture (RSS scaling)"
    run_timed "bulkhead-json-quarter.1" "$CAP_Q" "$WORK/out-quarter.json" "$BULKHEAD" analyze "$CAP_Q" --format json "${EXTRA[@]}"
fi

# The same capture rotated into about a thousand files (as `tcpdump -C`/`-G` leaves it), analysed as a folder: the
# same flows and findings as the whole, and memory that does not grow with the number of files.
ROTATED_DIR="$WORK/rotated"
if [ "$ROTATED_FILES" -gt 0 ] && [ "$NO_BULKHEAD" = 0 ] && command -v editcap >/dev/null; then
    PER_FILE=$(python3 -c "import json,sys; t=json.load(open(sys.argv[1])); print(max(1, -(-t['packets'] // int(sys.argv[2]))))" "$TRUTH" "$ROTATED_FILES")
    if [ ! -f "$ROTATED_DIR/.per-file-$PER_FILE" ]; then
        rm -rf "$ROTATED_DIR" && mkdir -p "$ROTATED_DIR"
        log "rotating the capture into files of $PER_FILE packets (editcap -c)"
        editcap -F pcap -c "$PER_FILE" "$CAP_PCAP" "$ROTATED_DIR/part.pcap" > /dev/null
        touch "$ROTATED_DIR/.per-file-$PER_FILE"
    fi
    cat "$ROTATED_DIR"/*.pcap > /dev/null
    log "bulkhead analyze --format json on the capture rotated into $(ls "$ROTATED_DIR" | grep -c '\.pcap$') files"
    run_timed "bulkhead-json-rotated.1" "$ROTATED_DIR" "$WORK/out-rotated.json" "$BULKHEAD" analyze "$ROTATED_DIR" --format json "${EXTRA[@]}"
fi

# The capture gzip-compressed, analysed as it is (decompressed on a thread of its own while it is analysed), beside
# decompressing it alone (the floor of any reader of it) and piping the decompressed bytes in.
CAP_GZ="$WORK/$(basename "$CAP").gz"
if [ "$GZIP_RUN" = 1 ] && [ "$NO_BULKHEAD" = 0 ]; then
    if [ ! -f "$CAP_GZ" ] || [ "$CAP_GZ" -ot "$CAP" ]; then
        log "compressing the capture (gzip -1)"
        gzip -1 -c "$CAP" > "$CAP_GZ.part" && mv "$CAP_GZ.part" "$CAP_GZ"
    fi
    warm "$CAP_GZ"
    log "gzip -dc alone, bulkhead analyze on the .gz, and gzip -dc | bulkhead analyze -"
    run_timed "gunzip.1" "$CAP_GZ" /dev/null gzip -dc "$CAP_GZ"
    run_timed "bulkhead-json-gzip.1" "$CAP_GZ" "$WORK/out-gzip.json" "$BULKHEAD" analyze "$CAP_GZ" --format json "${EXTRA[@]}"
    # shellcheck disable=SC2016
    run_timed "bulkhead-json-gzip-pipe.1" "$CAP_GZ" "$WORK/out-gzip-pipe.json" \
        bash -c 'gzip -dc "$1" | "$2" analyze - --format json "${@:3}"' _ "$CAP_GZ" "$BULKHEAD" "${EXTRA[@]}"
fi

# A generated capture analysed once, after the bare libpcap read of it: generated_run LABEL CAPTURE GENERATOR COUNT
# DESCRIPTION.
generated_run() {
    local label="$1" capture="$2" generator="$3" count="$4" description="$5"
    [ "$count" -gt 0 ] && [ "$NO_BULKHEAD" = 0 ] || return 0
    [ -f "$capture" ] || { log "generating $(basename "$capture")"; python3 "$HERE/$generator" "$capture" "$count"; }
    warm "$capture"
    log "libpcap read and bulkhead analyze --format json on $description"
    run_timed "floor-$label.1" "$capture" "$WORK/logs/floor-$label.out" "$WORK/bin/pcap-read-floor" "$capture"
    run_timed "bulkhead-json-$label.1" "$capture" "$WORK/out-$label.json" "$BULKHEAD" analyze "$capture" --format json "${EXTRA[@]}"
}

# A SYN scan nobody answers: every connection is open at once until the end (the open-flow limit's shape).
CAP_S="$WORK/syn-scan-$SYN_SCAN.pcap"
generated_run synscan "$CAP_S" gen-syn-scan.py "$SYN_SCAN" "a SYN scan of $SYN_SCAN half-open connections"
CAP_DNS="$WORK/dns-$DNS_EXCHANGES.pcap"
generated_run dns "$CAP_DNS" gen-dns-exchanges.py "$DNS_EXCHANGES" "$DNS_EXCHANGES DNS exchanges, 5,000 a second"
CAP_QUIC="$WORK/quic-$QUIC_CONNECTIONS.pcap"
generated_run quic "$CAP_QUIC" gen-quic-connections.py "$QUIC_CONNECTIONS" \
    "$QUIC_CONNECTIONS QUIC connections, 2,000 a second"
CAP_DRIBBLED="$WORK/handshakes6-dribbled-$DRIBBLED_HANDSHAKES.pcap"  # six shapes since session 28
generated_run dribbled "$CAP_DRIBBLED" gen-dribbled-handshakes.py "$DRIBBLED_HANDSHAKES" \
    "6 x $DRIBBLED_HANDSHAKES HTTP, h2c and WebSocket handshakes sent a byte per segment"
CAP_D="$WORK/distinct-$DISTINCT_FINDINGS.pcap"
generated_run distinct "$CAP_D" gen-distinct-findings.py "$DISTINCT_FINDINGS" \
    "$DISTINCT_FINDINGS connections, each a finding of its own"

TSHARK_MODE="none"
if [ "$NO_TSHARK" = 0 ]; then
    TSHARK_FIELDS=(-Y 'tls.handshake.type==1 || tls.handshake.type==2 || tls.handshake.type==11'
                   -T fields -e tcp.stream -e tls.handshake.extensions_server_name
                   -e tls.handshake.ciphersuite -e tls.handshake.type)
    TS_IN="$CAP"
    TSHARK_MODE="full"
    if [ "$TSHARK_SAMPLE_MB" -gt 0 ] && [ $(( TSHARK_SAMPLE_MB * 1000000 )) -lt "$(stat -c %s "$CAP")" ]; then
        # a prefix of the capture with ~TSHARK_SAMPLE_MB MB: the first K packets
        # K = number of leading packets whose records add up to ~TSHARK_SAMPLE_MB MB
        K=$(python3 - "$CAP_PCAP" "$TSHARK_SAMPLE_MB" <<'EOF'
import struct, sys
limit, k = int(sys.argv[2]) * 10**6, 0
with open(sys.argv[1], "rb") as f:
    magic = f.read(24)[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    pos = 24
    while pos < limit:
        f.seek(pos + 8)
        h = f.read(4)
        if len(h) < 4:
            break
        pos += 16 + struct.unpack(endian + "I", h)[0]
        k += 1
print(max(k, 1))
EOF
)
        TS_IN="$WORK/tshark-sample.$CONTAINER"
        log "making a ${TSHARK_SAMPLE_MB} MB prefix for tshark (first $K packets, editcap -r)"
        editcap -F "$CONTAINER" -r "$CAP_PCAP" "$TS_IN" "1-$K"
        TSHARK_MODE="sample"
        warm "$TS_IN"
    fi
    log "tshark TLS handshake field extraction ($TSHARK_MODE file; this takes a while)"
    run_timed "tshark.1" "$TS_IN" /dev/null tshark -r "$TS_IN" "${TSHARK_FIELDS[@]}"
    if [ "$TSHARK_MODE" = sample ]; then
        TS_SAMPLE_BYTES=$(stat -c %s "$TS_IN")
        rm -f "$TS_IN"
    fi
fi

# ---------------------------------------------------------------- report
log "report"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
BH_VERSION=""
[ -n "$BULKHEAD" ] && BH_VERSION="$("$BULKHEAD" --version 2>/dev/null | head -1 || true)"
export DISTINCT_FINDINGS CAP_D ROTATED_FILES ROTATED_DIR SYN_SCAN CAP_S CAP_GZ DNS_EXCHANGES QUIC_CONNECTIONS
export DRIBBLED_HANDSHAKES CAP_DRIBBLED
export RUNS TRUTH TRUTH_Q CAP CAP_Q KEYS NO_KEYLOG SIZE_MB REPEAT TSHARK_MODE NO_BULKHEAD NO_TSHARK RSS_SCALING SEED BULKHEAD BULKHEAD_FROM BH_VERSION BULKHEAD_ARGS
export TS_SAMPLE_BYTES="${TS_SAMPLE_BYTES:-0}" TSHARK_SAMPLE_MB WORK ROOT LOAD_BEFORE LOAD_AFTER
export SHAPE CONTAINER
if [ "$SHAPE" = mixed ]; then OUT_MD="$RESULTS/latest"; else OUT_MD="$RESULTS/latest-$SHAPE"; fi
if [ "$CONTAINER" = pcapng ]; then OUT_MD="$OUT_MD-pcapng"; fi
export OUT_MD="$OUT_MD.md"
set +e
python3 "$HERE/benchmark-report.py"
status=$?
set -e
echo >&2
echo "results written to ${OUT_MD#"$ROOT"/}" >&2
exit $status
