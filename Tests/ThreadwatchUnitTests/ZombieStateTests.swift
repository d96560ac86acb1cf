import Foundation
import XCTest
import ThreadwatchModel
@testable import ThreadwatchInspect

/// First-seen times kept across scans, and which libthread_db zombies count.
final class ZombieStateTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tw-firstseen-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    /// A snapshot of this test process (alive, so pruning keeps its file).
    func snapshot(_ descriptors: [UInt64], at time: Double, checked: Bool = true) -> Snapshot {
        let pid = getpid()
        let stat = ProcFile.bytes("/proc/\(pid)/stat").flatMap(TaskStat.parse)
        return Snapshot(process: ProcessSummary(pid: pid, comm: "test", startTime: stat?.startTime),
                        threads: [], scan: ScanInfo(attach: .ptrace, startedAt: time),
                        host: HostInfo(hostname: nil, kernel: nil, bootID: "boot-1"),
                        zombies: descriptors.map { ZombieThread(descriptor: $0, startAddress: 0x400) },
                        zombiesChecked: checked)
    }

    func key(_ descriptor: UInt64) -> String { ZombieThread(descriptor: descriptor, startAddress: 0x400).key }

    func testFirstSeen_keptForOldZombies_newOnesAtScanTime_joinedOnesForgotten() {
        let store = ZombieFirstSeen(directory: dir.path)
        let first = store.update(snapshot([1, 2], at: 100))
        XCTAssertNil(first.warning)
        XCTAssertEqual(first.firstSeen, [key(1): 100, key(2): 100])

        let second = store.update(snapshot([2, 3], at: 200))
        XCTAssertEqual(second.firstSeen, [key(2): 100, key(3): 200])

        // 1 was joined in between: seen again later, it is new again.
        let third = store.update(snapshot([1, 2, 3], at: 300))
        XCTAssertEqual(third.firstSeen, [key(1): 300, key(2): 100, key(3): 200])
    }

    func testNoZombies_removesTheFile_notCheckedLeavesItAlone() throws {
        let store = ZombieFirstSeen(directory: dir.path)
        _ = store.update(snapshot([1], at: 100))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).count, 1)

        _ = store.update(snapshot([], at: 200, checked: false))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).count, 1, "unknown is not none")

        _ = store.update(snapshot([], at: 300))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testOtherBootsAndExitedProcesses_arePruned() throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for stale in ["zombies-boot-0-\(getpid())-1", "zombies-boot-1-999999999-5", "unrelated"] {
            try "x 1\n".write(to: dir.appendingPathComponent(stale), atomically: true, encoding: .utf8)
        }
        _ = ZombieFirstSeen(directory: dir.path).update(snapshot([1], at: 100))
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(left.count, 2, "\(left)")
        XCTAssertTrue(left.contains("unrelated"))
        XCTAssertTrue(left.contains { $0.hasPrefix("zombies-boot-1-\(getpid())-") })
    }

    func testUnwritableDirectory_warnsAndUsesScanTime() {
        let update = ZombieFirstSeen(directory: "/dev/null/state").update(snapshot([1], at: 100))
        XCTAssertEqual(update.firstSeen, [key(1): 100])
        XCTAssertTrue(update.warning?.hasPrefix("could not keep zombie first-seen times in /dev/null/state") == true,
                      update.warning ?? "no warning")
    }

    func testParse_skipsDamage() {
        XCTAssertEqual(ZombieFirstSeen.parse("# c\n0x1-0x2 12.5\nbad\n0x3-0x4 nan\n0x5-0x6 -1\n0x7-0x8 9 9\n"), ["0x1-0x2": 12.5])
    }

    // MARK: which listed threads are zombies

    func thread(lid: Int32, start: UInt64 = 0x400, state: ThreadDB.Thread.State = .zombie) -> ThreadDB.Thread {
        ThreadDB.Thread(lid: lid, state: state, descriptor: 0x7f00_6c0, startRoutine: start, stackBase: 0, stackSize: 0)
    }

    func testSettled_onlyOnceTheKernelClearedTheTid() {
        XCTAssertTrue(ZombieCollector.isSettled(thread(lid: 10), pid: 10), "td_thr_get_info reports the pid for a cleared tid")
        XCTAssertFalse(ZombieCollector.isSettled(thread(lid: 11), pid: 10), "still exiting")
        XCTAssertTrue(ZombieCollector.isSettled(thread(lid: 10, start: 0), pid: 10), "initial thread")
    }

    func testStackBytes_wholeBlockWithGuard_elseUnknown() {
        let block = StackRegion(low: 0x7f00_0000, high: 0x7f80_0000, guardBytes: 4096)
        XCTAssertEqual(ZombieCollector.stackBytes(thread(lid: 10)) { _ in block }, (8 << 20) + 4096)
        XCTAssertNil(ZombieCollector.stackBytes(thread(lid: 10)) { _ in StackRegion(low: 0, high: 0x1000, guardBytes: 0) })
        XCTAssertNil(ZombieCollector.stackBytes(thread(lid: 10)) { _ in nil })
        XCTAssertNil(ZombieCollector.stackBytes(thread(lid: 10, start: 0)) { _ in block }, "initial thread: not a stack block")
    }
}
