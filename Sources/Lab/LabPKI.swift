import BulkheadModel
import Foundation

/// A certificate the lab generates for a scenario.
public struct CertificateSpec: Codable, Sendable {
    /// File stem: `<name>.crt` and `<name>.key` in the scenario's PKI folder (mounted at /pki).
    public var name: String
    /// Subject common name.
    public var cn: String
    /// subjectAltName entries, OpenSSL syntax: `DNS:web.lab`, `IP:198.18.11.10`, `URI:spiffe://lab/web`.
    public var sans: [String]?
    /// `server`, `client`, `both` (extendedKeyUsage), or `none` (no EKU extension).
    public var usage: String?
    /// Validity in days; negative makes a certificate that has already expired.
    public var days: Int?
    /// `ca` (the scenario's CA, default), `rogue` (a second CA nobody trusts), or `self` (self-signed).
    public var issuer: String?
    /// `ec` (P-256, default) or `rsa:<bits>` (e.g. `rsa:1024` for a weak key).
    public var key: String?
    /// Mark the leaf CA:TRUE (a lint finding).
    public var isCA: Bool?
}

/// The scenario's PKI: a CA (and a rogue CA) and the certificates the scenario asks for.
public struct PKISpec: Codable, Sendable {
    /// The CA's common name.
    public var caName: String?
    public var certificates: [CertificateSpec]
}

/// Generates a scenario's PKI with the `openssl` command line (arguments passed as an array, never through
/// a shell). Keys are throwaway lab keys; they never leave the scenario's state folder.
public enum LabPKI {
    /// Writes `ca.crt`/`ca.key`, `rogue-ca.crt`/`rogue-ca.key` and every certificate into `directory`.
    ///
    /// - Throws: ``ScenarioError`` naming the certificate that could not be made, with openssl's message.
    public static func generate(_ spec: PKISpec, scenario: String, into directory: URL) throws(ScenarioError) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ScenarioError(
                .pki, path: scenario, message: "cannot create \(directory.path): \(error.localizedDescription)")
        }
        try self.openssl(
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=\(spec.caName ?? "\(scenario) lab CA")", "-days",
                "3650",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ],
            in: directory, what: "the CA", scenario: scenario)
        try self.openssl(
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "rogue-ca.key", "-out", "rogue-ca.crt", "-subj", "/CN=\(scenario) rogue CA", "-days", "3650",
                "-addext", "basicConstraints=critical,CA:TRUE",
            ],
            in: directory, what: "the rogue CA", scenario: scenario)
        for certificate in spec.certificates {
            try self.generate(certificate, in: directory, scenario: scenario)
        }
    }

    /// A `key` value a certificate spec may give: `ec`, or `rsa:<bits>` from 512 to 16384.
    static func isKnownKey(_ key: String) -> Bool {
        if key == "ec" { return true }
        guard key.hasPrefix("rsa:"), let bits = Int(key.dropFirst(4)) else { return false }
        return (512...16384).contains(bits)
    }

    static func generate(_ spec: CertificateSpec, in directory: URL, scenario: String) throws(ScenarioError) {
        let what = "certificate \(spec.name)"
        guard spec.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), !spec.name.isEmpty else {
            throw ScenarioError(
                .pki, path: scenario, message: "pki.certificates.\(spec.name): names use letters, digits, - and _")
        }
        var keyArguments = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        if let key = spec.key, key.hasPrefix("rsa:") {
            keyArguments = ["-newkey", key]
        }
        var extensions = ["basicConstraints=critical,CA:\(spec.isCA == true ? "TRUE" : "FALSE")"]
        switch spec.usage ?? "server" {
        case "server": extensions.append("extendedKeyUsage=serverAuth")
        case "client": extensions.append("extendedKeyUsage=clientAuth")
        case "both": extensions.append("extendedKeyUsage=serverAuth,clientAuth")
        case "none": break
        default:
            throw ScenarioError(
                .pki, path: scenario, message: "pki.certificates.\(spec.name).usage: server, client, both or none")
        }
        if let sans = spec.sans, !sans.isEmpty { extensions.append("subjectAltName=" + sans.joined(separator: ",")) }
        let extensionFile = directory.appendingPathComponent("\(spec.name).ext")
        do { try extensions.joined(separator: "\n").write(to: extensionFile, atomically: true, encoding: .utf8) } catch
        {
            throw ScenarioError(.pki, path: scenario, message: "cannot write \(extensionFile.path)")
        }
        let days = String(spec.days ?? 30)
        let issuer = spec.issuer ?? "ca"
        if issuer == "self" {
            try self.openssl(
                ["req", "-x509"] + keyArguments + [
                    "-nodes", "-keyout", "\(spec.name).key", "-out", "\(spec.name).crt",
                    "-subj", "/CN=\(spec.cn)", "-days", days, "-extensions", "v3", "-config",
                    self.configFile(directory, extensions),
                ],
                in: directory, what: what, scenario: scenario)
            return
        }
        guard issuer == "ca" || issuer == "rogue" else {
            throw ScenarioError(
                .pki, path: scenario, message: "pki.certificates.\(spec.name).issuer: ca, rogue or self")
        }
        let ca = issuer == "rogue" ? "rogue-ca" : "ca"
        try self.openssl(
            ["req", "-new"] + keyArguments + [
                "-nodes", "-keyout", "\(spec.name).key", "-out", "\(spec.name).csr",
                "-subj", "/CN=\(spec.cn)",
            ], in: directory, what: what, scenario: scenario)
        try self.openssl(
            [
                "x509", "-req", "-in", "\(spec.name).csr", "-CA", "\(ca).crt", "-CAkey", "\(ca).key", "-CAcreateserial",
                "-out", "\(spec.name).crt", "-days", days, "-extfile", extensionFile.lastPathComponent,
            ],
            in: directory, what: what, scenario: scenario)
    }

    /// A minimal config for `req -x509 -extensions v3` (self-signed certificates take extensions from it).
    static func configFile(_ directory: URL, _ extensions: [String]) -> String {
        let file = directory.appendingPathComponent("self.cnf")
        let text = "[req]\ndistinguished_name = dn\n[dn]\n[v3]\n" + extensions.joined(separator: "\n") + "\n"
        try? text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    static func openssl(_ arguments: [String], in directory: URL, what: String, scenario: String) throws(ScenarioError)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        do { try process.run() } catch {
            throw ScenarioError(
                .pki, path: scenario, message: "cannot run openssl for \(what): \(error.localizedDescription)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ScenarioError(
                .pki, path: scenario,
                message: "openssl failed making \(what): \(message.split(separator: "\n").first ?? "")")
        }
    }
}
