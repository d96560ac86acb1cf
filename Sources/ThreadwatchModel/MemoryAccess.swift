/// What one sampled instruction did to memory: the values `--sample`
/// aggregates per cache line (false sharing).

/// A memory operand of a decoded x86-64 instruction.
public struct MemoryOperand: Sendable, Equatable, Hashable {
    public enum Segment: Sendable, Equatable, Hashable { case none, fs, gs }

    /// perf register numbers (asm/perf_regs.h: ax 0, bx 1, cx 2, dx 3, si 4,
    /// di 5, bp 6, sp 7, ip 8, r8..r15 16..23); nil: not used.
    public var base: Int?
    public var index: Int?
    public var scale: Int
    public var displacement: Int64
    public var segment: Segment
    public var reads: Bool
    public var writes: Bool
    /// Bytes accessed.
    public var size: Int
    /// The address is computed in 32 bits (0x67 prefix).
    public var address32: Bool

    public static let ipRegister = 8

    public init(base: Int?, index: Int? = nil, scale: Int = 1, displacement: Int64 = 0, segment: Segment = .none,
                reads: Bool, writes: Bool, size: Int, address32: Bool = false) {
        self.base = base
        self.index = index
        self.scale = scale
        self.displacement = displacement
        self.segment = segment
        self.reads = reads
        self.writes = writes
        self.size = size
        self.address32 = address32
    }

    /// The address the instruction at `pc` (`length` bytes) accesses, given
    /// the registers as they were before it ran (a cpu-clock sample's
    /// registers: the interrupted pc is the next instruction to run).
    /// rip-relative addressing counts from the end of the instruction. nil
    /// when a register is unknown, or the segment is gs or fs without its base.
    public func effectiveAddress(pc: UInt64, length: Int, fsBase: UInt64? = nil,
                                 register: (Int) -> UInt64?) -> UInt64? {
        var address = UInt64(bitPattern: displacement)
        if let base {
            let value: UInt64
            if base == Self.ipRegister { value = pc &+ UInt64(length) }
            else { guard let v = register(base) else { return nil }; value = v }
            address = address &+ value
        }
        if let index {
            guard index != Self.ipRegister, let v = register(index) else { return nil }
            address = address &+ v &* UInt64(max(1, scale))
        }
        if address32 { address &= 0xffff_ffff }
        switch segment {
        case .none: break
        case .gs: return nil
        case .fs:
            guard let fsBase else { return nil }
            address = address &+ fsBase
        }
        return address
    }
}

/// One sampled memory access by one thread.
public struct MemoryAccess: Sendable, Equatable, Hashable {
    public enum Kind: String, Sendable, Equatable, Hashable {
        case read, write
        /// Read-modify-write (add/inc/xadd/cmpxchg/xchg to memory): a write.
        case readWrite = "rmw"
    }

    public var tid: Int32
    public var pc: UInt64
    public var address: UInt64
    public var size: Int
    public var kind: Kind

    public init(tid: Int32, pc: UInt64, address: UInt64, size: Int, kind: Kind) {
        self.tid = tid
        self.pc = pc
        self.address = address
        self.size = size
        self.kind = kind
    }

    public var writes: Bool { kind != .read }
}

/// report v1 `finding.false_sharing`: one cache line and who touches it.
public struct FalseSharingDetail: Sendable, Equatable {
    public struct Toucher: Sendable, Equatable {
        public var tid: Int32
        /// Start offsets (0..63) of the accesses it makes in the line.
        public var offsets: [Int]
        public var writes: Int
        public var reads: Int
        /// The instruction that writes (or, for a pure reader, reads).
        public var pc: Frame?

        public init(tid: Int32, offsets: [Int], writes: Int, reads: Int, pc: Frame? = nil) {
            self.tid = tid
            self.offsets = offsets
            self.writes = writes
            self.reads = reads
            self.pc = pc
        }
    }

    public var cacheLine: UInt64
    public var symbol: String?
    public var writers: [Toucher]
    public var method: String

    public init(cacheLine: UInt64, symbol: String?, writers: [Toucher], method: String) {
        self.cacheLine = cacheLine
        self.symbol = symbol
        self.writers = writers
        self.method = method
    }
}
