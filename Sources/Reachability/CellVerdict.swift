import BulkheadModel

/// Turns a cell's attempts into its state. The rules, in order:
/// 1. Any attempt that got through (connected, RST, UDP port-unreachable) proves the path. If an earlier attempt
///    failed, the cell is `flapping` (still an open path: one success proves it); otherwise `reachable` or
///    `reachable-closed` by the conclusive answer.
/// 2. Otherwise an ICMP error on any attempt means `rejected` (an explicit refusal is stronger evidence than silence).
/// 3. Otherwise silence on every attempt: `filtered` for TCP and ICMP, `unknown` for UDP (a service may simply not
///    answer the datagram).
/// 4. Attempts that could not even be made leave the cell an `error`, never blocked.
public enum CellVerdict {
    public static func state(for attempts: [ProbeAttempt], protocol proto: ProbeProtocol) -> CellState {
        guard let last = attempts.last else { return .error }
        let failures = attempts.dropLast().contains { $0.outcome == .timeout || $0.outcome == .icmpError }
        switch last.outcome {
        case .connected: return failures ? .flapping : .reachable
        case .refused, .portUnreachable: return failures ? .flapping : .reachableClosed
        case .icmpError, .timeout, .failed: break
        }
        if attempts.contains(where: { $0.outcome == .icmpError }) { return .rejected }
        if attempts.contains(where: { $0.outcome == .timeout }) { return proto == .udp ? .unknown : .filtered }
        return .error
    }

    /// The latency of the answer that decided the cell; nil when nothing answered.
    public static func latency(of attempts: [ProbeAttempt]) -> Double? {
        guard let last = attempts.last, last.outcome != .timeout, last.outcome != .failed else { return nil }
        return (last.latencyMs * 1000).rounded() / 1000
    }
}
