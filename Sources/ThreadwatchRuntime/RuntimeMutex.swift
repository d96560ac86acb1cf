import CThreadwatchRuntime

/// The runtime's futex mutex (three-state, holder tid recorded, lock order
/// tracked per class), for Swift. Its class is where it was created, like
/// `twr_mutex_init` in C, so order inversions name that line.
///
/// The runtime records where a lock was taken (the address twr_mutex_lock
/// returns to): that must be the caller's code, not this wrapper. Optimised,
/// lock() is inlined into the caller. Unoptimised it is a call of its own,
/// with a frame pointer, and asks the runtime for its caller's address.
public final class RuntimeMutex: @unchecked Sendable {  // the C mutex is the synchronisation
    @usableFromInline let raw: UnsafeMutablePointer<twr_mutex>

    public init(priorityInheritance: Bool = false, file: StaticString = #fileID, line: UInt = #line) {
        raw = .allocate(capacity: 1)
        twr_mutex_init_class(raw, lockClassName(file, line), priorityInheritance ? UInt32(TWR_MUTEX_PI) : 0)
    }

    deinit {
        twr_mutex_destroy(raw)
        raw.deallocate()
    }

    /// Where the C mutex lives: the address threadwatch reports for it.
    public var address: UInt { UInt(bitPattern: raw) }

    @inlinable @inline(__always) public func lock() {
        if siteIsCaller() { twr_mutex_lock_from_caller(raw) } else { twr_mutex_lock(raw) }
    }

    @inlinable @inline(__always) public func unlock() { twr_mutex_unlock(raw) }

    /// True when it was free and is now held.
    @inlinable @inline(__always) public func tryLock() -> Bool {
        (siteIsCaller() ? twr_mutex_trylock_from_caller(raw) : twr_mutex_trylock(raw)) == 0
    }

    /// The site recorded is in withLock's caller only in an optimised build.
    @inlinable @inline(__always) public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// Whether this code was compiled unoptimised (decided where the body is
/// compiled, so an inlined lock() asks its caller's configuration). A
/// function of its own so the constant branch draws no warning.
@usableFromInline @inline(__always) func siteIsCaller() -> Bool { _isDebugAssertConfiguration() }

/// Condition variable over a RuntimeMutex (the runtime's sequence futex).
public final class RuntimeCondition: @unchecked Sendable {
    let raw: UnsafeMutablePointer<twr_cond>

    public init() {
        raw = .allocate(capacity: 1)
        twr_cond_init(raw)
    }

    deinit { raw.deallocate() }

    /// Releases `mutex`, sleeps until signalled (or spuriously), takes it again.
    public func wait(_ mutex: RuntimeMutex) { twr_cond_wait(raw, mutex.raw) }
    public func signal() { twr_cond_signal(raw) }
    public func broadcast() { twr_cond_broadcast(raw) }
}

extension RuntimeMutex {
    /// Lock class pairs taken in both orders so far in this process.
    public static var orderInversions: UInt32 { twr_lock_inversions() }
}
