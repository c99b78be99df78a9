#!/usr/bin/env python3
"""Small helpers used by make-captures.sh (python3 stdlib only).

Every server here accepts exactly ONE connection, serves it and exits, so a
capture contains exactly the flows the script intends.  The clients are plain
stdlib clients (smtplib, ftplib, socket).  Nothing here ever talks to an address
other than the one given on the command line, and make-captures.sh only ever
passes addresses from 198.18.0.0/15 / 2001:2::/48 inside its own namespaces.

Subcommands:
  vlan-trunk TAP TRUNK VID     802.1Q "switch port": bridges a tap device to a
                               veth trunk, tagging frames with VID (the kernel of
                               the capture host has no CONFIG_VLAN_8021Q)
  smtp-server HOST PORT CERT KEY
  ftp-server HOST PORT
  line-server HOST PORT        made-up line-oriented text protocol
  binary-server HOST PORT      made-up binary protocol
  smtp-client HOST PORT USER PASSWORD [--starttls CAFILE KEYLOG]
  ftp-client HOST PORT USER PASSWORD
  memcached-client HOST PORT
  line-client HOST PORT
  binary-client HOST PORT
  proxy HOST PORT COUNT ALLOW [--socks-user U:P]
                               SOCKS 4/4a/5 proxy for COUNT connections; connects
                               only to the name=address pairs in ALLOW
                               (comma-separated), never elsewhere
  xmpp-server HOST PORT CERT KEY CAFILE [--require-cert]
                               XMPP peer: stream header, <starttls/>, <proceed/>, TLS
  irc-server HOST PORT CERT KEY
                               IRC peer: STARTTLS answered with numeric 670, TLS
"""
import base64
import fcntl
import os
import random
import select
import socket
import ssl
import struct
import sys


# ---------------------------------------------------------------- VLAN trunk
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
ETH_P_ALL = 0x0003
ETH_P_8021Q = 0x8100


def vlan_trunk(tap_name, trunk_if, vid):
    vid = int(vid)
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap_name.encode(), IFF_TAP | IFF_NO_PI))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((trunk_if, 0))
    print("ready", flush=True)
    while True:
        r, _, _ = select.select([fd, s], [], [])
        if fd in r:
            frame = os.read(fd, 65536)
            if len(frame) >= 14:
                # insert the 802.1Q tag after dst+src MAC
                s.send(frame[:12] + struct.pack("!HH", ETH_P_8021Q, vid & 0x0FFF) + frame[12:])
        if s in r:
            frame, anc, _flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(20))
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            tci = None
            for level, typ, data in anc:
                if level == SOL_PACKET and typ == PACKET_AUXDATA and len(data) >= 20:
                    status, _l, _sl, _mac, _net, vtci, _tpid = struct.unpack("IIIHHHH", data[:20])
                    if status & TP_STATUS_VLAN_VALID:
                        tci = vtci
            if tci is None and len(frame) >= 18 and struct.unpack("!H", frame[12:14])[0] == ETH_P_8021Q:
                tci = struct.unpack("!H", frame[14:16])[0]
                frame = frame[:12] + frame[16:]
            if tci is None or (tci & 0x0FFF) != vid:
                continue  # untagged or other VLAN: not ours
            os.write(fd, frame)


# ---------------------------------------------------------------- servers
def listen_one(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(1)
    conn, _ = ls.accept()
    ls.close()
    return conn


class Lines:
    def __init__(self, sock):
        self.sock = sock
        self.f = sock.makefile("rb")

    def readline(self):
        return self.f.readline().decode("latin-1").rstrip("\r\n")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")


def smtp_server(host, port, cert, key):
    conn = listen_one(host, port)
    io = Lines(conn)
    tls = False
    io.send("220 mail.server.test ESMTP Bulkhead test MTA")
    while True:
        line = io.readline()
        if not line:
            break
        verb = line.split(" ", 1)[0].upper()
        if verb in ("EHLO", "HELO"):
            caps = ["mail.server.test greets you", "SIZE 10485760", "8BITMIME"]
            if not tls:
                caps.append("STARTTLS")
            caps.append("AUTH PLAIN LOGIN")
            for c in caps[:-1]:
                io.send("250-" + c)
            io.send("250 " + caps[-1])
        elif verb == "STARTTLS" and not tls:
            io.send("220 2.0.0 Ready to start TLS")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            conn = ctx.wrap_socket(conn, server_side=True)
            io = Lines(conn)
            tls = True
        elif verb == "AUTH":
            parts = line.split()
            mech = parts[1].upper() if len(parts) > 1 else ""
            if mech == "PLAIN":
                if len(parts) < 3:
                    io.send("334 ")
                    io.readline()
            elif mech == "LOGIN":
                io.send("334 " + base64.b64encode(b"Username:").decode())
                io.readline()
                io.send("334 " + base64.b64encode(b"Password:").decode())
                io.readline()
            io.send("235 2.7.0 Authentication successful")
        elif verb == "MAIL" or verb == "RCPT" or verb == "RSET" or verb == "NOOP":
            io.send("250 2.1.0 Ok")
        elif verb == "DATA":
            io.send("354 End data with <CR><LF>.<CR><LF>")
            while io.readline() != ".":
                pass
            io.send("250 2.0.0 Ok: queued as BH0001")
        elif verb == "QUIT":
            io.send("221 2.0.0 Bye")
            break
        else:
            io.send("502 5.5.2 Error: command not recognized")
    conn.close()


def ftp_server(host, port):
    conn = listen_one(host, port)
    io = Lines(conn)
    io.send("220 Bulkhead test FTP server ready")
    while True:
        line = io.readline()
        if not line:
            break
        verb = line.split(" ", 1)[0].upper()
        if verb == "USER":
            io.send("331 Please specify the password.")
        elif verb == "PASS":
            io.send("230 Login successful.")
        elif verb == "SYST":
            io.send("215 UNIX Type: L8")
        elif verb == "PWD":
            io.send('257 "/home/alice" is the current directory')
        elif verb == "TYPE":
            io.send("200 Switching to Binary mode.")
        elif verb == "QUIT":
            io.send("221 Goodbye.")
            break
        else:
            io.send("502 Command not implemented.")
    conn.close()


def line_server(host, port):
    # A made-up telemetry protocol: one text record per line, acked by the server.
    conn = listen_one(host, port)
    f = conn.makefile("rb")
    n = 0
    for raw in f:
        n += 1
        if raw.strip() == b"bye":
            conn.sendall(b"bye, %d records\n" % (n - 1))
            break
        conn.sendall(b"ack %d\n" % n)
    conn.close()


BINARY_MAGIC = b"\xb7\x1d\x9e\x04"


def binary_blob(seed, size):
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(size))


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def binary_server(host, port):
    conn = listen_one(host, port)
    recv_exact(conn, 4 + 300)
    conn.sendall(BINARY_MAGIC + binary_blob(7, 60))
    recv_exact(conn, 4 + 200)
    conn.sendall(BINARY_MAGIC + binary_blob(8, 40))
    conn.close()


# ---------------------------------------------------------------- clients
def smtp_client(host, port, user, password, *rest):
    import smtplib
    msg = ("From: alice@bulkhead.test\r\nTo: bob@bulkhead.test\r\n"
           "Subject: Bulkhead test\r\n\r\nHello from the Bulkhead capture corpus.\r\n")
    s = smtplib.SMTP(host, int(port), local_hostname="client.test", timeout=10)
    s.ehlo()
    if rest and rest[0] == "--starttls":
        ctx = ssl.create_default_context(cafile=rest[1])
        ctx.keylog_filename = rest[2]
        s.starttls(context=ctx)
        s.ehlo()
    s.login(user, password)
    s.sendmail("alice@bulkhead.test", ["bob@bulkhead.test"], msg)
    s.quit()


def ftp_client(host, port, user, password):
    import ftplib
    f = ftplib.FTP(timeout=10)
    f.connect(host, int(port))
    f.login(user, password)
    f.pwd()
    f.quit()


def connect(host, port):
    return socket.create_connection((host, int(port)), timeout=10)


def memcached_client(host, port):
    s = connect(host, port)
    f = s.makefile("rb")
    s.sendall(b"set greeting 0 0 14\r\nhello bulkhead\r\n")
    f.readline()                      # STORED
    s.sendall(b"get greeting\r\n")
    while f.readline() not in (b"END\r\n", b""):
        pass
    s.sendall(b"quit\r\n")
    f.read()
    s.close()


def line_client(host, port):
    s = connect(host, port)
    f = s.makefile("rb")
    for rec in (b"sensor-7 temperature=21.5 humidity=40 unit=celsius\n",
                b"sensor-7 temperature=21.7 humidity=41 unit=celsius\n",
                b"bye\n"):
        s.sendall(rec)
        f.readline()
    s.close()


def binary_client(host, port):
    s = connect(host, port)
    s.sendall(BINARY_MAGIC + binary_blob(5, 300))
    recv_exact(s, 64)
    s.sendall(BINARY_MAGIC + binary_blob(6, 200))
    recv_exact(s, 44)
    s.close()


# ---------------------------------------------------------------- proxies
# The SOCKS proxy of the tunnel captures (HTTP CONNECT is tinyproxy's). It
# speaks SOCKS 4, 4a and 5 (no auth or RFC 1929 username/password), chosen by
# the client's first byte. It connects ONLY to the addresses listed in ALLOW
# (name=address pairs; names resolve through that list alone), so a tunnel can
# never lead out of the capture namespaces.

def recv_until(sock, marker, limit=16384):
    data = b""
    while marker not in data:
        chunk = sock.recv(1)
        if not chunk or len(data) > limit:
            raise ConnectionError("peer closed before %r" % marker)
        data += chunk
    return data


def relay(a, b):
    socks = [a, b]
    while True:
        r, _, _ = select.select(socks, [], [], 10)
        if not r:
            return
        for s in r:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


def proxy(host, port, count, allow, *options):
    allowed = {}
    for pair in allow.split(","):
        name, _, address = pair.partition("=")
        allowed[name] = address
        allowed[address] = address
    socks_user = None
    opts = list(options)
    while opts:
        flag, value = opts.pop(0), opts.pop(0)
        if flag == "--socks-user":
            socks_user = value
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(4)
    for _ in range(int(count)):
        conn, _ = ls.accept()
        try:
            proxy_one(conn, allowed, socks_user)
        except (ConnectionError, OSError, ValueError) as error:
            print("proxy:", error, file=sys.stderr, flush=True)
        finally:
            conn.close()
    ls.close()


def open_upstream(allowed, name, port):
    address = allowed.get(name)
    if address is None:
        return None
    return socket.create_connection((address, port), timeout=5)


def proxy_one(conn, allowed, socks_user):
    first = recv_exact(conn, 1)
    if first == b"\x04":
        command, port = struct.unpack("!BH", recv_exact(conn, 3))
        address = socket.inet_ntoa(recv_exact(conn, 4))
        recv_until(conn, b"\0", 255)                       # USERID
        name = address
        if address.startswith("0.0.0.") and address != "0.0.0.0":
            name = recv_until(conn, b"\0", 255)[:-1].decode()  # SOCKS 4a host name
        upstream = open_upstream(allowed, name, port) if command == 1 else None
        conn.sendall(struct.pack("!BBH4s", 0, 90 if upstream else 91, 0, b"\0\0\0\0"))
    elif first == b"\x05":
        methods = recv_exact(conn, recv_exact(conn, 1)[0])
        wanted = 2 if socks_user else 0
        if wanted not in methods:
            conn.sendall(b"\x05\xff")
            return
        conn.sendall(bytes([5, wanted]))
        if socks_user:
            version, ulen = recv_exact(conn, 2)
            user = recv_exact(conn, ulen)
            password = recv_exact(conn, recv_exact(conn, 1)[0])
            ok = version == 1 and (user + b":" + password).decode() == socks_user
            conn.sendall(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                return
        _, command, _, atyp = recv_exact(conn, 4)
        if atyp == 1:
            name = socket.inet_ntoa(recv_exact(conn, 4))
        elif atyp == 3:
            name = recv_exact(conn, recv_exact(conn, 1)[0]).decode()
        else:
            name = socket.inet_ntop(socket.AF_INET6, recv_exact(conn, 16))
        port = struct.unpack("!H", recv_exact(conn, 2))[0]
        upstream = open_upstream(allowed, name, port) if command == 1 else None
        if upstream is None:
            conn.sendall(b"\x05\x02\x00\x01\0\0\0\0\0\0")     # not allowed by ruleset
            return
        bound_address, bound_port = upstream.getsockname()[:2]
        conn.sendall(b"\x05\x00\x00\x01" + socket.inet_aton(bound_address) + struct.pack("!H", bound_port))
    else:
        raise ValueError("not a SOCKS request")
    if upstream is None:
        return
    with upstream:
        relay(conn, upstream)


# ---------------------------------------------------------------- XMPP / IRC STARTTLS peers
def tls_server_context(cert, key, cafile=None, require_cert=False, maximum=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if maximum == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if require_cert:
        ctx.load_verify_locations(cafile)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def xmpp_server(host, port, cert, key, cafile, *options):
    conn = listen_one(host, port)
    header = recv_until(conn, b">", 4096)
    while b"<stream:stream" not in header:                 # skip an XML declaration
        header += recv_until(conn, b">", 4096)
    namespace = "jabber:server" if b"jabber:server" in header else "jabber:client"
    dialback = " xmlns:db='jabber:server:dialback'" if namespace == "jabber:server" else ""
    conn.sendall(("<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='http://etherx.jabber.org/streams'%s"
                  " id='bh-1' from='server.test' version='1.0'><stream:features>"
                  "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
                  "%s</stream:features>" % (namespace, dialback, "<dialback xmlns='urn:xmpp:features:dialback'/>" if dialback else "")).encode())
    recv_until(conn, b"/>", 4096)                           # <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>
    conn.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    require = "--require-cert" in options
    ctx = tls_server_context(cert, key, cafile, require, "1.2" if "--tls1_2" in options else None)
    tls = ctx.wrap_socket(conn, server_side=True)
    data = tls.recv(4096)                                   # the client's new stream header (or nothing)
    if data:
        tls.sendall(b"<?xml version='1.0'?><stream:stream xmlns='" + namespace.encode()
                    + b"' xmlns:stream='http://etherx.jabber.org/streams' id='bh-2' from='server.test' version='1.0'>"
                    + b"<stream:features/></stream:stream>")
    tls.close()


def irc_server(host, port, cert, key):
    conn = listen_one(host, port)
    io = Lines(conn)
    while True:
        line = io.readline()
        if not line:
            return
        if line.upper() == "STARTTLS":
            io.send(":irc.server.test 670 * :STARTTLS successful, go ahead with TLS handshake")
            break
        if line.upper().startswith("CAP LS"):
            io.send(":irc.server.test CAP * LS :tls")
    tls = tls_server_context(cert, key).wrap_socket(conn, server_side=True)
    io = Lines(tls)
    io.send(":irc.server.test NOTICE * :*** Bulkhead test IRC server")
    line = io.readline()
    if line:
        io.send(":irc.server.test 451 * :You have not registered")
    tls.close()


COMMANDS = {
    "proxy": proxy,
    "xmpp-server": xmpp_server,
    "irc-server": irc_server,
    "vlan-trunk": vlan_trunk,
    "smtp-server": smtp_server,
    "ftp-server": ftp_server,
    "line-server": line_server,
    "binary-server": binary_server,
    "smtp-client": smtp_client,
    "ftp-client": ftp_client,
    "memcached-client": memcached_client,
    "line-client": line_client,
    "binary-client": binary_client,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
