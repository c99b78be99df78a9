import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Throwaway instances of real application servers from Debian's packages (MariaDB, Mosquitto, slapd, Prosody,
/// RabbitMQ), each with its own configuration and data in a temporary folder, listening on 127.0.0.1 only, on
/// free ports. Each is stopped (and its folder removed) when its `PeerProcess` is released.
extension PeerProcess {
    /// Where Debian 12 installs each server (a test is skipped, with the reason, when its server is missing).
    public enum Installed {
        public static let mariadb =
            FileManager.default.isExecutableFile(atPath: "/usr/sbin/mariadbd")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/mariadb-install-db")
        public static let mosquitto = FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto")
        public static let natsServer = FileManager.default.isExecutableFile(atPath: "/usr/sbin/nats-server")
        public static let etcd = FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd")
        public static let slapd = FileManager.default.isExecutableFile(atPath: "/usr/sbin/slapd")
        public static let prosody = FileManager.default.isExecutableFile(atPath: "/usr/bin/prosody")
        public static let rabbitmq =
            FileManager.default.isExecutableFile(atPath: "/usr/lib/rabbitmq/bin/rabbitmq-server")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/epmd")
    }

    /// A fresh folder for one server, holding copies of the PKI's server chain, key and root (`server-chain.pem`,
    /// `server.key`, `ca.pem`), all owned by `owner` when the server runs as that system user (the PKI's own key
    /// is root's, mode 0600).
    static func serverFolder(_ name: String, _ pki: TestPKI, owner: String?) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bulkhead-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for file in ["server-chain.pem", "server.key", "ca.pem"] {
            try FileManager.default.copyItem(atPath: pki.path(file), toPath: folder.appendingPathComponent(file).path)
        }
        if let owner { try Self.give(folder, to: owner) }
        return folder
    }

    /// Hands a folder and everything in it to a system user (the folder itself 0700).
    static func give(_ folder: URL, to owner: String) throws {
        try FileManager.default.setAttributes(
            [.ownerAccountName: owner, .groupOwnerAccountName: owner, .posixPermissions: 0o700],
            ofItemAtPath: folder.path)
        for name in try FileManager.default.subpathsOfDirectory(atPath: folder.path) {
            try FileManager.default.setAttributes(
                [.ownerAccountName: owner, .groupOwnerAccountName: owner],
                ofItemAtPath: folder.appendingPathComponent(name).path)
        }
    }

    /// Waits until `marker` appears in what the server printed (or `file`), or throws with the output.
    func waitFor(_ marker: String, in file: URL? = nil, seconds: TimeInterval) throws {
        func text() -> String { file.flatMap { try? String(contentsOf: $0, encoding: .utf8) } ?? self.output }
        let process = self.process
        _ = Poll.holds(within: seconds) { text().contains(marker) || !process.isRunning }
        guard text().contains(marker) else {
            throw Poll.TimedOut(
                description:
                    "no \"\(marker)\" within \(Int(seconds)) s\(process.isRunning ? "" : " (the server exited)"): \(text().suffix(2000))"
            )
        }
    }

    /// Waits until a second port of the server accepts connections, or throws with the output.
    func waitForPort(_ port: Int, seconds: TimeInterval) throws {
        let process = self.process
        _ = Poll.holds(within: seconds, interval: 0.02) { Self.accepts(port) || !process.isRunning }
        guard Self.accepts(port) else {
            throw Poll.TimedOut(
                description: "port \(port) not accepting within \(Int(seconds)) s: \(self.output.suffix(2000))")
        }
    }

    /// Marks the folder for removal when the server stops.
    func removing(_ folder: URL, also: (@Sendable () -> Void)? = nil) -> PeerProcess {
        self.onStop = {
            also?()
            try? FileManager.default.removeItem(at: folder)
        }
        return self
    }

    // MARK: - MariaDB

    /// `mariadbd` with TLS (the PKI's server chain, `ssl-ca` the root) on 127.0.0.1, with a fresh data folder
    /// (`mariadb-install-db`) and `initSQL` run at start (the accounts and their `REQUIRE` clauses). It runs as the
    /// `mysql` user (it refuses root).
    public static func mariadb(_ pki: TestPKI, initSQL: String) throws -> PeerProcess {
        let folder = try Self.serverFolder("mariadb", pki, owner: "mysql")
        let data = folder.appendingPathComponent("data")
        let install = try ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/mariadb-install-db"),
            [
                "--no-defaults", "--datadir=\(data.path)", "--user=mysql", "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ], directory: folder)
        guard install.status == 0 else {
            try? FileManager.default.removeItem(at: folder)
            throw CocoaError(
                .executableLoad,
                userInfo: [
                    NSLocalizedDescriptionKey:
                        "mariadb-install-db failed: \(install.output.suffix(1000)) \(install.error.suffix(1000))"
                ])
        }
        let initFile = folder.appendingPathComponent("init.sql")
        try initSQL.write(to: initFile, atomically: false, encoding: .utf8)
        try Self.give(folder, to: "mysql")
        let port = Self.freePort()
        let errorLog = folder.appendingPathComponent("error.log")
        let server = try PeerProcess(
            "/usr/sbin/mariadbd",
            [
                "--no-defaults", "--user=mysql", "--datadir=\(data.path)", "--socket=\(folder.path)/mysqld.sock",
                "--pid-file=\(folder.path)/mysqld.pid", "--port=\(port)", "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--log-error=\(errorLog.path)", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
                "--ssl-cert=\(folder.path)/server-chain.pem", "--ssl-key=\(folder.path)/server.key",
                "--ssl-ca=\(folder.path)/ca.pem",
                "--init-file=\(initFile.path)",
            ], port: port, directory: folder, readiness: 60
        ).removing(folder)
        // The port may listen before the init file has run: the server says when it takes connections.
        try server.waitFor("ready for connections", in: errorLog, seconds: 60)
        return server
    }

    // MARK: - Mosquitto

    /// `mosquitto` with one listener on 127.0.0.1, TLS with `require_certificate` as given (or none: nil),
    /// `allow_anonymous` as given (it drops to the `mosquitto` user itself).
    public static func mosquitto(_ pki: TestPKI, requireCertificate: Bool?, allowAnonymous: Bool = true) throws
        -> PeerProcess
    {
        let folder = try Self.serverFolder("mosquitto", pki, owner: nil)
        let port = Self.freePort()
        let tls =
            requireCertificate.map {
                """
                cafile \(folder.path)/ca.pem
                certfile \(folder.path)/server-chain.pem
                keyfile \(folder.path)/server.key
                require_certificate \($0)
                """
            } ?? ""
        let configuration = """
            per_listener_settings false
            allow_anonymous \(allowAnonymous)
            persistence false
            log_dest stderr
            listener \(port) 127.0.0.1
            \(tls)

            """
        let file = folder.appendingPathComponent("mosquitto.conf")
        try configuration.write(to: file, atomically: false, encoding: .utf8)
        try Self.give(folder, to: "mosquitto")
        return try PeerProcess("/usr/sbin/mosquitto", ["-c", file.path], port: port, directory: folder, readiness: 30)
            .removing(folder)
    }

    // MARK: - nats-server

    /// How a nats-server's listener is configured: no TLS, TLS without client certificates, or TLS with `verify:
    /// true` (a client certificate from the CA required, checked in the handshake).
    public enum NATSTLS: Sendable {
        case none, serverOnly, verify
    }

    /// A nats-server on 127.0.0.1 (its configuration file in a fresh folder; it runs as root, which it allows).
    public static func natsServer(_ pki: TestPKI, tls: NATSTLS) throws -> PeerProcess {
        let folder = try Self.serverFolder("nats", pki, owner: nil)
        let port = Self.freePort()
        let certificates = "cert_file: \"\(folder.path)/server-chain.pem\", key_file: \"\(folder.path)/server.key\""
        let block =
            switch tls {
            case .none: ""
            case .serverOnly: "tls { \(certificates) }"
            case .verify: "tls { \(certificates), ca_file: \"\(folder.path)/ca.pem\", verify: true }"
            }
        let file = folder.appendingPathComponent("nats.conf")
        try "listen: \"127.0.0.1:\(port)\"\n\(block)\n".write(to: file, atomically: false, encoding: .utf8)
        return try PeerProcess(
            "/usr/sbin/nats-server", ["-c", file.path], port: port, directory: folder, readiness: 30
        )
        .removing(folder)
    }

    // MARK: - etcd

    /// A single-member etcd serving its v3 API (gRPC and its HTTP gateway, one port) over TLS on 127.0.0.1 with the
    /// PKI's server chain, as a Kubernetes control plane runs it: `--client-cert-auth` requires a client certificate
    /// from the PKI's CA in the handshake; without it, none is asked for. Its peer URL is plain HTTP on another
    /// loopback port (a single member has no peers to talk to). It runs as root, which etcd allows.
    public static func etcd(_ pki: TestPKI, clientCertAuth: Bool) throws -> PeerProcess {
        let folder = try Self.serverFolder("etcd", pki, owner: nil)
        let (client, peer) = (Self.freePort(), Self.freePort())
        var arguments = [
            "--name", "bh-test", "--data-dir", folder.appendingPathComponent("data").path,
            "--listen-client-urls", "https://127.0.0.1:\(client)",
            "--advertise-client-urls", "https://127.0.0.1:\(client)",
            "--listen-peer-urls", "http://127.0.0.1:\(peer)",
            "--initial-advertise-peer-urls", "http://127.0.0.1:\(peer)",
            "--initial-cluster", "bh-test=http://127.0.0.1:\(peer)",
            "--cert-file", folder.appendingPathComponent("server-chain.pem").path,
            "--key-file", folder.appendingPathComponent("server.key").path,
        ]
        if clientCertAuth {
            arguments += ["--client-cert-auth", "--trusted-ca-file", folder.appendingPathComponent("ca.pem").path]
        }
        return try PeerProcess("/usr/bin/etcd", arguments, port: client, directory: folder, readiness: 30)
            .removing(folder)
    }

    // MARK: - slapd

    /// A slapd with no database (the anonymous bind and StartTLS need none), LDAP and LDAPS both on 127.0.0.1,
    /// `TLSVerifyClient` as given; `requireTLS` adds `security tls=1` (operations in clear are refused with
    /// confidentialityRequired). Run in the foreground (`-d 0`) as root, which slapd allows.
    public static func slapd(_ pki: TestPKI, verifyClient: String, requireTLS: Bool) throws -> (
        server: PeerProcess, ldap: Int, ldaps: Int
    ) {
        let folder = try Self.serverFolder("slapd", pki, owner: nil)
        let (ldap, ldaps) = (Self.freePort(), Self.freePort())
        let configuration = """
            pidfile \(folder.path)/slapd.pid
            argsfile \(folder.path)/slapd.args
            TLSCACertificateFile \(folder.path)/ca.pem
            TLSCertificateFile \(folder.path)/server-chain.pem
            TLSCertificateKeyFile \(folder.path)/server.key
            TLSVerifyClient \(verifyClient)
            \(requireTLS ? "security tls=1" : "")

            """
        let file = folder.appendingPathComponent("slapd.conf")
        try configuration.write(to: file, atomically: false, encoding: .utf8)
        let server = try PeerProcess(
            "/usr/sbin/slapd",
            ["-d", "0", "-h", "ldap://127.0.0.1:\(ldap)/ ldaps://127.0.0.1:\(ldaps)/", "-f", file.path],
            port: ldap, directory: folder, readiness: 30
        ).removing(folder)
        try server.waitForPort(ldaps, seconds: 30)
        return (server, ldap, ldaps)
    }

    // MARK: - Prosody

    /// Prosody with client-to-server STARTTLS required (`c2s_require_encryption`) on one port and direct TLS on
    /// another, both on 127.0.0.1, anonymous login, for the host `svc.test`; `ssl` is the body of its `ssl = { … }`
    /// beyond the certificate, key and CA (`verify`, `verifyext`). Run as the `prosody` user (it refuses root).
    public static func prosody(_ pki: TestPKI, ssl: String) throws -> (
        server: PeerProcess, starttls: Int, directTLS: Int
    ) {
        let folder = try Self.serverFolder("prosody", pki, owner: nil)
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
        let (starttls, directTLS) = (Self.freePort(), Self.freePort())
        let configuration = """
            pidfile = "\(folder.path)/prosody.pid"
            data_path = "\(folder.path)/data"
            certificates = "\(folder.path)"
            daemonize = false
            log = { { levels = { min = "info" }, to = "console" } }
            interfaces = { "127.0.0.1" }
            local_interfaces = { "127.0.0.1" }
            c2s_ports = { \(starttls) }
            c2s_direct_tls_ports = { \(directTLS) }
            s2s_ports = { }
            component_ports = { }
            http_ports = { }
            https_ports = { }
            legacy_ssl_ports = { }
            modules_enabled = { "tls", "saslauth", "disco", "ping" }
            modules_disabled = { "s2s", "posix" }
            c2s_require_encryption = true
            authentication = "anonymous"
            ssl = {
                certificate = "\(folder.path)/server-chain.pem";
                key = "\(folder.path)/server.key";
                cafile = "\(folder.path)/ca.pem";
                \(ssl)
            }
            VirtualHost "svc.test"

            """
        let file = folder.appendingPathComponent("prosody.cfg.lua")
        try configuration.write(to: file, atomically: false, encoding: .utf8)
        try Self.give(folder, to: "prosody")
        let server = try PeerProcess(
            "/usr/bin/setpriv",
            [
                "--reuid=prosody", "--regid=prosody", "--init-groups", "--",
                "/usr/bin/prosody", "--config", file.path,
            ], port: starttls, directory: folder, readiness: 30
        ).removing(folder)
        // The ports open before the host has its certificate: a stream to svc.test before that is refused.
        try server.waitFor("svc.test:tls", seconds: 30)
        try server.waitForPort(directTLS, seconds: 30)
        return (server, starttls, directTLS)
    }

    // MARK: - RabbitMQ

    /// A RabbitMQ node with only an AMQPS listener on 127.0.0.1 and `ssl_options` `verify` / `fail_if_no_peer_cert`
    /// as given, run as the `rabbitmq` user with its own Erlang port mapper (on a free port of 127.0.0.1, stopped with
    /// the node) and distribution on 127.0.0.1. A node takes 10–60 s to boot on 2 cores.
    /// With `plainPort`, a listener without TLS on that port of 127.0.0.1 too.
    public static func rabbitmq(_ pki: TestPKI, verify: String, failIfNoPeerCert: Bool, plainPort: Int? = nil) throws
        -> PeerProcess
    {
        let folder = try Self.serverFolder("rabbitmq", pki, owner: nil)
        let (port, distribution, mapper) = (Self.freePort(), Self.freePort(), Self.freePort())
        let configuration = """
            \(plainPort.map { "listeners.tcp.default = 127.0.0.1:\($0)" } ?? "listeners.tcp = none")
            listeners.ssl.default = 127.0.0.1:\(port)
            ssl_options.cacertfile = \(folder.path)/ca.pem
            ssl_options.certfile = \(folder.path)/server-chain.pem
            ssl_options.keyfile = \(folder.path)/server.key
            ssl_options.verify = \(verify)
            ssl_options.fail_if_no_peer_cert = \(failIfNoPeerCert)

            """
        try configuration.write(to: folder.appendingPathComponent("rabbitmq.conf"), atomically: false, encoding: .utf8)
        try "".write(to: folder.appendingPathComponent("enabled_plugins"), atomically: false, encoding: .utf8)
        // The node's own cookie (Erlang reads $HOME/.erlang.cookie and wants it private).
        let cookie = folder.appendingPathComponent(".erlang.cookie")
        try UUID().uuidString.replacingOccurrences(of: "-", with: "").write(
            to: cookie, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: cookie.path)
        try Self.give(folder, to: "rabbitmq")
        let pidFile = folder.appendingPathComponent("rabbitmq.pid")
        let environment = [
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": folder.path, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "RABBITMQ_CONFIG_FILE": folder.appendingPathComponent("rabbitmq.conf").path,
            "RABBITMQ_ADVANCED_CONFIG_FILE": folder.appendingPathComponent("advanced.config").path,
            "RABBITMQ_CONF_ENV_FILE": folder.appendingPathComponent("rabbitmq-env.conf").path,
            "RABBITMQ_ENABLED_PLUGINS_FILE": folder.appendingPathComponent("enabled_plugins").path,
            "RABBITMQ_MNESIA_BASE": folder.appendingPathComponent("mnesia").path,
            "RABBITMQ_LOG_BASE": folder.appendingPathComponent("log").path, "RABBITMQ_LOGS": "-",
            "RABBITMQ_PID_FILE": pidFile.path, "RABBITMQ_NODENAME": "bulkhead\(port)@localhost",
            "RABBITMQ_DIST_PORT": "\(distribution)", "ERL_EPMD_PORT": "\(mapper)", "ERL_EPMD_ADDRESS": "127.0.0.1",
            // -noinput, which the script adds only when it forks the VM and waits on it (a SIGKILL of the script
            // would orphan the VM): with RABBITMQ_ALLOW_INPUT it execs the VM, and -noinput keeps the Erlang shell away.
            "RABBITMQ_SERVER_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1} -noinput",
            "RABBITMQ_ALLOW_INPUT": "1",
        ]
        // The VM is the process itself; its pid file is checked too, then the port mapper it started is told to
        // stop (each by its own id or port, nothing else).
        let stop: @Sendable () -> Void = {
            if let text = try? String(contentsOf: pidFile, encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
            {
                kill(pid, SIGKILL)
                _ = Poll.holds(within: 2, interval: 0.02) { Poll.exited(pid) }
            }
            _ = try? ProcessRunner.run(
                URL(fileURLWithPath: "/usr/bin/epmd"), ["-port", "\(mapper)", "-kill"],
                environment: ["ERL_EPMD_PORT": "\(mapper)"])
        }
        let server: PeerProcess
        do {
            server = try PeerProcess(
                "/usr/bin/setpriv",
                [
                    "--reuid=rabbitmq", "--regid=rabbitmq", "--init-groups", "--",
                    "/usr/lib/rabbitmq/bin/rabbitmq-server",
                ],
                port: port, directory: folder, environment: environment, readiness: 180
            ).removing(folder, also: stop)
        } catch {
            stop()
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
        try server.waitFor("Server startup complete", seconds: 60)
        return server
    }
}
