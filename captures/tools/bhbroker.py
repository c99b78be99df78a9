#!/usr/bin/env python3
"""bhbroker.py — real message-broker clients for the capture corpus (make-broker-captures.sh).

    bhbroker.py nats  --server nats://H:P [--user U --password P | --token T]
                      [--cafile CA [--cert C --key K] --server-name N --keylog FILE]
    bhbroker.py amqp  --host H --port P --user U --password P --login-method AMQPLAIN|PLAIN
    bhbroker.py amqp10 --host H --port P --user U --password P
    bhbroker.py stomp --host H --port P --user U --password P [--ws-path /ws]   (over a WebSocket with --ws-path)
    bhbroker.py mqtt-ws --host H --port P --path /ws --user U --password P
    bhbroker.py grpc-server --listen H --port P          (answers until killed)
    bhbroker.py grpc-client --host H --port P --token T  (two calls on one h2c connection)
    bhbroker.py graphql-ws-server --listen H --port P [--deflate]  (a stand-in GraphQL subscription endpoint, until
                                                         killed; permessage-deflate agreed with --deflate)
    bhbroker.py graphql-ws-client --host H --port P --token T  (gql: connection_init with the token, one subscription)
    bhbroker.py graphql-ws-browser --host H --port P --token T (Chromium, driven by Selenium: a page's WebSocket)
    bhbroker.py kafka-server --listen H --port P [--handshake-max 0|1] [--authenticate-max 1|2] [--mechanism M]
                                                         (a stand-in Kafka broker's SASL listener, until killed)
    bhbroker.py kafka --host H --port P (--user U --password P | --token T)  (kafka-python: SASL PLAIN or
                                                         OAUTHBEARER, then the topics listed)

Each connects once with the official client library (nats-py, py-amqp, Qpid Proton for AMQP 1.0,
stomp.py, grpcio, paho-mqtt, gql over websockets, Chromium's own WebSocket, kafka-python), publishes one message, reads it back where
the protocol allows, and closes cleanly. Exit 0 on success, 1 on any failure (printed). Throwaway credentials only:
the script passes them in; they never leave the script's own network namespaces.
"""

import argparse
import asyncio
import ssl
import sys


async def nats_client(args):
    import nats

    options = {"servers": [args.server], "connect_timeout": 5, "allow_reconnect": False, "max_reconnect_attempts": 0}
    if args.user:
        options["user"] = args.user
        options["password"] = args.password
    if args.token:
        options["token"] = args.token
    if args.cafile:
        context = ssl.create_default_context(cafile=args.cafile)
        if args.cert:
            context.load_cert_chain(args.cert, args.key)
        if args.keylog:
            context.keylog_filename = args.keylog
        options["tls"] = context
        options["tls_hostname"] = args.server_name
    connection = await nats.connect(**options)
    subscription = await connection.subscribe("bulkhead.test")
    await connection.publish("bulkhead.test", b"hello from the capture corpus")
    message = await subscription.next_msg(timeout=5)
    assert message.data == b"hello from the capture corpus", message.data
    await connection.drain()


def amqp_client(args):
    import amqp

    connection = amqp.Connection(
        host=f"{args.host}:{args.port}", userid=args.user, password=args.password, login_method=args.login_method,
        connect_timeout=5)
    connection.connect()
    channel = connection.channel()
    channel.queue_declare("bulkhead.test", auto_delete=True)
    channel.basic_publish(amqp.Message("hello from the capture corpus"), routing_key="bulkhead.test")
    message = channel.basic_get("bulkhead.test", no_ack=True)
    assert message is not None and message.body in (b"hello from the capture corpus", "hello from the capture corpus")
    channel.close()
    connection.close()


def amqp10_client(args):
    """AMQP 1.0 with SASL PLAIN (which Proton refuses over a connection without TLS unless told it may), to
    RabbitMQ's AMQP 1.0 plugin: a message sent to a queue and read back."""
    from proton import Message
    from proton.utils import BlockingConnection

    connection = BlockingConnection(
        f"amqp://{args.host}:{args.port}", user=args.user, password=args.password, allowed_mechs="PLAIN",
        allow_insecure_mechs=True, timeout=10)
    sender = connection.create_sender("/amq/queue/bulkhead.test")
    sender.send(Message(body="hello from the capture corpus"))
    receiver = connection.create_receiver("/amq/queue/bulkhead.test")
    message = receiver.receive(timeout=10)
    assert message.body == "hello from the capture corpus", message.body
    receiver.accept()
    connection.close()


def stomp_client(args):
    """STOMP 1.2 (stomp.py) to RabbitMQ's STOMP plugin: CONNECT with login and passcode, a message sent to a queue
    and received back, DISCONNECT."""
    import threading

    import stomp

    received = threading.Event()

    class Listener(stomp.ConnectionListener):
        def on_message(self, frame):
            if frame.body == "hello from the capture corpus":
                received.set()

    if args.ws_path:
        # stomp.py's WebSocket transport (websocket-client underneath): the same frames inside WebSocket messages.
        connection = stomp.WSStompConnection([(args.host, args.port)], heartbeats=(0, 0), vhost="/", ws_path=args.ws_path)
    else:
        connection = stomp.Connection12([(args.host, args.port)], heartbeats=(0, 0), vhost="/")
    connection.set_listener("", Listener())
    connection.connect(args.user, args.password, wait=True)
    connection.subscribe("/queue/bulkhead.test", id="1", ack="auto")
    connection.send("/queue/bulkhead.test", "hello from the capture corpus")
    assert received.wait(10), "the message did not come back"
    connection.disconnect()


def mqtt_ws_client(args):
    """MQTT 3.1.1 over a WebSocket (paho-mqtt's websockets transport) to RabbitMQ's Web MQTT plugin: CONNECT with a
    user name and password, one QoS 1 message published and acknowledged, DISCONNECT."""
    import threading

    import paho.mqtt.client as mqtt

    connected = threading.Event()
    published = threading.Event()
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="bh-client-ws", transport="websockets",
        protocol=mqtt.MQTTv311)
    client.ws_set_options(path=args.path)
    client.username_pw_set(args.user, args.password)
    client.on_connect = lambda client, userdata, flags, reason, properties: connected.set()
    client.on_publish = lambda client, userdata, mid, reason, properties: published.set()
    client.connect(args.host, args.port, keepalive=30)
    client.loop_start()
    assert connected.wait(10), "no CONNACK"
    client.publish("bulkhead/test", b"hello from the capture corpus", qos=1)
    assert published.wait(10), "no PUBACK"
    client.disconnect()
    client.loop_stop()


GRPC_SERVICE = "bulkhead.test.Echo"


def grpc_server(args):
    """A gRPC server without TLS (h2c, prior knowledge) whose one method echoes its request's bytes."""
    from concurrent import futures

    import grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(GRPC_SERVICE, {"Say": handler})])
    server.add_insecure_port(f"{args.listen}:{args.port}")
    server.start()
    server.wait_for_termination()


def grpc_client(args):
    """Two calls with a bearer token in the call metadata (`authorization`), over one cleartext connection."""
    import grpc

    with grpc.insecure_channel(f"{args.host}:{args.port}") as channel:
        say = channel.unary_unary(f"/{GRPC_SERVICE}/Say")
        for text in (b"hello from the capture corpus", b"and again"):
            answer = say(text, metadata=(("authorization", f"Bearer {args.token}"),), timeout=10)
            assert answer == text, answer


def graphql_ws_server(args):
    """A stand-in for a GraphQL subscription endpoint (graphql-transport-ws over a WebSocket, without TLS): it acks the
    client's connection_init and answers a subscribe with one `next` and `complete`. What the capture shows is what
    the real client sends. Without --deflate, compression is refused and the messages cross as text; with it, the
    server agrees to the permessage-deflate its clients offer (Python's websockets and browsers offer it by default)."""
    import json

    import websockets.asyncio.server as server

    async def session(connection):
        async for text in connection:
            message = json.loads(text)
            if message.get("type") == "connection_init":
                await connection.send(json.dumps({"type": "connection_ack"}))
            elif message.get("type") == "subscribe":
                data = {"data": {"orderUpdated": {"id": "7", "status": "shipped"}}}
                await connection.send(json.dumps({"id": message["id"], "type": "next", "payload": data}))
                await connection.send(json.dumps({"id": message["id"], "type": "complete"}))

    async def serve():
        async with server.serve(session, args.listen, args.port, subprotocols=["graphql-transport-ws"],
                                compression="deflate" if args.deflate else None):
            await asyncio.Future()

    asyncio.run(serve())


def graphql_ws_client(args):
    """gql's WebSocket transport (graphql-transport-ws): the token in connection_init's payload, as browsers' GraphQL
    clients send it (a WebSocket cannot carry their Authorization header), then one subscription read to its end."""
    from gql import Client, gql
    from gql.transport.websockets import WebsocketsTransport

    transport = WebsocketsTransport(
        url=f"ws://{args.host}:{args.port}/graphql", subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload={"Authorization": f"Bearer {args.token}"})
    client = Client(transport=transport)
    results = list(client.subscribe(gql("subscription { orderUpdated { id status } }")))
    assert results == [{"orderUpdated": {"id": "7", "status": "shipped"}}], results


BROWSER_PAGE = """<!doctype html><title>graphql-ws</title><pre id="log"></pre><script>
const params = new URLSearchParams(location.search);
const socket = new WebSocket(params.get("url"), "graphql-transport-ws");
const log = (text) => { document.getElementById("log").textContent += text + " "; };
socket.onopen = () => socket.send(JSON.stringify(
  {type: "connection_init", payload: {authToken: params.get("token")}}));
socket.onmessage = (event) => {
  const message = JSON.parse(event.data);
  log(message.type);
  if (message.type === "connection_ack") {
    socket.send(JSON.stringify({id: "1", type: "subscribe",
                                payload: {query: "subscription { orderUpdated { id status } }"}}));
  } else if (message.type === "complete") {
    socket.onclose = () => { document.title = "done"; };
    socket.close(1000);
  }
};
socket.onerror = () => { document.title = "error"; };
</script>
"""


def graphql_ws_browser(args):
    """A browser's GraphQL client: Chromium (headless, driven by Selenium through Debian's chromedriver) opens a page
    whose WebSocket sends connection_init with {"authToken": ...}, as Apollo's and graphql-ws's browser clients do
    (a browser's WebSocket cannot carry an Authorization header), subscribes once and closes. Chromium offers
    permessage-deflate on every WebSocket. Its background services are off, and the namespace it runs in routes
    nowhere but the server's link."""
    import os
    import tempfile
    import time

    os.environ["SE_OFFLINE"] = "true"   # Selenium must not look for drivers on the network
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps"):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as directory:
        page = os.path.join(directory, "graphql-ws.html")
        with open(page, "w") as file:
            file.write(BROWSER_PAGE)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(f"file://{page}?url=ws://{args.host}:{args.port}/graphql&token={args.token}")
            deadline = time.monotonic() + 30
            while driver.title not in ("done", "error") and time.monotonic() < deadline:
                time.sleep(0.1)
            messages = driver.find_element("id", "log").text.split()
            assert driver.title == "done" and messages == ["connection_ack", "next", "complete"], \
                (driver.title, messages)
        finally:
            driver.quit()


def kafka_server(args):
    """A stand-in for a Kafka broker's SASL_PLAINTEXT listener, enough for a client to connect, authenticate and ask
    for metadata: ApiVersions (a version above 2 is answered UNSUPPORTED_VERSION with the versions it has, as brokers
    do, and the client asks again), SaslHandshake (version 0: the token then comes as a bare frame; version 1:
    in SaslAuthenticate), SaslAuthenticate (up to version 2, the flexible encoding), and Metadata (itself, no
    topics). It accepts any credentials: what the capture shows is what the real client sends."""
    import socket
    import struct
    import threading

    def s16(value):
        return struct.pack(">h", value)

    def s32(value):
        return struct.pack(">i", value)

    def string(value):
        return s16(-1) if value is None else s16(len(value)) + value.encode()

    def read_exact(connection, count):
        data = b""
        while len(data) < count:
            chunk = connection.recv(count - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    apis = [(18, 0, 2), (17, 0, args.handshake_max), (36, 0, args.authenticate_max), (3, 0, 1)]

    def answer(key, version, bare_token):
        if key == 18:   # ApiVersions
            error = 35 if version > 2 else 0
            payload = s16(error) + s32(len(apis)) + b"".join(s16(k) + s16(low) + s16(high) for k, low, high in apis)
            return payload + (s32(0) if version >= 1 and error == 0 else b"")
        if key == 17:   # SaslHandshake
            return s16(0) + s32(1) + string(args.mechanism)
        if key == 36 and version >= 2:   # SaslAuthenticate, flexible: response header 1 (tagged fields), compact fields
            return b"\x00" + s16(0) + b"\x00" + b"\x01" + struct.pack(">q", 0) + b"\x00"
        if key == 36:
            return s16(0) + string(None) + s32(0) + (struct.pack(">q", 0) if version >= 1 else b"")
        if key == 3:    # Metadata v0/v1: this broker, no topics
            broker = s32(0) + string(args.listen) + s32(args.port) + (string(None) if version >= 1 else b"")
            return s32(1) + broker + (s32(0) if version >= 1 else b"") + s32(0)
        return None

    def session(connection):
        bare_token = False
        try:
            while True:
                size = struct.unpack(">i", read_exact(connection, 4))[0]
                body = read_exact(connection, size)
                if bare_token:   # after a version 0 handshake: the token alone, answered by a bare (empty) token
                    bare_token = False
                    connection.sendall(s32(0))
                    continue
                key, version, correlation = struct.unpack(">hhi", body[:8])
                payload = answer(key, version, bare_token)
                if payload is None:
                    return
                bare_token = key == 17 and version == 0
                response = s32(correlation) + payload
                connection.sendall(s32(len(response)) + response)
        except EOFError:
            pass
        finally:
            connection.close()

    listener = socket.create_server((args.listen, args.port))
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=session, args=(connection,), daemon=True).start()


def kafka_client(args):
    """kafka-python's consumer on a SASL_PLAINTEXT listener: PLAIN with a user and password, or OAUTHBEARER with a
    token; it authenticates on each connection it opens (the bootstrap one and the broker's), then lists the topics."""
    import logging

    from kafka import KafkaConsumer
    from kafka.net.sasl.oauth import AbstractTokenProvider

    logging.basicConfig(level=logging.ERROR)

    class Token(AbstractTokenProvider):
        def token(self):
            return args.token

    options = {"bootstrap_servers": f"{args.host}:{args.port}", "security_protocol": "SASL_PLAINTEXT",
               "request_timeout_ms": 10000}
    if args.token:
        options.update(sasl_mechanism="OAUTHBEARER", sasl_oauth_token_provider=Token())
    else:
        options.update(sasl_mechanism="PLAIN", sasl_plain_username=args.user, sasl_plain_password=args.password)
    consumer = KafkaConsumer(**options)
    assert consumer.topics() == set()
    consumer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    nats_parser = commands.add_parser("nats")
    nats_parser.add_argument("--server", required=True)
    nats_parser.add_argument("--user")
    nats_parser.add_argument("--password")
    nats_parser.add_argument("--token")
    nats_parser.add_argument("--cafile")
    nats_parser.add_argument("--cert")
    nats_parser.add_argument("--key")
    nats_parser.add_argument("--server-name", default="server.test")
    nats_parser.add_argument("--keylog")
    amqp_parser = commands.add_parser("amqp")
    amqp_parser.add_argument("--host", required=True)
    amqp_parser.add_argument("--port", type=int, default=5672)
    amqp_parser.add_argument("--user", required=True)
    amqp_parser.add_argument("--password", required=True)
    amqp_parser.add_argument("--login-method", default="AMQPLAIN", choices=["AMQPLAIN", "PLAIN"])
    amqp10_parser = commands.add_parser("amqp10")
    amqp10_parser.add_argument("--host", required=True)
    amqp10_parser.add_argument("--port", type=int, default=5672)
    amqp10_parser.add_argument("--user", required=True)
    amqp10_parser.add_argument("--password", required=True)
    stomp_parser = commands.add_parser("stomp")
    stomp_parser.add_argument("--host", required=True)
    stomp_parser.add_argument("--port", type=int, default=61613)
    stomp_parser.add_argument("--user", required=True)
    stomp_parser.add_argument("--password", required=True)
    stomp_parser.add_argument("--ws-path")
    mqtt_ws_parser = commands.add_parser("mqtt-ws")
    mqtt_ws_parser.add_argument("--host", required=True)
    mqtt_ws_parser.add_argument("--port", type=int, default=15675)
    mqtt_ws_parser.add_argument("--path", default="/ws")
    mqtt_ws_parser.add_argument("--user", required=True)
    mqtt_ws_parser.add_argument("--password", required=True)
    grpc_server_parser = commands.add_parser("grpc-server")
    grpc_server_parser.add_argument("--listen", required=True)
    grpc_server_parser.add_argument("--port", type=int, default=50051)
    grpc_client_parser = commands.add_parser("grpc-client")
    grpc_client_parser.add_argument("--host", required=True)
    grpc_client_parser.add_argument("--port", type=int, default=50051)
    grpc_client_parser.add_argument("--token", required=True)
    graphql_server_parser = commands.add_parser("graphql-ws-server")
    graphql_server_parser.add_argument("--listen", required=True)
    graphql_server_parser.add_argument("--port", type=int, default=4000)
    graphql_server_parser.add_argument("--deflate", action="store_true")
    graphql_client_parser = commands.add_parser("graphql-ws-client")
    graphql_client_parser.add_argument("--host", required=True)
    graphql_client_parser.add_argument("--port", type=int, default=4000)
    graphql_client_parser.add_argument("--token", required=True)
    graphql_browser_parser = commands.add_parser("graphql-ws-browser")
    graphql_browser_parser.add_argument("--host", required=True)
    graphql_browser_parser.add_argument("--port", type=int, default=4000)
    graphql_browser_parser.add_argument("--token", required=True)
    kafka_server_parser = commands.add_parser("kafka-server")
    kafka_server_parser.add_argument("--listen", required=True)
    kafka_server_parser.add_argument("--port", type=int, default=9092)
    kafka_server_parser.add_argument("--handshake-max", type=int, choices=[0, 1], default=1)
    kafka_server_parser.add_argument("--authenticate-max", type=int, choices=[1, 2], default=1)
    kafka_server_parser.add_argument("--mechanism", default="PLAIN")
    kafka_parser = commands.add_parser("kafka")
    kafka_parser.add_argument("--host", required=True)
    kafka_parser.add_argument("--port", type=int, default=9092)
    kafka_parser.add_argument("--user")
    kafka_parser.add_argument("--password")
    kafka_parser.add_argument("--token")
    args = parser.parse_args()
    try:
        if args.command == "nats":
            asyncio.run(nats_client(args))
        elif args.command == "amqp10":
            amqp10_client(args)
        elif args.command == "stomp":
            stomp_client(args)
        elif args.command == "mqtt-ws":
            mqtt_ws_client(args)
        elif args.command == "grpc-server":
            grpc_server(args)
        elif args.command == "grpc-client":
            grpc_client(args)
        elif args.command == "graphql-ws-server":
            graphql_ws_server(args)
        elif args.command == "graphql-ws-client":
            graphql_ws_client(args)
        elif args.command == "graphql-ws-browser":
            graphql_ws_browser(args)
        elif args.command == "kafka-server":
            kafka_server(args)
        elif args.command == "kafka":
            kafka_client(args)
        else:
            amqp_client(args)
    except Exception as error:  # the script reports the failure and its exit code
        print(f"bhbroker {args.command}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
