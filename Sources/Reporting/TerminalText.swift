extension String {
    /// The text with every character that a terminal would act on instead of showing written as a visible
    /// escape (C0 and C1 controls, DEL, direction overrides; a backslash is doubled so escapes stay unambiguous).
    /// Text from traffic, certificates and file names goes through this before a table shows it: one rule,
    /// ``TerminalText/escape(_:)-(String)``, for every report.
    public var escapingTerminalControls: String { TerminalText.escape(self) }
}
