import ArgumentParser
import BulkheadModel
import Foundation
import PacketAnalysis
import Reporting
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

extension Bulkhead {
    /// `bulkhead analyze`: offline analysis of capture files.
    struct Analyze: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "analyze",
            abstract: "Find plaintext flows, leaked credentials and the mTLS state of every TLS flow in capture files.",
            discussion: """
                Reads pcap and pcapng files (tcpdump, dumpcap, `tcpdump -i any`; Ethernet, VLAN, Linux cooked v1/v2, \
                raw IP, BSD loopback) and follows every TCP and UDP flow. Protocols are identified by content, never \
                by port: TLS on port 80 is TLS, Redis on 443 is Redis. Overlay tunnels seen on an underlay (VXLAN, \
                Geneve, GRE, ERSPAN, IP in IP) are opened and their inner flows labelled with the tunnel; IPsec ESP \
                and WireGuard are reported as encrypted traffic between the two hosts. QUIC (HTTP/3) is read from its \
                Initial packets: SNI, ALPN, cipher, and a refusal's TLS alert; its client certificate is `unknown` \
                without keys, and for a connection joined after its handshake (told by its short headers). Proxy \
                tunnels (SOCKS, HTTP CONNECT), WebSockets (compressed messages inflated) and HTTP/1.1 upgraded to \
                HTTP/2 (`Upgrade: h2c`, as curl --http2 and Java's HttpClient ask) are followed into what they carry \
                (TLS to the destination; MQTT or STOMP over a broker's /ws; HTTP/2's requests).

                With --keylog (or secrets embedded in a pcapng), TLS 1.3 and QUIC handshakes are decrypted and the \
                verdicts become exact; TLS 1.2 keys are checked against the Finished messages and encrypted alerts are \
                read.

                For each TLS flow it reports the version, SNI, ALPN, cipher, whether the handshake was established, the \
                certificates seen, and whether the client authenticated with a certificate: `presented`, `declined` \
                (asked, sent none), `not-requested` — exact for TLS ≤ 1.2 (`unknown` when an encrypted renegotiation \
                follows); for TLS 1.3, whose handshake is encrypted, `likely-…` states inferred from record sizes. Credentials sent in clear are reported by kind and user \
                name (HTTP, Redis, PostgreSQL, MySQL, mail, FTP, LDAP, SOCKS, the brokers' MQTT, AMQP, STOMP and NATS \
                logins, Kafka's SASL PLAIN and OAUTHBEARER, ZooKeeper's digest logins, memcached's SASL PLAIN, etcd's \
                passwords and tokens, a GraphQL WebSocket's connection_init); secrets are never printed, \
                only their length. Control planes answering in clear are critical findings: a Docker or Podman \
                Engine API, etcd's API (gRPC or its JSON gateway) and its members' peer traffic, each taken for one only \
                on the server's own answer.

                Examples:
                  bulkhead analyze capture.pcap
                  bulkhead analyze captures/ --format json > report.json
                  bulkhead analyze big.pcapng --format jsonl -o flows.jsonl
                  bulkhead analyze capture.pcap --keylog keys.log --fail-on critical

                Several files are read in the order of their first packets, and are one capture where they follow \
                on in time, as a rotated capture's do (tcpdump -C/-G/-W, ring buffers; a folder search also takes \
                cap.pcap1, cap.pcap2…): flows go on across them, each named by the file it began in. A file that \
                starts earlier than the last packet before it is another capture.

                Compressed captures: gzip (`cap.pcap.gz`, as `tcpdump -z gzip` and log rotation leave them) is \
                read as it is, decompressed as it goes on a thread of its own, in bounded memory; a folder search \
                takes `*.pcap.gz` and the like. Other compressions (zstd, xz, bzip2, lz4) are named as not read, with \
                the command to pipe them in.

                Standard input: `-` (or /dev/stdin) reads pcap or pcapng from a pipe as it arrives, in bounded \
                memory: `tcpdump -w - | bulkhead analyze -`. Other FIFOs and devices are refused: named, they stop \
                the run (exit 2); found in a folder, each is a problem and the other files are analysed (exit 3).

                Memory: every format stays bounded whatever the capture. Flows waiting for the findings (and, for \
                the table, for the widest cell of each column), and findings too many to hold (a capture of many \
                servers in clear), wait in unlinked scratch files next to the report, or in $TMPDIR (else \
                /var/tmp) when it goes to standard output.

                Exit status: 0 no finding at or above --fail-on, 1 such findings, 2 usage error or \
                unreadable input (the message names the file), 3 incomplete: part of the input could not be \
                examined (a damaged or truncated capture, a bad file in a folder, a capture of which no packet \
                could be decoded: none decoded to IP and more than half malformed, as under a wrong link type); the \
                report says `complete: false` and lists each problem with its file and byte offset. 3 wins over 1.
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case table, json, jsonl
        }

        @Argument(
            help: ArgumentHelp(
                "Capture files, or folders searched for *.pcap, *.pcapng and *.cap files (gzip-compressed too).",
                valueName: "path"))
        var paths: [String]

        @Option(
            help: "Output format: table (readable), json (one document), jsonl (one flow per line, for huge captures).")
        var format: Format = .table

        @OptionGroup var report: ReportOptions

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "Bytes of each direction of a plaintext flow inspected for credentials and STARTTLS.",
                valueName: "bytes"))
        var inspectBytes: Int = 16_384

        @Option(help: ArgumentHelp("How capture files are read: mmap (fast, default) or libpcap.", valueName: "reader"))
        var reader: String = CaptureReaderKind.mmap.rawValue

        @Option(
            name: .customLong("keylog"),
            help: ArgumentHelp(
                "An SSLKEYLOGFILE (NSS key log) whose secrets decrypt TLS handshakes: exact client-certificate verdicts, "
                    + "TLS 1.3 certificates and alerts. Repeatable. Secrets in pcapng Decryption Secrets Blocks are used automatically.",
                valueName: "file"))
        var keyLogs: [String] = []

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "Threads for large captures (flows are shared out between them). Default: the number of cores.",
                valueName: "n"))
        var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "Flows held open at once (default 262144, about 100 MB). Past it the least recently seen end early, "
                    + "with the anomaly `evicted` (a later packet of one starts a new flow): a SYN scan's million "
                    + "half-open connections cannot outgrow memory.",
                valueName: "n"))
        var maxOpenFlows: Int = AnalysisOptions().openFlowLimit

        /// Below this size a file is analysed by one thread (sharing out costs more than it saves). Hidden: for tests,
        /// which share small captures out to exercise the lanes.
        @Option(parsing: .unconditional, help: .hidden)
        var shardingThreshold: Int = AnalysisOptions().shardingThreshold

        /// Distinct findings an analysis lane holds before it writes them out to a scratch file, and
        /// findings sorted into the report's order at once when it did. Hidden: for tests, which write out the findings
        /// of small captures to exercise the merges.
        @Option(parsing: .unconditional, help: .hidden)
        var spillFindingsPast: Int?

        @Flag(help: "Show progress on standard error even when it is not a terminal.")
        var progress = false

        @Flag(help: "No progress line.")
        var quiet = false

        func validate() throws {
            guard CaptureReaderKind(rawValue: self.reader) != nil else {
                throw ValidationError(
                    "--reader must be one of: \(CaptureReaderKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard self.threads >= 1 && self.threads <= 64 else {
                throw ValidationError("--threads must be between 1 and 64")
            }
            guard self.maxOpenFlows >= 1024 else {
                throw ValidationError("--max-open-flows must be at least 1024")
            }
            guard self.inspectBytes >= 64 && self.inspectBytes <= 16 << 20 else {
                throw ValidationError("--inspect-bytes must be between 64 and 16777216")
            }
        }

        func run() throws {
            // Analysis threads allocate and free per flow: grow their heaps in large steps (see AllocatorTuning).
            AllocatorTuning.padHeapGrowth(bytes: 64 << 20)
            let expanded: CaptureInputs
            do {
                expanded = try CaptureAnalysis.expand(self.paths)
            } catch {
                throw failInput(error.description.escapingTerminalControls)
            }
            for duplicate in expanded.duplicates {
                note(
                    "\(duplicate.dropped.escapingTerminalControls) is \(duplicate.kept.escapingTerminalControls) again: "
                        + "analysed once")
            }
            let keyLog = try loadKeyLogs(self.keyLogs)
            let sink = try self.report.openSink()
            let showProgress = !self.quiet && (self.progress || isatty(STDERR_FILENO) == 1)
            let progress: ((AnalysisProgress) -> Void)? =
                showProgress
                ? { update in
                    let percent = update.fileSize > 0 ? min(100, update.bytes * 100 / update.fileSize) : 100
                    writeStandardError(
                        "\r[\(update.fileIndex + 1)/\(update.fileCount)] \(update.file.escapingTerminalControls): \(percent)% \(update.packets) packets\u{1b}[K"
                    )
                } : nil
            let output: FlowOutput
            switch self.format {
            case .table, .json:
                do {
                    let spool = try FlowSpool(folder: FlowSpool.folder(forReport: self.report.output))
                    output = FlowOutput(mode: self.format == .table ? .table(spool) : .document(spool))
                } catch {
                    // The table can be made in memory, as it was before it streamed: a read-only host still gets it.
                    guard self.format == .table else {
                        sink.abandon()
                        throw failInput(error.description)
                    }
                    output = FlowOutput(mode: .collect)
                }
            case .jsonl: output = FlowOutput(mode: .lines(sink))
            }
            var options = AnalysisOptions(
                inspectionWindow: self.inspectBytes, keyLog: keyLog, threads: self.threads,
                shardingThreshold: max(0, self.shardingThreshold))
            options.openFlowLimit = self.maxOpenFlows
            // Every format streams its flows, so the findings are kept within bounds too: past a limit they wait in
            // a scratch file beside the report, as the flows do.
            options.spillFindingsPast = max(1, self.spillFindingsPast ?? FlowFindings.defaultSpillPast)
            if let batch = self.spillFindingsPast { options.findingsSortBatch = max(1, batch) }
            options.findingsScratchFolder = FlowSpool.folder(forReport: self.report.output)
            let result: CaptureAnalysisResult
            do {
                result = try CaptureAnalysis.run(
                    inputs: expanded.inputs,
                    options: options,
                    reader: CaptureReaderKind(rawValue: self.reader) ?? .mmap,
                    problems: expanded.problems,
                    progress: progress,
                    receivers: output.receiver
                )
            } catch {
                sink.abandon()
                throw failInput(error.description.escapingTerminalControls)
            }
            if showProgress { writeStandardError("\r\u{1b}[K") }
            for problem in result.warnings {
                writeStandardError("bulkhead: error: incomplete: \(problem.description.escapingTerminalControls)\n")
            }
            if let used = result.keyLog {
                for line in used.summaryLines.map(\.escapingTerminalControls) {
                    if used.hasProblems {
                        warn("key log " + line)
                    } else {
                        writeStandardError("bulkhead: key log \(line)\n")
                    }
                }
            }
            do {
                switch self.format {
                case .table:
                    try output.writeTable(
                        findingBatches: result.findingBatches, summary: result.summary, complete: result.complete,
                        style: TerminalStyle.forDescriptor(self.report.descriptor), to: sink)
                case .json:
                    try output.writeDocument(findingBatches: result.findingBatches, summary: result.summary, to: sink)
                case .jsonl:
                    output.finishLines()
                    try result.findingBatches { FindingsJSONWriter.writeLines($0) { sink.buffered($0) } }
                    sink.write(try JSONReport.line(JSONLinesRecord.summary(result.summary)))
                }
                try sink.commit()
            } catch {
                sink.abandon()
                throw OutputSink.failure(error)
            }
            // The result is left for the exit to reclaim: freeing its tens of thousands of findings one by one took
            // several milliseconds at the very end of a run, for memory the exit gives back at once.
            _ = Unmanaged.passRetained(KeptUntilExit(result))
            // Incomplete (3) wins over findings (1): a clean or dirty verdict on part of the input is not one on all of it.
            if !result.complete {
                writeStandardError(
                    "bulkhead: the analysis is incomplete: \(result.warnings.count) problem\(result.warnings.count == 1 ? "" : "s") (exit status 3)\n"
                )
                throw ExitCode(ExitStatus.incomplete)
            }
            try self.report.failIfNeeded(severities: result.summary.findingsBySeverity)
        }
    }
}

/// A value deliberately never freed (see its use in `Analyze.run`).
private final class KeptUntilExit {
    let value: Any
    init(_ value: Any) { self.value = value }
}

extension CaptureAnalysisResult {
    /// Calls `each` with the findings in order, all at once or, when they were written out to a scratch file, a few
    /// thousand at a time as they are read back.
    fileprivate func findingBatches(_ each: ([Finding]) -> Void) throws {
        if let spilled = self.spilledFindings {
            try spilled.forEachBatch { each($0) }
        } else {
            each(self.findings)
        }
    }
}
