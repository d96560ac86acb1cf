/* Stackful fibers and one scheduler per carrier thread. A yield switches
 * straight to the next runnable fiber (one context switch); the scheduler's
 * own context runs only to reap finished fibers and to idle when every
 * fiber is blocked. */
#include "internal.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct twr_fiber {
    void **sp;            /* where its saved sp lives: its registry record, or sp_local */
    void *sp_local;
    twr_fiber_rec *rec;   /* NULL when the registry was full */
    uint64_t id;
    twr_sched *sched;
    void (*fn)(void *);
    void *arg;
    void *map;
    size_t map_len;
    twr_fiber *next;      /* run queue, wait queue or dead list */
};

struct twr_sched {
    void *sp;
    twr_fiber *head, *tail, *current, *dead;
    int live;
    uint32_t wake;
    twr_carrier_rec *rec;
    twr_carrier_rec spare;  /* written instead when the registry is full */
};

static __thread twr_sched *current_sched;
static uint64_t next_fiber_id = 1;

/* A record change under its own seqlock: odd while the carrier writes. */
static inline void rec_begin(twr_fiber_rec *r)
{
    __atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void rec_end(twr_fiber_rec *r)
{
    __atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELEASE);
}

static inline void set_state(twr_fiber *f, uint32_t state, uint64_t waiting)
{
    twr_fiber_rec *r = f->rec;
    if (!r) return;
    rec_begin(r);
    r->state = state;
    r->waiting_on = waiting;
    if (state == TWR_FIBER_RUNNING) r->switches++;
    rec_end(r);
}

static void enqueue(twr_sched *s, twr_fiber *f)
{
    f->next = NULL;
    if (s->tail) s->tail->next = f; else s->head = f;
    s->tail = f;
    s->rec->runnable++;
}

static twr_fiber *dequeue(twr_sched *s)
{
    twr_fiber *f = s->head;
    if (!f) return NULL;
    s->head = f->next;
    if (!s->head) s->tail = NULL;
    s->rec->runnable--;
    return f;
}

/* Leaves `from` (NULL: the scheduler) for `to` (NULL: the scheduler). */
static inline void switch_to(twr_sched *s, twr_fiber *from, twr_fiber *to)
{
    s->current = to;
    uint64_t id = 0;
    if (to) {
        set_state(to, TWR_FIBER_RUNNING, 0);
        id = to->id;
    }
    s->rec->current = id;
    s->rec->switches++;
    twr_tls.current_fiber = id;
    twr_context_switch(from ? from->sp : &s->sp, to ? *to->sp : s->sp);
}

twr_sched *twr_sched_new(void)
{
    twr_tls_t *t = twr_me();
    twr_sched *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->rec = &s->spare;
    twr_reg_begin();
    for (uint32_t i = 0; i < TWR_MAX_CARRIERS; i++) {
        if (twr_registry.carriers[i].tid == 0) {
            s->rec = &twr_registry.carriers[i];
            memset(s->rec, 0, sizeof *s->rec);
            s->rec->tid = t->tid;
            if (i >= twr_registry.ncarriers) twr_registry.ncarriers = i + 1;
            break;
        }
    }
    twr_reg_end();
    s->rec->tid = t->tid;
    current_sched = s;
    return s;
}

void twr_sched_free(twr_sched *s)
{
    if (current_sched == s) current_sched = NULL;
    if (s->rec != &s->spare) {
        twr_reg_begin();
        s->rec->tid = 0;
        twr_reg_end();
    }
    free(s);
}

static void reap(twr_sched *s)
{
    while (s->dead) {
        twr_fiber *f = s->dead;
        s->dead = f->next;
        munmap(f->map, f->map_len);
        if (f->rec) {
            twr_reg_begin();
            f->rec->state = 0;
            twr_reg_end();
        }
        free(f);
    }
}

static void fiber_main(void *p)
{
    twr_fiber *f = p;
    f->fn(f->arg);
    twr_sched *s = f->sched;
    set_state(f, TWR_FIBER_FINISHED, 0);
    s->live--;
    /* Its stack is freed by the scheduler, once nothing runs on it. */
    f->next = s->dead;
    s->dead = f;
    switch_to(s, f, dequeue(s));
    __builtin_trap();
}

twr_fiber *twr_fiber_create(twr_sched *s, const char *name, void (*fn)(void *), void *arg, size_t stack_bytes)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t usable = (stack_bytes ? stack_bytes : 64 * 1024);
    usable = (usable + (size_t)page - 1) & ~((size_t)page - 1);
    twr_fiber *f = calloc(1, sizeof *f);
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
    f->sched = s;
    f->fn = fn;
    f->arg = arg;
    f->sp = &f->sp_local;
    twr_reg_init();
    twr_reg_begin();
    uint32_t slot = TWR_MAX_FIBERS;
    for (uint32_t i = 0; i < twr_registry.nfibers; i++) {
        if (twr_registry.fibers[i].state == 0) { slot = i; break; }
    }
    if (slot == TWR_MAX_FIBERS && twr_registry.nfibers < TWR_MAX_FIBERS) slot = twr_registry.nfibers++;
    if (slot < TWR_MAX_FIBERS) {
        twr_fiber_rec *r = &twr_registry.fibers[slot];
        uint32_t seq = r->seq;
        memset(r, 0, sizeof *r);
        r->seq = seq;
        r->id = f->id;
        r->carrier_tid = s->rec->tid;
        r->stack_lo = (uint64_t)lo;
        r->stack_hi = (uint64_t)lo + usable;
        r->entry = (uint64_t)fn;
        if (name) strncpy(r->name, name, sizeof r->name - 1);
        r->state = TWR_FIBER_RUNNABLE;
        f->rec = r;
        f->sp = (void **)&r->saved_sp;
    } else {
        twr_registry.dropped++;
    }
    *f->sp = twr_context_make(lo, usable, fiber_main, f);
    twr_reg_end();
    s->live++;
    enqueue(s, f);
    return f;
}

void twr_sched_run(twr_sched *s)
{
    current_sched = s;
    for (;;) {
        reap(s);
        twr_fiber *next = dequeue(s);
        if (next) {
            switch_to(s, NULL, next);
            continue;
        }
        if (s->live == 0) break;
        /* Every fiber is blocked and only a fiber of this carrier could
         * wake one: the carrier idles (a fiber deadlock looks like this). */
        uint32_t w = __atomic_load_n(&s->wake, __ATOMIC_ACQUIRE);
        twr_futex(&s->wake, FUTEX_WAIT_PRIVATE, w);
    }
    reap(s);
}

void twr_fiber_yield(void)
{
    twr_sched *s = current_sched;
    if (!s || !s->current) return;
    twr_fiber *next = dequeue(s);
    if (!next) return;
    twr_fiber *cur = s->current;
    set_state(cur, TWR_FIBER_RUNNABLE, 0);
    enqueue(s, cur);
    switch_to(s, cur, next);
}

twr_fiber *twr_fiber_current(void)
{
    return current_sched ? current_sched->current : NULL;
}

uint64_t twr_fiber_id(const twr_fiber *f)
{
    return f ? f->id : 0;
}

void twr_fmutex_init_class(twr_fmutex *m, const char *cls)
{
    memset(m, 0, sizeof *m);
    m->cls = twr_class_for(cls, (uint64_t)__builtin_return_address(0));
    twr_lock_register(m, m->cls, TWR_LOCK_FIBER_MUTEX);
}

void twr_fmutex_lock(twr_fmutex *m)
{
    twr_sched *s = current_sched;
    twr_fiber *cur = s ? s->current : NULL;
    if (!cur) __builtin_trap(); /* only fibers park; a thread uses twr_mutex */
    if (!m->owner) {
        m->owner = cur;
        m->owner_tid = s->rec->tid;
        __atomic_store_n(&m->owner_id, cur->id, __ATOMIC_RELEASE);
        return;
    }
    /* Park: queue on the mutex, run someone else; unlock hands it to us. */
    cur->next = NULL;
    if (m->tail) m->tail->next = cur; else m->head = cur;
    m->tail = cur;
    set_state(cur, TWR_FIBER_BLOCKED, (uint64_t)m);
    switch_to(s, cur, dequeue(s));
}

void twr_fmutex_unlock(twr_fmutex *m)
{
    twr_fiber *w = m->head;
    if (!w) {
        m->owner = NULL;
        m->owner_tid = 0;
        __atomic_store_n(&m->owner_id, 0, __ATOMIC_RELEASE);
        return;
    }
    m->head = w->next;
    if (!m->head) m->tail = NULL;
    m->owner = w;
    m->owner_tid = w->sched->rec->tid;
    __atomic_store_n(&m->owner_id, w->id, __ATOMIC_RELEASE);
    set_state(w, TWR_FIBER_RUNNABLE, 0);
    enqueue(w->sched, w);
}
