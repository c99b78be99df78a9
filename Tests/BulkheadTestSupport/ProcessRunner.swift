import Foundation

/// What a finished process printed and returned.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var output: String
    public var error: String
}

/// How every test starts a program: with an argument list, never through a shell. ``run(_:_:environment:directory:input:)``
/// waits for it and collects its output; ``start(_:_:environment:directory:standardInput:standardOutput:standardError:)``
/// leaves it running (a server, a capture, a lock holder) for the caller to stop.
public enum ProcessRunner {
    /// Makes a write to a pipe whose reader has gone fail with `EPIPE` instead of ending the whole test process with
    /// SIGPIPE: a program the tests feed may exit before reading all its input (one that fails early), and the
    /// tests run side by side, so one such race killed every test still running. Done once, before any program
    /// starts (the TLS prober ignores SIGPIPE process-wide too).
    public static func ignoreBrokenPipes() {
        _ = Self.brokenPipesIgnored
    }

    private static let brokenPipesIgnored: Bool = {
        signal(SIGPIPE, SIG_IGN)
        return true
    }()

    /// Whether `error` is Foundation's report of a write to a pipe nobody reads any more (`EPIPE`).
    public static func isBrokenPipe(_ error: NSError) -> Bool {
        let posix = (error.domain == NSPOSIXErrorDomain) ? error : error.userInfo[NSUnderlyingErrorKey] as? NSError
        return posix?.domain == NSPOSIXErrorDomain && posix?.code == Int(EPIPE)
    }

    /// Starts a program and returns it running. Its standard streams go where the caller says (`FileHandle` or
    /// `Pipe`), by default nowhere (`/dev/null`), so a program left running never blocks on a full pipe nobody reads.
    public static func start(
        _ executable: URL, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil,
        standardInput: Any? = FileHandle.nullDevice, standardOutput: Any? = FileHandle.nullDevice,
        standardError: Any? = FileHandle.nullDevice
    ) throws -> Process {
        Self.ignoreBrokenPipes()
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        process.standardInput = standardInput
        process.standardOutput = standardOutput
        process.standardError = standardError
        try process.run()
        return process
    }

    /// Stops a program left running by ``start(_:_:environment:directory:standardInput:standardOutput:standardError:)``
    /// with `signal`, then with SIGKILL if it is still running after half of `seconds`, and returns whether it was
    /// seen to end, never waiting longer than `seconds`. Not `waitUntilExit`: Foundation was seen not to notice a
    /// child's end (the child left a zombie, and `waitUntilExit` hung the whole test run at a test's teardown).
    @discardableResult
    public static func stop(_ process: Process, signal: Int32 = SIGTERM, within seconds: TimeInterval = 10) -> Bool {
        let pid = process.processIdentifier
        // Ended: Foundation saw it, or the process is a zombie nobody reaped yet (left to Foundation), or gone.
        func ended() -> Bool {
            guard process.isRunning else { return true }
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
            // The state follows the command's closing parenthesis: "pid (comm) S ...".
            guard let close = stat.lastIndex(of: ")") else { return false }
            return stat[close...].dropFirst().trimmingCharacters(in: .whitespaces).first == "Z"
        }
        if ended() { return true }
        kill(pid, signal)
        if Poll.holds(within: seconds / 2, interval: 0.01, ended) { return true }
        kill(pid, SIGKILL)
        return Poll.holds(within: seconds / 2, interval: 0.01, ended)
    }

    /// - Parameters:
    ///   - input: the program's standard input, closed after it (nil: inherited).
    ///   - inputBytes: the same as bytes (any bytes, not only UTF-8 text); used instead of `input` when given.
    public static func run(
        _ executable: URL, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil,
        input: String? = nil, inputBytes: Data? = nil
    ) throws -> ProcessOutput {
        let input = inputBytes ?? input.map { Data($0.utf8) }
        let standardInput = input.map { _ in Pipe() }
        let output = Pipe()
        let error = Pipe()
        let process = try Self.start(
            executable, arguments, environment: environment, directory: directory,
            // nil: inherited.
            standardInput: standardInput ?? FileHandle.standardInput, standardOutput: output, standardError: error)
        if let standardInput, let input {
            do {
                try standardInput.fileHandleForWriting.write(contentsOf: input)
            } catch let error as NSError where Self.isBrokenPipe(error) {
                // The program ended without reading its input (it failed early): its status and output say why.
            }
            try? standardInput.fileHandleForWriting.close()
        }
        // Read standard error on another thread, so that neither pipe can fill up and stall the process.
        let errorData = ErrorBuffer()
        let done = DispatchSemaphore(value: 0)
        Thread {
            errorData.data = error.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }.start()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        process.waitUntilExit()
        return ProcessOutput(
            status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
            error: String(decoding: errorData.data, as: UTF8.self))
    }
}

extension ProcessRunner {
    /// A program that had to succeed and did not: the command and what it said.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String

        public init(description: String) { self.description = description }
    }

    /// Runs a program that must succeed, and returns its standard output (trimmed); throws ``Failure`` otherwise.
    @discardableResult
    public static func must(_ executable: URL, _ arguments: [String]) throws -> String {
        let run = try Self.run(executable, arguments)
        guard run.status == 0 else {
            throw Failure(
                description:
                    "\(executable.path) \(arguments.joined(separator: " ")) exited \(run.status): \(run.error)")
        }
        return run.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

private final class ErrorBuffer: @unchecked Sendable {
    var data = Data()
}
