/// HTTP/2 (and gRPC over it) after the handshake: a request, and the answer to it judged by its `:status` and body.
///
/// The server's SETTINGS frame is the connection preface, sent before any request is read (nginx sends it at once,
/// then checks the client certificate request by request): it proves nothing about this client. Only the answer to
/// the request on stream 1 does.
enum HTTP2 {
    /// The client connection preface, an empty SETTINGS frame, and `GET /` on stream 1 (one HEADERS frame, the end of
    /// the stream and of the headers).
    static func request(_ host: String?) -> [UInt8] {
        let authority = Array((host ?? "localhost").utf8.prefix(200))
        // :method GET, :scheme https and :path / from the static table (RFC 7541 Appendix A); :authority as a literal
        // without indexing under the static name 1, not Huffman-coded.
        var block: [UInt8] = [0x82, 0x87, 0x84, 0x01]
        block += HPACKStatus.integer(authority.count, prefix: 7)
        block += authority
        return Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + Self.frame(type: 0x04, flags: 0, stream: 0, [])
            + Self.frame(type: 0x01, flags: 0x05, stream: 1, block)
    }

    /// One frame: length (24 bits), type, flags, stream (31 bits), payload.
    static func frame(type: UInt8, flags: UInt8, stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [
            UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags,
            UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff),
        ] + payload
    }

    /// Bytes of an answer's body read for the reason of a refusal.
    static let bodyLimit = 4096

    /// Reads the frames received so far for the answer on stream 1: its HEADERS (and CONTINUATION) give the status;
    /// a 400, 401, 403 or 421 waits for its body (the reason nginx gives is there). A GOAWAY or an RST_STREAM before the
    /// answer ends the exchange as a close (a refusal when its debug text names the certificate). Frames of the
    /// connection (SETTINGS, WINDOW_UPDATE, PING) answer nothing.
    static func judge(_ bytes: [UInt8]) -> ExchangeStep {
        if bytes.count >= 5 && bytes.prefix(5).elementsEqual("HTTP/".utf8) { return HTTP.judgeOverTLS(bytes) }
        var offset = 0
        var block: [UInt8] = []
        var status: Int?
        var body: [UInt8] = []
        while bytes.count - offset >= 9 {
            let length = Int(bytes[offset]) << 16 | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
            let type = bytes[offset + 3]
            let flags = bytes[offset + 4]
            let stream =
                (Int(bytes[offset + 5]) & 0x7f) << 24 | Int(bytes[offset + 6]) << 16 | Int(bytes[offset + 7]) << 8
                | Int(bytes[offset + 8])
            guard bytes.count - offset - 9 >= length else { return .needMore }
            let payload = bytes[(offset + 9)..<(offset + 9 + length)]
            offset += 9 + length
            switch type {
            case 0x07:  // GOAWAY: last stream id, error code, debug data
                // A GOAWAY that keeps stream 1 (nginx with keepalive_timeout 0 sends one before the answer) announces
                // the end of the connection, not of the request: its answer follows.
                if Self.u32(payload, at: 0) & 0x7fff_ffff >= 1 { continue }
                let code = Self.u32(payload, at: 4)
                let debug = Line.printable(Array(payload.dropFirst(8)), limit: 80)
                let text = "HTTP/2 GOAWAY (error \(code))" + (debug.isEmpty ? "" : ": \(debug)")
                return .done(RefusalWords.namesCertificate(debug) ? .refused(text) : .closed(text))
            case 0x03 where stream == 1:  // RST_STREAM: error code
                return .done(.closed("HTTP/2 RST_STREAM on the request (error \(Self.u32(payload, at: 0)))"))
            case 0x01 where stream == 1, 0x09 where stream == 1:  // HEADERS, CONTINUATION
                var fragment = payload
                if type == 0x01 {
                    guard let unpadded = Self.unpadded(fragment, flags: flags) else {
                        return .done(.failed("HTTP/2 HEADERS frame with impossible padding"))
                    }
                    // PRIORITY: a stream dependency (4 bytes) and a weight (1) before the block.
                    fragment = flags & 0x20 != 0 ? unpadded.dropFirst(5) : unpadded
                }
                block += fragment
                guard flags & 0x04 != 0 else { continue }  // END_HEADERS: the block is whole
                guard let code = HPACKStatus.status(in: block) else {
                    return .done(.failed("HTTP/2 answer whose :status cannot be read"))
                }
                block = []
                if code < 200 { continue }  // 1xx: informational, the answer follows
                status = code
                if flags & 0x01 != 0 || ![400, 401, 403, 421].contains(code) {
                    return .done(Self.answer(code, body: []))
                }
            case 0x00 where stream == 1:  // DATA
                guard let code = status, let data = Self.unpadded(payload, flags: flags) else { continue }
                body += data.prefix(Self.bodyLimit - body.count)
                if flags & 0x01 != 0 || body.count >= Self.bodyLimit { return .done(Self.answer(code, body: body)) }
            default:
                continue
            }
        }
        return .needMore
    }

    /// The answer of `status`, judged as HTTP/1's is (``HTTP/judge(status:statusLine:body:)``).
    static func answer(_ status: Int, body: [UInt8]) -> ServiceAnswer {
        HTTP.judge(status: status, statusLine: "HTTP/2 \(status)", body: Line.text(body))
    }

    /// A frame's payload without its padding (PADDED: a length byte first, that many bytes at the end), or nil when the
    /// padding is longer than the payload.
    static func unpadded(_ payload: ArraySlice<UInt8>, flags: UInt8) -> ArraySlice<UInt8>? {
        guard flags & 0x08 != 0 else { return payload }
        guard let padding = payload.first, Int(padding) < payload.count else { return nil }
        return payload.dropFirst().dropLast(Int(padding))
    }

    static func u32(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt32 {
        guard bytes.count >= offset + 4 else { return 0 }
        let start = bytes.startIndex + offset
        return bytes[start..<(start + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }
}

/// The `:status` of an HTTP/2 answer's header block (RFC 7541). The probe needs nothing else of HPACK: the status comes
/// first in every answer, so no entry of the dynamic table can be needed to read it, and a status is three digits,
/// whose Huffman codes (RFC 7541 Appendix B) are the only ones decoded. (The analysis of captures reads whole header
/// blocks in `PacketAnalysis`; the probes do not depend on it.)
enum HPACKStatus {
    /// The status, or nil when the block does not start with a readable `:status`.
    static func status(in block: [UInt8]) -> Int? {
        var index = 0
        while index < block.count {
            let first = block[index]
            if first & 0xe0 == 0x20 {  // a dynamic table size update may come first
                guard let (_, next) = Self.integer(block, at: index, prefix: 5) else { return nil }
                index = next
                continue
            }
            if first & 0x80 != 0 {  // an indexed field: statuses 200, 204, 206, 304, 400, 404, 500
                guard let (entry, _) = Self.integer(block, at: index, prefix: 7) else { return nil }
                let statuses = [8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500]
                return statuses[entry]
            }
            // A literal with incremental indexing (01), without indexing (0000) or never indexed (0001), whose name is
            // one of the static table's :status entries (8 to 14).
            guard let (name, next) = Self.integer(block, at: index, prefix: first & 0x40 != 0 ? 6 : 4),
                (8...14).contains(name), next < block.count
            else { return nil }
            let huffman = block[next] & 0x80 != 0
            guard let (length, start) = Self.integer(block, at: next, prefix: 7), length <= 8,
                start + length <= block.count
            else { return nil }
            let value = Array(block[start..<(start + length)])
            guard let digits = huffman ? Self.huffmanDigits(value) : value,
                digits.count == 3, digits.allSatisfy({ (0x30...0x39).contains($0) })
            else { return nil }
            return Int(String(decoding: digits, as: UTF8.self))
        }
        return nil
    }

    /// An integer with an N-bit prefix (RFC 7541 §5.1) at `index`, and where the bytes after it start; at most 2^21.
    static func integer(_ bytes: [UInt8], at index: Int, prefix: Int) -> (Int, Int)? {
        guard index < bytes.count else { return nil }
        let mask = (1 << prefix) - 1
        var value = Int(bytes[index]) & mask
        var next = index + 1
        guard value == mask else { return (value, next) }
        var shift = 0
        while next < bytes.count, shift <= 14 {
            let byte = Int(bytes[next])
            next += 1
            value += (byte & 0x7f) << shift
            if byte & 0x80 == 0 { return (value, next) }
            shift += 7
        }
        return nil
    }

    /// `value` encoded with an N-bit prefix.
    static func integer(_ value: Int, prefix: Int) -> [UInt8] {
        let mask = (1 << prefix) - 1
        guard value >= mask else { return [UInt8(value)] }
        var bytes = [UInt8(mask)]
        var rest = value - mask
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7f | 0x80))
            rest >>= 7
        }
        bytes.append(UInt8(rest))
        return bytes
    }

    /// Huffman-coded digits: `0`-`2` are the 5-bit codes 00000-00010, `3`-`9` the 6-bit codes 011001-011111; the
    /// padding is at most seven 1 bits. Nil for any other code.
    static func huffmanDigits(_ bytes: [UInt8]) -> [UInt8]? {
        var digits: [UInt8] = []
        var bits = 0
        var count = 0
        var position = 0
        func take(_ width: Int) -> Int? {
            while count < width {
                guard position < bytes.count else { return nil }
                bits = bits << 8 | Int(bytes[position])
                position += 1
                count += 8
            }
            count -= width
            let code = bits >> count & ((1 << width) - 1)
            bits &= (1 << count) - 1
            return code
        }
        while position < bytes.count || count >= 5 {
            // What is left is padding when it is fewer than eight bits, all ones, and no whole byte is unread.
            if position == bytes.count && count < 8 && bits & ((1 << count) - 1) == (1 << count) - 1 { break }
            guard let five = take(5) else { return nil }
            if five <= 2 {
                digits.append(0x30 + UInt8(five))
                continue
            }
            guard let bit = take(1) else { return nil }
            let six = five << 1 | bit
            guard (25...31).contains(six) else { return nil }
            digits.append(0x30 + UInt8(six - 22))
        }
        return digits
    }
}
