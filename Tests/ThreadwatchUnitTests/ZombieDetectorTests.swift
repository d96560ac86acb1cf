import XCTest
import ThreadwatchDetect
import ThreadwatchModel

/// ZombieDetector on hand-built snapshots.
final class ZombieDetectorTests: XCTestCase {
    static let stack: UInt64 = (8 << 20) + 4096  // a default glibc stack block: 8 MiB + 4 KiB guard

    func snapshot(_ zombies: [ZombieThread], at time: Double = 1_700_000_000) -> Snapshot {
        Snapshot(process: ProcessSummary(pid: 10, comm: "server"),
                 threads: [ThreadSnapshot(tid: 10, name: "server", state: "S")],
                 scan: ScanInfo(attach: .ptrace, startedAt: time), zombies: zombies, zombiesChecked: true)
    }

    func zombie(_ descriptor: UInt64, routine: String = "handle_request", at start: UInt64 = 0x5000,
                file: String? = "/src/server.c", line: Int? = 88, bytes: UInt64? = stack) -> ZombieThread {
        ZombieThread(descriptor: descriptor, startAddress: start,
                     startRoutine: Frame(pc: start, function: routine, module: "/usr/bin/server", file: file, line: line),
                     stackBytes: bytes)
    }

    func testNoZombies_noFindings() {
        XCTAssertEqual(ZombieDetector.detect(snapshot([])), [])
    }

    func testThreeZombies_threeWarningsWithRoutineDescriptorAndStack() throws {
        let findings = ZombieDetector.detect(snapshot([zombie(0x7f03), zombie(0x7f01), zombie(0x7f02)]))
        XCTAssertEqual(findings.count, 3)
        XCTAssertEqual(findings.map(\.kind), [.zombieThread, .zombieThread, .zombieThread])
        XCTAssertEqual(findings.map(\.severity), [.warning, .warning, .warning])
        XCTAssertEqual(findings.compactMap(\.zombie?.descriptor), [0x7f01, 0x7f02, 0x7f03], "ordered by descriptor")
        let first = try XCTUnwrap(findings.first)
        XCTAssertEqual(first.zombie?.startRoutine, "handle_request (server.c:88)")
        XCTAssertEqual(first.zombie?.stackBytes, Self.stack)
        XCTAssertEqual(first.threads, [], "the tid is not known: none is invented")
        XCTAssertTrue(first.summary.contains("handle_request (server.c:88)"), first.summary)
        XCTAssertTrue(first.summary.contains("8 MiB"), first.summary)
        XCTAssertTrue(first.advice?.contains("join") == true)
        XCTAssertEqual(Set(findings.map(\.id)).count, 3, "ids distinct")
    }

    func testIDs_stableAcrossScansAndOrder() {
        let a = ZombieDetector.detect(snapshot([zombie(0x7f01), zombie(0x7f02)], at: 1))
        let b = ZombieDetector.detect(snapshot([zombie(0x7f02), zombie(0x7f01), zombie(0x7f03)], at: 2))
        XCTAssertEqual(Set(a.map(\.id)).subtracting(b.map(\.id)), [])
        XCTAssertTrue(a.allSatisfy { $0.id.hasPrefix("zombie_thread-") })
    }

    func testFirstSeen_fromEarlierScans_elseThisScansStart() {
        let old = zombie(0x7f01), new = zombie(0x7f02)
        let findings = ZombieDetector.detect(snapshot([old, new], at: 500), firstSeen: [old.key: 100])
        XCTAssertEqual(findings.map(\.zombie?.firstSeen), [100, 500])
    }

    func testThirtyTwoZombies_areErrors() {
        let findings = ZombieDetector.detect(snapshot((0..<32).map { zombie(0x7f00 + UInt64($0), bytes: 64 << 10) }))
        XCTAssertEqual(Set(findings.map(\.severity)), [.error])
        let fewer = ZombieDetector.detect(snapshot((0..<31).map { zombie(0x7f00 + UInt64($0), bytes: 64 << 10) }))
        XCTAssertEqual(Set(fewer.map(\.severity)), [.warning])
    }

    func testQuarterGiBPinned_isAnError() {
        let findings = ZombieDetector.detect(snapshot([zombie(0x7f01, bytes: 128 << 20), zombie(0x7f02, bytes: 128 << 20)]))
        XCTAssertEqual(Set(findings.map(\.severity)), [.error])
    }

    func testStartRoutine_withoutDebugInfoOrSymbol() {
        XCTAssertEqual(ZombieDetector.startRoutine(zombie(1, file: nil, line: nil)), "handle_request")
        let unnamed = ZombieThread(descriptor: 1, startAddress: 0x4a0, startRoutine: Frame(pc: 0x4a0, module: "/usr/lib/libx.so"))
        XCTAssertEqual(ZombieDetector.startRoutine(unnamed), "0x4a0 (libx.so)")
        XCTAssertEqual(ZombieDetector.startRoutine(ZombieThread(descriptor: 1, startAddress: 0x4a0)), "0x4a0")
    }

    /// main() ending in pthread_exit (dispatchMain does) is the documented
    /// way to let the other threads run on, not a leak.
    func testInitialThreadExited_isNotReported() {
        let main = ZombieThread(tid: 10, descriptor: 0x7f00, startAddress: 0)
        XCTAssertTrue(ZombieDetector.detect(snapshot([main])).isEmpty)
        XCTAssertEqual(ZombieDetector.startRoutine(main), "initial thread")
        XCTAssertEqual(ZombieDetector.detect(snapshot([main, zombie(0x7f01, bytes: 1 << 20)])).count, 1)
    }

    func testByteCount() {
        XCTAssertEqual(ByteCount.text(Self.stack), "8 MiB")
        XCTAssertEqual(ByteCount.text(37 * Self.stack), "296 MiB")
        XCTAssertEqual(ByteCount.text(3 << 19), "1.5 MiB")
        XCTAssertEqual(ByteCount.text(3 << 29), "1.5 GiB")
        XCTAssertEqual(ByteCount.text(512), "512 B")
    }
}
