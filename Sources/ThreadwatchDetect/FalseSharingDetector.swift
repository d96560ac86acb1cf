import ThreadwatchModel

/// How threads share a line.
public struct LineSharing: Sendable, Equatable {
    /// A thread writes bytes that another thread does not touch, while that
    /// thread touches other bytes of the line.
    public var isFalseSharing: Bool
    /// Several threads touch bytes another one writes (contention on one variable).
    public var isTrueSharing: Bool
    /// Bytes written by one thread and touched by another.
    public var sharedBytes: UInt64

    public static func of(_ threads: [ThreadLineStats]) -> LineSharing {
        var result = LineSharing(isFalseSharing: false, isTrueSharing: false, sharedBytes: 0)
        for a in threads where a.writtenBytes != 0 {
            for b in threads where b.tid != a.tid && b.touchedBytes != 0 {
                let overlap = a.writtenBytes & b.touchedBytes
                if overlap == 0 { result.isFalseSharing = true } else {
                    result.isTrueSharing = true
                    result.sharedBytes |= overlap
                }
            }
        }
        return result
    }
}

/// False sharing: sampled accesses -> candidate lines; watchpoint counts ->
/// confirmed findings. Pure: Inspect samples, watches and names.
public enum FalseSharingDetector {
    public static let method = "sampled+watchpoint"
    public static let advice = "Give each thread's data its own 64-byte cache line (pad or alignas(64)), or keep per-thread shards and combine them when read."

    /// Lines where one thread writes and another touches different bytes,
    /// most sampled first.
    public static func candidates(_ lines: [UInt64: CacheLineStats], limit: Int = 4) -> [CacheLineStats] {
        Array(lines.values.filter { LineSharing.of(Array($0.threads.values)).isFalseSharing }
            .sorted { $0.samples != $1.samples ? $0.samples > $1.samples : $0.line < $1.line }
            .prefix(limit))
    }

    /// Lines where threads write the same bytes, and no false sharing.
    public static func trueSharing(_ lines: [UInt64: CacheLineStats]) -> [CacheLineStats] {
        lines.values.filter {
            let s = LineSharing.of(Array($0.threads.values))
            return s.isTrueSharing && !s.isFalseSharing
        }.sorted { $0.samples > $1.samples }
    }

    /// Watchpoints for a line: each touched 8-byte chunk watched for writes
    /// when a sample wrote it, and for reads+writes when a sample read it.
    public static func watchSlots(_ line: CacheLineStats) -> [WatchSlot] {
        var written: UInt64 = 0, read: UInt64 = 0
        for t in line.threads.values { written |= t.writtenBytes; read |= t.readBytes }
        var slots: [WatchSlot] = []
        for chunk in stride(from: 0, to: 64, by: 8) {
            let mask: UInt64 = 0xff << UInt64(chunk)
            if written & mask != 0 { slots.append(WatchSlot(offset: chunk, kind: .write)) }
            if read & mask != 0 { slots.append(WatchSlot(offset: chunk, kind: .readWrite)) }
        }
        return slots
    }

    /// The sampled stats restricted to what the watchpoints confirmed, with exact counts.
    public static func confirmedThreads(_ watched: WatchedLine) -> [ThreadLineStats] {
        var result: [ThreadLineStats] = []
        for (tid, sampled) in watched.sampled.threads {
            var t = ThreadLineStats(tid: tid)
            t.writePCs = sampled.writePCs
            t.readPCs = sampled.readPCs
            for chunk in stride(from: 0, to: 64, by: 8) {
                let mask: UInt64 = 0xff << UInt64(chunk)
                guard sampled.touchedBytes & mask != 0, let count = watched.counts[tid]?[chunk] else { continue }
                let writes = count.writes ?? 0
                let reads = count.reads
                if writes > 0 {
                    t.writes += writes
                    t.writtenBytes |= (sampled.writtenBytes != 0 ? sampled.writtenBytes : sampled.touchedBytes) & mask
                }
                if reads > 0 || (count.writes == nil && (count.accesses ?? 0) > 0) {
                    t.reads += max(reads, 0)
                    t.readBytes |= (sampled.readBytes != 0 ? sampled.readBytes : sampled.touchedBytes) & mask
                }
                for (offset, size) in sampled.accesses where offset >= chunk && offset < chunk + 8 && t.touchedBytes & (1 << UInt64(offset)) != 0 {
                    t.accesses[offset] = size
                }
            }
            if t.touchedBytes != 0 { result.append(t) }
        }
        return result.sorted { $0.tid < $1.tid }
    }

    /// One warning per confirmed line; lines the watchpoints did not confirm give nothing.
    public static func detect(_ watched: [WatchedLine], candidatesChecked: Int, samples: Int) -> [Finding] {
        var findings: [Finding] = []
        for line in watched {
            let threads = confirmedThreads(line)
            let sharing = LineSharing.of(threads)
            guard sharing.isFalseSharing else { continue }
            let touchers = threads.map { t in
                FalseSharingDetail.Toucher(tid: t.tid, offsets: t.accesses.keys.sorted(), writes: t.writes, reads: t.reads,
                                           pc: t.mainPC.flatMap { line.frames[$0] ?? Frame(pc: $0) })
            }
            let hex = "0x" + String(line.sampled.line, radix: 16)
            let name = line.symbol.map { " (\($0))" } ?? ""
            let writers = threads.filter { $0.writes > 0 }.map(\.tid)
            let readers = threads.filter { $0.writes == 0 }.map(\.tid)
            var summary = "cache line \(hex)\(name) is written by thread\(writers.count == 1 ? "" : "s") \(writers.map(String.init).joined(separator: ", "))"
            summary += readers.isEmpty ? " at different offsets" : " and read by \(readers.map(String.init).joined(separator: ", ")) at other offsets"
            summary += ": false sharing"
            var evidence: [String: EvidenceValue] = [
                "candidates_checked": .int(candidatesChecked),
                "samples": .int(samples),
                "line_samples": .int(line.sampled.samples),
                "watch_window_ms": .int(line.windowMillis),
            ]
            if !line.fields.isEmpty {  // the variables' fields at each touched offset, from DWARF
                evidence["fields"] = .object(Dictionary(uniqueKeysWithValues: line.fields.map { ("+\($0.key)", .string($0.value)) }))
            }
            if sharing.isTrueSharing {
                evidence["true_sharing_offsets"] = .list(bits(sharing.sharedBytes).map { .int($0) })
            }
            var finding = Finding(id: StableID.make("false_sharing", [hex, line.symbol ?? ""]), kind: .falseSharing, severity: .warning, summary: summary,
                                  threads: threads.map(\.tid), advice: advice, evidence: evidence)
            finding.falseSharing = FalseSharingDetail(cacheLine: line.sampled.line, symbol: line.symbol,
                                                      writers: touchers, method: method)
            findings.append(finding)
        }
        return findings
    }

    static func bits(_ mask: UInt64) -> [Int] { (0..<64).filter { mask & (1 << UInt64($0)) != 0 } }
}
