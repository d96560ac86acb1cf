import Foundation
import XCTest

/// Where the package and its built products are.
enum Paths {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The build folder holding this test bundle, and so threadwatch and the fixtures.
    static let products: URL = {
        var dir = URL(fileURLWithPath: CommandLine.arguments.first { $0.contains(".xctest") } ?? CommandLine.arguments[0])
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("threadwatch").path) { return dir }
        }
        return packageRoot.appendingPathComponent(".build/debug")
    }()

    static var threadwatch: String { products.appendingPathComponent("threadwatch").path }
    static var fixture: String { products.appendingPathComponent("twfixture").path }
    static var fixtureCxx: String { products.appendingPathComponent("twfixture-cxx").path }
    static let schema = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/spec/report-v1.schema.json")
}

/// A fixture started as a real program; killed when the test ends.
final class Fixture {
    let process = Process()
    private let output = Pipe()
    private let input = Pipe()
    private(set) var lines: [String] = []
    let pid: Int32

    /// Starts `twfixture <args>` and waits (bounded) for its READY line.
    init(_ args: [String], executable: String = Paths.fixture, timeout: TimeInterval = 30,
         file: StaticString = #filePath, line: UInt = #line) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        process.standardOutput = output
        process.standardInput = input
        process.standardError = FileHandle.nullDevice
        try process.run()
        pid = process.processIdentifier
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = Data()
        let fd = output.fileHandleForReading.fileDescriptor
        while Date() < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            buffer.append(contentsOf: chunk[0..<n])
            let text = String(decoding: buffer, as: UTF8.self)
            if text.contains("READY ") {
                lines = text.split(separator: "\n").map(String.init)
                if lines.contains(where: { $0.hasPrefix("READY ") }) { return }
            }
        }
        stop()
        XCTFail("fixture \(args) printed no READY within \(timeout) s", file: file, line: line)
        throw FixtureError.notReady
    }

    enum FixtureError: Error { case notReady }

    deinit { stop() }

    func stop() {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// `THREAD <tid> <name> 0x<pthread_self>` lines.
    var threads: [(tid: Int32, name: String, pthreadSelf: UInt64)] {
        lines.compactMap { line in
            let p = line.split(separator: " ")
            guard p.count == 4, p[0] == "THREAD", let tid = Int32(p[1]),
                  let value = UInt64(p[3].dropFirst(2), radix: 16) else { return nil }
            return (tid, String(p[2]), value)
        }
    }

    /// `LOCK <name> 0x<address>` lines.
    var locks: [String: UInt64] {
        var result: [String: UInt64] = [:]
        for line in lines {
            let p = line.split(separator: " ")
            if p.count == 3, p[0] == "LOCK", let a = UInt64(p[2].dropFirst(2), radix: 16) { result[String(p[1])] = a }
        }
        return result
    }

    func value(_ key: String) -> [String]? {
        lines.first { $0.hasPrefix(key + " ") }.map { $0.split(separator: " ").dropFirst().map(String.init) }
    }

    func tid(named name: String) -> Int32? { threads.first { $0.name == name }?.tid }

    func send(_ line: String) { input.fileHandleForWriting.write((line + "\n").data(using: .utf8)!) }

    private var unread = Data()

    /// The next stdout line after READY that starts with `prefix` (bounded wait); earlier lines are skipped.
    func nextLine(prefix: String, timeout: TimeInterval = 10) -> String? {
        let fd = output.fileHandleForReading.fileDescriptor
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            while let newline = unread.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: unread[unread.startIndex..<newline], as: UTF8.self)
                unread = Data(unread[(newline + 1)...])
                if line.hasPrefix(prefix) { return line }
            }
            guard Date() < deadline else { return nil }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { return nil }
            unread.append(contentsOf: chunk[0..<n])
        }
    }

    /// Kernel state letter of every thread of the fixture.
    var taskStates: [Int32: String] { ProcView.taskStates(pid) }
}

enum ProcView {
    static func tids(_ pid: Int32) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).compactMap { Int32($0) }.sorted()
    }

    static func taskStates(_ pid: Int32) -> [Int32: String] {
        var states: [Int32: String] = [:]
        for tid in tids(pid) {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            states[tid] = String(stat[stat.index(close, offsetBy: 2)])
        }
        return states
    }

    static func voluntarySwitches(_ pid: Int32) -> [Int32: Int] {
        var result: [Int32: Int] = [:]
        for tid in tids(pid) {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/status", encoding: .utf8) else { continue }
            for line in status.split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches:") {
                result[tid] = Int(line.split(separator: "\t").last ?? "")
            }
        }
        return result
    }
}

/// A finished run of the threadwatch executable.
struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
    var elapsed: TimeInterval

    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
    }
}

enum Threadwatch {
    /// Runs threadwatch to completion; `whileRunning` gets its pid.
    @discardableResult
    static func run(_ args: [String], executable: String = Paths.threadwatch, asUser: Bool = false,
                    whileRunning: ((Int32) -> Void)? = nil) throws -> Run {
        let process = Process()
        if asUser {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", executable] + args
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = args
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let started = Date()
        try process.run()
        whileRunning?(process.processIdentifier)
        final class Box: @unchecked Sendable { var data = Data() }
        let outBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let outData = outBox.data
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData, as: UTF8.self), elapsed: Date().timeIntervalSince(started))
    }

    /// Runs with --json, checks the exit status and that the report validates against the schema.
    static func report(_ args: [String], expectStatus: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let result = try run(args + ["--json"])
        XCTAssertEqual(result.status, expectStatus, "threadwatch \(args): \(result.stderr)", file: file, line: line)
        try SchemaValidator.assertValid(result.stdout, file: file, line: line)
        return try XCTUnwrap(result.json, "not JSON: \(result.stdout.prefix(200))", file: file, line: line)
    }
}

/// Validates reports against ../shared/spec/report-v1.schema.json with
/// python3's jsonschema (draft 2020-12, formats checked).
enum SchemaValidator {
    static func assertValid(_ json: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tw-report-\(UUID().uuidString).json")
        try json.write(to: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: path) }
        let script = """
            import json, sys, jsonschema
            schema = json.load(open(sys.argv[1]))
            report = json.load(open(sys.argv[2]))
            jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(report)
            """
        let result = try Threadwatch.run(["python3", "-c", script, Paths.schema.path, path.path], executable: "/usr/bin/env")
        XCTAssertEqual(result.status, 0, "report does not validate against the v1 schema: \(result.stderr.suffix(600))",
                       file: file, line: line)
    }
}

extension Dictionary where Key == String, Value == Any {
    var threadList: [[String: Any]] { self["threads"] as? [[String: Any]] ?? [] }
    var findingList: [[String: Any]] { self["findings"] as? [[String: Any]] ?? [] }
    var scanInfo: [String: Any] { self["scan"] as? [String: Any] ?? [:] }

    func thread(_ tid: Int32) -> [String: Any]? {
        threadList.first { ($0["tid"] as? Int).map(Int32.init) == tid }
    }
}

extension Array where Element == [String: Any] {
    var functionNames: [String] { compactMap { $0["function"] as? String } }
}
