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

// One entry per name td_symbol_list() says libthread_db may ask for, sorted
// by name and resolved in one pass over glibc's symbol tables (~1 ms here):
// a search per name through every module cost ~0.4 ms each, ~7 ms a scan.
struct symbol_entry {
    const char *name;
    psaddr_t address;  // 0: not defined in any module
};

// libthread_db reads each thread descriptor a field at a time: ~10 small
// reads per thread, each a process_vm_readv. A few cached pages, alive for
// one listing, turn them into about one read per descriptor.
enum { PAGE_BYTES = 4096, CACHED_PAGES = 16 };

struct page_cache {
    uint64_t base[CACHED_PAGES];
    uint8_t valid[CACHED_PAGES];
    uint8_t bytes[CACHED_PAGES][PAGE_BYTES];
};

struct ps_prochandle {
    pid_t pid;
    Dwfl *dwfl;
    struct symbol_entry *symbols;
    size_t symbol_count;
    int passes;  // 0: none yet, 1: glibc's own modules read, 2: every module read
    struct page_cache *cache;
};

ps_err_e ps_pdread(struct ps_prochandle *ph, psaddr_t address, void *buffer, size_t length) {
    if (length == 0) return PS_OK;
    uint64_t start = (uint64_t)(uintptr_t)address;
    uint64_t page = start & ~(uint64_t)(PAGE_BYTES - 1);
    if (ph->cache != NULL && start - page + length <= PAGE_BYTES) {
        unsigned slot = (unsigned)((page / PAGE_BYTES) % CACHED_PAGES);
        struct page_cache *c = ph->cache;
        if (!c->valid[slot] || c->base[slot] != page) {
            c->valid[slot] = tw_read_memory(ph->pid, page, c->bytes[slot], PAGE_BYTES) == PAGE_BYTES;
            c->base[slot] = page;
        }
        if (c->valid[slot]) {
            memcpy(buffer, c->bytes[slot] + (start - page), length);
            return PS_OK;
        }
    }
    ssize_t n = tw_read_memory(ph->pid, start, buffer, length);
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

static int by_name(const void *a, const void *b) {
    return strcmp(((const struct symbol_entry *)a)->name, ((const struct symbol_entry *)b)->name);
}

static struct symbol_entry *find_entry(struct ps_prochandle *ph, const char *name) {
    struct symbol_entry key = { name, 0 };
    return bsearch(&key, ph->symbols, ph->symbol_count, sizeof key, by_name);
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

// glibc's own modules, which define every symbol libthread_db needs.
static int is_glibc_module(const char *path) {
    if (path == NULL) return 0;
    const char *name = base_name(path);
    return strncmp(name, "libc.so", 7) == 0 || strncmp(name, "libc-", 5) == 0 ||
           strncmp(name, "ld-linux", 8) == 0 || strncmp(name, "libpthread", 10) == 0;
}

static void resolve_symbols(struct ps_prochandle *ph, Dwfl_Module *module) {
    int count = dwfl_module_getsymtab(module);
    for (int i = 1; i < count; i++) {
        GElf_Sym sym;
        GElf_Addr address = 0;
        const char *symbol = dwfl_module_getsym_info(module, i, &sym, &address, NULL, NULL, NULL);
        // An undefined entry is an import (libc's _rtld_global lives in ld.so).
        if (symbol == NULL || sym.st_shndx == SHN_UNDEF || address == 0) continue;
        int type = GELF_ST_TYPE(sym.st_info);
        if (type == STT_SECTION || type == STT_FILE) continue;
        struct symbol_entry *entry = find_entry(ph, symbol);
        if (entry != NULL && entry->address == 0) entry->address = (psaddr_t)(uintptr_t)address;
    }
}

static int resolve_glibc(Dwfl_Module *module, void **userdata, const char *name,
                         Dwarf_Addr start, void *arg) {
    (void)userdata; (void)start;
    if (is_glibc_module(name)) resolve_symbols(arg, module);
    return DWARF_CB_OK;
}

static int resolve_others(Dwfl_Module *module, void **userdata, const char *name,
                          Dwarf_Addr start, void *arg) {
    (void)userdata; (void)start;
    if (!is_glibc_module(name)) resolve_symbols(arg, module);
    return DWARF_CB_OK;
}

// libthread_db names an object, but glibc 2.36's still asks for
// "libpthread.so.0" (nptl_db/thread_dbP.h LIBPTHREAD_SO), whose contents
// moved into libc.so.6 in glibc 2.34 (NEWS). So glibc's modules are read
// first, and only a name they lack sends us through every other module, as
// gdb's look-up (which ignores the object name) would: a static program
// that kept its symbol table is served that way.
ps_err_e ps_pglobal_lookup(struct ps_prochandle *ph, const char *object_name,
                           const char *sym_name, psaddr_t *sym_addr) {
    (void)object_name;
    struct symbol_entry *entry = find_entry(ph, sym_name);
    if (entry == NULL) return PS_NOSYM;
    if (entry->address == 0 && ph->passes == 0) {
        ph->passes = 1;
        dwfl_getmodules(ph->dwfl, resolve_glibc, ph, 0);
    }
    if (entry->address == 0 && ph->passes == 1) {
        ph->passes = 2;
        dwfl_getmodules(ph->dwfl, resolve_others, ph, 0);
    }
    if (entry->address == 0) return PS_NOSYM;
    *sym_addr = entry->address;
    return PS_OK;
}

// The names libthread_db may look up, sorted for bsearch; NULL on no memory.
static struct symbol_entry *symbol_table(size_t *count) {
    const char **names = td_symbol_list();
    size_t n = 0;
    while (names != NULL && names[n] != NULL) n++;
    struct symbol_entry *table = calloc(n ? n : 1, sizeof *table);
    if (table == NULL) return NULL;
    for (size_t i = 0; i < n; i++) table[i].name = names[i];
    qsort(table, n, sizeof *table, by_name);
    *count = n;
    return table;
}

// ---------------------------------------------------------------- listing

// A list that does not end (a cycle in target memory, or one changing under
// us) must not hang the scan.
enum { MAX_THREADS = 1 << 20 };

struct listing {
    tw_td_thread *out;
    int max, count;
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
    // A thread being created or freed right now: skip it, keep listing.
    if (rc != TD_OK) return 0;
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
    if (ph != NULL) ph->symbols = symbol_table(&ph->symbol_count);
    if (ph == NULL || ph->symbols == NULL) {
        free(ph);
        set_error(error, error_length, "td_ta_new", TD_MALLOC);
        return -1;
    }
    ph->pid = pid;
    ph->dwfl = dwfl;
    ph->cache = calloc(1, sizeof *ph->cache);  // optional: without it, reads go straight through

    int result = -1;
    td_thragent_t *agent = NULL;
    rc = td_ta_new(ph, &agent);
    if (rc != TD_OK) {
        set_error(error, error_length, "td_ta_new", rc);
    } else {
        struct listing listing = { out, max, 0 };
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
    free(ph->cache);
    free(ph->symbols);
    free(ph);
    return result;
}
