import CThreadwatch

/// A raw waitpid status with the cases a seize/interrupt scan meets (ptrace(2), "Stopped states").
public enum WaitStatus: Equatable, Sendable {
    /// PTRACE_INTERRUPT took effect.
    case interruptStop
    /// The thread is in (or entering) a group stop: SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU.
    case groupStop(signal: Int32)
    /// A signal was about to be delivered; it must be passed on at detach.
    case signalStop(signal: Int32)
    case exited
    case other(raw: Int32)

    public init(raw: Int32) {
        if tw_wifexited(raw) != 0 || tw_wifsignaled(raw) != 0 {
            self = .exited
            return
        }
        guard tw_wifstopped(raw) != 0 else { self = .other(raw: raw); return }
        let signal = tw_wstopsig(raw)
        let event = tw_wptrace_event(raw)
        let ptraceEventStop: Int32 = 128  // PTRACE_EVENT_STOP, <linux/ptrace.h>
        if event == ptraceEventStop {
            self = signal == SIGTRAP ? .interruptStop : .groupStop(signal: signal)
        } else if event == 0 {
            self = .signalStop(signal: signal)
        } else {
            self = .other(raw: raw)
        }
    }

    public var isStopped: Bool {
        switch self {
        case .interruptStop, .groupStop, .signalStop: return true
        case .exited, .other: return false
        }
    }
}

let SIGTRAP: Int32 = 5
