import Foundation
import Testing

@testable import ContainerEngine
@testable import Inventory

/// The engine client's HTTP/1.1 response parser and de-chunker on canned bytes: what dockerd and podman send, and
/// what a broken or hostile engine (or a proxy on the socket) could send instead.
@Suite("Engine HTTP responses (canned bytes)")
struct HTTPParsingTests {
    static func parse(_ text: String) throws(EngineError) -> HTTPResponse {
        try UnixSocketHTTPClient.parse(Data(text.utf8), request: "GET /test")
    }

    static func failure(_ text: String) -> String? {
        do {
            _ = try Self.parse(text)
            return nil
        } catch { return error.message }
    }

    @Test("Content-Length, chunked with extensions and a trailer, to-end bodies, header names case-folded")
    func wellFormed() throws {
        let plain = try Self.parse("HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\n[]")
        #expect(plain.status == 200 && plain.headers["api-version"] == "1.41" && plain.body == Data("[]".utf8))
        let extra = try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]garbage after")
        #expect(extra.body == Data("[]".utf8), "bytes past Content-Length are not the body")
        let chunked = try Self.parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[{\"a\r\nA;name=value\r\n\":1},{}]  \r\n0\r\nX-Trailer: 1\r\n\r\n"
        )
        #expect(String(decoding: chunked.body, as: UTF8.self) == "[{\"a\":1},{}]  ")
        let toEnd = try Self.parse("HTTP/1.0 404 Not Found\r\nServer: x\r\n\r\n{\"message\":\"no such container\"}")
        #expect(toEnd.status == 404 && toEnd.body.count == 31)
        let empty = try Self.parse("HTTP/1.1 204 No Content\r\n\r\n")
        #expect(empty.status == 204 && empty.body.isEmpty)
    }

    @Test("malformed and hostile answers are transport errors, never a silently shorter body or a trap")
    func malformed() {
        #expect(
            Self.failure("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n")?.contains("without a complete HTTP response")
                == true)
        #expect(Self.failure("SSH-2.0-OpenSSH\r\n\r\n")?.contains("not an HTTP response") == true)
        #expect(Self.failure("HTTP/1.1 -1 OK\r\n\r\n")?.contains("not an HTTP response") == true)
        #expect(Self.failure("HTTP/1.1 2000 OK\r\n\r\n")?.contains("not an HTTP response") == true)
        #expect(
            Self.failure("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nabc")?.contains("bad Content-Length") == true,
            "a negative length must not trap in prefix(_:)")
        #expect(
            Self.failure("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nabc")?.contains(
                "bad Content-Length") == true)
        #expect(
            Self.failure("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")?.contains("ended after 3 of its 10 bytes")
                == true)
        #expect(
            Self.failure("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")?.contains(
                "conflicting Content-Length") == true)
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(
            Self.failure(chunked + "5\r\nhello\r\n")?.contains("no last chunk") == true,
            "a body cut before the last chunk")
        #expect(Self.failure(chunked + "5\r\nhel")?.contains("chunk longer than the body") == true)
        #expect(Self.failure(chunked + "5\r\nhelloXX0\r\n\r\n")?.contains("not followed by CRLF") == true)
        #expect(Self.failure(chunked + "-5\r\nhello\r\n0\r\n\r\n")?.contains("bad chunk size") == true)
        #expect(Self.failure(chunked + "+5\r\nhello\r\n0\r\n\r\n")?.contains("bad chunk size") == true)
        #expect(
            Self.failure(chunked + "ffffffffffffffffff\r\nx\r\n0\r\n\r\n")?.contains("bad chunk size") == true,
            "no overflow")
        #expect(Self.failure(chunked + "zz\r\n")?.contains("bad chunk size") == true)
        #expect(Self.failure(chunked + "5")?.contains("cut short") == true)
    }

    @Test("de-chunking round-trips any bytes in any chunking")
    func roundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let bytes = (0..<Int.random(in: 0...300, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            var encoded = Data()
            var index = 0
            while index < bytes.count {
                let size = min(bytes.count - index, Int.random(in: 1...40, using: &generator))
                encoded.append(
                    contentsOf: Array(
                        (String(size, radix: 16, uppercase: Bool.random(using: &generator)) + "\r\n").utf8))
                encoded.append(contentsOf: bytes[index..<(index + size)])
                encoded.append(contentsOf: Array("\r\n".utf8))
                index += size
            }
            encoded.append(contentsOf: Array("0\r\n\r\n".utf8))
            #expect(Array(try UnixSocketHTTPClient.dechunk(encoded, request: "GET /x")) == bytes)
        }
    }
}
