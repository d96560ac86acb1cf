// Thin C shim for what Swift cannot call directly: variadic ptrace, the
// wait-status macros, and the libdwfl callbacks that unwind a stack copy.
// Policy lives in Swift; every function here returns 0/-errno or a count.
#ifndef CTHREADWATCH_H
#define CTHREADWATCH_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/user.h>
#include <elfutils/libdwfl.h>
#include <elfutils/libdw.h>
#include <dwarf.h>
#include <gelf.h>

// ---- ptrace (returns 0 or -errno) ----
int tw_ptrace_seize(pid_t tid);
int tw_ptrace_interrupt(pid_t tid);
int tw_ptrace_detach(pid_t tid, int signal);
int tw_ptrace_getregs(pid_t tid, struct user_regs_struct *regs);
// For --watch (ptrace(2): PTRACE_SEIZE's data is the option mask; the
// event message of a fork/vfork/clone stop is the new task's tid).
int tw_ptrace_seize_options(pid_t tid, unsigned long options);
int tw_ptrace_setoptions(pid_t tid, unsigned long options);
int tw_ptrace_cont(pid_t tid, int signal);
int tw_ptrace_listen(pid_t tid);
int tw_ptrace_geteventmsg(pid_t tid, unsigned long *message);
enum {
    TW_PTRACE_O_TRACEFORK = 0x2, TW_PTRACE_O_TRACEVFORK = 0x4,
    TW_PTRACE_O_TRACECLONE = 0x8, TW_PTRACE_O_TRACEEXEC = 0x10,
    TW_PTRACE_EVENT_FORK = 1, TW_PTRACE_EVENT_VFORK = 2, TW_PTRACE_EVENT_CLONE = 3,
    TW_PTRACE_EVENT_EXEC = 4, TW_PTRACE_EVENT_STOP = 128,
};

// ---- waitpid over every tracee: returns the tid, 0 (nothing ready with
// nohang), or -errno ----
pid_t tw_wait_any(int *status, int nohang);
// waitpid for one tracee: the kernel finds it directly, where waitpid(-1)
// walks every tracee (quadratic over a 4000-thread stop).
pid_t tw_wait_tid(pid_t tid, int *status, int nohang);
int tw_wifstopped(int status);
int tw_wifexited(int status);
int tw_wifsignaled(int status);
int tw_wstopsig(int status);
int tw_wptrace_event(int status);

// ---- memory: bytes read (possibly short) or -errno ----
ssize_t tw_read_memory(pid_t pid, uint64_t address, void *buffer, size_t length);

// ---- SIGINT/SIGTERM: a flag polled by scans so they can release the
// target before threadwatch exits; a second signal kills threadwatch (the
// kernel then detaches every tracee). ----
void tw_install_stop_signals(void);
int tw_stop_signal(void);   // 0, or the first signal received
pid_t tw_gettid(void);

// ---- unwinding from a copy (perf's unwind-libdw model) ----
// Registers in DWARF order for x86-64: rax rdx rcx rbx rsi rdi rbp rsp r8..r15, rip.
enum { TW_DWARF_REGS = 17, TW_DWARF_SP = 7, TW_DWARF_PC = 16 };

typedef struct tw_thread_context {
    uint64_t regs[TW_DWARF_REGS];
    uint32_t known;            // bit i set: regs[i] is valid
    uint64_t stack_address;    // where the copy starts in the target
    const uint8_t *stack;      // the copy (may be NULL)
    size_t stack_length;
    int read_live;             // serve misses from the live process
} tw_thread_context;

typedef struct tw_unwinder tw_unwinder;

// Reports the target's modules (from /proc/PID/maps) once per scan.
tw_unwinder *tw_unwinder_new(pid_t pid, char *error, size_t error_length);
void tw_unwinder_free(tw_unwinder *unwinder);
Dwfl *tw_unwinder_dwfl(tw_unwinder *unwinder);

// Unwinds one thread from its context. Writes up to max_frames pcs and, for
// each, whether it is an activation (innermost or signal frame: its pc is
// exact, not a return address). Returns the frame count; when unwinding
// stopped on an error, *error holds libdwfl's message.
int tw_unwind(tw_unwinder *unwinder, pid_t tid, const tw_thread_context *context,
              uint64_t *pcs, uint8_t *activation, int max_frames,
              char *error, size_t error_length);

// Source file and line of pc (module address space), NULL when unknown.
const char *tw_source_line(Dwfl_Module *module, uint64_t pc, int *line);

// ---- DWARF helpers (macros or awkward out-parameters in libdw) ----
// Name of the innermost inlined subroutine scopes at pc, outermost last.
// Fills up to max entries of names/call_file/call_line for the inline chain
// (index 0 = innermost inlined function). Returns the count (0 = no inlining).
int tw_inline_chain(Dwfl_Module *module, uint64_t pc,
                    const char **names, const char **call_files, int *call_lines, int max);

// A C++ symbol's readable name (malloc'd; free it), NULL when not mangled.
char *tw_demangle(const char *name);

// "Now" on the clock of /proc/.../sched's se.exec_start for that CPU, in ms; -1 on failure.
double tw_sched_clock_ms_on_cpu(int cpu);

// "g_stats.hits[1]": the member path of a global at address, from DWARF; 0 on success.
int tw_data_field(Dwfl *dwfl, uint64_t address, char *out, size_t length);

// The module holding a data address, .bss included.
Dwfl_Module *tw_module_for_data(Dwfl *dwfl, uint64_t address);

// 0 when the module's own symbol table certainly has no symbol `name` (its
// string table lacks it); 1 when it may (found, or no table to look in).
// One pass over raw bytes: libdwfl's symbol iteration over a large binary
// (swift-frontend) costs tens of ms.
int tw_module_may_define(Dwfl_Module *module, const char *name);

// ---- libthread_db: threads as glibc lists them (zombies included) ----
#include "cthreadwatch_threaddb.h"

// ---- perf events and instruction decoding, for --sample ----
#include "cthreadwatch_perf.h"

#endif
