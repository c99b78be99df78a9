import BulkheadModel
import Foundation

/// The audit's topology as a picture that stays readable at 50 containers: a network where containers may talk to
/// each other (inter-container communication on) is one hub its members attach to, so the many paths it implies
/// are one picture, not a braid of arrows; only the exceptions are arrows: violations, plaintext, endpoints that
/// accept forged client certificates, paths that cross networks, and paths to or from the host. Networks with no
/// container are folded into one line. Rendered as Graphviz `dot`, and as inline SVG for the HTML report: laid out
/// by Graphviz when it is installed, by a built-in grid otherwise.
public struct TopologyGraph: Sendable {
    public struct Network: Sendable {
        public var name: String
        public var subnets: [String]
        public var `internal`: Bool
        /// Inter-container communication on: every member may reach every other, drawn as a hub.
        public var icc: Bool
        public var members: [String]
        public var isHub: Bool { self.icc && self.members.count >= 2 }
    }

    /// Why an edge is drawn as an arrow instead of being implied by a hub.
    public enum Exception: String, Sendable {
        case verdict, crossNetwork = "cross-network", host
    }

    /// One arrow: the exceptional edges of a source → destination pair, in the colour of the worst.
    public struct Link: Sendable {
        public var source: String
        public var destination: String
        public var verdict: EdgeVerdict
        /// `tcp/8080 udp/53`
        public var ports: String
        public var exception: Exception
    }

    /// The same exception from many members of a hub network towards one member (every client of a plaintext
    /// service): one coloured line from the hub instead of an arrow per client.
    public struct HubLink: Sendable {
        public var network: String
        public var destination: String
        public var verdict: EdgeVerdict
        public var sources: Int
        public var ports: String
    }

    /// From this many sources on, a network's exceptions towards one destination are drawn from its hub.
    static let hubLinkMinimum = 3

    public enum Layout: Sendable {
        /// Graphviz when `dot` is installed, else the built-in grid.
        case automatic
        case graphviz
        case builtIn
    }

    /// Networks with at least one container, by name.
    public var networks: [Network]
    /// Networks with no container (`bridge`, `host`, `none` on most hosts): one line, not a box each.
    public var emptyNetworks: [String]
    public var nodes: [String]
    public var links: [Link]
    public var hubLinks: [HubLink]
    /// Listed edges not drawn because their network's hub implies them.
    public var impliedEdges: Int
    /// Edges not drawn at all: blocked as the policy expects, or open only to ports nothing listens on (the edge
    /// table counts them the same way).
    public var hiddenEdges: Int
    /// Per container, the networks it is on (drawn in the first, attached to the hubs of the others).
    var memberships: [String: [String]] = [:]
    /// Per container, the worst verdict of the listed edges that reach it (its box is outlined in that colour).
    var worstIncoming: [String: EdgeVerdict] = [:]

    /// The picture of an audit: its inventory's networks and containers, its exceptional edges folded per pair.
    public init(_ report: AuditReport) {
        let inventory = report.evidence.inventory
        let containers = inventory?.containers ?? []
        var members: [String: [String]] = [:]
        for container in containers {
            let names = container.networks.map(\.name).sorted()
            self.memberships[container.name] = names
            for name in names { members[name, default: []].append(container.name) }
        }
        let all = (inventory?.networks ?? []).sorted { $0.name < $1.name }.map { network in
            Network(
                name: network.name, subnets: network.subnets, internal: network.internal, icc: network.icc,
                members: (members[network.name] ?? []).sorted())
        }
        self.networks = all.filter { !$0.members.isEmpty }
        self.emptyNetworks = all.filter(\.members.isEmpty).map(\.name)
        let hubs = self.networks.filter(\.isHub).map { Set($0.members) }

        let (listed, hidden) = AuditReports.listedEdges(report)
        self.hiddenEdges = hidden
        var nodes = Set(containers.map(\.name))
        var implied = 0
        var exceptions: [(edge: Edge, exception: Exception)] = []
        for edge in listed {
            self.worstIncoming[edge.destination] = EdgeVerdict.worst(
                [edge.verdict] + [self.worstIncoming[edge.destination]].compactMap { $0 })
            let exception: Exception?
            if edge.source == "host" || edge.destination == "host" {
                exception = .host
            } else if [.violation, .plaintext, .tlsAcceptsRogueClient].contains(edge.verdict) {
                exception = .verdict
            } else if !hubs.contains(where: { $0.contains(edge.source) && $0.contains(edge.destination) }) {
                exception = .crossNetwork
            } else {
                exception = nil
            }
            guard let exception else {
                implied += 1
                continue
            }
            exceptions.append((edge, exception))
            nodes.insert(edge.source)
            nodes.insert(edge.destination)
        }
        self.impliedEdges = implied
        // Many members of one hub network with the same exception towards one member: drawn from the hub.
        let hubNetworks = self.networks.filter(\.isHub)
        var fromHub: [String: [Edge]] = [:]
        for (edge, exception) in exceptions where exception == .verdict {
            guard
                let network = hubNetworks.first(where: {
                    $0.members.contains(edge.source) && $0.members.contains(edge.destination)
                })
            else { continue }
            fromHub["\(network.name)\u{0}\(edge.destination)\u{0}\(edge.verdict.rawValue)", default: []].append(edge)
        }
        var collapsed = Set<Edge>()
        var hubLinks: [HubLink] = []
        for (key, edges) in fromHub where Set(edges.map(\.source)).count >= Self.hubLinkMinimum {
            guard let network = key.split(separator: "\u{0}", omittingEmptySubsequences: false).first,
                let first = edges.first
            else { continue }
            collapsed.formUnion(edges)
            let ports = Array(Set(edges.map { "\($0.protocol.rawValue)/\($0.port)" })).sorted()
            hubLinks.append(
                HubLink(
                    network: String(network), destination: first.destination, verdict: first.verdict,
                    sources: Set(edges.map(\.source)).count,
                    ports: ports.joined(separator: " ")))
        }
        self.hubLinks = hubLinks.sorted {
            ($0.network, $0.destination, $0.verdict.riskRank) < ($1.network, $1.destination, $1.verdict.riskRank)
        }
        var exceptional: [String: (edges: [Edge], exception: Exception)] = [:]
        for (edge, exception) in exceptions where !collapsed.contains(edge) {
            exceptional["\(edge.source)\u{0}\(edge.destination)", default: ([], exception)].edges.append(edge)
        }
        self.links = exceptional.values.compactMap { group in
            guard let first = group.edges.first else { return nil }
            let ports = Array(Set(group.edges.map { "\($0.protocol.rawValue)/\($0.port)" })).sorted()
            return Link(
                source: first.source, destination: first.destination,
                verdict: EdgeVerdict.worst(group.edges.map(\.verdict)),
                ports: ports.prefix(4).joined(separator: " ") + (ports.count > 4 ? " …" : ""),
                exception: group.exception)
        }.sorted { ($0.source, $0.destination) < ($1.source, $1.destination) }
        self.nodes = nodes.sorted()
    }

    /// The colour an edge of this verdict is drawn in (the HTML table and matrix use the same).
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

    /// The one line under the picture: what it leaves out, and the networks folded away.
    public var caption: String {
        var parts = [
            "One arrow per source → destination pair with an exception (violation, plaintext, forged certificates accepted, a path across networks or to the host), in the colour of its worst edge."
        ]
        if !self.hubLinks.isEmpty {
            parts.append(
                "A coloured line from a network's hub: \(Self.hubLinkMinimum) or more of its members share that exception towards the container."
            )
        }
        if self.impliedEdges > 0 {
            parts.append(
                "\(self.impliedEdges) edge(s) inside a network with inter-container communication on are the hub's lines."
            )
        }
        if self.hiddenEdges > 0 {
            parts.append(
                "\(self.hiddenEdges) edge(s) not drawn: blocked as the policy expects, or open only to ports nothing listens on."
            )
        }
        if !self.emptyNetworks.isEmpty {
            parts.append("Networks with no container: \(self.emptyNetworks.joined(separator: ", ")).")
        }
        return parts.joined(separator: " ")
    }

    // MARK: - Graphviz

    /// The graph in Graphviz's language. Node ids are generated (`n0`, `h0`…): names from outside are only labels,
    /// written as the table writes them (``TerminalText/escape(_:)-(String)``: an ESC or BEL in a name would reach
    /// `dot -Tsvg`'s SVG raw, which no XML reader accepts, and a bidi override would reverse the picture's text), then
    /// quoted for Graphviz.
    public func dot() -> String {
        func quoted(_ text: String) -> String {
            "\""
                + TerminalText.escape(text).replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var ids: [String: String] = [:]
        for (index, node) in self.nodes.enumerated() { ids[node] = "n\(index)" }
        var lines = [
            "digraph bulkhead {",
            "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, nodesep=0.2, ranksep=0.5];",
            "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=11, height=0.3];",
            "  edge [fontname=\"Helvetica\", fontsize=9];",
        ]
        var placed = Set<String>()
        for (index, network) in self.networks.enumerated() {
            lines.append("  subgraph cluster_\(index) {")
            lines.append(
                "    label=\(quoted("\(network.name) \(network.subnets.joined(separator: " "))\(network.internal ? " (internal)" : "")\(network.icc ? "" : " (icc off)")"));"
            )
            lines.append(
                "    style=\"rounded,filled\"; color=\"#90a4ae\"; fillcolor=\"\(network.internal ? "#fff8e1" : "#eceff1")\";"
            )
            if network.isHub {
                lines.append(
                    "    h\(index) [shape=circle, label=\"\", width=0.16, style=filled, fillcolor=\"#78909c\", color=\"#78909c\", tooltip=\(quoted("\(network.name): members may reach each other"))];"
                )
            }
            // Graphviz puts a node in one cluster only: a container on several networks sits in its first.
            for member in network.members where placed.insert(member).inserted {
                guard let id = ids[member] else { continue }
                lines.append(
                    "    \(id) [label=\(quoted(Self.shorten(member))), tooltip=\(quoted(member))\(self.outline(member).map { ", color=\"\($0)\", penwidth=2" } ?? "")];"
                )
            }
            lines.append("  }")
        }
        for node in self.nodes where !placed.contains(node) {
            guard let id = ids[node] else { continue }
            lines.append(
                "  \(id) [label=\(quoted(Self.shorten(node))), tooltip=\(quoted(node))\(node == "host" ? ", shape=house, fillcolor=\"#e3f2fd\"" : "")];"
            )
        }
        for (index, network) in self.networks.enumerated() where network.isHub {
            for member in network.members {
                guard let id = ids[member] else { continue }
                if let link = self.hubLink(network.name, member) {
                    lines.append(
                        "  h\(index) -> \(id) [color=\"\(Self.colour(link.verdict))\", penwidth=2, label=\(quoted(link.ports)), fontcolor=\"\(Self.colour(link.verdict))\", "
                            + "tooltip=\(quoted("\(link.sources) members of \(network.name) → \(member): \(link.verdict.rawValue) (\(link.ports))"))];"
                    )
                } else {
                    lines.append("  h\(index) -> \(id) [dir=none, color=\"#90a4ae\"];")
                }
            }
        }
        for link in self.links {
            guard let from = ids[link.source], let to = ids[link.destination] else { continue }
            lines.append(
                "  \(from) -> \(to) [color=\"\(Self.colour(link.verdict))\", penwidth=\(link.verdict == .violation ? 2.4 : 1.4), style=\(Self.dotStyle(link.verdict)), constraint=false, "
                    + "label=\(quoted(link.ports)), fontcolor=\"\(Self.colour(link.verdict))\", tooltip=\(quoted("\(link.source) → \(link.destination): \(link.verdict.rawValue) (\(link.ports))"))];"
            )
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The worst exception drawn from `network`'s hub to `member`.
    func hubLink(_ network: String, _ member: String) -> HubLink? {
        self.hubLinks.filter { $0.network == network && $0.destination == member }.min {
            $0.verdict.riskRank < $1.verdict.riskRank
        }
    }

    /// The outline colour of a container's box: the worst verdict reaching it, when that needs action.
    func outline(_ node: String) -> String? {
        guard let worst = self.worstIncoming[node], worst.isProblem else { return nil }
        return Self.colour(worst)
    }

    // MARK: - SVG

    /// An SVG drawing that scales to its container's width (it never scrolls sideways).
    public func svg(layout: Layout = .automatic) -> String {
        if layout != .builtIn, let drawn = Graphviz.svg(self.dot()) { return Self.fitWidth(drawn) }
        return self.gridSVG()
    }

    /// Graphviz's SVG with its fixed size replaced by the page's width (at most its natural width).
    static func fitWidth(_ svg: String) -> String {
        guard let open = svg.range(of: "<svg"), let close = svg[open.upperBound...].range(of: ">") else { return svg }
        var tag = String(svg[open.lowerBound..<close.upperBound])
        var natural = 1300.0
        if let match = tag.range(of: #"width="([0-9.]+)pt""#, options: .regularExpression) {
            let digits = tag[match].dropFirst(7).dropLast(3)
            natural = (Double(digits) ?? natural) * 4 / 3
            tag.replaceSubrange(match, with: "width=\"100%\" style=\"max-width:\(Int(natural))px\"")
        }
        tag = tag.replacingOccurrences(of: #" height="[0-9.]+pt""#, with: "", options: .regularExpression)
        return tag + svg[close.upperBound...]
    }

    /// The built-in layout: one card per network in a grid four wide, its members in a column on the hub's bus line;
    /// containers on no network and the host in a last card; exception arrows drawn under the boxes.
    func gridSVG() -> String {
        let canvas = 1360.0, cardWidth = 320.0, gap = 20.0, boxWidth = 240.0, boxHeight = 26.0, rowHeight = 34.0,
            header = 44.0
        var cards = self.networks.map {
            (
                title: $0.name,
                subtitle: $0.subnets.joined(separator: " ") + ($0.internal ? " · internal" : "")
                    + ($0.icc ? "" : " · icc off"),
                members: $0.members, hub: $0.isHub, internal: $0.internal
            )
        }
        let placedSomewhere = Set(self.networks.flatMap(\.members))
        let loose = self.nodes.filter { !placedSomewhere.contains($0) }
        if !loose.isEmpty {
            cards.append(
                (
                    title: "outside the networks", subtitle: "the host, and containers on no audited network",
                    members: loose, hub: false, internal: false
                ))
        }
        var position: [String: (x: Double, y: Double)] = [:]
        var drawn: [String] = []
        var y = 10.0
        var rowHeightMax = 0.0
        for (index, card) in cards.enumerated() {
            let column = index % 4
            if column == 0 && index > 0 {
                y += rowHeightMax + gap
                rowHeightMax = 0
            }
            let x = 10 + Double(column) * (cardWidth + gap)
            let height = header + Double(card.members.count) * rowHeight + 10
            rowHeightMax = max(rowHeightMax, height)
            var parts = [
                "<rect x=\"\(Int(x))\" y=\"\(Int(y))\" width=\"\(Int(cardWidth))\" height=\"\(Int(height))\" rx=\"10\" fill=\"\(card.internal ? "#fff8e1" : "#eceff1")\" stroke=\"#90a4ae\"/>",
                "<text x=\"\(Int(x + 12))\" y=\"\(Int(y + 18))\" font-weight=\"bold\">\(XMLText.escape(Self.shorten(card.title, 34)))<title>\(XMLText.escape(card.title))</title></text>",
                "<text x=\"\(Int(x + 12))\" y=\"\(Int(y + 33))\" font-size=\"10\" fill=\"#546e7a\">\(XMLText.escape(Self.shorten(card.subtitle, 52)))</text>",
            ]
            let busX = x + 24
            if card.hub, let last = card.members.indices.last {
                let bottom = y + header + Double(last) * rowHeight + boxHeight / 2
                parts.append(
                    "<circle cx=\"\(Int(busX))\" cy=\"\(Int(y + header - 4))\" r=\"5\" fill=\"#78909c\"><title>\(XMLText.escape("\(card.title): members may reach each other"))</title></circle>"
                )
                parts.append(
                    "<line x1=\"\(Int(busX))\" y1=\"\(Int(y + header - 4))\" x2=\"\(Int(busX))\" y2=\"\(Int(bottom))\" stroke=\"#90a4ae\" stroke-width=\"2\"/>"
                )
            }
            for (row, member) in card.members.enumerated() {
                let boxX = x + 50, boxY = y + header + Double(row) * rowHeight
                if card.hub {
                    // The stub from the bus: coloured, with an arrowhead, when many members share an exception towards this one.
                    let link = self.hubLink(card.title, member)
                    let stroke = link.map { Self.colour($0.verdict) } ?? "#90a4ae"
                    let arrow = link.map { " marker-end=\"url(#arrow-\($0.verdict.rawValue))\"" } ?? ""
                    let title =
                        link.map {
                            "<title>\(XMLText.escape("\($0.sources) members of \(card.title) → \(member): \($0.verdict.rawValue) (\($0.ports))"))</title>"
                        } ?? ""
                    parts.append(
                        "<line x1=\"\(Int(busX))\" y1=\"\(Int(boxY + boxHeight / 2))\" x2=\"\(Int(boxX))\" y2=\"\(Int(boxY + boxHeight / 2))\" stroke=\"\(stroke)\" stroke-width=\"\(link == nil ? 2 : 3)\"\(arrow)>\(title)</line>"
                    )
                }
                // A container on several networks is drawn solid in its first, dashed in the others; arrows use the first.
                // (Cards come in name order, as do a container's networks: the first card it is in is its first network.)
                let primary = position[member] == nil
                if primary { position[member] = (boxX + boxWidth / 2, boxY + boxHeight / 2) }
                let stroke = self.outline(member) ?? "#455a64"
                let others = (self.memberships[member] ?? []).filter { $0 != card.title }
                let note = others.isEmpty ? "" : " (also on \(others.joined(separator: ", ")))"
                parts.append(
                    "<g><rect x=\"\(Int(boxX))\" y=\"\(Int(boxY))\" width=\"\(Int(boxWidth))\" height=\"\(Int(boxHeight))\" rx=\"5\" fill=\"\(member == "host" ? "#e3f2fd" : "#ffffff")\" stroke=\"\(stroke)\""
                        + " stroke-width=\"\(self.outline(member) == nil ? 1 : 2)\"\(primary ? "" : " stroke-dasharray=\"4 3\"")/><text x=\"\(Int(boxX + 8))\" y=\"\(Int(boxY + 17))\">\(XMLText.escape(Self.shorten(member, 34)))</text>"
                        + "<title>\(XMLText.escape(member + note))</title></g>")
            }
            drawn.append(parts.joined(separator: "\n"))
        }
        let height = y + rowHeightMax + 20
        var arrows: [String] = []
        for link in self.links {
            guard let from = position[link.source], let to = position[link.destination], link.source != link.destination
            else { continue }
            let start = (x: from.x + boxWidth / 2, y: from.y),
                end = (x: to.x + (to.x >= from.x ? -boxWidth / 2 : boxWidth / 2), y: to.y)
            let bend = abs(end.x - start.x) < 1 ? 60.0 : 0
            let dash = Self.dotStyle(link.verdict) == "dashed" ? " stroke-dasharray=\"7 4\"" : ""
            arrows.append(
                "<path d=\"M\(Int(start.x)),\(Int(start.y)) C\(Int(start.x + 60 + bend)),\(Int(start.y)) \(Int(end.x + (to.x >= from.x ? -60 : 60) + bend)),\(Int(end.y)) \(Int(end.x)),\(Int(end.y))\" "
                    + "fill=\"none\" stroke=\"\(Self.colour(link.verdict))\" stroke-width=\"\(link.verdict == .violation ? 3 : 1.8)\" stroke-opacity=\"0.85\"\(dash) marker-end=\"url(#arrow-\(link.verdict.rawValue))\">"
                    + "<title>\(XMLText.escape("\(link.source) → \(link.destination): \(link.verdict.rawValue) (\(link.ports))"))</title></path>"
            )
        }
        let markers =
            "<defs>"
            + EdgeVerdict.allCases.map { verdict in
                "<marker id=\"arrow-\(verdict.rawValue)\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"\(Self.colour(verdict))\"/></marker>"
            }.joined() + "</defs>"
        // Arrows go last, translucent, so their heads stay visible over the cards and boxes they cross.
        return
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(canvas)) \(Int(height))\" width=\"100%\" style=\"max-width:\(Int(canvas))px\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
            + markers + "\n" + drawn.joined(separator: "\n") + "\n" + arrows.joined(separator: "\n") + "\n</svg>"
    }

    static func shorten(_ name: String, _ limit: Int = 22) -> String {
        name.count > limit ? String(name.prefix(limit - 1)) + "…" : name
    }
}

/// Runs Graphviz's `dot` on a graph (no shell: the program and its arguments are passed as they are), bounded to a
/// few seconds; nil when Graphviz is not installed or fails, so the caller falls back to its own layout.
enum Graphviz {
    static let candidates = ["/usr/bin/dot", "/usr/local/bin/dot"]

    static func svg(_ graph: String, timeout: Double = 10) -> String? {
        guard let path = Self.candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return nil
        }
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("bulkhead-\(UUID().uuidString).dot")
        guard (try? graph.write(to: input, atomically: true, encoding: .utf8)) != nil else { return nil }
        defer { try? FileManager.default.removeItem(at: input) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-Tsvg", input.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        guard process.terminationStatus == 0, let text = String(data: data, encoding: .utf8),
            let start = text.range(of: "<svg")
        else { return nil }
        return String(text[start.lowerBound...])
    }
}
