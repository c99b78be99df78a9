// libFuzzer entry point for Bulkhead's parsers.
//
// fuzz/build.sh compiles this file together with the sources of BulkheadModel, Certificates and PacketAnalysis
// into ONE module (their `import BulkheadModel` / `import Certificates` lines stripped), so internal types
// (TLSSession, ProtocolClassifier, CredentialExtractor, StartTLSDetector, ParallelAnalysis) are reachable here
// without `@testable`.
//
// Input layout: byte 0 picks the target (6: lanes, else `byte % 6`; see `fuzzTarget`), the rest is that target's input. "~FZ~" (`fuzzSeparator`,
// in fuzz/harness.dict) splits the rest into chunks where a target needs several.
//
//   0  capture     the rest is a pcap/pcapng file: CaptureFile(borrowing:) → secrets of its Decryption Secrets
//                  Blocks into a KeyLog → every packet through one FlowAnalyzer → finish() → FlowFindings and the
//                  JSON form of every record (what `bulkhead analyze` does per file).
//   1  packets     byte 1: link type (`& 0x7f % 10`, see `fuzzLinkTypes`), bit 7: tiny inspection / reorder
//                  windows. The rest: frames, each `[meta] + frame bytes` (meta bit 0: cut by the snap length,
//                  the original length is then larger by 1 + meta >> 1). All frames go through one FlowAnalyzer
//                  in order, so flow tracking and TCP reassembly state carry over between them.
//   2  tls         chunk 0 is key log text (may be empty), the next chunks go alternately to the client and the
//                  server side of one TLSSession (an empty chunk lets the same side speak twice); then finish().
//   3  classify    byte 1: bit 0 rolesKnown, bit 1 final. The rest is split at the first separator into client
//                  and server bytes: ProtocolClassifier.classify (both ways round), then for every
//                  ApplicationProtocol: CredentialExtractor.extract and the StartTLSDetector handovers.
//   4  cert        the rest is DER: CertificateParser.parse(der:), distinguishedName(der:), CertificateCache.
//   5  decrypted   TLS whose protected records are made here, so the fuzzer reaches the parsing of decrypted
//                  handshakes. Byte 1: bit 2 TLS 1.2 (else 1.3), bits 0-1 the suite (`decryptedSuites`). The
//                  harness writes a ClientHello and ServerHello and a key log for them, then each chunk is
//                  `[meta] + bytes`: meta bit 0 the side (server if set); bits 1-2: 0 or 3 encrypt `bytes` as one
//                  record (TLS 1.3: `bytes` is the TLSInnerPlaintext, content type and padding included) with
//                  outer type 23/22/21/23 from bits 3-4, 1 feed `bytes` as they are, 2 switch the side to its
//                  next keys first (TLS 1.3: application traffic secret; TLS 1.2: a ChangeCipherSpec is sent), then
//                  encrypt `bytes` if any. TLS 1.3 keys also switch by themselves after a Finished message, as in
//                  TLSSession.
//   6  lanes       the rest is a capture file, analysed as `bulkhead analyze` does a large one: ParallelAnalysis
//                  decodes on this thread and hands packets to two flow lanes (FlowAnalyzer threads) by flow hash.
//
// Every chunk handed to the code under test is copied into its own exactly-sized heap block, so a read one byte
// past it is a heap-buffer-overflow under AddressSanitizer, and a bounds-check trap anyway: the build uses
// `-assert-config Debug`, which keeps the standard library's debug preconditions, as in a debug build.
//
// The targets themselves live in Sources/PacketAnalysisFuzzing/FuzzTargets.swift, which
// Tests/PacketAnalysisTests/FuzzRegressionTests.swift also runs to replay fuzz/regressions/ and fuzz/corpus/.

import CBulkheadOpenSSL
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzRecordCheck = fuzzCheckRecord
    FuzzTargets.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// Checks of the harness only (set as `fuzzRecordCheck`; the tests keep the default): the CLI writes flow records with
/// FlowJSONWriter (Reporting); its output must be valid JSON equal to the records' Codable form.
func fuzzCheckRecord(_ record: FlowRecord) {
    var writer = FlowJSONWriter()
    writer.write(record)
    guard let written = try? JSONSerialization.jsonObject(with: Data(writer.bytes)) as? NSDictionary else {
        fatalError("FlowJSONWriter wrote invalid JSON: \(String(decoding: writer.bytes, as: UTF8.self))")
    }
    guard let encoded = try? JSONEncoder().encode(record),
          let decoded = try? JSONSerialization.jsonObject(with: encoded) as? NSDictionary
    else { fatalError("JSONEncoder failed on a flow record") }
    if !written.isEqual(decoded) {
        fatalError("FlowJSONWriter and Codable disagree:\n\(String(decoding: writer.bytes, as: UTF8.self))\n\(String(decoding: encoded, as: UTF8.self))")
    }
}

