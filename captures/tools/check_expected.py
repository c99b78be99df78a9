#!/usr/bin/env python3
"""Cross-check captures/expected/*.json against what tshark sees in the captures.

The expected files are written from the ground truth of how each capture was
made (see make-captures.sh); this script only confirms that the captures still
show it after a regeneration: flow count and endpoints, TLS version, cipher, SNI,
ALPN, CertificateRequest / client Certificate, fatal alerts, certificate
subjects/issuers/SANs/key types (via openssl on the DER that tshark extracts;
TLS 1.3 captures are decrypted with keys/NAME.keys), and snaplen truncation.

  python3 captures/tools/check_expected.py [NAME.pcap ...]

Exit status 0 when everything matches.  Needs tshark and openssl.
"""
import glob
import json
import os
import re
import subprocess
import sys

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
# decode-as for services on ports tshark would not guess
DECODE_AS = ["-d", "tcp.port==2525,smtp", "-d", "tcp.port==8081,http2", "-d", "tcp.port==6380,resp",
             "-d", "tcp.port==8443,tls", "-d", "tcp.port==9000,tls"]


def tshark(capture, args, keylog=None):
    cmd = ["tshark", "-n", "-r", capture] + DECODE_AS
    if keylog:
        cmd += ["-o", "tls.keylog_file:" + keylog]
    cmd += args
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def conversations(capture):
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
            convs.append((proto, m.group(1), m.group(2)))
    return convs


def split_ep(ep):
    host, port = ep.rsplit(":", 1)
    return host.strip("[]"), port


def fields(capture, dfilter, names, keylog=None):
    args = ["-Y", dfilter, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
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


def check_tls(capture, port, exp, errors, keylog):
    flt = f"tcp.port=={port} && tls.handshake"
    names = ["tcp.srcport", "tls.handshake.type", "tls.handshake.extensions_server_name",
             "tls.handshake.extensions_alpn_str", "tls.handshake.ciphersuite",
             "tls.handshake.extensions.supported_version", "tls.handshake.certificate",
             "tls.handshake.certificate_length", "tls.handshake.certificates_length"]
    rows = fields(capture, flt, names, keylog)
    from_server = [r for r in rows if r["tcp.srcport"] == str(port)]
    from_client = [r for r in rows if r["tcp.srcport"] != str(port)]

    def types(rs):
        return [t for r in rs for t in r["tls.handshake.type"].split("|") if t]

    ch = [r for r in from_client if "1" in r["tls.handshake.type"].split("|")]
    sh = [r for r in from_server if "2" in r["tls.handshake.type"].split("|")]
    got = {}
    if ch:
        got["sni"] = ch[-1]["tls.handshake.extensions_server_name"] or None
    if sh:
        sv = sh[-1]["tls.handshake.extensions.supported_version"]
        got["version"] = "1.3" if "0x0304" in sv else "1.2"
        cs = sh[-1]["tls.handshake.ciphersuite"].split("|")[0]
        got["cipher"] = CIPHERS.get(int(cs, 16), cs) if cs else None
        alpn = sh[-1]["tls.handshake.extensions_alpn_str"]
        if got["version"] == "1.2":
            got["alpn"] = alpn or None
        elif not ch[-1]["tls.handshake.extensions_alpn_str"]:
            got["alpn"] = None   # TLS 1.3: nothing offered, so nothing selected
    visible = got.get("version") == "1.2" or keylog is not None
    if visible:
        requested = "13" in types(from_server)
        client_cert_rows = [r for r in from_client if "11" in r["tls.handshake.type"].split("|")]
        presented = any(r["tls.handshake.certificate"] for r in client_cert_rows)
        state = "presented" if presented else ("declined" if requested else "not-requested")
        if got.get("version") == "1.3":
            state = "likely-" + state
        got["clientCertificate"] = state
    # fatal alerts (plaintext, or decrypted with the key log)
    alerts = fields(capture, f"tcp.port=={port} && tls.alert_message", ["tls.alert_message.desc"], keylog)
    descs = [d for r in alerts for d in r["tls.alert_message.desc"].split("|") if d]
    if got.get("version") == "1.2" or keylog is not None:
        got["established"] = not any(d != "0" for d in descs)
    if got.get("version") == "1.2":
        for side, rs, key in (("server", from_server, "serverCertificates"), ("client", from_client, "clientCertificates")):
            certs = [c for r in rs if "11" in r["tls.handshake.type"].split("|")
                     for c in r["tls.handshake.certificate"].split("|") if c]
            got[key] = [cert_info(c) for c in certs]
    for k, v in got.items():
        if k in exp:
            ev = exp[k]
            if isinstance(ev, list):
                if len(ev) != len(v):
                    errors.append(f"tls.{k}: expected {len(ev)} certs, capture has {len(v)}: {v}")
                    continue
                for e, a in zip(ev, v):
                    for kk, vv in e.items():
                        if a.get(kk) != vv:
                            errors.append(f"tls.{k}.{kk}: expected {vv!r}, capture has {a.get(kk)!r}")
            elif ev != v:
                errors.append(f"tls.{k}: expected {ev!r}, capture has {v!r}")


def check(path):
    exp = json.load(open(path))
    capture = os.path.join(HERE, exp["capture"])
    base = os.path.splitext(exp["capture"])[0]
    keylog = os.path.join(KEYS, base + ".keys")
    keylog = keylog if os.path.exists(keylog) else None
    errors = []
    if not os.path.exists(capture):
        return [f"missing capture {capture}"]
    convs = conversations(capture)
    if len(convs) != exp["flowCount"]:
        errors.append(f"flowCount: expected {exp['flowCount']}, tshark sees {len(convs)}: {convs}")
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
        if "tls" in fl:
            check_tls(capture, int(sport), fl["tls"], errors, keylog)
    return errors


def main():
    wanted = sys.argv[1:]
    files = sorted(glob.glob(os.path.join(EXPECTED, "*.json")))
    bad = 0
    for path in files:
        name = json.load(open(path))["capture"]
        if wanted and name not in wanted:
            continue
        errs = check(path)
        print(f"{'ok  ' if not errs else 'FAIL'} {name}")
        for e in errs:
            print("       " + e)
        bad += bool(errs)
    captures = {os.path.basename(p) for p in glob.glob(os.path.join(HERE, "*.pcap*"))}
    covered = {json.load(open(p))["capture"] for p in files}
    for extra in sorted(captures - covered):
        print(f"FAIL {extra}: no expected file")
        bad += 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
