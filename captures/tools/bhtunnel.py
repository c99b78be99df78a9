#!/usr/bin/env python3
"""Tunnel endpoints and a Basic-auth HTTP server for make-encap-captures.sh (python3 stdlib only).

The kernel that made the corpus has VXLAN built in but no Geneve, GRE or IP-in-IP
(CONFIG_GENEVE, CONFIG_NET_IPGRE_DEMUX, CONFIG_NET_IPIP and CONFIG_IPV6_SIT are not
set, and it loads no modules). For those three, this endpoint does the tunnel
device's job in user space, the way bhcap.py's vlan-trunk stands in for 802.1Q:
it owns a tap (Geneve, gretap) or tun (ipip) device that carries the inner
addresses, wraps every frame or packet the kernel routes into it in the tunnel
header, and sends it to the peer's underlay address through an ordinary kernel
socket (UDP to port 6081 for Geneve, a raw IP socket of protocol 47 for GRE and 4
for IP in IP), so the kernel writes the outer IP (and UDP) header. In the other
direction it accepts only what comes from the peer with the right tunnel id,
strips the outer headers and writes the inner frame or packet to the device. The
inner traffic is ordinary kernel TCP/IP between real clients and servers.

It only ever sends to the REMOTE address it is given, and make-encap-captures.sh
passes only 198.19.40.0/24 addresses inside its own namespaces.

Subcommands:
  tunnel geneve|gretap|ipip DEVICE LOCAL REMOTE ID
      geneve: VNI ID, one 8-byte option TLV (class 0xff01, type 0x03), UDP 6081
      gretap: GRE with key ID, protocol 0x6558 (Ethernet); ipip: ID ignored
  basic-auth-server HOST PORT USER PASSWORD
      HTTP/1.1: 401 without the right Basic credentials, else a short page
"""
import base64
import fcntl
import http.server
import os
import select
import socket
import struct
import sys

from bhcap import IFF_NO_PI, IFF_TAP, TUNSETIFF

IFF_TUN = 0x0001
GENEVE_PORT = 6081
# A Geneve option TLV, so that the capture shows a header with options: class 0xff01 (experimental use,
# RFC 8926 section 8.1), type 0x03, length 1 word, value 0xb0b0b0b0.
GENEVE_OPTION = struct.pack("!HBB", 0xFF01, 0x03, 1) + b"\xb0\xb0\xb0\xb0"


def open_device(name, tap):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), (IFF_TAP if tap else IFF_TUN) | IFF_NO_PI))
    return fd


def tunnel(kind, device, local, remote, tunnel_id):
    tunnel_id = int(tunnel_id)
    if kind == "geneve":
        fd = open_device(device, tap=True)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((local, GENEVE_PORT))
        header = struct.pack("!BBHI", len(GENEVE_OPTION) // 4, 0, 0x6558, tunnel_id << 8) + GENEVE_OPTION

        def wrap(frame):
            return header + frame

        def unwrap(datagram, source):
            if source[0] != remote or len(datagram) < 8:
                return None
            first, flags, proto, vni = struct.unpack("!BBHI", datagram[:8])
            if first >> 6 != 0 or flags & 0x80 or proto != 0x6558 or vni >> 8 != tunnel_id:
                return None
            return datagram[8 + (first & 0x3F) * 4:]

        send = lambda data: sock.sendto(data, (remote, GENEVE_PORT))  # noqa: E731
    elif kind in ("gretap", "ipip"):
        gre = kind == "gretap"
        fd = open_device(device, tap=gre)
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47 if gre else 4)
        sock.bind((local, 0))
        header = struct.pack("!HHI", 0x2000, 0x6558, tunnel_id)  # K bit, transparent Ethernet bridging, key

        def wrap(frame):
            return header + frame if gre else frame

        def unwrap(packet, source):
            # IPv4 raw sockets receive the outer IP header too.
            if source[0] != remote or len(packet) < 20:
                return None
            inner = packet[(packet[0] & 0x0F) * 4:]
            if not gre:
                return inner
            if len(inner) < 8 or inner[:8] != header:
                return None
            return inner[8:]

        send = lambda data: sock.sendto(data, (remote, 0))  # noqa: E731
    else:
        sys.exit(f"unknown tunnel kind {kind}")
    print("ready", flush=True)
    while True:
        readable, _, _ = select.select([fd, sock], [], [])
        if fd in readable:
            send(wrap(os.read(fd, 65536)))
        if sock in readable:
            data, source = sock.recvfrom(65536)
            inner = unwrap(data, source)
            if inner:
                os.write(fd, inner)


def basic_auth_server(host, port, user, password):
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.headers.get("Authorization") != expected:
                body = b"authentication required\n"
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="Bulkhead overlay"')
            else:
                body = b"Top secret: the Bulkhead overlay corpus.\n"
                self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer((host, int(port)), Handler)
    server.serve_forever()


COMMANDS = {"tunnel": tunnel, "basic-auth-server": basic_auth_server}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
