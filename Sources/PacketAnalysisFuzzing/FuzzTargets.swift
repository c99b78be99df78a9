import BulkheadModel
import CBulkheadOpenSSL
import Certificates
import Foundation
import PacketAnalysis

// The fuzz targets: what fuzz/harness.swift (libFuzzer) runs on every input, and what
// Tests/PacketAnalysisTests/FuzzRegressionTests.swift replays from fuzz/regressions/ and fuzz/corpus/ — one copy,
// here, so the two cannot drift. A target of its own, outside the product, reaching the analysis internals it drives
// through `package` access. The input format is described at the top of fuzz/harness.swift and in
// fuzz/README.md. Nothing in the product calls this code.

/// An extra check on every flow record the targets produce. The harness sets it to compare FlowJSONWriter's output
/// with the Codable form (Reporting is outside this module); tests leave it as it is.
/// `nonisolated(unsafe)`: set once, before any input runs, on the only thread that runs inputs.
nonisolated(unsafe) var fuzzRecordCheck: (FlowRecord) -> Void = { record in _ = try? JSONEncoder().encode(record) }

/// "~FZ~": splits frames, TLS chunks, client and server bytes.
let fuzzSeparator: [UInt8] = [0x7e, 0x46, 0x5a, 0x7e]

/// The link types a packets input can pick.
let fuzzLinkTypes: [UInt32] = [
    LinkType.ethernet, LinkType.linuxSLL, LinkType.linuxSLL2, LinkType.null, LinkType.loop,
    LinkType.raw, LinkType.rawBSD, LinkType.rawOpenBSD, LinkType.ipv4, LinkType.ipv6,
]

/// At most this many chunks per input (more would only slow the fuzzer down).
let fuzzChunkLimit = 512

/// The target an input's first byte picks: 6 is the parallel lanes (ten times slower than the others, so only
/// that one value); any other byte picks `byte % 6`.
package func fuzzTarget(_ byte: UInt8) -> Int {
    byte == 6 ? 6 : Int(byte % 6)
}

package enum FuzzTargets {
    package static func run(_ input: UnsafeRawBufferPointer) {
        guard input.count >= 1 else { return }
        let rest = UnsafeRawBufferPointer(rebasing: input[1...])
        switch fuzzTarget(input[0]) {
        case 0: capture(rest)
        case 1: packets(rest)
        case 2: tls(rest)
        case 3: classify(rest)
        case 4: certificate(rest)
        case 5: decrypted(rest)
        default: lanes(rest)
        }
    }

    // MARK: - Helpers

    /// Ranges of `bytes` between separators (empty chunks kept), at most `limit` of them.
    static func split(_ bytes: UnsafeRawBufferPointer, limit: Int = fuzzChunkLimit) -> [Range<Int>] {
        var chunks: [Range<Int>] = []
        var start = 0
        var index = 0
        let count = bytes.count
        while index + 4 <= count, chunks.count < limit - 1 {
            if bytes[index] == fuzzSeparator[0] && bytes[index + 1] == fuzzSeparator[1]
                && bytes[index + 2] == fuzzSeparator[2] && bytes[index + 3] == fuzzSeparator[3]
            {
                chunks.append(start..<index)
                index += 4
                start = index
            } else {
                index += 1
            }
        }
        chunks.append(start..<count)
        return chunks
    }

    /// Calls `body` with a copy of `bytes[range]` in its own heap block of exactly that size.
    static func withExactCopy<R>(
        _ bytes: UnsafeRawBufferPointer, _ range: Range<Int>,
        _ body: (UnsafeRawBufferPointer) -> R
    ) -> R {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(range.count, 1), alignment: 1)
        defer { copy.deallocate() }
        if !range.isEmpty { copy.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[range])) }
        return body(UnsafeRawBufferPointer(start: copy.baseAddress, count: range.count))
    }

    /// What the CLI does with each record: findings, and its JSON form (`fuzzRecordCheck`).
    static func report(_ records: [FlowRecord]) {
        var findings = FlowFindings()
        for record in records {
            findings.add(record)
            fuzzRecordCheck(record)
        }
        // Held in memory (no budget): reading them back cannot fail.
        _ = try? findings.all
    }

    // MARK: - 0: a whole capture file

    static func capture(_ bytes: UnsafeRawBufferPointer) {
        // `bytes` ends where the input ends: reading past the file is caught as is.
        guard let file = try? CaptureFile(borrowing: bytes, name: "fuzz.pcapng") else { return }
        let keyLog = KeyLog()
        let scanned = try? file.scanEmbeddedSecrets()
        if let secrets = scanned {
            for secret in secrets where secret.type == EmbeddedSecrets.tlsKeyLog {
                keyLog.load(text: Data(secret.data), source: "embedded")
            }
        }
        var records: [FlowRecord] = []
        let options = AnalysisOptions(keyLog: keyLog.isEmpty ? nil : keyLog)
        let analyzer = FlowAnalyzer(options: options, file: file.path) { records.append($0) }
        do {
            try file.forEachPacket { packet in analyzer.process(packet) }
        } catch {
            // A capture whose first header is unusable: fine, as long as nothing crashed.
        }
        analyzer.finish()
        // The secrets scan reads the blocks by the walk's rules: it must find exactly what the walk found.
        if let scanned {
            precondition(scanned == file.embeddedSecrets, "the secrets scan and the walk disagree")
        }
        // So must a stream's follower, whether the bytes come whole or in pieces that cut every block.
        for piece in [bytes.count, 7] where piece > 0 {
            var follower = PcapngStreamSecrets(path: "fuzz")
            var at = 0
            while at < bytes.count {
                follower.feed(UnsafeRawBufferPointer(rebasing: bytes[at..<min(bytes.count, at + piece)]))
                at += piece
            }
            let followed = follower.take().compactMap { try? $0.secrets.get() }
            precondition(
                scanned == nil ? followed.isEmpty : followed == file.embeddedSecrets,
                "the stream's secrets follower and the walk disagree")
        }
        report(records)
        _ = file.warnings.map(\.description)
        _ = keyLog.summaryLines
    }

    // MARK: - 6: capture files through the parallel flow lanes

    /// One capture file, or up to four split on `~FZ~`, read in turn by the same lanes, as `analyze` reads a folder:
    /// each a continuation of the capture before it or not, as its first packet's time says.
    static func lanes(_ bytes: UnsafeRawBufferPointer) {
        let files = split(bytes, limit: 4).compactMap { range in
            try? CaptureFile(
                borrowing: UnsafeRawBufferPointer(rebasing: bytes[range]), name: "fuzz-\(range.lowerBound).pcap")
        }
        guard let file = files.first else { return }
        // Each lane gets a list of its own (receivers are called from their lane's thread only).
        final class Records: @unchecked Sendable { var list: [FlowRecord] = [] }
        var perLane: [Records] = []
        let collector = ResultCollector(receivers: {
            let records = Records()
            perLane.append(records)
            return { records.list.append($0) }
        })
        let analyzers = (0..<2).map { index in
            FlowAnalyzer(options: AnalysisOptions(), file: file.path, emit: collector.lane(index).add)
        }
        let analysis = ParallelAnalysis(analyzers: analyzers)
        analysis.start()
        var frames = 0
        for file in files {
            frames = (try? analysis.feed(file, framesBefore: frames) { _, _ in })?.frames ?? frames
        }
        analysis.finish()
        report(perLane.flatMap(\.list).sorted { $0.id < $1.id })
        _ = collector.flowSummary
    }

    // MARK: - 1: frames of one link type through one FlowAnalyzer

    static func packets(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 1 else { return }
        let selector = bytes[0]
        let linkType = fuzzLinkTypes[Int(selector & 0x7f) % fuzzLinkTypes.count]
        let options =
            selector & 0x80 != 0
            ? AnalysisOptions(inspectionWindow: 256, reorderLimit: 1024)
            : AnalysisOptions()
        let frames = UnsafeRawBufferPointer(rebasing: bytes[1...])
        var records: [FlowRecord] = []
        let analyzer = FlowAnalyzer(options: options) { records.append($0) }
        for (index, chunk) in split(frames).enumerated() where !chunk.isEmpty {
            let meta = frames[chunk.lowerBound]
            withExactCopy(frames, (chunk.lowerBound + 1)..<chunk.upperBound) { frame in
                let original = meta & 1 != 0 ? frame.count + 1 + Int(meta >> 1) : frame.count
                analyzer.process(
                    CapturedPacket(
                        timestamp: Timestamp(seconds: Int64(index), nanoseconds: 0), linkType: linkType,
                        originalLength: original, bytes: frame))
            }
        }
        analyzer.finish()
        report(records)
    }

    // MARK: - 2: a TLS conversation

    @discardableResult
    static func tls(_ bytes: UnsafeRawBufferPointer) -> TLSSummary {
        let chunks = split(bytes)
        let keyLog = KeyLog()
        keyLog.load(text: Data(bytes[chunks[0]]), source: "fuzz")
        let session = TLSSession(certificates: CertificateCache(), keyLog: keyLog.isEmpty ? nil : keyLog)
        for (index, chunk) in chunks.dropFirst().enumerated() {
            withExactCopy(bytes, chunk) { copy in
                session.consume(copy, from: index % 2 == 0 ? .client : .server)
            }
        }
        _ = keyLog.summaryLines
        _ = keyLog.hasProblems
        return session.finish()
    }

    // MARK: - 3: classifier, credential extractors, STARTTLS and tunnel detectors

    static func classify(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 1 else { return }
        let flags = bytes[0]
        let body = UnsafeRawBufferPointer(rebasing: bytes[1...])
        let parts = split(body, limit: 2)
        let serverRange = parts.count > 1 ? parts[1] : body.count..<body.count
        withExactCopy(body, parts[0]) { client in
            withExactCopy(body, serverRange) { server in
                let rolesKnown = flags & 1 != 0
                let final = flags & 2 != 0
                _ = ProtocolClassifier.classify(first: client, second: server, rolesKnown: rolesKnown, final: final)
                _ = ProtocolClassifier.classify(first: server, second: client, rolesKnown: rolesKnown, final: final)
                _ = ProtocolClassifier.looksLikeTLSRecords(client)
                _ = ProtocolClassifier.isDNSMessage(client, query: nil)
                // Proxy handshakes: every length in them is the client's or the proxy's word.
                _ = TunnelDetector.socksProtocol(client, reply: server)
                if let opening = TunnelDetector.open(client: client, server: server) {
                    precondition(opening.clientOffset <= client.count && opening.serverOffset <= server.count)
                }
                // An HTTP/1.1 upgrade's handshake (h2c's switch, read whole and a byte at a time: the two agree,
                // and what they found is within the bytes); a WebSocket's, and both sides' bytes read as frames, whole
                // and a byte at a time: the two readings agree; the payload given is never more than the bytes read, or with
                // permessage-deflate agreed, than the inflate limit.
                _ = HTTPUpgrade.mayBeUpgradeRequest(client)
                do {
                    var whole = HTTPUpgrade.H2CSwitchScan()
                    whole.readServer(server)
                    whole.readClient(client, requestEnd: 0)
                    var bytewise = HTTPUpgrade.H2CSwitchScan()
                    for end in stride(from: 0, through: server.count, by: 1) {
                        bytewise.readServer(UnsafeRawBufferPointer(rebasing: server[..<end]))
                    }
                    for end in stride(from: 0, through: client.count, by: 1) {
                        bytewise.readClient(UnsafeRawBufferPointer(rebasing: client[..<end]), requestEnd: 0)
                    }
                    precondition(whole.serverOffset == bytewise.serverOffset && whole.ended == bytewise.ended)
                    precondition(whole.prefaceOffset == bytewise.prefaceOffset)
                    precondition(whole.serverOffset.map { $0 <= server.count } ?? true)
                    precondition(whole.prefaceOffset.map { $0 + 24 <= client.count } ?? true)
                }
                if let handshake = WebSocket.handshake(client: client, server: server) {
                    precondition(handshake.clientOffset <= client.count && handshake.serverOffset <= server.count)
                }
                for side in [client, server] {
                    for deflate in [false, true] {
                        var whole = WebSocket.FrameReader(deflate: deflate)
                        var wholePayload: [UInt8] = []
                        whole.read(side, into: &wholePayload)
                        var bytewise = WebSocket.FrameReader(deflate: deflate)
                        var bytewisePayload: [UInt8] = []
                        for index in side.indices {
                            bytewise.read(
                                UnsafeRawBufferPointer(rebasing: side[index..<(index + 1)]), into: &bytewisePayload)
                        }
                        let bound = deflate ? WebSocket.FrameReader.defaultInflateLimit + side.count : side.count
                        precondition(wholePayload.count <= bound && wholePayload == bytewisePayload)
                        precondition(whole.stopped == bytewise.stopped)
                    }
                }
                // The two sides read as cleartext HTTP/2 for etcd's API, whole and as they grow a byte at a time: the
                // same methods, credentials' evidence and verdict.
                var whole = EtcdAPI.Reader()
                whole.readClient(client)
                whole.readServer(server)
                var growing = EtcdAPI.Reader()
                for length in 0...max(client.count, server.count) {
                    growing.readClient(UnsafeRawBufferPointer(rebasing: client.prefix(length)))
                    growing.readServer(UnsafeRawBufferPointer(rebasing: server.prefix(length)))
                }
                growing.readClient(client)
                precondition(whole.summary == growing.summary && whole.methods == growing.methods)
                // A WebSocket's messages read for a GraphQL client's connection_init.
                _ = CredentialExtractor.graphQLWebSocketInit(client)
                // etcd's HTTP APIs: the request's shape, and the answer read with its headers ending anywhere.
                _ = EtcdAPI.isHTTPRequest(client)
                for headersEnd in [0, server.count / 2, server.count, server.count + 1] {
                    _ = EtcdAPI.httpAnswer(request: client, response: server, headersEnd: headersEnd, complete: final)
                }
                for proto in ApplicationProtocol.allCases {
                    _ = CredentialExtractor.extract(proto, client: client)
                    _ = StartTLSDetector.clientHandover(proto, client: client)
                    _ = StartTLSDetector.serverHandover(proto, server: server)
                }
            }
        }
    }

    // MARK: - 4: X.509

    static func certificate(_ bytes: UnsafeRawBufferPointer) {
        // `bytes` ends where the input ends, so OpenSSL reading past the DER is caught as is.
        if let summary = try? CertificateParser.parse(der: bytes) {
            _ = summary.validity(at: Timestamp(seconds: 1_800_000_000, nanoseconds: 0))
        }
        _ = CertificateParser.distinguishedName(der: bytes)
        _ = CertificateCache().summary(der: bytes)
    }

    // MARK: - 5: TLS with protected records made by the harness

    /// Record protection as the harness does it, independently of Bulkhead's own (TLSCrypto): keys, IV and
    /// sequence number of one direction.
    struct SealingKeys {
        enum Algorithm { case aes128GCM, aes256GCM, chacha20Poly1305 }
        var algorithm: Algorithm
        var key: [UInt8]
        var iv: [UInt8]
        var tls12: Bool
        var sequence: UInt64 = 0
    }

    /// The suites a decrypted input can pick (byte 1 & 3): TLS 1.3 suite, TLS 1.2 suite, algorithm, SHA-384.
    static let decryptedSuites: [(tls13: UInt16, tls12: UInt16, algorithm: SealingKeys.Algorithm, sha384: Bool)] = [
        (0x1301, 0xC02F, .aes128GCM, false), (0x1302, 0xC030, .aes256GCM, true),
        (0x1303, 0xCCA8, .chacha20Poly1305, false),
    ]
    static let fuzzClientRandom = [UInt8](repeating: 0x11, count: 32)
    static let fuzzServerRandom = [UInt8](repeating: 0x55, count: 32)

    @discardableResult
    static func decrypted(_ bytes: UnsafeRawBufferPointer) -> TLSSummary? {
        guard bytes.count >= 1 else { return nil }
        let mode = bytes[0]
        let tls12 = mode & 4 != 0
        let choice = decryptedSuites[Int(mode & 3) % decryptedSuites.count]
        let suite = tls12 ? choice.tls12 : choice.tls13
        let keyLength = choice.algorithm == .aes128GCM ? 16 : 32
        let secretLength = choice.sha384 ? 48 : 32
        func secret(_ byte: UInt8, _ count: Int = secretLength) -> [UInt8] { [UInt8](repeating: byte, count: count) }
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        let random = hex(fuzzClientRandom)
        let keyLogText =
            tls12
            ? "CLIENT_RANDOM \(random) \(hex(secret(0x31, 48)))\n"
            : "CLIENT_HANDSHAKE_TRAFFIC_SECRET \(random) \(hex(secret(0x21)))\n"
                + "SERVER_HANDSHAKE_TRAFFIC_SECRET \(random) \(hex(secret(0x22)))\n"
                + "CLIENT_TRAFFIC_SECRET_0 \(random) \(hex(secret(0x23)))\n"
                + "SERVER_TRAFFIC_SECRET_0 \(random) \(hex(secret(0x24)))\n"
        let keyLog = KeyLog()
        keyLog.load(text: Data(keyLogText.utf8), source: "fuzz")
        let session = TLSSession(certificates: CertificateCache(), keyLog: keyLog)
        func feed(_ record: [UInt8], _ side: FlowSide) {
            record.withUnsafeBytes { session.consume($0, from: side) }
        }
        func handshakeRecord(_ type: UInt8, _ body: [UInt8]) -> [UInt8] {
            let message = [type, 0, UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body
            return [22, 3, 3, UInt8(message.count >> 8), UInt8(message.count & 0xff)] + message
        }
        let suiteBytes = [UInt8(suite >> 8), UInt8(suite & 0xff)]
        let supportedVersions: [UInt8] = tls12 ? [] : [0, 43, 0, 3, 2, 3, 4]
        feed(
            handshakeRecord(
                1,
                [3, 3] + fuzzClientRandom + [0, 0, 2] + suiteBytes + [1, 0]
                    + [0, UInt8(supportedVersions.count)] + supportedVersions), .client)
        let serverVersions: [UInt8] = tls12 ? [] : [0, 43, 0, 2, 3, 4]
        feed(
            handshakeRecord(
                2,
                [3, 3] + fuzzServerRandom + [0] + suiteBytes + [0]
                    + [0, UInt8(serverVersions.count)] + serverVersions), .server)

        // The keys each side protects its records with, as TLSSession will expect them.
        func tls13Keys(_ secret: [UInt8]) -> SealingKeys {
            SealingKeys(
                algorithm: choice.algorithm, key: expandLabel(secret, "key", keyLength, sha384: choice.sha384),
                iv: expandLabel(secret, "iv", 12, sha384: choice.sha384), tls12: false)
        }
        var keys: [SealingKeys?] = [nil, nil]
        var pending: [SealingKeys?] = [nil, nil]
        var handshake: [[UInt8]] = [[], []]
        if tls12 {
            // RFC 5246 §6.3 key block, AEAD suites: client key, server key, client IV, server IV.
            let ivLength = choice.algorithm == .chacha20Poly1305 ? 12 : 4
            let block = prf12(
                secret(0x31, 48), "key expansion", fuzzServerRandom + fuzzClientRandom,
                2 * keyLength + 2 * ivLength, sha384: choice.sha384)
            func part(_ offset: Int, _ count: Int) -> [UInt8] { Array(block[offset..<(offset + count)]) }
            pending = [
                SealingKeys(
                    algorithm: choice.algorithm, key: part(0, keyLength), iv: part(2 * keyLength, ivLength), tls12: true
                ),
                SealingKeys(
                    algorithm: choice.algorithm, key: part(keyLength, keyLength),
                    iv: part(2 * keyLength + ivLength, ivLength), tls12: true),
            ]
        } else {
            keys = [tls13Keys(secret(0x21)), tls13Keys(secret(0x22))]
            pending = [tls13Keys(secret(0x23)), tls13Keys(secret(0x24))]
        }
        let chunks = UnsafeRawBufferPointer(rebasing: bytes[1...])
        for chunk in split(chunks) where !chunk.isEmpty {
            let meta = chunks[chunk.lowerBound]
            let body = UnsafeRawBufferPointer(rebasing: chunks[(chunk.lowerBound + 1)..<chunk.upperBound])
            let sideIndex = Int(meta & 1)
            let side: FlowSide = sideIndex == 0 ? .client : .server
            let action = (meta >> 1) & 3
            if action == 1 {
                withExactCopy(body, 0..<body.count) { session.consume($0, from: side) }
                continue
            }
            if action == 2 {
                if tls12 { feed([20, 3, 3, 0, 1, 1], side) }
                keys[sideIndex] = pending[sideIndex]
                pending[sideIndex] = nil
                handshake[sideIndex] = []
                if body.isEmpty { continue }
            }
            guard var key = keys[sideIndex] else {
                withExactCopy(body, 0..<body.count) { session.consume($0, from: side) }
                continue
            }
            let outerType: UInt8 = [23, 22, 21, 23][Int(meta >> 3) & 3]
            let plaintext = Array(body.prefix(16_384))
            let record = seal(&key, type: outerType, plaintext: plaintext)
            keys[sideIndex] = key
            feed(record, side)
            // TLS 1.3: a decrypted Finished switches that side to its application traffic keys (TLSSession).
            if !tls12 {
                var inner = plaintext
                while inner.last == 0 { inner.removeLast() }
                if inner.popLast() == 22 {
                    handshake[sideIndex] += inner
                    var position = 0
                    let messages = handshake[sideIndex]
                    var finished = false
                    while messages.count - position >= 4 {
                        let length =
                            Int(messages[position + 1]) << 16 | Int(messages[position + 2]) << 8
                            | Int(messages[position + 3])
                        guard messages.count - position - 4 >= length else { break }
                        if messages[position] == 20 { finished = true }
                        position += 4 + length
                    }
                    handshake[sideIndex].removeFirst(position)
                    if finished {
                        keys[sideIndex] = pending[sideIndex]
                        pending[sideIndex] = nil
                    }
                }
            }
        }
        return session.finish()
    }

    static func hmac(_ key: [UInt8], _ data: [UInt8], sha384: Bool) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        _ = HMAC(sha384 ? EVP_sha384() : EVP_sha256(), key, Int32(key.count), data, data.count, &output, &length)
        return Array(output.prefix(Int(length)))
    }

    /// HKDF-Expand-Label(secret, label, "", length) (RFC 8446 §7.1).
    static func expandLabel(_ secret: [UInt8], _ label: String, _ length: Int, sha384: Bool) -> [UInt8] {
        let fullLabel = Array(("tls13 " + label).utf8)
        let info = [UInt8(length >> 8), UInt8(length & 0xff), UInt8(fullLabel.count)] + fullLabel + [0]
        var output: [UInt8] = []
        var previous: [UInt8] = []
        var counter: UInt8 = 1
        while output.count < length {
            previous = hmac(secret, previous + info + [counter], sha384: sha384)
            output += previous
            counter += 1
        }
        return Array(output.prefix(length))
    }

    /// The TLS 1.2 PRF (RFC 5246 §5).
    static func prf12(_ secret: [UInt8], _ label: String, _ seed: [UInt8], _ length: Int, sha384: Bool) -> [UInt8] {
        let labelAndSeed = Array(label.utf8) + seed
        var output: [UInt8] = []
        var a = labelAndSeed
        while output.count < length {
            a = hmac(secret, a, sha384: sha384)
            output += hmac(secret, a + labelAndSeed, sha384: sha384)
        }
        return Array(output.prefix(length))
    }

    /// One protected record of `plaintext` (RFC 8446 §5.2 / RFC 5288 / RFC 7905).
    static func seal(_ keys: inout SealingKeys, type: UInt8, plaintext: [UInt8]) -> [UInt8] {
        let sequence = (0..<8).map { UInt8(truncatingIfNeeded: keys.sequence >> (56 - 8 * UInt64($0))) }
        var nonce: [UInt8]
        var explicit: [UInt8] = []
        if keys.tls12 && keys.algorithm != .chacha20Poly1305 {
            explicit = sequence
            nonce = keys.iv + explicit
        } else {
            nonce = keys.iv
            for index in 0..<8 { nonce[4 + index] ^= sequence[index] }
        }
        let aad: [UInt8]
        if keys.tls12 {
            aad = sequence + [type, 3, 3, UInt8(plaintext.count >> 8), UInt8(plaintext.count & 0xff)]
        } else {
            let length = plaintext.count + 16
            aad = [type, 3, 3, UInt8(length >> 8), UInt8(length & 0xff)]
        }
        keys.sequence &+= 1
        var output = [UInt8](repeating: 0, count: plaintext.count + 16)
        guard let context = EVP_CIPHER_CTX_new() else { return [] }
        defer { EVP_CIPHER_CTX_free(context) }
        let algorithm: OpaquePointer? =
            switch keys.algorithm {
            case .aes128GCM: EVP_aes_128_gcm()
            case .aes256GCM: EVP_aes_256_gcm()
            case .chacha20Poly1305: EVP_chacha20_poly1305()
            }
        var length: Int32 = 0
        let key = keys.key
        let ok = output.withUnsafeMutableBufferPointer { out -> Bool in
            guard EVP_EncryptInit_ex(context, algorithm, nil, nil, nil) == 1,
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_IVLEN, 12, nil) == 1,
                EVP_EncryptInit_ex(context, nil, nil, key, nonce) == 1,
                EVP_EncryptUpdate(context, nil, &length, aad, Int32(aad.count)) == 1,
                EVP_EncryptUpdate(context, out.baseAddress, &length, plaintext, Int32(plaintext.count)) == 1,
                EVP_EncryptFinal_ex(context, out.baseAddress! + Int(length), &length) == 1
            else { return false }
            return EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, 16, out.baseAddress! + plaintext.count) == 1
        }
        guard ok else { return [] }
        let body = explicit + output
        return [type, 3, 3, UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body
    }
}
