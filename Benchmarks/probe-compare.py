#!/usr/bin/env python3
"""Helper of Benchmarks/probe-benchmark.sh: nmap targets from bulkhead's probe cells, and the cell-by-cell
comparison of bulkhead's states with nmap's.

  probe-compare.py targets BULKHEAD.json
      one line per source container: "SOURCE PORTS ADDRESS…" (PORTS comma-separated), the TCP addresses and
      ports of that source's cells — what nmap scans from the source's namespace
  probe-compare.py compare BULKHEAD.json NMAPDIR [--counts FILE]
      reads NMAPDIR/SOURCE.xml (nmap -oX) for every source, prints a Markdown summary of the agreement and
      every disagreement; FILE gets "CELLS AGREEING-3-STATE AGREEING-STRICT". Exit 1 if a cell disagrees in
      nmap's three states.

Two comparisons:
- nmap's three states (what the issue asks): open ↔ reachable; closed (RST) ↔ reachable-closed; filtered ↔
  filtered or rejected (nmap says "filtered" both for silence and for an ICMP unreachable error).
- strict, with nmap's reason: filtered/no-response ↔ filtered, filtered with an ICMP unreachable reason
  (admin-prohibited, port-unreach, host-unreach, …) ↔ rejected; open and closed as above.
"""
import collections
import json
import os
import sys
import xml.etree.ElementTree as ET

ICMP_REASONS = {
    "admin-prohibited", "port-unreach", "host-unreach", "net-unreach", "host-prohibited", "net-prohibited",
    "proto-unreach", "host-tos-unreach", "net-tos-unreach", "precedence-violation", "precedence-cutoff",
    "host-precedence-violation", "fragmentation-needed", "source-route-failed", "time-exceeded",
}


def nmap_class(state, reason):
    if state == "open":
        return "reachable"
    if state == "closed":
        return "reachable-closed"
    if state == "filtered":
        if reason == "no-response":
            return "filtered"
        if reason in ICMP_REASONS:
            return "rejected"
        return f"filtered ({reason})"
    return f"{state} ({reason})"


def three_state(bulkhead_state):
    return {"reachable": "open", "reachable-closed": "closed", "filtered": "filtered", "rejected": "filtered"}.get(
        bulkhead_state, bulkhead_state)


def tcp_cells(path):
    doc = json.load(open(path))
    return [c for c in doc["cells"] if c["protocol"] == "tcp"]


def targets(path):
    by_source = collections.defaultdict(lambda: (set(), set()))
    for cell in tcp_cells(path):
        ports, addresses = by_source[cell["source"]]
        ports.add(int(cell["port"]))
        addresses.add(cell["address"])
    for source in sorted(by_source):
        ports, addresses = by_source[source]
        ordered = sorted(addresses, key=lambda a: tuple(int(x) for x in a.split(".")))
        print(source, ",".join(str(p) for p in sorted(ports)), " ".join(ordered))


def read_nmap(path):
    """{(address, port): (state, reason)} from one nmap XML report."""
    result = {}
    root = ET.parse(path).getroot()
    for host in root.iter("host"):
        address = next((a.get("addr") for a in host.iter("address") if a.get("addrtype") in ("ipv4", "ipv6")), None)
        ports = host.find("ports")
        if address is None or ports is None:
            continue
        for port in ports.iter("port"):
            state = port.find("state")
            result[(address, int(port.get("portid")))] = (state.get("state"), state.get("reason"))
        # Ports collapsed into <extraports>: nmap lists them in <extrareasons ports="…"> (7.80+).
        for extra in ports.iter("extraports"):
            for reasons in extra.iter("extrareasons"):
                for part in (reasons.get("ports") or "").split(","):
                    if not part:
                        continue
                    low, _, high = part.partition("-")
                    for number in range(int(low), int(high or low) + 1):
                        result[(address, number)] = (extra.get("state"), reasons.get("reason"))
    return result


def compare(path, directory, counts_path):
    cells = tcp_cells(path)
    nmap = {}
    for source in sorted({c["source"] for c in cells}):
        xml = os.path.join(directory, f"{source}.xml")
        nmap[source] = read_nmap(xml) if os.path.exists(xml) else {}
    matrix = collections.Counter()
    disagreements = []
    agree = strict = 0
    for cell in cells:
        seen = nmap[cell["source"]].get((cell["address"], int(cell["port"])))
        theirs = nmap_class(*seen) if seen else "missing"
        ours = cell["state"]
        matrix[(ours, f"{seen[0]}/{seen[1]}" if seen else "missing")] += 1
        same3 = seen is not None and three_state(ours) == seen[0]
        agree += same3
        strict += ours == theirs
        if ours != theirs:
            disagreements.append((cell, seen, theirs, same3))
    print("### Agreement with nmap (TCP cells)")
    print()
    print("| bulkhead state | nmap state/reason | cells |")
    print("|---|---|---:|")
    for (ours, theirs), n in sorted(matrix.items()):
        print(f"| {ours} | {theirs} | {n:,} |")
    print()
    print(f"- nmap's three states (open/closed/filtered): **{agree:,} of {len(cells):,}** cells agree.")
    print(f"- strict (filtered vs rejected told apart by nmap's reason): **{strict:,} of {len(cells):,}** cells agree.")
    if disagreements:
        print()
        print("Disagreements (source → destination: bulkhead vs nmap; *strict only* = same in nmap's three states):")
        print()
        for cell, seen, theirs, same3 in disagreements[:200]:
            evidence = cell.get("evidence") or []
            detail = "; ".join(
                "/".join(str(e.get(k)) for k in ("outcome", "errno", "icmpType", "icmpCode") if e.get(k) is not None) for e in evidence
            )
            nmap_text = f"{seen[0]} ({seen[1]})" if seen else "not in nmap's report"
            print(f"- `{cell['source']}` → {cell['destination']}: bulkhead **{cell['state']}** "
                  f"(attempts {cell.get('attempts')}{': ' + detail if detail else ''}), nmap {nmap_text} ⇒ {theirs}"
                  f"{' — *strict only*' if same3 else ''}")
        if len(disagreements) > 200:
            print(f"- … and {len(disagreements) - 200} more")
    if counts_path:
        with open(counts_path, "w") as f:
            f.write(f"{len(cells)} {agree} {strict}\n")
    return 0 if agree == len(cells) else 1


def main(argv):
    if len(argv) >= 2 and argv[0] == "targets":
        targets(argv[1])
        return 0
    if len(argv) >= 3 and argv[0] == "compare":
        counts = argv[argv.index("--counts") + 1] if "--counts" in argv else None
        return compare(argv[1], argv[2], counts)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
