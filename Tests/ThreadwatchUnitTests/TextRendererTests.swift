import Foundation
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

    func testGroupName() {
        XCTAssertEqual(TextRenderer.groupName(["pool", "pool"]), "pool")
        XCTAssertEqual(TextRenderer.groupName(["idle-0", "idle-1", "idle-12"]), "idle-*")
        XCTAssertEqual(TextRenderer.groupName(["a", "b"]), "a, ...")
    }

    func testTidRanges() {
        XCTAssertEqual(TextRenderer.tidRanges([5, 1, 2, 3, 7, 8]), "1-3,5,7-8")
    }
}

final class ReportStreamTests: XCTestCase {
    /// The streamed JSON decodes back into the same ReportV1 value.
    func testStreamedJSON_roundTripsThroughCodable() throws {
        var thread = ThreadSnapshot(tid: 7, name: "a \"quoted\"\n\tname", state: "S", fsBase: 0x7f00, pc: 0x10, sp: 0x20,
                                    stack: StackRegion(low: 0x1000, high: 0x2000, guardBytes: 4096),
                                    syscall: SyscallState(number: 202, args: [1, 2, 3, 4, 5, 6]),
                                    frames: [Frame(pc: 0x10, function: "f", offset: 4, module: "/lib/x.so", file: "x.c", line: 3, inlined: true)],
                                    blockedOn: BlockedOn(kind: .mutex, address: 0x40, symbol: "m", ownerTid: nil))
        thread.scheduling = Scheduling(lastCPU: 1, policy: "SCHED_OTHER", priority: 20, nice: 0, realtimePriority: 0)
        let snapshot = Snapshot(process: ProcessSummary(pid: 5, comm: "app", cmdline: ["app", "-x"]), threads: [thread],
                                scan: ScanInfo(attach: .ptrace, startedAt: 0, durationMicros: 5, warnings: ["w"]),
                                host: HostInfo(hostname: "h", kernel: "6.1", bootID: "b"))
        let finding = Finding(id: "deadlock-1", kind: .deadlock, severity: .error, summary: "s", threads: [7],
                              cycle: [CycleEdge(tid: 7, lock: BlockedOn(kind: .mutex, address: 0x40), holderTid: 8)],
                              advice: "a", evidence: ["n": .int(1), "l": .list([.string("x"), .bool(true)])])
        var forkFinding = Finding(id: "fork_hazard-1", kind: .forkHazard, severity: .warning, summary: "f", threads: [7])
        forkFinding.fork = ForkInfo(parentPid: 5, childPid: 9, execFollowed: true,
                                    inheritedLocks: [BlockedOn(kind: .mutex, address: 0x40, ownerTid: 8)],
                                    forkingTid: 7, threadsAtFork: 3)
        var sharing = Finding(id: "false_sharing-1", kind: .falseSharing, severity: .warning, summary: "s", threads: [7, 8])
        sharing.falseSharing = FalseSharingDetail(
            cacheLine: 0x1000, symbol: "g_stats",
            writers: [.init(tid: 7, offsets: [0, 8], writes: 10, reads: 2, pc: Frame(pc: 0x10, function: "bump"))],
            method: "sampled+watchpoint")
        var fiberDeadlock = Finding(id: "deadlock-2", kind: .deadlock, severity: .error, summary: "d", threads: [7])
        fiberDeadlock.fibers = [1, 2]
        var withFibers = snapshot
        withFibers.fibers = [FiberSnapshot(id: 1, name: "a", state: .blocked, carrierTid: 7)]
        let report = ReportBuilder.build(withFibers, findings: [finding, forkFinding, sharing, fiberDeadlock])
        var writer = JSONStreamWriter(fd: nil)
        report.write(to: &writer)
        let decoded = try JSONDecoder().decode(ReportV1.self, from: Data(writer.buffer))
        XCTAssertEqual(decoded, report)
        XCTAssertTrue(writer.text.contains("\"owner_tid\": null"), "an unknown owner is written as null")
    }
}
