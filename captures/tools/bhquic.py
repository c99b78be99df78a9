#!/usr/bin/env python3
"""bhquic.py — QUIC peers for the capture corpus (make-quic-captures.sh), on aioquic (PyPI).

A one-connection server and a client speaking HTTP/0.9 over QUIC (ALPN `hq-interop`, the QUIC interop
runner's protocol): the client sends `GET /PATH\\r\\n` on a bidirectional stream, the server answers with a short
body and ends the stream, the client closes the connection. Both bind only the addresses given.

  bhquic.py server --listen ADDR --port N --cert server.pem --key server.key
                   [--alpn hq-interop] [--request-client-cert | --require-client-cert] [--retry] [--version 1|2]
  bhquic.py client --connect ADDR --port N --server-name NAME --cafile ca.pem
                   [--alpn hq-interop] [--cert client.pem --key client.key] [--version 1|2] [--keylog FILE]
                   [--requests N]   (N requests one after the other on the connection, each on its own stream)

`--request-client-cert` makes the server send a CertificateRequest: aioquic has no public setting for it, only
`tls.Context._request_client_certificate` ("for test purposes only"), which is set on every context made. The
server does not verify the client's chain (aioquic does not), so a certificate presented is accepted: what the
captures show is what crossed the wire (requested, presented or declined), not a trust decision.
`--require-client-cert` also refuses a client that sends none: the TLS alert certificate_required (116), which
QUIC sends as a CONNECTION_CLOSE with crypto error 0x174 after the client's Finished.

The client exits 0 when it read the whole answer, 3 when the connection was closed before (a refusal).
"""

import argparse
import asyncio
import ssl
import sys

from aioquic.asyncio import QuicConnectionProtocol, connect, serve
from aioquic.quic import events
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.packet import QuicProtocolVersion
from aioquic import tls

VERSIONS = {"1": QuicProtocolVersion.VERSION_1, "2": QuicProtocolVersion.VERSION_2}
BODY = b"hello from the quic server\n"


class HQServer(QuicConnectionProtocol):
    """Answers each request stream with BODY; ends the process's wait once the connection ends."""

    done: asyncio.Event

    def quic_event_received(self, event):
        if isinstance(event, events.StreamDataReceived) and event.end_stream:
            self._quic.send_stream_data(event.stream_id, BODY, end_stream=True)
            self.transmit()
        elif isinstance(event, events.ConnectionTerminated):
            HQServer.done.set()


class HQClient(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.answer = bytearray()
        self.finished = asyncio.get_event_loop().create_future()

    def quic_event_received(self, event):
        if isinstance(event, events.StreamDataReceived):
            self.answer += event.data
            if event.end_stream and not self.finished.done():
                self.finished.set_result(True)
        elif isinstance(event, events.ConnectionTerminated) and not self.finished.done():
            self.finished.set_result(False)

    async def fetch(self, path):
        """One request on a new stream; True when its whole answer came."""
        self.finished = asyncio.get_event_loop().create_future()
        stream = self._quic.get_next_available_stream_id()
        self._quic.send_stream_data(stream, b"GET " + path + b"\r\n", end_stream=True)
        self.transmit()
        return await asyncio.wait_for(self.finished, timeout=10)


async def run_server(args):
    configuration = QuicConfiguration(is_client=False, alpn_protocols=[args.alpn], idle_timeout=5.0)
    configuration.load_cert_chain(args.cert, args.key)
    configuration.supported_versions = [VERSIONS[args.version]]
    if args.request_client_cert or args.require_client_cert:
        original = tls.Context.__init__

        def requesting(self, *a, **k):
            original(self, *a, **k)
            self._request_client_certificate = True

        tls.Context.__init__ = requesting
    if args.require_client_cert:
        class AlertCertificateRequired(tls.Alert):
            description = tls.AlertDescription.certificate_required

        accept = tls.Context._server_handle_certificate

        def requiring(self, input_buf):
            start = input_buf.tell()
            if not tls.pull_certificate(input_buf).certificates:
                raise AlertCertificateRequired("the client sent no certificate")
            input_buf.seek(start)
            accept(self, input_buf)

        tls.Context._server_handle_certificate = requiring
    HQServer.done = asyncio.Event()
    server = await serve(args.listen, args.port, configuration=configuration, create_protocol=HQServer,
                         retry=args.retry)
    print("listening", flush=True)
    try:
        await asyncio.wait_for(HQServer.done.wait(), timeout=30)
        await asyncio.sleep(0.3)  # let the last packets of the closing connection out
    finally:
        server.close()


async def run_client(args):
    configuration = QuicConfiguration(is_client=True, alpn_protocols=[args.alpn], idle_timeout=5.0,
                                      server_name=args.server_name)
    configuration.load_verify_locations(cafile=args.cafile)
    configuration.verify_mode = ssl.CERT_REQUIRED
    configuration.supported_versions = [VERSIONS[args.version]]
    if args.cert:
        configuration.load_cert_chain(args.cert, args.key)
    keylog = open(args.keylog, "a") if args.keylog else None
    configuration.secrets_log_file = keylog
    try:
        async with connect(args.connect, args.port, configuration=configuration, create_protocol=HQClient,
                           wait_connected=True) as client:
            complete = await client.fetch(b"/index.html")
            # More requests on the same connection, a little apart: 1-RTT packets each way after the handshake.
            for number in range(1, args.requests):
                await asyncio.sleep(0.05)
                complete = complete and await client.fetch(b"/page-%d.html" % number)
            sys.stdout.write(client.answer.decode("utf-8", "replace"))
            client.close()
            await client.wait_closed()
            return 0 if complete else 3
    except ConnectionError as error:
        print(f"connection refused: {error}", file=sys.stderr)
        return 3
    finally:
        if keylog:
            keylog.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role", required=True)
    server = sub.add_parser("server")
    server.add_argument("--listen", required=True)
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--cert", required=True)
    server.add_argument("--key", required=True)
    server.add_argument("--alpn", default="hq-interop")
    server.add_argument("--request-client-cert", action="store_true")
    server.add_argument("--require-client-cert", action="store_true")
    server.add_argument("--retry", action="store_true")
    server.add_argument("--version", choices=VERSIONS, default="1")
    client = sub.add_parser("client")
    client.add_argument("--connect", required=True)
    client.add_argument("--port", type=int, required=True)
    client.add_argument("--server-name", required=True)
    client.add_argument("--cafile", required=True)
    client.add_argument("--alpn", default="hq-interop")
    client.add_argument("--cert")
    client.add_argument("--key")
    client.add_argument("--version", choices=VERSIONS, default="1")
    client.add_argument("--keylog")
    client.add_argument("--requests", type=int, default=1)
    args = parser.parse_args()
    if args.role == "server":
        asyncio.run(run_server(args))
        return 0
    return asyncio.run(run_client(args))


if __name__ == "__main__":
    sys.exit(main())
