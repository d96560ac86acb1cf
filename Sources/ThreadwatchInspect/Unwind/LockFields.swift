import ThreadwatchModel

/// Names a lock inside a global by its element or member ("forks[1]"
/// rather than "forks+0x28"), from DWARF. The path stops at the first
/// member named with two underscores: past it are glibc's own insides
/// (pthread_mutex_t.__data.__lock), not the program's names.
enum LockFields {
    /// At most this many distinct addresses per scan: each lookup walks the
    /// module's compile units, which in a very large program costs.
    static let limit = 16

    static func name(_ threads: [ThreadSnapshot], symbolizer: Symbolizer) -> [ThreadSnapshot] {
        var wanted: [UInt64] = []
        for t in threads {
            // Offset 0 too: the first element of an array is "forks[0]", not "forks".
            guard let b = t.blockedOn, let a = b.address, b.symbol != nil, !wanted.contains(a) else { continue }
            wanted.append(a)
            if wanted.count == limit { break }
        }
        guard !wanted.isEmpty else { return threads }
        var fields: [UInt64: String] = [:]
        for address in wanted {
            if let path = symbolizer.dataField(address), let user = programPart(path) { fields[address] = user }
        }
        return threads.map { t in
            guard let a = t.blockedOn?.address, let field = fields[a] else { return t }
            var t = t
            t.blockedOn?.field = field
            return t
        }
    }

    /// "accounts[1].lock.__data.__lock" -> "accounts[1].lock"; nil when
    /// nothing past the variable's own name is left.
    static func programPart(_ path: String) -> String? {
        var out = ""
        var i = path.startIndex
        while i < path.endIndex {
            let c = path[i]
            if c == "." {
                let rest = path[path.index(after: i)...]
                if rest.hasPrefix("__") { break }
            }
            out.append(c)
            i = path.index(after: i)
        }
        return out.contains(where: { $0 == "." || $0 == "[" }) ? out : nil
    }
}
