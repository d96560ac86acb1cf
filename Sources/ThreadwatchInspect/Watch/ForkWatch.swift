import CThreadwatch
import ThreadwatchModel

public struct WatchOptions: Sendable {
    public var seconds: Double = 10
    /// Bytes of stack copied from the forking thread in its event stop.
    public var stackBytes = 16 * 1024
    public var sourceLines: Symbolizer.SourceLines = .app
    /// Called on the tracer thread about once a second: (seconds elapsed, forks seen).
    public var progress: (@Sendable (Int, Int) -> Void)?

    public init() {}
}

/// What a watch saw. Every task it traced was detached before this exists.
public struct WatchResult: Sendable {
    public var events: [ForkEvent] = []
    public var startedAt: Double = 0
    public var durationMicros = 0
    /// Longest time any task (forking parent thread, child at its first stop) was held.
    public var longestStopMicros = 0
    public var warnings: [String] = []
    /// SIGINT/SIGTERM that ended the watch early (0: it ran its course).
    public var endedBySignal: Int32 = 0
    /// The watched process exited during the watch.
    public var processExited = false
}

/// `--watch`: stays attached to every thread of a process for a while with
/// fork, vfork, clone and exec events on, and records each fork.
public enum ForkWatch {
    public static func run(pid: Int32, options: WatchOptions) throws(ScanError) -> WatchResult {
        try TracerThread.run { () throws(ScanError) -> WatchResult in
            let target = try TargetSelector.select(pid: pid)
            if target.tracerPid != 0 {
                let tracer = ProcFile.text("/proc/\(target.tracerPid)/comm")?.trimmingCharacters(in: "\n") ?? "?"
                throw ScanError(.permissionDenied, pid: pid,
                                "pid \(pid) is already traced by pid \(target.tracerPid) (\(tracer)): --watch must attach to it; detach that debugger first, or scan once without --watch")
            }
            let session = WatchSession(pid: pid, options: options)
            return try session.run()
        }
    }
}
