#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/harness.swift into fuzz/corpus/ (run once; the result is committed).

    python3 fuzz/make_corpus.py [--out fuzz/corpus] [--captures captures]

Seeds, by target (first byte, see harness.swift):
  0 capture   every capture in captures/ below 16 KiB, plus a few hand-made pcap/pcapng variants
  1 packets   the frames of every capture (native link type, and the same IP packets re-framed for the other
              link types), plus variants with a snap-length cut and with tiny inspection windows
  2 tls       the TLS byte streams of every TLS / STARTTLS connection (extracted with tshark), segment by segment
  3 classify  the first bytes each side sent in every TCP/UDP conversation, plus hand-made requests for the
              protocols the captures lack (MySQL, LDAP, IMAP, POP3, Kafka, MongoDB, AMQP, DNS over TCP, ...)
  4 cert      every certificate in the captures' TLS 1.2 handshakes, their subject/issuer Names, and
              certificates made with openssl (EC, Ed25519, RSA-PSS, DSA, SANs of every kind, EKUs)

Needs python3, tshark and openssl.
"""
import argparse
import hashlib
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPTURES = os.path.join(ROOT, "captures")
SEP = b"~FZ~"
# harness.swift fuzzLinkTypes order
LINK_INDEX = {1: 0, 113: 1, 276: 2, 0: 3, 108: 4, 101: 5, 14: 6, 12: 7, 228: 8, 229: 9}


def captures():
    folder = CAPTURES
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith((".pcap", ".pcapng")))


# ---------------------------------------------------------------- reading captures

def read_frames(path):
    """[(linktype, frame bytes, original length)] of a pcap or pcapng file."""
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    frames = []
    if magic in (0xA1B2C3D4, 0xA1B23C4D, 0xD4C3B2A1, 0x4D3CB2A1):
        e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        link = struct.unpack(e + "I", data[20:24])[0] & 0x03FFFFFF
        off = 24
        while off + 16 <= len(data):
            _, _, cap, orig = struct.unpack(e + "IIII", data[off:off + 16])
            frames.append((link, data[off + 16:off + 16 + cap], orig))
            off += 16 + cap
    else:
        off = 0
        e = "<"
        links = []
        while off + 12 <= len(data):
            btype = struct.unpack(e + "I", data[off:off + 4])[0]
            if btype == 0x0A0D0D0A:
                e = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                links = []
            blen = struct.unpack(e + "I", data[off + 4:off + 8])[0]
            body = data[off + 8:off + blen - 4]
            if btype == 1:
                links.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6:
                iface, _, _, cap, orig = struct.unpack(e + "IIIII", body[:20])
                frames.append((links[iface], body[20:20 + cap], orig))
            off += blen
    return frames


def ip_packet(link, frame):
    """The IP packet inside a frame (None for non-IP)."""
    if link == 1:
        off, ethertype = 14, struct.unpack(">H", frame[12:14])[0]
    elif link == 276:
        off, ethertype = 20, struct.unpack(">H", frame[0:2])[0]
    else:
        return None
    while ethertype in (0x8100, 0x88A8):
        ethertype = struct.unpack(">H", frame[off + 2:off + 4])[0]
        off += 4
    return frame[off:] if ethertype in (0x0800, 0x86DD) else None


def reframe(packet, link):
    """`packet` (IPv4 or IPv6) framed for `link`."""
    v6 = packet[0] >> 4 == 6
    if link == 1:
        return bytes(range(12)) + (b"\x86\xdd" if v6 else b"\x08\x00") + packet
    if link == 113:  # Linux cooked v1: type, ARPHRD, addr len, addr(8), protocol
        return b"\x00\x00\x00\x01\x00\x06" + bytes(range(8)) + (b"\x86\xdd" if v6 else b"\x08\x00") + packet
    if link == 276:  # cooked v2: protocol, reserved, ifindex, ARPHRD, type, addr len, addr(8)
        return (b"\x86\xdd" if v6 else b"\x08\x00") + b"\x00\x00" + b"\x00\x00\x00\x02" + b"\x00\x01\x00\x06" + bytes(range(8)) + packet
    if link == 0:  # host byte order family
        return struct.pack("<I", 30 if v6 else 2) + packet
    if link == 108:  # network byte order family
        return struct.pack(">I", 24 if v6 else 2) + packet
    return packet  # raw link types


def tshark_segments(path):
    """{stream: [(is_client, payload)]} for TCP and UDP conversations, in capture order."""
    fields = ["tcp.stream", "udp.stream", "ip.src", "ipv6.src", "tcp.srcport", "udp.srcport", "tcp.flags.syn",
              "tcp.flags.ack", "tcp.payload", "udp.payload"]
    # occurrence=f: a tunnelled packet has two UDP layers (the outer one first)
    command = ["tshark", "-r", path, "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]
    for f in fields:
        command += ["-e", f]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    streams, clients = {}, {}
    for line in out.splitlines():
        cols = line.split("|")
        if len(cols) != len(fields):
            continue
        tstream, ustream, src4, src6, tport, uport, syn, ack, tpay, upay = cols
        key = ("t" + tstream) if tstream else ("u" + ustream) if ustream else None
        if key is None:
            continue
        endpoint = (src4 or src6, tport or uport)
        payload = bytes.fromhex((tpay or upay).replace(":", ""))
        if key not in clients and (syn in ("1", "True") and ack not in ("1", "True") or payload):
            clients[key] = endpoint
        if payload:
            streams.setdefault(key, []).append((endpoint == clients.get(key), payload))
    return streams


# ---------------------------------------------------------------- seeds

class Corpus:
    def __init__(self, out):
        self.out = out
        self.count = 0
        os.makedirs(out, exist_ok=True)

    def add(self, name, data):
        digest = hashlib.sha1(data).hexdigest()[:10]
        with open(os.path.join(self.out, f"{name}-{digest}"), "wb") as f:
            f.write(data)
        self.count += 1


def rotated_lane_seeds(corpus):
    """Target 6 with several files split on ~FZ~, as `analyze` reads a folder: a capture cut into three files (each a
    continuation), and the same capture twice (time goes back: two captures)."""
    for name in ("smtp-starttls", "tls13-hrr-mutual"):
        data = open(os.path.join(CAPTURES, name + ".pcap"), "rb").read()
        header, records, off = data[:24], [], 24
        while off + 16 <= len(data):
            cap = struct.unpack("<I", data[off + 8:off + 12])[0]
            records.append(data[off:off + 16 + cap])
            off += 16 + cap
        third = -(-len(records) // 3)
        parts = [header + b"".join(records[i:i + third]) for i in range(0, len(records), third)]
        corpus.add("lanes-rotated-" + name, b"\x06" + b"~FZ~".join(parts))
        corpus.add("lanes-repeated-" + name, b"\x06" + data + b"~FZ~" + data)


def capture_seeds(corpus):
    for path in captures():
        data = open(path, "rb").read()
        if len(data) <= 16384:
            corpus.add("capture-" + os.path.basename(path).split(".")[0], b"\x00" + data)
        if len(data) <= 8192:  # target 6: the same files through the parallel flow lanes
            corpus.add("lanes-" + os.path.basename(path).split(".")[0], b"\x06" + data)
    rotated_lane_seeds(corpus)
    # Hand-made containers: big-endian pcap with nanoseconds, and a pcapng with options, a Simple Packet Block,
    # an obsolete Packet Block, a Decryption Secrets Block and a second section in the other byte order.
    frames = read_frames(os.path.join(CAPTURES, "http-basic-auth.pcap"))
    be = struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    for i, (_, frame, orig) in enumerate(frames):
        be += struct.pack(">IIII", 1_700_000_000 + i, 123_456_789, len(frame), orig) + frame
    corpus.add("capture-handmade-bigendian-nanos", b"\x00" + be)

    def block(e, btype, body):
        body += b"\x00" * (-len(body) % 4)
        length = 12 + len(body)
        return struct.pack(e + "II", btype, length) + body + struct.pack(e + "I", length)

    def option(e, code, value):
        return struct.pack(e + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)

    ng = b""
    for e in ("<", ">"):
        ng += block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
        ng += block(e, 1, struct.pack(e + "HHI", 1, 0, 0) + option(e, 9, b"\x09") + option(e, 14, struct.pack(e + "q", 3600)) + option(e, 0, b""))
        ng += block(e, 1, struct.pack(e + "HHI", 101, 0, 96) + option(e, 9, b"\x94") + option(e, 0, b""))
        for i, (_, frame, orig) in enumerate(frames[:6]):
            ts = 1_700_000_000_000_000_000 + i
            ng += block(e, 6, struct.pack(e + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), orig) + frame)
        ip = ip_packet(1, frames[3][1])
        ng += block(e, 6, struct.pack(e + "IIIII", 1, 0, 5, len(ip), len(ip)) + ip)
        ng += block(e, 3, struct.pack(e + "I", len(frames[4][1])) + frames[4][1])
        ng += block(e, 2, struct.pack(e + "HHIIII", 0, 0, 0, 7, len(frames[5][1]), len(frames[5][1])) + frames[5][1])
        keylog = b"CLIENT_RANDOM 00 11\n"
        ng += block(e, 0x0A, struct.pack(e + "II", 0x544C534B, len(keylog)) + keylog)
        ng += block(e, 5, struct.pack(e + "III", 0, 0, 0))  # statistics
    corpus.add("capture-handmade-pcapng-sections", b"\x00" + ng)


def packet_seeds(corpus):
    for path in captures():
        name = os.path.basename(path).split(".")[0]
        frames = read_frames(path)
        if not frames:
            continue
        link = frames[0][0]
        body = SEP.join(b"\x00" + f for _, f, _ in frames)
        if len(body) < 20000:
            corpus.add(f"packets-{name}", bytes([1, LINK_INDEX[link]]) + body)
        # Snap-length cut and tiny windows on the smaller ones.
        if len(body) < 4000:
            cut = SEP.join((b"\x09" + f[:96]) if len(f) > 96 else (b"\x00" + f) for _, f, _ in frames)
            corpus.add(f"packets-{name}-snapcut", bytes([1, LINK_INDEX[link]]) + cut)
            corpus.add(f"packets-{name}-tiny", bytes([1, 0x80 | LINK_INDEX[link]]) + body)
    # Other link types: the IP packets of a few captures re-framed.
    for base, links in (("http-basic-auth", (113, 0, 108, 101, 14, 12, 228)), ("ipv6-http", (276, 0, 108, 101, 229)),
                        ("redis-auth", (113, 101)), ("dns-udp", (0, 228))):
        if not os.path.exists(os.path.join(CAPTURES, base + ".pcap")):
            continue
        packets = [ip_packet(l, f) for l, f, _ in read_frames(os.path.join(CAPTURES, base + ".pcap"))]
        packets = [p for p in packets if p]
        for link in links:
            corpus.add(f"packets-{base}-link{link}", bytes([1, LINK_INDEX[link]]) + SEP.join(b"\x00" + reframe(p, link) for p in packets))
    # Hand-made TCP and UDP conversations (raw IPv4 frames, link type index 5).
    def ip4(proto, payload, src=b"\x0a\x00\x00\x01", dst=b"\x0a\x00\x00\x02"):
        return (bytes([0x45, 0]) + struct.pack(">H", 20 + len(payload)) + bytes([0, 1, 0x40, 0, 64, proto, 0, 0])
                + src + dst + payload)

    def tcp(seq, flags, payload=b"", sport=40000, dport=5432, ack=0):
        return ip4(6, struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0) + payload,
                   *((b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02") if sport == 40000 else (b"\x0a\x00\x00\x02", b"\x0a\x00\x00\x01")))

    def server(seq, flags, payload=b""):
        return tcp(seq, flags, payload, sport=5432, dport=40000)

    def frames(*packets):
        return bytes([1, 5]) + SEP.join(b"\x00" + p for p in packets)

    startup = struct.pack(">II", 37, 196608) + b"user\x00bob\x00database\x00db\x00\x00"
    password = b"p" + struct.pack(">I", 11) + b"hunter2\x00"
    syn, synack, ack, psh, fin, rst = 0x02, 0x12, 0x10, 0x18, 0x11, 0x04
    # Out of order: the password segment before the startup message, then a retransmission and an overlap.
    corpus.add("packets-tcp-reordered", frames(
        tcp(100, syn), server(500, synack), tcp(101, ack), tcp(101 + len(startup), psh, password),
        tcp(101, psh, startup), tcp(101, psh, startup[:10]), tcp(95, psh, b"\x00" * 6 + startup[:20]),
        server(501, psh, b"R\x00\x00\x00\x08\x00\x00\x00\x03"), tcp(101 + len(startup) + len(password), fin),
        server(501 + 9, fin), tcp(102 + len(startup) + len(password), ack)))
    # A hole that never fills, then the same ports reused with a new initial sequence number.
    corpus.add("packets-tcp-gap-and-reuse", frames(
        tcp(1000, syn), server(7000, synack), tcp(1001, psh, startup), tcp(1001 + len(startup) + 50, psh, password),
        tcp(2000, rst), tcp(5000, syn), server(9000, synack), tcp(5001, psh, startup), tcp(5001 + len(startup), psh, password)))
    # Midstream: no handshake, server talks first (SMTP), client then sends AUTH PLAIN.
    corpus.add("packets-tcp-midstream-smtp", frames(
        server(300, psh, b"220 mail.example ESMTP\r\n"), tcp(700, psh, b"EHLO x\r\nAUTH PLAIN AGJvYgBzZWNyZXQ=\r\n")))
    # UDP: a DTLS 1.2 ClientHello and HelloVerifyRequest, a DNS query and answer, an unknown datagram.
    def udp(sport, dport, payload, reply=False):
        data = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
        return ip4(17, data, *((b"\x0a\x00\x00\x02", b"\x0a\x00\x00\x01") if reply else (b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02")))

    dtls_hello = bytes([0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 1, 0, 0, 0x34]) + bytes(0x40 - 4)
    dtls_verify = bytes([0x16, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 3, 0, 0, 0x04]) + bytes(12)
    dns_query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
    corpus.add("packets-udp-mix", frames(
        udp(40001, 4433, dtls_hello), udp(4433, 40001, dtls_verify, reply=True),
        udp(40002, 53, dns_query), udp(53, 40002, dns_query[:2] + b"\x81\x80" + dns_query[4:], reply=True),
        udp(40003, 9999, b"\x00\x01binary\xff"), udp(40004, 4434, dtls_verify)))


def first_client_hello(data):
    for i in range(len(data) - 5):
        if data[i] == 0x16 and data[i + 1] == 3 and data[i + 2] <= 4 and data[i + 5] == 1:
            return i
    return None


def first_server_hello(data):
    for i in range(len(data) - 5):
        if data[i] == 0x16 and data[i + 1] == 3 and data[i + 2] <= 4 and data[i + 5] == 2:
            return i
    return None


def tls_seeds(corpus):
    for path in captures():
        name = os.path.basename(path).split(".")[0]
        for key, segments in tshark_segments(path).items():
            if not key.startswith("t"):
                continue
            client = b"".join(p for c, p in segments if c)
            server = b"".join(p for c, p in segments if not c)
            ch, sh = first_client_hello(client), first_server_hello(server)
            if ch is None:
                continue
            skip = {True: ch, False: sh if sh is not None else len(server)}
            chunks, side = [], True  # chunk 0 is the client's
            for is_client, payload in segments:
                drop = min(skip[is_client], len(payload))
                skip[is_client] -= drop
                payload = payload[drop:]
                if not payload:
                    continue
                if is_client != side:
                    chunks.append(b"")
                    side = not side
                chunks.append(payload)
                side = not side
            keys = os.path.join(CAPTURES, "keys", name + ".keys")
            keylog = open(keys, "rb").read() if os.path.exists(keys) else b""
            data = b"\x02" + keylog + SEP + SEP.join(chunks)
            if len(data) < 30000:
                corpus.add(f"tls-{name}-{key}", data)
                # The same bytes, each side as one chunk (records spanning segments), without the key log.
                client_tls, server_tls = client[ch:], server[sh:] if sh is not None else b""
                corpus.add(f"tls-{name}-{key}-whole", b"\x02" + SEP + client_tls + SEP + server_tls)
    # SSL 2.0-compatible ClientHello, then a TLS 1.0 ServerHello with a fatal alert.
    ssl2 = bytes([0x80, 0x2E, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10]) + bytes(range(21)) + bytes(16)
    alert = bytes([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28])
    corpus.add("tls-handmade-ssl2", b"\x02" + SEP + ssl2 + SEP + alert)
    # The key logs that go with no capture (malformed, unrelated), on their own.
    for name in sorted(os.listdir(os.path.join(CAPTURES, "keys"))):
        if not os.path.exists(os.path.join(CAPTURES, name.replace(".keys", ".pcap"))):
            corpus.add(f"tls-keylog-{name.split('.')[0]}", b"\x02" + open(os.path.join(CAPTURES, "keys", name), "rb").read()[:16384])
    # Key log text on its own: comments, CRLF, bad lines.
    random = "11" * 32
    text = (f"# comment\r\nCLIENT_RANDOM {random} {'31' * 48}\r\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {random} {'21' * 32}\n"
            f"SERVER_TRAFFIC_SECRET_0 {random} {'24' * 48}\nEXPORTER_SECRET {random} {'00' * 64}\nBOGUS {random} 00\n"
            f"CLIENT_RANDOM zz 00\nCLIENT_RANDOM {random}\n\n")
    corpus.add("tls-handmade-keylog", b"\x02" + text.encode())


HANDMADE_CLASSIFY = {
    "mysql": (b"\x20\x00\x00\x01\x85\xa6\xff\x01\x00\x00\x00\x01\x21" + bytes(23) + b"root\x00\x14" + bytes(20) + b"mysql_native_password\x00",
              b"\x4a\x00\x00\x00\x0a8.0.36\x00\x08\x00\x00\x00" + bytes(40)),
    "mysql-ssl": (b"\x20\x00\x00\x01\x0f\xaa\xff\x01\x00\x00\x00\x01\x21" + bytes(23) + b"\x16\x03\x01\x00\x30\x01" + bytes(40),
                  b"\x4a\x00\x00\x00\x0a5.7.44\x00" + bytes(40) + b"\x16\x03\x03\x00\x30\x02" + bytes(40)),
    "mysql-clear": (b"\x40\x00\x00\x01\x85\xa6\x28\x00\x00\x00\x00\x01\x21" + bytes(23) + b"app\x00\x07secret\x00mysql_clear_password\x00", b""),
    "ldap-bind": (b"\x30\x1c\x02\x01\x01\x60\x17\x02\x01\x03\x04\x0bcn=admin,dc\x80\x05s3cret", b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00"),
    "ldap-starttls": (b"\x30\x1d\x02\x01\x01\x77\x18\x80\x161.3.6.1.4.1.1466.20037" + b"\x16\x03\x01\x00\x30\x01" + bytes(48),
                      b"\x30\x0c\x02\x01\x01\x78\x07\x0a\x01\x00\x04\x00\x04\x00" + b"\x16\x03\x03\x00\x30\x02" + bytes(48)),
    "ldap-longlen": (b"\x30\x84\x00\x00\x00\x1c\x02\x01\x01\x60\x82\x00\x17\x02\x01\x03\x04\x0bcn=admin,dc\x80\x05s3cret", b""),
    "imap": (b"a1 CAPABILITY\r\na2 LOGIN \"bob\" \"pa ss\\\"w\"\r\na3 AUTHENTICATE PLAIN\r\nAGJvYgBzZWNyZXQ=\r\na4 STARTTLS\r\n\x16\x03\x01\x00\x30\x01" + bytes(48),
             b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\na1 OK\r\na4 OK Begin TLS\r\n\x16\x03\x03\x00\x30\x02" + bytes(48)),
    "pop3": (b"CAPA\r\nUSER alice\r\nPASS hunter2\r\nAUTH LOGIN\r\nYWxpY2U=\r\naHVudGVyMg==\r\nSTLS\r\n\x16\x03\x01\x00\x30\x01" + bytes(48),
             b"+OK POP3 ready\r\n+OK\r\n+OK\r\n+OK Begin TLS\r\n\x16\x03\x03\x00\x30\x02" + bytes(48)),
    "ftp-authtls": (b"AUTH TLS\r\n\x16\x03\x01\x00\x30\x01" + bytes(48), b"220 ProFTPD Server\r\n234 AUTH TLS ok\r\n\x16\x03\x03\x00\x30\x02" + bytes(48)),
    "smtp-login": (b"EHLO x\r\nAUTH LOGIN dXNlcg==\r\ncGFzcw==\r\nAUTH PLAIN\r\nAHVzZXIAcGFzcw\r\n", b"220 mail.example ESMTP Postfix\r\n"),
    "kafka": (b"\x00\x00\x00\x1e\x00\x12\x00\x03\x00\x00\x00\x01\x00\x0badminclient\x00\x00\x00", b""),
    "kafka-null-client": (b"\x00\x00\x00\x1e\x00\x12\x00\x03\x00\x00\x00\x01\xff\xff" + bytes(8), b""),
    "mongodb": (struct.pack("<iiii", 60, 1, 0, 2013) + bytes(44), b""),
    "amqp": (b"AMQP\x00\x00\x09\x01", b""),
    "dns-tcp": (b"\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01", b""),
    "dns-udp": (b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01", b""),
    "memcached": (b"get foo\r\n", b"END\r\n"),
    "memcached-set": (b"set key 0 0 5\r\nhello\r\n", b""),
    "redis-inline": (b"AUTH default s3cret\r\nHELLO 3 AUTH user pass\r\nhello there\r\n", b"+OK\r\n"),
    "redis-resp": (b"*3\r\n$4\r\nAUTH\r\n$4\r\nuser\r\n$6\r\nsecret\r\n*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$1\r\np\r\n", b"+OK\r\n"),
    "ssh": (b"SSH-2.0-OpenSSH_9.6\r\n", b"SSH-2.0-OpenSSH_9.2\r\n"),
    "http2": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00", b""),
    "http-digest": (b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Digest username=\"bob\", realm=\"r\"\r\nProxy-Authorization: Negotiate abc\r\n\r\n", b"HTTP/1.1 401\r\n"),
    "http-basic-bad": (b"POST /x HTTP/1.0\nauthorization: Basic !!!notbase64\n\n", b""),
    "postgres-md5": (struct.pack(">II", 8, 80877103) + struct.pack(">II", 37, 196608) + b"user\x00bob\x00database\x00db\x00\x00"
                     + b"p" + struct.pack(">I", 40) + b"md5" + b"0" * 32 + b"\x00", b"N"),
    "postgres-ssl": (struct.pack(">II", 8, 80877103) + b"\x16\x03\x01\x00\x30\x01" + bytes(48), b"S\x16\x03\x03\x00\x30\x02" + bytes(48)),
    "tls-records-midstream": (b"\x17\x03\x03\x00\x05hello\x17\x03\x03\x00\x02hi", b"\x17\x03\x03\x00\x03abc"),
    "binary": (bytes(range(256)), bytes(range(255, -1, -1))),
    "http-secrets": (b"GET /v1/kv?access_token=abc%2Bdef&user=al%69ce HTTP/1.1\r\nX-Vault-Token: hvs.x\r\nx-api-key:\tk\r\n\r\n"
                     + b"POST /token HTTP/1.1\r\nContent-Length: 40\r\n\r\nclient_id=o&client_secret=s%2&password=", b""),
    "http-json": (b"POST /login HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
                  + b'{"user" :"admin","Password": "p\\"a\\u00e9ss", "n": {"client_secret":"x"}, "api_key":"', b""),
    "docker-api": (b"HEAD /_ping HTTP/1.1\r\nHost: 198.18.1.2:2375\r\n\r\nGET /v1.41/version HTTP/1.1\r\n\r\n",
                   b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nDocker-Experimental: false\r\nServer: Docker/20.10 (linux)\r\n\r\n"),
    # A WebSocket upgrade, then masked frames: 7- and 16-bit lengths, a ping between fragments, a close.
    "websocket": (b"GET /ws?t=1 HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
                  + b"\x02\x82\x01\x02\x03\x04" + bytes([0x10 ^ 1, 0x0c ^ 2]) + b"\x89\x80\x00\x00\x00\x00"
                  + b"\x80\xfe\x00\x80\x00\x00\x00\x00" + bytes(128) + b"\x88\x82\x00\x00\x00\x00\x03\xe8",
                  b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Protocol: mqtt\r\n"
                  + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n\x82\x04\x20\x02\x00\x00\xc2\x01\x00"),
}


def classify_seeds(corpus):
    for name, (client, server) in HANDMADE_CLASSIFY.items():
        corpus.add(f"classify-{name}", b"\x03\x00" + client + SEP + server)
        corpus.add(f"classify-{name}-final", b"\x03\x03" + client + SEP + server)
    for path in captures():
        name = os.path.basename(path).split(".")[0]
        for key, segments in tshark_segments(path).items():
            client = b"".join(p for c, p in segments if c)[:4096]
            server = b"".join(p for c, p in segments if not c)[:4096]
            corpus.add(f"classify-{name}-{key}", b"\x03\x01" + client + SEP + server)
            # A WebSocket's frames without the upgrade before them: the frame readers (permessage-deflate among them)
            # read each side from its first byte.
            if client.startswith(b"GET ") and b"\r\n\r\n" in client and server.startswith(b"HTTP/1.1 101"):
                frames = [side[side.index(b"\r\n\r\n") + 4:] for side in (client, server)]
                corpus.add(f"classify-{name}-{key}-frames", b"\x03\x01" + frames[0] + SEP + frames[1])


def der_walk(data, off):
    """(tag, header length, content length) of the DER element at `off`."""
    tag, first = data[off], data[off + 1]
    if first < 0x80:
        return tag, 2, first
    n = first & 0x7F
    return tag, 2 + n, int.from_bytes(data[off + 2:off + 2 + n], "big")


def cert_names(der):
    """The issuer and subject Name elements of a DER certificate."""
    _, h, _ = der_walk(der, 0)
    off = h  # tbsCertificate
    _, h, _ = der_walk(der, off)
    off += h
    elements = []
    while len(elements) < 6:
        _, h, n = der_walk(der, off)
        elements.append(der[off:off + h + n])
        off += h + n
    if elements[0][0] != 0xA0:  # no explicit version
        elements.insert(0, b"")
    return [elements[3], elements[5]]  # issuer, subject


def certificate_seeds(corpus):
    """Adds the certificate seeds; returns one certificate from the captures."""
    seen = set()
    first = None
    for path in captures():
        out = subprocess.run(["tshark", "-r", path, "-Y", "tls.handshake.certificate", "-T", "fields", "-E",
                              "occurrence=a", "-E", "aggregator=|", "-e", "tls.handshake.certificate"],
                             capture_output=True, text=True).stdout
        for line in out.split():
            for hexed in line.split("|"):
                der = bytes.fromhex(hexed.replace(":", ""))
                if der and der not in seen:
                    seen.add(der)
                    first = first or der
                    corpus.add("cert-capture", b"\x04" + der)
                    for element in cert_names(der):
                        if element not in seen:
                            seen.add(element)
                            corpus.add("cert-name", b"\x04" + element)
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "ext.cnf")
        with open(config, "w") as f:
            f.write("[ext]\nbasicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=digitalSignature,keyEncipherment,"
                    "dataEncipherment,keyAgreement,keyCertSign,cRLSign,encipherOnly,decipherOnly,nonRepudiation\n"
                    "extendedKeyUsage=serverAuth,clientAuth,codeSigning,emailProtection,timeStamping,OCSPSigning,"
                    "1.2.3.4.5,anyExtendedKeyUsage\nsubjectAltName=DNS:a.example,DNS:\\x1b[31m.example,IP:192.0.2.1,"
                    "IP:2001:db8::1,URI:https://x.example/,email:a@example.com,otherName:1.2.3.4;UTF8:x,"
                    "dirName:dir,RID:1.2.3\n[dir]\nCN=dir\n")
        keys = {
            "ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
            "ed25519": ["-newkey", "ed25519"],
            "ed448": ["-newkey", "ed448"],
            "rsapss": ["-newkey", "rsa-pss", "-pkeyopt", "rsa_keygen_bits:1024"],
            "rsa1024-sha1": ["-newkey", "rsa:1024", "-sha1"],
            "dsa": ["-newkey", "dsa:" + os.path.join(tmp, "dsa.pem")],
        }
        subprocess.run(["openssl", "dsaparam", "-out", os.path.join(tmp, "dsa.pem"), "1024"], capture_output=True, check=True)
        for name, args in keys.items():
            der = os.path.join(tmp, name + ".der")
            result = subprocess.run(["openssl", "req", "-x509", "-nodes", "-keyout", os.path.join(tmp, name + ".key"),
                                     "-subj", "/C=FR/O=Bulkhead \u00e9t\u00e9/CN=" + name + "/emailAddress=x@y", "-days", "1",
                                     "-extensions", "ext", "-config", config, "-outform", "DER", "-out", der] + args,
                                    capture_output=True, env=dict(os.environ, OPENSSL_CONF=config))
            if result.returncode != 0:
                print(f"openssl {name}: {result.stderr.decode()[:200]}", file=sys.stderr)
                continue
            corpus.add(f"cert-{name}", b"\x04" + open(der, "rb").read())
    return first


def decrypted_seeds(corpus, certificate):
    """Target 5: handshakes the harness encrypts (meta: bit 0 server, bits 1-2 action, bits 3-4 outer type)."""
    def hs(t, body):
        return bytes([t]) + len(body).to_bytes(3, "big") + body

    def ext(t, body):
        return t.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body

    def vec16(body):
        return len(body).to_bytes(2, "big") + body

    def chunk(meta, body):
        return bytes([meta]) + body

    alpn = ext(16, vec16(b"\x02h2"))
    name = bytes.fromhex("3012311030 0e0603550403 0c07 42756c6b43 4120".replace(" ", ""))[:20]
    cert_entry = len(certificate).to_bytes(3, "big") + certificate + b"\x00\x00"
    # TLS 1.3: server flight, client flight with a certificate, application data both ways.
    server_flight = [
        chunk(1, hs(8, vec16(alpn)) + b"\x16"),
        chunk(1, hs(13, b"\x00" + vec16(ext(13, vec16(b"\x08\x04\x04\x03")) + ext(47, vec16(vec16(name))))) + b"\x16"),
        chunk(1, hs(11, b"\x00" + len(cert_entry).to_bytes(3, "big") + cert_entry) + b"\x16"),
        chunk(1, hs(15, b"\x08\x04" + vec16(bytes(64))) + hs(20, bytes(32)) + b"\x16"),
    ]
    client_flight = [
        chunk(0, hs(11, b"\x00" + len(cert_entry).to_bytes(3, "big") + cert_entry) + b"\x16"),
        chunk(0, hs(15, b"\x08\x04" + vec16(bytes(64))) + hs(20, bytes(32)) + b"\x16\x00\x00\x00"),
        chunk(0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x17"),
        chunk(1, hs(4, bytes(40)) + b"\x16"),
        chunk(1, b"HTTP/1.1 200 OK\r\n\r\n\x17"),
    ]
    for mode in (0, 1, 2):
        corpus.add(f"decrypted-tls13-suite{mode}", bytes([5, mode]) + SEP.join(server_flight + client_flight))
    declined = [chunk(0, hs(11, b"\x00\x00\x00\x00") + hs(20, bytes(32)) + b"\x16"), chunk(1, b"\x02\x2a\x15")]
    corpus.add("decrypted-tls13-declined-alert", bytes([5, 0]) + SEP.join(server_flight + declined))
    # TLS 1.2: ChangeCipherSpec then Finished each way, application data, a renegotiation ServerHello, an alert.
    finished = hs(20, bytes(12))
    renegotiation = hs(2, b"\x03\x03" + bytes(32) + b"\x00\xc0\x2f\x00")
    tls12 = [chunk(4 | 8, finished), chunk(5 | 8, finished), chunk(0, b"GET / HTTP/1.1\r\n\r\n"), chunk(1 | 8, renegotiation),
             chunk(1 | 16, b"\x02\x28")]
    for mode in (4, 5, 6):
        corpus.add(f"decrypted-tls12-suite{mode & 3}", bytes([5, mode]) + SEP.join(tls12))


def set_captures(folder):
    global CAPTURES
    CAPTURES = folder


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(ROOT, "fuzz", "corpus"))
    parser.add_argument("--captures", default=CAPTURES, help="folder of captures (with keys/), default captures/")
    args = parser.parse_args()
    set_captures(args.captures)
    corpus = Corpus(args.out)
    capture_seeds(corpus)
    packet_seeds(corpus)
    tls_seeds(corpus)
    classify_seeds(corpus)
    certificate = certificate_seeds(corpus)
    decrypted_seeds(corpus, certificate)
    print(f"{corpus.count} seeds in {args.out}")


if __name__ == "__main__":
    main()
