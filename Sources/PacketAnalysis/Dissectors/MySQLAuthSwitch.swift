import BulkheadModel

/// A MySQL or MariaDB server may answer the client's HandshakeResponse with an AuthSwitchRequest (a packet of sequence
/// number 2 starting with 0xFE, then a plugin's name and its data): the login goes on with that plugin. Two of them
/// carry the password itself: `mysql_clear_password`, and MariaDB's `dialog`, which its PAM plugin uses (`IDENTIFIED
/// VIA pam`: LDAP, Kerberos or system accounts behind it), answering each of the server's questions in clear. Without
/// TLS, that password crosses as it was typed; the client's first response (a `mysql_native_password` scramble, often)
/// showed nothing of it.
extension CredentialExtractor {
    /// The passwords a client sent in clear after the server switched it to `mysql_clear_password` or `dialog`
    /// (`user`: the HandshakeResponse's). Dialog questions are `[type][prompt]`, their type's upper bits 2 for a
    /// password (1 for an ordinary question, whose answer is not reported); an empty question (the switch carries
    /// none, MariaDB's PAM plugin's first round) asks for the password.
    static func mysqlAuthSwitch(
        client: UnsafeRawBufferPointer, server: UnsafeRawBufferPointer, user: String?
    ) -> [Credential] {
        let serverPackets = Self.mysqlPackets(server)
        // The switch answers the HandshakeResponse (sequence 1): it is the server's packet 2.
        guard let switchPacket = serverPackets.first(where: { $0.sequence == 2 }), switchPacket.payload.first == 0xfe,
            switchPacket.payload.count > 1
        else { return [] }
        var cursor = ByteCursor(UnsafeRawBufferPointer(rebasing: switchPacket.payload.dropFirst()))
        guard let name = cursor.cString() else { return [] }
        let plugin: String
        if name.elementsEqual("mysql_clear_password".utf8) {
            plugin = "mysql_clear_password"
        } else if name.elementsEqual("dialog".utf8) {
            plugin = "dialog"
        } else {
            return []
        }
        let firstQuestion = cursor.bytes(cursor.remaining) ?? UnsafeRawBufferPointer(start: nil, count: 0)
        let clientPackets = Self.mysqlPackets(client)
        var credentials: [Credential] = []
        // Round by round: the client answers packet 2k with packet 2k + 1; dialog's later questions come as the
        // server's packets 4, 6… (anything else, OK or an error, ends the login).
        var question = firstQuestion
        for round in 0..<4 {
            let answerSequence = UInt8(3 + 2 * round)
            guard let answer = clientPackets.first(where: { $0.sequence == answerSequence }) else { break }
            let asksPassword =
                plugin == "mysql_clear_password" || question.isEmpty || (question[0] >> 1) == 2
            // The answer ends with a NUL (both plugins write one); an empty one (no password given) carries none.
            let length =
                answer.payload.firstIndex(of: 0).map {
                    answer.payload.distance(from: answer.payload.startIndex, to: $0)
                }
                ?? answer.payload.count
            if asksPassword && length > 0 {
                credentials.append(
                    Credential(
                        kind: "mysql-clear-password", user: user, redacted: secretDescription("password", length),
                        note: "sent in clear after the server switched the login to \(plugin)"))
            }
            guard plugin == "dialog", question.isEmpty || question[0] & 1 == 0,
                let next = serverPackets.first(where: { $0.sequence == answerSequence + 1 }),
                let type = next.payload.first, type != 0x00, type != 0xff
            else { break }
            question = next.payload
        }
        return credentials
    }

    /// MySQL packets laid back to back from the first byte (a 3-byte little-endian length, a sequence number, the
    /// payload), up to 16 of them; a packet cut short ends the list.
    static func mysqlPackets(_ bytes: UnsafeRawBufferPointer) -> [(sequence: UInt8, payload: UnsafeRawBufferPointer)] {
        var cursor = ByteCursor(bytes)
        var packets: [(sequence: UInt8, payload: UnsafeRawBufferPointer)] = []
        while packets.count < 16, let b0 = cursor.u8(), let b1 = cursor.u8(), let b2 = cursor.u8(),
            let sequence = cursor.u8(), let payload = cursor.bytes(Int(b0) | Int(b1) << 8 | Int(b2) << 16)
        {
            packets.append((sequence, payload))
        }
        return packets
    }
}
