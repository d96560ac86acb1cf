// glibc's thread debugging library (libthread_db) over a live target, served
// by our own proc_service callbacks (thread_db.c): memory through
// process_vm_readv, symbols through the target's libdwfl modules. Nothing is
// written to the target and nothing is stopped.
#ifndef CTHREADWATCH_THREADDB_H
#define CTHREADWATCH_THREADDB_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <elfutils/libdwfl.h>

// Thread states we tell apart (thread_db.h's td_thr_state_e, mapped so Swift
// does not depend on its numbering).
enum {
    TW_TD_STATE_OTHER = 0,
    TW_TD_STATE_ACTIVE = 1,
    // Exited, descriptor and stack still allocated: nobody joined it yet.
    TW_TD_STATE_ZOMBIE = 2,
};

typedef struct tw_td_thread {
    int32_t lid;             // ti_lid: the kernel tid; glibc 2.36 puts the pid here once the tid is cleared at exit
    int32_t state;           // TW_TD_STATE_*
    uint64_t descriptor;     // th_unique: the thread's struct pthread (== pthread_self())
    uint64_t start_routine;  // ti_startfunc: the function given to pthread_create (0 for the initial thread)
    uint64_t stack_base;     // ti_stkbase (glibc 2.36 leaves it 0)
    uint64_t stack_size;     // ti_stksize (glibc 2.36 leaves it 0)
} tw_td_thread;

// Lists the target's threads as libthread_db sees them, every state. Fills at
// most max entries and returns how many threads there are (more than max:
// call again with a bigger buffer), or -1 with a reason in error.
int tw_threaddb_list(pid_t pid, Dwfl *dwfl, tw_td_thread *out, int max,
                     char *error, size_t error_length);

#endif
