import CThreadwatch
import ThreadwatchModel
#if canImport(Glibc)
import Glibc
#endif

public struct SampleOptions: Sendable {
    public var seconds: Double = 5
    /// cpu-clock samples per second of each thread's CPU time.
    public var frequency: UInt64 = 4000
    public var sourceLines: Symbolizer.SourceLines = .app
    /// Called about twice a second: seconds sampled, samples so far.
    public var progress: (@Sendable (Double, Int) -> Void)?

    public init() {}
}

public struct SampleResult: Sendable {
    /// Cache line -> every thread's sampled accesses to it.
    public var lines: [UInt64: CacheLineStats]
    public var warnings: [String]
    public var samples: Int
    public var memoryAccesses: Int
    public var startedAt: Double
    public var durationMicros: Int
    public var endedBySignal: Int32
}

public struct ConfirmResult: Sendable {
    public var watched: [WatchedLine]
    public var warnings: [String]
    /// Set when the kernel refused breakpoint events: nothing could be confirmed.
    public var refused: String?
}

/// `--sample`: finds false sharing in a running process without stopping
/// it. Samples every thread's pc and registers (cpu-clock), decodes the
/// instruction at each pc and computes the address it accesses, folds the
/// accesses per cache line, then confirms the candidate lines with hardware
/// watchpoints. Nothing is installed in the target; if threadwatch dies the
/// kernel closes every event.
public enum FalseSharingSampler {
    public static func run(pid: Int32, options: SampleOptions) throws(ScanError) -> SampleResult {
        guard pid != getpid() else { throw ScanError(.refusedSelf, pid: pid, "pid \(pid) is threadwatch itself: nothing to sample") }
        guard access("/proc/\(pid)/task", F_OK) == 0 else {
            throw ScanError(.noSuchProcess, pid: pid, "no process \(pid): check the pid (ps -e)")
        }
        let startedAt = MonotonicClock.wallSeconds()
        let start = MonotonicClock.micros()
        var warnings: [String] = []

        // 1. Sample every thread; threads created later are added twice a second.
        let sampler = PerfSampler(frequency: options.frequency)
        let decoder = InstructionDecoder(pid: pid)
        var aggregator = CacheLineAggregator()
        var samples = 0
        var added = 0
        func addThreads() throws(ScanError) {
            for tid in taskIDs(pid) where !sampler.tids.contains(tid) {
                let rc = sampler.add(tid: tid)
                if rc == 0 { added += 1; continue }
                switch -rc {
                case ESRCH: continue
                case EACCES, EPERM:
                    throw ScanError(.permissionDenied, pid: pid, "perf events on pid \(pid) not permitted (\(String(cString: strerror(-rc)))): run as root or grant CAP_PERFMON, or lower kernel.perf_event_paranoid (now \(paranoid()))")
                default:
                    throw ScanError(.unwinderFailed, pid: pid, "cannot sample thread \(tid) of pid \(pid): perf_event_open(cpu-clock) failed: \(String(cString: strerror(-rc)))")
                }
            }
        }
        try addThreads()
        guard added > 0 else { throw ScanError(.processExited, pid: pid, "pid \(pid) has no threads left to sample") }
        let initialThreads = added

        func process(_ sample: RegisterSample) {
            samples += 1
            guard let insn = decoder.decode(sample.ip) else { return }
            for op in insn.operands {
                // The stack pointer's own accesses are a thread's private stack.
                guard op.base != 7, op.size > 0,
                      let address = op.effectiveAddress(pc: sample.ip, length: insn.length, register: sample.register),
                      address < 0x8000_0000_0000 else { continue }
                let kind: MemoryAccess.Kind = op.writes ? (op.reads || insn.lock ? .readWrite : .write) : .read
                aggregator.add(MemoryAccess(tid: sample.tid, pc: sample.ip, address: address, size: op.size, kind: kind))
            }
        }

        let deadline = start + Int(options.seconds * 1_000_000)
        var nextList = start + 500_000
        var nextProgress = start + 500_000
        while MonotonicClock.micros() < deadline && tw_stop_signal() == 0 {
            usleep(UInt32(min(50_000, max(1_000, deadline - MonotonicClock.micros()))))
            sampler.drain(process)
            let now = MonotonicClock.micros()
            if now >= nextList { try? addThreads(); nextList = now + 500_000 }
            if now >= nextProgress { options.progress?(Double(now - start) / 1e6, samples); nextProgress = now + 500_000 }
        }
        sampler.drain(process)
        sampler.closeAll()
        let endedBySignal = tw_stop_signal()
        if added > initialThreads {
            warnings.append("\(added - initialThreads) thread(s) started during sampling were sampled from when they were seen (up to 0.5 s late)")
        }
        warnings.append("sampling: \(samples) samples from \(added) thread\(added == 1 ? "" : "s"), \(aggregator.accessCount) memory accesses decoded, \(decoder.decodedCount) distinct pcs; threads created and gone within 0.5 s are missed; fs/gs-relative (TLS) accesses are skipped")
        if sampler.lost > 0 { warnings.append("sampling: \(sampler.lost) samples lost (ring buffer full)") }

        return SampleResult(lines: aggregator.lines, warnings: warnings, samples: samples,
                            memoryAccesses: aggregator.accessCount, startedAt: startedAt,
                            durationMicros: MonotonicClock.micros() - start, endedBySignal: endedBySignal)
    }

    /// Counts every thread's accesses to each candidate line with hardware
    /// watchpoints (`slots(line)`: what to watch), and names the lines and pcs.
    public static func confirm(pid: Int32, candidates: [CacheLineStats], windowMillis: Int,
                               sourceLines: Symbolizer.SourceLines = .app,
                               slots: (CacheLineStats) -> [WatchSlot]) -> ConfirmResult {
        var counter = WatchpointCounter(windowMillis: windowMillis)
        let names = Naming(pid: pid, sourceLines: sourceLines)
        var watched: [WatchedLine] = []
        for line in candidates {
            let counts = counter.count(line, slots: slots(line))
            if counter.refused != nil { break }
            var frames: [UInt64: Frame] = [:]
            for t in line.threads.values { if let pc = t.mainPC { frames[pc] = names.frame(pc) } }
            var fields: [Int: String] = [:]
            for t in line.threads.values {
                for offset in t.accesses.keys where fields[offset] == nil {
                    fields[offset] = names.field(line.line + UInt64(offset))
                }
            }
            watched.append(WatchedLine(sampled: line, counts: counts, windowMillis: windowMillis,
                                       symbol: names.symbol(line), frames: frames, fields: fields))
        }
        return ConfirmResult(watched: watched, warnings: counter.warnings, refused: counter.refused)
    }

    /// "0x55d0c0a1c0c0 (g_stats)" for messages.
    public static func describe(pid: Int32, lines: [CacheLineStats]) -> [String] {
        let names = Naming(pid: pid, sourceLines: .none)
        return lines.map { "0x" + String($0.line, radix: 16) + (names.symbol($0).map { " (\($0))" } ?? "") }
    }

    static func taskIDs(_ pid: Int32) -> [Int32] {
        guard case .success(let tids) = ProcFile.numericEntries("/proc/\(pid)/task") else { return [] }
        return tids.map { Int32($0) }.sorted()
    }

    static func paranoid() -> String {
        ProcFile.text("/proc/sys/kernel/perf_event_paranoid").map { $0.filter { !$0.isWhitespace } } ?? "unknown"
    }
}

/// Names for lines and pcs: data symbols, heap, code frames.
final class Naming {
    /// Owns the libdwfl session the symbolizer reads.
    private let unwinder: StackUnwinder?
    private let symbolizer: Symbolizer?
    private let maps: MemoryMap

    init(pid: Int32, sourceLines: Symbolizer.SourceLines) {
        unwinder = try? StackUnwinder(pid: pid, maxFrames: 4)
        symbolizer = unwinder.map { Symbolizer(unwinder: $0, sourceLines: sourceLines) }
        maps = MemoryMap.parse(ProcFile.text("/proc/\(pid)/maps") ?? "")
    }

    func symbol(_ line: CacheLineStats) -> String? {
        let address = line.line + UInt64(line.firstTouchedOffset)
        if let name = symbolizer?.dataSymbol(address) { return name }
        guard let mapping = maps.mapping(containing: address) else { return nil }
        if mapping.path == "[heap]" || mapping.path.isEmpty { return "heap" }
        if mapping.path.hasPrefix("[stack") { return "stack" }
        return nil
    }

    func field(_ address: UInt64) -> String? { symbolizer?.dataField(address) }

    func frame(_ pc: UInt64) -> Frame {
        symbolizer?.frames(for: RawFrame(pc: pc, isActivation: true)).first ?? Frame(pc: pc)
    }
}
