import XCTest
@testable import ThreadwatchInspect
import ThreadwatchModel

final class ProcParserTests: XCTestCase {
    func testTaskStat_commWithSpacesAndParens() throws {
        let text = "4058 (xfer (b) 1) S 4057 4057 100 0 -1 1077936192 10 0 0 0 1 2 0 0 20 0 3 0 12345 1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 -1 1 0 0 0 0 0\n"
        let stat = try XCTUnwrap(TaskStat.parse(text))
        XCTAssertEqual(stat.comm, "xfer (b) 1")
        XCTAssertEqual(stat.state, "S")
        XCTAssertEqual(stat.ppid, 4057)
        XCTAssertEqual(stat.priority, 20)
        XCTAssertEqual(stat.nice, 0)
        XCTAssertEqual(stat.startTime, 12345)
        XCTAssertEqual(stat.processor, 1)
        XCTAssertEqual(stat.policy, 0)
        XCTAssertFalse(stat.isKernelThread)
    }

    func testTaskStat_kernelThreadFlag() throws {
        let text = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 25 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"
        XCTAssertTrue(try XCTUnwrap(TaskStat.parse(text)).isKernelThread)
    }

    func testTaskStat_garbage() {
        XCTAssertNil(TaskStat.parse("garbage"))
        XCTAssertNil(TaskStat.parse(""))
    }

    func testSyscall_forms() throws {
        XCTAssertEqual(SyscallParser.parse("running\n"), SyscallState(number: nil))
        let blocked = try XCTUnwrap(SyscallParser.parse("202 0x5581c0 0x80 0x2 0x0 0x0 0x0 0x7ffd1000 0x7f0012ab\n"))
        XCTAssertEqual(blocked.number, 202)
        XCTAssertEqual(blocked.args, [0x5581c0, 0x80, 2, 0, 0, 0])
        XCTAssertEqual(blocked.sp, 0x7ffd1000)
        XCTAssertEqual(blocked.pc, 0x7f0012ab)
        let stopped = try XCTUnwrap(SyscallParser.parse("-1 0x7ffd1000 0x7f0012ab\n"))
        XCTAssertEqual(stopped.number, -1)
        XCTAssertEqual(stopped.pc, 0x7f0012ab)
        XCTAssertNil(SyscallParser.parse("202 0x1"))
    }

    func testStatus_selectedKeys() {
        let status = TaskStatus.parse("Name:\tworker\nTgid:\t100\nTracerPid:\t0\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000100\nSigBlk:\t0000000000010000\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n")
        XCTAssertEqual(status.tracerPid, 0)
        XCTAssertEqual(status.voluntarySwitches, 12)
        XCTAssertEqual(status.involuntarySwitches, 3)
        XCTAssertEqual(status.signals, SignalMasks(blocked: "0000000000010000", pending: "0000000000000000", sharedPending: "0000000000000100"))
    }

    func testMaps_stackRegionWithGuard() throws {
        let map = MemoryMap.parse("""
            55d0c0000000-55d0c0001000 r--p 00000000 fd:01 123 /usr/bin/app
            7f0000000000-7f0000001000 ---p 00000000 00:00 0
            7f0000001000-7f0000801000 rw-p 00000000 00:00 0
            7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
            """)
        XCTAssertEqual(map.mappings.count, 4)
        XCTAssertEqual(map.mappings[0].path, "/usr/bin/app")
        XCTAssertEqual(map.stackRegion(containing: 0x7f0000500000),
                       StackRegion(low: 0x7f0000001000, high: 0x7f0000801000, guardBytes: 0x1000))
        XCTAssertEqual(map.stackRegion(containing: 0x7ffd00000100)?.guardBytes, 0)
        XCTAssertNil(map.stackRegion(containing: 0x1000))
        XCTAssertEqual(map.mapping(containing: 0x55d0c0000fff)?.path, "/usr/bin/app")
        XCTAssertNil(map.mapping(containing: 0x55d0c0001000))
    }

    func testSched_selectedKeys() {
        let values = SchedParser.parse("worker (100, #threads: 3)\n---\nse.exec_start                                :        123456.789012\nse.vruntime : 5.0\nnr_switches                                  :                   42\n")
        XCTAssertEqual(values["se.exec_start"], 123456.789012)
        XCTAssertNil(values["nr_switches"], "only the keys threadwatch uses")
        XCTAssertNil(values["se.vruntime"])
    }

    func testPrimitiveClassification() {
        XCTAssertEqual(Primitive.classify("__pthread_mutex_lock@GLIBC_2.2.5"), .mutex)
        XCTAssertEqual(Primitive.classify("pthread_mutex_lock"), .mutex)
        XCTAssertNil(Primitive.classify("pthread_mutex_unlock"))
        XCTAssertEqual(Primitive.classify("___pthread_rwlock_wrlock"), .rwlockWrite)
        XCTAssertEqual(Primitive.classify("__pthread_rwlock_rdlock"), .rwlockRead)
        XCTAssertEqual(Primitive.classify("__pthread_clockjoin_ex"), .join)
        XCTAssertEqual(Primitive.classify("pthread_cond_wait@@GLIBC_2.3.2"), .condvar)
        XCTAssertEqual(Primitive.classify("_IO_flockfile"), .stdio)
        XCTAssertEqual(Primitive.classify("__new_sem_wait_slow64"), .semaphore)
        XCTAssertNil(Primitive.classify("transfer"))
    }

    func testSyscallDescription() {
        XCTAssertEqual(SyscallNames.describe(SyscallState(number: 202, args: [0x5581c0, 0x80, 2, 0, 0, 0])),
                       "futex(0x5581c0, FUTEX_WAIT_PRIVATE, 2)")
        XCTAssertEqual(SyscallNames.describe(SyscallState(number: 0, args: [7, 0x1000, 4096, 0, 0, 0])),
                       "read(7, 0x1000, 4096)")
        XCTAssertEqual(SyscallNames.describe(SyscallState(number: nil)), "running")
    }
}
