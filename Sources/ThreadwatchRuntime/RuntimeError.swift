#if canImport(Glibc)
import Glibc
#endif

/// A runtime call that failed: what was asked, and the errno-style code.
public struct RuntimeError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let code: Int32

    public var description: String {
        "\(operation) failed: \(String(cString: strerror(code)))"
    }
}

/// A Swift closure handed to C as its `void *` argument (retained until it runs once).
final class ClosureBox {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }

    func retainedPointer() -> UnsafeMutableRawPointer { Unmanaged.passRetained(self).toOpaque() }

    static func runOnce(_ raw: UnsafeMutableRawPointer?) {
        guard let raw else { return }
        Unmanaged<ClosureBox>.fromOpaque(raw).takeRetainedValue().body()
    }
}

/// "File.swift:LINE": the lock class, as the C macros make it from __FILE__ and __LINE__.
func lockClassName(_ file: StaticString, _ line: UInt) -> String {
    "\(file):\(line)"
}
