// perf_event_open sampling and watchpoints, and capstone decoding: see
// include/cthreadwatch_perf.h. No policy here.
#define _GNU_SOURCE
#include "cthreadwatch_perf.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <stdio.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int perf_event_open(struct perf_event_attr *attr, pid_t tid) {
    long fd = syscall(SYS_perf_event_open, attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
    return fd < 0 ? -errno : (int)fd;
}

int tw_perf_open_cpu_clock(pid_t tid, uint64_t sample_freq, uint64_t regs_mask) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.freq = 1;
    attr.sample_freq = sample_freq;
    attr.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_REGS_USER;
    attr.sample_regs_user = regs_mask;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    attr.wakeup_events = 64;
    return perf_event_open(&attr, tid);
}

int tw_perf_ring_map(tw_perf_ring *ring, int fd, unsigned data_pages, uint64_t regs_mask) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t length = page * (1 + (size_t)data_pages);
    void *base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) return -errno;
    ring->fd = fd;
    ring->base = base;
    ring->mmap_length = length;
    ring->data_size = page * (size_t)data_pages;
    ring->register_count = __builtin_popcountll(regs_mask);
    return 0;
}

void tw_perf_ring_close(tw_perf_ring *ring) {
    if (ring->base != NULL) munmap(ring->base, ring->mmap_length);
    if (ring->fd >= 0) close(ring->fd);
    ring->base = NULL;
    ring->fd = -1;
}

static void copy_out(const uint8_t *data, size_t size, uint64_t from, void *to, size_t length) {
    size_t start = (size_t)(from & (size - 1));
    size_t first = length < size - start ? length : size - start;
    memcpy(to, data + start, first);
    if (first < length) memcpy((uint8_t *)to + first, data, length - first);
}

int tw_perf_ring_drain(tw_perf_ring *ring, tw_perf_sample *out, int max, uint64_t *lost) {
    struct perf_event_mmap_page *meta = ring->base;
    const uint8_t *data = (const uint8_t *)ring->base + (ring->mmap_length - ring->data_size);
    uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
    uint64_t tail = meta->data_tail;
    uint64_t record[8 + TW_PERF_MAX_REGS];
    int n = 0;
    while (tail < head && n < max) {
        struct perf_event_header header;
        copy_out(data, ring->data_size, tail, &header, sizeof header);
        if (header.size < sizeof header) break;
        if (header.type == PERF_RECORD_SAMPLE && header.size <= sizeof record) {
            copy_out(data, ring->data_size, tail, record, header.size);
            const uint64_t *p = record + 1;   // after the header
            tw_perf_sample *s = &out[n];
            s->ip = p[0];
            s->pid = (uint32_t)p[1];
            s->tid = (uint32_t)(p[1] >> 32);
            s->abi = p[2];
            size_t have = (header.size - sizeof header) / 8;
            size_t count = s->abi != 0 ? (size_t)ring->register_count : 0;
            if (count > TW_PERF_MAX_REGS) count = TW_PERF_MAX_REGS;
            if (3 + count > have) count = have > 3 ? have - 3 : 0;
            memcpy(s->regs, p + 3, count * 8);
            n++;
        } else if (header.type == PERF_RECORD_LOST && header.size >= sizeof header + 16) {
            uint64_t body[2];
            copy_out(data, ring->data_size, tail + sizeof header, body, sizeof body);
            if (lost != NULL) *lost += body[1];
        }
        tail += header.size;
    }
    __atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
    return n;
}

int tw_perf_open_breakpoint(pid_t tid, uint64_t address, int length, int type) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_BREAKPOINT;
    attr.bp_type = type == TW_BP_RW ? (HW_BREAKPOINT_R | HW_BREAKPOINT_W) : HW_BREAKPOINT_W;
    attr.bp_addr = address;
    attr.bp_len = length == 1 ? HW_BREAKPOINT_LEN_1 : length == 2 ? HW_BREAKPOINT_LEN_2
                : length == 4 ? HW_BREAKPOINT_LEN_4 : HW_BREAKPOINT_LEN_8;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    return perf_event_open(&attr, tid);
}

int tw_perf_read_count(int fd, uint64_t *count) {
    ssize_t n = read(fd, count, sizeof *count);
    if (n < 0) return -errno;
    return n == sizeof *count ? 0 : -EIO;
}

int tw_perf_close(int fd) { return close(fd) == 0 ? 0 : -errno; }

// ---- capstone ----

struct tw_decoder { csh handle; };

tw_decoder *tw_decoder_new(void) {
    tw_decoder *d = calloc(1, sizeof *d);
    if (d == NULL) return NULL;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &d->handle) != CS_ERR_OK) { free(d); return NULL; }
    cs_option(d->handle, CS_OPT_DETAIL, CS_OPT_ON);
    return d;
}

void tw_decoder_free(tw_decoder *d) {
    if (d == NULL) return;
    cs_close(&d->handle);
    free(d);
}

// capstone register -> perf register number; *narrow set for 32-bit names.
static int perf_register(x86_reg r, int *narrow) {
    switch (r) {
    case X86_REG_INVALID: return TW_REG_NONE;
    case X86_REG_RAX: return TW_PERF_REG_AX;  case X86_REG_EAX: *narrow = 1; return TW_PERF_REG_AX;
    case X86_REG_RBX: return TW_PERF_REG_BX;  case X86_REG_EBX: *narrow = 1; return TW_PERF_REG_BX;
    case X86_REG_RCX: return TW_PERF_REG_CX;  case X86_REG_ECX: *narrow = 1; return TW_PERF_REG_CX;
    case X86_REG_RDX: return TW_PERF_REG_DX;  case X86_REG_EDX: *narrow = 1; return TW_PERF_REG_DX;
    case X86_REG_RSI: return TW_PERF_REG_SI;  case X86_REG_ESI: *narrow = 1; return TW_PERF_REG_SI;
    case X86_REG_RDI: return TW_PERF_REG_DI;  case X86_REG_EDI: *narrow = 1; return TW_PERF_REG_DI;
    case X86_REG_RBP: return TW_PERF_REG_BP;  case X86_REG_EBP: *narrow = 1; return TW_PERF_REG_BP;
    case X86_REG_RSP: return TW_PERF_REG_SP;  case X86_REG_ESP: *narrow = 1; return TW_PERF_REG_SP;
    case X86_REG_RIP: return TW_PERF_REG_IP;  case X86_REG_EIP: *narrow = 1; return TW_PERF_REG_IP;
    case X86_REG_R8: return 16;  case X86_REG_R8D: *narrow = 1; return 16;
    case X86_REG_R9: return 17;  case X86_REG_R9D: *narrow = 1; return 17;
    case X86_REG_R10: return 18; case X86_REG_R10D: *narrow = 1; return 18;
    case X86_REG_R11: return 19; case X86_REG_R11D: *narrow = 1; return 19;
    case X86_REG_R12: return 20; case X86_REG_R12D: *narrow = 1; return 20;
    case X86_REG_R13: return 21; case X86_REG_R13D: *narrow = 1; return 21;
    case X86_REG_R14: return 22; case X86_REG_R14D: *narrow = 1; return 22;
    case X86_REG_R15: return 23; case X86_REG_R15D: *narrow = 1; return 23;
    default: return TW_REG_UNSUPPORTED;
    }
}

int tw_decode(tw_decoder *d, const uint8_t *code, size_t length, uint64_t pc, tw_insn *out) {
    cs_insn *insn = NULL;
    memset(out, 0, sizeof *out);
    if (d == NULL || cs_disasm(d->handle, code, length, pc, 1, &insn) != 1) return -1;
    out->length = insn->size;
    snprintf(out->text, sizeof out->text, "%s %s", insn->mnemonic, insn->op_str);
    const cs_x86 *x = &insn->detail->x86;
    for (int i = 0; i < 4; i++) {
        if (x->prefix[i] == X86_PREFIX_LOCK) out->lock = 1;
        if (x->prefix[i] == X86_PREFIX_REP || x->prefix[i] == X86_PREFIX_REPNE) out->is_string = 1;
    }
    switch (insn->id) {
    case X86_INS_LEA: case X86_INS_NOP: case X86_INS_PREFETCH: case X86_INS_PREFETCHW:
    case X86_INS_PREFETCHT0: case X86_INS_PREFETCHT1: case X86_INS_PREFETCHT2: case X86_INS_PREFETCHNTA:
    case X86_INS_CLFLUSH: case X86_INS_CLFLUSHOPT:
        cs_free(insn, 1);
        return 0;
    case X86_INS_STOSB: case X86_INS_STOSW: case X86_INS_STOSD: case X86_INS_STOSQ:
    case X86_INS_MOVSB: case X86_INS_MOVSW: case X86_INS_MOVSQ:
    case X86_INS_CMPSB: case X86_INS_CMPSW: case X86_INS_CMPSQ:
    case X86_INS_LODSB: case X86_INS_LODSW: case X86_INS_LODSQ:
    case X86_INS_SCASB: case X86_INS_SCASW: case X86_INS_SCASQ:
        out->is_string = 1;
        break;
    default:
        break;
    }
    for (int i = 0; i < x->op_count && out->operand_count < 2; i++) {
        const cs_x86_op *op = &x->operands[i];
        if (op->type != X86_OP_MEM) continue;
        tw_mem_operand *m = &out->ops[out->operand_count++];
        int narrow = 0;
        m->base = perf_register(op->mem.base, &narrow);
        m->index = perf_register(op->mem.index, &narrow);
        m->address32 = narrow;
        m->scale = op->mem.scale;
        m->disp = op->mem.disp;
        m->segment = op->mem.segment == X86_REG_FS ? 1 : op->mem.segment == X86_REG_GS ? 2 : 0;
        m->access = (op->access & CS_AC_READ ? TW_ACCESS_READ : 0) | (op->access & CS_AC_WRITE ? TW_ACCESS_WRITE : 0);
        if (m->access == 0) m->access = TW_ACCESS_READ;   // capstone does not know: a load is the safe guess
        m->size = op->size;
    }
    cs_free(insn, 1);
    return 0;
}
