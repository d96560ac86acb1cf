import ThreadwatchModel

/// The text view of the runtime: runtime locks per thread, then every fiber and its stack.
enum FiberLines {
    static func render(_ snapshot: Snapshot) -> String {
        guard let runtime = snapshot.runtime else { return "" }
        var out = ""
        for tid in runtime.threadLocks.keys.sorted() {
            guard let locks = runtime.threadLocks[tid], !locks.held.isEmpty || locks.waitingOn != nil else { continue }
            let held = locks.held.map { lockText($0) }.joined(separator: ", ")
            out += "runtime thread \(tid): holds [\(held)]"
            if let w = locks.waitingOn { out += ", waits for runtime mutex \(TextRenderer.hex(w))" }
            out += "\n"
        }
        guard !snapshot.fibers.isEmpty else { return out.isEmpty ? "" : out + "\n" }
        for c in runtime.carriers.sorted(by: { ($0.pool ?? 0, $0.tid) < ($1.pool ?? 0, $1.tid) }) {
            out += "carrier thread \(c.tid)" + (c.pool.map { " (pool \($0))" } ?? "") + ": "
            out += c.currentFiber.map { "runs fiber \($0)" } ?? (c.idle ? "idle" : "in its scheduler")
            out += ", \(c.runnable) runnable queued, \(c.switches) switches"
            if c.pool != nil { out += ", \(c.steals) stolen" }
            out += "\n"
        }
        out += "Fibers (\(snapshot.fibers.count)):\n"
        for fiber in snapshot.fibers.sorted(by: { $0.id < $1.id }) {
            let place = fiber.carrierTid.map { fiber.state == .running ? "on thread \($0)" : "last on thread \($0)" } ?? "not run yet"
            out += "fiber \(fiber.id) \"\(fiber.name)\" \(fiber.state.rawValue)" + (fiber.pool.map { " in pool \($0)" } ?? "") + ", \(place)"
            if let b = fiber.blockedOn {
                out += ", waits for \(lockText(b))"
                if let owner = b.ownerFiber { out += " held by fiber \(owner)" }
            }
            out += "\n"
            for frame in fiber.frames { out += "    \(TextRenderer.frame(frame))\n" }
        }
        return out + "\n"
    }

    static func lockText(_ b: BlockedOn) -> String {
        var text = b.kind.rawValue.replacing("_", with: " ")
        if let a = b.address { text += " \(TextRenderer.hex(a))" }
        if let s = b.name { text += " (\(s))" }
        return text
    }
}
