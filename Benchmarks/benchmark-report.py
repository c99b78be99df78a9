#!/usr/bin/env python3
"""Summarise the timed runs of run-analyze-benchmark.sh, check bulkhead's
summary against the generator's truth file and the issue's targets, and write
Benchmarks/results/latest.md.  Driven by environment variables set by the
shell script; not meant to be run by hand.  Exit 0 = all evaluated targets
met, 1 = a mismatch or a missed target."""
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys

E = os.environ
TARGET_FLOOR_RATIO = 2.0    # bulkhead wall <= 2x the libpcap floor
TARGET_TSHARK_SPEEDUP = 50  # bulkhead >= 50x faster than tshark
TARGET_RSS_MB = 300         # peak RSS < 300 MB (10^6 bytes)
TARGET_KEYLOG_RATIO = 1.3   # `--keylog KEYS` run <= 1.3x the run without keys

truth = json.load(open(E["TRUTH"]))
# The truth describes the generated pcap; converted to pcapng (--container), the same packets take more bytes.
container = E.get("CONTAINER", "pcap")
file_bytes = truth["fileBytes"] if container == "pcap" else os.path.getsize(E["CAP"])
packets = truth["packets"]
no_bulkhead = E["NO_BULKHEAD"] == "1"
tshark_mode = E["TSHARK_MODE"]


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception:
        return ""


def parse_time_v(path):
    out = {"rss_kb": None, "user": None, "sys": None}
    try:
        for line in open(path):
            line = line.strip()
            if line.startswith("Maximum resident set size (kbytes):"):
                out["rss_kb"] = int(line.split(":")[1])
            elif line.startswith("User time (seconds):"):
                out["user"] = float(line.split(":")[1])
            elif line.startswith("System time (seconds):"):
                out["sys"] = float(line.split(":")[1])
    except OSError:
        pass
    return out


runs = {}
for line in open(E["RUNS"]):
    label, rc, wall_ns, tf, measured, stdout = line.rstrip("\n").split("\t")
    tool = label.rsplit(".", 1)[0]
    r = parse_time_v(tf)
    r.update(rc=int(rc), wall=int(wall_ns) / 1e9, measured=measured, stdout=stdout)
    runs.setdefault(tool, []).append(r)


def agg(tool):
    rs = runs.get(tool)
    if not rs:
        return None
    wall = statistics.median(r["wall"] for r in rs)
    cpu = statistics.median(((r["user"] or 0) + (r["sys"] or 0)) / r["wall"] for r in rs if r["wall"] > 0)
    rss = max((r["rss_kb"] or 0) for r in rs) * 1024 / 1e6
    cpu_s = statistics.median((r["user"] or 0) + (r["sys"] or 0) for r in rs)
    return dict(wall=wall, cpu=cpu * 100, cpu_s=cpu_s, rss=rss, n=len(rs), rcs=[r["rc"] for r in rs],
                walls=[r["wall"] for r in rs], measured=rs[0]["measured"], stdout=rs[0]["stdout"])


floor = agg("floor")
bj = agg("bulkhead-json")
bl = agg("bulkhead-jsonl")
bt = agg("bulkhead-table")
bq = agg("bulkhead-json-quarter")
bd = agg("bulkhead-json-distinct")
br = agg("bulkhead-json-rotated")
bs = agg("bulkhead-json-synscan")
bn = agg("bulkhead-json-dns")
dns_exchanges = int(E.get("DNS_EXCHANGES") or 0)
bquic = agg("bulkhead-json-quic")
quic_connections = int(E.get("QUIC_CONNECTIONS") or 0)
bz = agg("bulkhead-json-gzip")
bzp = agg("bulkhead-json-gzip-pipe")
gunzip = agg("gunzip")
syn_scan = int(E.get("SYN_SCAN") or 0)
bdribble = agg("bulkhead-json-dribbled")
dribbled = int(E.get("DRIBBLED_HANDSHAKES") or 0)
distinct = int(E.get("DISTINCT_FINDINGS") or 0)
bk = agg("bulkhead-keylog")
ts = agg("tshark")
ts_label = "tshark (TLS handshake fields)"
ts_note = ""
if ts and tshark_mode == "sample":
    sample_bytes = int(E["TS_SAMPLE_BYTES"])
    factor = file_bytes / sample_bytes
    ts_note = (f"tshark ran on a {sample_bytes / 1e6:.0f} MB prefix ({E['TSHARK_SAMPLE_MB']} MB requested) in "
               f"{ts['wall']:.2f} s; its wall time is extrapolated linearly x{factor:.2f} to the full file, "
               f"its RSS is the sample's.")
    ts["wall"] *= factor
    ts_label = "tshark (TLS handshake fields) — EXTRAPOLATED"

checks = []  # (ok: bool|None, text)


def check(ok, text):
    checks.append((ok, text))


# -- sanity: the floor saw every packet
if floor:
    m = re.search(r"packets=(\d+)", open(floor["stdout"]).read() if os.path.exists(floor["stdout"]) else "")
    got = int(m.group(1)) if m else None
    check(got == packets, f"floor read {got} packets, truth {packets}")


def load_summary_json(path):
    try:
        with open(path) as fh:
            return json.load(fh)["summary"], None
    except Exception as e:  # noqa: BLE001
        return None, f"{type(e).__name__}: {e}"


def load_summary_jsonl(path):
    found = None
    try:
        with open(path) as fh:
            for line in fh:
                line = line.strip()
                if not line or '"byProtocol"' not in line:
                    continue
                try:
                    o = json.loads(line)
                except ValueError:
                    continue
                if isinstance(o, dict):
                    if isinstance(o.get("summary"), dict):
                        found = o["summary"]
                    elif "byProtocol" in o:
                        found = o
    except OSError as e:
        return None, str(e)
    return found, None if found else "no line with a summary/byProtocol object"


def compare_counts(name, summary, t, gate=True, with_keys=False):
    ok_all = True

    def cmp_map(title, want, got):
        nonlocal ok_all
        got = got or {}
        for k in list(want) + [k for k in got if k not in want]:
            w, g = want.get(k, 0), got.get(k, 0)
            ok = w == g
            ok_all &= ok
            check(ok if gate else (None if ok else False), f"{name}: {title}[{k}] = {g}, truth {w}")

    cmp_map("byProtocol", t["byProtocol"], summary.get("byProtocol"))
    cmp_map("byClientCertificate", t["tlsByClientCertificateWithKeys" if with_keys else "tlsByClientCertificate"],
            summary.get("byClientCertificate"))
    if with_keys:
        ok = summary.get("decryptedFlows") == t["decryptedFlows"]
        ok_all &= ok
        check(ok, f"{name}: summary.decryptedFlows = {summary.get('decryptedFlows')}, truth {t['decryptedFlows']}")
    for k in ("flows", "packets"):
        ok = summary.get(k) == t[k]
        ok_all &= ok
        check(ok if gate else (None if ok else False), f"{name}: summary.{k} = {summary.get(k)}, truth {t[k]}")
    return ok_all


if not no_bulkhead:
    if bj:
        # bulkhead exits 0 (clean) or 1 (findings at or above --fail-on, e.g. the Basic-auth
        # HTTP flows); 2 and above are errors
        check(all(rc in (0, 1) for rc in bj["rcs"]),
              f"bulkhead --format json exit status {bj['rcs']} (0 clean, 1 findings; >= 2 error)")
        s, err = load_summary_json(bj["stdout"])
        if s is None:
            check(False, f"bulkhead --format json output unreadable: {err}")
        else:
            compare_counts("json", s, truth)
    if bl:
        s, err = load_summary_jsonl(bl["stdout"])
        if all(rc in (0, 1) for rc in bl["rcs"]) and s is not None:
            n_before = len(checks)
            if compare_counts("jsonl", s, truth, gate=False):
                del checks[n_before:]
                check(None, "jsonl: summary line matches the truth (flows, packets, every class)")
            else:
                checks[n_before:] = [c for c in checks[n_before:] if c[0] is False]
        else:
            check(None, f"jsonl: not checked (exit {bl['rcs']}; {err or 'ok'})")
    if bt:
        text = open(bt["stdout"]).read() if os.path.exists(bt["stdout"]) else ""
        m = re.search(r"^Files: \d+, packets: (\d+), flows: (\d+)", text, re.M)
        rows_seen = sum(1 for line in text.split("\n\n", 1)[0].splitlines()[1:] if line[:1].isdigit())
        check(all(rc in (0, 1) for rc in bt["rcs"]) and m is not None
              and (int(m.group(1)), int(m.group(2))) == (packets, truth["flows"]) and rows_seen == truth["flows"],
              f"table (the default): exit {bt['rcs']}, summary packets/flows "
              f"{m.group(1) if m else '?'}/{m.group(2) if m else '?'}, {rows_seen} flow rows; truth {packets}/{truth['flows']}")
    if bk:
        check(all(rc in (0, 1) for rc in bk["rcs"]),
              f"bulkhead --keylog exit status {bk['rcs']} (0 clean, 1 findings; >= 2 error)")
        s, err = load_summary_json(bk["stdout"])
        if s is None:
            check(False, f"bulkhead --keylog output unreadable: {err}")
        elif "tlsByClientCertificateWithKeys" not in truth:
            check(False, "the truth file has no key-log expectation (capture not made with --keylog)")
        else:
            compare_counts("keylog", s, truth, with_keys=True)
            for r in s.get("keyLogs") or []:
                check(None, "keylog: summary.keyLogs: " + json.dumps(r, sort_keys=True))
    if bq:
        tq = json.load(open(E["TRUTH_Q"]))
        s, err = load_summary_json(bq["stdout"])
        if s is None:
            check(False, f"quarter-size run output unreadable: {err}")
        else:
            compare_counts("json (1/4 size)", s, tq)
    # The same packets in other containers: every class count must be the whole capture's.
    for run, what, label in ((br, "rotated-capture", lambda s: f"{len(s.get('files') or [])} rotated files"),
                             (bz, ".gz", lambda s: "the .gz"),
                             (bzp, "gzip -dc | analyze -", lambda s: "gzip -dc | analyze -")):
        if run:
            s, err = load_summary_json(run["stdout"])
            if s is None:
                check(False, f"{what} run output unreadable: {err}")
            else:
                compare_counts(f"json ({label(s)})", s, truth)
    if bs:
        s, err = load_summary_json(bs["stdout"])
        if s is None:
            check(False, f"SYN-scan run output unreadable: {err}")
        else:
            check(s.get("flows") == syn_scan and s.get("packets") == syn_scan,
                  f"SYN scan: {s.get('flows')} flows of {s.get('packets')} packets, truth {syn_scan} of {syn_scan}")
    if bn:
        s, err = load_summary_json(bn["stdout"])
        if s is None:
            check(False, f"DNS-exchanges run output unreadable: {err}")
        else:
            check(s.get("flows") == dns_exchanges and s.get("byProtocol") == {"dns": dns_exchanges},
                  f"DNS exchanges: {s.get('flows')} flows, by protocol {s.get('byProtocol')}, truth {dns_exchanges} dns")
    if bquic:
        s, err = load_summary_json(bquic["stdout"])
        if s is None:
            check(False, f"QUIC run output unreadable: {err}")
        else:
            # Without keys no client certificate can be seen: every connection's is unknown, never guessed.
            check(s.get("flows") == quic_connections and s.get("byProtocol") == {"quic": quic_connections}
                  and s.get("byClientCertificate") == {"unknown": quic_connections},
                  f"QUIC connections: {s.get('flows')} flows, by protocol {s.get('byProtocol')}, client certificates "
                  f"{s.get('byClientCertificate')}, truth {quic_connections} quic, all unknown")
    if bd:
        s, err = load_summary_json(bd["stdout"])
        if s is None:
            check(False, f"distinct-findings run output unreadable: {err}")
        else:
            found = sum((s.get("findingsBySeverity") or {}).values())
            check(found == distinct and s.get("flows") == distinct,
                  f"distinct findings: {found} findings of {s.get('flows')} flows, truth {distinct} of {distinct}")

targets = []  # (ok|None, text)
if bj and floor:
    ratio = bj["wall"] / floor["wall"]
    targets.append((ratio <= TARGET_FLOOR_RATIO, f"within {TARGET_FLOOR_RATIO:g}x of the libpcap floor: {ratio:.2f}x"))
if bj and ts:
    sp = ts["wall"] / bj["wall"]
    targets.append((sp >= TARGET_TSHARK_SPEEDUP,
                    f">= {TARGET_TSHARK_SPEEDUP}x faster than tshark: {sp:.1f}x" + (" (tshark extrapolated)" if ts_note else "")))
if bj:
    targets.append((bj["rss"] < TARGET_RSS_MB, f"peak RSS < {TARGET_RSS_MB} MB: {bj['rss']:.1f} MB"))
if bt:
    targets.append((bt["rss"] < TARGET_RSS_MB,
                    f"peak RSS < {TARGET_RSS_MB} MB with the default table: {bt['rss']:.1f} MB"
                    + (f" ({bt['wall'] / floor['wall']:.2f}x the floor)" if floor else "")))
paired = []
if bk and bj:
    kr = bk["wall"] / bj["wall"]
    # runs i of both were taken back to back, so their ratios are less exposed to load swings
    paired = [k / j for k, j in zip(bk["walls"], bj["walls"]) if j > 0]
    targets.append((kr <= TARGET_KEYLOG_RATIO,
                    f"`--keylog` (every TLS 1.3 flow decrypted) within {TARGET_KEYLOG_RATIO:g}x of the run without keys: "
                    f"{kr:.2f}x (median {bk['wall']:.3f} s vs {bj['wall']:.3f} s; per-repeat ratios "
                    + ", ".join(f"{x:.2f}" for x in paired)
                    + (f"; CPU time user+sys {bk['cpu_s']:.2f} s vs {bj['cpu_s']:.2f} s = {bk['cpu_s'] / bj['cpu_s']:.2f}x"
                       if bj["cpu_s"] > 0 else "") + ")"))
    targets.append((bk["rss"] < TARGET_RSS_MB, f"peak RSS < {TARGET_RSS_MB} MB with `--keylog`: {bk['rss']:.1f} MB"))
def own_floor(label, run):
    """' (N.NNx its libpcap read)' for a generated capture's run, from the floor timed just before it."""
    read = agg(f"floor-{label}")
    return f" ({run['wall'] / read['wall']:.2f}x its libpcap read, {read['wall']:.3f} s)" if read else ""


if bd:
    targets.append((bd["rss"] < TARGET_RSS_MB,
                    f"peak RSS < {TARGET_RSS_MB} MB with {distinct:,} distinct findings: {bd['rss']:.1f} MB"
                    + own_floor("distinct", bd)))
if br:
    n_files = len([f for f in os.listdir(E["ROTATED_DIR"]) if f.endswith(".pcap")])
    targets.append((br["rss"] < TARGET_RSS_MB,
                    f"peak RSS < {TARGET_RSS_MB} MB with the capture rotated into {n_files:,} files: {br['rss']:.1f} MB "
                    f"in {br['wall']:.3f} s" + (f" ({br['wall'] / bj['wall']:.2f}x the single file)" if bj else "")))

if bs:
    targets.append((bs["rss"] < TARGET_RSS_MB,
                    f"peak RSS < {TARGET_RSS_MB} MB with a SYN scan of {syn_scan:,} half-open connections "
                    f"(`gen-syn-scan.py`, all open at once): {bs['rss']:.1f} MB in {bs['wall']:.3f} s"
                    + own_floor("synscan", bs)))
if bdribble:
    read = agg("floor-dribbled")
    flows = None
    try:
        with open(os.path.join(E["WORK"], "out-dribbled.json")) as f:
            flows = json.load(f)["summary"]["flows"]
    except (OSError, ValueError, KeyError) as err:
        check(False, f"dribbled-handshakes run output unreadable: {err}")
    if flows is not None:
        check(flows == 6 * dribbled, f"dribbled handshakes: {flows} flows, truth {6 * dribbled}")
    if read:
        targets.append((bdribble["wall"] <= 5 * read["wall"],
                        f"6 x {dribbled} HTTP, h2c and compressed WebSocket handshakes of 16,000 bytes sent a byte "
                        f"per segment (`gen-dribbled-handshakes.py`: each header block read once, each compressed "
                        f"byte inflated once) within 5x its libpcap read: "
                        f"{bdribble['wall']:.3f} s" + own_floor("dribbled", bdribble)))
if bn:
    targets.append((bn["rss"] < TARGET_RSS_MB,
                    f"peak RSS < {TARGET_RSS_MB} MB with {dns_exchanges:,} DNS exchanges (`gen-dns-exchanges.py`, 5,000 "
                    f"a second, a flow each): {bn['rss']:.1f} MB in {bn['wall']:.3f} s" + own_floor("dns", bn)))
if bquic:
    targets.append((bquic["rss"] < TARGET_RSS_MB,
                    f"peak RSS < {TARGET_RSS_MB} MB with {quic_connections:,} QUIC connections "
                    f"(`gen-quic-connections.py`, 2,000 a second, Initial packets decrypted): {bquic['rss']:.1f} MB in "
                    f"{bquic['wall']:.3f} s" + own_floor("quic", bquic)))
if bz:
    gz_bytes = os.path.getsize(E["CAP_GZ"])
    targets.append((bz["rss"] < TARGET_RSS_MB,
                    f"peak RSS < {TARGET_RSS_MB} MB on the capture gzip-compressed ({gz_bytes / 1e6:.1f} MB): "
                    f"{bz['rss']:.1f} MB in {bz['wall']:.3f} s"
                    + (f"; `gzip -dc` alone {gunzip['wall']:.3f} s ({bz['wall'] / gunzip['wall']:.2f}x it)" if gunzip else "")
                    + (f"; `gzip -dc | bulkhead analyze -` {bzp['wall']:.3f} s" if bzp else "")))
if bq and bj:
    targets.append((bq["rss"] < TARGET_RSS_MB,
                    f"peak RSS < {TARGET_RSS_MB} MB at 1/4 size: {bq['rss']:.1f} MB (full size {bj['rss']:.1f} MB)"))

# -- table
rows = []


def row(name, a, size_bytes=file_bytes, pk=packets):
    if not a:
        return
    mbps = size_bytes / 1e6 / a["wall"]
    pps = pk / a["wall"]
    vs_floor = f"{a['wall'] / floor['wall']:.2f}x" if floor else "—"
    vs_json = f"{a['wall'] / bj['wall']:.2f}x" if bj and a is not floor and a is not ts else "—"
    vs_ts = f"{ts['wall'] / a['wall']:.1f}x" if ts else "—"
    rows.append(f"| {name} | {a['wall']:.3f} | {mbps:,.0f} | {pps:,.0f} | {a['rss']:.1f} | {a['cpu']:.0f}% | {vs_floor} "
                f"| {vs_json} | {vs_ts} |")


row("libpcap read loop (floor)", floor)
row("bulkhead analyze --format json", bj)
row("bulkhead analyze --format jsonl", bl)
row("bulkhead analyze (table, the default)", bt)
row("bulkhead analyze --keylog KEYS --format json", bk)
row(ts_label, ts)

cpu_model = ""
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu_model = line.split(":", 1)[1].strip()
        break
lscpu_model = sh("lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1")
mem_total = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
osname = sh(". /etc/os-release && echo \"$PRETTY_NAME\"")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")

md = []
md.append(f"# bulkhead analyze — benchmark results ({E.get('SHAPE', 'mixed')} flows)\n")
md.append(f"- Date: {now} (`date`: {sh('date')})")
md.append(f"- Machine: {sh('nproc')} CPUs (`nproc`), CPU model `{cpu_model}`"
          + (f" (lscpu: `{lscpu_model}`)" if lscpu_model and lscpu_model != cpu_model else "")
          + f", RAM {mem_total}, {osname}, kernel {platform.release()}")
libpcap_version = (sh("dpkg-query -W -f='${Version} ' 'libpcap0.8*' 2>/dev/null").split() or ["?"])[0]
md.append(f"- Tools: {sh('tshark --version | head -1')}; libpcap {libpcap_version}; "
          f"{sh('gcc --version | head -1')}; {sh('swift --version 2>&1 | head -1') or 'swift ?'}")
if not no_bulkhead:
    rev = sh(f"git -C '{E['ROOT']}' rev-parse --short HEAD 2>/dev/null") or "no commit"
    dirty = " (+ uncommitted changes)" if sh(f"git -C '{E['ROOT']}' status --porcelain -- Sources Package.swift 2>/dev/null") else ""
    where = (f"binary `{E['BULKHEAD']}` (given with --bulkhead-bin)" if E.get("BULKHEAD_FROM") == "bin"
             else f"release build `{os.path.relpath(E['BULKHEAD'], E['ROOT'])}` of the working tree at {rev}{dirty}")
    md.append(f"- bulkhead: {where}"
              + (f", `{E['BH_VERSION']}`" if E.get("BH_VERSION") else "")
              + (f", extra args `{E['BULKHEAD_ARGS']}`" if E.get("BULKHEAD_ARGS") else ""))
md.append(f"- Capture: `{os.path.relpath(E['CAP'], E['ROOT'])}` ({container}"
          + (", converted from the generated pcap by `editcap -F pcapng`" if container != "pcap" else "")
          + f"), {file_bytes:,} bytes ({file_bytes / 1e6:,.1f} MB), "
          f"{packets:,} packets, {truth['flows']:,} flows ({truth['tcpFlows']:,} TCP, {truth['udpFlows']:,} UDP; "
          f"{truth['ipv6Flows']} IPv6, {truth['vlanTaggedFlows']} 802.1Q), up to {truth['maxConcurrentFlows']} flows open at once, "
          f"generator v{truth['generatorVersion']} seed {truth['seed']}")
load_note = ""
try:
    if max(float(E.get("LOAD_BEFORE", "0").split()[0]), float(E.get("LOAD_AFTER", "0").split()[0])) > 0.7:
        load_note = " — **the machine was busy; figures are pessimistic, re-run on an idle machine**"
except ValueError:
    pass
md.append(f"- Load average (1/5/15 min) before the timed runs: {E.get('LOAD_BEFORE', '?')}; "
          f"after: {E.get('LOAD_AFTER', '?')} ({sh('nproc')} CPUs){load_note}")
md.append("- Page cache warm (file read once before timing); floor and bulkhead: median of "
          f"{E['REPEAT']} runs (each repeat runs floor, json, jsonl, table, --keylog back to back), RSS = max over runs; "
          f"tshark: 1 run ({tshark_mode} file)")
md.append("")
md.append("Truth (flows per class): " + ", ".join(f"{k} {v:,}" for k, v in truth["byProtocol"].items()))
md.append("TLS client certificate: " + ", ".join(f"{k} {v:,}" for k, v in truth["tlsByClientCertificate"].items()))
if truth.get("keylog"):
    md.append(f"With the key log (`{os.path.relpath(E['KEYS'], E['ROOT'])}`, {truth['keylog']['lines']:,} lines, "
              f"{truth['keylog']['flows']:,} TLS 1.3 flows really encrypted with {truth['keylog'].get('cipher', '?')}): "
              + ", ".join(f"{k} {v:,}" for k, v in truth["tlsByClientCertificateWithKeys"].items())
              + f"; decryptedFlows {truth['decryptedFlows']:,}")
md.append("")
md.append("| tool | wall s | MB/s | packets/s | max RSS MB | CPU | × floor | × json (no keys) | tshark ÷ tool |")
md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
md.extend(rows)
md.append("")
md.append("MB = 10^6 bytes. CPU = (user+sys)/wall, 100% = one core. "
          "'× floor' = wall / floor wall; '× json (no keys)' = wall / the `--format json` run's wall (the "
          "`--keylog` target); 'tshark ÷ tool' = tshark wall / tool wall (speed-up over tshark).")
if ts_note:
    md.append("")
    md.append(f"**Note:** {ts_note}")
for name, a in (("floor", floor), ("bulkhead json", bj), ("bulkhead jsonl", bl), ("bulkhead table", bt), ("bulkhead --keylog", bk), ("tshark", ts)):
    if a and a["n"] > 1:
        md.append(f"- {name} wall times: " + ", ".join(f"{w:.3f}" for w in a["walls"]) + " s")
if bd:
    md.append(f"- Distinct findings: {distinct:,} cleartext connections each to a server of its own "
              f"({os.path.getsize(E['CAP_D']) / 1e6:,.0f} MB, `gen-distinct-findings.py`): json in {bd['wall']:.3f} s, "
              f"peak RSS {bd['rss']:.1f} MB")
if bq:
    tq = json.load(open(E["TRUTH_Q"]))
    quarter_bytes = tq["fileBytes"] if container == "pcap" else os.path.getsize(E["CAP_Q"])
    md.append(f"- RSS scaling: 1/4-size capture ({quarter_bytes / 1e6:,.0f} MB) peak RSS {bq['rss']:.1f} MB in "
              f"{bq['wall']:.3f} s vs full size {bj['rss']:.1f} MB" if bj else "")
md.append("")
md.append("## Targets")
md.append("")
if no_bulkhead:
    md.append("- not evaluated: bulkhead was not run (`--no-bulkhead`)")
for ok, text in targets:
    md.append(f"- {'PASS' if ok else 'FAIL'} — {text}")
if not ts and not no_bulkhead:
    md.append("- not evaluated: tshark comparison (`--no-tshark`)")
if not bk and not no_bulkhead:
    md.append("- not evaluated: `--keylog` run (`--no-keylog`)")
md.append("")
md.append("## Checks")
md.append("")
for ok, text in checks:
    label = "PASS" if ok else ("info" if ok is None else ("WARN" if text.startswith("jsonl:") else "FAIL"))
    md.append(f"- {label} — {text}")

failed = [t for ok, t in checks + targets if ok is False]
gated_fail = [t for ok, t in checks + targets if ok is False and not t.startswith("jsonl:")]
md.append("")
if no_bulkhead:
    verdict = "INCOMPLETE — baselines only (bulkhead not run)" + ("; FAIL: " + "; ".join(gated_fail) if gated_fail else "")
elif gated_fail:
    verdict = f"FAIL — {len(gated_fail)} check(s)/target(s) missed"
else:
    verdict = "PASS — all evaluated targets met, counts exact"
md.append(f"**Verdict: {verdict}**")
if failed and len(failed) != len(gated_fail):
    md.append("")
    md.append("(WARN: jsonl mismatches are reported but do not fail the run; the gating output is --format json.)")
text = "\n".join(md) + "\n"
with open(E["OUT_MD"], "w") as fh:
    fh.write(text)
print(text)
sys.exit(1 if gated_fail else 0)
