import ArgumentParser
import CThreadwatch
import ThreadwatchDetect
import ThreadwatchInspect
import ThreadwatchModel
import ThreadwatchReport
#if canImport(Glibc)
import Glibc
#endif

@main
struct ThreadwatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "threadwatch",
        abstract: "Finds concurrency bugs in a running process: every thread's state and stack, deadlocks, and more.",
        discussion: """
            Exit status: 0 no error-severity findings, 1 error findings, 2 could not scan (the reason is on stderr), 64 bad arguments.
            """,
        version: ReportBuilder.toolVersion)

    @Option(name: .long, help: "Process id to inspect.")
    var pid: Int32

    @Flag(name: .long, help: "Print one JSON report (threadwatch.report/v1) instead of text.")
    var json = false

    @Flag(name: .long, help: "Never stop the target: read /proc and its memory only.")
    var procOnly = false

    @Flag(name: .long, help: "Stop every thread at once for a point-in-time snapshot (default: a few at a time).")
    var consistent = false

    @Option(name: .long, help: "Threads stopped at a time in the default mode.")
    var batchSize = 16

    @Option(name: .long, help: "Bytes of live stack copied from each stopped thread.")
    var stackBytes = 16 * 1024

    @Option(name: .long, help: "Source file:line and inlined frames for: app (the program and its own libraries), all (system libraries too, slower), none.")
    var sourceLines: Symbolizer.SourceLines = .app

    @Option(name: .long, help: "Milliseconds before the second look that confirms a deadlock.")
    var confirmMs = 20

    @Option(name: .long, help: ArgumentHelp("Directory that remembers when each zombie thread was first seen, across scans (default: $XDG_STATE_HOME/threadwatch or ~/.local/state/threadwatch).", valueName: "dir"))
    var stateDir: String?

    @Option(name: .long, help: ArgumentHelp("Stay attached this long (fork, vfork, clone and exec events on) and report every fork of a multithreaded process (fork_hazard); Ctrl-C ends it early.", valueName: "seconds"))
    var watch: Double?

    @Option(name: .long, help: ArgumentHelp("Sample every thread's memory accesses this long without stopping it (perf cpu-clock + instruction decoding), confirm with hardware watchpoints, and report false sharing; Ctrl-C ends it early.", valueName: "seconds"))
    var sample: Double?

    func validate() throws {
        if procOnly && consistent { throw ValidationError("--proc-only never stops the target; --consistent stops it: pick one") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if stackBytes < 512 || stackBytes > 8 << 20 { throw ValidationError("--stack-bytes must be between 512 and 8388608") }
        if confirmMs < 0 || confirmMs > 60_000 { throw ValidationError("--confirm-ms must be between 0 and 60000") }
        if let watch {
            if !(watch > 0 && watch <= 86_400) { throw ValidationError("--watch must be more than 0 and at most 86400 seconds") }
            if consistent { throw ValidationError("--watch reports forks as they happen; --consistent is for one snapshot: pick one") }
            if procOnly { throw ValidationError("--watch needs ptrace to see forks; --proc-only never attaches: pick one") }
        }
        if let sample {
            if !(sample > 0 && sample <= 3600) { throw ValidationError("--sample must be more than 0 and at most 3600 seconds") }
            if watch != nil { throw ValidationError("--sample and --watch are separate modes: pick one") }
            if consistent { throw ValidationError("--sample never stops the target; --consistent stops it: pick one") }
        }
    }

    func run() throws {
        tw_install_stop_signals()
        // Never wait on the network for debug info (DESIGN.md).
        unsetenv("DEBUGINFOD_URLS")
        if let watch { return try runWatch(seconds: watch) }
        if let sample { return try runSample(seconds: sample) }
        var options = ScanOptions()
        options.attach = procOnly ? .procOnly : .ptrace
        options.consistent = consistent
        options.batchSize = batchSize
        options.stackBytes = stackBytes
        options.sourceLines = sourceLines

        var snapshot = try scanOrExit(options)
        Courtesy.yieldCPU()  // the rest (confirming looks, report) stops nothing
        let firstSeen = ZombieMemory.firstSeen(&snapshot, stateDir: stateDir)
        let findings = Detection.run(snapshot, confirmAfterMicros: confirmMs * 1000, zombieFirstSeen: firstSeen)
        try ReportSink.emit(snapshot, findings: findings, json: json)
    }
}

/// Runs the detectors; candidates that need a second look get one.
enum Detection {
    static func run(_ snapshot: Snapshot, confirmAfterMicros: Int, zombieFirstSeen: [String: Double] = [:]) -> [Finding] {
        // An exited thread does not come back: zombies need no second look.
        let zombies = ZombieDetector.detect(snapshot, firstSeen: zombieFirstSeen)
            + RuntimeCheck.run(snapshot, confirmAfterMicros: confirmAfterMicros)
        let graph = WaitForGraph(snapshot)
        let suspects = Set(graph.cycles().flatMap { $0.map(\.waiter) }
            + graph.selfLoops().map(\.waiter) + graph.orphanedEdges().map(\.waiter)
            + SignalHazardDetector.suspects(snapshot) + StallDetector.suspects(snapshot))
        guard !suspects.isEmpty else { return zombies }
        // Two looks without stopping anything, the interval apart: the
        // suspects must not run in between and must show the same edges.
        let now = SecondLook.take(of: snapshot, tids: suspects)
        usleep(UInt32(confirmAfterMicros))
        let later = SecondLook.take(of: now, tids: suspects)
        let found = DeadlockDetector.detect(first: snapshot, confirm: [now, later])
            + SignalHazardDetector.detect(first: snapshot, confirm: [now, later]) + zombies
        return found + StallDetector.detect(first: snapshot, confirm: [now, later], others: found)
    }
}

extension ThreadwatchCommand {
    /// Scans, or prints why it could not (plus `context`) and exits 2.
    func scanOrExit(_ options: ScanOptions, context: String = "") throws -> Snapshot {
        do {
            return try Scanner.scan(pid: pid, options: options)
        } catch {
            printError("threadwatch: \(error.message)\(context)")
            throw ExitCode(2)
        }
    }
}

/// Raw text to stderr (progress lines redraw in place, so no newline added).
func writeStderr(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func printError(_ message: String) { writeStderr(message + "\n") }

extension Symbolizer.SourceLines: ExpressibleByArgument {}
