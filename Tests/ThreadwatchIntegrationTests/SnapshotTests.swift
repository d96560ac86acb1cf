import Foundation
import XCTest

/// `threadwatch --pid N` on real fixture processes.
final class SnapshotTests: XCTestCase {
    func testSnapshot_waitsFixture_reportMatchesProcAndThreadsOwnView() throws {
        let fixture = try Fixture(["waits"])
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)"])

        XCTAssertEqual(report.scanInfo["attach"] as? String, "ptrace")
        let tids = report.threadList.compactMap { ($0["tid"] as? Int).map(Int32.init) }.sorted()
        XCTAssertEqual(tids, ProcView.tids(fixture.pid), "threads in the report are the process's tasks")
        XCTAssertEqual((report["target"] as? [String: Any])?["thread_count"] as? Int, tids.count)
        XCTAssertEqual((report["target"] as? [String: Any])?["libc"] as? String, "glibc 2.36")

        // Each thread's fs_base is what it reported as pthread_self().
        XCTAssertEqual(fixture.threads.count, 5)
        for expected in fixture.threads {
            let thread = try XCTUnwrap(report.thread(expected.tid), "thread \(expected.tid) missing")
            XCTAssertEqual(thread["fs_base"] as? String, "0x" + String(expected.pthreadSelf, radix: 16), "fs_base of \(expected.name)")
            XCTAssertEqual(thread["name"] as? String, expected.name)
            XCTAssertEqual(thread["state"] as? String, "S")
            let stack = try XCTUnwrap(thread["stack"] as? [String: Any])
            let sp = try XCTUnwrap((thread["sp"] as? String).flatMap { UInt64($0.dropFirst(2), radix: 16) })
            let low = try XCTUnwrap((stack["low"] as? String).flatMap { UInt64($0.dropFirst(2), radix: 16) })
            let high = try XCTUnwrap((stack["high"] as? String).flatMap { UInt64($0.dropFirst(2), radix: 16) })
            XCTAssertTrue(low <= sp && sp < high, "sp inside its stack region")
        }

        // Stacks carry the fixture's own functions with file:line.
        let expectations: [(String, String, Int)] = [
            ("mutex-waiter", "wait_on_mutex", 202), ("cond-waiter", "wait_on_condvar", 202),
            ("sleeper", "sleep_forever", 230), ("reader", "read_from_pipe", 0),
        ]
        for (name, function, syscall) in expectations {
            let tid = try XCTUnwrap(fixture.tid(named: name))
            let thread = try XCTUnwrap(report.thread(tid))
            let frames = try XCTUnwrap(thread["frames"] as? [[String: Any]])
            let frame = try XCTUnwrap(frames.first { $0["function"] as? String == function }, "\(function) in \(frames.functionNames)")
            XCTAssertTrue((frame["file"] as? String)?.hasSuffix(".c") == true, "\(function) has a source file: \(frame)")
            XCTAssertGreaterThan(frame["line"] as? Int ?? 0, 0)
            XCTAssertEqual((thread["syscall"] as? [String: Any])?["nr"] as? Int, syscall, "\(name) sits in syscall \(syscall)")
        }

        // The mutex waiter's lock, owner and data symbol.
        let waiter = try XCTUnwrap(report.thread(try XCTUnwrap(fixture.tid(named: "mutex-waiter"))))
        let blocked = try XCTUnwrap(waiter["blocked_on"] as? [String: Any])
        XCTAssertEqual(blocked["kind"] as? String, "mutex")
        XCTAssertEqual(blocked["address"] as? String, "0x" + String(try XCTUnwrap(fixture.locks["waits_mutex"]), radix: 16))
        XCTAssertEqual(blocked["owner_tid"] as? Int, Int(fixture.pid))
        XCTAssertEqual(blocked["symbol"] as? String, "waits_mutex")

        XCTAssertFalse(fixture.taskStates.values.contains { $0 == "t" || $0 == "T" }, "no thread left stopped")
        XCTAssertLessThan(report.scanInfo["stopped_us"] as? Int ?? .max, 1_000_000)
    }

    func testSnapshot_consistentMode_stopsAllAndReleasesAll() throws {
        let fixture = try Fixture(["many", "64"])
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)", "--consistent"])
        XCTAssertEqual(report.threadList.count, ProcView.tids(fixture.pid).count)
        XCTAssertEqual(report.threadList.count, Int(try XCTUnwrap(fixture.value("THREADS")?.first).flatMap { Int($0) } ?? -1))
        XCTAssertTrue(report.threadList.allSatisfy { ($0["frames"] as? [Any])?.isEmpty == false }, "every thread unwound")
        XCTAssertFalse(fixture.taskStates.values.contains { $0 == "t" || $0 == "T" })
    }

    func testProcOnly_neverStopsTheTarget() throws {
        let fixture = try Fixture(["waits"])
        // A ptrace stop wakes a sleeping thread (a context switch); a read of
        // /proc does not. Let main settle into pause() after READY first.
        usleep(300_000)
        let before = ProcView.voluntarySwitches(fixture.pid)
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)", "--proc-only"])
        let after = ProcView.voluntarySwitches(fixture.pid)
        XCTAssertEqual(before, after, "no thread of the target ran or stopped because of the scan")
        XCTAssertEqual(report.scanInfo["attach"] as? String, "proc-only")
        XCTAssertNil(report.scanInfo["stopped_us"])
        let waiter = try XCTUnwrap(report.thread(try XCTUnwrap(fixture.tid(named: "mutex-waiter"))))
        XCTAssertTrue(((waiter["frames"] as? [[String: Any]]) ?? []).functionNames.contains("wait_on_mutex"))
        XCTAssertEqual((waiter["blocked_on"] as? [String: Any])?["owner_tid"] as? Int, Int(fixture.pid))
        XCTAssertNil(waiter["fs_base"], "fs_base needs a stop")
    }

    func testText_groupsIdenticalStacks() throws {
        let fixture = try Fixture(["many", "64"])
        let result = try Threadwatch.run(["--pid", "\(fixture.pid)"])
        XCTAssertEqual(result.status, 0, result.stderr)
        // 64 workers over four wait kinds: 16 identical stacks each.
        let groups = result.stdout.split(separator: "\n").filter { $0.hasPrefix("×16 threads") }
        XCTAssertEqual(groups.count, 4, result.stdout.prefix(3000).description)
        XCTAssertTrue(result.stdout.contains("wait_on_mutex"))
    }

    func testSnapshot_alreadyStoppedProcess_staysStopped() throws {
        let fixture = try Fixture(["stopped"])
        var states: [Int32: String] = [:]
        for _ in 0..<50 {
            states = fixture.taskStates
            if states.values.allSatisfy({ $0 == "T" }) { break }
            usleep(20_000)
        }
        XCTAssertTrue(states.values.allSatisfy { $0 == "T" }, "fixture is group-stopped: \(states)")
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)"])
        XCTAssertEqual(report.threadList.count, states.count)
        usleep(50_000)
        XCTAssertTrue(fixture.taskStates.values.allSatisfy { $0 == "T" }, "still group-stopped: \(fixture.taskStates)")
    }

    func testSnapshot_2000Threads_allListed() throws {
        let fixture = try Fixture(["many", "2000"], timeout: 60)
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)"])
        let tids = report.threadList.compactMap { ($0["tid"] as? Int).map(Int32.init) }.sorted()
        XCTAssertEqual(tids, ProcView.tids(fixture.pid))
        XCTAssertEqual(tids.count, 2001)
        let unwound = report.threadList.filter { ($0["frames"] as? [Any])?.isEmpty == false }.count
        XCTAssertEqual(unwound, tids.count, "every thread has a stack")
        XCTAssertFalse(fixture.taskStates.values.contains { $0 == "t" || $0 == "T" })
    }
}
