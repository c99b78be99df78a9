import ArgumentParser
import BulkheadModel
import Foundation
import PacketAnalysis
import Reporting

/// Loads `--keylog` files for the commands that analyse packets; nil when none is given.
func loadKeyLogs(_ paths: [String]) throws -> KeyLog? {
    guard !paths.isEmpty else { return nil }
    let loaded = KeyLog()
    for path in paths {
        do { try loaded.load(path: path) } catch {
            throw failInput("\(path): cannot read the key log: \(error.message)".escapingTerminalControls)
        }
    }
    return loaded
}
