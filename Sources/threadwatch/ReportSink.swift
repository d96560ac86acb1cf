import ArgumentParser
import ThreadwatchDetect
import ThreadwatchModel
import ThreadwatchReport

/// Where a finished scan goes: one JSON report or the text view on stdout,
/// then the exit status (1 when any finding is an error).
enum ReportSink {
    static func emit(_ snapshot: Snapshot, findings: [Finding], json: Bool) throws {
        if json {
            var writer = JSONStreamWriter(fd: 1)
            ReportBuilder.write(snapshot, findings: findings, chains: WaitChains.chains(snapshot), to: &writer)
            writer.flush()
        } else {
            print(TextRenderer.render(snapshot, findings: findings, chains: WaitChains.describe(snapshot)), terminator: "")
        }
        if findings.contains(where: { $0.severity == .error }) { throw ExitCode(1) }
    }
}
