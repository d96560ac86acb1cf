#if canImport(Glibc)
import Glibc
#endif
import CThreadwatchRuntime

/// The fiber running on this thread, if any.
public enum Fiber {
    /// Lets the other runnable fibers of this carrier run first. In a pool,
    /// the fiber may resume on another thread.
    public static func yield() { twr_fiber_yield() }

    /// Id of the fiber running now (the one threadwatch shows), nil on a plain thread.
    public static var currentID: UInt64? {
        let id = twr_fiber_id(twr_fiber_current())
        return id == 0 ? nil : id
    }
}

private let fiberEntry: @convention(c) (UnsafeMutableRawPointer?) -> Void = { ClosureBox.runOnce($0) }

/// Boxes `body` as the fiber's argument and starts it with `create`; the
/// box is dropped again if the fiber could not be made.
private func startFiber(_ operation: String, _ name: String, _ body: @escaping () -> Void,
                        create: (UnsafeMutableRawPointer) -> OpaquePointer?) throws(RuntimeError) -> UInt64 {
    let box = ClosureBox(body).retainedPointer()
    guard let fiber = create(box) else {
        ClosureBox.runOnceDiscard(box)
        throw RuntimeError(operation: "\(operation)(\(name))", code: ENOMEM)
    }
    return twr_fiber_id(fiber)
}

/// Swift code on a fiber: its stack is what it gets (no growth), and a
/// pool fiber may move between threads at any yield or park, so do not use
/// Swift concurrency (async/await, task locals) inside one. Swift's dynamic
/// exclusivity checks keep per-thread state too: do not yield or park in
/// the middle of an access (`x.value += f()` where f yields).
public let defaultFiberStackBytes = 256 * 1024

/// M:N fibers: `carriers` threads share them, each with its own run queue,
/// and an idle carrier steals from a busy one. Freeing the pool waits for
/// every fiber spawned on it.
public final class FiberPool: @unchecked Sendable {  // twr_pool is thread-safe
    let raw: OpaquePointer

    public init(carriers: Int) throws(RuntimeError) {
        guard carriers > 0, carriers <= Int(TWR_MAX_CARRIERS), let pool = twr_pool_new(UInt32(carriers)) else {
            throw RuntimeError(operation: "twr_pool_new(\(carriers))", code: carriers > 0 ? ENOMEM : EINVAL)
        }
        raw = pool
    }

    deinit { twr_pool_free(raw) }

    /// Starts `body` as a fiber; returns its id.
    @discardableResult
    public func spawn(name: String = "fiber", stackBytes: Int = defaultFiberStackBytes,
                      _ body: @escaping @Sendable () -> Void) throws(RuntimeError) -> UInt64 {
        try startFiber("twr_pool_spawn", name, body) { twr_pool_spawn(raw, name, fiberEntry, $0, stackBytes) }
    }

    /// Until every fiber spawned so far has finished.
    public func wait() { twr_pool_wait(raw) }

    /// Fibers taken from another carrier's run queue so far.
    public var steals: UInt64 { twr_pool_steals(raw) }
}

/// One carrier: the thread that creates it runs its fibers in run(), and
/// they never move to another thread.
public final class FiberScheduler {
    let raw: OpaquePointer

    public init() throws(RuntimeError) {
        guard let sched = twr_sched_new() else { throw RuntimeError(operation: "twr_sched_new", code: ENOMEM) }
        raw = sched
    }

    deinit { twr_sched_free(raw) }

    @discardableResult
    public func spawn(name: String = "fiber", stackBytes: Int = defaultFiberStackBytes,
                      _ body: @escaping () -> Void) throws(RuntimeError) -> UInt64 {
        try startFiber("twr_fiber_create", name, body) { twr_fiber_create(raw, name, fiberEntry, $0, stackBytes) }
    }

    /// Runs fibers until all have finished.
    public func run() { twr_sched_run(raw) }
}

/// A mutex for fibers: a fiber that waits is parked and its carrier runs
/// others. Works between fibers of any carriers and pools; threads that are
/// not running a fiber must use RuntimeMutex.
public final class FiberMutex: @unchecked Sendable {  // the C guard orders carriers
    let raw: UnsafeMutablePointer<twr_fmutex>

    public init(file: StaticString = #fileID, line: UInt = #line) {
        raw = .allocate(capacity: 1)
        twr_fmutex_init_class(raw, lockClassName(file, line))
    }

    deinit {
        twr_fmutex_destroy(raw)
        raw.deallocate()
    }

    /// Where the C mutex lives: the address threadwatch reports for it.
    public var address: UInt { UInt(bitPattern: raw) }

    public func lock() {
        precondition(Fiber.currentID != nil, "FiberMutex.lock() outside a fiber: threads use RuntimeMutex")
        twr_fmutex_lock(raw)
    }

    public func unlock() { twr_fmutex_unlock(raw) }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
