/* M:N fibers: a pool of carrier threads, each with its own run queue.
 *
 * The design is the Go scheduler's (runtime/proc.go, runqput/runqget/
 * runqgrab/wakep), reduced: a carrier runs its own queue first, looks at
 * the pool's global queue every 61 picks and when its own is empty, and
 * otherwise steals half of another carrier's queue. A carrier with nothing
 * anywhere sleeps on a futex; whoever makes a fiber runnable while a
 * carrier is idle wakes one (an eventcount: see pool_wake). */
#include "fiber_internal.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct twr_pool {
    uint32_t id, n;          /* n: carriers started */
    uint32_t allocated;      /* entries in carriers[] */
    twr_sched **carriers;
    twr_thread *threads;
    pthread_mutex_t glock;    /* the global queue: spawns from outside, ring overflow */
    twr_fiber *ghead, *gtail;
    uint32_t gcount;          /* read without the lock as a hint */
    uint32_t idle;            /* carriers in the idle protocol */
    uint32_t wake_seq;        /* futex idle carriers sleep on */
    uint32_t live;            /* futex: fibers spawned and not finished */
    uint32_t stopping;
    uint64_t steals;
};

static uint32_t next_pool_id = 1;

/* ---- a carrier's ring: only its owner puts; owner and thieves take ---- */

/* The carrier's queue length in its registry record: after every switch
 * on it (twr_after_switch), after a put between switches, and by a thief
 * for its victim. */
void twr_pool_publish(twr_sched *s)
{
    /* Thieves move rhead too: re-read until the count written matches a
     * head and tail that held while it was written. */
    for (;;) {
        uint32_t h = __atomic_load_n(&s->rhead, __ATOMIC_ACQUIRE);
        uint32_t t = __atomic_load_n(&s->rtail, __ATOMIC_ACQUIRE);
        __atomic_store_n(&s->rec->runnable, t - h, __ATOMIC_RELAXED);
        if (__atomic_load_n(&s->rhead, __ATOMIC_ACQUIRE) == h && __atomic_load_n(&s->rtail, __ATOMIC_ACQUIRE) == t) return;
    }
}

static int ring_put(twr_sched *s, twr_fiber *f)
{
    uint32_t h = __atomic_load_n(&s->rhead, __ATOMIC_ACQUIRE);
    uint32_t t = s->rtail;
    if (t - h >= TWR_RING) return 0;
    __atomic_store_n(&s->ring[t % TWR_RING], f, __ATOMIC_RELAXED);
    __atomic_store_n(&s->rtail, t + 1, __ATOMIC_RELEASE);
    return 1;
}

static twr_fiber *ring_get(twr_sched *s)
{
    for (;;) {
        uint32_t h = __atomic_load_n(&s->rhead, __ATOMIC_ACQUIRE);
        uint32_t t = s->rtail;
        if (h == t) return NULL;
        twr_fiber *f = __atomic_load_n(&s->ring[h % TWR_RING], __ATOMIC_RELAXED);
        if (__atomic_compare_exchange_n(&s->rhead, &h, h + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return f;
    }
}

/* Copies half of victim's queue behind thief's tail (thief's queue is
 * empty: it steals only then) and claims it with one compare-and-swap on
 * the victim's head; returns how many, not yet published in thief's tail. */
static uint32_t ring_grab(twr_sched *victim, twr_sched *thief)
{
    for (;;) {
        uint32_t h = __atomic_load_n(&victim->rhead, __ATOMIC_ACQUIRE);
        uint32_t t = __atomic_load_n(&victim->rtail, __ATOMIC_ACQUIRE);
        uint32_t n = t - h;
        n -= n / 2;
        if (n == 0) return 0;
        if (n > TWR_RING / 2) continue; /* h and t read at different moments */
        for (uint32_t i = 0; i < n; i++) {
            twr_fiber *f = __atomic_load_n(&victim->ring[(h + i) % TWR_RING], __ATOMIC_RELAXED);
            __atomic_store_n(&thief->ring[(thief->rtail + i) % TWR_RING], f, __ATOMIC_RELAXED);
        }
        if (__atomic_compare_exchange_n(&victim->rhead, &h, h + n, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return n;
    }
}

/* ---- the pool's global queue ---- */

static void global_put(twr_pool *p, twr_fiber *f)
{
    f->next = NULL;
    pthread_mutex_lock(&p->glock);
    if (p->gtail) p->gtail->next = f; else p->ghead = f;
    p->gtail = f;
    __atomic_store_n(&p->gcount, p->gcount + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&p->glock);
}

/* Takes a fair share of the global queue: one to run, the rest into s's ring. */
static twr_fiber *global_take(twr_sched *s)
{
    twr_pool *p = s->pool;
    twr_fiber *first = NULL, *rest = NULL;
    pthread_mutex_lock(&p->glock);
    uint32_t n = p->gcount / p->n + 1;
    if (n > p->gcount) n = p->gcount;
    if (n > TWR_RING / 2) n = TWR_RING / 2;
    if (n > 0) {
        first = p->ghead;
        twr_fiber *last = first;
        for (uint32_t i = 1; i < n; i++) last = last->next;
        p->ghead = last->next;
        if (!p->ghead) p->gtail = NULL;
        last->next = NULL;
        rest = first->next;
        __atomic_store_n(&p->gcount, p->gcount - n, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&p->glock);
    while (rest) {
        twr_fiber *next = rest->next;
        if (!ring_put(s, rest)) global_put(p, rest);
        rest = next;
    }
    return first;
}

static void pool_wake(twr_pool *p)
{
    /* Pairs with the idle protocol (carrier_main): a carrier reads wake_seq,
     * counts itself idle, looks at the queues once more, then sleeps on the
     * value it read. Either that look sees our fiber, or we see it idle and
     * move wake_seq past what it read, so its futex wait cannot sleep. (A
     * "wake-up under way" flag to save syscalls lost wake-ups here: a
     * carrier that found work without sleeping never cleared it.) */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p->idle, __ATOMIC_RELAXED) == 0) return;
    __atomic_fetch_add(&p->wake_seq, 1, __ATOMIC_SEQ_CST);
    twr_futex(&p->wake_seq, FUTEX_WAKE_PRIVATE, 1);
}

static twr_fiber *steal(twr_sched *s)
{
    twr_pool *p = s->pool;
    if (p->n < 2) return NULL;
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    uint32_t start = (uint32_t)(s->rng % p->n);
    for (uint32_t i = 0; i < p->n; i++) {
        twr_sched *victim = p->carriers[(start + i) % p->n];
        if (victim == s || !victim) continue;
        uint32_t got = ring_grab(victim, s);
        if (!got) continue;
        twr_pool_publish(victim);
        /* Run the last one taken; the rest become s's queue. */
        uint32_t t = s->rtail + got - 1;
        twr_fiber *f = __atomic_load_n(&s->ring[t % TWR_RING], __ATOMIC_RELAXED);
        __atomic_store_n(&s->rtail, t, __ATOMIC_RELEASE);
        __atomic_store_n(&s->rec->steals, s->rec->steals + got, __ATOMIC_RELAXED);
        __atomic_fetch_add(&p->steals, got, __ATOMIC_RELAXED);
        if (got > 1) pool_wake(p); /* more to share */
        return f;
    }
    return NULL;
}

twr_fiber *twr_pool_next(twr_sched *s)
{
    twr_pool *p = s->pool;
    twr_fiber *f;
    /* Now and then the global queue first, or a busy ring starves it. */
    if (++s->tick % 61 == 0 && __atomic_load_n(&p->gcount, __ATOMIC_ACQUIRE) && (f = global_take(s))) return f;
    if ((f = ring_get(s))) return f;
    if (__atomic_load_n(&p->gcount, __ATOMIC_ACQUIRE) && (f = global_take(s))) return f;
    return steal(s);
}

void twr_pool_requeue(twr_sched *s, twr_fiber *f)
{
    if (!ring_put(s, f)) global_put(s->pool, f);
    /* A relaxed look only: this is the yield path, and a missed idle
     * carrier is woken by the next fiber made runnable. */
    if (__atomic_load_n(&s->pool->idle, __ATOMIC_RELAXED)) pool_wake(s->pool);
}

void twr_pool_ready(twr_pool *p, twr_sched *me, twr_fiber *f)
{
    if (me && me->pool == p && ring_put(me, f)) twr_pool_publish(me);
    else global_put(p, f);
    pool_wake(p);
}

void twr_pool_finished(twr_pool *p)
{
    if (__atomic_fetch_sub(&p->live, 1, __ATOMIC_ACQ_REL) == 1) twr_futex(&p->live, FUTEX_WAKE_PRIVATE, INT_MAX);
}

/* ---- carriers ---- */

static void *carrier_main(void *arg)
{
    twr_sched *s = arg;
    twr_pool *p = s->pool;
    twr_sched_attach(s, p->id);
    for (;;) {
        twr_fiber *f = twr_pool_next(s);
        if (!f) {
            /* Idle: count ourselves, look once more, then sleep (pool_wake). */
            uint32_t seq = __atomic_load_n(&p->wake_seq, __ATOMIC_ACQUIRE);
            __atomic_fetch_add(&p->idle, 1, __ATOMIC_SEQ_CST);
            __atomic_store_n(&s->rec->idle, 1, __ATOMIC_RELAXED);
            f = twr_pool_next(s);
            int stop = __atomic_load_n(&p->stopping, __ATOMIC_ACQUIRE);
            if (!f && !stop) twr_futex(&p->wake_seq, FUTEX_WAIT_PRIVATE, seq);
            __atomic_store_n(&s->rec->idle, 0, __ATOMIC_RELAXED);
            __atomic_fetch_sub(&p->idle, 1, __ATOMIC_SEQ_CST);
            if (!f) {
                if (stop) break;
                continue;
            }
            /* Woken for work: if there is more, wake another carrier too. */
            if (__atomic_load_n(&s->rtail, __ATOMIC_RELAXED) != __atomic_load_n(&s->rhead, __ATOMIC_RELAXED) ||
                __atomic_load_n(&p->gcount, __ATOMIC_RELAXED))
                pool_wake(p);
        }
        twr_switch(s, NULL, 0, 0, f);
    }
    twr_sched_detach(s);
    return NULL;
}

twr_pool *twr_pool_new(unsigned carriers)
{
    if (carriers == 0 || carriers > TWR_MAX_CARRIERS) return NULL;
    twr_pool *p = twr_zalloc_line(sizeof *p);
    if (!p) return NULL;
    p->n = carriers;
    p->allocated = carriers;
    p->id = __atomic_fetch_add(&next_pool_id, 1, __ATOMIC_RELAXED);
    p->carriers = calloc(carriers, sizeof *p->carriers);
    p->threads = calloc(carriers, sizeof *p->threads);
    pthread_mutex_init(&p->glock, NULL);
    if (!p->carriers || !p->threads) goto fail;
    for (unsigned i = 0; i < carriers; i++) {
        twr_sched *s = twr_zalloc_line(sizeof *s);
        if (!s) goto fail;
        s->pool = p;
        s->index = i;
        s->rec = &s->spare;
        s->rng = 0x9e3779b97f4a7c15ull * (i + 1);
        p->carriers[i] = s;
    }
    for (unsigned i = 0; i < carriers; i++) {
        char name[16];
        snprintf(name, sizeof name, "pool%u-c%u", p->id, i);
        if (twr_thread_create(&p->threads[i], name, carrier_main, p->carriers[i]) != 0) {
            /* Stop the ones already running, then give up. */
            p->n = i;
            twr_pool_free(p);
            return NULL;
        }
    }
    return p;
fail:
    if (p->carriers)
        for (unsigned i = 0; i < carriers; i++) free(p->carriers[i]);
    free(p->carriers);
    free(p->threads);
    pthread_mutex_destroy(&p->glock);
    free(p);
    return NULL;
}

twr_fiber *twr_pool_spawn(twr_pool *p, const char *name, void (*fn)(void *), void *arg, size_t stack_bytes)
{
    twr_fiber *f = twr_fiber_new(name, fn, arg, stack_bytes, p->id, 0);
    if (!f) return NULL;
    f->pool = p;
    __atomic_fetch_add(&p->live, 1, __ATOMIC_SEQ_CST);
    twr_pool_ready(p, twr_this_sched(), f);
    return f;
}

void twr_pool_wait(twr_pool *p)
{
    uint32_t v;
    while ((v = __atomic_load_n(&p->live, __ATOMIC_ACQUIRE)) != 0) twr_futex(&p->live, FUTEX_WAIT_PRIVATE, v);
}

void twr_pool_free(twr_pool *p)
{
    twr_pool_wait(p);
    __atomic_store_n(&p->stopping, 1, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&p->wake_seq, 1, __ATOMIC_SEQ_CST);
    twr_futex(&p->wake_seq, FUTEX_WAKE_PRIVATE, INT_MAX);
    for (uint32_t i = 0; i < p->n; i++) twr_thread_join(&p->threads[i], NULL);
    /* Carriers that never started (a failed twr_pool_new) are freed too. */
    for (uint32_t i = 0; i < p->allocated; i++) free(p->carriers[i]);
    free(p->carriers);
    free(p->threads);
    pthread_mutex_destroy(&p->glock);
    free(p);
}

uint64_t twr_pool_steals(const twr_pool *p)
{
    return __atomic_load_n(&p->steals, __ATOMIC_RELAXED);
}
