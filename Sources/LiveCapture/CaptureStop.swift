import Foundation
import Synchronization
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// The write end of the ``CaptureStop`` pipe that SIGINT/SIGTERM wake (−1: none). A signal handler may only
/// do async-signal-safe things: it loads this and `write`s one byte.
private let signalWakeDescriptor = Atomic<Int32>(-1)

/// A way to end a running capture from elsewhere: another thread (``request()``), or SIGINT/SIGTERM once
/// ``installSignalHandlers()`` is called. The capture loop polls its pipe with the interfaces, so it wakes at
/// once, stops capturing, and still writes and analyses everything captured so far.
public final class CaptureStop: Sendable {
    private let readEnd: Int32
    private let writeEnd: Int32
    private let requested = Atomic<Bool>(false)
    private let installed = Mutex<[Int32: sigaction]>([:])

    /// - Throws: ``LiveCaptureError`` when no pipe can be made (out of descriptors).
    public init() throws(LiveCaptureError) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw LiveCaptureError(.cannotCapture, "cannot create a pipe (\(SystemCallError.last("pipe")))")
        }
        // Non-blocking (a full pipe must never block a signal handler, an empty one the capture loop) and not
        // inherited by processes started meanwhile: without both, no stop pipe (and no capture).
        for end in ends {
            do throws(SystemCallError) {
                let flags = try SystemCall.retrying("fcntl(F_GETFL)") { fcntl(end, F_GETFL) }
                try SystemCall.retrying("fcntl(F_SETFL)") { fcntl(end, F_SETFL, flags | O_NONBLOCK) }
                try SystemCall.retrying("fcntl(F_SETFD)") { fcntl(end, F_SETFD, FD_CLOEXEC) }
            } catch {
                close(ends[0])
                close(ends[1])
                throw LiveCaptureError(.cannotCapture, "cannot set up the stop pipe (\(error))")
            }
        }
        self.readEnd = ends[0]
        self.writeEnd = ends[1]
    }

    deinit {
        self.removeSignalHandlers()
        close(self.readEnd)
        close(self.writeEnd)
    }

    /// Asks the capture to stop (safe from any thread; repeated calls are harmless).
    public func request() {
        self.requested.store(true, ordering: .sequentiallyConsistent)
        var byte: UInt8 = 1
        // Ignored on purpose: a full pipe (EAGAIN) already holds a wake-up, and `requested` is set either way.
        _ = write(self.writeEnd, &byte, 1)
    }

    /// Whether a stop was asked for (by ``request()`` or a signal).
    public var isRequested: Bool {
        if self.requested.load(ordering: .sequentiallyConsistent) { return true }
        var byte: UInt8 = 0
        if read(self.readEnd, &byte, 1) == 1 {
            self.requested.store(true, ordering: .sequentiallyConsistent)
            return true
        }
        return false
    }

    /// The descriptor that becomes readable when a stop is asked for (for the capture loop's poller).
    var pollDescriptor: Int32 { self.readEnd }

    /// Makes SIGINT and SIGTERM stop the capture instead of killing the process, until
    /// ``removeSignalHandlers()`` (or this object's end). Only one `CaptureStop` receives signals at a time.
    ///
    /// The handler is a C function built here, in a nonisolated library function: a closure built in `@main`
    /// or top-level code would be MainActor-isolated and trap when the kernel runs it on another thread.
    ///
    /// The calling thread also unblocks SIGINT and SIGTERM: a process inherits its parent's signal mask, and
    /// some parents (test runners, supervisors) start children with them blocked, which would leave the
    /// capture deaf to them.
    public func installSignalHandlers() {
        signalWakeDescriptor.store(self.writeEnd, ordering: .sequentiallyConsistent)
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigaddset(&unblock, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        self.installed.withLock { installed in
            for signal in [SIGINT, SIGTERM] where installed[signal] == nil {
                var action = sigaction()
                action.__sigaction_handler.sa_handler = { _ in
                    let descriptor = signalWakeDescriptor.load(ordering: .relaxed)
                    if descriptor >= 0 {
                        var byte: UInt8 = 1
                        // A signal handler has nowhere to report a failure; a full pipe already holds a wake-up.
                        _ = write(descriptor, &byte, 1)
                    }
                }
                sigemptyset(&action.sa_mask)
                action.sa_flags = SA_RESTART
                var previous = sigaction()
                if sigaction(signal, &action, &previous) == 0 { installed[signal] = previous }
            }
        }
    }

    /// Restores the signal dispositions found by ``installSignalHandlers()``.
    public func removeSignalHandlers() {
        self.installed.withLock { installed in
            for (signal, previous) in installed {
                var previous = previous
                sigaction(signal, &previous, nil)
            }
            installed.removeAll()
        }
        _ = signalWakeDescriptor.compareExchange(
            expected: self.writeEnd, desired: -1, ordering: .sequentiallyConsistent)
    }
}
