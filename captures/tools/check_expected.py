#!/usr/bin/env python3
"""Cross-check captures/expected/*.json against what tshark sees in the captures.

The expected files are written from the ground truth of how each capture was
made (see make-captures.sh); this script only confirms that the captures still
show it after a regeneration: flow count and endpoints, TLS version, cipher, SNI,
ALPN, HelloRetryRequest, CertificateRequest / client Certificate, alerts,
certificate subjects/issuers/SANs/key types (via openssl on the DER that tshark
extracts), and snaplen truncation.

Two kinds of expected file:

  expected/NAME.json          analysis WITHOUT keys.  tshark runs without keys for
                              everything that is visible on the wire; the ground
                              truth behind the TLS 1.3 "likely-*" states comes from
                              tshark decrypting with keys/NAME.keys.
  expected/NAME[.x].keylog.json
                              analysis WITH the key logs listed in its top-level
                              "keylog" (paths relative to captures/; [] = only the
                              secrets embedded in a pcapng Decryption Secrets Block).
                              tshark runs with exactly those keys, so "decrypted",
                              the exact client-certificate state, the decrypted
                              certificate chains, ALPN and alerts are checked
                              against what those keys can decrypt.

It also checks that every keys/NAME.keys belongs to a capture and has a
NAME.keylog.json, that no client random of keys/unrelated.keys occurs in any
capture, and that keys/malformed.keys holds no well-formed key log entry.

  python3 captures/tools/check_expected.py [NAME.pcap ...]

Exit status 0 when everything matches.  Needs tshark and openssl.
"""
import base64
import glob
import json
import os
import re
import urllib.parse
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPECTED = os.path.join(HERE, "expected")
KEYS = os.path.join(HERE, "keys")

CIPHERS = {
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}
ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
    40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
    86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation",
    109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 115: "unknown_psk_identity",
    116: "certificate_required", 120: "no_application_protocol",
}
ALERT_LEVELS = {1: "warning", 2: "fatal"}
# ServerHello.random of a HelloRetryRequest (RFC 8446, 4.1.3)
HRR_RANDOM = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
# NSS key log labels and their secret lengths in bytes
KEYLOG_LABELS = {
    "CLIENT_RANDOM": (48,),
    "CLIENT_EARLY_TRAFFIC_SECRET": (32, 48), "CLIENT_HANDSHAKE_TRAFFIC_SECRET": (32, 48),
    "SERVER_HANDSHAKE_TRAFFIC_SECRET": (32, 48), "CLIENT_TRAFFIC_SECRET_0": (32, 48),
    "SERVER_TRAFFIC_SECRET_0": (32, 48), "EARLY_EXPORTER_SECRET": (32, 48), "EXPORTER_SECRET": (32, 48),
}
NEGATIVE_KEYS = {"unrelated.keys", "malformed.keys"}
# decode-as for services on ports tshark would not guess
DECODE_AS = ["-d", "tcp.port==2525,smtp", "-d", "tcp.port==8081,http2", "-d", "tcp.port==50051,http2", "-d", "tcp.port==2379,http2", "-d", "tcp.port==6380,resp",
             "-d", "tcp.port==8443,tls", "-d", "tcp.port==9000,tls",
             # tshark's IRC dissector does not follow STARTTLS; its TLS dissector finds the records after the lines
             "-d", "tcp.port==6667,tls",
             # RabbitMQ's Web MQTT and Web STOMP (HTTP upgraded to WebSocket): tshark unmasks the frames
             "-d", "tcp.port==15675,http", "-d", "tcp.port==15674,http",
             # the GraphQL subscription endpoint (a WebSocket upgrade on 4000)
             "-d", "tcp.port==4000,http",
             # httpd's HTTP/1.1-only virtual host of the h2c captures (tshark follows an h2c upgrade on its own)
             "-d", "tcp.port==8082,http"]


_CACHE = {}
_CACHE_LOCK = threading.Lock()


def tshark(capture, args, keylog=None):
    """Run tshark once per (capture, arguments, key log) and remember the output."""
    # always set the key log preference (empty = none), so that a key log configured
    # in the user's Wireshark preferences cannot leak into a keyless check
    cmd = ["tshark", "-n", "-r", capture] + DECODE_AS + ["-o", "tls.keylog_file:" + (keylog or "")]
    cmd += args
    key = tuple(cmd)
    with _CACHE_LOCK:
        entry = _CACHE.setdefault(key, [threading.Lock(), None])
    with entry[0]:
        if entry[1] is None:
            entry[1] = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        return entry[1]


# UDP ports of the overlay tunnels (VXLAN, Geneve): tshark lists a tunnel's own datagrams as UDP
# conversations of their own, where the analyser opens them and counts only the flows inside.
TUNNEL_UDP_PORTS = {"4789", "6081"}


def conversations(capture, tunnels=False):
    out = tshark(capture, ["-q", "-z", "conv,tcp", "-z", "conv,udp"])
    convs = []
    proto = None
    for line in out.splitlines():
        if line.startswith("TCP Conversations"):
            proto = "tcp"
        elif line.startswith("UDP Conversations"):
            proto = "udp"
        m = re.match(r"^(\S+)\s+<->\s+(\S+)\s", line)
        if m:
            ports = {split_ep(m.group(1))[1], split_ep(m.group(2))[1]}
            if tunnels and proto == "udp" and ports & TUNNEL_UDP_PORTS:
                continue
            convs.append((proto, m.group(1), m.group(2)))
    return convs


# What tshark must see for each expected encapsulation layer (outer addresses are checked with ip.src/ip.dst, which
# match any IP header of a packet: the corpus keeps underlay and overlay addresses apart).
ENCAPSULATION_FILTERS = {
    "vxlan": "vxlan.vni == {id}",
    "geneve": "geneve.vni == {id}",
    "gre": "gre.key == {id}",
    "erspan": "erspan.spanid == {id}",
    "ipip": "ip.proto == 4 || ip.proto == 41",
}


def check_encapsulation(capture, layers, errors):
    for layer in layers:
        template = ENCAPSULATION_FILTERS[layer["kind"]]
        if layer.get("id") is None and "{id}" in template:
            template = layer["kind"]
        dfilter = f"({template.format(id=layer.get('id'))}) && ip.src == {layer['source']} && ip.dst == {layer['destination']}"
        if not fields(capture, dfilter, ["frame.number"]):
            errors.append(f"encapsulation: tshark sees no packet matching {dfilter}")


def split_ep(ep):
    host, port = ep.rsplit(":", 1)
    return host.strip("[]"), port


def fields(capture, dfilter, names, keylog=None, decode=(), prefs=()):
    """`decode`: more decode-as rules (-d), after DECODE_AS's (the later rule for a port wins); `prefs`: -o options."""
    args = [a for rule in decode for a in ("-d", rule)] + [a for pref in prefs for a in ("-o", pref)]
    args += ["-Y", dfilter, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
    for n in names:
        args += ["-e", n]
    rows = []
    for line in tshark(capture, args, keylog).splitlines():
        cols = line.split("\t")
        cols += [""] * (len(names) - len(cols))
        rows.append(dict(zip(names, cols)))
    return rows


def cert_info(der_hex):
    der = bytes.fromhex(der_hex.replace(":", ""))
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject", "-issuer",
                          "-nameopt", "RFC2253", "-ext", "subjectAltName", "-text"],
                         input=der, capture_output=True, check=True).stdout.decode()
    subject = re.search(r"^subject=(.*)$", out, re.M).group(1).strip()
    issuer = re.search(r"^issuer=(.*)$", out, re.M).group(1).strip()
    sans = []
    m = re.search(r"X509v3 Subject Alternative Name:.*?\n\s+(.*)\n", out)
    if m:
        for item in m.group(1).split(", "):
            item = item.strip().replace("IP Address:", "IP:")
            sans.append(item)
    km = re.search(r"Public-Key: \((\d+) bit\)", out)
    key_type = "ec" if "id-ecPublicKey" in out else ("rsa" if "rsaEncryption" in out else "?")
    return {"subject": subject, "issuer": issuer, "sans": sans, "keyType": key_type,
            "keyBits": int(km.group(1)) if km else None}


def types_of(rows):
    return [t for r in rows for t in r["tls.handshake.type"].split("|") if t]


def has_type(row, t):
    return t in row["tls.handshake.type"].split("|")


TLS_FIELDS = ["tls.handshake.type", "tls.handshake.extensions_server_name",
              "tls.handshake.extensions_alpn_str", "tls.handshake.ciphersuite",
              "tls.handshake.extensions.supported_version", "tls.handshake.random",
              "tls.handshake.certificate", "tls.handshake.certificate_length",
              "tls.handshake.certificates_length", "tls.alert_message.level", "tls.alert_message.desc"]


def tls_rows(capture, port, keylog, transport="tcp"):
    """TLS handshake rows of a TCP flow, or of a QUIC flow (transport "udp": tshark reads QUIC's CRYPTO frames
    as TLS handshake messages); each row's "srcport" is the sending port."""
    rows = fields(capture, f"{transport}.port=={port} && (tls.handshake || tls.alert_message || quic.cc.error_code)",
                  [f"{transport}.srcport", "quic.cc.error_code"] + TLS_FIELDS, keylog)
    for r in rows:
        r["srcport"] = r.pop(f"{transport}.srcport")
    return rows


def handshake_rows(capture, port, keylog, transport="tcp"):
    rows = [r for r in tls_rows(capture, port, keylog, transport) if r["tls.handshake.type"]]
    return ([r for r in rows if r["srcport"] != str(port)],   # from the client
            [r for r in rows if r["srcport"] == str(port)])   # from the server


def alert_list(capture, port, keylog, transport="tcp"):
    alerts = []
    for r in tls_rows(capture, port, keylog, transport):
        # QUIC: a CONNECTION_CLOSE with a crypto error (0x100 + the TLS alert, RFC 9001 section 4.8)
        for code in (int(c) for c in r["quic.cc.error_code"].split("|") if c):
            if 0x100 <= code <= 0x1ff:
                alerts.append({"from": "server" if r["srcport"] == str(port) else "client", "level": "fatal",
                               "description": ALERTS.get(code - 0x100, str(code - 0x100)), "code": code - 0x100})
        levels = r["tls.alert_message.level"].split("|")
        for i, d in enumerate(x for x in r["tls.alert_message.desc"].split("|") if x):
            code = int(d)
            level = int(levels[i]) if i < len(levels) and levels[i] else 0
            alerts.append({"from": "server" if r["srcport"] == str(port) else "client",
                           "level": ALERT_LEVELS.get(level, str(level)),
                           "description": ALERTS.get(code, str(code)), "code": code})
    return alerts


def renegotiated(capture, port):
    """More than one encrypted handshake record (the Finished) from either side of a TLS 1.2 flow."""
    rows = fields(capture, f"tcp.port=={port} && tls.record.content_type == 22",
                  ["tcp.srcport", "tls.record.content_type", "tls.handshake.type"])
    encrypted = {}
    for r in rows:
        opaque = sum(1 for c in r["tls.record.content_type"].split("|") if c == "22") - \
            len([t for t in r["tls.handshake.type"].split("|") if t])
        encrypted[r["tcp.srcport"]] = encrypted.get(r["tcp.srcport"], 0) + max(opaque, 0)
    return any(count > 1 for count in encrypted.values())


def client_cert_state(from_client, from_server):
    requested = "13" in types_of(from_server)
    presented = any(r["tls.handshake.certificate"] for r in from_client if has_type(r, "11"))
    return "presented" if presented else ("declined" if requested else "not-requested")


def subset(e, a):
    if isinstance(e, dict):
        return isinstance(a, dict) and all(k in a and subset(v, a[k]) for k, v in e.items())
    return e == a


def check_tls(capture, port, exp, errors, truth_keylog, analysis_keylog, with_keys, quic=False):
    """with_keys: the expected file describes an analysis with analysis_keylog
    (None = only the secrets embedded in the capture). truth_keylog: the capture's
    own key log, used only for the ground truth behind TLS 1.3 likely-* states.
    quic: the flow is QUIC (its handshake in CRYPTO frames; without keys the client
    certificate is `unknown`, there being no record sizes to infer it from)."""
    view_keylog = analysis_keylog if with_keys else None
    transport = "udp" if quic else "tcp"
    from_client, from_server = handshake_rows(capture, port, view_keylog, transport)
    ch = [r for r in from_client if has_type(r, "1")]
    sh = [r for r in from_server if has_type(r, "2")]
    got = {}
    # Finished messages are always encrypted: tshark shows them only after decrypting
    got["decrypted"] = "20" in types_of(from_client) + types_of(from_server)
    decrypted = got["decrypted"]
    if ch:
        got["sni"] = ch[-1]["tls.handshake.extensions_server_name"] or None
    got["helloRetryRequest"] = any(HRR_RANDOM in r["tls.handshake.random"].replace(":", "") for r in sh)
    if sh:
        sv = sh[-1]["tls.handshake.extensions.supported_version"]
        got["version"] = "1.3" if "0x0304" in sv else "1.2"
        cs = sh[-1]["tls.handshake.ciphersuite"].split("|")[0]
        got["cipher"] = CIPHERS.get(int(cs, 16), cs) if cs else None
        offered = any(r["tls.handshake.extensions_alpn_str"] for r in ch)
        if got["version"] == "1.2":
            got["alpn"] = sh[-1]["tls.handshake.extensions_alpn_str"] or None
        elif not offered:
            got["alpn"] = None   # nothing offered, so nothing selected
        elif decrypted:           # TLS 1.3: the selection is in EncryptedExtensions
            ee = [r for r in from_server if has_type(r, "8")]
            got["alpn"] = (ee[-1]["tls.handshake.extensions_alpn_str"] or None) if ee else None
    exact = got.get("version") == "1.2" or decrypted
    alerts = alert_list(capture, port, view_keylog, transport)
    if exact:
        got["certificateRequested"] = "13" in types_of(from_server)
        got["clientCertificate"] = client_cert_state(from_client, from_server)
        if not decrypted and got["clientCertificate"] != "presented" and renegotiated(capture, port):
            # TLS 1.2 read without keys: a renegotiation (encrypted handshake records after a side's Finished)
            # may have asked for a certificate unseen
            got["clientCertificate"] = "unknown"
            got.pop("certificateRequested")
        fatal = any(a["code"] != 0 for a in alerts)
        if decrypted:
            finished = "20" in types_of(from_client) and "20" in types_of(from_server)
            got["established"] = finished and not fatal
            got["alerts"] = alerts
        else:
            got["established"] = not fatal
        for rs, key in ((from_server, "serverCertificates"), (from_client, "clientCertificates")):
            certs = [c for r in rs if has_type(r, "11")
                     for c in r["tls.handshake.certificate"].split("|") if c]
            got[key] = [cert_info(c) for c in certs]
    elif quic:
        got["clientCertificate"] = "unknown"
        if truth_keylog is not None:
            got["established"] = not any(a["code"] != 0 for a in alert_list(capture, port, truth_keylog, transport))
        elif ch:
            got["established"] = not alerts and bool(sh)
    elif truth_keylog is not None:
        # TLS 1.3 without (matching) keys: the likely-* state and the outcome are
        # heuristics for the analyser; tshark with the capture's own keys knows the truth
        t_client, t_server = handshake_rows(capture, port, truth_keylog)
        got["clientCertificate"] = "likely-" + client_cert_state(t_client, t_server)
        got["established"] = not any(a["code"] != 0 for a in alert_list(capture, port, truth_keylog))
    for k, ev in exp.items():
        if k not in got:
            continue
        v = got[k]
        if k == "alerts":
            pool = list(v)
            for e in ev:
                hit = next((a for a in pool if subset(e, a)), None)
                if hit is None:
                    errors.append(f"tls.alerts: expected {e}, capture has {v}")
                else:
                    pool.remove(hit)
        elif isinstance(ev, list):
            if len(ev) != len(v):
                errors.append(f"tls.{k}: expected {len(ev)} certs, capture has {len(v)}: {v}")
                continue
            for e, a in zip(ev, v):
                for kk, vv in e.items():
                    if a.get(kk) != vv:
                        errors.append(f"tls.{k}.{kk}: expected {vv!r}, capture has {a.get(kk)!r}")
        elif ev != v:
            errors.append(f"tls.{k}: expected {ev!r}, capture has {v!r}")


def merged_keylog(paths, tmpdir):
    if not paths:
        return None
    if len(paths) == 1:
        return paths[0]
    out = os.path.join(tmpdir, "merged.keys")
    with open(out, "w") as f:
        for p in paths:
            f.write(open(p).read().rstrip("\n") + "\n")
    return out


def check(path):
    exp = json.load(open(path))
    capture = os.path.join(HERE, exp["capture"])
    base = os.path.splitext(exp["capture"])[0]
    truth = os.path.join(KEYS, base + ".keys")
    truth = truth if os.path.exists(truth) else None
    errors = []
    if not os.path.exists(capture):
        return [f"missing capture {capture}"]
    with_keys = "keylog" in exp
    if path.endswith(".keylog.json") != with_keys:
        errors.append("a NAME.keylog.json file needs a top-level \"keylog\" list, and only those may have one")
    keyfiles = [os.path.join(HERE, k) for k in exp.get("keylog", [])]
    for k in keyfiles:
        if not os.path.exists(k):
            errors.append(f"missing key log {k}")
    if errors:
        return errors
    with tempfile.TemporaryDirectory() as tmp:
        # [] (a pcapng with a Decryption Secrets Block): tshark uses the embedded secrets on its own
        analysis = merged_keylog(keyfiles, tmp)
        tunnelled = any("encapsulation" in fl for fl in exp["flows"])
        convs = conversations(capture, tunnels=tunnelled)
        # A capture whose number of connections depends on timing (etcd-peer-plaintext) names a minimum instead.
        if "flowCount" in exp and len(convs) != exp["flowCount"]:
            errors.append(f"flowCount: expected {exp['flowCount']}, tshark sees {len(convs)}: {convs}")
        if "flowCount" not in exp and len(convs) < exp.get("flowCountAtLeast", 1 << 30):
            errors.append(f"flowCountAtLeast: expected {exp.get('flowCountAtLeast')}, tshark sees {len(convs)}")
        for fl in exp["flows"]:
            shost, sport = split_ep(fl["server"])
            chost, _ = split_ep(fl["client"])
            match = [c for c in convs if c[0] == fl.get("transport", c[0]) and
                     {split_ep(c[1])[0], split_ep(c[2])[0]} == {shost, chost} and
                     sport in (split_ep(c[1])[1], split_ep(c[2])[1])]
            if not match:
                errors.append(f"no {fl.get('transport')} conversation {fl['client']} <-> {fl['server']}")
            if "truncated" in fl:
                rows = fields(capture, f"tcp.port=={sport} || udp.port=={sport}", ["frame.len", "frame.cap_len"])
                trunc = any(r["frame.len"] != r["frame.cap_len"] for r in rows)
                if trunc != fl["truncated"]:
                    errors.append(f"truncated: expected {fl['truncated']}, capture has {trunc}")
            quic = fl.get("protocol") == "quic"
            if quic and "midstream" in fl.get("anomalies", []):
                check_quic_midstream(capture, int(sport), fl, errors)
            elif quic and fl.get("quic", {}).get("version") == "quic-v2":
                # tshark 4.0 (Debian 12) reads QUIC v2's first Initial but not what follows a Retry (its second
                # ClientHello fails to decrypt): only the conversation is cross-checked for this flow.
                pass
            elif fl.get("tls") is not None:
                check_tls(capture, int(sport), fl["tls"], errors, truth, analysis, with_keys, quic)
            elif "tls" in fl and fields(capture, f"tcp.port=={sport} && tls.handshake", ["frame.number"]):
                errors.append("tls: expected none, tshark sees a TLS handshake")
            if "tunnel" in fl:
                check_tunnel(capture, fl["tunnel"], errors)
            if "webSocket" in fl:
                check_websocket(capture, fl["webSocket"], errors)
            if "containerEngineAPI" in fl:
                check_container_engine(capture, int(sport), fl["containerEngineAPI"], errors)
            if "webSocket" in fl and any(c.get("kind") == "graphql-ws-init" for c in fl.get("credentials", [])):
                check_graphql_init(capture, int(sport), fl["credentials"], errors)
            if fl.get("protocol") == "http" and any(c.get("kind") in HTTP_SECRET_KINDS for c in fl.get("credentials", [])):
                check_http_secrets(capture, int(sport), fl["credentials"], errors)
            if fl.get("protocol") == "mysql" and not fl.get("starttls") and "credentials" in fl:
                check_mysql_logins(capture, fl["credentials"], errors)
            if fl.get("protocol") == "ldap" and not fl.get("starttls") and "credentials" in fl:
                check_ldap_binds(capture, fl["credentials"], errors)
            if fl.get("protocol") == "memcached" and fl.get("server", "").startswith("198.19.67.2:"):
                check_memcached_binary(capture, int(sport), fl.get("credentials", []), errors)
            if fl.get("protocol") == "zookeeper":
                check_zookeeper(capture, int(sport), fl.get("credentials", []), errors,
                                midstream="midstream" in fl.get("anomalies", []))
            if fl.get("protocol") == "kafka" and "credentials" in fl:
                check_kafka_logins(capture, int(sport), fl["credentials"], errors)
            if fl.get("server", "").startswith("198.19.65.2:"):
                check_h2c_upgrade(capture, int(sport), fl, errors)
            elif fl.get("protocol") in ("mqtt", "amqp", "nats", "stomp", "http2") and "credentials" in fl:
                check_broker_login(capture, fl["protocol"], int(sport),
                                   [c for c in fl["credentials"] if not c["kind"].startswith("etcd-")], errors,
                                   websocket="webSocket" in fl)
            if "encapsulation" in fl:
                check_encapsulation(capture, fl["encapsulation"], errors)
        etcd_http_ports = {int(split_ep(fl["server"])[1]) for fl in exp["flows"]
                           if fl.get("protocol") == "http" and "etcdAPI" in fl}
        for port in sorted(etcd_http_ports):
            check_etcd_http(capture, port, [fl["etcdAPI"] for fl in exp["flows"]
                                            if int(split_ep(fl["server"])[1]) == port and "etcdAPI" in fl],
                            "flowCount" in exp, errors)
        # (an h2c upgrade's flow is checked by check_h2c_upgrade: its first request crossed as HTTP/1.1)
        http2_ports = {int(split_ep(fl["server"])[1]) for fl in exp["flows"]
                       if fl.get("protocol") == "http2" and "h2cUpgrade" not in fl}
        for port in sorted(http2_ports):
            check_etcd(capture, port, [fl for fl in exp["flows"] if int(split_ep(fl["server"])[1]) == port], errors)
    return errors


def logins_of(credentials):
    """An expected file's credentials as (kind, user, the secret's length), the length None where the description
    names none (a digest response)."""
    logins = []
    for c in credentials:
        length = re.search(r"(\d+) characters", c.get("redacted", ""))
        logins.append((c["kind"], c.get("user"), int(length.group(1)) if length else None))
    return logins


def check_tunnel(capture, tunnel, errors):
    """The proxy requests as tshark's SOCKS and HTTP dissectors read them: the first hop's version,
    destination and reply, and every CONNECT's target and status in order (a CONNECT sent through a
    SOCKS tunnel included)."""
    hops = tunnel.get("hops", [])
    socks = fields(capture, "socks", ["tcp.srcport", "socks.version", "socks.command", "socks.remote_name",
                                      "socks.v4a_dns_name", "socks.dst", "socks.dstport", "socks.results",
                                      "socks.username"])
    if hops and hops[0]["kind"].startswith("socks"):
        hop = hops[0]
        proxy_port = split_ep(tunnel["proxy"])[1]
        requests = [r for r in socks if r["tcp.srcport"] != proxy_port and r["socks.command"] == "1"]
        replies = [r for r in socks if r["tcp.srcport"] == proxy_port and r["socks.results"]]
        if not requests:
            errors.append("tunnel: tshark sees no SOCKS CONNECT request")
            return
        request = requests[0]
        name = request["socks.remote_name"] or request["socks.v4a_dns_name"] or request["socks.dst"]
        kind = "socks5" if request["socks.version"] == "5" else ("socks4a" if request["socks.v4a_dns_name"] else "socks4")
        # tshark shows a SOCKS 5 request's port on the row after its address
        port = next((r["socks.dstport"] for r in requests if r["socks.dstport"]), "")
        got = {"kind": kind, "destination": f"{name}:{port}",
               "reply": int(replies[0]["socks.results"]) if replies else None}
        if any(r["socks.username"] for r in socks):
            got["authentication"] = "username-password"
        for key, value in got.items():
            if key in hop and hop[key] != value:
                errors.append(f"tunnel.hops[0].{key}: expected {hop[key]!r}, tshark sees {value!r}")
    connects = fields(capture, 'http.request.method == "CONNECT"', ["http.request.uri"])
    statuses = fields(capture, "http.response", ["http.response.code"])
    expected = [h for h in hops if h["kind"] == "http-connect"]
    if [h["destination"] for h in expected] != [r["http.request.uri"] for r in connects]:
        errors.append(f"tunnel: CONNECT targets {[h['destination'] for h in expected]}, tshark sees "
                      f"{[r['http.request.uri'] for r in connects]}")
    for hop, status in zip(expected, statuses):
        if "reply" in hop and str(hop["reply"]) != status["http.response.code"]:
            errors.append(f"tunnel: CONNECT {hop['destination']} answered {hop['reply']}, tshark sees {status['http.response.code']}")


HTTP_SECRET_KINDS = {"http-token", "http-api-key", "http-url-secret", "http-form-secret", "http-json-secret"}
# The request headers Bulkhead reads secrets from (CredentialExtractor.secretHeaders), lowercase, with their kind.
SECRET_HEADERS = {"x-api-key": "http-api-key", "api-key": "http-api-key", "apikey": "http-api-key",
                  "x-apikey": "http-api-key", "x-goog-api-key": "http-api-key",
                  "ocp-apim-subscription-key": "http-api-key", "x-functions-key": "http-api-key",
                  "x-auth-token": "http-token", "x-access-token": "http-token", "x-vault-token": "http-token",
                  "x-consul-token": "http-token", "x-nomad-token": "http-token", "private-token": "http-token",
                  "job-token": "http-token", "x-gitlab-token": "http-token", "x-amz-security-token": "http-token"}
SECRET_PARAMETERS = {"password", "passwd", "client_secret", "access_token", "id_token", "refresh_token",
                     "auth_token", "token", "jwt", "api_key", "apikey"}
JSON_SECRET_NAMES = SECRET_PARAMETERS - {"token", "jwt"}
USER_PARAMETERS = {"username", "user", "login", "client_id"}


def check_http_secrets(capture, port, credentials, errors):
    """The secrets in headers, URL queries and form bodies as tshark's HTTP and urlencoded-form dissectors read them:
    (kind, header or parameter name, user, secret length) against the expected credentials of those kinds."""
    seen = []
    rows = fields(capture, f"http.request && tcp.dstport == {port}",
                  ["http.request.line", "http.request.uri.query", "urlencoded-form.key", "urlencoded-form.value",
                   "http.file_data"])
    for r in rows:
        for line in r["http.request.line"].split("|"):
            name, _, value = line.replace("\\r\\n", "").partition(":")
            if name.lower() in SECRET_HEADERS and value.strip():
                seen.append((SECRET_HEADERS[name.lower()], name, None, len(value.strip())))
        query = [p.partition("=") for p in r["http.request.uri.query"].split("&") if p]
        users = [urllib.parse.unquote_plus(v) for k, _, v in query if k.lower() in USER_PARAMETERS]
        for key, _, value in query:
            if key.lower() in SECRET_PARAMETERS and value:
                seen.append(("http-url-secret", key, users[0] if users else None, len(urllib.parse.unquote_plus(value))))
        form = list(zip(r["urlencoded-form.key"].split("|"), r["urlencoded-form.value"].split("|")))
        users = [v for k, v in form if k.lower() in USER_PARAMETERS]
        for key, value in form:
            if key.lower() in SECRET_PARAMETERS and value:
                seen.append(("http-form-secret", key, users[0] if users else None, len(value)))
        body = r["http.file_data"]
        if body.lstrip().startswith(("{", "[")):   # a JSON body, parsed by Python's own reader
            members = json.loads(body)
            members = members if isinstance(members, dict) else {}
            users = [v for k, v in members.items() if k.lower() in USER_PARAMETERS and isinstance(v, str) and v]
            for key, value in members.items():
                if key.lower() in JSON_SECRET_NAMES and isinstance(value, str) and value:
                    seen.append(("http-json-secret", key, users[0] if users else None, len(value)))
    expected = [(c["kind"], c["note"].split(" ")[0], c.get("user"),
                 int(re.search(r"(\d+) characters", c["redacted"]).group(1)))
                for c in credentials if c.get("kind") in HTTP_SECRET_KINDS]
    if seen != expected:
        errors.append(f"http secrets: expected {expected}, tshark sees {seen}")


def check_container_engine(capture, port, engine, errors):
    """The engine's first answer as tshark's HTTP dissector reads it: a success status, its Api-Version (or
    Libpod-Api-Version) and Server headers."""
    rows = fields(capture, f"http.response && tcp.srcport == {port}", ["http.response.code", "http.response.line"])
    if not rows:
        errors.append("containerEngineAPI: tshark sees no answer")
        return
    headers = {}
    for line in rows[0]["http.response.line"].split("|"):
        name, _, value = line.replace("\\r\\n", "").partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    seen = {"engine": "podman" if "libpod-api-version" in headers or headers.get("server", "").startswith("Libpod/")
            else "docker" if headers.get("server", "").startswith("Docker/") or "docker-experimental" in headers
            else None,
            "apiVersion": headers.get("libpod-api-version") or headers.get("api-version"),
            "server": headers.get("server")}
    if not rows[0]["http.response.code"].startswith("2") or seen != engine:
        errors.append(f"containerEngineAPI: expected {engine}, tshark sees {seen} "
                      f"(status {rows[0]['http.response.code']})")


def check_websocket(capture, websocket, errors):
    """The upgrade tshark sees: the request's path (without its query), a 101 answer, the subprotocol it chose."""
    requests = fields(capture, 'http.request.method == "GET" && http.upgrade', ["http.request.uri"])
    answers = fields(capture, "http.response.code == 101", ["http.sec_websocket_protocol"])
    if len(requests) != 1 or len(answers) != 1:
        errors.append(f"webSocket: tshark sees {len(requests)} upgrade requests and {len(answers)} 101 answers")
        return
    path = re.split(r"[?#]", requests[0]["http.request.uri"])[0] or "/"
    if path != websocket.get("path"):
        errors.append(f"webSocket.path: expected {websocket.get('path')!r}, tshark sees {path!r}")
    chosen = answers[0]["http.sec_websocket_protocol"] or None
    if chosen != websocket.get("subprotocol"):
        errors.append(f"webSocket.subprotocol: expected {websocket.get('subprotocol')!r}, tshark sees {chosen!r}")


def websocket_messages(capture, port):
    """The client's WebSocket payloads, unmasked by tshark, in order (binary frames as data, text frames as text)."""
    rows = fields(capture, f"websocket && tcp.dstport == {port}", ["data.data", "websocket.payload.text"])
    return b"".join(bytes.fromhex(r["data.data"].replace(":", "")) if r["data.data"]
                    else r["websocket.payload.text"].encode().decode("unicode_escape").encode("latin-1")
                    for r in rows)


def mqtt_connect_login(payload):
    """(user, password length) of an MQTT 3.1/3.1.1 CONNECT at the start of `payload` (read here, for MQTT over a
    WebSocket, which tshark 4.0 does not hand to its MQTT dissector); None without a password."""
    assert payload[0] == 0x10, "not a CONNECT"
    at, multiplier, remaining = 1, 1, 0
    while True:   # the remaining length: 7 bits a byte, low first
        remaining += (payload[at] & 0x7f) * multiplier
        multiplier *= 128
        at += 1
        if not payload[at - 1] & 0x80:
            break

    def field(at):
        size = int.from_bytes(payload[at:at + 2], "big")
        return payload[at + 2:at + 2 + size], at + 2 + size

    _, at = field(at)   # the protocol name
    level, flags = payload[at], payload[at + 1]
    assert level in (3, 4), f"MQTT level {level} is not read here"
    _, at = field(at + 4)   # past level, flags and keep-alive: the client id
    if flags & 0x04:   # a will: its topic and message
        _, at = field(at)
        _, at = field(at)
    user = None
    if flags & 0x80:
        user, at = field(at)
    if not flags & 0x40:
        return None
    password, at = field(at)
    return (user.decode() if user is not None else None, len(password))


def broker_logins(capture, protocol, port, websocket=False):
    """(kind, user, secret length) of each login the client sent, read by tshark's MQTT and AMQP dissectors, and for
    NATS and STOMP (which tshark 4.0 does not dissect) from the client's first message in the TCP payload (the
    WebSocket messages tshark unmasked, for a flow upgraded to one)."""
    if protocol == "mqtt" and websocket:
        login = mqtt_connect_login(websocket_messages(capture, port))
        return [("mqtt",) + login] if login else []
    if protocol == "mqtt":
        rows = fields(capture, "mqtt.msgtype == 1", ["mqtt.username", "mqtt.passwd_len", "mqtt.conflag.passwd"])
        return [("mqtt", r["mqtt.username"] or None, int(r["mqtt.passwd_len"]))
                for r in rows if r["mqtt.conflag.passwd"] in ("1", "True")]
    if protocol == "amqp":
        rows = fields(capture, "amqp.method.arguments.response",
                      ["amqp.method.arguments.mechanism", "amqp.method.arguments.response"])
        logins = []
        for r in rows:
            response = bytes.fromhex(r["amqp.method.arguments.response"])
            if r["amqp.method.arguments.mechanism"] == "PLAIN":
                _, user, password = response.split(b"\0", 2)
                logins.append(("amqp-plain", user.decode(), len(password)))
            elif r["amqp.method.arguments.mechanism"] == "AMQPLAIN":
                table, at = {}, 0
                while at < len(response):   # name (short string), type 'S', value (long string)
                    name = response[at + 1:at + 1 + response[at]].decode()
                    at += 1 + response[at] + 1
                    size = int.from_bytes(response[at:at + 4], "big")
                    table[name] = response[at + 4:at + 4 + size]
                    at += 4 + size
                logins.append(("amqp-amqplain", table["LOGIN"].decode(), len(table["PASSWORD"])))
        rows = fields(capture, "amqp.sasl.initResponse", ["amqp.sasl.mechanism", "amqp.sasl.initResponse"])
        for r in rows:   # AMQP 1.0's sasl-init
            if r["amqp.sasl.mechanism"] == "PLAIN":
                _, user, password = bytes.fromhex(r["amqp.sasl.initResponse"]).split(b"\0", 2)
                logins.append(("amqp-plain", user.decode(), len(password)))
        return logins
    if protocol == "http2":   # tshark's HTTP/2 dissector on the server's port decodes HPACK, Huffman included
        rows = fields(capture, f'http2.header.name == "authorization"', ["http2.header.name", "http2.header.value"])
        logins = []
        for r in rows:
            for name, value in zip(r["http2.header.name"].split("|"), r["http2.header.value"].split("|")):
                scheme, _, token = value.partition(" ")
                if name == "authorization" and scheme.lower() == "bearer":
                    login = ("http-bearer", None, len(token))
                    if login not in logins:
                        logins.append(login)
        return logins
    payload = websocket_messages(capture, port) if websocket else b"".join(
        bytes.fromhex(r["tcp.payload"].replace(":", ""))
        for r in fields(capture, f"tcp.dstport == {port} && tcp.len > 0", ["tcp.payload"]))
    logins = []
    if protocol == "stomp":   # the first frame's headers, up to the empty line
        lines = payload.split(b"\0", 1)[0].split(b"\n\n", 1)[0].split(b"\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.rstrip(b"\r").partition(b":")
            headers.setdefault(name, value)
        if lines[0].rstrip(b"\r") in (b"CONNECT", b"STOMP") and headers.get(b"passcode"):
            logins.append(("stomp", headers[b"login"].decode(), len(headers[b"passcode"])))
        return logins
    for line in payload.split(b"\r\n"):
        if line.startswith(b"CONNECT {"):
            connect = json.loads(line[len(b"CONNECT "):])
            if connect.get("pass"):
                logins.append(("nats-password", connect.get("user"), len(connect["pass"])))
            if connect.get("auth_token"):
                logins.append(("nats-token", None, len(connect["auth_token"])))
    return logins


def check_h2c_upgrade(capture, port, fl, errors):
    """An HTTP/1.1 connection that asked to upgrade to h2c, as tshark's HTTP dissector (which follows a 101 to HTTP/2 on
    its own) reads it: switched (a 101, the client's preface, HTTP/2 frames both ways) exactly when the flow is http2
    with an h2cUpgrade; the path of the first request that asked; and the credentials, each HTTP/1.1 request's
    Authorization in order, then the HTTP/2 requests' (HPACK, Huffman included), each once."""
    requests = fields(capture, f"tcp.dstport == {port} && http.request",
                      ["http.request.uri", "http.upgrade", "http.authorization"])
    switched = bool(fields(capture, f"tcp.srcport == {port} && http.response.code == 101", ["frame.number"]))
    magic = bool(fields(capture, f"tcp.dstport == {port} && http2.magic", ["frame.number"]))
    frames_back = bool(fields(capture, f"tcp.srcport == {port} && http2", ["frame.number"]))
    upgraded = fl.get("protocol") == "http2" and "h2cUpgrade" in fl
    if (switched and magic and frames_back) != upgraded or switched != upgraded:
        errors.append(f"h2c: expected upgraded={upgraded}, tshark sees 101={switched}, preface={magic}, "
                      f"frames from the server={frames_back}")
    asking = [r for r in requests if "h2c" in r["http.upgrade"].lower()]
    if not asking:
        errors.append("h2c: tshark sees no request asking to upgrade to h2c")
    elif upgraded and asking[0]["http.request.uri"].split("?")[0] != fl["h2cUpgrade"]["path"]:
        errors.append(f"h2c: expected path {fl['h2cUpgrade']['path']}, tshark sees {asking[0]['http.request.uri']}")

    def login(value):
        scheme, _, rest = value.partition(" ")
        if scheme.lower() == "basic":
            user, _, password = base64.b64decode(rest).decode().partition(":")
            return ("http-basic", user, len(password))
        if scheme.lower() == "bearer":
            return ("http-bearer", None, len(rest))
        if scheme.lower() == "digest":
            return ("http-digest", re.search(r'username="([^"]*)"', rest).group(1), None)
        return (scheme, None, None)
    seen = [login(r["http.authorization"]) for r in requests if r["http.authorization"]]
    http2_logins = []
    for r in fields(capture, f'tcp.dstport == {port} && http2.header.name == "authorization"',
                    ["http2.header.name", "http2.header.value"]):
        for name, value in zip(r["http2.header.name"].split("|"), r["http2.header.value"].split("|")):
            if name == "authorization" and login(value) not in http2_logins:
                http2_logins.append(login(value))
    seen += http2_logins
    expected = logins_of(fl.get("credentials", []))
    if seen != expected:
        errors.append(f"h2c credentials: expected {expected}, tshark sees {seen}")


GRAPHQL_INIT_SECRET_NAMES = (SECRET_PARAMETERS - {"jwt"}) | {"authtoken", "authorization", "x-hasura-admin-secret",
                                                            "x-api-key", "api-key"}


def check_quic_midstream(capture, port, fl, errors):
    """A QUIC connection joined after its handshake, as tshark decodes its datagrams on the port as QUIC: every one a
    QUIC packet with the fixed bit, short headers each way, no Initial (so no ClientHello: the client certificate
    must be unknown, the TLS version and SNI not known), the version that of the long headers seen, if any, and the
    client the side with the higher port."""
    rows = fields(capture, f"udp.port == {port}", ["udp.srcport", "udp.dstport", "quic.header_form",
                                                    "quic.fixed_bit", "quic.long.packet_type", "quic.version"],
                  decode=[f"udp.port=={port},quic"])
    if not rows or any(not r["quic.fixed_bit"] or "0" in r["quic.fixed_bit"].split("|") for r in rows):
        errors.append("quic midstream: a datagram tshark does not read as QUIC")
        return
    short_from = {r["udp.srcport"] for r in rows if "0" in r["quic.header_form"].split("|")}
    if len(short_from) != 2:
        errors.append(f"quic midstream: short headers from {sorted(short_from)}, expected both sides")
    if any("0" in r["quic.long.packet_type"].split("|") for r in rows):
        errors.append("quic midstream: tshark sees an Initial packet: the handshake is in the capture")
    versions = {int(v, 16) for r in rows for v in r["quic.version"].split("|") if v}
    names = {1: "quic-v1", 0x6b3343cf: "quic-v2"}
    expected_version = names.get(next(iter(versions)), "") if len(versions) == 1 else "unknown"
    if fl.get("quic", {}).get("version") != expected_version:
        errors.append(f"quic midstream: version {fl.get('quic', {}).get('version')}, tshark sees {sorted(versions)}")
    tls = fl.get("tls") or {}
    if tls.get("clientCertificate") != "unknown" or tls.get("established") is not False or tls.get("version"):
        errors.append(f"quic midstream: without a handshake the TLS facts must be unknown, got {tls}")
    ports = {int(r["udp.srcport"]) for r in rows} | {int(r["udp.dstport"]) for r in rows}
    if int(split_ep(fl["server"])[1]) != min(ports) or fl.get("clientBasis") != "port":
        errors.append(f"quic midstream: the server should be the lower port {min(ports)} (by port), got {fl['server']}")


def check_graphql_init(capture, port, credentials, errors):
    """The client's first WebSocket message as tshark unmasks it, parsed by Python's JSON reader: a GraphQL
    connection_init whose payload members of secret names (any depth) are the credentials, an Authorization's token
    counted after its scheme."""
    text = websocket_messages(capture, port).decode("utf-8", "replace")
    try:
        message, _ = json.JSONDecoder().raw_decode(text.lstrip())
    except ValueError as error:
        errors.append(f"graphql-ws-init: the first message is no JSON: {error}")
        return
    seen = []

    def walk(value):
        if isinstance(value, dict):
            for name, member in value.items():
                if isinstance(member, str) and member and name.lower() in GRAPHQL_INIT_SECRET_NAMES:
                    length = len(member)
                    if name.lower() == "authorization" and " " in member[:16]:
                        length = len(member) - member.index(" ") - 1
                    seen.append(("graphql-ws-init", f"{name} in connection_init", length))
                walk(member)
        elif isinstance(value, list):
            for member in value:
                walk(member)
    if isinstance(message, dict) and message.get("type") == "connection_init":
        walk(message)
    expected = [(c["kind"], c.get("note"), int(re.search(r"(\d+) characters", c["redacted"]).group(1)))
                for c in credentials if c["kind"] == "graphql-ws-init"]
    if seen != expected:
        errors.append(f"graphql-ws-init credentials: expected {expected}, tshark sees {seen}")


def check_ldap_binds(capture, credentials, errors):
    """Simple binds as tshark's LDAP dissector reads them: the bind DN and the password's length."""
    expected = logins_of(credentials)
    seen = [("ldap-simple-bind", r["ldap.name"], len(r["ldap.simple"]))
            for r in fields(capture, "ldap.simple", ["ldap.name", "ldap.simple"])]
    if seen != expected:
        errors.append(f"ldap credentials: expected {expected}, tshark sees {seen}")


def check_mysql_logins(capture, credentials, errors):
    """The login as tshark's MySQL dissector reads it: the HandshakeResponse's user, plugin and auth response (a
    mysql_native_password scramble: its length in bytes), and after an AuthSwitchRequest to mysql_clear_password or
    dialog, the client's answer: the password itself, NUL-terminated (its length in characters)."""
    expected = [(c["kind"], c.get("user"), int(re.search(r"(\d+) (?:bytes|characters)", c["redacted"]).group(1)))
                for c in credentials]
    rows = fields(capture, "mysql.user || mysql.auth_switch_request.name || mysql.auth_switch_response.data",
                  ["mysql.user", "mysql.passwd", "mysql.client_auth_plugin", "mysql.auth_switch_request.name",
                   "mysql.auth_switch_response.data"])
    seen, user, switched = [], None, None
    for r in rows:
        if r["mysql.user"]:
            user = r["mysql.user"]
            if r["mysql.client_auth_plugin"] == "mysql_native_password":
                seen.append(("mysql-native-auth", user, len(bytes.fromhex(r["mysql.passwd"].replace(":", "")))))
        elif r["mysql.auth_switch_request.name"]:
            switched = r["mysql.auth_switch_request.name"]
        elif r["mysql.auth_switch_response.data"] and switched in ("dialog", "mysql_clear_password"):
            answer = bytes.fromhex(r["mysql.auth_switch_response.data"].replace(":", ""))
            seen.append(("mysql-clear-password", user, len(answer.split(b"\0", 1)[0].decode())))
    if seen != expected:
        errors.append(f"mysql credentials: expected {expected}, tshark sees {seen}")


def kafka_sasl_logins(stream):
    """(kind, user, secret length) of the SASL tokens in a Kafka client's byte stream, read here (tshark 4.0 names the
    mechanism but leaves SaslAuthenticate's bytes undecoded, and reads a bare token as a request): requests are
    `size, api_key, api_version, correlation_id, client_id` and a body; SaslHandshake (17) names the mechanism, its
    version 0 makes the next frame a bare token; SaslAuthenticate (36) carries the token, from version 2 after the
    header's tagged fields as compact bytes (an unsigned varint, one more than the length)."""
    def uvarint(data, at):
        value = shift = 0
        while True:
            value |= (data[at] & 0x7f) << shift
            shift += 7
            at += 1
            if data[at - 1] < 0x80:
                return value, at

    logins, mechanism, bare_next, at = [], None, False, 0
    while at + 4 <= len(stream):
        size = int.from_bytes(stream[at:at + 4], "big")
        frame, at = stream[at + 4:at + 4 + size], at + 4 + size
        tokens = []
        if bare_next:
            bare_next, tokens = False, [frame]
        else:
            key, version = int.from_bytes(frame[0:2], "big"), int.from_bytes(frame[2:4], "big")
            client_id = int.from_bytes(frame[8:10], "big", signed=True)
            body = 10 + max(client_id, 0)
            if key == 17:
                length = int.from_bytes(frame[body:body + 2], "big")
                mechanism, bare_next = frame[body + 2:body + 2 + length].decode(), version == 0
            elif key == 36 and version >= 2:
                count, body = uvarint(frame, body)   # the header's tagged fields (none written by these clients)
                assert count == 0, "tagged fields in a SaslAuthenticate header"
                length, body = uvarint(frame, body)
                tokens = [frame[body:body + length - 1]]
            elif key == 36:
                length = int.from_bytes(frame[body:body + 4], "big")
                tokens = [frame[body + 4:body + 4 + length]]
        for token in tokens:
            if mechanism == "PLAIN":
                _, user, password = token.split(b"\0", 2)
                logins.append(("kafka-sasl-plain", user.decode(), len(password)))
            elif mechanism == "OAUTHBEARER":
                header, *pairs = token.split(b"\x01")
                authzid = header.split(b",")[1]
                auth = next(p for p in pairs if p.startswith(b"auth="))[len(b"auth="):]
                logins.append(("kafka-sasl-oauthbearer", authzid[2:].decode() or None,
                               len(auth.split(b" ", 1)[1])))
    return logins, mechanism


def check_kafka_logins(capture, port, credentials, errors):
    """Each Kafka connection to `port`, its client's bytes put together from tshark's TCP payloads: the SASL logins
    read from them are this flow's credentials (every connection of these captures authenticates the same way), and
    the mechanism is the one tshark's Kafka dissector names."""
    expected = logins_of(credentials)
    rows = fields(capture, f"tcp.dstport == {port} && tcp.len > 0", ["tcp.stream", "tcp.payload"],
                  decode=[f"tcp.port=={port},kafka"])
    streams = {}
    for r in rows:
        streams.setdefault(r["tcp.stream"], bytearray()).extend(bytes.fromhex(r["tcp.payload"].replace(":", "")))
    named = {r["kafka.sasl_mechanism"] for r in fields(capture, f"tcp.dstport == {port} && kafka.sasl_mechanism",
                                                       ["kafka.sasl_mechanism"], decode=[f"tcp.port=={port},kafka"])}
    if not streams:
        errors.append(f"kafka: no client bytes to port {port}")
    for stream, data in sorted(streams.items()):
        logins, mechanism = kafka_sasl_logins(bytes(data))
        if logins != expected:
            errors.append(f"kafka credentials (tcp.stream {stream}): expected {expected}, the bytes hold {logins}")
        if named != {mechanism}:
            errors.append(f"kafka: tshark names the mechanism {sorted(named)}, the bytes {mechanism}")


def check_memcached_binary(capture, port, credentials, errors):
    """memcached's binary protocol as tshark's memcache dissector reads it (every packet's magic: 0x80 from the client,
    0x81 from the server), and the SASL PLAIN logins from the client's packets: tshark names the opcode (0x21) and the
    mechanism (the key); the token is read from the client's bytes (tshark shows the value only up to its first NUL)."""
    decode = [f"tcp.port=={port},memcache"]
    rows = fields(capture, f"tcp.port == {port} && memcache", ["tcp.srcport", "memcache.magic", "memcache.opcode",
                                                                "memcache.key"], decode=decode)
    magics = {(r["tcp.srcport"] == str(port), r["memcache.magic"]) for r in rows}
    if not rows or magics != {(False, "128"), (True, "129")}:
        errors.append(f"memcached: tshark does not read binary requests and responses each way: {sorted(magics)}")
    named = [r["memcache.key"] for r in rows if r["tcp.srcport"] != str(port) and r["memcache.opcode"] == "33"]
    data = bytearray()
    for r in fields(capture, f"tcp.dstport == {port} && tcp.len > 0", ["tcp.payload"]):
        data.extend(bytes.fromhex(r["tcp.payload"].replace(":", "")))
    seen = []
    while len(data) >= 24 and data[0] == 0x80:
        opcode, key_length, extras = data[1], int.from_bytes(data[2:4], "big"), data[4]
        body = bytes(data[24:24 + int.from_bytes(data[8:12], "big")])
        if opcode == 0x21 and body[extras:extras + key_length] == b"PLAIN":
            _, user, password = body[extras + key_length:].split(b"\0", 2)
            seen.append(("memcached-sasl-plain", user.decode(), len(password)))
        data = data[24 + len(body):]
    if [c for c in named if c != "PLAIN"] or len(named) != len(seen):
        errors.append(f"memcached: tshark names the SASL mechanisms {named}, the bytes hold {len(seen)} PLAIN logins")
    expected = logins_of(credentials)
    if seen != expected:
        errors.append(f"memcached credentials: expected {expected}, the client's SASL packets hold {seen}")


def zookeeper_records(data):
    """The records of one side of a ZooKeeper connection: each a 4-byte length and that many bytes."""
    records = []
    while len(data) >= 4:
        length = int.from_bytes(data[:4], "big")
        records.append(data[4:4 + length])
        data = data[4 + length:]
    return records


def check_zookeeper(capture, port, credentials, errors, midstream=False):
    """A ZooKeeper session as its bytes show it (tshark 4.0 has no ZooKeeper dissector): the client's first record a
    ConnectRequest (44 or 45 bytes, protocol version 0, a 16-byte session password), the server's first a
    ConnectResponse (36 or 37 bytes, version 0, a session id), and the credentials those of the client's AuthPackets
    (xid -4, type 100) of the digest scheme, each once: user, password length (zkCli.sh sends its addauth twice).
    A session joined mid-way (`midstream`) has no SYN and no ConnectRequest, and its heartbeat each way instead: a
    ping from the client (xid -2, type 11) and its answer (xid -2, error 0)."""
    def side(dfilter):
        data = bytearray()
        for r in fields(capture, f"{dfilter} && tcp.len > 0", ["tcp.payload"]):
            data.extend(bytes.fromhex(r["tcp.payload"].replace(":", "")))
        return zookeeper_records(bytes(data))
    client_bytes = b"".join(bytes.fromhex(r["tcp.payload"].replace(":", ""))
                            for r in fields(capture, f"tcp.dstport == {port} && tcp.len > 0", ["tcp.payload"]))
    if 4 <= len(client_bytes) <= 6 and client_bytes[:4].isalpha() and client_bytes[4:].strip() == b"":
        # A four-letter word (ruok, srvr…) alone: ZooKeeper's answer to it, or its refusal, and no credential.
        word = client_bytes[:4].decode()
        answer = b"".join(bytes.fromhex(r["tcp.payload"].replace(":", ""))
                          for r in fields(capture, f"tcp.srcport == {port} && tcp.len > 0", ["tcp.payload"]))
        known = {"ruok": b"imok", "srvr": b"Zookeeper version:", "mntr": b"zk_version"}
        if not (answer.startswith(known.get(word, b"\0"))
                or answer.startswith(f"{word} is not executed because it is not in the whitelist".encode())):
            errors.append(f"zookeeper: {word} answered {answer[:60]!r}, not as ZooKeeper answers it")
        if credentials:
            errors.append("zookeeper: a four-letter word carries no credential")
        return
    client, server = side(f"tcp.dstport == {port}"), side(f"tcp.srcport == {port}")
    if midstream:
        if fields(capture, f"tcp.port == {port} && tcp.flags.syn == 1", ["frame.number"]):
            errors.append("zookeeper midstream: the capture holds a SYN")
        if client and len(client[0]) in (44, 45) and client[0][:4] == b"\0\0\0\0":
            errors.append("zookeeper midstream: the client's first record is a ConnectRequest")
        if not any(r == b"\xff\xff\xff\xfe\x00\x00\x00\x0b" for r in client):
            errors.append("zookeeper midstream: no ping from the client")
        if not any(len(r) == 16 and r[:4] == b"\xff\xff\xff\xfe" and r[12:] == b"\0" * 4 for r in server):
            errors.append("zookeeper midstream: no answer to a ping from the server")
        requests = client
    else:
        connect = client[0] if client else b""
        if len(connect) not in (44, 45) or connect[:4] != b"\0\0\0\0" or int.from_bytes(connect[24:28], "big") != 16:
            errors.append(f"zookeeper: the client's first record is no ConnectRequest: {connect[:32].hex()}")
        answer = server[0] if server else b""
        if len(answer) not in (36, 37) or answer[:4] != b"\0\0\0\0" or answer[8:16] == b"\0" * 8:
            errors.append(f"zookeeper: the server's first record is no ConnectResponse: {answer[:32].hex()}")
        requests = client[1:]
    seen = []
    for record in requests:
        if record[4:8] == b"\x00\x00\x00\x66":   # a SASL request: its token; DIGEST-MD5's response names the user
            token = record[12:12 + int.from_bytes(record[8:12], "big")].decode("latin-1")
            user = re.search(r'username="([^"]*)"', token)
            if user and "response=" in token and ("zookeeper-sasl-digest", user.group(1), None) not in seen:
                seen.append(("zookeeper-sasl-digest", user.group(1), None))
            continue
        if record[:8] != b"\xff\xff\xff\xfc\x00\x00\x00\x64":
            continue
        scheme_length = int.from_bytes(record[12:16], "big")
        scheme = record[16:16 + scheme_length].decode()
        data_length = int.from_bytes(record[16 + scheme_length:20 + scheme_length], "big")
        data = record[20 + scheme_length:20 + scheme_length + data_length]
        if scheme == "digest":
            user, _, password = data.decode().partition(":")
            if ("zookeeper-digest", user, len(password)) not in seen:   # the same login sent again is one credential
                seen.append(("zookeeper-digest", user, len(password)))
    expected = logins_of(credentials)
    if seen != expected:
        errors.append(f"zookeeper credentials: expected {expected}, the client's AuthPackets hold {seen}")


def check_broker_login(capture, protocol, port, credentials, errors, websocket=False):
    expected = logins_of(credentials)
    seen = broker_logins(capture, protocol, port, websocket)
    if seen != expected:
        errors.append(f"credentials: expected {expected}, tshark sees {seen}")


ETCD_PACKAGES = ("/etcdserverpb.", "/v3lockpb.", "/v3electionpb.")
ETCD_PASSWORD_METHODS = {"Auth/Authenticate": None, "Auth/UserAdd": "password set by Auth/UserAdd",
                         "Auth/UserChangePassword": "password set by Auth/UserChangePassword"}


def protobuf_fields(message):
    """(number, value) of a Protocol Buffers message: varints as ints, length-delimited fields as bytes."""
    out, i = [], 0

    def varint():
        nonlocal i
        value = shift = 0
        while True:
            byte = message[i]
            i += 1
            value |= (byte & 0x7f) << shift
            shift += 7
            if byte < 0x80:
                return value
    while i < len(message):
        tag = varint()
        if tag & 7 == 0:
            out.append((tag >> 3, varint()))
        elif tag & 7 == 2:
            length = varint()
            out.append((tag >> 3, message[i:i + length]))
            i += length
        elif tag & 7 in (1, 5):
            i += 8 if tag & 7 == 1 else 4
        else:
            raise ValueError("wire type %d" % (tag & 7))
    return out


def grpc_messages(data_hex):
    """The gRPC messages of a stream's DATA (a compressed flag, a 4-byte length, the message, repeated)."""
    data, out = bytes.fromhex(data_hex.replace(":", "").replace("|", "")), []
    while len(data) >= 5:
        length = int.from_bytes(data[1:5], "big")
        out.append(data[5:5 + length])
        data = data[5 + length:]
    return out


def check_etcd(capture, port, flows, errors):
    """etcd's API as tshark's HTTP/2 dissector reads it, connection by connection: the methods the client called (the
    paths of its requests, each once), the answers' ResponseHeader (cluster and member ids) or etcd's own errors
    (grpc-message "etcdserver: ..."), and the passwords (in Auth/Authenticate, UserAdd, UserChangePassword requests)
    and tokens (the `token` metadata) the client sent. A connection answered neither way is not etcd, whatever it
    asked: its flow must not carry etcdAPI."""
    requests = fields(capture, f"tcp.dstport == {port} && http2.type == 1",
                      ["tcp.stream", "http2.header.name", "http2.header.value"])
    client_data = fields(capture, f"tcp.dstport == {port} && http2.type == 0", ["tcp.stream", "http2.data.data"])
    answers = fields(capture, f"tcp.srcport == {port} && http2",
                     ["tcp.stream", "http2.header.name", "http2.header.value", "http2.data.data"])
    # tshark aggregates each field over a packet's frames, so a header is matched to its connection, not its stream:
    # etcdctl calls at most one method that carries a password per connection.
    seen = {}   # tcp.stream -> what tshark shows
    for r in requests:
        conn = seen.setdefault(r["tcp.stream"], {"methods": [], "evidence": False, "clusterID": None,
                                                 "memberID": None, "credentials": []})
        for name, value in zip(r["http2.header.name"].split("|"), r["http2.header.value"].split("|")):
            if name == ":path" and value.startswith(ETCD_PACKAGES):
                method = value.split(".", 1)[1]
                if method not in conn["methods"]:
                    conn["methods"].append(method)
            elif name == "token" and conn["methods"]:
                login = ("etcd-token", None, len(value), "token metadata")
                if login not in conn["credentials"]:
                    conn["credentials"].append(login)
    for r in client_data:
        conn = seen.get(r["tcp.stream"])
        methods = [m for m in (conn or {}).get("methods", []) if m in ETCD_PASSWORD_METHODS]
        if len(methods) == 1 and r["http2.data.data"]:
            for message in grpc_messages(r["http2.data.data"]):
                values = dict(protobuf_fields(message))
                if values.get(2):
                    conn["credentials"].append(("etcd-password", values.get(1, b"").decode() or None, len(values[2]),
                                                ETCD_PASSWORD_METHODS[methods[0]]))
    for r in answers:
        conn = seen.get(r["tcp.stream"])
        if conn is None or not conn["methods"]:
            continue
        for name, value in zip(r["http2.header.name"].split("|"), r["http2.header.value"].split("|")):
            if name == "grpc-message" and value.startswith("etcdserver: "):
                conn["evidence"] = True
        if r["http2.data.data"] and conn["clusterID"] is None:
            for message in grpc_messages(r["http2.data.data"]):
                header = dict(protobuf_fields(message)).get(1)
                ids = dict(protobuf_fields(header)) if isinstance(header, bytes) else {}
                if ids.get(1) and ids.get(2):
                    conn["evidence"] = True
                    conn["clusterID"], conn["memberID"] = "%016x" % ids[1], "%016x" % ids[2]
                    break
    expected = [(fl.get("etcdAPI"), [(c["kind"], c.get("user"), int(re.search(r"(\d+) characters", c["redacted"]).group(1)),
                                      c.get("note")) for c in fl.get("credentials", []) if c["kind"].startswith("etcd-")])
                for fl in flows]
    got = [({"interface": "client", "clusterID": c["clusterID"], "memberID": c["memberID"], "methods": c["methods"]}
            if c["evidence"] else None,
            c["credentials"]) for _, c in sorted(seen.items(), key=lambda item: int(item[0]))]
    if len(expected) != len(got):
        errors.append(f"etcdAPI: expected {len(expected)} connections on port {port}, tshark sees {len(got)}")
        return
    for index, ((api, credentials), (seen_api, seen_credentials)) in enumerate(zip(expected, got)):
        if api is not None and seen_api is not None:
            seen_api = {key: seen_api[key] for key in api}   # the expected file may leave an id out
        if api != seen_api:
            errors.append(f"etcdAPI of connection {index}: expected {api}, tshark sees {seen_api}")
        if credentials != seen_credentials:
            errors.append(f"etcd credentials of connection {index}: expected {credentials}, tshark sees {seen_credentials}")


def check_etcd_http(capture, port, expected, exact, errors):
    """etcd's HTTP/1.1 APIs as tshark's HTTP dissector reads them, connection by connection: the first request's method
    and path, and the first answer's word: an X-Etcd-Cluster-Id header (the peer API) or the JSON gateway's
    {"header":{"cluster_id":"…","member_id":"…"} (ids in decimal). Each expected etcdAPI must be one of those
    connections (all of them, when the capture's flow count is exact)."""
    # etcd's client port is read as HTTP/2 by DECODE_AS (its gRPC); its gateway and peer API are HTTP/1.1.
    http = [f"tcp.port=={port},http"]
    requests = fields(capture, f"http.request && tcp.dstport == {port}",
                      ["tcp.stream", "http.request.method", "http.request.uri"], decode=http)
    # A raft stream's answer is chunked and never ends: read again with the headers dissected as they come.
    answer_fields = ["tcp.stream", "http.response.code", "http.response.line", "http.file_data"]
    answers = fields(capture, f"http.response && tcp.srcport == {port}", answer_fields, decode=http)
    answers += fields(capture, f"http.response && tcp.srcport == {port}", answer_fields, decode=http,
                      prefs=["http.desegment_body:FALSE"])
    first_request, first_answer = {}, {}
    for r in requests:
        first_request.setdefault(r["tcp.stream"], r)
    for r in answers:
        first_answer.setdefault(r["tcp.stream"], r)
    seen = []
    for stream, request in first_request.items():
        answer = first_answer.get(stream)
        if answer is None:
            continue
        path = re.split(r"[?#]", request["http.request.uri"])[0]
        peer = path.startswith(("/raft", "/members"))
        headers = {}
        for line in answer["http.response.line"].split("|"):
            name, _, value = line.replace("\\r\\n", "").partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        api = None
        if headers.get("x-etcd-cluster-id"):
            api = {"interface": "peer" if peer else "client",
                   "clusterID": "%016x" % int(headers["x-etcd-cluster-id"], 16), "memberID": None}
        elif not peer and answer["http.response.code"].startswith("2"):
            body = answer["http.file_data"]
            try:
                header = json.loads(body).get("header", {}) if body.lstrip().startswith("{") else {}
            except ValueError:
                header = {}
            if header.get("cluster_id") and header.get("member_id"):
                api = {"interface": "client", "clusterID": "%016x" % int(header["cluster_id"]),
                       "memberID": "%016x" % int(header["member_id"])}
        if api is not None:
            api["methods"] = [f"{request['http.request.method']} {path}"]
            seen.append(api)
    pool = list(seen)
    for api in expected:
        hit = next((g for g in pool if all(g.get(k) == v for k, v in api.items())), None)
        if hit is None:
            errors.append(f"etcdAPI: expected {api}, tshark sees {seen}")
        else:
            pool.remove(hit)
    if exact and pool:
        errors.append(f"etcdAPI: tshark sees etcd answering on connections the expected file does not name: {pool}")


def parse_keylog(path):
    """(well-formed entries as (label, client_random_hex), number of other non-comment lines)"""
    good, bad = [], 0
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        ok = (len(parts) == 3 and parts[0] in KEYLOG_LABELS and re.fullmatch(r"[0-9a-fA-F]{64}", parts[1])
              and re.fullmatch(r"[0-9a-fA-F]+", parts[2]) and len(parts[2]) % 2 == 0
              and len(parts[2]) // 2 in KEYLOG_LABELS[parts[0]])
        if ok:
            good.append((parts[0], parts[1].lower()))
        else:
            bad += 1
    return good, bad


def check_key_files(expected_files, captures):
    problems = []
    with_keylog_json = set()
    for p in expected_files:
        e = json.load(open(p))
        if "keylog" in e and os.path.splitext(e["capture"])[0] + ".keys" in [os.path.basename(k) for k in e["keylog"]]:
            with_keylog_json.add(os.path.splitext(e["capture"])[0])
    bases = {os.path.splitext(c)[0] for c in captures}
    for k in sorted(glob.glob(os.path.join(KEYS, "*.keys"))):
        name = os.path.basename(k)
        if name in NEGATIVE_KEYS:
            continue
        base = name[:-len(".keys")]
        good, bad = parse_keylog(k)
        if base not in bases:
            problems.append(f"keys/{name}: no capture {base}.pcap(ng)")
        if base not in with_keylog_json:
            problems.append(f"keys/{name}: no expected/{base}.keylog.json uses it")
        if not good or bad:
            problems.append(f"keys/{name}: {len(good)} well-formed entries, {bad} malformed lines")
    unrelated = os.path.join(KEYS, "unrelated.keys")
    if os.path.exists(unrelated):
        good, bad = parse_keylog(unrelated)
        labels = {g[0] for g in good}
        if bad or "CLIENT_RANDOM" not in labels or "CLIENT_TRAFFIC_SECRET_0" not in labels:
            problems.append(f"keys/unrelated.keys: expected TLS 1.2 and TLS 1.3 entries only, got {sorted(labels)}, {bad} bad lines")
        randoms = {g[1] for g in good}
        for p in expected_files:
            e = json.load(open(p))
            for fl in e["flows"]:
                if fl.get("tls") is None or "midstream" in fl.get("anomalies", []):
                    continue  # a connection joined mid-way has no ClientHello
                port = int(split_ep(fl["server"])[1])
                if fl.get("quic", {}).get("version") == "quic-v2":
                    continue  # see check(): tshark 4.0 does not read QUIC v2 past a Retry
                client, _ = handshake_rows(os.path.join(HERE, e["capture"]), port, None,
                                           "udp" if fl.get("protocol") == "quic" else "tcp")
                seen = {x.replace(":", "").lower() for r in client if has_type(r, "1")
                        for x in r["tls.handshake.random"].split("|") if x}
                if not seen:
                    problems.append(f"{e['capture']}: no ClientHello random found on port {port}")
                msg = f"keys/unrelated.keys: matches a client random in {e['capture']}"
                if seen & randoms and msg not in problems:
                    problems.append(msg)
    malformed = os.path.join(KEYS, "malformed.keys")
    if os.path.exists(malformed):
        good, bad = parse_keylog(malformed)
        if good or bad != 6:
            problems.append(f"keys/malformed.keys: {len(good)} well-formed entries (want 0), {bad} bad lines")
    return problems


def main():
    wanted = sys.argv[1:]
    files = sorted(glob.glob(os.path.join(EXPECTED, "*.json")))
    bad = 0
    todo = [p for p in files if not wanted or json.load(open(p))["capture"] in wanted]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = list(pool.map(check, todo))
    for path, errs in zip(todo, results):
        print(f"{'ok  ' if not errs else 'FAIL'} {os.path.basename(path)}")
        for e in errs:
            print("       " + e)
        bad += bool(errs)
    captures = {os.path.basename(p) for p in glob.glob(os.path.join(HERE, "*.pcap*"))}
    covered = {json.load(open(p))["capture"] for p in files}
    for extra in sorted(captures - covered):
        print(f"FAIL {extra}: no expected file")
        bad += 1
    if not wanted:
        problems = check_key_files(files, captures)
        print(f"{'ok  ' if not problems else 'FAIL'} keys/")
        for p in problems:
            print("       " + p)
        bad += bool(problems)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
