import Foundation
import XCTest

/// Targets linking the threadwatch runtime (fixtures/twfixture-runtime).
final class RuntimeTests: XCTestCase {
    static var fixture: String { Paths.products.appendingPathComponent("twfixture-runtime").path }

    private func fibers(_ report: [String: Any]) -> [[String: Any]] { report["fibers"] as? [[String: Any]] ?? [] }

    func testStress_primitivesAddUpExactly() throws {
        let run = try Threadwatch.run(["stress"], executable: Self.fixture)
        XCTAssertEqual(run.status, 0, run.stdout)
        XCTAssertFalse(run.stdout.contains("FAIL"), run.stdout)
        let passed = Set(run.stdout.split(separator: "\n").filter { $0.hasPrefix("PASS ") }.map { String($0.split(separator: " ")[1]) })
        let expected: Set = ["mutex", "pi-mutex", "condvar-items", "condvar-sum", "fibers", "fibers-two-schedulers",
                             "pool-fibers", "pool-fibers-moved-between-carriers", "pool-spread", "pool-work-stolen",
                             "no-false-inversions", "registry-magic"]
        XCTAssertEqual(passed, expected, run.stdout)
    }

    /// The same stress run built with ThreadSanitizer and with AddressSanitizer
    /// (scripts/sanitizer-stress.sh): the lock-free run queues, stealing,
    /// parking and registry writes show no data race, no memory error and no
    /// leak, and every count still adds up.
    func testStress_underSanitizers() throws {
        let script = Paths.packageRoot.appendingPathComponent("scripts/sanitizer-stress.sh").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tw-tsan-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try Threadwatch.run([script, dir], executable: "/bin/bash")
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertFalse(run.stderr.contains("Sanitizer"), run.stderr)
        XCTAssertEqual(run.stdout.split(separator: "\n").filter { $0.hasPrefix("PASS ") }.count, 24, "12 per build: \(run.stdout)")
    }

    /// M:N: two fibers of a 3-carrier pool deadlock while each held a
    /// carrier of its own; four more queue behind one of them. Found in
    /// both scan modes, with the pool, the carriers and both fibers' stacks.
    func testPoolDeadlock_acrossCarriers() throws {
        let f = try Fixture(["runtime-pool-deadlock"], executable: Self.fixture)
        let ids = Dictionary(uniqueKeysWithValues: ["pool-a", "pool-b"].map { name in
            (name, f.lines.first { $0.hasPrefix("FIBER ") && $0.hasSuffix(" \(name)") }.flatMap { Int($0.split(separator: " ")[1]) })
        })
        let a = try XCTUnwrap(ids["pool-a"] ?? nil), b = try XCTUnwrap(ids["pool-b"] ?? nil)
        for procOnly in [false, true] {
            let report = try Threadwatch.report(["--pid", "\(f.pid)"] + (procOnly ? ["--proc-only"] : []), expectStatus: 1)
            let list = fibers(report)
            XCTAssertEqual(list.count, 6)
            XCTAssertTrue(list.allSatisfy { $0["pool"] as? Int == 1 && $0["state"] as? String == "blocked" }, "\(list)")
            let fa = try XCTUnwrap(list.first { $0["id"] as? Int == a }), fb = try XCTUnwrap(list.first { $0["id"] as? Int == b })
            let carrierA = try XCTUnwrap(fa["carrier_tid"] as? Int), carrierB = try XCTUnwrap(fb["carrier_tid"] as? Int)
            XCTAssertNotEqual(carrierA, carrierB, "each held a carrier while spinning")
            let poolThreads = Set(report.threadList.filter { ($0["name"] as? String ?? "").hasPrefix("pool1-c") }.compactMap { $0["tid"] as? Int })
            XCTAssertEqual(poolThreads.count, 3)
            XCTAssertTrue(poolThreads.isSuperset(of: [carrierA, carrierB]))
            let carriers = try XCTUnwrap(report["carriers"] as? [[String: Any]])
            XCTAssertEqual(Set(carriers.compactMap { $0["tid"] as? Int }), poolThreads)
            XCTAssertTrue(carriers.allSatisfy { $0["pool"] as? Int == 1 && $0["idle"] as? Bool == true }, "\(carriers)")
            for (fiber, function) in [(fa, "pool_take_a_then_b"), (fb, "pool_take_b_then_a")] {
                let names = ((fiber["frames"] as? [[String: Any]]) ?? []).functionNames
                XCTAssertTrue(names.contains(function) && names.contains("twr_fmutex_lock"), "\(names)")
            }
            let queued = list.filter { ($0["name"] as? String ?? "").hasPrefix("queued-") }
            XCTAssertEqual(queued.count, 4)
            for q in queued {
                let lock = try XCTUnwrap(q["blocked_on"] as? [String: Any])
                XCTAssertEqual(lock["address"] as? String, f.locks["pa"].map { "0x" + String($0, radix: 16) })
                XCTAssertEqual(lock["owner_tid"] as? Int, carrierA, "the owner fiber's carrier, from its own record")
            }
            let deadlocks = report.findingList.filter { $0["kind"] as? String == "deadlock" }
            XCTAssertEqual(deadlocks.count, 1, "\(report.findingList)")
            let deadlock = try XCTUnwrap(deadlocks.first)
            XCTAssertEqual(Set(deadlock["fibers"] as? [Int] ?? []), [a, b], "queued fibers wait, but are not in the cycle")
            XCTAssertEqual(Set(deadlock["threads"] as? [Int] ?? []), [carrierA, carrierB])
            let locks = Set((deadlock["cycle"] as? [[String: Any]] ?? []).compactMap { ($0["lock"] as? [String: Any])?["address"] as? String })
            XCTAssertEqual(locks, Set(["pa", "pb"].compactMap { f.locks[$0] }.map { "0x" + String($0, radix: 16) }))
        }
        let text = try Threadwatch.run(["--pid", "\(f.pid)"])
        XCTAssertTrue(text.stdout.contains("Found 1 deadlock (2 fibers)"), text.stdout)
        XCTAssertTrue(text.stdout.contains("(pool 1): idle"), text.stdout)
    }

    func testFiberDeadlock_fibersListedAndDeadlockFound() throws {
        let f = try Fixture(["runtime-fiber-deadlock"], executable: Self.fixture)
        let carrier = try XCTUnwrap(f.tid(named: "fiber-carrier"))
        let report = try Threadwatch.report(["--pid", "\(f.pid)"], expectStatus: 1)
        let list = fibers(report)
        XCTAssertEqual(list.count, 2)
        for (name, function) in [("fiber-a", "fiber_take_a_then_b"), ("fiber-b", "fiber_take_b_then_a")] {
            let fiber = try XCTUnwrap(list.first { $0["name"] as? String == name })
            XCTAssertEqual(fiber["state"] as? String, "blocked")
            XCTAssertEqual(fiber["carrier_tid"] as? Int, Int(carrier))
            XCTAssertEqual((fiber["blocked_on"] as? [String: Any])?["kind"] as? String, "fiber_mutex")
            XCTAssertTrue(((fiber["frames"] as? [[String: Any]]) ?? []).functionNames.contains(function), "\(fiber)")
        }
        let deadlock = try XCTUnwrap(report.findingList.first { $0["kind"] as? String == "deadlock" })
        XCTAssertEqual(deadlock["threads"] as? [Int], [Int(carrier)])
        XCTAssertTrue((deadlock["summary"] as? String ?? "").contains("fibers deadlocked"))
        let text = try Threadwatch.run(["--pid", "\(f.pid)"])
        XCTAssertTrue(text.stdout.contains("fiber 1 \"fiber-a\" blocked"), text.stdout)
    }

    /// 64 fibers switching nonstop on 4 carriers: whole copies of the
    /// registry never agree, so fiber records are settled one by one and a
    /// stack copy counts only if its fiber did not run meanwhile. Every
    /// fiber is listed, no stack is torn (each shown one is inside
    /// busy_yielder), and nothing is reported as wrong.
    func testBusyPool_fibersReadConsistently() throws {
        let f = try Fixture(["runtime-pool-busy", "64"], executable: Self.fixture)
        for procOnly in [false, true, false, true] {
            let report = try Threadwatch.report(["--pid", "\(f.pid)"] + (procOnly ? ["--proc-only"] : []))
            let warnings = report.scanInfo["warnings"] as? [String] ?? []
            let unsettled = warnings.first { $0.contains("changed on every read") }.flatMap { Int($0.split(separator: " ")[0]) } ?? 0
            XCTAssertFalse(warnings.contains { $0.contains("registry") && $0.contains("not used") }, "\(warnings)")
            let list = fibers(report)
            XCTAssertEqual(list.count + unsettled, 64, "\(warnings)")
            XCTAssertLessThanOrEqual(unsettled, 8)
            let suspended = list.filter { ["runnable", "blocked"].contains($0["state"] as? String ?? "") }
            let withStacks = suspended.map { ($0["frames"] as? [[String: Any]] ?? []).functionNames }.filter { !$0.isEmpty }
            XCTAssertTrue(withStacks.allSatisfy { $0.contains("busy_yielder") }, "a torn stack: \(withStacks.filter { !$0.contains("busy_yielder") })")
            XCTAssertGreaterThanOrEqual(withStacks.count * 4, suspended.count * 3, "most suspended fibers hold still long enough")
            XCTAssertEqual(report.findingList.filter { ["deadlock", "blocking_in_fiber"].contains($0["kind"] as? String ?? "") }.count, 0,
                           "\(report.findingList)")
        }
    }

    /// 1200 fibers, more than the registry's 1024 slots: the first 1024 are
    /// listed, the rest are said to be missing, and the starving count is
    /// the carrier's own (not capped at the table size).
    func testMoreFibersThanTheRegistry_warnsWhatIsMissing() throws {
        let f = try Fixture(["runtime-many-fibers", "1200"], executable: Self.fixture)
        let report = try Threadwatch.report(["--pid", "\(f.pid)"])
        XCTAssertEqual(fibers(report).count, 1024)
        let warnings = report.scanInfo["warnings"] as? [String] ?? []
        XCTAssertTrue(warnings.contains { $0.contains("registry was full 176 times") }, "\(warnings)")
        let blocking = try XCTUnwrap(report.findingList.first { $0["kind"] as? String == "blocking_in_fiber" })
        XCTAssertTrue((blocking["summary"] as? String ?? "").contains("1199 runnable fibers"), "\(blocking)")
    }

    func testLockInversion_foundWithBothSites() throws {
        let f = try Fixture(["runtime-lock-inversion"], executable: Self.fixture)
        XCTAssertEqual(f.value("INVERSIONS"), ["1"])
        for args in [["--pid", "\(f.pid)"], ["--pid", "\(f.pid)", "--proc-only"]] {
            let report = try Threadwatch.report(args)
            let finding = try XCTUnwrap(report.findingList.first { $0["kind"] as? String == "lock_order_inversion" }, "\(args)")
            let evidence = try XCTUnwrap(finding["evidence"] as? [String: Any])
            XCTAssertEqual((evidence["first_then_second"] as? [String: Any])?["function"] as? String, "take_a_then_b")
            XCTAssertEqual((evidence["second_then_first"] as? [String: Any])?["function"] as? String, "take_b_then_a")
            XCTAssertTrue((finding["summary"] as? String ?? "").contains("lock_a"))
        }
    }

    func testBlockingFiber_found() throws {
        let f = try Fixture(["runtime-blocking-fiber"], executable: Self.fixture)
        let carrier = try XCTUnwrap(f.tid(named: "fiber-carrier"))
        let report = try Threadwatch.report(["--pid", "\(f.pid)"])
        let finding = try XCTUnwrap(report.findingList.first { $0["kind"] as? String == "blocking_in_fiber" })
        XCTAssertEqual(finding["threads"] as? [Int], [Int(carrier)])
        XCTAssertTrue((finding["summary"] as? String ?? "").contains("\"blocker\""))
        let list = fibers(report)
        XCTAssertEqual(list.first { $0["name"] as? String == "blocker" }?["state"] as? String, "running")
        XCTAssertEqual(list.filter { $0["state"] as? String == "runnable" }.count, 2)
        let starved = try XCTUnwrap(list.first { $0["name"] as? String == "starved-1" })
        XCTAssertTrue(((starved["frames"] as? [[String: Any]]) ?? []).functionNames.contains("fiber_starving"))
    }

    func testRuntimeZombies_reported() throws {
        let f = try Fixture(["runtime-zombie"], executable: Self.fixture)
        let report = try Threadwatch.report(["--pid", "\(f.pid)"])
        let zombies = report.findingList.filter { $0["kind"] as? String == "zombie_thread" }
        XCTAssertEqual(zombies.count, 3, "\(report.findingList)")
    }

    /// Threads deadlocked on runtime mutexes: the holder is read from the lock,
    /// and the confirming looks read it again (ptrace and --proc-only).
    func testRuntimeThreadABBA_deadlockOnRuntimeMutexes() throws {
        for procOnly in [false, true] {
            let f = try Fixture(["runtime-thread-abba"], executable: Self.fixture)
            let report = try Threadwatch.report(["--pid", "\(f.pid)"] + (procOnly ? ["--proc-only"] : []), expectStatus: 1)
            let deadlocks = report.findingList.filter { $0["kind"] as? String == "deadlock" }
            XCTAssertEqual(deadlocks.count, 1, "\(report.findingList)")
            let cycle = try XCTUnwrap(deadlocks.first?["cycle"] as? [[String: Any]])
            let expected = Set(["rt-xfer-a", "rt-xfer-b"].compactMap { f.tid(named: $0) }.map(Int.init))
            XCTAssertEqual(Set(cycle.compactMap { $0["tid"] as? Int }), expected)
            let locks = Set(cycle.compactMap { ($0["lock"] as? [String: Any])?["address"] as? String })
            XCTAssertEqual(locks, Set(["abba_a", "abba_b"].compactMap { f.locks[$0] }.map { "0x" + String($0, radix: 16) }))
            XCTAssertTrue(cycle.allSatisfy { ($0["lock"] as? [String: Any])?["kind"] as? String == "runtime_mutex" })
            // Each thread's TLS descriptor, read through fs_base (or the
            // registry's pointer in --proc-only): one held lock, the other awaited.
            for (name, held, awaited) in [("rt-xfer-a", "abba_a", "abba_b"), ("rt-xfer-b", "abba_b", "abba_a")] {
                let tid = try XCTUnwrap(f.tid(named: name))
                let tls = try XCTUnwrap(report.thread(tid)?["runtime"] as? [String: Any], "\(name) has no runtime descriptor")
                let heldLocks = (tls["held"] as? [[String: Any]] ?? []).compactMap { $0["address"] as? String }
                XCTAssertEqual(heldLocks, [f.locks[held]].compactMap { $0 }.map { "0x" + String($0, radix: 16) })
                XCTAssertEqual(tls["waiting_on"] as? String, f.locks[awaited].map { "0x" + String($0, radix: 16) })
            }
        }
    }

    /// A registry left mid-write, or full of garbage: a warning or bounded
    /// output, never a crash or a hang (the scan completes in seconds).
    func testBadRegistry_warnsNeverCrashes() throws {
        for kind in ["torn", "garbage"] {
            let f = try Fixture(["runtime-bad-registry", kind], executable: Self.fixture)
            for procOnly in [false, true] {
                let result = try Threadwatch.run(["--pid", "\(f.pid)", "--json"] + (procOnly ? ["--proc-only"] : []))
                XCTAssertTrue(result.status == 0 || result.status == 1, "\(kind): status \(result.status): \(result.stderr)")
                XCTAssertLessThan(result.elapsed, 20, "\(kind): no hang")
                try SchemaValidator.assertValid(result.stdout)
                let report = try XCTUnwrap(result.json)
                let warnings = report.scanInfo["warnings"] as? [String] ?? []
                if kind == "torn" {
                    XCTAssertTrue(warnings.contains { $0.contains("registry") }, "\(warnings)")
                }
                XCTAssertLessThanOrEqual((report["fibers"] as? [Any])?.count ?? 0, 4096, "fibers bounded by the table")
            }
        }
    }

    func testNoRuntime_noFibersField() throws {
        let f = try Fixture(["waits"])
        let report = try Threadwatch.report(["--pid", "\(f.pid)"])
        XCTAssertNil(report["fibers"])
    }
}
