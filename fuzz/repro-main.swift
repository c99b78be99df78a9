// The main of the repro builds (fuzz/build.sh repro, fuzz/config/build.sh repro): no libFuzzer, replays files.
import Foundation

/// Replays each file given through the harness, as libFuzzer would.
@main
struct Reproduce {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() {
            print("replaying \(path)")
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            data.withUnsafeBytes { bytes in
                _ = fuzz(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 1)!, bytes.count)
            }
        }
    }
}
