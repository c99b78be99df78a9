#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BulkheadModel

/// ANSI colour, used only when writing to a terminal and never when `NO_COLOR` is set (no-color.org).
public struct TerminalStyle: Sendable {
    public var enabled: Bool

    public init(enabled: Bool) { self.enabled = enabled }

    /// Colour for a file descriptor: on when it is a TTY and `NO_COLOR` is unset or empty.
    public static func forDescriptor(_ fd: Int32) -> TerminalStyle {
        let noColor = getenv("NO_COLOR").map { String(cString: $0) } ?? ""
        return TerminalStyle(enabled: isatty(fd) == 1 && noColor.isEmpty)
    }

    public func severity(_ text: String, _ severity: Severity) -> String {
        switch severity {
        case .critical: self.wrap(text, "1;31")
        case .high: self.wrap(text, "31")
        case .medium: self.wrap(text, "33")
        case .low: self.wrap(text, "36")
        case .info: self.wrap(text, "2")
        }
    }

    public func bold(_ text: String) -> String { self.wrap(text, "1") }

    private func wrap(_ text: String, _ code: String) -> String {
        self.enabled ? "\u{1b}[\(code)m\(text)\u{1b}[0m" : text
    }
}

/// Fits rows of cells into columns padded with spaces.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    func render(indent: String = "") -> String {
        var widths = self.header.map(\.count)
        for row in self.rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var text = indent
            for (index, cell) in cells.enumerated() {
                text += cell
                if index < cells.count - 1 {
                    for _ in 0..<(widths[index] - cell.count + 2) { text.append(" ") }
                }
            }
            return text
        }
        return ([line(self.header)] + self.rows.map(line)).joined(separator: "\n")
    }
}
