import BulkheadModel

/// A capture file that cannot be read, with the file and (where it applies) the byte offset at fault.
public struct CaptureError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem it is; stable for scripts and tests.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        /// The file does not exist or cannot be opened or mapped.
        public static let unreadable = Code("unreadable")
        /// The file is not a pcap or pcapng capture (wrong magic, or too short to have one).
        public static let notACapture = Code("not-a-capture")
        /// A record or block header is impossible (e.g. a block length that is not a multiple of 4).
        public static let malformed = Code("malformed")
        /// The file ends inside a record.
        public static let truncated = Code("truncated")
        /// A link type Bulkhead does not decode.
        public static let unsupportedLinkType = Code("unsupported-link-type")
        /// A FIFO, socket, device or folder where a capture file was expected (only standard input is read as a
        /// stream).
        public static let notARegularFile = Code("not-a-regular-file")
        /// A capture of which no packet could be decoded (``PacketCounters/nothingExamined``): read, but nothing in it
        /// was examined.
        public static let undecodable = Code("undecodable")
    }

    public var code: Code
    public var path: String
    /// Byte offset in the file where the problem was found.
    public var offset: Int?
    public var message: String

    public init(_ code: Code, path: String, offset: Int? = nil, _ message: String) {
        self.code = code
        self.path = path
        self.offset = offset
        self.message = message
    }

    /// The problem of a file whose packets (`counters`, that file's alone) could not be examined, if they could
    /// not (``PacketCounters/nothingExamined``); nil when something in it was.
    static func undecodable(_ path: String, _ counters: PacketCounters) -> CaptureError? {
        guard counters.nothingExamined else { return nil }
        let notIP = counters.other == 0 ? "" : ", \(counters.other) not IP"
        return CaptureError(
            .undecodable, path: path,
            "no packet could be decoded (\(counters.malformed) of \(counters.packets) malformed\(notIP)): nothing in it "
                + "was examined; is its link type the one its packets have?")
    }

    /// The problem as the analysis report carries it.
    public var problem: AnalysisProblem {
        AnalysisProblem(file: self.path, offset: self.offset, code: self.code.description, message: self.message)
    }

    public var description: String {
        if let offset = self.offset { return "\(self.path): \(self.message) (at byte \(offset))" }
        return "\(self.path): \(self.message)"
    }
}
