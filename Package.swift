// swift-tools-version:6.0
//
// Bulkhead: proves containers are isolated the way their owners think, and that whatever crosses
// between them is mutually authenticated TLS.
//
// Data flows one way:  inventory → probes / capture → evidence → policy → report.
// Each capability lives in one module named after it; C interop stays in the `CBulkhead*` shims.

import PackageDescription

// Linux only, and said so here rather than at the first missing header: the probes enter network namespaces
// (setns), every event loop is epoll, and the inventory reads /proc.
#if !os(Linux)
    #error("Bulkhead builds and runs on Linux only (network namespaces, setns, epoll, /proc)")
#endif

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
    // Release builds link the Swift runtime and Foundation statically (see the `bulkhead` target); modules compiled
    // for it name the static libraries they need, in the order the linker needs them.
    .unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release)),
]

let package = Package(
    name: "Bulkhead",
    products: [
        .executable(name: "bulkhead", targets: ["bulkhead"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // MARK: - C shims

        .systemLibrary(
            name: "CBulkheadPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"]), .brew(["libpcap"])]
        ),
        .systemLibrary(
            name: "CBulkheadOpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),

        .target(
            name: "CBulkheadLinux",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        // gzip-compressed captures read as a stream, decompressed on a thread of their own (zlib, zlib1g-dev).
        .target(
            name: "CBulkheadStreams",
            linkerSettings: [.linkedLibrary("z")]
        ),

        // MARK: - Libraries

        /// Plain value types shared by every stage: endpoints, flows, certificates, findings.
        .target(name: "BulkheadModel", dependencies: ["SystemCalls"], swiftSettings: swiftSettings),
        // The one small system layer: errno as typed errors, EINTR retries, and the poller every event loop uses.
        .target(name: "SystemCalls", dependencies: ["CBulkheadLinux"], swiftSettings: swiftSettings),
        /// X.509 parsing (tolerant, through OpenSSL) into `CertificateSummary` values.
        .target(
            name: "Certificates",
            dependencies: ["BulkheadModel", "CBulkheadOpenSSL"],
            swiftSettings: swiftSettings
        ),
        /// Capture files, packet decoding, TCP reassembly, protocol + TLS dissection, flow analysis.
        .target(
            name: "PacketAnalysis",
            dependencies: [
                "BulkheadModel", "Certificates", "CBulkheadPcap", "CBulkheadStreams", "CBulkheadOpenSSL", "SystemCalls",
            ],
            // Dynamic exclusivity checks on the flow table's class properties cost ~200 instructions per packet
            // (measured with callgrind). They stay on in debug builds, where every test runs, and are off only
            // in the release build of this one hot module.
            swiftSettings: swiftSettings + [
                .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
            ]
        ),
        /// The fuzz targets: what fuzz/harness.swift (libFuzzer) runs on every input and FuzzRegressionTests replays.
        /// Not part of the product; it reaches the decoder's and analyzer's internals through `package` access.
        .target(
            name: "PacketAnalysisFuzzing",
            dependencies: ["PacketAnalysis", "BulkheadModel", "Certificates", "CBulkheadOpenSSL"],
            swiftSettings: swiftSettings
        ),
        /// Entering network namespaces on a dedicated thread; reading their sockets and addresses from /proc.
        .target(
            name: "NetworkNamespaces",
            dependencies: ["BulkheadModel", "CBulkheadLinux", "SystemCalls"],
            swiftSettings: swiftSettings
        ),
        /// What exists: Docker/Podman engine API client, offline inspect files, namespaces, static findings.
        /// The container engine client: HTTP/1.1 over the engine's unix socket, API version negotiation, the
        /// typed request bodies (Docker Engine API, also Podman's compatible API).
        .target(
            name: "ContainerEngine",
            dependencies: ["SystemCalls"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Inventory",
            dependencies: ["BulkheadModel", "NetworkNamespaces", "ContainerEngine", "Certificates"],
            swiftSettings: swiftSettings
        ),
        /// Which containers can reach which: probes from inside each source's network namespace, one event loop.
        .target(
            name: "Reachability",
            dependencies: ["BulkheadModel", "CBulkheadLinux", "NetworkNamespaces", "SystemCalls"],
            swiftSettings: swiftSettings
        ),
        /// The expected state: policy files (allow/deny rules between selectors, mTLS requirements) and their
        /// evaluation against observed evidence.
        .target(
            name: "Policy",
            dependencies: ["BulkheadModel", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        /// The audit: every stage run in order against a policy, joined into edges with verdicts; baselines,
        /// accepted risks, the run lock.
        .target(
            name: "Audit",
            dependencies: [
                "BulkheadModel", "ContainerEngine", "Inventory", "Reachability", "Policy", "PacketAnalysis",
                "TLSVerification", "NetworkNamespaces", "LiveCapture", "SystemCalls",
            ],
            swiftSettings: swiftSettings
        ),
        /// The lab: scenario files stood up as real Docker networks and containers, and torn down again; and
        /// `scenario run`'s audit of them, which sits above the audit (Lab depends on Audit, never the reverse).
        .target(
            name: "Lab",
            dependencies: ["BulkheadModel", "ContainerEngine", "Inventory", "Reachability", "Policy", "Audit"],
            swiftSettings: swiftSettings
        ),
        /// Active TLS / mTLS verification: non-blocking OpenSSL handshakes on one event loop, the probe battery,
        /// forged client certificates, path validation and verdicts.
        .target(
            name: "TLSVerification",
            dependencies: ["BulkheadModel", "Certificates", "NetworkNamespaces", "CBulkheadOpenSSL", "SystemCalls"],
            swiftSettings: swiftSettings
        ),
        /// Live capture on container bridges (libpcap, one poll loop), analysed as packets arrive by the
        /// `analyze` engine, written to pcapng, flow endpoints named from the inventory.
        .target(
            name: "LiveCapture",
            dependencies: ["BulkheadModel", "PacketAnalysis", "CBulkheadPcap", "SystemCalls"],
            swiftSettings: swiftSettings
        ),
        /// Kubernetes: kubectl dumps and manifests read into the inventory model, NetworkPolicy semantics, the
        /// intended reachability matrix, intent findings, policy diffs.
        .target(
            name: "Kubernetes",
            dependencies: ["BulkheadModel", "Policy", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        /// Renderers: one file per output format.
        .target(name: "Reporting", dependencies: ["BulkheadModel"], swiftSettings: swiftSettings),
        /// The fleet: node audit reports of one cluster merged into one fleet report (`bulkhead merge`), and its
        /// renderings, which reuse the audit's.
        .target(name: "Fleet", dependencies: ["BulkheadModel", "Reporting"], swiftSettings: swiftSettings),

        // MARK: - Executable

        .executableTarget(
            name: "bulkhead",
            dependencies: [
                "BulkheadModel", "PacketAnalysis", "ContainerEngine", "Inventory", "Reachability", "Policy", "Audit",
                "Lab", "Reporting", "TLSVerification", "NetworkNamespaces", "LiveCapture", "Kubernetes",
                "SystemCalls", "Fleet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings,
            // Release builds carry the Swift runtime and Foundation inside the binary: it runs on a container host
            // without a Swift toolchain, starts on 9 ms of CPU instead of 14 (no dynamic binding of the Swift
            // libraries' symbols), and calls the runtime (retain and release, millions of times per capture) directly
            // rather than through the PLT: `analyze` of 300 MB of short flows took 0.38 s instead of 0.41 (median of
            // six runs each). The binary is about 100 MB. It is linked by the toolchain's lld, not gold: every command
            // starts in 7.9 ms instead of 8.7 (median of 60 alternating runs), the analysis itself unchanged. Relative
            // relocations are not packed (`-z pack-relative-relocs`): that start was no faster (8.4 ms) and would
            // need glibc 2.36 (GLIBC_ABI_DT_RELR) where the binary runs on 2.35 (Ubuntu 22.04) today.
            // They also link jemalloc (libjemalloc2), which then serves every allocation of the process, the shared
            // libraries' included (it comes before libc in the lookup order): on captures of short connections glibc's
            // malloc spent about a tenth of the run coalescing and splitting free chunks; with jemalloc `analyze` of
            // 4 GB took 4.6–4.9 s instead of 5.1–6.1, in under 195 MB instead of 220 (BENCHMARKS.md, session 9).
            // Dynamically: the toolchain's static linking hides an archive's symbols (`--exclude-libs ALL`), and a
            // malloc the shared libraries cannot see would be a second allocator in the process. Debug and test
            // builds keep glibc's.
            linkerSettings: [
                .unsafeFlags(["-static-stdlib", "-use-ld=lld"], .when(platforms: [.linux], configuration: .release)),
                .linkedLibrary("jemalloc", .when(platforms: [.linux], configuration: .release)),
            ]
        ),

        // MARK: - Tests

        /// Helpers shared by the test targets (repository paths).
        .target(
            name: "BulkheadTestSupport", dependencies: ["ContainerEngine", "Lab"], path: "Tests/BulkheadTestSupport",
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PacketAnalysisTests",
            dependencies: [
                "PacketAnalysis", "PacketAnalysisFuzzing", "BulkheadModel", "Certificates", "BulkheadTestSupport",
                "CBulkheadOpenSSL",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertificatesTests",
            dependencies: ["Certificates", "BulkheadModel", "BulkheadTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InventoryTests",
            dependencies: [
                "ContainerEngine", "Inventory", "NetworkNamespaces", "BulkheadModel", "BulkheadTestSupport",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ReachabilityTests",
            dependencies: ["Reachability", "BulkheadModel", "BulkheadTestSupport", "SystemCalls"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PolicyTests",
            dependencies: ["Policy", "BulkheadModel", "BulkheadTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuditTests",
            dependencies: [
                "Audit", "Reporting", "Policy", "BulkheadModel", "BulkheadTestSupport", "LiveCapture", "Fleet",
                "PacketAnalysis", "Inventory", "Certificates",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LabTests",
            dependencies: [
                "Lab", "Audit", "ContainerEngine", "Inventory", "Reachability", "Policy", "Reporting", "BulkheadModel",
                "BulkheadTestSupport",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TLSVerificationTests",
            dependencies: [
                "TLSVerification", "Certificates", "BulkheadModel", "BulkheadTestSupport", "CBulkheadOpenSSL", "Lab",
                "ContainerEngine", "Inventory",
                "NetworkNamespaces",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubernetesTests",
            dependencies: [
                "Kubernetes", "BulkheadModel", "BulkheadTestSupport", .product(name: "Yams", package: "Yams"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SystemCallsTests", dependencies: ["SystemCalls"], swiftSettings: swiftSettings),
        .testTarget(
            name: "LiveCaptureTests",
            dependencies: ["LiveCapture", "PacketAnalysis", "BulkheadModel", "BulkheadTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "bulkheadTests",
            dependencies: [
                "bulkhead", "BulkheadModel", "PacketAnalysis", "Reporting", "BulkheadTestSupport", "Reachability",
                "TLSVerification", "Lab", "LiveCapture", "Fleet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
