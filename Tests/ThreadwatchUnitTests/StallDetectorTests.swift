import XCTest
import ThreadwatchDetect
import ThreadwatchModel

/// StallDetector on hand-built threads.
final class StallDetectorTests: XCTestCase {
    func thread(_ tid: Int32, op: UInt64 = 0x80, timeout: UInt64 = 0, state: String = "S", call: Int = 202,
                kind: BlockedOn.Kind = .condvar, owner: Int32? = nil, switches: Int = 4) -> ThreadSnapshot {
        ThreadSnapshot(tid: tid, name: "t\(tid)", state: state,
                       scheduling: Scheduling(lastCPU: 0, policy: "SCHED_OTHER", priority: 20, nice: 0, realtimePriority: 0,
                                              voluntarySwitches: switches, involuntarySwitches: 1),
                       syscall: SyscallState(number: call, args: [UInt64(tid) * 0x100, op, 0, timeout, 0, 0]),
                       blockedOn: BlockedOn(kind: kind, address: UInt64(tid) * 0x100, ownerTid: owner))
    }

    func snapshot(_ threads: [ThreadSnapshot], caught: UInt64 = 0) -> Snapshot {
        var process = ProcessSummary(pid: 1, comm: "app")
        process.caughtSignals = caught
        process.posixTimers = 0
        return Snapshot(process: process, threads: threads, scan: ScanInfo(attach: .ptrace, startedAt: 1))
    }

    func detect(_ s: Snapshot) -> [Finding] { StallDetector.detect(first: s, confirm: [s, s], others: []) }

    func testAllUntimedPrivateWaits_isDeadlockWithoutCycle() throws {
        let s = snapshot([thread(1, op: 0, kind: .join, owner: 2), thread(2), thread(3, op: 0x89, kind: .semaphore)])
        let f = try XCTUnwrap(detect(s).first)
        XCTAssertEqual(f.kind, .deadlock)
        XCTAssertEqual(f.severity, .error)
        XCTAssertEqual(f.threads, [1, 2, 3])
        XCTAssertTrue(f.cycle.isEmpty)
    }

    func testATimedWait_orASleeper_orASharedFutex_noFinding() {
        XCTAssertTrue(detect(snapshot([thread(1), thread(2, timeout: 0x7fff0000)])).isEmpty, "a timed wait can end by itself")
        XCTAssertTrue(detect(snapshot([thread(1), thread(2, call: 230)])).isEmpty, "a sleeping thread wakes up")
        XCTAssertTrue(detect(snapshot([thread(1), thread(2, op: 0)])).isEmpty, "another process can wake a shared futex")
        XCTAssertTrue(detect(snapshot([thread(1), thread(2, state: "R")])).isEmpty)
        XCTAssertTrue(detect(snapshot([thread(1, op: 0, kind: .join, owner: 99), thread(2)])).isEmpty, "joins a thread not waiting here")
    }

    func testThreadRanBetweenLooks_noFinding() {
        let a = snapshot([thread(1), thread(2)])
        let b = snapshot([thread(1), thread(2, switches: 5)])
        XCTAssertTrue(StallDetector.detect(first: a, confirm: [a, b], others: []).isEmpty)
    }

    func testSignalHandler_makesItAWarning_faultHandlersDoNot() throws {
        let sigsegv: UInt64 = 1 << 10, sigterm: UInt64 = 1 << 14
        XCTAssertEqual(detect(snapshot([thread(1)], caught: sigsegv)).first?.severity, .error)
        let f = try XCTUnwrap(detect(snapshot([thread(1)], caught: sigsegv | sigterm)).first)
        XCTAssertEqual(f.severity, .warning)
        XCTAssertTrue(f.summary.contains("SIGTERM"), f.summary)
    }

    func testACycleExplainsIt_noSecondFinding() {
        let s = snapshot([thread(1), thread(2)])
        let cycle = Finding(id: "x", kind: .deadlock, severity: .error, summary: "", threads: [1, 2])
        XCTAssertTrue(StallDetector.detect(first: s, confirm: [s, s], others: [cycle]).isEmpty)
    }
}
