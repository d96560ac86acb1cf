import CThreadwatch
import ThreadwatchModel
#if canImport(Glibc)
import Glibc
#endif

/// One cpu-clock sample of one thread: the interrupted pc (the next
/// instruction to run) and the user registers before it runs.
struct RegisterSample {
    var tid: Int32
    var ip: UInt64
    /// perf register number -> value; empty when the sample had no user registers.
    var registers: [UInt64]

    /// Registers are sampled for perf numbers 0...8 and 16...23, packed in that order.
    func register(_ number: Int) -> UInt64? {
        guard !registers.isEmpty else { return nil }
        let position = number <= 8 ? number : (16...23).contains(number) ? number - 7 : -1
        return position >= 0 && position < registers.count ? registers[position] : nil
    }
}

/// Per-thread software sampling (perf_event_open cpu-clock with user
/// registers) of another process, read from each event's mmap ring.
final class PerfSampler {
    /// ax bx cx dx si di bp sp ip, r8..r15 (asm/perf_regs.h); flags and segments are not needed.
    static let registerMask: UInt64 = 0x1ff | (0xff << 16)
    static let dataPages: UInt32 = 64

    let frequency: UInt64
    private var rings: [Int32: tw_perf_ring] = [:]
    private var buffer: [tw_perf_sample]
    private(set) var lost: UInt64 = 0

    init(frequency: UInt64) {
        self.frequency = frequency
        buffer = [tw_perf_sample](repeating: tw_perf_sample(), count: 1024)
    }

    deinit { closeAll() }

    var tids: [Int32] { Array(rings.keys) }

    /// Starts sampling one thread. Returns 0 or -errno (ESRCH: it exited).
    func add(tid: Int32) -> Int32 {
        guard rings[tid] == nil else { return 0 }
        let fd = tw_perf_open_cpu_clock(tid, frequency, Self.registerMask)
        guard fd >= 0 else { return fd }
        var ring = tw_perf_ring()
        let rc = tw_perf_ring_map(&ring, fd, Self.dataPages, Self.registerMask)
        guard rc == 0 else { close(fd); return rc }
        rings[tid] = ring
        return 0
    }

    /// Every sample waiting in every ring.
    func drain(_ body: (RegisterSample) -> Void) {
        for tid in rings.keys {
            while true {
                var lostHere: UInt64 = 0
                let n = buffer.withUnsafeMutableBufferPointer { out in
                    tw_perf_ring_drain(&rings[tid]!, out.baseAddress, Int32(out.count), &lostHere)
                }
                lost += lostHere
                for i in 0..<Int(max(0, n)) {
                    var s = buffer[i]
                    let count = s.abi != 0 ? PerfSampler.registerMask.nonzeroBitCount : 0
                    let registers = withUnsafeBytes(of: &s.regs) { Array($0.bindMemory(to: UInt64.self).prefix(count)) }
                    body(RegisterSample(tid: Int32(bitPattern: s.tid), ip: s.ip, registers: registers))
                }
                if n < Int32(buffer.count) { break }
            }
        }
    }

    func closeAll() {
        for tid in rings.keys { tw_perf_ring_close(&rings[tid]!) }
        rings.removeAll()
    }
}
