import XCTest
import ThreadwatchModel
@testable import ThreadwatchReport

final class TextRendererTests: XCTestCase {
    func testIdenticalStacksPrintOnceWithTids() {
        let frames = [Frame(pc: 0x10, function: "wait"), Frame(pc: 0x20, function: "worker")]
        var threads = (100..<300).map { ThreadSnapshot(tid: Int32($0), name: "pool", state: "S", frames: frames) }
        threads.append(ThreadSnapshot(tid: 5, name: "main", state: "S", frames: [Frame(pc: 0x30, function: "main")]))
        let snapshot = Snapshot(process: ProcessSummary(pid: 5, comm: "app"), threads: threads,
                                scan: ScanInfo(attach: .ptrace, startedAt: 0))
        let text = TextRenderer.render(snapshot, findings: [])
        XCTAssertTrue(text.contains("×200 threads \"pool\" S with this stack: tids 100-299"), text)
        XCTAssertEqual(text.components(separatedBy: " wait").count - 1, 1, "the shared stack prints once")
        XCTAssertTrue(text.contains("Thread 5 \"main\""))
    }

    func testTidRanges() {
        XCTAssertEqual(TextRenderer.tidRanges([5, 1, 2, 3, 7, 8]), "1-3,5,7-8")
    }
}
