#!/usr/bin/env python3
"""Real TLS peers that behave the ways real servers do, for the mTLS battery tests.

Every mode listens on 127.0.0.1 (an ephemeral port unless --port is given), prints "port N" once it listens,
and serves until killed. Only the standard library; every socket is on loopback.

Modes:
  http             Python's ssl module; --verify required|optional|none; answers HTTP/1.1 200 to a request.
                   --no-check-time: certificates are verified but their dates are not (an expired client certificate
                   from the right CA is served). --clear-refusal TEXT: a connection that does not start with a TLS
                   record gets TEXT in clear and a close (a server that requires TLS and says so).
  close-no-alert   Verifies client certificates (required) but never sends an alert: on any failure it closes
                   TCP right after the handshake (TLS 1.3: after the client's Finished), like servers that drop
                   what they do not like. A valid certificate gets HTTP 200.
  proxy            A TCP front for --backend PORT (repeatable): each connection goes to one backend picked at
                   random (a load balancer with one misconfigured backend accepts sometimes). With --plain-400,
                   a connection that does not start with a TLS record gets "HTTP/1.1 400" in clear (Go's answer
                   to plain HTTP on a TLS port).
  smtp             SMTP with STARTTLS; --verify required|none after the upgrade; --clear-ok serves MAIL FROM
                   without STARTTLS (STARTTLS optional), else 530.
  imap, pop3, ftp  The same for IMAP (STARTTLS; LOGINDISABLED in clear unless --clear-ok), POP3 (STLS; USER refused
                   in clear unless --clear-ok) and FTP (AUTH TLS; USER refused in clear unless --clear-ok).
  garbage          Sends an endless stream of random bytes to every connection.
  stall            Accepts and reads, never answers.
  endless          TLS without client auth; after the handshake, an endless stream of application data.
  big-chain        TLS without client auth, sending --chain FILE (a chain of about 1 MB).
  renegotiate      openssl s_server -tls1_2 -Verify 1 (accepts any certificate) told on its stdin, every 20 ms
                   while a connection is up, to renegotiate: every connection gets HelloRequests after the handshake.
  post-handshake   TLS 1.3 whose handshake asks for no certificate: once the request is read, the server asks for one
                   (post-handshake authentication, as Apache's SSLVerifyClient in a <Location> does), verifies it
                   (--verify required|optional) and answers HTTP 200; a client that cannot do post-handshake
                   authentication gets "HTTP/1.1 403" (Apache's answer).
"""
import subprocess
import time
import argparse
import os
import random
import socket
import ssl
import struct
import sys
import threading


def listen(port):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(128)
    print("port", server.getsockname()[1], flush=True)
    return server


def serve(server, handler):
    while True:
        connection, _ = server.accept()
        threading.Thread(target=guarded, args=(handler, connection), daemon=True).start()


def guarded(handler, connection):
    try:
        connection.settimeout(20)
        handler(connection)
    except (OSError, ssl.SSLError, ValueError):
        pass
    finally:
        try:
            connection.close()
        except OSError:
            pass


def context(args, verify):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.tls == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif args.tls == "1.3":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if verify != "none":
        ctx.load_verify_locations(args.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED if verify == "required" else ssl.CERT_OPTIONAL
        if getattr(args, "no_check_time", False):
            ctx.verify_flags |= 0x200000  # X509_V_FLAG_NO_CHECK_TIME
    return ctx


def read_request(stream):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = stream.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def answer_http(stream):
    if read_request(stream):
        stream.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")


def mode_http(args):
    ctx = context(args, args.verify)

    def handler(connection):
        if args.clear_refusal is not None:
            first = connection.recv(1, socket.MSG_PEEK)
            if first and first != b"\x16":
                connection.sendall(args.clear_refusal.encode() + b"\r\n")
                return
        with ctx.wrap_socket(connection, server_side=True) as stream:
            answer_http(stream)

    serve(listen(args.port), handler)


def mode_close_no_alert(args):
    ctx = context(args, "required")

    def handler(connection):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = outgoing.read()
                if pending:
                    connection.sendall(pending)
                data = connection.recv(16384)
                if not data:
                    return
                incoming.write(data)
            except ssl.SSLError:
                # The certificate is refused, and the alert OpenSSL prepared is never sent: TCP just closes.
                return
        pending = outgoing.read()
        if pending:
            connection.sendall(pending)
        request = b""
        while b"\r\n\r\n" not in request:
            try:
                request += tls.read(4096)
            except ssl.SSLWantReadError:
                data = connection.recv(16384)
                if not data:
                    return
                incoming.write(data)
            except ssl.SSLError:
                return
        tls.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
        connection.sendall(outgoing.read())

    serve(listen(args.port), handler)


def pump(source, destination):
    try:
        while True:
            data = source.recv(16384)
            if not data:
                break
            destination.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, destination):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def mode_proxy(args):
    backends = [int(port) for port in args.backend]

    def handler(connection):
        if args.plain_400:
            first = connection.recv(1, socket.MSG_PEEK)
            if first and first[0] != 0x16:
                read_request(connection)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                                   b"Client sent an HTTP request to an HTTPS server.\n")
                return
        upstream = socket.create_connection(("127.0.0.1", random.choice(backends)))
        connection.settimeout(None)
        thread = threading.Thread(target=pump, args=(upstream, connection), daemon=True)
        thread.start()
        pump(connection, upstream)
        thread.join(20)
        upstream.close()

    serve(listen(args.port), handler)


def mode_smtp(args):
    ctx = context(args, args.verify)

    def line(stream):
        data = b""
        while not data.endswith(b"\n") and len(data) < 4096:
            chunk = stream.recv(1)
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data.decode("latin-1").strip()

    def handler(connection):
        stream = connection
        stream.sendall(b"220 bulkhead-test ESMTP ready\r\n")
        upgraded = False
        while True:
            command = line(stream).upper()
            if command.startswith("EHLO") or command.startswith("HELO"):
                if upgraded:
                    stream.sendall(b"250-bulkhead-test\r\n250 AUTH PLAIN\r\n")
                else:
                    stream.sendall(b"250-bulkhead-test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
            elif command == "STARTTLS" and not upgraded:
                stream.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                stream = ctx.wrap_socket(connection, server_side=True)
                upgraded = True
            elif command.startswith("MAIL FROM"):
                if upgraded or args.clear_ok:
                    stream.sendall(b"250 2.1.0 Ok\r\n")
                else:
                    stream.sendall(b"530 5.7.0 Must issue a STARTTLS command first\r\n")
            elif command == "QUIT":
                stream.sendall(b"221 Bye\r\n")
                return
            else:
                stream.sendall(b"502 5.5.2 Error: command not recognized\r\n")

    serve(listen(args.port), handler)


def read_line(stream):
    data = b""
    while not data.endswith(b"\n") and len(data) < 4096:
        chunk = stream.recv(1)
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data.decode("latin-1").strip()


def line_protocol(args, greeting, upgrade, answer):
    """A line protocol with a cleartext upgrade: `upgrade(command)` returns the reply that starts TLS (or None);
    `answer(command, upgraded)` the reply to anything else (None closes)."""
    ctx = context(args, args.verify)

    def handler(connection):
        stream = connection
        stream.sendall(greeting)
        upgraded = False
        while True:
            command = read_line(stream)
            reply = None if upgraded else upgrade(command)
            if reply is not None:
                stream.sendall(reply)
                stream = ctx.wrap_socket(connection, server_side=True)
                upgraded = True
                continue
            reply = answer(command, upgraded)
            if reply is None:
                return
            stream.sendall(reply)

    serve(listen(args.port), handler)


def mode_imap(args):
    def upgrade(command):
        tag, _, verb = command.partition(" ")
        return f"{tag} OK Begin TLS negotiation now\r\n".encode() if verb.upper() == "STARTTLS" else None

    def answer(command, upgraded):
        tag, _, verb = command.partition(" ")
        if verb.upper() == "CAPABILITY":
            extra = "" if upgraded or args.clear_ok else " STARTTLS LOGINDISABLED"
            return f"* CAPABILITY IMAP4rev1{extra}\r\n{tag} OK CAPABILITY completed\r\n".encode()
        return f"{tag} BAD unknown command\r\n".encode()

    line_protocol(args, b"* OK IMAP4rev1 bulkhead-test ready\r\n", upgrade, answer)


def mode_pop3(args):
    def answer(command, upgraded):
        verb = command.split(" ")[0].upper()
        if verb == "CAPA":
            return b"+OK Capability list follows\r\nUSER\r\n.\r\n"
        if verb == "USER":
            return b"+OK send PASS\r\n" if upgraded or args.clear_ok else b"-ERR Command not permitted before STLS\r\n"
        return b"-ERR unknown command\r\n"

    line_protocol(args, b"+OK POP3 bulkhead-test ready\r\n",
                  lambda command: b"+OK Begin TLS negotiation\r\n" if command.upper() == "STLS" else None, answer)


def mode_ftp(args):
    def answer(command, upgraded):
        verb = command.split(" ")[0].upper()
        if verb == "FEAT":
            return b"211-Features:\r\n UTF8\r\n211 End\r\n"
        if verb == "USER":
            return b"331 Please specify the password.\r\n" if upgraded or args.clear_ok else b"530 Non-anonymous sessions must use encryption.\r\n"
        return b"500 Unknown command.\r\n"

    line_protocol(args, b"220 bulkhead-test FTP ready\r\n",
                  lambda command: b"234 Proceed with negotiation.\r\n" if command.upper() == "AUTH TLS" else None, answer)


def mode_garbage(args):
    def handler(connection):
        noise = os.urandom(65536)
        for _ in range(4096):  # 256 MiB at the most, then close
            connection.sendall(noise)

    serve(listen(args.port), handler)


def mode_stall(args):
    def handler(connection):
        connection.settimeout(60)
        while connection.recv(4096):
            pass

    serve(listen(args.port), handler)


def mode_endless(args):
    ctx = context(args, "none")

    def handler(connection):
        with ctx.wrap_socket(connection, server_side=True) as stream:
            noise = b"x" * 65536
            for _ in range(4096):
                stream.sendall(noise)

    serve(listen(args.port), handler)


def mode_renegotiate(args):
    port = args.port or free_port()
    # Not -quiet: only then does s_server read "r" on its stdin as a command (renegotiate) rather than data to send.
    server = subprocess.Popen(["openssl", "s_server", "-tls1_2", "-accept", f"127.0.0.1:{port}", "-cert", args.cert,
                               "-key", args.key, "-CAfile", args.ca, "-Verify", "1"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              preexec_fn=die_with_parent)
    connected = threading.Event()

    def watch():
        # s_server serves one connection at a time: "CIPHER is" follows each handshake, "ACCEPT" each end. A command
        # written while no connection is up would be read during the next handshake, so they go only in between.
        for line in server.stdout:
            if b"CIPHER is" in line:
                connected.set()
            elif line.startswith(b"ACCEPT"):
                connected.clear()

    threading.Thread(target=watch, daemon=True).start()
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    print("port", port, flush=True)
    try:
        while server.poll() is None:
            if connected.wait(0.1):
                server.stdin.write(b"r\n")
                server.stdin.flush()
                time.sleep(0.02)
    finally:
        server.kill()


def mode_post_handshake(args):
    ctx = context(args, args.verify)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.post_handshake_auth = True

    def handler(connection):
        with ctx.wrap_socket(connection, server_side=True) as stream:
            if not read_request(stream):
                return
            try:
                stream.verify_client_post_handshake()
            except ssl.SSLError:
                # The client did not offer post-handshake authentication.
                stream.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\nConnection: close\r\n\r\nForbidden\n")
                return
            # do_handshake sends the CertificateRequest; the client's answer is processed by the next read, which
            # raises (and OpenSSL sends its alert) when the certificate is missing or fails. A client that answered
            # well has nothing more to send: the read then times out, and only then is the request answered.
            stream.do_handshake()
            stream.settimeout(0.2)
            try:
                stream.recv(1)
            except socket.timeout:
                pass
            stream.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")

    serve(listen(args.port), handler)


def die_with_parent():
    """The test kills this script with SIGKILL: PR_SET_DEATHSIG makes the child s_server go with it."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


def free_port():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ca")
    parser.add_argument("--chain")
    parser.add_argument("--tls", choices=["1.2", "1.3", "any"], default="any")
    parser.add_argument("--verify", choices=["required", "optional", "none"], default="required")
    parser.add_argument("--backend", action="append", default=[])
    parser.add_argument("--plain-400", action="store_true")
    parser.add_argument("--clear-ok", action="store_true")
    parser.add_argument("--no-check-time", action="store_true")
    parser.add_argument("--clear-refusal")
    args = parser.parse_args()
    if args.mode == "big-chain":
        args.cert = args.chain
        mode_endless_chain(args)
        return
    modes = {
        "http": mode_http, "close-no-alert": mode_close_no_alert, "proxy": mode_proxy, "smtp": mode_smtp,
        "garbage": mode_garbage, "stall": mode_stall, "endless": mode_endless, "renegotiate": mode_renegotiate,
        "post-handshake": mode_post_handshake,
        "imap": mode_imap, "pop3": mode_pop3, "ftp": mode_ftp,
    }
    if args.mode not in modes:
        sys.exit("unknown mode " + args.mode)
    modes[args.mode](args)


def mode_endless_chain(args):
    ctx = context(args, "none")

    def handler(connection):
        with ctx.wrap_socket(connection, server_side=True) as stream:
            answer_http(stream)

    serve(listen(args.port), handler)


if __name__ == "__main__":
    main()
