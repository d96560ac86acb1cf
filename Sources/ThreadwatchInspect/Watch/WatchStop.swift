import CThreadwatch

/// A wait status as a watch sees it: unlike a scan, a watch meets ptrace
/// event stops (ptrace(2), "PTRACE_EVENT stops"; status>>8 == SIGTRAP | event<<8).
enum WatchStop: Equatable {
    case fork, vfork, clone, exec
    /// PTRACE_EVENT_STOP with SIGTRAP: a new auto-attached task's first stop,
    /// our PTRACE_INTERRUPT, or a listening tracee woken by SIGCONT.
    case trapStop
    /// PTRACE_EVENT_STOP with a stop signal: group stop (SEIZE only).
    case groupStop(signal: Int32)
    /// Signal-delivery stop: the signal must be passed on.
    case signal(Int32)
    case exited
    case unknown(raw: Int32)

    init(raw: Int32) {
        if tw_wifexited(raw) != 0 || tw_wifsignaled(raw) != 0 { self = .exited; return }
        guard tw_wifstopped(raw) != 0 else { self = .unknown(raw: raw); return }
        let signal = tw_wstopsig(raw)
        switch tw_wptrace_event(raw) {
        case 0: self = .signal(signal)
        case Int32(TW_PTRACE_EVENT_FORK): self = .fork
        case Int32(TW_PTRACE_EVENT_VFORK): self = .vfork
        case Int32(TW_PTRACE_EVENT_CLONE): self = .clone
        case Int32(TW_PTRACE_EVENT_EXEC): self = .exec
        case Int32(TW_PTRACE_EVENT_STOP): self = signal == SIGTRAP ? .trapStop : .groupStop(signal: signal)
        default: self = .unknown(raw: raw)
        }
    }

    /// The signal to hand back when resuming or detaching from this stop.
    var signalToPass: Int32 {
        if case .signal(let signal) = self { return signal }
        return 0
    }
}
