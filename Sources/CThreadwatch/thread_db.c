#define _GNU_SOURCE
#include "cthreadwatch_threaddb.h"
#include "cthreadwatch.h"

#include <elf.h>
#include <gelf.h>
#include <proc_service.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <thread_db.h>

// ---------------------------------------------------------------- proc_service
//
// libthread_db calls these back (proc_service.h); it finds them by name in
// the program that links it, so they must stay global and spelled as here.

enum { SYMBOL_CACHE = 64 };

struct symbol_entry {
    char *name;
    psaddr_t address;  // 0: looked up, not found
};

struct ps_prochandle {
    pid_t pid;
    Dwfl *dwfl;
    struct symbol_entry cache[SYMBOL_CACHE];
    int cached;
    Dwfl_Module *last_hit;  // the module that served the previous look-up
};

ps_err_e ps_pdread(struct ps_prochandle *ph, psaddr_t address, void *buffer, size_t length) {
    if (length == 0) return PS_OK;
    ssize_t n = tw_read_memory(ph->pid, (uint64_t)(uintptr_t)address, buffer, length);
    return n == (ssize_t)length ? PS_OK : PS_ERR;
}

// Never write the target: libthread_db only writes to enable event
// reporting or to set registers, neither of which listing needs.
ps_err_e ps_pdwrite(struct ps_prochandle *ph, psaddr_t address, const void *buffer, size_t length) {
    (void)ph; (void)address; (void)buffer; (void)length;
    return PS_ERR;
}

ps_err_e ps_ptread(struct ps_prochandle *ph, psaddr_t address, void *buffer, size_t length) {
    return ps_pdread(ph, address, buffer, length);
}

ps_err_e ps_ptwrite(struct ps_prochandle *ph, psaddr_t address, const void *buffer, size_t length) {
    return ps_pdwrite(ph, address, buffer, length);
}

// Registers would need a stop; listing threads never asks for them
// (only td_ta_map_lwp2thr and td_thr_get*regs do).
ps_err_e ps_lgetregs(struct ps_prochandle *ph, lwpid_t lwp, prgregset_t regs) {
    (void)ph; (void)lwp; (void)regs;
    return PS_ERR;
}

ps_err_e ps_lsetregs(struct ps_prochandle *ph, lwpid_t lwp, const prgregset_t regs) {
    (void)ph; (void)lwp; (void)regs;
    return PS_ERR;
}

ps_err_e ps_lgetfpregs(struct ps_prochandle *ph, lwpid_t lwp, prfpregset_t *regs) {
    (void)ph; (void)lwp; (void)regs;
    return PS_ERR;
}

ps_err_e ps_lsetfpregs(struct ps_prochandle *ph, lwpid_t lwp, const prfpregset_t *regs) {
    (void)ph; (void)lwp; (void)regs;
    return PS_ERR;
}

ps_err_e ps_get_thread_area(struct ps_prochandle *ph, lwpid_t lwp, int index, psaddr_t *address) {
    (void)ph; (void)lwp; (void)index; (void)address;
    return PS_ERR;
}

pid_t ps_getpid(struct ps_prochandle *ph) { return ph->pid; }

// The target is never stopped: these succeed without doing anything.
ps_err_e ps_pstop(struct ps_prochandle *ph) { (void)ph; return PS_OK; }
ps_err_e ps_pcontinue(struct ps_prochandle *ph) { (void)ph; return PS_OK; }
ps_err_e ps_lstop(struct ps_prochandle *ph, lwpid_t lwp) { (void)ph; (void)lwp; return PS_OK; }
ps_err_e ps_lcontinue(struct ps_prochandle *ph, lwpid_t lwp) { (void)ph; (void)lwp; return PS_OK; }

struct symbol_search {
    const char *object;  // basename wanted, or NULL for any module
    const char *name;
    psaddr_t found;
    Dwfl_Module *module;  // where it was found
};

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

static int search_symbols(Dwfl_Module *module, struct symbol_search *search) {
    int count = dwfl_module_getsymtab(module);
    for (int i = 1; i < count; i++) {
        GElf_Sym sym;
        GElf_Addr address = 0;
        const char *symbol = dwfl_module_getsym_info(module, i, &sym, &address, NULL, NULL, NULL);
        // An undefined entry is an import (libc's _rtld_global lives in ld.so).
        if (symbol == NULL || sym.st_shndx == SHN_UNDEF || strcmp(symbol, search->name) != 0) continue;
        int type = GELF_ST_TYPE(sym.st_info);
        if (type == STT_SECTION || type == STT_FILE) continue;
        search->found = (psaddr_t)(uintptr_t)address;
        search->module = module;
        return DWARF_CB_ABORT;
    }
    return DWARF_CB_OK;
}

static int search_module(Dwfl_Module *module, void **userdata, const char *name,
                         Dwarf_Addr start, void *arg) {
    (void)userdata; (void)start;
    struct symbol_search *search = arg;
    if (search->object != NULL && (name == NULL || strcmp(base_name(name), search->object) != 0)) {
        return DWARF_CB_OK;
    }
    return search_symbols(module, search);
}

// libthread_db names an object, but glibc 2.36's still asks for
// "libpthread.so.0" (nptl_db/thread_dbP.h LIBPTHREAD_SO), whose contents
// moved into libc.so.6 in glibc 2.34 (NEWS). So: the named module, then the
// module of the previous hit (libc, in practice), then every module, as gdb
// does (its look-up ignores the object name), which also serves a static
// program that kept its symbol table.
ps_err_e ps_pglobal_lookup(struct ps_prochandle *ph, const char *object_name,
                           const char *sym_name, psaddr_t *sym_addr) {
    for (int i = 0; i < ph->cached; i++) {
        if (strcmp(ph->cache[i].name, sym_name) == 0) {
            *sym_addr = ph->cache[i].address;
            return ph->cache[i].address != 0 ? PS_OK : PS_NOSYM;
        }
    }
    struct symbol_search search = { NULL, sym_name, 0, NULL };
    if (object_name != NULL) {
        search.object = base_name(object_name);
        dwfl_getmodules(ph->dwfl, search_module, &search, 0);
        search.object = NULL;
    }
    if (search.found == 0 && ph->last_hit != NULL) search_symbols(ph->last_hit, &search);
    if (search.found == 0) dwfl_getmodules(ph->dwfl, search_module, &search, 0);
    psaddr_t found = search.found;
    if (found != 0) ph->last_hit = search.module;
    if (ph->cached < SYMBOL_CACHE) {
        char *copy = strdup(sym_name);
        if (copy != NULL) ph->cache[ph->cached++] = (struct symbol_entry){ copy, found };
    }
    *sym_addr = found;
    return found != 0 ? PS_OK : PS_NOSYM;
}

// ---------------------------------------------------------------- listing

// A list that does not end (a cycle in target memory, or one changing under
// us) must not hang the scan.
enum { MAX_THREADS = 1 << 20 };

struct listing {
    tw_td_thread *out;
    int max, count;
    td_err_e info_error;
};

static int32_t state_of(td_thr_state_e state) {
    switch (state) {
    case TD_THR_ACTIVE: return TW_TD_STATE_ACTIVE;
    case TD_THR_ZOMBIE: return TW_TD_STATE_ZOMBIE;
    default: return TW_TD_STATE_OTHER;
    }
}

static int on_thread(const td_thrhandle_t *handle, void *arg) {
    struct listing *listing = arg;
    if (listing->count >= MAX_THREADS) return 1;
    td_thrinfo_t info;
    td_err_e rc = td_thr_get_info(handle, &info);
    if (rc != TD_OK) {
        // A thread being created or freed right now: skip it, keep listing.
        listing->info_error = rc;
        return 0;
    }
    if (listing->count < listing->max) {
        listing->out[listing->count] = (tw_td_thread){
            .lid = info.ti_lid,
            .state = state_of(info.ti_state),
            .descriptor = (uint64_t)handle->th_unique,
            .start_routine = (uint64_t)(uintptr_t)info.ti_startfunc,
            .stack_base = (uint64_t)(uintptr_t)info.ti_stkbase,
            .stack_size = info.ti_stksize > 0 ? (uint64_t)info.ti_stksize : 0,
        };
    }
    listing->count++;
    return 0;
}

static const char *td_reason(td_err_e rc) {
    switch (rc) {
    case TD_NOLIBTHREAD:
        return "the target has no glibc thread library symbols it can read "
               "(statically linked and stripped, another libc such as musl, or not a glibc program)";
    case TD_VERSION:
        return "the target's glibc is not the version of this machine's libthread_db";
    case TD_NOCAPAB: return "libthread_db lacks a capability it needs";
    case TD_DBERR: return "libthread_db could not read the target's memory or symbols";
    case TD_MALLOC: return "out of memory";
    case TD_ERR: return "libthread_db failed (TD_ERR)";
    default: return NULL;
    }
}

static void set_error(char *error, size_t length, const char *what, td_err_e rc) {
    if (error == NULL || length == 0) return;
    const char *reason = td_reason(rc);
    if (reason != NULL) snprintf(error, length, "%s: %s", what, reason);
    else snprintf(error, length, "%s: td_err_e %d", what, (int)rc);
}

int tw_threaddb_list(pid_t pid, Dwfl *dwfl, tw_td_thread *out, int max,
                     char *error, size_t error_length) {
    if (error != NULL && error_length > 0) error[0] = 0;
    td_err_e rc = td_init();
    if (rc != TD_OK) { set_error(error, error_length, "td_init", rc); return -1; }

    struct ps_prochandle *ph = calloc(1, sizeof *ph);
    if (ph == NULL) { set_error(error, error_length, "td_ta_new", TD_MALLOC); return -1; }
    ph->pid = pid;
    ph->dwfl = dwfl;

    int result = -1;
    td_thragent_t *agent = NULL;
    rc = td_ta_new(ph, &agent);
    if (rc != TD_OK) {
        set_error(error, error_length, "td_ta_new", rc);
    } else {
        struct listing listing = { out, max, 0, TD_OK };
        // NULL signal mask (TD_SIGNO_MASK): no filtering by signal mask.
        rc = td_ta_thr_iter(agent, on_thread, &listing, TD_THR_ANY_STATE, TD_THR_LOWEST_PRIORITY,
                            TD_SIGNO_MASK, TD_THR_ANY_USER_FLAGS);
        if (listing.count >= MAX_THREADS) {
            if (error != NULL) snprintf(error, error_length, "td_ta_thr_iter: the thread list did not end after %d entries", MAX_THREADS);
        } else if (rc != TD_OK) {
            set_error(error, error_length, "td_ta_thr_iter", rc);
        } else {
            result = listing.count;
        }
        td_ta_delete(agent);
    }
    for (int i = 0; i < ph->cached; i++) free(ph->cache[i].name);
    free(ph);
    return result;
}
