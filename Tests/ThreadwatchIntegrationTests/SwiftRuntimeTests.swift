import Foundation
import XCTest

/// A Swift program on the runtime's Swift module (fixtures/twfixture-swift):
/// what threadwatch reports names Swift functions, demangled.
final class SwiftRuntimeTests: XCTestCase {
    static var fixture: String { Paths.products.appendingPathComponent("twfixture-swift").path }

    func testSwiftStress_countsExact() throws {
        let run = try Threadwatch.run(["swift-stress"], executable: Self.fixture)
        XCTAssertEqual(run.status, 0, run.stdout)
        let passed = Set(run.stdout.split(separator: "\n").filter { $0.hasPrefix("PASS ") }.map { String($0.split(separator: " ")[1]) })
        XCTAssertEqual(passed, ["runtime-mutex", "fiber-pool", "fiber-scheduler"], run.stdout)
    }

    func testSwiftFiberDeadlock_foundWithSwiftNames() throws {
        let f = try Fixture(["swift-fiber-deadlock"], executable: Self.fixture)
        let report = try Threadwatch.report(["--pid", "\(f.pid)"], expectStatus: 1)
        let fibers = report["fibers"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(fibers.compactMap { $0["name"] as? String }), ["transfer", "audit"])
        for (name, function) in [("transfer", "twfixture_swift.transferAccountsThenLedger() -> ()"),
                                 ("audit", "twfixture_swift.auditLedgerThenAccounts() -> ()")] {
            let fiber = try XCTUnwrap(fibers.first { $0["name"] as? String == name })
            XCTAssertEqual(fiber["state"] as? String, "blocked")
            XCTAssertNotNil(fiber["pool"] as? Int)
            let names = (fiber["frames"] as? [[String: Any]] ?? []).functionNames
            XCTAssertTrue(names.contains(function), "\(names)")
            XCTAssertTrue(names.contains("ThreadwatchRuntime.FiberMutex.lock() -> ()"), "\(names)")
        }
        let lockAddresses = Set(["accounts", "ledger"].compactMap { f.locks[$0] }.map { "0x" + String($0, radix: 16) })
        let deadlock = try XCTUnwrap(report.findingList.first { $0["kind"] as? String == "deadlock" })
        XCTAssertEqual(Set((deadlock["cycle"] as? [[String: Any]] ?? []).compactMap { ($0["lock"] as? [String: Any])?["address"] as? String }),
                       lockAddresses, "the FiberMutex objects' C mutexes")
        let text = try Threadwatch.run(["--pid", "\(f.pid)"])
        XCTAssertTrue(text.stdout.contains("at twfixture_swift.transferAccountsThenLedger() -> () (main.swift:"), text.stdout)
    }

    /// The acquisition sites are the Swift functions that called lock(),
    /// not the RuntimeMutex wrapper (this build is unoptimised).
    func testSwiftLockInversion_sitesInCallers() throws {
        let f = try Fixture(["swift-lock-inversion"], executable: Self.fixture)
        XCTAssertEqual(f.value("INVERSIONS"), ["1"])
        let report = try Threadwatch.report(["--pid", "\(f.pid)"])
        let finding = try XCTUnwrap(report.findingList.first { $0["kind"] as? String == "lock_order_inversion" })
        let evidence = try XCTUnwrap(finding["evidence"] as? [String: Any])
        let first = try XCTUnwrap(evidence["first_then_second"] as? [String: Any])
        let second = try XCTUnwrap(evidence["second_then_first"] as? [String: Any])
        XCTAssertEqual(first["function"] as? String, "twfixture_swift.reserveInventoryThenOrder() -> ()")
        XCTAssertEqual(second["function"] as? String, "twfixture_swift.cancelOrderThenInventory() -> ()")
        XCTAssertTrue((first["file"] as? String ?? "").hasSuffix("main.swift"))
    }
}
