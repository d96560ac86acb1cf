import CThreadwatch
import ThreadwatchModel
#if canImport(Glibc)
import Glibc
#endif

/// Exact per-thread, per-chunk access counts on a cache line from hardware
/// watchpoints (perf breakpoint events, counting only). A thread has 4 debug
/// registers, so the line's watch slots are taken 4 at a time, one short
/// window each.
struct WatchpointCounter {
    static let registersPerThread = 4

    var windowMillis: Int
    /// Set when the kernel refused breakpoint events altogether.
    private(set) var refused: String?
    private(set) var warnings: [String] = []

    init(windowMillis: Int) { self.windowMillis = windowMillis }

    mutating func count(_ line: CacheLineStats, slots: [WatchSlot]) -> [Int32: [Int: WatchCount]] {
        let tids = line.threads.keys.sorted()
        var counts: [Int32: [Int: WatchCount]] = [:]
        var start = 0
        while start < slots.count && refused == nil {
            let window = Array(slots[start..<min(slots.count, start + Self.registersPerThread)])
            start += window.count
            var open: [(tid: Int32, slot: WatchSlot, fd: Int32)] = []
            for tid in tids {
                for slot in window {
                    let fd = tw_perf_open_breakpoint(tid, line.line + UInt64(slot.offset), 8,
                                                     slot.kind == .write ? Int32(TW_BP_W) : Int32(TW_BP_RW))
                    if fd >= 0 { open.append((tid, slot, fd)); continue }
                    switch -fd {
                    case ESRCH: break   // the thread exited
                    case ENOSPC: warnings.append("thread \(tid): no free debug register for a watchpoint on 0x\(String(line.line + UInt64(slot.offset), radix: 16)) (a debugger may hold them)")
                    default: refused = "hardware watchpoints (perf breakpoint events) refused: \(String(cString: strerror(-fd)))"
                    }
                }
            }
            if refused == nil { usleep(UInt32(windowMillis * 1000)) }
            for entry in open {
                var value: UInt64 = 0
                if tw_perf_read_count(entry.fd, &value) == 0, refused == nil {
                    var c = counts[entry.tid, default: [:]][entry.slot.offset] ?? WatchCount()
                    if entry.slot.kind == .write { c.writes = Int(clamping: value) } else { c.accesses = Int(clamping: value) }
                    counts[entry.tid, default: [:]][entry.slot.offset] = c
                }
                _ = tw_perf_close(entry.fd)
            }
        }
        return counts
    }
}
