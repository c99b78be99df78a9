#!/usr/bin/env python3
"""gen-dribbled-handshakes.py -- a capture of 3 x N HTTP handshakes of 16,000 bytes, each sent a byte per segment.

The hostile shape for every reader that waits for an HTTP header block to end before it decides (a WebSocket
upgrade, an HTTP CONNECT, a container engine's answer): a request whose headers never end within the inspection
window, arriving one byte at a time. A reader that searched the bytes kept so far from their start at each segment
did 16,000 x 8,000 byte comparisons per flow (20 flows of each kind took 1.4-8.8 s where their read takes 0.04 s);
each byte must be read once. Per flow of N: a plain GET (could it still ask for an upgrade?), a GET asking for a
WebSocket, and a CONNECT, each from a port of its own (198.18.0.1 -> 198.19.0.2:8080), answered by nothing.

Usage: python3 Benchmarks/gen-dribbled-handshakes.py OUT.pcap N
   e.g. python3 Benchmarks/gen-dribbled-handshakes.py Benchmarks/work/dribbled-20.pcap 20   (68 MB)
"""
import struct

from pcapgen import ETHERNET, PcapWriter, arguments, ipv4

CLIENT = bytes([198, 18, 0, 1])
SERVER = bytes([198, 19, 0, 2])
HEADERS = b"X-Padding: b\r\n" * 1200
REQUESTS = [
    b"GET /items HTTP/1.1\r\n",
    b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n",
    b"CONNECT backend.test:443 HTTP/1.1\r\n",
]


def segment(port: int, sequence: int, flags: int, payload: bytes = b"", reply: bool = False) -> bytes:
    source, destination = (SERVER, CLIENT) if reply else (CLIENT, SERVER)
    ports = (8080, port) if reply else (port, 8080)
    tcp = struct.pack("!HHIIBBHHH", *ports, sequence, 0, 5 << 4, flags, 65535, 0, 0) + payload
    return ETHERNET + ipv4(source, destination, 6, len(tcp), sequence) + tcp


def main() -> None:
    path, count = arguments(__doc__)
    micros = 0
    with PcapWriter(path) as capture:
        for flow in range(count * len(REQUESTS)):
            port = 20000 + flow
            request = (REQUESTS[flow % len(REQUESTS)] + HEADERS)[:16000]
            capture.add(micros, segment(port, 1000, 0x02))
            capture.add(micros + 1, segment(port, 5000, 0x12, reply=True))
            for offset in range(len(request)):
                micros += 10
                capture.add(micros, segment(port, 1001 + offset, 0x18, request[offset:offset + 1]))
            micros += 10
            capture.add(micros, segment(port, 1001 + len(request), 0x11))


if __name__ == "__main__":
    main()
