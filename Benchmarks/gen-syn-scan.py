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
import sys

ETHERNET = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"


def checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path, count = sys.argv[1], int(sys.argv[2])
    scanner = bytes([198, 18, 0, 1])
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        chunk = []
        for i in range(count):
            target = bytes([198, 19, (i >> 16) & 0xFF, (i >> 8) & 0xFF])
            tcp = struct.pack("!HHIIBBHHH", 40000 + i % 20000, 1 + i % 65000, i, 0, 5 << 4, 0x02, 1024, 0, 0)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i & 0xFFFF, 0, 64, 6, 0, scanner, target)
            ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
            frame = ETHERNET + ip + tcp
            micros = i * 60_000_000 // count
            chunk.append(struct.pack("<IIII", 1_764_547_200 + micros // 1_000_000, micros % 1_000_000, len(frame),
                                     len(frame)) + frame)
            if len(chunk) == 100_000:
                out.write(b"".join(chunk))
                chunk = []
        out.write(b"".join(chunk))


if __name__ == "__main__":
    main()
