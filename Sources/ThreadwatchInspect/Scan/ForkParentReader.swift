import ThreadwatchModel

/// Looks at the parent of a process whose locks are held by tids it does
/// not have: after fork() only the forking thread exists in the child, but
/// every lock other parent threads held stays locked in the child's copy of
/// memory, with their tids in the owner fields. Reads /proc and memory only;
/// the parent is never stopped.
enum ForkParentReader {
    static func read(pid: Int32, ppid: Int32, owners: Set<Int32>, sourceLines: Symbolizer.SourceLines) -> ForkParent? {
        guard ppid > 1, !owners.isEmpty,
              let statBytes = ProcFile.bytes("/proc/\(ppid)/stat"), let stat = TaskStat.parse(statBytes) else { return nil }
        let exe = ProcFile.symlink("/proc/\(pid)/exe")
        let parentExe = ProcFile.symlink("/proc/\(ppid)/exe")
        let inParent = owners.filter { ProcFile.bytes("/proc/\(ppid)/task/\($0)/stat") != nil }
        var holders: [Int32: ParentThread] = [:]
        if !inParent.isEmpty {
            let unwinder = try? StackUnwinder(pid: ppid, maxFrames: 64)
            let symbolizer = unwinder.map { Symbolizer(unwinder: $0, sourceLines: sourceLines) }
            let map = MemoryMap.parse(ProcFile.bytes("/proc/\(ppid)/maps") ?? [])
            for tid in inParent.sorted() {
                holders[tid] = parentThread(ppid: ppid, tid: tid, unwinder: unwinder, symbolizer: symbolizer, map: map)
            }
        }
        return ForkParent(pid: ppid, comm: stat.comm, sameExecutable: exe != nil && exe == parentExe,
                          lockHolders: holders)
    }

    private static func parentThread(ppid: Int32, tid: Int32, unwinder: StackUnwinder?, symbolizer: Symbolizer?,
                                     map: MemoryMap) -> ParentThread? {
        let base = "/proc/\(ppid)/task/\(tid)"
        guard let statBytes = ProcFile.bytes(base + "/stat"), let stat = TaskStat.parse(statBytes) else { return nil }
        let syscall = ProcFile.text(base + "/syscall").flatMap(SyscallParser.parse)
        var frames: [Frame] = []
        if let syscall, let pc = syscall.pc, let sp = syscall.sp, pc != 0, let unwinder, let symbolizer {
            let start = sp &- 128
            var count = 16 * 1024
            if let end = map.mapping(containing: sp)?.end, end > start { count = Int(min(UInt64(count), end - start)) }
            let copy = RemoteMemory(pid: ppid).read(start, count: count) ?? []
            let raw = unwinder.unwind(tid: tid, pc: pc, sp: sp, stackAddress: start, stack: copy).frames
            frames = raw.flatMap(symbolizer.frames(for:))
        }
        let doing = stat.state == "R" ? "running" : syscall.map { "in " + SyscallNames.describe($0) } ?? "in state \(stat.state)"
        return ParentThread(tid: tid, name: stat.comm, state: stat.state, doing: doing, frames: frames)
    }
}
