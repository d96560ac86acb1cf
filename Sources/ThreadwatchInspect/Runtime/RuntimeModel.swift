import CThreadwatch
import ThreadwatchModel
import CThreadwatchRuntime

/// The threadwatch runtime seen from outside: when the target has a
/// `twr_registry` symbol, its fibers (unwound from their saved contexts),
/// carriers, recorded lock order and each thread's TLS descriptor. No
/// symbol: nothing happens. A torn or garbage registry: a warning.
public enum RuntimeModel {
    struct Outcome {
        var fibers: [FiberSnapshot] = []
        var state: RuntimeState?
        var threads: [ThreadSnapshot]
        var warning: String?
    }

    /// Bytes of a suspended fiber's stack copied for unwinding.
    static let fiberStackBytes: UInt64 = 32 * 1024
    static let savedFrameBytes: UInt64 = 64

    static func read(pid: Int32, unwinder: StackUnwinder, symbolizer: Symbolizer, threads: [ThreadSnapshot]) -> Outcome {
        guard let address = RuntimeSymbol.address(of: "twr_registry", in: unwinder.dwfl) else { return Outcome(threads: threads) }
        let memory = RemoteMemory(pid: pid)
        let registry: RuntimeRegistry
        switch RuntimeRegistry.read(memory, at: address) {
        case .success(let r): registry = r
        case .failure(.notInitialised): return Outcome(threads: threads)
        case .failure(let failure):
            return Outcome(threads: threads, warning: "threadwatch runtime registry at 0x\(String(address, radix: 16)) not used: \(describe(failure)); fibers and runtime locks are not shown")
        }
        var state = RuntimeState(carriers: carriers(registry), inversions: inversions(registry, symbolizer))
        state.registryAddress = address
        let fibers = resolveOwners(registry.fibers.compactMap {
            fiber($0.record, memory: memory, unwinder: unwinder, symbolizer: symbolizer,
                  recordAddress: registry.fiberRecordAddress($0.index))
        })
        var annotated = threads
        for i in annotated.indices {
            guard let locks = threadLocks(annotated[i], registry: registry, memory: memory, symbolizer: symbolizer) else { continue }
            state.threadLocks[annotated[i].tid] = locks
            if let waiting = locks.waitingOn {
                var lock = BlockedOn(kind: .runtimeMutex, address: waiting, symbol: symbolizer.dataSymbol(waiting),
                                     ownerTid: holder(of: waiting, memory: memory))
                lock.sinceMicros = annotated[i].blockedOn?.sinceMicros
                annotated[i].blockedOn = lock
            }
        }
        var outcome = Outcome(fibers: fibers, state: state, threads: annotated)
        var notes: [String] = []
        if registry.unsettled > 0 {
            notes.append("\(registry.unsettled) fiber\(registry.unsettled == 1 ? "" : "s") of the threadwatch runtime changed on every read (switching nonstop) and \(registry.unsettled == 1 ? "is" : "are") not shown")
        }
        if registry.dropped > 0 {
            notes.append("the threadwatch runtime's registry was full \(registry.dropped) time\(registry.dropped == 1 ? "" : "s") (tables of \(TWR_MAX_THREADS) threads, \(TWR_MAX_FIBERS) fibers, \(TWR_MAX_LOCKS) locks, \(TWR_MAX_CLASSES) lock classes): what did not fit is not shown")
        }
        outcome.warning = notes.isEmpty ? nil : notes.joined(separator: "; ")
        return outcome
    }

    /// A later look at fibers and carriers alone (no unwinding), to confirm a finding.
    public static func look(pid: Int32, registryAddress: UInt64) -> (fibers: [FiberSnapshot], carriers: [RuntimeState.Carrier])? {
        let memory = RemoteMemory(pid: pid)
        guard case .success(let registry) = RuntimeRegistry.read(memory, at: registryAddress) else { return nil }
        return (resolveOwners(registry.fibers.compactMap { fiber($0.record, memory: memory, unwinder: nil, symbolizer: nil) }), carriers(registry))
    }

    /// A fiber mutex records its owner's carrier as of the lock; in a pool
    /// the owner may have moved since, and its own record says where it is.
    static func resolveOwners(_ fibers: [FiberSnapshot]) -> [FiberSnapshot] {
        let carrierOf = Dictionary(fibers.compactMap { f in f.carrierTid.map { (f.id, $0) } }, uniquingKeysWith: { a, _ in a })
        return fibers.map { f in
            var f = f
            if let owner = f.blockedOn?.ownerFiber, let tid = carrierOf[owner] { f.blockedOn?.ownerTid = tid }
            return f
        }
    }

    static func describe(_ failure: RuntimeRegistry.Failure) -> String {
        switch failure {
        case .unreadable: return "unreadable"
        case .notInitialised: return "not initialised"
        case .badHeader(let why): return "bad header (\(why))"
        case .torn: return "still changing after \(RuntimeRegistry.attempts) reads (torn)"
        }
    }

    static func carriers(_ registry: RuntimeRegistry) -> [RuntimeState.Carrier] {
        registry.carriers.filter { $0.tid > 0 }.map {
            RuntimeState.Carrier(tid: $0.tid, currentFiber: $0.current == 0 ? nil : Int64(truncatingIfNeeded: $0.current),
                                 runnable: Int(min($0.runnable, 1 << 24)), switches: $0.switches,
                                 pool: $0.pool == 0 ? nil : $0.pool, idle: $0.idle != 0, steals: $0.steals)
        }
    }

    static func fiber(_ r: twr_fiber_rec, memory: RemoteMemory, unwinder: StackUnwinder?, symbolizer: Symbolizer?,
                      recordAddress: UInt64? = nil) -> FiberSnapshot? {
        let state: FiberSnapshot.State
        switch Int32(bitPattern: r.state) {
        case Int32(TWR_FIBER_RUNNING): state = .running
        case Int32(TWR_FIBER_RUNNABLE): state = .runnable
        case Int32(TWR_FIBER_BLOCKED): state = .blocked
        case Int32(TWR_FIBER_FINISHED): state = .finished
        default: return nil  // free slot (or garbage)
        }
        var fiber = FiberSnapshot(id: Int64(truncatingIfNeeded: r.id), name: fixedString(r.name), state: state,
                                  carrierTid: r.carrier_tid > 0 ? r.carrier_tid : nil, pool: r.pool == 0 ? nil : r.pool,
                                  switches: r.switches)
        if r.stack_hi > r.stack_lo, r.stack_hi - r.stack_lo <= 1 << 30 {
            fiber.stack = StackRegion(low: r.stack_lo, high: r.stack_hi, guardBytes: 4096)
        }
        if state == .blocked, r.waiting_on != 0 {
            // twr_fmutex (ABI): owner fiber id at 0, owner's carrier tid at 8.
            var lock = BlockedOn(kind: .fiberMutex, address: r.waiting_on, symbol: symbolizer?.dataSymbol(r.waiting_on))
            if let owner = memory.readUInt64(r.waiting_on), owner != 0 { lock.ownerFiber = Int64(truncatingIfNeeded: owner) }
            if let tid = memory.readInt32(r.waiting_on + 8), tid > 0 { lock.ownerTid = tid }
            fiber.blockedOn = lock
        }
        if let unwinder, let symbolizer, state == .runnable || state == .blocked {
            fiber.frames = frames(r, memory: memory, unwinder: unwinder, symbolizer: symbolizer, recordAddress: recordAddress)
        }
        return fiber
    }

    /// The suspended fiber's stack bytes, taken only while it stayed
    /// suspended: its record must be unchanged (same counter) after the
    /// copy, or it ran meanwhile and the copy may mix two moments. Then the
    /// newer record is used, a few times; nil if it never holds still.
    static func stackCopy(_ r: twr_fiber_rec, memory: RemoteMemory, recordAddress: UInt64?) -> (twr_fiber_rec, [UInt8])? {
        var r = r
        for _ in 0..<3 {
            guard r.state == UInt32(TWR_FIBER_RUNNABLE) || r.state == UInt32(TWR_FIBER_BLOCKED) else { return nil }
            let sp = r.saved_sp
            guard sp >= r.stack_lo, sp < r.stack_hi, r.stack_hi - sp >= savedFrameBytes else { return nil }
            let length = Int(min(r.stack_hi - sp, fiberStackBytes))
            guard let copy = memory.read(sp, count: length), copy.count >= Int(savedFrameBytes) else { return nil }
            guard let recordAddress else { return (r, copy) }
            guard let again = RuntimeRegistry.settledRecord(memory, at: recordAddress) else { continue }
            let now = again.withUnsafeBytes { $0.loadUnaligned(as: twr_fiber_rec.self) }
            if now.seq == r.seq { return (r, copy) }
            guard now.id == r.id else { return nil }  // the slot was reused
            r = now
        }
        return nil
    }

    /// Unwinds a suspended fiber from the frame twr_context_switch saved
    /// (threadwatch_runtime.h: mxcsr/fpucw, r15 r14 r13 r12 rbx rbp, rip),
    /// as if the switch had just returned.
    static func frames(_ r: twr_fiber_rec, memory: RemoteMemory, unwinder: StackUnwinder, symbolizer: Symbolizer,
                       recordAddress: UInt64?) -> [Frame] {
        guard let (r, copy) = stackCopy(r, memory: memory, recordAddress: recordAddress) else { return [] }
        let sp = r.saved_sp
        let word = { (i: Int) in copy.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self) } }
        var regs = user_regs_struct()
        regs.r15 = word(1); regs.r14 = word(2); regs.r13 = word(3); regs.r12 = word(4)
        regs.rbx = word(5); regs.rbp = word(6); regs.rip = word(7)
        regs.rsp = sp + savedFrameBytes
        let capture = ThreadCapture(tid: r.carrier_tid, registers: RegisterSet(raw: regs), stackAddress: sp,
                                    stack: copy, stopMicros: 0, groupStopped: false)
        return unwinder.unwind(capture).frames.flatMap(symbolizer.frames(for:))
    }

    /// Holder tid of a twr_mutex (ABI: holder_tid at offset 8), nil when free or unknown.
    static func holder(of lock: UInt64, memory: RemoteMemory) -> Int32? {
        guard let tid = memory.readInt32(lock + 8), tid > 0 else { return nil }
        return tid
    }

    /// The thread's TLS descriptor: at fs_base + tls_offset (ptrace gives
    /// fs_base), else at the address its registry record gives.
    static func threadLocks(_ thread: ThreadSnapshot, registry: RuntimeRegistry, memory: RemoteMemory,
                            symbolizer: Symbolizer) -> RuntimeState.ThreadLocks? {
        let descriptor: UInt64
        if let fs = thread.fsBase, fs != 0 {
            descriptor = UInt64(bitPattern: Int64(bitPattern: fs) &+ registry.tlsOffset)
        } else if let rec = registry.threads.first(where: { $0.tid == thread.tid && $0.tls != 0 }) {
            descriptor = rec.tls
        } else {
            return nil
        }
        let size = MemoryLayout<twr_tls_t>.size
        guard let bytes = memory.read(descriptor, count: size), bytes.count == size else { return nil }
        let tls = bytes.withUnsafeBytes { $0.loadUnaligned(as: twr_tls_t.self) }
        guard tls.magic == TWR_MAGIC, tls.tid == thread.tid else { return nil }
        // held[] follows current_fiber: {lock, pc, cls, pad}, 24 bytes each.
        let heldBase = MemoryLayout<twr_tls_t>.offset(of: \.current_fiber)! + 8
        let held = bytes.withUnsafeBytes { raw in
            (0..<min(Int(tls.held_count), Int(TWR_MAX_HELD))).map { i -> BlockedOn in
                let lock = raw.loadUnaligned(fromByteOffset: heldBase + i * 24, as: UInt64.self)
                return BlockedOn(kind: .runtimeMutex, address: lock, symbol: symbolizer.dataSymbol(lock), ownerTid: thread.tid)
            }
        }
        return RuntimeState.ThreadLocks(held: held, waitingOn: tls.waiting_on == 0 ? nil : tls.waiting_on,
                                        currentFiber: tls.current_fiber == 0 ? nil : Int64(truncatingIfNeeded: tls.current_fiber))
    }

    /// Class pairs recorded in both orders, each site symbolized.
    static func inversions(_ registry: RuntimeRegistry, _ symbolizer: Symbolizer) -> [RuntimeState.Inversion] {
        let orders = registry.orders
        let classes = registry.classes
        let locks = registry.locks
        func name(_ cls: UInt32) -> String {
            let site = Int(cls) < classes.count ? fixedString(classes[Int(cls)].name) : "class \(cls)"
            let file = site.split(separator: "/").last.map(String.init) ?? site
            if let lock = locks.first(where: { $0.cls == cls && $0.address != 0 }), let symbol = symbolizer.dataSymbol(lock.address) {
                return "\(symbol) (\(file))"
            }
            return file
        }
        func site(_ pc: UInt64) -> Frame? { symbolizer.frames(for: RawFrame(pc: pc, isActivation: false)).first }
        var found: [RuntimeState.Inversion] = []
        for ab in orders where ab.first < ab.second {
            guard let ba = orders.first(where: { $0.first == ab.second && $0.second == ab.first }) else { continue }
            found.append(RuntimeState.Inversion(first: name(ab.first), second: name(ab.second),
                                                siteFirstThenSecond: site(ab.pc), siteSecondThenFirst: site(ba.pc),
                                                tidFirstThenSecond: ab.tid, tidSecondThenFirst: ba.tid))
        }
        return found
    }
}
