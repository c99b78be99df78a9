import BulkheadTestSupport
import Foundation
import Testing

/// The helper every test starts programs with.
@Suite("Process runner")
struct ProcessRunnerTests {
    @Test(
        "a program that exits without reading its input: its status comes back, and the broken pipe ends nothing else (no SIGPIPE)"
    )
    func programIgnoringItsInput() throws {
        // A megabyte cannot sit in the pipe: the write is still going when /bin/true exits and its end of the pipe
        // closes. Before, SIGPIPE ended the whole test process, and every test running beside this one with it.
        let input = String(repeating: "x", count: 1 << 20)
        let run = try ProcessRunner.run(URL(fileURLWithPath: "/bin/true"), [], input: input)
        #expect(run.status == 0)
        let failing = try ProcessRunner.run(
            URL(fileURLWithPath: "/bin/sh"), ["-c", "echo refused >&2; exit 3"], input: input)
        #expect(failing.status == 3)
        #expect(failing.error == "refused\n")
    }

    @Test("a broken pipe is recognised in Foundation's error and its underlying POSIX error; other errors are not")
    func brokenPipeRecognised() {
        let posix = NSError(domain: NSPOSIXErrorDomain, code: Int(EPIPE))
        #expect(ProcessRunner.isBrokenPipe(posix))
        #expect(
            ProcessRunner.isBrokenPipe(
                NSError(domain: NSCocoaErrorDomain, code: 512, userInfo: [NSUnderlyingErrorKey: posix])))
        #expect(!ProcessRunner.isBrokenPipe(NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))))
        #expect(!ProcessRunner.isBrokenPipe(NSError(domain: NSCocoaErrorDomain, code: 512)))
    }
}
