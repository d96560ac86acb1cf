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
        // /proc/.../sched (when the thread last ran: "blocked since") is the
        // dearest file: read it only for threads asleep in a futex wait, and
        // now, before a stop of ours makes them run.
        let inFutex = (stat.state == "S" || stat.state == "D") && (wchan?.contains("futex") ?? false)
        let sched = inFutex ? SchedParser.parse(ProcFile.bytes(base + "/sched") ?? []) : [:]
        let syscall = withSyscall ? ProcFile.text(base + "/syscall").flatMap(SyscallParser.parse) : nil
        return KernelView(tid: tid, stat: stat, status: status, wchan: wchan, sched: sched, syscall: syscall)
    }
}

/// Reads every thread's /proc files on other OS threads, running ahead of
/// the stopper: the kernel takes tens of microseconds to make each file, and
/// on two cores that work overlaps with stopping and unwinding. A thread's
/// view is read before it is stopped, so it shows the thread's own state, not
/// our stop. With `readers` > 1, reader r takes the tids at r, r+readers, ...
final class KernelViewPrefetch: @unchecked Sendable {
    let tids: [Int32]
    private let views: UnsafeMutableBufferPointer<KernelView?>
    /// progress[r]: how many of reader r's tids are read.
    private let progress: [Counter]
    private let readers: Int
    private let index: [Int32: Int]
    private var threads: [pthread_t] = []
    private var joined = false

    init(pid: Int32, tids: [Int32], withSyscall: Bool, readers: Int = 1) {
        self.tids = tids
        self.readers = max(1, readers)
        views = .allocate(capacity: max(1, tids.count))
        views.initialize(repeating: nil)
        progress = (0..<max(1, readers)).map { _ in Counter() }
        index = Dictionary(uniqueKeysWithValues: tids.enumerated().map { ($1, $0) })
        for reader in 0..<self.readers {
            let job = PrefetchJob(pid: pid, tids: tids, withSyscall: withSyscall, views: views,
                                  reader: reader, stride: self.readers, owner: self)
            let unmanaged = Unmanaged.passRetained(job)
            var thread = pthread_t()
            if pthread_create(&thread, nil, { raw in
                let job = Unmanaged<PrefetchJob>.fromOpaque(raw!).takeRetainedValue()
                job.run()
                return nil
            }, unmanaged.toOpaque()) == 0 {
                threads.append(thread)
            } else {
                unmanaged.release()
                job.run()  // no thread to spare: read inline
            }
        }
    }

    deinit {
        waitForAll()
        views.deinitialize()
        views.deallocate()
    }

    fileprivate func markDone(reader: Int, count: Int) { progress[reader].value.store(count, ordering: .releasing) }

    /// Blocks until `tid`'s view has been read (so it may be stopped now).
    func waitFor(_ tid: Int32) {
        guard let i = index[tid] else { return }
        let reader = i % readers, needed = i / readers
        // The reader needs tens of microseconds a thread: sleep, don't spin.
        while progress[reader].value.load(ordering: .acquiring) <= needed { MonotonicClock.sleepMicros(20) }
    }

    /// `tid`'s view, once read (waits for the reader to get there).
    func view(_ tid: Int32) -> KernelView? {
        guard let i = index[tid] else { return nil }
        waitFor(tid)
        return views[i]
    }

    func waitForAll() {
        guard !joined else { return }
        for thread in threads { pthread_join(thread, nil) }
        joined = true
    }

    /// Every view read, once the readers finished.
    func all() -> [Int32: KernelView] {
        waitForAll()
        var result: [Int32: KernelView] = [:]
        result.reserveCapacity(tids.count)
        for (i, tid) in tids.enumerated() { if let view = views[i] { result[tid] = view } }
        return result
    }
}

/// An atomic counter with a home (Atomic is not copyable, so not an array element).
private final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

private final class PrefetchJob: @unchecked Sendable {
    let pid: Int32
    let tids: [Int32]
    let withSyscall: Bool
    let views: UnsafeMutableBufferPointer<KernelView?>
    let reader: Int
    let stride: Int
    unowned let owner: KernelViewPrefetch

    init(pid: Int32, tids: [Int32], withSyscall: Bool, views: UnsafeMutableBufferPointer<KernelView?>,
         reader: Int, stride: Int, owner: KernelViewPrefetch) {
        self.pid = pid
        self.tids = tids
        self.withSyscall = withSyscall
        self.views = views
        self.reader = reader
        self.stride = stride
        self.owner = owner
    }

    func run() {
        // Lowest priority: on a small machine this thread must not take a
        // CPU from the target; a waking target thread preempts it at once.
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tw_gettid()), 19)
        var done = 0
        for i in Swift.stride(from: reader, to: tids.count, by: stride) {
            views[i] = KernelView.read(pid: pid, tid: tids[i], withSyscall: withSyscall)
            done += 1
            owner.markDone(reader: reader, count: done)
        }
    }
}
