#!/usr/bin/env python3
"""gen-quic-connections.py OUT.pcap N -- N QUIC connections, each a replay of the real connection in
captures/quic-server-auth.pcap (aioquic client and server: Initial, Handshake and 1-RTT packets, 10 datagrams) from a
client address and port of its own, 2,000 connections a second, to the one server 198.19.61.2:4433.

The datagrams are the captured ones byte for byte, so every connection decrypts its Initial packets with the keys of
the same connection ID: the cost measured is a QUIC connection's (recognition, Initial key derivation, two
decryptions, the ClientHello and ServerHello), as on a host serving HTTP/3, not a new connection ID's."""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pcapgen import ETHERNET, PcapWriter, arguments, ipv4  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "captures", "quic-server-auth.pcap")
SERVER = bytes([198, 19, 61, 2])


def datagrams():
    """(microseconds after the first, from the client, UDP payload) of the source capture."""
    data = open(SOURCE, "rb").read()
    position, first, result = 24, None, []
    while position + 16 <= len(data):
        seconds, micros, length = struct.unpack("<III", data[position:position + 12])
        frame = data[position + 16:position + 16 + length]
        position += 16 + length
        if len(frame) <= 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
            continue
        time = seconds * 1_000_000 + micros
        first = time if first is None else first
        source_port = struct.unpack("!H", frame[34:36])[0]
        result.append((time - first, source_port != 4433, frame[42:]))
    return result


def main():
    out, count = arguments("usage: gen-quic-connections.py OUT.pcap N")
    exchange = datagrams()
    with PcapWriter(out) as writer:
        for index in range(count):
            start = index * 500  # 2,000 connections a second
            client = bytes([198, 18, 64 + (index >> 16) % 64, (index >> 8) & 0xFF])
            port = 1024 + index % 60000
            for offset, from_client, payload in exchange:
                udp = struct.pack("!HHHH", port if from_client else 4433, 4433 if from_client else port,
                                  8 + len(payload), 0)
                source, destination = (client, SERVER) if from_client else (SERVER, client)
                frame = ETHERNET + ipv4(source, destination, 17, 8 + len(payload), index) + udp + payload
                writer.add(start + offset, frame)


if __name__ == "__main__":
    main()
