#if canImport(Glibc)
import Glibc
#endif

/// Writes pretty-printed JSON straight into a byte buffer that is flushed
/// to a file descriptor as it fills: a 4000-thread report never exists as a
/// whole tree in memory (Foundation's JSONEncoder builds one, ~10x larger).
public struct JSONStreamWriter {
    public private(set) var buffer: [UInt8] = []
    private let fd: Int32?
    private var first: [Bool] = []
    private var afterKey = false
    private let flushAt = 1 << 16

    /// `fd`: flush to it as the buffer fills; nil keeps everything in `buffer`.
    public init(fd: Int32?) {
        self.fd = fd
        buffer.reserveCapacity(flushAt + 4096)
    }

    public var text: String { String(decoding: buffer, as: UTF8.self) }

    public mutating func beginObject() { open(UInt8(ascii: "{")) }
    public mutating func endObject() { close(UInt8(ascii: "}")) }
    public mutating func beginArray() { open(UInt8(ascii: "[")) }
    public mutating func endArray() { close(UInt8(ascii: "]")) }

    public mutating func key(_ name: String) {
        separate()
        string(name)
        buffer.append(contentsOf: [UInt8(ascii: ":"), UInt8(ascii: " ")])
        afterKey = true
    }

    public mutating func value(_ v: String) { separate(); string(v) }
    public mutating func value(_ v: Int) { separate(); raw(String(v)) }
    public mutating func value(_ v: Double) { separate(); raw(v.isFinite ? String(v) : "null") }
    public mutating func value(_ v: Bool) { separate(); raw(v ? "true" : "false") }
    public mutating func null() { separate(); raw("null") }

    /// `"name": value`, left out when the value is nil.
    public mutating func field(_ name: String, _ v: String?) { if let v { key(name); value(v) } }
    public mutating func field(_ name: String, _ v: Int?) { if let v { key(name); value(v) } }
    public mutating func field(_ name: String, _ v: Int32?) { if let v { key(name); value(Int(v)) } }
    public mutating func field(_ name: String, _ v: Double?) { if let v { key(name); value(v) } }
    public mutating func field(_ name: String, _ v: Bool?) { if let v { key(name); value(v) } }

    public mutating func array<S: Sequence>(_ name: String, _ items: S, _ each: (inout JSONStreamWriter, S.Element) -> Void) {
        key(name)
        beginArray()
        for item in items { each(&self, item) }
        endArray()
    }

    public mutating func object(_ name: String, _ body: (inout JSONStreamWriter) -> Void) {
        key(name)
        beginObject()
        body(&self)
        endObject()
    }

    /// Writes out whatever is buffered.
    public mutating func flush() {
        guard let fd, !buffer.isEmpty else { return }
        var offset = 0
        buffer.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { if errno == EINTR { continue }; break }
                offset += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private mutating func open(_ bracket: UInt8) {
        separate()
        buffer.append(bracket)
        first.append(true)
    }

    private mutating func close(_ bracket: UInt8) {
        let empty = first.popLast() ?? true
        if !empty { newline() }
        buffer.append(bracket)
        if first.isEmpty { buffer.append(0x0a) }
        if buffer.count >= flushAt { flush() }
    }

    /// Comma and newline before an element, unless it follows its key.
    private mutating func separate() {
        if afterKey { afterKey = false; return }
        guard !first.isEmpty else { return }
        if first[first.count - 1] { first[first.count - 1] = false } else { buffer.append(UInt8(ascii: ",")) }
        newline()
    }

    private mutating func newline() {
        buffer.append(0x0a)
        for _ in 0..<first.count { buffer.append(contentsOf: [0x20, 0x20]) }
    }

    private mutating func raw(_ s: String) { buffer.append(contentsOf: s.utf8) }

    private mutating func string(_ s: String) {
        buffer.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.append(contentsOf: [0x5c, 0x22])
            case UInt8(ascii: "\\"): buffer.append(contentsOf: [0x5c, 0x5c])
            case 0x0a: buffer.append(contentsOf: [0x5c, UInt8(ascii: "n")])
            case 0x0d: buffer.append(contentsOf: [0x5c, UInt8(ascii: "r")])
            case 0x09: buffer.append(contentsOf: [0x5c, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                buffer.append(contentsOf: [0x5c, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: buffer.append(byte)
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }
}
