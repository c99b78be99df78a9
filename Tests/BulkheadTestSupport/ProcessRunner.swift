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
    /// Starts a program and returns it running. Its standard streams go where the caller says (`FileHandle` or
    /// `Pipe`), by default nowhere (`/dev/null`), so a program left running never blocks on a full pipe nobody reads.
    public static func start(
        _ executable: URL, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil,
        standardInput: Any? = FileHandle.nullDevice, standardOutput: Any? = FileHandle.nullDevice,
        standardError: Any? = FileHandle.nullDevice
    ) throws -> Process {
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

    /// - Parameter input: the program's standard input, closed after it (nil: inherited).
    public static func run(
        _ executable: URL, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil,
        input: String? = nil
    ) throws -> ProcessOutput {
        let standardInput = input.map { _ in Pipe() }
        let output = Pipe()
        let error = Pipe()
        let process = try Self.start(
            executable, arguments, environment: environment, directory: directory,
            // nil: inherited.
            standardInput: standardInput ?? FileHandle.standardInput, standardOutput: output, standardError: error)
        if let standardInput, let input {
            try standardInput.fileHandleForWriting.write(contentsOf: Data(input.utf8))
            try standardInput.fileHandleForWriting.close()
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
