#!/usr/bin/env python3
"""gen-dns-exchanges.py -- a capture of N DNS exchanges: a busy resolver's traffic.

Containers resolve names all the time (the embedded resolver at 127.0.0.11, CoreDNS): every lookup is a query from a
port of its own and its answer, a UDP flow of two packets. Such flows have no FIN: held for the 120 s UDP idle timeout,
5,000 lookups a second keep 600,000 flows open. This writes N exchanges at 5,000 a second, from 40,000 clients
(198.18.1.0-198.18.200.255, source ports 1024-61023, 4500, 4789 and 6081 among them) to one resolver (198.18.0.53:53),
each answered 150 microseconds later with one A record: N flows of protocol `dns`, one finding (DNS in clear).

Usage: python3 Benchmarks/gen-dns-exchanges.py OUT.pcap N
   e.g. python3 Benchmarks/gen-dns-exchanges.py Benchmarks/work/dns-1000000.pcap 1000000   (232 MB)
"""
import struct

from pcapgen import ETHERNET, PcapWriter, arguments, ipv4

RATE = 5000


def main() -> None:
    path, count = arguments(__doc__)
    resolver = bytes([198, 18, 0, 53])
    with PcapWriter(path) as capture:
        for i in range(count):
            client = bytes([198, 18, 1 + (i >> 14) % 200, 2 + i % 200])
            port = 1024 + (i * 7919) % 60000
            labels = (b"svc%d" % (i % 500), b"default", b"svc", b"cluster", b"local")
            name = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
            question = name + struct.pack("!HH", 1, 1)
            query = struct.pack("!HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0) + question
            answer = (struct.pack("!HHHHHH", i & 0xFFFF, 0x8180, 1, 1, 0, 0) + question
                      + struct.pack("!HHHIH4s", 0xC00C, 1, 1, 30, 4, bytes([198, 19, 0, i % 250])))
            micros = i * 1_000_000 // RATE
            for source, destination, source_port, destination_port, payload, delay in (
                    (client, resolver, port, 53, query, 0), (resolver, client, 53, port, answer, 150)):
                udp = struct.pack("!HHHH", source_port, destination_port, 8 + len(payload), 0) + payload
                capture.add(micros + delay, ETHERNET + ipv4(source, destination, 17, len(udp), i) + udp)


if __name__ == "__main__":
    main()
