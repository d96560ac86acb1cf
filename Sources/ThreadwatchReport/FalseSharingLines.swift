import ThreadwatchModel

/// A false_sharing finding in the text view: under its summary line, one
/// line per thread touching the cache line, with the code that does it.
///   thread 4711 "fs-worker-1" writes +8 (1200 writes, 1190 reads in 100 ms) at bump_forever (false_sharing.c:78)
enum FalseSharingLines {
    /// `fields`: "+8" -> "g_stats.hits[1]" (the finding's evidence, from DWARF).
    static func render(_ d: FalseSharingDetail, snapshot: Snapshot, fields: [String: String] = [:]) -> String {
        var out = "  cache line \(TextRenderer.hex(d.cacheLine))\(d.symbol.map { " (\($0))" } ?? ""), \(d.method)\n"
        for t in d.writers {
            let name = snapshot.thread(tid: t.tid).map { " \"\($0.name)\"" } ?? ""
            let verb = t.writes > 0 ? "writes" : "reads"
            let offsets = t.offsets.map { o in fields["+\(o)"].map { "+\(o) \($0)" } ?? "+\(o)" }.joined(separator: ", ")
            var line = "    thread \(t.tid)\(name) \(verb) \(offsets) (\(t.writes) writes, \(t.reads) reads)"
            if let pc = t.pc {
                line += " at \(pc.function ?? TextRenderer.hex(pc.pc))"
                if let file = pc.file { line += " (\(TextRenderer.basename(file))\(pc.line.map { ":\($0)" } ?? ""))" }
            }
            out += line + "\n"
        }
        return out
    }
}
