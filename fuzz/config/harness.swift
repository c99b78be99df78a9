// libFuzzer entry point for the parsers of what Bulkhead reads besides captures: configuration files written by
// others (policies, lab scenarios) and the Docker engine's HTTP answers.
//
// fuzz/config/build.sh compiles this file together with the sources of BulkheadModel, NetworkNamespaces, Inventory,
// Reachability, Policy and Lab (with SystemCalls and ContainerEngine) as ONE module (Yams separately), so internal functions (UnixSocketHTTPClient.parse and
// .dechunk, Scenario.validate, Scenario.knownKeys) are reachable here.
//
// Byte 0 picks the target (`byte % 7`, or BULKHEAD_FUZZ_TARGET=N forces target N); the rest is its input:
//
//   0  policy     YAML text as a policy file: the loader's UTF-8 check (held equal to Foundation's decoding), the limits
//                 on libyaml's event stream, Yams, the duplicate/unknown key walk, decoding, `validate(at:)` with its
//                 line lookups; then every selector's patterns through `Selector.glob` and the policy's `qualified`.
//   1  scenario   YAML text as a lab scenario file: the same loader, decoding and `Scenario.validate` (which also
//                 validates the embedded policy at its lines); then `--relocate` (`ScenarioRelocation`) as if every
//                 declared subnet were taken, and as if only the first were: refused naming the file, or moved off
//                 them and still a valid scenario.
//   2  http       a raw HTTP/1.1 response from the engine: `UnixSocketHTTPClient.parse` (status line, headers,
//                 Content-Length, chunked bodies).
//   3  chunked    the de-chunker twice: on the raw bytes, and as an oracle on a chunked encoding of the bytes made here
//                 (chunk sizes from the bytes themselves, with extensions and a trailer), which must come back exact.
//   4  kubernetes a kubectl dump or manifests (JSON or YAML, several documents): `ClusterDump.parse` (errors name the
//                 file), then what `bulkhead kubernetes` does with a dump: the NetworkPolicy engine, the intent findings,
//                 the inventory, and the intended matrix (for up to 64 pods: it is pods² cells).
//   5  report     a node's audit report as `bulkhead merge` reads it (from nodes that may be compromised):
//                 `NodeReport.decode` (errors name the file); the hand-written JSON readers it relies on held to
//                 Foundation's: `EdgeReader.edges` must read what `JSONDecoder` reads whenever it reads anything, and
//                 `JSONSkim`'s cuts of a valid document must leave valid JSON with every other member unchanged; the
//                 grammar that places syntax errors (`JSONGrammar`) agrees with Foundation's parser, and every error of
//                 `JSONInput.decode` (stored reports read back) names the file and a place inside it.
//   6  answer     what a server sends the TLS battery (a hostile endpoint): every judge of every protocol's exchanges
//                 (STARTTLS upgrades, the plaintext probe, the application request after the handshake, with and without
//                 ALPN) on the bytes and on prefixes of them as they would arrive, twice (a judge is a pure function),
//                 and the greeting sniffer.
//
// Every input is copied into its own exactly-sized heap block; the build keeps the standard library's debug
// preconditions (-assert-config Debug), so an out-of-range index traps as in a debug build.

import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let selector = fuzzForcedTarget ?? data[0]
    let rest = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch selector % 7 {
    case 0: ConfigFuzz.policy(rest)
    case 1: ConfigFuzz.scenario(rest)
    case 2: ConfigFuzz.http(rest)
    case 3: ConfigFuzz.chunked(rest)
    case 4: ConfigFuzz.kubernetes(rest)
    case 5: ConfigFuzz.nodeReport(rest)
    default: ConfigFuzz.serverAnswer(rest)
    }
    return 0
}

/// `BULKHEAD_FUZZ_TARGET=N` runs only target N on every input (whatever its first byte), to fuzz and count one target.
let fuzzForcedTarget: UInt8? = ProcessInfo.processInfo.environment["BULKHEAD_FUZZ_TARGET"].flatMap { UInt8($0) }

enum ConfigFuzz {
    static let file = "fuzz.yaml"

    /// The loader's UTF-8 check must agree with Foundation's strict decoding, both ways.
    static func text(_ bytes: [UInt8]) -> String? {
        let ours = try? InputFile.decodeUTF8(bytes, path: Self.file)
        let foundation = String(bytes: bytes, encoding: .utf8)
        if (ours == nil) != (foundation == nil) {
            fatalError("InputFile.decodeUTF8 \(ours == nil ? "refused" : "accepted") what Foundation \(foundation == nil ? "refuses" : "accepts"): \(bytes)")
        }
        return ours
    }

    static func policy(_ bytes: [UInt8]) {
        guard let text = Self.text(bytes) else { return }
        let loaded: YAMLDocument.Loaded<Policy>
        do { loaded = try YAMLDocument.decodeDocument(Policy.self, text: text, path: Self.file, knownKeys: Policy.knownKeys) } catch {
            precondition(error.path.hasPrefix(Self.file), "an error that does not name the file: \(error)")
            return
        }
        do { try loaded.value.validate(at: loaded.locator) } catch {
            precondition(error.path.hasPrefix(Self.file), "an error that does not name the file: \(error)")
            return
        }
        let policy = loaded.value
        for rule in policy.allow + policy.deny {
            for selector in rule.from + rule.to {
                for pattern in [selector.container, selector.network, selector.service, selector.project].compactMap({ $0 }) {
                    _ = Selector.glob(pattern, matches: "shop-web-1")
                    // A valid pattern matches itself once its wildcards are read as themselves.
                    precondition(Selector.glob(pattern, matches: pattern), "'\(pattern)' does not match itself")
                }
                _ = selector.labelMatches(["tier": "backend", "com.docker.compose.service": "web"])
            }
            for port in rule.ports { precondition(PortMatch(port.description) == port, "\(port) does not read back") }
        }
        _ = policy.qualified(prefix: "fuzz-")
    }

    static func scenario(_ bytes: [UInt8]) {
        guard let text = Self.text(bytes) else { return }
        let scenario: Scenario
        do {
            let loaded = try YAMLDocument.decodeDocument(Scenario.self, text: text, path: Self.file, knownKeys: Scenario.knownKeys)
            try loaded.value.validate(path: Self.file, locator: loaded.locator)
            scenario = loaded.value
        } catch let error as PathError {
            precondition(error.path.hasPrefix(Self.file), "an error that does not name the file: \(error)")
            return
        } catch let error as ScenarioError {
            precondition(error.path.hasPrefix(Self.file), "an error that does not name the file: \(error)")
            return
        } catch {
            preconditionFailure("an error of an unexpected type: \(error)")
        }
        // `--relocate` on a host where every declared subnet is taken, then where only the first one is.
        let everything = LabAddressSpace(taken: scenario.networks.map { .init(cidr: $0.subnet, holder: "fuzz-\($0.name)") })
        Self.relocate(text, scenario, around: everything)
        Self.relocate(text, scenario, around: LabAddressSpace(taken: Array(everything.taken.prefix(1))))
    }

    /// A valid scenario relocated: refused with an error naming the file, or moved off every taken range, within
    /// 198.18.0.0/15, its networks the same in the same order, and the moved text a valid scenario again.
    static func relocate(_ text: String, _ original: Scenario, around space: LabAddressSpace) {
        let moved: (scenario: Scenario, relocation: ScenarioRelocation)
        do {
            moved = try Scenario.load(text: text, path: Self.file, relocatingAround: space)
        } catch {
            precondition(error.path.hasPrefix(Self.file), "an error that does not name the file: \(error)")
            // The only refusals: a taken network wider than a /24, no free /24, a wide range whose meaning would change.
            precondition(
                error.message.contains("can be relocated") || error.message.contains("is free to move it to")
                    || error.message.contains("would no longer mean the same addresses"),
                "relocating a valid scenario failed: \(error)")
            return
        }
        precondition(moved.scenario.networks.map(\.name) == original.networks.map(\.name), "networks changed: \(moved.relocation)")
        precondition(moved.scenario.conflicts(in: space).isEmpty, "still overlapping after \(moved.relocation)")
        for (before, after) in zip(original.networks, moved.scenario.networks) {
            let move = moved.relocation.moves.first { $0.network == before.name }
            precondition(after.subnet == (move?.to ?? before.subnet), "\(before.name): \(before.subnet) → \(after.subnet), planned \(String(describing: move))")
            precondition(CIDR.overlap(after.subnet, "198.18.0.0/15") || move == nil, "moved outside 198.18.0.0/15: \(after.subnet)")
        }
    }

    static func kubernetes(_ bytes: [UInt8]) {
        guard let text = Self.text(bytes) else { return }
        let dump: ClusterDump
        do {
            dump = try ClusterDump.parse(text, name: Self.file)
        } catch {
            precondition(error.path.hasPrefix(Self.file), "an error that does not name the file: \(error)")
            return
        }
        let engine = PolicyEngine(dump)
        _ = IntentFindings.findings(engine)
        _ = KubernetesInventory.report(dump)
        guard dump.pods.count <= 64 else { return }
        let matrix = IntentMatrix(engine: engine)
        precondition(matrix.pods.count == dump.pods.count, "the matrix lost pods")
    }

    static func nodeReport(_ bytes: [UInt8]) {
        do {
            _ = try NodeReport.decode(bytes, path: Self.file)
        } catch {
            precondition(error.path.hasPrefix(Self.file), "an error that does not name the file: \(error)")
        }
        // The grammar that places syntax errors: it finds one whenever Foundation refuses the text, passes nothing
        // Foundation refuses, and places it inside the text (or at its end, for text cut short). Foundation lets a few
        // things pass that RFC 8259 does not (raw control characters in strings): only that direction may differ.
        let problem = JSONGrammar.firstProblem(in: bytes)
        let foundationReads =
            (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
        if String(validating: bytes, as: UTF8.self) != nil {
            if !foundationReads { precondition(problem != nil, "Foundation refuses it, the grammar finds nothing") }
            if problem == nil { precondition(foundationReads, "the grammar passes what Foundation refuses") }
        }
        if let problem {
            precondition(problem.offset >= 0 && problem.offset <= bytes.count, "a problem outside the text")
            precondition(!problem.cutShort || problem.offset == bytes.count, "cut short before the end")
        }
        // Every error of a stored report names the file, and where it names a place, one inside the text.
        do { _ = try JSONInput.decode(AuditReport.self, from: bytes, path: Self.file, expected: .auditReport) } catch {
            precondition(error.path.hasPrefix(Self.file), "an error that does not name the file: \(error)")
            let place = error.path.dropFirst(Self.file.count).split(separator: ":").compactMap { Int($0) }
            if place.count == 2 {
                let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
                precondition(place[0] >= 1 && place[0] <= lines.count && place[1] >= 1, "no such place: \(error.path)")
            }
        }
        // The hand reader of edges agrees with Codable, on the whole input as an edge list.
        if let edges = EdgeReader.edges(bytes, range: 0..<bytes.count) {
            let decoded = try? JSONDecoder().decode([Edge].self, from: Data(bytes))
            precondition(decoded == edges, "EdgeReader read \(edges), JSONDecoder \(String(describing: decoded))")
        }
        // The skim's cuts of a valid document: still JSON, the cut members null, every other member as it was.
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any],
            let evidence = object["evidence"] as? [String: Any]
        else { return }
        // (A member the skim leaves alone, written twice or beside an escaped key, is only a saving missed.)
        let spans = JSONSkim.spans(of: [["evidence", "probe"], ["evidence", "capture"]], in: bytes)
        guard let cut = JSONSkim.cutting(["probe", "capture"], in: "evidence", of: bytes) else {
            precondition(spans.isEmpty, "spans found, nothing cut")
            return
        }
        guard let back = (try? JSONSerialization.jsonObject(with: Data(cut))) as? [String: Any],
            let backEvidence = back["evidence"] as? [String: Any]
        else { preconditionFailure("the cut document is not JSON: \(String(decoding: cut, as: UTF8.self))") }
        for key in ["probe", "capture"] where spans[["evidence", key]] != nil {
            precondition(backEvidence[key] is NSNull, "evidence.\(key) not cut")
        }
        precondition(
            Self.members(of: object, without: ["evidence"]).isEqual(Self.members(of: back, without: ["evidence"])),
            "a member outside evidence changed")
        precondition(
            Self.members(of: evidence, without: ["probe", "capture"])
                .isEqual(Self.members(of: backEvidence, without: ["probe", "capture"])),
            "a member of evidence changed")
    }

    /// A JSON object's members, less some.
    static func members(of object: [String: Any], without keys: Set<String>) -> NSDictionary {
        NSDictionary(dictionary: object.filter { !keys.contains($0.key) })
    }

    /// Every exchange the battery can run, built once.
    static let exchanges: [ClearExchange] = {
        let context = ApplicationProbes.Context(host: "fuzz.test")
        var exchanges = StartTLSProtocol.allCases.flatMap { ApplicationProbes.upgrade($0, context) }
        for proto in AppProbeProtocol.allCases {
            exchanges += ApplicationProbes.plaintext(proto, context)
            for alpn in [nil, "h2", "http/1.1"] {
                exchanges += ApplicationProbes.application(proto, alpn: alpn, context).exchanges
            }
        }
        return exchanges
    }()

    static func serverAnswer(_ bytes: [UInt8]) {
        _ = StartTLSProtocol.fromGreeting(bytes)
        let step = max(1, bytes.count / 8)
        for exchange in Self.exchanges {
            for cut in stride(from: 0, to: bytes.count, by: step) { _ = exchange.judge(Array(bytes[..<cut])) }
            let reading = exchange.judge(bytes)
            precondition(exchange.judge(bytes) == reading, "a judge read the same bytes two ways")
        }
    }

    static func http(_ bytes: [UInt8]) {
        let raw = Data(bytes)
        guard let response = try? UnixSocketHTTPClient.parse(raw, request: "GET /fuzz") else { return }
        if response.headers["transfer-encoding"]?.lowercased().contains("chunked") != true {
            precondition(response.body.count <= raw.count, "a body longer than the response")
        }
    }

    static func chunked(_ bytes: [UInt8]) {
        _ = try? UnixSocketHTTPClient.dechunk(Data(bytes), request: "GET /fuzz")
        // The oracle: chunk the bytes (sizes taken from the bytes), then de-chunk; the result must be the bytes.
        var encoded = Data()
        var index = 0
        var chunk = 0
        while index < bytes.count {
            let size = min(bytes.count - index, 1 + Int(bytes[index]) % 64)
            var line = String(size, radix: 16, uppercase: chunk % 2 == 0)
            if chunk % 3 == 1 { line += ";name=value" }
            encoded.append(contentsOf: Array((line + "\r\n").utf8))
            encoded.append(contentsOf: bytes[index..<(index + size)])
            encoded.append(contentsOf: Array("\r\n".utf8))
            index += size
            chunk += 1
        }
        encoded.append(contentsOf: Array("0\r\nx-trailer: 1\r\n\r\n".utf8))
        guard let decoded = try? UnixSocketHTTPClient.dechunk(encoded, request: "GET /fuzz") else {
            fatalError("a valid chunked encoding of \(bytes.count) bytes was refused")
        }
        precondition(Array(decoded) == bytes, "de-chunking changed the bytes: \(bytes) → \(Array(decoded))")
    }
}
