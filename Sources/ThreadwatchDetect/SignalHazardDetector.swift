import ThreadwatchModel

/// A signal handler that waits for a lock: the handler runs on the thread it
/// interrupted, so when the interrupted code holds that lock the thread
/// waits for itself and never returns. Handlers may only call
/// async-signal-safe functions (signal-safety(7)); malloc, printf,
/// localtime, dlopen and pthread_mutex_lock are not.
///
/// Read from the stack: frames above the signal trampoline (`__restore_rt`,
/// glibc x86-64 sigaction.c) are the handler's, frames below it are the
/// interrupted code's. The same lock is certain when the lock records its
/// owner and that is the thread itself; for glibc's internal locks, which
/// record none, it is certain enough when the handler and the interrupted
/// code are both inside the same lock-holding part of libc (the heap, the
/// time zone, the dynamic loader...). Anything else that waits in a handler
/// is a warning. Like deadlocks, a finding needs the confirming looks to
/// show the thread still waiting on the same word without having run.
public enum SignalHazardDetector {
    /// Where the kernel returns from a handler: glibc's restorer on x86-64,
    /// the vDSO's on other architectures.
    static let trampolines: Set<String> = ["__restore_rt", "__vdso_rt_sigreturn", "__kernel_rt_sigreturn"]

    /// glibc subsystems that take one internal lock (no owner recorded)
    /// around their work; matched by parts of function names.
    static let lockFamilies: [(name: String, lock: String, parts: [String])] = [
        ("malloc", "the heap arena lock", ["malloc", "free", "calloc", "realloc", "memalign", "arena_get", "tcache", "sysmalloc", "valloc"]),
        ("time zone", "the time zone lock (tzset_lock)", ["tzset", "tz_convert", "tzfile", "localtime", "mktime", "tz_compute"]),
        ("dynamic loader", "the loader lock (dl_load_lock)", ["_dl_", "dlopen", "dlclose", "dlsym", "dl_iterate_phdr", "__libc_dlopen"]),
        ("syslog", "the syslog lock", ["syslog", "openlog", "closelog"]),
        ("environment", "the environment lock", ["setenv", "getenv", "unsetenv", "putenv", "clearenv"]),
        ("exit handlers", "the exit-handlers lock", ["exit_handlers", "cxa_atexit", "new_exitfn", "__cxa_finalize"]),
    ]

    /// The thread's frames split at its innermost signal frame, if it is in
    /// a handler: the unwinder's mark first (it needs no symbols: libc's
    /// internal names are absent without its debug info), the trampoline's
    /// name second.
    public static func split(_ frames: [Frame]) -> (handler: ArraySlice<Frame>, interrupted: ArraySlice<Frame>)? {
        if let t = frames.indices.dropFirst().first(where: { frames[$0].signalTrampoline }) {
            return (frames[..<t], frames[(t + 1)...])
        }
        guard let t = frames.firstIndex(where: { $0.function.map(trampolines.contains) ?? false }), t > 0 else { return nil }
        return (frames[..<t], frames[(t + 1)...])
    }

    /// Threads waiting on a futex inside a signal handler: need confirming looks.
    public static func suspects(_ snapshot: Snapshot) -> [Int32] {
        snapshot.threads.filter { waitsInHandler($0) }.map(\.tid)
    }

    static func waitsInHandler(_ t: ThreadSnapshot) -> Bool {
        guard t.state == "S" || t.state == "D", t.syscall?.number == SyscallNames.futex, split(t.frames) != nil else { return false }
        return true
    }

    public static func detect(first: Snapshot, confirm: [Snapshot]) -> [Finding] {
        first.threads.compactMap { thread in
            guard waitsInHandler(thread), stillWaiting(thread, confirm), let (handler, interrupted) = split(thread.frames) else { return nil }
            return finding(thread, handler: handler, interrupted: interrupted)
        }
    }

    /// Same futex word in every look, and the thread did not run between them.
    static func stillWaiting(_ thread: ThreadSnapshot, _ confirm: [Snapshot]) -> Bool {
        guard confirm.count >= 2 else { return false }
        let looks = confirm.compactMap { $0.thread(tid: thread.tid) }
        guard looks.count == confirm.count else { return false }
        let word = thread.syscall?.args.first
        for look in looks where look.syscall?.number != SyscallNames.futex || look.syscall?.args.first != word { return false }
        for (a, b) in zip(looks, looks.dropFirst()) {
            guard let va = a.scheduling?.voluntarySwitches, let vb = b.scheduling?.voluntarySwitches, va == vb,
                  a.scheduling?.involuntarySwitches == b.scheduling?.involuntarySwitches else { return false }
        }
        return true
    }

    static func family(of frames: some Sequence<Frame>) -> (name: String, lock: String)? {
        for f in frames {
            guard let name = f.function else { continue }
            if let fam = lockFamilies.first(where: { fam in fam.parts.contains { name.contains($0) } }) { return (fam.name, fam.lock) }
        }
        return nil
    }

    static func finding(_ thread: ThreadSnapshot, handler: ArraySlice<Frame>, interrupted: ArraySlice<Frame>) -> Finding {
        // The handler function is the frame the trampoline returns to; the
        // libc frames above it are where the handler went to wait.
        let handlerFunction = handler.last { !LibcNames.isLibc($0) }
        let handlerLibc = handler.prefix { LibcNames.isLibc($0) }
        let entry = handlerLibc.last  // the libc function the handler called, e.g. __libc_malloc
        let interruptedLibc = interrupted.prefix { LibcNames.isLibc($0) }
        let interruptedAt = interrupted.first { !LibcNames.isLibc($0) }
        let name = "thread \(thread.tid) \"\(thread.name)\""
        let handlerText = handlerFunction?.function ?? "a signal handler"
        let lock = thread.blockedOn
        let lockText = lock.map(describe) ?? "futex 0x" + String(thread.syscall?.args.first ?? 0, radix: 16)
        let inside = (interruptedLibc.last?.function).map(LibcNames.publicName) ?? interruptedAt?.function ?? "?"
        let called = (entry?.function).map(LibcNames.publicName)

        var severity = Finding.Severity.warning
        var summary: String
        var certainty: String
        if let owner = lock?.ownerTid, owner == thread.tid {
            severity = .error
            certainty = "owner"
            summary = "\(name) is deadlocked on itself in signal handler \(handlerText): it waits for \(lockText), which the code it interrupted (\(interruptedAt?.function ?? "?")) holds"
        } else if let shared = family(of: handlerLibc), let held = family(of: interruptedLibc), shared.name == held.name {
            severity = .error
            certainty = "same libc lock"
            summary = "\(name) is deadlocked on itself in signal handler \(handlerText): the handler called \(called ?? shared.name)(), which waits for \(shared.lock), while the code it interrupted is inside \(inside)() holding it"
        } else {
            certainty = "unknown"
            summary = "\(name) waits for \(lockText) inside signal handler \(handlerText)\(called.map { ", in \($0)()" } ?? ""), which is not async-signal-safe; if the code it interrupted (\(inside)) holds that lock, it never returns"
        }
        var evidence: [String: EvidenceValue] = [
            "handler": .string(handlerText),
            "interrupted_function": .string(interruptedAt?.function ?? inside),
            "same_lock": .string(certainty),
            "thread_ran_between_looks": .bool(false),
        ]
        if let called { evidence["handler_calls"] = .string(called) }
        if let f = interruptedLibc.last?.function { evidence["interrupted_in_libc"] = .string(LibcNames.publicName(f)) }
        // An edge to itself only when the lock is known to be its own.
        var edge: [CycleEdge] = []
        if let lock, severity == .error { edge = [CycleEdge(tid: thread.tid, lock: lock, holderTid: thread.tid, frames: thread.frames)] }
        return Finding(
            id: StableID.make("signal_hazard", ["\(thread.tid)", handlerText, "\(thread.syscall?.args.first ?? 0)"]),
            kind: .signalHazard, severity: severity, summary: summary, threads: [thread.tid], cycle: edge,
            advice: "Call only async-signal-safe functions in a signal handler (signal-safety(7)): set a volatile sig_atomic_t flag or write(2) to a self-pipe / eventfd and do the work outside the handler, or take the signal synchronously with sigwait/signalfd on a dedicated thread.",
            evidence: evidence)
    }

    static func describe(_ b: BlockedOn) -> String {
        var text = b.kind.rawValue.replacing("_", with: " ")
        if let a = b.address { text += " 0x" + String(a, radix: 16) }
        if let s = b.name { text += " (\(s))" }
        return text
    }
}
