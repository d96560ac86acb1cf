import ThreadwatchModel
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Turns a snapshot and its findings into report v1.
public enum ReportBuilder {
    public static let toolVersion = "0.1.0"

    public static func build(_ snapshot: Snapshot, findings: [Finding], generatedAt: Date = Date()) -> ReportV1 {
        let p = snapshot.process
        let s = snapshot.scan
        var report = ReportV1(
            tool: .init(version: toolVersion),
            generatedAt: rfc3339(generatedAt),
            host: snapshot.host.map { .init(hostname: $0.hostname, kernel: $0.kernel, bootID: $0.bootID) },
            target: .init(pid: p.pid, ppid: p.ppid, comm: p.comm, exe: p.exe, cmdline: p.cmdline,
                          threadCount: snapshot.threads.count, libc: p.libc),
            scan: .init(mode: s.mode.rawValue, attach: s.attach.rawValue, durationUs: max(0, s.durationMicros),
                        stoppedUs: s.longestStopMicros.map { max(0, $0) }, warnings: s.warnings),
            threads: snapshot.threads.map { thread($0, runtime: snapshot.runtime) },
            findings: findings.map(finding))
        report.fibers = snapshot.fibers.isEmpty ? nil : snapshot.fibers.map(fiber)
        if let carriers = snapshot.runtime?.carriers, !carriers.isEmpty { report.carriers = carriers.map(carrier) }
        return report
    }

    /// Streams the report, converting one thread at a time.
    public static func write(_ snapshot: Snapshot, findings: [Finding], chains: [ThreadwatchModel.LockChain] = [],
                             to writer: inout JSONStreamWriter, generatedAt: Date = Date()) {
        var header = snapshot
        header.threads = []
        var report = build(header, findings: findings, generatedAt: generatedAt)
        report.lockChains = chains.isEmpty ? nil : chains.map {
            ReportV1.LockChain(holderTid: $0.holderTid, holderName: $0.holderName, holderDoing: $0.holderDoing,
                               waiters: $0.waiters, summary: $0.summary)
        }
        report.target.threadCount = snapshot.threads.count
        report.write(to: &writer, threads: snapshot.threads.lazy.map { thread($0, runtime: snapshot.runtime) })
    }

    public static func encode(_ report: ReportV1, pretty: Bool = true) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    static func rfc3339(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
            .replacing("+0000", with: "Z")
    }

    static func frame(_ f: ThreadwatchModel.Frame) -> ReportV1.Frame {
        ReportV1.Frame(pc: hex(f.pc), function: f.function, offset: f.offset.map { Int($0) }, module: f.module,
                       file: f.file, line: f.line, inlined: f.inlined ? true : nil)
    }

    static func blockedOn(_ b: ThreadwatchModel.BlockedOn) -> ReportV1.BlockedOn {
        var lock = ReportV1.BlockedOn(kind: b.kind.rawValue, address: b.address.map(hex), symbol: b.symbol,
                                      ownerTid: b.ownerTid, sinceUs: b.sinceMicros, detail: b.detail)
        lock.field = b.field
        return lock
    }

    /// A thread, with its runtime TLS descriptor when the runtime has one for it.
    static func thread(_ t: ThreadSnapshot, runtime: RuntimeState?) -> ReportV1.Thread {
        var thread = thread(t)
        if let locks = runtime?.threadLocks[t.tid] {
            thread.runtime = ReportV1.RuntimeTLS(
                held: locks.held.map(blockedOn), waitingOn: locks.waitingOn.map(hex), currentFiber: locks.currentFiber)
        }
        return thread
    }

    static func thread(_ t: ThreadSnapshot) -> ReportV1.Thread {
        let syscall: ReportV1.Syscall? = t.syscall.flatMap { s in
            guard let nr = s.number, nr >= 0 else { return nil }
            return ReportV1.Syscall(nr: nr, name: SyscallNames.name(nr), args: s.args.map(hex))
        }
        let sched = t.scheduling.map { s in
            ReportV1.Sched(lastCPU: s.lastCPU, policy: s.policy, priority: s.priority, nice: s.nice,
                           rtPriority: s.realtimePriority, voluntarySwitches: s.voluntarySwitches,
                           involuntarySwitches: s.involuntarySwitches,
                           execStartMs: t.schedStats["se.exec_start"],
                           sumExecRuntimeMs: t.schedStats["se.sum_exec_runtime"])
        }
        return ReportV1.Thread(
            tid: t.tid, name: t.name, state: t.state, fsBase: t.fsBase.map(hex), pc: t.pc.map(hex),
            sp: t.sp.map(hex),
            stack: t.stack.map { .init(low: hex($0.low), high: hex($0.high), guardBytes: $0.guardBytes) },
            syscall: syscall, wchan: t.wchan, sigBlocked: t.signals?.blocked, sigPending: t.signals?.pending,
            sched: sched, blockedOn: t.blockedOn.map(blockedOn), frames: t.frames.map(frame),
            unwindError: t.unwindError)
    }

    static func finding(_ f: ThreadwatchModel.Finding) -> ReportV1.Finding {
        var finding = ReportV1.Finding(
            id: f.id, kind: f.kind.rawValue, severity: f.severity.rawValue, summary: f.summary, threads: f.threads,
            cycle: f.cycle.isEmpty ? nil : f.cycle.map {
                ReportV1.CycleEdge(tid: $0.tid, lock: blockedOn($0.lock), holderTid: $0.holderTid,
                                   frames: $0.frames.map(frame))
            },
            evidence: f.evidence.isEmpty ? nil : .object(f.evidence.mapValues(json)),
            advice: f.advice,
            zombie: f.zombie.map { z in
                ReportV1.Zombie(startRoutine: z.startRoutine, threadDescriptor: hex(z.descriptor),
                                stackBytes: z.stackBytes.map { Int(clamping: $0) },
                                firstSeen: rfc3339(Date(timeIntervalSince1970: z.firstSeen)))
            },
            fork: f.fork.map { k in
                ReportV1.Fork(parentPid: k.parentPid, childPid: k.childPid, forkingTid: k.forkingTid,
                              threadsAtFork: k.threadsAtFork, execFollowed: k.execFollowed,
                              inheritedLocks: k.inheritedLocks.map(blockedOn))
            },
            falseSharing: f.falseSharing.map { d in
                ReportV1.FalseSharing(cacheLine: hex(d.cacheLine), symbol: d.symbol, writers: d.writers.map { t in
                    ReportV1.FalseSharing.Toucher(tid: t.tid, offsets: t.offsets, writes: t.writes, reads: t.reads,
                                                  pc: t.pc.map(frame))
                }, method: d.method)
            })
        finding.fibers = f.fibers.isEmpty ? nil : f.fibers
        return finding
    }

    static func json(_ e: EvidenceValue) -> JSONValue {
        switch e {
        case .string(let v): return .string(v)
        case .int(let v): return .int(v)
        case .bool(let v): return .bool(v)
        case .list(let v): return .array(v.map(json))
        case .object(let v): return .object(v.mapValues(json))
        }
    }
}
