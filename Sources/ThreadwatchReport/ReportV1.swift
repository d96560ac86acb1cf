/// The JSON report, version 1: ../shared/spec/report-v1.schema.json. Field
/// names follow the schema (snake_case); fields may be added, never renamed.
public struct ReportV1: Codable, Sendable, Equatable {
    public var schema = "threadwatch.report/v1"
    public var tool: Tool
    public var generatedAt: String
    public var host: Host?
    public var target: Target
    public var scan: Scan
    public var threads: [Thread]
    /// Fibers of the threadwatch runtime (ReportV1+Fibers.swift); absent when it is not linked.
    public var fibers: [Fiber]? = nil
    /// Threads that run fibers (added to v1); absent when none.
    public var carriers: [Carrier]? = nil
    /// Threads waiting through locks behind one that is not waiting for a
    /// lock (added to v1); absent when none.
    public var lockChains: [LockChain]? = nil
    public var findings: [Finding]

    enum CodingKeys: String, CodingKey {
        case schema, tool, host, target, scan, threads, fibers, carriers, findings
        case lockChains = "lock_chains"
        case generatedAt = "generated_at"
    }

    public struct Tool: Codable, Sendable, Equatable {
        public var name = "threadwatch"
        public var version: String
    }

    public struct Host: Codable, Sendable, Equatable {
        public var hostname: String?
        public var kernel: String?
        public var bootID: String?
        enum CodingKeys: String, CodingKey {
            case hostname, kernel
            case bootID = "boot_id"
        }
    }

    public struct Target: Codable, Sendable, Equatable {
        public var pid: Int32
        public var ppid: Int32?
        public var comm: String
        public var exe: String?
        public var cmdline: [String]
        public var threadCount: Int
        public var libc: String?
        enum CodingKeys: String, CodingKey {
            case pid, ppid, comm, exe, cmdline, libc
            case threadCount = "thread_count"
        }
    }

    public struct Scan: Codable, Sendable, Equatable {
        public var mode: String
        public var attach: String
        public var durationUs: Int
        public var stoppedUs: Int?
        public var warnings: [String]
        enum CodingKeys: String, CodingKey {
            case mode, attach, warnings
            case durationUs = "duration_us"
            case stoppedUs = "stopped_us"
        }
    }

    public struct Frame: Codable, Sendable, Equatable {
        public var pc: String
        public var function: String?
        public var offset: Int?
        public var module: String?
        public var file: String?
        public var line: Int?
        public var inlined: Bool?
    }

    public struct BlockedOn: Codable, Sendable, Equatable {
        public var kind: String
        public var address: String?
        public var symbol: String?
        /// Always written: null means "holder unknown".
        public var ownerTid: Int32?
        public var sinceUs: Int?
        public var detail: String?
        /// The program's name for it inside a global, from DWARF ("forks[1]"; added to v1).
        public var field: String? = nil
        enum CodingKeys: String, CodingKey {
            case kind, address, symbol, detail, field
            case ownerTid = "owner_tid"
            case sinceUs = "since_us"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(kind, forKey: .kind)
            try c.encodeIfPresent(address, forKey: .address)
            try c.encodeIfPresent(symbol, forKey: .symbol)
            try c.encode(ownerTid, forKey: .ownerTid)
            try c.encodeIfPresent(sinceUs, forKey: .sinceUs)
            try c.encodeIfPresent(detail, forKey: .detail)
            try c.encodeIfPresent(field, forKey: .field)
        }
    }

    public struct Stack: Codable, Sendable, Equatable {
        public var low: String
        public var high: String
        public var guardBytes: UInt64
        enum CodingKeys: String, CodingKey {
            case low, high
            case guardBytes = "guard_bytes"
        }
    }

    public struct Syscall: Codable, Sendable, Equatable {
        public var nr: Int
        public var name: String
        public var args: [String]
    }

    public struct Sched: Codable, Sendable, Equatable {
        public var lastCPU: Int
        public var policy: String
        public var priority: Int
        public var nice: Int
        public var rtPriority: Int
        public var voluntarySwitches: Int?
        public var involuntarySwitches: Int?
        public var execStartMs: Double?
        public var sumExecRuntimeMs: Double?
        enum CodingKeys: String, CodingKey {
            case policy, priority, nice
            case lastCPU = "last_cpu"
            case rtPriority = "rt_priority"
            case voluntarySwitches = "voluntary_switches"
            case involuntarySwitches = "involuntary_switches"
            case execStartMs = "exec_start_ms"
            case sumExecRuntimeMs = "sum_exec_runtime_ms"
        }
    }

    public struct Thread: Codable, Sendable, Equatable {
        public var tid: Int32
        public var name: String
        public var state: String
        public var fsBase: String?
        public var pc: String?
        public var sp: String?
        public var stack: Stack?
        public var syscall: Syscall?
        public var wchan: String?
        public var sigBlocked: String?
        public var sigPending: String?
        public var sched: Sched?
        public var blockedOn: BlockedOn?
        public var frames: [Frame]
        public var unwindError: String?
        /// Its threadwatch-runtime TLS descriptor, read through fs_base (added to v1).
        public var runtime: RuntimeTLS? = nil
        enum CodingKeys: String, CodingKey {
            case tid, name, state, pc, sp, stack, syscall, wchan, sched, frames, runtime
            case fsBase = "fs_base"
            case sigBlocked = "sig_blocked"
            case sigPending = "sig_pending"
            case blockedOn = "blocked_on"
            case unwindError = "unwind_error"
        }
    }

    public struct CycleEdge: Codable, Sendable, Equatable {
        public var tid: Int32
        public var lock: BlockedOn
        public var holderTid: Int32
        public var frames: [Frame]
        enum CodingKeys: String, CodingKey {
            case tid, lock, frames
            case holderTid = "holder_tid"
        }
    }

    public struct Finding: Codable, Sendable, Equatable {
        public var id: String
        public var kind: String
        public var severity: String
        public var summary: String
        public var threads: [Int32]
        public var cycle: [CycleEdge]?
        public var evidence: JSONValue?
        public var advice: String?
        public var zombie: Zombie? = nil
        public var fork: Fork? = nil
        public var falseSharing: FalseSharing? = nil
        /// Fiber ids involved (runtime fibers' deadlocks, blocking_in_fiber).
        public var fibers: [Int64]? = nil

        enum CodingKeys: String, CodingKey {
            case id, kind, severity, summary, threads, cycle, evidence, advice, zombie, fork, fibers
            case falseSharing = "false_sharing"
        }
    }

    /// `finding.false_sharing`: one cache line and every thread that touches it.
    public struct FalseSharing: Codable, Sendable, Equatable {
        public var cacheLine: String
        public var symbol: String?
        public var writers: [Toucher]
        public var method: String?
        enum CodingKeys: String, CodingKey {
            case symbol, writers, method
            case cacheLine = "cache_line"
        }

        public struct Toucher: Codable, Sendable, Equatable {
            public var tid: Int32
            public var offsets: [Int]
            public var writes: Int?
            public var reads: Int?
            public var pc: Frame?
        }
    }

    /// `finding.fork`: a fork of a multithreaded process, or a child hung on a lock it inherited.
    public struct Fork: Codable, Sendable, Equatable {
        public var parentPid: Int32?
        public var childPid: Int32?
        public var forkingTid: Int32?
        public var threadsAtFork: Int?
        public var execFollowed: Bool?
        public var inheritedLocks: [BlockedOn]?
        enum CodingKeys: String, CodingKey {
            case parentPid = "parent_pid"
            case childPid = "child_pid"
            case forkingTid = "forking_tid"
            case threadsAtFork = "threads_at_fork"
            case execFollowed = "exec_followed"
            case inheritedLocks = "inherited_locks"
        }
    }

    /// `finding.zombie`: an exited thread nobody joined.
    public struct Zombie: Codable, Sendable, Equatable {
        public var startRoutine: String?
        public var threadDescriptor: String
        public var stackBytes: Int?
        public var firstSeen: String?
        enum CodingKeys: String, CodingKey {
            case startRoutine = "start_routine"
            case threadDescriptor = "thread_descriptor"
            case stackBytes = "stack_bytes"
            case firstSeen = "first_seen"
        }
    }
}

/// A JSON value, for the free-form `evidence` object.
public indirect enum JSONValue: Codable, Sendable, Equatable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .object(let v): try c.encode(v)
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int.self) { self = .int(v) }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode([JSONValue].self) { self = .array(v) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
}
