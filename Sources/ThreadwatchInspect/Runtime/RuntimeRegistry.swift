import Glibc
import CThreadwatchRuntime

/// One consistent copy of the target's `twr_registry` (threadwatch_runtime.h),
/// read with process_vm_readv under its seqlocks. The registry-wide counter
/// (threads, locks, classes, orders; rare writes) must be even and the same
/// in two copies. Fibers change on every switch, so in a busy pool two
/// whole copies never agree: each fiber record has its own counter and is
/// settled alone — kept when byte-identical in both copies with an even
/// counter, else read again by itself until two reads agree, else left out
/// (`unsettled`). Everything in it is untrusted: counts are clamped to the
/// table sizes.
struct RuntimeRegistry {
    let address: UInt64
    let bytes: [UInt8]
    /// Fiber records that changed on every read (left out of `fibers`).
    var unsettled = 0

    enum Failure: Error, Equatable {
        case unreadable, notInitialised, badHeader(String), torn
    }

    static let size = MemoryLayout<twr_registry_t>.size
    static let attempts = 10
    static let recordAttempts = 8
    static let fibersOffset = MemoryLayout<twr_registry_t>.offset(of: \.fibers)!
    static let fiberStride = MemoryLayout<twr_fiber_rec>.stride

    static func read(_ memory: RemoteMemory, at address: UInt64) -> Result<RuntimeRegistry, Failure> {
        for attempt in 0..<attempts {
            if attempt > 0 { sched_yield() }  // let a writer finish
            guard let first = memory.read(address, count: size), first.count == size else { return .failure(.unreadable) }
            let header = Self.header(first)
            if header.magic == 0 { return .failure(.notInitialised) }
            guard header.magic == TWR_MAGIC else { return .failure(.badHeader(String(format16(header.magic)))) }
            guard header.version == TWR_VERSION, Int(header.size) == size else {
                return .failure(.badHeader("version \(header.version), size \(header.size); this threadwatch reads version \(TWR_VERSION), size \(size)"))
            }
            guard header.seq & 1 == 0, let second = memory.read(address, count: size), second.count == size,
                  Self.header(second).seq == header.seq else { continue }
            var registry = RuntimeRegistry(address: address, bytes: second)
            registry.settleFibers(first: first, memory: memory)
            return .success(registry)
        }
        return .failure(.torn)
    }

    /// Address of fiber record `index` in the target.
    func fiberRecordAddress(_ index: Int) -> UInt64 {
        address + UInt64(Self.fibersOffset + index * Self.fiberStride)
    }

    /// One fiber record read until two reads agree with an even counter.
    static func settledRecord(_ memory: RemoteMemory, at address: UInt64) -> [UInt8]? {
        for _ in 0..<recordAttempts {
            guard let a = memory.read(address, count: fiberStride), a.count == fiberStride,
                  a.withUnsafeBytes({ $0.loadUnaligned(as: UInt32.self) }) & 1 == 0,
                  let b = memory.read(address, count: fiberStride), a == b else { continue }
            return a
        }
        return nil
    }

    private mutating func settleFibers(first: [UInt8], memory: RemoteMemory) {
        var merged = bytes
        let count = min(Int(Self.value(bytes, \.nfibers)), Int(TWR_MAX_FIBERS))
        for i in 0..<count {
            let range = (Self.fibersOffset + i * Self.fiberStride)..<(Self.fibersOffset + (i + 1) * Self.fiberStride)
            let seq = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: range.lowerBound, as: UInt32.self) }
            if seq & 1 == 0 && first[range] == bytes[range] { continue }
            if let record = Self.settledRecord(memory, at: fiberRecordAddress(i)) {
                merged.replaceSubrange(range, with: record)
            } else {
                merged.replaceSubrange(range, with: repeatElement(0, count: Self.fiberStride))  // state 0: skipped
                unsettled += 1
            }
        }
        self = RuntimeRegistry(address: address, bytes: merged, unsettled: unsettled)
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

    private static func value(_ bytes: [UInt8], _ path: KeyPath<twr_registry_t, UInt32>) -> UInt32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: MemoryLayout<twr_registry_t>.offset(of: path)!, as: UInt32.self) }
    }

    func count(_ path: KeyPath<twr_registry_t, UInt32>, max: Int32) -> Int {
        min(Int(Self.value(bytes, path)), Int(max))
    }

    /// Records the runtime could not fit in its tables.
    var dropped: UInt32 { Self.value(bytes, \.dropped) }

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
    /// Fiber records with their slot index (for re-reading one later).
    var fibers: [(index: Int, record: twr_fiber_rec)] {
        Array(records(\.fibers, twr_fiber_rec.self, count: count(\.nfibers, max: TWR_MAX_FIBERS)).enumerated())
            .map { (index: $0.offset, record: $0.element) }
    }
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
