import BulkheadModel

/// WebSocket (RFC 6455) as a flow carries it: an HTTP/1.1 `Upgrade: websocket` request answered `101`, then frames in
/// each direction, the client's masked with a key of four bytes each.
///
/// Brokers take their protocols over it as they do over TCP (MQTT on RabbitMQ's `/ws` and EMQX's `/mqtt`, STOMP,
/// AMQP, NATS), so a login sent in clear inside it is a login sent in clear. The masking hides nothing from anyone
/// on the path (the key is in each frame): the messages are read unmasked, and what they carry is classified as
/// the flow's content, as a proxy tunnel's is.
package enum WebSocket {
    /// What the opening handshake showed.
    package struct Handshake {
        /// The server's status: `101` accepted the upgrade.
        package var status: Int
        package var summary: WebSocketSummary
        /// Where the frames start in the client's and the server's bytes.
        package var clientOffset: Int
        package var serverOffset: Int
        /// Credentials in the upgrade request (an `Authorization` header).
        package var credentials: [Credential]

        package var accepted: Bool { self.status == 101 }
    }

    /// The handshake in the bytes each side sent so far; nil until both the request's and the response's headers are
    /// whole.
    package static func handshake(client: UnsafeRawBufferPointer, server: UnsafeRawBufferPointer) -> Handshake? {
        guard let requestEnd = TunnelDetector.endOfHeaders(client),
            let responseEnd = TunnelDetector.endOfHeaders(server)
        else { return nil }
        let request = UnsafeRawBufferPointer(rebasing: client[..<requestEnd])
        let response = UnsafeRawBufferPointer(rebasing: server[..<responseEnd])
        let extensions = CredentialExtractor.headerValue("sec-websocket-extensions", in: response)?.lowercased()
        return Handshake(
            status: HTTPUpgrade.status(response),
            summary: WebSocketSummary(
                path: HTTPUpgrade.path(request),
                subprotocol: CredentialExtractor.headerValue("sec-websocket-protocol", in: response).map {
                    Array($0.utf8).withUnsafeBytes(\.printableText)
                },
                compression: extensions?.contains("permessage-deflate") == true ? "permessage-deflate" : nil),
            clientOffset: requestEnd, serverOffset: responseEnd, credentials: CredentialExtractor.http(request))
    }

    /// Reads one direction's frames as they arrive, in any pieces, and gives the payloads of its data frames
    /// (text, binary and their continuations) unmasked, in order: the stream of messages the protocol inside sent.
    /// Control frames (ping, pong, close) are passed over. Where the handshake agreed to permessage-deflate (RFC 7692),
    /// a message whose first frame sets RSV1 is compressed: it is given inflated (see ``Inflater``), up to a limit
    /// in all. Reading stops for good at a frame that cannot be right (an unknown opcode, a
    /// control frame that is fragmented or longer than 125 bytes, a length past 2^63, RSV1 on a continuation), at a
    /// compressed message without that agreement, and at compressed data that does not inflate.
    package struct FrameReader {
        /// The frame header being read (2 to 14 bytes) and how much of it is in.
        private var header: (UInt64, UInt64) = (0, 0)
        private var headerCount = 0
        /// Payload bytes of the current frame still to come.
        private var remaining: UInt64 = 0
        /// Whether the current frame's payload is given (a data frame's) or passed over (a control frame's).
        private var givesPayload = false
        private var mask: (UInt8, UInt8, UInt8, UInt8)?
        private var maskOffset = 0
        /// Whether the handshake agreed to permessage-deflate: messages may then be compressed.
        private let deflateAgreed: Bool
        /// Whether the data message under way is compressed (its first frame set RSV1), and whether the data frame
        /// under way is its last.
        private var messageCompressed = false
        private var messageEnds = false
        /// Whether the compressed message under way ended its DEFLATE stream with a final block: what follows in it
        /// is dropped.
        private var messageStreamEnded = false
        /// The sender's DEFLATE stream, made at its first compressed message.
        private var inflater: Inflater?
        /// Inflated bytes still to be given: one segment's few compressed bytes may stand for megabytes, and only
        /// the first of them are ever inspected.
        private var inflateBudget: Int
        /// Why reading stopped, if it did.
        package private(set) var stopped: Stop?

        /// The most a direction's compressed messages are inflated to unless told otherwise.
        package static let defaultInflateLimit = 1 << 20

        package enum Stop: Equatable {
            case malformed
            /// A compressed message where the handshake agreed to no compression (or was not seen).
            case compressed
            /// Compressed data that does not inflate (or no memory for an inflater).
            case damagedCompression
            /// The limit of inflated bytes given.
            case inflateLimitReached
        }

        /// A reader of one direction; `deflate` when the handshake agreed to permessage-deflate, its compressed
        /// messages then given inflated up to `inflateLimit` bytes in all.
        package init(deflate: Bool = false, inflateLimit: Int = FrameReader.defaultInflateLimit) {
            self.deflateAgreed = deflate
            self.inflateBudget = max(0, inflateLimit)
        }

        /// Reads `bytes`, appending the data frames' payloads to `output`.
        package mutating func read(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8]) {
            var index = 0
            while index < bytes.count, self.stopped == nil {
                if self.headerCount > 0 || self.remaining == 0 {
                    index += self.readHeader(UnsafeRawBufferPointer(rebasing: bytes[index...]), into: &output)
                    continue
                }
                let step = Int(min(self.remaining, UInt64(bytes.count - index)))
                if self.givesPayload {
                    let piece = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + step)])
                    if self.messageCompressed {
                        self.inflatePayload(piece, into: &output)
                    } else {
                        let start = output.count
                        output.append(contentsOf: piece)
                        if let mask = self.mask { self.unmask(&output, from: start, key: mask) }
                    }
                }
                self.remaining -= UInt64(step)
                index += step
                if self.remaining == 0 { self.endFrame(into: &output) }
            }
        }

        /// A compressed message's payload bytes: unmasked, then inflated onto `output`.
        private mutating func inflatePayload(_ piece: UnsafeRawBufferPointer, into output: inout [UInt8]) {
            guard let mask = self.mask else { return self.inflate(piece, into: &output) }
            var unmasked = Array(piece)
            self.unmask(&unmasked, from: 0, key: mask)
            unmasked.withUnsafeBytes { self.inflate($0, into: &output) }
        }

        private mutating func inflate(_ compressed: UnsafeRawBufferPointer, into output: inout [UInt8]) {
            guard !self.messageStreamEnded else { return }
            guard let inflater = self.inflater ?? Inflater() else {
                self.stopped = .damagedCompression
                return
            }
            self.inflater = inflater
            switch inflater.inflate(compressed, into: &output, limit: self.inflateBudget) {
            case .inflated(let count): self.inflateBudget -= count
            case .streamEnded(let count):
                self.inflateBudget -= count
                self.messageStreamEnded = true
            case .limitReached:
                self.inflateBudget = 0
                self.stopped = .inflateLimitReached
            case .damaged: self.stopped = .damagedCompression
            }
        }

        /// The current frame's payload is all in: a compressed message that ends with it gets its tail back.
        private mutating func endFrame(into output: inout [UInt8]) {
            guard self.givesPayload, self.messageEnds, self.messageCompressed else { return }
            Inflater.messageTail.withUnsafeBytes { self.inflate($0, into: &output) }
            self.messageCompressed = false
            self.messageStreamEnded = false
        }

        /// XORs `buffer[start...]` with the key, continuing where the frame's payload left off.
        private mutating func unmask(_ buffer: inout [UInt8], from start: Int, key: (UInt8, UInt8, UInt8, UInt8)) {
            var at = self.maskOffset
            withUnsafeBytes(of: key) { keys in
                for index in start..<buffer.count {
                    buffer[index] ^= keys[at & 3]
                    at &+= 1
                }
            }
            self.maskOffset = at & 3
        }

        /// Takes frame header bytes; returns how many were used. When the header is whole, the frame begins.
        private mutating func readHeader(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8]) -> Int {
            var used = 0
            while used < bytes.count {
                let wanted = self.headerLength
                if self.headerCount == wanted { break }
                withUnsafeMutableBytes(of: &self.header) { $0[self.headerCount] = bytes[used] }
                self.headerCount += 1
                used += 1
            }
            if self.headerCount == self.headerLength {
                self.beginFrame()
                // A frame without payload ends where it begins.
                if self.stopped == nil && self.remaining == 0 { self.endFrame(into: &output) }
            }
            return used
        }

        /// The header's length, as far as its first two bytes tell (2 until they are in).
        private var headerLength: Int {
            guard self.headerCount >= 2 else { return 2 }
            let second = withUnsafeBytes(of: self.header) { $0[1] }
            let lengthBytes: Int
            switch second & 0x7f {
            case 126: lengthBytes = 2
            case 127: lengthBytes = 8
            default: lengthBytes = 0
            }
            return 2 + lengthBytes + (second & 0x80 != 0 ? 4 : 0)
        }

        private mutating func beginFrame() {
            let length = self.headerLength
            let header = withUnsafeBytes(of: self.header) { Array($0[..<length]) }
            self.headerCount = 0
            let (fin, reserved, opcode) = (header[0] & 0x80 != 0, header[0] & 0x70, header[0] & 0x0f)
            var payload = UInt64(header[1] & 0x7f)
            var at = 2
            if payload == 126 {
                payload = UInt64(header[2]) << 8 | UInt64(header[3])
                at = 4
            } else if payload == 127 {
                payload = header[2..<10].reduce(0) { $0 << 8 | UInt64($1) }
                at = 10
            }
            let isControl = opcode >= 8
            // RSV1 marks a compressed message on its first frame only (RFC 7692 §6.1), never on a control frame.
            guard [0, 1, 2, 8, 9, 10].contains(opcode), payload >> 63 == 0, reserved & 0x30 == 0,
                !isControl || (fin && payload <= 125 && reserved == 0), opcode != 0 || reserved == 0
            else {
                self.stopped = .malformed
                return
            }
            if reserved & 0x40 != 0 && !self.deflateAgreed {
                self.stopped = .compressed
                return
            }
            if !isControl {
                if opcode != 0 {
                    self.messageCompressed = reserved & 0x40 != 0
                    self.messageStreamEnded = false
                }
                self.messageEnds = fin
            }
            self.mask = header[1] & 0x80 != 0 ? (header[at], header[at + 1], header[at + 2], header[at + 3]) : nil
            self.maskOffset = 0
            self.remaining = payload
            self.givesPayload = !isControl
        }
    }
}
