import BulkheadModel
import Foundation

/// Credentials that message-broker clients send in clear: MQTT's CONNECT, AMQP 0-9-1's Connection.StartOk (PLAIN and
/// AMQPLAIN, RabbitMQ's defaults) and NATS's `CONNECT {…}` (user and password, or a token).
extension CredentialExtractor {
    // MARK: - MQTT

    /// The user name and password of the client's CONNECT (``MQTTConnect``). A password flag whose field the capture
    /// cut off is still reported: the client sent one.
    static func mqtt(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        guard let connect = MQTTConnect(bytes), connect.hasPassword else { return [] }
        let redacted = connect.passwordLength.map { secretDescription("password", $0) } ?? "password (redacted)"
        return [Credential(kind: "mqtt", user: connect.user, redacted: redacted)]
    }

    // MARK: - AMQP 0-9-1

    /// Connection.StartOk (AMQP 0-9-1 §1.4.2.2), the client's first frame after the protocol header: its SASL
    /// mechanism and response. PLAIN's response is `authzid NUL authcid NUL password` (RFC 4616); AMQPLAIN's is a
    /// field table of `LOGIN` and `PASSWORD` written without its length. Other mechanisms (EXTERNAL: the TLS client
    /// certificate) carry no secret.
    static func amqp(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var cursor = ByteCursor(bytes)
        // The protocol header `AMQP 0 0 9 1`, then frames: type, channel, size, payload, frame-end 0xCE.
        // (0 0 9 1 and the older 1 1 0 9 / 1 1 8 0; AMQP 1.0's `AMQP 3 1 0 0` SASL layer is another protocol).
        guard let header = cursor.bytes(8), header.starts(with: "AMQP".utf8), header[4] <= 1 else { return [] }
        var frames = 0
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
            if mechanism.elementsEqual("PLAIN".utf8) {
                let parts = response.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
                // Any other shape is not split: a part named as the user could be the password.
                guard parts.count == 3, !parts[1].isEmpty else {
                    return [
                        Credential(
                            kind: "amqp-plain", user: nil, redacted: secretDescription("credentials", response.count))
                    ]
                }
                return [
                    Credential(
                        kind: "amqp-plain", user: UnsafeRawBufferPointer(rebasing: parts[1]).printableText,
                        redacted: secretDescription("password", parts[2].count))
                ]
            }
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

    /// `text` with control characters escaped, as names read off the wire are shown.
    static func printable(_ text: String) -> String {
        Array(text.utf8).withUnsafeBytes { $0.printableText }
    }
}
