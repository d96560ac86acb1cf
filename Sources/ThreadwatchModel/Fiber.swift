/// A user-space fiber of the threadwatch runtime, read from its registry.
public struct FiberSnapshot: Sendable, Equatable {
    public enum State: String, Sendable, Equatable {
        case running, runnable, blocked, finished
    }

    public var id: Int64
    public var name: String
    public var state: State
    /// The thread it runs on, or last ran on (its scheduler's carrier; in a pool it moves).
    public var carrierTid: Int32?
    /// The M:N pool it belongs to; nil when bound to one scheduler.
    public var pool: UInt32?
    /// A fiber mutex it is parked on, with the owning fiber in `ownerFiber`.
    public var blockedOn: BlockedOn?
    /// Unwound from the saved context; empty while it runs (its carrier's stack shows it).
    public var frames: [Frame]
    public var stack: StackRegion?
    /// Times it was switched in: unchanged between two looks = it did not run.
    public var switches: UInt64

    public init(id: Int64, name: String, state: State, carrierTid: Int32?, pool: UInt32? = nil, blockedOn: BlockedOn? = nil,
                frames: [Frame] = [], stack: StackRegion? = nil, switches: UInt64 = 0) {
        self.id = id
        self.pool = pool
        self.name = name
        self.state = state
        self.carrierTid = carrierTid
        self.blockedOn = blockedOn
        self.frames = frames
        self.stack = stack
        self.switches = switches
    }
}

/// What the runtime's registry says beyond fibers: carriers, lock order, TLS descriptors.
public struct RuntimeState: Sendable, Equatable {
    public struct Carrier: Sendable, Equatable {
        public var tid: Int32
        public var currentFiber: Int64?
        public var runnable: Int
        public var switches: UInt64
        /// The M:N pool it serves; nil for a standalone scheduler.
        public var pool: UInt32?
        /// Asleep with nothing to run.
        public var idle: Bool
        /// Fibers it took from other carriers' run queues.
        public var steals: UInt64
        public init(tid: Int32, currentFiber: Int64?, runnable: Int, switches: UInt64,
                    pool: UInt32? = nil, idle: Bool = false, steals: UInt64 = 0) {
            self.tid = tid
            self.currentFiber = currentFiber
            self.runnable = runnable
            self.switches = switches
            self.pool = pool
            self.idle = idle
            self.steals = steals
        }
    }

    /// Lock classes taken in both orders: `first` then `second` at `siteFirstThenSecond`,
    /// and the other way at `siteSecondThenFirst`.
    public struct Inversion: Sendable, Equatable {
        public var first: String
        public var second: String
        public var siteFirstThenSecond: Frame?
        public var siteSecondThenFirst: Frame?
        public var tidFirstThenSecond: Int32
        public var tidSecondThenFirst: Int32
        public init(first: String, second: String, siteFirstThenSecond: Frame?, siteSecondThenFirst: Frame?,
                    tidFirstThenSecond: Int32, tidSecondThenFirst: Int32) {
            self.first = first
            self.second = second
            self.siteFirstThenSecond = siteFirstThenSecond
            self.siteSecondThenFirst = siteSecondThenFirst
            self.tidFirstThenSecond = tidFirstThenSecond
            self.tidSecondThenFirst = tidSecondThenFirst
        }
    }

    /// A thread's TLS descriptor: the runtime locks it holds (innermost last).
    public struct ThreadLocks: Sendable, Equatable {
        public var held: [BlockedOn]
        public var waitingOn: UInt64?
        /// The fiber it runs now (the descriptor's current_fiber), nil for none.
        public var currentFiber: Int64?
        public init(held: [BlockedOn], waitingOn: UInt64?, currentFiber: Int64? = nil) {
            self.held = held
            self.waitingOn = waitingOn
            self.currentFiber = currentFiber
        }
    }

    /// Where `twr_registry` is in the target, for later looks.
    public var registryAddress: UInt64 = 0
    public var carriers: [Carrier]
    public var inversions: [Inversion]
    public var threadLocks: [Int32: ThreadLocks]

    public init(carriers: [Carrier] = [], inversions: [Inversion] = [], threadLocks: [Int32: ThreadLocks] = [:]) {
        self.carriers = carriers
        self.inversions = inversions
        self.threadLocks = threadLocks
    }
}
