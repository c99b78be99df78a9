import BulkheadModel
import BulkheadTestSupport
import Foundation
import LiveCapture
import Testing

@testable import Audit

#if canImport(Glibc)
    import Glibc
#endif

/// What a finished audit leaves in the state directory (`AuditState`, `AuditLock`), in real folders.
@Suite("Audit state: last success and the lock")
struct AuditStateTests {
    func folder() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-state-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test("a complete live audit becomes the last success (whole seconds, one line); an incomplete one does not")
    func recordsCompleteLiveAudits() throws {
        let directory = try self.folder()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let state = AuditState(directory: directory)
        let lock = try AuditLock(stateDirectory: directory)
        var report = SampleAudit.report()
        #expect(state.record(report, holding: nil).lastSuccess == nil, "without the lock (re-judgement): nothing")
        report.complete = false
        let incomplete = state.record(report, holding: lock)
        #expect(incomplete.lastSuccess == nil && incomplete.problem == nil)
        #expect(!FileManager.default.fileExists(atPath: state.lastSuccessPath))
        report.complete = true
        let recorded = state.record(report, holding: lock, now: Date(timeIntervalSince1970: 1_795_000_000.7))
        #expect(recorded.lastSuccess == 1_795_000_000 && recorded.problem == nil)
        #expect(try String(contentsOfFile: "\(directory)/last-success", encoding: .utf8) == "1795000000\n")
        // A later incomplete run reports the earlier success and leaves it in place.
        report.complete = false
        #expect(state.record(report, holding: lock).lastSuccess == 1_795_000_000)
        withExtendedLifetime(lock) {}
    }

    @Test("a last success that cannot be written or read is a coded problem, never a crash or a made-up time")
    func problems() throws {
        let directory = try self.folder()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let state = AuditState(directory: directory)
        let lock = try AuditLock(stateDirectory: directory)
        // A folder where the file should be: it can be neither written nor read.
        try FileManager.default.createDirectory(atPath: state.lastSuccessPath, withIntermediateDirectories: false)
        let blocked = state.record(SampleAudit.report(), holding: lock)
        #expect(blocked.problem?.code == .unwritable && blocked.problem?.path == state.lastSuccessPath)
        #expect(blocked.lastSuccess == nil)
        try FileManager.default.removeItem(atPath: state.lastSuccessPath)
        try "yesterday\n".write(toFile: state.lastSuccessPath, atomically: true, encoding: .utf8)
        var report = SampleAudit.report()
        report.complete = false
        let garbled = state.record(report, holding: lock)
        #expect(garbled.problem?.code == .unreadable && garbled.lastSuccess == nil)
        #expect(throws: AuditStateError.self) { try state.lastSuccess() }
        withExtendedLifetime(lock) {}
    }

    @Test("the lock holds exactly the holder's pid, whatever a longer earlier pid left in the file")
    func lockRecordsHolder() throws {
        let directory = try self.folder()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "4194304999\n".write(toFile: "\(directory)/audit.lock", atomically: true, encoding: .utf8)
        let lock = try AuditLock(stateDirectory: directory)
        #expect(try String(contentsOfFile: lock.path, encoding: .utf8) == "\(getpid())\n")
    }
}

/// Findings about an endpoint are located one way by every stage (`FindingLocation`): accepted risks and baselines
/// match an edge's mTLS finding, the TLS battery's and the capture's alike.
@Suite("Finding locations: one spelling")
struct FindingLocationTests {
    @Test("the edges, the TLS stage and the capture locate the same endpoint with the same text")
    func agree() {
        let edge = Edge(
            source: "web", destination: "pay", address: "198.18.51.12", port: 8443, protocol: .tcp, network: "back",
            allowed: true, rule: nil, reachability: .reachable, traffic: nil, tls: nil, verdict: .unknown, reasons: [])
        let fromEdge = EdgeBuilder.endpoint(of: edge)
        let fromTLS = TLSStage.location(of: "198.18.51.12:8443", names: ["198.18.51.12": "pay"])
        var names = EndpointNames()
        names.add("198.18.51.12", "pay")
        let finding = Finding(
            kind: .plaintextFlow, title: "t", detail: "d", location: "198.18.51.12:8443")
        let fromCapture = AuditRunner.locate([finding], names: names, flows: []).first?.location
        #expect(fromEdge == "pay 198.18.51.12:8443/tcp")
        #expect(fromTLS == fromEdge && fromCapture == fromEdge)
        // IPv6: the edge brackets the address as flows write their endpoints.
        let v6 = Edge(
            source: "web", destination: "db", address: "2001:db8::5", port: 5432, protocol: .tcp, network: nil,
            allowed: nil, rule: nil, reachability: nil, traffic: nil, tls: nil, verdict: .unknown, reasons: [])
        var v6Names = EndpointNames()
        v6Names.add("2001:db8::5", "db")
        let v6Finding = Finding(kind: .plaintextFlow, title: "t", detail: "d", location: "[2001:db8::5]:5432")
        #expect(
            AuditRunner.locate([v6Finding], names: v6Names, flows: []).first?.location
                == EdgeBuilder.endpoint(of: v6))
        #expect(EdgeBuilder.endpoint(of: v6) == "db [2001:db8::5]:5432/tcp")
        // An address without a name keeps the address as its name (the TLS stage).
        #expect(TLSStage.location(of: "198.18.51.99:443", names: [:]) == "198.18.51.99 198.18.51.99:443/tcp")
    }
}
