import BulkheadModel

/// The `analyze` flow table built as the flows end, for captures with more flows than a report should hold in memory:
/// the same text as ``AnalysisTableReport/flows(_:)``, written a row at a time.
///
/// A table lines its columns up to the widest cell of the whole run, which is known only at the end. So each analysis
/// lane turns its flows into rows at once (``appendRow(_:to:)``: the escaped cells, nothing else), keeps them
/// somewhere (the `analyze` command's flow spool) and notes its columns' widths here; at the end the lanes' layouts
/// are merged (``merge(_:)``) and each kept row is padded to them (``appendLine(row:to:)``), in id order.
public struct FlowTableLayout: Sendable {
    /// Between the cells of a kept row. Cells are escaped (``TerminalText/escape(_:)-(String)``), which writes every
    /// C0 control as visible text, so no cell holds this byte.
    static let separator: UInt8 = 0x1F

    /// The widest cell of each column so far, the header's included.
    public private(set) var widths: [Int]

    public init() {
        self.widths = AnalysisTableReport.header.map(DisplayWidth.of)
    }

    /// Appends `flow`'s row to `bytes` (its cells, escaped, separated by U+001F), and widens the columns to fit it.
    public mutating func appendRow(_ flow: FlowRecord, to bytes: inout [UInt8]) {
        for (index, cell) in AnalysisTableReport.row(flow).enumerated() {
            if index > 0 { bytes.append(Self.separator) }
            bytes.append(contentsOf: cell.utf8)
            if index < self.widths.count { self.widths[index] = max(self.widths[index], DisplayWidth.of(cell)) }
        }
    }

    /// Widens the columns to fit what `other` (another lane's layout) saw too.
    public mutating func merge(_ other: FlowTableLayout) {
        for index in self.widths.indices where index < other.widths.count {
            self.widths[index] = max(self.widths[index], other.widths[index])
        }
    }

    /// The header line (no newline).
    public var headerLine: [UInt8] {
        var line: [UInt8] = []
        let cells = AnalysisTableReport.header.map { Array($0.utf8) }
        self.appendLine(cells: cells.map { $0[...] }, to: &line)
        return line
    }

    /// Appends the line of a row kept by ``appendRow(_:to:)`` (no newline): each cell but the last padded to its
    /// column's width and two spaces, as ``TextTable`` lines them up.
    public func appendLine(row: UnsafeRawBufferPointer, to line: inout [UInt8]) {
        self.appendLine(cells: row.split(separator: Self.separator, omittingEmptySubsequences: false), to: &line)
    }

    private func appendLine<Cell: Collection<UInt8>>(cells: [Cell], to line: inout [UInt8]) {
        for (index, cell) in cells.enumerated() {
            line.append(contentsOf: cell)
            guard index < cells.count - 1, index < self.widths.count else { continue }
            let padding = max(0, self.widths[index] - Self.width(of: cell)) + 2
            line.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
        }
    }

    /// The columns an escaped cell takes: its length when it is printable ASCII (nearly always), else as
    /// ``DisplayWidth`` counts them.
    private static func width<Cell: Collection<UInt8>>(of cell: Cell) -> Int {
        if cell.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return cell.count }
        return DisplayWidth.of(String(decoding: cell, as: UTF8.self))
    }
}
