/// Everything the scan learned about one thread (a kernel task).
public struct ThreadSnapshot: Sendable, Equatable {
    public var tid: Int32
    public var name: String
    /// The kernel's one-letter state: R S D T t Z X I
    public var state: String
    public var scheduling: Scheduling?
    /// The thread pointer: on x86-64 glibc this is `pthread_self()`, the
    /// address of the thread's `struct pthread`. Only known under ptrace.
    public var fsBase: UInt64?
    public var pc: UInt64?
    public var sp: UInt64?
    public var stack: StackRegion?
    public var syscall: SyscallState?
    public var wchan: String?
    public var signals: SignalMasks?
    /// Selected fields of /proc/PID/task/TID/sched (se.exec_start, nr_switches, ...).
    public var schedStats: [String: Double]
    public var frames: [Frame]
    /// Why the stack is missing or partial, when it is.
    public var unwindError: String?
    /// What the thread is blocked on, when the glibc model recognised it.
    public var blockedOn: BlockedOn?

    public init(tid: Int32, name: String, state: String, scheduling: Scheduling? = nil,
                fsBase: UInt64? = nil, pc: UInt64? = nil, sp: UInt64? = nil,
                stack: StackRegion? = nil, syscall: SyscallState? = nil, wchan: String? = nil,
                signals: SignalMasks? = nil, schedStats: [String: Double] = [:],
                frames: [Frame] = [], unwindError: String? = nil, blockedOn: BlockedOn? = nil) {
        self.tid = tid
        self.name = name
        self.state = state
        self.scheduling = scheduling
        self.fsBase = fsBase
        self.pc = pc
        self.sp = sp
        self.stack = stack
        self.syscall = syscall
        self.wchan = wchan
        self.signals = signals
        self.schedStats = schedStats
        self.frames = frames
        self.unwindError = unwindError
        self.blockedOn = blockedOn
    }
}

public struct Scheduling: Sendable, Equatable {
    public var lastCPU: Int
    public var policy: String
    public var priority: Int
    public var nice: Int
    public var realtimePriority: Int
    public var voluntarySwitches: Int?
    public var involuntarySwitches: Int?

    public init(lastCPU: Int, policy: String, priority: Int, nice: Int, realtimePriority: Int,
                voluntarySwitches: Int? = nil, involuntarySwitches: Int? = nil) {
        self.lastCPU = lastCPU
        self.policy = policy
        self.priority = priority
        self.nice = nice
        self.realtimePriority = realtimePriority
        self.voluntarySwitches = voluntarySwitches
        self.involuntarySwitches = involuntarySwitches
    }
}

public struct StackRegion: Sendable, Equatable {
    public var low: UInt64
    public var high: UInt64
    /// Size of the inaccessible mapping right below `low`, 0 when none.
    public var guardBytes: UInt64

    public init(low: UInt64, high: UInt64, guardBytes: UInt64) {
        self.low = low
        self.high = high
        self.guardBytes = guardBytes
    }
}

/// /proc/PID/task/TID/syscall: a blocked thread's syscall, or that it runs.
public struct SyscallState: Sendable, Equatable {
    /// nil while the thread runs in user space ("running").
    public var number: Int?
    public var args: [UInt64]
    public var sp: UInt64?
    public var pc: UInt64?

    public init(number: Int?, args: [UInt64] = [], sp: UInt64? = nil, pc: UInt64? = nil) {
        self.number = number
        self.args = args
        self.sp = sp
        self.pc = pc
    }

    public var isRunning: Bool { number == nil }
}

public struct SignalMasks: Sendable, Equatable {
    public var blocked: String
    public var pending: String
    public var sharedPending: String

    public init(blocked: String, pending: String, sharedPending: String) {
        self.blocked = blocked
        self.pending = pending
        self.sharedPending = sharedPending
    }
}

public struct Frame: Sendable, Equatable, Hashable {
    public var pc: UInt64
    /// The signal trampoline a handler returns to (glibc's __restore_rt):
    /// below it, the code the signal interrupted. libdwfl reports a frame
    /// whose FDE is a signal frame ('S' augmentation) as an activation, so
    /// this needs no symbol (libc's internal names need its debug info).
    public var signalTrampoline: Bool = false
    public var function: String?
    public var offset: UInt64?
    public var module: String?
    public var file: String?
    public var line: Int?
    public var inlined: Bool

    public init(pc: UInt64, function: String? = nil, offset: UInt64? = nil, module: String? = nil,
                file: String? = nil, line: Int? = nil, inlined: Bool = false) {
        self.pc = pc
        self.function = function
        self.offset = offset
        self.module = module
        self.file = file
        self.line = line
        self.inlined = inlined
    }
}

/// What a blocked thread waits for, and who holds it when that is known.
public struct BlockedOn: Sendable, Equatable, Hashable {
    public enum Kind: String, Sendable, Equatable, Hashable, CaseIterable {
        case mutex
        case rwlockRead = "rwlock_read"
        case rwlockWrite = "rwlock_write"
        case join
        case condvar
        case semaphore
        case stdioLock = "stdio_lock"
        case runtimeMutex = "runtime_mutex"
        case fiberMutex = "fiber_mutex"
        case futex
        case syscall
        case unknown
    }

    public var kind: Kind
    public var address: UInt64?
    /// Data symbol of the lock, e.g. "accounts+0x28".
    public var symbol: String?
    public var ownerTid: Int32?
    public var sinceMicros: Int?
    /// The lock is recursive or error-checking (a re-lock by its owner is not a self-deadlock).
    public var recursive: Bool
    /// Short description for syscall waits ("read() on fd 7").
    public var detail: String?
    /// The lock keeps no owner (Rust's std Mutex): `ownerTid`, when set, was
    /// inferred, not read.
    public var ownerUnrecorded: Bool = false
    /// fiber_mutex: the fiber that holds it (the runtime's fiber id).
    public var ownerFiber: Int64?
    /// The program's own name for a lock inside a global, from DWARF
    /// ("forks[1]", "bank.accounts[3].lock") when it is an element or member.
    public var field: String?

    /// What to call it in a sentence: the field when known, else the symbol.
    public var name: String? { field ?? symbol }
    /// A one-time initialisation (pthread_once, std::call_once, a C++
    /// function-local static): its "owner" is the thread running the
    /// initialiser, and waiting for one's own is a self-deadlock.
    public var oneTimeInit: Bool = false

    public init(kind: Kind, address: UInt64? = nil, symbol: String? = nil, ownerTid: Int32? = nil,
                sinceMicros: Int? = nil, recursive: Bool = false, detail: String? = nil) {
        self.kind = kind
        self.address = address
        self.symbol = symbol
        self.ownerTid = ownerTid
        self.sinceMicros = sinceMicros
        self.recursive = recursive
        self.detail = detail
    }
}
