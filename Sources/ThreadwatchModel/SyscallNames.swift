

/// x86-64 syscall numbers and names (arch/x86/entry/syscalls/syscall_64.tbl),
/// the ones blocked threads usually sit in.
public enum SyscallNames {
    public static let futex = 202
    public static let restartSyscall = 219

    public static let names: [Int: String] = [
        0: "read", 1: "write", 7: "poll", 17: "pread64", 18: "pwrite64", 19: "readv", 20: "writev",
        23: "select", 24: "sched_yield", 34: "pause", 35: "nanosleep", 42: "connect", 43: "accept",
        44: "sendto", 45: "recvfrom", 46: "sendmsg", 47: "recvmsg", 56: "clone", 57: "fork",
        59: "execve", 61: "wait4", 62: "kill", 72: "fcntl", 74: "fsync", 128: "rt_sigtimedwait",
        130: "rt_sigsuspend", 202: "futex", 219: "restart_syscall", 230: "clock_nanosleep",
        232: "epoll_wait", 247: "waitid", 270: "pselect6", 271: "ppoll", 281: "epoll_pwait",
        288: "accept4", 299: "recvmmsg", 307: "sendmmsg", 426: "io_uring_enter", 441: "epoll_pwait2",
    ]

    /// FUTEX_* commands, <linux/futex.h>
    public static let futexCommands: [Int: String] = [
        0: "FUTEX_WAIT", 1: "FUTEX_WAKE", 5: "FUTEX_WAKE_OP", 6: "FUTEX_LOCK_PI", 7: "FUTEX_UNLOCK_PI",
        8: "FUTEX_TRYLOCK_PI", 9: "FUTEX_WAIT_BITSET", 10: "FUTEX_WAKE_BITSET",
        11: "FUTEX_WAIT_REQUEUE_PI", 13: "FUTEX_LOCK_PI2",
    ]

    public static func name(_ number: Int) -> String { names[number] ?? "syscall_\(number)" }

    /// "futex(0x5581c0, FUTEX_WAIT_PRIVATE, 2)", "read(7, 0x7ffd..., 4096)".
    public static func describe(_ syscall: SyscallState) -> String {
        guard let number = syscall.number else { return "running" }
        if number < 0 { return "not in a syscall" }
        let a = syscall.args
        func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        switch number {
        case futex where a.count >= 3:
            let op = Int(a[1])
            var name = futexCommands[op & 0x7f] ?? "op \(op & 0x7f)"
            if op & 128 != 0 { name += "_PRIVATE" }
            return "futex(\(hex(a[0])), \(name), \(Int32(truncatingIfNeeded: a[2])))"
        case 0, 1, 17, 18, 19, 20, 44, 45, 46, 47, 72, 74, 299, 307:
            guard a.count >= 3 else { break }
            return "\(name(number))(\(Int32(truncatingIfNeeded: a[0])), \(hex(a[1])), \(a[2]))"
        case 43, 288, 42:
            guard a.count >= 1 else { break }
            return "\(name(number))(\(Int32(truncatingIfNeeded: a[0])), ...)"
        case 7, 271:
            guard a.count >= 3 else { break }
            return "\(name(number))(\(hex(a[0])), \(a[1]), \(Int32(truncatingIfNeeded: a[2])))"
        case 232, 281, 441:
            guard a.count >= 4 else { break }
            return "\(name(number))(\(Int32(truncatingIfNeeded: a[0])), \(hex(a[1])), \(a[2]), \(Int32(truncatingIfNeeded: a[3])))"
        default: break
        }
        return "\(name(number))(\(a.prefix(3).map(hex).joined(separator: ", ")))"
    }
}
