import CThreadwatch

/// The ptrace requests a watch needs beyond a scan's seize/interrupt/detach.
/// Tracer thread only; thin and policy-free like `Tracer`.
extension Tracer {
    /// Fork, vfork, clone and exec events (ptrace(2), PTRACE_O_TRACE*).
    public static let watchOptions = UInt(TW_PTRACE_O_TRACEFORK | TW_PTRACE_O_TRACEVFORK
                                           | TW_PTRACE_O_TRACECLONE | TW_PTRACE_O_TRACEEXEC)
    /// A followed fork child: its exec only, never its own children.
    public static let childOptions = UInt(TW_PTRACE_O_TRACEEXEC)

    /// PTRACE_SEIZE with options: attaches without stopping the thread.
    public static func seize(_ tid: Int32, options: UInt) -> Result<Void, Errno> {
        result(tw_ptrace_seize_options(tid, options))
    }

    public static func setOptions(_ tid: Int32, _ options: UInt) -> Result<Void, Errno> {
        result(tw_ptrace_setoptions(tid, options))
    }

    /// Resumes a stopped tracee, delivering `signal` (0: none).
    public static func cont(_ tid: Int32, signal: Int32 = 0) -> Result<Void, Errno> {
        result(tw_ptrace_cont(tid, signal))
    }

    /// Leaves a group-stopped tracee stopped but lets SIGCONT and other
    /// events wake it (ptrace(2), PTRACE_LISTEN; SEIZE only).
    public static func listen(_ tid: Int32) -> Result<Void, Errno> {
        result(tw_ptrace_listen(tid))
    }

    /// The new task's tid at a fork/vfork/clone stop; the former tid at an exec stop.
    public static func eventMessage(_ tid: Int32) -> Result<Int32, Errno> {
        var message: UInt = 0
        let rc = tw_ptrace_geteventmsg(tid, &message)
        return rc == 0 ? .success(Int32(truncatingIfNeeded: message)) : .failure(Errno(-rc))
    }

    private static func result(_ rc: Int32) -> Result<Void, Errno> {
        rc == 0 ? .success(()) : .failure(Errno(-rc))
    }
}
