import BulkheadModel

#if canImport(Glibc)
    import Glibc
#endif

/// A destination as a C socket address (IPv4 or IPv6), built once per attempt.
struct SocketAddress {
    var storage = sockaddr_storage()
    var length: socklen_t = 0
    var family: Int32

    init(_ address: IPAddress, port: Int) {
        if address.isIPv6 {
            self.family = AF_INET6
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = UInt16(truncatingIfNeeded: port).bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in
                raw.storeBytes(of: address.high.bigEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: address.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            withUnsafeMutableBytes(of: &self.storage) { raw in
                withUnsafeBytes(of: sin6) { raw.copyMemory(from: $0) }
            }
            self.length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            self.family = AF_INET
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = UInt16(truncatingIfNeeded: port).bigEndian
            sin.sin_addr.s_addr = UInt32(truncatingIfNeeded: address.low).bigEndian
            withUnsafeMutableBytes(of: &self.storage) { raw in
                withUnsafeBytes(of: sin) { raw.copyMemory(from: $0) }
            }
            self.length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
    }

    /// Calls `body` with the address as the `sockaddr` pointer the socket calls take.
    func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        withUnsafeBytes(of: self.storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), self.length)
        }
    }

    /// The local port a socket was given (after connect), or nil.
    static func localPort(of fd: Int32) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutableBytes(of: &storage) { raw in
            getsockname(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        guard result == 0 else { return nil }
        return withUnsafeBytes(of: storage) { raw -> Int? in
            let family = Int32(raw.load(as: sa_family_t.self))
            guard family == AF_INET || family == AF_INET6 else { return nil }
            return Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))
        }
    }
}
