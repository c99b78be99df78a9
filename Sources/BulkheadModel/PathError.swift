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
