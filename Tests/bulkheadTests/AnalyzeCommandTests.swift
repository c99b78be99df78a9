import BulkheadTestSupport
import Foundation
import Testing

/// Runs the built `bulkhead` binary like a user or a cron job would, and checks output and exit status.
@Suite("bulkhead analyze (end to end)")
struct AnalyzeCommandTests {
    static let repositoryRoot = Repository.root

    /// The `bulkhead` executable next to the test bundle.
    static var executable: URL { BulkheadExecutable.url }

    static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> ProcessOutput {
        try BulkheadExecutable.run(arguments, environment: environment)
    }

    @Test("credentials in clear: exit 1 at the default --fail-on high, and the secret is not printed")
    func findingsExitOne() throws {
        let run = try Self.run(["analyze", "captures/http-basic-auth.pcap"])
        #expect(run.status == 1)
        #expect(run.output.contains("credentials-in-cleartext"))
        #expect(run.output.contains("user=alice"))
        #expect(!run.output.contains("\u{1b}["), "no colour when not a terminal")
        let script = try String(
            contentsOf: Self.repositoryRoot.appendingPathComponent("captures/make-captures.sh"), encoding: .utf8)
        // The password the capture script used must not appear in any output.
        if let range = script.range(of: "alice:") {
            let secret = script[range.upperBound...].prefix { !$0.isWhitespace && $0 != "\"" && $0 != "'" && $0 != "@" }
            if secret.count >= 4 { #expect(!run.output.contains(secret)) }
        }
    }

    @Test("MQTT over a WebSocket: the table says mqtt, names the WebSocket, and redacts the password")
    func webSocket() throws {
        let run = try Self.run(["analyze", "captures/mqtt-websocket-password.pcap"])
        #expect(run.status == 1, "a password in clear is a high finding")
        #expect(run.output.contains(" mqtt "))
        #expect(run.output.contains("websocket /ws (mqtt)"))
        #expect(run.output.contains("credential mqtt user=app [password: 19 characters (redacted)]"))
        let script = try String(
            contentsOf: Self.repositoryRoot.appendingPathComponent("captures/make-broker-captures.sh"), encoding: .utf8)
        let password = try #require(script.firstMatch(of: /AMQP_PASS='([^']+)'/)?.1)
        #expect(!run.output.contains(password))
    }

    @Test("a Vault token in its header and an OAuth client secret in a form: the table says where, never what")
    func httpSecrets() throws {
        let vault = try Self.run(["analyze", "captures/http-vault-token.pcap"])
        #expect(vault.status == 1, "a token in clear is a high finding")
        #expect(vault.output.contains("credential http-token [token: 26 characters (redacted)] (X-Vault-Token header)"))
        let form = try Self.run(["analyze", "captures/http-form-client-secret.pcap"])
        #expect(
            form.output.contains(
                "credential http-form-secret user=orders [secret: 27 characters (redacted)] (client_secret in a form body)"
            ))
        let script = try String(
            contentsOf: Self.repositoryRoot.appendingPathComponent("captures/make-captures.sh"), encoding: .utf8)
        for name in ["VAULT_TOKEN", "CLIENT_SECRET"] {
            let secret = try #require(script.firstMatch(of: try Regex("\(name)='([^']+)'"))?.output[1].substring)
            #expect(!vault.output.contains(String(secret)) && !form.output.contains(String(secret)))
        }
    }

    @Test("a real dockerd answering the docker CLI on 2375 in clear: a critical finding, the engine in the notes")
    func containerEngineAPI() throws {
        let run = try Self.run(["analyze", "captures/docker-api-plaintext.pcap"])
        #expect(run.status == 1)
        #expect(run.output.contains("docker engine API 1.41 (Docker/20.10.24+dfsg1 (linux))"))
        #expect(
            run.output.contains(
                "CRITICAL container-engine-api-in-clear: Docker Engine API 1.41 answered in clear at 198.18.1.2:2375"))
        let gated = try Self.run(["analyze", "--fail-on", "critical", "captures/docker-api-plaintext.pcap"])
        #expect(gated.status == 1, "critical is at or above the threshold")
    }

    @Test("a real etcd answering etcdctl in clear: a critical finding, the cluster and methods, secrets redacted")
    func etcdAPI() throws {
        let table = try Self.run(["analyze", "captures/etcd-auth-password.pcap"])
        #expect(table.status == 1)
        #expect(
            table.output.contains("etcd API (cluster 1c45a069f3a1d796) Auth/Authenticate; credential etcd-password"))
        #expect(table.output.contains("CRITICAL etcd-api-in-clear: etcd API answered in clear at 198.18.1.2:2379"))
        let json = try Self.run(["analyze", "--format", "json", "captures/etcd-auth-password.pcap"])
        #expect(
            json.output.contains(
                #""etcdAPI":{"clusterID":"1c45a069f3a1d796","interface":"client","memberID":"b71f75320dc06a6c""#))
        // Two members replicating over their peer API: the peer finding, both ways.
        let peers = try Self.run(["analyze", "captures/etcd-peer-plaintext.pcap"])
        #expect(peers.status == 1)
        #expect(peers.output.contains("etcd peer API (cluster 85d7a70557957495) GET /raft/stream/msgapp/"))
        #expect(
            peers.output.contains(
                "CRITICAL etcd-peer-traffic-in-clear: etcd peer traffic in clear to 198.18.1.2:2380")
                && peers.output.contains("etcd peer traffic in clear to 198.18.1.1:2380"))
        let script = try String(
            contentsOf: Self.repositoryRoot.appendingPathComponent("captures/make-captures.sh"), encoding: .utf8)
        for name in ["ETCD_PASS", "ETCD_VALUE"] {
            let secret = try #require(script.firstMatch(of: try Regex("\(name)='([^']+)'"))?.output[1].substring)
            #expect(!table.output.contains(String(secret)) && !json.output.contains(String(secret)))
        }
        // A gRPC server that is not etcd, called by etcdctl; a dockerd that requires TLS, asked in clear.
        for capture in ["etcd-call-to-other-grpc", "docker-api-tlsverify-refuses-plaintext"] {
            let run = try Self.run(["analyze", "--format", "json", "captures/\(capture).pcap"])
            #expect(run.status == 0, "\(capture): a medium finding only")
            #expect(!run.output.contains("etcdAPI") && !run.output.contains("containerEngineAPI"), "\(capture)")
        }
    }

    @Test("a SOCKS 5 tunnel: the inner TLS is attributed to the destination, the proxy password is redacted")
    func socksTunnel() throws {
        let run = try Self.run(["analyze", "captures/socks5-password-tls12-mutual.pcap"])
        #expect(run.status == 1, "a password in clear is a high finding")
        #expect(run.output.contains("tunnel socks5 to backend.test:8443"))
        #expect(run.output.contains("TLS 1.2"))
        #expect(run.output.contains("sni=backend.test"))
        #expect(run.output.contains("presented (CN=client.test)"))
        #expect(
            run.output.contains("credential socks5-username-password user=bob [password: 20 characters (redacted)]"))
        #expect(run.output.contains("backend.test:8443 via 198.19.210.2:1080"))
        let script = try String(
            contentsOf: Self.repositoryRoot.appendingPathComponent("captures/make-tunnel-captures.sh"), encoding: .utf8)
        let secret = try #require(script.split(separator: "\n").first { $0.hasPrefix("SOCKS_PASS=") })
            .dropFirst("SOCKS_PASS=".count).trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
        #expect(secret.count >= 8)
        #expect(!run.output.contains(secret))

        let json = try Self.run(["analyze", "--format", "json", "captures/socks5-password-tls12-mutual.pcap"])
        #expect(!json.output.contains(secret))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        let flow = try #require((document["flows"] as? [[String: Any]])?.first)
        let tunnel = try #require(flow["tunnel"] as? [String: Any])
        #expect(tunnel["destination"] as? String == "backend.test:8443")
        #expect(tunnel["proxy"] as? String == "198.19.210.2:1080")
        #expect((flow["tls"] as? [String: Any])?["clientCertificate"] as? String == "presented")
    }

    @Test("inside VXLAN: the credential is found (and not printed), the table names the tunnel, the JSON carries it")
    func vxlan() throws {
        let table = try Self.run(["analyze", "captures/vxlan-http-basic-auth.pcap"])
        #expect(table.status == 1)
        #expect(table.output.contains("198.19.41.1:") && table.output.contains("198.19.41.2:8080"))
        #expect(table.output.contains("vxlan 42 198.19.40.1→198.19.40.2"))
        #expect(table.output.contains("credential http-basic user=alice"))
        #expect(table.output.contains("credentials-in-cleartext"))
        let script = try String(
            contentsOf: Self.repositoryRoot.appendingPathComponent("captures/make-encap-captures.sh"), encoding: .utf8)
        let password = try #require(
            script.split(separator: "\n").first { $0.hasPrefix("HTTP_PASS=") }?.split(separator: "'").dropFirst().first)
        #expect(password.count >= 8)
        let json = try Self.run(["analyze", "--format", "json", "captures/vxlan-http-basic-auth.pcap"])
        for output in [table.output, json.output] { #expect(!output.contains(password)) }
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        let flow = try #require((document["flows"] as? [[String: Any]])?.first)
        let layers = try #require(flow["encapsulation"] as? [[String: Any]])
        #expect(layers.count == 1)
        #expect(layers.first?["kind"] as? String == "vxlan" && layers.first?["id"] as? Int == 42)
        #expect(
            layers.first?["source"] as? String == "198.19.40.1"
                && layers.first?["destination"] as? String == "198.19.40.2")
    }

    @Test("--fail-on critical makes the same capture exit 0")
    func failOn() throws {
        #expect(try Self.run(["analyze", "--fail-on", "critical", "captures/http-basic-auth.pcap"]).status == 0)
    }

    @Test("JSON has the documented keys")
    func json() throws {
        let run = try Self.run(["analyze", "--format", "json", "captures/tls12-mutual.pcap"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        let flows = try #require(document["flows"] as? [[String: Any]])
        let flow = try #require(flows.first)
        for key in [
            "client", "server", "transport", "protocol", "encrypted", "starttls", "tls", "credentials", "truncated",
        ] {
            #expect(flow[key] != nil, "flow key \(key)")
        }
        // Written only for flows that have them.
        #expect(flow["encapsulation"] == nil && flow["esp"] == nil)
        let tls = try #require(flow["tls"] as? [String: Any])
        for key in [
            "version", "sni", "alpn", "cipher", "established", "clientCertificate", "serverCertificates",
            "clientCertificates",
        ] {
            #expect(tls[key] != nil, "tls key \(key)")
        }
        let certificate = try #require((tls["clientCertificates"] as? [[String: Any]])?.first)
        for key in [
            "subject", "issuer", "sans", "notBefore", "notAfter", "sha256", "keyType", "keyBits", "signatureAlgorithm",
        ] {
            #expect(certificate[key] != nil, "certificate key \(key)")
        }
        #expect(document["summary"] is [String: Any])
        #expect(document["findings"] is [Any])
    }

    @Test("JSON Lines: one flow per line, then findings, then the summary")
    func jsonLines() throws {
        let run = try Self.run(["analyze", "--format", "jsonl", "captures/"])
        let lines = run.output.split(separator: "\n")
        #expect(lines.count > 20)
        var types: [String] = []
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            types.append(object["type"] as? String ?? "?")
        }
        #expect(types.last == "summary")
        #expect(types.first == "flow")
    }

    @Test(
        "JSON Lines to standard output redirected to a file (lines gathered per lane) are the lines a pipe gets (one write per flow)"
    )
    func jsonLinesRedirected() throws {
        let arguments = ["analyze", "--format", "jsonl", "--threads", "2", "--sharding-threshold", "0", "captures/"]
        let piped = try Self.run(arguments)
        let folder = try HostileOutputTests.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/redirected.jsonl"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let redirected = try HostileOutputTests.run(arguments, stdoutPath: path)
        #expect(redirected.status == piped.status)
        let written = try String(contentsOfFile: path, encoding: .utf8)
        // Flows come in the order lanes end them; the findings and the summary (which holds the run's duration) follow.
        let summary = #""type":"summary""#
        let lines = { (text: String) in text.split(separator: "\n").map(String.init) }
        let records = { (text: String) in lines(text).filter { !$0.contains(summary) }.sorted() }
        #expect(lines(written).count > 20)
        #expect(records(written) == records(piped.output))
        #expect(lines(written).last?.contains(summary) == true)
        #expect(lines(written).filter { $0.contains(summary) }.count == 1)
    }

    @Test("input errors: one line naming the file, exit 2")
    func inputErrors() throws {
        let notCapture = try Self.run(["analyze", "README.md"])
        #expect(notCapture.status == 2)
        #expect(notCapture.error.contains("README.md"))
        #expect(notCapture.error.contains("not a capture"))
        let missing = try Self.run(["analyze", "/nonexistent.pcap"])
        #expect(missing.status == 2)
        #expect(missing.error.contains("/nonexistent.pcap"))
        let usage = try Self.run(["analyze", "--format", "yaml", "captures/"])
        #expect(usage.status == 2)
        let noArgument = try Self.run(["analyze"])
        #expect(noArgument.status == 2)
    }

    @Test("--output writes the report atomically to the file")
    func outputFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bulkhead-\(UUID().uuidString).json")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try Self.run(["analyze", "--format", "json", "--output", path, "captures/tls13-mutual.pcap"])
        #expect(run.output.isEmpty)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(try JSONSerialization.jsonObject(with: data) is [String: Any])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: FileManager.default.temporaryDirectory.path)
            .filter { $0.hasSuffix(".tmp") && $0.contains("bulkhead") }
        #expect(leftovers.isEmpty)
    }

    @Test("libpcap and mmap readers give the same flows")
    func readersAgree() throws {
        let viaMap = try Self.run(["analyze", "--format", "json", "captures/"])
        let viaLibpcap = try Self.run(["analyze", "--format", "json", "--reader", "libpcap", "captures/"])
        func flows(_ text: String) throws -> [String] {
            let document = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            return (document["flows"] as? [[String: Any]] ?? []).map {
                "\($0["client"]!) \($0["server"]!) \($0["protocol"]!)"
            }
        }
        #expect(try flows(viaMap.output) == flows(viaLibpcap.output))
    }

    @Test(
        "table, json and jsonl: one, two or three analysis lanes, findings held or written out, give the same report byte for byte (the same lines for jsonl); flows in id order; nothing left behind"
    )
    func documentIsDeterministic() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-doc-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var documents: [String] = []
        var lineSets: [[Substring]] = []
        var tables: [String] = []
        var statuses: [Int32] = []
        // `--sharding-threshold 0` shares even these small captures out to the lanes, each with its own spool writer
        // and line buffer. `--spill-findings-past N` has each lane write its findings out to a scratch file beside the
        // report whenever it holds N, and sorts them into the report's order N at a time, through the scratch file.
        let runs = [("1", nil), ("2", nil), ("3", nil), ("2", "1"), ("1", "3"), ("3", "7")]
        for (threads, spill) in runs {
            let name = "analysis-\(threads)\(spill.map { "-spill-\($0)" } ?? "")"
            /// The lines of the report in `format` (nil: the default table) written to `name.suffix`.
            func report(_ format: String?, _ suffix: String) throws -> [Substring] {
                let path = "\(folder)/\(name).\(suffix)"
                let run = try Self.run(
                    ["analyze"] + (format.map { ["--format", $0] } ?? [])
                        + ["--threads", threads, "--sharding-threshold", "0", "--output", path]
                        + (spill.map { ["--spill-findings-past", $0] } ?? []) + ["captures/"])
                #expect(run.status <= 1, "\(run.error)")
                statuses.append(run.status)
                return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            }
            // The run's own duration is the one line allowed to differ.
            let differs: (Substring) -> Bool = { $0.contains("\"durationSeconds\"") || $0.hasPrefix("Analysed in ") }
            documents.append(try report("json", "json").filter { !differs($0) }.joined(separator: "\n"))
            let lines = try report("jsonl", "jsonl")
            #expect(lines.last?.contains(#""type":"summary""#) == true)
            // Flows end in any order across lanes; the set of lines is what must not change.
            lineSets.append(lines.filter { !differs($0) }.sorted())
            tables.append(try report(nil, "txt").filter { !differs($0) }.joined(separator: "\n"))
        }
        #expect(documents[0] == documents[1], "the document does not depend on the order flows end in")
        for index in documents.indices.dropFirst() {
            #expect(documents[index] == documents[0], "\(runs[index])")
            #expect(lineSets[index] == lineSets[0], "\(runs[index])")
            #expect(tables[index] == tables[0], "\(runs[index])")
        }
        // The table lists the flows in id order, the findings after them, and counts the same flows as the document.
        let tableIDs = tables[0].split(separator: "\n\n")[0].split(separator: "\n").dropFirst().compactMap {
            Int($0.prefix { $0 != " " })
        }
        // The exit status counts findings whether they were held or read back.
        #expect(statuses.allSatisfy { $0 == 1 })
        let document = try #require(try JSONSerialization.jsonObject(with: Data(documents[0].utf8)) as? [String: Any])
        let ids = (document["flows"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
        #expect(ids.count > 30 && ids == ids.sorted())
        #expect(tableIDs == ids)
        #expect(tables[0].contains("Findings\nCRITICAL") || tables[0].contains("Findings\nHIGH"))
        #expect(lineSets[0].filter { $0.contains(#""type":"flow""#) }.count == ids.count)
        // The flows (and findings written out) wait in unlinked files next to the report: none is left.
        let reports = runs.flatMap { threads, spill in
            let name = "analysis-\(threads)\(spill.map { "-spill-\($0)" } ?? "")"
            return ["\(name).json", "\(name).jsonl", "\(name).txt"]
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == reports.sorted())
    }

    @Test(
        "--max-open-flows: a SYN scan past it reports every connection, the ones ended early marked evicted in the table and the JSON; below 1024 is a usage error"
    )
    func maxOpenFlows() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bh-scan-\(UUID().uuidString).pcap")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let generated = try ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/python3"), ["Benchmarks/gen-syn-scan.py", path, "3000"],
            directory: Repository.root)
        #expect(generated.status == 0, "\(generated.error)")
        let table = try Self.run(["analyze", path, "--max-open-flows", "1024"])
        #expect(table.status == 0, "\(table.error)")
        let rows = table.output.split(separator: "\n").filter { $0.contains("198.19.") }
        #expect(rows.count == 3000)
        #expect(rows.filter { $0.hasSuffix("evicted") }.count >= 3000 - 1024)
        let json = try Self.run(["analyze", path, "--max-open-flows", "1024", "--format", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        let flows = document["flows"] as? [[String: Any]] ?? []
        #expect(flows.count == 3000)
        #expect(flows.filter { ($0["anomalies"] as? [String])?.contains("evicted") == true }.count >= 3000 - 1024)
        let unlimited = try Self.run(["analyze", path, "--format", "json"])
        #expect(!unlimited.output.contains("evicted"), "the default holds 262,144")
        let tooFew = try Self.run(["analyze", path, "--max-open-flows", "10"])
        #expect(
            tooFew.status == 2 && tooFew.error.contains("--max-open-flows must be at least 1024"), "\(tooFew.error)")
    }

    @Test("no scratch folder (a read-only host): the table is made in memory, the same text; json says why it cannot")
    func tableWithoutScratchFolder() throws {
        let nowhere = ["TMPDIR": "/proc/nonexistent"]
        let streamed = try Self.run(["analyze", "captures/"])
        let held = try Self.run(["analyze", "captures/"], environment: nowhere)
        #expect(held.status == streamed.status && held.status == 1, "\(held.error)")
        let lines = { (text: String) in text.split(separator: "\n").filter { !$0.hasPrefix("Analysed in ") } }
        #expect(lines(held.output) == lines(streamed.output) && lines(held.output).count > 30)
        let json = try Self.run(["analyze", "captures/", "--format", "json"], environment: nowhere)
        #expect(json.status == 2 && json.error.contains("/proc/nonexistent"), "\(json.error)")
    }

    @Test("--help teaches: it names formats, exit statuses and an example")
    func help() throws {
        let run = try Self.run(["analyze", "--help"])
        #expect(run.status == 0)
        #expect(run.output.contains("jsonl"))
        #expect(run.output.contains("Examples"))
        let root = try Self.run(["--help"])
        #expect(root.output.contains("Exit status"))
    }
}
