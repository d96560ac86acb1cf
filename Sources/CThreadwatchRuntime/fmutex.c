/* The fiber mutex: a fiber that waits is parked (its carrier runs other
 * fibers) and the unlock hands the mutex straight to the first waiter.
 * A spin guard orders lock and unlock between carriers; the parking fiber
 * keeps it until its registers are saved (after_switch drops it), so an
 * unlocker on another carrier never resumes a half-switched fiber. */
#include "fiber_internal.h"
#include <sched.h>
#include <string.h>

static inline void guard_lock(uint32_t *g)
{
    unsigned spins = 0;
    while (__atomic_exchange_n(g, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(g, __ATOMIC_RELAXED)) {
            /* Held for a few instructions, unless its carrier was preempted. */
            if (++spins < 128) {
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
            } else {
                sched_yield();
            }
        }
    }
}

static inline void guard_unlock(uint32_t *g)
{
    __atomic_store_n(g, 0, __ATOMIC_RELEASE);
}

void twr_fmutex_init_class(twr_fmutex *m, const char *cls)
{
    memset(m, 0, sizeof *m);
    m->cls = twr_class_for(cls, (uint64_t)__builtin_return_address(0));
    twr_lock_register(m, m->cls, TWR_LOCK_FIBER_MUTEX);
}

void twr_fmutex_destroy(twr_fmutex *m)
{
    twr_lock_unregister(m);
}

void twr_fmutex_lock(twr_fmutex *m)
{
    twr_sched *s = twr_this_sched();
    twr_fiber *cur = s ? s->current : NULL;
    if (!cur) __builtin_trap(); /* only fibers park; a thread uses twr_mutex */
    guard_lock(&m->guard);
    if (!m->owner) {
        m->owner = cur;
        m->owner_tid = s->tid;
        __atomic_store_n(&m->owner_id, cur->id, __ATOMIC_RELEASE);
        guard_unlock(&m->guard);
        return;
    }
    /* Park: queue on the mutex, run someone else; the unlock hands it to us. */
    cur->next = NULL;
    if (m->tail) m->tail->next = cur; else m->head = cur;
    m->tail = cur;
    s->release = &m->guard;
    twr_switch(s, cur, TWR_FIBER_BLOCKED, (uint64_t)m, twr_next_runnable(s));
    TWR_KEEP_FRAME();
}

void twr_fmutex_unlock(twr_fmutex *m)
{
    guard_lock(&m->guard);
    twr_fiber *w = m->head;
    if (!w) {
        m->owner = NULL;
        m->owner_tid = 0;
        __atomic_store_n(&m->owner_id, 0, __ATOMIC_RELEASE);
        guard_unlock(&m->guard);
        return;
    }
    m->head = w->next;
    if (!m->head) m->tail = NULL;
    m->owner = w;
    /* Where it last ran; in a pool it may resume elsewhere (the fiber's
     * own record has its carrier then). */
    m->owner_tid = w->sched ? w->sched->tid : 0;
    __atomic_store_n(&m->owner_id, w->id, __ATOMIC_RELEASE);
    guard_unlock(&m->guard);
    twr_make_runnable(w);
}
