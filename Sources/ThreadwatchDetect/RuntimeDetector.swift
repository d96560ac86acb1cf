import ThreadwatchModel

/// Findings from the threadwatch runtime's registry: fiber deadlocks,
/// lock-order inversions and fibers blocking their carrier.
///
/// Fiber deadlocks use a graph of their own whose nodes are fiber ids (a
/// fiber waits for the fiber that owns its fiber mutex): WaitForGraph's
/// nodes are threads, and two fibers deadlocked on one carrier leave that
/// carrier free, so no thread edge exists. A cycle counts only when a later
/// look shows the same edges and none of its fibers was switched in since.
public enum RuntimeDetector {
    public typealias Look = (fibers: [FiberSnapshot], carriers: [RuntimeState.Carrier])

    /// Whether a second look is needed (something that must be confirmed).
    public static func hasSuspects(_ snapshot: Snapshot) -> Bool {
        !fiberCycles(snapshot.fibers).isEmpty || !blockedCarriers(snapshot).isEmpty
    }

    public static func detect(_ snapshot: Snapshot, later: Look?) -> [Finding] {
        guard let runtime = snapshot.runtime else { return [] }
        return fiberDeadlocks(snapshot, later: later) + inversions(runtime) + blocking(snapshot, later: later)
    }

    static func fiberCycles(_ fibers: [FiberSnapshot]) -> [[FiberSnapshot]] {
        let byID = Dictionary(fibers.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        func next(_ f: FiberSnapshot) -> FiberSnapshot? {
            guard f.state == .blocked, let b = f.blockedOn, b.kind == .fiberMutex, let owner = b.ownerFiber else { return nil }
            return byID[owner]
        }
        var done: Set<Int64> = []
        var cycles: [[FiberSnapshot]] = []
        for start in fibers.sorted(by: { $0.id < $1.id }) where !done.contains(start.id) {
            var path: [FiberSnapshot] = []
            var node: FiberSnapshot? = start
            while let f = node, !done.contains(f.id), !path.contains(where: { $0.id == f.id }) {
                path.append(f)
                node = next(f)
            }
            if let f = node, let at = path.firstIndex(where: { $0.id == f.id }), path.count - at >= 2 {
                cycles.append(Array(path[at...]))
            }
            for f in path { done.insert(f.id) }
        }
        return cycles
    }

    static func fiberDeadlocks(_ snapshot: Snapshot, later: Look?) -> [Finding] {
        guard let later else { return [] }
        let again = Dictionary(later.fibers.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return fiberCycles(snapshot.fibers).compactMap { cycle in
            let stable = cycle.allSatisfy { f in
                guard let g = again[f.id] else { return false }
                return g.state == .blocked && g.switches == f.switches && g.blockedOn?.address == f.blockedOn?.address
                    && g.blockedOn?.ownerFiber == f.blockedOn?.ownerFiber
            }
            guard stable else { return nil }
            let names = cycle.map { "fiber \($0.id) \"\($0.name)\"" }
            let carriers = Array(Set(cycle.compactMap(\.carrierTid))).sorted()
            var finding = Finding(
                id: StableID.make("fiber_deadlock", cycle.map { "\($0.id)@\($0.blockedOn?.address ?? 0)" }),
                kind: .deadlock, severity: .error,
                summary: "\(cycle.count) fibers deadlocked on fiber mutex: \(names.joined(separator: " -> ")) -> fiber \(cycle[0].id) (carrier thread\(carriers.count == 1 ? "" : "s") \(carriers.map(String.init).joined(separator: ", ")) still free)",
                threads: carriers,
                cycle: cycle.compactMap { f in
                    guard let lock = f.blockedOn, let tid = f.carrierTid else { return nil }
                    return CycleEdge(tid: tid, lock: lock, holderTid: lock.ownerTid ?? tid, frames: f.frames)
                },
                advice: "Take these fiber mutexes in one global order in every fiber, or take the second with a try-lock and yield on failure.",
                evidence: ["fibers": .list(cycle.map { .int(Int($0.id)) }),
                           "edges": .list(cycle.map { f in
                               .object(["fiber": .int(Int(f.id)), "waits_for_fiber": .int(Int(f.blockedOn?.ownerFiber ?? 0)),
                                        "lock": .string("0x" + String(f.blockedOn?.address ?? 0, radix: 16))])
                           }),
                           "fibers_ran_between_looks": .bool(false)])
            finding.fibers = cycle.map(\.id)
            return finding
        }
    }

    static func siteText(_ frame: Frame?) -> String {
        guard let frame else { return "an unknown site" }
        var text = frame.function ?? "0x" + String(frame.pc, radix: 16)
        if let file = frame.file { text += " (\(file.split(separator: "/").last.map(String.init) ?? file)\(frame.line.map { ":\($0)" } ?? ""))" }
        return text
    }

    static func siteEvidence(_ frame: Frame?, tid: Int32) -> EvidenceValue {
        var o: [String: EvidenceValue] = ["tid": .int(Int(tid))]
        if let frame {
            o["pc"] = .string("0x" + String(frame.pc, radix: 16))
            if let f = frame.function { o["function"] = .string(f) }
            if let f = frame.file { o["file"] = .string(f) }
            if let l = frame.line { o["line"] = .int(l) }
        }
        return .object(o)
    }

    static func inversions(_ runtime: RuntimeState) -> [Finding] {
        runtime.inversions.map { inv in
            Finding(
                id: StableID.make("lock_order_inversion", [inv.first, inv.second]),
                kind: .lockOrderInversion, severity: .warning,
                summary: "lock order inversion: \(inv.first) then \(inv.second) at \(siteText(inv.siteFirstThenSecond)) (thread \(inv.tidFirstThenSecond)), but \(inv.second) then \(inv.first) at \(siteText(inv.siteSecondThenFirst)) (thread \(inv.tidSecondThenFirst)); run together they can deadlock",
                threads: Array(Set([inv.tidFirstThenSecond, inv.tidSecondThenFirst])).sorted(),
                advice: "Pick one order for these two lock classes and take them in it everywhere (or take the second with a trylock and back off).",
                evidence: ["first": .string(inv.first), "second": .string(inv.second),
                           "first_then_second": siteEvidence(inv.siteFirstThenSecond, tid: inv.tidFirstThenSecond),
                           "second_then_first": siteEvidence(inv.siteSecondThenFirst, tid: inv.tidSecondThenFirst)])
        }
    }

    /// Carriers running a fiber that sits in a blocking syscall while others wait to run.
    static func blockedCarriers(_ snapshot: Snapshot) -> [RuntimeState.Carrier] {
        (snapshot.runtime?.carriers ?? []).filter { c in
            guard c.currentFiber != nil, c.runnable > 0, let t = snapshot.thread(tid: c.tid),
                  t.state == "S" || t.state == "D", let nr = t.syscall?.number, nr >= 0 else { return false }
            return true
        }
    }

    static func blocking(_ snapshot: Snapshot, later: Look?) -> [Finding] {
        guard let later else { return [] }
        return blockedCarriers(snapshot).compactMap { c in
            guard let again = later.carriers.first(where: { $0.tid == c.tid }), again.switches == c.switches,
                  let fiberID = c.currentFiber else { return nil }
            let fiber = snapshot.fibers.first { $0.id == fiberID }
            let starving = snapshot.fibers.filter { $0.carrierTid == c.tid && $0.state == .runnable }
            let call = snapshot.thread(tid: c.tid)?.syscall?.number.map { SyscallNames.name($0) } ?? "a syscall"
            var finding = Finding(
                id: StableID.make("blocking_in_fiber", ["\(c.tid)", "\(fiberID)"]),
                kind: .blockingInFiber, severity: .warning,
                summary: "fiber \(fiberID) \"\(fiber?.name ?? "?")\" blocks its carrier thread \(c.tid) in \(call)(); \(c.runnable) runnable fiber\(c.runnable == 1 ? "" : "s") on it cannot run",
                threads: [c.tid],
                advice: "Do not make blocking system calls in a fiber: use non-blocking I/O and park the fiber, or hand the call to a thread.",
                evidence: ["fiber": .int(Int(fiberID)), "syscall": .string(call),
                           "starving_fibers": .list(starving.map { .int(Int($0.id)) }),
                           "carrier_switches_unchanged": .bool(true)])
            finding.fibers = [fiberID] + starving.map(\.id)
            return finding
        }
    }
}
