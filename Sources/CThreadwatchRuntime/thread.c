/* Registered threads: create/join/detach over pthreads, each with a slot
 * in the registry (so unjoined exited threads are exact) and a TLS
 * descriptor at a fixed offset from its thread pointer. */
#include "internal.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static __thread uint32_t my_slot = UINT32_MAX;

/* A free slot: never used, joined, or exited while detached. Caller holds the registry. */
static uint32_t take_slot(void)
{
    for (uint32_t i = 0; i < twr_registry.nthreads; i++) {
        twr_thread_rec *r = &twr_registry.threads[i];
        if (r->state == 0 || r->state == TWR_THREAD_JOINED ||
            (r->state == TWR_THREAD_EXITED && (r->flags & TWR_THREAD_DETACHED)))
            return i;
    }
    if (twr_registry.nthreads < TWR_MAX_THREADS) return twr_registry.nthreads++;
    twr_registry.dropped++;
    return UINT32_MAX;
}

static void fill_self(twr_thread_rec *r)
{
    r->tid = twr_tls.tid;
    r->pthread = (uint64_t)pthread_self();
    r->tls = (uint64_t)&twr_tls;
}

twr_tls_t *twr_self(void)
{
    twr_tls_t *t = &twr_tls;
    if (t->magic == TWR_MAGIC) return t;
    twr_reg_init();
    t->tid = (int32_t)syscall(SYS_gettid);
    if (my_slot == UINT32_MAX) {
        /* Adopted: main or a plain pthread that called into the runtime. */
        twr_reg_begin();
        uint32_t slot = take_slot();
        if (slot != UINT32_MAX) {
            twr_thread_rec *r = &twr_registry.threads[slot];
            memset(r, 0, sizeof *r);
            fill_self(r);
            r->flags = TWR_THREAD_ADOPTED;
            pthread_getname_np(pthread_self(), r->name, sizeof r->name);
            r->state = TWR_THREAD_RUNNING;
            my_slot = slot;
        }
        twr_reg_end();
    }
    __atomic_store_n(&t->magic, TWR_MAGIC, __ATOMIC_RELEASE);
    return t;
}

struct start {
    void *(*fn)(void *);
    void *arg;
    uint32_t slot;
    char name[16];
};

static void *trampoline(void *p)
{
    struct start s = *(struct start *)p;
    free(p);
    my_slot = s.slot;
    twr_tls.tid = (int32_t)syscall(SYS_gettid);
    if (s.name[0]) pthread_setname_np(pthread_self(), s.name);
    if (s.slot != UINT32_MAX) {
        twr_reg_begin();
        fill_self(&twr_registry.threads[s.slot]);
        twr_reg_end();
    }
    __atomic_store_n(&twr_tls.magic, TWR_MAGIC, __ATOMIC_RELEASE);
    void *result = s.fn(s.arg);
    if (s.slot != UINT32_MAX) {
        twr_reg_begin();
        twr_registry.threads[s.slot].state = TWR_THREAD_EXITED;
        twr_registry.threads[s.slot].exit_ns = twr_now_ns(CLOCK_REALTIME);
        twr_reg_end();
    }
    return result;
}

int twr_thread_create(twr_thread *t, const char *name, void *(*fn)(void *), void *arg)
{
    twr_reg_init();
    struct start *s = calloc(1, sizeof *s);
    if (!s) return ENOMEM;
    s->fn = fn;
    s->arg = arg;
    if (name) strncpy(s->name, name, sizeof s->name - 1);
    twr_reg_begin();
    s->slot = take_slot();
    if (s->slot != UINT32_MAX) {
        twr_thread_rec *r = &twr_registry.threads[s->slot];
        memset(r, 0, sizeof *r);
        r->flags = TWR_THREAD_JOINABLE;
        r->start_routine = (uint64_t)fn;
        memcpy(r->name, s->name, sizeof r->name);
        r->state = TWR_THREAD_RUNNING;
    }
    twr_reg_end();
    t->slot = s->slot;
    int rc = pthread_create(&t->handle, NULL, trampoline, s);
    if (rc != 0) {
        if (t->slot != UINT32_MAX) {
            twr_reg_begin();
            twr_registry.threads[t->slot].state = 0;
            twr_reg_end();
        }
        free(s);
    }
    return rc;
}

int twr_thread_join(twr_thread *t, void **result)
{
    int rc = pthread_join(t->handle, result);
    if (rc == 0 && t->slot != UINT32_MAX) {
        twr_reg_begin();
        twr_registry.threads[t->slot].state = TWR_THREAD_JOINED;
        twr_reg_end();
    }
    return rc;
}

int twr_thread_detach(twr_thread *t)
{
    int rc = pthread_detach(t->handle);
    if (rc == 0 && t->slot != UINT32_MAX) {
        twr_reg_begin();
        twr_registry.threads[t->slot].flags = (twr_registry.threads[t->slot].flags & ~TWR_THREAD_JOINABLE) | TWR_THREAD_DETACHED;
        twr_reg_end();
    }
    return rc;
}
