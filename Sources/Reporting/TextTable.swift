/// How many terminal columns text takes: what a table must count to line up. ANSI escape sequences (the report's own
/// colours) take none; East Asian wide and fullwidth characters and emoji take two; combining marks, joiners and
/// variation selectors take none; everything else one. Counted per grapheme (a flag or a joined emoji is one
/// picture, two columns).
public enum DisplayWidth {
    public static func of(_ text: String) -> Int {
        // Printable ASCII, what nearly every cell holds, is a column a byte: no walk by grapheme, whose Unicode
        // property lookups made a table of 66k flows take seconds.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text.utf8.count }
        var width = 0
        for character in Self.strippingEscapes(text) { width += Self.of(character) }
        return width
    }

    static func of(_ character: Character) -> Int {
        let scalars = character.unicodeScalars
        if scalars.contains(where: { $0.properties.isEmojiPresentation || Self.isWide($0.value) }) { return 2 }
        // Text symbol shown as emoji.
        if scalars.count > 1, scalars.contains(where: { $0.value == 0xFE0F }) { return 2 }
        return scalars.allSatisfy(Self.isZeroWidth) ? 0 : 1
    }

    static func isZeroWidth(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: true
        default: (0xFE00...0xFE0F).contains(scalar.value) || scalar.value == 0x200B
        }
    }

    /// East Asian Wide (W) and Fullwidth (F) blocks.
    static func isWide(_ value: UInt32) -> Bool {
        switch value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
            0xAC00...0xD7A3,
            0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF,
            0x20000...0x2FFFD, 0x30000...0x3FFFD:
            true
        default: false
        }
    }

    /// `text` without CSI escape sequences (`ESC [ … final`). Outside text never holds a raw ESC (it is escaped
    /// by ``TerminalText/escape(_:)`` first), so every sequence here is one of the report's own colours.
    static func strippingEscapes(_ text: String) -> String {
        guard text.unicodeScalars.contains("\u{1b}") else { return text }
        var result = String.UnicodeScalarView()
        var iterator = text.unicodeScalars.makeIterator()
        while let scalar = iterator.next() {
            guard scalar == "\u{1b}" else {
                result.append(scalar)
                continue
            }
            guard let next = iterator.next() else { break }
            guard next == "[" else { continue }
            while let byte = iterator.next(), !(0x40...0x7E).contains(byte.value) {}
        }
        return String(result)
    }

    /// `text` cut to at most `width` columns, ending in `…` when cut. Only plain text (no escapes) is cut.
    public static func truncate(_ text: String, to width: Int) -> String {
        guard Self.of(text) > width else { return text }
        guard width > 0 else { return "" }
        var result = ""
        var used = 0
        for character in text {
            let size = Self.of(character)
            if used + size > width - 1 { break }
            result.append(character)
            used += size
        }
        return result + "…"
    }
}

/// Fits rows of cells into columns padded with spaces, by displayed width (colour escapes and wide characters
/// counted as the terminal shows them).
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    /// The table as lines. With `width`, the `flexible` columns (indices, plain text only) are cut with `…`, the
    /// widest first, until each line fits, though never below `minimum` columns each; the other columns keep their
    /// full text.
    func render(indent: String = "", width: Int? = nil, flexible: [Int] = [], minimum: Int = 10) -> String {
        var widths = self.header.map(DisplayWidth.of)
        for row in self.rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], DisplayWidth.of(cell))
            }
        }
        if let width {
            let gaps = 2 * max(0, widths.count - 1) + DisplayWidth.of(indent)
            var excess = widths.reduce(0, +) + gaps - width
            // Take from the widest flexible column, one column at a time, so the cuts are shared evenly.
            while excess > 0 {
                guard
                    let widest = flexible.filter({ $0 < widths.count && widths[$0] > minimum }).max(by: {
                        widths[$0] < widths[$1]
                    })
                else { break }
                widths[widest] -= 1
                excess -= 1
            }
        }
        func line(_ cells: [String]) -> String {
            var text = indent
            for (index, original) in cells.enumerated() {
                let cell =
                    index < widths.count && DisplayWidth.of(original) > widths[index]
                    ? DisplayWidth.truncate(original, to: widths[index]) : original
                text += cell
                if index < cells.count - 1, index < widths.count {
                    text += String(repeating: " ", count: max(0, widths[index] - DisplayWidth.of(cell)) + 2)
                }
            }
            return text
        }
        return ([line(self.header)] + self.rows.map(line)).joined(separator: "\n")
    }
}

extension DisplayWidth {
    /// `text` broken at spaces into lines of at most `width` displayed columns, the continuation lines indented by
    /// `hanging` spaces; one line when `width` is nil. A word longer than a line stays whole.
    public static func wrap(_ text: String, width: Int?, hanging: Int = 2) -> [String] {
        guard let width, Self.of(text) > width else { return [text] }
        // A leading indent is kept on the first line.
        let indent = String(text.prefix { $0 == " " })
        var lines: [String] = []
        var line = indent
        var used = indent.count
        for word in text.dropFirst(indent.count).split(separator: " ", omittingEmptySubsequences: false) {
            let size = Self.of(String(word))
            if used > indent.count, used + 1 + size > width {
                lines.append(line)
                line = String(repeating: " ", count: hanging)
                used = hanging
            } else if used > indent.count {
                line += " "
                used += 1
            }
            line += word
            used += size
        }
        lines.append(line)
        return lines
    }
}
