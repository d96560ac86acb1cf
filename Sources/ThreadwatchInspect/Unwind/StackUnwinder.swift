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
    public func unwind(tid: Int32, pc: UInt64, sp: UInt64) -> (frames: [RawFrame], error: String?) {
        var context = tw_thread_context()
        withUnsafeMutableBytes(of: &context.regs) { raw in
            let regs = raw.bindMemory(to: UInt64.self)
            regs[Int(TW_DWARF_SP)] = sp
            regs[Int(TW_DWARF_PC)] = pc
        }
        context.known = (1 << UInt32(TW_DWARF_SP)) | (1 << UInt32(TW_DWARF_PC))
        context.read_live = 1
        return run(tid, &context)
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
