/// The parent of a process that may be a fork child which never exec'd:
/// what the scan learned about it, for locks whose owner is not a thread of
/// the scanned process.
public struct ForkParent: Sendable, Equatable {
    public var pid: Int32
    public var comm: String
    /// Parent and child run the same executable (fork without exec keeps it).
    public var sameExecutable: Bool
    /// Threads of the parent that own locks the child waits on, by tid.
    public var lockHolders: [Int32: ParentThread]

    public init(pid: Int32, comm: String, sameExecutable: Bool, lockHolders: [Int32: ParentThread]) {
        self.pid = pid
        self.comm = comm
        self.sameExecutable = sameExecutable
        self.lockHolders = lockHolders
    }
}

/// A thread of the parent, seen from /proc without stopping it.
public struct ParentThread: Sendable, Equatable {
    public var tid: Int32
    public var name: String
    public var state: String
    /// "in clock_nanosleep(...)", "running", ...
    public var doing: String
    public var frames: [Frame]

    public init(tid: Int32, name: String, state: String, doing: String, frames: [Frame]) {
        self.tid = tid
        self.name = name
        self.state = state
        self.doing = doing
        self.frames = frames
    }
}

/// A fork_child_deadlock's details (report v1 `finding.fork`).
public struct ForkInfo: Sendable, Equatable {
    public var parentPid: Int32?
    public var childPid: Int32
    public var execFollowed: Bool
    public var inheritedLocks: [BlockedOn]
    /// fork_hazard (--watch): the thread that called fork(), and how many
    /// threads the parent had at that instant.
    public var forkingTid: Int32?
    public var threadsAtFork: Int?

    public init(parentPid: Int32?, childPid: Int32, execFollowed: Bool = false, inheritedLocks: [BlockedOn],
                forkingTid: Int32? = nil, threadsAtFork: Int? = nil) {
        self.parentPid = parentPid
        self.childPid = childPid
        self.execFollowed = execFollowed
        self.inheritedLocks = inheritedLocks
        self.forkingTid = forkingTid
        self.threadsAtFork = threadsAtFork
    }
}
