import BulkheadModel
import BulkheadTestSupport
import Certificates
import Foundation
import Testing

/// Parses real certificates made by the `openssl` command line at test time, including the kinds strict
/// parsers refuse (RSA-1024 with SHA-1, RSA-PSS).
@Suite("Certificate parsing")
struct CertificateParserTests {
    /// Runs openssl with arguments (no shell) in `directory`.
    static func openssl(_ arguments: [String], in directory: URL) throws {
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/openssl"), arguments, directory: directory)
        guard result.status == 0 else {
            throw CocoaError(
                .executableLoad,
                userInfo: [
                    NSLocalizedDescriptionKey: "openssl \(arguments.joined(separator: " ")) failed: \(result.error)"
                ])
        }
    }

    /// Makes a self-signed certificate with `keyArguments` (for `req -newkey`) and extensions, returns its DER.
    static func certificate(key: [String], digest: String?, subject: String, extensions: [String]) throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bulkhead-cert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var arguments = [
            "req", "-x509", "-nodes", "-days", "30", "-subj", subject, "-keyout", "key.pem", "-out", "cert.pem",
        ]
        arguments += ["-newkey"] + key
        if let digest { arguments.append("-" + digest) }
        for value in extensions { arguments += ["-addext", value] }
        try openssl(arguments, in: directory)
        try openssl(["x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der"], in: directory)
        return Array(try Data(contentsOf: directory.appendingPathComponent("cert.der")))
    }

    func parse(_ der: [UInt8]) throws -> CertificateSummary {
        try der.withUnsafeBytes { try CertificateParser.parse(der: $0) }
    }

    @Test("RSA-1024 with SHA-1, SANs of every kind including a SPIFFE ID")
    func weakRSA() throws {
        let der = try Self.certificate(
            key: ["rsa:1024"], digest: "sha1", subject: "/CN=weak.test/O=Bulkhead Test",
            extensions: [
                "subjectAltName=DNS:weak.test,IP:198.18.0.5,IP:2001:2::5,URI:spiffe://bulkhead.test/ns/a/sa/b,email:ops@weak.test",
                "extendedKeyUsage=serverAuth,clientAuth", "keyUsage=digitalSignature,keyEncipherment",
            ])
        let summary = try self.parse(der)
        #expect(summary.subject == "O=Bulkhead Test,CN=weak.test")
        #expect(summary.issuer == summary.subject)
        #expect(summary.keyType == "rsa")
        #expect(summary.keyBits == 1024)
        #expect(summary.signatureAlgorithm == "sha1WithRSAEncryption")
        #expect(
            summary.sans == [
                "DNS:weak.test", "IP:198.18.0.5", "IP:2001:2::5", "URI:spiffe://bulkhead.test/ns/a/sa/b",
                "email:ops@weak.test",
            ])
        #expect(summary.spiffeIDs == ["spiffe://bulkhead.test/ns/a/sa/b"])
        #expect(summary.extendedKeyUsage == ["serverAuth", "clientAuth"])
        #expect(summary.keyUsage == ["digitalSignature", "keyEncipherment"])
        #expect(summary.selfSigned)
        #expect(summary.sha256.count == 64)
        #expect(!summary.serial.isEmpty)
    }

    @Test("EC P-256 CA certificate")
    func ecCA() throws {
        let der = try Self.certificate(
            key: ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], digest: "sha256", subject: "/CN=Bulkhead CA",
            extensions: ["basicConstraints=critical,CA:TRUE"])
        let summary = try self.parse(der)
        #expect(summary.keyType == "ec")
        #expect(summary.keyBits == 256)
        #expect(summary.curve == "prime256v1")
        #expect(summary.isCA)
        #expect(summary.signatureAlgorithm == "ecdsa-with-SHA256")
    }

    @Test("Ed25519 and RSA-PSS parse")
    func modernKeys() throws {
        let ed = try self.parse(Self.certificate(key: ["ed25519"], digest: nil, subject: "/CN=ed.test", extensions: []))
        #expect(ed.keyType == "ed25519")
        let pss = try self.parse(
            Self.certificate(
                key: ["rsa-pss", "-pkeyopt", "rsa_keygen_bits:2048"], digest: nil, subject: "/CN=pss.test",
                extensions: []))
        #expect(pss.keyType == "rsa-pss")
        #expect(pss.keyBits == 2048)
    }

    @Test("validity is judged at a given moment")
    func validity() throws {
        let summary = try self.parse(
            Self.certificate(
                key: ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], digest: "sha256", subject: "/CN=v.test",
                extensions: []))
        let notBefore = try #require(summary.notBefore)
        let notAfter = try #require(summary.notAfter)
        #expect(notAfter.seconds - notBefore.seconds == 30 * 86_400)
        #expect(summary.validity(at: Timestamp(seconds: notBefore.seconds + 10, nanoseconds: 0)) == .valid)
        #expect(summary.validity(at: Timestamp(seconds: notAfter.seconds + 1, nanoseconds: 0)) == .expired)
        #expect(summary.validity(at: Timestamp(seconds: notBefore.seconds - 1, nanoseconds: 0)) == .notYetValid)
    }

    @Test("garbage, truncated and empty input is an error, not a crash")
    func hostileInput() throws {
        let der = try Self.certificate(
            key: ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], digest: "sha256", subject: "/CN=t.test", extensions: [])
        for bytes in [
            Array(der.prefix(der.count / 2)), [UInt8](), [0x30, 0x82, 0xff, 0xff], Array("not a certificate".utf8),
        ] {
            #expect(throws: CertificateParseError.self) { try self.parse(bytes) }
        }
        var flipped = der
        for index in stride(from: 10, to: flipped.count, by: 37) { flipped[index] ^= 0xff }
        _ = try? self.parse(flipped)
    }

    @Test("the cache returns the same summary for the same bytes")
    func cache() throws {
        let der = try Self.certificate(
            key: ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], digest: "sha256", subject: "/CN=c.test", extensions: [])
        let cache = CertificateCache()
        let first = der.withUnsafeBytes { cache.summary(der: $0) }
        let second = der.withUnsafeBytes { cache.summary(der: $0) }
        #expect(try first.get() == second.get())
    }
}
