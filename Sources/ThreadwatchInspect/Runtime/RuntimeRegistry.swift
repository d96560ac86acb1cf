import ThreadwatchRuntime

/// One consistent copy of the target's `twr_registry` (threadwatch_runtime.h),
/// read with process_vm_readv under its seqlock: the registry-wide counter
/// must be even and the same before and after, and a fiber record must be
/// byte-identical in two copies (each has its own counter, bumped by its
/// carrier on every change). Everything in it is untrusted: counts are
/// clamped to the table sizes.
struct RuntimeRegistry {
    let address: UInt64
    let bytes: [UInt8]

    enum Failure: Error, Equatable {
        case unreadable, notInitialised, badHeader(String), torn
    }

    static let size = MemoryLayout<twr_registry_t>.size
    static let attempts = 5

    static func read(_ memory: RemoteMemory, at address: UInt64) -> Result<RuntimeRegistry, Failure> {
        var last: Failure = .torn
        for _ in 0..<attempts {
            guard let first = memory.read(address, count: size), first.count == size else { return .failure(.unreadable) }
            let header = Self.header(first)
            if header.magic == 0 { return .failure(.notInitialised) }
            guard header.magic == TWR_MAGIC else { return .failure(.badHeader(String(format16(header.magic)))) }
            guard header.version == TWR_VERSION, Int(header.size) == size else {
                return .failure(.badHeader("version \(header.version), size \(header.size); this threadwatch reads version \(TWR_VERSION), size \(size)"))
            }
            guard header.seq & 1 == 0, let second = memory.read(address, count: size), second.count == size else {
                last = .torn
                continue
            }
            guard Self.header(second).seq == header.seq else { last = .torn; continue }
            // A fiber record that changed between the copies is torn: take the copy again.
            var merged = second
            if !fibersSettled(first, second, into: &merged) { last = .torn; continue }
            return .success(RuntimeRegistry(address: address, bytes: merged))
        }
        return .failure(last)
    }

    private static func format16(_ v: UInt64) -> String { "magic 0x" + String(v, radix: 16) }

    static func header(_ bytes: [UInt8]) -> (magic: UInt64, version: UInt32, size: UInt32, seq: UInt32) {
        bytes.withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: MemoryLayout<twr_registry_t>.offset(of: \.magic)!, as: UInt64.self),
             raw.loadUnaligned(fromByteOffset: MemoryLayout<twr_registry_t>.offset(of: \.version)!, as: UInt32.self),
             raw.loadUnaligned(fromByteOffset: MemoryLayout<twr_registry_t>.offset(of: \.size)!, as: UInt32.self),
             raw.loadUnaligned(fromByteOffset: MemoryLayout<twr_registry_t>.offset(of: \.seq)!, as: UInt32.self))
        }
    }

    private static func fibersSettled(_ a: [UInt8], _ b: [UInt8], into merged: inout [UInt8]) -> Bool {
        let base = MemoryLayout<twr_registry_t>.offset(of: \.fibers)!
        let stride = MemoryLayout<twr_fiber_rec>.stride
        let count = min(Int(value(b, \.nfibers)), Int(TWR_MAX_FIBERS))
        for i in 0..<count {
            let range = (base + i * stride)..<(base + (i + 1) * stride)
            let seq = b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: range.lowerBound, as: UInt32.self) }
            if seq & 1 != 0 || a[range] != b[range] { return false }
        }
        return true
    }

    private static func value(_ bytes: [UInt8], _ path: KeyPath<twr_registry_t, UInt32>) -> UInt32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: MemoryLayout<twr_registry_t>.offset(of: path)!, as: UInt32.self) }
    }

    func count(_ path: KeyPath<twr_registry_t, UInt32>, max: Int32) -> Int {
        min(Int(Self.value(bytes, path)), Int(max))
    }

    var tlsOffset: Int64 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: MemoryLayout<twr_registry_t>.offset(of: \.tls_offset)!, as: Int64.self) }
    }

    func records<T>(_ path: PartialKeyPath<twr_registry_t>, _ type: T.Type, count: Int) -> [T] {
        let base = MemoryLayout<twr_registry_t>.offset(of: path)!
        let stride = MemoryLayout<T>.stride
        return bytes.withUnsafeBytes { raw in
            (0..<count).map { raw.loadUnaligned(fromByteOffset: base + $0 * stride, as: T.self) }
        }
    }

    var threads: [twr_thread_rec] { records(\.threads, twr_thread_rec.self, count: count(\.nthreads, max: TWR_MAX_THREADS)) }
    var fibers: [twr_fiber_rec] { records(\.fibers, twr_fiber_rec.self, count: count(\.nfibers, max: TWR_MAX_FIBERS)) }
    var locks: [twr_lock_rec] { records(\.locks, twr_lock_rec.self, count: count(\.nlocks, max: TWR_MAX_LOCKS)) }
    var classes: [twr_class_rec] { records(\.classes, twr_class_rec.self, count: count(\.nclasses, max: TWR_MAX_CLASSES)) }
    var orders: [twr_order_rec] { records(\.orders, twr_order_rec.self, count: count(\.norders, max: TWR_MAX_ORDERS)) }
    var carriers: [twr_carrier_rec] { records(\.carriers, twr_carrier_rec.self, count: count(\.ncarriers, max: TWR_MAX_CARRIERS)) }
}

/// Text of a fixed C char array (a tuple in Swift), bounded by its size.
func fixedString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
}
