import BulkheadModel

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// ANSI colour, used only when writing to a terminal and never when `NO_COLOR` is set (no-color.org).
public struct TerminalStyle: Sendable {
    public var enabled: Bool
    /// The columns tables must fit in: the terminal's width, or `COLUMNS`; nil when unknown (a file, a pipe), where
    /// nothing is cut.
    public var width: Int?

    public init(enabled: Bool, width: Int? = nil) {
        self.enabled = enabled
        self.width = width
    }

    /// Colour for a file descriptor: on when it is a TTY and `NO_COLOR` is unset or empty. The width from the TTY,
    /// else from `COLUMNS` when writing to standard output.
    public static func forDescriptor(_ fd: Int32) -> TerminalStyle {
        let noColor = getenv("NO_COLOR").map { String(cString: $0) } ?? ""
        var size = winsize()
        var width: Int?
        if fd >= 0, isatty(fd) == 1, ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 {
            width = Int(size.ws_col)
        } else if fd == STDOUT_FILENO, let columns = getenv("COLUMNS").flatMap({ Int(String(cString: $0)) }),
            columns > 0
        {
            width = columns
        }
        return TerminalStyle(enabled: isatty(fd) == 1 && noColor.isEmpty, width: width)
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

/// Text from outside — container and network names, labels, traffic strings, certificate names, engine messages —
/// made safe to print on a terminal: every C0 control (U+0000–U+001F, newline and tab included), DEL and every C1
/// control (U+0080–U+009F: CSI, OSC…) becomes visible text (`\x1b`, `\u{9b}`), as do the characters that reorder or
/// break lines (bidi embeddings, overrides and isolates U+202A–U+202E, U+2066–U+2069, the marks U+200E/U+200F and
/// U+061C, U+2028/U+2029), the noncharacters U+FFFE and U+FFFF, and the backslash itself (`\\`), so an escaped form can never be faked. An FTP user of
/// `ESC[2J` or an OSC title sequence prints as those characters instead of clearing the screen or retitling the
/// window. Everything else, non-ASCII text included, is kept.
///
/// Every table renderer applies it to each value it did not write itself; JSON and markdown have their own escaping,
/// and the HTML, XML and Graphviz renderers show the same characters the same way (``visibleEscape(_:)``).
public enum TerminalText {
    /// `text` with every control and reordering character shown as an escape.
    public static func escape(_ text: String) -> String {
        Self.escape(text, keepingBackslashes: false, keepingLineBreaks: false)
    }

    /// A message for standard error (`bulkhead: error: …`), which often repeats outside text (a YAML line, a label
    /// key, a node name): every control and reordering character escaped as ``escape(_:)-(String)`` does, except the
    /// line breaks a message is written with. Backslashes are kept as they are: a message may hold text a caller has
    /// already escaped (`analyze` does), and escaping it again would double every escape it shows.
    public static func message(_ text: String) -> String {
        Self.escape(text, keepingBackslashes: true, keepingLineBreaks: true)
    }

    /// Text Bulkhead already escaped when it read it off the wire (an SNI, ALPN, a tunnel's destination, an upgrade's
    /// path: every byte but printable ASCII, and `\` itself, written `\xNN`), shown as it is: its backslashes are
    /// escapes already, and doubling them showed `\\x0a`. A control or reordering character still in it (a report
    /// read back from a file someone else wrote) is escaped all the same.
    public static func escapeWireText(_ text: String) -> String {
        Self.escape(text, keepingBackslashes: true, keepingLineBreaks: false)
    }

    private static func escape(_ text: String, keepingBackslashes: Bool, keepingLineBreaks: Bool) -> String {
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && ($0 != 0x5C || keepingBackslashes) }) { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            let value = scalar.value
            switch value {
            case 0x0A where keepingLineBreaks:
                result.unicodeScalars.append(scalar)
            case 0x5C:
                result += keepingBackslashes ? "\\" : "\\\\"
            default:
                if let visible = Self.visibleEscape(scalar) {
                    result += visible
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    /// How a character that acts instead of showing is written: a C0 control or DEL as `\x1b`, a C1 control, a
    /// character that reorders or breaks lines, or the noncharacter U+FFFE or U+FFFF as `\u{202e}`; nil for every
    /// other character (the backslash too:
    /// each caller decides whether it doubles it). One rule for every renderer that shows outside text to a person:
    /// the tables, and the HTML, XML and Graphviz renderers, where a right-to-left override in a container's name
    /// would otherwise reverse the report's own sentence after it.
    public static func visibleEscape(_ scalar: Unicode.Scalar) -> String? {
        let value = scalar.value
        switch value {
        case 0x00..<0x20, 0x7F:
            return "\\x" + (value < 0x10 ? "0" : "") + String(value, radix: 16)
        case 0x80..<0xA0, 0x061C, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069,
            // Not characters at all, and outside XML 1.0's Char: raw, one would make the JUnit, the HTML or Graphviz's
            // SVG a document no XML reader accepts.
            0xFFFE, 0xFFFF:
            return "\\u{" + String(value, radix: 16) + "}"
        default:
            return nil
        }
    }

    /// Each of `values` escaped (a row of outside data).
    public static func escape(_ values: [String]) -> [String] { values.map { Self.escape($0) } }
}
