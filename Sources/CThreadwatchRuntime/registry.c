/* The registry root and its seqlock (writer side). */
#include "internal.h"
#include <sched.h>
#include <stddef.h>
#include <string.h>

/* Aligned to a cache line, with every record 64 or 128 bytes and every
 * table starting on a line (checked below), so carriers writing their own
 * records never share a line. (An aligned type would not import into Swift.) */
twr_registry_t twr_registry __attribute__((aligned(64)));
_Static_assert(sizeof(twr_fiber_rec) == 128 && sizeof(twr_carrier_rec) == 64, "record sizes");
_Static_assert(offsetof(twr_registry_t, fibers) % 64 == 0 && offsetof(twr_registry_t, carriers) % 64 == 0,
               "tables start on a cache line");
__thread twr_tls_t twr_tls __attribute__((tls_model("initial-exec")));

void twr_reg_begin(void)
{
    /* The seq word doubles as the writers' lock: only the writer that moves
     * it from even to odd may write. Writers are rare (init, create, exit). */
    for (;;) {
        uint32_t s = __atomic_load_n(&twr_registry.seq, __ATOMIC_RELAXED);
        if (!(s & 1) && __atomic_compare_exchange_n(&twr_registry.seq, &s, s + 1, 0,
                                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
        sched_yield();
    }
}

void twr_reg_end(void)
{
    __atomic_fetch_add(&twr_registry.seq, 1, __ATOMIC_RELEASE);
}

void twr_reg_init(void)
{
    if (__atomic_load_n(&twr_registry.magic, __ATOMIC_ACQUIRE) == TWR_MAGIC) return;
    twr_reg_begin();
    if (twr_registry.magic != TWR_MAGIC) {
        twr_registry.version = TWR_VERSION;
        twr_registry.size = sizeof twr_registry;
        twr_registry.tls_size = sizeof(twr_tls_t);
        twr_registry.tls_offset = (int64_t)((char *)&twr_tls - (char *)__builtin_thread_pointer());
        twr_registry.nclasses = 1; /* class 0 = none */
        __atomic_store_n(&twr_registry.magic, TWR_MAGIC, __ATOMIC_RELEASE);
    }
    twr_reg_end();
}

uint32_t twr_class_for(const char *name, uint64_t pc)
{
    /* A class is its init site, "file.c:LINE": keep the file's base name,
     * or a long build path would push the line number out of the record
     * and merge every class of a file into one. */
    const char *slash = strrchr(name, '/');
    if (slash != NULL) name = slash + 1;
    twr_reg_init();
    twr_reg_begin();
    uint32_t n = twr_registry.nclasses, found = 0;
    for (uint32_t i = 1; i < n; i++) {
        if (strncmp(twr_registry.classes[i].name, name, sizeof twr_registry.classes[i].name - 1) == 0) {
            found = i;
            break;
        }
    }
    if (!found && n < TWR_MAX_CLASSES) {
        found = n;
        twr_registry.classes[n].init_pc = pc;
        strncpy(twr_registry.classes[n].name, name, sizeof twr_registry.classes[n].name - 1);
        twr_registry.nclasses = n + 1;
    } else if (!found) {
        twr_registry.dropped++;
    }
    twr_reg_end();
    return found;
}

void twr_lock_register(const void *lock, uint32_t cls, uint32_t kind)
{
    twr_reg_init();
    twr_reg_begin();
    uint32_t slot = TWR_MAX_LOCKS;
    for (uint32_t i = 0; i < twr_registry.nlocks; i++) {
        if (twr_registry.locks[i].address == 0 || twr_registry.locks[i].address == (uint64_t)lock) {
            slot = i;
            break;
        }
    }
    if (slot == TWR_MAX_LOCKS && twr_registry.nlocks < TWR_MAX_LOCKS) slot = twr_registry.nlocks++;
    if (slot < TWR_MAX_LOCKS) {
        twr_registry.locks[slot] = (twr_lock_rec){(uint64_t)lock, cls, kind};
    } else {
        twr_registry.dropped++;
    }
    twr_reg_end();
}

void twr_lock_unregister(const void *lock)
{
    twr_reg_begin();
    for (uint32_t i = 0; i < twr_registry.nlocks; i++) {
        if (twr_registry.locks[i].address == (uint64_t)lock) twr_registry.locks[i].address = 0;
    }
    twr_reg_end();
}
