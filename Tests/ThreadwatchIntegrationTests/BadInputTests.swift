import CThreadwatch
import Foundation
import XCTest

/// Every bad input: exit 2, a one-line reason naming the pid, target untouched.
final class BadInputTests: XCTestCase {
    func assertRefused(_ args: [String], contains text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try Threadwatch.run(args)
        XCTAssertEqual(result.status, 2, "exit status; stderr: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(text), "stderr names the problem: \(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "one line", file: file, line: line)
        XCTAssertTrue(result.stdout.isEmpty, file: file, line: line)
    }

    func testMissingPid() throws {
        var pid: Int32 = 4_000_000
        while kill(pid, 0) == 0 { pid -= 1 }
        try assertRefused(["--pid", "\(pid)"], contains: "pid \(pid): no such process")
    }

    func testInit() throws {
        try assertRefused(["--pid", "1"], contains: "pid 1 is init")
    }

    func testItself() throws {
        // exec keeps the shell's pid, so threadwatch is given its own pid.
        let result = try Threadwatch.run(["-c", "exec \(Paths.threadwatch) --pid $$"], executable: "/bin/sh")
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("is threadwatch itself"), result.stderr)
    }

    func testKernelThread() throws {
        let kthread = try XCTUnwrap(ProcView.firstKernelThread(), "a kernel thread is visible in /proc")
        try assertRefused(["--pid", "\(kthread)"], contains: "is a kernel thread")
    }

    func testZombieProcess() throws {
        // `sleep 0` exits and its parent (exec'd into sleep 30) never reaps it.
        let parent = Process()
        parent.executableURL = URL(fileURLWithPath: "/bin/sh")
        parent.arguments = ["-c", "sleep 0 & exec sleep 30"]
        try parent.run()
        defer { parent.terminate(); parent.waitUntilExit() }
        var zombie: Int32?
        for _ in 0..<100 where zombie == nil {
            usleep(20_000)
            let children = (try? String(contentsOfFile: "/proc/\(parent.processIdentifier)/task/\(parent.processIdentifier)/children", encoding: .utf8)) ?? ""
            zombie = children.split(separator: " ").compactMap { Int32($0) }.first { ProcView.taskStates($0)[$0] == "Z" }
        }
        let pid = try XCTUnwrap(zombie, "a zombie child appeared")
        try assertRefused(["--pid", "\(pid)"], contains: "is a zombie")
    }

    func testNoPermission() throws {
        let fixture = try Fixture(["waits"])
        let result = try Threadwatch.run(["--pid", "\(fixture.pid)"], asUser: true)
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("permission denied: run as root or grant CAP_SYS_PTRACE"), result.stderr)
        XCTAssertFalse(fixture.taskStates.values.contains { $0 == "t" || $0 == "T" })
    }

    func testAlreadyTraced_fallsBackToProcOnlyWithWarning() throws {
        let fixture = try Fixture(["waits"])
        // Seize the main thread from this test: it stays running but traced.
        XCTAssertEqual(tw_ptrace_seize(fixture.pid), 0)
        defer {
            // Detach needs a stopped tracee: interrupt, wait, detach.
            _ = tw_ptrace_interrupt(fixture.pid)
            var status: Int32 = 0
            _ = waitpid(fixture.pid, &status, __WALL)
            _ = tw_ptrace_detach(fixture.pid, 0)
        }
        let result = try Threadwatch.run(["--pid", "\(fixture.pid)", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        try SchemaValidator.assertValid(result.stdout)
        let report = try XCTUnwrap(result.json)
        XCTAssertEqual(report.scanInfo["attach"] as? String, "proc-only")
        let warnings = report.scanInfo["warnings"] as? [String] ?? []
        XCTAssertTrue(warnings.contains { $0.contains("already traced by pid \(getpid())") }, "\(warnings)")
    }

    func testProcessExitsDuringScan() throws {
        // Kill a large target while threadwatch works on it, sooner each try
        // until the kill lands inside the scan.
        var sawExit = false
        for delay in [60_000, 30_000, 15_000, 5_000, 1_000] where !sawExit {
            let fixture = try Fixture(["many", "2000"], timeout: 60)
            let result = try Threadwatch.run(["--pid", "\(fixture.pid)", "--consistent"]) { _ in
                usleep(useconds_t(delay))
                kill(fixture.pid, SIGKILL)
            }
            if result.status == 2 {
                XCTAssertTrue(result.stderr.contains("exited during the scan"), result.stderr)
                sawExit = true
            } else {
                XCTAssertEqual(result.status, 0, result.stderr)  // finished before the kill
            }
        }
        XCTAssertTrue(sawExit, "one kill landed inside a scan")
    }

    func testSigintDuringScan_releasesEveryThread() throws {
        try assertSignalDuringScanReleasesEveryThread(SIGINT, name: "SIGINT")
    }

    func testSigtermDuringScan_releasesEveryThread() throws {
        try assertSignalDuringScanReleasesEveryThread(SIGTERM, name: "SIGTERM")
    }

    /// Signals threadwatch mid-scan, sooner each try until one lands inside it.
    func assertSignalDuringScanReleasesEveryThread(_ signal: Int32, name: String,
                                                   file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try Fixture(["many", "2000"], timeout: 60)
        var interrupted = false
        for delay in [40_000, 20_000, 10_000, 3_000] where !interrupted {
            let result = try Threadwatch.run(["--pid", "\(fixture.pid)", "--batch-size", "4"]) { pid in
                usleep(useconds_t(delay))
                kill(pid, signal)
            }
            if result.status == 2 && result.stderr.contains(name) { interrupted = true }
            usleep(20_000)
            XCTAssertFalse(fixture.taskStates.values.contains { $0 == "t" || $0 == "T" },
                           "no thread left stopped after \(name)", file: file, line: line)
        }
        XCTAssertTrue(interrupted, "one \(name) landed inside a scan", file: file, line: line)
    }

    func testUsageErrors() throws {
        let result = try Threadwatch.run(["--pid", "5", "--proc-only", "--consistent"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("pick one"), result.stderr)
    }
}

extension ProcView {
    static func firstKernelThread() -> Int32? {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.sorted()
        for pid in pids where pid > 1 {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 6, let flags = UInt64(fields[6]), flags & 0x0020_0000 != 0 { return pid }
        }
        return nil
    }
}
