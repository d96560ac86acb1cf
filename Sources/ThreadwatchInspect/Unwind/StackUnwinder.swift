import CThreadwatch

/// A raw unwound frame: pc and whether it is exact (activation) or a return address.
public struct RawFrame: Equatable, Sendable {
    public var pc: UInt64
    public var isActivation: Bool
}

/// libdwfl over the target's modules (from /proc/PID/maps), unwinding thread
/// contexts we copied ourselves: libdwfl never ptraces the target here.
public final class StackUnwinder {
    let handle: OpaquePointer
    let pid: Int32
    public let maxFrames: Int

    public init(pid: Int32, maxFrames: Int = 128) throws(ScanError) {
        var error = [CChar](repeating: 0, count: 256)
        guard let handle = tw_unwinder_new(pid, &error, error.count) else {
            throw ScanError(.unwinderFailed, pid: pid,
                            "could not read the modules of pid \(pid): \(cString(error))")
        }
        self.handle = handle
        self.pid = pid
        self.maxFrames = maxFrames
    }

    deinit { tw_unwinder_free(handle) }

    var dwfl: OpaquePointer { tw_unwinder_dwfl(handle) }

    /// Unwinds from a full register set and a stack copy; reads outside the
    /// copy (rare: a frame deeper than the copy) go to live memory.
    public func unwind(_ capture: ThreadCapture) -> (frames: [RawFrame], error: String?) {
        var context = tw_thread_context()
        withUnsafeMutableBytes(of: &context.regs) { raw in
            let regs = raw.bindMemory(to: UInt64.self)
            for (i, value) in capture.registers.dwarfOrder.enumerated() { regs[i] = value }
        }
        context.known = (1 << UInt32(TW_DWARF_REGS)) - 1
        context.stack_address = capture.stackAddress
        context.read_live = 1
        return capture.stack.withUnsafeBufferPointer { stack in
            context.stack = stack.baseAddress
            context.stack_length = stack.count
            return run(capture.tid, &context)
        }
    }

    /// Unwinds from pc and sp alone (--proc-only: /proc/.../syscall), reading
    /// the live stack of a thread that is blocked and so not moving.
    public func unwind(tid: Int32, pc: UInt64, sp: UInt64, stackAddress: UInt64 = 0,
                       stack: [UInt8] = []) -> (frames: [RawFrame], error: String?) {
        let copy = StackCopy(address: stackAddress, bytes: stack)
        let first = unwind(tid: tid, pc: pc, sp: sp, rbp: nil, copy: copy)
        guard let last = first.frames.last, !isThreadRoot(last.pc) else { return first }
        // Threads parked on the same path keep their frame base at the same
        // distance from sp: try the distance that worked for the last one.
        let key = first.frames.map(\.pc)
        if let delta = frameBaseDelta[key] {
            let attempt = unwind(tid: tid, pc: pc, sp: sp, rbp: sp &+ delta, copy: copy)
            if attempt.frames.count > first.frames.count, attempt.frames.starts(with: first.frames) { return attempt }
        }
        // The walk stopped: usually at the first frame whose CFA is rbp-based
        // (frame-pointer code), since /proc gives no rbp. Guess rbp from the
        // stack: a slot S above sp holding a saved rbp (0, or a higher stack
        // address) under a return address into code. Keep the guess whose
        // walk agrees with the first and goes deepest.
        var best = first
        for candidate in frameBaseCandidates(sp: sp, limit: 16) {
            var attempt = unwind(tid: tid, pc: pc, sp: sp, rbp: candidate, copy: copy)
            // A guessed walk may take a data pointer for a return address: it ends there.
            if let bad = attempt.frames.indices.dropFirst(first.frames.count).first(where: { !isCode(attempt.frames[$0].pc) }) {
                attempt.frames = Array(attempt.frames[..<bad])
            }
            guard attempt.frames.count > best.frames.count,
                  attempt.frames.starts(with: first.frames) else { continue }
            best = attempt
            frameBaseDelta[key] = candidate &- sp
            if let end = attempt.frames.last, isThreadRoot(end.pc) { break }
        }
        return best
    }

    private var frameBaseDelta: [[UInt64]: UInt64] = [:]
    /// Executable mappings, read once when first needed (libdw's section
    /// lookup for this cost 10+ MB of section data at 4000 threads).
    private lazy var code: MemoryMap = {
        let all = ProcFile.bytes("/proc/\(pid)/maps").map(MemoryMap.parse) ?? MemoryMap(mappings: [])
        return MemoryMap(mappings: all.mappings.filter { $0.permissions.contains("x") })
    }()

    /// A return address points just past a call, which is in executable code.
    private func isCode(_ returnAddress: UInt64) -> Bool {
        code.mapping(containing: returnAddress &- 1) != nil
    }
    private var rootByPC: [UInt64: Bool] = [:]

    /// Where every thread's stack ends: a walk that got here is complete.
    static let rootFunctions: Set<String> = ["clone", "__clone", "clone3", "__clone3", "_start",
                                             "__libc_start_main", "__libc_start_call_main", "start_thread"]

    private func isThreadRoot(_ pc: UInt64) -> Bool {
        if let known = rootByPC[pc] { return known }
        var root = false
        if let module = dwfl_addrmodule(dwfl, pc &- 1),
           let name = dwfl_module_addrname(module, pc &- 1) {
            let text = String(cString: name)
            root = Self.rootFunctions.contains { text == $0 || text.hasPrefix($0 + "@") }
        }
        rootByPC[pc] = root
        return root
    }

    struct StackCopy {
        var address: UInt64
        var bytes: [UInt8]
    }

    private func unwind(tid: Int32, pc: UInt64, sp: UInt64, rbp: UInt64?, copy: StackCopy) -> (frames: [RawFrame], error: String?) {
        var context = tw_thread_context()
        withUnsafeMutableBytes(of: &context.regs) { raw in
            let regs = raw.bindMemory(to: UInt64.self)
            regs[Int(TW_DWARF_SP)] = sp
            regs[Int(TW_DWARF_PC)] = pc
            if let rbp { regs[6] = rbp }
        }
        context.known = (1 << UInt32(TW_DWARF_SP)) | (1 << UInt32(TW_DWARF_PC)) | (rbp == nil ? 0 : 1 << 6)
        context.stack_address = copy.address
        context.read_live = 1
        return copy.bytes.withUnsafeBufferPointer { bytes in
            context.stack = bytes.baseAddress
            context.stack_length = bytes.count
            return run(tid, &context)
        }
    }

    /// Plausible frame bases in the 4 KiB above sp, nearest first.
    private func frameBaseCandidates(sp: UInt64, limit: Int) -> [UInt64] {
        let span = 4096
        guard let bytes = RemoteMemory(pid: pid).read(sp, count: span), bytes.count >= 16 else { return [] }
        let words = bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
        let top = sp + UInt64(words.count * 8)
        var found: [UInt64] = []
        for i in 0..<(words.count - 1) where found.count < limit {
            let slot = sp + UInt64(i * 8)
            let savedRBP = words[i], returnAddress = words[i + 1]
            let chained = savedRBP == 0 || (savedRBP > slot && savedRBP < top + (1 << 20) && savedRBP % 8 == 0)
            guard chained, returnAddress > 0x1000, isCode(returnAddress) else { continue }
            found.append(slot)
        }
        return found
    }

    private func run(_ tid: Int32, _ context: inout tw_thread_context) -> (frames: [RawFrame], error: String?) {
        var pcs = [UInt64](repeating: 0, count: maxFrames)
        var activation = [UInt8](repeating: 0, count: maxFrames)
        var error = [CChar](repeating: 0, count: 256)
        let count = Int(tw_unwind(handle, tid, &context, &pcs, &activation, Int32(maxFrames), &error, error.count))
        let frames = (0..<count).map { RawFrame(pc: pcs[$0], isActivation: activation[$0] != 0) }
        let message = error[0] == 0 ? nil : cString(error)
        return (frames, message)
    }
}

/// Text of a NUL-terminated C buffer.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
