"""pcapgen.py -- what the capture generators in Benchmarks/ share: IPv4 headers and a buffered classic pcap writer."""
import struct
import sys

ETHERNET = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
START_SECONDS = 1_764_547_200


def checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def ipv4(source: bytes, destination: bytes, proto: int, payload_length: int, ident: int) -> bytes:
    """A 20-byte IPv4 header with its checksum."""
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_length, ident & 0xFFFF, 0, 64, proto, 0, source,
                         destination)
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:]


class PcapWriter:
    """A classic pcap file (Ethernet, microseconds) written 100,000 records at a time."""

    def __init__(self, path: str):
        self.out = open(path, "wb")
        self.out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.chunk = []

    def add(self, micros: int, frame: bytes) -> None:
        """A record `micros` microseconds after the capture's start."""
        self.chunk.append(struct.pack("<IIII", START_SECONDS + micros // 1_000_000, micros % 1_000_000, len(frame),
                                      len(frame)) + frame)
        if len(self.chunk) >= 100_000:
            self.out.write(b"".join(self.chunk))
            self.chunk = []

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.out.write(b"".join(self.chunk))
        self.out.close()


def arguments(usage: str) -> tuple:
    """OUT.pcap and N from the command line, or the usage and exit."""
    if len(sys.argv) != 3 or not sys.argv[2].isdigit():
        sys.exit(usage)
    return sys.argv[1], int(sys.argv[2])
