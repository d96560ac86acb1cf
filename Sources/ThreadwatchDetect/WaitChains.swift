import ThreadwatchModel

/// Lock chains that end in a thread which is not waiting for a lock: not a
/// deadlock, but where a hang usually is ("4 threads wait behind tid 812,
/// which is in read(7, ...)"), longest first: the text view's "Lock
/// chains" and the report's `lock_chains`.
public enum WaitChains {
    public static func chains(_ snapshot: Snapshot, limit: Int = 10) -> [LockChain] {
        let graph = WaitForGraph(snapshot)
        var behind: [Int32: Set<Int32>] = [:]
        for waiter in graph.edges.keys {
            guard let end = graph.chainEnd(from: waiter), end != waiter else { continue }
            behind[end, default: []].insert(waiter)
        }
        let ends = behind.keys.sorted { (behind[$0]!.count, $1) > (behind[$1]!.count, $0) }
        return ends.prefix(limit).map { end in
            let waiters = behind[end]!.sorted()
            let who = waiters.count == 1 ? "1 thread waits" : "\(waiters.count) threads wait"
            guard let holder = snapshot.thread(tid: end) else {
                return LockChain(holderTid: end, holderName: nil, holderDoing: nil, waiters: waiters,
                                 summary: "\(who) behind tid \(end), which is not a thread of this process")
            }
            let what = doing(holder)
            return LockChain(holderTid: end, holderName: holder.name, holderDoing: what, waiters: waiters,
                             summary: "\(who) behind thread \(end) \"\(holder.name)\", which is \(what)")
        }
    }

    public static func describe(_ snapshot: Snapshot, limit: Int = 10) -> [String] {
        chains(snapshot, limit: limit).map(\.summary)
    }

    static func doing(_ thread: ThreadSnapshot) -> String {
        if thread.state == "R" { return "running" }
        // A sleep or timed wait interrupted (by a ptrace stop, a signal)
        // continues as restart_syscall: its own name is on the stack.
        if thread.syscall?.number == SyscallNames.restartSyscall, let top = thread.frames.first?.function {
            return "in \(LibcNames.publicName(top)) (resumed after an interruption)"
        }
        if let lock = thread.blockedOn {
            switch lock.kind {
            case .syscall: return "in \(lock.detail ?? "a system call")"
            default:
                var text = "waiting on \(lock.kind.rawValue.replacing("_", with: " "))"
                if let s = lock.name { text += " \(s)" }
                return text
            }
        }
        if let syscall = thread.syscall, let nr = syscall.number, nr >= 0 { return "in \(SyscallNames.describe(syscall))" }
        return "in state \(thread.state)"
    }
}
