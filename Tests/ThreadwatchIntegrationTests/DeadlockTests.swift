import Foundation
import XCTest

/// Deadlock, self-deadlock and orphaned-lock findings (issue 3) on real
/// fixture processes, in ptrace and --proc-only mode, plus negative controls.
final class DeadlockTests: XCTestCase {
    /// One expected cycle edge: the thread named `waiter` waits for the lock the
    /// fixture printed as `LOCK <lock> ...`, of `kind`, with data `symbol` when
    /// the lock is a program global (nil: not checked), inside `function`.
    struct EdgeSpec {
        var waiter: String
        var lock: String
        var kind: String
        var symbol: String?
        var function: String
    }

    // MARK: deadlock cycles

    static let abba = [
        EdgeSpec(waiter: "xfer-a", lock: "accounts[1]", kind: "mutex", symbol: "accounts+0x28", function: "transfer"),
        EdgeSpec(waiter: "xfer-b", lock: "accounts[0]", kind: "mutex", symbol: "accounts", function: "transfer"),
    ]
    static let cycle3 = [
        EdgeSpec(waiter: "cycle-0", lock: "cycle_lock1", kind: "mutex", symbol: "cycle_lock1", function: "cycle_step"),
        EdgeSpec(waiter: "cycle-1", lock: "cycle_lock2", kind: "mutex", symbol: "cycle_lock2", function: "cycle_step"),
        EdgeSpec(waiter: "cycle-2", lock: "cycle_lock0", kind: "mutex", symbol: "cycle_lock0", function: "cycle_step"),
    ]
    static let rwlockMutex = [
        EdgeSpec(waiter: "writer", lock: "rw_mutex", kind: "mutex", symbol: "rw_mutex", function: "write_then_lock"),
        EdgeSpec(waiter: "locker", lock: "rw_lock", kind: "rwlock_read", symbol: "rw_lock", function: "lock_then_read"),
    ]
    static let joinCycle = [
        // main (named like the process) joins "joinee": the lock is the join futex, joinee pthread_t + 0x2d0.
        EdgeSpec(waiter: "twfixture", lock: "joinee_tid", kind: "join", symbol: nil, function: "join_worker"),
        EdgeSpec(waiter: "joinee", lock: "join_mutex", kind: "mutex", symbol: "join_mutex", function: "wait_on_mutex"),
    ]
    static let stdioCycle = [
        EdgeSpec(waiter: "file-holder", lock: "m", kind: "mutex", symbol: "stdio_mutex", function: "hold_stdout_then_lock"),
        EdgeSpec(waiter: "printer", lock: "stdout_lock", kind: "stdio_lock", symbol: nil, function: "print_while_holding"),
    ]
    static let stdABBA = [
        EdgeSpec(waiter: "cxx-a", lock: "g_right", kind: "mutex", symbol: "g_right", function: "lock_left_then_right"),
        EdgeSpec(waiter: "cxx-b", lock: "g_left", kind: "mutex", symbol: "g_left", function: "lock_right_then_left"),
    ]
    static let stdRecursive = [
        EdgeSpec(waiter: "rec-holder", lock: "g_plain", kind: "mutex", symbol: "g_plain", function: "holder_then_lock_plain"),
        EdgeSpec(waiter: "rec-waiter", lock: "g_rec", kind: "mutex", symbol: "g_rec", function: "waiter_then_lock_recursive"),
    ]
    /// The rwlock's reader is not recorded by glibc: it is found by its
    /// std::shared_lock guard, the only live stack reference to the lock.
    static let sharedReader = [
        EdgeSpec(waiter: "cxx-reader", lock: "g_orders", kind: "mutex", symbol: "g_orders", function: "read_then_lock_orders"),
        EdgeSpec(waiter: "cxx-writer", lock: "g_shared", kind: "rwlock_write", symbol: "g_shared", function: "lock_orders_then_write"),
    ]

    func testSharedReader_ptrace_reportsCycleThroughReaderHeldRwlock() throws {
        try assertDeadlock(scenario: "shared-reader", executable: Paths.fixtureCxx, edges: Self.sharedReader)
    }

    /// --proc-only too, where a guessed frame base must not take the guard's
    /// pointer to g_shared (data) for a return address.
    func testSharedReader_procOnly_reportsCycleThroughReaderHeldRwlock() throws {
        try assertDeadlock(scenario: "shared-reader", executable: Paths.fixtureCxx, edges: Self.sharedReader, procOnly: true)
        let fixture = try Fixture(["shared-reader"], executable: Paths.fixtureCxx)
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)", "--proc-only"], expectStatus: 1)
        for thread in report.threadList {
            let names = (thread["frames"] as? [[String: Any]] ?? []).functionNames
            XCTAssertFalse(names.contains { $0 == "g_shared" || $0 == "g_orders" }, "a data symbol as a frame: \(names)")
        }
    }

    /// One-time initialisations record no owner: the initialiser is found on
    /// the stacks (OnceOwners). A C++ static whose constructor waits for a
    /// mutex held by a thread that waits for the static.
    func testStaticInitCycle_cycleThroughTheStaticsGuard() throws {
        let f = try Fixture(["static-init-cycle"], executable: Paths.fixtureCxx)
        let initTid = try XCTUnwrap(f.tid(named: "cxx-init")), plugin = try XCTUnwrap(f.tid(named: "cxx-plugin"))
        for procOnly in [false, true] {
            let report = try Threadwatch.report(scanArgs(f, procOnly: procOnly), expectStatus: 1)
            let deadlock = try XCTUnwrap(report.findingList.first { $0["kind"] as? String == "deadlock" }, "\(report.findingList)")
            XCTAssertEqual(Set(deadlock["threads"] as? [Int] ?? []), [Int(initTid), Int(plugin)])
            let cycle = deadlock["cycle"] as? [[String: Any]] ?? []
            let guardEdge = try XCTUnwrap(cycle.first { $0["tid"] as? Int == Int(plugin) })
            let lock = guardEdge["lock"] as? [String: Any] ?? [:]
            XCTAssertEqual(lock["symbol"] as? String, "guard variable for config()::instance")
            XCTAssertEqual(guardEdge["holder_tid"] as? Int, Int(initTid))
            XCTAssertTrue((lock["detail"] as? String ?? "").contains("C++ static initialisation"), "\(lock)")
            let mutexEdge = try XCTUnwrap(cycle.first { $0["tid"] as? Int == Int(initTid) })
            XCTAssertEqual((mutexEdge["lock"] as? [String: Any])?["symbol"] as? String, "g_registry")
        }
    }

    /// pthread_once whose initialiser calls back into the same pthread_once.
    func testOnceRecursive_isSelfDeadlock() throws {
        let f = try Fixture(["once-recursive"])
        let user = try XCTUnwrap(f.tid(named: "once-user"))
        for procOnly in [false, true] {
            let report = try Threadwatch.report(scanArgs(f, procOnly: procOnly), expectStatus: 1)
            let finding = try XCTUnwrap(report.findingList.first { $0["kind"] as? String == "self_deadlock" }, "\(report.findingList)")
            XCTAssertEqual(finding["threads"] as? [Int], [Int(user)])
            let lock = ((finding["cycle"] as? [[String: Any]])?.first?["lock"] as? [String: Any]) ?? [:]
            XCTAssertEqual(lock["address"] as? String, f.locks["table_once"].map(Self.hex))
            XCTAssertTrue((finding["summary"] as? String ?? "").contains("one-time initialisation"))
        }
    }

    /// The program's names for the locks, from DWARF: accounts[0] and [1]
    /// (the symbol stays "accounts+0x28"), in the report and the text view.
    func testABBA_locksNamedByElement() throws {
        let f = try Fixture(["abba"])
        let report = try Threadwatch.report(["--pid", "\(f.pid)"], expectStatus: 1)
        let cycle = (report.findingList.first?["cycle"] as? [[String: Any]]) ?? []
        let fields = Set(cycle.compactMap { ($0["lock"] as? [String: Any])?["field"] as? String })
        XCTAssertEqual(fields, ["accounts[0]", "accounts[1]"], "\(cycle)")
        let text = try Threadwatch.run(["--pid", "\(f.pid)"]).stdout
        XCTAssertTrue(text.contains("(accounts[1]) held by thread"), text)
    }

    func testABBA_ptrace_reportsOneCycleWithBothMutexes() throws {
        try assertDeadlock(scenario: "abba", edges: Self.abba)
    }

    func testABBA_procOnly_reportsOneCycleWithBothMutexes() throws {
        try assertDeadlock(scenario: "abba", edges: Self.abba, procOnly: true)
    }

    func testCycle3_ptrace_reportsThreeThreadCycleThroughRecursiveMutex() throws {
        try assertDeadlock(scenario: "cycle3", edges: Self.cycle3)
    }

    func testCycle3_procOnly_reportsThreeThreadCycleThroughRecursiveMutex() throws {
        try assertDeadlock(scenario: "cycle3", edges: Self.cycle3, procOnly: true)
    }

    func testRwlockMutex_ptrace_reportsReaderEdgeOnRwlockBase() throws {
        try assertDeadlock(scenario: "rwlock-mutex", edges: Self.rwlockMutex)
    }

    func testRwlockMutex_procOnly_reportsReaderEdgeOnRwlockBase() throws {
        try assertDeadlock(scenario: "rwlock-mutex", edges: Self.rwlockMutex, procOnly: true)
    }

    func testJoinCycle_ptrace_reportsJoinEdgeFromMainToJoinee() throws {
        try assertDeadlock(scenario: "join-cycle", edges: Self.joinCycle)
    }

    func testJoinCycle_procOnly_reportsJoinEdgeFromMainToJoinee() throws {
        try assertDeadlock(scenario: "join-cycle", edges: Self.joinCycle, procOnly: true)
    }

    func testStdioCycle_ptrace_reportsStdoutLockEdge() throws {
        try assertDeadlock(scenario: "stdio-cycle", edges: Self.stdioCycle)
    }

    func testStdioCycle_procOnly_reportsStdoutLockEdge() throws {
        try assertDeadlock(scenario: "stdio-cycle", edges: Self.stdioCycle, procOnly: true)
    }

    func testStdABBA_ptrace_reportsCycleOnStdMutexes() throws {
        try assertDeadlock(scenario: "std-abba", executable: Paths.fixtureCxx, edges: Self.stdABBA)
    }

    func testStdABBA_procOnly_reportsCycleOnStdMutexes() throws {
        try assertDeadlock(scenario: "std-abba", executable: Paths.fixtureCxx, edges: Self.stdABBA, procOnly: true)
    }

    func testStdRecursive_ptrace_reportsCycleThroughRecursiveMutex() throws {
        try assertDeadlock(scenario: "std-recursive", executable: Paths.fixtureCxx, edges: Self.stdRecursive)
    }

    func testStdRecursive_procOnly_reportsCycleThroughRecursiveMutex() throws {
        try assertDeadlock(scenario: "std-recursive", executable: Paths.fixtureCxx, edges: Self.stdRecursive, procOnly: true)
    }

    // MARK: self-deadlock, orphaned lock

    func testSelfRelock_ptrace_reportsSelfDeadlockOnRelockMutex() throws {
        try assertSelfDeadlock(procOnly: false)
    }

    func testSelfRelock_procOnly_reportsSelfDeadlockOnRelockMutex() throws {
        try assertSelfDeadlock(procOnly: true)
    }

    func testOrphaned_ptrace_reportsOneOrphanedLockWithBothWaiters() throws {
        try assertOrphanedLock(procOnly: false)
    }

    func testOrphaned_procOnly_reportsOneOrphanedLockWithBothWaiters() throws {
        try assertOrphanedLock(procOnly: true)
    }

    // MARK: negative controls

    func testContention_repeatedScans_noFindings() throws {
        var sawOwnedWait = false
        try assertNoFindings(scenario: "contention") { fixture, report in
            let pool = Set(fixture.locks.filter { $0.key.hasPrefix("pool_locks[") }.values)
            sawOwnedWait = sawOwnedWait || report.threadList.contains { thread in
                let b = thread["blocked_on"] as? [String: Any]
                return b?["kind"] as? String == "mutex" && b?["owner_tid"] as? Int != nil
                    && (b?["address"] as? String).flatMap(Self.address).map(pool.contains) == true
            }
        }
        XCTAssertTrue(sawOwnedWait, "no scan saw a pool thread waiting on a held pool lock: the control tested nothing")
    }

    func testCondvarCrowd_repeatedScans_noFindings() throws {
        try assertNoFindings(scenario: "condvar-crowd") { _, report in
            let crowd = report.threadList.filter { ($0["name"] as? String)?.hasPrefix("crowd-") == true }
            XCTAssertEqual(crowd.count, 200)
            let kinds = crowd.map { ($0["blocked_on"] as? [String: Any])?["kind"] as? String ?? "none" }
            XCTAssertEqual(Set(kinds), ["condvar"], "every crowd thread waits on the condvar")
        }
    }

    func testLockChain_repeatedScans_noFindings() throws {
        try assertNoFindings(scenario: "lock-chain") { fixture, report in
            // The graph does see the chain: chain-k waits for chain_locks[k-1], held by chain-(k-1).
            for k in 1...4 {
                guard let tid = fixture.tid(named: "chain-\(k)"), let holder = fixture.tid(named: "chain-\(k - 1)"),
                      let lock = fixture.locks["chain_locks[\(k - 1)]"] else {
                    return XCTFail("fixture lines incomplete: \(fixture.lines)")
                }
                let blocked = report.thread(tid)?["blocked_on"] as? [String: Any]
                XCTAssertEqual(blocked?["kind"] as? String, "mutex", "chain-\(k)")
                XCTAssertEqual(blocked?["address"] as? String, Self.hex(lock), "chain-\(k) waits on chain_locks[\(k - 1)]")
                XCTAssertEqual(blocked?["owner_tid"] as? Int, Int(holder), "chain-\(k) waits behind chain-\(k - 1)")
            }
            // And says where the chain ends, for programs as for people.
            let chains = report["lock_chains"] as? [[String: Any]] ?? []
            XCTAssertEqual(chains.count, 1, "\(chains)")
            XCTAssertEqual(chains.first?["holder_tid"] as? Int, fixture.tid(named: "chain-0").map(Int.init))
            XCTAssertEqual(Set(chains.first?["waiters"] as? [Int] ?? []), Set((1...4).compactMap { fixture.tid(named: "chain-\($0)") }.map(Int.init)))
            XCTAssertTrue((chains.first?["holder_doing"] as? String ?? "").contains("nanosleep"), "\(chains)")
        }
    }

    func testLockChain_text_noProblemsAndShowsTheChainBehindTheSleepingHolder() throws {
        let (fixture, text) = try lockChainText()
        XCTAssertTrue(text.contains("No problems found."), String(text.prefix(1500)))
        XCTAssertFalse(text.contains("deadlock"), String(text.prefix(1500)))
        let head = try XCTUnwrap(fixture.tid(named: "chain-0"))
        XCTAssertTrue(text.contains("4 threads wait behind thread \(head) \"chain-0\""), "chain summary: \(text.prefix(1500))")
    }

    /// Each link of the chain waits on its own lock and holder; the text view
    /// must not show chain-2..4 as waiting on chain-0's lock.
    func testLockChain_text_showsEachLinksLockAndHolder() throws {
        let (fixture, text) = try lockChainText()
        for k in 1...4 {
            let holder = try XCTUnwrap(fixture.tid(named: "chain-\(k - 1)"))
            let lock = Self.hex(try XCTUnwrap(fixture.locks["chain_locks[\(k - 1)]"]))
            let shown = text.split(separator: "\n").contains {
                $0.contains("blocked on mutex \(lock) ") && $0.contains("held by thread \(holder) \"chain-\(k - 1)\"")
            }
            XCTAssertTrue(shown,
                          "chain-\(k) waits on chain_locks[\(k - 1)] \(lock) held by \(holder): \(text.suffix(2500))")
        }
    }

    // MARK: ids, text view

    func testABBA_findingIDStableAcrossScansAndModes() throws {
        let fixture = try Fixture(["abba"])
        let ids = try [[], [], ["--proc-only"]].map { extra -> String? in
            let report = try Threadwatch.report(["--pid", "\(fixture.pid)"] + extra, expectStatus: 1)
            XCTAssertEqual(report.findingList.count, 1)
            return report.findingList.first?["id"] as? String
        }
        XCTAssertNotNil(ids[0])
        XCTAssertFalse(ids[0]?.isEmpty ?? true)
        XCTAssertEqual(ids[0], ids[1], "two ptrace scans of the same deadlock")
        XCTAssertEqual(ids[0], ids[2], "same locks and threads in --proc-only")
    }

    func testABBA_text_startsWithDeadlockBlockNamingBothThreads() throws {
        let (fixture, block, _) = try abbaTextBlock()
        let text = block.joined(separator: "\n")
        XCTAssertTrue(block.first?.contains("deadlock") == true, "first block after the header is the deadlock: \(text)")
        for name in ["xfer-a", "xfer-b"] {
            let tid = try XCTUnwrap(fixture.tid(named: name))
            XCTAssertTrue(text.contains("thread \(tid) \"\(name)\""), "\(name) named in the block: \(text)")
        }
        for lock in ["accounts[0]", "accounts[1]"] {
            XCTAssertTrue(text.contains(Self.hex(try XCTUnwrap(fixture.locks[lock]))), "\(lock) in the block: \(text)")
        }
        XCTAssertTrue(text.contains("advice"), "an advice line: \(text)")
    }

    /// Issue 3: each waiting thread is shown "at transfer (ledger.c:42)", i.e. where
    /// the program waits, not inside glibc.
    func testABBA_text_deadlockBlockShowsWhereInTheProgramEachThreadWaits() throws {
        let (_, block, _) = try abbaTextBlock()
        let atLines = block.filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("at ") }
        XCTAssertEqual(atLines.count, 2, block.joined(separator: "\n"))
        for line in atLines {
            XCTAssertTrue(line.contains("transfer") && line.contains("abba.c:"), "waits at transfer (abba.c:N): \(line)")
        }
    }

    /// blocked_on.since_us cannot exceed the age of the fixture process. It
    /// is read without a stop in --proc-only (seen flaky right after READY
    /// under heavy load: at least one of three looks must have it); a ptrace
    /// stop wakes the thread, so there it is given only when read before.
    func testABBA_blockedSince_notLongerThanTheFixtureHasExisted() throws {
        let started = Date()
        let fixture = try Fixture(["abba"])
        var seen: Set<String> = []
        for procOnly in [true, true, true, false] {
            let report = try Threadwatch.report(["--pid", "\(fixture.pid)"] + (procOnly ? ["--proc-only"] : []), expectStatus: 1)
            let age = Int(Date().timeIntervalSince(started) * 1_000_000)
            for name in ["xfer-a", "xfer-b"] {
                let thread = try XCTUnwrap(report.thread(try XCTUnwrap(fixture.tid(named: name))))
                guard let since = (thread["blocked_on"] as? [String: Any])?["since_us"] as? Int else { continue }
                if procOnly { seen.insert(name) }
                XCTAssertLessThanOrEqual(since, age, "\(name) blocked for \(since) us in a process \(age) us old")
            }
        }
        XCTAssertEqual(seen, ["xfer-a", "xfer-b"], "since_us known without a stop")
    }

    // MARK: helpers

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
    static func address(_ text: String) -> UInt64? { text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : nil }

    /// The CYCLE line's threads as tids (it may name a thread by tid or by name).
    func cycleTids(_ fixture: Fixture, file: StaticString = #filePath, line: UInt = #line) throws -> [Int32] {
        let words = try XCTUnwrap(fixture.value("CYCLE"), "no CYCLE line: \(fixture.lines)", file: file, line: line)
        return try words.map { word in
            try XCTUnwrap(Int32(word) ?? fixture.tid(named: word), "CYCLE names unknown thread \(word)", file: file, line: line)
        }
    }

    func scanArgs(_ fixture: Fixture, procOnly: Bool) -> [String] {
        ["--pid", "\(fixture.pid)"] + (procOnly ? ["--proc-only"] : [])
    }

    /// After a scan: the report says how it attached, and nothing stays stopped.
    func assertScan(_ report: [String: Any], of fixture: Fixture, procOnly: Bool,
                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(report.scanInfo["attach"] as? String, procOnly ? "proc-only" : "ptrace", file: file, line: line)
        let stopped = fixture.taskStates.filter { $0.value == "t" || $0.value == "T" }
        XCTAssertTrue(stopped.isEmpty, "threads left stopped: \(stopped)", file: file, line: line)
    }

    /// One `deadlock` finding whose threads are the CYCLE tids and whose edges,
    /// in cycle order, match `edges` (lock address from the LOCK lines, kind,
    /// symbol, holder = next edge's waiter, frames in the waiting function).
    func assertDeadlock(scenario: String, executable: String = Paths.fixture, edges specs: [EdgeSpec],
                        procOnly: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try Fixture([scenario], executable: executable, file: file, line: line)
        let report = try Threadwatch.report(scanArgs(fixture, procOnly: procOnly), expectStatus: 1, file: file, line: line)
        assertScan(report, of: fixture, procOnly: procOnly, file: file, line: line)
        let expectedTids = Set(try cycleTids(fixture, file: file, line: line))
        let kinds = report.findingList.map { $0["kind"] as? String ?? "?" }
        XCTAssertEqual(kinds, ["deadlock"], "exactly one finding, a deadlock: \(report.findingList.map { $0["summary"] ?? "" })",
                       file: file, line: line)
        let finding = try XCTUnwrap(report.findingList.first { $0["kind"] as? String == "deadlock" }, file: file, line: line)
        XCTAssertEqual(finding["severity"] as? String, "error", file: file, line: line)
        XCTAssertFalse((finding["advice"] as? String ?? "").isEmpty, "advice given", file: file, line: line)
        XCTAssertEqual(Set((finding["threads"] as? [Int] ?? []).map(Int32.init)), expectedTids, "finding.threads", file: file, line: line)

        let cycle = try XCTUnwrap(finding["cycle"] as? [[String: Any]], "deadlock without cycle[]", file: file, line: line)
        XCTAssertEqual(cycle.count, specs.count, "cycle length", file: file, line: line)
        let edgeTids = cycle.compactMap { ($0["tid"] as? Int).map(Int32.init) }
        XCTAssertEqual(Set(edgeTids), expectedTids, "cycle[].tid", file: file, line: line)
        for (i, edge) in cycle.enumerated() {
            let next = cycle[(i + 1) % cycle.count]
            XCTAssertEqual(edge["holder_tid"] as? Int, next["tid"] as? Int,
                           "edge \(i): holder is the next edge's waiter (last holder is the first waiter)", file: file, line: line)
        }

        for spec in specs {
            let tid = try XCTUnwrap(fixture.tid(named: spec.waiter), "no THREAD line for \(spec.waiter)", file: file, line: line)
            let address = try XCTUnwrap(fixture.locks[spec.lock], "no LOCK line for \(spec.lock)", file: file, line: line)
            guard let edge = cycle.first(where: { $0["tid"] as? Int == Int(tid) }) else {
                XCTFail("\(spec.waiter) (\(tid)) has no edge in the cycle", file: file, line: line)
                continue
            }
            let lock = edge["lock"] as? [String: Any] ?? [:]
            let context = "\(scenario) edge of \(spec.waiter): \(lock)"
            XCTAssertEqual(lock["address"] as? String, Self.hex(address), "lock address is \(spec.lock); \(context)", file: file, line: line)
            XCTAssertEqual(lock["kind"] as? String, spec.kind, context, file: file, line: line)
            if let symbol = spec.symbol {
                XCTAssertEqual(lock["symbol"] as? String, symbol, context, file: file, line: line)
            }
            XCTAssertEqual(lock["owner_tid"] as? Int, edge["holder_tid"] as? Int, "owner_tid == holder_tid; \(context)", file: file, line: line)
            let functions = (edge["frames"] as? [[String: Any]] ?? []).functionNames
            XCTAssertTrue(functions.contains { $0.contains(spec.function) }, "\(spec.waiter) waits in \(spec.function): \(functions)",
                          file: file, line: line)
            // The thread's own blocked_on says the same as the edge.
            let blocked = report.thread(tid)?["blocked_on"] as? [String: Any] ?? [:]
            XCTAssertEqual(blocked["kind"] as? String, lock["kind"] as? String, "threads[].blocked_on of \(spec.waiter)", file: file, line: line)
            XCTAssertEqual(blocked["address"] as? String, lock["address"] as? String, "threads[].blocked_on of \(spec.waiter)", file: file, line: line)
            XCTAssertEqual(blocked["owner_tid"] as? Int, edge["holder_tid"] as? Int, "threads[].blocked_on of \(spec.waiter)", file: file, line: line)
        }
    }

    func assertSelfDeadlock(procOnly: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try Fixture(["self-relock"], file: file, line: line)
        let report = try Threadwatch.report(scanArgs(fixture, procOnly: procOnly), expectStatus: 1, file: file, line: line)
        assertScan(report, of: fixture, procOnly: procOnly, file: file, line: line)
        let relocker = try XCTUnwrap(fixture.tid(named: "relocker"), file: file, line: line)
        XCTAssertEqual(try cycleTids(fixture, file: file, line: line), [relocker], file: file, line: line)
        XCTAssertEqual(report.findingList.map { $0["kind"] as? String ?? "?" }, ["self_deadlock"], file: file, line: line)
        let finding = try XCTUnwrap(report.findingList.first, file: file, line: line)
        XCTAssertEqual(finding["threads"] as? [Int], [Int(relocker)], file: file, line: line)
        let edges = try XCTUnwrap(finding["cycle"] as? [[String: Any]], "self_deadlock names its lock in cycle[]", file: file, line: line)
        XCTAssertEqual(edges.count, 1, file: file, line: line)
        let edge = try XCTUnwrap(edges.first, file: file, line: line)
        XCTAssertEqual(edge["tid"] as? Int, Int(relocker), file: file, line: line)
        XCTAssertEqual(edge["holder_tid"] as? Int, Int(relocker), file: file, line: line)
        let lock = edge["lock"] as? [String: Any] ?? [:]
        XCTAssertEqual(lock["kind"] as? String, "mutex", file: file, line: line)
        XCTAssertEqual(lock["address"] as? String, Self.hex(try XCTUnwrap(fixture.locks["relock_mutex"])), file: file, line: line)
        XCTAssertEqual(lock["symbol"] as? String, "relock_mutex", file: file, line: line)
    }

    func assertOrphanedLock(procOnly: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try Fixture(["orphaned"], file: file, line: line)
        let report = try Threadwatch.report(scanArgs(fixture, procOnly: procOnly), expectStatus: 1, file: file, line: line)
        assertScan(report, of: fixture, procOnly: procOnly, file: file, line: line)
        let quitter = try XCTUnwrap(fixture.value("QUITTER")?.first.flatMap { Int($0) }, "QUITTER line", file: file, line: line)
        let waiters = try ["orphan-w1", "orphan-w2"].map { try XCTUnwrap(fixture.tid(named: $0), file: file, line: line) }
        let mutex = Self.hex(try XCTUnwrap(fixture.locks["orphan_mutex"], file: file, line: line))
        XCTAssertNil(report.thread(Int32(quitter)), "the quitter is gone", file: file, line: line)

        XCTAssertEqual(report.findingList.map { $0["kind"] as? String ?? "?" }, ["orphaned_lock"],
                       "one finding for the lock, not one per waiter", file: file, line: line)
        let finding = try XCTUnwrap(report.findingList.first, file: file, line: line)
        XCTAssertEqual(Set(finding["threads"] as? [Int] ?? []), Set(waiters.map(Int.init)), "both waiters listed", file: file, line: line)
        let evidence = try XCTUnwrap(finding["evidence"] as? [String: Any], file: file, line: line)
        XCTAssertEqual(evidence["dead_owner_tid"] as? Int, quitter, file: file, line: line)
        for tid in waiters {
            let blocked = report.thread(tid)?["blocked_on"] as? [String: Any] ?? [:]
            XCTAssertEqual(blocked["kind"] as? String, "mutex", "waiter \(tid)", file: file, line: line)
            XCTAssertEqual(blocked["address"] as? String, mutex, "waiter \(tid)", file: file, line: line)
            XCTAssertEqual(blocked["owner_tid"] as? Int, quitter, "waiter \(tid)", file: file, line: line)
        }
    }

    /// `ptraceScans` + `procOnlyScans` scans of a control: each validates, exits 0,
    /// has no findings; `check` sees each report.
    func assertNoFindings(scenario: String, ptraceScans: Int = 5, procOnlyScans: Int = 5,
                          file: StaticString = #filePath, line: UInt = #line,
                          check: (Fixture, [String: Any]) -> Void) throws {
        let fixture = try Fixture([scenario], file: file, line: line)
        for procOnly in Array(repeating: false, count: ptraceScans) + Array(repeating: true, count: procOnlyScans) {
            let report = try Threadwatch.report(scanArgs(fixture, procOnly: procOnly), expectStatus: 0, file: file, line: line)
            assertScan(report, of: fixture, procOnly: procOnly, file: file, line: line)
            XCTAssertTrue(report.findingList.isEmpty, "\(scenario)\(procOnly ? " --proc-only" : ""): \(report.findingList.map { $0["summary"] ?? "" })",
                          file: file, line: line)
            check(fixture, report)
        }
    }

    /// Text view of lock-chain (exit status 0).
    func lockChainText(file: StaticString = #filePath, line: UInt = #line) throws -> (Fixture, String) {
        let fixture = try Fixture(["lock-chain"], file: file, line: line)
        let result = try Threadwatch.run(["--pid", "\(fixture.pid)"])
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        return (fixture, result.stdout)
    }

    /// Text view of abba: the fixture, the first block after the header, and the whole output.
    func abbaTextBlock(file: StaticString = #filePath, line: UInt = #line) throws -> (Fixture, [String], String) {
        let fixture = try Fixture(["abba"], file: file, line: line)
        let result = try Threadwatch.run(["--pid", "\(fixture.pid)"])
        XCTAssertEqual(result.status, 1, "deadlock found: exit 1; \(result.stderr)", file: file, line: line)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertTrue(lines.first?.hasPrefix("threadwatch ") == true, "header: \(lines.first ?? "")", file: file, line: line)
        // Header lines end at the first empty line; the first block runs to the next one.
        let body = lines.drop { !$0.isEmpty }.drop { $0.isEmpty }
        return (fixture, Array(body.prefix { !$0.isEmpty }), result.stdout)
    }
}
