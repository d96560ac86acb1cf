import ThreadwatchModel

/// Another look at chosen threads after a scan, from /proc and
/// process_vm_readv alone (no stop): blocked threads show their syscall in
/// /proc, and their lock words are in memory. Each look reads the thread's
/// context-switch counts first, then its syscall, then the lock words: when
/// two looks show the same counts, the thread did not run in between, so
/// the first look's reads are one consistent picture.
public enum SecondLook {
    public static func take(of snapshot: Snapshot, tids: Set<Int32>) -> Snapshot {
        let pid = snapshot.process.pid
        var next = snapshot
        next.scan.startedAt = MonotonicClock.wallSeconds()
        var refreshed: [ThreadSnapshot] = []
        for thread in snapshot.threads {
            guard tids.contains(thread.tid) else { refreshed.append(thread); continue }
            let base = "/proc/\(pid)/task/\(thread.tid)"
            guard let statText = ProcFile.text(base + "/stat"), let stat = TaskStat.parse(statText) else {
                continue  // gone
            }
            var again = thread
            again.state = stat.state
            if let status = ProcFile.bytes(base + "/status").map(TaskStatus.parse) {
                again.scheduling?.voluntarySwitches = status.voluntarySwitches
                again.scheduling?.involuntarySwitches = status.involuntarySwitches
            }
            again.syscall = ProcFile.text(base + "/syscall").flatMap(SyscallParser.parse)
            // Same syscall, same arguments, same pc and sp: the stack is unchanged.
            let same = again.syscall?.number == thread.syscall?.number
                && again.syscall?.args == thread.syscall?.args
                && again.syscall?.sp == thread.syscall?.sp && again.syscall?.pc == thread.syscall?.pc
            if !same { again.frames = [] }
            again.blockedOn = nil
            refreshed.append(again)
        }
        let symbols = Dictionary(snapshot.threads.compactMap { t in
            t.blockedOn.flatMap { b in b.address.flatMap { a in b.symbol.map { (a, $0) } } }
        }, uniquingKeysWith: { a, _ in a })
        let model = GlibcLockModel(memory: RemoteMemory(pid: pid), threads: refreshed, dataSymbol: { symbols[$0] })
        let firstLocks = Dictionary(snapshot.threads.map { ($0.tid, $0.blockedOn) }, uniquingKeysWith: { a, _ in a })
        next.threads = OnceOwners.infer(StackReferenceOwners.infer(refreshed.map { thread in
            guard tids.contains(thread.tid) else { return thread }
            var thread = thread
            if let first = firstLocks[thread.tid] ?? nil, first.kind == .runtimeMutex {
                // A runtime mutex keeps its holder in the lock (RuntimeModel.holder):
                // same wait as before (frames kept), then read the holder again.
                thread.blockedOn = thread.frames.isEmpty ? nil : first
                thread.blockedOn?.ownerTid = first.address.flatMap { RuntimeModel.holder(of: $0, memory: RemoteMemory(pid: pid)) }
            } else {
                thread.blockedOn = model.blockedOn(thread)
            }
            return thread
        }, memory: RemoteMemory(pid: pid)))
        return next
    }
}
