import ThreadwatchModel

/// The human view: findings first, then threads, jstack/eu-stack style.
/// Threads with identical stacks print once, marked ×N with their tids.
public enum TextRenderer {
    /// `chains`: lock chains to show after the findings (see WaitChains).
    public static func render(_ snapshot: Snapshot, findings: [Finding], chains: [String] = []) -> String {
        var out = ""
        let p = snapshot.process
        let s = snapshot.scan
        let exe = p.exe ?? p.cmdline.first ?? "?"
        out += "threadwatch \(ReportBuilder.toolVersion): pid \(p.pid) \"\(p.comm)\" (\(exe)), \(snapshot.threads.count) threads, \(p.libc ?? "libc unknown")\n"
        var scanLine = "scan: \(s.attach.rawValue), \(millis(s.durationMicros))"
        if let stop = s.longestStopMicros { scanLine += ", longest stop of a thread \(millis(stop))" }
        out += scanLine + "\n"
        for warning in s.warnings { out += "warning: \(warning)\n" }
        out += "\n"
        out += FindingRenderer.render(findings, snapshot: snapshot)
        if !chains.isEmpty {
            out += "Lock chains:\n" + chains.map { "  \($0)\n" }.joined() + "\n"
        }
        for group in groups(snapshot.threads) {
            out += render(group, in: snapshot)
            out += "\n"
        }
        out += FiberLines.render(snapshot)
        return out
    }

    struct Group {
        var threads: [ThreadSnapshot]
    }

    /// Threads whose stacks are the same frame by frame, in first-seen order.
    /// A thread without frames stands alone: nothing shows they are alike.
    static func groups(_ threads: [ThreadSnapshot]) -> [Group] {
        var order: [[UInt64]] = []
        var byKey: [[UInt64]: Group] = [:]
        var result: [Group] = []
        for thread in threads {
            guard !thread.frames.isEmpty else {
                result.append(Group(threads: [thread]))
                continue
            }
            // Same stack, same state, same lock and holder: one block can speak for all.
            let lock = thread.blockedOn
            let key = thread.frames.map(\.pc) + [UInt64(thread.state.unicodeScalars.first?.value ?? 0),
                                                   lock?.address ?? 0, UInt64(bitPattern: Int64(lock?.ownerTid ?? 0))]
            if byKey[key] == nil { order.append(key); byKey[key] = Group(threads: []) }
            byKey[key]!.threads.append(thread)
        }
        for key in order { result.append(byKey[key]!) }
        return result.sorted { ($0.threads.first?.tid ?? 0) < ($1.threads.first?.tid ?? 0) }
    }

    static func render(_ group: Group, in snapshot: Snapshot) -> String {
        guard let t = group.threads.first else { return "" }
        var out = ""
        if group.threads.count > 1 {
            out += "×\(group.threads.count) threads \"\(groupName(group.threads.map(\.name)))\" \(t.state) with this stack: tids \(tidRanges(group.threads.map(\.tid)))\n"
        } else {
            out += "Thread \(t.tid) \"\(t.name)\" \(t.state)"
            if let s = t.scheduling {
                out += "  cpu \(s.lastCPU)  \(s.policy) prio \(s.priority) nice \(s.nice)"
                if let v = s.voluntarySwitches, let i = s.involuntarySwitches { out += "  switches \(v) vol / \(i) invol" }
            }
            out += "\n"
            var regs: [String] = []
            if let fs = t.fsBase { regs.append("fs_base \(hex(fs))") }
            if let pc = t.pc { regs.append("pc \(hex(pc))") }
            if let sp = t.sp { regs.append("sp \(hex(sp))") }
            if let st = t.stack {
                regs.append("stack \(hex(st.low))-\(hex(st.high)) (\(bytes(st.high - st.low)), guard \(bytes(st.guardBytes)))")
            }
            if !regs.isEmpty { out += "    " + regs.joined(separator: "  ") + "\n" }
            var kernel: [String] = []
            if let sc = t.syscall {
                // /proc says "running" for a thread that was on a CPU, not in a
                // system call, at the moment it was read (it may sleep now).
                var text = sc.isRunning ? "on a CPU when /proc was read" : "in \(SyscallNames.describe(sc))"
                if let b = t.blockedOn, b.kind == .syscall, let since = b.sinceMicros { text += " for \(seconds(since))" }
                kernel.append(text)
            }
            if let w = t.wchan { kernel.append("wchan \(w)") }
            if let sig = t.signals { kernel.append("sigblk \(sig.blocked) sigpnd \(sig.pending)") }
            if !kernel.isEmpty { out += "    " + kernel.joined(separator: "  ") + "\n" }
        }
        if let b = t.blockedOn, b.kind != .syscall {
            out += "    blocked on \(describe(b, in: snapshot))\n"
        }
        if t.frames.isEmpty {
            out += "    (no stack: \(t.unwindError ?? "not unwound"))\n"
        }
        for (i, f) in t.frames.enumerated() {
            out += "  #\(i) " + frame(f) + "\n"
        }
        if let e = t.unwindError, !t.frames.isEmpty { out += "    (unwinding stopped: \(e))\n" }
        return out
    }

    public static func describe(_ b: BlockedOn, in snapshot: Snapshot) -> String {
        var text = b.kind.rawValue.replacing("_", with: " ")
        if let a = b.address { text += " \(hex(a))" }
        if let s = b.name { text += " (\(s))" }
        if let owner = b.ownerTid {
            let name = snapshot.thread(tid: owner).map { " \"\($0.name)\"" } ?? " (not a thread of this process)"
            text += b.kind == .join ? " joining thread \(owner)\(name)" : " held by thread \(owner)\(name)"
        } else if b.kind != .syscall && b.kind != .condvar && b.kind != .semaphore {
            text += ", holder unknown"
        }
        if let d = b.detail { text += b.kind == .syscall ? " \(d)" : " [\(d)]" }
        if let since = b.sinceMicros { text += ", for \(seconds(since))" }
        return text
    }

    public static func frame(_ f: Frame) -> String {
        var text = hex(f.pc, width: 16)
        if let name = f.function {
            text += " \(name)"
            if let off = f.offset { text += "+0x\(String(off, radix: 16))" }
        } else {
            text += " ??"
        }
        if f.inlined { text += " [inlined]" }
        if let m = f.module { text += " (\(basename(m)))" }
        if let file = f.file { text += " at \(file)\(f.line.map { ":\($0)" } ?? "")" }
        return text
    }

    /// Libraries whose frames are the lock's machinery, not the caller's code.
    static let systemModules = ["libc.so", "libpthread.so", "ld-linux", "libstdc++.so", "libgcc_s.so", "libc++",
                                "libswiftCore.so", "libdispatch.so", "libFoundation"]

    /// Library code compiled into the program (C++ headers' inline wrappers,
    /// Rust's std and core, whose v0-mangled names start "_R" and name the
    /// crate, the threadwatch runtime in C and its Swift module).
    static let wrapperPrefixes = ["__gthread", "std::", "core::", "alloc::", "__gnu_cxx::", "_ZL20__gthread", "_ZNSt", "_ZSt", "twr_",
                                  "ThreadwatchRuntime.", "Swift."]

    /// "transfer (abba.c:25)": the file is left out when it is library source
    /// inlined into the function, which would point at the wrong code.
    public static func shortLocation(_ f: Frame) -> String {
        var text = f.function ?? "0x" + String(f.pc, radix: 16)
        if let file = f.file, !isLibrarySource(file) {
            text += " (\(basename(file))\(f.line.map { ":\($0)" } ?? ""))"
        }
        return text
    }

    static func isLibraryWrapper(_ name: String) -> Bool {
        if wrapperPrefixes.contains(where: { name.hasPrefix($0) }) { return true }
        return name.hasPrefix("_R") && ["3std", "4core", "5alloc"].contains { name.contains($0) }
    }

    /// A location inside library source (inlined into the caller): not where the caller is.
    static func isLibrarySource(_ file: String) -> Bool {
        ["/usr/include/", "/rustc/", "/usr/lib/gcc/"].contains { file.hasPrefix($0) }
    }

    /// The first frame in the program's own code: where it waits, as a person reads it.
    public static func callerFrame(_ frames: [Frame]) -> Frame? {
        frames.first { f in
            guard let m = f.module.map(basename), !systemModules.contains(where: { m.hasPrefix($0) }) else { return false }
            if let name = f.function, isLibraryWrapper(name) { return false }
            return true
        } ?? frames.first
    }

    /// One name for a group: the name they share, "idle-*" for a numbered
    /// pool (idle-0, idle-1, ...), else the first name and "...".
    static func groupName(_ names: [String]) -> String {
        guard let first = names.first else { return "" }
        if names.allSatisfy({ $0 == first }) { return first }
        func stem(_ n: String) -> Substring { n.prefix { !$0.isNumber } }
        let base = stem(first)
        if !base.isEmpty, names.allSatisfy({ stem($0) == base }) { return base + "*" }
        return first + ", ..."
    }

    static func tidRanges(_ tids: [Int32]) -> String {
        let sorted = tids.sorted()
        var parts: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(j > i ? "\(sorted[i])-\(sorted[j])" : "\(sorted[i])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    static func hex(_ v: UInt64, width: Int = 0) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    static func basename(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    static func bytes(_ n: UInt64) -> String {
        if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
        if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
        return "\(n) B"
    }

    static func millis(_ micros: Int) -> String {
        let tenths = (micros + 50) / 100
        return "\(tenths / 10).\(tenths % 10) ms"
    }

    static func seconds(_ micros: Int) -> String {
        if micros < 1_000_000 { return millis(micros) }
        let tenths = micros / 100_000
        return "\(tenths / 10).\(tenths % 10) s"
    }
}

/// Findings, most severe first, before the threads.
enum FindingRenderer {
    static func render(_ findings: [Finding], snapshot: Snapshot) -> String {
        guard !findings.isEmpty else { return "No problems found.\n\n" }
        var out = ""
        let deadlocks = findings.filter { $0.kind == .deadlock }
        if !deadlocks.isEmpty {
            let threads = deadlocks.reduce(0) { $0 + ($1.fibers.isEmpty ? $1.threads.count : 0) }
            let fibers = deadlocks.reduce(0) { $0 + $1.fibers.count }
            let who = [threads > 0 ? "\(threads) threads" : nil, fibers > 0 ? "\(fibers) fibers" : nil].compactMap { $0 }
            out += "Found \(deadlocks.count) deadlock\(deadlocks.count == 1 ? "" : "s") (\(who.joined(separator: ", "))):\n"
            for f in deadlocks {
                out += edges(f, snapshot: snapshot)
                if let advice = f.advice { out += "  advice: \(advice)\n" }
                out += "\n"
            }
        }
        for f in findings.filter({ $0.kind != .deadlock && $0.kind != .zombieThread }).sorted(by: { $0.severity < $1.severity }) {
            out += "\(f.severity.rawValue.uppercased()) \(f.kind.rawValue): \(f.summary)\n"
            out += edges(f, snapshot: snapshot)
            if f.kind == .forkChildDeadlock { out += inheritedLockOwners(f, snapshot: snapshot) }
            if let detail = f.falseSharing {
                var fields: [String: String] = [:]
                if case .object(let map)? = f.evidence["fields"] {
                    for (key, value) in map { if case .string(let name) = value { fields[key] = name } }
                }
                out += FalseSharingLines.render(detail, snapshot: snapshot, fields: fields)
            }
            if let advice = f.advice { out += "  advice: \(advice)\n" }
            out += "\n"
        }
        out += ZombieLines.render(findings)
        return out
    }

    /// A fiber deadlock speaks of fibers: its carrier thread is free.
    static func fiberEdges(_ f: Finding, snapshot: Snapshot) -> String {
        var out = ""
        for id in f.fibers {
            guard let fiber = snapshot.fibers.first(where: { $0.id == id }), let lock = fiber.blockedOn else { continue }
            var text = "  fiber \(id) \"\(fiber.name)\" waits for \(lock.kind.rawValue.replacing("_", with: " "))"
            if let a = lock.address { text += " \(TextRenderer.hex(a))" }
            if let s = lock.name { text += " (\(s))" }
            if let owner = lock.ownerFiber {
                let name = snapshot.fibers.first { $0.id == owner }.map { " \"\($0.name)\"" } ?? ""
                text += " held by fiber \(owner)\(name)"
            }
            if let carrier = fiber.carrierTid { text += ", on carrier thread \(carrier)" }
            out += text + "\n"
            if let at = TextRenderer.callerFrame(fiber.frames) { out += "      at \(TextRenderer.shortLocation(at))\n" }
        }
        return out
    }

    /// Where the owners of a fork child's inherited locks are in the parent now.
    static func inheritedLockOwners(_ f: Finding, snapshot: Snapshot) -> String {
        guard let parent = snapshot.forkParent else { return "" }
        var out = ""
        for lock in f.fork?.inheritedLocks ?? [] {
            guard let owner = lock.ownerTid, let holder = parent.lockHolders[owner] else { continue }
            out += "  in parent \(parent.pid), thread \(owner) \"\(holder.name)\" holds it and is \(holder.doing)\n"
            // Its own code, innermost first: where it sleeps and where it took the lock.
            let program = holder.frames.drop { $0 != TextRenderer.callerFrame(holder.frames) }.prefix(3)
            for (i, frame) in program.enumerated() {
                out += "      \(i == 0 ? "at" : "from") \(TextRenderer.shortLocation(frame))\n"
            }
        }
        return out
    }

    /// "thread A waits for mutex X held by thread B", and where A waits.
    /// A deadlock without a cycle (StallDetector): what each thread waits on.
    static func stallWaits(_ f: Finding, snapshot: Snapshot) -> String {
        var out = "  \(f.summary)\n"
        for tid in f.threads {
            guard let t = snapshot.thread(tid: tid) else { continue }
            var text = "  thread \(tid) \"\(t.name)\" waits"
            if let b = t.blockedOn {
                text += " on \(b.detail?.hasPrefix("pthread_barrier_wait") == true ? "barrier" : b.kind.rawValue.replacing("_", with: " "))"
                if let a = b.address { text += " \(TextRenderer.hex(a))" }
                if let s = b.name { text += " (\(s))" }
                if let owner = b.ownerTid { text += b.kind == .join ? " for thread \(owner) to exit" : " held by thread \(owner)" }
            }
            out += text + "\n"
            if let at = TextRenderer.callerFrame(t.frames) { out += "      at \(TextRenderer.shortLocation(at))\n" }
        }
        return out
    }

    static func edges(_ f: Finding, snapshot: Snapshot) -> String {
        if f.kind == .deadlock, !f.fibers.isEmpty { return fiberEdges(f, snapshot: snapshot) }
        if f.kind == .deadlock, f.cycle.isEmpty { return stallWaits(f, snapshot: snapshot) }
        var out = ""
        for edge in f.cycle {
            let waiter = snapshot.thread(tid: edge.tid)
            let holder = snapshot.thread(tid: edge.holderTid)
            var lock = edge.lock.kind.rawValue.replacing("_", with: " ")
            if let a = edge.lock.address { lock += " \(TextRenderer.hex(a))" }
            if let s = edge.lock.name { lock += " (\(s))" }
            let inferred = !edge.lock.ownerUnrecorded ? ""
                : edge.lock.oneTimeInit ? " (inferred: \(edge.lock.detail ?? "it runs the initialiser"))"
                : " (inferred: the lock records no owner; only this thread refers to it)"
            out += "  thread \(edge.tid) \"\(waiter?.name ?? "?")\" waits for \(lock) held by thread \(edge.holderTid) \"\(holder?.name ?? "?")\"\(inferred)\n"
            if let at = TextRenderer.callerFrame(edge.frames) {
                out += "      at \(TextRenderer.shortLocation(at))\n"
            }
        }
        return out
    }
}
