extension String {
    /// The text with every character that a terminal would act on instead of showing written as a visible
    /// escape: C0 controls (`ESC[2J`, a bell, a carriage return that overwrites the line), DEL, C1 controls
    /// (U+0080–U+009F, e.g. the one-character CSI U+009B) and the invisible direction overrides that reorder
    /// what is shown. Text from traffic, certificates and file names goes through this before a table shows it.
    public var escapingTerminalControls: String {
        guard self.unicodeScalars.contains(where: Self.isTerminalControl) else { return self }
        var result = ""
        result.reserveCapacity(self.utf8.count + 16)
        for scalar in self.unicodeScalars {
            if Self.isTerminalControl(scalar) {
                let hex = String(scalar.value, radix: 16)
                result += scalar.value <= 0xff ? "\\x" + (hex.count < 2 ? "0" : "") + hex : "\\u{" + hex + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func isTerminalControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1f, 0x7f...0x9f: true
        case 0x200e, 0x200f, 0x2028, 0x2029, 0x202a...0x202e, 0x2066...0x2069: true  // direction marks, line separators
        default: false
        }
    }
}
