import ThreadwatchModel

/// What a forking process looked like around one fork: the forking thread
/// from the copy taken in its event stop (unwound after it runs again), the
/// other threads from /proc and their stacks' memory, never stopped.
final class ForkMoment {
    let pid: Int32
    let stackBytes: Int
    private let unwinder: StackUnwinder?
    private let symbolizer: Symbolizer?
    /// Innermost frames kept for each other thread.
    let siblingFrames = 8

    init(pid: Int32, stackBytes: Int, sourceLines: Symbolizer.SourceLines) {
        self.pid = pid
        self.stackBytes = stackBytes
        // Reported once per watch: modules loaded later show as bare addresses.
        unwinder = try? StackUnwinder(pid: pid, maxFrames: 64)
        symbolizer = unwinder.map { Symbolizer(unwinder: $0, sourceLines: sourceLines) }
    }

    /// Registers and the live stack top of a thread held in its event stop.
    func capture(_ tid: Int32, map: MemoryMap) -> ThreadCapture? {
        guard case .success(let registers) = Tracer.registers(tid) else { return nil }
        let start = registers.sp &- 128  // red zone, x86-64 psABI §3.2.2
        var count = stackBytes
        if let end = map.mapping(containing: registers.sp)?.end, end > start { count = Int(min(UInt64(count), end - start)) }
        let stack = RemoteMemory(pid: pid).read(start, count: count) ?? []
        return ThreadCapture(tid: tid, registers: registers, stackAddress: start, stack: stack,
                             stopMicros: 0, groupStopped: false)
    }

    func frames(of capture: ThreadCapture) -> [Frame] {
        guard let unwinder, let symbolizer else { return [] }
        return unwinder.unwind(capture).frames.flatMap(symbolizer.frames(for:))
    }

    /// The other threads as they are now (just after the fork), with what
    /// each waits for, and the locks whose owner fields name a parent thread.
    func siblings(of forkingTid: Int32, among tids: Set<Int32>, map: MemoryMap) -> (threads: [ForkSibling], held: [BlockedOn]) {
        var snapshots: [ThreadSnapshot] = []
        for tid in tids.sorted() where tid != forkingTid {
            guard let view = KernelView.read(pid: pid, tid: tid, withSyscall: true) else { continue }
            snapshots.append(ThreadSnapshot(tid: tid, name: view.stat.comm, state: view.stat.state,
                                            syscall: view.syscall, frames: topFrames(tid, view.syscall, map: map)))
        }
        let model = GlibcLockModel(memory: RemoteMemory(pid: pid), threads: snapshots,
                                   dataSymbol: { [symbolizer] in symbolizer?.dataSymbol($0) })
        var threads: [ForkSibling] = []
        var held: [UInt64: BlockedOn] = [:]
        for snapshot in snapshots {
            let lock = snapshot.state == "R" ? nil : model.blockedOn(snapshot)
            let doing = snapshot.state == "R" ? "running"
                : snapshot.syscall.map { "in " + SyscallNames.describe($0) } ?? "in state \(snapshot.state)"
            threads.append(ForkSibling(tid: snapshot.tid, name: snapshot.name, state: snapshot.state, doing: doing,
                                       blockedOn: lock, frames: Array(snapshot.frames.prefix(siblingFrames))))
            if let lock, let owner = lock.ownerTid, tids.contains(owner), let address = lock.address,
               lock.kind != .join, lock.kind != .syscall {
                held[address] = lock
            }
        }
        return (threads, held.keys.sorted().compactMap { held[$0] })
    }

    /// Unwinds a thread that sits in a syscall from /proc's pc and sp (as
    /// --proc-only does); a running thread has no registers without a stop.
    private func topFrames(_ tid: Int32, _ syscall: SyscallState?, map: MemoryMap) -> [Frame] {
        guard let unwinder, let symbolizer, let syscall, let pc = syscall.pc, let sp = syscall.sp, pc != 0 else { return [] }
        let start = sp &- 128
        var count = stackBytes
        if let end = map.mapping(containing: sp)?.end, end > start { count = Int(min(UInt64(count), end - start)) }
        let copy = RemoteMemory(pid: pid).read(start, count: count) ?? []
        let raw = unwinder.unwind(tid: tid, pc: pc, sp: sp, stackAddress: start, stack: copy).frames
        return raw.prefix(siblingFrames * 2).flatMap(symbolizer.frames(for:))
    }
}
