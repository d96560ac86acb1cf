import Foundation
import XCTest

/// Hangs without a lock cycle (fixtures/twfixture/stall.c): every thread
/// waits on a futex only a thread of the process could wake.
final class StallTests: XCTestCase {
    private func stall(_ report: [String: Any]) -> [String: Any]? {
        report.findingList.first { $0["kind"] as? String == "deadlock" && (($0["evidence"] as? [String: Any])?["all_threads_wait"] as? Bool) == true }
    }

    private func assertStall(_ scenario: [String], threads expected: Int, waits: String, severity: String = "error",
                             file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let f = try Fixture(scenario)
        var last: [String: Any] = [:]
        for args in [["--pid", "\(f.pid)"], ["--pid", "\(f.pid)", "--proc-only"]] {
            let report = try Threadwatch.report(args, expectStatus: severity == "error" ? 1 : 0)
            let finding = try XCTUnwrap(stall(report), "\(scenario) \(args): \(report.findingList)", file: file, line: line)
            XCTAssertEqual(finding["severity"] as? String, severity, file: file, line: line)
            XCTAssertEqual(Set(finding["threads"] as? [Int] ?? []), Set(ProcView.tids(f.pid).map(Int.init)), "every thread", file: file, line: line)
            XCTAssertEqual((finding["threads"] as? [Int])?.count, expected, file: file, line: line)
            XCTAssertNil(finding["cycle"], "no cycle is claimed", file: file, line: line)
            XCTAssertTrue((finding["summary"] as? String ?? "").contains(waits), "\(finding["summary"] ?? "")", file: file, line: line)
            last = finding
        }
        return last
    }

    func testLostWakeup() throws {
        let finding = try assertStall(["lost-wakeup"], threads: 2, waits: "1 on a condition variable, 1 on a thread join")
        let waits = ((finding["evidence"] as? [String: Any])?["waits"] as? [[String: Any]]) ?? []
        XCTAssertTrue(waits.contains { $0["function"] as? String == "wait_for_message" }, "\(waits)")
    }

    func testBarrierCountNeverReached() throws {
        _ = try assertStall(["barrier-mismatch"], threads: 4, waits: "3 on a barrier")
    }

    func testSemaphoreNeverPosted() throws {
        _ = try assertStall(["sem-never-posted"], threads: 3, waits: "3 on a semaphore")
    }

    /// A signal handler could still post or signal: said, as a warning.
    func testLostWakeup_withSignalHandler_isWarning() throws {
        let finding = try assertStall(["lost-wakeup", "--handler"], threads: 2, waits: "condition variable", severity: "warning")
        XCTAssertTrue((finding["summary"] as? String ?? "").contains("SIGUSR1"))
    }

    /// Controls: a sleeping or reading thread could still act.
    func testWaitsWithASleeperAndAReader_noStall() throws {
        for scenario in [["waits"], ["condvar-crowd"]] {
            let f = try Fixture(scenario)
            XCTAssertNil(stall(try Threadwatch.report(["--pid", "\(f.pid)"])), "\(scenario)")
        }
    }
}
