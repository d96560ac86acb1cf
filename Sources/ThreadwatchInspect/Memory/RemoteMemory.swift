import CThreadwatch

/// Reads another process's memory with process_vm_readv: no stop needed.
/// Everything read is untrusted: callers bound sizes and check results.
public struct RemoteMemory: Sendable {
    public let pid: Int32

    public init(pid: Int32) { self.pid = pid }

    /// Up to `count` bytes from `address`; shorter when a mapping ends, nil when nothing is readable.
    public func read(_ address: UInt64, count: Int) -> [UInt8]? {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { tw_read_memory(pid, address, $0.baseAddress, count) }
        guard n > 0 else { return nil }
        if n < count { bytes.removeLast(count - n) }
        return bytes
    }

    public func readUInt64(_ address: UInt64) -> UInt64? { readValue(address) }
    public func readUInt32(_ address: UInt64) -> UInt32? { readValue(address) }
    public func readInt32(_ address: UInt64) -> Int32? { readValue(address) }

    private func readValue<T: FixedWidthInteger>(_ address: UInt64) -> T? {
        var value: T = 0
        let size = MemoryLayout<T>.size
        let n = withUnsafeMutableBytes(of: &value) { tw_read_memory(pid, address, $0.baseAddress, size) }
        return n == size ? T(littleEndian: value) : nil
    }
}
