import BulkheadModel
import Glibc

/// Identifies a TCP flow whose start the capture missed (no SYN: a long-lived connection, a database pool's or a
/// broker's, that was open before the capture began) by the framing of its steady state rather than by an opening
/// message it will never show.
///
/// Binary protocols are recognised only when the bytes of a side are back-to-back messages of the protocol from the
/// first byte (each length leading exactly to the next message), so chance bytes do not pass: PostgreSQL's typed
/// messages, AMQP 0-9-1 frames (each ending with 0xCE), MQTT control packets, ZooKeeper records with its heartbeat
/// each way. Text protocols need a shape no other
/// protocol has at a line start: a Redis command array (`*N` then `$len`) or replies with an exact bulk string,
/// memcached's `VALUE key flags bytes` or storage replies, a STOMP frame (command, headers, NUL), a NATS
/// `PUB`/`SUB`/`MSG` line. Where none fits, the ordinary classification goes on (a greeting-like first line from the
/// middle of a conversation is not a greeting: see ``ProtocolClassifier``).
enum MidstreamClassifier {
    /// The verdict for what each side sent so far, or nil when no steady-state framing fits.
    /// `final`: no more bytes will come (HTTP/2 waits for a side to show its role until then).
    static func classify(first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer, final: Bool = true)
        -> ProtocolClassifier.Verdict?
    {
        if let verdict = Self.postgres(first, second) { return verdict }
        if Self.amqpFrames(first) || Self.amqpFrames(second) {
            // Roles from the first method either side sent that only one side sends.
            let firstIsClient = Self.amqpSentByClient(first) ?? Self.amqpSentByClient(second).map { !$0 }
            return ProtocolClassifier.Verdict(proto: .amqp, firstIsClient: firstIsClient)
        }
        if let verdict = Self.mqtt(first, second) { return verdict }
        if let firstIsClient = ZooKeeper.pingExchange(first, second) {
            return ProtocolClassifier.Verdict(proto: .zookeeper, firstIsClient: firstIsClient)
        }
        if Self.hasRedisCommandArray(first) { return ProtocolClassifier.Verdict(proto: .redis, firstIsClient: true) }
        if Self.hasRedisCommandArray(second) { return ProtocolClassifier.Verdict(proto: .redis, firstIsClient: false) }
        if Self.isRESPReplies(second) { return ProtocolClassifier.Verdict(proto: .redis, firstIsClient: true) }
        if Self.isRESPReplies(first) { return ProtocolClassifier.Verdict(proto: .redis, firstIsClient: false) }
        if Self.isMemcachedReply(second) { return ProtocolClassifier.Verdict(proto: .memcached, firstIsClient: true) }
        if Self.isMemcachedReply(first) { return ProtocolClassifier.Verdict(proto: .memcached, firstIsClient: false) }
        if let verdict = Self.http2(first, second, final: final) { return verdict }
        for (bytes, isFirst) in [(first, true), (second, false)] {
            if let fromClient = Self.stompFrame(bytes) {
                return ProtocolClassifier.Verdict(proto: .stomp, firstIsClient: fromClient == isFirst)
            }
            if let fromClient = Self.natsMessage(bytes) {
                return ProtocolClassifier.Verdict(proto: .nats, firstIsClient: fromClient == isFirst)
            }
        }
        return nil
    }

    // MARK: - HTTP/2

    /// HTTP/2 frames (cleartext: gRPC, h2c) tiling both sides from their first bytes, or one side with four frames or
    /// more. Each frame must keep its type's rules: a known type, only the flags it defines, connection frames on
    /// stream 0 and stream frames elsewhere, the reserved bit clear, the lengths its type fixes (PING 8, RST_STREAM and
    /// WINDOW_UPDATE 4, PRIORITY 5, SETTINGS a multiple of 6 and empty when an ACK), at most 16,384 bytes (the size
    /// every peer accepts unless told otherwise). Roles from the first header block's first field: a request's
    /// pseudo-headers (`:method`, `:path`, `:scheme`) or an answer's `:status`.
    /// Until a side shows its role (a request's header block may name its pseudo-headers only by the dynamic table,
    /// an answer's `:status` is nearly always static), the verdict waits while more may come (`final` false).
    static func http2(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, final: Bool)
        -> ProtocolClassifier.Verdict?
    {
        let one = Self.http2Frames(first)
        let other = Self.http2Frames(second)
        let both = one != nil && other != nil && (one?.count ?? 0) + (other?.count ?? 0) >= 3
        guard both || (one?.count ?? 0) >= 4 || (other?.count ?? 0) >= 4 else { return nil }
        let firstIsClient = one?.fromClient ?? other?.fromClient.map { !$0 }
        if firstIsClient == nil && !final && first.count + second.count < ProtocolClassifier.midstreamWait {
            return nil
        }
        return ProtocolClassifier.Verdict(proto: .http2, firstIsClient: firstIsClient)
    }

    /// Whether both sides' bytes so far are HTTP/2 frames (or none yet), too few to tell: worth waiting for.
    static func mayBeHTTP2(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> Bool {
        (first.isEmpty || Self.http2Frames(first) != nil) && (second.isEmpty || Self.http2Frames(second) != nil)
    }

    /// The whole HTTP/2 frames of `bytes` from its first byte (a last one cut by the buffer's end is let be when two
    /// came before it), and who sent them when a header block or PUSH_PROMISE shows it; nil when a frame breaks the
    /// rules or none is whole.
    static func http2Frames(_ bytes: UnsafeRawBufferPointer) -> (count: Int, fromClient: Bool?)? {
        var cursor = ByteCursor(bytes)
        var count = 0
        var fromClient: Bool?
        while !cursor.isAtEnd {
            guard let length = cursor.u24(), let type = cursor.u8(), let flags = cursor.u8(), let stream = cursor.u32()
            else { return count >= 2 ? (count, fromClient) : nil }
            guard length <= 16_384, stream & 0x8000_0000 == 0 else { return nil }
            let onStream = stream != 0
            let valid: Bool
            switch type {
            case 0x0: valid = onStream && flags & ~0x09 == 0  // DATA: END_STREAM, PADDED
            case 0x1: valid = onStream && flags & ~0x2d == 0  // HEADERS: END_STREAM, END_HEADERS, PADDED, PRIORITY
            case 0x2: valid = onStream && flags == 0 && length == 5  // PRIORITY
            case 0x3: valid = onStream && flags == 0 && length == 4  // RST_STREAM
            case 0x4: valid = !onStream && flags & ~0x01 == 0 && length % 6 == 0 && (flags == 0 || length == 0)
            case 0x5: valid = onStream && flags & ~0x0c == 0  // PUSH_PROMISE: END_HEADERS, PADDED
            case 0x6: valid = !onStream && flags & ~0x01 == 0 && length == 8  // PING
            case 0x7: valid = !onStream && flags == 0 && length >= 8  // GOAWAY
            case 0x8: valid = flags == 0 && length == 4  // WINDOW_UPDATE
            case 0x9: valid = onStream && flags & ~0x04 == 0  // CONTINUATION
            default: valid = false
            }
            guard valid else { return nil }
            guard let payload = cursor.bytes(length) else { return count >= 2 ? (count, fromClient) : nil }
            count += 1
            if fromClient == nil, type == 0x5 { fromClient = false }
            if fromClient == nil, type == 0x1 {
                // The block's first field, after the pad length and priority fields when flagged.
                let skip = (flags & 0x08 != 0 ? 1 : 0) + (flags & 0x20 != 0 ? 5 : 0)
                if payload.count > skip { fromClient = Self.http2RequestField(payload[skip]) }
            }
        }
        return count > 0 ? (count, fromClient) : nil
    }

    /// Whether a header block's first byte is a request's pseudo-header (static table 2-7: `:method`, `:path`,
    /// `:scheme`), an answer's (8-14: `:status`), or neither (nil), indexed or as a literal's name.
    static func http2RequestField(_ byte: UInt8) -> Bool? {
        let index =
            byte & 0x80 != 0
            ? Int(byte & 0x7f) : byte & 0xc0 == 0x40 ? Int(byte & 0x3f) : byte & 0xe0 == 0 ? Int(byte & 0x0f) : 0
        switch index {
        case 2...7: return true
        case 8...14: return false
        default: return nil
        }
    }

    // MARK: - STOMP and NATS

    private static let stompClientCommands: Set<String> = [
        "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "BEGIN", "COMMIT", "ABORT", "ACK", "NACK", "DISCONNECT", "CONNECT", "STOMP",
    ]
    private static let stompServerCommands: Set<String> = ["CONNECTED", "MESSAGE", "RECEIPT", "ERROR"]

    /// A STOMP frame at the start (after heart-beat line ends): a command alone on its line, `name:value` header
    /// lines, and the frame's NUL terminator. True when a client sent it, false for a server, nil for no frame.
    static func stompFrame(_ bytes: UnsafeRawBufferPointer) -> Bool? {
        let head = UnsafeRawBufferPointer(rebasing: bytes.prefix(4096))
        var start = 0
        while start < head.count, head[start] == 0x0a || head[start] == 0x0d { start += 1 }
        // The command (upper-case letters alone on the first line) is checked before the frame's NUL is looked for:
        // an HTTP request line or any other text is refused without a scan of the bytes.
        var commandEnd = start
        while commandEnd < head.count, (0x41...0x5a).contains(head[commandEnd]) { commandEnd += 1 }
        guard commandEnd > start, commandEnd < head.count, head[commandEnd] == 0x0a || head[commandEnd] == 0x0d,
            head[commandEnd...].contains(0)
        else { return nil }
        let lines = CredentialExtractor.lineRanges(UnsafeRawBufferPointer(rebasing: head[start...]), limit: 3)
        guard lines.count >= 2 else { return nil }
        let text = { (range: Range<Int>) in
            String(
                decoding: UnsafeRawBufferPointer(
                    rebasing: head[(start + range.lowerBound)..<(start + range.upperBound)]), as: UTF8.self)
        }
        let command = text(lines[0])
        let header = text(lines[1])
        guard let colon = header.firstIndex(of: ":"), colon != header.startIndex, !header.contains(" :") else {
            return nil
        }
        if Self.stompClientCommands.contains(command) { return true }
        if Self.stompServerCommands.contains(command) { return false }
        return nil
    }

    /// A NATS protocol line at the start: a client's `PUB subject [reply] bytes` or `SUB subject [queue] sid`, or a
    /// server's `MSG subject sid [reply] bytes` (HPUB and HMSG with their header length too). True for a client's.
    static func natsMessage(_ bytes: UnsafeRawBufferPointer) -> Bool? {
        guard
            bytes.starts(with: "PUB ") || bytes.starts(with: "SUB ") || bytes.starts(with: "MSG ")
                || bytes.starts(with: "HPUB ") || bytes.starts(with: "HMSG "),
            let end = bytes.prefix(512).firstIndex(of: 0x0a), end > 0, bytes[end - 1] == 0x0d
        else { return nil }
        let words = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<(end - 1)]), as: UTF8.self)
            .split(separator: " ")
        guard let verb = words.first, words.dropFirst().allSatisfy({ $0.allSatisfy { $0.isASCII && !$0.isWhitespace } })
        else { return nil }
        let counted = { (word: Substring?) in word.map { !$0.isEmpty && $0.allSatisfy(\.isNumber) } ?? false }
        switch verb {
        case "PUB": return (3...4).contains(words.count) && counted(words.last) ? true : nil
        case "HPUB": return (4...5).contains(words.count) && counted(words.last) ? true : nil
        case "SUB": return (3...4).contains(words.count) && counted(words.last) ? true : nil
        case "MSG": return (4...5).contains(words.count) && counted(words.last) && counted(words[2]) ? false : nil
        case "HMSG": return (5...6).contains(words.count) && counted(words.last) && counted(words[2]) ? false : nil
        default: return nil
        }
    }

    // MARK: - PostgreSQL

    /// Message types only a server sends (RowDescription, DataRow, CommandComplete, ReadyForQuery,
    /// ParameterStatus, BackendKeyData, Authentication, ParseComplete, BindComplete, NoData…).
    private static let backendTypes: Set<UInt8> = Set("TDCZSKR123ntsGHWAIVvcdEN".utf8)
    /// Message types a client sends (Query, Parse, Bind, Execute, Describe, Sync, Close, Flush, Terminate,
    /// PasswordMessage, CopyData/Done/Fail).
    private static let frontendTypes: Set<UInt8> = Set("QPBEDSCHXFpdcf".utf8)

    /// The count of PostgreSQL messages of `types` laid back to back from the first byte, nil when the bytes do not
    /// tile (a trailing message cut by the window is allowed once two whole ones are read).
    static func postgresMessages(_ bytes: UnsafeRawBufferPointer, types: Set<UInt8>) -> (count: Int, last: UInt8)? {
        var offset = 0
        var count = 0
        var last: UInt8 = 0
        while offset + 5 <= bytes.count {
            let type = bytes[offset]
            let length = Int(PacketDecoder.be32(bytes, offset + 1))
            guard types.contains(type), length >= 4, length <= 1 << 24 else { return nil }
            if offset + 1 + length > bytes.count { return count >= 2 ? (count, last) : nil }
            offset += 1 + length
            count += 1
            last = type
        }
        // Whole messages to the end, or a header cut by the window after two of them.
        return (offset == bytes.count && count > 0) || count >= 2 ? (count, last) : nil
    }

    /// A side of back-to-back backend messages (two or more, or a ReadyForQuery `Z` of five bytes whose status is
    /// idle, in a transaction or failed), its other side empty or back-to-back frontend messages.
    static func postgres(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> ProtocolClassifier
        .Verdict?
    {
        func isBackend(_ bytes: UnsafeRawBufferPointer) -> Bool {
            guard let messages = Self.postgresMessages(bytes, types: Self.backendTypes) else { return false }
            if messages.count >= 2 { return true }
            // One message alone: only ReadyForQuery, which has a fixed length and status byte.
            return messages.last == UInt8(ascii: "Z") && bytes.count == 6
                && [UInt8(ascii: "I"), UInt8(ascii: "T"), UInt8(ascii: "E")].contains(bytes[5])
        }
        func fitsFrontend(_ bytes: UnsafeRawBufferPointer) -> Bool {
            bytes.isEmpty || Self.postgresMessages(bytes, types: Self.frontendTypes) != nil
        }
        if isBackend(second) && fitsFrontend(first) {
            return ProtocolClassifier.Verdict(proto: .postgresql, firstIsClient: true)
        }
        if isBackend(first) && fitsFrontend(second) {
            return ProtocolClassifier.Verdict(proto: .postgresql, firstIsClient: false)
        }
        return nil
    }

    // MARK: - AMQP 0-9-1

    /// Back-to-back AMQP 0-9-1 frames from the first byte: type (method, header, body, heartbeat), channel, size,
    /// payload, and the frame-end octet 0xCE exactly where the size says; one whole frame that fills the bytes, or
    /// two and more (the last may be cut by the window).
    static func amqpFrames(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        var frames = 0
        while offset + 7 <= bytes.count {
            guard [1, 2, 3, 8].contains(bytes[offset]) else { return false }
            let size = Int(PacketDecoder.be32(bytes, offset + 3))
            guard size <= 1 << 24 else { return false }
            let end = offset + 7 + size
            guard end < bytes.count else { return frames >= 2 }
            guard bytes[end] == 0xce else { return false }
            offset = end + 1
            frames += 1
        }
        return (offset == bytes.count && frames > 0) || frames >= 2
    }

    /// Methods (class, method) only a client sends: Connection.StartOk, TuneOk and Open, Channel.Open,
    /// Queue.Declare, Basic.Consume, Publish and Get.
    private static let amqpClientMethods: Set<UInt32> = [
        10 << 16 | 11, 10 << 16 | 31, 10 << 16 | 40, 20 << 16 | 10, 50 << 16 | 10, 60 << 16 | 20, 60 << 16 | 40,
        60 << 16 | 70,
    ]
    /// Methods only a server sends: Connection.Start, Tune and OpenOk, Channel.OpenOk, Queue.DeclareOk,
    /// Basic.ConsumeOk, Deliver, GetOk and GetEmpty.
    private static let amqpServerMethods: Set<UInt32> = [
        10 << 16 | 10, 10 << 16 | 30, 10 << 16 | 41, 20 << 16 | 11, 50 << 16 | 11, 60 << 16 | 21, 60 << 16 | 60,
        60 << 16 | 71, 60 << 16 | 72,
    ]

    /// Whether the first method frame of `bytes` is one only a client (true) or only a server (false) sends.
    static func amqpSentByClient(_ bytes: UnsafeRawBufferPointer) -> Bool? {
        var offset = 0
        while offset + 11 <= bytes.count {
            let size = Int(PacketDecoder.be32(bytes, offset + 3))
            if bytes[offset] == 1, size >= 4 {
                let method = PacketDecoder.be32(bytes, offset + 7)
                if Self.amqpClientMethods.contains(method) { return true }
                if Self.amqpServerMethods.contains(method) { return false }
            }
            offset += 8 + size
        }
        return nil
    }

    // MARK: - MQTT

    /// MQTT control packets back to back from the first byte, each type with the flags the specification fixes for
    /// it; nil when the bytes do not tile. `fromClient`/`fromServer` tell packets only one side sends.
    static func mqttPackets(_ bytes: UnsafeRawBufferPointer) -> (count: Int, fromClient: Bool, fromServer: Bool)? {
        var cursor = ByteCursor(bytes)
        var count = 0
        var fromClient = false
        var fromServer = false
        while !cursor.isAtEnd {
            guard let first = cursor.u8() else { return nil }
            let type = first >> 4
            let flags = first & 0x0f
            switch type {
            case 3: guard flags & 0x06 != 0x06 else { return nil }  // PUBLISH: QoS 3 is malformed
            case 6, 8, 10: guard flags == 0x02 else { return nil }  // PUBREL, SUBSCRIBE, UNSUBSCRIBE
            case 1...14: guard flags == 0 else { return nil }
            case 15: break  // AUTH (MQTT 5)
            default: return nil
            }
            guard let length = MQTTConnect.variableByteInteger(&cursor) else {
                return cursor.isAtEnd && count >= 2 ? (count, fromClient, fromServer) : nil
            }
            guard cursor.skip(length) else { return count >= 2 ? (count, fromClient, fromServer) : nil }
            count += 1
            if [1, 8, 10, 12, 14].contains(type) { fromClient = true }  // CONNECT, (UN)SUBSCRIBE, PINGREQ, DISCONNECT
            if [2, 9, 11, 13].contains(type) { fromServer = true }  // CONNACK, SUBACK, UNSUBACK, PINGRESP
        }
        return count > 0 ? (count, fromClient, fromServer) : nil
    }

    /// Both sides tiling as MQTT packets (a PUBACK one way and a DISCONNECT the other is enough); or an idle
    /// connection's keep-alive, PINGREQs (`C0 00`) one way and PINGRESPs (`D0 00`) the other. One side alone is not
    /// enough: random bytes tile as a couple of packets about once in 1,500 buffers, both sides together less than
    /// once in 200,000.
    static func mqtt(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> ProtocolClassifier.Verdict? {
        func onlyPackets(_ bytes: UnsafeRawBufferPointer, _ byte: UInt8) -> Bool {
            !bytes.isEmpty && bytes.count % 2 == 0
                && (0..<bytes.count / 2).allSatisfy { bytes[2 * $0] == byte && bytes[2 * $0 + 1] == 0 }
        }
        if onlyPackets(first, 0xc0) && onlyPackets(second, 0xd0) {
            return ProtocolClassifier.Verdict(proto: .mqtt, firstIsClient: true)
        }
        if onlyPackets(first, 0xd0) && onlyPackets(second, 0xc0) {
            return ProtocolClassifier.Verdict(proto: .mqtt, firstIsClient: false)
        }
        guard !first.isEmpty, !second.isEmpty, let a = Self.mqttPackets(first), let b = Self.mqttPackets(second),
            a.count + b.count >= 2
        else { return nil }
        // A side that sent client-only packets while the other sent none of them is the client.
        let firstIsClient: Bool? =
            (a.fromClient && !b.fromClient) || (b.fromServer && !a.fromServer)
            ? true : (b.fromClient && !a.fromClient) || (a.fromServer && !b.fromServer) ? false : nil
        return ProtocolClassifier.Verdict(proto: .mqtt, firstIsClient: firstIsClient)
    }

    // MARK: - Redis and memcached

    /// A Redis command array at a line start within the first bytes: `*<count>\r\n$<length>\r\n` (only a Redis
    /// client sends one; a capture that began inside a command shows the next one after a line end).
    static func hasRedisCommandArray(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let head = UnsafeRawBufferPointer(rebasing: bytes.prefix(1024))
        guard let base = head.baseAddress else { return false }
        var index = 0
        // From line start to line start with memchr: binary bytes (a TLS record's) hold few line ends.
        while index < head.count {
            if head[index] == UInt8(ascii: "*"),
                ProtocolClassifier.isRESPArray(UnsafeRawBufferPointer(rebasing: head[index...]))
            {
                return true
            }
            guard let next = memchr(base + index, 0x0a, head.count - index) else { return false }
            index = base.distance(to: UnsafeRawPointer(next)) + 1
        }
        return false
    }

    /// Redis replies back to back from the first byte (RESP: `+`, `-`, `:`, `_`, `#` lines, `$len` bulk strings of
    /// exactly that length, `*count` arrays of them), two or more and at least one bulk string or array: a lone
    /// `+OK` line is no proof (POP3 says it too), a bulk string's length landing on its CRLF is.
    static func isRESPReplies(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let first = bytes.first, Array("+-:$*_#".utf8).contains(first) else { return false }
        var offset = 0
        var values = 0
        var structured = false
        /// The end of the line starting at `start` (its CR), or nil.
        func lineEnd(_ start: Int) -> Int? {
            var index = start
            while index + 1 < bytes.count, index - start < 512 {
                if bytes[index] == 0x0d { return bytes[index + 1] == 0x0a ? index : nil }
                index += 1
            }
            return nil
        }
        /// A length or count: digits, or `-1` (a null bulk string or array).
        func number(_ range: Range<Int>) -> Int? {
            if bytes[range].elementsEqual("-1".utf8) { return -1 }
            guard !range.isEmpty, range.count <= 10, bytes[range].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                return nil
            }
            return bytes[range].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        }
        /// One value at `offset`, moving past it; false when it does not parse (or is cut).
        func value(depth: Int) -> Bool {
            guard offset < bytes.count, depth < 8, let end = lineEnd(offset + 1) else { return false }
            let kind = bytes[offset]
            let line = (offset + 1)..<end
            offset = end + 2
            switch kind {
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "#"):
                return true
            case UInt8(ascii: ":"):
                return bytes[line].allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }
            case UInt8(ascii: "$"):
                guard let length = number(line) else { return false }
                structured = true
                if length < 0 { return true }
                guard offset + length + 2 <= bytes.count, bytes[offset + length] == 0x0d,
                    bytes[offset + length + 1] == 0x0a
                else { return false }
                offset += length + 2
                return true
            case UInt8(ascii: "*"):
                guard let count = number(line) else { return false }
                structured = true
                for _ in 0..<max(0, min(count, 1024)) where !value(depth: depth + 1) { return false }
                return count <= 1024
            default:
                return false
            }
        }
        while offset < bytes.count, values < 64 {
            guard value(depth: 0) else { return false }
            values += 1
        }
        return values >= 2 && structured
    }

    /// A memcached server's answer at the start: `VALUE <key> <flags> <bytes>` or a storage, deletion or touch
    /// reply line alone.
    static func isMemcachedReply(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard
            bytes.starts(with: "VALUE ") || bytes.starts(with: "STORED\r") || bytes.starts(with: "NOT_")
                || bytes.starts(with: "EXISTS\r") || bytes.starts(with: "DELETED\r") || bytes.starts(with: "TOUCHED\r"),
            let end = bytes.prefix(300).firstIndex(of: 0x0a),
            end > 0, bytes[end - 1] == 0x0d
        else { return false }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<(end - 1)]), as: UTF8.self)
        if ["STORED", "NOT_STORED", "EXISTS", "NOT_FOUND", "DELETED", "TOUCHED"].contains(line) { return true }
        let words = line.split(separator: " ", omittingEmptySubsequences: false)
        return words.count >= 4 && words.count <= 5 && words[0] == "VALUE" && !words[1].isEmpty
            && words[2...].allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
    }
}
