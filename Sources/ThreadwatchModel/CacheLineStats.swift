/// Per-cache-line access statistics of `--sample` and the watchpoint counts
/// that confirm them: values, folded here, judged by FalseSharingDetector.

/// One thread's accesses to one cache line: which bytes, how often, from where.
public struct ThreadLineStats: Sendable, Equatable {
    public var tid: Int32
    /// Bit i: byte i of the line was read / written.
    public var readBytes: UInt64 = 0
    public var writtenBytes: UInt64 = 0
    public var reads = 0
    public var writes = 0
    /// Start offset of each access, and its size.
    public var accesses: [Int: Int] = [:]
    public var writePCs: [UInt64: Int] = [:]
    public var readPCs: [UInt64: Int] = [:]

    public init(tid: Int32) { self.tid = tid }

    public var touchedBytes: UInt64 { readBytes | writtenBytes }

    /// The pc that wrote most often, else the one that read most often.
    public var mainPC: UInt64? {
        let pcs = writePCs.isEmpty ? readPCs : writePCs
        return pcs.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }?.key
    }
}

/// Every thread's accesses to one 64-byte line.
public struct CacheLineStats: Sendable, Equatable {
    public var line: UInt64
    public var threads: [Int32: ThreadLineStats] = [:]

    public init(line: UInt64) { self.line = line }

    public var samples: Int { threads.values.reduce(0) { $0 + $1.reads + $1.writes } }

    /// Lowest byte any thread touched.
    public var firstTouchedOffset: Int {
        let all = threads.values.reduce(UInt64(0)) { $0 | $1.touchedBytes }
        return all == 0 ? 0 : all.trailingZeroBitCount
    }
}

/// Folds sampled accesses into per-line, per-thread statistics.
public struct CacheLineAggregator: Sendable {
    public static let lineSize: UInt64 = 64
    public private(set) var lines: [UInt64: CacheLineStats] = [:]
    public private(set) var accessCount = 0

    public init() {}

    public mutating func add(_ access: MemoryAccess) {
        accessCount += 1
        guard access.size > 0 else { return }
        var address = access.address
        var remaining = min(access.size, 64)
        var first = true
        // An access that crosses a line boundary touches both lines.
        while remaining > 0 {
            let line = address & ~(Self.lineSize - 1)
            let offset = Int(address - line)
            let count = min(remaining, 64 - offset)
            let mask: UInt64 = (count == 64 ? ~0 : ((1 << UInt64(count)) - 1)) << UInt64(offset)
            var stats = lines[line] ?? CacheLineStats(line: line)
            var t = stats.threads[access.tid] ?? ThreadLineStats(tid: access.tid)
            if access.writes {
                t.writtenBytes |= mask
                t.writes += 1
                t.writePCs[access.pc, default: 0] += 1
            } else {
                t.readBytes |= mask
                t.reads += 1
                t.readPCs[access.pc, default: 0] += 1
            }
            t.accesses[offset] = max(t.accesses[offset] ?? 0, count)
            stats.threads[access.tid] = t
            lines[line] = stats
            if !first { break }
            first = false
            remaining -= count
            address = line + Self.lineSize
        }
    }
}

/// Exact counts of one thread on one watched 8-byte chunk over a window.
public struct WatchCount: Sendable, Equatable {
    /// HW_BREAKPOINT_W hits; nil when not watched for writes.
    public var writes: Int?
    /// HW_BREAKPOINT_RW hits (reads and writes; a read-modify-write counts once); nil when not watched.
    public var accesses: Int?

    public init(writes: Int? = nil, accesses: Int? = nil) {
        self.writes = writes
        self.accesses = accesses
    }

    public var reads: Int { accesses.map { max(0, $0 - (writes ?? 0)) } ?? 0 }
}

/// What the watchpoints saw on one candidate line, with the names Inspect found.
public struct WatchedLine: Sendable, Equatable {
    public var sampled: CacheLineStats
    /// tid -> chunk offset (0, 8, ..., 56) -> counts.
    public var counts: [Int32: [Int: WatchCount]]
    public var windowMillis: Int
    public var symbol: String?
    public var frames: [UInt64: Frame]
    /// Offset in the line -> the field there ("g_stats.hits[1]"), from DWARF.
    public var fields: [Int: String]

    public init(sampled: CacheLineStats, counts: [Int32: [Int: WatchCount]], windowMillis: Int,
                symbol: String?, frames: [UInt64: Frame] = [:], fields: [Int: String] = [:]) {
        self.sampled = sampled
        self.counts = counts
        self.windowMillis = windowMillis
        self.symbol = symbol
        self.frames = frames
        self.fields = fields
    }
}

/// One hardware watchpoint to place on every thread of a line.
public struct WatchSlot: Sendable, Equatable, Hashable {
    public enum Kind: Sendable, Equatable, Hashable { case write, readWrite }
    public var offset: Int   // 8-aligned chunk in the line
    public var kind: Kind

    public init(offset: Int, kind: Kind) {
        self.offset = offset
        self.kind = kind
    }
}

