import BulkheadModel
import BulkheadTestSupport
import Certificates
import Foundation
import PacketAnalysis
import Testing

/// `analyze` runs the shared ``CertificateLint`` on the certificates a capture shows: server chains as servers,
/// client chains as clients, judged at the flow's own time, folded per server like every flow finding.
@Suite("Certificate findings of analyze")
struct CertificateFindingsTests {
    static let flowTime = Timestamp(seconds: 1_800_000_000, nanoseconds: 0)

    static func certificate(
        subject: String = "CN=svc.test", issuer: String = "CN=Issuer", keyType: String = "ec", bits: Int = 256,
        curve: String? = "prime256v1", signature: String = "ecdsa-with-SHA256", isCA: Bool = false,
        selfSigned: Bool = false,
        days: Int64 = 90, expiresIn: Int64 = 60 * 86_400, sans: [String] = ["DNS:svc.test"],
        eku: [String] = ["serverAuth"],
        keyUsage: [String] = ["digitalSignature"], sha256: String? = nil
    ) -> CertificateSummary {
        // A stand-in fingerprint that differs whenever the certificate does, as a real one (a digest of the DER) would:
        // the lint cache knows certificates by their fingerprints.
        let fingerprint =
            sha256
            ?? "stand-in:\([subject, issuer, keyType, "\(bits)", curve ?? "-", signature, "\(isCA)", "\(selfSigned)", "\(days)", "\(expiresIn)"] + sans + eku + keyUsage)"
        let notAfter = Timestamp(seconds: Self.flowTime.seconds + expiresIn, nanoseconds: 0)
        return CertificateSummary(
            subject: subject, issuer: issuer, sans: sans, serial: "5A1B",
            notBefore: Timestamp(seconds: notAfter.seconds - days * 86_400, nanoseconds: 0), notAfter: notAfter,
            sha256: fingerprint,
            keyType: keyType, keyBits: bits, curve: curve, signatureAlgorithm: signature, isCA: isCA,
            selfSigned: selfSigned,
            keyUsage: keyUsage, extendedKeyUsage: eku)
    }

    /// A CA that signed `CN=svc.test`: self-signed root, CA:TRUE, keyCertSign.
    static let root = certificate(
        subject: "CN=Issuer", issuer: "CN=Issuer", keyType: "rsa", bits: 4096, curve: nil,
        signature: "sha1WithRSAEncryption",
        isCA: true, selfSigned: true, days: 3650, expiresIn: 3000 * 86_400, sans: [], eku: [],
        keyUsage: ["keyCertSign", "cRLSign"],
        sha256: "cc")

    static func flow(
        id: Int = 1, server: String = "198.18.1.2:443", at time: Timestamp = flowTime,
        serverChain: [CertificateSummary], clientChain: [CertificateSummary] = []
    ) -> FlowRecord {
        var tls = TLSSummary()
        tls.version = "1.2"
        tls.cipher = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
        tls.established = true
        tls.establishedBasis = "handshake"
        tls.certificateRequested = !clientChain.isEmpty
        tls.clientCertificate = clientChain.isEmpty ? .notRequested : .presented
        tls.serverCertificates = serverChain
        tls.clientCertificates = clientChain
        return FlowRecord(
            id: id, client: "198.18.1.1:40000", server: server, clientBasis: .syn, transport: .tcp, proto: .tls,
            encrypted: true,
            starttls: false, tls: tls, credentials: [], truncated: false, anomalies: [], firstSeen: time,
            lastSeen: time,
            packets: DirectionCounts(), bytes: DirectionCounts(), file: nil)
    }

    static func certificateFindings(_ flow: FlowRecord) -> [Finding] {
        FlowFindings.findings(for: flow).filter { $0.kind.identifier.hasPrefix("certificate-") }
    }

    @Test(
        "a proper chain gives no certificate finding; the root's own SHA-1 signature and self-signature are not faults")
    func cleanChain() {
        #expect(Self.certificateFindings(Self.flow(serverChain: [Self.certificate(), Self.root])).isEmpty)
    }

    @Test("the historical kinds keep their names, now at the lint's severities, titles naming side and subject")
    func historicalKinds() throws {
        let leaf = Self.certificate(
            subject: "CN=old.test", issuer: "CN=old.test", keyType: "rsa", bits: 1024, curve: nil,
            signature: "sha1WithRSAEncryption",
            selfSigned: true, expiresIn: -86_400)
        let findings = Self.certificateFindings(Self.flow(serverChain: [leaf]))
        #expect(
            Set(findings.map(\.kind))
                == Set<FindingKind>(
                    [.expired, .selfSigned, .weakKey, .weakSignature].map { .certificate($0, family: .captured) }))
        #expect(findings.allSatisfy { $0.severity == .high && $0.location == "198.18.1.2:443" })
        let expired = try #require(findings.first { $0.kind == .certificate(.expired, family: .captured) })
        #expect(expired.title.hasPrefix("Server certificate #0 (CN=old.test): expired on "))
        let notYet = Self.certificateFindings(
            Self.flow(serverChain: [Self.certificate(days: 30, expiresIn: 40 * 86_400)]))
        #expect(notYet.map(\.kind) == [FindingKind.certificate(.notYetValid, family: .captured)])
    }

    @Test("validity is judged at the flow's time, never at today's date; no expiring-soon for captures")
    func flowTime() {
        // Expired long before today, valid when the flow was seen (the capture is old): nothing to report.
        let old = Timestamp(seconds: 1_300_000_000, nanoseconds: 0)
        let leaf = Self.certificate(expiresIn: -(Self.flowTime.seconds - old.seconds) + 86_400)
        #expect(Self.certificateFindings(Self.flow(at: old, serverChain: [leaf])).isEmpty)
        // The same certificate in a capture taken after its notAfter.
        #expect(
            Self.certificateFindings(Self.flow(serverChain: [leaf])).map(\.kind) == [
                FindingKind.certificate(.expired, family: .captured)
            ])
        // One day before expiry at the flow's time: not reported (expiring-soon is a forecast a capture cannot act on).
        #expect(Self.certificateFindings(Self.flow(serverChain: [Self.certificate(expiresIn: 86_400)])).isEmpty)
    }

    @Test("the handshake position gives the role: serverAuth for the server's chain, clientAuth for the client's")
    func roles() {
        let clientLeaf = Self.certificate(
            subject: "CN=client.test", sans: ["URI:spiffe://a.test/client"], eku: ["clientAuth"], sha256: "bb")
        // Proper certificates on the proper sides.
        #expect(
            Self.certificateFindings(Self.flow(serverChain: [Self.certificate()], clientChain: [clientLeaf])).isEmpty)
        // Swapped: each leaf lacks the purpose of the side that presented it.
        let swapped = Self.certificateFindings(Self.flow(serverChain: [clientLeaf], clientChain: [Self.certificate()]))
        #expect(
            swapped.map(\.kind).sorted() == [
                FindingKind.certificate(.ekuMissingClientAuth, family: .captured),
                .certificate(.ekuMissingServerAuth, family: .captured),
            ])
        #expect(
            swapped.contains { $0.title.hasPrefix("Server certificate #0 (CN=client.test): ") && $0.severity == .high })
        #expect(
            swapped.contains { $0.title.hasPrefix("Client certificate #0 (CN=svc.test): ") && $0.severity == .high })
    }

    @Test("leaf rules for the leaf only; issuers get the issuer rules; chain order is checked")
    func positions() {
        // An intermediate that is not a CA, with a SHA-1 signature: issuer-not-ca and weak-signature at #1, and
        // no leaf rule (no missing SAN, no EKU) for it.
        let intermediate = Self.certificate(
            subject: "CN=Issuer", issuer: "CN=Root", signature: "sha1WithRSAEncryption", sans: [], eku: [],
            keyUsage: [], sha256: "dd")
        let findings = Self.certificateFindings(Self.flow(serverChain: [Self.certificate(), intermediate]))
        #expect(
            findings.map(\.kind).sorted() == [
                FindingKind.certificate(.issuerNotCA, family: .captured),
                .certificate(.weakSignature, family: .captured),
            ])
        #expect(findings.allSatisfy { $0.title.hasPrefix("Server certificate #1 (CN=Issuer): ") })
        // A foreign certificate after the leaf.
        var stranger = Self.root
        stranger.subject = "CN=Someone Else"
        stranger.issuer = "CN=Someone Else"
        stranger.sha256 = "stranger"
        #expect(
            Self.certificateFindings(Self.flow(serverChain: [Self.certificate(), stranger])).map(\.kind) == [
                FindingKind.certificate(.chainOrder, family: .captured)
            ])
    }

    @Test("a certificate the reader could not parse is one finding, not a dozen about fields never read")
    func unparseable() {
        let placeholder = CertificateSummary.unreadable(
            sha256: "0123456789abcdef0123", reason: "not a DER X.509 certificate")
        let findings = Self.certificateFindings(Self.flow(serverChain: [placeholder, Self.root]))
        #expect(findings.map(\.kind) == [FindingKind.certificate(.unparseable, family: .captured)])
        #expect(
            findings.first?.title
                == "Server certificate #0 (SHA-256 0123456789abcdef…): could not be parsed (not a DER X.509 certificate)"
        )
    }

    @Test("one finding per kind, server and certificate, with the flows counted")
    func folding() throws {
        let expired = Self.certificate(expiresIn: -86_400)
        var folded = FlowFindings()
        for id in [30, 10, 20] { folded.add(Self.flow(id: id, serverChain: [expired])) }
        folded.add(Self.flow(id: 40, server: "198.18.1.3:443", serverChain: [expired]))
        folded.add(
            Self.flow(
                id: 50, serverChain: [Self.certificate(subject: "CN=other.test", expiresIn: -86_400, sha256: "ee")]))
        let findings = try folded.all.filter { $0.kind == .certificate(.expired, family: .captured) }
        #expect(findings.count == 3)
        let first = try #require(findings.first { $0.location == "198.18.1.2:443" && $0.title.contains("CN=svc.test") })
        #expect(first.flowCount == 3)
        #expect(first.flowIDs == [10, 20, 30])
    }

    @Test("a real capture's certificates: valid when captured, expired or not yet valid when the flow is moved in time")
    func corpusCapture() throws {
        let path = Repository.root.appendingPathComponent("captures/tls12-mutual.pcap").path
        var flows: [FlowRecord] = []
        _ = try CaptureAnalysis.run(files: [path]) { flows.append($0) }
        let flow = try #require(flows.first)
        let server = try #require(flow.tls?.serverCertificates.first)
        #expect(Self.certificateFindings(flow).isEmpty)

        var later = flow
        later.firstSeen = Timestamp(seconds: try #require(server.notAfter).seconds + 86_400, nanoseconds: 0)
        let expired = Self.certificateFindings(later)
        #expect(
            expired.map(\.kind) == [
                FindingKind.certificate(.expired, family: .captured), .certificate(.expired, family: .captured),
            ])
        #expect(
            expired.contains {
                $0.title.hasPrefix("Server certificate #0 (CN=server.test,O=Bulkhead Test): expired on 2026-12-29")
            })
        #expect(
            expired.contains { $0.title.hasPrefix("Client certificate #0 (CN=client.test): expired on 2026-12-29") })

        var earlier = flow
        earlier.firstSeen = Timestamp(seconds: try #require(server.notBefore).seconds - 1, nanoseconds: 0)
        #expect(
            Self.certificateFindings(earlier).map(\.kind) == [
                FindingKind.certificate(.notYetValid, family: .captured), .certificate(.notYetValid, family: .captured),
            ])
    }
}

@Suite("The lint of a chain seen again")
struct CertificateLintCacheTests {
    @Test("the same chain in the same validity states gives the cached issues; after its expiry it is linted anew")
    func cache() {
        let certificate = CertificateFindingsTests.certificate(expiresIn: 86_400, sha256: "cache-test-leaf")
        let before = CertificateFindingsTests.flow(id: 1, serverChain: [certificate, CertificateFindingsTests.root])
        let after = CertificateFindingsTests.flow(
            id: 2, at: Timestamp(seconds: CertificateFindingsTests.flowTime.seconds + 2 * 86_400, nanoseconds: 0),
            serverChain: [certificate, CertificateFindingsTests.root])
        for _ in 0..<3 {
            #expect(
                !CertificateFindingsTests.certificateFindings(before).contains {
                    $0.kind == .certificate(.expired, family: .captured)
                })
            #expect(
                CertificateFindingsTests.certificateFindings(after).contains {
                    $0.kind == .certificate(.expired, family: .captured)
                })
        }
        // The same chain array (as the certificate-list cache hands out for a server's flows) presented after the
        // expiry, then before it again: found by its storage, it must still be judged at each flow's time.
        var later = before
        later.id = 3
        later.firstSeen = after.firstSeen
        later.lastSeen = after.lastSeen
        for _ in 0..<3 {
            #expect(
                CertificateFindingsTests.certificateFindings(later).contains {
                    $0.kind == .certificate(.expired, family: .captured)
                })
            #expect(
                !CertificateFindingsTests.certificateFindings(before).contains {
                    $0.kind == .certificate(.expired, family: .captured)
                })
        }
        // Another certificate (another fingerprint, as its DER differs) is linted for itself.
        var weak = certificate
        weak.sha256 = "cache-test-weak-leaf"
        weak.keyType = "rsa"
        weak.keyBits = 1024
        weak.curve = nil
        #expect(
            CertificateFindingsTests.certificateFindings(CertificateFindingsTests.flow(serverChain: [weak])).contains {
                $0.kind == .certificate(.weakKey, family: .captured)
            })
        #expect(
            !CertificateFindingsTests.certificateFindings(CertificateFindingsTests.flow(serverChain: [certificate]))
                .contains { $0.kind == .certificate(.weakKey, family: .captured) })
    }
}
