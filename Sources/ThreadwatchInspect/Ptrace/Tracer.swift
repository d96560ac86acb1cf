import CThreadwatch
import ThreadwatchModel
#if canImport(Glibc)
import Glibc
#endif

/// An errno from a failed system call, with its text.
public struct Errno: Error, Equatable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }
    public var description: String { String(cString: strerror(rawValue)) }

    public static let noSuchProcess = Errno(ESRCH)
    public static let notPermitted = Errno(EPERM)
    public static let accessDenied = Errno(EACCES)
}

/// General-purpose x86-64 registers of a stopped thread (<sys/user.h>).
public struct RegisterSet: Sendable {
    public var raw: user_regs_struct

    public var pc: UInt64 { raw.rip }
    public var sp: UInt64 { raw.rsp }
    public var fsBase: UInt64 { raw.fs_base }
    public var origRAX: Int64 { Int64(bitPattern: raw.orig_rax) }
    public var rax: Int64 { Int64(bitPattern: raw.rax) }

    /// Registers in DWARF numbering (x86-64 psABI, figure 3.36): rax rdx rcx
    /// rbx rsi rdi rbp rsp r8..r15, then the return address column (rip).
    public var dwarfOrder: [UInt64] {
        [raw.rax, raw.rdx, raw.rcx, raw.rbx, raw.rsi, raw.rdi, raw.rbp, raw.rsp,
         raw.r8, raw.r9, raw.r10, raw.r11, raw.r12, raw.r13, raw.r14, raw.r15, raw.rip]
    }

    /// The syscall the thread sat in when it was interrupted: the kernel
    /// leaves orig_rax = number and rax = -ERESTART* until it restarts it
    /// (include/linux/errno.h: ERESTARTSYS 512 .. ERESTART_RESTARTBLOCK 516).
    public var interruptedSyscall: SyscallState? {
        guard origRAX >= 0, (-516 ... -512).contains(rax) else { return nil }
        return SyscallState(number: Int(origRAX),
                            args: [raw.rdi, raw.rsi, raw.rdx, raw.r10, raw.r8, raw.r9],
                            sp: raw.rsp, pc: raw.rip)
    }
}

/// Typed ptrace requests on one thread. Every call must come from the
/// tracer thread (see TracerThread); these are thin and policy-free.
public enum Tracer {
    public static func seize(_ tid: Int32) -> Result<Void, Errno> { check(tw_ptrace_seize(tid)) }
    public static func interrupt(_ tid: Int32) -> Result<Void, Errno> { check(tw_ptrace_interrupt(tid)) }
    public static func detach(_ tid: Int32, signal: Int32 = 0) -> Result<Void, Errno> {
        check(tw_ptrace_detach(tid, signal))
    }

    public static func registers(_ tid: Int32) -> Result<RegisterSet, Errno> {
        var regs = user_regs_struct()
        let rc = tw_ptrace_getregs(tid, &regs)
        return rc == 0 ? .success(RegisterSet(raw: regs)) : .failure(Errno(-rc))
    }

    /// The next wait status of any tracee; nil when none is ready (nohang).
    public static func waitAny(nohang: Bool) -> Result<(tid: Int32, status: WaitStatus)?, Errno> {
        var status: Int32 = 0
        let rc = tw_wait_any(&status, nohang ? 1 : 0)
        if rc < 0 { return .failure(Errno(-rc)) }
        if rc == 0 { return .success(nil) }
        return .success((rc, WaitStatus(raw: status)))
    }

    /// The next wait status of one tracee; nil when it has none ready (nohang).
    public static func wait(_ tid: Int32, nohang: Bool) -> Result<WaitStatus?, Errno> {
        var status: Int32 = 0
        let rc = tw_wait_tid(tid, &status, nohang ? 1 : 0)
        if rc < 0 { return .failure(Errno(-rc)) }
        if rc == 0 { return .success(nil) }
        return .success(WaitStatus(raw: status))
    }

    private static func check(_ rc: Int32) -> Result<Void, Errno> {
        rc == 0 ? .success(()) : .failure(Errno(-rc))
    }
}
