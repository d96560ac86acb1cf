import ThreadwatchDetect
import ThreadwatchInspect
import ThreadwatchModel
#if canImport(Glibc)
import Glibc
#endif

/// Runtime findings: fiber deadlocks and blocked carriers need a second
/// look at the registry, the confirm interval later (no stop).
enum RuntimeCheck {
    static func run(_ snapshot: Snapshot, confirmAfterMicros: Int) -> [Finding] {
        guard let runtime = snapshot.runtime else { return [] }
        var later: RuntimeDetector.Look?
        if RuntimeDetector.hasSuspects(snapshot) {
            usleep(UInt32(confirmAfterMicros))
            later = RuntimeModel.look(pid: snapshot.process.pid, registryAddress: runtime.registryAddress)
        }
        return RuntimeDetector.detect(snapshot, later: later)
    }
}
