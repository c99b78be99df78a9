import BulkheadModel

/// Finds where a plaintext protocol hands its connection over to TLS (STARTTLS, STLS, AUTH TLS, LDAP
/// StartTLS, PostgreSQL SSLRequest, MySQL's SSL capability, XMPP `<starttls/>`, IRC `STARTTLS`, NATS's TLS after
/// `INFO`).
///
/// The switch point is found by content: a TLS ClientHello record at a message boundary of the plaintext
/// protocol (after a line end for text protocols, after the fixed-size request for binary ones).
package enum StartTLSDetector {
    /// Protocols that can upgrade in place.
    static func canUpgrade(_ proto: ApplicationProtocol) -> Bool {
        switch proto {
        case .smtp, .imap, .pop3, .ftp, .ldap, .postgresql, .mysql, .xmpp, .irc, .nats: true
        default: false
        }
    }

    /// The offset in the client's stream where its TLS ClientHello starts, if it has.
    package static func clientHandover(_ proto: ApplicationProtocol, client: UnsafeRawBufferPointer) -> Int? {
        switch proto {
        case .postgresql:
            // SSLRequest (length 8, code 80877103) answered 'S', then the ClientHello.
            guard client.count > 8, PacketDecoder.be32(client, 4) == 80_877_103 else { return nil }
            return ProtocolClassifier.isTLSClientHello(UnsafeRawBufferPointer(rebasing: client[8...])) ? 8 : nil
        case .mysql:
            // A 32-byte SSLRequest packet (sequence 1, CLIENT_SSL set), then the ClientHello.
            guard client.count > 36, client[0] == 32, client[1] == 0, client[2] == 0,
                client[4] & 0x08 != 0 || client[5] & 0x08 != 0
            else { return nil }
            return ProtocolClassifier.isTLSClientHello(UnsafeRawBufferPointer(rebasing: client[36...])) ? 36 : nil
        case .ldap:
            // LDAP messages (BER SEQUENCEs) back to back, the StartTLS extended request among them (clients often
            // read the root DSE first, to see that the server offers it), then the ClientHello after one of them.
            var cursor = ByteCursor(client)
            for _ in 0..<16 {
                guard cursor.u8() == 0x30, let length = CredentialExtractor.berLength(&cursor), cursor.skip(length)
                else { return nil }
                let end = cursor.offset
                guard end < client.count else { return nil }
                if ProtocolClassifier.isTLSClientHello(UnsafeRawBufferPointer(rebasing: client[end...])) { return end }
            }
            return nil
        case .nats:
            // The client answers the server's `INFO` (which said `tls_required`) with its ClientHello at once: no
            // command comes before it.
            return ProtocolClassifier.isTLSClientHello(client) ? 0 : nil
        case .xmpp:
            // XML has no line ends to go by: the ClientHello follows the `<starttls xmlns='…xmpp-tls'/>` element
            // (RFC 6120 §5.4), after the server's `<proceed/>`.
            guard let element = client.range(of: "<starttls") else { return nil }
            return firstRecord(client, handshakeType: 0x01, after: element)
        default:
            // IRC included: `STARTTLS` answered by numeric 670, then the ClientHello after the line end.
            return recordAfterLineEnd(client, handshakeType: 0x01)
        }
    }

    /// The offset in the server's stream where its ServerHello starts, if it has.
    package static func serverHandover(_ proto: ApplicationProtocol, server: UnsafeRawBufferPointer) -> Int? {
        switch proto {
        case .postgresql:
            return server.count > 1 && server[0] == UInt8(ascii: "S")
                && ProtocolClassifier.isTLSServerHello(UnsafeRawBufferPointer(rebasing: server[1...])) ? 1 : nil
        case .mysql, .ldap:
            // After the greeting / extended response: the first ServerHello record anywhere (at the very start when
            // the server's plaintext before it was passed over).
            return firstRecord(server, handshakeType: 0x02, after: 0)
        case .xmpp:
            guard let element = server.range(of: "<proceed") else { return nil }
            return firstRecord(server, handshakeType: 0x02, after: element)
        default:
            return recordAfterLineEnd(server, handshakeType: 0x02)
        }
    }

    static func recordAfterLineEnd(_ bytes: UnsafeRawBufferPointer, handshakeType: UInt8) -> Int? {
        var index = 1
        while index + 6 <= bytes.count {
            if bytes[index] == 0x16, bytes[index - 1] == 0x0a, bytes[index + 1] == 0x03, bytes[index + 2] <= 0x04,
                bytes[index + 5] == handshakeType
            {
                return index
            }
            index += 1
        }
        return nil
    }

    static func firstRecord(_ bytes: UnsafeRawBufferPointer, handshakeType: UInt8, after start: Int) -> Int? {
        var index = start
        while index + 6 <= bytes.count {
            if bytes[index] == 0x16, bytes[index + 1] == 0x03, bytes[index + 2] <= 0x04,
                bytes[index + 5] == handshakeType
            {
                return index
            }
            index += 1
        }
        return nil
    }
}
