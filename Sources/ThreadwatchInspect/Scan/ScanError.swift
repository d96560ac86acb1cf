/// Why a scan could not run. The message is one line a person can act on:
/// it names the pid, what failed and what to do.
public struct ScanError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case noSuchProcess
        case refusedInit
        case refusedSelf
        case kernelThread
        case zombieProcess
        case permissionDenied
        case processExited
        case interrupted
        case unwinderFailed
        case invalidArgument
    }

    public var code: Code
    public var pid: Int32
    public var message: String

    public init(_ code: Code, pid: Int32, _ message: String) {
        self.code = code
        self.pid = pid
        self.message = message
    }

    public var description: String { message }
}
