/* Fibers, their schedulers and pools: shared by fiber.c, pool.c and
 * fmutex.c; not installed. */
#ifndef TWR_FIBER_INTERNAL_H
#define TWR_FIBER_INTERNAL_H
#include "internal.h"
#include <stdlib.h>
#include <string.h>

/* Built with ThreadSanitizer (-fsanitize=thread): tell it about each
 * stack switch (compiler-rt tsan_interface.h), or it takes the fibers'
 * stacks for one thread's and reports nonsense. Compiled out otherwise. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TWR_TSAN 1
#endif
#endif
#ifdef TWR_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

#define TWR_RING 256 /* a pool carrier's run queue; more goes to the pool's global queue */

struct twr_fiber {
    void *sp;               /* saved stack pointer while suspended (published to rec after the switch) */
    twr_fiber_rec *rec;     /* NULL when the registry was full */
    uint64_t id;
    twr_sched *sched;       /* standalone: its scheduler; pool: the carrier it last ran on */
    twr_pool *pool;         /* NULL: bound to sched */
    void (*fn)(void *);
    void *arg;
    void *map;
    size_t map_len;
    twr_fiber *next;        /* run queue, wait queue, inbox or global queue */
#ifdef TWR_TSAN
    void *tsan;
#endif
};

struct twr_sched {
    void *sp;               /* the scheduler's own context while a fiber runs */
    twr_fiber *current;
    int32_t tid;            /* its carrier thread */
    /* What the context just left needs once the switch is complete: see
     * twr_after_switch. Until then that fiber's registers are not saved, so
     * no other carrier may see it. */
    twr_fiber *prev;
    uint32_t prev_state;
    uint64_t prev_wait;
    uint32_t *release;      /* a fiber mutex guard to drop */
    /* Standalone: a run queue only its carrier touches, and an inbox
     * (Treiber stack) other threads push to. */
    twr_fiber *head, *tail;
    twr_fiber *inbox;
    uint32_t wake;          /* futex: bumped after each inbox push */
    uint32_t live;          /* fibers created on it and not finished */
    /* Pool: a bounded ring the owner fills at rtail; the owner and thieves
     * take at rhead with a compare-and-swap (the Go scheduler's runq). */
    twr_pool *pool;
    uint32_t index, tick;
    uint64_t rng;
    uint32_t rhead __attribute__((aligned(64)));
    uint32_t rtail;
    twr_fiber *ring[TWR_RING];
    twr_carrier_rec *rec;
    twr_carrier_rec spare;  /* written instead when the registry is full */
#ifdef TWR_TSAN
    void *tsan;             /* the carrier thread's own context */
#endif
};

/* Zeroed memory starting on a cache line of its own (schedulers and fibers
 * are written on every switch by the carrier that runs them). */
static inline void *twr_zalloc_line(size_t n)
{
    n = (n + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, n);
    if (p) memset(p, 0, n);
    return p;
}

/* After a call that suspends a fiber: no tail call, so a suspended fiber's
 * stack still shows twr_fmutex_lock / twr_fiber_yield above the user's frame. */
#define TWR_KEEP_FRAME() __asm__ volatile("" ::: "memory")

/* The scheduler of the calling thread, read afresh: a fiber in a pool may
 * have moved to another thread since it last looked. */
twr_sched *twr_this_sched(void);
void twr_sched_attach(twr_sched *s, uint32_t pool_id);
void twr_sched_detach(twr_sched *s);

twr_fiber *twr_fiber_new(const char *name, void (*fn)(void *), void *arg, size_t stack_bytes,
                         uint32_t pool_id, int32_t carrier_tid);
/* Leaves `from` (NULL: the scheduler context) in from_state for `to`
 * (NULL: the scheduler context). */
void twr_switch(twr_sched *s, twr_fiber *from, uint32_t from_state, uint64_t wait, twr_fiber *to);
/* The next fiber to run on s, or NULL. */
twr_fiber *twr_next_runnable(twr_sched *s);
/* A blocked fiber may run again (from any thread). */
void twr_make_runnable(twr_fiber *f);

/* pool.c */
twr_fiber *twr_pool_next(twr_sched *s);
void twr_pool_requeue(twr_sched *s, twr_fiber *f);
void twr_pool_ready(twr_pool *p, twr_sched *me, twr_fiber *f);
void twr_pool_finished(twr_pool *p);
void twr_pool_publish(twr_sched *s);
#endif
