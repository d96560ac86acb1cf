import Foundation
import XCTest

/// Zombie threads (issue 4): exited, never-joined pthreads found through
/// libthread_db on real fixture processes, in ptrace and --proc-only mode,
/// with negative controls and first_seen kept across scans.
final class ZombieTests: XCTestCase {
    private var stateDir: URL!

    override func setUpWithError() throws {
        stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("tw-zombie-state-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: stateDir)
    }

    // MARK: the three forgotten threads

    func testZombies_ptrace_reportsExactlyTheThreeForgottenThreads() throws {
        try assertThreeZombies(procOnly: false)
    }

    func testZombies_procOnly_reportsExactlyTheThreeForgottenThreads() throws {
        try assertThreeZombies(procOnly: true)
    }

    func testZombies_text_oneLinePerStartRoutine() throws {
        let fixture = try Fixture(["zombies"])
        let run = try Threadwatch.run(["--pid", "\(fixture.pid)", "--state-dir", stateDir.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = run.stdout.split(separator: "\n").filter { $0.contains("zombie_thread") }
        XCTAssertEqual(lines.count, 1, "one line for the three zombies: \(run.stdout.prefix(1500))")
        let line = String(lines.first ?? "")
        XCTAssertTrue(line.hasPrefix("WARNING zombie_thread: 3 zombie threads from zombie_worker (zombies.c:"), line)
        XCTAssertTrue(line.contains(", pinning 24 MiB"), "3 default 8 MiB stacks: \(line)")
        XCTAssertTrue(line.hasSuffix("— join them or create them detached"), line)
    }

    func testZombies_findingIDsStableAcrossScansAndModes() throws {
        let fixture = try Fixture(["zombies"])
        let ids = try [[], ["--proc-only"]].map { extra in
            try Set(zombieFindings(pid: fixture.pid, extra: extra).compactMap { $0["id"] as? String })
        }
        XCTAssertEqual(ids[0].count, 3)
        XCTAssertEqual(ids[0], ids[1])
    }

    // MARK: controls

    func testJoined_noZombies() throws {
        try assertNoZombies(scenario: "zombies-joined")
    }

    func testDetached_noZombies() throws {
        try assertNoZombies(scenario: "zombies-detached")
    }

    func testAlive_noZombies() throws {
        try assertNoZombies(scenario: "zombies-alive")
    }

    // MARK: a growing leak, first_seen across scans

    func testLeak_twoScansThreeSecondsApart_countRisesAndFirstSeenKept() throws {
        let fixture = try Fixture(["zombie-leak"])
        let first = try zombieFindings(pid: fixture.pid)
        Thread.sleep(forTimeInterval: 3)
        let second = try zombieFindings(pid: fixture.pid)
        XCTAssertGreaterThanOrEqual(first.count, 1)
        XCTAssertGreaterThanOrEqual(second.count, first.count + 2, "one leaked thread a second")

        let earlier = Dictionary(first.map { (descriptor($0), $0) }, uniquingKeysWith: { a, _ in a })
        let later = Dictionary(second.map { (descriptor($0), $0) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(earlier.count, first.count, "descriptors distinct")
        for (key, finding) in earlier {
            let again = try XCTUnwrap(later[key], "zombie \(key) of the first scan is still there")
            XCTAssertEqual(firstSeen(again), firstSeen(finding), "\(key) keeps its first_seen")
            XCTAssertEqual(again["id"] as? String, finding["id"] as? String, "\(key) keeps its id")
        }
        let oldest = try XCTUnwrap(earlier.values.compactMap(firstSeen).max())
        let newOnes = later.filter { earlier[$0.key] == nil }.values
        XCTAssertGreaterThanOrEqual(newOnes.count, 2)
        for finding in newOnes {
            XCTAssertGreaterThan(try XCTUnwrap(firstSeen(finding)), oldest, "a new zombie is first seen by the second scan")
        }
    }

    // MARK: state directory and libthread_db trouble

    func testUnwritableStateDir_warnsAndStillReports() throws {
        let fixture = try Fixture(["zombies"])
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)", "--state-dir", "/dev/null/threadwatch"])
        XCTAssertEqual(report.findingList.filter { $0["kind"] as? String == "zombie_thread" }.count, 3)
        let warnings = report.scanInfo["warnings"] as? [String] ?? []
        XCTAssertTrue(warnings.contains { $0.hasPrefix("could not keep zombie first-seen times in /dev/null/threadwatch") },
                      "\(warnings)")
    }

    /// A static, stripped program has no symbols libthread_db can use: one
    /// warning says so, and nothing is guessed.
    func testStaticStrippedTarget_warnsWhyAndReportsNoZombies() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tw-static-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("leak.c")
        try """
            #include <pthread.h>
            #include <unistd.h>
            #include <stdio.h>
            static void *quit(void *arg) { return arg; }
            int main(void) {
                pthread_t t;
                pthread_create(&t, 0, quit, 0);
                usleep(100000);
                printf("READY %d\\n", getpid());
                fflush(stdout);
                pause();
            }
            """.write(to: source, atomically: true, encoding: .utf8)
        let binary = dir.appendingPathComponent("leak").path
        let cc = try Threadwatch.run(["cc", "-static", "-s", "-o", binary, source.path, "-lpthread"], executable: "/usr/bin/env")
        guard cc.status == 0 else { throw XCTSkip("no static C toolchain here: \(cc.stderr.prefix(300))") }
        let fixture = try Fixture([], executable: binary)
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)", "--state-dir", stateDir.path])
        XCTAssertTrue(report.findingList.isEmpty, "\(report.findingList)")
        let warnings = report.scanInfo["warnings"] as? [String] ?? []
        XCTAssertTrue(warnings.contains { $0.hasPrefix("libthread_db could not attach to pid \(fixture.pid): ") && $0.hasSuffix("; zombie threads not checked") },
                      "\(warnings)")
    }

    // MARK: helpers

    private func assertThreeZombies(procOnly: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try Fixture(["zombies"])
        let expected = zombieLines(fixture)
        XCTAssertEqual(expected.count, 3, "fixture printed 3 ZOMBIE lines: \(fixture.lines)", file: file, line: line)
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)", "--state-dir", stateDir.path] + (procOnly ? ["--proc-only"] : []),
                                            file: file, line: line)
        let findings = report.findingList.filter { $0["kind"] as? String == "zombie_thread" }
        XCTAssertEqual(findings.count, 3, "\(report.findingList)", file: file, line: line)
        XCTAssertEqual(report.findingList.count, 3, "nothing else is wrong", file: file, line: line)

        let descriptors = findings.map(descriptor)
        XCTAssertEqual(Set(descriptors).count, 3, "descriptors distinct: \(descriptors)", file: file, line: line)
        XCTAssertEqual(Set(descriptors), Set(expected.values.map(Self.hex)),
                       "the forgotten threads' pthread_t, and no joined or detached one", file: file, line: line)
        for finding in findings {
            let zombie = finding["zombie"] as? [String: Any] ?? [:]
            let routine = zombie["start_routine"] as? String ?? ""
            XCTAssertTrue(routine.hasPrefix("zombie_worker (zombies.c:"), routine, file: file, line: line)
            XCTAssertGreaterThan(zombie["stack_bytes"] as? Int ?? 0, 0, file: file, line: line)
            XCTAssertNotNil(zombie["first_seen"] as? String, file: file, line: line)
            XCTAssertEqual(finding["severity"] as? String, "warning", file: file, line: line)
            XCTAssertFalse((finding["advice"] as? String ?? "").isEmpty, file: file, line: line)
            // The kernel cleared the tid as the thread exited: a tid, if one is
            // given, must be the one the thread had, never a guess.
            let tids = finding["threads"] as? [Int] ?? []
            let own = expected.first { Self.hex($0.value) == descriptor(finding) }?.key
            XCTAssertTrue(tids.isEmpty || tids == own.map { [Int($0)] }, "threads \(tids) for \(descriptor(finding))",
                          file: file, line: line)
        }
        let warnings = report.scanInfo["warnings"] as? [String] ?? []
        XCTAssertFalse(warnings.contains { $0.contains("libthread_db") }, "\(warnings)", file: file, line: line)
        // The live threads are reported as before.
        XCTAssertNotNil(report.thread(fixture.pid), file: file, line: line)
        XCTAssertNotNil(fixture.tid(named: "sleeper").flatMap(report.thread), file: file, line: line)
    }

    private func assertNoZombies(scenario: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try Fixture([scenario])
        for extra in [[], ["--proc-only"]] {
            let report = try Threadwatch.report(["--pid", "\(fixture.pid)", "--state-dir", stateDir.path] + extra,
                                                file: file, line: line)
            XCTAssertEqual(report.findingList.filter { $0["kind"] as? String == "zombie_thread" }.count, 0,
                           "\(scenario) \(extra): \(report.findingList)", file: file, line: line)
            let warnings = report.scanInfo["warnings"] as? [String] ?? []
            XCTAssertFalse(warnings.contains { $0.contains("libthread_db") }, "checked, not skipped: \(warnings)",
                           file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: stateDir.path), "no state kept without zombies",
                       file: file, line: line)
    }

    private func zombieFindings(pid: Int32, extra: [String] = []) throws -> [[String: Any]] {
        let report = try Threadwatch.report(["--pid", "\(pid)", "--state-dir", stateDir.path] + extra)
        return report.findingList.filter { $0["kind"] as? String == "zombie_thread" }
    }

    /// `ZOMBIE <tid> 0x<pthread_t>` lines: tid -> descriptor.
    private func zombieLines(_ fixture: Fixture) -> [Int32: UInt64] {
        var result: [Int32: UInt64] = [:]
        for line in fixture.lines {
            let p = line.split(separator: " ")
            if p.count == 3, p[0] == "ZOMBIE", let tid = Int32(p[1]), let d = UInt64(p[2].dropFirst(2), radix: 16) {
                result[tid] = d
            }
        }
        return result
    }

    private func descriptor(_ finding: [String: Any]) -> String {
        (finding["zombie"] as? [String: Any])?["thread_descriptor"] as? String ?? ""
    }

    private func firstSeen(_ finding: [String: Any]) -> Date? {
        guard let text = (finding["zombie"] as? [String: Any])?["first_seen"] as? String else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}
