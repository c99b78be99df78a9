#!/usr/bin/env python3
"""Cross-check a capture written by gen-mixed-capture against its truth file,
using tshark (and capinfos) as an independent reader.

Meant for small instances (10-100 MB); tshark on the full 1 GB file is slow.

    python3 Benchmarks/verify-capture.py CAPTURE.pcap TRUTH.json [--keylog KEYS.txt]

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
With --keylog (a capture made with gen-mixed-capture --keylog), tshark decrypts the
TLS 1.3 flows with the key log and:
  * the key log has 4 lines per TLS 1.3 flow, each for a ClientHello random of the capture
  * tshark finds two decrypted Finished messages in every TLS 1.3 flow (none elsewhere),
    2 x truth.decryptedFlows in all, and no TLS 1.3 record it could not decrypt
  * the client-certificate states read from the decrypted handshakes (client Certificate
    with / without entries, CertificateRequest or not) plus the TLS 1.2 states equal
    truth.tlsByClientCertificateWithKeys
  * no malformed packet in the decrypted TLS 1.3 flows
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


def keyed_checks(cap, keys, truth, first_src, by_cc, check):
    """Decrypt with the key log (tshark) and read the TLS 1.3 handshakes."""
    da = []
    for p in TLS_PORTS:
        da += ["-d", f"tcp.port=={p},tls"]
    out = tshark(["-r", cap, "-o", f"tls.keylog_file:{keys}"] + da + [
        "-Y", "tls", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
        "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tls.handshake.type",
        "-e", "tls.handshake.extensions.supported_version", "-e", "tls.handshake.certificates_length",
        "-e", "tls.handshake.random", "-e", "tls.record.length", "-e", "tls.record.content_type",
        "-e", "_ws.malformed"])
    st = collections.defaultdict(lambda: dict(v13=False, fin=0, cr=False, ccert=None, undecrypted=0, malformed=0))
    randoms = set()
    for line in out.splitlines():
        s, sp, types, vers, certlens, rnd, reclens, ctypes, malformed = (line.split("\t") + [""] * 9)[:9]
        d = st[s]
        client = first_src.get(s) == sp
        types = [t for t in types.split(",") if t]
        if "2" in types and not client and "0x0304" in vers.split(","):
            d["v13"] = True
        if "1" in types and client and rnd:
            randoms.add(rnd.split(",")[0].lower())
        d["fin"] += types.count("20")
        if "13" in types and not client:
            d["cr"] = True
        if "11" in types and client and certlens:
            d["ccert"] = int(certlens.split(",")[0])
        # a record tshark could not decrypt has a length but no (inner) content type
        d["undecrypted"] += max(0, len([x for x in reclens.split(",") if x]) - len([x for x in ctypes.split(",") if x]))
        d["malformed"] += bool(malformed)
    v13 = {s: d for s, d in st.items() if d["v13"]}
    lines = [l.split() for l in open(keys) if l.strip() and not l.startswith("#")]
    check("key log lines (4 per TLS 1.3 flow)", len(lines), 4 * truth["decryptedFlows"])
    check("key log client randoms found in a ClientHello", sum(1 for l in lines if l[1].lower() in randoms), len(lines))
    check("TLS 1.3 flows (tshark, supported_versions 0x0304)", len(v13), truth["decryptedFlows"])
    check("decrypted Finished messages (tshark + key log)", sum(d["fin"] for d in st.values()), 2 * truth["decryptedFlows"])
    check("TLS 1.3 flows without exactly 2 decrypted Finished", sum(1 for d in v13.values() if d["fin"] != 2), 0)
    check("TLS 1.3 records tshark could not decrypt", sum(d["undecrypted"] for d in v13.values()), 0)
    check("malformed packets in decrypted TLS 1.3 flows", sum(d["malformed"] for d in v13.values()), 0)
    with_keys = collections.Counter({k: v for k, v in by_cc.items() if not k.startswith("likely-")})
    for d in v13.values():
        if d["ccert"] is not None:
            with_keys["presented" if d["ccert"] > 0 else "declined"] += 1
        else:
            with_keys["not-requested" if not d["cr"] else "unknown"] += 1
    want = truth["tlsByClientCertificateWithKeys"]
    for k in sorted(set(want) | set(with_keys)):
        check(f"tlsByClientCertificateWithKeys[{k}] (decrypted by tshark)", with_keys.get(k, 0), want.get(k, 0))


def main():
    args = sys.argv[1:]
    keys = None
    if "--keylog" in args:
        i = args.index("--keylog")
        keys = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit("usage: verify-capture.py CAPTURE.pcap TRUTH.json [--keylog KEYS.txt]")
    cap, truth_path = args
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
    if keys:
        if not truth.get("keylog"):
            check("truth file describes a --keylog capture", False, True)
        else:
            keyed_checks(cap, keys, truth, first_src, by_cc, check)
    elif truth.get("keylog"):
        print("info  capture made with --keylog; pass --keylog KEYS.txt to check decryption too")
    extra = set(by_proto) - set(truth["byProtocol"])
    if extra:
        ok = False
        print(f"FAIL  unexpected classes: {sorted(extra)}")
    print("ALL PASS" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
