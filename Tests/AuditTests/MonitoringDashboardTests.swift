import BulkheadModel
import BulkheadTestSupport
import Foundation
import Reporting
import Testing

/// What one PromQL expression uses: metric names, the label matchers of its selectors, and the labels of its
/// grouping clauses. A scanner of PromQL's lexical structure (strings, selectors, ranges, keywords, function calls),
/// not a parser of its grammar: enough to tell which series a dashboard asks for. What it does not recognise is a
/// problem, so an expression it cannot read fails the test instead of passing unchecked.
struct PromQLUses {
    struct Matcher: Equatable {
        /// The metric of the selector, nil for a selector without a name (then a problem).
        var metric: String?
        var label: String
        var op: String
        var value: String
    }

    var metrics: [String] = []
    var matchers: [Matcher] = []
    /// Labels of by/without/on/ignoring/group_left/group_right: they must exist on the expression's metrics.
    var groupingLabels: [String] = []
    var problems: [String] = []

    static let aggregators: Set<String> = [
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
        "bottomk", "topk", "quantile", "limitk", "limit_ratio",
    ]
    static let groupingKeywords: Set<String> = ["by", "without", "on", "ignoring", "group_left", "group_right"]
    static let keywords: Set<String> = ["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"]

    private let text: [Character]
    private var index = 0

    init(_ expression: String) {
        self.text = Array(expression)
        // The metric name just read: braces right after it (spaces allowed) are its selector.
        var previousMetric: String?
        while let character = self.peek() {
            if character.isWhitespace {
                self.index += 1
                continue
            }
            let metricBefore = previousMetric
            previousMetric = nil
            switch character {
            case "\"", "'", "`":
                _ = self.string()
            case "{":
                self.selector(metric: metricBefore)
            case "[":
                // A range or subquery ([5m], [$__rate_interval], [1h:5m]): durations, not names.
                self.skip(past: "]")
            case "$":
                // A Grafana variable outside a string ($__range, ${instance}).
                self.index += 1
                if self.peek() == "{" { self.skip(past: "}") } else { _ = self.identifier() }
            case _ where character.isNumber || character == ".":
                // Numbers and durations (3600, 1e3, offset 1d).
                while let next = self.peek(), next.isLetter || next.isNumber || next == "." { self.index += 1 }
            case _ where Self.startsIdentifier(character):
                let word = self.identifier()
                let lowered = word.lowercased()
                let followedByParenthesis = self.nextNonSpace() == "("
                if Self.groupingKeywords.contains(lowered) {
                    if followedByParenthesis { self.groupingLabels += self.labelList() }
                } else if !(Self.keywords.contains(lowered) || Self.aggregators.contains(lowered)
                    || followedByParenthesis)
                {
                    self.metrics.append(word)
                    previousMetric = word
                }
            case _ where "+-*/%^=!<>(),@".contains(character):
                self.index += 1
            default:
                self.problems.append("unexpected '\(character)' in \(expression)")
                self.index += 1
            }
        }
    }

    private func peek() -> Character? { self.index < self.text.count ? self.text[self.index] : nil }

    private func nextNonSpace() -> Character? { self.text[self.index...].first { !$0.isWhitespace } }

    private mutating func skipSpaces() { while let character = self.peek(), character.isWhitespace { self.index += 1 } }

    private mutating func skip(past end: Character) {
        while let character = self.peek() {
            self.index += 1
            if character == end { return }
        }
        self.problems.append("no closing \(end)")
    }

    static func startsIdentifier(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character == "_" || character == ":")
    }

    private mutating func identifier() -> String {
        var word = ""
        while let character = self.peek(),
            character.isASCII && (character.isLetter || character.isNumber || character == "_" || character == ":")
        {
            word.append(character)
            self.index += 1
        }
        return word
    }

    /// A quoted string, unescaped; the scanner stands on its opening quote.
    private mutating func string() -> String? {
        guard let quote = self.peek() else { return nil }
        self.index += 1
        var value = ""
        while let character = self.peek() {
            self.index += 1
            if character == quote { return value }
            if character == "\\" && quote != "`", let escaped = self.peek() {
                self.index += 1
                value.append(escaped)
            } else {
                value.append(character)
            }
        }
        self.problems.append("an unterminated string")
        return nil
    }

    /// `{label op "value", …}`; the scanner stands on `{`.
    private mutating func selector(metric: String?) {
        self.index += 1
        var metric = metric
        var found: [(label: String, op: String, value: String)] = []
        while true {
            self.skipSpaces()
            if self.peek() == "}" {
                self.index += 1
                break
            }
            let label = self.identifier()
            self.skipSpaces()
            let op = ["=~", "!~", "!=", "="].first { self.text[self.index...].starts(with: $0) } ?? ""
            self.index += op.count
            self.skipSpaces()
            guard !label.isEmpty, !op.isEmpty, let first = self.peek(), "\"'`".contains(first),
                let value = self.string()
            else {
                self.problems.append("a label matcher that is not label op \"value\"")
                return
            }
            found.append((label, op, value))
            self.skipSpaces()
            if self.peek() == "," { self.index += 1 }
        }
        // {__name__="x"} names its metric inside the braces.
        if metric == nil, let name = found.first(where: { $0.label == "__name__" && $0.op == "=" })?.value {
            metric = name
            self.metrics.append(name)
        }
        if metric == nil { self.problems.append("a selector without a metric name") }
        self.matchers += found.filter { $0.label != "__name__" }.map {
            Matcher(metric: metric, label: $0.label, op: $0.op, value: $0.value)
        }
    }

    /// `(label, …)` after a grouping keyword.
    private mutating func labelList() -> [String] {
        self.skipSpaces()
        self.index += 1  // (
        var labels: [String] = []
        while true {
            self.skipSpaces()
            guard let character = self.peek() else {
                self.problems.append("no closing ) after a grouping clause")
                return labels
            }
            if character == ")" {
                self.index += 1
                return labels
            }
            if character == "," {
                self.index += 1
                continue
            }
            let label = self.identifier()
            guard !label.isEmpty else {
                self.problems.append("a grouping clause that is not a list of labels")
                return labels
            }
            labels.append(label)
        }
    }
}

/// The samples of a textfile as the official Python client parses them: per sample name, per label, its values.
struct ParsedExposition {
    var labelValues: [String: [String: Set<String>]] = [:]

    /// Parses `text` with `prometheus_client.parser.text_string_to_metric_families`.
    static func parse(_ text: String) throws -> ParsedExposition {
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            print(json.dumps([{'name': s.name, 'labels': s.labels} for f in text_string_to_metric_families(sys.argv[1]) for s in f.samples]))
            """
        // The textfile is a few hundred bytes: an argument, no temporary file.
        let run = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, text])
        try #require(
            !run.error.contains("No module named"),
            "prometheus_client is missing (scripts/install-deps.sh --test installs it)")
        try #require(run.status == 0, "the textfile did not parse: \(run.error)")
        let samples = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [[String: Any]])
        var parsed = ParsedExposition()
        for sample in samples {
            let name = try #require(sample["name"] as? String)
            let labels = try #require(sample["labels"] as? [String: String])
            parsed.labelValues[name, default: [:]].merge(labels.mapValues { Set([$0]) }) { $0.union($1) }
        }
        return parsed
    }
}

/// Checks a Grafana dashboard against the metrics a textfile really holds.
struct DashboardCheck {
    /// Labels Prometheus gives every series of a scrape target: node-exporter's textfile has none of them.
    static let targetLabels: Set<String> = ["instance", "job"]

    let exposition: ParsedExposition

    /// Every problem of `dashboard`; empty when it queries only metrics, labels and label values the textfile has.
    func problems(_ dashboard: [String: Any]) -> [String] {
        var problems: [String] = []
        let inputs = dashboard["__inputs"] as? [[String: Any]] ?? []
        if !inputs.contains(where: {
            $0["name"] as? String == "DS_PROMETHEUS" && $0["pluginId"] as? String == "prometheus"
        }) {
            problems.append(
                "__inputs declares no DS_PROMETHEUS Prometheus datasource: the import would not ask for one")
        }
        var ids: Set<Int> = []
        for panel in Self.panels(dashboard) where panel["type"] as? String != "row" {
            let title = panel["title"] as? String ?? "an untitled panel"
            if let id = panel["id"] as? Int, !ids.insert(id).inserted {
                problems.append("\(title): panel id \(id) used twice")
            }
            problems += Self.datasourceProblems(panel["datasource"], at: title)
            let targets = panel["targets"] as? [[String: Any]] ?? []
            let expressions = targets.compactMap { $0["expr"] as? String }.filter { !$0.isEmpty }
            if expressions.isEmpty { problems.append("\(title): no query") }
            for target in targets {
                problems += Self.datasourceProblems(
                    target["datasource"], at: "\(title), query \(target["refId"] ?? "?")")
            }
            var panelLabels: Set<String> = []
            for expression in expressions {
                let uses = PromQLUses(expression)
                problems += self.problems(uses, in: "\(title): \(expression)")
                for metric in uses.metrics {
                    panelLabels.formUnion(self.exposition.labelValues[metric].map { Array($0.keys) } ?? [])
                }
            }
            problems += self.overrideProblems(panel, targets: targets, labels: panelLabels, at: title)
        }
        let variables = (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        for variable in variables where variable["type"] as? String == "query" {
            let name = variable["name"] as? String ?? "?"
            problems += Self.datasourceProblems(variable["datasource"], at: "variable \(name)")
            let query = (variable["query"] as? [String: Any])?["query"] as? String ?? variable["query"] as? String
            for text in [query, variable["definition"] as? String].compactMap({ $0 }) {
                problems += self.variableProblems(text, at: "variable \(name)")
            }
        }
        return problems
    }

    /// Metric names, label names and literal label values of one expression against the textfile.
    func problems(_ uses: PromQLUses, in place: String) -> [String] {
        var problems = uses.problems.map { "\(place): \($0)" }
        if uses.metrics.isEmpty { problems.append("\(place): queries no metric") }
        for metric in uses.metrics where self.exposition.labelValues[metric] == nil {
            problems.append(
                "\(place): \(metric) is not a metric of the textfile (it has \(self.exposition.labelValues.keys.sorted().joined(separator: ", ")))"
            )
        }
        for label in uses.groupingLabels where !Self.targetLabels.contains(label) {
            for metric in uses.metrics where self.exposition.labelValues[metric].map({ $0[label] == nil }) ?? false {
                problems.append("\(place): \(metric) has no label \(label)")
            }
        }
        for matcher in uses.matchers where !Self.targetLabels.contains(matcher.label) {
            guard let metric = matcher.metric, let labels = self.exposition.labelValues[metric] else { continue }
            guard let values = labels[matcher.label] else {
                problems.append("\(place): \(metric) has no label \(matcher.label)")
                continue
            }
            for value in Self.literalValues(matcher) where !values.contains(value) {
                problems.append(
                    "\(place): \(metric){\(matcher.label)} is never \"\(value)\" (its values: \(values.sorted().joined(separator: ", ")))"
                )
            }
        }
        return problems
    }

    /// The values a matcher names literally: `= "x"`, `!= "x"`, and the alternatives of a regex that is only
    /// `a|b|c`; a Grafana variable or a real regex names none.
    static func literalValues(_ matcher: PromQLUses.Matcher) -> [String] {
        guard !matcher.value.contains("$") else { return [] }
        if matcher.op == "=" || matcher.op == "!=" { return [matcher.value] }
        let plain = matcher.value.allSatisfy { $0.isLetter || $0.isNumber || "_-|".contains($0) }
        return plain ? matcher.value.split(separator: "|").map(String.init) : []
    }

    /// `label_values(selector, label)` (Grafana's variable query) or a plain expression.
    func variableProblems(_ query: String, at place: String) -> [String] {
        let trimmed = query.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("label_values("), trimmed.hasSuffix(")") else {
            return self.problems(PromQLUses(trimmed), in: "\(place): \(trimmed)")
        }
        let inner = trimmed.dropFirst("label_values(".count).dropLast()
        guard let comma = inner.lastIndex(of: ",") else {
            return ["\(place): \(trimmed) names no metric: it would list the label across every series"]
        }
        var uses = PromQLUses(String(inner[..<comma]))
        uses.groupingLabels.append(inner[inner.index(after: comma)...].trimmingCharacters(in: .whitespaces))
        return self.problems(uses, in: "\(place): \(trimmed)")
    }

    /// Overrides by series name must name a series the panel can have: a value of a label its legends show
    /// (`{{verdict}}` → violation, plaintext…), a literal legend, or a column of a table.
    func overrideProblems(_ panel: [String: Any], targets: [[String: Any]], labels: Set<String>, at place: String)
        -> [String]
    {
        let legends = targets.compactMap { $0["legendFormat"] as? String }
        var names = Set(legends.filter { !$0.contains("{{") })
        for legend in legends {
            for placeholder in legend.components(separatedBy: "{{").dropFirst() {
                let label = placeholder.prefix { $0 != "}" }.trimmingCharacters(in: .whitespaces)
                for values in self.exposition.labelValues.values { names.formUnion(values[label] ?? []) }
            }
        }
        names.formUnion(labels)
        for transformation in panel["transformations"] as? [[String: Any]] ?? [] {
            let renamed = (transformation["options"] as? [String: Any])?["renameByName"] as? [String: String] ?? [:]
            names.formUnion(renamed.values)
        }
        let overrides = (panel["fieldConfig"] as? [String: Any])?["overrides"] as? [[String: Any]] ?? []
        return overrides.compactMap { override in
            guard let matcher = override["matcher"] as? [String: Any], matcher["id"] as? String == "byName",
                let name = matcher["options"] as? String, !names.contains(name)
            else { return nil }
            return "\(place): an override for \"\(name)\", which no series or column of the panel is called"
        }
    }

    /// Every panel, those inside collapsed rows included.
    static func panels(_ dashboard: [String: Any]) -> [[String: Any]] {
        let top = dashboard["panels"] as? [[String: Any]] ?? []
        return top.flatMap { [$0] + ($0["panels"] as? [[String: Any]] ?? []) }
    }

    /// A datasource must be the import input, so Grafana asks which Prometheus to use instead of keeping a uid
    /// from the machine the dashboard came from.
    static func datasourceProblems(_ datasource: Any?, at place: String) -> [String] {
        guard let datasource = datasource as? [String: Any], datasource["uid"] as? String == "${DS_PROMETHEUS}",
            datasource["type"] as? String == "prometheus"
        else { return ["\(place): the datasource is not {type: prometheus, uid: ${DS_PROMETHEUS}}"] }
        return []
    }
}

@Suite("Monitoring: the Grafana dashboard queries what the Prometheus textfile holds")
struct MonitoringDashboardTests {
    static let dashboardPath = Repository.path("monitoring/grafana/bulkhead-audit.json")

    /// The textfile of an audit, parsed by prometheus_client. `lastSuccess` is given, or the last-success metric
    /// (written only once an audit completed) would be missing; every severity and verdict is written, zero or not.
    static func exposition() throws -> ParsedExposition {
        try ParsedExposition.parse(
            PrometheusReport.render(
                SampleAudit.report(), now: Date(timeIntervalSince1970: 1_795_000_000), lastSuccess: 1_794_990_000))
    }

    static func dashboard(_ text: String) throws -> [String: Any] {
        try #require(
            try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            "the dashboard is not a JSON object")
    }

    static func dashboardText() throws -> String { try String(contentsOfFile: Self.dashboardPath, encoding: .utf8) }

    @Test("the scanner reads metrics, matchers and grouping labels, and names what it cannot read")
    func scanner() {
        let uses = PromQLUses(
            #"sum by (verdict) (bulkhead_edges{instance=~"$instance", verdict="violation"}) / on(instance) group_left max(rate(x:y_total[$__rate_interval] offset 1d)) > 2 * 3600"#
        )
        #expect(uses.metrics == ["bulkhead_edges", "x:y_total"])
        #expect(
            uses.matchers == [
                PromQLUses.Matcher(metric: "bulkhead_edges", label: "instance", op: "=~", value: "$instance"),
                PromQLUses.Matcher(metric: "bulkhead_edges", label: "verdict", op: "=", value: "violation"),
            ])
        #expect(uses.groupingLabels == ["verdict", "instance"])
        #expect(uses.problems.isEmpty, "\(uses.problems)")
        #expect(PromQLUses(#"{__name__="bulkhead_audit_complete"} == 0"#).metrics == ["bulkhead_audit_complete"])
        #expect(
            !PromQLUses(#"{verdict="violation"}"#).problems.isEmpty,
            "a selector without a metric is never checked against one")
        #expect(!PromQLUses(#"bulkhead_edges{verdict=violation}"#).problems.isEmpty)
        #expect(!PromQLUses("bulkhead_edges # comment").problems.isEmpty)
    }

    @Test("valid JSON, imports with a Prometheus input, and every metric, label and label value is in the textfile")
    func dashboardMatchesTextfile() throws {
        let dashboard = try Self.dashboard(try Self.dashboardText())
        let exposition = try Self.exposition()
        #expect(
            Set(exposition.labelValues.keys) == [
                "bulkhead_findings", "bulkhead_edges", "bulkhead_audit_stage_duration_seconds",
                "bulkhead_audit_duration_seconds",
                "bulkhead_audit_complete", "bulkhead_audit_timestamp_seconds",
                "bulkhead_audit_last_success_timestamp_seconds",
            ])
        let problems = DashboardCheck(exposition: exposition).problems(dashboard)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")

        // Every metric of the textfile is on the dashboard, and the host variable lists the hosts that audit.
        let expressions = DashboardCheck.panels(dashboard).flatMap {
            ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
        }
        #expect(Set(expressions.flatMap { PromQLUses($0).metrics }) == Set(exposition.labelValues.keys))
        let variables = try #require((dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]])
        let host = try #require(variables.first { $0["name"] as? String == "instance" })
        #expect(host["definition"] as? String == "label_values(bulkhead_audit_complete, instance)")
        #expect((dashboard["schemaVersion"] as? Int ?? 0) >= 36, "the panel model of Grafana 9 and 10")
    }

    @Test("the verdicts that need action are red or orange wherever edges are shown by verdict")
    func verdictColours() throws {
        let dashboard = try Self.dashboard(try Self.dashboardText())
        let byVerdict = DashboardCheck.panels(dashboard).filter { panel in
            (panel["targets"] as? [[String: Any]] ?? []).contains { $0["legendFormat"] as? String == "{{verdict}}" }
        }
        #expect(byVerdict.count >= 2, "a bar gauge and a time series by verdict")
        for panel in byVerdict {
            let overrides = (panel["fieldConfig"] as? [String: Any])?["overrides"] as? [[String: Any]] ?? []
            var colours: [String: String] = [:]
            for override in overrides {
                guard let name = (override["matcher"] as? [String: Any])?["options"] as? String else { continue }
                let properties = override["properties"] as? [[String: Any]] ?? []
                let colour = properties.first { $0["id"] as? String == "color" }?["value"] as? [String: Any]
                colours[name] = colour?["fixedColor"] as? String
            }
            for verdict in [EdgeVerdict.violation, .tlsAcceptsRogueClient, .plaintext] {
                let colour = colours[verdict.rawValue] ?? "none"
                #expect(
                    colour.contains("red") || colour.contains("orange"),
                    "\(panel["title"] ?? "?"): \(verdict.rawValue) is \(colour)")
            }
        }
    }

    /// The check must be able to fail: a copy of the dashboard with one wrong name is refused, naming it.
    @Test(
        "a copy with a wrong metric, label or verdict is refused",
        arguments: [
            ("bulkhead_edges{", "bulkhead_edge{", "bulkhead_edge is not a metric of the textfile"),
            (
                "label_values(bulkhead_audit_complete,", "label_values(bulkhead_audit_completed,",
                "bulkhead_audit_completed is not a metric"
            ),
            ("sum by (verdict)", "sum by (verdicts)", "bulkhead_edges has no label verdicts"),
            (#"verdict=\"violation\""#, #"verdict=\"violations\""#, #"bulkhead_edges{verdict} is never "violations""#),
            (#"severity=\"high\""#, #"severity=\"severe\""#, #"bulkhead_findings{severity} is never "severe""#),
            (
                #""options": "tls-accepts-rogue-client""#, #""options": "rogue-client""#,
                #"an override for "rogue-client""#
            ),
            (#""uid": "${DS_PROMETHEUS}""#, #""uid": "P1809F7CD0C75ACF3""#, "the datasource is not"),
        ])
    func wrongNamesFail(original: String, replacement: String, expected: String) throws {
        let text = try Self.dashboardText()
        try #require(text.contains(original), "the dashboard no longer contains \(original): pick another mutation")
        let problems = DashboardCheck(exposition: try Self.exposition()).problems(
            try Self.dashboard(text.replacingOccurrences(of: original, with: replacement)))
        #expect(problems.contains { $0.contains(expected) }, "\(problems)")
    }
}
