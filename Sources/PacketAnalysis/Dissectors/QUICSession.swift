import BulkheadModel
import Certificates

/// Follows one QUIC connection (RFC 9000) through the datagrams of its UDP flow, and its TLS 1.3 handshake (RFC 9001)
/// through a ``TLSSession``.
///
/// What anyone on the path can read: Initial packets are protected with keys derived from the client's Destination
/// Connection ID (§5.2 of RFC 9001), so the ClientHello (SNI, ALPN offered) and the ServerHello (cipher) are read
/// without secrets, and so is a CONNECTION_CLOSE sent in an Initial packet (a server refusing the handshake, with its
/// TLS alert). Everything else is encrypted: Handshake packets carry the certificates, CertificateRequest and Finished,
/// and are read only with the key log's handshake traffic secrets; 1-RTT packets are read (the first few, for a
/// HANDSHAKE_DONE or CONNECTION_CLOSE) with its application traffic secrets.
///
/// Without secrets, whether the handshake completed is inferred from the 1-RTT (short-header) packets around it and
/// whether the client authenticated is `unknown`: QUIC gives no record sizes to read it from.
///
/// Bounded: at most ``packetLimit`` packets are decrypted per connection, each side's CRYPTO data at each level is
/// kept up to ``cryptoLimit`` bytes in at most ``fragmentLimit`` pieces, and nothing is read past a malformed frame.
final class QUICSession {
    let tls: TLSSession
    private let keyLog: KeyLog?
    /// The version of the first long header with a version Bulkhead reads.
    private(set) var version: QUICVersion?
    /// The version number of the first long header (reported in hex when it is not a known one).
    private var versionNumber: UInt32?
    private(set) var retry = false
    /// A CONNECTION_CLOSE with a transport error (not NO_ERROR, not a TLS alert), as reports write it.
    private(set) var transportError: String?

    /// The Destination Connection ID of the client's latest Initial packet, and the Initial keys derived from it.
    private var initialID: [UInt8] = []
    private var initialKeys: (client: QUICPacketKeys, server: QUICPacketKeys)?
    private var handshakeKeys: (client: QUICPacketKeys, server: QUICPacketKeys)?
    private var applicationKeys: (client: QUICPacketKeys, server: QUICPacketKeys)?
    private var handshakeKeysTried = false
    private var applicationKeysTried = false
    /// The connection ID lengths each side chose (the Source Connection ID of its long headers): a short header
    /// carries the receiver's.
    private var clientIDLength: Int?
    private var serverIDLength: Int?

    /// CRYPTO data by side and level (stored apart: arrays of them cost a generic metadata lookup per connection).
    private var clientInitialCrypto = CryptoStream()
    private var serverInitialCrypto = CryptoStream()
    private var clientHandshakeCrypto = CryptoStream()
    private var serverHandshakeCrypto = CryptoStream()
    /// The largest packet number opened, by number space (Initial, Handshake, application) and side, client first;
    /// -1 while none.
    private var largest: (Int64, Int64, Int64, Int64, Int64, Int64) = (-1, -1, -1, -1, -1, -1)
    private var packetsOpened = 0
    /// How many Destination Connection IDs the client's Initial packets used (keys are derived for each).
    private(set) var initialIDs = 0

    /// Short-header (1-RTT) packets seen from the client; the length of the server's first, and whether another differed.
    private var clientShortPackets = 0
    private var serverShortLength = 0
    private var serverShortLengthsDiffer = false
    /// Read from decrypted 1-RTT packets: the server confirmed the handshake (HANDSHAKE_DONE, RFC 9001 §4.1.2).
    private var handshakeDone = false

    static let packetLimit = 48
    static let initialIDLimit = 4
    static let cryptoLimit = 131_072
    static let fragmentLimit = 32

    init(certificates: CertificateCache, keyLog: KeyLog?, lane: TLSLaneState) {
        self.keyLog = keyLog
        self.tls = TLSSession(certificates: certificates, keyLog: keyLog, lane: lane, quic: true)
    }

    /// A connection joined after its handshake (see ``QUICShortHeaders``): the version of a late long-header packet
    /// seen before it was recognised, if one was.
    func joinedMidway(version number: UInt32?) {
        guard let number, self.versionNumber == nil else { return }
        self.versionNumber = number
        self.version = QUICVersion.known(number)
    }

    // MARK: - Recognising QUIC

    /// What the first datagram of a UDP flow shows, when it is QUIC: a long header (RFC 9000 §17.2) whose version is
    /// one Bulkhead reads (or 0, a Version Negotiation), with connection IDs of legal length and, for a packet with a
    /// Length field, a length the datagram holds. `fromServer`: a Retry or Version Negotiation, which only servers
    /// send; otherwise the first talker is taken for the client.
    static func recognise(_ datagram: UnsafeRawBufferPointer) -> (fromServer: Bool, isQUIC: Bool) {
        var cursor = ByteCursor(datagram)
        guard let first = cursor.u8(), first & 0x80 != 0, let number = cursor.u32(),
            let destinationLength = cursor.u8(), destinationLength <= 20, cursor.skip(Int(destinationLength)),
            let sourceLength = cursor.u8(), sourceLength <= 20, cursor.skip(Int(sourceLength))
        else { return (false, false) }
        if number == 0 { return (true, cursor.remaining >= 4 && cursor.remaining % 4 == 0) }
        guard first & 0x40 != 0, let version = QUICVersion.known(number) else { return (false, false) }
        let type = (first >> 4) & 0x03
        if type == version.retryType { return (true, cursor.remaining > 16) }
        if type == version.initialType {
            guard let tokenLength = cursor.varint(), cursor.skip(tokenLength) else { return (false, false) }
        }
        guard let length = cursor.varint(), length >= 20, length <= cursor.remaining else { return (false, false) }
        return (false, true)
    }

    // MARK: - Datagrams

    /// Reads one datagram of the flow, sent by `side`: its coalesced long-header packets, or a short-header packet.
    func datagram(_ bytes: UnsafeRawBufferPointer, from side: FlowSide) {
        var position = 0
        while position < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
            if rest[0] & 0x80 == 0 {
                // A short header has its fixed bit set; zeros after the long-header packets are padding (aioquic
                // fills a client's Initial datagram to 1,200 bytes that way).
                if rest[0] & 0x40 != 0 { self.shortHeader(rest, from: side) }
                return
            }
            guard let next = self.longHeader(rest, from: side) else { return }
            position += next
        }
    }

    /// One long-header packet at the start of `packet`; returns its length (the next coalesced packet starts there),
    /// nil when nothing more of the datagram can be read.
    private func longHeader(_ packet: UnsafeRawBufferPointer, from side: FlowSide) -> Int? {
        var cursor = ByteCursor(packet)
        guard let first = cursor.u8(), let number = cursor.u32(), let destinationLength = cursor.u8(),
            destinationLength <= 20, let destination = cursor.bytes(Int(destinationLength)),
            let sourceLength = cursor.u8(), sourceLength <= 20, cursor.skip(Int(sourceLength))
        else { return nil }
        if self.versionNumber == nil, number != 0 { self.versionNumber = number }
        guard number != 0, let version = QUICVersion.known(number) else { return nil }
        if self.version == nil { self.version = version }
        guard version == self.version else { return nil }
        let type = (first >> 4) & 0x03
        if type == version.retryType {
            if side == .server { self.retry = true }
            return nil
        }
        if side == .client { self.clientIDLength = Int(sourceLength) } else { self.serverIDLength = Int(sourceLength) }
        if type == version.initialType {
            guard let tokenLength = cursor.varint(), cursor.skip(tokenLength) else { return nil }
        }
        guard let length = cursor.varint(), length <= cursor.remaining else { return nil }
        let end = cursor.offset + length
        let whole = UnsafeRawBufferPointer(rebasing: packet[0..<end])
        if type == version.initialType {
            if side == .client { self.useInitialID(destination, version) }
            if let keys = self.initialKeys {
                self.open(
                    whole, numberOffset: cursor.offset, keys: side == .client ? keys.client : keys.server,
                    level: 0, side: side)
            }
        } else if type == version.handshakeType {
            if let keys = self.handshakeKeysOnce(version) {
                self.open(
                    whole, numberOffset: cursor.offset, keys: side == .client ? keys.client : keys.server,
                    level: 1, side: side)
            }
        }
        return end
    }

    private func shortHeader(_ packet: UnsafeRawBufferPointer, from side: FlowSide) {
        if side == .client {
            if self.clientShortPackets < .max { self.clientShortPackets += 1 }
            // A client sending 1-RTT packets has discarded its Initial keys (RFC 9001 §4.9.1): so can the session,
            // whose flow may stay open a long time.
            self.initialKeys = nil
        } else if self.serverShortLength == 0 {
            self.serverShortLength = packet.count
        } else if packet.count != self.serverShortLength {
            self.serverShortLengthsDiffer = true
        }
        // The receiver's connection ID follows the first byte.
        guard let idLength = side == .client ? self.serverIDLength : self.clientIDLength, let version = self.version,
            let keys = self.applicationKeysOnce(version)
        else { return }
        self.open(
            packet, numberOffset: 1 + idLength, keys: side == .client ? keys.client : keys.server, level: 2,
            side: side)
    }

    /// Derives the Initial keys from the client's Destination Connection ID when it changes (after a Retry the client
    /// uses the server's new ID, RFC 9001 §5.2). A client answering a Retry may start its handshake again with a new
    /// ClientHello (aioquic does: a new random, which the key log names): its Initial CRYPTO data is read from the
    /// start again.
    private func useInitialID(_ destination: UnsafeRawBufferPointer, _ version: QUICVersion) {
        guard self.initialKeys == nil || !destination.elementsEqual(self.initialID) else { return }
        // A client changes it once, after a Retry: a flood of Initial packets with new IDs derives no more keys.
        guard self.initialIDs < Self.initialIDLimit, self.clientShortPackets == 0 else { return }
        self.initialIDs += 1
        if self.initialKeys != nil {
            self.clientInitialCrypto = CryptoStream()
            self.serverInitialCrypto = CryptoStream()
        }
        self.initialID = Array(destination)
        self.initialKeys = QUICPacketKeys.initial(destinationID: destination, version: version)
    }

    /// The Handshake keys, from the key log's handshake traffic secrets, once the ServerHello fixed the cipher.
    private func handshakeKeysOnce(_ version: QUICVersion) -> (client: QUICPacketKeys, server: QUICPacketKeys)? {
        if let keys = self.handshakeKeys { return keys }
        guard !self.handshakeKeysTried, let suite = self.tls.quicSuite else { return nil }
        self.handshakeKeysTried = true
        self.handshakeKeys = self.keys(suite, version, \.clientHandshake, \.serverHandshake, "handshake")
        return self.handshakeKeys
    }

    /// The 1-RTT keys, from the key log's first application traffic secrets.
    private func applicationKeysOnce(_ version: QUICVersion) -> (client: QUICPacketKeys, server: QUICPacketKeys)? {
        if let keys = self.applicationKeys { return keys }
        guard !self.applicationKeysTried, self.handshakeKeys != nil, let suite = self.tls.quicSuite else { return nil }
        self.applicationKeysTried = true
        self.applicationKeys = self.keys(suite, version, \.clientTraffic, \.serverTraffic, nil)
        return self.applicationKeys
    }

    private func keys(
        _ suite: UInt16, _ version: QUICVersion, _ clientSecret: KeyPath<KeyLog.Secrets, [UInt8]?>,
        _ serverSecret: KeyPath<KeyLog.Secrets, [UInt8]?>, _ stage: String?
    ) -> (client: QUICPacketKeys, server: QUICPacketKeys)? {
        guard let keyLog = self.keyLog, let random = self.tls.quicClientRandom else { return nil }
        guard let cipher = RecordCipher.tls13(suite) else {
            if stage != nil {
                self.tls.quicDecryptionProblem(
                    "cipher \(TLSRegistry.cipherName(suite)) is not supported for decryption")
            }
            return nil
        }
        guard let secrets = keyLog.secrets(forClientRandom: random), let client = secrets[keyPath: clientSecret],
            let server = secrets[keyPath: serverSecret]
        else {
            if let stage {
                self.tls.quicDecryptionProblem("the key log has no \(stage) traffic secrets for this connection")
            }
            return nil
        }
        guard let clientKeys = client.withUnsafeBytes({ QUICPacketKeys(secret: $0, cipher: cipher, version: version) }),
            let serverKeys = server.withUnsafeBytes({ QUICPacketKeys(secret: $0, cipher: cipher, version: version) })
        else { return nil }
        return (clientKeys, serverKeys)
    }

    // MARK: - Packets and frames

    /// Decrypts one packet of number space `level` (0 Initial, 1 Handshake, 2 application) and reads its frames.
    private func open(
        _ packet: UnsafeRawBufferPointer, numberOffset: Int, keys: QUICPacketKeys, level: Int, side: FlowSide
    ) {
        guard self.packetsOpened < Self.packetLimit else { return }
        self.packetsOpened += 1
        let space = level * 2 + (side == .client ? 0 : 1)
        let largest = withUnsafeBytes(of: self.largest) { $0.load(fromByteOffset: space * 8, as: Int64.self) }
        // Decrypted where it is read: what the frames leave for later (CRYPTO pieces out of order, part of a handshake
        // message) is copied by those who keep it, and nothing stays with the session between packets.
        withUnsafeTemporaryAllocation(byteCount: packet.count, alignment: 16) { output in
            let opened = keys.open(
                packet, numberOffset: numberOffset, longHeader: level < 2, largest: largest < 0 ? nil : largest,
                into: output)
            guard let (length, number) = opened else {
                // The wrong secrets for this connection (or damage): say so once, when it is the key log's.
                if level == 1 {
                    self.tls.quicDecryptionProblem("the key log's secrets do not decrypt this connection (wrong key)")
                }
                return
            }
            if number > largest {
                withUnsafeMutableBytes(of: &self.largest) {
                    $0.storeBytes(of: number, toByteOffset: space * 8, as: Int64.self)
                }
            }
            self.frames(UnsafeRawBufferPointer(rebasing: output[0..<length]), level: level, side: side)
        }
        // Nothing more will be opened: the cipher contexts go now rather than when the flow ends.
        if self.packetsOpened == Self.packetLimit || self.handshakeDone {
            self.initialKeys = nil
            self.handshakeKeys = nil
            self.applicationKeys = nil
            self.packetsOpened = Self.packetLimit
        }
    }

    /// Reads the frames of a decrypted payload (RFC 9000 §19) as far as they are ones that can appear before the
    /// handshake is confirmed; stops at anything else.
    private func frames(_ payload: UnsafeRawBufferPointer, level: Int, side: FlowSide) {
        var cursor = ByteCursor(payload)
        while let type = cursor.varint() {
            switch type {
            case 0x00, 0x01:  // PADDING, PING
                continue
            case 0x02, 0x03:  // ACK (with ECN counts)
                guard cursor.varint() != nil, cursor.varint() != nil, let ranges = cursor.varint(),
                    cursor.varint() != nil, ranges <= cursor.remaining
                else { return }
                for _ in 0..<(ranges * 2 + (type == 0x03 ? 3 : 0)) {
                    guard cursor.varint() != nil else { return }
                }
            case 0x06:  // CRYPTO
                guard level < 2, let offset = cursor.varint(), let length = cursor.varint(),
                    let data = cursor.bytes(length)
                else { return }
                self.crypto(data, at: offset, level: level, side: side)
            case 0x1c, 0x1d:  // CONNECTION_CLOSE (transport, application)
                guard let code = cursor.varint(), type == 0x1d || cursor.varint() != nil,
                    let reasonLength = cursor.varint(), cursor.skip(reasonLength)
                else { return }
                self.connectionClose(code: code, application: type == 0x1d, from: side)
            case 0x1e:  // HANDSHAKE_DONE
                if side == .server && level == 2 { self.handshakeDone = true }
            default:
                // Any other frame (stream data, flow control, new connection IDs) is past what is read here.
                return
            }
        }
    }

    private func crypto(_ data: UnsafeRawBufferPointer, at offset: Int, level: Int, side: FlowSide) {
        let deliver = { (bytes: UnsafeRawBufferPointer) in
            self.tls.consumeQUICCrypto(bytes, level: level == 0 ? .initial : .handshake, from: side)
        }
        let accepted: Bool
        switch (level, side) {
        case (0, .client): accepted = self.clientInitialCrypto.add(data, at: offset, deliver: deliver)
        case (0, .server): accepted = self.serverInitialCrypto.add(data, at: offset, deliver: deliver)
        case (_, .client): accepted = self.clientHandshakeCrypto.add(data, at: offset, deliver: deliver)
        case (_, .server): accepted = self.serverHandshakeCrypto.add(data, at: offset, deliver: deliver)
        }
        if !accepted { self.tls.quicMalformed() }
    }

    private func connectionClose(code: Int, application: Bool, from side: FlowSide) {
        // A crypto error is a TLS alert (RFC 9001 §4.8): 0x100 plus its code.
        if !application, (0x100...0x1ff).contains(code) {
            self.tls.quicAlert(UInt8(code - 0x100), from: side)
            return
        }
        // An application's close is its own business (HTTP/3 closes with H3_NO_ERROR), and NO_ERROR is a close like
        // any other: only a transport error says the connection failed.
        guard !application, code != 0, self.transportError == nil else { return }
        let name = Self.transportErrorName(code)
        self.transportError = "\(side == .client ? "client" : "server"): \(name) (0x\(String(code, radix: 16)))"
    }

    /// RFC 9000 §20.1's names.
    static func transportErrorName(_ code: Int) -> String {
        switch code {
        case 0x0: "NO_ERROR"
        case 0x1: "INTERNAL_ERROR"
        case 0x2: "CONNECTION_REFUSED"
        case 0x3: "FLOW_CONTROL_ERROR"
        case 0x4: "STREAM_LIMIT_ERROR"
        case 0x5: "STREAM_STATE_ERROR"
        case 0x6: "FINAL_SIZE_ERROR"
        case 0x7: "FRAME_ENCODING_ERROR"
        case 0x8: "TRANSPORT_PARAMETER_ERROR"
        case 0x9: "CONNECTION_ID_LIMIT_ERROR"
        case 0xa: "PROTOCOL_VIOLATION"
        case 0xb: "INVALID_TOKEN"
        case 0xc: "APPLICATION_ERROR"
        case 0xd: "CRYPTO_BUFFER_EXCEEDED"
        case 0xe: "KEY_UPDATE_ERROR"
        case 0xf: "AEAD_LIMIT_REACHED"
        case 0x10: "NO_VIABLE_PATH"
        default: "transport error"
        }
    }

    // MARK: - Verdict

    /// The flow's QUIC facts, for its record.
    var summary: QUICSummary {
        let name = self.version?.name ?? self.versionNumber.map { "0x" + String($0, radix: 16) } ?? "unknown"
        return QUICSummary(version: name, retry: self.retry, transportError: self.transportError)
    }

    /// Settles the TLS summary into `slot` (see ``TLSSession/finish(into:)``). Whether the handshake completed: read
    /// from a decrypted HANDSHAKE_DONE, or a decrypted refusal, when the key log allowed; otherwise inferred when the
    /// client sent 1-RTT packets (its handshake behind it) and the server sent 1-RTT packets of two lengths or more (a
    /// server that refused the client after its Finished sends its CONNECTION_CLOSE, repeated at most, and nothing
    /// else: captures/quic-client-cert-required-rejected.pcap).
    func finish(into slot: inout TLSSummary?) {
        self.tls.quicHandshakeDone = self.handshakeDone
        self.tls.quicHandshakeInferred = self.clientShortPackets > 0 && self.serverShortLengthsDiffer
        self.tls.finish(into: &slot)
    }
}

/// One side's CRYPTO data at one encryption level, handed on in order: QUIC sends it in frames that may come out of
/// order, repeat, or split a handshake message anywhere (browsers shuffle their ClientHello's pieces on purpose).
struct CryptoStream {
    /// How many bytes from offset 0 have been handed on.
    private(set) var delivered = 0
    /// A piece past ``delivered``, waiting for what comes before it.
    private struct Piece {
        var offset: Int
        var bytes: [UInt8]
    }

    private var waiting: [Piece] = []

    /// Adds the piece `data` at stream offset `offset`, and hands on (`deliver`) whatever is now in order. Returns
    /// false when the piece lies beyond ``QUICSession/cryptoLimit`` or too many are waiting (it is dropped).
    mutating func add(
        _ data: UnsafeRawBufferPointer, at offset: Int, deliver: (UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        let end = offset + data.count
        guard end <= QUICSession.cryptoLimit else { return false }
        guard end > self.delivered else { return true }  // a repeat
        if offset > self.delivered {
            guard self.waiting.count < QUICSession.fragmentLimit else { return false }
            self.waiting.append(Piece(offset: offset, bytes: Array(data)))
            return true
        }
        deliver(UnsafeRawBufferPointer(rebasing: data[(self.delivered - offset)...]))
        self.delivered = end
        // Pieces that now join on.
        while let index = self.waiting.firstIndex(where: { $0.offset <= self.delivered }) {
            let piece = self.waiting.remove(at: index)
            let pieceEnd = piece.offset + piece.bytes.count
            if pieceEnd > self.delivered {
                piece.bytes.withUnsafeBytes {
                    deliver(UnsafeRawBufferPointer(rebasing: $0[(self.delivered - piece.offset)...]))
                }
                self.delivered = pieceEnd
            }
        }
        return true
    }
}
