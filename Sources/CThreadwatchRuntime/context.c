/* A context that starts fn(arg) the first time twr_context_switch resumes
 * it: a saved frame (switch_x86_64.S layout) whose return address is the
 * trampoline. */
#include "internal.h"
#include <string.h>

extern void twr_context_trampoline(void);

void *twr_context_make(void *stack, size_t size, void (*fn)(void *), void *arg)
{
    /* After the switch's ret, rsp = top, 16-byte aligned, so the
     * trampoline's call leaves the callee at 8 mod 16 as the psABI wants. */
    uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
    uint64_t *frame = (uint64_t *)(top - 64);
    memset(frame, 0, 64);
    uint32_t mxcsr = 0x1f80;   /* default: all exceptions masked, round to nearest (Intel SDM 10.2.3) */
    uint16_t fpucw = 0x037f;   /* x87 default after FNINIT (Intel SDM 8.1.5) */
    memcpy((char *)frame, &mxcsr, 4);
    memcpy((char *)frame + 4, &fpucw, 2);
    frame[4] = (uint64_t)fn;   /* r12 */
    frame[3] = (uint64_t)arg;  /* r13 */
    frame[7] = (uint64_t)twr_context_trampoline;
    return frame;
}
