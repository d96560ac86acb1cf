import Foundation
import XCTest

/// A forked child hung on a lock inherited from its multithreaded parent (issue 5, part 1).
final class ForkTests: XCTestCase {
    func assertForkChildDeadlock(procOnly: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try Fixture(["fork-child-stuck"])
        let child = try XCTUnwrap(fixture.value("CHILD")?.first.flatMap { Int32($0) }, file: file, line: line)
        let holder = try XCTUnwrap(fixture.value("HOLDER")?.first.flatMap { Int($0) }, file: file, line: line)
        let lock = try XCTUnwrap(fixture.locks["fork_lock"], file: file, line: line)
        let report = try Threadwatch.report(["--pid", "\(child)"] + (procOnly ? ["--proc-only"] : []), expectStatus: 1,
                                            file: file, line: line)
        XCTAssertEqual(report.findingList.count, 1, "\(report.findingList)", file: file, line: line)
        let finding = try XCTUnwrap(report.findingList.first, file: file, line: line)
        XCTAssertEqual(finding["kind"] as? String, "fork_child_deadlock", file: file, line: line)
        XCTAssertEqual(finding["severity"] as? String, "error", file: file, line: line)
        XCTAssertEqual(finding["threads"] as? [Int], [Int(child)], file: file, line: line)
        let fork = try XCTUnwrap(finding["fork"] as? [String: Any], "\(finding)", file: file, line: line)
        XCTAssertEqual(fork["parent_pid"] as? Int, Int(fixture.pid), file: file, line: line)
        XCTAssertEqual(fork["child_pid"] as? Int, Int(child), file: file, line: line)
        XCTAssertEqual(fork["exec_followed"] as? Bool, false, file: file, line: line)
        let inherited = try XCTUnwrap((fork["inherited_locks"] as? [[String: Any]])?.first, file: file, line: line)
        XCTAssertEqual(inherited["kind"] as? String, "mutex", file: file, line: line)
        XCTAssertEqual(inherited["address"] as? String, "0x" + String(lock, radix: 16), file: file, line: line)
        XCTAssertEqual(inherited["symbol"] as? String, "fork_lock", file: file, line: line)
        XCTAssertEqual(inherited["owner_tid"] as? Int, holder, file: file, line: line)
        // What the owner does in the parent now, with its stack.
        let evidence = try XCTUnwrap(finding["evidence"] as? [String: Any], file: file, line: line)
        let inParent = try XCTUnwrap(evidence["owner_in_parent"] as? [String: Any], file: file, line: line)
        XCTAssertEqual(inParent["name"] as? String, "lock-holder", file: file, line: line)
        XCTAssertTrue((inParent["frames"] as? [String] ?? []).contains { $0.hasPrefix("hold_forever") }, "\(inParent)",
                      file: file, line: line)
        XCTAssertFalse(ProcView.taskStates(child).values.contains { $0 == "t" || $0 == "T" }, file: file, line: line)
        XCTAssertFalse(fixture.taskStates.values.contains { $0 == "t" || $0 == "T" }, "the parent is never stopped",
                       file: file, line: line)
    }

    func testForkChildStuck_ptrace_reportsInheritedLockAndParentOwner() throws {
        try assertForkChildDeadlock(procOnly: false)
    }

    func testForkChildStuck_procOnly_reportsInheritedLockAndParentOwner() throws {
        try assertForkChildDeadlock(procOnly: true)
    }

    func testForkChildStuck_text_namesParentAndOwner() throws {
        let fixture = try Fixture(["fork-child-stuck"])
        let child = try XCTUnwrap(fixture.value("CHILD")?.first)
        let result = try Threadwatch.run(["--pid", child])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stdout.contains("fork_child_deadlock"), result.stdout)
        XCTAssertTrue(result.stdout.contains("in parent \(fixture.pid), thread"), result.stdout)
        XCTAssertTrue(result.stdout.contains("hold_forever"), result.stdout)
    }

    func testParentOfAStuckChild_hasNoFinding() throws {
        // The parent itself is healthy: its holder just sleeps with the lock.
        let fixture = try Fixture(["fork-child-stuck"])
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)"])
        XCTAssertTrue(report.findingList.isEmpty, "\(report.findingList)")
    }
}
