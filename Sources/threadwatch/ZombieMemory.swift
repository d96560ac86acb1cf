import ThreadwatchInspect
import ThreadwatchModel

/// A one-shot CLI has no memory: first-seen times of zombie threads live in
/// a small state file (ZombieFirstSeen) read and written around detection,
/// so the detector itself stays a pure function of what it is given.
enum ZombieMemory {
    /// First-seen times by `ZombieThread.key`; adds a scan warning when they
    /// cannot be kept (first_seen is then this scan's time).
    static func firstSeen(_ snapshot: inout Snapshot, stateDir: String?) -> [String: Double] {
        guard !snapshot.zombies.isEmpty || snapshot.zombiesChecked else { return [:] }
        guard let directory = stateDir ?? ZombieFirstSeen.defaultDirectory() else {
            if !snapshot.zombies.isEmpty {
                snapshot.scan.warnings.append("zombie first-seen times not kept: no --state-dir, $XDG_STATE_HOME or home directory; first_seen is this scan's time")
            }
            return [:]
        }
        let update = ZombieFirstSeen(directory: directory).update(snapshot)
        if let warning = update.warning { snapshot.scan.warnings.append(warning) }
        return update.firstSeen
    }
}
