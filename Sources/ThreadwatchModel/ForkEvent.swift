/// One fork (or vfork) seen while watching a process (`--watch`): what the
/// parent looked like at that instant and what the child did next. A value
/// the fork_hazard detector reads; nothing here touches a process.
public struct ForkEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// fork(), or clone() without CLONE_VM: the child gets a copy of memory.
        case fork
        /// vfork(), posix_spawn(): the child borrows memory until it execs.
        case vfork
    }

    /// What the child did by the end of the watch.
    public enum ChildOutcome: Sendable, Equatable {
        case execed(afterMicros: Int, path: String?)
        case exited(afterMicros: Int)
        /// Still running without exec when the watch ended.
        case running
        /// Still alive without exec and asleep on a lock whose owner is a parent thread.
        case blockedOnInheritedLock(BlockedOn)
        /// Not followed (vfork children are released at once).
        case notFollowed
    }

    public var kind: Kind
    public var parentPid: Int32
    public var childPid: Int32
    public var forkingTid: Int32
    /// Threads of the parent at the instant of the fork, the forking one included.
    public var threadsAtFork: Int
    /// Seconds since the epoch.
    public var at: Double
    /// How long the forking thread was held in its event stop.
    public var parentStopMicros: Int
    public var forkingFrames: [Frame]
    /// The parent's other threads, read from /proc right after the fork.
    public var otherThreads: [ForkSibling]
    /// Locks the parent's other threads were known to hold at the fork (from
    /// the owner fields of locks that some thread waited on).
    public var heldLocks: [BlockedOn]
    public var child: ChildOutcome

    public init(kind: Kind, parentPid: Int32, childPid: Int32, forkingTid: Int32, threadsAtFork: Int, at: Double,
                parentStopMicros: Int, forkingFrames: [Frame] = [], otherThreads: [ForkSibling] = [],
                heldLocks: [BlockedOn] = [], child: ChildOutcome = .running) {
        self.kind = kind
        self.parentPid = parentPid
        self.childPid = childPid
        self.forkingTid = forkingTid
        self.threadsAtFork = threadsAtFork
        self.at = at
        self.parentStopMicros = parentStopMicros
        self.forkingFrames = forkingFrames
        self.otherThreads = otherThreads
        self.heldLocks = heldLocks
        self.child = child
    }
}

/// Another thread of a forking process, as /proc showed it right after the fork.
public struct ForkSibling: Sendable, Equatable {
    public var tid: Int32
    public var name: String
    public var state: String
    /// "running", "in futex(...)", ...
    public var doing: String
    public var blockedOn: BlockedOn?
    /// The innermost few frames.
    public var frames: [Frame]

    public init(tid: Int32, name: String, state: String, doing: String, blockedOn: BlockedOn? = nil, frames: [Frame] = []) {
        self.tid = tid
        self.name = name
        self.state = state
        self.doing = doing
        self.blockedOn = blockedOn
        self.frames = frames
    }
}
