import ThreadwatchModel

/// A process in which no thread can ever run again, though no lock cycle
/// explains it: every thread sleeps in a futex wait without a timeout on a
/// process-private word (or joins a thread that is one of them), so only a
/// thread of this process could wake one, and none is left awake. This is
/// where lost wake-ups end: a condition signalled before anyone waited, a
/// semaphore never posted, a barrier whose count is never reached.
///
/// Only a signal handler or a POSIX timer could still wake such a process
/// (sem_post is async-signal-safe); when it has handlers for other than
/// fault signals, or timers, the finding is a warning that says so. Like
/// every deadlock, it needs two confirming looks in which no thread ran.
public enum StallDetector {
    /// FUTEX_WAIT, FUTEX_LOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI,
    /// FUTEX_LOCK_PI2 (<linux/futex.h>): the waits; their timeout is args[3].
    static let waitCommands: Set<UInt64> = [0, 6, 9, 11, 13]
    static let privateFlag: UInt64 = 128

    /// Handlers for faults, SIGQUIT (state dumps: the JVM's, the Swift
    /// runtime's backtracer) and glibc's own (SIGCANCEL 32, SIGSETXID 33)
    /// do not wake waiters: crash reporters and runtimes install them.
    static let faultSignals: Set<Int> = [3, 4, 5, 6, 7, 8, 11, 31, 32, 33]

    /// Every live thread, when all of them wait with nothing to wake them; else none.
    public static func suspects(_ snapshot: Snapshot) -> [Int32] {
        let live = snapshot.threads.filter { $0.state != "Z" && $0.state != "X" }
        guard !live.isEmpty else { return [] }
        let tids = Set(live.map(\.tid))
        return live.allSatisfy { waitsForever($0, among: tids) } ? live.map(\.tid) : []
    }

    /// An untimed futex wait only a thread of this process can end.
    static func waitsForever(_ t: ThreadSnapshot, among tids: Set<Int32>) -> Bool {
        guard t.state == "S", let call = t.syscall, call.number == SyscallNames.futex, call.args.count >= 4 else { return false }
        let op = call.args[1]
        guard waitCommands.contains(op & 0x7f), call.args[3] == 0 else { return false }
        if op & privateFlag != 0 { return true }
        // pthread_join waits on a shared futex (the kernel's wake at thread
        // exit is shared): still only that thread's exit ends it.
        if let b = t.blockedOn, b.kind == .join, let joined = b.ownerTid { return tids.contains(joined) }
        return false
    }

    /// `others`: findings already made; a cycle or a signal hazard explains
    /// the hang better than this.
    public static func detect(first: Snapshot, confirm: [Snapshot], others: [Finding]) -> [Finding] {
        let explained: Set<Finding.Kind> = [.deadlock, .selfDeadlock, .orphanedLock, .forkChildDeadlock, .signalHazard]
        guard !others.contains(where: { explained.contains($0.kind) && $0.severity == .error }) else { return [] }
        let tids = suspects(first)
        guard !tids.isEmpty, confirm.count >= 2 else { return [] }
        let set = Set(tids)
        for look in confirm {
            for tid in tids {
                guard let again = look.thread(tid: tid), waitsForever(again, among: set),
                      again.syscall?.args.first == first.thread(tid: tid)?.syscall?.args.first else { return [] }
            }
        }
        for (a, b) in zip(confirm, confirm.dropFirst()) {
            for tid in tids {
                guard let x = a.thread(tid: tid)?.scheduling, let y = b.thread(tid: tid)?.scheduling,
                      x.voluntarySwitches != nil, x.voluntarySwitches == y.voluntarySwitches,
                      x.involuntarySwitches == y.involuntarySwitches else { return [] }
            }
        }
        return [finding(first, tids: tids)]
    }

    static func waitName(_ t: ThreadSnapshot) -> String {
        guard let b = t.blockedOn else { return "a futex" }
        if b.detail?.hasPrefix("pthread_barrier_wait") == true { return "a barrier" }
        switch b.kind {
        case .condvar: return "a condition variable"
        case .semaphore: return "a semaphore"
        case .mutex: return "a mutex"
        case .join: return "a thread join"
        case .rwlockRead, .rwlockWrite: return "an rwlock"
        case .stdioLock: return "a stdio lock"
        default: return "a futex"
        }
    }

    static func finding(_ s: Snapshot, tids: [Int32]) -> Finding {
        let threads = tids.compactMap { s.thread(tid: $0) }
        var counts: [String: Int] = [:]
        for t in threads { counts[waitName(t), default: 0] += 1 }
        let waits = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.value) on \($0.key)" }
        let wakers = wakeSources(s.process)
        let all = threads.count == 1 ? "its only thread waits" : "all \(threads.count) threads wait"
        var summary = "no thread of this process can run again: \(all) without a timeout (\(waits.joined(separator: ", "))), and only a thread of this process could wake one (a lost wake-up, or a wait for something that never happens)"
        if !wakers.isEmpty { summary += "; unless a \(wakers.joined(separator: " or ")) wakes one" }
        let edges: [EvidenceValue] = threads.map { t in
            var o: [String: EvidenceValue] = ["tid": .int(Int(t.tid)), "waits_on": .string(waitName(t))]
            if let a = t.blockedOn?.address ?? t.syscall?.args.first { o["address"] = .string("0x" + String(a, radix: 16)) }
            if let sym = t.blockedOn?.symbol { o["symbol"] = .string(sym) }
            if let owner = t.blockedOn?.ownerTid { o["owner_tid"] = .int(Int(owner)) }
            if let f = LibcNames.callerName(t.frames) { o["function"] = .string(f) }
            return .object(o)
        }
        return Finding(
            id: StableID.make("stall", threads.map { "\($0.tid)@\($0.syscall?.args.first ?? 0)" }),
            kind: .deadlock, severity: wakers.isEmpty ? .error : .warning,
            summary: summary, threads: tids.sorted(),
            advice: "Check every wait against its wake-up: wait on a condition variable in a loop over a predicate set under the mutex, and signal after changing it; post each semaphore the waiters count on; size barriers to the threads that reach them.",
            evidence: ["all_threads_wait": .bool(true), "waits": .list(edges),
                       "threads_ran_between_looks": .bool(false),
                       "possible_wakers": .list(wakers.map(EvidenceValue.string))])
    }

    /// Signal handlers (other than for faults) and POSIX timers: what could still wake it.
    static func wakeSources(_ p: ProcessSummary) -> [String] {
        var sources: [String] = []
        if let mask = p.caughtSignals {
            let signals = (1...64).filter { mask & (1 << UInt64($0 - 1)) != 0 && !faultSignals.contains($0) }
            if !signals.isEmpty { sources.append("handler for signal\(signals.count == 1 ? "" : "s") \(signals.map { SignalNames.name($0) }.joined(separator: ", "))") }
        }
        if let timers = p.posixTimers, timers > 0 { sources.append("POSIX timer (\(timers))") }
        return sources
    }

}

/// Signal names for messages (Linux x86-64 numbering, signal(7)).
enum SignalNames {
    static let names: [Int: String] = [
        1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
        9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
        16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
        23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO",
        30: "SIGPWR", 31: "SIGSYS",
    ]
    static func name(_ n: Int) -> String { names[n] ?? (n >= 34 ? "SIGRTMIN+\(n - 34)" : "signal \(n)") }
}
