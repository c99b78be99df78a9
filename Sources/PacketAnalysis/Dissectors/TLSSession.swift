import BulkheadModel
import Certificates
import Glibc

/// Which side of a flow sent some bytes.
public enum FlowSide: Sendable {
    case client
    case server
}

/// Follows one TLS connection's record layer in both directions and reads its handshake.
///
/// Only what an audit needs is kept: handshake messages are collected while they are in clear; every record
/// after that is skipped by its length without copying, so a long encrypted transfer costs a few
/// instructions per segment. The session reports itself ``isComplete`` once the outcome is known and the flow
/// stops feeding it.
///
/// ### When is a session `established`?
/// - TLS ≤ 1.2: both sides sent ChangeCipherSpec followed by an encrypted record (their Finished) and no fatal
///   alert was seen in clear. Exact (`establishedBasis: handshake`).
/// - TLS 1.3: the handshake is encrypted, so the verdict comes from record sizes (`establishedBasis:
///   heuristic`): the client's first encrypted flight is recognised (Finished alone, an empty Certificate then
///   Finished, or Certificate + CertificateVerify + Finished), and the server then sent at least one record
///   that is not a lone alert-sized record (19–24 bytes, then silence). A lone alert-sized record right after
///   the client's flight is reported as an inferred encrypted alert and the session as not established.
package final class TLSSession {
    private(set) var summary = TLSSession.emptySummary
    private(set) var malformed = false
    private(set) var isComplete = false

    private let certificates: CertificateCache
    private let lane: TLSLaneState
    private let keyLog: KeyLog?
    private let client = RecordStream()
    private let server = RecordStream()

    // Decryption with key-log secrets.
    private var clientRandom: KeyLog.ClientRandom?
    /// Kept for TLS ≤ 1.2 only (its key block is derived from both randoms).
    private var serverRandom: [UInt8] = []
    private var suite: UInt16 = 0
    private var secrets: KeyLog.SecretViews?
    /// The copies `secrets` views when the key log kept them on disk (made only then).
    private var secretCopies: UnsafeMutableRawPointer?
    private var decryption = DecryptionState()
    /// Where records are decrypted (see ``decryptRecord(_:_:_:)``): allocated at the first and kept, memory each
    /// decryption writes before anything reads it (zeroing it cost more than a small record's decryption).
    private var plaintext = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    private var clientSessionID = SessionID()
    private var serverHelloSeen = false
    private var isTLS13 = false
    private var serverHelloDone = false
    private var serverCertificateSeen = false
    private var clientCertificateCount: Int?
    private var clientKeyExchangeSeen = false
    private var fatalAlert = false
    private var encryptedAlertBeforeEstablished = false
    /// TLS ≤ 1.2 without keys: an encrypted handshake record after a side's Finished, i.e. a renegotiation (a
    /// HelloRequest, or a ClientHello), which may ask for a client certificate unseen (Apache's SSLVerifyClient in a
    /// <Location> asks that way, once it has read the request).
    private var encryptedRenegotiation = false
    /// Encrypted records read after both Finished (TLS ≤ 1.2 without keys), while waiting for the server's first
    /// application record: bounded by ``recordsAfterEstablishedLimit``.
    private var recordsAfterEstablished = 0
    static let recordsAfterEstablishedLimit = 8

    // TLS 1.3 record-size evidence.
    private var clientFlightSizes: [Int] = []
    private var clientFlightLength: Int?
    private var serverPostFlightSizes: [Int] = []
    private var serverPostFlightCount = 0

    /// Bytes a handshake may occupy before Bulkhead stops collecting it (a certificate chain is rarely above
    /// 20 KiB; 256 KiB is generous and still bounds memory per flow).
    static let handshakeLimit = 262_144

    /// The summary every session starts from and `finish` leaves behind, made once: a copy of it cost a little less
    /// than `TLSSummary()` (another module, property wrappers), about 2.5 M instructions on 7,300 sessions.
    private static let emptySummary = TLSSummary()

    /// A QUIC connection's handshake (see ``QUICSession``): messages come from CRYPTO frames, not records.
    private let isQUIC: Bool
    /// QUIC: how the QUIC session saw the handshake end, set before ``finish(into:)``: `done` when it read the server's
    /// HANDSHAKE_DONE (decrypted with the key log: proof), `inferred` when the packets around it suggest it (see
    /// ``QUICSession/finish(into:)``).
    var quicHandshakeDone = false
    var quicHandshakeInferred = false
    /// QUIC: the idle timeout the client's transport parameters announce, in whole seconds (nil: none announced).
    private(set) var quicIdleTimeoutSeconds: Int?

    /// - Parameters:
    ///   - lane: what the sessions of one analysis lane share (certificate lists already read, cipher contexts).
    ///   - quic: the handshake of a QUIC connection, fed through ``consumeQUICCrypto(_:level:from:)``.
    package init(
        certificates: CertificateCache, keyLog: KeyLog? = nil, lane: TLSLaneState = TLSLaneState(), quic: Bool = false
    ) {
        self.certificates = certificates
        self.lane = lane
        self.keyLog = keyLog
        self.isQUIC = quic
    }

    deinit {
        self.plaintext.deallocate()
        self.secretCopies?.deallocate()
    }

    /// Whether a record stream direction has lost sync (bytes that cannot be TLS records).
    func hasFailed(_ side: FlowSide) -> Bool { (side == .client ? self.client : self.server).failed }

    /// Feeds in-order stream bytes sent by `side`.
    package func consume(_ bytes: UnsafeRawBufferPointer, from side: FlowSide) {
        let stream = side == .client ? self.client : self.server
        var position = 0
        let count = bytes.count
        while position < count {
            if stream.failed || self.isComplete { return }
            if stream.bodyRemaining > 0 {
                let take = min(stream.bodyRemaining, count - position)
                if stream.collecting {
                    stream.body.append(
                        contentsOf: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + take)]))
                }
                position += take
                stream.bodyRemaining -= take
                if stream.bodyRemaining == 0 { stream.body.withUnsafeBytes { self.finishRecord(stream, side, $0) } }
                continue
            }
            // An SSL 2.0-compatible ClientHello (first byte has the high bit set) can open a connection.
            if side == .client, stream.recordsSeen == 0, stream.header.isEmpty, bytes[position] & 0x80 != 0 {
                guard count - position >= 5, bytes[position + 2] == 1 else {
                    stream.failed = true
                    self.malformed = true
                    return
                }
                let length = Int(bytes[position] & 0x7f) << 8 | Int(bytes[position + 1])
                let version = UInt16(bytes[position + 3]) << 8 | UInt16(bytes[position + 4])
                self.summary.offeredVersions = [TLSRegistry.versionName(version)]
                stream.recordsSeen = 1
                stream.collecting = false
                stream.bodyRemaining = max(0, length - 3)
                position += 5
                continue
            }
            let type: UInt8
            let major: UInt8
            let length: Int
            if stream.header.isEmpty && count - position >= 5 {
                // The whole header in this segment (nearly always): read in place.
                type = bytes[position]
                major = bytes[position + 1]
                length = Int(bytes[position + 3]) << 8 | Int(bytes[position + 4])
                position += 5
            } else {
                let take = min(5 - stream.header.count, count - position)
                stream.header.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + take)]))
                position += take
                guard stream.header.count == 5 else { return }
                type = stream.header[0]
                major = stream.header[1]
                length = Int(stream.header[3]) << 8 | Int(stream.header[4])
                stream.header.removeAll(keepingCapacity: true)
            }
            // 2^14 plus the expansion TLS allows; anything else is not a TLS record.
            guard (20...24).contains(type), major == 3, length <= 18_432 else {
                stream.failed = true
                self.malformed = true
                return
            }
            stream.recordsSeen += 1
            stream.type = type
            stream.length = length
            stream.collecting =
                (!stream.encrypted && (type == 22 || type == 21))
                || (stream.encrypted && stream.keys != nil && (21...23).contains(type))
            stream.body.removeAll(keepingCapacity: true)
            if stream.collecting && count - position >= length {
                // The whole record in this segment (a ClientHello, a ServerHello, an alert): read where it lies
                // rather than copied into `body` first.
                let record = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + length)])
                position += length
                stream.bodyRemaining = 0
                self.finishRecord(stream, side, record)
                continue
            }
            // Room for the whole record at once (at most 18 KiB): grown segment by segment, a record spanning several
            // segments was copied to a new buffer at each doubling.
            if stream.collecting && stream.body.capacity < length { stream.body.reserveCapacity(length) }
            stream.bodyRemaining = length
            if length == 0 { stream.body.withUnsafeBytes { self.finishRecord(stream, side, $0) } }
        }
    }

    /// Drops what only reading more records needs (record and handshake buffers, keys, the connection's secrets) once
    /// the session is complete and reads nothing more. A flow stays in the table for seconds after it closes (late
    /// packets may still come), and with a key log each side held a record buffer of up to 16 KiB, decrypted bytes and
    /// cipher contexts until then: tens of megabytes per analysis lane on a busy capture.
    package func releaseBuffers() {
        guard self.isComplete else { return }
        // The cipher contexts go back to the lane's pool, for the next sessions.
        self.client.release(to: self.lane.openers)
        self.server.release(to: self.lane.openers)
        self.secrets = nil
        self.secretCopies?.deallocate()
        self.secretCopies = nil
        self.plaintext.deallocate()
        self.plaintext = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        self.clientRandom = nil
        self.serverRandom = []
    }

    // MARK: - Records

    /// Settles the record just read; `body` is its content (in `stream.body`, or where it lay in the segment).
    private func finishRecord(_ stream: RecordStream, _ side: FlowSide, _ body: UnsafeRawBufferPointer) {
        if stream.encrypted, stream.keys != nil, (21...23).contains(stream.type) {
            self.decryptRecord(stream, side, body)
        }
        switch stream.type {
        case 22:
            if stream.encrypted {
                self.encryptedRecord(stream, side)
            } else {
                guard stream.handshake.count + body.count <= Self.handshakeLimit else {
                    stream.failed = true
                    self.malformed = true
                    return
                }
                self.readHandshakeMessages(stream, side, body)
            }
        case 20:
            stream.ccsSeen = true
            // In TLS 1.3 ChangeCipherSpec is only a middlebox-compatibility record (also around a
            // HelloRetryRequest, before the version is settled).
            if !self.isTLS13 && !self.summary.helloRetryRequest {
                stream.encrypted = true
                stream.keys = stream.pendingKeys
                stream.pendingKeys = nil
                if side == .server && !self.serverCertificateSeen && self.serverHelloSeen {
                    self.summary.resumed = true
                }
            }
        case 21:
            if !stream.encrypted && body.count == 2 {
                let level = body[0]
                let code = body[1]
                self.summary.alerts.append(
                    TLSAlert(
                        from: side == .client ? "client" : "server",
                        level: level == 2 ? "fatal" : level == 1 ? "warning" : "unknown",
                        description: TLSRegistry.alertName(code), code: Int(code), inferred: false))
                if level == 2 {
                    self.fatalAlert = true
                    self.isComplete = true
                }
            } else {
                // TLS ≤ 1.2 keeps the alert content type visible on encrypted alerts.
                if !self.summary.established {
                    self.encryptedAlertBeforeEstablished = true
                    self.summary.alerts.append(
                        TLSAlert(
                            from: side == .client ? "client" : "server", level: "unknown",
                            description: "encrypted", code: nil, inferred: false))
                    self.isComplete = true
                }
            }
        case 23:
            self.encryptedRecord(stream, side)
        default:
            break  // heartbeat
        }
    }

    private func encryptedRecord(_ stream: RecordStream, _ side: FlowSide) {
        if self.isTLS13 {
            if side == .client {
                if self.clientFlightSizes.count < 8 { self.clientFlightSizes.append(stream.length) }
                if self.clientFlightLength == nil, let verdict = Self.flightVerdict(self.clientFlightSizes),
                    self.clientFlightSizes.count >= verdict.length
                {
                    self.clientFlightLength = verdict.length
                }
            } else if let length = self.clientFlightLength, self.clientFlightSizes.count >= length {
                self.serverPostFlightCount += 1
                if self.serverPostFlightSizes.count < 4 { self.serverPostFlightSizes.append(stream.length) }
                if self.serverPostFlightCount >= 2 && !self.decryption.active { self.isComplete = true }
            }
        } else if stream.ccsSeen {
            let established = self.summary.established
            let keyless = self.client.keys == nil && self.server.keys == nil
            stream.encryptedAfterCCS += 1
            if keyless && stream.encryptedAfterCCS > 1 {
                // Without keys, after the Finished: a handshake record is a renegotiation, whose CertificateRequest,
                // if any, is encrypted (with keys, the records are read instead). The server's first application
                // record shows it answered without one: the handshake's client-certificate state stands.
                if stream.type == 22 {
                    self.encryptedRenegotiation = true
                    self.summary.renegotiated = true
                    self.isComplete = true
                } else if stream.type == 23 && side == .server {
                    self.isComplete = true
                }
            }
            if established && keyless {
                self.recordsAfterEstablished += 1
                if self.recordsAfterEstablished >= Self.recordsAfterEstablishedLimit { self.isComplete = true }
            }
            if self.client.encryptedAfterCCS > 0 && self.server.encryptedAfterCCS > 0 && !self.fatalAlert {
                self.summary.established = true
                // Read on: with keys, while they last (an application record per side shows what is inside, and a
                // renegotiation is read like the first handshake); without, until the server's first application
                // record or a renegotiation (above) showed whether the handshake's client-certificate state stands.
                if !keyless { self.isComplete = false }
            }
        }
    }

    /// Reads the client's first encrypted flight after a TLS 1.3 ServerHello from its record sizes.
    ///
    /// Finished alone is 53 (SHA-256 suites) or 69 (SHA-384) bytes; an empty Certificate is a 25-byte record
    /// before Finished; a real certificate is a large record followed by CertificateVerify and Finished.
    /// Thresholds leave room for padding (one stack pads Finished to 63 bytes).
    static func flightVerdict(_ sizes: [Int]) -> (state: ClientCertificateState, length: Int)? {
        guard let first = sizes.first else { return nil }
        if first <= 44 { return (.likelyDeclined, 2) }
        if first <= 160 { return (.likelyNotRequested, 1) }
        return (.likelyPresented, 3)
    }

    static func isAlertSized(_ length: Int) -> Bool { (19...24).contains(length) }

    // MARK: - Handshake messages

    /// Reads the complete handshake messages of the record just finished (`body`), after any part of a message
    /// earlier records left (`stream.handshake`). A record that starts with nothing left over, the usual case, is read
    /// where it lies; only what it leaves of a message spanning records is kept.
    private func readHandshakeMessages(_ stream: RecordStream, _ side: FlowSide, _ body: UnsafeRawBufferPointer) {
        if !stream.handshake.isEmpty {
            stream.handshake.append(contentsOf: body)
            let consumed = stream.handshake.withUnsafeBytes { self.readHandshakeMessages(in: $0, stream, side) }
            if consumed >= stream.handshake.count {
                stream.handshake.removeAll(keepingCapacity: false)
            } else if consumed > 0 {
                stream.handshake.removeFirst(consumed)
            }
            return
        }
        let consumed = self.readHandshakeMessages(in: body, stream, side)
        if consumed < body.count && !stream.failed {
            stream.handshake.append(contentsOf: UnsafeRawBufferPointer(rebasing: body[consumed...]))
        }
    }

    /// Reads the complete messages at the front of `buffer`; returns how many bytes they took.
    private func readHandshakeMessages(in buffer: UnsafeRawBufferPointer, _ stream: RecordStream, _ side: FlowSide)
        -> Int
    {
        let (consumed, oversized) = Self.forEachHandshakeMessage(in: buffer) { type, body in
            self.handshakeMessage(type, body, side, stream)
            return !stream.encrypted  // after the ServerHello of TLS 1.3 the rest of the buffer is not clear
        }
        if oversized {
            stream.failed = true
            self.malformed = true
        }
        return consumed
    }

    /// Calls `body` with each complete handshake message (type, body) at the front of `buffer`, until it returns
    /// false. Returns how many bytes the messages took (the caller drops them; a partial message waits for the
    /// next record) and whether a message claimed more than ``handshakeLimit``.
    static func forEachHandshakeMessage(in buffer: [UInt8], _ body: (UInt8, UnsafeRawBufferPointer) -> Bool) -> (
        consumed: Int, oversized: Bool
    ) {
        buffer.withUnsafeBytes { Self.forEachHandshakeMessage(in: $0, body) }
    }

    /// The same, on bytes where they lie (a record read in place, or a buffer already borrowed).
    static func forEachHandshakeMessage(
        in bytes: UnsafeRawBufferPointer, _ body: (UInt8, UnsafeRawBufferPointer) -> Bool
    ) -> (consumed: Int, oversized: Bool) {
        var position = 0
        while bytes.count - position >= 4 {
            let type = bytes[position]
            let length = Int(bytes[position + 1]) << 16 | Int(bytes[position + 2]) << 8 | Int(bytes[position + 3])
            guard length <= Self.handshakeLimit else { return (position, true) }
            guard bytes.count - position - 4 >= length else { break }
            let message = UnsafeRawBufferPointer(rebasing: bytes[(position + 4)..<(position + 4 + length)])
            position += 4 + length
            guard body(type, message) else { return (bytes.count, false) }
        }
        return (position, false)
    }

    private func handshakeMessage(
        _ type: UInt8, _ body: UnsafeRawBufferPointer, _ side: FlowSide, _ stream: RecordStream
    ) {
        switch (type, side) {
        case (1, .client): self.clientHello(body)
        case (2, .server): self.serverHello(body)
        case (11, .server):
            self.serverCertificateSeen = true
            self.summary.serverCertificates = self.certificateList(body)
        case (11, .client):
            let list = self.certificateList(body)
            self.summary.clientCertificates = list
            self.clientCertificateCount = list.count
        case (13, .server): self.certificateRequest(body)
        case (14, .server): self.serverHelloDone = true
        case (16, .client): self.clientKeyExchangeSeen = true
        default: break
        }
    }

    private func clientHello(_ body: UnsafeRawBufferPointer) {
        var cursor = ByteCursor(body)
        guard let legacyVersion = cursor.u16(), let random = cursor.bytes(32),
            let sessionIDLength = cursor.u8(), let sessionID = cursor.bytes(Int(sessionIDLength)),
            let suitesLength = cursor.u16(), cursor.skip(Int(suitesLength)),
            let compressionLength = cursor.u8(), cursor.skip(Int(compressionLength))
        else {
            self.malformed = true
            return
        }
        self.summary.clientRandom = Digest.hex(random)
        // The randoms only serve to look the connection up in a key log: without one, no array is made for them.
        if self.keyLog != nil { self.clientRandom = KeyLog.ClientRandom(random) }
        self.clientSessionID = SessionID(sessionID)
        var offered: [String] = []
        if let extensionsLength = cursor.u16(), var extensions = cursor.sub(Int(extensionsLength)) {
            while let type = extensions.u16(), let length = extensions.u16(), var data = extensions.sub(Int(length)) {
                switch type {
                case 0:  // server_name
                    if let listLength = data.u16(), var list = data.sub(Int(listLength)) {
                        while let nameType = list.u8(), let nameLength = list.u16(),
                            let name = list.bytes(Int(nameLength))
                        {
                            if nameType == 0 {
                                self.summary.sni = name.printableText
                                break
                            }
                        }
                    }
                case 16:  // application_layer_protocol_negotiation
                    if let listLength = data.u16(), var list = data.sub(Int(listLength)) {
                        // Sized once for the usual few names (growing from empty reallocated at the second).
                        var names: [String] = []
                        names.reserveCapacity(min(Int(listLength) / 2, 8))
                        while let nameLength = list.u8(), let name = list.bytes(Int(nameLength)) {
                            names.append(name.printableText)
                        }
                        self.summary.alpnOffered = names
                    }
                case 43:  // supported_versions
                    if let listLength = data.u8(), var list = data.sub(Int(listLength)) {
                        offered.reserveCapacity(min(Int(listLength) / 2, 8))
                        while let version = list.u16() {
                            if !TLSRegistry.isGREASE(version) { offered.append(TLSRegistry.versionName(version)) }
                        }
                    }
                case 57, 0xffa5:  // quic_transport_parameters (RFC 9000 §18; 0xffa5 before version 1)
                    guard self.isQUIC else { break }
                    while let id = data.varint(), let length = data.varint(), var value = data.sub(length) {
                        // max_idle_timeout, in milliseconds; 0 (or absent) is none
                        if id == 0x01, let milliseconds = value.varint(), milliseconds > 0 {
                            self.quicIdleTimeoutSeconds = (milliseconds + 999) / 1000
                        }
                    }
                default: break
                }
            }
        }
        self.summary.offeredVersions = offered.isEmpty ? [TLSRegistry.versionName(legacyVersion)] : offered
    }

    private static let helloRetryRandom: [UInt8] = [
        0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
        0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
    ]

    private func serverHello(_ body: UnsafeRawBufferPointer) {
        var cursor = ByteCursor(body)
        guard let legacyVersion = cursor.u16(), let random = cursor.bytes(32),
            let sessionIDLength = cursor.u8(), let sessionID = cursor.bytes(Int(sessionIDLength)),
            let suite = cursor.u16(), cursor.skip(1)
        else {
            self.malformed = true
            return
        }
        var version = legacyVersion
        var pskAccepted = false
        if let extensionsLength = cursor.u16(), var extensions = cursor.sub(Int(extensionsLength)) {
            while let type = extensions.u16(), let length = extensions.u16(), var data = extensions.sub(Int(length)) {
                switch type {
                case 43: if let selected = data.u16() { version = selected }
                case 16:
                    if data.u16() != nil, let nameLength = data.u8(), let name = data.bytes(Int(nameLength)) {
                        self.summary.alpn = name.printableText
                    }
                case 41: pskAccepted = true
                default: break
                }
            }
        }
        if random.elementsEqual(Self.helloRetryRandom) {
            self.summary.helloRetryRequest = true
            return
        }
        self.serverHelloSeen = true
        self.suite = suite
        self.summary.version = TLSRegistry.versionName(version)
        self.summary.cipher = TLSRegistry.cipherName(suite)
        defer { self.prepareKeys(tls13: self.isTLS13) }
        if version == 0x0304 || (0x7f00...0x7fff).contains(version) {
            self.isTLS13 = true
            self.summary.resumed = pskAccepted
            // Everything after the ServerHello is encrypted in TLS 1.3, in both directions.
            self.server.encrypted = true
            self.client.encrypted = true
        } else if !sessionID.isEmpty && self.clientSessionID.matches(sessionID) {
            self.summary.resumed = true
        }
        if !self.isTLS13 && self.keyLog != nil { self.serverRandom = Array(random) }
    }

    private func certificateList(_ body: UnsafeRawBufferPointer, tls13: Bool = false) -> [CertificateSummary] {
        let (list, malformed) = self.lane.certificateLists.list(body, tls13: tls13) {
            Self.readCertificateList(body, tls13: tls13, certificates: self.certificates)
        }
        if malformed { self.malformed = true }
        return list
    }

    /// The certificates of a Certificate message's list, and whether the list was malformed.
    private static func readCertificateList(
        _ body: UnsafeRawBufferPointer, tls13: Bool, certificates: CertificateCache
    ) -> (list: [CertificateSummary], malformed: Bool) {
        var cursor = ByteCursor(body)
        guard let listLength = cursor.u24(), var list = cursor.sub(listLength) else { return ([], true) }
        var result: [CertificateSummary] = []
        var malformed = false
        while let length = list.u24() {
            guard let der = list.bytes(length) else {
                malformed = true
                break
            }
            if tls13 {
                guard let extensionsLength = list.u16(), list.skip(Int(extensionsLength)) else {
                    malformed = true
                    break
                }
            }
            switch certificates.summary(der: der) {
            case .success(let summary): result.append(summary)
            case .failure(let error):
                result.append(CertificateSummary.unreadable(sha256: error.sha256, reason: error.reason))
            }
            if result.count >= 16 { break }  // a chain longer than this is an attack on the reader, not PKI
        }
        return (result, malformed)
    }

    private func certificateRequest(_ body: UnsafeRawBufferPointer) {
        self.summary.certificateRequested = true
        var cursor = ByteCursor(body)
        guard let typesLength = cursor.u8(), cursor.skip(Int(typesLength)) else { return }
        if self.summary.version == "1.2" {
            guard let algorithmsLength = cursor.u16(), cursor.skip(Int(algorithmsLength)) else { return }
        }
        guard let namesLength = cursor.u16(), var names = cursor.sub(Int(namesLength)) else { return }
        var authorities: [String] = []
        while let nameLength = names.u16(), let name = names.bytes(Int(nameLength)), authorities.count < 64 {
            authorities.append(CertificateParser.distinguishedName(der: name) ?? "<unparseable name>")
        }
        self.summary.acceptableCAs = authorities
    }

    // MARK: - Decryption

    /// Looks the connection up in the key log once the ServerHello fixed version and cipher.
    private func prepareKeys(tls13: Bool) {
        // QUIC protects packets, not records: its session derives its own keys (``QUICSession``).
        guard !self.isQUIC, let keyLog = self.keyLog, let clientRandom = self.clientRandom,
            let secrets = keyLog.secretViews(clientRandom, copies: self.copiesOfSecrets)
        else { return }
        self.secrets = secrets
        if tls13 {
            guard let cipher = RecordCipher.tls13(self.suite) else {
                self.decryption.problem = "cipher \(TLSRegistry.cipherName(self.suite)) is not supported for decryption"
                return
            }
            guard let clientSecret = secrets.clientHandshake, let serverSecret = secrets.serverHandshake else {
                self.decryption.problem = "the key log has no handshake traffic secrets for this connection"
                return
            }
            // A SHA-384 suite's secrets are derived together where the CPU allows, the application ones kept for each
            // side's Finished.
            if cipher.usesSHA384, TrafficKeys.derivesTogether, let clientTraffic = secrets.clientTraffic,
                let serverTraffic = secrets.serverTraffic,
                let keys = TrafficKeys.sha384(cipher, [clientSecret, serverSecret, clientTraffic, serverTraffic]),
                keys.count == 4
            {
                self.client.keys = DirectionKeys(tls13: cipher, keys: keys[0], pool: self.lane.openers)
                self.server.keys = DirectionKeys(tls13: cipher, keys: keys[1], pool: self.lane.openers)
                self.client.nextKeys = keys[2]
                self.server.nextKeys = keys[3]
            } else {
                self.client.keys = DirectionKeys(tls13: cipher, secret: clientSecret, pool: self.lane.openers)
                self.server.keys = DirectionKeys(tls13: cipher, secret: serverSecret, pool: self.lane.openers)
            }
            self.decryption.active = true
        } else {
            guard let cipher = RecordCipher.tls12(self.suite) else {
                self.decryption.problem =
                    "cipher \(TLSRegistry.cipherName(self.suite)) is not supported for decryption (only AEAD suites)"
                return
            }
            guard let master = secrets.masterSecret,
                let keys = DirectionKeys.tls12(
                    cipher, masterSecret: Array(master), clientRandom: clientRandom.bytes,
                    serverRandom: self.serverRandom, pool: self.lane.openers)
            else {
                self.decryption.problem = "the key log has no CLIENT_RANDOM master secret for this connection"
                return
            }
            self.client.pendingKeys = keys.client
            self.server.pendingKeys = keys.server
            self.decryption.active = true
        }
    }

    /// Room for the connection's secrets copied out of the key log's scratch file.
    private func copiesOfSecrets() -> UnsafeMutableRawPointer {
        if let copies = self.secretCopies { return copies }
        let copies = UnsafeMutableRawPointer.allocate(byteCount: KeyLog.Store.copySize, alignment: 16)
        self.secretCopies = copies
        return copies
    }

    private func decryptRecord(_ stream: RecordStream, _ side: FlowSide, _ body: UnsafeRawBufferPointer) {
        guard stream.keys != nil else { return }
        // Decrypted into the session's buffer, kept from record to record (an array per record cost an allocation and
        // its release): room for the largest record so far, at least a certificate chain's usual size.
        if self.plaintext.count < body.count {
            self.plaintext.deallocate()
            self.plaintext = .allocate(byteCount: max(body.count, 4096), alignment: 16)
        }
        let opened = stream.keys?.open(type: stream.type, version: 0x0303, body: body, into: self.plaintext)
        guard let (innerType, length) = opened else {
            // A key that does not authenticate the first records is the wrong key; later failures mean a gap.
            self.decryption.failed = true
            self.decryption.problem =
                self.decryption.problem ?? "the key log's secrets do not decrypt this connection (wrong key)"
            self.client.keys = nil
            self.server.keys = nil
            self.client.pendingKeys = nil
            self.server.pendingKeys = nil
            self.decryption.active = false
            return
        }
        self.decrypted(innerType, UnsafeRawBufferPointer(rebasing: self.plaintext[0..<length]), stream, side)
    }

    /// Reads a record just decrypted: its inner content type and its plaintext (in ``plaintext``, which nothing here
    /// changes).
    private func decrypted(
        _ innerType: UInt8, _ plaintext: UnsafeRawBufferPointer, _ stream: RecordStream, _ side: FlowSide
    ) {
        if side == .server && self.client.finishedDecrypted { self.decryption.serverRecordsAfterClientFinished += 1 }
        switch innerType {
        case 22:
            guard stream.innerHandshake.count + plaintext.count <= Self.handshakeLimit else {
                stream.keys = nil
                self.malformed = true
                return
            }
            if self.isTLS13 {
                self.readDecryptedHandshake(plaintext, stream, side)
            } else {
                // TLS 1.2: Finished, then (rarely) a renegotiation, whose messages are read like the first
                // handshake's; its ServerHello prepares the new keys, which take over at its ChangeCipherSpec.
                stream.innerHandshake.append(contentsOf: plaintext)
                let (consumed, oversized) = Self.forEachHandshakeMessage(in: stream.innerHandshake) { type, body in
                    if type == 20 {
                        stream.finishedDecrypted = true
                        self.summary.decrypted = true
                    } else {
                        self.summary.renegotiated = true
                        self.handshakeMessage(type, body, side, stream)
                    }
                    return true
                }
                if oversized { stream.keys = nil }
                stream.innerHandshake.removeFirst(min(consumed, stream.innerHandshake.count))
            }
        case 21:
            if plaintext.count >= 2 {
                let level = plaintext[0]
                let code = plaintext[1]
                // Replace the "encrypted" placeholder a TLS 1.2 alert record left, if any.
                self.summary.alerts.removeAll {
                    $0.description == "encrypted" && $0.from == (side == .client ? "client" : "server")
                }
                self.summary.alerts.append(
                    TLSAlert(
                        from: side == .client ? "client" : "server",
                        level: level == 2 ? "fatal" : level == 1 ? "warning" : "unknown",
                        description: TLSRegistry.alertName(code), code: Int(code), inferred: false))
                if level == 2 || (code != 0 && code != 90) {
                    self.fatalAlert = self.fatalAlert || level == 2
                    self.isComplete = true
                }
            }
        case 23:
            stream.applicationRecords += 1
            // A few application records are enough (the first shows the inner protocol; alerts come early);
            // decrypting a bulk transfer would cost time for nothing.
            if stream.applicationRecords >= 4 { self.lane.openers.recycle(&stream.keys) }
            if side == .client && self.summary.innerProtocol == nil && stream.applicationRecords == 1 {
                self.summary.innerProtocol =
                    ProtocolClassifier.clientRequest(plaintext, peer: UnsafeRawBufferPointer(start: nil, count: 0))?
                    .rawValue
            }
        default:
            break
        }
        // Enough has been read once both Finished messages are decrypted, the server answered the client's
        // flight (TLS 1.3: a ticket, data or an alert) and the client's first application record was seen.
        let handshakeRead = self.client.finishedDecrypted && self.server.finishedDecrypted
        let answered = !self.isTLS13 || self.decryption.serverRecordsAfterClientFinished > 0
        if handshakeRead && answered && (self.client.applicationRecords > 0 || self.server.applicationRecords > 1) {
            self.isComplete = true
        }
        if self.summary.established && self.client.keys == nil && self.server.keys == nil { self.isComplete = true }
    }

    /// Reads the complete TLS 1.3 handshake messages of a decrypted record (`plaintext`), after any part of a message
    /// earlier records left (`stream.innerHandshake`). A record that starts with nothing left over, the usual case, is
    /// read where it lies; only what it leaves of a message spanning records is kept.
    private func readDecryptedHandshake(_ plaintext: UnsafeRawBufferPointer, _ stream: RecordStream, _ side: FlowSide) {
        let read = { (bytes: UnsafeRawBufferPointer) -> Int in
            let (consumed, oversized) = Self.forEachHandshakeMessage(in: bytes) { type, body in
                self.decryptedHandshakeMessage(type, body, side, stream)
                return true
            }
            if oversized { stream.keys = nil }
            return consumed
        }
        if stream.innerHandshake.isEmpty {
            let consumed = read(plaintext)
            if consumed < plaintext.count {
                stream.innerHandshake.append(contentsOf: UnsafeRawBufferPointer(rebasing: plaintext[consumed...]))
            }
            return
        }
        stream.innerHandshake.append(contentsOf: plaintext)
        let consumed = stream.innerHandshake.withUnsafeBytes { read($0) }
        stream.innerHandshake.removeFirst(min(consumed, stream.innerHandshake.count))
    }

    private func decryptedHandshakeMessage(
        _ type: UInt8, _ body: UnsafeRawBufferPointer, _ side: FlowSide, _ stream: RecordStream
    ) {
        self.summary.decrypted = true
        switch (type, side) {
        case (8, .server):  // EncryptedExtensions
            var cursor = ByteCursor(body)
            guard let length = cursor.u16(), var extensions = cursor.sub(Int(length)) else { return }
            while let extensionType = extensions.u16(), let extensionLength = extensions.u16(),
                var data = extensions.sub(Int(extensionLength))
            {
                if extensionType == 16, data.u16() != nil, let nameLength = data.u8(),
                    let name = data.bytes(Int(nameLength))
                {
                    self.summary.alpn = name.printableText
                }
            }
        case (13, .server):  // CertificateRequest (TLS 1.3)
            self.summary.certificateRequested = true
            self.decryption.certificateRequestDecrypted = true
            var cursor = ByteCursor(body)
            guard let contextLength = cursor.u8(), cursor.skip(Int(contextLength)),
                let length = cursor.u16(), var extensions = cursor.sub(Int(length))
            else { return }
            while let extensionType = extensions.u16(), let extensionLength = extensions.u16(),
                var data = extensions.sub(Int(extensionLength))
            {
                if extensionType == 13, let listLength = data.u16(), var list = data.sub(Int(listLength)) {
                    var algorithms: [String] = []
                    while let scheme = list.u16(), algorithms.count < 64 {
                        algorithms.append(TLSRegistry.signatureSchemeName(scheme))
                    }
                    self.summary.requestedSignatureAlgorithms = algorithms
                } else if extensionType == 47, let listLength = data.u16(), var list = data.sub(Int(listLength)) {
                    var authorities: [String] = []
                    while let nameLength = list.u16(), let name = list.bytes(Int(nameLength)), authorities.count < 64 {
                        authorities.append(CertificateParser.distinguishedName(der: name) ?? "<unparseable name>")
                    }
                    self.summary.acceptableCAs = authorities
                }
            }
        case (11, _):  // Certificate (TLS 1.3: request context, then entries with extensions)
            var cursor = ByteCursor(body)
            guard let contextLength = cursor.u8(), cursor.skip(Int(contextLength)) else { return }
            let list = self.certificateList(UnsafeRawBufferPointer(rebasing: body[cursor.offset...]), tls13: true)
            if side == .server {
                self.summary.serverCertificates = list
            } else {
                self.summary.clientCertificates = list
                self.clientCertificateCount = list.count
            }
        case (20, _):  // Finished: this side now protects records with its application traffic secret
            stream.finishedDecrypted = true
            // The direction's cipher context takes the new key (a new context per secret cost more than its records).
            let secret = side == .client ? self.secrets?.clientTraffic : self.secrets?.serverTraffic
            if let next = stream.nextKeys, stream.keys != nil {
                stream.keys?.rekey(tls13: next)
            } else if let secret, stream.keys != nil {
                stream.keys?.rekey(tls13: secret)
            } else {
                stream.keys = nil
            }
            stream.nextKeys = nil
        default:
            break
        }
    }

    // MARK: - QUIC

    /// The packet protection level CRYPTO data came at.
    package enum QUICLevel: Sendable {
        /// Initial packets (ClientHello, ServerHello), readable by anyone.
        case initial
        /// Handshake packets, decrypted with the key log's handshake traffic secrets.
        case handshake
    }

    /// QUIC (RFC 9001 §4): in-order CRYPTO data sent by `side` at `level`.
    func consumeQUICCrypto(_ bytes: UnsafeRawBufferPointer, level: QUICLevel, from side: FlowSide) {
        let stream = side == .client ? self.client : self.server
        switch level {
        case .initial:
            guard !stream.failed else { return }
            self.readHandshakeMessages(stream, side, bytes)
        case .handshake:
            guard stream.innerHandshake.count + bytes.count <= Self.handshakeLimit else {
                self.malformed = true
                return
            }
            self.readDecryptedHandshake(bytes, stream, side)
        }
    }

    /// QUIC: the cipher suite, once a TLS 1.3 ServerHello chose it (the Handshake and 1-RTT keys need it).
    var quicSuite: UInt16? { self.serverHelloSeen && self.isTLS13 ? self.suite : nil }

    /// QUIC: the ClientHello's random, to look the connection up in the key log (kept only when there is one).
    var quicClientRandom: [UInt8]? { self.clientRandom?.bytes }

    /// QUIC: why the handshake could not be decrypted (the first reason given stands).
    func quicDecryptionProblem(_ problem: String) {
        if self.decryption.problem == nil { self.decryption.problem = problem }
    }

    /// QUIC: CRYPTO data that cannot be a handshake (beyond its limits).
    func quicMalformed() { self.malformed = true }

    /// QUIC: a CONNECTION_CLOSE carrying a TLS alert (a crypto error, RFC 9001 §4.8), which ends the connection.
    func quicAlert(_ code: UInt8, from side: FlowSide) {
        // A close is often sent at two levels at once (a Handshake packet and a 1-RTT one coalesced): one alert.
        let from = side == .client ? "client" : "server"
        guard !self.summary.alerts.contains(where: { $0.from == from && $0.code == Int(code) }) else { return }
        self.summary.alerts.append(
            TLSAlert(
                from: from, level: "fatal", description: TLSRegistry.alertName(code), code: Int(code), inferred: false))
        self.fatalAlert = true
        self.isComplete = true
    }

    // MARK: - Verdict

    /// Settles the summary once the flow has ended (or the capture did) and hands it over: call it once. The summary
    /// is moved out, not copied (a copy retained each of its strings and arrays, and the session's release of its own
    /// then cost as much again, for every TLS flow).
    package func finish() -> TLSSummary {
        var summary = Self.emptySummary
        swap(&summary, &self.summary)
        self.settle(&summary)
        return summary
    }

    /// ``finish()`` into a record's summary, in place: the session's summary is swapped into `slot`, and the session
    /// keeps what was there (a finished session is only dropped). Without a summary to swap with, the copy of an empty
    /// one that `finish()` makes is made here once.
    package func finish(into slot: inout TLSSummary?) {
        if case .none = slot { slot = Self.emptySummary }
        // `slot!` is the summary just made sure of, reached in place.
        swap(&slot!, &self.summary)
        self.settle(&slot!)
    }

    /// The client-certificate state of a resumed TLS 1.3 (or QUIC) session: `unknown`. A server authenticating with
    /// a PSK must not send a CertificateRequest (RFC 8446 §4.3.2), so none is seen, but the session carries the
    /// identity of the handshake that made the ticket: a server requiring client certificates resumes only sessions
    /// whose client presented one. "Not requested" would be a false `tls-no-client-auth` on every resumed connection
    /// of an mTLS mesh; TLS 1.2's abbreviated handshake is `unknown` for the same reason.
    static let resumedClientCertificate = ClientCertificateState.unknown

    /// The verdict: the fields of `summary` only the whole flow decides.
    private func settle(_ summary: inout TLSSummary) {
        guard self.serverHelloSeen else {
            summary.establishedBasis = "incomplete"
            summary.established = false
            summary.clientCertificate = .unknown
            if !summary.alerts.isEmpty { summary.establishedBasis = "handshake" }
            return
        }
        summary.decryptionProblem = self.decryption.problem
        if self.isTLS13 && summary.decrypted && self.server.finishedDecrypted {
            // Read, not inferred: the handshake was decrypted with the key log's secrets.
            summary.clientFlightRecordSizes =
                self.clientFlightSizes.isEmpty ? nil : Array(self.clientFlightSizes.prefix(4))
            summary.establishedBasis = "decrypted"
            summary.certificateRequested = self.decryption.certificateRequestDecrypted
            if let count = self.clientCertificateCount {
                summary.clientCertificate = count > 0 ? .presented : .declined
            } else if summary.resumed {
                // No CertificateRequest in a PSK handshake says nothing: see ``resumedClientCertificate``.
                summary.clientCertificate = Self.resumedClientCertificate
            } else if !self.decryption.certificateRequestDecrypted {
                summary.clientCertificate = .notRequested
            } else {
                summary.clientCertificate = .unknown
            }
            summary.established = self.client.finishedDecrypted && !self.fatalAlert
            if self.isQUIC && !self.fatalAlert && !self.quicHandshakeDone {
                // The handshake was read, but neither the server's HANDSHAKE_DONE (its 1-RTT packets not decrypted: the
                // key log lacked their secrets, or they were not captured) nor a refusal was: a client's Finished
                // alone does not show the server accepted it.
                summary.establishedBasis = "heuristic"
                summary.established = self.client.finishedDecrypted && self.quicHandshakeInferred
            }
            return
        }
        if self.isTLS13 && self.isQUIC {
            // No records to size: a client certificate is not seen without the key log's secrets.
            summary.clientCertificate = summary.resumed ? Self.resumedClientCertificate : .unknown
            if summary.resumed { summary.certificateRequested = false }
            summary.establishedBasis = "heuristic"
            summary.established = !self.fatalAlert && self.quicHandshakeInferred
        } else if self.isTLS13 {
            summary.clientFlightRecordSizes =
                self.clientFlightSizes.isEmpty ? nil : Array(self.clientFlightSizes.prefix(4))
            if summary.resumed {
                summary.clientCertificate = Self.resumedClientCertificate
                summary.certificateRequested = false
            } else if let verdict = Self.flightVerdict(self.clientFlightSizes) {
                summary.clientCertificate = verdict.state
            } else {
                summary.clientCertificate = .unknown
            }
            summary.establishedBasis = "heuristic"
            if self.clientFlightLength == nil || self.fatalAlert {
                summary.established = false
                if self.clientFlightLength == nil && !self.fatalAlert { summary.establishedBasis = "incomplete" }
            } else if self.serverPostFlightCount == 1, let only = self.serverPostFlightSizes.first,
                Self.isAlertSized(only)
            {
                summary.established = false
                summary.alerts.append(
                    TLSAlert(
                        from: "server", level: "fatal", description: "encrypted-alert", code: nil, inferred: true))
            } else {
                summary.established = self.serverPostFlightCount >= 1
            }
        } else {
            summary.establishedBasis = "handshake"
            if self.fatalAlert || self.encryptedAlertBeforeEstablished { summary.established = false }
            if !summary.established && self.client.ccsSeen == false && summary.alerts.isEmpty {
                summary.establishedBasis = "incomplete"
            }
            if let count = self.clientCertificateCount {
                summary.clientCertificate = count > 0 ? .presented : .declined
                summary.certificateRequested = true
            } else if summary.certificateRequested == true {
                summary.clientCertificate = self.clientKeyExchangeSeen || self.client.ccsSeen ? .declined : .unknown
            } else if self.serverHelloDone {
                summary.clientCertificate = .notRequested
                summary.certificateRequested = false
            } else {
                summary.clientCertificate = .unknown
            }
            // A renegotiation not decrypted may have asked for a certificate (and the client answered): only a
            // certificate the first handshake already showed stands.
            if self.encryptedRenegotiation && summary.clientCertificate != .presented {
                summary.clientCertificate = .unknown
                if summary.certificateRequested == false { summary.certificateRequested = nil }
            }
        }
    }
}

/// Certificate lists already read, by their bytes. The servers of a capture send the same chain on every connection;
/// reading it again (each certificate hashed, looked up in the ``CertificateCache`` and its summary copied) cost about
/// 4,000 instructions per chain, finding the list here a fraction of that (a ``BytesMemo`` for each TLS version).
/// Bounded: lists over ``maximumBytes`` are not kept, and past the initialiser's `limit` lists the cache starts over.
/// Used by one analysis lane's sessions (one thread: it is not Sendable).
package final class CertificateListCache {
    static let maximumBytes = 65_536
    /// TLS 1.3 lists carry extensions between certificates: the same bytes read as the other version mean another list.
    private var lists: BytesMemo<(list: [CertificateSummary], malformed: Bool)>
    private var tls13Lists: BytesMemo<(list: [CertificateSummary], malformed: Bool)>

    package init(limit: Int = 256) {
        self.lists = BytesMemo(limit: limit)
        self.tls13Lists = BytesMemo(limit: limit)
    }

    /// The list read from `bytes`: kept from an earlier call with the same bytes, or read now by `read`.
    func list(
        _ bytes: UnsafeRawBufferPointer, tls13: Bool,
        read: () -> (list: [CertificateSummary], malformed: Bool)
    ) -> (list: [CertificateSummary], malformed: Bool) {
        guard bytes.count <= Self.maximumBytes else { return read() }
        return tls13 ? self.tls13Lists.value(for: bytes, make: read) : self.lists.value(for: bytes, make: read)
    }
}

/// What the TLS sessions of one analysis lane share (one thread: it is not Sendable): the certificate lists already
/// read, and the cipher contexts of completed sessions' key-log decryption, re-keyed for the next ones.
package final class TLSLaneState {
    let certificateLists: CertificateListCache
    let openers = AEADOpenerPool()

    package init(certificateLists: CertificateListCache = CertificateListCache()) {
        self.certificateLists = certificateLists
    }
}

/// A ClientHello's session ID, kept to see whether the ServerHello resumes it. Up to 32 bytes (all a valid hello
/// sends) are held inline: an array per session cost an allocation and its release. A longer one (invalid) is kept
/// whole, so that the comparison stays exact whatever the input.
struct SessionID {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var count = 0
    private var long: [UInt8]?

    init() {}

    init(_ bytes: UnsafeRawBufferPointer) {
        self.count = bytes.count
        if bytes.count > 32 {
            self.long = Array(bytes)
        } else if !bytes.isEmpty {
            withUnsafeMutableBytes(of: &self.words) { $0.copyMemory(from: bytes) }
        }
    }

    /// Whether `bytes` is this ID, byte for byte.
    func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count == self.count else { return false }
        if let long = self.long { return long.elementsEqual(bytes) }
        return withUnsafeBytes(of: self.words) {
            UnsafeRawBufferPointer(rebasing: $0[..<bytes.count]).elementsEqual(bytes)
        }
    }
}

/// How far decryption with key-log secrets got.
struct DecryptionState {
    /// Secrets matched this connection and its cipher can be decrypted.
    var active = false
    var failed = false
    var problem: String?
    var certificateRequestDecrypted = false
    /// Server records decrypted after the client's Finished (NewSessionTicket, alert, data).
    var serverRecordsAfterClientFinished = 0
}

/// The record-layer state of one direction of a TLS connection.
final class RecordStream {
    var header: [UInt8] = []
    var bodyRemaining = 0
    var collecting = false
    var body: [UInt8] = []
    var type: UInt8 = 0
    var length = 0
    var handshake: [UInt8] = []
    /// Records from this side are encrypted from here on.
    var encrypted = false
    var ccsSeen = false
    var encryptedAfterCCS = 0
    var recordsSeen = 0
    var failed = false
    /// Keys that decrypt this side's records now (from a key log), and TLS 1.2 keys waiting for ChangeCipherSpec.
    var keys: DirectionKeys?
    var pendingKeys: DirectionKeys?
    /// TLS 1.3: the keys of this side's application secret, derived with the handshake's, for its Finished.
    var nextKeys: TrafficKeys?
    /// Decrypted handshake bytes not yet parsed into messages.
    var innerHandshake: [UInt8] = []
    /// This side's Finished was decrypted.
    var finishedDecrypted = false
    /// Application records decrypted after Finished.
    var applicationRecords = 0

    /// Frees the buffers and keys (the session reads nothing more from this side); the keys' cipher contexts go to
    /// `pool`.
    func release(to pool: AEADOpenerPool) {
        self.header = []
        self.body = []
        self.handshake = []
        self.innerHandshake = []
        pool.recycle(&self.keys)
        pool.recycle(&self.pendingKeys)
        self.nextKeys = nil
    }
}
