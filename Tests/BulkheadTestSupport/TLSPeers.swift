import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway PKI made with the `openssl` command line in a temporary folder: a root, an intermediate, and
/// leaves of every kind the tests need (good and defective).
public final class TestPKI: @unchecked Sendable {
    public let directory: URL

    public init() throws {
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bulkhead-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        // A suite's PKI is often a static, which is never deinitialised.
        ScratchSpace.removeAtExit(self.directory.path)
        try self.openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "365",
            "-subj", "/CN=Bulkhead Test Root", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        try self.issue(
            "int", issuer: "ca", subject: "/CN=Bulkhead Test Intermediate",
            extensions: [
                "basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign",
            ])
    }

    deinit { try? FileManager.default.removeItem(at: self.directory) }

    public func path(_ name: String) -> String { self.directory.appendingPathComponent(name).path }

    /// Runs openssl with arguments (no shell) in the PKI folder.
    public func openssl(_ arguments: [String]) throws {
        let result = try ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/openssl"), arguments, directory: self.directory)
        guard result.status == 0 else {
            throw CocoaError(
                .executableLoad,
                userInfo: [
                    NSLocalizedDescriptionKey: "openssl \(arguments.joined(separator: " ")) failed: \(result.error)"
                ])
        }
    }

    /// Issues `NAME.pem` / `NAME.key` signed by `issuer` (`ca` or `int`), with extensions in openssl.cnf syntax.
    /// Also writes `NAME-chain.pem` (leaf + intermediate) when the issuer is the intermediate.
    @discardableResult
    public func issue(
        _ name: String, issuer: String = "int", subject: String? = nil,
        key: [String] = ["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        digest: String = "sha256", days: Int = 90, serial: String? = nil, extensions: [String]
    ) throws -> String {
        var request =
            [
                "req", "-new", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj",
                subject ?? "/CN=\(name)", "-newkey",
            ] + key
        for value in extensions { request += ["-addext", value] }
        try self.openssl(request)
        try self.openssl(
            [
                "x509", "-req", "-in", "\(name).csr", "-CA", "\(issuer).pem", "-CAkey", "\(issuer).key", "-days",
                "\(days)",
                "-\(digest)", "-copy_extensions", "copyall", "-out", "\(name).pem",
            ] + (serial.map { ["-set_serial", $0] } ?? []))
        if issuer == "int" {
            let chain =
                try String(contentsOfFile: self.path("\(name).pem"), encoding: .utf8)
                + String(contentsOfFile: self.path("int.pem"), encoding: .utf8)
            try chain.write(toFile: self.path("\(name)-chain.pem"), atomically: true, encoding: .utf8)
        }
        return self.path("\(name).pem")
    }

    /// Standard server leaf extensions with the given SANs.
    public static func server(_ sans: String = "DNS:svc.test,URI:spiffe://bulkhead.test/ns/lab/sa/server") -> [String] {
        [
            "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage=serverAuth",
            "subjectAltName=\(sans)",
        ]
    }

    /// Standard client leaf extensions for a SPIFFE identity.
    public static func client(_ id: String) -> [String] {
        [
            "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth",
            "subjectAltName=URI:spiffe://bulkhead.test/ns/lab/sa/\(id)",
        ]
    }
}

/// A real peer process on 127.0.0.1 (openssl s_server, nginx, a plaintext listener), stopped when released.
public final class PeerProcess: @unchecked Sendable {
    public let process: Process
    public let port: Int
    private let log: URL
    /// Runs after the process is killed: stops what it left behind (an Erlang port mapper) and removes its folder.
    var onStop: (@Sendable () -> Void)?

    /// Starts `executable` and waits for the port: read from its output after `marker` (the text before the
    /// port number), or given; for at most `readiness` seconds (a RabbitMQ node needs tens of seconds).
    public init(
        _ executable: String, _ arguments: [String], port: Int? = nil, portAfter marker: String? = nil,
        directory: URL? = nil,
        environment: [String: String]? = nil, readiness: TimeInterval = 10
    ) throws {
        self.log = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bulkhead-peer-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: self.log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: self.log)
        self.process = try ProcessRunner.start(
            URL(fileURLWithPath: executable), arguments, environment: environment, directory: directory,
            standardOutput: handle, standardError: handle)
        var found = port
        let process = self.process
        let log = self.log
        // Until the port accepts, or the process ended (reported below with its output).
        _ = Poll.holds(within: readiness, interval: 0.02) {
            if let marker, found == nil, let text = try? String(contentsOf: log, encoding: .utf8),
                let range = text.range(of: marker)
            {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                found = Int(digits)
            }
            if let found, Self.accepts(found) { return true }
            return !process.isRunning
        }
        guard let found, self.process.isRunning else {
            let text = (try? String(contentsOf: self.log, encoding: .utf8)) ?? ""
            kill(self.process.processIdentifier, SIGKILL)
            throw CocoaError(
                .executableLoad, userInfo: [NSLocalizedDescriptionKey: "\(executable) did not start: \(text)"])
        }
        self.port = found
    }

    deinit {
        // SIGKILL: the test runner's threads block signals and children inherit that mask, so SIGTERM would wait.
        // Bounded: Foundation once never saw a killed child exit (RabbitMQ's start script, started from a
        // concurrentPerform thread), and waitUntilExit then hung the test run at its end.
        ProcessRunner.stop(self.process, signal: SIGKILL)
        self.onStop?()
        try? FileManager.default.removeItem(at: self.log)
    }

    /// What the process printed so far (for a failure message).
    public var output: String { (try? String(contentsOf: self.log, encoding: .utf8)) ?? "" }

    public var endpoint: String { "127.0.0.1:\(self.port)" }

    /// Whether something accepts TCP connections on 127.0.0.1:port.
    public static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = in_addr(s_addr: UInt32(0x7f00_0001).bigEndian)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        } == 0
    }

    /// A port free right now on 127.0.0.1 (for servers that cannot report the port they bound).
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr = in_addr(s_addr: UInt32(0x7f00_0001).bigEndian)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// `openssl s_server -www` on an ephemeral port of 127.0.0.1 with the PKI's leaf `NAME.pem`/`NAME.key`, sending
    /// the intermediate too unless `chain` is false (s_server sends only the first certificate of `-cert`).
    public static func sServer(_ pki: TestPKI, _ name: String, chain: Bool = true, _ options: [String]) throws
        -> PeerProcess
    {
        var arguments = [
            "s_server", "-accept", "127.0.0.1:0", "-www", "-cert", pki.path("\(name).pem"), "-key",
            pki.path("\(name).key"),
        ]
        if chain { arguments += ["-cert_chain", pki.path("int.pem")] }
        // The s_server prints `ACCEPT 127.0.0.1:PORT` once listening.
        return try PeerProcess("/usr/bin/openssl", arguments + options, portAfter: "ACCEPT 127.0.0.1:")
    }

    /// nginx serving TLS on 127.0.0.1 with `ssl_verify_client` set to `verify` (on, optional, off), answering `200 ok`
    /// with the client's subject, or with `location` (the body of `location / { … }`) when given; `server` and `http` add
    /// directives to the server and http blocks.
    public static func nginx(
        _ pki: TestPKI, verify: String, protocols: String = "TLSv1.2 TLSv1.3", http2: Bool = false,
        location: String = #"return 200 "ok $ssl_client_s_dn\n";"#, server: String = "", http: String = ""
    ) throws -> PeerProcess {
        let port = Self.freePort()
        let prefix = pki.directory.appendingPathComponent("nginx-\(verify)-\(port)")
        try FileManager.default.createDirectory(
            at: prefix.appendingPathComponent("logs"), withIntermediateDirectories: true)
        let configuration = """
            daemon off;
            master_process off;
            worker_processes 1;
            pid \(prefix.path)/nginx.pid;
            error_log \(prefix.path)/logs/error.log;
            events { worker_connections 256; }
            http {
                access_log off;
                client_body_temp_path \(prefix.path)/body;
                proxy_temp_path \(prefix.path)/proxy;
                fastcgi_temp_path \(prefix.path)/fastcgi;
                uwsgi_temp_path \(prefix.path)/uwsgi;
                scgi_temp_path \(prefix.path)/scgi;
                \(http)
                server {
                    listen 127.0.0.1:\(port) ssl\(http2 ? " http2" : "");
                    ssl_certificate \(pki.path("server-chain.pem"));
                    ssl_certificate_key \(pki.path("server.key"));
                    ssl_client_certificate \(pki.path("ca.pem"));
                    ssl_trusted_certificate \(pki.path("int.pem"));
                    ssl_verify_client \(verify);
                    ssl_protocols \(protocols);
                    ssl_verify_depth 3;
                    \(server)
                    location / { \(location) }
                }
            }
            """
        try configuration.write(to: prefix.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        return try PeerProcess(
            "/usr/sbin/nginx", ["-p", prefix.path, "-c", prefix.appendingPathComponent("nginx.conf").path], port: port)
    }

    /// `openssl s_server` without `-www`, stdin closed and `-quiet`: it completes each handshake (accepting what its
    /// options accept) and then closes the connection with close_notify, whatever the client sent.
    public static func sServerClosing(_ pki: TestPKI, name: String = "server", _ options: [String]) throws
        -> PeerProcess
    {
        let arguments = [
            "s_server", "-quiet", "-accept", "127.0.0.1:0", "-cert", pki.path("\(name).pem"), "-key",
            pki.path("\(name).key"),
            "-cert_chain", pki.path("int.pem"),
        ]
        // With -quiet the port is not printed: bind a free one.
        let port = Self.freePort()
        return try PeerProcess(
            "/usr/bin/openssl", arguments.map { $0 == "127.0.0.1:0" ? "127.0.0.1:\(port)" : $0 } + options, port: port)
    }

    /// A mode of `Tests/Peers/tls_peer.py` (real Python servers: see the script for the modes), with the PKI's
    /// `server` leaf and root CA.
    public static func python(_ mode: String, _ pki: TestPKI, _ options: [String] = []) throws -> PeerProcess {
        try PeerProcess(
            "/usr/bin/python3",
            [
                "-u", Repository.path("Tests/Peers/tls_peer.py"), mode, "--cert", pki.path("server-chain.pem"),
                "--key", pki.path("server.key"), "--ca", pki.path("ca.pem"),
            ] + options, portAfter: "port ")
    }

    /// haproxy terminating TLS on 127.0.0.1 with `verify required | optional | none`, answering HTTP 200 itself.
    public static func haproxy(_ pki: TestPKI, verify: String) throws -> PeerProcess {
        let port = Self.freePort()
        let folder = pki.directory.appendingPathComponent("haproxy-\(verify)-\(port)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let combined =
            try String(contentsOfFile: pki.path("server-chain.pem"), encoding: .utf8)
            + String(contentsOfFile: pki.path("server.key"), encoding: .utf8)
        try combined.write(to: folder.appendingPathComponent("server.pem"), atomically: true, encoding: .utf8)
        let configuration = """
            global
                maxconn 256
            defaults
                mode http
                timeout connect 5s
                timeout client 10s
                timeout server 10s
            frontend tls
                bind 127.0.0.1:\(port) ssl crt \(folder.path)/server.pem ca-file \(pki.path("ca.pem")) verify \(verify)
                http-request return status 200 content-type text/plain string ok
            """
        let file = folder.appendingPathComponent("haproxy.cfg")
        try (configuration + "\n").write(to: file, atomically: true, encoding: .utf8)
        return try PeerProcess("/usr/sbin/haproxy", ["-db", "-f", file.path], port: port)
    }

    /// Apache httpd (`apache2 -X`, one process) on 127.0.0.1 with `protocol` (`TLSv1.2`, `TLSv1.3`), whose handshake
    /// asks for no client certificate: `SSLVerifyClient verify` (`require`, `optional`) applies to `<Location />` only,
    /// so the certificate is asked for once the request is read: by a renegotiation under TLS 1.2, by post-handshake
    /// authentication under TLS 1.3. Every request then gets Apache's 404 (the document root is empty).
    public static func apache(_ pki: TestPKI, protocol version: String, verify: String) throws -> PeerProcess {
        let port = Self.freePort()
        let folder = pki.directory.appendingPathComponent("apache-\(version)-\(verify)-\(port)")
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("www"), withIntermediateDirectories: true)
        let modules = "/usr/lib/apache2/modules"
        let configuration = """
            ServerRoot \(folder.path)
            PidFile \(folder.path)/httpd.pid
            Listen 127.0.0.1:\(port)
            LoadModule mpm_event_module \(modules)/mod_mpm_event.so
            LoadModule authz_core_module \(modules)/mod_authz_core.so
            LoadModule socache_shmcb_module \(modules)/mod_socache_shmcb.so
            LoadModule ssl_module \(modules)/mod_ssl.so
            User nobody
            Group nogroup
            ErrorLog \(folder.path)/error.log
            ServerName svc.test
            DocumentRoot \(folder.path)/www
            SSLEngine on
            SSLProtocol -all +\(version)
            SSLCertificateFile \(pki.path("server-chain.pem"))
            SSLCertificateKeyFile \(pki.path("server.key"))
            SSLCACertificateFile \(pki.path("ca.pem"))
            <Location />
                SSLVerifyClient \(verify)
                SSLVerifyDepth 3
            </Location>
            """
        let file = folder.appendingPathComponent("httpd.conf")
        try (configuration + "\n").write(to: file, atomically: true, encoding: .utf8)
        return try PeerProcess("/usr/sbin/apache2", ["-X", "-f", file.path], port: port)
    }

    /// redis-server with TLS only (`--tls-auth-clients yes | optional | no`).
    public static func redis(_ pki: TestPKI, authClients: String) throws -> PeerProcess {
        let port = Self.freePort()
        let folder = pki.directory.appendingPathComponent("redis-\(authClients)-\(port)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return try PeerProcess(
            "/usr/bin/redis-server",
            [
                "--port", "0", "--tls-port", "\(port)", "--bind", "127.0.0.1", "--tls-cert-file",
                pki.path("server-chain.pem"),
                "--tls-key-file", pki.path("server.key"), "--tls-ca-cert-file", pki.path("ca.pem"),
                "--tls-auth-clients", authClients,
                "--save", "", "--appendonly", "no", "--dir", folder.path,
            ], port: port)
    }

    /// A throwaway PostgreSQL cluster on 127.0.0.1 with TLS, accepting only `hostssl … clientcert=verify-full`
    /// (the certificate's CN must be the user), run as the `postgres` system user (it refuses root). Nil when
    /// PostgreSQL is not installed.
    public static func postgres(_ pki: TestPKI) throws -> PeerProcess? {
        guard
            let bin = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).sorted()
                .last
                .map({ "/usr/lib/postgresql/\($0)/bin" }),
            FileManager.default.isExecutableFile(atPath: "\(bin)/postgres")
        else { return nil }
        let port = Self.freePort()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bulkhead-pg-\(UUID().uuidString)")
        let data = folder.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        ScratchSpace.removeAtExit(folder.path)  // if the server never starts (it removes its folder when it stops)
        try FileManager.default.setAttributes(
            [.ownerAccountName: "postgres", .posixPermissions: 0o700], ofItemAtPath: folder.path)
        let asPostgres = ["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
        let setpriv = URL(fileURLWithPath: "/usr/bin/setpriv")
        let initdb = try ProcessRunner.run(
            setpriv, asPostgres + ["\(bin)/initdb", "-D", data.path, "-U", "bulkhead", "-A", "trust"], directory: folder
        )
        guard initdb.status == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "initdb failed: \(initdb.error)"])
        }
        for (source, name) in [("server-chain.pem", "server.crt"), ("server.key", "server.key"), ("ca.pem", "ca.crt")] {
            let target = data.appendingPathComponent(name).path
            try FileManager.default.copyItem(atPath: pki.path(source), toPath: target)
            try FileManager.default.setAttributes(
                [.ownerAccountName: "postgres", .posixPermissions: 0o600], ofItemAtPath: target)
        }
        let settings = """
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(folder.path)'
            ssl = on
            ssl_cert_file = 'server.crt'
            ssl_key_file = 'server.key'
            ssl_ca_file = 'ca.crt'

            """
        let configuration = data.appendingPathComponent("postgresql.conf")
        try (try String(contentsOf: configuration, encoding: .utf8) + settings).write(
            to: configuration, atomically: false, encoding: .utf8)
        try "hostssl all all 127.0.0.1/32 trust clientcert=verify-full\n".write(
            to: data.appendingPathComponent("pg_hba.conf"), atomically: false, encoding: .utf8)
        let server = try PeerProcess(
            "/usr/bin/setpriv", asPostgres + ["\(bin)/postgres", "-D", data.path], port: port, directory: folder)
        // The port accepts before the server does ("the database system is starting up"): wait until it is ready.
        try Poll.until("PostgreSQL on port \(port) ready (pg_isready)", seconds: 10, interval: 0.1) {
            try ProcessRunner.run(
                URL(fileURLWithPath: "\(bin)/pg_isready"), ["-h", "127.0.0.1", "-p", "\(port)", "-t", "1"]
            ).status == 0
        }
        return server.removing(folder)
    }

    /// A plaintext HTTP server (Python's http.server) on an ephemeral port.
    public static func plaintextHTTP() throws -> PeerProcess {
        try PeerProcess(
            "/usr/bin/env", ["python3", "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"], portAfter: "port ")
    }
}

/// A committed scenario file under another name and subnet, so that a test can stand it up while the scenario
/// tests stand up the original at the same time.
public enum ScenarioCopy {
    /// Writes the copy to a temporary file and returns its path (the caller removes it).
    public static func write(
        _ relativePath: String, name: String, replacing original: (name: String, subnetPrefix: String),
        subnetPrefix: String
    ) throws -> String {
        let text = try String(contentsOfFile: Repository.path(relativePath), encoding: .utf8)
            .replacingOccurrences(of: "name: \(original.name)\n", with: "name: \(name)\n")
            .replacingOccurrences(of: original.subnetPrefix, with: subnetPrefix)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString).yaml")
            .path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
