#!/usr/bin/env python3
"""gen-syn-scan.py -- a capture of N half-open connections: a SYN scan nobody answers.

A flow ends at FIN/RST or after its idle timeout (600 s for TCP); a scan's SYNs get neither within a capture of a
minute or two, so every one of them is open at once until the end: the shape that fills the flow table. This writes
N SYNs over 60 seconds, from one scanner (198.18.0.1, source ports 40000-59999) to N endpoints (198.19.0.0/16, ports
1-65000), none answered: N flows of protocol `empty`, no findings.

Usage: python3 Benchmarks/gen-syn-scan.py OUT.pcap N
   e.g. python3 Benchmarks/gen-syn-scan.py Benchmarks/work/syn-scan.pcap 1000000   (70 MB)
"""
import struct

from pcapgen import ETHERNET, PcapWriter, arguments, ipv4


def main() -> None:
    path, count = arguments(__doc__)
    scanner = bytes([198, 18, 0, 1])
    with PcapWriter(path) as capture:
        for i in range(count):
            target = bytes([198, 19, (i >> 16) & 0xFF, (i >> 8) & 0xFF])
            tcp = struct.pack("!HHIIBBHHH", 40000 + i % 20000, 1 + i % 65000, i, 0, 5 << 4, 0x02, 1024, 0, 0)
            capture.add(i * 60_000_000 // count, ETHERNET + ipv4(scanner, target, 6, len(tcp), i) + tcp)


if __name__ == "__main__":
    main()
