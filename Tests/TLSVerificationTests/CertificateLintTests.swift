import BulkheadModel
import CBulkheadOpenSSL
import Certificates
import Foundation
import Testing

@testable import TLSVerification

/// The lint on plain ``CertificateSummary`` values (as `analyze` would call it), the forged certificates, and
/// the report's JSON shape.
@Suite("Certificate lint and forged certificates")
struct CertificateLintTests {
    static let now = Timestamp(seconds: 1_800_000_000, nanoseconds: 0)

    func leaf(
        keyType: String = "ec", bits: Int = 256, curve: String? = "prime256v1", signature: String = "ecdsa-with-SHA256",
        isCA: Bool = false, selfSigned: Bool = false, days: Int64 = 90, expiresIn: Int64 = 60 * 86_400,
        sans: [String] = ["DNS:svc.test"], eku: [String] = ["serverAuth"], keyUsage: [String] = ["digitalSignature"],
        serial: String = "5A1B"
    ) -> CertificateSummary {
        let notAfter = Timestamp(seconds: Self.now.seconds + expiresIn, nanoseconds: 0)
        return CertificateSummary(
            subject: "CN=svc.test", issuer: selfSigned ? "CN=svc.test" : "CN=Issuer", sans: sans, serial: serial,
            notBefore: Timestamp(seconds: notAfter.seconds - days * 86_400, nanoseconds: 0), notAfter: notAfter,
            sha256: "ab",
            keyType: keyType, keyBits: bits, curve: curve, signatureAlgorithm: signature, isCA: isCA,
            selfSigned: selfSigned,
            keyUsage: keyUsage, extendedKeyUsage: eku)
    }

    func rules(_ certificate: CertificateSummary, _ role: CertificateLint.Role = .server) -> Set<String> {
        Set(CertificateLint.lint(certificate, role: role, at: Self.now).map(\.rule.rawValue))
    }

    @Test("a proper leaf has no issue")
    func clean() {
        #expect(self.rules(self.leaf()).isEmpty)
    }

    @Test("each defect is named")
    func defects() {
        #expect(
            self.rules(self.leaf(keyType: "rsa", bits: 1024, curve: nil, signature: "sha1WithRSAEncryption")) == [
                "weak-key", "weak-signature",
            ])
        #expect(self.rules(self.leaf(signature: "md5WithRSAEncryption")) == ["weak-signature"])
        #expect(self.rules(self.leaf(curve: "secp256k1")) == ["weak-curve"])
        #expect(self.rules(self.leaf(isCA: true)) == ["leaf-is-ca"])
        #expect(self.rules(self.leaf(selfSigned: true)) == ["self-signed"])
        #expect(self.rules(self.leaf(sans: [])) == ["missing-san"])
        #expect(self.rules(self.leaf(eku: ["clientAuth"])) == ["eku-missing-server-auth"])
        #expect(self.rules(self.leaf(eku: ["serverAuth"]), .client) == ["eku-missing-client-auth"])
        #expect(self.rules(self.leaf(eku: ["serverAuth"]), .any).isEmpty)
        #expect(self.rules(self.leaf(days: 800)) == ["long-validity"])
        #expect(self.rules(self.leaf(expiresIn: -86_400)) == ["expired"])
        #expect(self.rules(self.leaf(expiresIn: 10 * 86_400)) == ["expiring-soon"])
        #expect(self.rules(self.leaf(keyUsage: ["digitalSignature", "keyCertSign"])) == ["leaf-key-usage"])
        #expect(self.rules(self.leaf(serial: "0")) == ["serial"])
        #expect(self.rules(self.leaf(serial: "-05")) == ["serial"])
        #expect(
            self.rules(self.leaf(sans: ["URI:spiffe://a.test/x", "URI:spiffe://a.test/y"])) == ["spiffe-multiple-uri"])
    }

    @Test("chain order and issuer rules")
    func chain() {
        let leaf = self.leaf()
        var issuer = self.leaf(isCA: true, sans: [], eku: [], keyUsage: ["keyCertSign"])
        issuer.subject = "CN=Issuer"
        issuer.issuer = "CN=Root"
        #expect(CertificateLint.lint(chain: [leaf, issuer], role: .server, at: Self.now).isEmpty)
        var stranger = issuer
        stranger.subject = "CN=Stranger"
        #expect(
            CertificateLint.lint(chain: [leaf, stranger], role: .server, at: Self.now).map(\.rule) == [.chainOrder])
        var notCA = issuer
        notCA.isCA = false
        #expect(CertificateLint.lint(chain: [leaf, notCA], role: .server, at: Self.now).map(\.rule) == [.issuerNotCA])
    }

    @Test("findings: `tls` kinds from `about`; `analyze` kinds from a prefix, with the subject in the title")
    func findingNames() {
        let issues = CertificateLint.lint(chain: [self.leaf(expiresIn: -86_400)], role: .server, at: Self.now)
        let tls = CertificateLint.findings(
            issues, about: "server certificate", family: .server, location: "127.0.0.1:8443")
        #expect(tls.map(\.kind) == [FindingKind.certificate(.expired, family: .server)])
        #expect(tls.first?.title.hasPrefix("server certificate #0: expired on ") == true)
        let analyze = CertificateLint.findings(
            issues, about: "Client certificate", family: .captured, namingSubject: true, location: "198.18.1.2:443")
        #expect(analyze.map(\.kind) == [FindingKind.certificate(.expired, family: .captured)])
        #expect(analyze.first?.title.hasPrefix("Client certificate #0 (CN=svc.test): expired on ") == true)
        #expect(analyze.first?.severity == .high)
        #expect(analyze.first?.location == "198.18.1.2:443")
    }

    @Test("a placeholder for an unparseable certificate: one issue, and no chain-order guess around it")
    func unparseable() {
        let placeholder = CertificateSummary.unreadable(sha256: "ff", reason: "empty certificate")
        let issues = CertificateLint.lint(chain: [self.leaf(), placeholder], role: .server, at: Self.now)
        #expect(issues.map(\.rule) == [.unparseable])
        #expect(issues.first?.message == "could not be parsed (empty certificate)")
        #expect(issues.first?.position == 1)
    }

    @Test("identity matching: DNS with one-label wildcards, exactly one SPIFFE URI")
    func identity() {
        let wildcard = self.leaf(sans: ["DNS:*.svc.test", "URI:spiffe://a.test/x"])
        #expect(CertificateLint.matchesDNS(wildcard, name: "api.svc.test"))
        #expect(!CertificateLint.matchesDNS(wildcard, name: "a.b.svc.test"))
        #expect(!CertificateLint.matchesDNS(wildcard, name: "svc.test"))
        #expect(CertificateLint.matchesSPIFFE(wildcard, id: "spiffe://a.test/x"))
        #expect(
            !CertificateLint.matchesSPIFFE(
                self.leaf(sans: ["URI:spiffe://a.test/x", "URI:spiffe://a.test/y"]), id: "spiffe://a.test/x"))
    }

    @Test("forged certificates have exactly the defect they are meant to have")
    func forged() throws {
        let caKey = try ClientCertificateForge.ecKey()
        let now = Int64(time(nil))
        let ca = try ClientCertificateForge.certificate(
            commonName: "Forge Test CA", subjectAltName: nil, key: caKey, issuer: nil, notBefore: now - 60,
            notAfter: now + 86_400,
            extensions: [(NID_basic_constraints, "critical,CA:TRUE"), (NID_key_usage, "critical,keyCertSign")])
        let identity = ClientCertificateForge.Identity(
            commonName: "client", subjectAltName: "URI:spiffe://a.test/client")
        let forged = try ClientCertificateForge.forge(identity: identity, issuer: (ca, caKey))
        let timestamp = Timestamp(seconds: now, nanoseconds: 0)
        let rogue = try #require(forged.rogueCA.chain.first?.summary())
        #expect(rogue.issuer == "CN=Bulkhead rogue CA")
        #expect(rogue.sans == ["URI:spiffe://a.test/client"])
        #expect(rogue.extendedKeyUsage == ["clientAuth"])
        #expect(rogue.validity(at: timestamp) == .valid)
        let selfSigned = try #require(forged.selfSigned.chain.first?.summary())
        #expect(selfSigned.selfSigned)
        let expired = try #require(forged.expired?.chain.first?.summary())
        #expect(expired.issuer == "CN=Forge Test CA")
        #expect(expired.validity(at: timestamp) == .expired)
        let serverOnly = try #require(forged.serverAuthOnly?.chain.first?.summary())
        #expect(serverOnly.extendedKeyUsage == ["serverAuth"])
        let serverOnlyPath = ChainValidation.validate(chain: forged.serverAuthOnly?.chain ?? [], anchors: [ca])
        #expect(serverOnlyPath.valid)
        let roguePath = ChainValidation.validate(chain: forged.rogueCA.chain, anchors: [ca])
        #expect(!roguePath.valid)
    }

    @Test("JSON: absent values are explicit nulls, and the document reads back")
    func json() throws {
        let record = TLSProbeRecord(endpoint: "127.0.0.1:1", source: "host", probe: .plaintext, result: .unreachable)
        let report = TLSReport(
            endpoints: [
                TLSEndpointReport(
                    endpoint: "127.0.0.1:1", source: "host", verdict: .unreachable, clientAuth: .unknown,
                    authorization: nil, serverChain: nil,
                    probes: [record], findings: [])
            ], durationSeconds: 0)
        let data = try JSONEncoder().encode(report)
        let text = String(decoding: data, as: UTF8.self)
        // Stored evidence reads back unchanged (the policy stage re-evaluates it offline).
        #expect(try JSONDecoder().decode(TLSReport.self, from: data) == report)
        for key in [
            "\"alert\":null", "\"tlsVersion\":null", "\"cipher\":null", "\"acceptableCAs\":null",
            "\"serverChain\":null", "\"authorization\":null",
        ] {
            #expect(text.contains(key), "\(key) missing")
        }
        #expect(!report.complete)
    }
}
