import ThreadwatchModel

/// One `zombie_thread` finding per exited thread nobody joined. A few are a
/// warning; past `errorCount` zombies or `errorBytes` of pinned stacks in one
/// process, every one of them is an error: a leak of that size is eating the
/// address space (README, "Zombie threads").
public enum ZombieDetector {
    public static let errorCount = 32
    public static let errorBytes: UInt64 = 256 << 20

    /// `firstSeen`: seconds since the epoch at which an earlier scan first saw
    /// each zombie, by `ZombieThread.key`; a zombie missing there is new, seen
    /// first by this scan.
    public static func detect(_ snapshot: Snapshot, firstSeen: [String: Double] = [:]) -> [Finding] {
        // The initial thread that left by pthread_exit (pthread_exit(3)'s
        // advice to let the others run on; Swift's dispatchMain does it) is
        // no leak: its stack is the process stack, its descriptor static.
        let zombies = snapshot.zombies.filter { $0.startAddress != 0 }
        guard !zombies.isEmpty else { return [] }
        let pinned = zombies.reduce(UInt64(0)) { $0 &+ ($1.stackBytes ?? 0) }
        let severity: Finding.Severity = zombies.count >= errorCount || pinned >= errorBytes ? .error : .warning
        let named = zombies.map { (zombie: $0, routine: startRoutine($0)) }
            .sorted { ($0.routine, $0.zombie.descriptor) < ($1.routine, $1.zombie.descriptor) }
        return named.map { zombie, routine in
            let descriptor = "0x" + String(zombie.descriptor, radix: 16)
            var summary = "thread \(zombie.tid.map { "\($0) " } ?? "")from \(routine) exited but was never joined"
            if let bytes = zombie.stackBytes { summary += ": its descriptor \(descriptor) and \(ByteCount.text(bytes)) of stack stay mapped" }
            return Finding(
                id: StableID.make("zombie_thread", [descriptor, zombie.tid.map { "\($0)" } ?? "", routine]),
                kind: .zombieThread, severity: severity, summary: summary,
                threads: zombie.tid.map { [$0] } ?? [],
                advice: "Join it (pthread_join) or create it detached (pthread_detach, PTHREAD_CREATE_DETACHED): until then glibc keeps its stack and descriptor.",
                zombie: ZombieDetail(startRoutine: routine, descriptor: zombie.descriptor, stackBytes: zombie.stackBytes,
                                     firstSeen: firstSeen[zombie.key] ?? snapshot.scan.startedAt))
        }
    }

    /// "handle_request (server.c:88)", the bare name without debug info, the
    /// address without a symbol, "initial thread" for main's descriptor.
    public static func startRoutine(_ zombie: ZombieThread) -> String {
        if zombie.startAddress == 0 { return "initial thread" }
        guard let frame = zombie.startRoutine, let function = frame.function else {
            let address = "0x" + String(zombie.startAddress, radix: 16)
            if let module = zombie.startRoutine?.module { return "\(address) (\(module.split(separator: "/").last.map(String.init) ?? module))" }
            return address
        }
        guard let file = frame.file else { return function }
        let base = file.split(separator: "/").last.map(String.init) ?? file
        return "\(function) (\(base)\(frame.line.map { ":\($0)" } ?? ""))"
    }
}
