import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import Reporting

/// The audit read at a glance: the summary first in every human format, edges worst first per destination service,
/// a table that lines up on a terminal (escapes and wide characters counted as shown) and fits 80 columns, and
/// pictures that stay readable at 50 containers.
@Suite("Audit reports at a glance")
struct AuditReadabilityTests {
    @Test("display width: colour escapes take no column, wide characters and emoji two, combining marks none")
    func displayWidth() {
        #expect(DisplayWidth.of("abc") == 3)
        #expect(DisplayWidth.of("\u{1b}[1;31mabc\u{1b}[0m") == 3)
        #expect(DisplayWidth.of("日本語") == 6)
        #expect(DisplayWidth.of("e\u{301}") == 1)
        #expect(DisplayWidth.of("👍") == 2)
        #expect(DisplayWidth.of("🇩🇪") == 2)
        #expect(DisplayWidth.of("a\u{200B}b") == 2)
        #expect(DisplayWidth.truncate("abcdefgh", to: 5) == "abcd…")
        #expect(DisplayWidth.truncate("日本語です", to: 5) == "日本…")
        #expect(DisplayWidth.truncate("abc", to: 5) == "abc")
    }

    @Test("a table lines up by what the terminal shows: coloured and plain renderings differ only by the escapes")
    func tableAlignment() {
        let rows = [
            ["violation", "web", "日本-db 198.18.50.10:5432/tcp"],
            ["mtls-enforced", "api-😀", "pay 198.18.51.12:8443/tcp"],
        ]
        let style = TerminalStyle(enabled: true)
        var plain = TextTable(header: ["VERDICT", "SOURCE", "DESTINATION"])
        plain.rows = rows
        var coloured = plain
        coloured.rows = rows.map { [style.severity($0[0], .high)] + $0.dropFirst() }
        let colouredText = coloured.render()
        #expect(colouredText.contains("\u{1b}["))
        #expect(DisplayWidth.strippingEscapes(colouredText) == plain.render())
        // Every line's third column starts at the same displayed offset.
        let starts = zip(plain.render().split(separator: "\n"), ["DESTINATION", "日本", "pay"]).map { line, cell -> Int in
            guard let range = line.range(of: cell) else { return -1 }
            return DisplayWidth.of(String(line[..<range.lowerBound]))
        }
        #expect(Set(starts).count == 1 && starts[0] > 0, "\(starts)")
    }

    @Test(
        "terminal: summary first, worst problems named, then the edges worst first; fits 80 columns; --wide shows every column"
    )
    func terminal() throws {
        let report = FleetAudit.report()
        let text = AuditReports.table(report, style: TerminalStyle(enabled: true, width: 80))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first?.hasPrefix("\u{1b}[1mAudit of") == true, "\(lines.first ?? "")")
        #expect(lines.first?.contains("FINDINGS") == true)
        let problems = try #require(lines.firstIndex { $0.contains("Worst problems") })
        let edges = try #require(lines.firstIndex { $0.contains("Edges\u{1b}[0m, worst first") })
        #expect(problems < edges, "the summary comes before the table")
        #expect(
            lines[problems + 1].contains("CRITICAL")
                && lines[problems + 1...problems + 3].joined().contains("accepts forged client"),
            "\(lines[problems + 1])")
        // Everything fits 80 columns as displayed, escapes and all.
        for line in lines { #expect(DisplayWidth.of(line) <= 80, "\(DisplayWidth.of(line)): \(line)") }
        // The table: its header, then per destination service a heading naming its edge count and one row per
        // verdict and reason; together the headings count every listed edge.
        let header = try #require(lines[edges...].firstIndex { $0.hasPrefix("  VERDICT") })
        let body = lines[(header + 1)...].prefix { !$0.isEmpty && !$0.hasPrefix("(") && !$0.contains("more edge(s)") }
        let headings = body.filter { !$0.hasPrefix("  ") }
        let counts = headings.compactMap { heading -> Int? in
            guard let open = heading.range(of: " (", options: .backwards) else { return nil }
            return Int(heading[open.upperBound...].prefix { $0.isNumber })
        }
        #expect(counts.count == headings.count && counts.reduce(0, +) == AuditReports.listedEdges(report).listed.count)
        #expect(headings.count == ServiceEdges.group(AuditReports.listedEdges(report).listed).count)
        // Worst first: each service's first row is its worst verdict, and services never get better down the table.
        var worst: [EdgeVerdict] = []
        for (index, line) in body.enumerated() where !line.hasPrefix("  ") {
            guard index + 1 < body.count else { break }
            let row = body[body.index(body.startIndex, offsetBy: index + 1)]
            if let verdict = EdgeVerdict(
                rawValue: String(DisplayWidth.strippingEscapes(row).split(separator: " ").first ?? ""))
            {
                worst.append(verdict)
            }
        }
        #expect(worst.count == headings.count)
        #expect(worst.first == .violation)
        #expect(worst.map(\.riskRank) == worst.map(\.riskRank).sorted())
        #expect(
            lines.contains { $0.contains("and 7 more") || $0.contains(", identity-…") || $0.contains("more") },
            "sources sharing a verdict are one row")

        let wide = AuditReports.table(report, style: TerminalStyle(enabled: false, width: 80), wide: true)
        #expect(wide.contains("SOURCE  ") && wide.contains("mTLS CHECK") && wide.contains("IDENTITIES"))
        #expect(wide.contains("spiffe://fleet.test/"), "identities in full")
        #expect(
            !AuditReports.table(report, style: TerminalStyle(enabled: false, width: nil)).contains("…"),
            "no width known: nothing cut")
    }

    @Test(
        "markdown and HTML: the summary first; edges grouped per destination service, worst first, evidence one click away"
    )
    func summaryFirst() throws {
        let report = FleetAudit.report()
        let markdown = AuditReports.markdown(report)
        let summary = try #require(markdown.range(of: "## Summary: FINDINGS"))
        let edges = try #require(markdown.range(of: "## Edges, worst first"))
        #expect(summary.lowerBound < edges.lowerBound)
        #expect(markdown.contains("1. **CRITICAL**"))

        let html = AuditReports.html(report, layout: .builtIn)
        let positions = [
            "id=\"summary\"", "id=\"top-problems\"", "class=\"matrix\"", "<details class=\"service\" open>",
            "<h2>Topology</h2>", "<h2>Findings</h2>",
        ]
        .map { html.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil }, "\(positions)")
        #expect(
            zip(positions, positions.dropFirst()).allSatisfy { ($0 ?? html.endIndex) < ($1 ?? html.startIndex) },
            "in reading order")
        #expect(html.contains("<details class=\"evidence\"><summary>evidence</summary>"))
        #expect(!html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http"))
        // The services in the page come worst first.
        let services = html.components(separatedBy: "<details class=\"service\"").dropFirst().compactMap {
            block -> EdgeVerdict? in
            guard
                let start = block.range(
                    of: "\">", range: block.range(of: "class=\"verdict\"").map { $0.upperBound..<block.endIndex }),
                let end = block.range(of: "</span>", range: start.upperBound..<block.endIndex)
            else { return nil }
            return EdgeVerdict(rawValue: String(block[start.upperBound..<end.lowerBound]))
        }
        #expect(services.count == ServiceEdges.group(AuditReports.listedEdges(report).listed).count)
        #expect(services.map(\.riskRank) == services.map(\.riskRank).sorted())
    }

    @Test(
        "a violation that is only an allowed path found closed is a medium problem whose remedy opens it; one found open against the policy stays high"
    )
    func blockedViolation() throws {
        var report = SampleAudit.report()
        report.findings = []
        let allowedClosed = report.edges.indices.filter { report.edges[$0].verdict != .blocked }.prefix(1)
        let index = try #require(allowedClosed.first)
        report.edges = report.edges.enumerated().map { offset, edge in
            var copy = edge
            copy.verdict = offset == index ? .violation : .blocked
            copy.allowed = offset == index ? true : edge.allowed
            return copy
        }
        let blocked = try #require(AuditOverview(report).problems.first)
        #expect(blocked.severity == .medium)
        #expect(blocked.change == EdgeVerdict.blockedRemedy)
        report.edges[index].allowed = false
        let open = try #require(AuditOverview(report).problems.first)
        #expect(open.severity == .high)
        #expect(open.change.hasPrefix("separate the two"))
        // A denied path where nothing listens: its finding (unexpected-reachable, "nothing listens") is medium, and
        // so is its line; once traffic is seen on it, the breach is high again.
        report.edges[index].reachability = .reachableClosed
        report.edges[index].traffic = nil
        report.edges[index].reasons = ["denied by the policy yet reachable"]
        let closed = try #require(AuditOverview(report).problems.first)
        #expect(closed.severity == .medium)
        #expect(closed.change.hasPrefix("separate the two"))
        var traffic = EdgeTraffic()
        traffic.flows = 1
        report.edges[index].traffic = traffic
        #expect(AuditOverview(report).problems.first?.severity == .high)
    }

    @Test("status: PASS needs every edge proven (enforced or blocked); open edges nothing is known about are no pass")
    func passNeedsEvidence() {
        var report = SampleAudit.report()
        report.findings = []
        report.edges = report.edges.map { edge in
            var copy = edge
            copy.verdict = edge.verdict == .blocked ? .blocked : .openUnverified
            return copy
        }
        let unverified = AuditOverview(report)
        #expect(unverified.status == .findings, "\(unverified.statusReason)")
        #expect(unverified.statusReason.contains("open, unverified"))
        #expect(unverified.problems.isEmpty, "not a problem to act on, but not a pass either")
        report.edges = report.edges.map { edge in
            var copy = edge
            copy.verdict = edge.verdict == .blocked ? .blocked : .mtlsEnforced
            return copy
        }
        #expect(AuditOverview(report).status == .pass)
        report.complete = false
        report.problems = ["probe: the engine went away"]
        #expect(
            AuditOverview(report).status == .incomplete
                && AuditOverview(report).statusReason.contains("the engine went away"))
    }

    @Test("matrix: every edge in exactly one cell, coloured by the cell's worst verdict")
    func matrix() {
        let report = FleetAudit.report()
        let matrix = AuditMatrix(report)
        #expect(
            matrix.cells.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.edges.count } } == report.edges.count)
        for edge in report.edges {
            let cell = matrix.cells[edge.source]?[edge.destination]
            #expect(cell?.edges.contains(edge) == true)
            #expect((cell?.worst.riskRank ?? 99) <= edge.verdict.riskRank)
        }
        #expect(matrix.sources.count <= 51 && matrix.destinations.count <= 51)
    }

    @Test(
        "graph: hubs for networks with ICC on, arrows only for exceptions, empty networks folded, Graphviz renders it")
    func graph() throws {
        let report = FleetAudit.report()
        let graph = TopologyGraph(report)
        #expect(graph.emptyNetworks == ["bridge", "host", "none"])
        #expect(graph.networks.count == 5)
        #expect(graph.networks.filter(\.isHub).count == 4, "backoffice has ICC off")
        let listed = AuditReports.listedEdges(report).listed.count
        #expect(graph.impliedEdges > 0)
        #expect(
            graph.links.count + graph.hubLinks.count < listed / 5,
            "\(graph.links.count) arrows and \(graph.hubLinks.count) hub lines for \(listed) edges")
        // Every arrow is an exception: a bad verdict, a path across networks, or the host.
        let hubs = graph.networks.filter(\.isHub).map { Set($0.members) }
        for link in graph.links {
            let sameHub = hubs.contains { $0.contains(link.source) && $0.contains(link.destination) }
            #expect(
                !sameHub || [.violation, .plaintext, .tlsAcceptsRogueClient].contains(link.verdict),
                "\(link.source) → \(link.destination) \(link.verdict.rawValue)")
        }
        #expect(graph.links.contains { $0.verdict == .violation && $0.exception == .verdict })
        #expect(graph.caption.contains("Networks with no container: bridge, host, none."))

        try #require(
            FileManager.default.isExecutableFile(atPath: "/usr/bin/dot"),
            "graphviz is missing (scripts/install-deps.sh --test installs it)")
        let laidOut = graph.svg(layout: .graphviz)
        #expect(laidOut.hasPrefix("<svg") && laidOut.contains("width=\"100%\""), "Graphviz's SVG, scaled to the page")
        let builtIn = graph.svg(layout: .builtIn)
        #expect(builtIn.contains("viewBox=\"0 0 1360 ") && !builtIn.contains("graph0"))
    }
}
