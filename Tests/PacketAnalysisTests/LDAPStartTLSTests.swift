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

    @Test("no ClientHello, a message cut short, or bytes that are no LDAP message: no handover")
    func none() {
        #expect(Self.handover(Self.search + Self.startTLS) == nil)
        #expect(Self.handover(Array((Self.search + Self.startTLS).dropLast(3)) + Self.hello) == nil)
        #expect(Self.handover([0x31, 0x02, 0, 0] + Self.hello) == nil)
        #expect(Self.handover(Self.hello) == nil)
    }
}
