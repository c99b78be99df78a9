import BulkheadModel

/// A command a person can paste to see a cell's result for themselves, from the same namespace.
public enum ReproCommand {
    /// `nsenter -t <pid> -n nc -vz -w 2 198.18.1.10 8080`; nil when the source's process is unknown. Addresses and
    /// ports are the only interpolated values, and both were parsed as numbers/addresses, never free text.
    public static func line(for cell: ReachabilityCell) -> String? {
        guard let pid = cell.sourcePid, IPAddress(cell.address) != nil else { return nil }
        let prefix = "nsenter -t \(pid) -n"
        switch cell.protocol {
        case .tcp: return "\(prefix) nc -vz -w 2 \(cell.address) \(cell.port ?? 0)"
        case .udp: return "\(prefix) nc -vzu -w 2 \(cell.address) \(cell.port ?? 0)"
        case .icmp: return "\(prefix) ping -c 1 -W 2 \(cell.address)"
        }
    }
}
