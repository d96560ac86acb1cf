import XCTest
@testable import ThreadwatchDetect
import ThreadwatchModel

/// Detectors on hand-built snapshots.
final class DeadlockDetectorTests: XCTestCase {
    func snapshot(_ threads: [ThreadSnapshot], at time: Double = 100) -> Snapshot {
        Snapshot(process: ProcessSummary(pid: 10, comm: "app"), threads: threads,
                 scan: ScanInfo(attach: .ptrace, startedAt: time))
    }

    func thread(_ tid: Int32, waitsOn kind: BlockedOn.Kind = .mutex, at address: UInt64? = nil, heldBy owner: Int32?,
                recursive: Bool = false, switches: Int = 3) -> ThreadSnapshot {
        ThreadSnapshot(tid: tid, name: "t\(tid)", state: "S",
                       scheduling: Scheduling(lastCPU: 0, policy: "SCHED_OTHER", priority: 20, nice: 0, realtimePriority: 0,
                                              voluntarySwitches: switches, involuntarySwitches: 0),
                       frames: [Frame(pc: 0x1000, function: "transfer")],
                       blockedOn: BlockedOn(kind: kind, address: address ?? UInt64(tid) * 0x40, ownerTid: owner, recursive: recursive))
    }

    /// The scan and two confirming looks that saw the same thing.
    func detect(_ s: Snapshot) -> [Finding] { DeadlockDetector.detect(first: s, confirm: [s, s]) }

    func testABBA_isOneDeadlockWithBothEdges() throws {
        let s = snapshot([thread(11, heldBy: 12), thread(12, heldBy: 11), ThreadSnapshot(tid: 13, name: "idle", state: "S")])
        let findings = detect(s)
        XCTAssertEqual(findings.count, 1)
        let f = try XCTUnwrap(findings.first)
        XCTAssertEqual(f.kind, .deadlock)
        XCTAssertEqual(f.severity, .error)
        XCTAssertEqual(f.threads, [11, 12])
        XCTAssertEqual(f.cycle.map(\.tid), [11, 12])
        XCTAssertEqual(f.cycle.map(\.holderTid), [12, 11])
        XCTAssertEqual(f.cycle.last?.holderTid, f.cycle.first?.tid, "the last holder is the first waiter")
    }

    func testThreeCycle_startsAtLowestTid_andIdIsStable() {
        let a = snapshot([thread(30, heldBy: 10), thread(10, heldBy: 20), thread(20, heldBy: 30)])
        let b = snapshot([thread(20, heldBy: 30), thread(30, heldBy: 10), thread(10, heldBy: 20)], at: 200)
        let first = detect(a)
        let again = detect(b)
        XCTAssertEqual(first.first?.cycle.map(\.tid), [10, 20, 30])
        XCTAssertEqual(first.first?.id, again.first?.id, "same locks and threads, same id")
    }

    func testChangedOwnerOnSecondLook_isNotADeadlock() {
        let first = snapshot([thread(11, heldBy: 12), thread(12, heldBy: 11)])
        let second = snapshot([thread(11, heldBy: 13), thread(12, heldBy: 11)], at: 100.2)
        XCTAssertTrue(DeadlockDetector.detect(first: first, confirm: [second, second]).isEmpty)
    }

    func testWaiterThatRanBetweenLooks_isNotADeadlock() {
        // Same picture in every look, but t11 was scheduled between the confirming looks.
        let a = snapshot([thread(11, heldBy: 12), thread(12, heldBy: 11)])
        let b = snapshot([thread(11, heldBy: 12, switches: 4), thread(12, heldBy: 11)], at: 100.2)
        XCTAssertTrue(DeadlockDetector.detect(first: a, confirm: [a, b]).isEmpty)
        XCTAssertEqual(DeadlockDetector.detect(first: a, confirm: [a, a]).count, 1)
    }

    func testCondvarAndUnknownHolders_neverFormCycles() {
        let s = snapshot([thread(11, waitsOn: .condvar, heldBy: 12), thread(12, heldBy: 11), thread(13, heldBy: nil)])
        XCTAssertTrue(detect(s).filter { $0.kind == .deadlock }.isEmpty)
    }

    func testSelfDeadlock_onlyForNonRecursiveMutex() {
        let normal = snapshot([thread(11, heldBy: 11)])
        XCTAssertEqual(detect(normal).map(\.kind), [.selfDeadlock])
        let recursive = snapshot([thread(11, heldBy: 11, recursive: true)])
        XCTAssertTrue(detect(recursive).isEmpty)
    }

    func testOrphanedLock_oneFindingPerLockWithAllWaiters() throws {
        let s = snapshot([thread(11, at: 0x5000, heldBy: 99), thread(12, at: 0x5000, heldBy: 99)])
        let findings = detect(s)
        XCTAssertEqual(findings.count, 1)
        XCTAssertEqual(findings.first?.kind, .orphanedLock)
        XCTAssertEqual(findings.first?.threads, [11, 12])
    }

    func testLongChainEndingInSleeper_isNoFinding() {
        let chain = (1...5).map { thread(Int32($0), heldBy: Int32($0 - 1)) } + [ThreadSnapshot(tid: 0, name: "sleeper", state: "S")]
        let s = snapshot(chain)
        XCTAssertTrue(detect(s).isEmpty)
        XCTAssertEqual(WaitForGraph(s).chainEnd(from: 5), 0)
    }
}

/// The advice names what breaks the cycle at hand.
final class DeadlockAdviceTests: XCTestCase {
    func edge(_ waiter: Int32, _ holder: Int32, _ kind: BlockedOn.Kind, once: Bool = false) -> WaitForGraph.Edge {
        var lock = BlockedOn(kind: kind, address: UInt64(waiter) * 0x40, ownerTid: holder)
        lock.oneTimeInit = once
        return WaitForGraph.Edge(waiter: waiter, holder: holder, lock: lock)
    }

    func testAdvice() {
        XCTAssertTrue(DeadlockDetector.advice(for: [edge(1, 2, .mutex), edge(2, 1, .mutex)]).hasPrefix("Take these locks in one global order"))
        XCTAssertTrue(DeadlockDetector.advice(for: [edge(1, 2, .join), edge(2, 1, .mutex)]).contains("pthread_join"))
        XCTAssertTrue(DeadlockDetector.advice(for: [edge(1, 2, .futex, once: true), edge(2, 1, .mutex)]).contains("initialiser"))
        XCTAssertTrue(DeadlockDetector.advice(for: [edge(1, 2, .stdioLock), edge(2, 1, .mutex)]).contains("FILE lock"))
    }
}
