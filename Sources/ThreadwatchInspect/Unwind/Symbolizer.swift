import CThreadwatch
import ThreadwatchModel
#if canImport(Glibc)
import Glibc
#endif

/// Names code and data addresses through libdwfl: symbol+offset, module,
/// file:line and inline chains where debug info exists. Cached per pc, so
/// 1000 threads parked in the same libc function cost one look-up.
public final class Symbolizer {
    /// Which modules get DWARF look-ups (file:line, inlined frames).
    public enum SourceLines: String, Sendable, CaseIterable {
        /// The program and its own libraries, not the system's (/lib, /usr/lib):
        /// loading libc's separate debug info alone costs ~45 ms and ~9 MB.
        case app
        case all
        case none

        func wants(_ module: String?) -> Bool {
            switch self {
            case .all: return true
            case .none: return false
            case .app:
                guard let module else { return false }
                return !["/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/"].contains { module.hasPrefix($0) }
            }
        }
    }

    private let dwfl: OpaquePointer
    private let sourceLines: SourceLines
    private var codeCache: [UInt64: [Frame]] = [:]
    private var moduleNames: [OpaquePointer: String] = [:]

    init(unwinder: StackUnwinder, sourceLines: SourceLines = .app) {
        self.dwfl = unwinder.dwfl
        self.sourceLines = sourceLines
    }

    /// Frames for one unwound pc: inlined callees first, then the function itself.
    public func frames(for raw: RawFrame) -> [Frame] {
        // A return address points after the call; look up the call itself.
        let lookup = raw.isActivation ? raw.pc : raw.pc &- 1
        let key = raw.isActivation ? raw.pc : raw.pc | (1 << 63)
        if let cached = codeCache[key] { return cached }
        let result = resolve(pc: raw.pc, lookup: lookup)
        codeCache[key] = result
        return result
    }

    /// "g_stats.hits[1]": the field of a global variable at `address`, when
    /// the module has DWARF for it; nil otherwise.
    public func dataField(_ address: UInt64) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard tw_data_field(dwfl, address, &buffer, buffer.count) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// "accounts+0x28" for an address inside a data symbol, nil otherwise.
    public func dataSymbol(_ address: UInt64) -> String? {
        guard let module = tw_module_for_data(dwfl, address) else { return nil }
        var offset: GElf_Off = 0
        var sym = GElf_Sym()
        guard let name = dwfl_module_addrinfo(module, address, &offset, &sym, nil, nil, nil) else { return nil }
        // Only a hit inside the symbol's extent counts (a lock in the heap
        // right after a global must not take the global's name).
        guard sym.st_size == 0 || offset < sym.st_size else { return nil }
        let text = Self.demangled(name)
        return offset == 0 ? text : "\(text)+0x\(String(offset, radix: 16))"
    }

    private func resolve(pc: UInt64, lookup: UInt64) -> [Frame] {
        guard let module = dwfl_addrmodule(dwfl, lookup) else { return [Frame(pc: pc)] }
        let moduleName = name(of: module)
        var offset: GElf_Off = 0
        var sym = GElf_Sym()
        var function: String?
        var functionOffset: UInt64?
        if let name = dwfl_module_addrinfo(module, lookup, &offset, &sym, nil, nil, nil) {
            function = Self.demangled(name)
            functionOffset = offset + (pc - lookup)
        }
        var file: String?
        var line: Int?
        var lineNumber: Int32 = 0
        guard sourceLines.wants(moduleName) else {
            return [Frame(pc: pc, function: function, offset: functionOffset, module: moduleName)]
        }
        if let path = tw_source_line(module, lookup, &lineNumber) {
            file = String(cString: path)
            line = lineNumber > 0 ? Int(lineNumber) : nil
        }
        // Inline chain, innermost first: each inlined function sits at the
        // previous location; its caller sits at the call site.
        let maxInline = 16
        var names = [UnsafePointer<CChar>?](repeating: nil, count: maxInline)
        var callFiles = [UnsafePointer<CChar>?](repeating: nil, count: maxInline)
        var callLines = [Int32](repeating: 0, count: maxInline)
        let inlineCount = Int(tw_inline_chain(module, lookup, &names, &callFiles, &callLines, Int32(maxInline)))
        var frames: [Frame] = []
        var locationFile = file
        var locationLine = line
        for i in 0..<inlineCount {
            frames.append(Frame(pc: pc, function: names[i].map(Self.demangled), module: moduleName,
                                file: locationFile, line: locationLine, inlined: true))
            locationFile = callFiles[i].map { String(cString: $0) }
            locationLine = callLines[i] > 0 ? Int(callLines[i]) : nil
        }
        frames.append(Frame(pc: pc, function: function, offset: functionOffset, module: moduleName,
                            file: locationFile, line: locationLine))
        return frames
    }

    /// C++ and Swift names read as written ("std::mutex::lock()",
    /// "App.Bank.transfer(from: Swift.Int) -> ()"), others as they are.
    static func demangled(_ name: UnsafePointer<CChar>) -> String {
        if let swift = swiftDemangled(name) { return swift }
        guard let readable = tw_demangle(name) else { return String(cString: name) }
        defer { free(readable) }
        return withoutRustHash(String(cString: readable))
    }

    /// Swift symbols ("$s..." since Swift 5; "_$s" where a platform adds an
    /// underscore), demangled by the Swift runtime threadwatch itself runs on.
    static func swiftDemangled(_ name: UnsafePointer<CChar>) -> String? {
        let length = strlen(name)
        guard length > 2, name[0] == 0x24 /* $ */ || (name[0] == 0x5f && name[1] == 0x24) else { return nil }
        guard let readable = swiftDemangle(name, length, nil, nil, 0) else { return nil }
        defer { free(readable) }
        return String(cString: readable)
    }

    /// Rust's legacy mangling ends a path in "::h" and 16 hex digits, a hash
    /// that only tells crate versions apart: "abba::transfer::h0c09...".
    static func withoutRustHash(_ name: String) -> String {
        let bytes = Array(name.utf8)
        guard bytes.count > 19 else { return name }
        let cut = bytes.count - 19  // "::h" + 16 hex digits
        guard bytes[cut] == UInt8(ascii: ":"), bytes[cut + 1] == UInt8(ascii: ":"), bytes[cut + 2] == UInt8(ascii: "h"),
              bytes[(cut + 3)...].allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else { return name }
        return String(decoding: bytes[..<cut], as: UTF8.self)
    }

    private func name(of module: OpaquePointer) -> String? {
        if let cached = moduleNames[module] { return cached }
        let name = dwfl_module_info(module, nil, nil, nil, nil, nil, nil, nil).map { String(cString: $0) }
        moduleNames[module] = name
        return name
    }
}

/// The Swift runtime's demangler (libswiftCore, exported with C linkage):
/// returns a malloc'd string, or nil for a name that is not Swift's.
@_silgen_name("swift_demangle")
private func swiftDemangle(_ mangledName: UnsafePointer<CChar>?, _ mangledNameLength: Int,
                           _ outputBuffer: UnsafeMutablePointer<CChar>?, _ outputBufferSize: UnsafeMutablePointer<Int>?,
                           _ flags: UInt32) -> UnsafeMutablePointer<CChar>?
