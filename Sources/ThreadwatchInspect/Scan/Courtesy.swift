import CThreadwatch
#if canImport(Glibc)
import Glibc
#endif

/// threadwatch gives its target the CPU whenever no thread of the target is
/// stopped: on a 2-core machine a scan delays a target's 1 ms heartbeat by
/// a few ms through CPU contention alone (--proc-only, which stops nothing,
/// showed the same delays as ptrace in bench/snapshot_bench.py), and a
/// waking nice-0 thread preempts a nice-15 one at once. While threads are
/// stopped the stopper keeps its priority, or a busy target that outruns
/// it would stretch the stops. (On this VM the effect is inside the noise
/// of the heartbeat measurement; the cost is wall time on a busy machine.)
public enum Courtesy {
    /// Nice value for work that stops nothing.
    public static let background: Int32 = 15

    /// Lowers the calling thread's priority (nice is per thread on Linux, and
    /// threads it creates inherit it); never raises it.
    public static func yieldCPU(nice: Int32 = background) {
        let tid = id_t(tw_gettid())
        errno = 0
        let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid)
        if errno == 0, current >= nice { return }
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid, nice)
    }
}
