import Foundation

/// What a finished process printed and returned.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var output: String
    public var error: String
}

/// Runs a program with arguments (never through a shell) and collects its output.
public enum ProcessRunner {
    /// - Parameter input: the program's standard input, closed after it (nil: inherited).
    public static func run(
        _ executable: URL, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil,
        input: String? = nil
    ) throws -> ProcessOutput {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        let standardInput = input.map { _ in Pipe() }
        if let standardInput { process.standardInput = standardInput }
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
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

private final class ErrorBuffer: @unchecked Sendable {
    var data = Data()
}
