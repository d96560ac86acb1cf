import CThreadwatch
import ThreadwatchModel
#if canImport(Glibc)
import Glibc
#endif

/// The event loop of one watch, on the tracer thread. Every traced task is
/// either running, group-stopped under PTRACE_LISTEN, or held for the few
/// microseconds it takes to handle its stop; `release()` detaches them all.
final class WatchSession {
    /// A task announced by a fork/vfork/clone event whose first stop is still to come.
    enum Role {
        case thread
        case child(event: Int)
        /// vfork/posix_spawn children and children of single-threaded forks: released at once.
        case unfollowed
    }

    struct FollowedChild {
        var event: Int
        var forkedAt: Int
        /// The parent's threads at the fork: the owners a lock inherited by the child can name.
        var parentTids: Set<Int32>
    }

    let pid: Int32
    let options: WatchOptions
    var result = WatchResult()
    /// Threads of the watched process, all traced.
    var threads: Set<Int32> = []
    /// Tasks parked in group stop under PTRACE_LISTEN.
    var listening: Set<Int32> = []
    /// Fork children followed until they exec, exit or the watch ends.
    var children: [Int32: FollowedChild] = [:]
    var announced: [Int32: Role] = [:]
    /// Per followed fork event: the parent's threads then, and when we saw it.
    var followedParentTids: [Int: Set<Int32>] = [:]
    var forkSeenAt: [Int: Int] = [:]
    /// New tasks whose first stop came before their creator's event (tid -> when seen).
    var earlyStops: [Int32: Int] = [:]
    var moment: ForkMoment
    var map: MemoryMap

    init(pid: Int32, options: WatchOptions) {
        self.pid = pid
        self.options = options
        moment = ForkMoment(pid: pid, stackBytes: options.stackBytes, sourceLines: options.sourceLines)
        map = MemoryMap.parse(ProcFile.bytes("/proc/\(pid)/maps") ?? [])
    }

    func run() throws(ScanError) -> WatchResult {
        result.startedAt = MonotonicClock.wallSeconds()
        let t0 = MonotonicClock.micros()
        do throws(ScanError) {
            try attachAll()
        } catch {
            result.warnings += release()
            throw error
        }
        loop(until: t0 + Int(options.seconds * 1_000_000))
        checkChildren()
        result.warnings += release()
        result.durationMicros = MonotonicClock.micros() - t0
        return result
    }

    /// Seizes every thread (seize does not stop it), listing the task
    /// directory again until no new thread appears. Threads that seized
    /// threads create meanwhile are attached by the kernel (TRACECLONE).
    private func attachAll() throws(ScanError) {
        var denied = 0
        for _ in 0..<8 {
            guard case .success(let tids) = ProcFile.numericEntries("/proc/\(pid)/task") else {
                throw ScanError(.processExited, pid: pid, "pid \(pid) exited before the watch could start")
            }
            let fresh = tids.filter { !threads.contains($0) && announced[$0] == nil }
            if fresh.isEmpty { break }
            for tid in fresh {
                switch Tracer.seize(tid, options: Tracer.watchOptions) {
                case .success: threads.insert(tid)
                case .failure(let error) where error == .notPermitted:
                    // Also what an auto-attached new thread answers: it is ours already.
                    denied += 1
                case .failure: break  // ESRCH: exited meanwhile
                }
            }
        }
        if threads.isEmpty {
            throw denied > 0 ? TargetSelector.permissionDenied(pid)
                : ScanError(.processExited, pid: pid, "pid \(pid) exited before the watch could start")
        }
    }

    private func loop(until deadline: Int) {
        var idle = 0
        var nextProgress = MonotonicClock.micros() + 1_000_000
        while MonotonicClock.micros() < deadline {
            if tw_stop_signal() != 0 { result.endedBySignal = tw_stop_signal(); return }
            if threads.isEmpty { result.processExited = true; return }
            var raw: Int32 = 0
            let tid = tw_wait_any(&raw, 1)
            if tid > 0 {
                idle = 0
                handle(tid, WatchStop(raw: raw))
                continue
            }
            if tid == -ECHILD_ { result.processExited = true; return }
            releaseStaleEarlyStops()
            let now = MonotonicClock.micros()
            if now >= nextProgress {
                nextProgress = now + 1_000_000
                options.progress?(Int((now - (deadline - Int(options.seconds * 1_000_000))) / 1_000_000), result.events.count)
            }
            // Nothing pending: the target runs untouched. Poll quickly right
            // after an event (a fork brings the child's stop), then every ms.
            idle += 1
            MonotonicClock.sleepMicros(idle < 50 ? 20 : 1000)
        }
    }

    func handle(_ tid: Int32, _ stop: WatchStop) {
        if threads.contains(tid) {
            onThreadStop(tid, stop)
        } else if children[tid] != nil {
            onChildStop(tid, stop)
        } else if let role = announced.removeValue(forKey: tid) {
            onFirstStop(tid, role, stop)
        } else {
            switch stop {
            case .exited: break
            case .trapStop: earlyStops[tid] = MonotonicClock.micros()
            default: _ = Tracer.detach(tid, signal: stop.signalToPass)  // not ours to keep
            }
        }
    }

    private func onThreadStop(_ tid: Int32, _ stop: WatchStop) {
        switch stop {
        case .fork, .vfork:
            onFork(tid, vfork: stop == .vfork)
        case .clone:
            let new = Tracer.eventMessage(tid)
            _ = Tracer.cont(tid)
            if case .success(let newTid) = new, newTid > 0 { announce(newTid, .thread) }
        case .exec:
            // The execing thread takes the leader's tid; the others are gone
            // (ptrace(2), "execve(2) under ptrace").
            if case .success(let former) = Tracer.eventMessage(tid), former != tid { threads.remove(former) }
            _ = Tracer.cont(tid)
            moment = ForkMoment(pid: pid, stackBytes: options.stackBytes, sourceLines: options.sourceLines)
            map = MemoryMap.parse(ProcFile.bytes("/proc/\(pid)/maps") ?? [])
        case .exited:
            threads.remove(tid)
            listening.remove(tid)
        default:
            resume(tid, stop)
        }
    }

    /// Resumes a task after a stop that is not ours to act on: signals are
    /// passed on as they were, group stops stay stopped under PTRACE_LISTEN.
    func resume(_ tid: Int32, _ stop: WatchStop) {
        switch stop {
        case .groupStop:
            if case .success = Tracer.listen(tid) { listening.insert(tid) }
        case .signal(let signal):
            _ = Tracer.cont(tid, signal: signal)
        case .exited:
            break
        default:
            listening.remove(tid)
            _ = Tracer.cont(tid)
        }
    }

    func announce(_ tid: Int32, _ role: Role) {
        if earlyStops.removeValue(forKey: tid) != nil {
            onFirstStop(tid, role, .trapStop)
        } else {
            announced[tid] = role
        }
    }

    /// A new task's first stop (ptrace(2): auto-attached tasks start with
    /// PTRACE_EVENT_STOP under SEIZE).
    private func onFirstStop(_ tid: Int32, _ role: Role, _ stop: WatchStop) {
        switch role {
        case .thread:
            if case .exited = stop { return }
            threads.insert(tid)
            onThreadStop(tid, stop)
        case .unfollowed:
            if case .exited = stop { return }
            _ = Tracer.detach(tid, signal: stop.signalToPass)
        case .child(let event):
            if case .exited = stop { result.events[event].child = .exited(afterMicros: 0); return }
            let parentTids = followedParentTids[event] ?? []
            children[tid] = FollowedChild(event: event, forkedAt: forkSeenAt[event] ?? MonotonicClock.micros(),
                                          parentTids: parentTids)
            // Only its exec matters: its own forks and threads stay untraced.
            _ = Tracer.setOptions(tid, Tracer.childOptions)
            resume(tid, stop)
        }
    }

    /// Tasks whose creator's event never came (the creator was killed):
    /// nothing will claim them, so let them go.
    private func releaseStaleEarlyStops() {
        let now = MonotonicClock.micros()
        for (tid, seen) in earlyStops where now - seen > 500_000 {
            _ = Tracer.detach(tid)
            earlyStops[tid] = nil
        }
    }
}
