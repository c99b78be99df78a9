/// Message-broker client messages assembled byte by byte for parser tests, each as its specification lays it out:
/// MQTT CONNECT (3.1.1 §3.1, 5.0 §3.1), AMQP 0-9-1 protocol header and Connection.StartOk, NATS INFO and CONNECT.
/// The real ones, from Mosquitto, RabbitMQ and nats-server clients, are in `captures/` (make-broker-captures.sh).
enum BrokerMessages {
    /// An MQTT Variable Byte Integer.
    static func variableByteInteger(_ value: Int) -> [UInt8] {
        var value = value
        var bytes: [UInt8] = []
        repeat {
            var byte = UInt8(value & 0x7f)
            value >>= 7
            if value > 0 { byte |= 0x80 }
            bytes.append(byte)
        } while value > 0
        return bytes
    }

    static func field(_ bytes: [UInt8]) -> [UInt8] { PacketBuilder.be16(bytes.count) + bytes }

    /// A CONNECT of protocol level 3 (`MQIsdp`), 4 or 5, with the fields its flags announce. Level 5 carries a
    /// session-expiry property, and a will-delay property when `will` is set.
    static func mqttConnect(
        level: UInt8, user: String?, password: [UInt8]?, will: Bool = false, clientID: String = "bh-test"
    ) -> [UInt8] {
        var flags: UInt8 = 0x02
        if will { flags |= 0x04 }
        if password != nil { flags |= 0x40 }
        if user != nil { flags |= 0x80 }
        var body = field(Array((level == 3 ? "MQIsdp" : "MQTT").utf8)) + [level, flags] + PacketBuilder.be16(60)
        if level == 5 { body += [5, 0x11, 0, 0, 0, 60] }  // session expiry interval: 60 s
        body += field(Array(clientID.utf8))
        if will {
            if level == 5 { body += [5, 0x18, 0, 0, 0, 5] }  // will delay interval: 5 s
            body += field(Array("status".utf8)) + field(Array("offline".utf8))
        }
        if let user { body += field(Array(user.utf8)) }
        if let password { body += field(password) }
        return [0x10] + variableByteInteger(body.count) + body
    }

    /// The AMQP 0-9-1 protocol header, then a Connection.StartOk method frame with these mechanism and response.
    static func amqpStartOk(mechanism: String, response: [UInt8]) -> [UInt8] {
        let properties =
            [UInt8(7)] + Array("product".utf8) + [UInt8(ascii: "S")] + PacketBuilder.be32(UInt32(4))
            + Array("test".utf8)
        var payload =
            PacketBuilder.be16(10) + PacketBuilder.be16(11) + PacketBuilder.be32(UInt32(properties.count)) + properties
        payload += [UInt8(mechanism.utf8.count)] + Array(mechanism.utf8)
        payload += PacketBuilder.be32(UInt32(response.count)) + response
        payload += [5] + Array("en_US".utf8)
        return Array("AMQP".utf8) + [0, 0, 9, 1] + [1] + PacketBuilder.be16(0)
            + PacketBuilder.be32(UInt32(payload.count)) + payload + [0xce]
    }

    /// AMQPLAIN's response: the entries of a field table `{LOGIN: S, PASSWORD: S}` without the table's length.
    static func amqpLoginTable(user: String, password: [UInt8]) -> [UInt8] {
        [5] + Array("LOGIN".utf8) + [UInt8(ascii: "S")] + PacketBuilder.be32(UInt32(user.utf8.count)) + Array(user.utf8)
            + [8]
            + Array("PASSWORD".utf8) + [UInt8(ascii: "S")] + PacketBuilder.be32(UInt32(password.count)) + password
    }

    /// An AMQP 1.0 SASL frame (doff 2, type 1) holding the performative `code` (0x41 sasl-init, 0x43 sasl-response)
    /// with these fields: a symbol for sasl-init's mechanism, binaries after it (nil: AMQP's null). `wide` writes the
    /// descriptor as a ulong, the list as list32 and the values with 32-bit lengths.
    static func amqp10SASLFrame(code: UInt8, fields: [[UInt8]?], symbolFirst: Bool, wide: Bool = false) -> [UInt8] {
        var elements: [UInt8] = []
        for (index, field) in fields.enumerated() {
            guard let field else {
                elements.append(0x40)
                continue
            }
            let symbol = symbolFirst && index == 0
            elements +=
                wide
                ? [symbol ? 0xb3 : 0xb0] + PacketBuilder.be32(UInt32(field.count))
                : [symbol ? 0xa3 : 0xa0, UInt8(field.count)]
            elements += field
        }
        let descriptor: [UInt8] =
            wide
            ? [0x00, 0x80] + PacketBuilder.be32(UInt32(0)) + PacketBuilder.be32(UInt32(code)) : [0x00, 0x53, code]
        let list: [UInt8] =
            wide
            ? [0xd0] + PacketBuilder.be32(UInt32(elements.count + 4)) + PacketBuilder.be32(UInt32(fields.count))
                + elements
            : [0xc0, UInt8(elements.count + 1), UInt8(fields.count)] + elements
        let body = descriptor + list
        return PacketBuilder.be32(UInt32(8 + body.count)) + [2, 1, 0, 0] + body
    }

    /// `AMQP 3 1 0 0`, then the frames.
    static func amqp10(_ frames: [UInt8]...) -> [UInt8] {
        Array("AMQP".utf8) + [3, 1, 0, 0] + frames.flatMap { $0 }
    }

    /// A STOMP client's first frame: the command, `accept-version` and `host`, these headers, an empty line, NUL.
    static func stompConnect(command: String = "STOMP", headers: [(String, [UInt8])], newline: String = "\n")
        -> [UInt8]
    {
        let end = Array(newline.utf8)
        var frame = Array(command.utf8) + end + Array("accept-version:1.2".utf8) + end + Array("host:/".utf8) + end
        for (name, value) in headers { frame += Array("\(name):".utf8) + value + end }
        return frame + end + [0]
    }

    /// A NATS server's greeting (what nats-server 2.9 sends, shortened).
    static let natsInfo =
        #"INFO {"server_id":"NTEST","version":"2.9.10","proto":1,"auth_required":true,"max_payload":1048576}"#
        + "\r\n"

    /// `CONNECT {<fields>,"verbose":false}` and a PING, as a NATS client opens.
    static func natsConnect(_ fields: [UInt8]) -> [UInt8] {
        Array("CONNECT {".utf8) + fields + Array(#","verbose":false,"protocol":1}"#.utf8) + Array("\r\nPING\r\n".utf8)
    }

    /// `bytes` as the inside of a JSON string (quote, backslash and control characters escaped).
    static func jsonEscaped(_ bytes: [UInt8]) -> [UInt8] {
        bytes.flatMap { byte -> [UInt8] in
            switch byte {
            case 0x22, 0x5c: return [0x5c, byte]
            case 0..<0x20:
                let hex = String(byte, radix: 16)
                return Array(("\\u00" + (hex.count == 1 ? "0" : "") + hex).utf8)
            default: return [byte]
            }
        }
    }
}
