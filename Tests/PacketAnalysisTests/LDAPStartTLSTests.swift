import BulkheadModel
import Testing

@testable import PacketAnalysis

/// LDAP's StartTLS: a client may send other messages before the extended request (ldap3 reads the root DSE and the
/// schema first: captures/ldap-starttls.pcap, whose whole analysis is in the capture corpus). These tests hold how far
/// the messages are walked, and that nothing else passes for a handover.
@Suite("LDAP StartTLS")
struct LDAPStartTLSTests {
    /// An LDAP message: a SEQUENCE of `body` bytes (short or long BER length).
    static func message(_ body: [UInt8]) -> [UInt8] {
        body.count < 128 ? [0x30, UInt8(body.count)] + body : [0x30, 0x82] + PacketBuilder.be16(body.count) + body
    }

    static let search = message([0x02, 0x01, 0x01, 0x63] + [UInt8](repeating: 0x04, count: 200))
    static let startTLS = message(
        [0x02, 0x01, 0x02, 0x77, 0x18, 0x80, 0x16] + Array("1.3.6.1.4.1.1466.20037".utf8))
    static let hello = TLSDissectionTests.record(0x16, TLSDissectionTests.clientHello())

    static func handover(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBytes { StartTLSDetector.clientHandover(.ldap, client: $0) }
    }

    @Test("the ClientHello after the StartTLS request, whether it comes first or after other messages")
    func afterMessages() {
        #expect(Self.handover(Self.startTLS + Self.hello) == Self.startTLS.count)
        let before = Self.search + Self.search
        #expect(Self.handover(before + Self.startTLS + Self.hello) == before.count + Self.startTLS.count)
        // Up to sixteen messages before it are walked; past them, no more.
        let sixteen = (0..<16).flatMap { _ in Self.search }
        #expect(Self.handover(sixteen + Self.hello) == sixteen.count)
        #expect(Self.handover(sixteen + Self.search + Self.hello) == nil)
    }

    static let entry = Self.message([0x02, 0x01, 0x01, 0x64] + [UInt8](repeating: 0x04, count: 1020))

    /// Entries filling `windows` inspection windows.
    static func entries(windows: Int) -> [UInt8] {
        (0..<(windows * 16_384 / Self.entry.count + 1)).flatMap { _ in Self.entry }
    }

    /// A conversation: a search answered by `before` inspection windows of entries, StartTLS with the ClientHello, the
    /// server's answer, `after` windows more of entries in clear (a server that should not), then TLS 1.2's
    /// ServerHello.
    static func conversation(before: Int, after: Int) throws -> FlowRecord {
        let extendedResponse = Self.message([0x02, 0x01, 0x02, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00])
        let serverHello = TLSDissectionTests.record(
            0x16, TLSDissectionTests.serverHello(version: 0x0303, suite: 0xc02f))
        return try analyzeConversation(
            serverPort: 389,
            [
                (true, Self.search), (false, Self.entries(windows: before)), (true, Self.startTLS + Self.hello),
                (false, extendedResponse + (after > 0 ? Self.entries(windows: after) : []) + serverHello),
            ])
    }

    @Test("the server's plaintext before its TLS start is passed over a window at a time, 64 windows at most")
    func serverPlaintext() throws {
        // Two windows of entries before the StartTLS (a directory's schema read first): the ServerHello is found.
        let schema = try Self.conversation(before: 2, after: 0)
        #expect(schema.starttls && schema.proto == .ldap)
        #expect(schema.tls?.cipher == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        // A server that goes on in clear after the client's ClientHello: two windows of it are passed over too.
        #expect(try Self.conversation(before: 0, after: 2).tls?.cipher == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        // Past 64 windows its bytes are no longer read: no ServerHello, the session not called established.
        let endless = try Self.conversation(before: 0, after: 70)
        #expect(endless.starttls)
        #expect(endless.tls?.cipher == nil && endless.tls?.established == false)
    }

    @Test("no ClientHello, a message cut short, or bytes that are no LDAP message: no handover")
    func none() {
        #expect(Self.handover(Self.search + Self.startTLS) == nil)
        #expect(Self.handover(Array((Self.search + Self.startTLS).dropLast(3)) + Self.hello) == nil)
        #expect(Self.handover([0x31, 0x02, 0, 0] + Self.hello) == nil)
        #expect(Self.handover(Self.hello) == nil)
    }
}
