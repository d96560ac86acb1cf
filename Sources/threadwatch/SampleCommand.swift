import ArgumentParser
import CThreadwatch
import ThreadwatchDetect
import ThreadwatchInspect
import ThreadwatchModel
import ThreadwatchReport
#if canImport(Glibc)
import Glibc
#endif

/// `--sample SECONDS`: sample memory accesses without stopping the target,
/// confirm false sharing with watchpoints, then show the threads from /proc.
extension ThreadwatchCommand {
    func runSample(seconds: Double) throws {
        var options = SampleOptions()
        options.seconds = seconds
        options.sourceLines = sourceLines
        let tty = isatty(2) != 0
        if tty {
            let pid = self.pid
            options.progress = { elapsed, samples in
                writeStderr("\r\u{1b}[Ksampling pid \(pid): \(Int(elapsed))/\(Int(seconds.rounded(.up))) s, \(samples) samples (Ctrl-C ends it)")
            }
        }
        let sampled: SampleResult
        do {
            sampled = try FalseSharingSampler.run(pid: pid, options: options)
        } catch {
            if tty { writeStderr("\r\u{1b}[K") }
            printError("threadwatch: \(error.message)")
            throw ExitCode(2)
        }
        if tty { writeStderr("\r\u{1b}[K") }
        var warnings = sampled.warnings

        // Candidates, confirmed with watchpoints (even after Ctrl-C: the findings so far).
        let candidates = FalseSharingDetector.candidates(sampled.lines, limit: 4)
        let contended = FalseSharingDetector.trueSharing(sampled.lines).prefix(3)
        for (line, name) in zip(contended, FalseSharingSampler.describe(pid: pid, lines: Array(contended))) {
            let tids = line.threads.keys.sorted().map(String.init).joined(separator: ", ")
            warnings.append("true sharing (contention on one variable, not false sharing): cache line \(name) written at the same bytes by threads \(tids)")
        }
        let confirmed = FalseSharingSampler.confirm(pid: pid, candidates: candidates,
                                                    windowMillis: sampled.endedBySignal != 0 ? 50 : 100,
                                                    sourceLines: sourceLines, slots: FalseSharingDetector.watchSlots)
        warnings += confirmed.warnings
        if let refused = confirmed.refused {
            let list = FalseSharingSampler.describe(pid: pid, lines: candidates).joined(separator: ", ")
            warnings.append("\(refused): \(candidates.count) false-sharing candidate line(s) could not be confirmed and are not reported: \(list)")
        }
        let findings = FalseSharingDetector.detect(confirmed.watched, candidatesChecked: candidates.count, samples: sampled.samples)
        warnings.append("false sharing: \(candidates.count) candidate line(s) checked with hardware watchpoints, \(findings.count) confirmed")

        // The threads as they are now, from /proc: sampling never stops the target.
        var scanOptions = ScanOptions()
        scanOptions.mode = .sample
        scanOptions.attach = .procOnly
        scanOptions.sourceLines = sourceLines
        var snapshot = try scanOrExit(scanOptions, context: " (after sampling: \(findings.count) false-sharing finding(s))")
        if sampled.endedBySignal != 0 {
            let tenths = sampled.durationMicros / 100_000
            warnings.append("sampling ended by signal \(sampled.endedBySignal) after \(tenths / 10).\(tenths % 10) s: findings so far")
        }
        snapshot.scan.startedAt = sampled.startedAt
        snapshot.scan.durationMicros += sampled.durationMicros
        snapshot.scan.warnings = warnings + snapshot.scan.warnings
        try ReportSink.emit(snapshot, findings: findings, json: json)
    }
}

