#if canImport(Glibc)
import Glibc
#endif

/// Reads small /proc files with plain open/read: a scan of 4000 threads
/// reads ~20000 of them, so no Foundation on this path.
public enum ProcFile {
    public enum ReadError: Error, Equatable {
        case errno(Int32)
    }

    /// The whole file as bytes, or the errno that stopped the read.
    public static func readBytes(_ path: String) -> Result<[UInt8], ReadError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .failure(.errno(errno)) }
        defer { close(fd) }
        // /proc files report size 0: read in chunks until EOF.
        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 0
        while true {
            if used == bytes.count { bytes += [UInt8](repeating: 0, count: bytes.count) }
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + used, $0.count - used) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(.errno(errno))
            }
            if n == 0 { break }
            used += n
        }
        bytes.removeSubrange(used...)
        return .success(bytes)
    }

    /// The whole file as text, or the errno that stopped the read.
    public static func read(_ path: String) -> Result<String, ReadError> {
        readBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    public static func text(_ path: String) -> String? {
        if case .success(let text) = read(path) { return text }
        return nil
    }

    public static func bytes(_ path: String) -> [UInt8]? {
        if case .success(let bytes) = readBytes(path) { return bytes }
        return nil
    }

    /// Entries of a directory whose names are numbers (pids, tids), sorted.
    public static func numericEntries(_ path: String) -> Result<[Int32], ReadError> {
        entryNames(path).map { names in names.compactMap { Int32($0) }.sorted() }
    }

    /// Every entry's name. The name is read in place up to its NUL: a
    /// dirent is only d_reclen bytes long, so copying the whole 256-byte
    /// d_name field can run past the end of readdir's buffer and fault.
    public static func entryNames(_ path: String) -> Result<[String], ReadError> {
        guard let dir = opendir(path) else { return .failure(.errno(errno)) }
        defer { closedir(dir) }
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self)
            names.append(String(cString: name))
        }
        return .success(names)
    }

    public static func symlink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
