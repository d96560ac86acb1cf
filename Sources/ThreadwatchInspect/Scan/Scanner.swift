import ThreadwatchModel
#if canImport(Glibc)
import Glibc
#endif

public struct ScanOptions: Sendable {
    public enum Attach: Sendable { case ptrace, procOnly }

    public var attach: Attach = .ptrace
    /// Stop every thread at once for a point-in-time view.
    public var consistent = false
    /// Threads stopped at a time in the default mode.
    public var batchSize = 16
    /// Bytes of live stack copied from each stopped thread (from sp down to the red zone).
    public var stackBytes = 16 * 1024
    public var maxFrames = 128
    public var mode: ScanMode = .snapshot
    public var sourceLines: Symbolizer.SourceLines = .app

    public init() {}
}

/// Scans one process into a Snapshot. Everything runs on the tracer thread.
public enum Scanner {
    public static func scan(pid: Int32, options: ScanOptions = ScanOptions()) throws(ScanError) -> Snapshot {
        try TracerThread.run { () throws(ScanError) -> Snapshot in
            try ProcessScan(pid: pid, options: options).run()
        }
    }
}

/// Per-thread result of the stop (ptrace) or of /proc alone.
struct UserView {
    var fsBase: UInt64?
    var pc: UInt64?
    var sp: UInt64?
    var syscall: SyscallState?
    var frames: [RawFrame] = []
    var unwindError: String?
}

final class ProcessScan {
    let pid: Int32
    let options: ScanOptions
    private var warnings: [String] = []
    private var map = MemoryMap(mappings: [])
    private var mapReloaded = false

    init(pid: Int32, options: ScanOptions) {
        self.pid = pid
        self.options = options
    }

    func run() throws(ScanError) -> Snapshot {
        let startedAt = MonotonicClock.wallSeconds()
        let t0 = MonotonicClock.micros()
        var trace = PhaseTrace()
        let target = try TargetSelector.select(pid: pid)
        trace.mark("select")

        var attach: AttachMode = options.attach == .procOnly ? .procOnly : .ptrace
        if attach == .ptrace, target.tracerPid != 0 {
            let tracer = ProcFile.text("/proc/\(target.tracerPid)/comm")?.trimmingCharacters(in: "\n") ?? "?"
            warnings.append("pid \(pid) is already traced by pid \(target.tracerPid) (\(tracer)): scanned from /proc only, without stopping it; registers, fs_base and stacks of running threads are missing")
            attach = .procOnly
        }
        if attach == .procOnly { Courtesy.yieldCPU() }  // stops nothing: all of it is background work
        guard let mapBytes = ProcFile.bytes("/proc/\(pid)/maps") else { throw exited() }
        map = MemoryMap.parse(mapBytes)
        trace.mark("maps")

        guard case .success(let tids) = ProcFile.numericEntries("/proc/\(pid)/task") else { throw exited() }
        // Without stops the tracer thread mostly waits for /proc: read it
        // on two threads then. Under ptrace the second core is the stopper's.
        let prefetch = KernelViewPrefetch(pid: pid, tids: tids, withSyscall: attach == .procOnly,
                                          readers: attach == .procOnly ? 2 : 1)
        defer { prefetch.waitForAll() }

        let unwinder: StackUnwinder
        do {
            unwinder = try StackUnwinder(pid: pid, maxFrames: options.maxFrames)
        } catch {
            throw processGone() ? exited() : error
        }
        trace.mark("modules")
        var user: [Int32: UserView] = [:]
        var longestStop: Int?
        var kernel: [Int32: KernelView]
        if attach == .ptrace {
            var views: [Int32: KernelView] = [:]
            longestStop = try stopAndUnwind(tids: tids, unwinder: unwinder, prefetch: prefetch, kernel: &views, user: &user)
            kernel = views
        } else {
            // Unwind each thread as soon as the reader has its view.
            for tid in tids {
                if let view = prefetch.view(tid) { user[tid] = procOnlyView(view, unwinder: unwinder) }
            }
            kernel = prefetch.all()
        }
        trace.mark("stop+unwind")
        Courtesy.yieldCPU()  // every thread is running again

        if processGone() { throw exited() }

        let symbolizer = Symbolizer(unwinder: unwinder, sourceLines: options.sourceLines)
        var threads: [ThreadSnapshot] = []
        threads.reserveCapacity(kernel.count)
        for tid in kernel.keys.sorted() {
            guard let k = kernel[tid] else { continue }
            let u = user[tid] ?? UserView()
            threads.append(assemble(tid: tid, kernel: k, user: u, symbolizer: symbolizer))
        }
        trace.mark("symbolize")
        let model = GlibcLockModel(memory: RemoteMemory(pid: pid), threads: threads, dataSymbol: symbolizer.dataSymbol)
        threads = model.annotate(threads, readSchedNow: attach == .procOnly)
        threads = OnceOwners.infer(StackReferenceOwners.infer(threads, memory: RemoteMemory(pid: pid)))
        threads = LockFields.name(threads, symbolizer: symbolizer)
        trace.mark("locks")
        // The threadwatch runtime, when linked: fibers, runtime lock waits, lock order.
        let runtime = RuntimeModel.read(pid: pid, unwinder: unwinder, symbolizer: symbolizer, threads: threads)
        threads = runtime.threads
        if let warning = runtime.warning { warnings.append(warning) }
        trace.mark("runtime")
        // Lock owners that are not threads here: maybe a fork child's inheritance.
        let live = Set(threads.map(\.tid))
        let foreignOwners = Set(threads.compactMap { $0.blockedOn?.ownerTid }.filter { !live.contains($0) })
        let forkParent = foreignOwners.isEmpty ? nil
            : ForkParentReader.read(pid: pid, ppid: target.stat.ppid, owners: foreignOwners, sourceLines: options.sourceLines)
        // Exited threads nobody joined, from libthread_db: nothing is stopped.
        let zombies = ZombieCollector.scan(pid: pid, unwinder: unwinder, symbolizer: symbolizer) { [unowned self] address in
            if self.map.mapping(containing: address) == nil { self.reloadMapOnce() }
            return self.map.stackRegion(containing: address)
        }
        if let warning = zombies.warning { warnings.append(warning) }
        trace.mark("zombies")

        var process = ProcessSummary(
            pid: pid, ppid: target.stat.ppid, comm: target.stat.comm,
            exe: ProcFile.symlink("/proc/\(pid)/exe"),
            cmdline: (ProcFile.text("/proc/\(pid)/cmdline") ?? "").split(separator: "\0").map(String.init),
            state: target.stat.state,
            libc: LibcIdentifier.identify(map), startTime: target.stat.startTime)
        process.caughtSignals = ProcFile.text("/proc/\(pid)/status").flatMap(ProcessSignals.caught)
        process.posixTimers = ProcFile.text("/proc/\(pid)/timers").map(ProcessSignals.timerCount)
        let scan = ScanInfo(mode: options.mode, attach: attach, startedAt: startedAt,
                            durationMicros: MonotonicClock.micros() - t0,
                            longestStopMicros: longestStop, warnings: warnings)
        var snapshot = Snapshot(process: process, threads: threads, scan: scan, host: HostReader.read(),
                                zombies: zombies.zombies ?? [], zombiesChecked: zombies.zombies != nil)
        snapshot.forkParent = forkParent
        snapshot.fibers = runtime.fibers
        snapshot.runtime = runtime.state
        return snapshot
    }

    /// Gone, or a zombie whose threads have all exited.
    private func processGone() -> Bool {
        guard let bytes = ProcFile.bytes("/proc/\(pid)/stat"), let stat = TaskStat.parse(bytes) else { return true }
        return stat.state == "Z" || stat.state == "X"
    }

    private func exited() -> ScanError {
        ScanError(.processExited, pid: pid, "pid \(pid) exited during the scan: nothing left to inspect")
    }

    private func readKernelView(_ tid: Int32, withSyscall: Bool) -> KernelView? {
        KernelView.read(pid: pid, tid: tid, withSyscall: withSyscall)
    }

    private func stackEnd(_ sp: UInt64) -> UInt64? {
        if let mapping = map.mapping(containing: sp) { return mapping.end }
        reloadMapOnce()
        return map.mapping(containing: sp)?.end
    }

    /// A thread created after the first read of maps has its stack in a new
    /// mapping; read maps again, once per scan.
    private func reloadMapOnce() {
        guard !mapReloaded, let bytes = ProcFile.bytes("/proc/\(pid)/maps") else { return }
        mapReloaded = true
        map = MemoryMap.parse(bytes)
    }

    private func stopAndUnwind(tids: [Int32], unwinder: StackUnwinder, prefetch: KernelViewPrefetch,
                               kernel: inout [Int32: KernelView], user: inout [Int32: UserView]) throws(ScanError) -> Int {
        let policy: ThreadStopper.Policy = options.consistent ? .all : .batches(options.batchSize)
        let stopper = ThreadStopper(pid: pid, policy: policy, stackBytes: options.stackBytes,
                                    stackEnd: { [unowned self] sp in self.stackEnd(sp) })
        var captured: [Int32: UserView] = [:]
        let outcome = stopper.run(tids: tids, willStop: prefetch.waitFor, relist: { [pid] in
            guard case .success(let now) = ProcFile.numericEntries("/proc/\(pid)/task") else { return nil }
            return now
        }, onBatch: { captures in
            // The batch runs again: unwind from the copies.
            for capture in captures {
                let result = unwinder.unwind(capture)
                captured[capture.tid] = UserView(
                    fsBase: capture.registers.fsBase, pc: capture.registers.pc, sp: capture.registers.sp,
                    syscall: capture.registers.interruptedSyscall ?? SyscallState(number: nil),
                    frames: result.frames, unwindError: result.frames.isEmpty ? result.error : nil)
            }
        })
        kernel = prefetch.all()
        // Threads that appeared during the scan were not in the first listing.
        for tid in captured.keys where kernel[tid] == nil {
            if let view = readKernelView(tid, withSyscall: false) { kernel[tid] = view }
        }
        if outcome.interruptedBySignal != 0 {
            let name = outcome.interruptedBySignal == SIGINT ? "SIGINT" : outcome.interruptedBySignal == SIGTERM ? "SIGTERM" : "signal \(outcome.interruptedBySignal)"
            throw ScanError(.interrupted, pid: pid, "scan of pid \(pid) stopped by \(name): every thread was released and runs as before")
        }
        // A dying process refuses PTRACE_SEIZE with EPERM too: check that first.
        if processGone() { throw exited() }
        if outcome.stopped == 0 && outcome.permissionDenied > 0 {
            throw TargetSelector.permissionDenied(pid)
        }
        for tid in outcome.vanished where captured[tid] == nil {
            kernel[tid] = nil  // exited mid-scan: ESRCH is normal
        }
        for (tid, reason) in outcome.failures.sorted(by: { $0.key < $1.key }) {
            warnings.append("thread \(tid): \(reason); shown from /proc only")
            if let view = kernel[tid] {
                let syscall = ProcFile.text("/proc/\(pid)/task/\(tid)/syscall").flatMap(SyscallParser.parse) ?? view.syscall
                var procView = view
                procView.syscall = syscall
                captured[tid] = procOnlyView(procView, unwinder: unwinder)
            }
        }
        user = captured
        return outcome.longestStopMicros
    }

    private func procOnlyView(_ view: KernelView, unwinder: StackUnwinder) -> UserView {
        guard let syscall = view.syscall else {
            return UserView(unwindError: "no /proc/PID/task/TID/syscall")
        }
        guard let pc = syscall.pc, let sp = syscall.sp, pc != 0 else {
            return UserView(syscall: syscall, unwindError: syscall.isRunning ? "running in user space: no registers without a stop (--proc-only)" : nil)
        }
        // One copy of the stack top instead of a syscall per word the unwinder reads.
        let start = sp &- 128
        var count = options.stackBytes
        if let end = stackEnd(sp), end > start { count = Int(min(UInt64(count), end - start)) }
        let copy = RemoteMemory(pid: pid).read(start, count: count) ?? []
        let result = unwinder.unwind(tid: view.tid, pc: pc, sp: sp, stackAddress: start, stack: copy)
        return UserView(pc: pc, sp: sp, syscall: syscall, frames: result.frames,
                        unwindError: result.frames.isEmpty ? result.error : nil)
    }

    private func assemble(tid: Int32, kernel k: KernelView, user u: UserView, symbolizer: Symbolizer) -> ThreadSnapshot {
        var frames: [Frame] = []
        for (i, raw) in u.frames.enumerated() {
            var symbolized = symbolizer.frames(for: raw)
            // Past the top, only a signal frame is an activation.
            if i > 0, raw.isActivation, !symbolized.isEmpty { symbolized[0].signalTrampoline = true }
            frames += symbolized
        }
        let scheduling = Scheduling(
            lastCPU: k.stat.processor, policy: TaskStat.policyName(k.stat.policy),
            priority: k.stat.priority, nice: k.stat.nice, realtimePriority: k.stat.realtimePriority,
            voluntarySwitches: k.status.voluntarySwitches, involuntarySwitches: k.status.involuntarySwitches)
        let sp = u.sp ?? k.syscall?.sp
        var stack = sp.flatMap { map.stackRegion(containing: $0) }
        if stack == nil, sp != nil {
            reloadMapOnce()
            stack = sp.flatMap { map.stackRegion(containing: $0) }
        }
        return ThreadSnapshot(
            tid: tid, name: k.stat.comm, state: k.stat.state, scheduling: scheduling,
            fsBase: u.fsBase, pc: u.pc, sp: u.sp, stack: stack, syscall: u.syscall ?? k.syscall,
            wchan: k.wchan, signals: k.status.signals, schedStats: k.sched,
            frames: frames, unwindError: u.unwindError)
    }
}

enum HostReader {
    static func read() -> HostInfo {
        var name = [CChar](repeating: 0, count: 256)
        let hostname = gethostname(&name, name.count) == 0 ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
        var uts = utsname()
        let kernel: String? = uname(&uts) == 0
            ? withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } : nil
        let boot = ProcFile.text("/proc/sys/kernel/random/boot_id")?.trimmingCharacters(in: "\n")
        return HostInfo(hostname: hostname, kernel: kernel, bootID: boot)
    }
}
