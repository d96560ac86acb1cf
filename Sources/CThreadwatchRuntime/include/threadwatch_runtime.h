/*
 * threadwatch runtime: a futex mutex and condition variable, registered
 * threads with TLS descriptors, lockdep-style lock order tracking, and
 * stackful fibers with an x86-64 assembly context switch.
 *
 * Everything it knows is published in one root, `twr_registry` (layout
 * below, part of the ABI threadwatch reads from outside): readers never
 * lock; a sequence counter (odd while a writer works) makes torn reads
 * detectable.
 */
#ifndef THREADWATCH_RUNTIME_H
#define THREADWATCH_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- registry ABI (version 2): fixed-size tables, all integers little endian ----
 * Version 2 added M:N pools: pool/idle/steals in twr_carrier_rec, pool in
 * twr_fiber_rec (in place of a pad word). */
#define TWR_MAGIC 0x3147455257525754ull /* "TWRWREG1" */
#define TWR_VERSION 2u
#define TWR_MAX_THREADS 256
#define TWR_MAX_FIBERS 1024
#define TWR_MAX_LOCKS 1024
#define TWR_MAX_CLASSES 64
#define TWR_MAX_ORDERS 512
#define TWR_MAX_CARRIERS 64
#define TWR_MAX_HELD 16

enum { TWR_THREAD_RUNNING = 1, TWR_THREAD_EXITED = 2, TWR_THREAD_JOINED = 3 };
enum { TWR_THREAD_JOINABLE = 1u, TWR_THREAD_DETACHED = 2u, TWR_THREAD_ADOPTED = 4u };
enum { TWR_FIBER_RUNNING = 1, TWR_FIBER_RUNNABLE = 2, TWR_FIBER_BLOCKED = 3, TWR_FIBER_FINISHED = 4 };
enum { TWR_LOCK_MUTEX = 1, TWR_LOCK_FIBER_MUTEX = 2 };

/* A thread the runtime knows: created by twr_thread_create, or adopted on
 * its first runtime call (main, plain pthreads). */
typedef struct twr_thread_rec {
    int32_t tid;
    uint32_t state;        /* TWR_THREAD_*; 0 = free slot */
    uint32_t flags;        /* TWR_THREAD_JOINABLE/DETACHED/ADOPTED */
    uint32_t pad;
    uint64_t pthread;      /* pthread_t == fs_base on x86-64 glibc */
    uint64_t start_routine;
    uint64_t tls;          /* address of its struct twr_tls */
    uint64_t exit_ns;      /* CLOCK_REALTIME at exit, 0 while running */
    char name[16];
} twr_thread_rec;

/* A fiber. `seq` is this record's own seqlock: whoever owns the fiber at
 * the moment (the carrier running it, or the fiber that wakes it) bumps it
 * around every change, so a switch never touches the registry-wide counter.
 * saved_sp is published inside that seqlock once the switch away from the
 * fiber is complete; while state is RUNNING it is stale. */
typedef struct twr_fiber_rec {
    uint32_t seq;
    uint32_t state;        /* TWR_FIBER_*; 0 = free slot */
    uint64_t id;
    int32_t carrier_tid;   /* the carrier it runs or last ran on (moves in a pool), 0 never ran */
    uint32_t pool;         /* pool id, 0 = bound to one scheduler */
    /* Saved context while suspended: at saved_sp are the MXCSR (4 bytes)
     * and x87 control word (2), pad, then r15 r14 r13 r12 rbx rbp and the
     * return address (rip) at +56; the caller's sp is saved_sp + 64. */
    uint64_t saved_sp;
    uint64_t stack_lo, stack_hi; /* usable stack; one guard page below lo */
    uint64_t entry;        /* the fiber's function */
    uint64_t waiting_on;   /* twr_fmutex address while blocked on one */
    uint64_t switches;     /* times it was switched in */
    char name[24];
    uint64_t reserved[4];  /* to 128 bytes: records of fibers on different carriers never share a cache line */
} twr_fiber_rec;

typedef struct twr_lock_rec {
    uint64_t address;      /* 0 = free slot */
    uint32_t cls;          /* index into classes, 0 = none */
    uint32_t kind;         /* TWR_LOCK_* */
} twr_lock_rec;

/* A lock class: the place its locks were initialised. */
typedef struct twr_class_rec {
    uint64_t init_pc;
    char name[56];
} twr_class_rec;

/* "class first, then class second": seen at pc (where second was taken)
 * with first taken at held_pc, by tid. */
typedef struct twr_order_rec {
    uint32_t first, second;
    int32_t tid;
    uint32_t pad;
    uint64_t pc;
    uint64_t held_pc;
} twr_order_rec;

/* One fiber scheduler and the thread it runs on. */
typedef struct twr_carrier_rec {
    int32_t tid;           /* 0 = free slot */
    uint32_t runnable;     /* fibers in its run queue */
    uint64_t current;      /* id of the fiber running on it, 0 = scheduler */
    uint64_t switches;     /* fiber switches on it so far */
    uint32_t pool;         /* pool id (1, 2, ...), 0 = a standalone scheduler */
    uint32_t idle;         /* 1 while it sleeps with nothing to run */
    uint64_t steals;       /* fibers it took from other carriers' run queues */
    uint64_t reserved[3];  /* to 64 bytes: one cache line per carrier (each writes its own on every switch) */
} twr_carrier_rec;

typedef struct twr_registry {
    uint64_t magic;        /* TWR_MAGIC once initialised */
    uint32_t version;      /* TWR_VERSION */
    uint32_t size;         /* sizeof(twr_registry) */
    uint32_t seq;          /* seqlock: odd while a writer changes the tables */
    uint32_t tls_size;     /* sizeof(struct twr_tls) */
    int64_t tls_offset;    /* &descriptor - thread pointer (fs_base), the same in every thread */
    uint32_t nthreads, nfibers, nlocks, nclasses, norders, ncarriers; /* slots used (high water) */
    uint32_t dropped;      /* records that did not fit */
    uint32_t inversions;   /* order pairs seen both ways */
    uint64_t order_bits[TWR_MAX_CLASSES]; /* bit b of [a]: a then b seen */
    twr_thread_rec threads[TWR_MAX_THREADS];
    twr_fiber_rec fibers[TWR_MAX_FIBERS];
    twr_lock_rec locks[TWR_MAX_LOCKS];
    twr_class_rec classes[TWR_MAX_CLASSES];
    twr_order_rec orders[TWR_MAX_ORDERS];
    twr_carrier_rec carriers[TWR_MAX_CARRIERS];
} twr_registry_t;

extern twr_registry_t twr_registry;

/* Per-thread descriptor, in initial-exec TLS: at fs_base + tls_offset. */
typedef struct twr_tls {
    uint64_t magic;        /* TWR_MAGIC once set up */
    int32_t tid;
    uint32_t held_count;
    uint64_t waiting_on;   /* twr_mutex address while blocked in it */
    uint64_t current_fiber;/* id of the fiber it runs, 0 none */
    struct { uint64_t lock; uint64_t pc; uint32_t cls; uint32_t pad; } held[TWR_MAX_HELD];
} twr_tls_t;

/* ---- mutex: three-state futex (Drepper, "Futexes are tricky", mutex3) ----
 * Layout (ABI): word at 0 (0 free, 1 locked, 2 contended; PI: owner tid |
 * FUTEX_WAITERS), flags at 4, holder_tid at 8, class at 12. */
typedef struct twr_mutex {
    uint32_t word;
    uint32_t flags;
    int32_t holder_tid;
    uint32_t cls;
} twr_mutex;

#define TWR_MUTEX_PI 1u      /* FUTEX_LOCK_PI / FUTEX_UNLOCK_PI */
#define TWR_STR2(x) #x
#define TWR_STR(x) TWR_STR2(x)
/* The lock class is the init site: "file:line". */
#define twr_mutex_init(m) twr_mutex_init_class((m), __FILE__ ":" TWR_STR(__LINE__), 0)
#define twr_mutex_init_pi(m) twr_mutex_init_class((m), __FILE__ ":" TWR_STR(__LINE__), TWR_MUTEX_PI)
void twr_mutex_init_class(twr_mutex *m, const char *cls, uint32_t flags);
void twr_mutex_destroy(twr_mutex *m);
void twr_mutex_lock(twr_mutex *m);
int twr_mutex_trylock(twr_mutex *m); /* 0 or EBUSY */
void twr_mutex_unlock(twr_mutex *m);
/* The same, recording the caller's caller as the acquisition site: for a
 * wrapper function that has a frame pointer (ThreadwatchRuntime's Swift
 * RuntimeMutex in an unoptimised build). Never call these from code built
 * without frame pointers. */
void twr_mutex_lock_from_caller(twr_mutex *m);
int twr_mutex_trylock_from_caller(twr_mutex *m);

/* Condition variable on a sequence futex. */
typedef struct twr_cond { uint32_t seq; uint32_t waiters; } twr_cond;
void twr_cond_init(twr_cond *c);
void twr_cond_wait(twr_cond *c, twr_mutex *m);
void twr_cond_signal(twr_cond *c);
void twr_cond_broadcast(twr_cond *c);

/* ---- threads ---- */
typedef struct twr_thread { pthread_t handle; uint32_t slot; } twr_thread;
int twr_thread_create(twr_thread *t, const char *name, void *(*fn)(void *), void *arg);
int twr_thread_join(twr_thread *t, void **result);
int twr_thread_detach(twr_thread *t);
twr_tls_t *twr_self(void);   /* this thread's descriptor (adopts the thread) */

/* ---- lock order ---- */
/* Number of class pairs seen in both orders so far. */
uint32_t twr_lock_inversions(void);

/* ---- fibers ----
 * Two ways to run them:
 *  - one scheduler per carrier thread (twr_sched_*): the calling thread runs
 *    its fibers; they never move to another thread;
 *  - M:N (twr_pool_*): N carrier threads share the fibers; each carrier has
 *    its own run queue and an idle carrier steals half of another's queue.
 *    A fiber may resume on a different thread after any yield or park: do
 *    not keep a thread-local's address, or a twr_mutex, across one. */
typedef struct twr_sched twr_sched;
typedef struct twr_fiber twr_fiber;
typedef struct twr_pool twr_pool;
twr_sched *twr_sched_new(void);           /* the calling thread is its carrier */
void twr_sched_run(twr_sched *s);         /* runs fibers until all finished */
void twr_sched_free(twr_sched *s);
/* Any thread may create a fiber on any scheduler; it runs on s's carrier. */
twr_fiber *twr_fiber_create(twr_sched *s, const char *name, void (*fn)(void *), void *arg, size_t stack_bytes);
void twr_fiber_yield(void);
twr_fiber *twr_fiber_current(void);
uint64_t twr_fiber_id(const twr_fiber *f);

twr_pool *twr_pool_new(unsigned carriers); /* starts the carrier threads; NULL on failure */
/* From any thread; inside the pool it goes to the caller's own run queue. */
twr_fiber *twr_pool_spawn(twr_pool *p, const char *name, void (*fn)(void *), void *arg, size_t stack_bytes);
void twr_pool_wait(twr_pool *p);           /* until every fiber spawned so far has finished */
void twr_pool_free(twr_pool *p);           /* waits, stops and joins the carriers */
uint64_t twr_pool_steals(const twr_pool *p); /* fibers taken from another carrier's queue so far */

/* Fiber mutex: a fiber that waits is parked, its carrier runs others. It
 * works between fibers of any carriers and pools (a short spin guard
 * orders them); only fibers may take it. Layout (ABI): owner fiber id at
 * 0 (0 free), owner's carrier tid at 8 (when it was taken), class at 12. */
typedef struct twr_fmutex {
    uint64_t owner_id;
    int32_t owner_tid;
    uint32_t cls;
    twr_fiber *owner, *head, *tail;
    uint32_t guard;
    uint32_t pad;
} twr_fmutex;
#define twr_fmutex_init(m) twr_fmutex_init_class((m), __FILE__ ":" TWR_STR(__LINE__))
void twr_fmutex_init_class(twr_fmutex *m, const char *cls);
void twr_fmutex_destroy(twr_fmutex *m); /* leaves the registry's lock table */
void twr_fmutex_lock(twr_fmutex *m);
void twr_fmutex_unlock(twr_fmutex *m);

/* Raw context switch (switch_x86_64.S): saves the callee-saved state on
 * the current stack, stores sp in *save, resumes the context at load. */
void twr_context_switch(void **save, void *load);
/* A context that starts fn(arg) on [stack, stack+size) when switched to. */
void *twr_context_make(void *stack, size_t size, void (*fn)(void *), void *arg);

#ifdef __cplusplus
}
#endif
#endif
