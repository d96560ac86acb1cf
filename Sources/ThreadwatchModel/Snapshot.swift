/// One scan of one process: what every thread was doing. A plain value, so
/// detectors and renderers can be tested on hand-built snapshots.
public struct Snapshot: Sendable, Equatable {
    public var process: ProcessSummary
    public var threads: [ThreadSnapshot]
    public var scan: ScanInfo
    public var host: HostInfo?
    /// Exited threads nobody joined, as libthread_db lists them.
    public var zombies: [ZombieThread]
    /// libthread_db served the scan: an empty `zombies` means none, not unknown.
    public var zombiesChecked: Bool
    /// Set when some lock's owner is not a thread of this process: its parent,
    /// in case this is a fork child holding locks inherited from it.
    public var forkParent: ForkParent?
    /// Fibers of the threadwatch runtime, when the target links it.
    public var fibers: [FiberSnapshot] = []
    /// The runtime's registry beyond fibers; nil when the target does not use it.
    public var runtime: RuntimeState?

    public init(process: ProcessSummary, threads: [ThreadSnapshot], scan: ScanInfo, host: HostInfo? = nil,
                zombies: [ZombieThread] = [], zombiesChecked: Bool = false) {
        self.process = process
        self.threads = threads
        self.scan = scan
        self.host = host
        self.zombies = zombies
        self.zombiesChecked = zombiesChecked
    }

    public func thread(tid: Int32) -> ThreadSnapshot? { threads.first { $0.tid == tid } }
}

public struct ProcessSummary: Sendable, Equatable {
    public var pid: Int32
    public var ppid: Int32?
    public var comm: String
    public var exe: String?
    public var cmdline: [String]
    public var state: String
    /// e.g. "glibc 2.36", "musl", "static", "unknown"
    public var libc: String?
    /// Start time in clock ticks after boot (/proc/PID/stat field 22): with
    /// the boot id and pid, names this process across scans.
    public var startTime: UInt64?
    /// Signals with a handler installed (SigCgt in /proc/PID/status; bit n-1 = signal n).
    public var caughtSignals: UInt64?
    /// POSIX timers the process has (/proc/PID/timers): one may start a thread or send a signal.
    public var posixTimers: Int?

    public init(pid: Int32, ppid: Int32? = nil, comm: String, exe: String? = nil,
                cmdline: [String] = [], state: String = "S", libc: String? = nil, startTime: UInt64? = nil) {
        self.pid = pid
        self.ppid = ppid
        self.comm = comm
        self.exe = exe
        self.cmdline = cmdline
        self.state = state
        self.libc = libc
        self.startTime = startTime
    }
}

public struct HostInfo: Sendable, Equatable {
    public var hostname: String?
    public var kernel: String?
    public var bootID: String?

    public init(hostname: String?, kernel: String?, bootID: String?) {
        self.hostname = hostname
        self.kernel = kernel
        self.bootID = bootID
    }
}

public enum ScanMode: String, Sendable, Equatable {
    case snapshot, watch, sample, daemon
}

public enum AttachMode: String, Sendable, Equatable {
    case ptrace
    case procOnly = "proc-only"
}

public struct ScanInfo: Sendable, Equatable {
    public var mode: ScanMode
    public var attach: AttachMode
    /// Wall-clock start of the scan, seconds since the epoch.
    public var startedAt: Double
    public var durationMicros: Int
    /// Longest time any thread was held stopped; nil when nothing was stopped.
    public var longestStopMicros: Int?
    public var warnings: [String]

    public init(mode: ScanMode = .snapshot, attach: AttachMode, startedAt: Double,
                durationMicros: Int = 0, longestStopMicros: Int? = nil, warnings: [String] = []) {
        self.mode = mode
        self.attach = attach
        self.startedAt = startedAt
        self.durationMicros = durationMicros
        self.longestStopMicros = longestStopMicros
        self.warnings = warnings
    }
}
