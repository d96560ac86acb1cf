/* Shared by the runtime's files; not installed. */
#ifndef TWR_INTERNAL_H
#define TWR_INTERNAL_H
#define _GNU_SOURCE
#include "threadwatch_runtime.h"
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

/* futex(2): no glibc wrapper before 2.39 is used here. */
static inline long twr_futex(uint32_t *addr, int op, uint32_t val)
{
    return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

static inline uint64_t twr_now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Initial-exec TLS: a fixed offset from fs_base in every thread, which is
 * what lets threadwatch find it from outside (ELF TLS ABI, Drepper
 * "ELF Handling For Thread-Local Storage", x86-64 variant II). */
extern __thread twr_tls_t twr_tls __attribute__((tls_model("initial-exec")));

/* The registry's writer side: seq goes odd, tables change, seq goes even. */
void twr_reg_begin(void);
void twr_reg_end(void);
void twr_reg_init(void);
uint32_t twr_class_for(const char *name, uint64_t pc);
void twr_lock_register(const void *lock, uint32_t cls, uint32_t kind);
void twr_lock_unregister(const void *lock);
twr_thread_rec *twr_thread_slot(void);

/* This thread's descriptor, set up (and the thread adopted) on first use. */
static inline twr_tls_t *twr_me(void)
{
    twr_tls_t *t = &twr_tls;
    if (__builtin_expect(t->magic != TWR_MAGIC, 0)) return twr_self();
    return t;
}

/* Lock-order hooks (lockorder.c): cheap when the pair was seen before. */
/* Inline: they sit on every lock and unlock, and a call each cost more
 * than the lock itself; only a first-seen pair goes out of line. */
void twr_record_order(twr_tls_t *t, uint32_t first, uint32_t second, uint64_t pc, uint64_t held_pc);
static inline void twr_order_acquired(twr_tls_t *t, const void *lock, uint32_t cls, uint64_t pc)
{
    uint32_t n = t->held_count;
    if (cls) {
        uint32_t stored = n < TWR_MAX_HELD ? n : TWR_MAX_HELD;
        for (uint32_t i = 0; i < stored; i++) {
            uint32_t held = t->held[i].cls;
            /* One relaxed load per held lock: the pair is usually known. */
            if (held && held != cls &&
                !(__atomic_load_n(&twr_registry.order_bits[held], __ATOMIC_RELAXED) & (1ull << cls)))
                twr_record_order(t, held, cls, pc, t->held[i].pc);
        }
    }
    if (n < TWR_MAX_HELD) {
        t->held[n].lock = (uint64_t)lock;
        t->held[n].pc = pc;
        t->held[n].cls = cls;
    }
    __atomic_store_n(&t->held_count, n + 1, __ATOMIC_RELEASE);
}

static inline void twr_order_released(twr_tls_t *t, const void *lock)
{
    uint32_t n = t->held_count;
    if (n == 0) return;
    uint32_t stored = n < TWR_MAX_HELD ? n : TWR_MAX_HELD;
    /* Usually the top entry: locks are mostly released in reverse order. */
    for (uint32_t i = stored; i-- > 0;) {
        if (t->held[i].lock == (uint64_t)lock) {
            for (uint32_t j = i; j + 1 < stored; j++) t->held[j] = t->held[j + 1];
            break;
        }
    }
    __atomic_store_n(&t->held_count, n - 1, __ATOMIC_RELEASE);
}

#endif
