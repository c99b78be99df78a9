import CBulkheadLinux

/// Settings of the C allocator (glibc malloc) for work that allocates and frees much from several threads at once.
public enum AllocatorTuning {
    /// Makes every allocator heap grow, and shrink, in steps of at least `bytes` (`M_TOP_PAD`) instead of a page at a
    /// time. Each analysis thread has a heap (an "arena") of its own, grown and trimmed with `mprotect` as memory is
    /// taken and given back; with short flows that was tens of thousands of `mprotect` calls a second, each taking
    /// the process's memory map lock and stalling the other threads' page faults. The pad is address space, not
    /// memory: pages are only resident once used. Returns whether the allocator took the setting.
    @discardableResult
    public static func padHeapGrowth(bytes: Int) -> Bool {
        bh_malloc_top_pad(Int32(clamping: bytes)) == 1
    }
}
