/// One problem a detector found in a snapshot (report v1 `findings[]`).
public struct Finding: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case deadlock
        case selfDeadlock = "self_deadlock"
        case orphanedLock = "orphaned_lock"
        case lockOrderInversion = "lock_order_inversion"
        case zombieThread = "zombie_thread"
        case forkHazard = "fork_hazard"
        case forkChildDeadlock = "fork_child_deadlock"
        case falseSharing = "false_sharing"
        case blockingInFiber = "blocking_in_fiber"
        case signalHazard = "signal_hazard"
    }

    public enum Severity: String, Sendable, Equatable, Comparable {
        case error, warning, info

        private var rank: Int { self == .error ? 0 : self == .warning ? 1 : 2 }
        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
    }

    /// Stable across scans for the same problem (same locks and threads).
    public var id: String
    public var kind: Kind
    public var severity: Severity
    public var summary: String
    public var threads: [Int32]
    public var cycle: [CycleEdge]
    public var advice: String?
    public var evidence: [String: EvidenceValue]
    /// zombie_thread: the exited, unjoined thread.
    public var zombie: ZombieDetail?
    /// fork_child_deadlock / fork_hazard: the fork and the locks it left held.
    public var fork: ForkInfo?
    /// Fibers involved (runtime fiber ids), for fiber deadlocks and blocking_in_fiber.
    public var fibers: [Int64] = []
    /// false_sharing: the cache line, the threads that touch it and where.
    public var falseSharing: FalseSharingDetail?

    public init(id: String, kind: Kind, severity: Severity, summary: String, threads: [Int32],
                cycle: [CycleEdge] = [], advice: String? = nil, evidence: [String: EvidenceValue] = [:],
                zombie: ZombieDetail? = nil) {
        self.id = id
        self.kind = kind
        self.severity = severity
        self.summary = summary
        self.threads = threads
        self.cycle = cycle
        self.advice = advice
        self.evidence = evidence
        self.zombie = zombie
    }
}

/// report v1 `finding.zombie`.
public struct ZombieDetail: Sendable, Equatable {
    /// "handle_request (server.c:88)", or the address when unnamed.
    public var startRoutine: String
    public var descriptor: UInt64
    public var stackBytes: UInt64?
    /// Seconds since the epoch at which a scan first saw it.
    public var firstSeen: Double

    public init(startRoutine: String, descriptor: UInt64, stackBytes: UInt64?, firstSeen: Double) {
        self.startRoutine = startRoutine
        self.descriptor = descriptor
        self.stackBytes = stackBytes
        self.firstSeen = firstSeen
    }
}

/// Deadlock edge: `tid` waits for `lock`, held by `holderTid`.
public struct CycleEdge: Sendable, Equatable {
    public var tid: Int32
    public var lock: BlockedOn
    public var holderTid: Int32
    public var frames: [Frame]

    public init(tid: Int32, lock: BlockedOn, holderTid: Int32, frames: [Frame] = []) {
        self.tid = tid
        self.lock = lock
        self.holderTid = holderTid
        self.frames = frames
    }
}

/// Detector-specific detail, kept JSON-shaped.
public indirect enum EvidenceValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case list([EvidenceValue])
    case object([String: EvidenceValue])
}

/// Threads waiting, through locks, behind one that is not waiting for a
/// lock (WaitChains): not a deadlock, but where a hang usually is.
public struct LockChain: Sendable, Equatable {
    public var holderTid: Int32
    public var holderName: String?
    /// What the holder does: "in read(7, ...)", "running", "waiting on condvar ...";
    /// nil when the holder is not a thread of this process.
    public var holderDoing: String?
    public var waiters: [Int32]
    /// The line the text view prints.
    public var summary: String

    public init(holderTid: Int32, holderName: String?, holderDoing: String?, waiters: [Int32], summary: String) {
        self.holderTid = holderTid
        self.holderName = holderName
        self.holderDoing = holderDoing
        self.waiters = waiters
        self.summary = summary
    }
}
