#if canImport(Glibc)
import Glibc
#endif

/// A process that passed the checks and may be scanned.
public struct Target: Sendable {
    public var pid: Int32
    public var stat: TaskStat
    public var status: TaskStatus
    /// pid of a debugger already tracing it (0: none).
    public var tracerPid: Int32 { status.tracerPid }
}

/// Refuses targets threadwatch must not touch, before anything is stopped:
/// pid 1, itself, kernel threads, zombies, and pids it may not trace.
public enum TargetSelector {
    public static func select(pid: Int32) throws(ScanError) -> Target {
        guard pid > 0 else {
            throw ScanError(.invalidArgument, pid: pid, "pid \(pid) is not a process id: give a positive pid (see ps -e)")
        }
        if pid == 1 {
            throw ScanError(.refusedInit, pid: pid,
                            "pid 1 is init: threadwatch never attaches to it, since stopping init can stall the whole system")
        }
        if pid == getpid() {
            throw ScanError(.refusedSelf, pid: pid, "pid \(pid) is threadwatch itself: give the pid of another process")
        }
        let statText: String
        switch ProcFile.read("/proc/\(pid)/stat") {
        case .success(let text): statText = text
        case .failure(.errno(let code)):
            if code == EACCES || code == EPERM { throw permissionDenied(pid) }
            throw ScanError(.noSuchProcess, pid: pid, "pid \(pid): no such process: check the pid (ps -e) and that it is still running")
        }
        guard let stat = TaskStat.parse(statText) else {
            throw ScanError(.noSuchProcess, pid: pid, "pid \(pid): /proc/\(pid)/stat is unreadable: the process may have just exited")
        }
        // A thread id is also a /proc entry; threadwatch wants the process.
        let status = TaskStatus.parse(ProcFile.text("/proc/\(pid)/status") ?? "")
        if let tgid = status.tgid, tgid != pid {
            throw ScanError(.invalidArgument, pid: pid,
                            "pid \(pid) is a thread of process \(tgid): run threadwatch --pid \(tgid)")
        }
        if stat.isKernelThread {
            throw ScanError(.kernelThread, pid: pid,
                            "pid \(pid) (\(stat.comm)) is a kernel thread: it has no user-space threads or stacks to inspect")
        }
        if stat.state == "Z" || stat.state == "X" {
            throw ScanError(.zombieProcess, pid: pid,
                            "pid \(pid) (\(stat.comm)) is a zombie: it has exited and waits for its parent (pid \(stat.ppid)) to reap it; there is nothing left to inspect")
        }
        // /proc/PID/syscall needs the same permission as ptrace attach.
        if case .failure(.errno(let code)) = ProcFile.read("/proc/\(pid)/syscall"), code == EACCES || code == EPERM {
            throw permissionDenied(pid)
        }
        return Target(pid: pid, stat: stat, status: status)
    }

    public static func permissionDenied(_ pid: Int32) -> ScanError {
        ScanError(.permissionDenied, pid: pid,
                  "pid \(pid): permission denied: run as root or grant CAP_SYS_PTRACE (sudo setcap cap_sys_ptrace+ep $(which threadwatch)); check /proc/sys/kernel/yama/ptrace_scope")
    }
}
