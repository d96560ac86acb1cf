/* twruntime-bench: the runtime's primitives against what they replace.
 * Build: swift build -c release --product twruntime-bench (the runtime is
 * -O2 in every configuration). Prints ns/op and the ratios the goals use. */
#define _GNU_SOURCE
#include "threadwatch_runtime.h"
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define UNCONTENDED 20000000L

static double uncontended_twr(void)
{
    static twr_mutex m;
    twr_mutex_init(&m);
    double t0 = now();
    for (long i = 0; i < UNCONTENDED; i++) { twr_mutex_lock(&m); twr_mutex_unlock(&m); }
    return (now() - t0) * 1e9 / UNCONTENDED;
}

static double uncontended_pthread(void)
{
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    double t0 = now();
    for (long i = 0; i < UNCONTENDED; i++) { pthread_mutex_lock(&m); pthread_mutex_unlock(&m); }
    return (now() - t0) * 1e9 / UNCONTENDED;
}

/* Contended: N threads share one lock, a short critical section each. */
#define CONTENDED 2000000L
struct hammer { int twr; long n; };
static twr_mutex cm;
static pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
static volatile long shared;

static void *hammer(void *arg)
{
    struct hammer *h = arg;
    for (long i = 0; i < h->n; i++) {
        if (h->twr) { twr_mutex_lock(&cm); shared++; twr_mutex_unlock(&cm); }
        else { pthread_mutex_lock(&pm); shared++; pthread_mutex_unlock(&pm); }
    }
    return NULL;
}

static double contended(int threads, int twr)
{
    pthread_t t[8];
    struct hammer h = {twr, CONTENDED / threads};
    double t0 = now();
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, hammer, &h);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    return (now() - t0) * 1e9 / CONTENDED;
}

/* Fiber switch: two contexts handing over to each other directly. */
#define SWITCHES 20000000L
static void *main_sp, *fiber_sp;
static void bouncer(void *arg)
{
    (void)arg;
    for (;;) twr_context_switch(&fiber_sp, main_sp);
}

static double fiber_switch(void)
{
    static char stack[64 * 1024];
    fiber_sp = twr_context_make(stack, sizeof stack, bouncer, NULL);
    double t0 = now();
    for (long i = 0; i < SWITCHES / 2; i++) twr_context_switch(&main_sp, fiber_sp);
    return (now() - t0) * 1e9 / SWITCHES;
}

/* The same through the scheduler: two fibers yielding to each other. */
static void yielder(void *arg)
{
    long n = *(long *)arg;
    for (long i = 0; i < n; i++) twr_fiber_yield();
}

static double fiber_yield(void)
{
    static long n = SWITCHES / 2;
    twr_sched *s = twr_sched_new();
    twr_fiber_create(s, "y1", yielder, &n, 64 * 1024);
    twr_fiber_create(s, "y2", yielder, &n, 64 * 1024);
    double t0 = now();
    twr_sched_run(s);
    double ns = (now() - t0) * 1e9 / SWITCHES;
    twr_sched_free(s);
    return ns;
}

/* The same in an M:N pool: its run queue is the lock-free ring thieves
 * take from, so each yield pays a compare-and-swap the standalone
 * scheduler does not. With more carriers than one, fibers run in parallel
 * and the figure is wall time per switch across all carriers. */
static double pool_yield(unsigned carriers, int fibers)
{
    static long n;
    n = SWITCHES / 2 / fibers;
    twr_pool *p = twr_pool_new(carriers);
    double t0 = now();
    for (int i = 0; i < fibers; i++) twr_pool_spawn(p, "y", yielder, &n, 64 * 1024);
    twr_pool_wait(p);
    double ns = (now() - t0) * 1e9 / ((double)n * fibers);
    twr_pool_free(p);
    return ns;
}

#define UCTX 2000000L
static ucontext_t uc_main, uc_fiber;
static void uc_bouncer(void)
{
    for (;;) swapcontext(&uc_fiber, &uc_main);
}

static double ucontext_switch(void)
{
    static char stack[64 * 1024];
    getcontext(&uc_fiber);
    uc_fiber.uc_stack.ss_sp = stack;
    uc_fiber.uc_stack.ss_size = sizeof stack;
    makecontext(&uc_fiber, uc_bouncer, 0);
    double t0 = now();
    for (long i = 0; i < UCTX / 2; i++) swapcontext(&uc_main, &uc_fiber);
    return (now() - t0) * 1e9 / UCTX;
}

/* Thread switch: two threads pass a token through a futex word. */
#define PINGS 200000L
static uint32_t token;
static void futex_pass(uint32_t mine)
{
    while (__atomic_load_n(&token, __ATOMIC_ACQUIRE) != mine)
        syscall(SYS_futex, &token, FUTEX_WAIT_PRIVATE, 1 - mine, NULL, NULL, 0);
}

static void *ponger(void *arg)
{
    (void)arg;
    for (long i = 0; i < PINGS / 2; i++) {
        futex_pass(1);
        __atomic_store_n(&token, 0, __ATOMIC_RELEASE);
        syscall(SYS_futex, &token, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
    return NULL;
}

static double thread_pingpong(void)
{
    pthread_t t;
    token = 0;
    pthread_create(&t, NULL, ponger, NULL);
    double t0 = now();
    for (long i = 0; i < PINGS / 2; i++) {
        futex_pass(0);
        __atomic_store_n(&token, 1, __ATOMIC_RELEASE);
        syscall(SYS_futex, &token, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
    pthread_join(t, NULL);
    return (now() - t0) * 1e9 / PINGS;
}

int main(void)
{
    double tw = uncontended_twr(), pt = uncontended_pthread();
    printf("uncontended lock+unlock: twr_mutex %.1f ns, pthread_mutex %.1f ns (twr/pthread %.2fx)\n", tw, pt, tw / pt);
    for (int n = 2; n <= 4; n += 2) {
        double a = contended(n, 1), b = contended(n, 0);
        printf("contended, %d threads:    twr_mutex %.1f ns/op, pthread_mutex %.1f ns/op (twr/pthread %.2fx)\n", n, a, b, a / b);
    }
    double fs = fiber_switch(), fy = fiber_yield(), uc = ucontext_switch(), pp = thread_pingpong();
    printf("fiber switch (asm):      %.1f ns\n", fs);
    printf("fiber yield (scheduler): %.1f ns\n", fy);
    double p1 = pool_yield(1, 2), p2 = pool_yield(2, 8);
    printf("pool yield, 1 carrier:   %.1f ns\n", p1);
    printf("pool yield, 2 carriers, 8 fibers: %.1f ns per switch (wall, both carriers)\n", p2);
    printf("swapcontext:             %.1f ns (%.0fx the fiber switch)\n", uc, uc / fs);
    printf("thread futex ping-pong:  %.1f ns per switch (%.0fx the fiber switch)\n", pp, pp / fs);
    return 0;
}
