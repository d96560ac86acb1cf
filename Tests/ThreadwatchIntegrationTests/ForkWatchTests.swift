import Foundation
import XCTest

/// `threadwatch --pid N --watch SECONDS` catches forks as they happen (issue 5, part 2).
final class ForkWatchTests: XCTestCase {
    struct Watched {
        var fixture: Fixture
        var run: Run
        var report: [String: Any]
        var children: [Int32]

        var forkFindings: [[String: Any]] { report.findingList.filter { $0["kind"] as? String == "fork_hazard" } }
    }

    /// Starts the fixture, then a watch on it; once attached, sends `go` `forks` times.
    func watch(_ scenario: String, seconds: Int = 3, forks: Int = 1, expectStatus: Int32 = 0,
               file: StaticString = #filePath, line: UInt = #line) throws -> Watched {
        let fixture = try Fixture([scenario])
        var children: [Int32] = []
        let run = try Threadwatch.run(["--pid", "\(fixture.pid)", "--watch", "\(seconds)", "--json"]) { _ in
            XCTAssertTrue(Self.awaitTraced(fixture.pid), "the watch never attached", file: file, line: line)
            for _ in 0..<forks {
                fixture.send("go")
                if let child = fixture.nextLine(prefix: "FORKED")?.split(separator: " ").last.flatMap({ Int32($0) }) {
                    children.append(child)
                }
            }
        }
        XCTAssertEqual(run.status, expectStatus, run.stderr, file: file, line: line)
        XCTAssertEqual(children.count, forks, "the fixture did not fork", file: file, line: line)
        try SchemaValidator.assertValid(run.stdout, file: file, line: line)
        let report = try XCTUnwrap(run.json, "not JSON: \(run.stdout.prefix(200))", file: file, line: line)
        XCTAssertEqual(report.scanInfo["mode"] as? String, "watch", file: file, line: line)
        assertReleased(fixture.pid, file: file, line: line)
        for child in children { assertReleased(child, file: file, line: line) }
        return Watched(fixture: fixture, run: run, report: report, children: children)
    }

    /// TracerPid of the process becomes non-zero once the watch has seized it.
    static func awaitTraced(_ pid: Int32, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if tracerPids(pid).contains(where: { $0 != 0 }) { return true }
            usleep(10_000)
        }
        return false
    }

    static func tracerPids(_ pid: Int32) -> [Int32] {
        ProcView.tids(pid).compactMap { tid in
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/status", encoding: .utf8) else { return nil }
            return status.split(separator: "\n").first { $0.hasPrefix("TracerPid:") }
                .flatMap { Int32($0.split(separator: "\t").last ?? "") }
        }
    }

    /// No thread of `pid` (if it still exists) is stopped or traced.
    func assertReleased(_ pid: Int32, file: StaticString = #filePath, line: UInt = #line) {
        let states = ProcView.taskStates(pid)
        XCTAssertFalse(states.values.contains { $0 == "t" || $0 == "T" }, "pid \(pid) left stopped: \(states)",
                       file: file, line: line)
        XCTAssertEqual(Self.tracerPids(pid).filter { $0 != 0 }, [], "pid \(pid) still traced", file: file, line: line)
    }

    func testForkExecFromThreads_isInfo_withForkingThreadAndHeldLock() throws {
        let w = try watch("fork-exec-from-threads", forks: 2)
        XCTAssertEqual(w.forkFindings.count, 2, "\(w.report.findingList)")
        let threads = try XCTUnwrap(w.fixture.value("THREADS")?.first.flatMap { Int($0) })
        let holder = try XCTUnwrap(w.fixture.tid(named: "fw-holder"))
        let lock = try XCTUnwrap(w.fixture.locks["fw_lock"])
        for (finding, child) in zip(w.forkFindings, w.children) {
            XCTAssertEqual(finding["severity"] as? String, "info")
            let fork = try XCTUnwrap(finding["fork"] as? [String: Any], "\(finding)")
            XCTAssertEqual(fork["exec_followed"] as? Bool, true)
            XCTAssertEqual(fork["threads_at_fork"] as? Int, threads)
            XCTAssertEqual(fork["forking_tid"] as? Int, Int(w.fixture.pid), "main forks")
            XCTAssertEqual(fork["parent_pid"] as? Int, Int(w.fixture.pid))
            XCTAssertEqual(fork["child_pid"] as? Int, Int(child))
            // fw-waiter waits on fw_lock, whose owner field names fw-holder.
            let inherited = try XCTUnwrap((fork["inherited_locks"] as? [[String: Any]])?.first, "\(fork)")
            XCTAssertEqual(inherited["address"] as? String, "0x" + String(lock, radix: 16))
            XCTAssertEqual(inherited["owner_tid"] as? Int, Int(holder))
            let evidence = try XCTUnwrap(finding["evidence"] as? [String: Any])
            XCTAssertTrue((evidence["forking_thread_frames"] as? [String] ?? []).contains { $0.hasPrefix("fork_now") },
                          "\(evidence)")
            let others = evidence["other_threads"] as? [[String: Any]] ?? []
            XCTAssertEqual(Set(others.compactMap { $0["name"] as? String }), ["fw-holder", "fw-waiter"])
            XCTAssertTrue(others.contains { ($0["frames"] as? [String] ?? []).contains { $0.hasPrefix("fw_hold_lock") } },
                          "\(others)")
        }
    }

    func testForkWithoutExec_isWarning() throws {
        let w = try watch("fork-no-exec")
        XCTAssertEqual(w.forkFindings.count, 1, "\(w.report.findingList)")
        let finding = try XCTUnwrap(w.forkFindings.first)
        XCTAssertEqual(finding["severity"] as? String, "warning")
        let fork = try XCTUnwrap(finding["fork"] as? [String: Any])
        XCTAssertEqual(fork["exec_followed"] as? Bool, false)
        XCTAssertEqual(fork["child_pid"] as? Int, w.children.first.map(Int.init))
        XCTAssertNotNil(ProcView.taskStates(w.children[0]).first, "the child sleeps on, untouched")
    }

    func testChildBlockedOnInheritedLock_isError_namingLockAndOwner() throws {
        let w = try watch("fork-inherited-lock", expectStatus: 1)
        let finding = try XCTUnwrap(w.forkFindings.first, "\(w.report.findingList)")
        XCTAssertEqual(finding["severity"] as? String, "error")
        let fork = try XCTUnwrap(finding["fork"] as? [String: Any])
        XCTAssertEqual(fork["exec_followed"] as? Bool, false)
        let inherited = try XCTUnwrap((fork["inherited_locks"] as? [[String: Any]])?.first)
        XCTAssertEqual(inherited["symbol"] as? String, "fw_lock")
        XCTAssertEqual(inherited["owner_tid"] as? Int, w.fixture.tid(named: "fw-holder").map(Int.init))
    }

    func testSingleThreadedFork_hasNoFinding() throws {
        let w = try watch("fork-single-threaded")
        XCTAssertEqual(w.forkFindings.count, 0, "\(w.report.findingList)")
    }

    func testPosixSpawnFromThreads_hasNoFinding() throws {
        let w = try watch("posix-spawn-from-threads")
        XCTAssertEqual(w.forkFindings.count, 0, "\(w.report.findingList)")
    }

    func testCtrlC_endsWatchWithFindingsSoFar() throws {
        let fixture = try Fixture(["fork-no-exec"])
        let run = try Threadwatch.run(["--pid", "\(fixture.pid)", "--watch", "60", "--json"]) { threadwatch in
            XCTAssertTrue(Self.awaitTraced(fixture.pid))
            fixture.send("go")
            _ = fixture.nextLine(prefix: "FORKED")
            usleep(200_000)
            kill(threadwatch, SIGINT)
        }
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertLessThan(run.elapsed, 20)
        try SchemaValidator.assertValid(run.stdout)
        let report = try XCTUnwrap(run.json)
        XCTAssertEqual(report.findingList.filter { $0["kind"] as? String == "fork_hazard" }.count, 1, "\(report.findingList)")
        assertReleased(fixture.pid)
    }

    func testWatchOptionValidation() throws {
        XCTAssertEqual(try Threadwatch.run(["--pid", "1234", "--watch", "0"]).status, 64)
        XCTAssertEqual(try Threadwatch.run(["--pid", "1234", "--watch", "90000"]).status, 64)
        XCTAssertEqual(try Threadwatch.run(["--pid", "1234", "--watch", "3", "--consistent"]).status, 64)
    }

    /// The watched process runs at full speed between events: a thread that
    /// only counts (never blocks) is never stopped while the watch runs and
    /// a fork happens in another thread. Checked by its voluntary context
    /// switches (a ptrace stop is one), not by timing, which this 2-vCPU
    /// machine's noise would flake; the rates are printed for reference.
    func testWatchedProcess_runsAtFullSpeed() throws {
        let fixture = try Fixture(["progress"])
        let counter = try XCTUnwrap(fixture.tid(named: "counter"))
        func rate() -> Double? {
            fixture.send("rate")
            return fixture.nextLine(prefix: "RATE")?.split(separator: " ").last.flatMap { Double($0) }
        }
        func voluntarySwitches() -> Int? {
            let status = (try? String(contentsOfFile: "/proc/\(fixture.pid)/task/\(counter)/status", encoding: .utf8)) ?? ""
            return status.split(separator: "\n").first { $0.hasPrefix("voluntary_ctxt_switches:") }
                .flatMap { Int($0.split(separator: "\t").last ?? "") }
        }
        _ = rate()  // warm up
        let before = try XCTUnwrap(rate())
        var during: Double?
        var switchesAtStart: Int?, switchesAtEnd: Int?
        let run = try Threadwatch.run(["--pid", "\(fixture.pid)", "--watch", "4", "--json"]) { _ in
            XCTAssertTrue(Self.awaitTraced(fixture.pid))
            switchesAtStart = voluntarySwitches()
            fixture.send("go")
            during = rate()
            switchesAtEnd = voluntarySwitches()
        }
        XCTAssertEqual(run.status, 0, run.stderr)
        try SchemaValidator.assertValid(run.stdout)
        let after = try XCTUnwrap(rate())
        print("progress under --watch: before \(Int(before))/s, during \(Int(during ?? 0))/s, after \(Int(after))/s")
        let start = try XCTUnwrap(switchesAtStart), end = try XCTUnwrap(switchesAtEnd)
        XCTAssertEqual(end, start, "the counting thread was stopped \(end - start) times during the watch")
        assertReleased(fixture.pid)
    }
}
