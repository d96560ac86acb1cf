import XCTest
@testable import ThreadwatchInspect
import ThreadwatchModel

/// OnceOwners on hand-built stacks.
final class OnceOwnersTests: XCTestCase {
    func f(_ name: String) -> Frame { Frame(pc: 0x10, function: name) }

    func waiter(_ tid: Int32, _ frames: [String]) -> ThreadSnapshot {
        var lock = BlockedOn(kind: .futex, address: 0x5000)
        lock.oneTimeInit = true
        lock.ownerUnrecorded = true
        return ThreadSnapshot(tid: tid, name: "t\(tid)", state: "S", frames: frames.map(f), blockedOn: lock)
    }

    func thread(_ tid: Int32, _ frames: [String]) -> ThreadSnapshot {
        ThreadSnapshot(tid: tid, name: "t\(tid)", state: "S", frames: frames.map(f))
    }

    func testCallOnce_requesterSkipsLibraryWrappers() {
        let site = OnceOwners.site(["__pthread_once_slow", "__gthread_once(int*, void (*)())",
                                    "void std::call_once<void (&)()>(std::once_flag&, void (&)())", "Registry::load()", "main"].map(f))
        XCTAssertEqual(site?.requester, "Registry::load()")
    }

    func testOwnerIsTheOnlyOtherThreadInsideTheRequester() {
        let threads = [waiter(1, ["syscall", "__cxa_guard_acquire", "config()", "plugin()"]),
                       thread(2, ["__lll_lock_wait", "pthread_mutex_lock", "Config::Config()", "config()", "start"]),
                       thread(3, ["epoll_wait", "loop()"])]
        XCTAssertEqual(OnceOwners.infer(threads)[0].blockedOn?.ownerTid, 2)
    }

    func testTwoThreadsInsideTheRequester_ownerUnknown() {
        let threads = [waiter(1, ["syscall", "__cxa_guard_acquire", "config()"]),
                       thread(2, ["Config::Config()", "config()"]), thread(3, ["read", "config()"])]
        XCTAssertNil(OnceOwners.infer(threads)[0].blockedOn?.ownerTid)
    }

    func testOtherWaitersForTheSameStatic_areNotOwners() {
        let threads = [waiter(1, ["syscall", "__cxa_guard_acquire", "config()"]),
                       waiter(2, ["syscall", "__cxa_guard_acquire", "config()"]),
                       thread(3, ["Config::Config()", "config()"])]
        XCTAssertEqual(OnceOwners.infer(threads).map { $0.blockedOn?.ownerTid }, [3, 3, nil])
    }

    func testRecursiveInitialisation_ownsItself() {
        let threads = [waiter(1, ["__pthread_once_slow", "get_table", "build_table", "__pthread_once_slow", "get_table", "main"])]
        XCTAssertEqual(OnceOwners.infer(threads)[0].blockedOn?.ownerTid, 1)
    }
}

/// LockFields: the program's part of a DWARF member path.
final class LockFieldsTests: XCTestCase {
    func testProgramPart_stopsAtGlibcInsides() {
        XCTAssertEqual(LockFields.programPart("accounts[1].lock.__data.__lock"), "accounts[1].lock")
        XCTAssertEqual(LockFields.programPart("forks[2]"), "forks[2]")
        XCTAssertNil(LockFields.programPart("m.__data.__lock"), "a plain global keeps its symbol")
        XCTAssertNil(LockFields.programPart("counter"))
    }
}

/// Which glibc primitive a frame name means.
final class PrimitiveTests: XCTestCase {
    func testGlibcNamesOnly() {
        XCTAssertEqual(Primitive.classify("sem_wait"), .semaphore)
        XCTAssertEqual(Primitive.classify("__new_sem_wait_slow64.constprop.0"), .semaphore)
        XCTAssertNil(Primitive.classify("sem_waiter"), "a program's own function")
        XCTAssertEqual(Primitive.classify("__pthread_once_slow"), .once)
        XCTAssertEqual(Primitive.classify("__cxa_guard_acquire"), .once)
        XCTAssertEqual(Primitive.classify("pthread_barrier_wait"), .barrier)
        XCTAssertEqual(Primitive.classify("_RNvMNtNtNtNtCsjrHSEGnQ3l9_3std3sys4sync6rwlock5futexNtB2_6RwLock15write_contended"), .rustRwLockWrite)
    }
}
