import ThreadwatchModel

/// An orphaned lock in a fork child: the owner is a thread of the parent
/// (or the parent runs the same program), so the lock was held when the
/// parent forked and nothing in the child will ever release it.
enum ForkChildDeadlock {
    static func finding(_ snapshot: Snapshot, lock: BlockedOn, owner: Int32, waiters: [Int32], gap: Int) -> Finding? {
        guard let parent = snapshot.forkParent else { return nil }
        let holder = parent.lockHolders[owner]
        guard holder != nil || parent.sameExecutable else { return nil }
        let child = snapshot.process.pid
        var summary = "forked child \(child) waits for \(DeadlockDetector.lockText(lock)), held by tid \(owner)"
        if let holder {
            summary += " \"\(holder.name)\", a thread of its parent \(parent.pid) that the child does not have: it was held at fork() and will never be released"
        } else {
            summary += ", a thread the child does not have (its parent \(parent.pid) runs the same program): the lock was held at fork() and will never be released"
        }
        var evidence: [String: EvidenceValue] = [
            "owner_tid": .int(Int(owner)),
            "owner_is_parent_thread": .bool(holder != nil),
            "same_executable_as_parent": .bool(parent.sameExecutable),
            "second_look_after_us": .int(gap),
        ]
        if let holder {
            evidence["owner_in_parent"] = .object([
                "name": .string(holder.name), "state": .string(holder.state), "doing": .string(holder.doing),
                "frames": .list(holder.frames.prefix(12).map { .string(FrameText.short($0)) }),
            ])
        }
        var finding = Finding(
            id: StableID.make("fork_child_deadlock", ["\(lock.address ?? 0)", "\(owner)"] + waiters.map { "\($0)" }),
            kind: .forkChildDeadlock, severity: .error, summary: summary, threads: waiters,
            advice: "After fork() in a multithreaded process the child may only call async-signal-safe functions until exec: use posix_spawn, fork before starting threads, or take and release these locks in pthread_atfork handlers.",
            evidence: evidence)
        finding.fork = ForkInfo(parentPid: parent.pid, childPid: child, execFollowed: false, inheritedLocks: [lock])
        return finding
    }
}

/// "hold_forever (fork_stuck.c:33)" for evidence lists.
enum FrameText {
    static func short(_ f: Frame) -> String {
        var text = f.function ?? "0x" + String(f.pc, radix: 16)
        if let file = f.file { text += " (\(file.split(separator: "/").last.map(String.init) ?? file)\(f.line.map { ":\($0)" } ?? ""))" }
        return text
    }
}
