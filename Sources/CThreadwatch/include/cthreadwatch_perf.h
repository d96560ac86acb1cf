// perf_event_open, its mmap ring buffer, breakpoint counters, and one-
// instruction decoding with capstone, for `--sample` (false sharing).
// Policy lives in Swift: these return 0/-errno, an fd, or a count.
#ifndef CTHREADWATCH_PERF_H
#define CTHREADWATCH_PERF_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

// ---- sampling: cpu-clock, PERF_SAMPLE_IP|TID|REGS_USER, user space only ----
// perf's x86 register numbers (asm/perf_regs.h): bit i of the mask samples
// register i; samples carry them packed in bit order.
enum {
    TW_PERF_REG_AX = 0, TW_PERF_REG_BX = 1, TW_PERF_REG_CX = 2, TW_PERF_REG_DX = 3,
    TW_PERF_REG_SI = 4, TW_PERF_REG_DI = 5, TW_PERF_REG_BP = 6, TW_PERF_REG_SP = 7,
    TW_PERF_REG_IP = 8, TW_PERF_REG_R8 = 16, TW_PERF_REG_R15 = 23,
    TW_PERF_MAX_REGS = 24,
};

typedef struct tw_perf_sample {
    uint64_t ip;
    uint32_t pid, tid;
    uint64_t abi;                        // PERF_SAMPLE_REGS_ABI_*; 0: no registers
    uint64_t regs[TW_PERF_MAX_REGS];     // packed in mask bit order
} tw_perf_sample;

typedef struct tw_perf_ring {
    int fd;
    void *base;          // the mmap: one metadata page, then data_size bytes
    size_t mmap_length;
    size_t data_size;    // a power of two
    int register_count;  // bits set in the sampling mask
} tw_perf_ring;

// Opens a sampling event on one thread (pid = tid, any cpu). fd or -errno.
int tw_perf_open_cpu_clock(pid_t tid, uint64_t sample_freq, uint64_t regs_mask);
// Maps 1 + data_pages (a power of two) pages of fd. 0 or -errno.
int tw_perf_ring_map(tw_perf_ring *ring, int fd, unsigned data_pages, uint64_t regs_mask);
void tw_perf_ring_close(tw_perf_ring *ring);   // unmaps and closes the fd
// Copies up to max samples out of the ring and frees their space; records
// of other types are skipped, PERF_RECORD_LOST adds to *lost. Returns the
// sample count (more may remain when max is reached).
int tw_perf_ring_drain(tw_perf_ring *ring, tw_perf_sample *out, int max, uint64_t *lost);

// ---- hardware watchpoints, counting (no sampling) ----
enum { TW_BP_W = 2, TW_BP_RW = 3 };   // HW_BREAKPOINT_W, HW_BREAKPOINT_R|W
// Counts accesses of [address, address+length) by one thread; length 1, 2,
// 4 or 8 and address aligned to it. Starts counting at once. fd or -errno
// (-ENOSPC: the thread's 4 debug registers are taken).
int tw_perf_open_breakpoint(pid_t tid, uint64_t address, int length, int type);
int tw_perf_read_count(int fd, uint64_t *count);
int tw_perf_close(int fd);

// ---- one instruction's memory operands (capstone, x86-64) ----
enum { TW_ACCESS_READ = 1, TW_ACCESS_WRITE = 2 };
enum { TW_REG_NONE = -1, TW_REG_UNSUPPORTED = -2 };

typedef struct tw_mem_operand {
    int base;           // TW_PERF_REG_*, TW_REG_NONE, TW_REG_UNSUPPORTED; IP for rip-relative
    int index;
    int scale;
    int64_t disp;
    int segment;        // 0 none, 1 fs, 2 gs, 3 other
    int access;         // TW_ACCESS_* bits
    int size;           // bytes
    int address32;      // the address is computed in 32 bits (0x67 prefix)
} tw_mem_operand;

typedef struct tw_insn {
    int length;         // bytes
    int operand_count;  // memory operands in ops
    int lock;           // lock prefix
    int is_string;      // rep/stos/movs: the address is rdi/rsi
    tw_mem_operand ops[2];
    char text[64];      // "add qword ptr [rip + 0x2f40], 1"
} tw_insn;

typedef struct tw_decoder tw_decoder;
tw_decoder *tw_decoder_new(void);
void tw_decoder_free(tw_decoder *decoder);
// Decodes the first instruction of code (pc: its address). 0, or -1 when
// the bytes are not an instruction. lea/nop/prefetch have no access: count 0.
int tw_decode(tw_decoder *decoder, const uint8_t *code, size_t length, uint64_t pc, tw_insn *out);

#endif
