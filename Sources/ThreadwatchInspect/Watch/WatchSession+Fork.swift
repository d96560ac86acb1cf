import CThreadwatch
import ThreadwatchModel
#if canImport(Glibc)
import Glibc
#endif

/// Fork events and the children they make.
extension WatchSession {
    /// The forking thread sits in its PTRACE_EVENT_FORK/VFORK stop: copy its
    /// registers and stack top, learn the child's pid, and let it go at once;
    /// everything slower happens while it runs.
    func onFork(_ tid: Int32, vfork: Bool) {
        let seen = MonotonicClock.micros()
        var childPid: Int32 = 0
        if case .success(let pid) = Tracer.eventMessage(tid) { childPid = pid }
        // Every thread of the process is traced, so this set is exact at this instant.
        let parentTids = threads
        let hazard = !vfork && parentTids.count > 1
        let capture = hazard ? moment.capture(tid, map: map) : nil
        _ = Tracer.cont(tid)
        let held = MonotonicClock.micros() - seen
        result.longestStopMicros = max(result.longestStopMicros, held)
        guard childPid > 0 else { return }

        let index = result.events.count
        result.events.append(ForkEvent(kind: vfork ? .vfork : .fork, parentPid: pid, childPid: childPid, forkingTid: tid,
                                       threadsAtFork: parentTids.count, at: MonotonicClock.wallSeconds(),
                                       parentStopMicros: held, child: .notFollowed))
        // vfork/posix_spawn children and single-threaded forks are fine: release them.
        guard hazard else { announce(childPid, .unfollowed); return }
        result.events[index].child = .running
        followedParentTids[index] = parentTids
        forkSeenAt[index] = seen
        announce(childPid, .child(event: index))
        awaitFirstStop(of: childPid)

        if let capture {
            if map.mapping(containing: capture.registers.sp) == nil {
                map = MemoryMap.parse(ProcFile.bytes("/proc/\(pid)/maps") ?? [])
            }
            result.events[index].forkingFrames = moment.frames(of: capture)
        }
        let others = moment.siblings(of: tid, among: parentTids, map: map)
        result.events[index].otherThreads = others.threads
        result.events[index].heldLocks = others.held
    }

    /// The child stops as soon as it is scheduled; resume it before the
    /// slower reads of the parent rather than after them.
    private func awaitFirstStop(of child: Int32) {
        guard announced[child] != nil else { return }
        let deadline = MonotonicClock.micros() + 2_000
        while MonotonicClock.micros() < deadline {
            var raw: Int32 = 0
            let rc = tw_wait_tid(child, &raw, 1)
            if rc > 0 { handle(child, WatchStop(raw: raw)); return }
            if rc < 0 { return }
            MonotonicClock.sleepMicros(20)
        }
    }

    func onChildStop(_ tid: Int32, _ stop: WatchStop) {
        guard let child = children[tid] else { return }
        let after = MonotonicClock.micros() - child.forkedAt
        switch stop {
        case .exec:
            // At the exec stop /proc/PID/exe already names the new program.
            result.events[child.event].child = .execed(afterMicros: after, path: ProcFile.symlink("/proc/\(tid)/exe"))
            children[tid] = nil
            listening.remove(tid)
            _ = Tracer.detach(tid)
        case .exited:
            result.events[child.event].child = .exited(afterMicros: after)
            children[tid] = nil
            listening.remove(tid)
        case .fork, .vfork, .clone:
            // Not asked for (childOptions); should one come, release the new task.
            let new = Tracer.eventMessage(tid)
            _ = Tracer.cont(tid)
            if case .success(let newTid) = new, newTid > 0 { announce(newTid, .unfollowed) }
        default:
            resume(tid, stop)
        }
    }

    /// Children that neither exec'd nor exited: asleep on a lock whose owner
    /// field names a thread of the parent at the fork? Two looks 50 ms apart,
    /// from /proc and memory (the same lock model as a scan), nothing stopped.
    func checkChildren() {
        for (tid, child) in children where result.events[child.event].child == .running {
            let look = ForkMoment(pid: tid, stackBytes: options.stackBytes, sourceLines: options.sourceLines)
            guard let first = inheritedLock(look, child) else { continue }
            MonotonicClock.sleepMicros(50_000)
            if let second = inheritedLock(look, child), second.address == first.address {
                result.events[child.event].child = .blockedOnInheritedLock(second)
            }
        }
    }

    private func inheritedLock(_ look: ForkMoment, _ child: FollowedChild) -> BlockedOn? {
        let pid = look.pid
        guard case .success(let tids) = ProcFile.numericEntries("/proc/\(pid)/task") else { return nil }
        let map = MemoryMap.parse(ProcFile.bytes("/proc/\(pid)/maps") ?? [])
        let own = Set(tids)
        let threads = look.siblings(of: -1, among: own, map: map).threads
        return threads.lazy.compactMap { thread -> BlockedOn? in
            guard thread.state == "S" || thread.state == "D", let lock = thread.blockedOn,
                  let owner = lock.ownerTid, child.parentTids.contains(owner), !own.contains(owner) else { return nil }
            return lock
        }.first
    }
}
