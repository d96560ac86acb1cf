// swift-tools-version: 6.0
import PackageDescription

// Data flow: selector -> scan (ThreadwatchInspect) -> snapshot (ThreadwatchModel)
// -> detectors (ThreadwatchDetect) -> report (ThreadwatchReport) -> sinks (threadwatch CLI).
let package = Package(
    name: "threadwatch",
    products: [
        .executable(name: "threadwatch", targets: ["threadwatch"]),
        .library(name: "ThreadwatchRuntime", targets: ["ThreadwatchRuntime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Thin C shim: variadic ptrace, wait-status macros, process_vm_readv,
        // the libdwfl callbacks that unwind from a stack copy, and the
        // proc_service callbacks libthread_db calls (it finds them by name).
        .target(
            name: "CThreadwatch",
            linkerSettings: [.linkedLibrary("dw"), .linkedLibrary("elf"), .linkedLibrary("stdc++"),
                             .linkedLibrary("thread_db"), .linkedLibrary("capstone")]
        ),
        // The runtime library (C + x86-64 asm): futex mutex, TLS descriptors,
        // lock order, fibers and M:N pools; its registry layout is what
        // RuntimeModel reads. Always optimised: it is a runtime, and the
        // benchmark measures it.
        .target(
            name: "CThreadwatchRuntime",
            cSettings: [.unsafeFlags(["-O2", "-g"])],
            linkerSettings: [.linkedLibrary("pthread")]
        ),
        // The same for Swift programs: classes over the C API.
        .target(name: "ThreadwatchRuntime", dependencies: ["CThreadwatchRuntime"]),
        // Value types only: what a scan saw. No I/O.
        .target(name: "ThreadwatchModel"),
        // The only layer that touches a live process.
        .target(name: "ThreadwatchInspect", dependencies: ["CThreadwatch", "ThreadwatchModel", "CThreadwatchRuntime"]),
        // Pure functions of a Snapshot.
        .target(name: "ThreadwatchDetect", dependencies: ["ThreadwatchModel"]),
        // report v1 (Codable) and the text view.
        .target(name: "ThreadwatchReport", dependencies: ["ThreadwatchModel"]),
        .executableTarget(
            name: "threadwatch",
            dependencies: [
                "ThreadwatchInspect", "ThreadwatchDetect", "ThreadwatchReport", "CThreadwatch",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Fixtures: real programs, one situation each, that print READY <pid>.
        .executableTarget(
            name: "twfixture",
            path: "fixtures/twfixture",
            cSettings: [.unsafeFlags(["-g", "-fno-omit-frame-pointer"])]
        ),
        .executableTarget(
            name: "twfixture-cxx",
            path: "fixtures/twfixture-cxx",
            cxxSettings: [.unsafeFlags(["-g"])]
        ),
        // Fixtures and stress tests on the runtime library.
        .executableTarget(
            name: "twfixture-runtime",
            dependencies: ["CThreadwatchRuntime"],
            path: "fixtures/twfixture-runtime",
            cSettings: [.unsafeFlags(["-g", "-fno-omit-frame-pointer"])]
        ),
        .executableTarget(
            name: "twruntime-bench",
            dependencies: ["CThreadwatchRuntime"],
            path: "bench/runtime_bench",
            cSettings: [.unsafeFlags(["-O2"])]
        ),
        // A Swift program on the runtime's Swift module.
        .executableTarget(
            name: "twfixture-swift",
            dependencies: ["ThreadwatchRuntime"],
            path: "fixtures/twfixture-swift"
        ),
        .testTarget(
            name: "ThreadwatchUnitTests",
            dependencies: ["ThreadwatchInspect", "ThreadwatchDetect", "ThreadwatchReport", "ThreadwatchModel"]
        ),
        .testTarget(
            name: "ThreadwatchIntegrationTests",
            dependencies: ["CThreadwatch"]
        ),
    ],
    cxxLanguageStandard: .cxx17
)
