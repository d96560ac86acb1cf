/// What was copied from one stopped thread: enough to unwind it after it
/// runs again (copy-then-unwind, as perf does for its samples).
public struct ThreadCapture: Sendable {
    public var tid: Int32
    public var registers: RegisterSet
    /// Target address of `stack[0]`.
    public var stackAddress: UInt64
    public var stack: [UInt8]
    /// Interrupt request to detach: an upper bound of the time it stood still.
    public var stopMicros: Int
    /// It was (or was entering) a job-control stop; detaching leaves it there.
    public var groupStopped: Bool
}
