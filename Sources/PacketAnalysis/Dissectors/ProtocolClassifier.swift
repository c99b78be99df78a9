import BulkheadModel
import Glibc

/// Identifies a flow's application protocol from the first bytes of each direction. Never from ports.
///
/// Client-first protocols are recognised by the request that opens them, server-first ones (SMTP, FTP, POP3,
/// IMAP, MySQL) by their greeting; a side that matches tells which end is the client when no SYN was seen.
package enum ProtocolClassifier {
    package struct Verdict {
        var proto: ApplicationProtocol
        /// Which side is the client, when the content shows it (nil: content says nothing about roles).
        var firstIsClient: Bool?
    }

    /// Classifies a flow from the bytes each side sent so far.
    ///
    /// - Parameters:
    ///   - first: bytes from the side believed to be the client (the SYN sender or first talker).
    ///   - second: bytes from the other side.
    ///   - rolesKnown: whether a SYN fixed the roles.
    ///   - final: no more data will come; decide with what there is.
    /// - Returns: nil while more data is needed.
    package static func classify(
        first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer, rolesKnown: Bool, final: Bool
    ) -> Verdict? {
        if first.isEmpty && second.isEmpty { return final ? Verdict(proto: .empty, firstIsClient: nil) : nil }
        // A request from the side believed to be the client settles it; from the other side it also
        // says the roles are the other way round (only when no SYN fixed them).
        let request = clientRequest(first, peer: second)
        if let request, rolesKnown || (request != .redis && request != .memcached) {
            return Verdict(proto: request, firstIsClient: true)
        }
        if !rolesKnown {
            // No SYN: most often a connection that was open before the capture began. Its steady-state framing
            // decides before a cache verb both Redis and memcached know (a memcached reply beside a `quit`) and
            // before greetings (a Redis reply `+OK` is no POP3 greeting).
            if let verdict = MidstreamClassifier.classify(first: first, second: second, final: final) {
                return verdict
            }
        }
        if let request { return Verdict(proto: request, firstIsClient: true) }
        if !rolesKnown, let proto = clientRequest(second, peer: first), proto != .ssh {
            return Verdict(proto: proto, firstIsClient: false)
        }
        // From the middle of a conversation, one side alone proves little (a reply line is no greeting, MQTT needs
        // both sides' framing): the other side is waited for, up to 2 KiB of the one (a capture that sees one
        // direction only must not hold every flow's window).
        if !rolesKnown && !final && (first.isEmpty || second.isEmpty) && first.count + second.count < Self.midstreamWait
        {
            return nil
        }
        if let proto = serverGreeting(second, client: first, final: final, midstream: !rolesKnown) {
            if proto == .unknownPlaintext && !final { return nil }
            return Verdict(proto: proto, firstIsClient: true)
        }
        if !rolesKnown, let proto = serverGreeting(first, client: second, final: final, midstream: true) {
            if proto == .unknownPlaintext && !final { return nil }
            return Verdict(proto: proto, firstIsClient: false)
        }
        // Nothing recognisable yet: wait while the data is short, then settle on unknown. HTTP/2 frames joined
        // mid-way are waited for until enough of them tile (a PING each way is not yet proof).
        if !final && first.count < 64 && second.count < 64 && !(first.count > 0 && second.count > 0) { return nil }
        if !rolesKnown && !final && first.count + second.count < Self.midstreamWait
            && MidstreamClassifier.mayBeHTTP2(first, second)
        {
            return nil
        }
        if looksLikeTLSRecords(first) || looksLikeTLSRecords(second) {
            return Verdict(proto: .tls, firstIsClient: nil)  // joined mid-stream
        }
        return Verdict(proto: isMostlyPrintable(first, second) ? .unknownPlaintext : .unknownBinary, firstIsClient: nil)
    }

    /// How many bytes of one side a flow without a SYN waits with for the other side before it is settled on what
    /// one side shows.
    static let midstreamWait = 2048

    // MARK: - Client requests

    static func clientRequest(_ bytes: UnsafeRawBufferPointer, peer: UnsafeRawBufferPointer) -> ApplicationProtocol? {
        guard bytes.count >= 1 else { return nil }
        if isTLSClientHello(bytes) { return .tls }
        if bytes[0] == 4 || bytes[0] == 5, let proto = TunnelDetector.socksProtocol(bytes, reply: peer) { return proto }
        if bytes.starts(with: "SSH-") { return .ssh }
        if bytes.starts(with: "PRI * HTTP/2.0\r\n") { return .http2 }
        // Before HTTP: `CONNECT` is an HTTP method too, but NATS's takes a JSON object, not a target and a version.
        if bytes.starts(with: "CONNECT {") { return .nats }
        if isSTOMPConnect(bytes) { return .stomp }
        if isHTTPRequest(bytes) { return .http }
        if isPostgresStartup(bytes) { return .postgresql }
        if bytes.starts(with: "AMQP") && bytes.count >= 8 { return .amqp }
        if bytes.first == UInt8(ascii: "*"), bytes.count >= 4, isRESPArray(bytes) { return .redis }
        // Before the cache verbs: `dump` and `stat` alone are ZooKeeper's when its answer says so.
        if bytes.count <= 6, ZooKeeper.fourLetterExchange(bytes, answer: peer) == true { return .zookeeper }
        if let proto = textCacheCommand(bytes, peer: peer) { return proto }
        if bytes[0] == 0x80, MemcachedBinary.isRequest(bytes, peer: peer) { return .memcached }
        if ZooKeeper.isConnectRequest(bytes) { return .zookeeper }
        if isMongoMessage(bytes) { return .mongodb }
        if isLDAPRequest(bytes) { return .ldap }
        if isDNSOverTCP(bytes) { return .dns }
        if isKafkaRequest(bytes) { return .kafka }
        if isXMPPStream(bytes) { return .xmpp }
        if isIRCRegistration(bytes, peer: peer) { return .irc }
        if bytes[0] == 0x10, MQTTConnect(bytes) != nil { return .mqtt }
        return nil
    }

    /// A STOMP client's first frame: the command `CONNECT` or `STOMP` alone on its line (HTTP's `CONNECT` has a
    /// target and a version after it).
    static func isSTOMPConnect(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.starts(with: "CONNECT\n") || bytes.starts(with: "CONNECT\r\n") || bytes.starts(with: "STOMP\n")
            || bytes.starts(with: "STOMP\r\n")
    }

    /// An XMPP stream header (RFC 6120 §4.2): `<stream:stream` (after an optional XML declaration) in the
    /// client or server namespace.
    static func isXMPPStream(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.starts(with: "<?xml") || bytes.starts(with: "<stream:stream") else { return false }
        let head = UnsafeRawBufferPointer(rebasing: bytes.prefix(512))
        return head.range(of: "<stream:stream") != nil
            && (head.range(of: "jabber:client") != nil || head.range(of: "jabber:server") != nil)
    }

    private static let ircRegistrationCommands: [StaticString] = [
        "CAP LS", "CAP REQ", "NICK ", "PASS ", "STARTTLS\r\n", "STARTTLS\n",
    ]

    /// An IRC client's first line (RFC 2812 registration, IRCv3 `CAP`, or `STARTTLS`). `USER` and `PASS` open
    /// FTP and POP3 sessions too, after a greeting, so only a silent server or one that speaks IRC (a line that
    /// starts with a `:prefix`) lets them count, and `USER` needs IRC's shape (`USER name mode * :real name`).
    static func isIRCRegistration(_ bytes: UnsafeRawBufferPointer, peer: UnsafeRawBufferPointer) -> Bool {
        guard peer.isEmpty || peer[0] == UInt8(ascii: ":") else { return false }
        if ircRegistrationCommands.contains(where: { bytes.starts(with: $0) }) { return true }
        guard bytes.starts(with: "USER ") else { return false }
        let line = UnsafeRawBufferPointer(rebasing: bytes.prefix(512))
        guard let end = line.firstIndex(of: UInt8(ascii: "\n")) else { return false }
        return UnsafeRawBufferPointer(rebasing: line[..<end]).range(of: " :") != nil
    }

    static func isTLSClientHello(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if bytes.count >= 6, bytes[0] == 0x16, bytes[1] == 0x03, bytes[2] <= 0x04, bytes[5] == 0x01 { return true }
        // SSL 2.0-compatible ClientHello: 2-byte header with the high bit set, message type 1, version 3.x.
        if bytes.count >= 5, bytes[0] & 0x80 != 0, bytes[2] == 0x01, bytes[3] == 0x03 || bytes[3] == 0x00,
            bytes[4] <= 0x04
        {
            return true
        }
        return false
    }

    static func isTLSServerHello(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 6 && bytes[0] == 0x16 && bytes[1] == 0x03 && bytes[2] <= 0x04 && bytes[5] == 0x02
    }

    /// Static strings: a `String` is read through its UTF-8 view at every comparison (about a hundred instructions a
    /// request for this list).
    private static let httpMethods: [StaticString] = [
        "GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ", "PROPFIND ",
    ]

    static func isHTTPRequest(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let method = httpMethods.first(where: { bytes.starts(with: $0) }) else { return false }
        // The request line ends with " HTTP/1.x"; accept a first segment that is cut before it.
        let line = UnsafeRawBufferPointer(rebasing: bytes.prefix(2048))
        if let base = line.baseAddress, let newline = memchr(base, 0x0a, line.count) {
            let text = UnsafeRawBufferPointer(start: base, count: base.distance(to: UnsafeRawPointer(newline)))
            return text.range(of: " HTTP/1.") != nil || text.range(of: " HTTP/0.9") != nil
        }
        return bytes.count > method.utf8CodeUnitCount && bytes[method.utf8CodeUnitCount] != UInt8(ascii: " ")
    }

    static func isPostgresStartup(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 8 else { return false }
        let length = PacketDecoder.be32(bytes, 0)
        let code = PacketDecoder.be32(bytes, 4)
        switch code {
        case 196_608: return length >= 8 && length <= 10_000  // protocol 3.0 StartupMessage
        case 80_877_103, 80_877_104: return length == 8  // SSLRequest, GSSENCRequest
        case 80_877_102: return length == 16  // CancelRequest
        default: return false
        }
    }

    static func isRESPArray(_ bytes: UnsafeRawBufferPointer) -> Bool {
        // "*<count>\r\n$<len>\r\n"
        var index = 1
        while index < bytes.count, index < 12, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            index += 1
        }
        guard index > 1, index + 2 < bytes.count, bytes[index] == 0x0d, bytes[index + 1] == 0x0a else { return false }
        return bytes[index + 2] == UInt8(ascii: "$")
    }

    private static let memcachedOnly: Set<String> = [
        "gets", "cas", "touch", "gat", "gats", "version", "stats", "flush_all", "verbosity", "mg", "ms", "md", "ma",
        "mn",
        "append", "prepend", "add", "replace",
    ]
    private static let redisOnly: Set<String> = [
        "ping", "auth", "hello", "info", "select", "client", "config", "keys", "hget", "hset", "lpush", "rpush", "lpop",
        "rpop", "sadd", "smembers", "zadd", "expire", "ttl", "exists", "publish", "subscribe", "multi", "exec", "quit",
        "echo", "mget", "mset", "scan", "type", "dbsize", "flushall", "flushdb", "setex", "setnx", "del", "command",
    ]
    private static let sharedCacheCommands: Set<String> = ["get", "set", "delete", "incr", "decr"]

    /// Redis inline commands and memcached's text protocol share some verbs; the server's answer (or the
    /// command's shape) tells them apart.
    static func textCacheCommand(_ bytes: UnsafeRawBufferPointer, peer: UnsafeRawBufferPointer) -> ApplicationProtocol?
    {
        // A whole first line is needed; a command without one within 256 bytes is not a cache command.
        let line = bytes.prefix(256)
        guard let end = line.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        // Every cache verb is 2 to 9 ASCII letters or `_`: anything else after the leading blanks is not one, and is
        // refused here before any text is made (binary payloads with a newline used to cost a String, a trim, a split
        // and a lowercasing each).
        var verbStart = line.startIndex
        while verbStart < end, [0x20, 0x09, 0x0d].contains(bytes[verbStart]) { verbStart += 1 }
        var verbEnd = verbStart
        while verbEnd < end, bytes[verbEnd] != 0x20, bytes[verbEnd] != 0x09 { verbEnd += 1 }
        var verbBytes = UnsafeRawBufferPointer(rebasing: bytes[verbStart..<verbEnd])
        while let last = verbBytes.last, last == 0x0d {
            verbBytes = UnsafeRawBufferPointer(rebasing: verbBytes.dropLast())
        }
        guard (2...9).contains(verbBytes.count),
            verbBytes.allSatisfy({ (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) || $0 == 0x5f })
        else { return nil }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: line[..<end]), as: UTF8.self)
            .trimmingCharacters(in: " \t\r")
        // Redis splits inline commands on any blank, tabs included.
        let words = text.split(omittingEmptySubsequences: true) { $0 == " " || $0 == "\t" }
        guard let verb = words.first?.lowercased() else { return nil }
        if memcachedOnly.contains(verb) { return .memcached }
        // HELLO takes a protocol version; "HELLO THERE" is someone's own text protocol.
        if verb == "hello", words.count > 1, !words[1].allSatisfy(\.isNumber) { return nil }
        if redisOnly.contains(verb) { return .redis }
        guard sharedCacheCommands.contains(verb) else { return nil }
        if let reply = peer.first {
            if peer.starts(with: "VALUE ") || peer.starts(with: "END") || peer.starts(with: "STORED")
                || peer.starts(with: "NOT_") || peer.starts(with: "DELETED") || peer.starts(with: "ERROR")
            {
                return .memcached
            }
            if reply == UInt8(ascii: "+") || reply == UInt8(ascii: "-") || reply == UInt8(ascii: ":")
                || reply == UInt8(ascii: "$") || reply == UInt8(ascii: "*")
            {
                return .redis
            }
        }
        // memcached storage commands carry flags, exptime and a byte count: "set key 0 0 5".
        if verb == "set", words.count >= 5, words[2...4].allSatisfy({ $0.allSatisfy(\.isNumber) }) { return .memcached }
        return .redis
    }

    static func isMongoMessage(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 16 else { return false }
        let length = UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self))
        let responseTo = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let opCode = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        return length >= 16 && length <= 48_000_000 && responseTo == 0 && [2004, 2013, 2012, 2010].contains(opCode)
    }

    /// An LDAPMessage: SEQUENCE { messageID INTEGER, protocolOp [APPLICATION n] }.
    static func isLDAPRequest(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 7, bytes[0] == 0x30 else { return false }
        var index = 1
        let lengthByte = bytes[1]
        if lengthByte & 0x80 != 0 {
            let count = Int(lengthByte & 0x7f)
            guard (1...4).contains(count) else { return false }
            index += count
        }
        index += 1
        guard index + 2 < bytes.count, bytes[index] == 0x02 else { return false }
        let idLength = Int(bytes[index + 1])
        guard (1...4).contains(idLength), index + 2 + idLength < bytes.count else { return false }
        let op = bytes[index + 2 + idLength]
        return [0x60, 0x63, 0x66, 0x68, 0x6c, 0x6e, 0x77, 0x42, 0x4a, 0x50].contains(op)
    }

    static func isDNSOverTCP(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 14 else { return false }
        let length = Int(PacketDecoder.be16(bytes, 0))
        guard length >= 12 && length <= 65_535 else { return false }
        return isDNSMessage(UnsafeRawBufferPointer(rebasing: bytes[2...]), query: true)
    }

    /// A DNS header that makes sense: the right QR bit, a standard opcode, one question, few records.
    package static func isDNSMessage(_ bytes: UnsafeRawBufferPointer, query: Bool?) -> Bool {
        // The 12-byte header, then at least the first label length of the question name.
        guard bytes.count >= 13 else { return false }
        let flags = PacketDecoder.be16(bytes, 2)
        let questions = PacketDecoder.be16(bytes, 4)
        let answers = PacketDecoder.be16(bytes, 6)
        let authority = PacketDecoder.be16(bytes, 8)
        let opcode = (flags >> 11) & 0x0f
        let isResponse = flags & 0x8000 != 0
        if let query, query == isResponse { return false }
        guard opcode <= 5, questions == 1, answers < 256, authority < 256 else { return false }
        // The question name starts with a label length (or a root label) and is printable.
        let label = Int(bytes[12])
        guard label < 64, 13 + label <= bytes.count else { return false }
        return bytes[13..<(13 + label)].allSatisfy { $0 > 0x20 && $0 < 0x7f }
    }

    static func isKafkaRequest(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 14 else { return false }
        let size = PacketDecoder.be32(bytes, 0)
        let apiKey = PacketDecoder.be16(bytes, 4)
        let apiVersion = PacketDecoder.be16(bytes, 6)
        let clientIDLength = Int16(bitPattern: PacketDecoder.be16(bytes, 12))
        guard size >= 10, size < 100_000_000, apiKey <= 80, apiVersion <= 20 else { return false }
        if clientIDLength == -1 { return true }
        guard clientIDLength > 0, 14 + Int(clientIDLength) <= bytes.count else { return false }
        return bytes[14..<(14 + Int(clientIDLength))].allSatisfy { $0 >= 0x20 && $0 < 0x7f }
    }

    // MARK: - Server greetings

    static func serverGreeting(
        _ bytes: UnsafeRawBufferPointer, client: UnsafeRawBufferPointer, final: Bool, midstream: Bool = false
    ) -> ApplicationProtocol? {
        guard !bytes.isEmpty else { return nil }
        if isTLSServerHello(bytes) { return .tls }
        if bytes.starts(with: "SSH-") { return .ssh }
        if bytes.starts(with: "HTTP/1.") { return .http }
        // A bare `+OK` line is also a Redis reply: from the middle of a conversation only POP3's text after it tells.
        if bytes.starts(with: "+OK") && !(midstream && bytes.starts(with: "+OK\r\n")) { return .pop3 }
        if bytes.starts(with: "* OK") || bytes.starts(with: "* PREAUTH") { return .imap }
        if bytes.starts(with: "220") || bytes.starts(with: "421") {
            return smtpOrFTP(banner: bytes, client: client, final: final)
        }
        if isMySQLGreeting(bytes) { return .mysql }
        if isIRCServerLine(bytes) { return .irc }
        // NATS servers greet every client with `INFO {…}`, then read `CONNECT` or, when TLS is required, a
        // ClientHello (the in-place upgrade).
        if bytes.starts(with: "INFO {") { return .nats }
        if bytes.starts(with: "CONNECTED\n") || bytes.starts(with: "CONNECTED\r\n") { return .stomp }
        return nil
    }

    /// An IRC server's first line: `:server NOTICE …` or `:server NNN …` (a three-digit numeric).
    static func isIRCServerLine(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.first == UInt8(ascii: ":"), let space = bytes.prefix(128).firstIndex(of: UInt8(ascii: " ")),
            space > 1
        else { return false }
        let rest = UnsafeRawBufferPointer(rebasing: bytes[(space + 1)...])
        if rest.starts(with: "NOTICE ") { return true }
        return rest.count >= 4 && rest[0...2].allSatisfy { $0 >= 0x30 && $0 <= 0x39 } && rest[3] == UInt8(ascii: " ")
    }

    private static let smtpVerbs = [
        "EHLO", "HELO", "MAIL", "STARTTLS", "RSET", "NOOP", "VRFY", "AUTH LOGIN", "AUTH PLAIN", "DATA",
    ]
    private static let ftpVerbs = [
        "USER", "AUTH TLS", "AUTH SSL", "FEAT", "SYST", "OPTS", "PASV", "EPSV", "LIST", "PWD", "TYPE", "PBSZ",
    ]

    /// SMTP and FTP both greet with `220`; the client's first command, or the banner text, decides.
    static func smtpOrFTP(banner: UnsafeRawBufferPointer, client: UnsafeRawBufferPointer, final: Bool)
        -> ApplicationProtocol?
    {
        let command = String(decoding: client.prefix(16), as: UTF8.self).uppercased()
        if smtpVerbs.contains(where: { command.hasPrefix($0) }) { return .smtp }
        if ftpVerbs.contains(where: { command.hasPrefix($0) }) { return .ftp }
        let text = String(decoding: banner.prefix(256), as: UTF8.self).uppercased()
        if text.contains("FTP") { return .ftp }
        if text.contains("SMTP") || text.contains("MAIL") || text.contains("POSTFIX") || text.contains("EXIM") {
            return .smtp
        }
        return client.isEmpty && !final ? nil : .unknownPlaintext
    }

    /// MySQL's server greeting: a packet with sequence 0, protocol version 10, a printable server version.
    static func isMySQLGreeting(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 6 else { return false }
        let length = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
        guard length >= 10, length < 1024, bytes[3] == 0, bytes[4] == 10 else { return false }
        var index = 5
        while index < bytes.count, bytes[index] != 0 {
            guard bytes[index] >= 0x20 && bytes[index] < 0x7f else { return false }
            index += 1
        }
        return index > 5
    }

    // MARK: - Fallbacks

    /// Bytes that parse as back-to-back TLS records (a capture that joined a TLS connection after its handshake).
    package static func looksLikeTLSRecords(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        var records = 0
        while offset + 5 <= bytes.count {
            let type = bytes[offset]
            guard (20...23).contains(type), bytes[offset + 1] == 3, bytes[offset + 2] <= 4 else { return false }
            let length = Int(PacketDecoder.be16(bytes, offset + 3))
            guard length > 0, length <= 18_432 else { return false }
            offset += 5 + length
            records += 1
        }
        return records >= 2 || (records == 1 && offset == bytes.count)
    }

    /// At least 85 % printable ASCII (or whitespace) across what both sides sent.
    static func isMostlyPrintable(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> Bool {
        var printable = 0
        var total = 0
        for bytes in [first, second] {
            for byte in bytes.prefix(1024) {
                total += 1
                if (byte >= 0x20 && byte < 0x7f) || byte == 0x0a || byte == 0x0d || byte == 0x09 { printable += 1 }
            }
        }
        return total > 0 && printable * 100 >= total * 85
    }
}

extension UnsafeRawBufferPointer {
    func starts(with text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard self.count >= count else { return false }
        let pointer = text.utf8Start
        for index in 0..<count where self[index] != pointer[index] { return false }
        return true
    }

    /// Offset of the first occurrence of `text`, or nil.
    func range(of text: String) -> Int? {
        // memchr to each candidate first byte and memcmp there, on the literal's own bytes: copying the needle into an
        // array and comparing byte by byte cost about 1,000 instructions per call (every HTTP request line is searched
        // for its version).
        let found = text.utf8.withContiguousStorageIfAvailable { needle -> Int? in
            guard let first = needle.first, self.count >= needle.count, let base = self.baseAddress,
                let needleBase = needle.baseAddress
            else { return nil }
            let last = self.count - needle.count  // the last offset where the needle still fits
            var start = 0
            while start <= last, let hit = memchr(base + start, Int32(first), last - start + 1) {
                let offset = base.distance(to: UnsafeRawPointer(hit))
                if memcmp(hit, needleBase, needle.count) == 0 { return offset }
                start = offset + 1
            }
            return nil
        }
        if let found { return found }
        let needle = Array(text.utf8)
        guard !needle.isEmpty, self.count >= needle.count else { return nil }
        outer: for start in 0...(self.count - needle.count) {
            for (index, byte) in needle.enumerated() where self[start + index] != byte { continue outer }
            return start
        }
        return nil
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var slice = Substring(self)
        while let first = slice.first, characters.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, characters.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
