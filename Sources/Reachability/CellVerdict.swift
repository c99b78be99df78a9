import BulkheadModel

/// Turns a cell's attempts into its state. The rules, in order:
/// 1. Any attempt that got through (connected, RST, UDP port-unreachable) proves the path. If another attempt was
///    refused on the way (an ICMP error) or, for TCP and ICMP, met silence, the cell is `flapping` (still an open
///    path: one success proves it); otherwise `reachable` or `reachable-closed` by the best answer. For UDP a lost
///    datagram proves nothing (a service may leave one unanswered), so silence beside a reply is no flap.
/// 2. Otherwise an ICMP error on any attempt means `rejected` (an explicit refusal is stronger evidence than silence).
/// 3. Otherwise, if any attempt could not even be made (`failed`), the cell is an `error`: the attempts the verdict
///    needs did not all happen, so the silence of the others is not "blocked".
/// 4. Otherwise silence on every attempt: `filtered` for TCP and ICMP, `unknown` for UDP (a service may simply not
///    answer the datagram).
///
/// `refusalsAreRejections`: the destination's kernel showed, when the answer came, a listener on that very port and
/// address, so an RST or a port-unreachable is no closed port but a firewall's REJECT speaking for it (rule 2).
public enum CellVerdict {
    public static func state(
        for attempts: [ProbeAttempt], protocol proto: ProbeProtocol, refusalsAreRejections: Bool = false
    ) -> CellState {
        guard !attempts.isEmpty else { return .error }
        let refusal = { (attempt: ProbeAttempt) in attempt.outcome == .refused || attempt.outcome == .portUnreachable }
        let rejection = { (attempt: ProbeAttempt) in
            attempt.outcome == .icmpError || (refusalsAreRejections && refusal(attempt))
        }
        let connected = attempts.contains { $0.outcome == .connected }
        let closed = !refusalsAreRejections && attempts.contains(where: refusal)
        if connected || closed {
            let failures = attempts.contains { rejection($0) || (proto != .udp && $0.outcome == .timeout) }
            if failures { return .flapping }
            return connected ? .reachable : .reachableClosed
        }
        if attempts.contains(where: rejection) { return .rejected }
        if attempts.contains(where: { $0.outcome == .failed }) { return .error }
        return proto == .udp ? .unknown : .filtered
    }

    /// The latency of the answer that decided the cell; nil when nothing answered.
    public static func latency(of attempts: [ProbeAttempt]) -> Double? {
        guard let last = attempts.last, last.outcome != .timeout, last.outcome != .failed else { return nil }
        return (last.latencyMs * 1000).rounded() / 1000
    }
}
