import ThreadwatchModel

/// fork() in a multithreaded process (from `--watch` events): the child gets
/// one thread and a copy of every lock the other threads held at that
/// instant. Exec soon after is survivable (info); going on without exec is
/// a hazard (warning); blocking on such a lock is a hang (error). vfork and
/// posix_spawn, and forks of single-threaded processes, are fine.
public enum ForkHazardDetector {
    public static func detect(_ events: [ForkEvent]) -> [Finding] {
        events.compactMap(finding)
    }

    static func finding(_ event: ForkEvent) -> Finding? {
        guard event.kind == .fork, event.threadsAtFork > 1 else { return nil }
        let others = event.threadsAtFork - 1
        let at = "thread \(event.forkingTid) of pid \(event.parentPid) forked child \(event.childPid) while \(others) other thread\(others == 1 ? "" : "s") ran"
        let severity: Finding.Severity
        var summary: String
        var advice: String
        var inherited = event.heldLocks
        var execFollowed = false
        var child: [String: EvidenceValue] = [:]
        switch event.child {
        case .execed(let after, let path):
            execFollowed = true
            severity = .info
            summary = "\(at); the child exec'd \(path ?? "a program") \(millis(after)) later"
            advice = "Between fork() and exec the child may only call async-signal-safe functions; prefer posix_spawn, which does the same without copying the process."
            child = ["outcome": .string("exec"), "after_us": .int(after)]
            if let path { child["exec_path"] = .string(path) }
        case .blockedOnInheritedLock(let lock):
            severity = .error
            summary = "\(at); the child hangs on \(DeadlockDetector.lockText(lock)) held by tid \(lock.ownerTid.map(String.init) ?? "?"), a parent thread it does not have"
            advice = "The lock was held by another thread at fork() and will never be released in the child: use posix_spawn, fork before starting threads, or take and release these locks in pthread_atfork handlers."
            if !inherited.contains(where: { $0.address == lock.address }) { inherited.insert(lock, at: 0) }
            child = ["outcome": .string("blocked_on_inherited_lock")]
        case .exited(let after):
            severity = .warning
            summary = "\(at); the child exited \(millis(after)) later without exec"
            advice = forkWithoutExecAdvice
            child = ["outcome": .string("exit_without_exec"), "after_us": .int(after)]
        case .running, .notFollowed:
            severity = .warning
            summary = "\(at); the child went on without exec"
            advice = forkWithoutExecAdvice
            child = ["outcome": .string("running_without_exec")]
        }
        var evidence: [String: EvidenceValue] = [
            "child": .object(child),
            "parent_stop_us": .int(event.parentStopMicros),
            "forking_thread_frames": .list(event.forkingFrames.prefix(24).map { .string(FrameText.short($0)) }),
            "other_threads": .list(event.otherThreads.map(sibling)),
        ]
        if !event.heldLocks.isEmpty {
            evidence["locks_held_at_fork"] = .list(event.heldLocks.map { .string(DeadlockDetector.lockText($0) + " by tid \($0.ownerTid ?? 0)") })
        }
        let owners = inherited.compactMap(\.ownerTid).filter { $0 != event.forkingTid }
        var finding = Finding(
            id: StableID.make("fork_hazard", ["\(event.parentPid)", "\(event.childPid)", "\(event.forkingTid)"]),
            kind: .forkHazard, severity: severity, summary: summary,
            threads: [event.forkingTid] + Array(Set(owners)).sorted(),
            advice: advice, evidence: evidence)
        finding.fork = ForkInfo(parentPid: event.parentPid, childPid: event.childPid, execFollowed: execFollowed,
                                inheritedLocks: inherited, forkingTid: event.forkingTid, threadsAtFork: event.threadsAtFork)
        return finding
    }

    static let forkWithoutExecAdvice = "A child of a multithreaded process that goes on without exec inherits every lock other threads held at fork() (malloc's, stdio's, the program's own) and hangs on the first one it takes: exec at once or use posix_spawn, fork before starting threads, or use pthread_atfork handlers."

    private static func sibling(_ s: ForkSibling) -> EvidenceValue {
        var object: [String: EvidenceValue] = [
            "tid": .int(Int(s.tid)), "name": .string(s.name), "state": .string(s.state), "doing": .string(s.doing),
            "frames": .list(s.frames.map { .string(FrameText.short($0)) }),
        ]
        if let lock = s.blockedOn, lock.kind != .syscall { object["blocked_on"] = .string(DeadlockDetector.lockText(lock)) }
        return .object(object)
    }

    private static func millis(_ micros: Int) -> String {
        micros < 10_000 ? "\(micros / 1000).\((micros % 1000) / 100) ms" : "\(micros / 1000) ms"
    }
}
