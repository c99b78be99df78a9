/// A problem with an input named by a path (a file, a namespace, a folder), said in one line that starts
/// with the path: `scenarios/x.yaml: networks.front.subnet …: lab networks must be …`.
public struct PathError: Error, Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(self.path): \(self.message)" }
}

/// An error of one module about one input it names (a file, an endpoint, a namespace), with a code a caller can
/// switch on, said in one line that starts with what it names. Each module names its own with its own codes
/// (`typealias TLSProbeError = CodedPathError<TLSProbeErrorCode>`), so each is a distinct type that typed throws
/// keep apart, as swift-certificates and the engine client do.
public struct CodedPathError<Code: RawRepresentable & Sendable & Hashable>: Error, CustomStringConvertible, Sendable,
    Hashable
where Code.RawValue == String {
    public var code: Code
    /// What the error is about: a file, an endpoint, a namespace.
    public var path: String
    public var message: String

    public init(_ code: Code, path: String, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { "\(self.path): \(self.message)" }
}
