import BulkheadModel
import Foundation

/// A problem with the audit's state directory, naming the file.
public typealias AuditStateError = CodedPathError<AuditStateErrorCode>

/// The codes of ``AuditStateError``.
public enum AuditStateErrorCode: String, Sendable {
    /// The time of this complete audit could not be written to `last-success`.
    case unwritable
    /// `last-success` exists but cannot be read, or does not hold a Unix time.
    case unreadable
}

/// What a finished audit leaves in the state directory: `<state-dir>/last-success`, the Unix time (whole seconds, one
/// line) of the last complete live audit, which the Prometheus textfile exports. Only the holder of the run lock
/// records it (a re-judgement of stored evidence reads it, never writes it), and only for a complete report.
public struct AuditState: Sendable {
    /// The state directory (`AuditLock.defaultStateDirectory()` unless `--state-dir` names another).
    public var directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// `<state-dir>/last-success`.
    public var lastSuccessPath: String { self.directory + "/last-success" }

    /// What recording a finished audit left: the last success to report (this audit's time when it was recorded),
    /// and what went wrong, if anything, for the caller to say (the report itself is not affected).
    public struct Recorded: Sendable {
        /// Unix time of the last complete audit; nil when none is known.
        public var lastSuccess: Double?
        /// Writing this audit's time, or reading the last one, failed.
        public var problem: AuditStateError?
    }

    /// Records a finished audit: a complete `report` of an audit that holds `lock` (a live run) becomes the last
    /// success; then the last success is read back for the report's outputs.
    public func record(_ report: AuditReport, holding lock: AuditLock?, now: Date = Date()) -> Recorded {
        var problem: AuditStateError?
        if report.complete && lock != nil {
            do {
                try "\(Int(now.timeIntervalSince1970))\n".write(
                    toFile: self.lastSuccessPath, atomically: true, encoding: .utf8)
            } catch {
                problem = AuditStateError(
                    .unwritable, path: self.lastSuccessPath,
                    message: "cannot record this complete audit: \(error.localizedDescription)")
            }
        }
        do {
            return Recorded(lastSuccess: try self.lastSuccess(), problem: problem)
        } catch {
            return Recorded(lastSuccess: nil, problem: problem ?? error)
        }
    }

    /// The Unix time of the last complete audit: nil when none was ever recorded (no file).
    ///
    /// - Throws: ``AuditStateError`` (`unreadable`) when the file exists but cannot be read or holds no number.
    public func lastSuccess() throws(AuditStateError) -> Double? {
        let path = self.lastSuccessPath
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let bytes: [UInt8]
        do { bytes = try InputFile.contents(of: path, limit: 4096) } catch {
            throw AuditStateError(.unreadable, path: path, message: error.message)
        }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let seconds = Double(text), seconds.isFinite else {
            throw AuditStateError(.unreadable, path: path, message: "not a Unix time: the last success is unknown")
        }
        return seconds
    }
}
