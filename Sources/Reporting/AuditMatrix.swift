import BulkheadModel

/// The audit as a source × destination matrix, the form the Kubernetes network-policy truth tables and cyclonus use:
/// one row per source container, one column per destination, each cell in the colour (and symbol) of the worst
/// verdict of the edges between the two. Every edge of the report is in exactly one cell, blocked ones included.
public struct AuditMatrix: Sendable {
    public struct Cell: Sendable {
        public var edges: [Edge]
        public var worst: EdgeVerdict
    }

    public var sources: [String]
    public var destinations: [String]
    /// Keyed by source, then destination.
    public var cells: [String: [String: Cell]]

    public init(_ report: AuditReport) {
        var grouped: [String: [String: [Edge]]] = [:]
        for edge in report.edges { grouped[edge.source, default: [:]][edge.destination, default: []].append(edge) }
        self.cells = grouped.mapValues { row in
            row.mapValues { edges in
                let sorted = edges.sorted { ($0.verdict.riskRank, $0.port) < ($1.verdict.riskRank, $1.port) }
                return Cell(edges: sorted, worst: EdgeVerdict.worst(sorted.map(\.verdict)))
            }
        }
        // Containers of one network side by side (by their first network), so a network reads as a block.
        var firstNetwork: [String: String] = [:]
        for container in report.evidence.inventory?.containers ?? [] {
            firstNetwork[container.name] = container.networks.map(\.name).sorted().first
        }
        func order(_ names: Set<String>) -> [String] {
            names.sorted { a, b in
                let key = { (name: String) in (name == "host" ? 1 : 0, firstNetwork[name] ?? "\u{10FFFF}", name) }
                return key(a) < key(b)
            }
        }
        self.sources = order(Set(grouped.keys))
        self.destinations = order(Set(grouped.values.flatMap(\.keys)))
    }

    /// A one-character mark per verdict, so the matrix reads without colour too.
    public static func symbol(_ verdict: EdgeVerdict) -> String {
        switch verdict {
        case .violation: "✖"
        case .plaintext: "P"
        case .tlsAcceptsRogueClient: "R"
        case .mtlsOptional: "O"
        case .tlsNoClientAuth: "N"
        case .inconclusive: "?"
        case .openUnverified: "·"
        case .unknown: "–"
        case .mtlsEnforced: "✓"
        case .blocked: ""
        }
    }

    /// The matrix as an HTML table (no scripts: each cell's edges are in its `title`, and in `data-edges` as
    /// `proto/port:verdict` words for tools). Cells shrink with the number of destinations so 50 and more fit in
    /// 1400 px.
    public func html() -> String {
        let escape = XMLText.escape
        let size = max(12, min(24, 1000 / max(1, self.destinations.count)))
        var rows: [String] = []
        rows.append(
            "<tr><th class=\"corner\">from ↓ to →</th>"
                + self.destinations.map { name in
                    "<th class=\"col\" title=\"\(escape(name))\"><span>\(escape(TopologyGraph.shorten(name)))</span></th>"
                }.joined() + "</tr>")
        for source in self.sources {
            var row = "<tr><th class=\"row\" title=\"\(escape(source))\">\(escape(TopologyGraph.shorten(source)))</th>"
            for destination in self.destinations {
                guard let cell = self.cells[source]?[destination] else {
                    row += "<td class=\"none\"></td>"
                    continue
                }
                let lines = cell.edges.map { "\($0.protocol.rawValue)/\($0.port) \($0.verdict.rawValue)" }
                let words = cell.edges.map { "\($0.protocol.rawValue)/\($0.port):\($0.verdict.rawValue)" }
                row +=
                    "<td class=\"v \(cell.worst.rawValue)\" style=\"background:\(TopologyGraph.colour(cell.worst))\" data-source=\"\(escape(source))\" "
                    + "data-destination=\"\(escape(destination))\" data-edges=\"\(escape(words.joined(separator: " ")))\" "
                    + "title=\"\(escape("\(source) → \(destination)\n" + lines.joined(separator: "\n")))\">\(Self.symbol(cell.worst))</td>"
            }
            rows.append(row + "</tr>")
        }
        let legend = EdgeVerdict.riskOrder.map { verdict in
            "<span class=\"key\"><span class=\"swatch\" style=\"background:\(TopologyGraph.colour(verdict))\">\(Self.symbol(verdict))</span> \(escape(verdict.rawValue))</span>"
        }.joined(separator: " ")
        return
            "<div class=\"matrix\" style=\"--cell:\(size)px\"><table>\(rows.joined(separator: "\n"))</table></div><p class=\"legend\">\(legend)</p>"
    }
}
