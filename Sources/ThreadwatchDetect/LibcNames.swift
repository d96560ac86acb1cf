import ThreadwatchModel

/// glibc's frames as the detectors read them: which frames are glibc's,
/// and the name a program calls for one of glibc's internal aliases.
enum LibcNames {
    /// A frame in glibc itself (libc, the old libpthread, the dynamic loader).
    static func isLibc(_ f: Frame) -> Bool {
        guard let m = f.module else { return false }
        let base = m.split(separator: "/").last.map(String.init) ?? m
        return base.hasPrefix("libc.so") || base.hasPrefix("libc-") || base.hasPrefix("libpthread.so") || base.hasPrefix("ld-linux")
    }

    /// "__libc_malloc" -> "malloc", "__GI___pthread_mutex_lock" -> "pthread_mutex_lock":
    /// the name a program calls (glibc's internal aliases add these prefixes).
    static func publicName(_ name: String) -> String {
        var n = Substring(name)
        for prefix in ["__GI_", "__libc_", "__"] where n.hasPrefix(prefix) {
            let rest = n.dropFirst(prefix.count)
            if rest.first?.isLetter == true || prefix == "__GI_" { n = rest }
        }
        if let at = n.firstIndex(of: "@") { n = n[..<at] }
        return String(n)
    }

    /// The first named frame outside glibc: where the program waits.
    static func callerName(_ frames: [Frame]) -> String? {
        frames.first { !isLibc($0) && $0.module != nil && $0.function != nil }?.function
    }
}
