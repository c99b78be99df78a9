/// An MQTT CONNECT packet, the first thing an MQTT client sends (MQTT 3.1, 3.1.1 §3.1 and 5.0 §3.1): it names the
/// protocol version and, in clear, the user name and password the client logs in with.
///
/// Parsed from the client's first bytes by ``init(_:)``, which checks the fixed header, the protocol name and level
/// (what classification rests on) and then reads the fields each flag announces, as far as the bytes go: a packet cut
/// by the inspection window or by a short capture still tells what it announced.
struct MQTTConnect {
    /// The protocol level: 3 (MQTT 3.1, protocol name `MQIsdp`), 4 (3.1.1) or 5 (5.0).
    var level: UInt8
    /// The user name, when the username flag is set and the field was captured whole.
    var user: String?
    /// Whether the password flag is set (MQTT 3.1.1 requires the username flag with it; 5.0 does not).
    var hasPassword: Bool
    /// The password's length as its field declares it, when the field's length was captured (its bytes need not be).
    var passwordLength: Int?

    /// The connect flags' bits (3.1.1 §3.1.2.3).
    private enum Flag {
        static let reserved: UInt8 = 0x01
        static let will: UInt8 = 0x04
        static let password: UInt8 = 0x40
        static let username: UInt8 = 0x80
    }

    /// Parses `bytes` as a CONNECT packet; nil when they are not one (another packet type, another protocol name or
    /// level, the reserved flag set, or too few bytes to tell).
    init?(_ bytes: UnsafeRawBufferPointer) {
        var cursor = ByteCursor(bytes)
        // Fixed header: type 1 with flags 0, then the remaining length (at most four 7-bit groups).
        guard cursor.u8() == 0x10, let remaining = Self.variableByteInteger(&cursor), remaining >= 10,
            let nameLength = cursor.u16(), let name = cursor.bytes(Int(nameLength)), let level = cursor.u8(),
            let flags = cursor.u8(), flags & Flag.reserved == 0, cursor.skip(2)  // keep alive
        else { return nil }
        // Level 3 is MQTT 3.1's `MQIsdp`; bridges may set the top bit (Mosquitto's `try_private`).
        let version = level & 0x7f
        switch version {
        case 3 where name.elementsEqual("MQIsdp".utf8): break
        case 4 where name.elementsEqual("MQTT".utf8), 5 where name.elementsEqual("MQTT".utf8): break
        default: return nil
        }
        self.level = version
        self.hasPassword = flags & Flag.password != 0
        // The payload, field by field (what a cut packet lacks stays nil): the client identifier, the will's
        // properties (5.0), topic and payload, then the user name and the password.
        if version == 5 { guard Self.skipProperties(&cursor) else { return } }
        guard Self.skipField(&cursor) else { return }
        if flags & Flag.will != 0 {
            if version == 5 { guard Self.skipProperties(&cursor) else { return } }
            guard Self.skipField(&cursor), Self.skipField(&cursor) else { return }
        }
        if flags & Flag.username != 0 {
            guard let length = cursor.u16(), let field = cursor.bytes(Int(length)) else { return }
            self.user = field.printableText
        }
        if self.hasPassword { self.passwordLength = cursor.u16().map(Int.init) }
    }

    /// An MQTT Variable Byte Integer (5.0 §1.5.5, 3.1.1's remaining length): 7 bits a byte, low first, at most four.
    static func variableByteInteger(_ cursor: inout ByteCursor) -> Int? {
        var value = 0
        for index in 0..<4 {
            guard let byte = cursor.u8() else { return nil }
            value |= Int(byte & 0x7f) << (7 * index)
            if byte & 0x80 == 0 { return value }
        }
        return nil
    }

    /// Skips a length-prefixed field (two bytes of length, then the bytes); false when it runs past the bytes.
    private static func skipField(_ cursor: inout ByteCursor) -> Bool {
        guard let length = cursor.u16() else { return false }
        return cursor.skip(Int(length))
    }

    /// Skips an MQTT 5 property list (its length, then the properties); false when it runs past the bytes.
    private static func skipProperties(_ cursor: inout ByteCursor) -> Bool {
        guard let length = Self.variableByteInteger(&cursor) else { return false }
        return cursor.skip(length)
    }
}
