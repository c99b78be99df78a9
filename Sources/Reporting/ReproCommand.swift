import BulkheadModel

/// A command a person can paste to see a cell's result for themselves, from the same namespace.
public enum ReproCommand {
    /// `nsenter -t <pid> -n nc -vz -w 2 198.18.1.10 8080` (`ip netns exec <name> …` for a named namespace without
    /// processes); nil when neither is known. Addresses and
    /// ports are the only interpolated values, and both were parsed as numbers/addresses, never free text.
    public static func line(for cell: ReachabilityCell) -> String? {
        guard IPAddress(cell.address) != nil else { return nil }
        let prefix: String
        if let pid = cell.sourcePid {
            prefix = "nsenter -t \(pid) -n"
        } else if !cell.source.isEmpty,
            cell.source.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
        {
            // A named namespace without processes; only plain names are printed.
            prefix = "ip netns exec \(cell.source)"
        } else {
            return nil
        }
        switch cell.protocol {
        case .tcp: return "\(prefix) nc -vz -w 2 \(cell.address) \(cell.port ?? 0)"
        case .udp: return "\(prefix) nc -vzu -w 2 \(cell.address) \(cell.port ?? 0)"
        case .icmp: return "\(prefix) ping -c 1 -W 2 \(cell.address)"
        }
    }
}
