import Foundation
import XCTest

/// Signal handlers that wait for a lock the code they interrupted holds
/// (fixtures/twfixture/signal_hazard.c), in both scan modes.
final class SignalHazardTests: XCTestCase {
    private func hazards(_ report: [String: Any]) -> [[String: Any]] {
        report.findingList.filter { $0["kind"] as? String == "signal_hazard" }
    }

    /// An error about `victim` in `handler`, with how sure the lock is the
    /// interrupted code's; returns the finding and its evidence.
    private func assertHazard(_ hazard: [String: Any], victim: Int32, handler: String, sameLock: String,
                              file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        XCTAssertEqual(hazard["severity"] as? String, "error", file: file, line: line)
        XCTAssertEqual(hazard["threads"] as? [Int], [Int(victim)], file: file, line: line)
        let evidence = try XCTUnwrap(hazard["evidence"] as? [String: Any], file: file, line: line)
        XCTAssertEqual(evidence["handler"] as? String, handler, file: file, line: line)
        XCTAssertEqual(evidence["same_lock"] as? String, sameLock, file: file, line: line)
        return evidence
    }

    func testHandlerRelocksMutexOfInterruptedCode_isSignalHazardNotSelfDeadlock() throws {
        let f = try Fixture(["signal-self-lock"])
        let victim = try XCTUnwrap(f.tid(named: "sig-victim"))
        for args in [["--pid", "\(f.pid)"], ["--pid", "\(f.pid)", "--proc-only"]] {
            let report = try Threadwatch.report(args, expectStatus: 1)
            let found = hazards(report)
            XCTAssertEqual(found.count, 1, "\(args): \(report.findingList)")
            let hazard = try XCTUnwrap(found.first)
            let evidence = try assertHazard(hazard, victim: victim, handler: "on_usr1", sameLock: "owner")
            XCTAssertEqual(evidence["interrupted_function"] as? String, "update_state")
            let cycle = try XCTUnwrap(hazard["cycle"] as? [[String: Any]])
            XCTAssertEqual((cycle.first?["lock"] as? [String: Any])?["address"] as? String,
                           f.locks["app_mutex"].map { "0x" + String($0, radix: 16) })
            XCTAssertTrue((hazard["summary"] as? String ?? "").contains("app_mutex"))
            XCTAssertFalse(report.findingList.contains { $0["kind"] as? String == "self_deadlock" }, "one finding for one hang")
        }
    }

    /// glibc's heap lock records no owner: the handler and the interrupted
    /// code are both inside malloc/free, which is enough.
    func testHandlerCallsMallocInsideMalloc_isSignalHazard() throws {
        let f = try Fixture(["signal-malloc"], timeout: 45)
        let victim = try XCTUnwrap(f.tid(named: "sig-victim"))
        for args in [["--pid", "\(f.pid)"], ["--pid", "\(f.pid)", "--proc-only"]] {
            let report = try Threadwatch.report(args, expectStatus: 1)
            let hazard = try XCTUnwrap(hazards(report).first, "\(args): \(report.findingList)")
            let evidence = try assertHazard(hazard, victim: victim, handler: "on_usr2", sameLock: "same libc lock")
            XCTAssertEqual(evidence["handler_calls"] as? String, "malloc")
            XCTAssertTrue((hazard["summary"] as? String ?? "").contains("heap arena lock"))
        }
        let text = try Threadwatch.run(["--pid", "\(f.pid)"])
        XCTAssertTrue(text.stdout.contains("ERROR signal_hazard"), text.stdout)
        XCTAssertTrue(text.stdout.contains("__restore_rt"), "the stack shows the signal frame: \(text.stdout)")
    }

    /// Threads waiting outside any handler are not signal hazards.
    func testOrdinaryWaits_noSignalHazard() throws {
        let f = try Fixture(["waits"])
        XCTAssertTrue(hazards(try Threadwatch.report(["--pid", "\(f.pid)"])).isEmpty)
    }
}
