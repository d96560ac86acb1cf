import CThreadwatch
import ThreadwatchModel
#if canImport(Glibc)
import Glibc
#endif

/// Works out what each blocked thread waits for, from its syscall, its top
/// frames and the lock words in target memory (glibc 2.36, x86-64; offsets
/// from sysdeps/nptl/bits/struct_mutex.h, struct_rwlock.h, libio/libio.h and
/// nptl/descr.h, verified on these machines, see DESIGN.md).
struct GlibcLockModel {
    /// pthread_mutex_t: __lock (futex) at 0, __owner at 8, __kind at 16.
    static let mutexOwnerOffset: UInt64 = 8
    static let mutexKindOffset: UInt64 = 16
    /// pthread_rwlock_t: __wrphase_futex at 8, __writers_futex at 12, __cur_writer at 24.
    static let rwlockFutexOffsets: [UInt64] = [8, 12]
    static let rwlockWriterOffset: UInt64 = 24
    /// _IO_lock_t: { int lock; int cnt; void *owner; }, owner = holder's struct pthread *.
    static let stdioOwnerOffset: UInt64 = 8
    /// struct pthread: tid at 0x2d0 (pthread_join waits on &pd->tid).
    static let pthreadTidOffset: UInt64 = 0x2d0
    /// FUTEX_TID_MASK, <linux/futex.h>
    static let futexTidMask: UInt32 = 0x3fff_ffff

    let memory: RemoteMemory
    /// Names a data address ("accounts+0x28"); nil when unknown.
    let dataSymbol: (UInt64) -> String?
    private let liveTids: Set<Int32>
    /// Each thread's stack block (glibc puts its struct pthread at the top).
    private let stackByTid: [Int32: StackRegion]
    private let tidByDescriptor: [UInt64: Int32]
    private let primitives = PrimitiveCache()

    init(memory: RemoteMemory, threads: [ThreadSnapshot], dataSymbol: @escaping (UInt64) -> String?) {
        self.memory = memory
        self.dataSymbol = dataSymbol
        self.liveTids = Set(threads.map(\.tid))
        self.stackByTid = Dictionary(threads.compactMap { t in t.stack.map { (t.tid, $0) } }, uniquingKeysWith: { a, _ in a })
        var byDescriptor: [UInt64: Int32] = [:]
        for thread in threads { if let fs = thread.fsBase { byDescriptor[fs] = thread.tid } }
        self.tidByDescriptor = byDescriptor
    }

    /// `readSchedNow`: the target was not stopped (--proc-only), so a lock
    /// waiter's /proc/.../sched still says when it last ran; after a ptrace
    /// stop it would say "just now", so only views read before the stop count.
    func annotate(_ threads: [ThreadSnapshot], readSchedNow: Bool) -> [ThreadSnapshot] {
        var clock = SchedClock()
        return threads.map { thread in
            var thread = thread
            thread.blockedOn = blockedOn(thread)
            let asleep = thread.state == "S" || thread.state == "D"
            if readSchedNow, thread.schedStats.isEmpty, let lock = thread.blockedOn, lock.kind != .syscall, asleep {
                thread.schedStats = SchedParser.parse(ProcFile.bytes("/proc/\(memory.pid)/task/\(thread.tid)/sched") ?? [])
            }
            // se.exec_start (ms of sched_clock) is when it last ran; sched_clock
            // is per CPU, so allow a little skew before calling it unknown.
            if thread.blockedOn != nil, asleep, let lastRan = thread.schedStats["se.exec_start"],
               let cpu = thread.scheduling?.lastCPU, let now = clock.nowMillis(cpu: cpu) {
                let since = Int((now - lastRan) * 1000)
                if since >= -5_000 { thread.blockedOn?.sinceMicros = max(0, since) }
            }
            return thread
        }
    }

    func blockedOn(_ thread: ThreadSnapshot) -> BlockedOn? {
        guard let syscall = thread.syscall, let number = syscall.number, number >= 0 else { return nil }
        guard number == SyscallNames.futex, syscall.args.count >= 3 else {
            return BlockedOn(kind: .syscall, detail: SyscallNames.describe(syscall))
        }
        let address = syscall.args[0]
        let command = Int(syscall.args[1] & 0x7f)  // strip FUTEX_PRIVATE_FLAG / CLOCK_REALTIME
        let primitive = primitives.find(in: thread.frames)
        switch primitive {
        case .mutex?:
            return mutex(at: address, command: command)
        case .rustMutex?:
            // The futex word is all there is (0 free, 1 locked, 2 contended): no owner.
            var lock = BlockedOn(kind: .mutex, address: address, symbol: dataSymbol(address),
                                 detail: "Rust std::sync::Mutex, which records no owner")
            lock.ownerUnrecorded = true
            return lock
        case .rustRwLockRead?, .rustRwLockWrite?:
            return rustRwLock(futex: address, write: primitive == .rustRwLockWrite)
        case .rwlockRead?, .rwlockWrite?:
            return rwlock(futex: address, write: primitive == .rwlockWrite)
        case .join?:
            // The futex word is the joined thread's tid (nptl/pthread_join_common.c).
            // The address is the futex word, &pd->tid, like every other kind's lock word.
            let tid = memory.readInt32(address).flatMap { $0 > 0 ? $0 : nil }
            return BlockedOn(kind: .join, address: address, ownerTid: tid,
                             detail: "joining pthread_t 0x\(String(address &- Self.pthreadTidOffset, radix: 16))")
        case .stdio?:
            return stdioLock(at: address)
        case .condvar?:
            return BlockedOn(kind: .condvar, address: address, symbol: dataSymbol(address))
        case .semaphore?:
            return BlockedOn(kind: .semaphore, address: address, symbol: dataSymbol(address))
        case .once?:
            // No owner is kept (nptl/pthread_once.c; libstdc++ guard.cc):
            // OnceOwners finds the thread running the initialiser.
            var lock = BlockedOn(kind: .futex, address: address, symbol: dataSymbol(address),
                                 detail: OnceOwners.detail(thread.frames))
            lock.oneTimeInit = true
            lock.ownerUnrecorded = true
            return lock
        case .barrier?:
            // No barrier kind in report v1: a futex, said to be a barrier.
            return BlockedOn(kind: .futex, address: address, symbol: dataSymbol(address),
                             detail: "pthread_barrier_wait: waits until the barrier's count of threads arrives")
        case nil:
            // pthread_join without symbols (no libc6-dbg: __pthread_clockjoin_ex
            // is not in .dynsym) is still certain from memory: the word holds a
            // live thread's tid, is the value waited for, and lies in that
            // thread's own stack block, where glibc keeps its struct pthread.
            if let tid = memory.readInt32(address), tid > 0, Int32(truncatingIfNeeded: syscall.args[2]) == tid,
               let stack = stackByTid[tid], address >= stack.low, address < stack.high {
                return BlockedOn(kind: .join, address: address, ownerTid: tid,
                                 detail: "joining pthread_t 0x\(String(address &- Self.pthreadTidOffset, radix: 16))")
            }
            // A priority-inheritance futex names its owner in the word by
            // kernel contract (Documentation/locking/pi-futex.rst), whoever
            // built the lock on it: Swift's Mutex, PI pthread mutexes, others.
            if command == 6 || command == 13, let word = memory.readUInt32(address) {
                let owner = Int32(bitPattern: word & Self.futexTidMask)
                return BlockedOn(kind: .mutex, address: address, symbol: dataSymbol(address),
                                 ownerTid: owner > 0 ? owner : nil, detail: "priority-inheritance futex")
            }
            return BlockedOn(kind: .futex, address: address, symbol: dataSymbol(address),
                             detail: "futex op \(command)")
        }
    }

    private func mutex(at address: UInt64, command: Int) -> BlockedOn {
        let kind = memory.readUInt32(address + Self.mutexKindOffset) ?? 0
        var owner: Int32?
        // FUTEX_LOCK_PI (6) / FUTEX_LOCK_PI2 (13): the owner tid is in the futex word.
        if command == 6 || command == 13 {
            owner = memory.readUInt32(address).map { Int32(bitPattern: $0 & Self.futexTidMask) }
        } else {
            owner = memory.readInt32(address + Self.mutexOwnerOffset)
        }
        if let o = owner, o <= 0 { owner = nil }
        // PTHREAD_MUTEX_KIND_MASK_NP = 3: 1 recursive, 2 errorcheck.
        let type = kind & 3
        return BlockedOn(kind: .mutex, address: address, symbol: dataSymbol(address),
                         ownerTid: owner, recursive: type == 1 || type == 2)
    }

    private func rwlock(futex: UInt64, write: Bool) -> BlockedOn {
        // Waiters sleep on one of two futex words inside the lock; the base
        // is the one whose __cur_writer names a thread of this process.
        for offset in Self.rwlockFutexOffsets where futex >= offset {
            let base = futex - offset
            if let writer = memory.readInt32(base + Self.rwlockWriterOffset), liveTids.contains(writer) {
                return BlockedOn(kind: write ? .rwlockWrite : .rwlockRead, address: base,
                                 symbol: dataSymbol(base), ownerTid: writer)
            }
        }
        let base = futex - Self.rwlockFutexOffsets[0]
        // __readers (offset 0): the reader count above 3 flag bits
        // (PTHREAD_RWLOCK_READER_SHIFT, nptl/pthread_rwlock_common.c); bit 0
        // WRPHASE, bit 1 WRLOCKED (set by a writer already waiting). One
        // reader in a read phase: like a Rust mutex, its holder may be found
        // by the guard that refers to the lock (StackReferenceOwners).
        if let readers = memory.readUInt32(base), readers >> 3 == 1, readers & 1 == 0 {
            var lock = BlockedOn(kind: write ? .rwlockWrite : .rwlockRead, address: base, symbol: dataSymbol(base),
                                 detail: "held by one reader, which glibc does not record")
            lock.ownerUnrecorded = true
            return lock
        }
        return BlockedOn(kind: write ? .rwlockWrite : .rwlockRead, address: base,
                         symbol: dataSymbol(base), ownerTid: nil,
                         detail: "held by readers or a writer not found: glibc does not record reader holders")
    }

    /// Rust's std::sync::RwLock on futexes (library/std/src/sys/sync/rwlock/
    /// futex.rs): `state` at 0 (bits 0-29: reader count, all ones = write
    /// locked; bit 30 readers waiting, bit 31 writers waiting) is where
    /// readers wait; writers wait on `writer_notify` at 4. No owner is kept:
    /// one writer or one reader is inferred from the guard's reference
    /// (StackReferenceOwners); more readers stay unknown.
    private func rustRwLock(futex: UInt64, write: Bool) -> BlockedOn {
        let base = write ? futex &- 4 : futex
        let mask: UInt32 = (1 << 30) - 1
        var lock = BlockedOn(kind: write ? .rwlockWrite : .rwlockRead, address: base, symbol: dataSymbol(base))
        guard let state = memory.readUInt32(base) else { return lock }
        let count = state & mask
        if count == mask {
            lock.detail = "Rust std::sync::RwLock, write-locked; it records no owner"
            lock.ownerUnrecorded = true
        } else if count == 1 {
            lock.detail = "Rust std::sync::RwLock, held by one reader; it records no owner"
            lock.ownerUnrecorded = true
        } else {
            lock.detail = "Rust std::sync::RwLock, held by \(count) readers; it records no owner"
        }
        return lock
    }

    private func stdioLock(at address: UInt64) -> BlockedOn {
        var owner: Int32?
        if let descriptor = memory.readUInt64(address + Self.stdioOwnerOffset), descriptor != 0 {
            owner = tidByDescriptor[descriptor]
                ?? memory.readInt32(descriptor + Self.pthreadTidOffset).flatMap { $0 > 0 ? $0 : nil }
        }
        return BlockedOn(kind: .stdioLock, address: address, symbol: dataSymbol(address), ownerTid: owner)
    }
}

/// Memoizes `Primitive.classify` per function name: a thousand threads
/// parked in the same functions cost a handful of string searches.
final class PrimitiveCache {
    private var byName: [String: Primitive?] = [:]

    func find(in frames: [Frame]) -> Primitive? {
        for frame in frames.prefix(Primitive.depth) {
            guard let name = frame.function else { continue }
            if let known = byName[name] {
                if let primitive = known { return primitive }
                continue
            }
            let primitive = Primitive.classify(name)
            byName[name] = .some(primitive)
            if let primitive { return primitive }
        }
        return nil
    }
}

/// Which glibc primitive a futex wait belongs to, read off the top frames.
enum Primitive: Equatable {
    case mutex, rwlockRead, rwlockWrite, join, stdio, condvar, semaphore, barrier, once
    /// Rust's std::sync::Mutex on a futex (library/std/src/sys/sync/mutex/futex.rs).
    case rustMutex
    /// Rust's std::sync::RwLock on futexes (library/std/src/sys/sync/rwlock/futex.rs).
    case rustRwLockRead, rustRwLockWrite

    /// Frames searched: the wait sits a few frames under the primitive.
    static let depth = 8

    static func find(in frames: [Frame]) -> Primitive? {
        for frame in frames.prefix(depth) {
            guard let name = frame.function else { continue }
            if let primitive = classify(name) { return primitive }
        }
        return nil
    }

    static func classify(_ name: String) -> Primitive? {
        // Rust std: legacy-mangled and demangled names say "mutex::futex::Mutex::lock_contended";
        // v0-mangled ones "5mutex5futex...14lock_contended".
        if name.contains("lock_contended") && name.contains("mutex") && name.contains("futex") { return .rustMutex }
        if name.contains("rwlock") && name.contains("futex") {
            if name.contains("read_contended") { return .rustRwLockRead }
            if name.contains("write_contended") { return .rustRwLockWrite }
        }
        if name.contains("pthread_mutex_") && (name.contains("lock") ) && !name.contains("unlock") { return .mutex }
        if name.contains("pthread_rwlock_rdlock") || name.contains("pthread_rwlock_timedrdlock")
            || name.contains("pthread_rwlock_clockrdlock") { return .rwlockRead }
        if name.contains("pthread_rwlock_wrlock") || name.contains("pthread_rwlock_timedwrlock")
            || name.contains("pthread_rwlock_clockwrlock") { return .rwlockWrite }
        if name.contains("pthread_join") || name.contains("pthread_clockjoin") || name.contains("pthread_timedjoin")
            || name.contains("pthread_tryjoin") { return .join }
        if name.contains("pthread_cond_") { return .condvar }
        if name.contains("pthread_barrier_wait") { return .barrier }
        if name.contains("pthread_once") || name.contains("__cxa_guard_acquire") { return .once }
        // glibc's names only: a program's own "sem_worker" is not sem_wait.
        if name == "sem_wait" || name.hasPrefix("sem_wait@") || name.contains("__new_sem_wait")
            || name.contains("sem_clockwait") || name.contains("sem_timedwait") { return .semaphore }
        if stdioFunctions.contains(name) || name.hasPrefix("_IO_") || name.hasPrefix("__vfprintf")
            || name.hasPrefix("__printf") || name.hasPrefix("__fprintf") { return .stdio }
        return nil
    }

    static let stdioFunctions: Set<String> = [
        "flockfile", "_IO_flockfile", "printf", "fprintf", "vprintf", "vfprintf", "puts", "fputs",
        "fputc", "putc", "putchar", "fwrite", "fflush", "fgets", "fgetc", "getc", "getchar", "fread",
        "fclose", "fopen", "fscanf", "scanf", "perror", "getline", "getdelim", "fseek", "ftell", "rewind",
    ]
}

/// The clock of /proc/.../sched's se.exec_start: each CPU's run-queue task
/// clock, neither CLOCK_MONOTONIC nor the same across CPUs (see
/// tw_sched_clock_ms_on_cpu). "Now" is read once per CPU and scan.
struct SchedClock {
    private var nowByCPU: [Int: Double?] = [:]

    mutating func nowMillis(cpu: Int) -> Double? {
        if let known = nowByCPU[cpu] { return known }
        let now = tw_sched_clock_ms_on_cpu(Int32(cpu))
        nowByCPU[cpu] = now >= 0 ? now : nil
        return nowByCPU[cpu] ?? nil
    }
}
