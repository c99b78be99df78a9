#!/usr/bin/env python3
"""gen-distinct-findings.py -- a capture where every flow is a finding of its own.

Findings fold by kind, location and subject, so their memory grows with the number of distinct ones, not with flows
(BENCHMARKS.md, session 13). This writes N cleartext HTTP connections (handshake, GET, 200, FIN both ways), each to a
server endpoint of its own (198.19.0.0/16, port 8000 + i // 65536; clients in 198.18.0.0/16): N `plaintext-flow`
findings, the shape a scan of many servers in clear would give.

Usage: python3 Benchmarks/gen-distinct-findings.py OUT.pcap N
   e.g. python3 Benchmarks/gen-distinct-findings.py Benchmarks/work/distinct.pcap 300000   (188 MB, 2.4 M packets)
        /usr/bin/time -f '%e s %M KB' .build/release/bulkhead analyze Benchmarks/work/distinct.pcap -o out.json
"""
import struct
import sys

ETHERNET = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
SYN, SYN_ACK, ACK, PUSH_ACK, FIN_ACK = 0x02, 0x12, 0x10, 0x18, 0x11


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path, count = sys.argv[1], int(sys.argv[2])
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        clock = [1_700_000_000_000_000]

        def packet(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int, payload=b""):
            # Checksums left zero: the analysis does not verify them (nor do captures with offloading).
            tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, src, dst)
            frame = ETHERNET + ip + tcp
            seconds, fraction = divmod(clock[0], 1_000_000)
            out.write(struct.pack("<IIII", seconds, fraction, len(frame), len(frame)) + frame)
            clock[0] += 1

        for index in range(count):
            client = bytes([198, 18, (index >> 8) & 255, index & 255])
            server = bytes([198, 19, (index >> 8) & 255, index & 255])
            sport, dport = 20000 + index % 40000, 8000 + (index >> 16)
            c, s = 1000, 5000
            packet(client, server, sport, dport, c, 0, SYN)
            packet(server, client, dport, sport, s, c + 1, SYN_ACK)
            packet(client, server, sport, dport, c + 1, s + 1, ACK)
            packet(client, server, sport, dport, c + 1, s + 1, PUSH_ACK, REQUEST)
            packet(server, client, dport, sport, s + 1, c + 1 + len(REQUEST), PUSH_ACK, RESPONSE)
            packet(client, server, sport, dport, c + 1 + len(REQUEST), s + 1 + len(RESPONSE), FIN_ACK)
            packet(server, client, dport, sport, s + 1 + len(RESPONSE), c + 2 + len(REQUEST), FIN_ACK)
            packet(client, server, sport, dport, c + 2 + len(REQUEST), s + 2 + len(RESPONSE), ACK)
            # A connection every 100 µs.
            clock[0] += 100 - 8


if __name__ == "__main__":
    main()
