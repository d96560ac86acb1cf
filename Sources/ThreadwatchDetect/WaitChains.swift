import ThreadwatchModel

/// Lock chains that end in a thread which is not waiting for a lock: not a
/// deadlock, but where a hang usually is ("4 threads wait behind tid 812,
/// which is in read(7, ...)"). Pure text for the human view.
public enum WaitChains {
    public static func describe(_ snapshot: Snapshot, limit: Int = 10) -> [String] {
        let graph = WaitForGraph(snapshot)
        var behind: [Int32: Set<Int32>] = [:]
        for waiter in graph.edges.keys {
            guard let end = graph.chainEnd(from: waiter), end != waiter else { continue }
            behind[end, default: []].insert(waiter)
        }
        let ends = behind.keys.sorted { (behind[$0]!.count, $1) > (behind[$1]!.count, $0) }
        return ends.prefix(limit).map { end in
            let count = behind[end]!.count
            let who = count == 1 ? "1 thread waits" : "\(count) threads wait"
            guard let holder = snapshot.thread(tid: end) else {
                return "\(who) behind tid \(end), which is not a thread of this process"
            }
            return "\(who) behind thread \(end) \"\(holder.name)\", which is \(doing(holder))"
        }
    }

    static func doing(_ thread: ThreadSnapshot) -> String {
        if thread.state == "R" { return "running" }
        if let lock = thread.blockedOn {
            switch lock.kind {
            case .syscall: return "in \(lock.detail ?? "a system call")"
            default:
                var text = "waiting on \(lock.kind.rawValue.replacing("_", with: " "))"
                if let s = lock.symbol { text += " \(s)" }
                return text
            }
        }
        if let syscall = thread.syscall, let nr = syscall.number, nr >= 0 { return "in \(SyscallNames.describe(syscall))" }
        return "in state \(thread.state)"
    }
}
