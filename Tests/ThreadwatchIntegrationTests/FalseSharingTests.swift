import Foundation
import XCTest

/// `--sample`: false sharing found by sampling and confirmed with watchpoints.
final class FalseSharingTests: XCTestCase {
    private func line(_ fixture: Fixture, _ name: String) -> UInt64? {
        fixture.value("LINE").flatMap { $0.first == name ? UInt64($0[1].dropFirst(2), radix: 16) : nil }
    }

    private func falseSharing(_ report: [String: Any]) -> [[String: Any]] {
        report.findingList.filter { $0["kind"] as? String == "false_sharing" }
    }

    func testSample_globalCounters_reportsTheLineSymbolAndWriters() throws {
        let fixture = try Fixture(["fs-global-counters"])
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)", "--sample", "3"])
        XCTAssertEqual(report.scanInfo["mode"] as? String, "sample")
        let findings = falseSharing(report)
        XCTAssertEqual(findings.count, 1, "\(report.scanInfo["warnings"] ?? "")")
        let detail = try XCTUnwrap(findings.first?["false_sharing"] as? [String: Any])
        let address = try XCTUnwrap(line(fixture, "g_stats"))
        XCTAssertEqual(detail["cache_line"] as? String, "0x" + String(address & ~63, radix: 16))
        XCTAssertEqual(detail["symbol"] as? String, "g_stats")
        XCTAssertEqual(detail["method"] as? String, "sampled+watchpoint")
        let writers = detail["writers"] as? [[String: Any]] ?? []
        let workers = Set(fixture.threads.filter { $0.name.hasPrefix("fs-worker") }.map(\.tid))
        XCTAssertEqual(Set(writers.compactMap { ($0["tid"] as? Int).map(Int32.init) }), workers)
        XCTAssertEqual(Set(writers.compactMap { ($0["offsets"] as? [Int])?.first }), [0, 8, 16, 24])
        XCTAssertTrue(writers.allSatisfy { ($0["writes"] as? Int ?? 0) > 0 })
        XCTAssertEqual(findings.first?["severity"] as? String, "warning")
        // The struct fields, from the fixture's DWARF: struct fs_stats { long hits[4]; ... }.
        let fields = (findings.first?["evidence"] as? [String: Any])?["fields"] as? [String: String]
        XCTAssertEqual(fields?["+8"], "g_stats.hits[1]", "\(String(describing: fields))")
    }

    func testSample_writerAndReaders_reportsTheReadersToo() throws {
        let fixture = try Fixture(["fs-writer-readers"])
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)", "--sample", "3"])
        let findings = falseSharing(report)
        XCTAssertEqual(findings.count, 1, "\(report.scanInfo["warnings"] ?? "")")
        let detail = try XCTUnwrap(findings.first?["false_sharing"] as? [String: Any])
        XCTAssertEqual(detail["symbol"] as? String, "g_config")
        let touchers = detail["writers"] as? [[String: Any]] ?? []
        let writer = try XCTUnwrap(fixture.tid(named: "fs-writer"))
        let readers = Set(fixture.threads.filter { $0.name.hasPrefix("fs-reader") }.map(\.tid))
        XCTAssertTrue(touchers.contains { ($0["tid"] as? Int).map(Int32.init) == writer && ($0["writes"] as? Int ?? 0) > 0 })
        let pureReaders = touchers.filter { ($0["writes"] as? Int) == 0 && ($0["reads"] as? Int ?? 0) > 0 }
        XCTAssertEqual(Set(pureReaders.compactMap { ($0["tid"] as? Int).map(Int32.init) }), readers)
    }

    func testSample_heapArray_namesTheHeapLine() throws {
        let fixture = try Fixture(["fs-heap-array"])
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)", "--sample", "3"])
        let details = falseSharing(report).compactMap { $0["false_sharing"] as? [String: Any] }
        XCTAssertFalse(details.isEmpty, "\(report.scanInfo["warnings"] ?? "")")
        XCTAssertTrue(details.allSatisfy { $0["symbol"] as? String == "heap" })
        let base = try XCTUnwrap(line(fixture, "results"))
        let lines = details.compactMap { ($0["cache_line"] as? String).flatMap { UInt64($0.dropFirst(2), radix: 16) } }
        XCTAssertTrue(lines.allSatisfy { $0 >= base & ~63 && $0 < base + 4096 }, "lines inside the results array")
    }

    func testSample_mixed_onlyTheSharedLine() throws {
        let fixture = try Fixture(["fs-mixed"])
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)", "--sample", "3"])
        let details = falseSharing(report).compactMap { $0["false_sharing"] as? [String: Any] }
        XCTAssertEqual(details.count, 1, "\(report.scanInfo["warnings"] ?? "")")
        XCTAssertEqual(details.first?["symbol"] as? String, "g_hot_pair")
    }

    func testSample_paddedCounters_reportsNothing() throws {
        let fixture = try Fixture(["fs-padded"])
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)", "--sample", "2"])
        XCTAssertTrue(falseSharing(report).isEmpty)
    }

    func testSample_trueSharing_isNotFalseSharing() throws {
        let fixture = try Fixture(["fs-true-sharing"])
        let report = try Threadwatch.report(["--pid", "\(fixture.pid)", "--sample", "2"])
        XCTAssertTrue(falseSharing(report).isEmpty)
    }
}
