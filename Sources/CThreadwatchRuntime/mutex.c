/* twr_mutex: the three-state futex mutex of Drepper, "Futexes are tricky"
 * (2011), section 6 "mutex3": 0 unlocked, 1 locked, 2 locked with waiters.
 * PI mode follows futex(2) FUTEX_LOCK_PI: the word holds the owner's tid. */
#include "internal.h"
#include <errno.h>

void twr_mutex_init_class(twr_mutex *m, const char *cls, uint32_t flags)
{
    m->word = 0;
    m->flags = flags;
    m->holder_tid = 0;
    m->cls = twr_class_for(cls, (uint64_t)__builtin_return_address(0));
    twr_lock_register(m, m->cls, TWR_LOCK_MUTEX);
}

void twr_mutex_destroy(twr_mutex *m)
{
    twr_lock_unregister(m);
}

/* Out of line, like lock_pi: the uncontended lock then needs no stack frame. */
__attribute__((noinline)) static void lock_contended(twr_mutex *m, twr_tls_t *t, uint32_t c)
{
    /* Published before sleeping, so an outside reader sees what we wait for. */
    __atomic_store_n(&t->waiting_on, (uint64_t)m, __ATOMIC_RELAXED);
    if (c != 2) c = __atomic_exchange_n(&m->word, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        twr_futex(&m->word, FUTEX_WAIT_PRIVATE, 2);
        c = __atomic_exchange_n(&m->word, 2, __ATOMIC_ACQUIRE);
    }
    __atomic_store_n(&t->waiting_on, 0, __ATOMIC_RELAXED);
}

__attribute__((noinline)) static void lock_pi(twr_mutex *m, twr_tls_t *t)
{
    uint32_t c = 0;
    if (__atomic_compare_exchange_n(&m->word, &c, (uint32_t)t->tid, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&t->waiting_on, (uint64_t)m, __ATOMIC_RELAXED);
    /* The kernel sets FUTEX_WAITERS, boosts the owner and hands the lock over. */
    while (twr_futex(&m->word, FUTEX_LOCK_PI_PRIVATE, 0) != 0 && (errno == EINTR || errno == EAGAIN)) {
    }
    TWR_TSAN_ACQUIRE(m);
    __atomic_store_n(&t->waiting_on, 0, __ATOMIC_RELAXED);
}

static inline __attribute__((always_inline)) void lock_at(twr_mutex *m, uint64_t site)
{
    twr_tls_t *t = twr_me();
    if (__builtin_expect(m->flags & TWR_MUTEX_PI, 0)) {
        lock_pi(m, t);
    } else {
        uint32_t c = 0;
        if (!__atomic_compare_exchange_n(&m->word, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            lock_contended(m, t, c);
    }
    __atomic_store_n(&m->holder_tid, t->tid, __ATOMIC_RELAXED);
    twr_order_acquired(t, m, m->cls, site);
}

void twr_mutex_lock(twr_mutex *m)
{
    lock_at(m, (uint64_t)__builtin_return_address(0));
}

/* For a wrapper that is a real function with a frame pointer (the Swift
 * module in an unoptimised build): the site is the wrapper's caller. */
__attribute__((noinline)) void twr_mutex_lock_from_caller(twr_mutex *m)
{
    lock_at(m, (uint64_t)__builtin_return_address(1));
}

static inline __attribute__((always_inline)) int trylock_at(twr_mutex *m, uint64_t site)
{
    twr_tls_t *t = twr_me();
    uint32_t c = 0;
    uint32_t mine = (m->flags & TWR_MUTEX_PI) ? (uint32_t)t->tid : 1;
    if (!__atomic_compare_exchange_n(&m->word, &c, mine, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return EBUSY;
    __atomic_store_n(&m->holder_tid, t->tid, __ATOMIC_RELAXED);
    twr_order_acquired(t, m, 0, site); /* a trylock cannot deadlock: no order */
    return 0;
}

int twr_mutex_trylock(twr_mutex *m)
{
    return trylock_at(m, (uint64_t)__builtin_return_address(0));
}

__attribute__((noinline)) int twr_mutex_trylock_from_caller(twr_mutex *m)
{
    return trylock_at(m, (uint64_t)__builtin_return_address(1));
}

__attribute__((noinline)) static void wake_one(twr_mutex *m)
{
    twr_futex(&m->word, FUTEX_WAKE_PRIVATE, 1);
}

void twr_mutex_unlock(twr_mutex *m)
{
    twr_tls_t *t = &twr_tls;
    twr_order_released(t, m);
    __atomic_store_n(&m->holder_tid, 0, __ATOMIC_RELAXED);
    if (__builtin_expect(m->flags & TWR_MUTEX_PI, 0)) {
        uint32_t c = (uint32_t)t->tid;
        if (!__atomic_compare_exchange_n(&m->word, &c, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
            TWR_TSAN_RELEASE(m);
            twr_futex(&m->word, FUTEX_UNLOCK_PI_PRIVATE, 0);
        }
        return;
    }
    if (__atomic_exchange_n(&m->word, 0, __ATOMIC_RELEASE) == 2) wake_one(m);
}

/* Condition variable: waiters sleep on a sequence number; a signal bumps
 * it first, so a waiter that read the old value before unlocking the
 * mutex gets EAGAIN from FUTEX_WAIT instead of missing the wake-up. */
void twr_cond_init(twr_cond *c)
{
    c->seq = 0;
    c->waiters = 0;
}

void twr_cond_wait(twr_cond *c, twr_mutex *m)
{
    __atomic_fetch_add(&c->waiters, 1, __ATOMIC_SEQ_CST);
    uint32_t s = __atomic_load_n(&c->seq, __ATOMIC_SEQ_CST);
    twr_mutex_unlock(m);
    twr_futex(&c->seq, FUTEX_WAIT_PRIVATE, s);
    __atomic_fetch_sub(&c->waiters, 1, __ATOMIC_RELAXED);
    twr_mutex_lock(m);
}

void twr_cond_signal(twr_cond *c)
{
    __atomic_fetch_add(&c->seq, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&c->waiters, __ATOMIC_SEQ_CST)) twr_futex(&c->seq, FUTEX_WAKE_PRIVATE, 1);
}

void twr_cond_broadcast(twr_cond *c)
{
    __atomic_fetch_add(&c->seq, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&c->waiters, __ATOMIC_SEQ_CST)) twr_futex(&c->seq, FUTEX_WAKE_PRIVATE, 0x7fffffff);
}
