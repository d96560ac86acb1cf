#define _GNU_SOURCE
#include "cthreadwatch.h"

#include <errno.h>
#include <sched.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

// ---------------------------------------------------------------- ptrace

static int result_of(long rc) { return rc == -1 ? -errno : 0; }

int tw_ptrace_seize(pid_t tid) {
    return result_of(ptrace(PTRACE_SEIZE, tid, NULL, NULL));
}

int tw_ptrace_interrupt(pid_t tid) {
    return result_of(ptrace(PTRACE_INTERRUPT, tid, NULL, NULL));
}

int tw_ptrace_detach(pid_t tid, int signal) {
    return result_of(ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)signal));
}

int tw_ptrace_getregs(pid_t tid, struct user_regs_struct *regs) {
    return result_of(ptrace(PTRACE_GETREGS, tid, NULL, regs));
}

int tw_ptrace_seize_options(pid_t tid, unsigned long options) {
    return result_of(ptrace(PTRACE_SEIZE, tid, NULL, (void *)options));
}

int tw_ptrace_setoptions(pid_t tid, unsigned long options) {
    return result_of(ptrace(PTRACE_SETOPTIONS, tid, NULL, (void *)options));
}

int tw_ptrace_cont(pid_t tid, int signal) {
    return result_of(ptrace(PTRACE_CONT, tid, NULL, (void *)(long)signal));
}

int tw_ptrace_listen(pid_t tid) {
    return result_of(ptrace(PTRACE_LISTEN, tid, NULL, NULL));
}

int tw_ptrace_geteventmsg(pid_t tid, unsigned long *message) {
    return result_of(ptrace(PTRACE_GETEVENTMSG, tid, NULL, message));
}

pid_t tw_wait_any(int *status, int nohang) {
    pid_t rc = waitpid(-1, status, __WALL | (nohang ? WNOHANG : 0));
    return rc == -1 ? -errno : rc;
}

pid_t tw_wait_tid(pid_t tid, int *status, int nohang) {
    pid_t rc = waitpid(tid, status, __WALL | (nohang ? WNOHANG : 0));
    return rc == -1 ? -errno : rc;
}

int tw_wifstopped(int status) { return WIFSTOPPED(status); }
int tw_wifexited(int status) { return WIFEXITED(status); }
int tw_wifsignaled(int status) { return WIFSIGNALED(status); }
int tw_wstopsig(int status) { return WSTOPSIG(status); }
int tw_wptrace_event(int status) { return (status >> 16) & 0xff; }

ssize_t tw_read_memory(pid_t pid, uint64_t address, void *buffer, size_t length) {
    struct iovec local = { .iov_base = buffer, .iov_len = length };
    struct iovec remote = { .iov_base = (void *)(uintptr_t)address, .iov_len = length };
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    return n < 0 ? -errno : n;
}

// ---------------------------------------------------------------- signals

static volatile sig_atomic_t stop_signal = 0;

static void on_stop_signal(int signo) {
    if (stop_signal != 0) {
        // Second signal: give up at once; the kernel detaches our tracees.
        signal(signo, SIG_DFL);
        raise(signo);
        return;
    }
    stop_signal = signo;
}

void tw_install_stop_signals(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; // no SA_RESTART: a blocked waitpid returns EINTR
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

int tw_stop_signal(void) { return stop_signal; }

pid_t tw_gettid(void) { return (pid_t)syscall(SYS_gettid); }

// ---------------------------------------------------------------- unwinding

struct tw_unwinder {
    Dwfl *dwfl;
    pid_t pid;
    const tw_thread_context *current; // the thread being unwound
};

// Separate debug info from this machine's files only. libdw 0.188's
// dwfl_standard_find_debuginfo falls back to debuginfod, and merely trying
// dlopens libdebuginfod with libcurl and its TLS stack (~15 ms, ~10 MB per
// run): never wait on the network, never pay for it (DESIGN.md).
static int open_debug_file(const char *path, char **found) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) *found = strdup(path);
    return fd;
}

static int local_find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                                 const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                                 char **debuginfo_file_name) {
    (void)userdata; (void)modname; (void)base; (void)debuglink_crc;
    char path[4096];
    const unsigned char *id = NULL;
    GElf_Addr id_vaddr;
    int id_len = dwfl_module_build_id(mod, &id, &id_vaddr);
    if (id_len > 1) {  // /usr/lib/debug/.build-id/xx/yyyy.debug (gdb's layout)
        int n = snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%02x/", id[0]);
        for (int i = 1; i < id_len && n < (int)sizeof path - 8; i++) n += snprintf(path + n, sizeof path - n, "%02x", id[i]);
        snprintf(path + n, sizeof path - n, ".debug");
        int fd = open_debug_file(path, debuginfo_file_name);
        if (fd >= 0) return fd;
    }
    if (debuglink_file != NULL && file_name != NULL) {  // .gnu_debuglink next to the file, or under /usr/lib/debug
        const char *slash = strrchr(file_name, '/');
        int dir = slash ? (int)(slash - file_name) : 0;
        const char *formats[] = {"%.*s/%s", "%.*s/.debug/%s", "/usr/lib/debug%.*s/%s"};
        for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
            snprintf(path, sizeof path, formats[i], dir, file_name, debuglink_file);
            if (strcmp(path, file_name) == 0) continue;
            int fd = open_debug_file(path, debuginfo_file_name);
            if (fd >= 0) return fd;
        }
    }
    return -1;  // libdwfl then uses what the file itself has
}

// A file replaced or removed after it was mapped (a package upgrade under a
// running service) is "PATH (deleted)" in /proc/PID/maps, and PATH now names
// another file or none; libdwfl then reads only what is mapped (no symbol
// table). /proc/PID/map_files/START-END opens the mapped inode itself
// (proc(5)). The pid is the one whose modules are being loaded
// (tw_unwinder_new loads the deleted ones eagerly, on this thread).
static __thread pid_t loading_pid;

static int open_mapped_file(pid_t pid, const char *modname) {
    char maps[64], line[4608], path[96];
    snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(maps, "re");
    if (f == NULL) return -1;
    int fd = -1;
    while (fd < 0 && fgets(line, sizeof line, f) != NULL) {
        unsigned long start, end;
        int name_at = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &name_at) < 2 || name_at == 0) continue;
        char *name = line + name_at;
        name[strcspn(name, "\n")] = 0;
        if (strcmp(name, modname) != 0) continue;
        snprintf(path, sizeof path, "/proc/%d/map_files/%lx-%lx", (int)pid, start, end);
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    fclose(f);
    return fd;
}

static int proc_find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                         char **file_name, Elf **elfp) {
    static const char deleted[] = " (deleted)";
    size_t n = modname != NULL ? strlen(modname) : 0, d = sizeof deleted - 1;
    if (loading_pid > 0 && n > d && modname[0] == '/' && strcmp(modname + n - d, deleted) == 0) {
        int fd = open_mapped_file(loading_pid, modname);
        if (fd >= 0) {
            *file_name = strndup(modname, n - d);
            *elfp = NULL;
            return fd;
        }
    }
    return dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
}

static int load_deleted_module(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start, void *arg) {
    (void)userdata; (void)start; (void)arg;
    static const char deleted[] = " (deleted)";
    size_t n = name != NULL ? strlen(name) : 0, d = sizeof deleted - 1;
    if (n > d && strcmp(name + n - d, deleted) == 0) {
        Dwarf_Addr bias;
        (void)dwfl_module_getelf(mod, &bias);
    }
    return DWARF_CB_OK;
}

static char *debuginfo_path = NULL;
static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = proc_find_elf,
    .find_debuginfo = local_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_arg) {
    (void)dwfl; (void)arg; (void)thread_arg;
    return 0; // threads are asked for by tid through get_thread
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_arg) {
    (void)dwfl; (void)tid;
    struct tw_unwinder *u = arg;
    *thread_arg = (void *)u->current;
    return u->current != NULL;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr address, Dwarf_Word *result, void *arg) {
    (void)dwfl;
    struct tw_unwinder *u = arg;
    const tw_thread_context *c = u->current;
    if (c == NULL) return false;
    // Addresses come from target memory: compare by offset so that one
    // near 2^64 cannot wrap around into the copy.
    if (c->stack != NULL && c->stack_length >= sizeof(Dwarf_Word) && address >= c->stack_address &&
        address - c->stack_address <= c->stack_length - sizeof(Dwarf_Word)) {
        memcpy(result, c->stack + (address - c->stack_address), sizeof(Dwarf_Word));
        return true;
    }
    if (!c->read_live) return false;
    return tw_read_memory(u->pid, address, result, sizeof(Dwarf_Word)) == sizeof(Dwarf_Word);
}

static bool set_initial_registers(Dwfl_Thread *thread, void *thread_arg) {
    const tw_thread_context *c = thread_arg;
    if ((c->known & (1u << TW_DWARF_PC)) == 0) return false;
    if ((c->known & ((1u << TW_DWARF_PC) - 1)) == ((1u << TW_DWARF_PC) - 1)) {
        if (!dwfl_thread_state_registers(thread, 0, TW_DWARF_PC, c->regs)) return false;
    } else {
        for (int i = 0; i < TW_DWARF_PC; i++) {
            if ((c->known & (1u << i)) &&
                !dwfl_thread_state_registers(thread, i, 1, &c->regs[i])) return false;
        }
    }
    dwfl_thread_state_register_pc(thread, c->regs[TW_DWARF_PC]);
    return true;
}

static const Dwfl_Thread_Callbacks copy_callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

static void copy_error(char *error, size_t length, const char *what) {
    if (error != NULL && length > 0) snprintf(error, length, "%s: %s", what, dwfl_errmsg(-1));
}

tw_unwinder *tw_unwinder_new(pid_t pid, char *error, size_t error_length) {
    struct tw_unwinder *u = calloc(1, sizeof *u);
    if (u == NULL) return NULL;
    u->pid = pid;
    u->dwfl = dwfl_begin(&proc_callbacks);
    if (u->dwfl == NULL) { copy_error(error, error_length, "dwfl_begin"); free(u); return NULL; }
    dwfl_report_begin(u->dwfl);
    int rc = dwfl_linux_proc_report(u->dwfl, pid);
    if (dwfl_report_end(u->dwfl, NULL, NULL) != 0 || rc != 0) {
        if (rc > 0 && error != NULL) snprintf(error, error_length, "reading /proc/%d/maps: %s", pid, strerror(rc));
        else copy_error(error, error_length, "dwfl_linux_proc_report");
        dwfl_end(u->dwfl); free(u); return NULL;
    }
    loading_pid = pid;
    dwfl_getmodules(u->dwfl, load_deleted_module, NULL, 0);
    loading_pid = 0;
    if (!dwfl_attach_state(u->dwfl, NULL, pid, &copy_callbacks, u)) {
        copy_error(error, error_length, "dwfl_attach_state");
        dwfl_end(u->dwfl); free(u); return NULL;
    }
    return u;
}

void tw_unwinder_free(tw_unwinder *u) {
    if (u == NULL) return;
    dwfl_end(u->dwfl);
    free(u);
}

Dwfl *tw_unwinder_dwfl(tw_unwinder *u) { return u->dwfl; }

struct frame_sink {
    uint64_t *pcs;
    uint8_t *activation;
    int count, max;
};

static int on_frame(Dwfl_Frame *state, void *arg) {
    struct frame_sink *sink = arg;
    Dwarf_Addr pc;
    bool is_activation;
    if (!dwfl_frame_pc(state, &pc, &is_activation)) return -1;
    sink->pcs[sink->count] = pc;
    sink->activation[sink->count] = is_activation;
    sink->count++;
    return sink->count < sink->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

int tw_unwind(tw_unwinder *u, pid_t tid, const tw_thread_context *context,
              uint64_t *pcs, uint8_t *activation, int max_frames,
              char *error, size_t error_length) {
    struct frame_sink sink = { pcs, activation, 0, max_frames };
    if (error != NULL && error_length > 0) error[0] = 0;
    u->current = context;
    int rc = dwfl_getthread_frames(u->dwfl, tid, on_frame, &sink);
    u->current = NULL;
    if (rc == -1 && sink.count < max_frames) copy_error(error, error_length, "unwind");
    return sink.count;
}

// ---------------------------------------------------------------- DWARF

// The compile unit holding pc. libdw 0.188 finds it through .debug_aranges,
// which clang (and so Swift) does not emit by default; then walk the CUs.
static Dwarf_Die *cu_for_pc(Dwfl_Module *module, uint64_t pc, Dwarf_Addr *bias) {
    Dwarf_Die *cudie = dwfl_module_addrdie(module, pc, bias);
    if (cudie != NULL) return cudie;
    Dwarf_Die *cu = NULL;
    while ((cu = dwfl_module_nextcu(module, cu, bias)) != NULL) {
        if (dwarf_haspc(cu, pc - *bias) == 1) return cu;
    }
    return NULL;
}

const char *tw_source_line(Dwfl_Module *module, uint64_t pc, int *line) {
    *line = 0;
    Dwfl_Line *found = dwfl_module_getsrc(module, pc);
    if (found != NULL) return dwfl_lineinfo(found, NULL, line, NULL, NULL, NULL);
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = cu_for_pc(module, pc, &bias);
    if (cu == NULL) return NULL;
    Dwarf_Line *dline = dwarf_getsrc_die(cu, pc - bias);
    if (dline == NULL) return NULL;
    if (dwarf_lineno(dline, line) != 0) *line = 0;
    return dwarf_linesrc(dline, NULL, NULL);
}

int tw_inline_chain(Dwfl_Module *module, uint64_t pc,
                    const char **names, const char **call_files, int *call_lines, int max) {
    Dwarf_Addr bias = 0;
    Dwarf_Die *cudie = cu_for_pc(module, pc, &bias);
    if (cudie == NULL) return 0;
    Dwarf_Die *scopes = NULL;
    int nscopes = dwarf_getscopes(cudie, pc - bias, &scopes);
    if (nscopes <= 0) return 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    if (dwarf_getsrcfiles(cudie, &files, &nfiles) != 0) files = NULL;
    int count = 0;
    for (int i = 0; i < nscopes && count < max; i++) {
        Dwarf_Die *scope = &scopes[i];
        int tag = dwarf_tag(scope);
        if (tag == DW_TAG_subprogram) break;
        if (tag != DW_TAG_inlined_subroutine) continue;
        Dwarf_Attribute attr;
        names[count] = dwarf_formstring(dwarf_attr_integrate(scope, DW_AT_name, &attr));
        Dwarf_Word file_index = 0, line = 0;
        call_files[count] = NULL;
        call_lines[count] = 0;
        if (files != NULL && dwarf_formudata(dwarf_attr(scope, DW_AT_call_file, &attr), &file_index) == 0)
            call_files[count] = dwarf_filesrc(files, file_index, NULL, NULL);
        if (dwarf_formudata(dwarf_attr(scope, DW_AT_call_line, &attr), &line) == 0)
            call_lines[count] = (int)line;
        count++;
    }
    free(scopes);
    return count;
}

// A module's .bss lies past its file-backed mappings, in anonymous memory
// that dwfl_linux_proc_report does not count as the module's; find the module
// whose PT_LOAD segments (memsz, not filesz) cover the address.
struct data_search { Dwarf_Addr address; Dwfl_Module *found; };

static int covers_data(Dwfl_Module *module, void **userdata, const char *name,
                       Dwarf_Addr start, void *arg) {
    (void)userdata; (void)name; (void)start;
    struct data_search *search = arg;
    Dwarf_Addr bias = 0;
    Elf *elf = dwfl_module_getelf(module, &bias);
    if (elf == NULL) return DWARF_CB_OK;
    size_t count = 0;
    if (elf_getphdrnum(elf, &count) != 0) return DWARF_CB_OK;
    for (size_t i = 0; i < count; i++) {
        GElf_Phdr header;
        if (gelf_getphdr(elf, (int)i, &header) == NULL || header.p_type != PT_LOAD) continue;
        Dwarf_Addr low = header.p_vaddr + bias, high = low + header.p_memsz;
        if (search->address >= low && search->address < high) {
            search->found = module;
            return DWARF_CB_ABORT;
        }
    }
    return DWARF_CB_OK;
}

int tw_module_may_define(Dwfl_Module *module, const char *name) {
    Dwarf_Addr bias;
    Elf *elf = dwfl_module_getelf(module, &bias);
    if (elf == NULL) return 1;
    size_t length = strlen(name);
    for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn != NULL; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr header;
        if (gelf_getshdr(scn, &header) == NULL || header.sh_type != SHT_SYMTAB) continue;
        Elf_Data *strings = elf_getdata(elf_getscn(elf, header.sh_link), NULL);
        if (strings == NULL || strings->d_buf == NULL) return 1;
        const char *p = strings->d_buf, *end = p + strings->d_size;
        // Whole names only: a NUL before it (or the table's start) and after it.
        while (p < end && (p = memmem(p, (size_t)(end - p), name, length)) != NULL) {
            if ((p == (const char *)strings->d_buf || p[-1] == 0) && p + length < end && p[length] == 0) return 1;
            p += 1;
        }
        return 0;
    }
    return 1;  // no .symtab here (stripped): the full search looks in the debug file
}

Dwfl_Module *tw_module_for_data(Dwfl *dwfl, uint64_t address) {
    Dwfl_Module *module = dwfl_addrmodule(dwfl, address);
    if (module != NULL) return module;
    struct data_search search = { address, NULL };
    dwfl_getmodules(dwfl, covers_data, &search, 0);
    return search.found;
}

// ---------------------------------------------------------------- C++ names

// From libstdc++ (the C++ ABI), declared here to keep the shim in C.
extern char *__cxa_demangle(const char *mangled, char *buffer, size_t *length, int *status);

char *tw_demangle(const char *name) {
    if (name == NULL || name[0] != '_' || name[1] != 'Z') return NULL;
    int status = 0;
    char *result = __cxa_demangle(name, NULL, NULL, &status);
    if (status != 0) { free(result); return NULL; }
    return result;
}

// ---------------------------------------------------------------- sched clock

// se.exec_start in /proc/.../sched is stamped from the run queue's task
// clock of the CPU the thread ran on (kernel/sched/fair.c update_curr):
// per CPU, and apart from other CPUs' by their steal and IRQ time, which
// on a VM is hundreds of ms. "Now" on that clock: run this thread on that
// CPU (a sleep switches it in there, stamping its own exec_start) and read it.
double tw_sched_clock_ms_on_cpu(int cpu) {
    cpu_set_t saved, only;
    if (cpu < 0 || cpu >= CPU_SETSIZE) return -1;
    if (sched_getaffinity(0, sizeof saved, &saved) != 0) return -1;
    CPU_ZERO(&only);
    CPU_SET(cpu, &only);
    if (sched_setaffinity(0, sizeof only, &only) != 0) return -1;
    struct timespec pause = { 0, 1000 };
    nanosleep(&pause, NULL);
    double now = -1;
    FILE *f = fopen("/proc/thread-self/sched", "r");
    if (f != NULL) {
        char line[256];
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "se.exec_start", 13) == 0) {
                char *colon = strchr(line, ':');
                if (colon != NULL) now = strtod(colon + 1, NULL);
                break;
            }
        }
        fclose(f);
    }
    sched_setaffinity(0, sizeof saved, &saved);
    return now;
}

// ---------------------------------------------------------------- data fields

// "hits[1]" for byte `offset` inside a value of DWARF type `type`: walks
// structs/unions (DW_AT_data_member_location) and arrays (element size).
static void describe_offset(Dwarf_Die *type, uint64_t offset, char *out, size_t length, int depth) {
    Dwarf_Die peeled;
    if (depth > 8 || dwarf_peel_type(type, &peeled) != 0) return;
    int tag = dwarf_tag(&peeled);
    if (tag == DW_TAG_structure_type || tag == DW_TAG_union_type || tag == DW_TAG_class_type) {
        Dwarf_Die member;
        if (dwarf_child(&peeled, &member) != 0) return;
        do {
            if (dwarf_tag(&member) != DW_TAG_member) continue;
            Dwarf_Attribute attr;
            Dwarf_Word where = 0;
            if (tag != DW_TAG_union_type &&
                dwarf_formudata(dwarf_attr(&member, DW_AT_data_member_location, &attr), &where) != 0) continue;
            Dwarf_Die member_type;
            Dwarf_Word size = 0;
            if (dwarf_formref_die(dwarf_attr_integrate(&member, DW_AT_type, &attr), &member_type) == NULL ||
                dwarf_aggregate_size(&member_type, &size) != 0) continue;
            if (offset < where || offset >= where + size) continue;
            const char *name = dwarf_diename(&member);
            size_t used = strlen(out);
            snprintf(out + used, length - used, ".%s", name ? name : "?");
            describe_offset(&member_type, offset - where, out, length, depth + 1);
            return;
        } while (dwarf_siblingof(&member, &member) == 0);
    } else if (tag == DW_TAG_array_type) {
        Dwarf_Attribute attr;
        Dwarf_Die element;
        Dwarf_Word size = 0;
        if (dwarf_formref_die(dwarf_attr_integrate(&peeled, DW_AT_type, &attr), &element) == NULL ||
            dwarf_aggregate_size(&element, &size) != 0 || size == 0) return;
        size_t used = strlen(out);
        snprintf(out + used, length - used, "[%llu]", (unsigned long long)(offset / size));
        describe_offset(&element, offset % size, out, length, depth + 1);
    }
}

int tw_data_field(Dwfl *dwfl, uint64_t address, char *out, size_t length) {
    if (length == 0) return -1;
    out[0] = 0;
    Dwfl_Module *module = tw_module_for_data(dwfl, address);
    if (module == NULL) return -1;
    GElf_Off offset = 0;
    GElf_Sym sym;
    const char *name = dwfl_module_addrinfo(module, address, &offset, &sym, NULL, NULL, NULL);
    if (name == NULL || (sym.st_size != 0 && offset >= sym.st_size)) return -1;
    Dwarf_Addr bias = 0;
    Dwarf *dwarf = dwfl_module_getdwarf(module, &bias);
    if (dwarf == NULL) return -1;
    // The variable's definition: a CU-level DW_TAG_variable with this name.
    Dwarf_Off cu = 0, next;
    size_t header;
    while (dwarf_nextcu(dwarf, cu, &next, &header, NULL, NULL, NULL) == 0) {
        Dwarf_Die cudie, child;
        if (dwarf_offdie(dwarf, cu + header, &cudie) != NULL && dwarf_child(&cudie, &child) == 0) {
            do {
                if (dwarf_tag(&child) != DW_TAG_variable) continue;
                const char *var = dwarf_diename(&child);
                Dwarf_Attribute attr;
                Dwarf_Die type;
                if (var == NULL || strcmp(var, name) != 0 || !dwarf_hasattr(&child, DW_AT_location)) continue;
                if (dwarf_formref_die(dwarf_attr_integrate(&child, DW_AT_type, &attr), &type) == NULL) continue;
                snprintf(out, length, "%s", name);
                describe_offset(&type, offset, out, length, 0);
                return 0;
            } while (dwarf_siblingof(&child, &child) == 0);
        }
        cu = next;
    }
    return -1;
}
