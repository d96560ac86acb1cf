import ThreadwatchModel

/// Owners of one-time initialisations, which record none: pthread_once and
/// std::call_once (a once-control word, nptl/pthread_once.c) and C++
/// function-local statics (a guard word, libstdc++ guard.cc). A waiter sits
/// in pthread_once / __cxa_guard_acquire, called from the function that
/// wants the value (the requester). The thread running the initialiser has
/// that requester on its stack too, below the initialiser: when exactly one
/// other thread does, it is the owner; when the waiter's own stack holds the
/// requester again further down, the initialiser waits for itself.
enum OnceOwners {
    static func isEntry(_ name: String) -> Bool {
        name.contains("pthread_once") || name.contains("__cxa_guard_acquire")
    }

    /// Library frames between the entry and the program's function.
    static func isWrapper(_ name: String) -> Bool {
        name.contains("std::call_once") || name.contains("__gthread_once") || name.hasPrefix("std::") || isEntry(name)
    }

    /// Where a one-time-initialisation wait entered, and who asked for it.
    static func site(_ frames: [Frame]) -> (entry: Int, requester: String)? {
        // The innermost entry: a recursive initialisation has another one further down.
        guard let entry = frames.prefix(Primitive.depth).firstIndex(where: { $0.function.map(isEntry) ?? false }) else { return nil }
        for frame in frames[(entry + 1)...] {
            if let name = frame.function, !isWrapper(name) { return (entry, name) }
        }
        return nil
    }

    static func what(_ frames: [Frame]) -> String {
        frames.prefix(Primitive.depth).contains { $0.function?.contains("__cxa_guard_acquire") == true }
            ? "C++ static initialisation" : "pthread_once/std::call_once"
    }

    /// The detail a waiter gets before any owner is known.
    static func detail(_ frames: [Frame]) -> String {
        guard let site = site(frames) else { return what(frames) }
        return "\(what(frames)) for \(site.requester), which records no owner"
    }

    static func infer(_ threads: [ThreadSnapshot]) -> [ThreadSnapshot] {
        var waits: [Int32: (entry: Int, requester: String)] = [:]
        for t in threads where t.blockedOn?.oneTimeInit == true {
            if let site = site(t.frames) { waits[t.tid] = site }
        }
        guard !waits.isEmpty else { return threads }
        return threads.map { thread in
            guard let wait = waits[thread.tid] else { return thread }
            var thread = thread
            let below = thread.frames[(wait.entry + 1)...]
            let occurrences = below.filter { $0.function == wait.requester }.count
            if occurrences >= 2 {
                thread.blockedOn?.ownerTid = thread.tid
                thread.blockedOn?.detail = "\(what(thread.frames)) for \(wait.requester), which is already running its initialiser further down this thread's stack: it waits for itself"
                return thread
            }
            // Threads inside the requester that are not just other waiters for it.
            let inside = threads.filter { other in
                guard other.tid != thread.tid, other.frames.contains(where: { $0.function == wait.requester }) else { return false }
                if let theirs = waits[other.tid], theirs.requester == wait.requester { return false }
                return true
            }
            if inside.count == 1, let owner = inside.first {
                thread.blockedOn?.ownerTid = owner.tid
                thread.blockedOn?.detail = "\(what(thread.frames)) for \(wait.requester), which records no owner: the initialiser runs on the only other thread inside \(wait.requester)"
            }
            return thread
        }
    }
}
