/* Lock order, lockdep style (Linux kernel/locking/lockdep.c, much reduced):
 * each time a class B is taken while a class A is held, "A then B" is
 * recorded once; when "B then A" was recorded before, that is an inversion,
 * known before the two orders ever meet and hang. */
#include "internal.h"

void twr_record_order(twr_tls_t *t, uint32_t first, uint32_t second, uint64_t pc, uint64_t held_pc)
{
    twr_reg_begin();
    uint64_t bit = 1ull << second;
    if (!(twr_registry.order_bits[first] & bit)) {
        twr_registry.order_bits[first] |= bit;
        if (twr_registry.norders < TWR_MAX_ORDERS) {
            twr_registry.orders[twr_registry.norders++] =
                (twr_order_rec){first, second, t->tid, 0, pc, held_pc};
        } else {
            twr_registry.dropped++;
        }
        if (twr_registry.order_bits[second] & (1ull << first)) twr_registry.inversions++;
    }
    twr_reg_end();
}

uint32_t twr_lock_inversions(void)
{
    return __atomic_load_n(&twr_registry.inversions, __ATOMIC_RELAXED);
}

/* Taking a lock while holding others: every held class then this one is
 * an order pair, recorded the first time it is seen. */
void twr_order_acquired_nested(twr_tls_t *t, const void *lock, uint32_t cls, uint64_t pc)
{
    uint32_t n = t->held_count;
    if (cls) {
        uint32_t stored = n < TWR_MAX_HELD ? n : TWR_MAX_HELD;
        for (uint32_t i = 0; i < stored; i++) {
            uint32_t held = t->held[i].cls;
            /* One relaxed load per held lock: the pair is usually known. */
            if (held && held != cls &&
                !(__atomic_load_n(&twr_registry.order_bits[held], __ATOMIC_RELAXED) & (1ull << cls)))
                twr_record_order(t, held, cls, pc, t->held[i].pc);
        }
    }
    if (n < TWR_MAX_HELD) {
        t->held[n].lock = (uint64_t)lock;
        t->held[n].pc = pc;
        t->held[n].cls = cls;
    }
    __atomic_store_n(&t->held_count, n + 1, __ATOMIC_RELEASE);
}

void twr_order_released_nested(twr_tls_t *t, const void *lock)
{
    uint32_t n = t->held_count;
    if (n == 0) return;
    uint32_t stored = n < TWR_MAX_HELD ? n : TWR_MAX_HELD;
    /* Usually the top entry: locks are mostly released in reverse order. */
    for (uint32_t i = stored; i-- > 0;) {
        if (t->held[i].lock == (uint64_t)lock) {
            for (uint32_t j = i; j + 1 < stored; j++) t->held[j] = t->held[j + 1];
            break;
        }
    }
    __atomic_store_n(&t->held_count, n - 1, __ATOMIC_RELEASE);
}
