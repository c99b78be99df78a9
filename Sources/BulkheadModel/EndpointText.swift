/// Endpoints as Bulkhead writes them in reports and flows: `198.18.1.2:80`, `[2001:2::1]:443`, `198.18.1.2:*`
/// (a folded client port), or a bare address.
public enum EndpointText {
    /// The address and port of an endpoint; the port is nil when absent or `*`. Nil when the address does not parse.
    public static func split(_ text: String) -> (address: IPAddress, port: Int?)? {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            guard let address = IPAddress(String(text[text.index(after: text.startIndex)..<close])) else { return nil }
            let rest = text[text.index(after: close)...]
            return (address, rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil)
        }
        if let address = IPAddress(text) { return (address, nil) }
        guard let colon = text.lastIndex(of: ":"), let address = IPAddress(String(text[..<colon])) else { return nil }
        return (address, Int(text[text.index(after: colon)...]))
    }
}
