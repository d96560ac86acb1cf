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
