/// Reads the frames of one side of a cleartext HTTP/2 connection (RFC 9113 §4) as far as they are whole: each header
/// block (a HEADERS frame and the CONTINUATION frames after it) put together, and each DATA frame's payload without its
/// padding. SETTINGS, WINDOW_UPDATE, PING and the other frames are passed over.
///
/// The reader keeps its place: called again on the same side's bytes grown since (the flow's inspection buffer), it
/// reads on from the first frame it could not read whole, so bytes that arrive one at a time are still read once. A
/// header block is at most the inspection window's size: the flow's buffer bounds it.
struct HTTP2FrameReader {
    /// What one call hands on.
    enum Item {
        /// A whole header block of a stream (HPACK-coded, ``HPACK``).
        case headers(stream: UInt32, block: UnsafeRawBufferPointer)
        /// A DATA frame's payload (without padding).
        case data(stream: UInt32, payload: UnsafeRawBufferPointer)
    }

    /// At most this many frames are read on one side: the first requests and answers are what is looked for.
    static let maximumFrames = 512

    /// The client connection preface (RFC 9113 §3.4).
    static let clientPreface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// Where the next frame not yet read starts.
    private(set) var offset: Int
    private var frames = 0
    /// Whether a malformed frame, the frame limit or the caller stopped the reading for good.
    private(set) var stopped = false
    /// Whether the client's preface is still to be checked.
    private var checksPreface: Bool
    /// A header block whose HEADERS frame came without END_HEADERS: its stream, and its fragments so far.
    private var partialStream: UInt32?
    private var partialBlock: [UInt8] = []

    /// A reader of the client's side (its preface passed over; a side without one, a connection the capture joined
    /// mid-way, is read as frames from its first byte), or of the server's.
    init(client: Bool) {
        self.offset = 0
        self.checksPreface = client
    }

    /// Reads the frames of `bytes` (the side's bytes from its start) after those read by the last call. `body` returns
    /// false to stop the reading for good.
    mutating func read(_ bytes: UnsafeRawBufferPointer, _ body: (Item) -> Bool) {
        if self.checksPreface {
            // Wait until the preface could be whole, unless the bytes already differ from it.
            let prefix = bytes.prefix(Self.clientPreface.count)
            guard prefix.elementsEqual(Self.clientPreface.prefix(prefix.count)) else {
                self.checksPreface = false
                return self.read(bytes, body)
            }
            guard bytes.count >= Self.clientPreface.count else { return }
            self.checksPreface = false
            self.offset = Self.clientPreface.count
        }
        while !self.stopped, self.offset < bytes.count {
            guard self.frames < Self.maximumFrames else {
                self.stopped = true
                return
            }
            var cursor = ByteCursor(UnsafeRawBufferPointer(rebasing: bytes[self.offset...]))
            // Frame header: length (24 bits), type, flags, reserved bit and stream identifier (31 bits).
            guard let length = cursor.u24(), let type = cursor.u8(), let flags = cursor.u8(),
                let stream = cursor.u32().map({ $0 & 0x7fff_ffff }), var payload = cursor.sub(length)
            else { return }  // not whole yet
            // Each frame is taken once whole, so bytes that arrive one at a time are still read once: a header block
            // in several frames is put together as they come.
            self.frames += 1
            self.offset += cursor.offset
            if let partialStream = self.partialStream {
                // Only CONTINUATION frames of its stream may follow a header block that is not finished.
                guard type == 0x9, stream == partialStream, let fragment = payload.bytes(payload.remaining) else {
                    return self.stop()
                }
                self.partialBlock.append(contentsOf: fragment)  // in place: the block is copied once, as it comes
                guard flags & 0x04 != 0 else { continue }
                self.partialStream = nil
                defer { self.partialBlock = [] }
                guard self.partialBlock.withUnsafeBytes({ body(.headers(stream: stream, block: $0)) }) else {
                    return self.stop()
                }
                continue
            }
            switch type {
            case 0x0:  // DATA: optional pad length first, padding after the data
                guard let data = Self.unpadded(&payload, flags) else { return self.stop() }
                guard body(.data(stream: stream, payload: data)) else { return self.stop() }
            case 0x1:  // HEADERS: optional pad length and priority before the fragment, padding after it
                guard let fragment = Self.headersFragment(&payload, flags) else { return self.stop() }
                if flags & 0x04 == 0 {
                    // Not END_HEADERS: CONTINUATION frames follow, the last one flagged.
                    self.partialStream = stream
                    self.partialBlock = Array(fragment)
                    continue
                }
                guard body(.headers(stream: stream, block: fragment)) else { return self.stop() }
            case 0x9:  // CONTINUATION without a header block to continue
                return self.stop()
            default:
                break
            }
        }
    }

    private mutating func stop() { self.stopped = true }

    /// A DATA frame's payload without its padding; nil when the padding is longer than the frame.
    private static func unpadded(_ payload: inout ByteCursor, _ flags: UInt8) -> UnsafeRawBufferPointer? {
        var padding = 0
        if flags & 0x08 != 0 {
            guard let length = payload.u8() else { return nil }
            padding = Int(length)
        }
        return payload.bytes(payload.remaining - padding)
    }

    /// A HEADERS frame's header block fragment: after the pad length and the priority fields, when flagged, and
    /// before the padding.
    private static func headersFragment(_ payload: inout ByteCursor, _ flags: UInt8) -> UnsafeRawBufferPointer? {
        var padding = 0
        if flags & 0x08 != 0 {
            guard let length = payload.u8() else { return nil }
            padding = Int(length)
        }
        if flags & 0x20 != 0 { guard payload.skip(5) else { return nil } }
        return payload.bytes(payload.remaining - padding)
    }
}
