#!/usr/bin/env python3
"""gen-dribbled-handshakes.py -- a capture of 6 x N handshakes of 16,000 bytes, each sent a byte per segment.

The hostile shape for every reader that waits for an HTTP header block to end before it decides (a WebSocket
upgrade, an HTTP CONNECT, a container engine's answer): a request whose headers never end within the inspection
window, arriving one byte at a time. A reader that searched the bytes kept so far from their start at each segment
did 16,000 x 8,000 byte comparisons per flow (20 flows of each kind took 1.4-8.8 s where their read takes 0.04 s);
each byte must be read once. Per flow of N: a plain GET (could it still ask for an upgrade?), a GET asking for a
WebSocket, a CONNECT, and an h2c call of etcd's KV/Range whose header block goes on in CONTINUATION frames and never
ends (the HTTP/2 frame reader following an etcd call), each from a port of its own (198.18.0.1 -> 198.19.0.2:8080),
answered by nothing; and a WebSocket the server accepted with permessage-deflate, whose client sends one compressed
message of 16,000 bytes (base64 text, which inflates to about 4/3 of it: each byte one inflate call until the
inspection window is full); and a request asking to upgrade to h2c, whole, that the server declines with answers a
byte per segment (a 200 whose body its Content-Length passes over, then an answer whose headers never end: the
search for a later 101 reads each byte once).

Usage: python3 Benchmarks/gen-dribbled-handshakes.py OUT.pcap N
   e.g. python3 Benchmarks/gen-dribbled-handshakes.py Benchmarks/work/dribbled-20.pcap 20   (136 MB)
"""
import base64
import random
import struct
import zlib

from pcapgen import ETHERNET, PcapWriter, arguments, ipv4

CLIENT = bytes([198, 18, 0, 1])
SERVER = bytes([198, 19, 0, 2])
HEADERS = b"X-Padding: b\r\n" * 1200


def h2_frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack("!I", len(payload))[1:] + bytes([kind, flags]) + struct.pack("!I", stream) + payload


def hpack_literal(name: bytes, value: bytes) -> bytes:
    """A literal header field without indexing, new name, no Huffman coding (lengths below 127)."""
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


# HEADERS (no END_HEADERS) naming etcd's KV/Range, then CONTINUATION frames of padding headers, none flagged the last.
H2C_CALL = (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(0x4, 0, 0, b"")
            + h2_frame(0x1, 0, 1, b"\x83\x86" + b"\x04\x16/etcdserverpb.KV/Range")
            + h2_frame(0x9, 0, 1, hpack_literal(b"x-padding", b"b" * 100) * 9) * 16)


def deflated_message() -> bytes:
    """A masked text frame of 16,000 bytes of permessage-deflate data (raw DEFLATE, the sync flush's tail left out):
    base64 text of random bytes, which compresses to about 3/4 of itself, so the inflated bytes fill the inspection
    window only after most of the compressed ones came."""
    text = base64.b64encode(random.Random(7).randbytes(24_000))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = (compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH))[:16000 - 14]
    mask = bytes([0x37, 0xfa, 0x21, 0x3d])
    header = bytes([0xc1, 0x80 | 127]) + struct.pack("!Q", len(payload)) + mask
    return header + bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))


WEBSOCKET_UPGRADE = (b"GET /events HTTP/1.1\r\nHost: backend.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
WEBSOCKET_ACCEPTED = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                      b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
DEFLATED = deflated_message()
H2C_UPGRADE = (b"GET /items HTTP/1.1\r\nHost: backend.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
               b"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n")
H2C_DECLINED = (b"HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n" + b"b" * 4000 + b"HTTP/1.1 200 OK\r\n" + HEADERS)[:16000]
REQUESTS = [
    b"GET /items HTTP/1.1\r\n",
    b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n",
    b"CONNECT backend.test:443 HTTP/1.1\r\n",
    H2C_CALL,
    DEFLATED,
    H2C_DECLINED,
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
            kind = REQUESTS[flow % len(REQUESTS)]
            request = (kind if kind in (H2C_CALL, DEFLATED, H2C_DECLINED) else kind + HEADERS)[:16000]
            capture.add(micros, segment(port, 1000, 0x02))
            capture.add(micros + 1, segment(port, 5000, 0x12, reply=True))
            sequence = 1001
            if kind is DEFLATED:
                # The upgrade and its acceptance whole; then the compressed message a byte at a time.
                capture.add(micros + 2, segment(port, sequence, 0x18, WEBSOCKET_UPGRADE))
                sequence += len(WEBSOCKET_UPGRADE)
                capture.add(micros + 3, segment(port, 5001, 0x18, WEBSOCKET_ACCEPTED, reply=True))
            reply = kind is H2C_DECLINED
            if reply:
                # The upgrade request whole; then the server's answers a byte at a time.
                capture.add(micros + 2, segment(port, sequence, 0x18, H2C_UPGRADE))
                sequence = 5001
            for offset in range(len(request)):
                micros += 10
                capture.add(micros, segment(port, sequence + offset, 0x18, request[offset:offset + 1], reply=reply))
            micros += 10
            capture.add(micros, segment(port, sequence + len(request), 0x11, reply=reply))


if __name__ == "__main__":
    main()
