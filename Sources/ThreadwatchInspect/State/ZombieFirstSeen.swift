import ThreadwatchModel
#if canImport(Glibc)
import Glibc
#endif

/// When each zombie thread was first seen, remembered across one-shot scans:
/// one small file per process, `<dir>/zombies-<boot_id>-<pid>-<start time>`
/// (pids are reused; boot id + pid + start time are not), holding
/// "<ZombieThread.key> <seconds since the epoch>" lines. Local files only:
/// the target is not touched.
public struct ZombieFirstSeen {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// `$XDG_STATE_HOME/threadwatch`, else `~/.local/state/threadwatch`
    /// (XDG Base Directory Specification 0.8).
    public static func defaultDirectory() -> String? {
        if let state = environment("XDG_STATE_HOME"), state.hasPrefix("/") { return state + "/threadwatch" }
        var home = environment("HOME")
        if home == nil, let entry = getpwuid(getuid()), let dir = entry.pointee.pw_dir { home = String(cString: dir) }
        guard let home, !home.isEmpty else { return nil }
        return home + "/.local/state/threadwatch"
    }

    public struct Update: Equatable {
        /// First-seen time by `ZombieThread.key`, for every zombie of the snapshot.
        public var firstSeen: [String: Double]
        /// Why first-seen times could not be kept, when they could not.
        public var warning: String?
    }

    /// Reads what earlier scans of this process saw, gives this scan's new
    /// zombies its start time, forgets the ones joined since, writes it back.
    public func update(_ snapshot: Snapshot) -> Update {
        let now = snapshot.scan.startedAt
        let fresh = Dictionary(snapshot.zombies.map { ($0.key, now) }, uniquingKeysWith: { a, _ in a })
        // Not checked (libthread_db failed): nothing to learn, nothing to forget.
        guard snapshot.zombiesChecked else { return Update(firstSeen: fresh) }
        guard let boot = snapshot.host?.bootID, let start = snapshot.process.startTime else {
            return Update(firstSeen: fresh, warning: snapshot.zombies.isEmpty ? nil :
                "zombie first-seen times not kept: the boot id or the start time of pid \(snapshot.process.pid) is unknown; first_seen is this scan's time")
        }
        let name = Self.fileName(boot: boot, pid: snapshot.process.pid, start: start)
        let path = directory + "/" + name
        let earlier = ProcFile.text(path).map(Self.parse) ?? [:]
        let firstSeen = fresh.merging(earlier.filter { fresh[$0.key] != nil }) { _, old in old }
        if snapshot.zombies.isEmpty {
            unlink(path)
            return Update(firstSeen: [:])
        }
        let text = "# threadwatch: first-seen times of zombie threads of pid \(snapshot.process.pid)\n"
            + firstSeen.keys.sorted().map { "\($0) \(firstSeen[$0]!)\n" }.joined()
        if let failure = write(text, to: path) {
            return Update(firstSeen: firstSeen,
                          warning: "could not keep zombie first-seen times in \(directory) (\(failure)): first_seen of a zombie new to this scan is this scan's time, and will not be remembered (see --state-dir)")
        }
        pruneStale(boot: boot, keeping: name)
        return Update(firstSeen: firstSeen)
    }

    static func fileName(boot: String, pid: Int32, start: UInt64) -> String {
        "zombies-\(boot)-\(pid)-\(start)"
    }

    /// "<key> <seconds>" lines; anything else (comments, damage) is skipped.
    static func parse(_ text: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let seconds = Double(parts[1]), seconds.isFinite, seconds > 0 else { continue }
            result[String(parts[0])] = seconds
        }
        return result
    }

    /// Writes through a temporary file and rename, so a concurrent scan never
    /// reads half a file. Returns why it failed, nil on success.
    private func write(_ text: String, to path: String) -> String? {
        if let failure = makeDirectories(directory) { return failure }
        let temporary = "\(path).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd < 0 { return String(cString: strerror(errno)) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                return reason
            }
            written += n
        }
        close(fd)
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            return reason
        }
        return nil
    }

    /// mkdir -p, private to the user (0700).
    private func makeDirectories(_ path: String) -> String? {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST { return "\(prefix): \(String(cString: strerror(errno)))" }
        }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { return "\(path) is not a directory" }
        return nil
    }

    /// Files of earlier boots, and of processes that have exited, name
    /// nothing that can be scanned again.
    private func pruneStale(boot: String, keeping name: String) {
        guard case .success(let entries) = Self.entries(directory) else { return }
        for entry in entries where entry.hasPrefix("zombies-") && entry != name {
            if entry.hasSuffix(".tmp") { continue }
            let fields = entry.dropFirst("zombies-".count).split(separator: "-")
            // boot id (5 dash-separated parts), pid, start time.
            guard fields.count >= 3, let pid = Int32(fields[fields.count - 2]),
                  let start = UInt64(fields[fields.count - 1]) else { continue }
            let entryBoot = fields.dropLast(2).joined(separator: "-")
            let alive = entryBoot == boot
                && ProcFile.bytes("/proc/\(pid)/stat").flatMap(TaskStat.parse)?.startTime == start
            if !alive { unlink(directory + "/" + entry) }
        }
    }

    private static func entries(_ path: String) -> Result<[String], ProcFile.ReadError> {
        ProcFile.entryNames(path)
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
    }
}
