#if canImport(Glibc)
import Glibc
#endif

/// Names the C library a target runs on, from its mappings: glibc's
/// libc.so.6 carries "GNU C Library ... release version X.Y" in .rodata.
enum LibcIdentifier {
    static func identify(_ map: MemoryMap) -> String {
        let paths = Set(map.mappings.map(\.path))
        if let libc = paths.first(where: { $0.hasSuffix("/libc.so.6") }) {
            if let version = glibcVersion(at: libc) { return "glibc \(version)" }
            return "glibc"
        }
        if paths.contains(where: { $0.contains("ld-musl") || $0.contains("libc.musl") }) { return "musl" }
        if !paths.contains(where: { $0.contains(".so") }) { return "static" }
        return "unknown"
    }

    static func glibcVersion(at path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 0, st.st_size < 64 << 20 else { return nil }
        let size = Int(st.st_size)
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else { return nil }
        defer { munmap(base, size) }
        let bytes = UnsafeRawBufferPointer(start: base, count: size)
        let needle = Array("release version ".utf8)
        guard let start = find(needle, in: bytes) else { return nil }
        var version = ""
        var i = start + needle.count
        while i < size, version.count < 16 {
            let c = bytes[i]
            guard (c >= 0x30 && c <= 0x39) || c == 0x2e else { break }
            version.append(Character(UnicodeScalar(c)))
            i += 1
        }
        while version.hasSuffix(".") { version.removeLast() }
        return version.isEmpty ? nil : version
    }

    private static func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count, let base = haystack.baseAddress else { return nil }
        var offset = 0
        let last = haystack.count - needle.count
        while offset <= last {
            guard let hit = memchr(base + offset, Int32(first), last - offset + 1) else { return nil }
            let index = base.distance(to: UnsafeRawPointer(hit))
            if memcmp(base + index, needle, needle.count) == 0 { return index }
            offset = index + 1
        }
        return nil
    }
}
