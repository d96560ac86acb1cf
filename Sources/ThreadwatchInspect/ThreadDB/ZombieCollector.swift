import ThreadwatchModel

/// Exited, never-joined threads from libthread_db's listing: start routine
/// named, and the stack block each keeps mapped.
enum ZombieCollector {
    /// `stackRegion`: the mapping holding an address, with the guard below it.
    static func zombies(pid: Int32, threads: [ThreadDB.Thread], symbolizer: Symbolizer,
                        stackRegion: (UInt64) -> StackRegion?) -> [ZombieThread] {
        var result: [ZombieThread] = []
        for thread in threads where thread.state == .zombie && isSettled(thread, pid: pid) {
            let initial = thread.startRoutine == 0
            result.append(ZombieThread(
                // Only the initial thread's tid survives its exit: it is the pid.
                tid: initial ? pid : nil,
                descriptor: thread.descriptor,
                startAddress: thread.startRoutine,
                startRoutine: initial ? nil : symbolizer.frames(for: RawFrame(pc: thread.startRoutine, isActivation: true)).last,
                stackBytes: stackBytes(thread, stackRegion: stackRegion)))
        }
        return result.sorted { $0.descriptor < $1.descriptor }
    }

    /// glibc marks a thread EXITING (the zombie state to libthread_db) a few
    /// instructions before its exit syscall, and frees a detached one in
    /// between (nptl/pthread_create.c start_thread). Until the kernel clears
    /// its tid, which td_thr_get_info then reports as the pid, it is still
    /// leaving, not a zombie.
    static func isSettled(_ thread: ThreadDB.Thread, pid: Int32) -> Bool {
        thread.startRoutine == 0 || thread.lid == pid
    }

    /// The whole block: glibc maps stack, guard, static TLS and descriptor in
    /// one mmap with the descriptor at its top and the PROT_NONE guard at its
    /// bottom (nptl/allocatestack.c). Without that guard the descriptor sits
    /// in a stack the program gave (pthread_attr_setstack), in ld.so's TLS
    /// (initial thread) or in a guardless block: nil, size unknown.
    static func stackBytes(_ thread: ThreadDB.Thread, stackRegion: (UInt64) -> StackRegion?) -> UInt64? {
        if thread.stackSize > 0 { return thread.stackSize }
        guard thread.startRoutine != 0, let region = stackRegion(thread.descriptor), region.guardBytes > 0 else { return nil }
        return region.high - region.low + region.guardBytes
    }
}

extension ZombieCollector {
    struct Outcome {
        /// nil when libthread_db could not serve: zombies were not checked.
        var zombies: [ZombieThread]?
        var warning: String?
    }

    /// Lists the target's threads through libthread_db (no stop) and keeps
    /// the zombies; on failure, one warning saying why and no zombies.
    static func scan(pid: Int32, unwinder: StackUnwinder, symbolizer: Symbolizer,
                     stackRegion: (UInt64) -> StackRegion?) -> Outcome {
        switch ThreadDB.threads(pid: pid, dwfl: unwinder.dwfl) {
        case .success(let threads):
            return Outcome(zombies: zombies(pid: pid, threads: threads, symbolizer: symbolizer, stackRegion: stackRegion))
        case .failure(let failure):
            return Outcome(warning: "libthread_db could not attach to pid \(pid): \(failure.reason); zombie threads not checked")
        }
    }
}
