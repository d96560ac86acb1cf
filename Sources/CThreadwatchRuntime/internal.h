/* Shared by the runtime's files; not installed. */
#ifndef TWR_INTERNAL_H
#define TWR_INTERNAL_H
#define _GNU_SOURCE
#include "threadwatch_runtime.h"
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

/* Under ThreadSanitizer: a handover the kernel makes (FUTEX_LOCK_PI /
 * FUTEX_UNLOCK_PI) orders memory, but no user-space atomic shows it. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define TWR_TSAN_ACQUIRE(p) __tsan_acquire(p)
#define TWR_TSAN_RELEASE(p) __tsan_release(p)
#endif
#endif
#ifndef TWR_TSAN_ACQUIRE
#define TWR_TSAN_ACQUIRE(p) ((void)0)
#define TWR_TSAN_RELEASE(p) ((void)0)
#endif

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

/* Lock-order hooks (lockorder.c). They sit on every lock and unlock: the
 * common case (no other lock held) is inline and touches only the TLS
 * descriptor; nesting goes out of line, so the uncontended lock stays a
 * leaf function without a stack frame. */
void twr_record_order(twr_tls_t *t, uint32_t first, uint32_t second, uint64_t pc, uint64_t held_pc);
void twr_order_acquired_nested(twr_tls_t *t, const void *lock, uint32_t cls, uint64_t pc);
void twr_order_released_nested(twr_tls_t *t, const void *lock);

static inline void twr_order_acquired(twr_tls_t *t, const void *lock, uint32_t cls, uint64_t pc)
{
    if (__builtin_expect(t->held_count != 0, 0)) {
        twr_order_acquired_nested(t, lock, cls, pc);
        return;
    }
    t->held[0].lock = (uint64_t)lock;
    t->held[0].pc = pc;
    t->held[0].cls = cls;
    __atomic_store_n(&t->held_count, 1, __ATOMIC_RELEASE);
}

static inline void twr_order_released(twr_tls_t *t, const void *lock)
{
    if (__builtin_expect(t->held_count == 1 && t->held[0].lock == (uint64_t)lock, 1)) {
        __atomic_store_n(&t->held_count, 0, __ATOMIC_RELEASE);
        return;
    }
    twr_order_released_nested(t, lock);
}
#endif
