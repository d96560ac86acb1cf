import CThreadwatch
import Synchronization
import ThreadwatchModel
#if canImport(Glibc)
import Glibc
#endif

/// Per-thread kernel view read from /proc without stopping anything.
struct KernelView: Sendable {
    var tid: Int32
    var stat: TaskStat
    var status: TaskStatus
    var wchan: String?
    var sched: [String: Double]
    var syscall: SyscallState?

    static func read(pid: Int32, tid: Int32, withSyscall: Bool) -> KernelView? {
        let base = "/proc/\(pid)/task/\(tid)"
        guard let statBytes = ProcFile.bytes(base + "/stat"), let stat = TaskStat.parse(statBytes) else { return nil }
        let status = TaskStatus.parse(ProcFile.bytes(base + "/status") ?? [])
        let wchan = ProcFile.text(base + "/wchan").flatMap { $0.isEmpty || $0 == "0" ? nil : $0 }
        let sched = SchedParser.parse(ProcFile.bytes(base + "/sched") ?? [])
        let syscall = withSyscall ? ProcFile.text(base + "/syscall").flatMap(SyscallParser.parse) : nil
        return KernelView(tid: tid, stat: stat, status: status, wchan: wchan, sched: sched, syscall: syscall)
    }
}

/// Reads every thread's /proc files on a second OS thread, running ahead of
/// the stopper: the kernel takes tens of microseconds to make each file, and
/// on two cores that work overlaps with stopping and unwinding. A thread's
/// view is read before it is stopped, so it shows the thread's own state, not
/// our stop.
final class KernelViewPrefetch: @unchecked Sendable {
    let tids: [Int32]
    private let views: UnsafeMutableBufferPointer<KernelView?>
    private let done = Atomic<Int>(0)
    private let index: [Int32: Int]
    private var thread = pthread_t()
    private var joined = false

    init(pid: Int32, tids: [Int32], withSyscall: Bool) {
        self.tids = tids
        views = .allocate(capacity: max(1, tids.count))
        views.initialize(repeating: nil)
        index = Dictionary(uniqueKeysWithValues: tids.enumerated().map { ($1, $0) })
        let job = PrefetchJob(pid: pid, tids: tids, withSyscall: withSyscall, views: views, done: self)
        let unmanaged = Unmanaged.passRetained(job)
        if pthread_create(&thread, nil, { raw in
            let job = Unmanaged<PrefetchJob>.fromOpaque(raw!).takeRetainedValue()
            job.run()
            return nil
        }, unmanaged.toOpaque()) != 0 {
            unmanaged.release()
            job.run()  // no second thread: read inline
            joined = true
        }
    }

    deinit {
        waitForAll()
        views.deinitialize()
        views.deallocate()
    }

    fileprivate func markDone(_ count: Int) { done.store(count, ordering: .releasing) }

    /// Blocks until `tid`'s view has been read (so it may be stopped now).
    func waitFor(_ tid: Int32) {
        guard let i = index[tid] else { return }
        while done.load(ordering: .acquiring) <= i { sched_yield() }
    }

    func waitForAll() {
        guard !joined else { return }
        pthread_join(thread, nil)
        joined = true
    }

    /// Every view read, once the reader finished.
    func all() -> [Int32: KernelView] {
        waitForAll()
        var result: [Int32: KernelView] = [:]
        result.reserveCapacity(tids.count)
        for (i, tid) in tids.enumerated() { if let view = views[i] { result[tid] = view } }
        return result
    }
}

private final class PrefetchJob: @unchecked Sendable {
    let pid: Int32
    let tids: [Int32]
    let withSyscall: Bool
    let views: UnsafeMutableBufferPointer<KernelView?>
    unowned let done: KernelViewPrefetch

    init(pid: Int32, tids: [Int32], withSyscall: Bool, views: UnsafeMutableBufferPointer<KernelView?>, done: KernelViewPrefetch) {
        self.pid = pid
        self.tids = tids
        self.withSyscall = withSyscall
        self.views = views
        self.done = done
    }

    func run() {
        // Lowest priority: on a small machine this thread must not take a
        // CPU from the target; a waking target thread preempts it at once.
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tw_gettid()), 19)
        for (i, tid) in tids.enumerated() {
            views[i] = KernelView.read(pid: pid, tid: tid, withSyscall: withSyscall)
            done.markDone(i + 1)
        }
    }
}
