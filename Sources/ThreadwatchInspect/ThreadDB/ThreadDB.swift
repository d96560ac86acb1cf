import CThreadwatch

/// glibc's libthread_db asked about a live process, the way debuggers list
/// threads, through our proc_service callbacks (CThreadwatch/thread_db.c):
/// it reads memory and symbols only; the target is never written or stopped.
/// Runs on the tracer thread like the rest of a scan (libthread_db keeps
/// global state and is not thread-safe).
enum ThreadDB {
    struct Thread: Equatable, Sendable {
        enum State: Equatable, Sendable { case active, zombie, other }

        /// ti_lid: the kernel tid, or the pid once the tid was cleared at
        /// exit (glibc nptl_db/td_thr_get_info.c).
        var lid: Int32
        var state: State
        /// th_unique: the thread's struct pthread.
        var descriptor: UInt64
        var startRoutine: UInt64
        /// ti_stkbase / ti_stksize: glibc 2.36 leaves both 0.
        var stackBase: UInt64
        var stackSize: UInt64
    }

    struct Failure: Error, Equatable {
        var reason: String
    }

    /// Every thread glibc lists, in every state, or why libthread_db could
    /// not serve (no glibc, static and stripped, version mismatch...).
    static func threads(pid: Int32, dwfl: OpaquePointer) -> Result<[Thread], Failure> {
        var capacity = 1024
        // Threads come and go while we read: grow the buffer a few times.
        for _ in 0..<4 {
            var buffer = [tw_td_thread](repeating: tw_td_thread(), count: capacity)
            var error = [CChar](repeating: 0, count: 512)
            let count = Int(tw_threaddb_list(pid, dwfl, &buffer, Int32(capacity), &error, error.count))
            if count < 0 {
                let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                return .failure(Failure(reason: reason.isEmpty ? "libthread_db failed" : reason))
            }
            if count <= capacity { return .success(buffer.prefix(count).map(Thread.init)) }
            capacity = count + 1024
        }
        return .failure(Failure(reason: "the thread list kept growing while it was read"))
    }
}

extension ThreadDB.Thread {
    init(_ raw: tw_td_thread) {
        let state: State
        switch Int(raw.state) {
        case TW_TD_STATE_ACTIVE: state = .active
        case TW_TD_STATE_ZOMBIE: state = .zombie
        default: state = .other
        }
        self.init(lid: raw.lid, state: state, descriptor: raw.descriptor, startRoutine: raw.start_routine,
                  stackBase: raw.stack_base, stackSize: raw.stack_size)
    }
}
