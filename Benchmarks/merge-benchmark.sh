#!/usr/bin/env bash
# Merge benchmark (issue 17, "Tests and performance"): `bulkhead merge` of 100 node reports of one generated Swarm,
# target under 1 s. The node reports are made at run time, through the audit's own offline path: a generator writes
# each node's evidence (its inventory with the cluster identity, 30 local task containers on 3 overlays, probe
# cells from each local task to its peers on its overlay and from ten of them to five tasks of the next node, the
# cells of the previous node's tasks reaching this node's as this end recorded them, TLS checks of the local
# endpoints and of the next node's: about 440 edges a node), then `bulkhead audit --evidence` judges it and writes
# the node's report, as a node of the fleet would. Some edges and endpoints are seen by two nodes, a few of them
# differently (the merge's disagreement path runs too). Nothing is probed: the addresses are data only.
# Times `merge` to JSON, and to all eight formats at once, median of 5 runs each. Writes Benchmarks/results/merge.md.
# Usage: bash Benchmarks/merge-benchmark.sh [nodes] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${1:-100}
runs=${2:-5}
swift build -c release --product bulkhead 2>&1 | tail -1
work=Benchmarks/work/merge
rm -rf "$work"
mkdir -p "$work/seeds" "$work/nodes"

python3 - "$work/seeds" "$nodes" <<'PY'
import json, sys
out, count = sys.argv[1], int(sys.argv[2])
tasks, networks = 30, ["front", "back", "data"]
bases = {"front": (198, 18, 0), "back": (198, 18, 128), "data": (198, 19, 0)}

def node_id(i): return f"node{i:03d}"
def name(i, j): return f"svc{j:02d}.{i + 1}.{node_id(i)}"
def address(i, j):
    a, b, c = bases[networks[j % 3]]
    return f"{a}.{b}.{c + i}.{10 + j}"
def ports(j): return [8443, 8080] if j % 5 == 0 else [8443]

def cell(src, i, j, port, state):
    return {"address": address(i, j), "attempts": 1, "destination": f"{address(i, j)}:{port}",
            "destinationKind": "container", "destinationName": name(i, j),
            "evidence": [{"errno": None, "icmpCode": None, "icmpFrom": None, "icmpType": None, "latencyMs": 0.3,
                          "outcome": "connected" if state == "reachable" else "timeout"}],
            "expected": None, "latencyMs": 0.3 if state == "reachable" else None, "network": networks[j % 3],
            "note": None, "port": port, "protocol": "tcp", "reason": "listening", "rule": None, "source": src,
            "sourcePid": 7, "state": state, "violation": None}

def tls(i, j, seen_from):
    # The same endpoint checked from two nodes agrees, except every 97th, which one node found accepting forged
    # certificates.
    verdicts = ["mtls-enforced", "mtls-enforced", "tls-no-client-auth", "mtls-optional", "inconclusive"]
    verdict = verdicts[(i + j) % len(verdicts)]
    if seen_from != i and (i * tasks + j) % 97 == 0:
        verdict = "tls-accepts-rogue-client"
    return {"checks": None, "probedFrom": None, "reason": None,
            "refusesBadClients": True if verdict == "mtls-enforced" else (False if verdict == "tls-accepts-rogue-client" else None),
            "serverIdentities": [f"spiffe://bench.swarm/svc{j:02d}"], "verdict": verdict}

members = [{"nodeID": node_id(i), "nodeName": f"host-{i:03d}", "role": "manager" if i == 0 else "worker"}
           for i in range(count)]
for i in range(count):
    nxt, prev = (i + 1) % count, (i - 1) % count
    containers = []
    for j in range(tasks):
        containers.append({
            "capabilities": [], "dockerSocketMounted": False, "id": f"{i:04d}{j:04d}", "image": f"bench/svc{j:02d}:1",
            "labels": {"com.docker.swarm.service.name": f"svc{j:02d}"},
            "listening": [{"address": "0.0.0.0", "port": p, "proto": "tcp"} for p in ports(j)],
            "name": name(i, j), "netns": None, "networkMode": networks[j % 3],
            "networks": [{"aliases": [], "gateway": None, "ipv4": address(i, j), "ipv6": None, "name": networks[j % 3]}],
            "pid": 7, "privileged": False, "publishedPorts": [], "state": "running"})
    nets = [{"attachable": True, "bridge": None, "containers": [], "driver": "overlay", "encrypted": None,
             "gateways": [], "icc": True, "id": n, "internal": False, "isDefaultBridge": False, "labels": {},
             "name": n, "scope": "swarm", "subnets": [".".join(map(str, bases[n])) + ".0/17"]} for n in networks]
    cells = []
    # Every local task to its peers on the same overlay; the first ten also to five tasks of the next node.
    for j in range(tasks):
        for k in range(tasks):
            if k != j and k % 3 == j % 3:
                for p in ports(k): cells.append(cell(name(i, j), i, k, p, "reachable"))
            if j < 10 and k < 15 and k % 3 == j % 3:
                for p in ports(k): cells.append(cell(name(i, j), nxt, k, p, "reachable"))
    # What this node also recorded of the previous node's tasks reaching its own: the same edges, seen from this
    # end; every 20th seen filtered where the other end saw it open.
    for j in range(10):
        for k in range(15):
            if k % 3 == j % 3:
                state = "filtered" if (i + j + k) % 20 == 0 else "reachable"
                for p in ports(k): cells.append(cell(name(prev, j), i, k, p, state))
    checks = {f"{address(i, j)}:8443": tls(i, j, i) for j in range(tasks)}
    checks.update({f"{address(nxt, j)}:8443": tls(nxt, j, i) for j in range(tasks)})
    cluster = {"clusterID": "bench-swarm", "fullView": i == 0, "members": members if i == 0 else None,
               "nodeID": node_id(i), "nodeName": f"host-{i:03d}", "orchestrator": "swarm",
               "role": "manager" if i == 0 else "worker"}
    inventory = {"cluster": cluster, "complete": True, "containers": containers, "findings": [], "namespaces": [],
                 "networks": nets, "problems": [], "sources": [f"docker on host-{i:03d} (generated)"],
                 "summary": {"apiCalls": 0, "containers": tasks, "durationSeconds": 0.05, "findingsBySeverity": {},
                             "namespaces": 0, "networks": 3}}
    probe = {"complete": True, "findings": [], "generatedAt": "2026-12-04T22:00:00Z", "policy": "", "problems": [],
             "schema": "bulkhead.probe/1",
             "settings": {"attempts": 1, "explicitTargets": [], "extraPorts": [], "maxInFlight": 256,
                          "maxInFlightPerDestination": 8, "timeoutsSeconds": {}},
             "sources": [], "cells": cells,
             "summary": {"attemptsSent": len(cells), "byState": {}, "cells": len(cells), "durationSeconds": 1.5,
                         "sources": tasks, "violations": {}}}
    stage = lambda n, s: {"durationSeconds": s, "name": n, "note": None, "status": "ran"}
    report = {"schema": "bulkhead.audit/1", "generatedAt": "2026-12-04T22:00:00Z", "host": f"host-{i:03d}",
              "policy": "", "stages": [stage("inventory", 0.05), stage("probe", 1.5), stage("tls", 2.0)],
              "edges": [], "findings": [], "baseline": None, "complete": True, "problems": [],
              "summary": {"durations": {}, "durationSeconds": 3.55, "edges": 0, "edgesByVerdict": {},
                          "findingsBySeverity": {}, "ignored": 0, "unchangedSinceBaseline": 0},
              "evidence": {"inventory": inventory, "probe": probe, "tls": checks, "capture": None,
                           "tlsFindings": None}}
    json.dump(report, open(f"{out}/{node_id(i)}.json", "w"))
PY

# Each node's report, judged by the audit's own offline path.
ls "$work/seeds" | xargs -P 2 -I{} .build/release/bulkhead audit --evidence "$work/seeds/{}" --format json \
    --output "$work/nodes/{}" --exit-zero --quiet
rm -rf "$work/seeds"

python3 - "$work" "$nodes" "$runs" <<'PY'
import json, os, resource, statistics, subprocess, sys, time, datetime, glob
work, nodes, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
reports = sorted(glob.glob(f"{work}/nodes/*.json"))
assert len(reports) == nodes, f"{len(reports)} node reports for {nodes} nodes"
edges = [len(json.load(open(r))["edges"]) for r in reports]
containers = [len(json.load(open(r))["evidence"]["inventory"]["containers"]) for r in reports]
size = sum(os.path.getsize(r) for r in reports)
binary = ".build/release/bulkhead"

def timed(arguments):
    """Wall times and CPU times (user + system, of the merge process) of `runs` merges."""
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([binary, "merge", *reports, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        # 0 clean or 1 findings: the fleet is complete; anything else is a failed benchmark.
        assert done.returncode in (0, 1), done.stderr.decode()
    return times, cpu

json_times, json_cpu = timed(["--format", "json", "--output", f"{work}/fleet.json"])
all_formats = []
for f in ["table", "json", "sarif", "junit", "prometheus", "markdown", "html", "dot"]:
    all_formats += ["--output", f"{f}={work}/fleet.{f}"]
all_times, all_cpu = timed(all_formats)
fleet = json.load(open(f"{work}/fleet.json"))
seen_twice = sum(1 for e in fleet["edges"] if len(e["seenBy"]) > 1)
load = open("/proc/loadavg").read().split()[:3]
median_json, median_all = statistics.median(json_times), statistics.median(all_times)
lines = [
    f"# Merge benchmark: {nodes} node reports of one generated Swarm",
    "",
    f"- Date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; load average {' '.join(load)}; {os.cpu_count()} CPUs; release build",
    f"- Input: {nodes} reports written by `bulkhead audit --evidence`, {size / 1e6:.1f} MB of JSON; per node "
    f"{min(containers)}–{max(containers)} containers, {min(edges)}–{max(edges)} edges ({sum(edges)} in all)",
    f"- Fleet report: {len(fleet['nodes'])} nodes, {len(fleet['edges'])} edges ({seen_twice} seen by two nodes), "
    f"{len(fleet['findings'])} findings, {len(fleet['disagreements'])} disagreements, complete: {fleet['complete']}",
    "",
    "| merge to | " + " | ".join(f"run {i + 1}" for i in range(runs)) + " | median wall s | median CPU s (user + sys) |",
    "|---|" + "---:|" * (runs + 2),
    "| json | " + " | ".join(f"{t:.3f}" for t in json_times) + f" | **{median_json:.3f}** | {statistics.median(json_cpu):.3f} |",
    "| all 8 formats | " + " | ".join(f"{t:.3f}" for t in all_times) + f" | **{median_all:.3f}** | {statistics.median(all_cpu):.3f} |",
    "",
    f"Target under 1 s (json, median wall): **{'PASS' if median_json < 1 else 'FAIL'}**. The node reports are read on "
    "both cores; the CPU time is what the merge costs whatever else the machine runs.",
]
open("Benchmarks/results/merge.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(0 if median_json < 1 else 1)
PY
