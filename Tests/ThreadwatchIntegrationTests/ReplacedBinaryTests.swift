import Foundation
import XCTest

/// A program whose executable was replaced on disk after it started (a
/// package upgrade under a running service): /proc shows "PATH (deleted)"
/// and PATH is another file now. Symbols must still come from the file the
/// process runs, through /proc/PID/map_files.
final class ReplacedBinaryTests: XCTestCase {
    func testReplacedExecutable_stillSymbolized() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tw-replaced-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = dir.appendingPathComponent("service")
        try FileManager.default.copyItem(atPath: Paths.fixture, toPath: binary.path)
        let f = try Fixture(["abba"], executable: binary.path)
        // The "upgrade": another program renamed over the path.
        let upgrade = dir.appendingPathComponent("service.new")
        try FileManager.default.copyItem(atPath: Paths.fixtureCxx, toPath: upgrade.path)
        XCTAssertEqual(rename(upgrade.path, binary.path), 0)
        XCTAssertTrue(try String(contentsOfFile: "/proc/\(f.pid)/maps", encoding: .utf8).contains("service (deleted)"))

        let report = try Threadwatch.report(["--pid", "\(f.pid)"], expectStatus: 1)
        let deadlock = try XCTUnwrap(report.findingList.first { $0["kind"] as? String == "deadlock" })
        let cycle = try XCTUnwrap(deadlock["cycle"] as? [[String: Any]])
        for edge in cycle {
            XCTAssertTrue(((edge["frames"] as? [[String: Any]]) ?? []).functionNames.contains("transfer"), "\(edge)")
            XCTAssertTrue(((edge["lock"] as? [String: Any])?["symbol"] as? String ?? "").hasPrefix("accounts"), "\(edge)")
        }
    }
}
