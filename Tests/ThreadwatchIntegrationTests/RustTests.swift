import Foundation
import XCTest

/// Rust programs: std::sync::Mutex keeps no owner, so owners are inferred
/// from which thread refers to the lock (StackReferenceOwners).
final class RustTests: XCTestCase {
    /// Builds fixtures/rust/<name>.rs with rustc once per test run.
    static func build(_ name: String) throws -> String {
        let source = Paths.packageRoot.appendingPathComponent("fixtures/rust/\(name).rs").path
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("tw-rust-\(name)").path
        let result = try Threadwatch.run(["rustc", "-g", "-O", "--edition", "2021", source, "-o", output],
                                         executable: "/usr/bin/env")
        guard result.status == 0 else {
            XCTFail("rustc failed (is rustc installed? this machine kind ships it): \(result.stderr.suffix(400))")
            throw Fixture.FixtureError.notReady
        }
        return output
    }

    func tids(_ pid: Int32, named names: [String]) -> [Int32] {
        names.compactMap { name in
            ProcView.tids(pid).first { tid in
                (try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/comm", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines) == name
            }
        }
    }

    func assertRustABBA(procOnly: Bool) throws {
        let fixture = try Fixture([], executable: try Self.build("abba"))
        let cycle = tids(fixture.pid, named: ["rs-a", "rs-b"])
        XCTAssertEqual(cycle.count, 2)
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)"] + (procOnly ? ["--proc-only"] : []), expectStatus: 1)
        let deadlocks = report.findingList.filter { $0["kind"] as? String == "deadlock" }
        XCTAssertEqual(deadlocks.count, 1, "\(report.findingList)")
        let finding = try XCTUnwrap(deadlocks.first)
        XCTAssertEqual(Set((finding["threads"] as? [Int] ?? []).map(Int32.init)), Set(cycle))
        let edges = try XCTUnwrap(finding["cycle"] as? [[String: Any]])
        let addresses = Set(edges.compactMap { ($0["lock"] as? [String: Any])?["address"] as? String })
        let expected = Set(["left", "right"].compactMap { fixture.locks[$0] }.map { "0x" + String($0, radix: 16) })
        XCTAssertEqual(addresses, expected)
        for edge in edges {
            let lock = try XCTUnwrap(edge["lock"] as? [String: Any])
            XCTAssertEqual(lock["kind"] as? String, "mutex")
            XCTAssertEqual(lock["owner_tid"] as? Int, edge["holder_tid"] as? Int)
            XCTAssertTrue((lock["detail"] as? String)?.contains("records no owner") == true, "\(lock)")
        }
    }

    func testRustABBA_ptrace_inferredOwnersCloseTheCycle() throws {
        try assertRustABBA(procOnly: false)
    }

    func testRustABBA_procOnly_inferredOwnersCloseTheCycle() throws {
        try assertRustABBA(procOnly: true)
    }

    /// std::sync::RwLock: readers wait on its state word, writers on the
    /// word after it; a write-locked or one-reader lock's holder is inferred
    /// like a Mutex's. A reader waits for a mutex whose holder waits to write.
    func testRustRwLock_readerWriterCycle() throws {
        let fixture = try Fixture([], executable: try Self.build("rwlock"))
        let reader = tids(fixture.pid, named: ["rs-reader"]), writer = tids(fixture.pid, named: ["rs-writer"])
        XCTAssertEqual(reader.count + writer.count, 2)
        for procOnly in [false, true] {
            let report = try Threadwatch.report(["--pid", "\(fixture.pid)"] + (procOnly ? ["--proc-only"] : []), expectStatus: 1)
            let deadlock = try XCTUnwrap(report.findingList.first { $0["kind"] as? String == "deadlock" }, "\(report.findingList)")
            let edges = try XCTUnwrap(deadlock["cycle"] as? [[String: Any]])
            let writerEdge = try XCTUnwrap(edges.first { ($0["tid"] as? Int).map(Int32.init) == writer.first })
            let lock = try XCTUnwrap(writerEdge["lock"] as? [String: Any])
            XCTAssertEqual(lock["kind"] as? String, "rwlock_write")
            XCTAssertEqual(lock["address"] as? String, fixture.locks["config"].map { "0x" + String($0, radix: 16) })
            XCTAssertEqual((writerEdge["holder_tid"] as? Int).map(Int32.init), reader.first)
            XCTAssertTrue((lock["detail"] as? String ?? "").contains("Rust std::sync::RwLock, held by one reader"), "\(lock)")
            let readerEdge = try XCTUnwrap(edges.first { ($0["tid"] as? Int).map(Int32.init) == reader.first })
            XCTAssertEqual((readerEdge["lock"] as? [String: Any])?["address"] as? String, fixture.locks["stats"].map { "0x" + String($0, radix: 16) })
        }
    }
}
