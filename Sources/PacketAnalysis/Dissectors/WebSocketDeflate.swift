import CBulkheadStreams

extension WebSocket {
    /// One direction's permessage-deflate stream (RFC 7692): the sender's compressed messages are pieces of one raw
    /// DEFLATE stream, each ended by an empty stored block whose last four bytes (`00 00 ff ff`) the sender leaves
    /// out. The window is kept from message to message; a sender that agreed to start afresh for each
    /// (`*_no_context_takeover`) makes streams a kept window reads just as well.
    final class Inflater {
        /// The four bytes each compressed message ends without, given back to the inflater at the message's end.
        static let messageTail: [UInt8] = [0x00, 0x00, 0xff, 0xff]
        /// zlib's room for output in each call: a message is given out in pieces of at most this.
        private static let step = 16_384

        private let stream: OpaquePointer
        /// Where zlib writes before the bytes it gave are appended: reused, so a message that comes a byte per
        /// segment costs what it inflates to, not a buffer's worth per byte.
        private let scratch: UnsafeMutableRawBufferPointer

        /// nil when zlib has no memory for an inflater.
        init?() {
            guard let stream = bh_raw_inflater_new() else { return nil }
            self.stream = stream
            self.scratch = .allocate(byteCount: Self.step, alignment: 16)
        }

        deinit {
            bh_raw_inflater_free(self.stream)
            self.scratch.deallocate()
        }

        /// What inflating a piece gave.
        enum Outcome: Equatable {
            /// All of the piece was taken; this many bytes were appended.
            case inflated(Int)
            /// A final block ended the sender's stream after this many bytes were appended: the rest of the message
            /// is to be dropped (RFC 7692 §7.2.3.4), and its next message begins a new stream.
            case streamEnded(Int)
            /// `limit` bytes were appended and there is more: the rest is not inflated.
            case limitReached
            /// The compressed data cannot be right (zlib's inflate failed): nothing more can be read from it.
            case damaged
        }

        /// Inflates `input` (the next compressed bytes, in order), appending at most `limit` bytes to `output`.
        func inflate(_ input: UnsafeRawBufferPointer, into output: inout [UInt8], limit: Int) -> Outcome {
            var taken = 0
            var added = 0
            while true {
                let room = min(Self.step, limit - added)
                guard room > 0 else { return .limitReached }
                var consumed = 0
                var produced = 0
                let status = Self.withBase(input, from: taken) { base, count in
                    bh_raw_inflate(self.stream, base, count, self.scratch.baseAddress, room, &consumed, &produced)
                }
                output.append(contentsOf: UnsafeRawBufferPointer(rebasing: self.scratch[..<produced]))
                guard status >= 0 else { return .damaged }
                taken += consumed
                added += produced
                if status == 1 { return .streamEnded(added) }
                // Done when all input is in and zlib had room to spare (with none spare it may hold more output), or
                // when it can make no progress at all.
                if taken == input.count && produced < room { return .inflated(added) }
                if consumed == 0 && produced == 0 { return .inflated(added) }
            }
        }

        /// `input[from...]`'s address and length, with an address for an empty rest too (zlib wants one).
        private static func withBase<Result>(
            _ input: UnsafeRawBufferPointer, from offset: Int, _ body: (UnsafeRawPointer, Int) -> Result
        ) -> Result {
            if let base = input.baseAddress, offset < input.count { return body(base + offset, input.count - offset) }
            return withUnsafeBytes(of: UInt8(0)) { body($0.baseAddress.unsafelyUnwrapped, 0) }
        }
    }
}
