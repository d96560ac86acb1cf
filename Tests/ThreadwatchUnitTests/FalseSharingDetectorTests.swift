import ThreadwatchDetect
import ThreadwatchModel
import XCTest

final class FalseSharingDetectorTests: XCTestCase {
    func testEffectiveAddress_ripRelative_countsFromTheNextInstruction() {
        let op = MemoryOperand(base: MemoryOperand.ipRegister, displacement: 0x100, reads: true, writes: true, size: 8)
        XCTAssertEqual(op.effectiveAddress(pc: 0x1000, length: 7) { _ in nil }, 0x1107)
    }

    func testEffectiveAddress_baseIndexScale() {
        let op = MemoryOperand(base: 0, index: 2, scale: 8, displacement: -8, reads: false, writes: true, size: 8)
        XCTAssertEqual(op.effectiveAddress(pc: 0, length: 4) { $0 == 0 ? 0x5000 : 3 }, 0x5000 + 24 - 8)
        let tls = MemoryOperand(base: nil, displacement: 0x10, segment: .fs, reads: true, writes: false, size: 8)
        XCTAssertNil(tls.effectiveAddress(pc: 0, length: 9) { _ in 0 })
    }

    private func lines(_ accesses: [MemoryAccess]) -> [UInt64: CacheLineStats] {
        var a = CacheLineAggregator()
        accesses.forEach { a.add($0) }
        return a.lines
    }

    func testCandidates_adjacentWriters_areFalseSharing_sameBytesAreNot() {
        let adjacent = lines((0..<4).map { MemoryAccess(tid: Int32(10 + $0), pc: 0x40, address: 0x1000 + UInt64($0 * 8), size: 8, kind: .write) })
        XCTAssertEqual(FalseSharingDetector.candidates(adjacent).map(\.line), [0x1000])
        let same = lines((0..<4).map { MemoryAccess(tid: Int32(10 + $0), pc: 0x40, address: 0x2000, size: 8, kind: .readWrite) })
        XCTAssertTrue(FalseSharingDetector.candidates(same).isEmpty)
        XCTAssertEqual(FalseSharingDetector.trueSharing(same).map(\.line), [0x2000])
        let padded = lines((0..<4).map { MemoryAccess(tid: Int32(10 + $0), pc: 0x40, address: 0x3000 + UInt64($0 * 64), size: 8, kind: .write) })
        XCTAssertTrue(FalseSharingDetector.candidates(padded).isEmpty)
    }

    func testDetect_reportsOnlyWhatTheWatchpointsConfirm() throws {
        let sampled = lines([MemoryAccess(tid: 1, pc: 0x40, address: 0x1000, size: 8, kind: .write),
                             MemoryAccess(tid: 2, pc: 0x50, address: 0x1008, size: 8, kind: .read)])[0x1000]!
        XCTAssertEqual(FalseSharingDetector.watchSlots(sampled), [WatchSlot(offset: 0, kind: .write), WatchSlot(offset: 8, kind: .readWrite)])
        let confirmed = WatchedLine(sampled: sampled, counts: [1: [0: WatchCount(writes: 500)], 2: [8: WatchCount(accesses: 900)]],
                                    windowMillis: 100, symbol: "g_config")
        let findings = FalseSharingDetector.detect([confirmed], candidatesChecked: 1, samples: 10)
        XCTAssertEqual(findings.count, 1)
        let detail = try XCTUnwrap(findings.first?.falseSharing)
        XCTAssertEqual(detail.writers.map(\.tid), [1, 2])
        XCTAssertEqual(detail.writers.map(\.writes), [500, 0])
        XCTAssertEqual(detail.writers.map(\.reads), [0, 900])
        XCTAssertEqual(detail.writers.map(\.offsets), [[0], [8]])
        let quiet = WatchedLine(sampled: sampled, counts: [1: [0: WatchCount(writes: 500)], 2: [8: WatchCount(accesses: 0)]],
                                windowMillis: 100, symbol: nil)
        XCTAssertTrue(FalseSharingDetector.detect([quiet], candidatesChecked: 1, samples: 10).isEmpty)
    }
}
