/* Stackful fibers and the standalone scheduler (one carrier thread runs its
 * own fibers). A yield switches straight to the next runnable fiber (one
 * context switch); the scheduler's own context runs only when there is
 * nothing to run. Pools (M:N) are in pool.c and share the switch below. */
#include "fiber_internal.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Initial-exec: each access is one %fs-relative load, never an address
 * computed once per function (general-dynamic TLS could be cached across a
 * switch, and a pool fiber may resume on another thread). */
static __thread twr_sched *current_sched __attribute__((tls_model("initial-exec")));
static uint64_t next_fiber_id = 1;

__attribute__((noinline)) twr_sched *twr_this_sched(void)
{
    return current_sched;
}

/* A record change under its own seqlock: odd while its owner writes. */
static inline void rec_begin(twr_fiber_rec *r)
{
    __atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void rec_end(twr_fiber_rec *r)
{
    __atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELEASE);
}

/* state is also read by twr_fiber_new's free-slot search, which holds the
 * registry lock but not the record: an atomic word, relaxed. */
static inline void set_state(twr_fiber_rec *r, uint32_t state)
{
    __atomic_store_n(&r->state, state, __ATOMIC_RELAXED);
}

/* Suspended: state, what it waits for and where its context is, in one
 * change, so a reader never pairs a new state with an old saved_sp. */
static inline void publish_suspended(twr_fiber *f, uint32_t state, uint64_t waiting)
{
    twr_fiber_rec *r = f->rec;
    if (!r) return;
    rec_begin(r);
    set_state(r, state);
    r->waiting_on = waiting;
    r->saved_sp = (uint64_t)f->sp;
    rec_end(r);
}

static inline void publish_running(twr_fiber *f, int32_t carrier)
{
    twr_fiber_rec *r = f->rec;
    if (!r) return;
    rec_begin(r);
    set_state(r, TWR_FIBER_RUNNING);
    r->waiting_on = 0;
    r->carrier_tid = carrier;
    r->switches++;
    rec_end(r);
}

void twr_sched_attach(twr_sched *s, uint32_t pool_id)
{
    twr_tls_t *t = twr_me();
    s->tid = t->tid;
    s->rec = &s->spare;
    twr_reg_begin();
    for (uint32_t i = 0; i < TWR_MAX_CARRIERS; i++) {
        if (twr_registry.carriers[i].tid == 0) {
            s->rec = &twr_registry.carriers[i];
            memset(s->rec, 0, sizeof *s->rec);
            if (i >= twr_registry.ncarriers) twr_registry.ncarriers = i + 1;
            break;
        }
    }
    if (s->rec == &s->spare) twr_registry.dropped++;
    s->rec->pool = pool_id;
    s->rec->tid = t->tid;
    twr_reg_end();
    current_sched = s;
#ifdef TWR_TSAN
    s->tsan = __tsan_get_current_fiber();
#endif
}

void twr_sched_detach(twr_sched *s)
{
    if (current_sched == s) current_sched = NULL;
    if (s->rec != &s->spare) {
        twr_reg_begin();
        memset(s->rec, 0, sizeof *s->rec);
        twr_reg_end();
    }
}

/* A finished fiber's stack and record go once nothing runs on it. */
static void fiber_release(twr_fiber *f)
{
#ifdef TWR_TSAN
    __tsan_destroy_fiber(f->tsan);
#endif
    munmap(f->map, f->map_len);
    if (f->rec) {
        twr_reg_begin();
        rec_begin(f->rec);
        set_state(f->rec, 0);
        rec_end(f->rec);
        twr_reg_end();
    }
    free(f);
}

static void local_push(twr_sched *s, twr_fiber *f)
{
    f->next = NULL;
    if (s->tail) s->tail->next = f; else s->head = f;
    s->tail = f;
    s->rec->runnable++;
}

/* Another thread hands a fiber to a standalone scheduler. */
static void inbox_post(twr_sched *s, twr_fiber *f)
{
    twr_fiber *old = __atomic_load_n(&s->inbox, __ATOMIC_RELAXED);
    do {
        f->next = old;
    } while (!__atomic_compare_exchange_n(&s->inbox, &old, f, 1, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    __atomic_fetch_add(&s->wake, 1, __ATOMIC_SEQ_CST);
    twr_futex(&s->wake, FUTEX_WAKE_PRIVATE, 1);
}

static twr_fiber *local_next(twr_sched *s)
{
    if (__builtin_expect(__atomic_load_n(&s->inbox, __ATOMIC_RELAXED) != NULL, 0)) {
        /* The inbox is last-in first: reverse it so posts run in order. */
        twr_fiber *list = __atomic_exchange_n(&s->inbox, NULL, __ATOMIC_ACQUIRE), *fifo = NULL;
        while (list) {
            twr_fiber *n = list->next;
            list->next = fifo;
            fifo = list;
            list = n;
        }
        while (fifo) {
            twr_fiber *n = fifo->next;
            local_push(s, fifo);
            fifo = n;
        }
    }
    twr_fiber *f = s->head;
    if (!f) return NULL;
    s->head = f->next;
    if (!s->head) s->tail = NULL;
    s->rec->runnable--;
    return f;
}

twr_fiber *twr_next_runnable(twr_sched *s)
{
    return s->pool ? twr_pool_next(s) : local_next(s);
}

/* Runs in whatever context a switch resumed, before anything else there:
 * only now are the previous fiber's registers saved, so only now may it be
 * published, queued where another carrier can take it, or freed. Not
 * inlined: it must read the thread's scheduler afresh. */
__attribute__((noinline)) static void after_switch(void)
{
    twr_sched *s = current_sched;
    twr_fiber *p = s->prev;
    if (!p) {
        if (s->pool) twr_pool_publish(s);
        return;
    }
    s->prev = NULL;
    uint32_t state = s->prev_state;
    publish_suspended(p, state, s->prev_wait);
    if (state == TWR_FIBER_RUNNABLE) {
        if (s->pool) twr_pool_requeue(s, p); else local_push(s, p);
    } else if (state == TWR_FIBER_BLOCKED) {
        uint32_t *guard = s->release;
        s->release = NULL;
        if (guard) __atomic_store_n(guard, 0, __ATOMIC_RELEASE);
    } else if (state == TWR_FIBER_FINISHED) {
        twr_pool *pool = p->pool;
        twr_sched *home = p->sched;
        fiber_release(p);
        if (pool) twr_pool_finished(pool);
        else __atomic_fetch_sub(&home->live, 1, __ATOMIC_RELEASE);
    }
    if (s->pool) twr_pool_publish(s);
}

void twr_switch(twr_sched *s, twr_fiber *from, uint32_t from_state, uint64_t wait, twr_fiber *to)
{
    s->prev = from;
    s->prev_state = from_state;
    s->prev_wait = wait;
    s->current = to;
    uint64_t id = 0;
    if (to) {
        to->sched = s;
        publish_running(to, s->tid);
        id = to->id;
    }
    __atomic_store_n(&s->rec->current, id, __ATOMIC_RELAXED);
    __atomic_store_n(&s->rec->switches, s->rec->switches + 1, __ATOMIC_RELAXED);
    twr_tls.current_fiber = id;
#ifdef TWR_TSAN
    __tsan_switch_to_fiber(to ? to->tsan : s->tsan, 0);
#endif
    twr_context_switch(from ? &from->sp : &s->sp, to ? to->sp : s->sp);
    /* Resumed, possibly on another carrier: `s` is stale from here on. */
    after_switch();
}

static void fiber_main(void *p)
{
    after_switch();
    twr_fiber *f = p;
    f->fn(f->arg);
    twr_sched *s = twr_this_sched();
    twr_switch(s, f, TWR_FIBER_FINISHED, 0, twr_next_runnable(s));
    __builtin_trap();
}

twr_fiber *twr_fiber_new(const char *name, void (*fn)(void *), void *arg, size_t stack_bytes,
                         uint32_t pool_id, int32_t carrier_tid)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t usable = (stack_bytes ? stack_bytes : 64 * 1024);
    usable = (usable + (size_t)page - 1) & ~((size_t)page - 1);
    twr_fiber *f = twr_zalloc_line(sizeof *f);
    if (!f) return NULL;
    f->map_len = usable + (size_t)page;
    f->map = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (f->map == MAP_FAILED) {
        free(f);
        return NULL;
    }
    /* The lowest page is the guard: an overflow faults instead of corrupting. */
    mprotect(f->map, (size_t)page, PROT_NONE);
    char *lo = (char *)f->map + page;
    f->id = __atomic_fetch_add(&next_fiber_id, 1, __ATOMIC_RELAXED);
    f->fn = fn;
    f->arg = arg;
    f->sp = twr_context_make(lo, usable, fiber_main, f);
#ifdef TWR_TSAN
    f->tsan = __tsan_create_fiber(0);
#endif
    twr_reg_init();
    twr_reg_begin();
    uint32_t slot = TWR_MAX_FIBERS;
    for (uint32_t i = 0; i < twr_registry.nfibers; i++) {
        if (__atomic_load_n(&twr_registry.fibers[i].state, __ATOMIC_RELAXED) == 0) { slot = i; break; }
    }
    if (slot == TWR_MAX_FIBERS && twr_registry.nfibers < TWR_MAX_FIBERS) slot = twr_registry.nfibers++;
    if (slot < TWR_MAX_FIBERS) {
        twr_fiber_rec *r = &twr_registry.fibers[slot];
        rec_begin(r);
        uint32_t seq = r->seq;
        memset(r, 0, sizeof *r);
        r->seq = seq;
        r->id = f->id;
        r->carrier_tid = carrier_tid;
        r->pool = pool_id;
        r->stack_lo = (uint64_t)lo;
        r->stack_hi = (uint64_t)lo + usable;
        r->entry = (uint64_t)fn;
        r->saved_sp = (uint64_t)f->sp;
        if (name) strncpy(r->name, name, sizeof r->name - 1);
        set_state(r, TWR_FIBER_RUNNABLE);
        rec_end(r);
        f->rec = r;
    } else {
        twr_registry.dropped++;
    }
    twr_reg_end();
    return f;
}

void twr_make_runnable(twr_fiber *f)
{
    twr_fiber_rec *r = f->rec;
    if (r) {
        rec_begin(r);
        set_state(r, TWR_FIBER_RUNNABLE);
        r->waiting_on = 0;
        rec_end(r);
    }
    twr_sched *me = current_sched;
    if (f->pool) twr_pool_ready(f->pool, me, f);
    else if (f->sched == me) local_push(me, f);
    else inbox_post(f->sched, f);
}

/* ---- the standalone scheduler ---- */

twr_sched *twr_sched_new(void)
{
    twr_sched *s = twr_zalloc_line(sizeof *s);
    if (!s) return NULL;
    twr_sched_attach(s, 0);
    return s;
}

void twr_sched_free(twr_sched *s)
{
    twr_sched_detach(s);
    free(s);
}

twr_fiber *twr_fiber_create(twr_sched *s, const char *name, void (*fn)(void *), void *arg, size_t stack_bytes)
{
    twr_fiber *f = twr_fiber_new(name, fn, arg, stack_bytes, 0, s->tid);
    if (!f) return NULL;
    f->sched = s;
    __atomic_fetch_add(&s->live, 1, __ATOMIC_SEQ_CST);
    if (current_sched == s) local_push(s, f); else inbox_post(s, f);
    return f;
}

void twr_sched_run(twr_sched *s)
{
    current_sched = s;
    for (;;) {
        twr_fiber *next = local_next(s);
        if (next) {
            twr_switch(s, NULL, 0, 0, next);
            continue;
        }
        if (__atomic_load_n(&s->live, __ATOMIC_ACQUIRE) == 0) break;
        /* Every fiber is blocked: sleep until another thread posts one (a
         * fiber deadlock looks like this, with the carrier free). */
        uint32_t w = __atomic_load_n(&s->wake, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&s->inbox, __ATOMIC_SEQ_CST)) continue;
        __atomic_store_n(&s->rec->idle, 1, __ATOMIC_RELAXED);
        twr_futex(&s->wake, FUTEX_WAIT_PRIVATE, w);
        __atomic_store_n(&s->rec->idle, 0, __ATOMIC_RELAXED);
    }
}

void twr_fiber_yield(void)
{
    twr_sched *s = current_sched;
    if (!s || !s->current) return;
    twr_fiber *next = twr_next_runnable(s);
    if (!next) return;
    twr_switch(s, s->current, TWR_FIBER_RUNNABLE, 0, next);
    TWR_KEEP_FRAME();
}

twr_fiber *twr_fiber_current(void)
{
    return current_sched ? current_sched->current : NULL;
}

uint64_t twr_fiber_id(const twr_fiber *f)
{
    return f ? f->id : 0;
}
