import XCTest
import ThreadwatchDetect
import ThreadwatchModel

/// SignalHazardDetector on hand-built threads.
final class SignalHazardDetectorTests: XCTestCase {
    let libc = "/usr/lib/x86_64-linux-gnu/libc.so.6"

    func thread(_ frames: [Frame], owner: Int32? = nil, switches: Int = 5) -> ThreadSnapshot {
        ThreadSnapshot(tid: 7, name: "worker", state: "S",
                       scheduling: Scheduling(lastCPU: 0, policy: "SCHED_OTHER", priority: 20, nice: 0, realtimePriority: 0,
                                              voluntarySwitches: switches, involuntarySwitches: 0),
                       syscall: SyscallState(number: 202, args: [0x5000, 0x80, 2, 0, 0, 0], sp: 0x7000, pc: 0x8000),
                       frames: frames,
                       blockedOn: BlockedOn(kind: owner == nil ? .futex : .mutex, address: 0x5000, ownerTid: owner))
    }

    func snapshot(_ t: ThreadSnapshot, at time: Double = 100) -> Snapshot {
        Snapshot(process: ProcessSummary(pid: 7, comm: "app"), threads: [t], scan: ScanInfo(attach: .ptrace, startedAt: time))
    }

    func lib(_ name: String) -> Frame { Frame(pc: 0x10, function: name, module: libc) }
    func app(_ name: String) -> Frame { Frame(pc: 0x20, function: name, module: "/srv/app") }

    func testUnknownLockInHandler_isWarning() throws {
        // The handler waits in a libc lock; the interrupted code is the program's own.
        let t = thread([lib("__lll_lock_wait_private"), lib("__libc_malloc"), app("on_alarm"), lib("__restore_rt"), app("compute")])
        let s = snapshot(t)
        let findings = SignalHazardDetector.detect(first: s, confirm: [s, s])
        let f = try XCTUnwrap(findings.first)
        XCTAssertEqual(findings.count, 1)
        XCTAssertEqual(f.kind, .signalHazard)
        XCTAssertEqual(f.severity, .warning)
        XCTAssertTrue(f.cycle.isEmpty, "no claim about who holds it")
        XCTAssertTrue(f.summary.contains("in malloc()"), f.summary)
    }

    func testSameLibcFamily_isError() throws {
        let t = thread([lib("__lll_lock_wait_private"), lib("__tz_convert"), lib("localtime"), app("on_term"),
                        lib("__restore_rt"), lib("__tzfile_compute"), lib("__tz_convert"), lib("localtime_r"), app("log_line")])
        let s = snapshot(t)
        let f = try XCTUnwrap(SignalHazardDetector.detect(first: s, confirm: [s, s]).first)
        XCTAssertEqual(f.severity, .error)
        XCTAssertTrue(f.summary.contains("time zone lock"), f.summary)
    }

    func testThreadRanBetweenLooks_noFinding() {
        let t = thread([lib("__lll_lock_wait"), lib("pthread_mutex_lock"), app("handler"), lib("__restore_rt"), app("work")], owner: 7)
        let later = thread(t.frames, owner: 7, switches: 6)
        XCTAssertTrue(SignalHazardDetector.detect(first: snapshot(t), confirm: [snapshot(t), snapshot(later, at: 100.02)]).isEmpty)
    }

    func testNoSignalFrame_noFinding() {
        let t = thread([lib("__lll_lock_wait"), lib("pthread_mutex_lock"), app("work")], owner: 7)
        let s = snapshot(t)
        XCTAssertTrue(SignalHazardDetector.detect(first: s, confirm: [s, s]).isEmpty)
        XCTAssertEqual(DeadlockDetector.detect(first: s, confirm: [s, s]).map(\.kind), [.selfDeadlock], "outside a handler it is a self-deadlock")
    }
}
