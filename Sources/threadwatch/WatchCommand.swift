import ArgumentParser
import ThreadwatchDetect
import ThreadwatchInspect
import ThreadwatchModel
import ThreadwatchReport
#if canImport(Glibc)
import Glibc
#endif

/// `--watch SECONDS`: watch the process for forks, then report its threads
/// as they are at the end together with what the watch saw.
extension ThreadwatchCommand {
    func runWatch(seconds: Double) throws {
        var watchOptions = WatchOptions()
        watchOptions.seconds = seconds
        watchOptions.stackBytes = stackBytes
        watchOptions.sourceLines = sourceLines
        let tty = isatty(2) != 0
        if tty {
            let pid = self.pid
            watchOptions.progress = { elapsed, forks in
                writeStderr("\r\u{1b}[Kwatching pid \(pid): \(elapsed)/\(Int(seconds.rounded(.up))) s, \(forks) fork\(forks == 1 ? "" : "s") (Ctrl-C ends it)")
            }
        }
        let watched: WatchResult
        do {
            watched = try ForkWatch.run(pid: pid, options: watchOptions)
        } catch {
            printError("threadwatch: \(error.message)")
            throw ExitCode(2)
        }
        if tty { writeStderr("\r\u{1b}[K") }

        var options = ScanOptions()
        options.mode = .watch
        options.batchSize = batchSize
        options.stackBytes = stackBytes
        options.sourceLines = sourceLines
        // After Ctrl-C a stop would be refused (the stopper honours the
        // signal): show the threads from /proc instead.
        if watched.endedBySignal != 0 { options.attach = .procOnly }
        let forks = watched.events.count
        var snapshot = try scanOrExit(options, context: " (the watch saw \(forks) fork\(forks == 1 ? "" : "s") before)")
        var warnings = watched.warnings
        if watched.endedBySignal != 0 {
            let tenths = watched.durationMicros / 100_000
            warnings.append("watch ended by signal \(watched.endedBySignal) after \(tenths / 10).\(tenths % 10) s: findings so far; threads shown from /proc only")
        }
        snapshot.scan.startedAt = watched.startedAt
        snapshot.scan.durationMicros += watched.durationMicros
        snapshot.scan.longestStopMicros = max(snapshot.scan.longestStopMicros ?? 0, watched.longestStopMicros)
        snapshot.scan.warnings = warnings + snapshot.scan.warnings

        let firstSeen = ZombieMemory.firstSeen(&snapshot, stateDir: stateDir)
        let findings = ForkHazardDetector.detect(watched.events)
            + Detection.run(snapshot, confirmAfterMicros: confirmMs * 1000, zombieFirstSeen: firstSeen)
        try ReportSink.emit(snapshot, findings: findings, json: json)
    }
}

