/// A thread that returned but was never joined, nor created detached: glibc
/// keeps its descriptor and its whole stack block mapped until pthread_join
/// (nptl/pthread_join_common.c frees them there).
public struct ZombieThread: Sendable, Equatable {
    /// The kernel tid it had, when known. Usually nil: the kernel clears
    /// `pd->tid` as the thread exits (CLONE_CHILD_CLEARTID, kernel/fork.c
    /// mm_release), and nothing else in the process records it.
    public var tid: Int32?
    /// Its `struct pthread`: the `pthread_t` the program still holds.
    public var descriptor: UInt64
    /// The function given to pthread_create (0 for the initial thread).
    public var startAddress: UInt64
    /// That function, named (file:line when debug info exists).
    public var startRoutine: Frame?
    /// Address space its stack block keeps mapped (stack, guard, descriptor
    /// and static TLS); nil when its mapping was not found.
    public var stackBytes: UInt64?

    public init(tid: Int32? = nil, descriptor: UInt64, startAddress: UInt64, startRoutine: Frame? = nil,
                stackBytes: UInt64? = nil) {
        self.tid = tid
        self.descriptor = descriptor
        self.startAddress = startAddress
        self.startRoutine = startRoutine
        self.stackBytes = stackBytes
    }

    /// Names this zombie across scans of one process: its descriptor cannot
    /// be reused until it is joined, and the start routine guards against a
    /// reuse between two scans.
    public var key: String {
        "0x" + String(descriptor, radix: 16) + "-0x" + String(startAddress, radix: 16)
    }
}
