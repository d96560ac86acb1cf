import CThreadwatch
import ThreadwatchModel

/// One decoded instruction: its length and its memory operands.
struct DecodedInstruction: Sendable, Equatable {
    var length: Int
    var operands: [MemoryOperand]
    var lock: Bool
    var text: String
}

/// Decodes the instruction at a pc of the target with capstone. Code bytes
/// are read once per pc (process_vm_readv) and the result cached: a hot loop
/// is a handful of pcs sampled thousands of times.
final class InstructionDecoder {
    private let memory: RemoteMemory
    private let decoder: OpaquePointer?
    private var cache: [UInt64: DecodedInstruction?] = [:]

    init(pid: Int32) {
        memory = RemoteMemory(pid: pid)
        decoder = tw_decoder_new()
    }

    deinit { tw_decoder_free(decoder) }

    var decodedCount: Int { cache.count }

    func decode(_ pc: UInt64) -> DecodedInstruction? {
        if let hit = cache[pc] { return hit }
        let result = decodeUncached(pc)
        cache[pc] = result
        return result
    }

    private func decodeUncached(_ pc: UInt64) -> DecodedInstruction? {
        // An x86 instruction is at most 15 bytes; a read may end early at the end of a mapping.
        guard let decoder, let code = memory.read(pc, count: 15), !code.isEmpty else { return nil }
        var insn = tw_insn()
        let rc = code.withUnsafeBufferPointer { tw_decode(decoder, $0.baseAddress, $0.count, pc, &insn) }
        guard rc == 0 else { return nil }
        var operands: [MemoryOperand] = []
        withUnsafeBytes(of: insn.ops) { raw in
            let ops = raw.bindMemory(to: tw_mem_operand.self)
            for i in 0..<Int(insn.operand_count) { if let op = Self.operand(ops[i]) { operands.append(op) } }
        }
        let text = withUnsafeBytes(of: insn.text) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return DecodedInstruction(length: Int(insn.length), operands: operands, lock: insn.lock != 0, text: text)
    }

    static func operand(_ m: tw_mem_operand) -> MemoryOperand? {
        func register(_ r: Int32) -> Int?? {
            if r == Int32(TW_REG_NONE) { return .some(nil) }
            if r < 0 { return nil }  // a register perf does not sample (segment, vector index)
            return .some(Int(r))
        }
        guard let base = register(m.base), let index = register(m.index) else { return nil }
        return MemoryOperand(base: base, index: index, scale: Int(m.scale), displacement: m.disp,
                             segment: m.segment == 1 ? .fs : m.segment == 2 ? .gs : .none,
                             reads: m.access & Int32(TW_ACCESS_READ) != 0,
                             writes: m.access & Int32(TW_ACCESS_WRITE) != 0,
                             size: Int(m.size), address32: m.address32 != 0)
    }
}
