import BulkheadModel
import Foundation

/// Credentials that message-broker clients send in clear: MQTT's CONNECT, AMQP 0-9-1's Connection.StartOk (PLAIN and
/// AMQPLAIN, RabbitMQ's defaults), AMQP 1.0's sasl-init (PLAIN), NATS's `CONNECT {…}` (user and password, or a
/// token) and STOMP's `CONNECT` frame (`login` and `passcode`).
extension CredentialExtractor {
    // MARK: - MQTT

    /// The user name and password of the client's CONNECT (``MQTTConnect``). A password flag whose field the capture
    /// cut off is still reported: the client sent one.
    static func mqtt(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        guard let connect = MQTTConnect(bytes), connect.hasPassword else { return [] }
        let redacted = connect.passwordLength.map { secretDescription("password", $0) } ?? "password (redacted)"
        return [Credential(kind: "mqtt", user: connect.user, redacted: redacted)]
    }

    // MARK: - AMQP

    /// The login of an AMQP client: 0-9-1's Connection.StartOk (``amqp091(_:)``), or 1.0's SASL layer
    /// (``amqp10SASL(_:)``), told apart by the protocol header.
    static func amqp(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var cursor = ByteCursor(bytes)
        guard let header = cursor.bytes(8), header.starts(with: "AMQP".utf8) else { return [] }
        switch header[4] {
        // `AMQP 0 0 9 1`, and the older `1 1 0 9` and `1 1 8 0`.
        case 0, 1: return Self.amqp091(&cursor)
        // AMQP 1.0's SASL layer, `AMQP 3 1 0 0` (its TLS layer, `AMQP 2 1 0 0`, and the bare protocol carry none).
        case 3: return Self.amqp10SASL(&cursor)
        default: return []
        }
    }

    /// Connection.StartOk (AMQP 0-9-1 §1.4.2.2), the client's first frame after the protocol header: its SASL
    /// mechanism and response. PLAIN's response is `authzid NUL authcid NUL password` (RFC 4616); AMQPLAIN's is a
    /// field table of `LOGIN` and `PASSWORD` written without its length. Other mechanisms (EXTERNAL: the TLS client
    /// certificate) carry no secret.
    static func amqp091(_ cursor: inout ByteCursor) -> [Credential] {
        var frames = 0
        // Frames: type, channel, size, payload, frame-end 0xCE.
        while frames < 8, let type = cursor.u8(), let channel = cursor.u16(), let size = cursor.u32(),
            var payload = cursor.sub(Int(size))
        {
            frames += 1
            // A method frame on channel 0: Connection.StartOk is class 10, method 11.
            guard type == 1, channel == 0, payload.u16() == 10, payload.u16() == 11 else {
                guard cursor.u8() == 0xce else { return [] }
                continue
            }
            guard let tableLength = payload.u32(), payload.skip(Int(tableLength)), let mechanismLength = payload.u8(),
                let mechanism = payload.bytes(Int(mechanismLength)), let responseLength = payload.u32(),
                let response = payload.bytes(Int(responseLength))
            else { return [] }
            if mechanism.elementsEqual("PLAIN".utf8) { return [Self.saslPlain(response, kind: "amqp-plain")] }
            if mechanism.elementsEqual("AMQPLAIN".utf8) {
                let fields = Self.amqpTableStrings(response)
                guard let password = fields["PASSWORD"] else {
                    return [
                        Credential(
                            kind: "amqp-amqplain", user: nil, redacted: secretDescription("credentials", response.count)
                        )
                    ]
                }
                return [
                    Credential(
                        kind: "amqp-amqplain", user: fields["LOGIN"]?.printableText,
                        redacted: secretDescription("password", password.count))
                ]
            }
            return []
        }
        return []
    }

    /// AMQP 1.0's sasl-init (OASIS AMQP 1.0 §5.3.3.2), the client's first SASL frame: a described list whose first
    /// fields are the mechanism (a symbol) and the initial response (binary). PLAIN's response is RFC 4616's, as in
    /// 0-9-1.
    static func amqp10SASL(_ cursor: inout ByteCursor) -> [Credential] {
        var frames = 0
        var plainChosen = false
        // Frames: size, data offset (in 4-byte words), type (1: SASL), channel; then the body.
        while frames < 8, let size = cursor.u32(), size >= 8, let offset = cursor.u8(), offset >= 2,
            let type = cursor.u8(), cursor.skip(2), cursor.skip(Int(offset) * 4 - 8),
            var body = cursor.sub(Int(size) - Int(offset) * 4)
        {
            frames += 1
            guard type == 1 else { break }
            // The performative: descriptor 0x00, its code as a small ulong (0x53) or a ulong (0x80): 0x41 sasl-init,
            // 0x43 sasl-response (PLAIN's credentials, when the init carried no initial response).
            guard body.u8() == 0x00, let code = Self.amqp10Descriptor(&body), let count = Self.amqp10ListCount(&body),
                count >= 1, let first = Self.amqp10Bytes(&body)
            else { continue }
            if code == 0x41 {
                guard first.elementsEqual("PLAIN".utf8) else { return [] }
                plainChosen = true
                if count >= 2, let response = Self.amqp10Bytes(&body), !response.isEmpty {
                    return [Self.saslPlain(response, kind: "amqp-plain")]
                }
            } else if code == 0x43, plainChosen, !first.isEmpty {
                return [Self.saslPlain(first, kind: "amqp-plain")]
            }
        }
        // PLAIN chosen but its response not seen (the capture cut it off): no evidence that a password crossed.
        return []
    }

    /// A descriptor's code: a small ulong or a ulong (a symbolic descriptor is not a SASL performative).
    private static func amqp10Descriptor(_ cursor: inout ByteCursor) -> UInt64? {
        switch cursor.u8() {
        case 0x53: return cursor.u8().map(UInt64.init)
        case 0x80:
            guard let high = cursor.u32(), let low = cursor.u32() else { return nil }
            return UInt64(high) << 32 | UInt64(low)
        default: return nil
        }
    }

    /// A list's element count, its size skipped (list0, list8, list32).
    private static func amqp10ListCount(_ cursor: inout ByteCursor) -> Int? {
        switch cursor.u8() {
        case 0x45: return 0
        case 0xc0:
            guard cursor.skip(1), let count = cursor.u8() else { return nil }
            return Int(count)
        case 0xd0:
            guard cursor.skip(4), let count = cursor.u32() else { return nil }
            return Int(count)
        default: return nil
        }
    }

    /// A symbol, string or binary value (8- or 32-bit length), its bytes; an empty buffer for null.
    private static func amqp10Bytes(_ cursor: inout ByteCursor) -> UnsafeRawBufferPointer? {
        switch cursor.u8() {
        case 0x40: return UnsafeRawBufferPointer(start: nil, count: 0)
        case 0xa0, 0xa1, 0xa3: return cursor.u8().flatMap { cursor.bytes(Int($0)) }
        case 0xb0, 0xb1, 0xb3: return cursor.u32().flatMap { cursor.bytes(Int($0)) }
        default: return nil
        }
    }

    /// A SASL PLAIN response, `authzid NUL authcid NUL password` (RFC 4616). Any other shape is not split: a part
    /// named as the user could be the password.
    static func saslPlain(_ response: UnsafeRawBufferPointer, kind: String) -> Credential {
        let parts = response.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[1].isEmpty else {
            return Credential(kind: kind, user: nil, redacted: secretDescription("credentials", response.count))
        }
        return Credential(
            kind: kind, user: UnsafeRawBufferPointer(rebasing: parts[1]).printableText,
            redacted: secretDescription("password", parts[2].count))
    }

    /// The string fields of an AMQP field table's entries (name, type `S` or `s`, value), up to the first field of
    /// another type (whose length could not be known without a full table reader).
    static func amqpTableStrings(_ bytes: UnsafeRawBufferPointer) -> [String: UnsafeRawBufferPointer] {
        var cursor = ByteCursor(bytes)
        var fields: [String: UnsafeRawBufferPointer] = [:]
        while fields.count < 16, let nameLength = cursor.u8(), let name = cursor.bytes(Int(nameLength)),
            let type = cursor.u8()
        {
            let value: UnsafeRawBufferPointer?
            switch type {
            case UInt8(ascii: "S"): value = cursor.u32().flatMap { cursor.bytes(Int($0)) }
            case UInt8(ascii: "s"): value = cursor.u8().flatMap { cursor.bytes(Int($0)) }
            default: value = nil
            }
            guard let value else { break }
            fields[name.printableText] = value
        }
        return fields
    }

    // MARK: - NATS

    /// The client's `CONNECT {…}` line (NATS client protocol): a JSON object whose `user` and `pass`, or
    /// `auth_token`, log it in. `nkey`, `sig` and `jwt` are not secrets on their own (a signature of the server's
    /// nonce and a public credential), so they are not reported.
    static func nats(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        for range in Self.lineRanges(bytes, limit: 64) where Self.line(bytes, range, startsWith: "connect {") {
            let object = UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound + 8)..<range.upperBound])
            guard let fields = try? JSONSerialization.jsonObject(with: Data(object)) as? [String: Any] else {
                // Cut by the inspection window, or not JSON: a password or token may be in it; say so only if
                // their names are there.
                guard object.range(of: "\"pass\"") != nil || object.range(of: "\"auth_token\"") != nil else {
                    return []
                }
                return [
                    Credential(
                        kind: "nats", user: nil, redacted: "credentials (redacted; the CONNECT was not read whole)")
                ]
            }
            var found: [Credential] = []
            if let password = fields["pass"] as? String, !password.isEmpty {
                found.append(
                    Credential(
                        kind: "nats-password", user: (fields["user"] as? String).map(Self.printable),
                        redacted: secretDescription("password", password.utf8.count)))
            }
            if let token = fields["auth_token"] as? String, !token.isEmpty {
                found.append(
                    Credential(kind: "nats-token", user: nil, redacted: secretDescription("token", token.utf8.count)))
            }
            return found
        }
        return []
    }

    // MARK: - STOMP

    /// The `login` and `passcode` headers of the client's `CONNECT` or `STOMP` frame (STOMP 1.2 §Connecting): the
    /// headers run from the command's line to the first empty line; the first of a repeated header counts. CONNECT's
    /// header values are not escaped (1.2), so the passcode's length is its bytes'.
    static func stomp(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var user: String?
        var passcode: Int?
        for (index, range) in Self.lineRanges(bytes, limit: 64).enumerated() {
            if index == 0 {
                guard Self.line(bytes, range, startsWith: "connect") || Self.line(bytes, range, startsWith: "stomp")
                else { return [] }
                continue
            }
            if range.isEmpty { break }
            let line = UnsafeRawBufferPointer(rebasing: bytes[range])
            if user == nil, line.starts(with: "login:") {
                user = UnsafeRawBufferPointer(rebasing: line[6...]).printableText
            } else if passcode == nil, line.starts(with: "passcode:") {
                passcode = line.count - 9
            }
        }
        guard let passcode, passcode > 0 else { return [] }
        return [Credential(kind: "stomp", user: user, redacted: secretDescription("password", passcode))]
    }

    /// `text` with control characters escaped, as names read off the wire are shown.
    static func printable(_ text: String) -> String {
        Array(text.utf8).withUnsafeBytes { $0.printableText }
    }
}
