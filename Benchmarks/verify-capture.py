#!/usr/bin/env python3
"""Cross-check a capture written by gen-mixed-capture against its truth file,
using tshark (and capinfos) as an independent reader.

Meant for small instances (10-100 MB); tshark on the full 1 GB file is slow.

    python3 Benchmarks/verify-capture.py CAPTURE.pcap TRUTH.json

Checks:
  * capinfos packet count == truth.packets
  * no TCP analysis flags (retransmission, lost segment, dup ACK, ACKed unseen, ...)
  * no malformed packets from the dissector of the stream's real content (tshark
    picks dissectors by port; misfires such as HTTP on TLS-over-port-80 are listed
    but ignored)
  * tshark's TCP + UDP conversation count == truth.flows
  * with "decode as TLS" on every port the generator uses for TLS, tshark
    finds exactly truth.tls ClientHellos, ServerHellos, SNIs
  * the per-class flow counts and the TLS client-certificate states obtained by
    reassembling every stream from tshark's tcp.payload output and parsing the
    first bytes / TLS records match truth.byProtocol and
    truth.tlsByClientCertificate
Exits 1 on any mismatch.
"""
import collections
import json
import subprocess
import sys

TLS_PORTS = [443, 8443, 9000, 80, 5432, 993, 6443]


def tshark(args):
    return subprocess.run(["tshark"] + args, check=True, capture_output=True, text=True).stdout


def classify_first(data):
    if len(data) >= 6 and data[0] == 0x16 and data[1] == 3 and data[5] == 1:
        return "tls"
    for m in (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE "):
        if data.startswith(m):
            return "http"
    if data[:1] == b"*":
        return "redis"
    if len(data) >= 8 and data[4:8] == b"\x00\x03\x00\x00":
        return "postgresql"
    return "unknown-binary"


def tls_records(stream):
    out, i = [], 0
    while i + 5 <= len(stream):
        t, ln = stream[i], int.from_bytes(stream[i + 3:i + 5], "big")
        out.append((t, ln, stream[i + 5:i + 5 + ln]))
        i += 5 + ln
    return out


def hs_messages(records):
    buf = b"".join(body for t, _, body in records if t == 22)
    msgs, i = [], 0
    while i + 4 <= len(buf):
        ln = int.from_bytes(buf[i + 1:i + 4], "big")
        msgs.append((buf[i], buf[i + 4:i + 4 + ln]))
        i += 4 + ln
    return msgs


def tls_client_cert_state(turns):
    """turns: list of (direction, bytes) message runs, in order."""
    c1, s1, c2 = turns[0][1], turns[1][1], turns[2][1]
    srecs = tls_records(s1)
    sh = [b for t, b in hs_messages(srecs) if t == 2][0]
    # ServerHello: version(2) random(32) sid_len(1)+sid cipher(2) comp(1) ext_len(2) exts
    p = 2 + 32
    p += 1 + sh[p]
    p += 3
    exts, q, v13 = sh[p + 2:], 0, False
    while q + 4 <= len(exts):
        et, el = int.from_bytes(exts[q:q + 2], "big"), int.from_bytes(exts[q + 2:q + 4], "big")
        if et == 0x2B and exts[q + 4:q + 6] == b"\x03\x04":
            v13 = True
        q += 4 + el
    if not v13:
        types = [t for t, _ in hs_messages(srecs)]
        if 13 not in types:
            return "not-requested"
        cmsgs = hs_messages(tls_records(c2))
        cert = [b for t, b in cmsgs if t == 11][0]
        return "presented" if int.from_bytes(cert[0:3], "big") > 0 else "declined"
    srv_enc = [ln for t, ln, _ in srecs if t == 23]
    cli_enc = [ln for t, ln, _ in tls_records(c2) if t == 23]
    requested = len(srv_enc) == 5
    if not requested:
        return "likely-not-requested"
    return "likely-presented" if len(cli_enc) == 3 else "likely-declined"


def main():
    cap, truth_path = sys.argv[1], sys.argv[2]
    truth = json.load(open(truth_path))
    ok = True

    def check(name, got, want):
        nonlocal ok
        good = got == want
        ok &= good
        print(f"{'PASS' if good else 'FAIL'}  {name}: got {got}, truth {want}")

    info = subprocess.run(["capinfos", "-c", "-M", cap], check=True, capture_output=True, text=True).stdout
    pk = int([l for l in info.splitlines() if "Number of packets" in l][0].split(":")[1].strip())
    check("packets (capinfos)", pk, truth["packets"])
    check("TCP analysis flags", len(tshark(["-r", cap, "-Y", "tcp.analysis.flags"]).splitlines()), 0)
    convs = sum(l.count("<->") for l in tshark(["-r", cap, "-q", "-z", "conv,tcp", "-z", "conv,udp"]).splitlines())
    check("TCP+UDP conversations", convs, truth["flows"])

    da = []
    for p in TLS_PORTS:
        da += ["-d", f"tcp.port=={p},tls"]
    f = tshark(["-r", cap] + da + ["-Y", "tls.handshake.type==1 || tls.handshake.type==2", "-T", "fields",
                                   "-e", "tls.handshake.type", "-e", "tls.handshake.extensions_server_name"])
    ch = sh = sni = 0
    for line in f.splitlines():
        types, name = (line.split("\t") + [""])[:2]
        for t in types.split(","):
            ch += t == "1"
            sh += t == "2"
        sni += name.endswith(".bench.example")
    check("tshark ClientHello (decode-as TLS)", ch, truth["tls"])
    check("tshark ServerHello (decode-as TLS)", sh, truth["tls"])
    check("tshark SNI *.bench.example", sni, truth["tls"])

    # Reassemble every TCP stream (the generator never reorders or retransmits).
    out = tshark(["-r", cap, "-Y", "tcp.len>0", "-T", "fields", "-e", "tcp.stream", "-e", "tcp.flags.syn",
                  "-e", "tcp.srcport", "-e", "tcp.payload"])
    first_src = {}
    for line in tshark(["-r", cap, "-Y", "tcp.flags.syn==1 && tcp.flags.ack==0", "-T", "fields",
                        "-e", "tcp.stream", "-e", "tcp.srcport"]).splitlines():
        s, sp = line.split("\t")
        first_src[s] = sp
    turns = collections.defaultdict(list)
    for line in out.splitlines():
        s, _, sp, hexp = line.split("\t")
        d = 0 if first_src.get(s) == sp else 1
        t = turns[s]
        if t and t[-1][0] == d:
            if len(t) <= 3 and len(t[-1][1]) < 65536:  # only the first three turns matter
                t[-1][1].extend(bytes.fromhex(hexp))
        else:
            t.append((d, bytearray(bytes.fromhex(hexp) if len(t) < 3 else b"")))
    by_proto = collections.Counter()
    by_cc = collections.Counter()
    stream_class = {}
    for s, t in turns.items():
        cls = classify_first(bytes(t[0][1]))
        stream_class[s] = cls
        by_proto[cls] += 1
        if cls == "tls":
            by_cc[tls_client_cert_state([(d, bytes(b)) for d, b in t])] += 1
    by_proto["dns"] = sum(l.count("<->") for l in tshark(["-r", cap, "-q", "-z", "conv,udp"]).splitlines())
    dns_msgs = len(tshark(["-r", cap, "-d", "udp.port==5300,dns", "-Y", "dns"]).splitlines())
    check("DNS messages (tshark, 53 + decode-as 5300)", dns_msgs, truth["dnsMessages"])
    # Malformed packets.  tshark picks dissectors by port, so non-HTTP content on
    # port 80 is dissected as HTTP, Redis on 7000 as Gryphon, etc. and may be
    # flagged malformed; only count a malformed packet when the dissector that
    # failed is the one for the stream's actual content (or TCP/IP itself).
    app_class = {"http": "http", "tls": "tls", "ssl": "tls", "resp": "redis", "pgsql": "postgresql", "dns": "dns"}
    real, misfired = 0, collections.Counter()
    for line in tshark(["-r", cap, "-d", "udp.port==5300,dns", "-Y", "_ws.malformed", "-T", "fields",
                        "-e", "tcp.stream", "-e", "frame.protocols"]).splitlines():
        s, protos = (line.split("\t") + [""])[:2]
        stack = [p for p in protos.split(":") if p not in ("tcp.segments", "_ws.malformed", "data")]
        app = stack[stack.index("tcp") + 1] if "tcp" in stack and stack.index("tcp") + 1 < len(stack) else None
        if app is None and "udp" in stack:
            app = stack[stack.index("udp") + 1] if stack.index("udp") + 1 < len(stack) else None
        if app is None or app_class.get(app) == stream_class.get(s, "dns" if not s else None):
            real += 1
        else:
            misfired[f"{app} on {stream_class.get(s)}"] += 1
    check("malformed packets (dissector matching the content)", real, 0)
    if misfired:
        print("info  ignored malformed from port-based dissectors on other content: "
              + ", ".join(f"{k}: {v}" for k, v in sorted(misfired.items())))

    for k, v in truth["byProtocol"].items():
        check(f"byProtocol[{k}] (reassembled)", by_proto.get(k, 0), v)
    for k, v in truth["tlsByClientCertificate"].items():
        check(f"tlsByClientCertificate[{k}] (reassembled)", by_cc.get(k, 0), v)
    extra = set(by_proto) - set(truth["byProtocol"])
    if extra:
        ok = False
        print(f"FAIL  unexpected classes: {sorted(extra)}")
    print("ALL PASS" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
