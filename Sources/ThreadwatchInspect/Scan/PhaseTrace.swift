#if canImport(Glibc)
import Glibc
#endif

/// With THREADWATCH_TRACE=1, prints where a scan spends its time to stderr
/// ("trace: unwind 81.2 ms"): for tuning on a real target, not for parsing.
struct PhaseTrace {
    private let enabled = getenv("THREADWATCH_TRACE").map { String(cString: $0) == "1" } ?? false
    private var last = MonotonicClock.micros()

    mutating func mark(_ phase: String) {
        guard enabled else { return }
        let now = MonotonicClock.micros()
        let line = Array("trace: \(phase) \(Double((now - last) / 100) / 10) ms\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        last = now
    }
}
