#if canImport(Glibc)
import Glibc
#endif
import CThreadwatchRuntime

/// A thread in the runtime's registry: named, with its start routine,
/// joinable or detached, and its exit time, so threadwatch reports a
/// never-joined one exactly.
public final class RuntimeThread: @unchecked Sendable {  // join/detach are the owner's, once
    private var handle = twr_thread()
    private var settled = false

    /// Starts `body` on a new thread named `name` (at most 15 bytes are kept).
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(RuntimeError) {
        let box = ClosureBox(body).retainedPointer()
        let rc = twr_thread_create(&handle, name, { raw in
            ClosureBox.runOnce(raw)
            return nil
        }, box)
        if rc != 0 {
            ClosureBox.runOnceDiscard(box)
            throw RuntimeError(operation: "twr_thread_create(\(name))", code: rc)
        }
    }

    /// Waits for the thread to finish. Once: a second join or a join after
    /// detach is a programming error.
    public func join() throws(RuntimeError) {
        precondition(!settled, "RuntimeThread joined or detached twice")
        settled = true
        let rc = twr_thread_join(&handle, nil)
        if rc != 0 { throw RuntimeError(operation: "twr_thread_join", code: rc) }
    }

    /// Lets it run on its own; its resources go when it exits.
    public func detach() throws(RuntimeError) {
        precondition(!settled, "RuntimeThread joined or detached twice")
        settled = true
        let rc = twr_thread_detach(&handle)
        if rc != 0 { throw RuntimeError(operation: "twr_thread_detach", code: rc) }
    }
}

extension ClosureBox {
    /// Drops a box whose closure will never run (the thread was not created).
    static func runOnceDiscard(_ raw: UnsafeMutableRawPointer) {
        Unmanaged<ClosureBox>.fromOpaque(raw).release()
    }
}

extension RuntimeThread {
    /// The calling thread's kernel tid (as threadwatch and /proc show it);
    /// the thread is adopted into the registry on first use.
    public static var currentTID: Int32 { twr_self().pointee.tid }
}
