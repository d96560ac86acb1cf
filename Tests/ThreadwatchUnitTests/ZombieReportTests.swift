import Foundation
import XCTest
import ThreadwatchDetect
import ThreadwatchModel
@testable import ThreadwatchReport

/// Zombie findings in report v1 (Codable and streamed alike) and the text view.
final class ZombieReportTests: XCTestCase {
    let stack: UInt64 = (8 << 20) + 4096

    func zombies(_ count: Int, routine: String, from base: UInt64) -> [ZombieThread] {
        (0..<count).map { i in
            ZombieThread(descriptor: base + UInt64(i) * 0x1000, startAddress: base,
                         startRoutine: Frame(pc: base, function: routine, file: "/src/server.c", line: 88), stackBytes: stack)
        }
    }

    func snapshot(_ zombies: [ZombieThread]) -> Snapshot {
        Snapshot(process: ProcessSummary(pid: 5, comm: "server"), threads: [ThreadSnapshot(tid: 5, name: "server", state: "S")],
                 scan: ScanInfo(attach: .ptrace, startedAt: 1_700_000_000), zombies: zombies, zombiesChecked: true)
    }

    func testStreamedJSON_withZombie_roundTripsThroughCodable() throws {
        let s = snapshot(zombies(2, routine: "handle_request", from: 0x7f00_0000))
        let report = ReportBuilder.build(s, findings: ZombieDetector.detect(s, firstSeen: [:]))
        var writer = JSONStreamWriter(fd: nil)
        report.write(to: &writer)
        let decoded = try JSONDecoder().decode(ReportV1.self, from: Data(writer.buffer))
        XCTAssertEqual(decoded, report)
        let zombie = try XCTUnwrap(decoded.findings.first?.zombie)
        XCTAssertEqual(zombie.startRoutine, "handle_request (server.c:88)")
        XCTAssertEqual(zombie.threadDescriptor, "0x7f000000")
        XCTAssertEqual(zombie.stackBytes, Int(stack))
        XCTAssertEqual(zombie.firstSeen, "2023-11-14T22:13:20.000Z")
        for key in ["\"start_routine\"", "\"thread_descriptor\"", "\"stack_bytes\"", "\"first_seen\""] {
            XCTAssertTrue(writer.text.contains(key), "\(key) in \(writer.text)")
        }
    }

    func testText_oneLinePerStartRoutine_largestFirst() {
        let s = snapshot(zombies(37, routine: "handle_request", from: 0x7f00_0000) + zombies(1, routine: "flush_log", from: 0x7e00_0000))
        let text = TextRenderer.render(s, findings: ZombieDetector.detect(s))
        let lines = text.split(separator: "\n").filter { $0.contains("zombie") }
        XCTAssertEqual(lines, [
            "ERROR zombie_thread: 37 zombie threads from handle_request (server.c:88), pinning 296 MiB — join them or create them detached",
            "ERROR zombie_thread: 1 zombie thread from flush_log (server.c:88), pinning 8 MiB — join it or create it detached",
        ])
    }
}
