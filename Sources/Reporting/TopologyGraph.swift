import BulkheadModel
import Foundation

/// The audit's topology as a picture: networks, the containers on them, the host, and one arrow per
/// source → destination pair coloured by the worst verdict of its edges. Rendered as Graphviz `dot` and as inline
/// SVG for the self-contained HTML report.
public struct TopologyGraph: Sendable {
    public struct Link: Sendable, Hashable {
        public var source: String
        public var destination: String
        public var verdict: EdgeVerdict
        /// `tcp/8080 udp/53`
        public var ports: String
    }

    /// Networks (lanes in the picture) with their containers.
    public var networks: [(name: String, subnets: [String], internal: Bool, members: [String])]
    public var nodes: [String]
    public var links: [Link]
    /// Edges not drawn: blocked as the policy expects, or open only to ports nothing listens on (the edge table
    /// counts them the same way).
    public var hiddenEdges: Int
    /// Per container, the networks it is on (a container on several is drawn in its first and names the others).
    var memberships: [String: [String]] = [:]

    /// Worst first: the verdict a pair of containers shows when its edges disagree.
    static let severityOrder: [EdgeVerdict] = [
        .violation, .tlsAcceptsRogueClient, .plaintext, .mtlsOptional, .tlsNoClientAuth, .inconclusive, .openUnverified, .unknown, .mtlsEnforced, .blocked,
    ]

    /// The picture of an audit: its inventory's networks and containers, its listed edges folded per pair.
    public init(_ report: AuditReport) {
        let inventory = report.evidence.inventory
        self.networks = (inventory?.networks ?? []).sorted { $0.name < $1.name }.map { network in
            let members = (inventory?.containers ?? []).filter { container in container.networks.contains { $0.name == network.name } }.map(\.name).sorted()
            return (network.name, network.subnets, network.internal, members)
        }
        var nodes = Set((inventory?.containers ?? []).map(\.name))
        for container in inventory?.containers ?? [] { self.memberships[container.name] = container.networks.map(\.name).sorted() }
        let (listed, hidden) = AuditReports.listedEdges(report)
        self.hiddenEdges = hidden
        let pairs = Dictionary(grouping: listed, by: { "\($0.source)\u{0}\($0.destination)" })
        var links: [Link] = []
        for (_, edges) in pairs {
            guard let first = edges.first else { continue }
            let verdict = Self.severityOrder.first { order in edges.contains { $0.verdict == order } } ?? .unknown
            let ports = edges.map { "\($0.protocol.rawValue)/\($0.port)" }
            links.append(Link(source: first.source, destination: first.destination, verdict: verdict, ports: Array(Set(ports)).sorted().prefix(4).joined(separator: " ") + (Set(ports).count > 4 ? " …" : "")))
            nodes.insert(first.source)
            nodes.insert(first.destination)
        }
        self.nodes = nodes.sorted()
        self.links = links.sorted { ($0.source, $0.destination) < ($1.source, $1.destination) }
    }

    /// The colour an edge of this verdict is drawn in (the HTML table uses the same).
    public static func colour(_ verdict: EdgeVerdict) -> String {
        switch verdict {
        case .mtlsEnforced: "#2e7d32"
        case .tlsAcceptsRogueClient: "#ad1457"
        case .mtlsOptional: "#fbc02d"
        case .tlsNoClientAuth: "#f9a825"
        case .inconclusive: "#6d4c41"
        case .plaintext: "#ef6c00"
        case .openUnverified: "#616161"
        case .blocked: "#bdbdbd"
        case .violation: "#c62828"
        case .unknown: "#9e9e9e"
        }
    }

    static func dotStyle(_ verdict: EdgeVerdict) -> String {
        switch verdict {
        case .violation: "bold"
        case .blocked: "dotted"
        case .openUnverified, .unknown, .inconclusive: "dashed"
        default: "solid"
        }
    }

    // MARK: - Graphviz

    public func dot() -> String {
        func quoted(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        var lines = ["digraph bulkhead {", "  rankdir=LR;", "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f5f5f5\", fontname=\"Helvetica\"];",
                     "  edge [fontname=\"Helvetica\", fontsize=10];"]
        var placed = Set<String>()
        for (index, network) in self.networks.enumerated() {
            lines.append("  subgraph cluster_\(index) {")
            lines.append("    label=\(quoted("\(network.name) \(network.subnets.joined(separator: " "))\(network.internal ? " (internal)" : "")"));")
            lines.append("    style=rounded; color=\"#90a4ae\";")
            // Graphviz puts a node in one cluster only: a container on several networks sits in its first.
            for member in network.members where placed.insert(member).inserted { lines.append("    \(quoted(member));") }
            lines.append("  }")
        }
        for node in self.nodes where !placed.contains(node) {
            lines.append("  \(quoted(node))\(node == "host" ? " [shape=house, fillcolor=\"#e3f2fd\"]" : "");")
        }
        for link in self.links {
            lines.append("  \(quoted(link.source)) -> \(quoted(link.destination)) [color=\"\(Self.colour(link.verdict))\", style=\(Self.dotStyle(link.verdict)), label=\(quoted(link.ports)), tooltip=\(quoted(link.verdict.rawValue))];")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - SVG

    /// An SVG drawing: networks as lanes, containers as boxes in the lane of their network (between lanes when on
    /// several), the host above, arrows coloured by verdict, and a legend.
    public func svg() -> String {
        let laneWidth = 220.0, top = 110.0, rowHeight = 64.0, boxWidth = 150.0, boxHeight = 34.0
        let laneCount = max(1, self.networks.count)
        let width = max(Double(laneCount) * laneWidth + 80, 980)
        var position: [String: (x: Double, y: Double)] = [:]
        var laneRows = [Int](repeating: 0, count: laneCount)
        var laneIndex: [String: [Int]] = [:]
        for (index, network) in self.networks.enumerated() {
            for member in network.members { laneIndex[member, default: []].append(index) }
        }
        // Each container in the lane of its first network, row by row; one on several networks names the others
        // under its name (drawing it between lanes would put it inside a network it is not on).
        for node in self.nodes where node != "host" {
            let lane = laneIndex[node]?.first ?? laneCount - 1
            position[node] = (40 + (Double(lane) + 0.5) * laneWidth, top + 70 + Double(laneRows[lane]) * rowHeight)
            laneRows[lane] += 1
        }
        position["host"] = (width / 2, 50)
        let rows = laneRows.max() ?? 1
        let height = top + 100 + Double(max(rows, 1)) * rowHeight + 80
        var svg = ["<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">"]
        svg.append("<defs>" + EdgeVerdict.allCases.map { verdict in
            "<marker id=\"arrow-\(verdict.rawValue)\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"\(Self.colour(verdict))\"/></marker>"
        }.joined() + "</defs>")
        for (index, network) in self.networks.enumerated() {
            let x = 40 + Double(index) * laneWidth + 6
            svg.append("<rect x=\"\(x)\" y=\"\(top)\" width=\"\(laneWidth - 12)\" height=\"\(height - top - 80)\" rx=\"12\" fill=\"\(network.internal ? "#fff8e1" : "#eceff1")\" stroke=\"#90a4ae\"/>")
            svg.append("<text x=\"\(x + 10)\" y=\"\(top + 20)\" font-weight=\"bold\">\(XMLText.escape(network.name))\(network.internal ? " (internal)" : "")</text>")
            svg.append("<text x=\"\(x + 10)\" y=\"\(top + 34)\" fill=\"#546e7a\" font-size=\"10\">\(XMLText.escape(network.subnets.joined(separator: " ")))</text>")
        }
        for link in self.links {
            guard let from = position[link.source], let to = position[link.destination], link.source != link.destination else { continue }
            // A gentle curve, bent to one side so that a → b and b → a do not overlap.
            let midX = (from.x + to.x) / 2 + (to.y - from.y) * 0.15
            let midY = (from.y + to.y) / 2 - (to.x - from.x) * 0.15
            let dash = link.verdict == .blocked ? " stroke-dasharray=\"3 4\"" : (link.verdict == .openUnverified || link.verdict == .unknown || link.verdict == .inconclusive ? " stroke-dasharray=\"7 4\"" : "")
            let widthValue = link.verdict == .violation ? 3.0 : 1.6
            // Start and end on the boxes' borders, not their centres, so the arrowheads show.
            let start = Self.border(of: from, towards: (midX, midY), halfWidth: boxWidth / 2, halfHeight: boxHeight / 2)
            let end = Self.border(of: to, towards: (midX, midY), halfWidth: boxWidth / 2, halfHeight: boxHeight / 2)
            svg.append("<path d=\"M\(Int(start.x)),\(Int(start.y)) Q\(Int(midX)),\(Int(midY)) \(Int(end.x)),\(Int(end.y))\" fill=\"none\" stroke=\"\(Self.colour(link.verdict))\" stroke-width=\"\(widthValue)\"\(dash) marker-end=\"url(#arrow-\(link.verdict.rawValue))\"><title>\(XMLText.escape("\(link.source) → \(link.destination): \(link.verdict.rawValue) (\(link.ports))"))</title></path>")
        }
        for node in self.nodes {
            guard let point = position[node] else { continue }
            let fill = node == "host" ? "#e3f2fd" : "#ffffff"
            let others = (self.memberships[node] ?? []).dropFirst()
            let also = others.isEmpty ? "" : "<text x=\"\(Int(point.x))\" y=\"\(Int(point.y + boxHeight / 2 + 12))\" text-anchor=\"middle\" font-size=\"10\" fill=\"#6a1b9a\">also on \(XMLText.escape(others.joined(separator: ", ")))</text>"
            svg.append("<g><rect x=\"\(Int(point.x - boxWidth / 2))\" y=\"\(Int(point.y - boxHeight / 2))\" width=\"\(Int(boxWidth))\" height=\"\(Int(boxHeight))\" rx=\"6\" fill=\"\(fill)\" stroke=\"\(others.isEmpty ? "#455a64" : "#6a1b9a")\" stroke-width=\"\(others.isEmpty ? 1 : 2)\"/><text x=\"\(Int(point.x))\" y=\"\(Int(point.y + 4))\" text-anchor=\"middle\">\(XMLText.escape(Self.shorten(node)))</text>\(also)<title>\(XMLText.escape(node))</title></g>")
        }
        var legendX = 40.0
        for verdict in EdgeVerdict.allCases where verdict != .blocked {
            let y = height - 30
            svg.append("<line x1=\"\(Int(legendX))\" y1=\"\(Int(y))\" x2=\"\(Int(legendX + 26))\" y2=\"\(Int(y))\" stroke=\"\(Self.colour(verdict))\" stroke-width=\"3\"/><text x=\"\(Int(legendX + 32))\" y=\"\(Int(y + 4))\">\(verdict.rawValue)</text>")
            legendX += 40 + Double(verdict.rawValue.count) * 7
        }
        svg.append("<text x=\"40\" y=\"\(Int(height - 8))\" font-size=\"10\" fill=\"#546e7a\">\(self.hiddenEdges) edge(s) not drawn: blocked as the policy expects, or open only to ports nothing listens on. One arrow per pair, in the colour of its worst edge.</text>")
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }

    /// Where the line from a box's centre towards `point` leaves the box.
    static func border(of centre: (x: Double, y: Double), towards point: (Double, Double), halfWidth: Double, halfHeight: Double) -> (x: Double, y: Double) {
        let dx = point.0 - centre.x, dy = point.1 - centre.y
        guard dx != 0 || dy != 0 else { return centre }
        let scale = min(dx == 0 ? .infinity : halfWidth / abs(dx), dy == 0 ? .infinity : halfHeight / abs(dy))
        return (centre.x + dx * scale, centre.y + dy * scale)
    }

    static func shorten(_ name: String) -> String { name.count > 22 ? String(name.prefix(21)) + "…" : name }
}
