import CThreadwatch
#if canImport(Glibc)
import Glibc
#endif

/// Finds a global symbol (e.g. `twr_registry`) in the target's modules through
/// libdwfl's symbol tables: the address it has in the running process.
/// System libraries (/lib, /usr/lib) are skipped: the runtime is linked into
/// the program or its own libraries, and loading libc's full symbol table
/// (from libc6-dbg where installed) costs ~25 ms and ~10 MB per scan.
enum RuntimeSymbol {
    private final class Search {
        let name: String
        var address: UInt64?
        init(_ name: String) { self.name = name }
    }

    static func address(of name: String, in dwfl: OpaquePointer) -> UInt64? {
        let search = Search(name)
        withExtendedLifetime(search) {
            _ = dwfl_getmodules(dwfl, { module, _, _, _, arg in
                let search = Unmanaged<Search>.fromOpaque(arg!).takeUnretainedValue()
                if let name = dwfl_module_info(module, nil, nil, nil, nil, nil, nil, nil),
                   ["/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/"].contains(where: { String(cString: name).hasPrefix($0) }) {
                    return 0  // DWARF_CB_OK: a system library
                }
                guard tw_module_may_define(module, search.name) != 0 else { return 0 }  // DWARF_CB_OK: not here
                let count = dwfl_module_getsymtab(module)
                guard count > 0 else { return 0 }  // DWARF_CB_OK
                for i in 1..<count {
                    var sym = GElf_Sym()
                    var value: GElf_Addr = 0
                    guard let cname = dwfl_module_getsym_info(module, i, &sym, &value, nil, nil, nil),
                          sym.st_shndx != 0, strcmp(cname, search.name) == 0 else { continue }
                    search.address = value
                    return 1  // DWARF_CB_ABORT: found
                }
                return 0  // DWARF_CB_OK
            }, Unmanaged.passUnretained(search).toOpaque(), 0)
        }
        return search.address
    }
}
