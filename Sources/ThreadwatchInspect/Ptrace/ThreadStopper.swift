import CThreadwatch

/// Stops threads of one process with PTRACE_SEIZE + PTRACE_INTERRUPT, copies
/// their registers and live stack top, and detaches them again.
///
/// `.batches(n)`: n threads at a time, each detached the moment its copy is
/// taken, so no thread stands still for more than its own stop and copy.
/// `.all`: every thread held until all are copied (a point-in-time view).
///
/// Every stop is undone on every path: `run` releases all threads before it
/// returns or throws, and polls threadwatch's SIGINT/SIGTERM flag.
final class ThreadStopper {
    enum Policy: Equatable {
        case batches(Int)
        case all
    }

    struct Outcome {
        var longestStopMicros = 0
        var stopped = 0
        var vanished: Set<Int32> = []
        var failures: [Int32: String] = [:]
        var permissionDenied = 0
        var interruptedBySignal: Int32 = 0
    }

    private struct InFlight {
        var interruptedAt: Int
    }

    private struct Held {
        var interruptedAt: Int
        var signal: Int32
    }

    let pid: Int32
    let policy: Policy
    let stackBytes: Int
    /// Red zone below sp that leaf functions may use (x86-64 psABI §3.2.2).
    let redZone: UInt64 = 128
    /// A thread that does not stop within this (e.g. in D state) is left
    /// out of the stop set and released as soon as it stops.
    let stopDeadlineMicros: Int
    private let memory: RemoteMemory
    private let stackEnd: (UInt64) -> UInt64?

    private var inFlight: [Int32: InFlight] = [:]
    private var held: [Int32: Held] = [:]
    private var late: Set<Int32> = []
    private var outcome = Outcome()

    init(pid: Int32, policy: Policy, stackBytes: Int, stopDeadlineMicros: Int = 2_000_000,
         stackEnd: @escaping (UInt64) -> UInt64?) {
        self.pid = pid
        self.policy = policy
        self.stackBytes = stackBytes
        self.stopDeadlineMicros = stopDeadlineMicros
        self.memory = RemoteMemory(pid: pid)
        self.stackEnd = stackEnd
    }

    /// Stops, copies and releases `tids`, then any thread that appeared
    /// meanwhile (`relist`), handing each finished batch to `onBatch` once
    /// its threads run again.
    func run(tids: [Int32], willStop: (Int32) -> Void = { _ in }, relist: () -> [Int32]?,
             onBatch: ([ThreadCapture]) -> Void) -> Outcome {
        defer { releaseAll() }
        var seen = Set(tids)
        var queue = tids[...]
        var holdCaptures: [ThreadCapture] = []
        for _ in 0..<4 {
            while !queue.isEmpty {
                if stopRequested() { return outcome }
                let size: Int
                switch policy {
                case .batches(let n): size = max(1, n)
                case .all: size = queue.count
                }
                let batch = queue.prefix(size)
                queue = queue.dropFirst(size)
                // Let the /proc reader pass the whole batch first, so under
                // `.all` nothing is held while it works.
                for tid in batch { willStop(tid) }
                for tid in batch { begin(tid) }
                let captures = awaitStops(Array(batch))
                if policy == .all {
                    holdCaptures += captures
                } else if !captures.isEmpty {
                    onBatch(captures)
                }
            }
            // Threads created while we worked: under `.all` only threads that
            // were not yet stopped can still create them, so this converges.
            guard let current = relist() else { break }
            let fresh = current.filter { !seen.contains($0) }
            if fresh.isEmpty { break }
            seen.formUnion(fresh)
            queue = fresh[...]
        }
        if policy == .all {
            releaseAll()
            onBatch(holdCaptures)
        }
        return outcome
    }

    private func stopRequested() -> Bool {
        let signal = tw_stop_signal()
        if signal != 0 { outcome.interruptedBySignal = signal }
        return signal != 0
    }

    private func begin(_ tid: Int32) {
        switch Tracer.seize(tid) {
        case .success:
            break
        case .failure(let error):
            if error == .noSuchProcess { outcome.vanished.insert(tid) } else {
                if error == .notPermitted { outcome.permissionDenied += 1 }
                outcome.failures[tid] = "PTRACE_SEIZE failed: \(error)"
            }
            return
        }
        let now = MonotonicClock.micros()
        switch Tracer.interrupt(tid) {
        case .success:
            inFlight[tid] = InFlight(interruptedAt: now)
        case .failure(let error):
            // Seized but not stopping: the thread is exiting. Nothing to undo
            // that detach can do on a running tracee; the kernel drops it on exit.
            if error == .noSuchProcess { outcome.vanished.insert(tid) } else {
                outcome.failures[tid] = "PTRACE_INTERRUPT failed: \(error)"
            }
        }
    }

    /// Waits for each in-flight thread in the order it was interrupted
    /// (the order they stop in), copying each as it stops; a thread that
    /// misses its deadline is left for `releaseAll`.
    private func awaitStops(_ order: [Int32]) -> [ThreadCapture] {
        var captures: [ThreadCapture] = []
        for tid in order {
            guard let entry = inFlight[tid] else { continue }
            var idle = 0
            waiting: while true {
                switch Tracer.wait(tid, nohang: true) {
                case .success(let status?):
                    if let capture = handle(tid, status) { captures.append(capture) }
                    break waiting
                case .success(nil):
                    if MonotonicClock.micros() - entry.interruptedAt > stopDeadlineMicros {
                        inFlight[tid] = nil
                        late.insert(tid)
                        outcome.failures[tid] = "did not stop within \(stopDeadlineMicros / 1000) ms (uninterruptible sleep?)"
                        break waiting
                    }
                    // Stops land within tens of microseconds; back off gently
                    // so the target gets the CPU it needs to reach them.
                    idle += 1
                    MonotonicClock.sleepMicros(idle < 20 ? 5 : 100)
                case .failure(let error):
                    if error.rawValue == EINTR_ { continue }
                    // ECHILD: it is gone (exited and reaped by its group).
                    inFlight[tid] = nil
                    outcome.vanished.insert(tid)
                    break waiting
                }
            }
        }
        return captures
    }

    private func handle(_ tid: Int32, _ status: WaitStatus) -> ThreadCapture? {
        guard let entry = inFlight.removeValue(forKey: tid) else {
            // A thread that missed its deadline has stopped at last, or a held one died.
            if late.remove(tid) != nil, status.isStopped {
                _ = Tracer.detach(tid, signal: signalToPass(status))
            }
            if case .exited = status { held[tid] = nil; outcome.vanished.insert(tid) }
            return nil
        }
        guard status.isStopped else {
            outcome.vanished.insert(tid)
            return nil
        }
        let capture = copy(tid, status, interruptedAt: entry.interruptedAt)
        let signal = signalToPass(status)
        if policy == .all {
            held[tid] = Held(interruptedAt: entry.interruptedAt, signal: signal)
        } else {
            release(tid, interruptedAt: entry.interruptedAt, signal: signal)
        }
        guard var capture else { return nil }
        if policy != .all { capture.stopMicros = MonotonicClock.micros() - entry.interruptedAt }
        return capture
    }

    private func signalToPass(_ status: WaitStatus) -> Int32 {
        if case .signalStop(let signal) = status { return signal }
        return 0
    }

    private func copy(_ tid: Int32, _ status: WaitStatus, interruptedAt: Int) -> ThreadCapture? {
        let registers: RegisterSet
        switch Tracer.registers(tid) {
        case .success(let regs): registers = regs
        case .failure(let error):
            if error == .noSuchProcess { outcome.vanished.insert(tid) } else {
                outcome.failures[tid] = "PTRACE_GETREGS failed: \(error)"
            }
            return nil
        }
        let start = registers.sp &- redZone
        var count = stackBytes
        if let end = stackEnd(registers.sp), end > start { count = Int(min(UInt64(stackBytes), end - start)) }
        let stack = memory.read(start, count: count) ?? []
        var groupStopped = false
        if case .groupStop = status { groupStopped = true }
        outcome.stopped += 1
        return ThreadCapture(tid: tid, registers: registers, stackAddress: start, stack: stack,
                             stopMicros: 0, groupStopped: groupStopped)
    }

    private func release(_ tid: Int32, interruptedAt: Int, signal: Int32) {
        _ = Tracer.detach(tid, signal: signal)  // ESRCH: it died while stopped
        outcome.longestStopMicros = max(outcome.longestStopMicros, MonotonicClock.micros() - interruptedAt)
    }

    /// Lets every thread go: held ones now, in-flight ones as soon as they
    /// stop (bounded wait). Safe to call twice.
    private func releaseAll() {
        for (tid, entry) in held { release(tid, interruptedAt: entry.interruptedAt, signal: entry.signal) }
        held.removeAll()
        let deadline = MonotonicClock.micros() + 500_000
        while !(inFlight.isEmpty && late.isEmpty) && MonotonicClock.micros() < deadline {
            switch Tracer.waitAny(nohang: true) {
            case .success(let report?):
                let tid = report.tid
                if let entry = inFlight.removeValue(forKey: tid) {
                    if report.status.isStopped {
                        release(tid, interruptedAt: entry.interruptedAt, signal: signalToPass(report.status))
                    }
                } else if late.remove(tid) != nil, report.status.isStopped {
                    _ = Tracer.detach(tid, signal: signalToPass(report.status))
                }
            case .success(nil):
                MonotonicClock.sleepMicros(100)
            case .failure(let error):
                if error.rawValue == ECHILD_ { inFlight.removeAll(); late.removeAll() }
            }
        }
        for tid in inFlight.keys { late.insert(tid) }
        inFlight.removeAll()
    }
}

let ECHILD_: Int32 = 10
let EINTR_: Int32 = 4
