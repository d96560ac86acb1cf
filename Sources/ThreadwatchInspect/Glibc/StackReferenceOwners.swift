import ThreadwatchModel

/// Owners for locks that record none (Rust's std Mutex, a glibc rwlock held
/// by one reader, e.g. through C++'s std::shared_lock): a lock guard keeps
/// a reference to its lock in the holder's frame, so when exactly one thread
/// other than the lock's waiters has the lock's address live on its stack
/// (sp up to the stack's top), that thread is taken as the holder. Two or
/// more such threads, or none: the owner stays unknown, so a stale copy
/// elsewhere cannot invent a cycle. (A guard kept only in a register that
/// nothing spilled is not seen: the owner then stays unknown.)
enum StackReferenceOwners {
    /// Most of a stack searched; deep enough for any guard below a wait.
    static let searchBytes: UInt64 = 256 << 10

    static func infer(_ threads: [ThreadSnapshot], memory: RemoteMemory) -> [ThreadSnapshot] {
        var waiters: [UInt64: Set<Int32>] = [:]
        for thread in threads {
            guard let lock = thread.blockedOn, lock.ownerUnrecorded, !lock.oneTimeInit, let address = lock.address
            else { continue }
            waiters[address, default: []].insert(thread.tid)
        }
        guard !waiters.isEmpty else { return threads }
        var referrers: [UInt64: Set<Int32>] = [:]
        for thread in threads {
            for address in references(in: thread, to: Set(waiters.keys), memory: memory) {
                referrers[address, default: []].insert(thread.tid)
            }
        }
        return threads.map { thread in
            guard let lock = thread.blockedOn, lock.ownerUnrecorded, !lock.oneTimeInit, let address = lock.address,
                  let others = referrers[address]?.subtracting(waiters[address] ?? []), others.count == 1
            else { return thread }
            var thread = thread
            thread.blockedOn?.ownerTid = others.first
            thread.blockedOn?.detail = "\(lock.detail ?? "the lock records no owner"): the holder is the only other thread that refers to it"
            return thread
        }
    }

    /// Which of `targets` appear as aligned words on the thread's live stack.
    private static func references(in thread: ThreadSnapshot, to targets: Set<UInt64>, memory: RemoteMemory) -> Set<UInt64> {
        guard let sp = thread.sp ?? thread.syscall?.sp, let stack = thread.stack, stack.high > sp else { return [] }
        let count = Int(min(stack.high - sp, searchBytes)) & ~7
        guard let bytes = memory.read(sp, count: count) else { return [] }
        var found: Set<UInt64> = []
        bytes.withUnsafeBytes { raw in
            for word in raw.bindMemory(to: UInt64.self) where targets.contains(word) { found.insert(word) }
        }
        return found
    }
}
