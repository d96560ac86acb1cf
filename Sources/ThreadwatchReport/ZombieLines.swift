import ThreadwatchModel

/// Zombie threads in the text view: one line per start routine, however many
/// there are ("37 zombie threads from handle_request (server.c:88), pinning
/// 296 MiB — join them or create them detached"); JSON keeps one finding each.
enum ZombieLines {
    static func render(_ findings: [Finding]) -> String {
        let zombies = findings.filter { $0.kind == .zombieThread && $0.zombie != nil }
        guard !zombies.isEmpty else { return "" }
        let groups = Dictionary(grouping: zombies) { $0.zombie!.startRoutine }
        // Largest leak first, then by name for a stable order.
        let routines = groups.keys.sorted { (groups[$0]!.count, $1) > (groups[$1]!.count, $0) }
        var out = ""
        for routine in routines {
            let group = groups[routine]!
            let severity = group.map(\.severity).min() ?? .warning
            let one = group.count == 1
            var line = "\(severity.rawValue.uppercased()) zombie_thread: \(group.count) zombie thread\(one ? "" : "s") from \(routine)"
            let sizes = group.compactMap { $0.zombie?.stackBytes }
            if !sizes.isEmpty { line += ", pinning \(ByteCount.text(sizes.reduce(0, &+)))" }
            let tids = group.flatMap(\.threads)
            if !tids.isEmpty { line += " (tid\(tids.count == 1 ? "" : "s") \(TextRenderer.tidRanges(tids)))" }
            line += one ? " — join it or create it detached" : " — join them or create them detached"
            out += line + "\n"
        }
        return out + "\n"
    }
}
