import Foundation

/// How every test waits for something to become ready: the condition itself is polled at a short interval until a
/// deadline, and a wait that runs out fails with what it waited for and what it last saw. No test sleeps for a fixed
/// time hoping the thing is ready by then (a sleep that is the point of a test says so where it stands).
public enum Poll {
    /// A wait that ran out: what was awaited, for how long, and what was last seen.
    public struct TimedOut: Error, CustomStringConvertible {
        public var description: String
    }

    /// The interval between two readings unless a caller says otherwise (seconds).
    public static let defaultInterval: TimeInterval = 0.05

    /// Polls `produce` until it returns a value, at most `seconds`; the value is returned.
    ///
    /// - Parameters:
    ///   - what: what is awaited, for the failure message ("port 8080 listening in the server's namespace").
    ///   - seconds: the deadline, from now.
    ///   - interval: the pause between two readings.
    ///   - lastSeen: what the failure message adds about the state at the deadline (a log's tail, an exit status).
    /// - Throws: ``TimedOut`` when the deadline passes; whatever `produce` throws, at once.
    @discardableResult
    public static func value<T>(
        _ what: String, seconds: TimeInterval, interval: TimeInterval = Self.defaultInterval,
        lastSeen: () -> String = { "" }, _ produce: () throws -> T?
    ) throws -> T {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let value = try produce() { return value }
            guard Date() < deadline else { break }
            Thread.sleep(forTimeInterval: interval)
        }
        let seen = lastSeen()
        throw TimedOut(
            description: "timed out after \(seconds) s waiting for \(what)\(seen.isEmpty ? "" : ": \(seen)")")
    }

    /// Polls `condition` until it holds, at most `seconds`; throws ``TimedOut`` naming `what` when it never does.
    public static func until(
        _ what: String, seconds: TimeInterval, interval: TimeInterval = Self.defaultInterval,
        lastSeen: () -> String = { "" }, _ condition: () throws -> Bool
    ) throws {
        try Self.value(what, seconds: seconds, interval: interval, lastSeen: lastSeen) { try condition() ? true : nil }
    }

    /// Whether `condition` came to hold within `seconds`, for a caller that reports the failure itself.
    public static func holds(
        within seconds: TimeInterval, interval: TimeInterval = Self.defaultInterval, _ condition: () -> Bool
    ) -> Bool {
        (try? Self.until("", seconds: seconds, interval: interval, condition)) != nil
    }

    // MARK: - Conditions

    /// Whether a TCP socket listens on `port` in the network namespace of process `pid` (read from its
    /// `/proc/<pid>/net/tcp` and `tcp6`, so it works for a namespace the test cannot enter).
    public static func listening(tcpPort port: Int, inNamespaceOf pid: pid_t) -> Bool {
        let wanted = String(format: ":%04X", port)
        for file in ["tcp", "tcp6"] {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/net/\(file)", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                // sl, local_address, rem_address, st: 0A is LISTEN.
                guard fields.count > 3 else { continue }
                if fields[1].hasSuffix(wanted) && fields[3] == "0A" { return true }
            }
        }
        return false
    }

    /// Whether process `pid` has a handler installed for `signal` (the `SigCgt` mask of `/proc/<pid>/status`): the
    /// moment a signal makes it stop its own way rather than die.
    public static func catches(_ signal: Int32, pid: pid_t) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
            let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return mask & (1 << UInt64(signal - 1)) != 0
    }

    /// Whether process `pid` has exited (or never existed): `kill(pid, 0)` finds no such process.
    public static func exited(_ pid: pid_t) -> Bool {
        kill(pid, 0) != 0 && errno == ESRCH
    }
}
