import CThreadwatch
import ThreadwatchModel
#if canImport(Glibc)
import Glibc
#endif

/// The end of every watch, on every path: interrupt every traced task, wait
/// for its stop, and detach it, passing on any signal it stopped with.
/// Every task is detached even when another fails; failures are returned.
extension WatchSession {
    func release() -> [String] {
        var warnings: [String] = []
        for tid in earlyStops.keys { _ = Tracer.detach(tid) }  // already stopped
        earlyStops = [:]
        var awaiting = Set(announced.keys)  // their first stop is on its way
        announced = [:]
        let tasks = threads.map { (tid: $0, base: "/proc/\(pid)/task/\($0)") }
            + children.keys.map { (tid: $0, base: "/proc/\($0)/task/\($0)") }
        for (tid, base) in tasks {
            if let stat = ProcFile.bytes(base + "/stat").flatMap(TaskStat.parse), stat.state == "Z" || stat.state == "X" {
                continue  // exited: never stops again; the kernel unlinks it
            }
            switch Tracer.interrupt(tid) {
            case .success: awaiting.insert(tid)
            case .failure(let error) where error == .noSuchProcess: break
            case .failure(let error): warnings.append("thread \(tid): PTRACE_INTERRUPT failed at the end of the watch: \(error)")
            }
        }
        let deadline = MonotonicClock.micros() + 2_000_000
        while !awaiting.isEmpty && MonotonicClock.micros() < deadline {
            var progressed = false
            for tid in awaiting.sorted() {
                var raw: Int32 = 0
                let rc = tw_wait_tid(tid, &raw, 1)
                if rc == 0 { continue }
                progressed = true
                awaiting.remove(tid)
                if rc < 0 { continue }  // ECHILD: reaped, gone
                let stop = WatchStop(raw: raw)
                switch stop {
                case .exited:
                    continue
                case .fork, .vfork, .clone:
                    // Created before our interrupt landed: the kernel attached it; release it too.
                    if case .success(let new) = Tracer.eventMessage(tid), new > 0 { awaiting.insert(new) }
                default:
                    break
                }
                if case .failure(let error) = Tracer.detach(tid, signal: stop.signalToPass), error != .noSuchProcess {
                    warnings.append("thread \(tid): PTRACE_DETACH failed: \(error)")
                }
            }
            if !progressed { MonotonicClock.sleepMicros(50) }
        }
        warnings += releaseStrays()
        for tid in awaiting.sorted() {
            warnings.append("thread \(tid) did not stop within 2 s of PTRACE_INTERRUPT (uninterruptible sleep?): it stays attached until threadwatch exits, when the kernel detaches it")
        }
        threads = []
        children = [:]
        listening = []
        return warnings
    }

    /// Any other tracee with a stop to report (none expected): detach it.
    private func releaseStrays() -> [String] {
        var warnings: [String] = []
        while true {
            var raw: Int32 = 0
            let tid = tw_wait_any(&raw, 1)
            guard tid > 0 else { return warnings }
            let stop = WatchStop(raw: raw)
            if case .exited = stop { continue }
            if case .failure(let error) = Tracer.detach(tid, signal: stop.signalToPass), error != .noSuchProcess {
                warnings.append("task \(tid): PTRACE_DETACH failed: \(error)")
            }
        }
    }
}
