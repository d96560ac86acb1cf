import ThreadwatchModel

/// Parsers for /proc text, pure so they are tested on canned input
/// (layouts: proc(5), Linux fs/proc/array.c and fs/proc/base.c).

/// /proc/PID/task/TID/stat
public struct TaskStat: Equatable, Sendable {
    public var comm: String
    public var state: String
    public var ppid: Int32
    public var flags: UInt64
    public var priority: Int
    public var nice: Int
    public var startTime: UInt64
    public var processor: Int
    public var realtimePriority: Int
    public var policy: Int

    /// PF_KTHREAD, include/linux/sched.h
    public var isKernelThread: Bool { flags & 0x0020_0000 != 0 }

    public static func parse(_ text: String) -> TaskStat? { parse(Array(text.utf8)) }

    public static func parse(_ bytes: [UInt8]) -> TaskStat? {
        // comm may hold spaces and parentheses: it ends at the last ')'.
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")), open < close else { return nil }
        let comm = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        // Fields after comm, rest[0] is field 3 of proc(5).
        var rest: [Range<Int>] = []
        rest.reserveCapacity(50)
        var i = close + 1
        while i < bytes.count {
            while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x0a) { i += 1 }
            let start = i
            while i < bytes.count && bytes[i] != 0x20 && bytes[i] != 0x0a { i += 1 }
            if i > start { rest.append(start..<i) }
        }
        func field(_ n: Int) -> Int64? { n - 3 < rest.count ? ByteParsing.int(bytes[rest[n - 3]]) : nil }
        guard rest.count > 6, let ppid = field(4), let flags = field(9) else { return nil }
        return TaskStat(
            comm: comm, state: String(decoding: bytes[rest[0]], as: UTF8.self), ppid: Int32(truncatingIfNeeded: ppid),
            flags: UInt64(bitPattern: flags),
            priority: Int(field(18) ?? 0),
            nice: Int(field(19) ?? 0),
            startTime: UInt64(bitPattern: field(22) ?? 0),
            processor: Int(field(39) ?? -1),
            realtimePriority: Int(field(40) ?? 0),
            policy: Int(field(41) ?? 0))
    }

    /// SCHED_* names, include/uapi/linux/sched.h
    public static func policyName(_ policy: Int) -> String {
        switch policy {
        case 0: return "SCHED_OTHER"
        case 1: return "SCHED_FIFO"
        case 2: return "SCHED_RR"
        case 3: return "SCHED_BATCH"
        case 5: return "SCHED_IDLE"
        case 6: return "SCHED_DEADLINE"
        default: return "policy \(policy)"
        }
    }
}

/// /proc/PID/task/TID/status, the fields threadwatch uses (kept as a
/// small struct: a scan holds one per thread).
public struct TaskStatus: Equatable, Sendable {
    public var tgid: Int32?
    public var tracerPid: Int32
    public var voluntarySwitches: Int?
    public var involuntarySwitches: Int?
    public var signals: SignalMasks?

    /// The keys threadwatch reads; the rest of the file is skipped unparsed.
    static let keys: Set<String> = [
        "Tgid", "TracerPid", "SigPnd", "ShdPnd", "SigBlk", "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches",
    ]

    public static func parse(_ text: String) -> TaskStatus { parse(Array(text.utf8)) }

    public static func parse(_ bytes: [UInt8]) -> TaskStatus {
        let fields = ByteParsing.keyValues(bytes, keys: keys)
        var signals: SignalMasks?
        if let blocked = fields["SigBlk"], let pending = fields["SigPnd"] {
            signals = SignalMasks(blocked: blocked, pending: pending, sharedPending: fields["ShdPnd"] ?? "")
        }
        return TaskStatus(
            tgid: fields["Tgid"].flatMap { Int32($0) },
            tracerPid: fields["TracerPid"].flatMap { Int32($0) } ?? 0,
            voluntarySwitches: fields["voluntary_ctxt_switches"].flatMap { Int($0) },
            involuntarySwitches: fields["nonvoluntary_ctxt_switches"].flatMap { Int($0) },
            signals: signals)
    }
}

/// /proc/PID/task/TID/syscall: "running", "-1 sp pc" (blocked outside a
/// syscall) or "nr a0 a1 a2 a3 a4 a5 sp pc".
public enum SyscallParser {
    public static func parse(_ text: String) -> SyscallState? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard let first = parts.first else { return nil }
        if first == "running" { return SyscallState(number: nil) }
        guard let nr = Int(first) else { return nil }
        let values = parts.dropFirst().compactMap { hex($0) }
        if nr == -1 {
            guard values.count >= 2 else { return nil }
            return SyscallState(number: -1, args: [], sp: values[0], pc: values[1])
        }
        guard values.count >= 8 else { return nil }
        return SyscallState(number: nr, args: Array(values[0..<6]), sp: values[6], pc: values[7])
    }

    static func hex(_ s: Substring) -> UInt64? {
        s.hasPrefix("0x") ? UInt64(s.dropFirst(2), radix: 16) : UInt64(s)
    }
}

/// One line of /proc/PID/maps.
public struct MemoryMapping: Equatable, Sendable {
    public var start: UInt64
    public var end: UInt64
    public var permissions: String
    public var offset: UInt64
    public var inode: UInt64
    public var path: String

    public var isReadable: Bool { permissions.hasPrefix("r") }
    public var isInaccessible: Bool { permissions.hasPrefix("---") }
    public func contains(_ address: UInt64) -> Bool { address >= start && address < end }
}

public struct MemoryMap: Equatable, Sendable {
    public var mappings: [MemoryMapping]  // sorted by start

    public init(mappings: [MemoryMapping]) { self.mappings = mappings }

    public static func parse(_ text: String) -> MemoryMap { parse(Array(text.utf8)) }

    /// "start-end perms offset dev inode   path" lines; a process with
    /// thousands of threads has thousands of stack mappings, so bytes, not Strings.
    public static func parse(_ bytes: [UInt8]) -> MemoryMap {
        var mappings: [MemoryMapping] = []
        var i = 0
        let n = bytes.count
        func field() -> Range<Int> {
            while i < n && bytes[i] == 0x20 { i += 1 }
            let start = i
            while i < n && bytes[i] != 0x20 && bytes[i] != 0x0a { i += 1 }
            return start..<i
        }
        while i < n {
            let range = field(), perms = field(), offset = field(), _ = field(), inode = field()
            while i < n && bytes[i] == 0x20 { i += 1 }
            let pathStart = i
            while i < n && bytes[i] != 0x0a { i += 1 }
            let path = bytes[pathStart..<i]
            i += 1
            guard let dash = bytes[range].firstIndex(of: UInt8(ascii: "-")),
                  let start = ByteParsing.hex(bytes[range.lowerBound..<dash]),
                  let end = ByteParsing.hex(bytes[(dash + 1)..<range.upperBound]) else { continue }
            mappings.append(MemoryMapping(
                start: start, end: end, permissions: String(decoding: bytes[perms], as: UTF8.self),
                offset: ByteParsing.hex(bytes[offset]) ?? 0,
                inode: ByteParsing.int(bytes[inode]).map { UInt64(bitPattern: $0) } ?? 0,
                path: path.isEmpty ? "" : String(decoding: path, as: UTF8.self)))
        }
        mappings.sort { $0.start < $1.start }
        return MemoryMap(mappings: mappings)
    }

    public func mapping(containing address: UInt64) -> MemoryMapping? {
        var low = 0, high = mappings.count
        while low < high {
            let mid = (low + high) / 2
            if mappings[mid].end <= address { low = mid + 1 } else { high = mid }
        }
        return low < mappings.count && mappings[low].contains(address) ? mappings[low] : nil
    }

    /// The stack region holding `sp` and the inaccessible guard right below it
    /// (glibc maps a PROT_NONE guard under each thread stack, nptl/allocatestack.c).
    public func stackRegion(containing sp: UInt64) -> StackRegion? {
        guard let index = mappings.firstIndex(where: { $0.contains(sp) }) else { return nil }
        let stack = mappings[index]
        var guardBytes: UInt64 = 0
        if index > 0, mappings[index - 1].end == stack.start, mappings[index - 1].isInaccessible {
            guardBytes = mappings[index - 1].end - mappings[index - 1].start
        }
        return StackRegion(low: stack.start, high: stack.end, guardBytes: guardBytes)
    }
}

/// /proc/PID/task/TID/sched: "key : value" lines (kernel/sched/debug.c).
public enum SchedParser {
    public static let keys: Set<String> = ["se.exec_start", "se.sum_exec_runtime"]

    public static func parse(_ text: String) -> [String: Double] { parse(Array(text.utf8)) }

    public static func parse(_ bytes: [UInt8]) -> [String: Double] {
        ByteParsing.keyValues(bytes, keys: keys).compactMapValues { Double($0) }
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let c = slice.first, set.contains(c) { slice = slice.dropFirst() }
        while let c = slice.last, set.contains(c) { slice = slice.dropLast() }
        return String(slice)
    }
}

/// Byte-level helpers: a scan parses tens of thousands of /proc files, and
/// String slicing costs more than the kernel takes to make them.
enum ByteParsing {
    static func hex<C: Collection>(_ bytes: C) -> UInt64? where C.Element == UInt8 {
        guard !bytes.isEmpty, bytes.count <= 16 else { return nil }
        var value: UInt64 = 0
        for b in bytes {
            let digit: UInt8
            switch b {
            case 0x30...0x39: digit = b - 0x30
            case 0x61...0x66: digit = b - 0x61 + 10
            case 0x41...0x46: digit = b - 0x41 + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }

    static func int<C: Collection>(_ bytes: C) -> Int64? where C.Element == UInt8 {
        var value: Int64 = 0
        var negative = false
        var any = false
        for (n, b) in bytes.enumerated() {
            if n == 0 && b == UInt8(ascii: "-") { negative = true; continue }
            guard b >= 0x30 && b <= 0x39 else { return nil }
            value = value &* 10 &+ Int64(b - 0x30)
            any = true
        }
        return any ? (negative ? -value : value) : nil
    }

    /// "key: value" or "key : value" lines; only `keys` are decoded.
    static func keyValues(_ bytes: [UInt8], keys: Set<String>) -> [String: String] {
        var result: [String: String] = [:]
        var lineStart = 0
        let count = bytes.count
        while lineStart < count {
            var lineEnd = lineStart
            while lineEnd < count && bytes[lineEnd] != 0x0a { lineEnd += 1 }
            if let colon = bytes[lineStart..<lineEnd].firstIndex(of: UInt8(ascii: ":")) {
                var keyEnd = colon
                while keyEnd > lineStart && (bytes[keyEnd - 1] == 0x20 || bytes[keyEnd - 1] == 0x09) { keyEnd -= 1 }
                let key = String(decoding: bytes[lineStart..<keyEnd], as: UTF8.self)
                if keys.contains(key) {
                    var valueStart = colon + 1
                    while valueStart < lineEnd && (bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09) { valueStart += 1 }
                    var valueEnd = lineEnd
                    while valueEnd > valueStart && (bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09) { valueEnd -= 1 }
                    result[key] = String(decoding: bytes[valueStart..<valueEnd], as: UTF8.self)
                }
            }
            lineStart = lineEnd + 1
        }
        return result
    }
}

/// Process-wide signal facts from /proc (proc(5)).
public enum ProcessSignals {
    /// SigCgt: the mask of signals with a handler, hex.
    public static func caught(_ status: String) -> UInt64? {
        for line in status.split(separator: "\n") where line.hasPrefix("SigCgt:") {
            return UInt64(String(line.dropFirst("SigCgt:".count).filter { !$0.isWhitespace }), radix: 16)
        }
        return nil
    }

    /// /proc/PID/timers has an "ID: n" line per POSIX timer.
    public static func timerCount(_ text: String) -> Int {
        text.split(separator: "\n").filter { $0.hasPrefix("ID:") }.count
    }
}
