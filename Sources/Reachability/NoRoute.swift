import BulkheadModel
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

extension ProbeLoop {
    /// A `connect`, `send` or `sendto` that failed at once, before any packet left the source's namespace.
    ///
    /// ENETUNREACH and EHOSTUNREACH returned by the call itself come from the source namespace's own routing table
    /// (no route to the address, or an `unreachable` route), not from anything on the path: no firewall and no router
    /// answered. What that proves depends on where the destination is:
    /// - on a network the inventory says the source is on (``ProbePlan/sourceNetworks``), the source has a link to it
    ///   and its kernel should have the connected route: a namespace that disagrees with its engine (routes deleted,
    ///   the interface down) proves nothing about isolation, so the cell is an `error`, at once;
    /// - anywhere else (another network, a listed address, a plain namespace), ``socketFailed(_:call:)`` judges it
    ///   as every local refusal: the source's namespace has no way to send there, which is isolation in force at the
    ///   source (a namespace without a default route), `rejected`; its note then says "no route", so that nobody
    ///   reads a firewall's answer into it (the attempt's evidence has the errno and no ICMP message).
    ///
    /// Every other errno goes to ``socketFailed(_:call:)`` unchanged.
    func sendFailed(_ attempt: Attempt, call: String) -> Bool {
        let code = errno
        guard code == ENETUNREACH || code == EHOSTUNREACH else { return self.socketFailed(attempt, call: call) }
        let cell = self.cells[attempt.cell]
        let name = ErrnoName.name(code)
        if let network = cell.network, self.plan.sourceNetworks[cell.source]?.contains(network) == true {
            if attempt.fd >= 0 { close(attempt.fd) }
            self.record(
                attempt.cell, ProbeAttempt(outcome: .failed, latencyMs: 0, errno: name),
                note:
                    "\(call) failed with \(name): \(cell.source)'s namespace has no route to \(cell.address), yet the "
                    + "inventory puts both on \(network) (routes changed, or its interface is down): proves nothing "
                    + "about isolation",
                final: true)
            self.cells[attempt.cell].state = .error
            return false
        }
        errno = code
        let started = self.socketFailed(attempt, call: call)
        // Judged a refusal by the source's routing: said so, since no firewall answered. (A refusal judged to prove
        // nothing is a `failed` attempt with its own note, left as it is.)
        if let last = self.evidence[attempt.cell].last, last.outcome == .icmpError, last.errno == name {
            self.cells[attempt.cell].note =
                "no route: \(cell.source)'s own routing table has none to \(cell.address) (\(call) failed with "
                + "\(name) before any packet left), so nothing it sends can get there; not a firewall's answer"
        }
        return started
    }
}
