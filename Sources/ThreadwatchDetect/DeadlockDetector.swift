import ThreadwatchModel

/// Deadlocks, self-deadlocks and orphaned locks from the wait-for graph.
/// A finding needs every look to agree: the scan (`first`), then `confirm`
/// looks taken later without stopping anything. Each edge must be the same
/// (waiter, lock, holder) in all of them, and the waiter must not have run
/// between consecutive confirming looks (same context-switch counts), so a
/// contended lock that changes hands is never reported.
public enum DeadlockDetector {
    public static func detect(first: Snapshot, confirm: [Snapshot]) -> [Finding] {
        let a = WaitForGraph(first)
        let later = confirm.map(WaitForGraph.init)
        func switches(_ s: Snapshot, _ tid: Int32) -> [Int?]? {
            s.thread(tid: tid).map { [$0.scheduling?.voluntarySwitches, $0.scheduling?.involuntarySwitches] }
        }
        func quiet(_ tid: Int32) -> Bool {
            guard confirm.count >= 2 else { return false }
            for i in 1..<confirm.count {
                guard let before = switches(confirm[i - 1], tid), let after = switches(confirm[i], tid),
                      !before.contains(where: { $0 == nil }), before == after else { return false }
            }
            return true
        }
        func stable(_ edge: WaitForGraph.Edge) -> Bool {
            guard !later.isEmpty, quiet(edge.waiter) else { return false }
            return later.allSatisfy { graph in
                guard let again = graph.edges[edge.waiter] else { return false }
                return again.holder == edge.holder && again.lock.address == edge.lock.address
                    && again.lock.kind == edge.lock.kind
            }
        }
        let second = confirm.last ?? first
        let gap = max(0, Int((second.scan.startedAt - first.scan.startedAt) * 1_000_000))
        let lastGraph = later.last ?? a
        var findings: [Finding] = []

        for cycle in a.cycles() where cycle.allSatisfy(stable) {
            let tids = cycle.map(\.waiter)
            let names = tids.map { tid in "\(tid) \"\(first.thread(tid: tid)?.name ?? "?")\"" }
            let kinds = Set(cycle.map { $0.lock.kind.rawValue.replacing("_", with: " ") }).sorted().joined(separator: "/")
            findings.append(Finding(
                id: StableID.make("deadlock", cycle.map { "\($0.waiter)@\($0.lock.address ?? 0)" }),
                kind: .deadlock, severity: .error,
                summary: "\(cycle.count) threads deadlocked on \(kinds): \(names.joined(separator: " -> ")) -> \(tids[0])",
                threads: tids,
                cycle: cycle.map { edge in
                    CycleEdge(tid: edge.waiter, lock: edge.lock, holderTid: edge.holder,
                              frames: first.thread(tid: edge.waiter)?.frames ?? [])
                },
                advice: advice(for: cycle),
                evidence: evidence(cycle, lastGraph, gap)))
        }

        // A self-loop inside a signal handler is SignalHazardDetector's: the
        // handler, not the code, re-locks.
        func inHandler(_ tid: Int32) -> Bool { SignalHazardDetector.split(first.thread(tid: tid)?.frames ?? []) != nil }
        for edge in a.selfLoops() where stable(edge) && !inHandler(edge.waiter)
            && ((edge.lock.kind == .mutex && !edge.lock.recursive) || edge.lock.oneTimeInit) {
            let name = first.thread(tid: edge.waiter)?.name ?? "?"
            findings.append(Finding(
                id: StableID.make("self_deadlock", ["\(edge.waiter)@\(edge.lock.address ?? 0)"]),
                kind: .selfDeadlock, severity: .error,
                summary: edge.lock.oneTimeInit
                    ? "thread \(edge.waiter) \"\(name)\" waits for a one-time initialisation (\(lockText(edge.lock))) that it is running itself"
                    : "thread \(edge.waiter) \"\(name)\" waits for \(lockText(edge.lock)), which it already holds",
                threads: [edge.waiter],
                cycle: [CycleEdge(tid: edge.waiter, lock: edge.lock, holderTid: edge.holder,
                                  frames: first.thread(tid: edge.waiter)?.frames ?? [])],
                advice: edge.lock.oneTimeInit
                    ? "An initialiser must not need its own result: break the cycle between this static (or once-call) and the code its initialiser calls, e.g. initialise the dependency first or pass it in."
                    : "Do not re-lock a non-recursive mutex: unlock first, split the function into locked/unlocked variants, or make the mutex PTHREAD_MUTEX_RECURSIVE if re-entry is intended.",
                evidence: evidence([edge], lastGraph, gap)))
        }

        let orphaned = a.orphanedEdges().filter(stable)
        let byLock = Dictionary(grouping: orphaned) { $0.lock.address ?? 0 }
        for address in byLock.keys.sorted() {
            let edges = byLock[address]!
            let lock = edges[0].lock
            let waiters = edges.map(\.waiter).sorted()
            if let finding = ForkChildDeadlock.finding(first, lock: lock, owner: edges[0].holder, waiters: waiters, gap: gap) {
                findings.append(finding)
                continue
            }
            findings.append(Finding(
                id: StableID.make("orphaned_lock", ["\(address)"] + waiters.map { "\($0)" }),
                kind: .orphanedLock, severity: .error,
                summary: "\(waiters.count) thread\(waiters.count == 1 ? "" : "s") wait for \(lockText(lock)), held by tid \(edges[0].holder), which is no longer a thread of this process",
                threads: waiters,
                cycle: [],
                advice: "A thread exited (or was cancelled) while holding this lock: unlock on every exit path, or use a robust mutex (PTHREAD_MUTEX_ROBUST) so waiters get EOWNERDEAD.",
                evidence: ["lock": lockEvidence(lock), "dead_owner_tid": .int(Int(edges[0].holder)),
                           "second_look_after_us": .int(gap)]))
        }
        return findings
    }

    /// What breaks this kind of cycle: lock order in general; the cycle's
    /// odd member when it has one (a join, an initialisation, stdio).
    static func advice(for cycle: [WaitForGraph.Edge]) -> String {
        let general = "Take these locks in one global order everywhere (e.g. by address or rank), or take the second with a trylock and back off on failure."
        if cycle.contains(where: { $0.lock.kind == .join }) {
            return "A thread joins one that waits for a lock the joiner holds: release locks before pthread_join (or signal the thread to finish first). " + general
        }
        if cycle.contains(where: { $0.lock.oneTimeInit }) {
            return "An initialiser (a C++ static's constructor, a pthread_once/call_once routine) takes a lock whose holder needs the initialised value: initialise it before taking that lock, or do not lock inside the initialiser."
        }
        if cycle.contains(where: { $0.lock.kind == .stdioLock }) {
            return "A FILE lock (printf, flockfile) is in the cycle: do not print or flockfile while holding an application lock that the printing thread's peers need, or always take the FILE lock first. " + general
        }
        if cycle.contains(where: { $0.lock.kind == .rwlockRead || $0.lock.kind == .rwlockWrite }) {
            return "An rwlock is in the cycle (a reader waiting for a lock whose holder waits to write, or the other way): the read side counts as holding it. " + general
        }
        return general
    }

    static func lockText(_ lock: BlockedOn) -> String {
        var text = lock.kind.rawValue.replacing("_", with: " ")
        if let a = lock.address { text += " 0x" + String(a, radix: 16) }
        if let s = lock.name { text += " (\(s))" }
        return text
    }

    static func lockEvidence(_ lock: BlockedOn) -> EvidenceValue {
        var object: [String: EvidenceValue] = ["kind": .string(lock.kind.rawValue)]
        if let a = lock.address { object["address"] = .string("0x" + String(a, radix: 16)) }
        if let s = lock.symbol { object["symbol"] = .string(s) }
        return .object(object)
    }

    /// Both looks as they were seen: the scan's edges and the last confirming look's.
    static func evidence(_ edges: [WaitForGraph.Edge], _ last: WaitForGraph, _ gap: Int) -> [String: EvidenceValue] {
        func look(_ edges: [WaitForGraph.Edge]) -> EvidenceValue {
            .list(edges.map { edge in
                .object(["tid": .int(Int(edge.waiter)), "holder_tid": .int(Int(edge.holder)), "lock": lockEvidence(edge.lock)])
            })
        }
        let again = edges.compactMap { last.edges[$0.waiter] }
        return ["first_look": look(edges), "second_look": look(again), "second_look_after_us": .int(gap),
                "waiters_ran_between_looks": .bool(false)]
    }
}

/// Finding ids that stay the same across scans for the same problem:
/// FNV-1a over the kind and its sorted parts.
public enum StableID {
    public static func make(_ kind: String, _ parts: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in ([kind] + parts.sorted()).joined(separator: "|").utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let digits = String(hash, radix: 16)
        return "\(kind)-" + String(repeating: "0", count: 16 - digits.count) + digits
    }
}
