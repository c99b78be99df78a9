/*
 * gen-mixed-capture.c -- deterministic generator of a large, mixed pcap for the
 * `bulkhead analyze` benchmark (Benchmarks/run-analyze-benchmark.sh).
 *
 * Writes a classic pcap (microsecond timestamps, LINKTYPE_ETHERNET) of roughly
 * --size bytes holding thousands of interleaved flows, and a JSON "truth" file
 * with the exact number of flows per content class.  Every TCP flow has a full
 * SYN / SYN-ACK / ACK handshake, consistent sequence/ack numbers, timestamp
 * options, delayed ACKs every second full segment, 1448-byte segments and a
 * FIN / FIN / ACK close.  UDP flows are DNS query/response pairs.
 *
 * Classes (decided by content, deliberately spread over unrelated ports):
 *   tls            TLS 1.2 (client cert not requested / presented / declined)
 *                  and TLS 1.3 (likely-not-requested / likely-presented /
 *                  likely-declined), then bulk application_data both ways
 *   http           HTTP/1.1 keep-alive requests/responses with bulk bodies
 *   redis          RESP commands (PING, GET, SET) with bulk values
 *   postgresql     v3 startup, simple queries, bulk DataRows
 *   unknown-binary random bytes (first byte >= 0x80, never SSLv2-hello-like)
 *   dns            UDP DNS A/AAAA query + response (1-2 pairs per flow)
 *
 * Addresses: IPv4 198.18.0.0/15 (clients 198.18/16, servers 198.19/16) and
 * IPv6 2001:2::/48 (clients 2001:2:0:1::/64, servers 2001:2:0:2::/64);
 * ~10% of flows are IPv6 and ~10% carry an 802.1Q tag (independently).
 *
 * With --keylog KEYS.txt every TLS 1.3 flow is really protected (TLS_AES_256_GCM_SHA384,
 * RFC 8446 record layer: HKDF-Expand-Label keys, per-record nonces, the record header
 * as AAD, TLSInnerPlaintext with the real content type) with random per-flow traffic
 * secrets, and KEYS.txt receives their NSS key log lines (CLIENT/SERVER_HANDSHAKE_
 * TRAFFIC_SECRET, CLIENT/SERVER_TRAFFIC_SECRET_0), so that a reader with the key log
 * decrypts the whole flow: EncryptedExtensions, [CertificateRequest], Certificate,
 * CertificateVerify, Finished, the client's [Certificate, [CertificateVerify]] Finished,
 * NewSessionTickets and all application data (HTTP/1.1 inside, ALPN http/1.1).
 * Without --keylog, encrypted records are random bytes of the same lengths as in
 * generator version 1; version 2 only moved the capture clock (see main()).
 *
 * The capture starts at 2026-12-01T00:00:00Z, within the validity of the embedded
 * certificates.
 *
 * The output depends only on (--seed, --size, --window, certificate inputs, --keylog).
 *
 * Build: gcc -O2 -o gen-mixed-capture gen-mixed-capture.c -lcrypto   (OpenSSL 3, libssl-dev)
 * Usage: gen-mixed-capture -o OUT.pcap -t TRUTH.json [-s BYTES|NNNm|NNNg]
 *                          [--seed N] [--window N (default: auto, 500 for >= 200 MB)]
 *                          [--cert SERVER.der] [--ca CA.der] [--client-cert CLIENT.der]
 *                          [--keylog KEYS.txt] [--shape mixed|short]
 * --shape short: almost every flow a few kilobytes (a handshake, a request or two), ~6 kB per flow
 * on the wire, the shape of health checks and API calls; the default "mixed" keeps its fat tail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define GEN_VERSION 2
/* ---- Embedded certificates (generated once with openssl; RSA-2048, private keys discarded) ----
 * CA:     O=Bulkhead Bench, CN=Bulkhead Bench CA
 * server: O=Bulkhead Bench, CN=*.bench.example (SAN *.bench.example, bench.example), issued by the CA
 * client: O=Bulkhead Bench, CN=bench-client (clientAuth), issued by the CA */
static const unsigned char cert_ca[] = {
  0x30, 0x82, 0x03, 0x5b, 0x30, 0x82, 0x02, 0x43, 0xa0, 0x03, 0x02, 0x01,
  0x02, 0x02, 0x14, 0x35, 0xe1, 0x4c, 0x44, 0x6a, 0xaa, 0x0b, 0x1b, 0xe4,
  0x5e, 0xd8, 0x92, 0xe3, 0x8f, 0x57, 0xec, 0xd5, 0xdf, 0x30, 0x63, 0x30,
  0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
  0x05, 0x00, 0x30, 0x35, 0x31, 0x17, 0x30, 0x15, 0x06, 0x03, 0x55, 0x04,
  0x0a, 0x0c, 0x0e, 0x42, 0x75, 0x6c, 0x6b, 0x68, 0x65, 0x61, 0x64, 0x20,
  0x42, 0x65, 0x6e, 0x63, 0x68, 0x31, 0x1a, 0x30, 0x18, 0x06, 0x03, 0x55,
  0x04, 0x03, 0x0c, 0x11, 0x42, 0x75, 0x6c, 0x6b, 0x68, 0x65, 0x61, 0x64,
  0x20, 0x42, 0x65, 0x6e, 0x63, 0x68, 0x20, 0x43, 0x41, 0x30, 0x1e, 0x17,
  0x0d, 0x32, 0x36, 0x31, 0x31, 0x32, 0x39, 0x30, 0x38, 0x35, 0x31, 0x35,
  0x31, 0x5a, 0x17, 0x0d, 0x33, 0x36, 0x31, 0x31, 0x32, 0x36, 0x30, 0x38,
  0x35, 0x31, 0x35, 0x31, 0x5a, 0x30, 0x35, 0x31, 0x17, 0x30, 0x15, 0x06,
  0x03, 0x55, 0x04, 0x0a, 0x0c, 0x0e, 0x42, 0x75, 0x6c, 0x6b, 0x68, 0x65,
  0x61, 0x64, 0x20, 0x42, 0x65, 0x6e, 0x63, 0x68, 0x31, 0x1a, 0x30, 0x18,
  0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x11, 0x42, 0x75, 0x6c, 0x6b, 0x68,
  0x65, 0x61, 0x64, 0x20, 0x42, 0x65, 0x6e, 0x63, 0x68, 0x20, 0x43, 0x41,
  0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
  0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00, 0x03, 0x82, 0x01, 0x0f, 0x00,
  0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00, 0xc3, 0xe2, 0x96,
  0x01, 0xe2, 0xc5, 0xf4, 0x1c, 0x10, 0xa6, 0x2e, 0x88, 0x17, 0xb9, 0x0e,
  0x59, 0x92, 0x73, 0x78, 0x80, 0xee, 0x82, 0x2c, 0x5d, 0x99, 0x37, 0x2a,
  0xea, 0x75, 0x82, 0x16, 0x71, 0xdf, 0xbb, 0xf4, 0x18, 0xcd, 0xa8, 0xcb,
  0x3f, 0x84, 0x79, 0xb4, 0x9e, 0x1a, 0xcd, 0x18, 0x7d, 0x42, 0xe8, 0x48,
  0x86, 0x2d, 0x74, 0x36, 0x44, 0x52, 0xe3, 0xf4, 0x85, 0x6a, 0xbb, 0xb6,
  0x4a, 0x47, 0xe0, 0x21, 0xa9, 0xe6, 0x44, 0xdc, 0x94, 0xf0, 0x1d, 0x60,
  0xa5, 0x52, 0x9b, 0x11, 0xef, 0x2c, 0x52, 0x32, 0x33, 0xed, 0x98, 0x70,
  0xc8, 0xa6, 0x35, 0x67, 0x0e, 0x80, 0xe2, 0x88, 0xc1, 0x0c, 0xf4, 0xf3,
  0x01, 0x2b, 0x8e, 0x23, 0x42, 0x40, 0x1d, 0x61, 0x63, 0xc0, 0x58, 0x37,
  0x91, 0xda, 0xc2, 0x0b, 0x95, 0x81, 0xbc, 0xb8, 0x9d, 0xb8, 0x5c, 0xd2,
  0xa7, 0xe2, 0x45, 0x63, 0xeb, 0xdf, 0x85, 0x54, 0xbc, 0xdb, 0x69, 0x3b,
  0xf8, 0x9e, 0xf4, 0xa1, 0xd8, 0xba, 0x91, 0x6b, 0x1f, 0x89, 0x1c, 0xfd,
  0xec, 0xa3, 0xc5, 0xae, 0x97, 0x20, 0xd2, 0x74, 0xd1, 0xe2, 0x0f, 0x59,
  0x47, 0x69, 0xc3, 0xc0, 0x7f, 0x55, 0x4d, 0x43, 0x94, 0xbf, 0x35, 0xe8,
  0x61, 0x07, 0x6d, 0x09, 0x53, 0xd6, 0x5a, 0xb2, 0xa0, 0xf2, 0x8f, 0x40,
  0x6a, 0xc0, 0xd3, 0xe0, 0x34, 0x2e, 0x16, 0x96, 0x8b, 0x4f, 0x39, 0x69,
  0x81, 0x46, 0xd1, 0x0d, 0xfa, 0xe7, 0xde, 0xf7, 0x90, 0xd4, 0x4d, 0xf0,
  0xfb, 0xe9, 0xc7, 0xcd, 0x22, 0x97, 0x9d, 0xcb, 0xd5, 0xd6, 0x62, 0xb5,
  0x4a, 0x70, 0xe7, 0x1b, 0xe4, 0x73, 0x59, 0xe4, 0xdf, 0xcb, 0xc5, 0xa6,
  0x01, 0xdb, 0xd5, 0x2c, 0x0f, 0xb9, 0xad, 0x33, 0x4f, 0xb8, 0x34, 0xac,
  0x18, 0xc8, 0x92, 0xba, 0x8a, 0xb3, 0xcb, 0xe0, 0x45, 0xf1, 0xd8, 0x09,
  0x7b, 0x02, 0x03, 0x01, 0x00, 0x01, 0xa3, 0x63, 0x30, 0x61, 0x30, 0x1d,
  0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04, 0x16, 0x04, 0x14, 0xe8, 0x05, 0xae,
  0x21, 0xc9, 0x42, 0x57, 0x83, 0x15, 0x0d, 0xcc, 0x78, 0xb5, 0xdb, 0x73,
  0x03, 0x62, 0x1f, 0x92, 0x4a, 0x30, 0x1f, 0x06, 0x03, 0x55, 0x1d, 0x23,
  0x04, 0x18, 0x30, 0x16, 0x80, 0x14, 0xe8, 0x05, 0xae, 0x21, 0xc9, 0x42,
  0x57, 0x83, 0x15, 0x0d, 0xcc, 0x78, 0xb5, 0xdb, 0x73, 0x03, 0x62, 0x1f,
  0x92, 0x4a, 0x30, 0x0f, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff,
  0x04, 0x05, 0x30, 0x03, 0x01, 0x01, 0xff, 0x30, 0x0e, 0x06, 0x03, 0x55,
  0x1d, 0x0f, 0x01, 0x01, 0xff, 0x04, 0x04, 0x03, 0x02, 0x01, 0x06, 0x30,
  0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
  0x05, 0x00, 0x03, 0x82, 0x01, 0x01, 0x00, 0x41, 0xab, 0x48, 0xc7, 0x3d,
  0x8a, 0x08, 0xdf, 0xf5, 0xee, 0x36, 0x03, 0x1b, 0x84, 0xc3, 0x5f, 0x56,
  0xb5, 0x63, 0x68, 0x43, 0xaf, 0xae, 0xd3, 0xd7, 0xae, 0x02, 0x65, 0x02,
  0xac, 0xd3, 0x2c, 0x02, 0x8f, 0xc8, 0x86, 0xce, 0x11, 0x27, 0x03, 0xba,
  0xb2, 0x2a, 0x8d, 0x18, 0x1e, 0x48, 0x99, 0xdc, 0xc3, 0x4d, 0x61, 0x97,
  0xe8, 0x29, 0xc6, 0x7d, 0xca, 0xf9, 0x2e, 0x3b, 0x00, 0xed, 0x70, 0x18,
  0x5a, 0x29, 0xb6, 0xec, 0xe8, 0xaa, 0x66, 0x75, 0x52, 0xc2, 0x50, 0xd0,
  0xb4, 0x51, 0xcd, 0xd2, 0x2d, 0xb0, 0x1f, 0xe9, 0x31, 0xff, 0xe8, 0x59,
  0x51, 0x70, 0x40, 0xec, 0x47, 0x99, 0x28, 0xd9, 0xd5, 0x35, 0xe0, 0x22,
  0x92, 0x9a, 0x2b, 0x51, 0x01, 0x94, 0xda, 0x23, 0xb3, 0xb1, 0x48, 0xad,
  0x99, 0x37, 0x0c, 0x32, 0x75, 0x1c, 0x3a, 0x1b, 0xdf, 0xaa, 0x45, 0x71,
  0x3f, 0x38, 0xa3, 0x35, 0x53, 0x33, 0x9e, 0x43, 0x0b, 0xe5, 0x00, 0x2c,
  0x3b, 0xff, 0x58, 0xc1, 0xcb, 0x60, 0x8d, 0x7b, 0x5a, 0xb9, 0x66, 0x83,
  0xe0, 0xa2, 0xf9, 0x2b, 0xe4, 0x80, 0x89, 0x75, 0x50, 0xf8, 0x22, 0xa4,
  0x35, 0x9a, 0x44, 0x28, 0x11, 0xf4, 0x9e, 0x1e, 0x20, 0xe3, 0xf1, 0x57,
  0x53, 0xab, 0xe7, 0xc9, 0xf4, 0x0b, 0x9f, 0x6a, 0x85, 0x20, 0x1c, 0xbf,
  0xa4, 0x0e, 0xc0, 0xe4, 0x32, 0x09, 0x64, 0xa4, 0x01, 0x93, 0x6f, 0x4b,
  0x1f, 0x7d, 0xee, 0x1b, 0x99, 0x05, 0xc2, 0x13, 0xd1, 0x61, 0xeb, 0x51,
  0x49, 0xaa, 0x1c, 0x7d, 0x81, 0x86, 0x96, 0x6d, 0x63, 0x01, 0x79, 0x83,
  0xbb, 0xf9, 0x68, 0xa7, 0x2c, 0x3e, 0x82, 0x45, 0x42, 0xe0, 0xf4, 0x7e,
  0x72, 0x7b, 0x79, 0xd2, 0x0f, 0x0d, 0x28, 0x19, 0x80, 0x6c, 0x75, 0x8f,
  0x30, 0x73, 0x81, 0xec, 0xc5, 0x40, 0x2d, 0x85, 0x1c, 0xfd, 0x31
};
static const unsigned int cert_ca_len = 863;
static const unsigned char cert_srv[] = {
  0x30, 0x82, 0x03, 0x85, 0x30, 0x82, 0x02, 0x6d, 0xa0, 0x03, 0x02, 0x01,
  0x02, 0x02, 0x14, 0x11, 0x84, 0x5a, 0x23, 0xd8, 0xa7, 0x3e, 0x83, 0xde,
  0x7f, 0x6b, 0xe3, 0x35, 0xef, 0x38, 0xe6, 0xde, 0xe0, 0xe4, 0x7f, 0x30,
  0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
  0x05, 0x00, 0x30, 0x35, 0x31, 0x17, 0x30, 0x15, 0x06, 0x03, 0x55, 0x04,
  0x0a, 0x0c, 0x0e, 0x42, 0x75, 0x6c, 0x6b, 0x68, 0x65, 0x61, 0x64, 0x20,
  0x42, 0x65, 0x6e, 0x63, 0x68, 0x31, 0x1a, 0x30, 0x18, 0x06, 0x03, 0x55,
  0x04, 0x03, 0x0c, 0x11, 0x42, 0x75, 0x6c, 0x6b, 0x68, 0x65, 0x61, 0x64,
  0x20, 0x42, 0x65, 0x6e, 0x63, 0x68, 0x20, 0x43, 0x41, 0x30, 0x1e, 0x17,
  0x0d, 0x32, 0x36, 0x31, 0x31, 0x32, 0x39, 0x30, 0x38, 0x35, 0x31, 0x35,
  0x31, 0x5a, 0x17, 0x0d, 0x33, 0x36, 0x31, 0x31, 0x32, 0x36, 0x30, 0x38,
  0x35, 0x31, 0x35, 0x31, 0x5a, 0x30, 0x33, 0x31, 0x17, 0x30, 0x15, 0x06,
  0x03, 0x55, 0x04, 0x0a, 0x0c, 0x0e, 0x42, 0x75, 0x6c, 0x6b, 0x68, 0x65,
  0x61, 0x64, 0x20, 0x42, 0x65, 0x6e, 0x63, 0x68, 0x31, 0x18, 0x30, 0x16,
  0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x0f, 0x2a, 0x2e, 0x62, 0x65, 0x6e,
  0x63, 0x68, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x30, 0x82,
  0x01, 0x22, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
  0x01, 0x01, 0x01, 0x05, 0x00, 0x03, 0x82, 0x01, 0x0f, 0x00, 0x30, 0x82,
  0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00, 0xbc, 0x43, 0xa3, 0x0c, 0xea,
  0x91, 0xb8, 0x9f, 0xad, 0x9c, 0x52, 0xb1, 0xa8, 0x47, 0x28, 0xd5, 0xe7,
  0xaf, 0xd4, 0x84, 0xea, 0x79, 0x7d, 0x9a, 0x50, 0xff, 0x89, 0xe9, 0x09,
  0x64, 0x65, 0x98, 0xe7, 0xb9, 0x94, 0xc0, 0xcd, 0xc4, 0xf5, 0x41, 0xa7,
  0xb0, 0x72, 0x4d, 0xd0, 0x5c, 0x55, 0xf2, 0x1a, 0xf7, 0xe4, 0xb1, 0xfe,
  0x55, 0xbe, 0x59, 0x92, 0x32, 0x25, 0x83, 0x5c, 0xfd, 0x57, 0x1c, 0x26,
  0x73, 0x3c, 0xb6, 0x39, 0xe0, 0xb8, 0xe0, 0xd7, 0x51, 0x7a, 0xa3, 0x09,
  0xb7, 0x12, 0xba, 0x62, 0x3a, 0x07, 0x6d, 0xba, 0x07, 0xc8, 0xaa, 0xbc,
  0x47, 0xf8, 0x64, 0x67, 0x80, 0x09, 0xb1, 0xbc, 0x66, 0x47, 0x31, 0x44,
  0x34, 0xa1, 0x56, 0x40, 0x46, 0xad, 0x39, 0xb8, 0x45, 0x16, 0xff, 0x35,
  0xd9, 0x35, 0xb6, 0x59, 0x34, 0xd4, 0x88, 0x88, 0x85, 0x83, 0xe7, 0x63,
  0xa9, 0x82, 0x9a, 0x9d, 0xd1, 0xab, 0x2f, 0x53, 0x0e, 0x91, 0x76, 0xbd,
  0x3e, 0xa5, 0x1d, 0x95, 0x5c, 0x36, 0x00, 0xfa, 0xbc, 0x27, 0x40, 0x86,
  0x13, 0x30, 0x61, 0x76, 0x79, 0xa8, 0xe6, 0xd2, 0xc5, 0xef, 0x7a, 0x52,
  0x86, 0x85, 0xa6, 0x77, 0xea, 0x2a, 0xb7, 0x29, 0x3c, 0xeb, 0x24, 0x07,
  0xaa, 0x81, 0x75, 0x7c, 0xb0, 0x40, 0x9e, 0x87, 0x11, 0x18, 0x4d, 0xc5,
  0x77, 0x1f, 0xec, 0xad, 0x6a, 0xb0, 0x47, 0x1b, 0xb2, 0xec, 0xf6, 0xac,
  0xbf, 0xb4, 0x8f, 0xa1, 0x7e, 0x3d, 0xc5, 0x2d, 0xdb, 0x26, 0x08, 0x38,
  0xdb, 0x86, 0xa9, 0x6b, 0xcf, 0xfa, 0xbb, 0xbe, 0x94, 0x73, 0xa0, 0x0d,
  0x15, 0x3e, 0x44, 0xcb, 0x12, 0x53, 0xc7, 0x35, 0x6b, 0x78, 0x82, 0xb1,
  0xdc, 0x36, 0xad, 0xe0, 0x55, 0xf1, 0x86, 0x4d, 0x1a, 0x98, 0xdd, 0xfe,
  0x6f, 0x18, 0xd2, 0x9e, 0x02, 0x7c, 0x94, 0xd1, 0xa7, 0x5a, 0x4b, 0x02,
  0x03, 0x01, 0x00, 0x01, 0xa3, 0x81, 0x8e, 0x30, 0x81, 0x8b, 0x30, 0x29,
  0x06, 0x03, 0x55, 0x1d, 0x11, 0x04, 0x22, 0x30, 0x20, 0x82, 0x0f, 0x2a,
  0x2e, 0x62, 0x65, 0x6e, 0x63, 0x68, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70,
  0x6c, 0x65, 0x82, 0x0d, 0x62, 0x65, 0x6e, 0x63, 0x68, 0x2e, 0x65, 0x78,
  0x61, 0x6d, 0x70, 0x6c, 0x65, 0x30, 0x13, 0x06, 0x03, 0x55, 0x1d, 0x25,
  0x04, 0x0c, 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07,
  0x03, 0x01, 0x30, 0x09, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x04, 0x02, 0x30,
  0x00, 0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04, 0x16, 0x04, 0x14,
  0xed, 0x63, 0xc5, 0x7e, 0xc9, 0x89, 0x41, 0x7a, 0x08, 0xa5, 0xd7, 0x5d,
  0x6c, 0x71, 0xe0, 0x4f, 0xe1, 0x12, 0x85, 0x4a, 0x30, 0x1f, 0x06, 0x03,
  0x55, 0x1d, 0x23, 0x04, 0x18, 0x30, 0x16, 0x80, 0x14, 0xe8, 0x05, 0xae,
  0x21, 0xc9, 0x42, 0x57, 0x83, 0x15, 0x0d, 0xcc, 0x78, 0xb5, 0xdb, 0x73,
  0x03, 0x62, 0x1f, 0x92, 0x4a, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48,
  0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00, 0x03, 0x82, 0x01, 0x01,
  0x00, 0x68, 0xbf, 0x96, 0xa1, 0x5c, 0x28, 0x0b, 0x7c, 0xaa, 0xfd, 0x86,
  0xcf, 0xc7, 0x4a, 0xff, 0xe2, 0x49, 0xe7, 0x19, 0x72, 0x43, 0xb3, 0x86,
  0x78, 0x87, 0x27, 0xeb, 0x37, 0xf4, 0x39, 0x90, 0x64, 0xcb, 0x43, 0xdc,
  0x2a, 0x9e, 0xfa, 0x5d, 0xe9, 0xfa, 0xfe, 0xab, 0x98, 0x82, 0x4e, 0x40,
  0x0a, 0x49, 0x0e, 0xa0, 0x62, 0x9c, 0xe0, 0xc6, 0x63, 0x49, 0xf3, 0x14,
  0xb4, 0x83, 0x21, 0xa2, 0x1c, 0xcf, 0xc7, 0x6b, 0xdc, 0xec, 0xbc, 0x11,
  0xb6, 0xb1, 0xea, 0xfd, 0x1a, 0xe9, 0x76, 0x51, 0x4a, 0xd0, 0x40, 0x20,
  0x3e, 0x50, 0xb7, 0xd9, 0x4a, 0xd9, 0xad, 0x0b, 0x02, 0xd4, 0x40, 0xf0,
  0x52, 0x49, 0x8d, 0x1b, 0x2a, 0xb5, 0xd8, 0x91, 0x42, 0x35, 0x88, 0x8d,
  0xcb, 0x57, 0x1d, 0xbd, 0xff, 0xdd, 0x08, 0x66, 0x60, 0xa8, 0x80, 0xcc,
  0x00, 0x56, 0x52, 0x04, 0x2b, 0xd5, 0x1e, 0x49, 0xcb, 0xe3, 0xd7, 0xfb,
  0x70, 0x04, 0x10, 0x9a, 0xcf, 0xb5, 0xd3, 0x3d, 0xd7, 0x34, 0x91, 0xd9,
  0xb7, 0x98, 0x9d, 0x6b, 0xb7, 0x56, 0x59, 0x36, 0x8b, 0x8c, 0xb6, 0xf4,
  0x3e, 0x62, 0x64, 0xf8, 0x0a, 0x6a, 0x7f, 0x91, 0xc4, 0xfa, 0xa6, 0xdc,
  0x2c, 0x09, 0xbb, 0x60, 0x5f, 0x23, 0x94, 0x6d, 0x6b, 0x93, 0x15, 0x44,
  0x73, 0xc8, 0x57, 0xb9, 0x5b, 0xa2, 0x41, 0x47, 0x8a, 0xbb, 0x22, 0x86,
  0xf5, 0x31, 0xe4, 0xbd, 0xa5, 0x8f, 0x6d, 0xd9, 0x65, 0x30, 0xaa, 0x0c,
  0xd7, 0xb1, 0x8a, 0x9e, 0xd4, 0x13, 0x41, 0x7c, 0x3f, 0x23, 0x73, 0x14,
  0xa9, 0x8f, 0xdf, 0x97, 0x8c, 0xb7, 0x09, 0xef, 0x37, 0x10, 0xdb, 0x20,
  0xa7, 0x58, 0xec, 0xc3, 0x2f, 0x27, 0x2e, 0xcf, 0x77, 0x97, 0xbd, 0x8e,
  0xf5, 0xda, 0xfe, 0x6b, 0x82, 0xd8, 0x3a, 0x9c, 0xd8, 0x71, 0xea, 0xb3,
  0x78, 0x4c, 0xa4, 0x2c, 0x26
};
static const unsigned int cert_srv_len = 905;
static const unsigned char cert_cli[] = {
  0x30, 0x82, 0x03, 0x55, 0x30, 0x82, 0x02, 0x3d, 0xa0, 0x03, 0x02, 0x01,
  0x02, 0x02, 0x14, 0x11, 0x84, 0x5a, 0x23, 0xd8, 0xa7, 0x3e, 0x83, 0xde,
  0x7f, 0x6b, 0xe3, 0x35, 0xef, 0x38, 0xe6, 0xde, 0xe0, 0xe4, 0x80, 0x30,
  0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
  0x05, 0x00, 0x30, 0x35, 0x31, 0x17, 0x30, 0x15, 0x06, 0x03, 0x55, 0x04,
  0x0a, 0x0c, 0x0e, 0x42, 0x75, 0x6c, 0x6b, 0x68, 0x65, 0x61, 0x64, 0x20,
  0x42, 0x65, 0x6e, 0x63, 0x68, 0x31, 0x1a, 0x30, 0x18, 0x06, 0x03, 0x55,
  0x04, 0x03, 0x0c, 0x11, 0x42, 0x75, 0x6c, 0x6b, 0x68, 0x65, 0x61, 0x64,
  0x20, 0x42, 0x65, 0x6e, 0x63, 0x68, 0x20, 0x43, 0x41, 0x30, 0x1e, 0x17,
  0x0d, 0x32, 0x36, 0x31, 0x31, 0x32, 0x39, 0x30, 0x38, 0x35, 0x31, 0x35,
  0x31, 0x5a, 0x17, 0x0d, 0x33, 0x36, 0x31, 0x31, 0x32, 0x36, 0x30, 0x38,
  0x35, 0x31, 0x35, 0x31, 0x5a, 0x30, 0x30, 0x31, 0x17, 0x30, 0x15, 0x06,
  0x03, 0x55, 0x04, 0x0a, 0x0c, 0x0e, 0x42, 0x75, 0x6c, 0x6b, 0x68, 0x65,
  0x61, 0x64, 0x20, 0x42, 0x65, 0x6e, 0x63, 0x68, 0x31, 0x15, 0x30, 0x13,
  0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x0c, 0x62, 0x65, 0x6e, 0x63, 0x68,
  0x2d, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x30, 0x82, 0x01, 0x22, 0x30,
  0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
  0x05, 0x00, 0x03, 0x82, 0x01, 0x0f, 0x00, 0x30, 0x82, 0x01, 0x0a, 0x02,
  0x82, 0x01, 0x01, 0x00, 0xd7, 0x86, 0x7f, 0x5a, 0x78, 0xc2, 0x73, 0xed,
  0xfc, 0xba, 0xbd, 0xc3, 0xa8, 0xab, 0xa6, 0x1a, 0x58, 0x50, 0x57, 0xcf,
  0x99, 0xf6, 0x91, 0xc9, 0xf2, 0xad, 0x99, 0x90, 0xb8, 0x57, 0xb9, 0x7a,
  0x79, 0x4d, 0x24, 0x5a, 0x83, 0x95, 0x50, 0x15, 0xc4, 0xc9, 0x66, 0xff,
  0x96, 0x46, 0x12, 0x31, 0xa4, 0x22, 0xae, 0x6c, 0x0e, 0xb8, 0x4d, 0x60,
  0xbd, 0xb4, 0x10, 0xc9, 0x24, 0x5e, 0x95, 0x05, 0xf9, 0xc4, 0xd9, 0xba,
  0xec, 0x06, 0x06, 0xed, 0x16, 0xb2, 0x57, 0xdd, 0x54, 0x41, 0x57, 0x78,
  0x9c, 0xe5, 0xf9, 0x80, 0x46, 0x45, 0xcb, 0xbe, 0x2b, 0xc2, 0x55, 0x14,
  0x00, 0x11, 0x72, 0x40, 0x7c, 0x12, 0x79, 0x04, 0x89, 0xaa, 0xb0, 0xa9,
  0xec, 0xb5, 0x6c, 0xbf, 0x94, 0x20, 0xc0, 0x9d, 0x7c, 0x02, 0x70, 0xc8,
  0x06, 0x51, 0x4b, 0xd5, 0xe0, 0x0c, 0x28, 0xaf, 0x9f, 0xbb, 0x62, 0xdd,
  0x6e, 0xe5, 0x67, 0xd3, 0x05, 0x12, 0xb3, 0x4f, 0x7f, 0x7f, 0x2c, 0xd6,
  0x6e, 0x4d, 0xdc, 0x4d, 0x53, 0x3b, 0xac, 0x86, 0xc5, 0x68, 0x5c, 0x8b,
  0xf2, 0xd6, 0xbb, 0x69, 0x22, 0xfc, 0x84, 0xb3, 0xb6, 0x3b, 0x82, 0x68,
  0x2c, 0xf0, 0x32, 0xa0, 0x6a, 0x56, 0xf8, 0xa9, 0xed, 0xd9, 0xfc, 0x40,
  0xcf, 0xf8, 0xf9, 0xd7, 0x28, 0xb6, 0x9b, 0xcc, 0x50, 0xe2, 0xa2, 0x95,
  0x53, 0x73, 0x83, 0x17, 0x8d, 0x95, 0x29, 0xb6, 0x50, 0xe9, 0x81, 0xd1,
  0xfc, 0xe5, 0x5c, 0x3a, 0x13, 0x2d, 0xc4, 0xb9, 0x9a, 0x5b, 0xb1, 0x4e,
  0x7d, 0xfa, 0x37, 0xc4, 0xb9, 0x03, 0xda, 0xc1, 0x70, 0xdb, 0xac, 0x89,
  0x58, 0x83, 0x98, 0xef, 0x0a, 0x84, 0x90, 0xe5, 0x71, 0x29, 0xcf, 0x02,
  0x43, 0xcf, 0x0b, 0xa2, 0xd1, 0x8b, 0x57, 0x31, 0xb3, 0xc4, 0xf6, 0xc1,
  0x28, 0x8a, 0x20, 0x71, 0x8b, 0x19, 0x7e, 0x83, 0x02, 0x03, 0x01, 0x00,
  0x01, 0xa3, 0x62, 0x30, 0x60, 0x30, 0x13, 0x06, 0x03, 0x55, 0x1d, 0x25,
  0x04, 0x0c, 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07,
  0x03, 0x02, 0x30, 0x09, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x04, 0x02, 0x30,
  0x00, 0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04, 0x16, 0x04, 0x14,
  0x0e, 0x1d, 0xac, 0x2f, 0x89, 0x05, 0x93, 0x82, 0x7a, 0x5a, 0x87, 0xc5,
  0x07, 0x4b, 0xa7, 0x98, 0x3a, 0x3c, 0xab, 0x55, 0x30, 0x1f, 0x06, 0x03,
  0x55, 0x1d, 0x23, 0x04, 0x18, 0x30, 0x16, 0x80, 0x14, 0xe8, 0x05, 0xae,
  0x21, 0xc9, 0x42, 0x57, 0x83, 0x15, 0x0d, 0xcc, 0x78, 0xb5, 0xdb, 0x73,
  0x03, 0x62, 0x1f, 0x92, 0x4a, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48,
  0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00, 0x03, 0x82, 0x01, 0x01,
  0x00, 0x9e, 0xfd, 0x8e, 0x05, 0x71, 0xeb, 0x05, 0x5a, 0x45, 0x5b, 0xa9,
  0xad, 0x0c, 0x66, 0xc8, 0x6f, 0xfe, 0x97, 0x47, 0x4c, 0xc3, 0xb5, 0x5f,
  0xe9, 0x60, 0x55, 0x8b, 0xd3, 0xfa, 0x91, 0x1f, 0xfc, 0x82, 0x6c, 0x7d,
  0x65, 0x47, 0x56, 0x8c, 0x61, 0x5c, 0x23, 0x26, 0x99, 0x8a, 0x60, 0x90,
  0xed, 0x9c, 0xa4, 0x86, 0xa3, 0x79, 0x7e, 0x3f, 0xe1, 0x11, 0x0e, 0x91,
  0x1e, 0xfd, 0x7c, 0x7f, 0x25, 0x8b, 0x05, 0xc8, 0x00, 0xb4, 0xff, 0x2c,
  0xe9, 0x91, 0xef, 0x67, 0xe1, 0x8f, 0xf2, 0x1b, 0xc5, 0xca, 0xd1, 0xbd,
  0x81, 0x4f, 0x1f, 0x17, 0xc1, 0x5f, 0xb0, 0xed, 0x69, 0x62, 0xb5, 0x9c,
  0x3c, 0xcb, 0x85, 0x6c, 0xa6, 0x5a, 0x7f, 0x83, 0x4c, 0x93, 0xd0, 0x77,
  0x7d, 0xe7, 0xba, 0x84, 0x51, 0x02, 0x2a, 0x9d, 0x8d, 0xd2, 0x04, 0x84,
  0x6c, 0x9f, 0x6e, 0x67, 0xec, 0x25, 0x14, 0xfc, 0x8b, 0x3a, 0x61, 0x68,
  0x5f, 0x47, 0x0b, 0x33, 0xfe, 0xb5, 0xd5, 0xb4, 0x9b, 0x60, 0x5b, 0xe4,
  0xc4, 0xdf, 0x9a, 0xbd, 0xc9, 0x82, 0x8f, 0x4f, 0x17, 0x08, 0x88, 0x2a,
  0x73, 0x23, 0x33, 0x0b, 0xcc, 0x4d, 0x5c, 0xe1, 0x58, 0xab, 0xc6, 0xb9,
  0xaf, 0x38, 0x48, 0xfa, 0x74, 0xee, 0xf6, 0xbd, 0xb8, 0x5c, 0x25, 0xcd,
  0xfd, 0x97, 0xf6, 0xbf, 0xd7, 0xd0, 0xb2, 0x9e, 0xd5, 0xd4, 0xa2, 0xac,
  0x9b, 0xf0, 0x64, 0xd6, 0x27, 0xfc, 0x15, 0x16, 0xe5, 0x53, 0x51, 0x12,
  0x80, 0xa5, 0xc2, 0x16, 0x19, 0xa3, 0x00, 0x79, 0x83, 0x19, 0x89, 0xcd,
  0xa7, 0x8e, 0x6e, 0x4b, 0x22, 0xad, 0x4a, 0x89, 0x7a, 0x7f, 0x49, 0x20,
  0x97, 0xbb, 0x9a, 0x74, 0x8d, 0x31, 0x29, 0x24, 0x1b, 0xa6, 0xc9, 0x24,
  0x42, 0xbe, 0x68, 0x7b, 0x4f, 0xaf, 0xb6, 0x9a, 0xba, 0x0d, 0x28, 0x1f,
  0x70, 0x58, 0xa1, 0xc2, 0x9e
};
static const unsigned int cert_cli_len = 857;

/* ------------------------------------------------------------------------- */
/* Classes and truth vocabulary                                               */

enum { C_TLS, C_HTTP, C_REDIS, C_PG, C_UNK, C_DNS, NCLASS };
static const char *class_name[NCLASS] = {"tls", "http", "redis", "postgresql", "unknown-binary", "dns"};
/* per-mille weights for picking the class of a new flow */
static const int class_weight[NCLASS] = {460, 240, 80, 50, 40, 130};

enum { T12_NOREQ, T12_PRES, T12_DECL, T13_NOREQ, T13_PRES, T13_DECL, NTLSV };
static const char *cc_name[NTLSV] = {"not-requested", "presented", "declined",
                                     "likely-not-requested", "likely-presented", "likely-declined"};
static const int tlsv_weight[NTLSV] = {300, 100, 60, 340, 120, 80};

/* Ports per class (content decides the class; ports are deliberately mixed). */
typedef struct { uint16_t port; int weight; } port_w;
static const port_w tls_ports[] = {{443, 600}, {8443, 80}, {9000, 80}, {80, 80}, {5432, 60}, {993, 50}, {6443, 50}, {0, 0}};
static const port_w http_ports[] = {{80, 600}, {8080, 150}, {8443, 100}, {443, 50}, {3000, 50}, {9000, 50}, {0, 0}};
static const port_w redis_ports[] = {{6379, 700}, {7000, 150}, {443, 50}, {80, 50}, {16379, 50}, {0, 0}};
static const port_w pg_ports[] = {{5432, 750}, {6432, 150}, {443, 50}, {9000, 50}, {0, 0}};
static const port_w unk_ports[] = {{9000, 200}, {443, 200}, {80, 150}, {5432, 100}, {6379, 100}, {12345, 150}, {31337, 100}, {0, 0}};
static const port_w dns_ports[] = {{53, 900}, {5300, 100}, {0, 0}};

/* ------------------------------------------------------------------------- */
/* PRNG (wyrand) -- fast, deterministic                                       */

static inline uint64_t wyrand(uint64_t *s) {
    *s += 0xa0761d6478bd642full;
    __uint128_t t = (__uint128_t)*s * (*s ^ 0xe7037ed1a0b428dbull);
    return (uint64_t)(t >> 64) ^ (uint64_t)t;
}
static inline uint32_t rnd(uint64_t *s, uint32_t n) { /* [0, n) */
    return (uint32_t)(((wyrand(s) & 0xffffffffull) * (uint64_t)n) >> 32);
}
static inline int64_t rrange(uint64_t *s, int64_t lo, int64_t hi) { /* [lo, hi] */
    return lo + (int64_t)(wyrand(s) % (uint64_t)(hi - lo + 1));
}
static void fill_random(uint64_t *s, uint8_t *p, size_t n) {
    while (n >= 8) { uint64_t v = wyrand(s); memcpy(p, &v, 8); p += 8; n -= 8; }
    if (n) { uint64_t v = wyrand(s); memcpy(p, &v, n); }
}
static int pick_weighted(uint64_t *s, const int *w, int n) {
    int total = 0;
    for (int i = 0; i < n; i++) total += w[i];
    int r = (int)rnd(s, (uint32_t)total);
    for (int i = 0; i < n; i++) { if (r < w[i]) return i; r -= w[i]; }
    return n - 1;
}
static uint16_t pick_port(uint64_t *s, const port_w *pw) {
    int total = 0;
    for (const port_w *p = pw; p->port; p++) total += p->weight;
    int r = (int)rnd(s, (uint32_t)total);
    for (const port_w *p = pw; p->port; p++) { if (r < p->weight) return p->port; r -= p->weight; }
    return pw[0].port;
}

/* ------------------------------------------------------------------------- */
/* Certificates                                                               */

typedef struct { const uint8_t *p; size_t n; } blob;
static blob g_srv, g_ca, g_cli;

static blob read_file_blob(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) { fprintf(stderr, "gen: cannot open %s: %s\n", path, strerror(errno)); exit(2); }
    uint8_t *buf = malloc(65536);
    size_t n = fread(buf, 1, 65536, fp);
    fclose(fp);
    if (n < 16 || n >= 65536 || buf[0] != 0x30) { fprintf(stderr, "gen: %s does not look like a DER certificate\n", path); exit(2); }
    return (blob){buf, n};
}

/* ------------------------------------------------------------------------- */
/* Byte builder over a flow's buffer                                         */

#define BUFCAP (96 * 1024)
#define CHUNK (64 * 1024) /* bulk data is produced in pieces of at most this */

typedef struct { uint8_t *p; size_t n; } bld;
static inline void put8(bld *b, uint8_t v) { b->p[b->n++] = v; }
static inline void put16(bld *b, uint16_t v) { b->p[b->n++] = v >> 8; b->p[b->n++] = v & 0xff; }
static inline void put24(bld *b, uint32_t v) { b->p[b->n++] = (v >> 16) & 0xff; put16(b, v & 0xffff); }
static inline void put32(bld *b, uint32_t v) { put16(b, v >> 16); put16(b, v & 0xffff); }
static inline void putmem(bld *b, const void *m, size_t n) { memcpy(b->p + b->n, m, n); b->n += n; }
static inline void putstr(bld *b, const char *s) { putmem(b, s, strlen(s)); }
static inline void putrand(bld *b, uint64_t *s, size_t n) { fill_random(s, b->p + b->n, n); b->n += n; }
static inline size_t mark16(bld *b) { size_t m = b->n; put16(b, 0); return m; }
static inline size_t mark24(bld *b) { size_t m = b->n; put24(b, 0); return m; }
static inline void patch16(bld *b, size_t m) { size_t v = b->n - m - 2; b->p[m] = v >> 8; b->p[m + 1] = v & 0xff; }
static inline void patch24(bld *b, size_t m) { size_t v = b->n - m - 3; b->p[m] = (v >> 16) & 0xff; b->p[m + 1] = (v >> 8) & 0xff; b->p[m + 2] = v & 0xff; }
static void putfmt(bld *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putfmt(bld *b, const char *fmt, ...) {
    va_list ap; va_start(ap, fmt);
    int n = vsnprintf((char *)b->p + b->n, BUFCAP - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

/* ------------------------------------------------------------------------- */
/* Flow state                                                                 */

enum { PH_SYN, PH_SYNACK, PH_ACK, PH_DATA, PH_FIN1, PH_FIN2, PH_FIN3, PH_DONE, PH_UDP };

typedef struct flow {
    uint32_t idx;
    uint8_t cls, tlsv, v6, vlan_on, coalesce, alpn, dns_pairs, first_out[2];
    uint16_t vlan, cport, sport, cipher;
    uint8_t cip[16], sip[16], cmac[6];
    uint32_t server_idx;
    uint32_t seq[2], tsoff[2], lastts[2];
    uint16_t ipid[2];
    uint8_t phase;
    uint8_t unacked[2];
    uint64_t rng;
    /* conversation script */
    int step, rounds, bulk_dir, after_bulk;
    int64_t budget, bulk_left;
    uint8_t sessid[32];
    /* pending bytes of the current message (one direction) */
    uint8_t *buf;
    size_t blen, boff;
    int bdir;
    int64_t est_left;
    struct tls13_keys *k13; /* --keylog: this TLS 1.3 flow is really encrypted */
    uint8_t http_head;      /* --keylog: the next bulk record starts an HTTP message (1 response, 2 upload) */
} flow_t;

/* ------------------------------------------------------------------------- */
/* TLS 1.3 record protection (--keylog)                                       */

typedef struct { uint8_t key[32], iv[12]; uint64_t seq; } aead_key;
enum { K_CHS, K_SHS, K_CAP, K_SAP, NKEYS }; /* client/server handshake, client/server application */
static const char *key_label[NKEYS] = {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                                       "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"};
typedef struct tls13_keys { uint8_t secret[NKEYS][48]; aead_key k[NKEYS]; } tls13_keys;

static uint64_t g_seed;
static FILE *g_keylog;
static EVP_CIPHER_CTX *g_aead;
static uint64_t cnt_keyed;

static void crypto_fail(const char *what) { fprintf(stderr, "gen: OpenSSL %s failed\n", what); exit(1); }

/* HKDF-Expand-Label(secret, label, "", length) with SHA-384 (RFC 8446 section 7.1). */
static void hkdf_expand_label384(const uint8_t *secret, const char *label, uint8_t *out, size_t length) {
    uint8_t info[2 + 1 + 255 + 1 + 1], t[48];
    size_t ll = strlen(label), n = 0, done = 0;
    info[n++] = (uint8_t)(length >> 8); info[n++] = (uint8_t)length;
    info[n++] = (uint8_t)(6 + ll); memcpy(info + n, "tls13 ", 6); n += 6; memcpy(info + n, label, ll); n += ll;
    info[n++] = 0; /* empty context */
    uint8_t block[48 + sizeof info];
    size_t tl = 0;
    for (uint8_t counter = 1; done < length; counter++) { /* HKDF-Expand (RFC 5869): T(i) = HMAC(PRK, T(i-1) | info | i) */
        memcpy(block, t, tl); memcpy(block + tl, info, n); block[tl + n] = counter;
        unsigned int ml = 0;
        if (!HMAC(EVP_sha384(), secret, 48, block, tl + n + 1, t, &ml) || ml != 48) crypto_fail("HMAC-SHA384");
        tl = 48;
        size_t c = length - done < 48 ? length - done : 48;
        memcpy(out + done, t, c); done += c;
    }
}

/* Random traffic secrets for one flow (from their own PRNG, so the flow's script is untouched). */
static tls13_keys *new_tls13_keys(uint32_t idx) {
    tls13_keys *k = calloc(1, sizeof *k);
    uint64_t ks = (g_seed + 0x243f6a8885a308d3ull) ^ (0xd1b54a32d192ed03ull * (idx + 1));
    for (int i = 0; i < NKEYS; i++) {
        for (int j = 0; j < 48; j += 8) { uint64_t v = ks += 0x9e3779b97f4a7c15ull; v ^= v >> 31; v *= 0xbf58476d1ce4e5b9ull; v ^= v >> 29; memcpy(k->secret[i] + j, &v, 8); }
        hkdf_expand_label384(k->secret[i], "key", k->k[i].key, 32);
        hkdf_expand_label384(k->secret[i], "iv", k->k[i].iv, 12);
    }
    return k;
}

static void write_keylog_lines(const tls13_keys *k, const uint8_t *client_random) {
    char cr[65], sec[97];
    for (int i = 0; i < 32; i++) sprintf(cr + 2 * i, "%02x", client_random[i]);
    for (int i = 0; i < NKEYS; i++) {
        for (int j = 0; j < 48; j++) sprintf(sec + 2 * j, "%02x", k->secret[i][j]);
        fprintf(g_keylog, "%s %s %s\n", key_label[i], cr, sec);
    }
}


/* ------------------------------------------------------------------------- */
/* Output                                                                     */

static int g_fd = -1;
static uint8_t *g_out;
static size_t g_outn;
#define OUTCAP (16u << 20)
static uint64_t g_written, g_packets, g_frame_bytes, g_payload_bytes;
static uint64_t g_t_us; /* capture clock */
static uint64_t g_rng;  /* interleaving / timing */

static void out_flush(void) {
    size_t off = 0;
    while (off < g_outn) {
        ssize_t w = write(g_fd, g_out + off, g_outn - off);
        if (w < 0) { if (errno == EINTR) continue; perror("gen: write"); exit(1); }
        off += (size_t)w;
    }
    g_outn = 0;
}
static inline void out_put(const void *p, size_t n) {
    if (g_outn + n > OUTCAP) out_flush();
    memcpy(g_out + g_outn, p, n);
    g_outn += n;
}

static inline void le32(uint8_t *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static inline void be16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static inline void be32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

/* Internet checksum, accumulated in host order (RFC 1071 byte-order independence). */
static inline uint64_t csum_add(uint64_t acc, const uint8_t *p, size_t n) {
    while (n >= 8) { uint64_t v; memcpy(&v, p, 8); acc += (v & 0xffffffffull) + (v >> 32); p += 8; n -= 8; }
    while (n >= 2) { uint16_t v; memcpy(&v, p, 2); acc += v; p += 2; n -= 2; }
    if (n) { uint16_t v = 0; memcpy(&v, p, 1); acc += v; }
    return acc;
}
static inline uint16_t csum_fold(uint64_t acc) {
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)~acc;
}

static const uint8_t gw_mac[6] = {0x02, 0x00, 0x5e, 0x00, 0x00, 0x01};

/* Build and write one frame. proto 6 = TCP (tcp_flags used), 17 = UDP. */
static void emit_frame(flow_t *f, int dir, int proto, uint8_t tcp_flags, const uint8_t *pl, size_t plen) {
    uint8_t h[160];
    size_t n = 0;
    /* timestamp */
    g_t_us += 1 + rnd(&g_rng, 40);
    /* Ethernet */
    if (dir == 0) { memcpy(h, gw_mac, 6); memcpy(h + 6, f->cmac, 6); }
    else { memcpy(h, f->cmac, 6); memcpy(h + 6, gw_mac, 6); }
    n = 12;
    if (f->vlan_on) { be16(h + n, 0x8100); be16(h + n + 2, f->vlan); n += 4; }
    be16(h + n, f->v6 ? 0x86dd : 0x0800);
    n += 2;
    const uint8_t *src = dir == 0 ? f->cip : f->sip, *dst = dir == 0 ? f->sip : f->cip;
    size_t l4len;
    int syn = (tcp_flags & 0x02) != 0;
    size_t tcphl = syn ? 40 : 32;
    l4len = (proto == 6 ? tcphl : 8) + plen;
    uint64_t acc = 0;
    if (!f->v6) {
        uint8_t *ip = h + n;
        ip[0] = 0x45; ip[1] = 0;
        be16(ip + 2, (uint16_t)(20 + l4len));
        be16(ip + 4, f->ipid[dir]++);
        be16(ip + 6, 0x4000);
        ip[8] = dir == 0 ? 64 : 57;
        ip[9] = (uint8_t)proto;
        ip[10] = ip[11] = 0;
        memcpy(ip + 12, src, 4); memcpy(ip + 16, dst, 4);
        uint16_t c = csum_fold(csum_add(0, ip, 20));
        memcpy(ip + 10, &c, 2);
        n += 20;
        uint8_t ph[12];
        memcpy(ph, src, 4); memcpy(ph + 4, dst, 4);
        ph[8] = 0; ph[9] = (uint8_t)proto; be16(ph + 10, (uint16_t)l4len);
        acc = csum_add(0, ph, 12);
    } else {
        uint8_t *ip = h + n;
        be32(ip, 0x60000000u | ((f->idx & 0xfffff)));
        be16(ip + 4, (uint16_t)l4len);
        ip[6] = (uint8_t)proto;
        ip[7] = dir == 0 ? 64 : 57;
        memcpy(ip + 8, src, 16); memcpy(ip + 24, dst, 16);
        n += 40;
        uint8_t ph[40];
        memcpy(ph, src, 16); memcpy(ph + 16, dst, 16);
        be32(ph + 32, (uint32_t)l4len); ph[36] = ph[37] = ph[38] = 0; ph[39] = (uint8_t)proto;
        acc = csum_add(0, ph, 40);
    }
    uint8_t *l4 = h + n;
    if (proto == 6) {
        uint16_t sp = dir == 0 ? f->cport : f->sport, dp = dir == 0 ? f->sport : f->cport;
        be16(l4, sp); be16(l4 + 2, dp);
        be32(l4 + 4, f->seq[dir]);
        be32(l4 + 8, (tcp_flags & 0x10) ? f->seq[!dir] : 0);
        l4[12] = (uint8_t)((tcphl / 4) << 4);
        l4[13] = tcp_flags;
        be16(l4 + 14, syn ? 64240 : 2048); /* wscale 7 -> 256 KiB */
        l4[16] = l4[17] = 0; l4[18] = l4[19] = 0;
        uint32_t tsval = f->tsoff[dir] + (uint32_t)(g_t_us / 1000);
        uint32_t tsecr = f->lastts[!dir];
        f->lastts[dir] = tsval;
        uint8_t *o = l4 + 20;
        if (syn) {
            o[0] = 2; o[1] = 4; be16(o + 2, 1460);       /* MSS */
            o[4] = 4; o[5] = 2;                          /* SACK permitted */
            o[6] = 8; o[7] = 10; be32(o + 8, tsval); be32(o + 12, (tcp_flags & 0x10) ? tsecr : 0);
            o[16] = 1; o[17] = 3; o[18] = 3; o[19] = 7;  /* NOP, window scale 7 */
        } else {
            o[0] = 1; o[1] = 1; o[2] = 8; o[3] = 10; be32(o + 4, tsval); be32(o + 8, tsecr);
        }
        n += tcphl;
        acc = csum_add(acc, l4, tcphl);
        acc = csum_add(acc, pl, plen);
        uint16_t c = csum_fold(acc);
        memcpy(l4 + 16, &c, 2);
        f->seq[dir] += (uint32_t)plen + ((tcp_flags & 0x03) ? 1 : 0); /* SYN/FIN consume one */
    } else {
        uint16_t sp = dir == 0 ? f->cport : f->sport, dp = dir == 0 ? f->sport : f->cport;
        be16(l4, sp); be16(l4 + 2, dp); be16(l4 + 4, (uint16_t)l4len); l4[6] = l4[7] = 0;
        n += 8;
        acc = csum_add(acc, l4, 8);
        acc = csum_add(acc, pl, plen);
        uint16_t c = csum_fold(acc);
        if (c == 0) c = 0xffff;
        memcpy(l4 + 6, &c, 2);
    }
    uint32_t caplen = (uint32_t)(n + plen);
    uint8_t rec[16];
    le32(rec, (uint32_t)(g_t_us / 1000000)); le32(rec + 4, (uint32_t)(g_t_us % 1000000));
    le32(rec + 8, caplen); le32(rec + 12, caplen);
    out_put(rec, 16);
    out_put(h, n);
    if (plen) out_put(pl, plen);
    g_written += 16 + caplen;
    g_packets++;
    g_frame_bytes += caplen;
    g_payload_bytes += plen;
}

/* ------------------------------------------------------------------------- */
/* Flow creation                                                              */

static uint64_t g_est_left; /* estimated payload bytes still to come from open flows */
static uint64_t cnt_class[NCLASS], cnt_tlsv[NTLSV], cnt_v6, cnt_vlan, cnt_tcp, cnt_udp, cnt_dns_msgs;

/* --shape short: what container hosts mostly carry (health checks, API calls, DNS): almost every flow
   a handshake and a request or two, a few kilobytes at most. */
static bool g_short;

/* Per-flow payload budget: many small flows, a fat tail of bulk transfers (or, with --shape short,
   short flows only). */
static int64_t pick_budget(uint64_t *s) {
    uint32_t r = rnd(s, 1000);
    if (g_short) return r < 980 ? rrange(s, 100, 2500) : rrange(s, 2500, 40000);
    if (r < 600) return rrange(s, 300, 12000);
    if (r < 880) return rrange(s, 12000, 160000);
    if (r < 980) return rrange(s, 160000, 1500000);
    return rrange(s, 1500000, 5000000);
}

static flow_t *new_flow(uint32_t idx) {
    flow_t *f = calloc(1, sizeof *f);
    f->idx = idx;
    f->rng = g_seed ^ (0x9e3779b97f4a7c15ull * (idx + 1));
    (void)wyrand(&f->rng);
    uint64_t *s = &f->rng;
    f->cls = (uint8_t)pick_weighted(s, class_weight, NCLASS);
    f->v6 = rnd(s, 100) < 10;
    f->vlan_on = rnd(s, 100) < 10;
    f->vlan = (uint16_t)(rnd(s, 8) << 13 | (100 + rnd(s, 20)));
    const port_w *pw[NCLASS] = {tls_ports, http_ports, redis_ports, pg_ports, unk_ports, dns_ports};
    f->sport = pick_port(s, pw[f->cls]);
    f->server_idx = rnd(s, 250) + 1;
    uint32_t host = idx % 65000u + 1, k = idx / 65000u;
    f->cport = (uint16_t)(32768 + (host * 131u + k) % 28232u);
    if (!f->v6) {
        f->cip[0] = 198; f->cip[1] = 18; f->cip[2] = (uint8_t)(host >> 8); f->cip[3] = (uint8_t)host;
        f->sip[0] = 198; f->sip[1] = 19; f->sip[2] = (uint8_t)(10 * (f->cls + 1)); f->sip[3] = (uint8_t)f->server_idx;
    } else {
        static const uint8_t pfx[6] = {0x20, 0x01, 0x00, 0x02, 0x00, 0x00};
        memcpy(f->cip, pfx, 6); f->cip[6] = 0; f->cip[7] = 1; be32(f->cip + 12, idx + 1);
        memcpy(f->sip, pfx, 6); f->sip[6] = 0; f->sip[7] = 2; f->sip[13] = (uint8_t)(f->cls + 1); f->sip[15] = (uint8_t)f->server_idx;
    }
    f->cmac[0] = 0x02; f->cmac[1] = 0x42; be32(f->cmac + 2, idx + 1);
    f->seq[0] = (uint32_t)wyrand(s); f->seq[1] = (uint32_t)wyrand(s);
    f->tsoff[0] = (uint32_t)wyrand(s); f->tsoff[1] = (uint32_t)wyrand(s);
    f->ipid[0] = (uint16_t)wyrand(s); f->ipid[1] = (uint16_t)wyrand(s);
    f->budget = pick_budget(s);
    f->coalesce = rnd(s, 2);
    f->alpn = rnd(s, 10) != 0;
    int64_t est = f->budget;
    switch (f->cls) {
    case C_TLS:
        f->tlsv = (uint8_t)pick_weighted(s, tlsv_weight, NTLSV);
        f->rounds = (int)rrange(s, 1, g_short ? 2 : 6);
        if (f->tlsv < T13_NOREQ) {
            uint32_t r = rnd(s, 10);
            f->cipher = r < 6 ? 0xc030 : r < 9 ? 0xc02f : 0xcca8;
        } else f->cipher = 0x1302;
        est += 6000;
        break;
    case C_HTTP: f->rounds = (int)rrange(s, 1, g_short ? 2 : 8); est += 300; break;
    case C_REDIS: f->rounds = (int)rrange(s, 2, g_short ? 4 : 30); f->budget /= 2; est = f->budget + 200; break;
    case C_PG: f->rounds = (int)rrange(s, 1, g_short ? 2 : 6); est += 500; break;
    case C_UNK: f->rounds = (int)rrange(s, 1, g_short ? 2 : 4); est += 300; break;
    case C_DNS: f->dns_pairs = (uint8_t)rrange(s, 1, 2); est = 120 * f->dns_pairs; break;
    }
    f->phase = f->cls == C_DNS ? PH_UDP : PH_SYN;
    f->buf = malloc(BUFCAP);
    f->est_left = est;
    g_est_left += (uint64_t)est;
    cnt_class[f->cls]++;
    if (f->cls == C_TLS) cnt_tlsv[f->tlsv]++;
    if (g_keylog && f->cls == C_TLS && f->tlsv >= T13_NOREQ) { f->k13 = new_tls13_keys(idx); cnt_keyed++; }
    if (f->v6) cnt_v6++;
    if (f->vlan_on) cnt_vlan++;
    if (f->cls == C_DNS) cnt_udp++; else cnt_tcp++;
    return f;
}

static void free_flow(flow_t *f) {
    g_est_left -= (uint64_t)(f->est_left > 0 ? f->est_left : 0);
    free(f->buf);
    free(f->k13);
    free(f);
}

/* Amount of bulk data for the next round, drawn from the remaining budget. */
static int64_t next_amount(flow_t *f) {
    int64_t a;
    if (f->rounds <= 1) a = f->budget;
    else a = f->budget * rrange(&f->rng, 30, 170) / 100 / f->rounds;
    if (a < 1) a = 1;
    if (a > f->budget) a = f->budget > 0 ? f->budget : 1;
    f->budget -= a;
    f->rounds--;
    return a;
}

/* ------------------------------------------------------------------------- */
/* TLS                                                                        */

static void rec_begin(bld *b, uint8_t type, uint16_t ver, size_t *m) { put8(b, type); put16(b, ver); *m = mark16(b); }

static void put_sni(bld *b, flow_t *f) {
    char name[64];
    int n = snprintf(name, sizeof name, "svc%u.bench.example", f->server_idx);
    put16(b, 0x0000);
    size_t m = mark16(b);
    size_t l = mark16(b);
    put8(b, 0);
    put16(b, (uint16_t)n); putmem(b, name, (size_t)n);
    patch16(b, l); patch16(b, m);
}

static const uint16_t sigalgs[] = {0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080a, 0x080b,
                                   0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601};

static void put_sigalgs_list(bld *b) {
    put16(b, (uint16_t)(2 * (sizeof sigalgs / sizeof sigalgs[0])));
    for (size_t i = 0; i < sizeof sigalgs / sizeof sigalgs[0]; i++) put16(b, sigalgs[i]);
}

static void tls_client_hello(flow_t *f, bld *b) {
    uint64_t *s = &f->rng;
    bool v13 = f->tlsv >= T13_NOREQ;
    size_t rm, hm, em, m, l;
    rec_begin(b, 0x16, 0x0301, &rm);
    put8(b, 1); hm = mark24(b);
    put16(b, 0x0303);
    putrand(b, s, 32);
    if (f->k13) write_keylog_lines(f->k13, b->p + b->n - 32); /* key log lines are indexed by this random */
    fill_random(s, f->sessid, 32);
    put8(b, 32); putmem(b, f->sessid, 32);
    static const uint16_t s13[] = {0x1302, 0x1303, 0x1301};
    static const uint16_t s12[] = {0xc02c, 0xc030, 0xc02b, 0xc02f, 0xcca9, 0xcca8, 0x009f, 0x009e, 0xc024, 0xc028, 0xc023, 0xc027, 0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x00ff};
    m = mark16(b);
    if (v13) for (int i = 0; i < 3; i++) put16(b, s13[i]);
    for (size_t i = 0; i < sizeof s12 / sizeof s12[0]; i++) put16(b, s12[i]);
    patch16(b, m);
    put8(b, 1); put8(b, 0); /* compression: null */
    em = mark16(b);
    put_sni(b, f);
    put16(b, 0x000b); put16(b, 4); put8(b, 3); put8(b, 0); put8(b, 1); put8(b, 2); /* ec_point_formats */
    put16(b, 0x000a); put16(b, 10); put16(b, 8); put16(b, 0x001d); put16(b, 0x0017); put16(b, 0x0018); put16(b, 0x0019);
    put16(b, 0x0023); put16(b, 0); /* session_ticket */
    if (f->alpn) {
        put16(b, 0x0010); m = mark16(b); l = mark16(b);
        put8(b, 2); putstr(b, "h2"); put8(b, 8); putstr(b, "http/1.1");
        patch16(b, l); patch16(b, m);
    }
    put16(b, 0x0016); put16(b, 0); /* encrypt_then_mac */
    put16(b, 0x0017); put16(b, 0); /* extended_master_secret */
    put16(b, 0x000d); m = mark16(b); put_sigalgs_list(b); patch16(b, m);
    if (v13) {
        put16(b, 0x002b); put16(b, 5); put8(b, 4); put16(b, 0x0304); put16(b, 0x0303); /* supported_versions */
        put16(b, 0x002d); put16(b, 2); put8(b, 1); put8(b, 1);                         /* psk_key_exchange_modes */
        put16(b, 0x0033); put16(b, 38); put16(b, 36); put16(b, 0x001d); put16(b, 32); putrand(b, s, 32); /* key_share */
    } else {
        put16(b, 0xff01); put16(b, 1); put8(b, 0); /* renegotiation_info */
    }
    patch16(b, em);
    patch24(b, hm);
    patch16(b, rm);
}

/* Writes a handshake message; in non-coalesced mode each message gets its own record. */
typedef struct { bld *b; bool coalesce; bool open; size_t rm; } hsw;
static size_t hs_begin(hsw *w, uint8_t type) {
    if (!w->open) { rec_begin(w->b, 0x16, 0x0303, &w->rm); w->open = true; }
    put8(w->b, type);
    return mark24(w->b);
}
static void hs_end(hsw *w, size_t m) {
    patch24(w->b, m);
    if (!w->coalesce) { patch16(w->b, w->rm); w->open = false; }
}
static void hs_flush(hsw *w) { if (w->open) { patch16(w->b, w->rm); w->open = false; } }

static void put_cert_chain(bld *b, blob leaf, blob ca) {
    size_t l = mark24(b);
    put24(b, (uint32_t)leaf.n); putmem(b, leaf.p, leaf.n);
    put24(b, (uint32_t)ca.n); putmem(b, ca.p, ca.n);
    patch24(b, l);
}

static void tls12_server_flight(flow_t *f, bld *b) {
    uint64_t *s = &f->rng;
    hsw w = {b, f->coalesce, false, 0};
    size_t m = hs_begin(&w, 2), e;
    put16(b, 0x0303); putrand(b, s, 32); put8(b, 32); putrand(b, s, 32);
    put16(b, f->cipher); put8(b, 0);
    e = mark16(b);
    put16(b, 0xff01); put16(b, 1); put8(b, 0);
    put16(b, 0x000b); put16(b, 4); put8(b, 3); put8(b, 0); put8(b, 1); put8(b, 2);
    put16(b, 0x0017); put16(b, 0);
    if (f->alpn) { put16(b, 0x0010); put16(b, 5); put16(b, 3); put8(b, 2); putstr(b, "h2"); }
    patch16(b, e);
    hs_end(&w, m);
    m = hs_begin(&w, 11); put_cert_chain(b, g_srv, g_ca); hs_end(&w, m);
    m = hs_begin(&w, 12); /* ServerKeyExchange: ECDHE x25519, RSA-PSS signature */
    put8(b, 3); put16(b, 0x001d); put8(b, 32); putrand(b, s, 32);
    put16(b, 0x0804); put16(b, 256); putrand(b, s, 256);
    hs_end(&w, m);
    if (f->tlsv == T12_PRES || f->tlsv == T12_DECL) {
        m = hs_begin(&w, 13); /* CertificateRequest */
        put8(b, 2); put8(b, 1); put8(b, 64);
        put_sigalgs_list(b);
        put16(b, 0); /* certificate_authorities: empty list */
        hs_end(&w, m);
    }
    m = hs_begin(&w, 14); hs_end(&w, m); /* ServerHelloDone */
    hs_flush(&w);
}

static size_t tls12_fin_len(flow_t *f) { return f->cipher == 0xcca8 ? 32 : 40; }
static size_t tls12_overhead(flow_t *f) { return f->cipher == 0xcca8 ? 16 : 24; }

static void put_ccs(bld *b) { put8(b, 0x14); put16(b, 0x0303); put16(b, 1); put8(b, 1); }
static void put_enc_record(bld *b, uint64_t *s, uint8_t type, size_t len) {
    put8(b, type); put16(b, 0x0303); put16(b, (uint16_t)len); putrand(b, s, len);
}

/* TLS 1.3 protected record (--keylog): r13_begin writes the header, the caller appends the
   inner content, r13_end appends the real content type and zero padding up to `total` record
   bytes (0 = no padding), encrypts in place with AES-256-GCM under key k (nonce = iv XOR
   sequence number, AAD = the 5-byte record header) and appends the 16-byte tag. */
static size_t r13_begin(bld *b) { put8(b, 0x17); put16(b, 0x0303); return mark16(b); }
static void r13_end(bld *b, size_t m, aead_key *k, uint8_t inner, size_t total) {
    put8(b, inner);
    size_t pt = b->n - (m + 2);
    if (total > pt + 16) { memset(b->p + b->n, 0, total - 16 - pt); b->n += total - 16 - pt; pt = total - 16; }
    size_t clen = pt + 16;
    if (clen > 16384 + 256) { fprintf(stderr, "gen: TLS 1.3 record too long (%zu)\n", clen); abort(); }
    b->p[m] = (uint8_t)(clen >> 8); b->p[m + 1] = (uint8_t)clen;
    uint8_t nonce[12];
    memcpy(nonce, k->iv, 12);
    for (int i = 0; i < 8; i++) nonce[4 + i] ^= (uint8_t)(k->seq >> (56 - 8 * i));
    k->seq++;
    uint8_t *body = b->p + m + 2;
    int l1 = 0, l2 = 0, l3 = 0;
    if (EVP_EncryptInit_ex(g_aead, NULL, NULL, k->key, nonce) != 1
        || EVP_EncryptUpdate(g_aead, NULL, &l1, b->p + m - 3, 5) != 1
        || EVP_EncryptUpdate(g_aead, body, &l2, body, (int)pt) != 1
        || EVP_EncryptFinal_ex(g_aead, body + l2, &l3) != 1 || (size_t)(l2 + l3) != pt
        || EVP_CIPHER_CTX_ctrl(g_aead, EVP_CTRL_AEAD_GET_TAG, 16, body + pt) != 1)
        crypto_fail("AES-256-GCM");
    b->n += 16;
}

static void tls12_client_flight(flow_t *f, bld *b) {
    uint64_t *s = &f->rng;
    hsw w = {b, f->coalesce, false, 0};
    size_t m;
    if (f->tlsv == T12_PRES) { m = hs_begin(&w, 11); put_cert_chain(b, g_cli, g_ca); hs_end(&w, m); }
    if (f->tlsv == T12_DECL) { m = hs_begin(&w, 11); put24(b, 0); hs_end(&w, m); }
    m = hs_begin(&w, 16); put8(b, 32); putrand(b, s, 32); hs_end(&w, m);
    if (f->tlsv == T12_PRES) { m = hs_begin(&w, 15); put16(b, 0x0804); put16(b, 256); putrand(b, s, 256); hs_end(&w, m); }
    hs_flush(&w);
    put_ccs(b);
    put_enc_record(b, s, 0x16, tls12_fin_len(f));
}

static void tls13_server_flight(flow_t *f, bld *b) {
    uint64_t *s = &f->rng;
    size_t rm, hm, e;
    rec_begin(b, 0x16, 0x0303, &rm);
    put8(b, 2); hm = mark24(b);
    put16(b, 0x0303); putrand(b, s, 32); put8(b, 32); putmem(b, f->sessid, 32);
    put16(b, 0x1302); put8(b, 0);
    e = mark16(b);
    put16(b, 0x002b); put16(b, 2); put16(b, 0x0304);
    put16(b, 0x0033); put16(b, 36); put16(b, 0x001d); put16(b, 32); putrand(b, s, 32);
    patch16(b, e); patch24(b, hm); patch16(b, rm);
    put_ccs(b);
    if (f->k13) { /* one handshake message per record, under the server handshake key (like OpenSSL) */
        aead_key *k = &f->k13->k[K_SHS];
        size_t m = r13_begin(b);
        put8(b, 8); hm = mark24(b); e = mark16(b); /* EncryptedExtensions */
        if (f->alpn) { put16(b, 0x0010); put16(b, 11); put16(b, 9); put8(b, 8); putstr(b, "http/1.1"); }
        patch16(b, e); patch24(b, hm);
        r13_end(b, m, k, 0x16, 0);
        if (f->tlsv != T13_NOREQ) {
            m = r13_begin(b);
            put8(b, 13); hm = mark24(b); put8(b, 0); /* CertificateRequest: empty context */
            e = mark16(b); put16(b, 0x000d); size_t x = mark16(b); put_sigalgs_list(b); patch16(b, x); patch16(b, e);
            patch24(b, hm);
            r13_end(b, m, k, 0x16, 0);
        }
        m = r13_begin(b);
        put8(b, 11); hm = mark24(b); put8(b, 0); /* Certificate: empty context, entries with empty extensions */
        e = mark24(b);
        put24(b, (uint32_t)g_srv.n); putmem(b, g_srv.p, g_srv.n); put16(b, 0);
        put24(b, (uint32_t)g_ca.n); putmem(b, g_ca.p, g_ca.n); put16(b, 0);
        patch24(b, e); patch24(b, hm);
        r13_end(b, m, k, 0x16, 0);
        m = r13_begin(b);
        put8(b, 15); put24(b, 4 + 256); put16(b, 0x0804); put16(b, 256); putrand(b, s, 256); /* CertificateVerify, RSA-PSS */
        r13_end(b, m, k, 0x16, 0);
        m = r13_begin(b);
        put8(b, 20); put24(b, 48); putrand(b, s, 48); /* Finished (SHA-384) */
        r13_end(b, m, k, 0x16, 0);
        return;
    }
    /* EncryptedExtensions, [CertificateRequest], Certificate, CertificateVerify, Finished */
    static const uint16_t noreq[] = {23, 864, 97, 69}, req[] = {23, 98, 864, 97, 69};
    const uint16_t *sz = f->tlsv == T13_NOREQ ? noreq : req;
    int n = f->tlsv == T13_NOREQ ? 4 : 5;
    for (int i = 0; i < n; i++) put_enc_record(b, s, 0x17, sz[i]);
}

static void tls13_client_flight(flow_t *f, bld *b) {
    uint64_t *s = &f->rng;
    put_ccs(b);
    if (f->k13) { /* under the client handshake key */
        aead_key *k = &f->k13->k[K_CHS];
        size_t m, hm;
        if (f->tlsv == T13_PRES) {
            m = r13_begin(b);
            put8(b, 11); hm = mark24(b); put8(b, 0);
            size_t l = mark24(b);
            put24(b, (uint32_t)g_cli.n); putmem(b, g_cli.p, g_cli.n); put16(b, 0);
            put24(b, (uint32_t)g_ca.n); putmem(b, g_ca.p, g_ca.n); put16(b, 0);
            patch24(b, l); patch24(b, hm);
            r13_end(b, m, k, 0x16, 0);
            m = r13_begin(b);
            put8(b, 15); put24(b, 4 + 256); put16(b, 0x0804); put16(b, 256); putrand(b, s, 256);
            r13_end(b, m, k, 0x16, 0);
        }
        if (f->tlsv == T13_DECL) { /* empty Certificate: 4 + 1 + 3 bytes -> a 25-byte record */
            m = r13_begin(b);
            put8(b, 11); put24(b, 4); put8(b, 0); put24(b, 0);
            r13_end(b, m, k, 0x16, 0);
        }
        m = r13_begin(b);
        put8(b, 20); put24(b, 48); putrand(b, s, 48); /* Finished: a 69-byte record */
        r13_end(b, m, k, 0x16, 0);
        return;
    }
    if (f->tlsv == T13_PRES) { put_enc_record(b, s, 0x17, 904); put_enc_record(b, s, 0x17, 95); }
    if (f->tlsv == T13_DECL) put_enc_record(b, s, 0x17, 25);
    put_enc_record(b, s, 0x17, 69);
}

static int ndigits(int64_t v) { int d = 1; while (v >= 10) { v /= 10; d++; } return d; }

/* --keylog: the head of an HTTP/1.1 message whose head + body are exactly `total` bytes (the
   bulk amount; Content-Length absorbs the head, with one or two spaces of OWS to step over a
   power of ten), or a head with Content-Length 0 when `total` is smaller than the head. */
static void put_http_head(flow_t *f, bld *b, int64_t total, bool upload) {
    char pre[200];
    int pl = upload ? snprintf(pre, sizeof pre, "PUT /upload/%08x.bin HTTP/1.1\r\nHost: svc%u.bench.example\r\n"
                                                "Content-Type: application/octet-stream\r\nContent-Length:",
                               (uint32_t)wyrand(&f->rng), f->server_idx)
                    : snprintf(pre, sizeof pre, "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\n"
                                                "Content-Type: application/octet-stream\r\nContent-Length:");
    for (int d = 1; d <= 12; d++)
        for (int sp = 1; sp <= 2; sp++) {
            int64_t cl = total - pl - sp - d - 4;
            if (cl >= 0 && ndigits(cl) == d) { putfmt(b, "%s%*s%" PRId64 "\r\n\r\n", pre, sp, "", cl); return; }
        }
    putfmt(b, "%s 0\r\n\r\n", pre);
}

/* Up to four full application_data records of bulk data. */
static void tls_bulk(flow_t *f, bld *b) {
    bool v13 = f->tlsv >= T13_NOREQ;
    size_t ovh = v13 ? 17 : tls12_overhead(f);
    for (int i = 0; i < 4 && f->bulk_left > 0; i++) {
        size_t pt = f->bulk_left > 16384 ? 16384 : (size_t)f->bulk_left;
        if (f->k13) {
            size_t m = r13_begin(b), start = b->n;
            if (f->http_head) { put_http_head(f, b, f->bulk_left, f->http_head == 2); f->http_head = 0; }
            size_t used = b->n - start;
            if (used < pt) putrand(b, &f->rng, pt - used);
            else pt = (size_t)f->bulk_left; /* the head took the whole (small) message */
            r13_end(b, m, &f->k13->k[f->bulk_dir ? K_SAP : K_CAP], 0x17, 0);
        } else put_enc_record(b, &f->rng, 0x17, pt + ovh);
        f->bulk_left -= (int64_t)pt;
    }
}

static const char *http_paths[] = {"/objects/", "/api/v1/blobs/", "/static/assets/", "/download/", "/upload/"};

/* TLS conversation. Returns false when the conversation is over. */
static bool produce_tls(flow_t *f, bld *b) {
    uint64_t *s = &f->rng;
    bool v13 = f->tlsv >= T13_NOREQ;
    size_t ovh = v13 ? 17 : tls12_overhead(f);
    for (;;) switch (f->step) {
    case 0: tls_client_hello(f, b); f->bdir = 0; f->step = 1; return true;
    case 1: if (v13) tls13_server_flight(f, b); else tls12_server_flight(f, b); f->bdir = 1; f->step = 2; return true;
    case 2: if (v13) tls13_client_flight(f, b); else tls12_client_flight(f, b); f->bdir = 0; f->step = 3; return true;
    case 3: /* TLS 1.2: server CCS + Finished.  TLS 1.3: two NewSessionTicket records. */
        if (f->k13) { /* NewSessionTicket under the server application key */
            for (int i = 0; i < 2; i++) {
                size_t total = (size_t)rrange(s, 230, 290), m = r13_begin(b), hm;
                put8(b, 4); hm = mark24(b);
                put32(b, 7200); put32(b, (uint32_t)wyrand(s)); put8(b, 8); putrand(b, s, 8); /* lifetime, age_add, nonce */
                put16(b, (uint16_t)(total - 42)); putrand(b, s, total - 42); put16(b, 0);  /* ticket, extensions */
                patch24(b, hm);
                r13_end(b, m, &f->k13->k[K_SAP], 0x16, 0);
            }
        } else if (v13) { put_enc_record(b, s, 0x17, (size_t)rrange(s, 230, 290)); put_enc_record(b, s, 0x17, (size_t)rrange(s, 230, 290)); }
        else { put_ccs(b); put_enc_record(b, s, 0x16, tls12_fin_len(f)); }
        f->bdir = 1; f->step = 4; return true;
    case 4: /* start of a request/response round */
        if (f->rounds <= 0 || f->budget <= 0) {
            /* close_notify alert from the client */
            if (f->k13) { size_t m = r13_begin(b); put8(b, 1); put8(b, 0); r13_end(b, m, &f->k13->k[K_CAP], 0x15, 0); }
            else if (v13) put_enc_record(b, s, 0x17, 19); else put_enc_record(b, s, 0x15, 2 + ovh);
            f->bdir = 0; f->step = 9; return true;
        }
        f->bulk_left = next_amount(f);
        if (rnd(s, 100) < 12) { f->bulk_dir = 0; f->after_bulk = 6; f->step = 5; f->http_head = 2; continue; } /* upload */
        f->http_head = 1;
        if (f->k13) { /* an HTTP/1.1 request, zero-padded to the record size */
            size_t total = (size_t)rrange(s, 60, 700) + ovh, m = r13_begin(b);
            putfmt(b, "GET %s%08x.bin HTTP/1.1\r\nHost: svc%u.bench.example\r\nUser-Agent: bench-client/1.0\r\nAccept: */*\r\n\r\n",
                   http_paths[rnd(s, 4)], (uint32_t)wyrand(s), f->server_idx);
            r13_end(b, m, &f->k13->k[K_CAP], 0x17, total);
        } else put_enc_record(b, s, 0x17, (size_t)rrange(s, 60, 700) + ovh);
        f->bdir = 0; f->bulk_dir = 1; f->after_bulk = 4; f->step = 5; return true;
    case 5:
        tls_bulk(f, b); f->bdir = f->bulk_dir;
        if (f->bulk_left <= 0) f->step = f->after_bulk;
        return true;
    case 6: /* short server answer to an upload */
        if (f->k13) {
            size_t total = (size_t)rrange(s, 20, 200) + ovh, m = r13_begin(b);
            putstr(b, "HTTP/1.1 201 Created\r\nServer: nginx/1.24.0\r\nContent-Length: 0\r\n\r\n");
            r13_end(b, m, &f->k13->k[K_SAP], 0x17, total);
        } else put_enc_record(b, s, 0x17, (size_t)rrange(s, 20, 200) + ovh);
        f->bdir = 1; f->step = 4; return true;
    default: return false;
    }
}

/* ------------------------------------------------------------------------- */
/* Plaintext protocols                                                        */

/* Append up to CHUNK bytes (minus what's already in the buffer) of random bulk. */
static void raw_bulk(flow_t *f, bld *b) {
    size_t room = CHUNK > b->n ? CHUNK - b->n : 0;
    if (room < 1024) room = 1024;
    size_t k = f->bulk_left > (int64_t)room ? room : (size_t)f->bulk_left;
    putrand(b, &f->rng, k);
    f->bulk_left -= (int64_t)k;
}

static const char *basic_creds[] = {"YWxpY2U6czNjcjN0", "Ym9iOmh1bnRlcjI=", "c3ZjOnBhc3N3b3Jk"};

static bool produce_http(flow_t *f, bld *b) {
    uint64_t *s = &f->rng;
    for (;;) switch (f->step) {
    case 0: {
        if (f->rounds <= 0 || f->budget <= 0) return false;
        f->bulk_left = next_amount(f);
        bool upload = rnd(s, 100) < 20;
        const char *path = http_paths[rnd(s, 5)];
        putfmt(b, "%s %s%08x.bin HTTP/1.1\r\nHost: svc%u.bench.example\r\nUser-Agent: bench-client/1.0\r\nAccept: */*\r\n",
               upload ? (rnd(s, 2) ? "POST" : "PUT") : "GET", path, (uint32_t)wyrand(s), f->server_idx);
        if (f->idx % 7 == 3) putfmt(b, "Authorization: Basic %s\r\n", basic_creds[f->idx % 3]);
        if (upload) {
            putfmt(b, "Content-Type: application/octet-stream\r\nContent-Length: %" PRId64 "\r\n\r\n", f->bulk_left);
            raw_bulk(f, b);
            f->bdir = 0; f->step = f->bulk_left > 0 ? 1 : 2; f->after_bulk = 2; f->bulk_dir = 0;
            return true;
        }
        putstr(b, "\r\n");
        f->bdir = 0; f->step = 3; return true;
    }
    case 1: raw_bulk(f, b); f->bdir = f->bulk_dir; if (f->bulk_left <= 0) f->step = f->after_bulk; return true;
    case 2: /* response to an upload */
        putstr(b, "HTTP/1.1 201 Created\r\nServer: nginx/1.24.0\r\nContent-Length: 0\r\n\r\n");
        f->bdir = 1; f->step = 0; return true;
    case 3: /* response with a bulk body */
        putfmt(b, "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: application/octet-stream\r\nContent-Length: %" PRId64 "\r\nConnection: keep-alive\r\n\r\n", f->bulk_left);
        raw_bulk(f, b);
        f->bdir = 1; f->bulk_dir = 1; f->after_bulk = 0; f->step = f->bulk_left > 0 ? 1 : 0;
        return true;
    default: return false;
    }
}

static bool produce_redis(flow_t *f, bld *b) {
    uint64_t *s = &f->rng;
    char key[48];
    for (;;) switch (f->step) {
    case 0:
        f->step = rnd(s, 100) < 30 ? 10 : 1; continue;
    case 10: putstr(b, "*1\r\n$4\r\nPING\r\n"); f->bdir = 0; f->step = 11; return true;
    case 11: putstr(b, "+PONG\r\n"); f->bdir = 1; f->step = 1; return true;
    case 1: {
        if (f->rounds <= 0 || f->budget <= 0) return false;
        f->bulk_left = next_amount(f);
        int kn = snprintf(key, sizeof key, "obj:%u:%u", f->server_idx, (uint32_t)rnd(s, 100000));
        if (rnd(s, 100) < 40) {
            putfmt(b, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%" PRId64 "\r\n", kn, key, f->bulk_left);
            raw_bulk(f, b);
            if (f->bulk_left <= 0) { putstr(b, "\r\n"); f->step = 3; } else f->step = 2;
            f->bulk_dir = 0; f->bdir = 0; return true;
        }
        putfmt(b, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", kn, key);
        f->bdir = 0; f->step = 4; return true;
    }
    case 2: /* SET value continues */
        raw_bulk(f, b); f->bdir = 0;
        if (f->bulk_left <= 0) { putstr(b, "\r\n"); f->step = 3; }
        return true;
    case 3: putstr(b, "+OK\r\n"); f->bdir = 1; f->step = 1; return true;
    case 4: /* GET reply header + value */
        putfmt(b, "$%" PRId64 "\r\n", f->bulk_left);
        f->step = 5; continue;
    case 5:
        raw_bulk(f, b); f->bdir = 1;
        if (f->bulk_left <= 0) { putstr(b, "\r\n"); f->step = 1; }
        return true;
    default: return false;
    }
}

static void pg_msg_begin(bld *b, char type, size_t *m) { put8(b, (uint8_t)type); *m = b->n; put32(b, 0); }
static void pg_msg_end(bld *b, size_t m) { size_t v = b->n - m; b->p[m] = v >> 24; b->p[m + 1] = v >> 16; b->p[m + 2] = v >> 8; b->p[m + 3] = v; }

static bool produce_pg(flow_t *f, bld *b) {
    uint64_t *s = &f->rng;
    size_t m;
    for (;;) switch (f->step) {
    case 0: /* StartupMessage: int32 len, int32 196608, key/value pairs, terminator */
        m = b->n; put32(b, 0); put32(b, 0x00030000);
        putstr(b, "user"); put8(b, 0); putstr(b, "app"); put8(b, 0);
        putstr(b, "database"); put8(b, 0); putstr(b, "appdb"); put8(b, 0);
        putstr(b, "application_name"); put8(b, 0); putstr(b, "bench"); put8(b, 0);
        putstr(b, "client_encoding"); put8(b, 0); putstr(b, "UTF8"); put8(b, 0);
        put8(b, 0);
        { size_t v = b->n - m; b->p[m] = v >> 24; b->p[m + 1] = v >> 16; b->p[m + 2] = v >> 8; b->p[m + 3] = v; }
        f->bdir = 0; f->step = 1; return true;
    case 1:
        pg_msg_begin(b, 'R', &m); put32(b, 0); pg_msg_end(b, m);
        static const char *params[][2] = {{"server_version", "15.4"}, {"server_encoding", "UTF8"}, {"client_encoding", "UTF8"},
                                          {"DateStyle", "ISO, MDY"}, {"integer_datetimes", "on"}, {"TimeZone", "UTC"}};
        for (int i = 0; i < 6; i++) {
            pg_msg_begin(b, 'S', &m); putstr(b, params[i][0]); put8(b, 0); putstr(b, params[i][1]); put8(b, 0); pg_msg_end(b, m);
        }
        pg_msg_begin(b, 'K', &m); put32(b, (uint32_t)rnd(s, 60000) + 1000); put32(b, (uint32_t)wyrand(s)); pg_msg_end(b, m);
        pg_msg_begin(b, 'Z', &m); put8(b, 'I'); pg_msg_end(b, m);
        f->bdir = 1; f->step = 2; return true;
    case 2:
        if (f->rounds <= 0 || f->budget <= 0) { pg_msg_begin(b, 'X', &m); pg_msg_end(b, m); f->bdir = 0; f->step = 9; return true; }
        f->bulk_left = next_amount(f);
        pg_msg_begin(b, 'Q', &m);
        putfmt(b, "SELECT payload FROM blobs WHERE bucket = %u ORDER BY id", (uint32_t)rnd(s, 1000));
        put8(b, 0); pg_msg_end(b, m);
        f->bdir = 0; f->step = 3; return true;
    case 3: /* RowDescription */
        pg_msg_begin(b, 'T', &m); put16(b, 1); putstr(b, "payload"); put8(b, 0);
        put32(b, 16384); put16(b, 2); put32(b, 17); put16(b, (uint16_t)-1); put32(b, (uint32_t)-1); put16(b, 1);
        pg_msg_end(b, m);
        f->step = 4; f->after_bulk = 0; continue;
    case 4: { /* DataRows */
        uint32_t rows = 0;
        while (f->bulk_left > 0 && b->n < CHUNK) {
            size_t n = f->bulk_left > 8192 ? 8192 : (size_t)f->bulk_left;
            pg_msg_begin(b, 'D', &m); put16(b, 1); put32(b, (uint32_t)n); putrand(b, s, n); pg_msg_end(b, m);
            f->bulk_left -= (int64_t)n; rows++;
        }
        f->after_bulk += (int)rows;
        if (f->bulk_left <= 0) {
            pg_msg_begin(b, 'C', &m); putfmt(b, "SELECT %d", f->after_bulk); put8(b, 0); pg_msg_end(b, m);
            pg_msg_begin(b, 'Z', &m); put8(b, 'I'); pg_msg_end(b, m);
            f->step = 2;
        }
        f->bdir = 1; return true;
    }
    default: return false;
    }
}

static bool produce_unknown(flow_t *f, bld *b) {
    uint64_t *s = &f->rng;
    for (;;) switch (f->step) {
    case 0: {
        if (f->rounds <= 0 || f->budget <= 0) return false;
        int64_t a = next_amount(f), small = rrange(s, 16, 600);
        bool up = rnd(s, 2);
        f->bulk_left = up ? a : small;
        f->after_bulk = (int)(up ? small : a); /* server side amount */
        if (f->after_bulk < 8) f->after_bulk = 8;
        if (f->bulk_left < 8) f->bulk_left = 8;
        f->bulk_dir = 0; f->step = 1; continue;
    }
    case 1: case 2: {
        size_t start = b->n;
        raw_bulk(f, b);
        int d = f->step - 1;
        if (!f->first_out[d]) { /* never looks like TLS/SSLv2/text/PG: high bit set, no hello type */
            b->p[start] |= 0x80;
            if (b->n - start > 2 && b->p[start + 2] == 1) b->p[start + 2] = 2;
            f->first_out[d] = 1;
        }
        f->bdir = d;
        if (f->bulk_left <= 0) {
            if (d == 0) { f->bulk_left = f->after_bulk; f->step = 2; }
            else f->step = 0;
        }
        return true;
    }
    default: return false;
    }
}

static bool produce(flow_t *f) {
    bld b = {f->buf, 0};
    bool more;
    switch (f->cls) {
    case C_TLS: more = produce_tls(f, &b); break;
    case C_HTTP: more = produce_http(f, &b); break;
    case C_REDIS: more = produce_redis(f, &b); break;
    case C_PG: more = produce_pg(f, &b); break;
    default: more = produce_unknown(f, &b); break;
    }
    if (more && b.n == 0) return produce(f); /* a step that only changed state */
    if (b.n > BUFCAP) { fprintf(stderr, "gen: internal buffer overflow\n"); abort(); }
    f->blen = b.n; f->boff = 0;
    return more && b.n > 0;
}

/* ------------------------------------------------------------------------- */
/* DNS                                                                        */

static void dns_message(flow_t *f, bld *b, bool response, int pair) {
    uint64_t s2 = f->rng ^ (uint64_t)(pair * 7919); /* same id/name for query and response */
    uint16_t id = (uint16_t)wyrand(&s2);
    bool aaaa = (pair % 2) == 1;
    put16(b, id); put16(b, response ? 0x8180 : 0x0100);
    put16(b, 1); put16(b, response ? 1 : 0); put16(b, 0); put16(b, 0);
    char name[64];
    snprintf(name, sizeof name, "svc%u.bench.example", (uint32_t)rnd(&s2, 250) + 1);
    for (char *p = name; *p;) {
        char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        put8(b, (uint8_t)l); putmem(b, p, l);
        p += l + (dot ? 1 : 0);
    }
    put8(b, 0);
    put16(b, aaaa ? 28 : 1); put16(b, 1);
    if (response) {
        put16(b, 0xc00c); put16(b, aaaa ? 28 : 1); put16(b, 1); put32(b, 300);
        if (aaaa) { put16(b, 16); uint8_t a[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 2}; a[15] = (uint8_t)wyrand(&s2); putmem(b, a, 16); }
        else { put16(b, 4); put8(b, 198); put8(b, 19); put8(b, 60); put8(b, (uint8_t)wyrand(&s2)); }
    }
}

/* ------------------------------------------------------------------------- */
/* Per-flow stepping: emits one packet (plus, sometimes, the peer's ACK).     */

#define MSS 1448

static inline void emit_data(flow_t *f, int dir, uint8_t flags, const uint8_t *p, size_t n) {
    emit_frame(f, dir, 6, flags, p, n);
    if (f->est_left > 0) {
        int64_t d = (int64_t)n < f->est_left ? (int64_t)n : f->est_left;
        f->est_left -= d;
        g_est_left -= (uint64_t)d;
    }
}

/* Returns true when the flow has finished. */
static bool flow_step(flow_t *f) {
    switch (f->phase) {
    case PH_SYN: emit_data(f, 0, 0x02, NULL, 0); f->phase = PH_SYNACK; return false;
    case PH_SYNACK: emit_data(f, 1, 0x12, NULL, 0); f->phase = PH_ACK; return false;
    case PH_ACK: emit_data(f, 0, 0x10, NULL, 0); f->phase = PH_DATA; return false;
    case PH_DATA: {
        if (f->boff >= f->blen && !produce(f)) { f->phase = PH_FIN1; return flow_step(f); }
        int d = f->bdir;
        size_t rem = f->blen - f->boff, seg = rem > MSS ? MSS : rem;
        emit_data(f, d, (uint8_t)(0x10 | (seg == rem ? 0x08 : 0)), f->buf + f->boff, seg);
        f->boff += seg;
        f->unacked[!d] = 0; /* our segment acknowledges everything the peer sent */
        if (++f->unacked[d] >= 2) { emit_data(f, !d, 0x10, NULL, 0); f->unacked[d] = 0; } /* delayed ACK */
        return false;
    }
    case PH_FIN1: emit_data(f, 0, 0x11, NULL, 0); f->phase = PH_FIN2; return false;
    case PH_FIN2: emit_data(f, 1, 0x11, NULL, 0); f->phase = PH_FIN3; return false;
    case PH_FIN3: emit_data(f, 0, 0x10, NULL, 0); f->phase = PH_DONE; return true;
    case PH_UDP: {
        bld b = {f->buf, 0};
        int pair = f->step / 2;
        bool resp = f->step % 2;
        dns_message(f, &b, resp, pair);
        emit_frame(f, resp, 17, 0, b.p, b.n);
        cnt_dns_msgs++;
        f->step++;
        if (f->est_left > 0) { int64_t d = (int64_t)b.n < f->est_left ? (int64_t)b.n : f->est_left; f->est_left -= d; g_est_left -= (uint64_t)d; }
        return f->step >= 2 * f->dns_pairs;
    }
    default: return true;
    }
}

/* ------------------------------------------------------------------------- */

static uint64_t parse_size(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0) { fprintf(stderr, "gen: bad size '%s'\n", s); exit(2); }
    switch (*end) {
    case 'k': case 'K': v *= 1e3; break;
    case 'm': case 'M': v *= 1e6; break;
    case 'g': case 'G': v *= 1e9; break;
    case 0: break;
    default: fprintf(stderr, "gen: bad size suffix in '%s'\n", s); exit(2);
    }
    return (uint64_t)v;
}

static void usage(void) {
    fprintf(stderr,
            "usage: gen-mixed-capture -o OUT.pcap -t TRUTH.json [-s SIZE] [--seed N] [--window N]\n"
            "                         [--cert SERVER.der] [--ca CA.der] [--client-cert CLIENT.der]\n"
            "                         [--keylog KEYS.txt] [--shape mixed|short]\n"
            "  SIZE: bytes, or with suffix k/m/g (decimal); default 1100m\n"
            "  --keylog: really encrypt every TLS 1.3 flow and write its secrets to KEYS.txt (NSS key log)\n"
            "  --shape short: many short flows (a handshake and a request or two each), as container hosts carry\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *out = NULL, *truth = NULL, *keylog = NULL;
    uint64_t target = 1100000000ull;
    uint32_t window = 0; /* 0 = auto: one open flow per 400 kB of target, 16..500 */
    g_seed = 20240601;
    g_srv = (blob){cert_srv, cert_srv_len};
    g_ca = (blob){cert_ca, cert_ca_len};
    g_cli = (blob){cert_cli, cert_cli_len};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) usage();
        if (!v) usage();
        if (!strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "-t")) truth = v;
        else if (!strcmp(a, "-s") || !strcmp(a, "--size")) target = parse_size(v);
        else if (!strcmp(a, "--seed")) g_seed = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--window")) window = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--cert")) g_srv = read_file_blob(v);
        else if (!strcmp(a, "--ca")) g_ca = read_file_blob(v);
        else if (!strcmp(a, "--client-cert")) g_cli = read_file_blob(v);
        else if (!strcmp(a, "--keylog")) keylog = v;
        else if (!strcmp(a, "--shape")) {
            if (!strcmp(v, "short")) g_short = true;
            else if (strcmp(v, "mixed")) usage();
        }
        else usage();
        i++;
    }
    if (!out || !truth) usage();
    if (window == 0) {
        uint64_t w = target / 400000u;
        window = w < 16 ? 16 : w > 500 ? 500 : (uint32_t)w;
    }

    if (keylog) {
        g_keylog = fopen(keylog, "w");
        if (!g_keylog) { fprintf(stderr, "gen: cannot create %s: %s\n", keylog, strerror(errno)); return 1; }
        g_aead = EVP_CIPHER_CTX_new(); /* one context for every record; the key is set per record */
        if (!g_aead || EVP_EncryptInit_ex(g_aead, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1) crypto_fail("EVP_aes_256_gcm");
    }
    g_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (g_fd < 0) { fprintf(stderr, "gen: cannot create %s: %s\n", out, strerror(errno)); return 1; }
    g_out = malloc(OUTCAP);
    g_rng = g_seed * 0x2545F4914F6CDD1Dull + 1;
    /* 2026-12-01T00:00:00Z: inside the embedded certificates' validity (2026-11-29 .. 2036-11-26),
       so no certificate is reported as not yet valid (version 1 started at 2024-06-01) */
    g_t_us = 1796083200ull * 1000000ull;

    uint8_t gh[24];
    le32(gh, 0xa1b2c3d4); gh[4] = 2; gh[5] = 0; gh[6] = 4; gh[7] = 0;
    memset(gh + 8, 0, 8); le32(gh + 16, 262144); le32(gh + 20, 1);
    out_put(gh, 24);
    g_written = 24;

    flow_t **open_f = calloc(window, sizeof *open_f);
    uint32_t n = 0, next_idx = 0, max_open = 0;
    bool creating = true;
    uint64_t t0 = g_t_us;
    while (n < window) open_f[n++] = new_flow(next_idx++);
    max_open = n;
    uint32_t rr = 0;
    while (n > 0) {
        if (rr >= n) rr = 0;
        flow_t *f = open_f[rr];
        int burst = 1 + (int)rnd(&g_rng, 4);
        bool done = false;
        for (int k = 0; k < burst && !done; k++) done = flow_step(f);
        if (!done) { rr++; continue; }
        free_flow(f);
        /* stop opening flows once what is written plus what open flows still owe
           (payload + ~9% framing/ACK overhead) reaches the target */
        if (creating && g_written + g_est_left + g_est_left / 11 >= target) creating = false;
        if (creating) { open_f[rr++] = new_flow(next_idx++); }
        else open_f[rr] = open_f[--n];
        if (n > max_open) max_open = n;
    }
    out_flush();
    if (close(g_fd) != 0) { perror("gen: close"); return 1; }
    if (g_keylog && fclose(g_keylog) != 0) { perror("gen: keylog"); return 1; }
    if (g_aead) EVP_CIPHER_CTX_free(g_aead);

    FILE *tf = fopen(truth, "w");
    if (!tf) { fprintf(stderr, "gen: cannot create %s\n", truth); return 1; }
    uint64_t flows = cnt_tcp + cnt_udp;
    fprintf(tf, "{\n  \"generator\": \"gen-mixed-capture\",\n  \"generatorVersion\": %d,\n", GEN_VERSION);
    fprintf(tf, "  \"seed\": %" PRIu64 ",\n  \"shape\": \"%s\",\n  \"targetBytes\": %" PRIu64 ",\n  \"window\": %u,\n", g_seed, g_short ? "short" : "mixed", target, window);
    fprintf(tf, "  \"fileBytes\": %" PRIu64 ",\n  \"packets\": %" PRIu64 ",\n  \"frameBytes\": %" PRIu64 ",\n  \"l4PayloadBytes\": %" PRIu64 ",\n",
            g_written, g_packets, g_frame_bytes, g_payload_bytes);
    fprintf(tf, "  \"flows\": %" PRIu64 ",\n  \"tcpFlows\": %" PRIu64 ",\n  \"udpFlows\": %" PRIu64 ",\n", flows, cnt_tcp, cnt_udp);
    fprintf(tf, "  \"ipv6Flows\": %" PRIu64 ",\n  \"vlanTaggedFlows\": %" PRIu64 ",\n  \"maxConcurrentFlows\": %u,\n", cnt_v6, cnt_vlan, max_open);
    fprintf(tf, "  \"dnsMessages\": %" PRIu64 ",\n  \"captureSeconds\": %.3f,\n", cnt_dns_msgs, (double)(g_t_us - t0) / 1e6);
    for (int c = 0; c < NCLASS; c++) fprintf(tf, "  \"%s\": %" PRIu64 ",\n", class_name[c], cnt_class[c]);
    fprintf(tf, "  \"byProtocol\": {");
    for (int c = 0; c < NCLASS; c++) fprintf(tf, "%s\"%s\": %" PRIu64, c ? ", " : "", class_name[c], cnt_class[c]);
    fprintf(tf, "},\n  \"tlsByClientCertificate\": {");
    for (int v = 0; v < NTLSV; v++) fprintf(tf, "%s\"%s\": %" PRIu64, v ? ", " : "", cc_name[v], cnt_tlsv[v]);
    fprintf(tf, "},\n");
    if (keylog) {
        /* what an analyser given the key log must report: TLS 1.3 states read from the decrypted
           handshake (exact), TLS 1.2 states unchanged (no keys for them) */
        const char *base = strrchr(keylog, '/');
        fprintf(tf, "  \"keylog\": {\"file\": \"%s\", \"flows\": %" PRIu64 ", \"lines\": %" PRIu64 ", \"cipher\": \"TLS_AES_256_GCM_SHA384\"},\n",
                base ? base + 1 : keylog, cnt_keyed, 4 * cnt_keyed);
        fprintf(tf, "  \"decryptedFlows\": %" PRIu64 ",\n", cnt_keyed);
        fprintf(tf, "  \"tlsByClientCertificateWithKeys\": {\"not-requested\": %" PRIu64 ", \"presented\": %" PRIu64 ", \"declined\": %" PRIu64 "},\n",
                cnt_tlsv[T12_NOREQ] + cnt_tlsv[T13_NOREQ], cnt_tlsv[T12_PRES] + cnt_tlsv[T13_PRES], cnt_tlsv[T12_DECL] + cnt_tlsv[T13_DECL]);
    } else {
        fprintf(tf, "  \"keylog\": null,\n");
    }
    fprintf(tf, "  \"tlsVersions\": {\"1.2\": %" PRIu64 ", \"1.3\": %" PRIu64 "}\n}\n",
            cnt_tlsv[T12_NOREQ] + cnt_tlsv[T12_PRES] + cnt_tlsv[T12_DECL], cnt_tlsv[T13_NOREQ] + cnt_tlsv[T13_PRES] + cnt_tlsv[T13_DECL]);
    fclose(tf);
    fprintf(stderr, "gen: wrote %s: %" PRIu64 " bytes, %" PRIu64 " packets, %" PRIu64 " flows (max %u open)\n",
            out, g_written, g_packets, flows, max_open);
    return 0;
}
