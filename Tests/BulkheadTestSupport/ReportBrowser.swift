import Foundation

/// A real headless Chromium looking at an HTML report, through chromium-driver and selenium
/// (Tests/Browser/check_report.py): nothing scrolls sideways at 1400 px, the summary is in the first viewport, every
/// edge is in the matrix. A screenshot of each page checked is kept in `.build/test-artefacts/`.
public enum ReportBrowser {
    /// One edge as the check script reads it.
    public struct EdgeKey: Encodable, Sendable {
        public var source: String
        public var destination: String
        public var `protocol`: String
        public var port: Int
        public var verdict: String

        public init(source: String, destination: String, protocol: String, port: Int, verdict: String) {
            self.source = source
            self.destination = destination
            self.protocol = `protocol`
            self.port = port
            self.verdict = verdict
        }
    }

    public static let artefacts = Repository.path(".build/test-artefacts")

    /// ``artefacts``, created when missing (a fresh clone has none): for tests that keep files beside the screenshots.
    public static func artefactsFolder() throws -> String {
        try FileManager.default.createDirectory(atPath: Self.artefacts, withIntermediateDirectories: true)
        return Self.artefacts
    }

    /// Why the browser cannot run here, or nil when it can (scripts/install-deps.sh --test installs all three).
    public static var missing: String? {
        for path in ["/usr/bin/chromium", "/usr/bin/chromedriver"]
        where !FileManager.default.isExecutableFile(atPath: path) {
            return "\(path) is missing (scripts/install-deps.sh --test installs chromium and chromium-driver)"
        }
        let selenium = try? ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", "import selenium"])
        return selenium?.status == 0
            ? nil : "selenium is missing (scripts/install-deps.sh --test installs it from PyPI)"
    }

    /// Renders `html` and checks it; the screenshot goes to `.build/test-artefacts/NAME.png`.
    public static func check(html: String, edges: [EdgeKey], name: String) throws -> ProcessOutput {
        _ = try Self.artefactsFolder()
        let page = "\(Self.artefacts)/\(name).html", edgesFile = "\(Self.artefacts)/\(name).edges.json"
        try html.write(toFile: page, atomically: true, encoding: .utf8)
        try JSONEncoder().encode(edges).write(to: URL(fileURLWithPath: edgesFile))
        var environment = ProcessInfo.processInfo.environment
        environment["SE_OFFLINE"] = "true"
        return try ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "python3", Repository.path("Tests/Browser/check_report.py"), page, edgesFile,
                "\(Self.artefacts)/\(name).png",
            ],
            environment: environment)
    }
}
